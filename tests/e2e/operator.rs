//! Operator mistakes and what the services do about them: stray environment variables, one
//! key of a nested section, a read-only client against streams set up by others, a stage that
//! fails inside `newswire run`, a feed the guard refuses, a store that refuses the sink for
//! good. Each was a way to crash, mislead or reconfigure a running pipeline.

use std::time::Duration;

use newswire_bus::{Bus, BusSettings, ClientRole};
use newswire_model::{Article, Category, SourceId};
use newswire_testkit::{FeedServer, PgDb, Route, TestNats, seeds, wait_until};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::services::{free_addr, service, terminate};

/// The seeds as articles, as the processor would publish them.
fn seed_articles() -> Vec<Article> {
    let raws = newswire_fetch::parse_feed(
        seeds::rss(&seeds::load()).as_bytes(),
        None,
        &newswire_fetch::FeedContext {
            source_id: SourceId::parse("seeds").unwrap(),
            feed_url: "test".into(),
            base_url: None,
            language_hint: None,
            category: Category::general(),
            fetched_at: chrono::Utc::now(),
            http: None,
        },
    )
    .unwrap()
    .items;
    let mut processor = newswire_process::Processor::new(&Default::default());
    raws.iter()
        .filter_map(|raw| match processor.process(raw, chrono::Utc::now()) {
            newswire_process::Outcome::Article(a) => Some(*a),
            newswire_process::Outcome::Dropped(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn config_from_the_environment_reads_known_sections_only_and_types_values_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("seeds.rss");
    std::fs::write(&feed, seeds::rss(&seeds::load())).unwrap();
    let feed = feed.display().to_string();
    // Variables the scripts and tests themselves use, a numeric token, and one key of a
    // nested section: all used to stop every command.
    let env = [
        ("NEWSWIRE_TEST_PG", "postgres://nowhere/x".to_owned()),
        ("NEWSWIRE_SEEDS_DIR", "/nonexistent".to_owned()),
        ("NEWSWIRE_NATS__TOKEN", "123456".to_owned()),
        ("NEWSWIRE_NATS__RAW_STREAM__DUPLICATE_WINDOW_SECS", "1".to_owned()),
    ];
    let out = service("newswire", &env).args(["inspect", "feed", &feed]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5, "{stderr}");

    // A file setting just that nested key is fine too.
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[nats.raw_stream]\nduplicate_window_secs = 1\n").unwrap();
    let out = service("newswire", &[("NEWSWIRE_CONFIG", config.display().to_string())])
        .args(["inspect", "feed", &feed])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A misspelt section is an error that names it and lists the real ones.
    let out = service("newswire", &[("NEWSWIRE_NAST__URL", "nats://x:4222".to_owned())])
        .args(["inspect", "feed", &feed])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NEWSWIRE_NAST__URL") && stderr.contains("unknown section `nast`"), "{stderr}");
    assert!(stderr.contains("nats, ") || stderr.contains("nats,"), "{stderr}");
}

async fn duplicate_window(bus: &Bus, stream: &str) -> Option<Duration> {
    let mut s = bus.jetstream().get_stream(stream).await.ok()?;
    Some(s.info().await.ok()?.config.duplicate_window)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_set_by_their_owner_and_never_by_read_only_clients() {
    let nats = TestNats::start();
    let defaults = BusSettings { url: nats.url(), ..BusSettings::default() };

    // A read-only client on a fresh server creates nothing.
    let observer = Bus::connect(&defaults, "e2e-observer", ClientRole::ReadOnly).await.unwrap();
    assert_eq!(duplicate_window(&observer, "NEWS_RAW").await, None, "a read-only client created a stream");

    // The fetcher owns the raw stream: its setting holds.
    let mut fetcher = defaults.clone();
    fetcher.raw_stream.duplicate_window_secs = 1;
    Bus::connect(&fetcher, "e2e-fetcher", ClientRole::Fetcher).await.unwrap();
    assert_eq!(duplicate_window(&observer, "NEWS_RAW").await, Some(Duration::from_secs(1)));

    // Default-configured processor and sink (and the tail tool) start after it: they create
    // what is missing and change nothing they do not own.
    let mut sink = defaults.clone();
    sink.articles_stream.duplicate_window_secs = 5;
    Bus::connect(&sink, "e2e-sink", ClientRole::Sink).await.unwrap();
    assert_eq!(duplicate_window(&observer, "NEWS_ARTICLES").await, Some(Duration::from_secs(5)), "created");
    Bus::connect(&defaults, "e2e-processor", ClientRole::Processor).await.unwrap();
    assert_eq!(duplicate_window(&observer, "NEWS_RAW").await, Some(Duration::from_secs(1)), "not its stream");
    assert_eq!(
        duplicate_window(&observer, "NEWS_ARTICLES").await,
        Some(Duration::from_secs(600)),
        "the processor owns the article stream"
    );
    Bus::connect(&sink, "e2e-sink-again", ClientRole::Sink).await.unwrap();
    assert_eq!(duplicate_window(&observer, "NEWS_ARTICLES").await, Some(Duration::from_secs(600)));

    let mut tail = service("newswire", &[("NEWSWIRE_NATS__URL", nats.url())]).arg("tail").spawn().unwrap();
    let mut stderr = BufReader::new(tail.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(15), stderr.next_line()).await.unwrap().unwrap();
    assert!(line.is_some_and(|l| l.contains("tailing")));
    tail.kill().await.unwrap();
    assert_eq!(
        duplicate_window(&observer, "NEWS_RAW").await,
        Some(Duration::from_secs(1)),
        "tail changed it"
    );

    // The owner can change its own stream.
    fetcher.raw_stream.duplicate_window_secs = 2;
    Bus::connect(&fetcher, "e2e-fetcher", ClientRole::Fetcher).await.unwrap();
    assert_eq!(duplicate_window(&observer, "NEWS_RAW").await, Some(Duration::from_secs(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newswire_run_stops_with_an_error_as_soon_as_one_stage_fails() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-feeds.toml");
    let admin = free_addr();
    let child = service(
        "newswire",
        &[
            ("NEWSWIRE_NATS__URL", nats.url()),
            ("NEWSWIRE_FETCHER__FEEDS_FILE", missing.display().to_string()),
            ("NEWSWIRE_SINK__SQLITE_PATH", dir.path().join("a.db").display().to_string()),
        ],
    )
    .args(["run", "--admin-listen", &admin, "--no-api"])
    .spawn()
    .unwrap();
    // The fetcher fails at once; the processor and sink would run on, ready, for ever.
    let stderr = exits_with_error(child, "newswire run kept running with a failed stage").await;
    assert!(stderr.contains("no-such-feeds.toml"), "{stderr}");
}

/// Waits (30 s at most) for `child` to exit, asserts that it failed, and returns its stderr;
/// `still_running` is the panic message when it does not exit.
async fn exits_with_error(child: tokio::process::Child, still_running: &str) -> String {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect(still_running)
        .unwrap();
    assert!(!out.status.success(), "exit status {}", out.status);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The query API in `newswire run` is a stage like the others: an `api.listen` address that is
/// taken stops the whole process with an error naming it, instead of a pipeline running on
/// without its API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newswire_run_stops_when_the_api_cannot_listen() {
    let nats = TestNats::start();
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(&feeds, "").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let child = service(
        "newswire",
        &[
            ("NEWSWIRE_NATS__URL", nats.url()),
            ("NEWSWIRE_FETCHER__FEEDS_FILE", feeds.display().to_string()),
            ("NEWSWIRE_SINK__SQLITE_PATH", dir.path().join("a.db").display().to_string()),
            ("NEWSWIRE_API__LISTEN", taken_addr.clone()),
        ],
    )
    .args(["run", "--admin-listen", &free_addr()])
    .spawn()
    .unwrap();
    let stderr = exits_with_error(child, "newswire run kept running without its API").await;
    assert!(stderr.contains(&taken_addr), "{stderr}");
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_the_guard_refuses_is_reported_and_the_other_feeds_run() {
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    feeds.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&seeds::load())));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feeds.toml");
    // The guard allows private addresses here (the feed server is on 127.0.0.1) but not
    // files: the second entry is refused.
    std::fs::write(
        &file,
        format!(
            "[[feed]]\nid = \"good\"\nurl = \"{}\"\n\n[[feed]]\nid = \"refused\"\nurl = \"file:///etc/passwd\"\n",
            feeds.url("/seeds.rss")
        ),
    )
    .unwrap();
    let admin = free_addr();
    let child = service(
        "newswire-fetcher",
        &[
            ("NEWSWIRE_NATS__URL", nats.url()),
            ("NEWSWIRE_FETCHER__FEEDS_FILE", file.display().to_string()),
            ("NEWSWIRE_FETCHER__ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
            ("NEWSWIRE_FETCHER__ALLOW_FILE_URLS", "false".to_owned()),
            ("NEWSWIRE_FETCHER__ADMIN_LISTEN", admin.clone()),
        ],
    )
    .spawn()
    .unwrap();
    let observer = Bus::connect(
        &BusSettings { url: nats.url(), ..BusSettings::default() },
        "e2e-observer",
        ClientRole::ReadOnly,
    )
    .await
    .unwrap();
    wait_until(Duration::from_secs(30), "the good feed's five items on NEWS_RAW", || async {
        let mut s = observer.jetstream().get_stream("NEWS_RAW").await.ok()?;
        (s.info().await.ok()?.state.messages == 5).then_some(())
    })
    .await;
    let rejected = newswire_testkit::scrape_metric(
        &format!("http://{admin}/metrics"),
        "newswire_fetcher_feeds_rejected",
    )
    .await;
    assert_eq!(rejected, 1.0);
    let status = terminate(child).await;
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_refuses_the_sink_for_good_stops_it_with_an_error_and_dead_letters_nothing() {
    let nats = TestNats::start();
    let db = PgDb::create().await;
    let role = format!("newswire_limited_{}", std::process::id());
    let conn = sqlx::PgPool::connect(&db.url).await.unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    for sql in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN"),
        format!("ALTER DATABASE {name} OWNER TO {role}"),
        format!("ALTER SCHEMA public OWNER TO {role}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&conn).await.unwrap();
    }
    // The same database, as the limited role (trust authentication: the user name is enough).
    let url = db.url.replacen("://postgres@", &format!("://{role}@"), 1);
    assert_ne!(url, db.url, "NEWSWIRE_TEST_PG is expected to connect as postgres@");
    let settings = BusSettings { url: nats.url(), ack_wait_secs: 2, ..BusSettings::default() };
    let bus = Bus::connect(&settings, "e2e", ClientRole::All).await.unwrap();
    let articles = seed_articles();
    let admin = free_addr();
    let mut sink = service(
        "newswire-sink",
        &[
            ("NEWSWIRE_NATS__URL", nats.url()),
            ("NEWSWIRE_NATS__ACK_WAIT_SECS", "2".to_owned()),
            ("NEWSWIRE_SINK__DATABASE_URL", url),
            ("NEWSWIRE_SINK__ADMIN_LISTEN", admin),
        ],
    )
    .spawn()
    .unwrap();
    bus.publish_article(&articles[0]).await.unwrap();
    wait_until(Duration::from_secs(30), "the first article stored", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM articles").fetch_one(&conn).await.ok()?;
        (n == 1).then_some(())
    })
    .await;
    // The role loses its privilege on the table: every insert now fails with 42501.
    sqlx::raw_sql("ALTER TABLE articles OWNER TO postgres").execute(&conn).await.unwrap();
    bus.publish_article(&articles[1]).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), sink.wait())
        .await
        .expect("the sink kept running against a store that refuses it")
        .unwrap();
    assert!(!status.success(), "a fatal store error must be a non-zero exit: {status}");
    let mut stderr = String::new();
    if let Some(mut e) = sink.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert!(stderr.contains("permission denied"), "{stderr}");
    // Nothing was dead-lettered: the article is still on its stream, for a fixed sink.
    let dlq = bus.jetstream().get_stream("NEWS_DLQ").await.unwrap().info().await.unwrap().state.messages;
    assert_eq!(dlq, 0);
    assert_eq!(bus.pending(newswire_bus::ConsumerRole::Sink).await.unwrap(), 1);
    conn.close().await;
    drop(db);
    let admin_url = std::env::var("NEWSWIRE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let conn = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}"))).execute(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_nats_url_or_a_refused_stream_stops_the_service_and_an_absent_server_is_waited_for() {
    // An address that cannot parse: retrying cannot fix it.
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        service(
            "newswire-processor",
            &[
                ("NEWSWIRE_NATS__URL", "nats://bad host:4222".to_owned()),
                ("NEWSWIRE_PROCESSOR__ADMIN_LISTEN", free_addr()),
            ],
        )
        .output(),
    )
    .await
    .expect("a bad NATS URL was retried instead of stopping the service")
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad host"), "{stderr}");

    // A stream the server refuses: another stream already holds the raw subjects.
    let nats = TestNats::start();
    let bus =
        Bus::connect(&BusSettings { url: nats.url(), ..BusSettings::default() }, "e2e", ClientRole::ReadOnly)
            .await
            .unwrap();
    bus.jetstream()
        .create_stream(async_nats::jetstream::stream::Config {
            name: "SOMEONE_ELSES".into(),
            subjects: vec!["news.raw.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        service(
            "newswire-fetcher",
            &[
                ("NEWSWIRE_NATS__URL", nats.url()),
                ("NEWSWIRE_FETCHER__FEEDS_FILE", "config/feeds.toml".to_owned()),
                ("NEWSWIRE_FETCHER__ADMIN_LISTEN", free_addr()),
            ],
        )
        .current_dir(env!("CARGO_MANIFEST_DIR").to_owned() + "/..")
        .output(),
    )
    .await
    .expect("a refused stream configuration was retried instead of stopping the service")
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NEWS_RAW") && stderr.contains("overlap"), "{stderr}");

    // A server that is not there (yet) is waited for, not reported as a failure.
    let admin = free_addr();
    let mut child = service(
        "newswire-processor",
        &[
            ("NEWSWIRE_NATS__URL", format!("nats://{}", free_addr())),
            ("NEWSWIRE_PROCESSOR__ADMIN_LISTEN", admin.clone()),
        ],
    )
    .spawn()
    .unwrap();
    let body = wait_until(Duration::from_secs(20), "/readyz answering", || async {
        let (code, body) = newswire_testkit::try_http_get(&format!("http://{admin}/readyz")).await.ok()?;
        (code == 503).then_some(body)
    })
    .await;
    assert!(body.contains("NATS"), "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(child.try_wait().unwrap().is_none(), "the processor gave up on an absent server");
    let status = terminate(child).await;
    assert!(status.success(), "{status}");
}
