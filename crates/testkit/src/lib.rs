//! Test fixtures that start real servers. Used only by tests.
//!
//! - [`TestNats`]: a `nats-server -js` child on a free port with a temp store; killable and
//!   restartable on the same port.
//! - [`ConfiguredNats`]: a `nats-server` started with a configuration file (the deployment's
//!   `deploy/nats/nats.conf`: users, permissions), its log kept for the test to read.
//! - [`PgDb`]: a fresh, uniquely named PostgreSQL database on the local server, dropped at the
//!   end of the test.
//! - [`PgServer`]: a private PostgreSQL server (own cluster, free port) that a test may stop
//!   and restart.
//! - [`FeedServer`]: an HTTP server on 127.0.0.1 serving fixture bodies, slow bodies, endless
//!   bodies and error statuses.
//! - [`seeds`]: the seed articles of `../shared/seeds` and the RSS, Atom, JSON Feed and HTML
//!   documents built from them.
//! - [`wait_until`], [`scrape_metric`]: polling helpers.
//!
//! A missing `nats-server` or PostgreSQL fails the test with the command that installs it:
//! tests never skip silently.

#![allow(clippy::panic, reason = "a fixture that cannot start must fail the test loudly")]

pub mod articles;
mod feed_server;
mod nats_conf;
mod pg;
mod pg_server;
pub mod seeds;

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

pub use feed_server::{FeedServer, Route};
pub use nats_conf::ConfiguredNats;
use newswire_bus::LocalNatsServer;
pub use pg::PgDb;
pub use pg_server::PgServer;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    // Silent unless TEST_LOG is set, so that failing tests show only their own output.
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .with_test_writer()
            .try_init();
    }
});

/// Installs test logging once (set `TEST_LOG=1` to see the services' logs).
pub fn init_logging() {
    LazyLock::force(&TRACING);
}

/// A JetStream-enabled `nats-server` owned by one test.
#[derive(Debug)]
pub struct TestNats {
    server: LocalNatsServer,
    _dir: tempfile::TempDir,
}

impl TestNats {
    /// Starts a server on a free port. Panics with the install command if `nats-server` is
    /// missing.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let server = LocalNatsServer::start(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        Self { server, _dir: dir }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Kills it (like a crash).
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Restarts it on the same port with the same store.
    pub fn restart(&mut self) {
        self.server.restart().unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain HTTP/1.0 GET to a server on this machine: `(status, body)`. The tests only talk to
/// their own local servers, so no client library (and no TLS) is needed.
pub async fn http_get(url: &str) -> (u16, String) {
    try_http_get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// [`http_get`] that reports a server not listening (yet, or any more) instead of panicking:
/// for polling the admin port of a service that is starting or was killed.
pub async fn try_http_get(url: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("http_get needs an http:// URL: {url}"));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Sum of all samples of metric `name` (any labels) on a `/metrics` endpoint; labels can be
/// matched by including them in `name`, e.g. `newswire_sink_articles_stored_total{result="inserted"}`.
pub async fn scrape_metric(metrics_url: &str, name: &str) -> f64 {
    let (status, body) = http_get(metrics_url).await;
    assert_eq!(status, 200, "GET {metrics_url}");
    metric_value(&body, name)
}

/// [`scrape_metric`] on an already fetched exposition text.
pub fn metric_value(exposition: &str, name: &str) -> f64 {
    let (base, labels) = match name.split_once('{') {
        Some((b, l)) => (b, Some(l.trim_end_matches('}'))),
        None => (name, None),
    };
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (sname, slabels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if sname != base {
                return None;
            }
            if let Some(want) = labels
                && !want.split(',').all(|w| slabels.split(',').any(|s| s == w))
            {
                return None;
            }
            value.parse::<f64>().ok()
        })
        .sum()
}
