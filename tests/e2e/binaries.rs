//! The service binaries as a user runs them: configuration from the environment, admin
//! endpoints, `--once`, SIGTERM, and a bad configuration value.

use std::time::Duration;

use newswire_store::{ArticleStore, SqliteStore};
use newswire_testkit::{FeedServer, Route, TestNats, scrape_metric, seeds, wait_until};

use crate::services::{free_addr, service, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_run_from_env_config_and_stop_cleanly_on_sigterm() {
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    feeds.set("/seeds.atom", Route::body("application/atom+xml", seeds::atom(&seeds::load())));
    let dir = tempfile::tempdir().unwrap();
    let feeds_file = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds_file,
        format!("[[feed]]\nid = \"seeds\"\nurl = \"{}\"\n", feeds.url("/seeds.atom")),
    )
    .unwrap();
    let db = dir.path().join("news.db");
    let (sink_admin, processor_admin, fetcher_admin) = (free_addr(), free_addr(), free_addr());
    let env = vec![
        ("NEWSWIRE_NATS__URL", nats.url()),
        ("NEWSWIRE_LOG__FORMAT", "json".to_owned()),
        ("NEWSWIRE_SINK__SQLITE_PATH", db.display().to_string()),
        ("NEWSWIRE_SINK__ADMIN_LISTEN", sink_admin.clone()),
        ("NEWSWIRE_PROCESSOR__ADMIN_LISTEN", processor_admin.clone()),
        ("NEWSWIRE_FETCHER__ADMIN_LISTEN", fetcher_admin),
        ("NEWSWIRE_FETCHER__FEEDS_FILE", feeds_file.display().to_string()),
        ("NEWSWIRE_FETCHER__ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
    ];
    let sink = service("newswire-sink", &env).spawn().unwrap();
    let processor = service("newswire-processor", &env).spawn().unwrap();
    let fetched = service("newswire-fetcher", &env).arg("--once").output().await.unwrap();
    assert!(fetched.status.success(), "fetcher --once failed: {}", String::from_utf8_lossy(&fetched.stderr));

    let sink_metrics = format!("http://{sink_admin}/metrics");
    wait_until(Duration::from_secs(30), "5 articles stored by the sink binary", || async {
        let store = SqliteStore::open(&db, 1).await.ok()?;
        (store.count().await.ok()? == 5).then_some(())
    })
    .await;
    wait_until(Duration::from_secs(10), "sink metrics to show 5 inserted", || async {
        (scrape_metric(&sink_metrics, "newswire_sink_articles_stored_total{result=\"inserted\"}").await
            == 5.0)
            .then_some(())
    })
    .await;
    assert_eq!(
        scrape_metric(&format!("http://{processor_admin}/metrics"), "newswire_processor_items_out_total")
            .await,
        5.0
    );

    for child in [sink, processor] {
        let status = terminate(child).await;
        assert!(status.success(), "service did not exit cleanly on SIGTERM: {status}");
    }
}

#[tokio::test]
async fn a_bad_config_value_is_a_startup_error_naming_the_key() {
    let out =
        service("newswire-sink", &[("NEWSWIRE_SINK__BATCH_SIZE", "lots".to_owned())]).output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config key `sink.batch_size`"), "{stderr}");
    let out = service("newswire-processor", &[("NEWSWIRE_PROCESSOR__BATCHSIZE", "1".to_owned())])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `batchsize`") && stderr.contains("batch_size"), "{stderr}");
}

#[tokio::test]
async fn an_unusable_sqlite_path_stops_the_sink_with_a_clear_error() {
    let out = service(
        "newswire-sink",
        &[
            ("NEWSWIRE_SINK__SQLITE_PATH", "/proc/newswire/articles.db".to_owned()),
            ("NEWSWIRE_SINK__ADMIN_LISTEN", free_addr()),
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/proc/newswire"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_articles_as_they_are_published() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let nats = TestNats::start();
    let mut child = service("newswire", &[("NEWSWIRE_NATS__URL", nats.url())]).arg("tail").spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(15), stderr.next_line()).await.unwrap().unwrap();
    assert!(ready.is_some_and(|l| l.contains("tailing news.articles.>")));

    let settings = newswire_bus::BusSettings { url: nats.url(), ..Default::default() };
    let bus = newswire_bus::Bus::connect(&settings, "e2e", newswire_bus::ClientRole::All).await.unwrap();
    let raw = &newswire_fetch::parse_feed(
        seeds::rss(&seeds::load()).as_bytes(),
        None,
        &newswire_fetch::FeedContext {
            source_id: newswire_model::SourceId::parse("seeds").unwrap(),
            feed_url: "test".into(),
            base_url: None,
            language_hint: None,
            category: newswire_model::Category::general(),
            fetched_at: chrono::Utc::now(),
            http: None,
        },
    )
    .unwrap()
    .items[0];
    let mut processor = newswire_process::Processor::new(&Default::default());
    let newswire_process::Outcome::Article(p) = processor.process(raw, chrono::Utc::now()) else {
        panic!("dropped")
    };
    bus.publish_article(&p).await.unwrap();

    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line =
        tokio::time::timeout(Duration::from_secs(15), stdout.next_line()).await.unwrap().unwrap().unwrap();
    let printed: newswire_model::Article = serde_json::from_str(&line).unwrap();
    assert_eq!(printed.id, p.id);
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newswire_run_runs_the_stages_and_the_api_in_one_process() {
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    feeds.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&seeds::load())));
    let dir = tempfile::tempdir().unwrap();
    let feeds_file = dir.path().join("feeds.toml");
    std::fs::write(&feeds_file, format!("[[feed]]\nid = \"seeds\"\nurl = \"{}\"\n", feeds.url("/seeds.rss")))
        .unwrap();
    let db = dir.path().join("news.db");
    let (admin, api) = (free_addr(), free_addr());
    let env = vec![
        ("NEWSWIRE_NATS__URL", nats.url()),
        ("NEWSWIRE_SINK__SQLITE_PATH", db.display().to_string()),
        ("NEWSWIRE_FETCHER__FEEDS_FILE", feeds_file.display().to_string()),
        ("NEWSWIRE_FETCHER__ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
        ("NEWSWIRE_API__LISTEN", api.clone()),
    ];
    let child = service("newswire", &env).args(["run", "--admin-listen", &admin]).spawn().unwrap();
    let metrics = format!("http://{admin}/metrics");
    wait_until(Duration::from_secs(30), "5 articles stored by newswire run", || async {
        let store = SqliteStore::open(&db, 1).await.ok()?;
        (store.count().await.ok()? == 5).then_some(())
    })
    .await;
    // One admin port shows all three stages.
    wait_until(Duration::from_secs(10), "all stages on one /metrics", || async {
        let f = scrape_metric(&metrics, "newswire_fetcher_items_out_total").await;
        let p = scrape_metric(&metrics, "newswire_processor_items_out_total").await;
        let s = scrape_metric(&metrics, "newswire_sink_items_out_total").await;
        (f == 5.0 && p == 5.0 && s == 5.0).then_some(())
    })
    .await;
    // The API serves what the sink stored: بوتن finds the seeds that spell it بوتين.
    let query: String = "بوتن".bytes().map(|b| format!("%{b:02X}")).collect();
    let search = format!("http://{api}/v1/search?q={query}");
    let body = wait_until(Duration::from_secs(15), "the API's search", || async {
        let (status, body) = newswire_testkit::try_http_get(&search).await.ok()?;
        (status == 200).then_some(body)
    })
    .await;
    let results: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = results["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{body}");
    assert!(items.iter().any(|i| i["article"]["text"].as_str().unwrap().contains("بوتين")), "{body}");
    assert!(
        scrape_metric(&metrics, "newswire_api_requests_total").await >= 1.0,
        "the API on the same /metrics"
    );
    let status = terminate(child).await;
    assert!(status.success(), "newswire run did not exit cleanly on SIGTERM: {status}");
}

/// With `http_proxy` and friends in the environment, requests still go straight to the host
/// (where the SSRF guard's resolver checks it), never through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_variables_in_the_environment_are_not_followed() {
    let feeds = FeedServer::start().await;
    let proxy = FeedServer::start().await;
    let all = seeds::load();
    feeds.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&all)));
    proxy.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&all)));
    let proxy_url = proxy.url("");
    let mut env = vec![("NEWSWIRE_FETCHER__ALLOW_PRIVATE_NETWORKS", "true".to_owned())];
    for var in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        env.push((var, proxy_url.clone()));
    }
    let out =
        service("newswire", &env).args(["inspect", "feed", &feeds.url("/seeds.rss")]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((feeds.hits("/seeds.rss"), proxy.hits("/seeds.rss")), (1, 0), "fetched directly");
}

/// `newswire demo` runs on its own store and nats-server whatever the environment says: a
/// configured SQLite file is neither deleted nor written, a configured PostgreSQL never used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_never_touches_the_configured_store() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("production.db");
    std::fs::write(&precious, b"not a demo").unwrap();
    let config = dir.path().join("production.toml");
    std::fs::write(&config, format!("[sink]\nsqlite_path = {:?}\n", precious.display().to_string())).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = service(
        "newswire",
        &[
            ("NEWSWIRE_CONFIG", config.display().to_string()),
            // Nothing listens there: the demo would fail if it used it.
            ("NEWSWIRE_SINK__DATABASE_URL", "postgres://nobody@127.0.0.1:1/production".to_owned()),
        ],
    )
    .arg("demo")
    .current_dir(&root)
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Stored articles (5 in .newswire/demo.db"), "{stdout}");
    assert_eq!(std::fs::read(&precious).unwrap(), b"not a demo");
}
