//! The binaries as command-line tools: `--help` and `--version` print and exit 0, an unknown
//! flag or argument is a usage error (exit 2), and none of that connects to anything (each
//! service used to ignore its arguments and start against the default NATS, creating streams
//! there). And `newswire health URL`, the container health check: 0 when `/readyz` answers
//! 2xx in time, 1 otherwise.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use newswire_telemetry::{Health, Registry, serve_admin};
use newswire_testkit::{FeedServer, Route};
use tokio_util::sync::CancellationToken;

use crate::services::{free_addr, service};

const SERVICES: [&str; 4] = ["newswire-fetcher", "newswire-processor", "newswire-sink", "newswire-api"];

/// A port that listens, and so would accept a NATS (or database) connection, to tell whether
/// anything tried.
struct Tripwire(TcpListener);

impl Tripwire {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Self(l)
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.0.local_addr().unwrap())
    }

    fn touched(&self) -> bool {
        self.0.accept().is_ok()
    }
}

async fn run(name: &str, args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(20), service(name, env).args(args).output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} did not exit"))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{name} {args:?} took {:?}", started.elapsed());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn service_binaries_answer_help_version_and_usage_errors_without_connecting() {
    let nats = Tripwire::new();
    let pg = Tripwire::new();
    let dir = tempfile::tempdir().unwrap();
    for name in SERVICES {
        let env = vec![
            ("NEWSWIRE_NATS__URL", nats.url("nats")),
            ("NEWSWIRE_SINK__DATABASE_URL", pg.url("postgres")),
            ("NEWSWIRE_SINK__SQLITE_PATH", dir.path().join("never.db").display().to_string()),
        ];
        for flag in ["--help", "-h"] {
            let (code, stdout, stderr) = run(name, &[flag], &env).await;
            assert_eq!(code, 0, "{name} {flag}: {stderr}");
            assert!(stdout.contains(&format!("Usage: {name}")), "{name} {flag}: {stdout}");
            assert!(stdout.contains("--config <FILE>"), "{name} {flag}: {stdout}");
        }
        let (code, stdout, stderr) = run(name, &["--version"], &env).await;
        assert_eq!(code, 0, "{name} --version: {stderr}");
        assert_eq!(stdout.trim(), format!("{name} {}", env!("CARGO_PKG_VERSION")));
        for bad in [&["--no-such-flag"][..], &["extra-argument"], &["--config"]] {
            let (code, stdout, stderr) = run(name, bad, &env).await;
            assert_eq!(code, 2, "{name} {bad:?} should be a usage error: {stdout}{stderr}");
            assert!(stderr.starts_with("error:") && stderr.contains("--help"), "{name} {bad:?}: {stderr}");
        }
        // A configuration file that does not exist is an error naming it, not the defaults.
        let missing = dir.path().join("missing.toml").display().to_string();
        let (code, _, stderr) = run(name, &["--config", &missing], &env).await;
        assert_ne!(code, 0, "{name} --config {missing}");
        assert!(stderr.contains("missing.toml"), "{name}: {stderr}");
        assert!(!nats.touched(), "{name} connected to NATS");
        assert!(!pg.touched(), "{name} connected to the database");
        assert!(!dir.path().join("never.db").exists(), "{name} created the SQLite store");
    }
    let (code, stdout, _) = run("newswire-fetcher", &["--help"], &[]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("--once"), "{stdout}");
}

#[tokio::test]
async fn newswire_health_exits_0_only_for_a_ready_service() {
    let health = Health::new();
    let shutdown = CancellationToken::new();
    let admin = serve_admin("127.0.0.1:0", Registry::new(), health.clone(), shutdown.clone()).await.unwrap();
    let url = format!("http://{}", admin.addr);

    health.set_not_ready("connecting to NATS");
    let (code, _, stderr) = run("newswire", &["health", &url], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("503") && stderr.contains("connecting to NATS"), "{stderr}");
    // Liveness is another path of the same port.
    let (code, _, stderr) = run("newswire", &["health", &format!("{url}/healthz")], &[]).await;
    assert_eq!(code, 0, "{stderr}");

    health.set_ready();
    let (code, stdout, stderr) = run("newswire", &["health", &url], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("/readyz: 200"), "{stdout}");
    let (code, stdout, _) = run("newswire", &["health", "--quiet", &format!("{url}/")], &[]).await;
    assert_eq!((code, stdout.as_str()), (0, ""));
    // It needs no configuration: a broken one does not make a healthy service look sick.
    let (code, _, stderr) =
        run("newswire", &["health", &url], &[("NEWSWIRE_NAST__URL", "x".to_owned())]).await;
    assert_eq!(code, 0, "{stderr}");

    // Nothing listening, or a server that does not answer in time: not ready, quickly.
    let (code, _, stderr) = run("newswire", &["health", &format!("http://{}", free_addr())], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    let slow = FeedServer::start().await;
    slow.set(
        "/readyz",
        Route::Delayed {
            delay: Duration::from_secs(30),
            content_type: "text/plain".into(),
            body: b"ok".to_vec(),
        },
    );
    let started = Instant::now();
    let (code, _, stderr) = run("newswire", &["health", "--timeout", "0.5", &slow.url("/readyz")], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no answer within"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A URL it cannot use is a usage error.
    for bad in ["https://127.0.0.1:9101", "127.0.0.1:9101"] {
        let (code, _, stderr) = run("newswire", &["health", bad], &[]).await;
        assert_eq!(code, 2, "{bad}: {stderr}");
    }
    shutdown.cancel();
}
