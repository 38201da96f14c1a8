//! Feeds managed at run time (issue 16 item 7): the registry in JetStream key-value buckets,
//! fetchers that follow it without a restart, replicas that share its feeds, the `newswire
//! feeds` CLI, and the OPML export.

use std::time::{Duration, Instant};

use newswire_app::{Settings, run_fetcher};
use newswire_bus::{Bus, BusSettings, ClientRole};
use newswire_fetch::registry::{FeedRegistry, NewFeed};
use newswire_fetch::service::Fetcher;
use newswire_fetch::{FeedList, FetcherSettings, HttpFetcher, RegistryRun, import_feeds};
use newswire_telemetry::Registry;
use newswire_telemetry::metrics::FetcherMetrics;
use newswire_testkit::{FeedServer, Route, TestNats, seeds, wait_until};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::start_stage;
use crate::services::service;

fn fetcher_settings() -> FetcherSettings {
    FetcherSettings {
        allow_private_networks: true,
        default_poll_interval_secs: 2,
        ..FetcherSettings::default()
    }
}

async fn connect(nats: &TestNats) -> Bus {
    let settings = BusSettings { url: nats.url(), ..Default::default() };
    Bus::connect(&settings, "e2e", ClientRole::All).await.expect("connect")
}

/// A fetcher replica following the registry, in this process.
struct Replica {
    name: String,
    metrics: FetcherMetrics,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Replica {
    async fn start(nats: &TestNats, name: &str, ttl_secs: u64) -> Self {
        let bus = connect(nats).await;
        let settings = FetcherSettings {
            replica_name: name.to_owned(),
            replica_ttl_secs: ttl_secs,
            ..fetcher_settings()
        };
        let metrics = FetcherMetrics::new(&Registry::new()).unwrap();
        let fetcher = Fetcher::new(HttpFetcher::new(&settings).unwrap(), bus.clone(), metrics.clone());
        let registry = FeedRegistry::open(&bus, &settings).await.unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(fetcher.run_registry(
            registry,
            RegistryRun::from_settings(&settings),
            shutdown.clone(),
        ));
        Self { name: name.to_owned(), metrics, shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }

    /// Like a crash: no clean stop, the heartbeat stays until its TTL.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn serve_seeds(feeds: &FeedServer, path: &str) {
    feeds.set(path, Route::body("application/rss+xml; charset=utf-8", seeds::rss(&seeds::load())));
}

fn new_feed(id: &str, url: String, interval: u64) -> NewFeed {
    NewFeed { id: id.into(), url, poll_interval_secs: Some(interval), ..NewFeed::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_added_to_a_running_fetcher_is_polled_and_pause_resume_remove_take_effect() {
    newswire_testkit::init_logging();
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    serve_seeds(&feeds, "/a.rss");
    let bus = connect(&nats).await;
    let registry = FeedRegistry::open(&bus, &fetcher_settings()).await.unwrap();
    let replica = Replica::start(&nats, "solo", 6).await;

    // Added while the fetcher runs: polled and its items published, no restart.
    registry.add_new(&new_feed("a", feeds.url("/a.rss"), 2)).await.unwrap();
    let status = wait_until(Duration::from_secs(20), "the added feed's items published", || async {
        let s = registry.status("a").await.ok()??;
        (s.items_published == 5).then_some(s)
    })
    .await;
    assert_eq!(status.polled_by.as_deref(), Some("solo"));
    assert!(status.last_success.is_some() && status.error_streak == 0, "{status:?}");
    assert_eq!(
        registry.add_new(&new_feed("a", feeds.url("/a.rss"), 2)).await.unwrap_err().to_string(),
        "feed a already exists"
    );

    // Paused: no more requests (one poll under way at the moment of the pause may finish).
    registry.set_paused("a", true).await.unwrap();
    wait_until(Duration::from_secs(10), "the paused gauge", || async {
        (replica.metrics.feeds_by_state.get("paused") == 1).then_some(())
    })
    .await;
    let at_pause = feeds.hits("/a.rss");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after = feeds.hits("/a.rss");
    assert!(after <= at_pause + 1, "a paused feed was polled: {at_pause} -> {after} requests");

    // Resumed: polled again.
    registry.set_paused("a", false).await.unwrap();
    wait_until(Duration::from_secs(15), "the resumed feed to be polled again", || async {
        (feeds.hits("/a.rss") >= after + 2).then_some(())
    })
    .await;
    assert_eq!(replica.metrics.feeds_by_state.get("paused"), 0);

    // Removed: gone from the registry, its status too, and no more requests.
    registry.remove("a").await.unwrap();
    assert!(registry.get("a").await.unwrap().is_none());
    assert!(registry.list().await.unwrap().feeds.is_empty());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_remove = feeds.hits("/a.rss");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after = feeds.hits("/a.rss");
    assert!(after <= at_remove + 1, "a removed feed was polled: {at_remove} -> {after} requests");
    assert!(registry.status("a").await.unwrap().is_none(), "the status outlived the feed");
    assert_eq!(
        registry.remove("a").await.unwrap_err().kind(),
        newswire_fetch::registry::RegistryErrorKind::NotFound
    );
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_feeds_without_double_polls_and_take_over_from_a_dead_one() {
    newswire_testkit::init_logging();
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    let bus = connect(&nats).await;
    let registry = FeedRegistry::open(&bus, &fetcher_settings()).await.unwrap();
    let ids: Vec<String> = (0..8).map(|i| format!("feed-{i}")).collect();
    let interval = 2;
    for id in &ids {
        let path = format!("/{id}.rss");
        serve_seeds(&feeds, &path);
        registry.add_new(&new_feed(id, feeds.url(&path), interval)).await.unwrap();
    }
    let one = Replica::start(&nats, "replica-one", 4).await;
    let two = Replica::start(&nats, "replica-two", 4).await;
    // Both see each other before counting (heartbeats every TTL/3).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before: Vec<usize> = ids.iter().map(|id| feeds.hits(&format!("/{id}.rss"))).collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(16)).await;
    let elapsed = started.elapsed().as_secs_f64();
    // Once per interval, each: at most elapsed/interval + 1 requests in the window (+1 for a
    // late poll at its edge). Two replicas polling everything would make about twice that.
    let most = (elapsed / interval as f64).floor() as usize + 2;
    for (id, b) in ids.iter().zip(&before) {
        let n = feeds.hits(&format!("/{id}.rss")) - b;
        assert!(n >= 3, "{id} polled only {n} times in {elapsed:.0} s");
        assert!(
            n <= most,
            "{id} polled {n} times in {elapsed:.0} s at a {interval} s interval (at most {most})"
        );
    }
    let statuses = registry.statuses().await.unwrap();
    let by = |name: &str| -> Vec<String> {
        statuses
            .iter()
            .filter(|(_, s)| s.polled_by.as_deref() == Some(name))
            .map(|(id, _)| id.clone())
            .collect()
    };
    let (of_one, of_two) = (by(&one.name), by(&two.name));
    assert!(!of_one.is_empty() && !of_two.is_empty(), "feeds not shared: {of_one:?} / {of_two:?}");
    assert_eq!(of_one.len() + of_two.len(), ids.len());
    let owned = |r: &Replica| r.metrics.feeds_by_state.get("ok");
    assert_eq!(owned(&one) + owned(&two), ids.len() as i64, "every feed counted once over the replicas");

    // Replica two dies without a word: its feeds move to replica one after its heartbeat's TTL.
    two.kill().await;
    let moved: Vec<(String, usize)> =
        of_two.iter().map(|id| (id.clone(), feeds.hits(&format!("/{id}.rss")))).collect();
    wait_until(Duration::from_secs(30), "replica one to poll the dead replica's feeds", || async {
        let statuses = registry.statuses().await.ok()?;
        moved
            .iter()
            .all(|(id, hits)| {
                feeds.hits(&format!("/{id}.rss")) >= hits + 2
                    && statuses.get(id).is_some_and(|s| s.polled_by.as_deref() == Some("replica-one"))
            })
            .then_some(())
    })
    .await;
    assert_eq!(owned(&one), ids.len() as i64);
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opml_export_round_trips_into_another_registry() {
    let (a, b) = (TestNats::start(), TestNats::start());
    let settings = fetcher_settings();
    let from = FeedRegistry::open(&connect(&a).await, &settings).await.unwrap();
    let feeds = [
        NewFeed {
            id: "aljazeera-ar".into(),
            url: "https://www.aljazeera.net/rss?x=1&y=2".into(),
            poll_interval_secs: Some(120),
            language: Some("ar".into()),
            category: Some("world".into()),
            title: Some("الجزيرة".into()),
            ..NewFeed::default()
        },
        NewFeed {
            id: "bbc_en".into(),
            url: "https://feeds.bbci.co.uk/news/rss.xml".into(),
            ..NewFeed::default()
        },
    ];
    for f in &feeds {
        from.add_new(f).await.unwrap();
    }
    from.set_paused("bbc_en", true).await.unwrap();
    let opml = from.export_opml().await.unwrap();
    assert!(opml.starts_with("<?xml") && opml.contains("<opml version=\"2.0\""), "{opml}");

    let to = FeedRegistry::open(&connect(&b).await, &settings).await.unwrap();
    for f in import_feeds(&opml, &FeedList::default(), &to.guard()).unwrap() {
        to.add_new(&NewFeed {
            id: f.id,
            url: f.url,
            poll_interval_secs: f.poll_interval_secs,
            language: f.language,
            category: f.category,
            title: f.title,
            full_text: None,
        })
        .await
        .unwrap();
    }
    let key = |l: newswire_fetch::registry::RegistryListing| {
        l.feeds
            .into_iter()
            .map(|f| {
                (
                    f.spec.id.to_string(),
                    f.spec.url.to_string(),
                    f.spec.language,
                    f.spec.category,
                    f.spec.poll_interval,
                    f.title.filter(|t| t != f.spec.id.as_str()),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(to.list().await.unwrap()), key(from.list().await.unwrap()));
}

/// The CLI against a running fetcher (started from the same `run_fetcher` as the binaries),
/// seeded from its feeds file: add, ls, pause, export-opml, rm, import; a feed removed at run
/// time is not brought back by the feeds file when the fetcher restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feeds_cli_manages_a_running_fetcher() {
    newswire_testkit::init_logging();
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    serve_seeds(&feeds, "/seeded.rss");
    serve_seeds(&feeds, "/added.rss");
    let dir = tempfile::tempdir().unwrap();
    let feeds_file = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds_file,
        format!(
            "[[feed]]\nid = \"seeded\"\nurl = \"{}\"\npoll_interval_secs = 2\n",
            feeds.url("/seeded.rss")
        ),
    )
    .unwrap();
    let mut settings = Settings::default();
    settings.nats.url = nats.url();
    settings.fetcher =
        FetcherSettings { feeds_file: feeds_file.clone(), replica_ttl_secs: 3, ..fetcher_settings() };
    let run =
        |s: Settings, r: Registry, h, t| async move { run_fetcher(&s, &r, h, false, t).await.map(|_| ()) };
    let fetcher = start_stage(&settings, run).await;
    wait_until(Duration::from_secs(20), "the seeded feed to be polled", || async {
        (feeds.hits("/seeded.rss") >= 1).then_some(())
    })
    .await;

    let env = vec![
        ("NEWSWIRE_NATS__URL", nats.url()),
        ("NEWSWIRE_FETCHER__ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
    ];
    let cli = |args: Vec<String>| {
        let env = env.clone();
        async move {
            let out = service("newswire", &env).arg("feeds").args(&args).output().await.unwrap();
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.code(), text)
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (code, out) = cli(args(&[
        "add",
        "added",
        &feeds.url("/added.rss"),
        "--interval",
        "2",
        "--language",
        "ar",
        "--category",
        "world",
    ]))
    .await;
    assert_eq!(code, Some(0), "{out}");
    wait_until(Duration::from_secs(20), "the feed added with the CLI to be polled", || async {
        (feeds.hits("/added.rss") >= 1).then_some(())
    })
    .await;
    let (code, out) = cli(args(&["add", "added", &feeds.url("/added.rss")])).await;
    assert_eq!(code, Some(2), "a duplicate id: {out}");
    // The CLI checks URLs with the same SSRF guard as the fetcher (here without the tests'
    // allowance for the local feed server).
    let out = service("newswire", &[("NEWSWIRE_NATS__URL", nats.url())])
        .args(["feeds", "add", "meta", "http://169.254.169.254/latest"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("`url`"), "the SSRF guard: {stderr}");

    let ls = wait_until(Duration::from_secs(20), "`feeds ls` to show both feeds polled", || async {
        let (_, out) = cli(args(&["ls"])).await;
        let row = |id: &str| out.lines().find(|l| l.starts_with(&format!("{id} "))).map(str::to_owned);
        let (seeded, added) = (row("seeded")?, row("added")?);
        // Polled and succeeded: LAST POLL and LAST SUCCESS both say "… ago". (The two feeds
        // serve the same entries, so only the first to be polled published them.)
        let polled = |row: &str| row.contains(" ok ") && row.matches(" ago").count() == 2;
        (polled(&seeded) && polled(&added)).then_some(out)
    })
    .await;
    assert!(ls.starts_with("ID") && ls.contains("LAST SUCCESS"), "{ls}");

    let (code, out) = cli(args(&["pause", "added"])).await;
    assert_eq!(code, Some(0), "{out}");
    let (_, out) = cli(args(&["ls"])).await;
    assert!(out.lines().any(|l| l.starts_with("added ") && l.contains(" paused ")), "{out}");

    let opml = dir.path().join("feeds.opml");
    let (code, out) = cli(args(&["export-opml", &opml.display().to_string()])).await;
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&opml).unwrap();
    assert!(text.contains(&feeds.url("/added.rss")) && text.contains("newswire:id=\"seeded\""), "{text}");

    // Removed at run time, then the fetcher restarts: the file does not bring it back.
    let (code, out) = cli(args(&["rm", "seeded"])).await;
    assert_eq!(code, Some(0), "{out}");
    let (code, _) = cli(args(&["rm", "seeded"])).await;
    assert_eq!(code, Some(2), "no such feed");
    fetcher.stop().await;
    let fetcher = start_stage(&settings, run).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, out) = cli(args(&["ls"])).await;
    assert!(!out.lines().any(|l| l.starts_with("seeded ")), "re-seeded from the file: {out}");

    // An explicit import brings it back (the OPML export has it), and the fetcher polls it.
    let before = feeds.hits("/seeded.rss");
    let (code, out) = cli(args(&["import", &opml.display().to_string()])).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("added 1 feeds"), "{out}");
    wait_until(Duration::from_secs(20), "the re-imported feed to be polled", || async {
        (feeds.hits("/seeded.rss") > before).then_some(())
    })
    .await;
    fetcher.stop().await;
}
