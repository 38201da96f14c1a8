//! `TestPipeline`: the stages started from their library entry points, on free ports, with a
//! private nats-server, a feed server and a fresh store (zero2prod's `spawn_app`).

use std::time::Duration;

use newswire_app::{AppError, Settings, run_processor, run_sink};
use newswire_bus::Bus;
use newswire_fetch::service::{Fetcher, PollStats};
use newswire_fetch::{FetchError, HttpFetcher, PageFetcher};
use newswire_model::SourceId;
use newswire_store::{ArticleStore, Store};
use newswire_telemetry::metrics::FetcherMetrics;
use newswire_telemetry::{AdminServer, Health, Registry, serve_admin};
use newswire_testkit::{FeedServer, PgDb, Route, TestNats, seeds, wait_until};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which store the sink writes to.
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running stage: its shutdown token, task and admin server.
pub struct Stage {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), AppError>>,
    pub admin: AdminServer,
}

impl Stage {
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.admin.addr)
    }

    /// Graceful stop.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let r = self.task.await.expect("stage task");
        r.expect("stage result");
    }

    /// Abrupt stop: the task is dropped wherever it is, like a killed process.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        self.shutdown.cancel();
    }
}

pub struct TestPipeline {
    pub nats: TestNats,
    pub feeds: FeedServer,
    pub settings: Settings,
    pub processor: Option<Stage>,
    pub sink: Option<Stage>,
    pub fetcher: Fetcher,
    pub fetcher_admin: AdminServer,
    pub bus: Bus,
    _pg: Option<PgDb>,
    _dir: tempfile::TempDir,
}

/// Starts nats-server, a feed server serving the seeds as RSS (`/seeds.rss`), Atom
/// (`/seeds.atom`) and JSON Feed (`/seeds.json`), the processor and the sink.
pub async fn spawn_pipeline(backend: Backend) -> TestPipeline {
    newswire_testkit::init_logging();
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    let all = seeds::load();
    feeds.set("/seeds.rss", Route::body("application/rss+xml; charset=utf-8", seeds::rss(&all)));
    feeds.set("/seeds.atom", Route::body("application/atom+xml", seeds::atom(&all)));
    feeds.set("/seeds.json", Route::body("application/feed+json", seeds::json_feed(&all)));
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = match backend {
        Backend::Postgres => Some(PgDb::create().await),
        Backend::Sqlite => None,
    };
    let mut settings = Settings::default();
    settings.nats.url = nats.url();
    // Redeliver quickly in tests: an unacked message comes back after 2 s.
    settings.nats.ack_wait_secs = 2;
    settings.fetcher.allow_private_networks = true;
    settings.fetcher.feeds_file = dir.path().join("feeds.toml");
    settings.sink.sqlite_path = dir.path().join("articles.db");
    settings.sink.database_url = pg.as_ref().map(|p| p.url.clone());
    for a in [
        &mut settings.fetcher.admin_listen,
        &mut settings.processor.admin_listen,
        &mut settings.sink.admin_listen,
    ] {
        *a = "127.0.0.1:0".to_owned();
    }
    let bus = Bus::connect(&settings.nats, "e2e", newswire_bus::ClientRole::All).await.expect("connect");
    let registry = Registry::new();
    // Wired as the service wires it: teaser entries get their pages.
    let http = HttpFetcher::new(&settings.fetcher).expect("http client");
    let metrics = FetcherMetrics::new(&registry).expect("metrics");
    let pages = PageFetcher::new(http.clone(), &settings.fetcher, metrics.clone());
    let fetcher = Fetcher::new(http, bus.clone(), metrics).with_pages(pages);
    let fetcher_admin =
        serve_admin("127.0.0.1:0", registry, Health::new(), CancellationToken::new()).await.expect("admin");
    let mut p = TestPipeline {
        nats,
        feeds,
        settings,
        processor: None,
        sink: None,
        fetcher,
        fetcher_admin,
        bus,
        _pg: pg,
        _dir: dir,
    };
    p.processor = Some(p.start_processor().await);
    p.sink = Some(p.start_sink().await);
    p
}

impl TestPipeline {
    pub async fn start_processor(&self) -> Stage {
        self.start(|s, r, h, t| async move { run_processor(&s, &r, h, t).await }).await
    }

    pub async fn start_sink(&self) -> Stage {
        self.start(|s, r, h, t| async move { run_sink(&s, &r, h, t).await }).await
    }

    async fn start<F, Fut>(&self, run: F) -> Stage
    where
        F: FnOnce(Settings, Registry, Health, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = Result<(), AppError>> + Send + 'static,
    {
        start_stage(&self.settings, run).await
    }

    /// Writes the feeds file with these (id, path on the feed server) pairs and polls each
    /// feed once.
    pub async fn poll(&self, feeds: &[(&str, &str)]) -> Vec<(SourceId, Result<PollStats, FetchError>)> {
        let mut toml = String::new();
        for (id, path) in feeds {
            toml.push_str(&format!(
                "[[feed]]\nid = \"{id}\"\nurl = \"{}\"\nlanguage = \"ar\"\ncategory = \"world\"\n\n",
                self.feeds.url(path)
            ));
        }
        std::fs::write(&self.settings.fetcher.feeds_file, toml).expect("write feeds file");
        let list = newswire_app::load_feeds(&self.settings.fetcher).expect("feeds file");
        self.fetcher.poll_all_once(&list, 4).await
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.settings.sink).await.expect("open store")
    }

    /// Waits until the store holds exactly `n` articles and the pipeline has drained, then
    /// returns the count once more (to catch late extra rows).
    pub async fn wait_for_articles(&self, n: u64) -> u64 {
        let store = self.store().await;
        wait_until(Duration::from_secs(30), &format!("{n} stored articles"), || async {
            let count = store.count().await.ok()?;
            (count >= n).then_some(())
        })
        .await;
        self.wait_drained().await;
        store.count().await.expect("count")
    }

    /// Waits until both consumers have nothing pending or in flight.
    pub async fn wait_drained(&self) {
        wait_until(Duration::from_secs(30), "the pipeline to drain", || async {
            let p = self.bus.pending(newswire_bus::ConsumerRole::Processor).await.ok()?;
            let s = self.bus.pending(newswire_bus::ConsumerRole::Sink).await.ok()?;
            (p + s == 0).then_some(())
        })
        .await;
    }
}

/// Runs a stage from its library entry point with `settings`, its own registry, admin server
/// (free port) and shutdown token.
pub async fn start_stage<F, Fut>(settings: &Settings, run: F) -> Stage
where
    F: FnOnce(Settings, Registry, Health, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>> + Send + 'static,
{
    let registry = Registry::new();
    let shutdown = CancellationToken::new();
    let health = Health::new();
    let admin =
        serve_admin("127.0.0.1:0", registry.clone(), health.clone(), shutdown.clone()).await.expect("admin");
    let task = tokio::spawn(run(settings.clone(), registry, health, shutdown.clone()));
    Stage { shutdown, task, admin }
}
