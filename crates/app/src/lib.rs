//! Wiring: the configuration of the whole system and one `run_*` function per stage, shared by
//! the service binaries, the all-in-one `newswire run`/`demo` commands and the end-to-end tests
//! (which is why it is a library: tests start the very code the binaries run).
//!
//! Each `run_*` function registers its stage's metrics in the given registry, connects (retrying
//! while `/readyz` says why it is not ready), runs until `shutdown` is cancelled, and returns.

use std::path::Path;
use std::time::Duration;

use newswire_bus::monitor::{self, MonitorTargets};
use newswire_bus::{Bus, BusSettings, ClientRole};
use newswire_config::ConfigError;
use newswire_fetch::registry::{FeedRegistry, RegistryError, RegistryErrorKind};
use newswire_fetch::service::{Fetcher, PollStats};
use newswire_fetch::{
    FeedList, FetchError, FetcherSettings, HttpFetcher, NetGuard, PageFetcher, RegistryRun,
};
use newswire_model::SourceId;
use newswire_process::ProcessorSettings;
use newswire_store::{SinkSettings, Store};
use newswire_telemetry::metrics::{BusMetrics, FetcherMetrics, ProcessorMetrics, SinkMetrics};
use newswire_telemetry::{Health, LogSettings, Registry, serve_admin};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The whole configuration: one file (and `NEWSWIRE_*` variables) for every service; each
/// service reads the sections it needs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[nats]`: the bus.
    pub nats: BusSettings,
    /// `[log]`: log format and filter.
    pub log: LogSettings,
    /// `[fetcher]`.
    pub fetcher: FetcherSettings,
    /// `[processor]`.
    pub processor: ProcessorSettings,
    /// `[sink]`.
    pub sink: SinkSettings,
    /// `[api]`: the query API (it reads the store named in `[sink]`).
    pub api: newswire_api::ApiSettings,
}

impl Settings {
    /// Loads defaults, then `file`, then `NEWSWIRE_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        newswire_config::load(file)
    }
}

/// Errors that stop a stage.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Metrics could not be registered or the admin server could not start.
    #[error(transparent)]
    Telemetry(#[from] newswire_telemetry::TelemetryError),
    /// The bus failed in a way retrying does not fix.
    #[error(transparent)]
    Bus(#[from] newswire_bus::BusError),
    /// The feeds file or the HTTP client is unusable.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] newswire_store::StoreError),
    /// The sink stopped on an error retrying cannot fix.
    #[error(transparent)]
    Sink(#[from] newswire_store::SinkError),
    /// The feed registry cannot be used (a bucket configuration the server refuses).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The query API could not start or stopped on an error.
    #[error(transparent)]
    Api(#[from] newswire_api::ApiError),
}

/// [`newswire_telemetry::until_ready`], saying first on `/readyz` that `what` is being
/// connected to.
async fn until_ready<T, E, Fut>(
    what: &str,
    health: &Health,
    shutdown: &CancellationToken,
    attempt: impl FnMut() -> Fut,
    fatal: impl Fn(&E) -> bool,
) -> Result<Option<T>, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    health.set_not_ready(format!("connecting to {what}"));
    newswire_telemetry::until_ready(what, health, shutdown, attempt, fatal).await
}

/// Connects to NATS as `role` (see [`until_ready`]).
async fn connect(
    settings: &BusSettings,
    name: &str,
    role: ClientRole,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<Option<Bus>, AppError> {
    let fatal = |e: &newswire_bus::BusError| e.kind() == newswire_bus::BusErrorKind::Fatal;
    Ok(until_ready("NATS", health, shutdown, || Bus::connect(settings, name, role), fatal).await?)
}

/// Loads the feeds file named by the settings.
pub fn load_feeds(settings: &FetcherSettings) -> Result<FeedList, FetchError> {
    let guard =
        NetGuard { allow_private: settings.allow_private_networks, allow_files: settings.allow_file_urls };
    FeedList::load(&settings.feeds_file, &guard, Duration::from_secs(settings.default_poll_interval_secs))
}

/// Runs the fetcher until `shutdown`: seeds the feed registry from the feeds file (feeds the
/// registry has never held are added; see `newswire_fetch::registry` for the precedence), then
/// follows the registry, polling this replica's share of its feeds. With `once`, polls every
/// feed of the feeds file once and returns the results instead (a one-shot tool: the registry
/// is neither read nor written).
pub async fn run_fetcher(
    settings: &Settings,
    registry: &Registry,
    health: Health,
    once: bool,
    shutdown: CancellationToken,
) -> Result<Vec<(SourceId, Result<PollStats, FetchError>)>, AppError> {
    let metrics = FetcherMetrics::new(registry)?;
    let (bus_metrics, targets) = bus_metrics(registry, "fetcher", ClientRole::Fetcher, &settings.nats)?;
    let feeds = load_feeds(&settings.fetcher)?;
    // One bad entry is one feed not run, reported; the others run.
    metrics.feeds_rejected.set(feeds.rejected.len() as i64);
    for r in &feeds.rejected {
        tracing::error!(message = "Feed not run: its entry is invalid or its URL is refused.", feed_id = %r.id, reason = %r.reason);
    }
    let http = HttpFetcher::new(&settings.fetcher)?;
    let Some(bus) =
        connect(&settings.nats, "newswire-fetcher", ClientRole::Fetcher, &health, &shutdown).await?
    else {
        return Ok(Vec::new());
    };
    let pages = PageFetcher::new(http.clone(), &settings.fetcher, metrics.clone());
    let fetcher = Fetcher::new(http, bus.clone(), metrics).with_pages(pages);
    // The per-feed memory saves re-publishing entries; without it every entry of a changed
    // feed is published again, so it is worth a warning at start-up but not a reason to wait.
    if let Err(error) = fetcher.open_memory().await {
        tracing::warn!(message = "Feed memory bucket unavailable; publishing every entry until it is.", %error, kind = ?error.kind());
    }
    if once {
        health.set_ready();
        tracing::info!(message = "Fetcher started (once).", feeds = feeds.feeds.len());
        return Ok(fetcher.poll_all_once(&feeds, settings.fetcher.max_concurrency).await);
    }
    let _monitor = spawn_bus_monitor(&bus, targets, bus_metrics, &shutdown);
    let Some(feed_registry) = open_feed_registry(&bus, &settings.fetcher, &feeds, &health, &shutdown).await?
    else {
        return Ok(Vec::new());
    };
    health.set_ready();
    let run = RegistryRun::from_settings(&settings.fetcher);
    tracing::info!(message = "Fetcher started.", replica = %run.replica, file_feeds = feeds.feeds.len());
    fetcher.run_registry(feed_registry, run, shutdown).await;
    health.set_not_ready("shut down");
    Ok(Vec::new())
}

/// Opens the feed registry and seeds it from the feeds file (see [`until_ready`]: NATS
/// trouble is waited for; a bucket configuration the server refuses stops the fetcher).
async fn open_feed_registry(
    bus: &Bus,
    settings: &FetcherSettings,
    feeds: &FeedList,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<Option<FeedRegistry>, AppError> {
    let fatal = |e: &RegistryError| e.kind() == RegistryErrorKind::Fatal;
    let attempt = || async {
        let registry = FeedRegistry::open(bus, settings).await?;
        let report = registry.seed_from(feeds).await?;
        Ok::<_, RegistryError>((registry, report))
    };
    let Some((registry, report)) = until_ready("the feed registry", health, shutdown, attempt, fatal).await?
    else {
        return Ok(None);
    };
    tracing::info!(
        message = "Feed registry seeded from the feeds file.",
        added = report.added.len(),
        already_registered = report.existing.len(),
        removed_at_run_time = report.removed_before.len()
    );
    Ok(Some(registry))
}

/// Runs the processor until `shutdown`.
pub async fn run_processor(
    settings: &Settings,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let metrics = ProcessorMetrics::new(registry)?;
    let (bus_metrics, targets) = bus_metrics(registry, "processor", ClientRole::Processor, &settings.nats)?;
    let Some(bus) =
        connect(&settings.nats, "newswire-processor", ClientRole::Processor, &health, &shutdown).await?
    else {
        return Ok(());
    };
    let _monitor = spawn_bus_monitor(&bus, targets, bus_metrics, &shutdown);
    health.set_ready();
    tracing::info!(message = "Processor started.");
    newswire_process::service::run(bus, &settings.processor, metrics, shutdown).await?;
    health.set_not_ready("shut down");
    Ok(())
}

/// Opens the store, then runs the sink until `shutdown`.
pub async fn run_sink(
    settings: &Settings,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let metrics = SinkMetrics::new(registry)?;
    let (bus_metrics, targets) = bus_metrics(registry, "sink", ClientRole::Sink, &settings.nats)?;
    let Some(store) = open_store(&settings.sink, &health, &shutdown).await? else {
        return Ok(());
    };
    let Some(bus) = connect(&settings.nats, "newswire-sink", ClientRole::Sink, &health, &shutdown).await?
    else {
        return Ok(());
    };
    let _monitor = spawn_bus_monitor(&bus, targets, bus_metrics, &shutdown);
    health.set_ready();
    tracing::info!(message = "Sink started.", backend = store.backend());
    newswire_store::service::run(bus, store, &settings.sink, metrics, health.clone(), shutdown).await?;
    health.set_not_ready("shut down");
    Ok(())
}

/// Runs the query API (`api.listen`) until `shutdown`: it opens the store and NATS itself,
/// and serves what it can meanwhile (see `newswire_api::run`).
pub async fn run_api(
    settings: &Settings,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    newswire_api::run(
        &settings.api,
        &settings.nats,
        &settings.sink,
        &settings.fetcher,
        registry,
        health,
        shutdown,
    )
    .await?;
    Ok(())
}

/// Registers a stage's JetStream gauges (`newswire_bus_*`, at 0): the streams its `role` owns
/// and the durable consumer it reads (see `newswire_bus::monitor::MonitorTargets::for_role`).
fn bus_metrics(
    registry: &Registry,
    stage: &str,
    role: ClientRole,
    settings: &BusSettings,
) -> Result<(BusMetrics, MonitorTargets), AppError> {
    let targets = MonitorTargets::for_role(role, settings);
    Ok((BusMetrics::new(registry, stage, &targets.streams, &targets.consumers)?, targets))
}

/// Polls JetStream for `targets` every 15 s into `metrics`, until `shutdown` or until the
/// returned guard is dropped (the stage returned).
fn spawn_bus_monitor(
    bus: &Bus,
    targets: MonitorTargets,
    metrics: BusMetrics,
    shutdown: &CancellationToken,
) -> tokio_util::sync::DropGuard {
    let stop = shutdown.child_token();
    let report = move |round: &monitor::MonitorRound| {
        for s in &round.streams {
            metrics.set_stream(&s.stream, s.messages, s.bytes);
        }
        for c in &round.consumers {
            metrics.set_consumer(&c.stream, &c.consumer, c.pending, c.ack_pending, c.redelivered);
        }
        metrics.monitor_errors.inc_by(round.failures.len() as u64);
    };
    tokio::spawn(monitor::run(bus.clone(), targets, monitor::DEFAULT_INTERVAL, report, stop.clone()));
    stop.drop_guard()
}

/// Opens the store (see [`until_ready`]): an unreachable database is waited for, an unusable
/// configuration (or SQLite file) stops the sink.
async fn open_store(
    settings: &SinkSettings,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<Option<Store>, AppError> {
    let fatal = |e: &newswire_store::StoreError| e.kind() == newswire_store::StoreErrorKind::Fatal;
    Ok(until_ready("the store", health, shutdown, || Store::open(settings), fatal).await?)
}

/// The life of a service binary around its stage: a registry and a health handle, the admin
/// server on `admin_listen`, a shutdown token cancelled on SIGINT/SIGTERM; then `stage` runs
/// until it returns, and the admin server is stopped and awaited. The binaries are this plus
/// configuration; tests start stages directly with their own token.
pub async fn serve<F, Fut>(admin_listen: &str, stage: F) -> Result<(), AppError>
where
    F: FnOnce(Registry, Health, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    let shutdown = shutdown_on_signals();
    let registry = Registry::new();
    let health = Health::new();
    let admin = serve_admin(admin_listen, registry.clone(), health.clone(), shutdown.clone()).await?;
    tracing::info!(message = "Admin endpoints up.", addr = %admin.addr);
    let result = stage(registry, health, shutdown.clone()).await;
    shutdown.cancel();
    let _ = admin.task.await;
    result
}

/// A token cancelled on SIGINT (Ctrl-C) or SIGTERM (`docker stop`, Kubernetes).
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!(message = "Shutdown signal received; finishing in-flight work.");
        t.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
    }

    /// `config/base.toml` documents every key with its default: loading it must change nothing,
    /// and a key added to the code without being documented there makes this fail.
    #[test]
    fn base_toml_lists_exactly_the_defaults() {
        let text = std::fs::read_to_string(repo("config/base.toml")).unwrap();
        let from_file: Settings = newswire_config::from_toml(&text).unwrap();
        assert_eq!(from_file, Settings::default());
        // Every key of the defaults appears in the file, in its section.
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        let table: toml::Table = text.parse().unwrap();
        for (section, keys) in defaults.as_object().unwrap() {
            for (key, value) in keys.as_object().unwrap() {
                let documented = table.get(section).and_then(|s| s.get(key)).is_some();
                assert!(documented, "config/base.toml does not document `{section}.{key}` (default {value})");
            }
        }
    }

    #[test]
    fn shipped_configs_and_feeds_files_load() {
        for file in ["config/demo.toml", "config/base.toml"] {
            newswire_config::load_from::<Settings>(Some(&repo(file)), Vec::new())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let f = FetcherSettings { allow_private_networks: false, ..FetcherSettings::default() };
        for file in ["config/feeds.toml", "samples/feeds.toml"] {
            let s = FetcherSettings { feeds_file: repo(file), ..f.clone() };
            let list = load_feeds(&s).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!list.feeds.is_empty(), "{file}");
            assert!(list.rejected.is_empty(), "{file}: {:?}", list.rejected);
        }
    }
}
