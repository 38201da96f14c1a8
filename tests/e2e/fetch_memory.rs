//! The fetcher's durable per-feed memory (`NEWSWIRE_FETCHER_SEEN`): a re-polled feed publishes
//! only new or changed entries, also after a restart; a failed publish is not remembered; an
//! unusable bucket costs re-publishing, never items. Real nats-server and HTTP feed server; no
//! processor or sink (the raw stream is what is checked).

use std::time::Duration;

use newswire_bus::{Bus, BusErrorKind, BusSettings, KvBucketName};
use newswire_fetch::seen::{Fingerprint, SeenMemory};
use newswire_fetch::service::{Fetcher, PollStats};
use newswire_fetch::{FeedList, FeedSpec, FetcherSettings, HttpFetcher, NetGuard, Validators};
use newswire_telemetry::Registry;
use newswire_telemetry::metrics::FetcherMetrics;
use newswire_testkit::seeds::{self, Seed};
use newswire_testkit::{FeedServer, Route, TestNats};

struct Harness {
    nats: TestNats,
    feeds: FeedServer,
    nats_settings: BusSettings,
    fetcher_settings: FetcherSettings,
    bus: Bus,
}

/// A private nats-server (streams created with the `[nats]` settings as `configure` leaves
/// them) and a feed server.
async fn harness(configure: impl FnOnce(&mut BusSettings)) -> Harness {
    newswire_testkit::init_logging();
    let nats = TestNats::start();
    let feeds = FeedServer::start().await;
    let mut nats_settings = BusSettings { url: nats.url(), ..BusSettings::default() };
    configure(&mut nats_settings);
    let fetcher_settings = FetcherSettings { allow_private_networks: true, ..FetcherSettings::default() };
    let bus = Bus::connect(&nats_settings, "e2e-fetch-memory", newswire_bus::ClientRole::All)
        .await
        .expect("connect");
    Harness { nats, feeds, nats_settings, fetcher_settings, bus }
}

impl Harness {
    /// A new fetcher, as after a restart: nothing in process, only what the bucket holds.
    /// Its metrics are returned beside it.
    fn fetcher(&self) -> (Fetcher, FetcherMetrics) {
        self.fetcher_on(self.bus.clone())
    }

    fn fetcher_on(&self, bus: Bus) -> (Fetcher, FetcherMetrics) {
        let metrics = FetcherMetrics::new(&Registry::new()).expect("metrics");
        let http = HttpFetcher::new(&self.fetcher_settings).expect("http client");
        (Fetcher::new(http, bus, metrics.clone()), metrics)
    }

    /// Serves `entries` as RSS on `/<id>.rss` and returns the feed spec.
    fn serve(&self, id: &str, entries: &[Seed]) -> FeedSpec {
        let path = format!("/{id}.rss");
        self.feeds.set(&path, Route::body("application/rss+xml", seeds::rss(entries)));
        let guard = NetGuard { allow_private: true, allow_files: false };
        let toml = format!("[[feed]]\nid = \"{id}\"\nurl = \"{}\"\n", self.feeds.url(&path));
        FeedList::parse(&toml, "test", &guard, Duration::from_secs(60)).expect("feed list").feeds.remove(0)
    }

    /// Messages in the raw stream: what actually reached JetStream.
    async fn raw_messages(&self) -> u64 {
        let mut stream =
            self.bus.jetstream().get_stream(&self.nats_settings.raw_stream.name).await.expect("raw stream");
        stream.info().await.expect("stream info").state.messages
    }

    /// The feed's memory as stored in the bucket.
    async fn stored(&self, feed: &FeedSpec) -> Option<SeenMemory> {
        let bucket = self.bus.kv_bucket(KvBucketName::FetcherSeen, None).await.expect("bucket");
        let (bytes, _) = bucket.get(feed.id.as_str()).await.expect("get")?;
        Some(SeenMemory::decode(&bytes).expect("decodes"))
    }
}

/// Polls without conditional-GET validators, so that every poll parses the whole feed (the
/// case the memory is for: a feed whose document changed).
async fn poll(fetcher: &Fetcher, feed: &FeedSpec) -> PollStats {
    fetcher.poll(feed, &mut Validators::default()).await.expect("poll")
}

/// The seeds plus `n` new entries (new links, so new article ids).
fn with_new_entries(base: &[Seed], n: usize) -> Vec<Seed> {
    let mut all = base.to_vec();
    for i in 0..n {
        let mut extra = base[i % base.len()].clone();
        extra.link = format!("https://another-outlet.example/news/extra-{i}");
        extra.title = format!("خبر جديد رقم {i}");
        extra.published = format!("2025-03-0{}T10:00:00Z", i + 1);
        all.push(extra);
    }
    all
}

fn seen_count(metrics: &FetcherMetrics) -> u64 {
    metrics.stage.items_dropped.with_label_values(&["seen"]).get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repoll_publishes_only_new_and_changed_entries() {
    // The raw stream's duplicate window is 1 s here, so that JetStream's own `Nats-Msg-Id`
    // dedup cannot be what keeps re-publishes out: only the fetcher's memory is tested. (With
    // the default 600 s window, the changed entry below, which keeps its article id, would be
    // dropped by JetStream as a duplicate if re-published within 10 minutes.)
    let h = harness(|s| s.raw_stream.duplicate_window_secs = 1).await;
    let (fetcher, metrics) = h.fetcher();
    let base = seeds::load();
    assert_eq!(base.len(), 5, "the five seed articles");
    let feed = h.serve("seeds", &base);

    let first = poll(&fetcher, &feed).await;
    assert_eq!((first.entries, first.published, first.seen, first.failed), (5, 5, 0, 0), "{first:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await; // past the duplicate window

    let second = poll(&fetcher, &feed).await;
    assert_eq!(
        (second.entries, second.published, second.duplicates, second.seen),
        (5, 0, 0, 5),
        "an unchanged feed publishes nothing: {second:?}"
    );
    assert_eq!(h.raw_messages().await, 5);
    assert_eq!(seen_count(&metrics), 5);

    // Three new entries, and one existing entry edited (same link, so same id, new title).
    let mut changed = with_new_entries(&base, 3);
    changed[1].title.push_str(" (محدّث)");
    h.serve("seeds", &changed);
    let third = poll(&fetcher, &feed).await;
    assert_eq!(
        (third.entries, third.published, third.duplicates, third.seen, third.failed),
        (8, 4, 0, 4, 0),
        "3 new + 1 changed: {third:?}"
    );
    assert_eq!(h.raw_messages().await, 9);
    assert_eq!(metrics.stage.items_out.get(), 9);
    assert_eq!(seen_count(&metrics), 9);

    // The memory holds the 8 current entries: the edited entry's old version was replaced,
    // not kept beside the new one.
    let stored = h.stored(&feed).await.expect("memory stored");
    assert_eq!(stored.len(), 8, "{stored:?}");
    let fourth = poll(&fetcher, &feed).await;
    assert_eq!((fourth.published, fourth.seen), (0, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_survives_a_fetcher_restart_and_a_server_restart() {
    let mut h = harness(|_| {}).await;
    let base = seeds::load();
    let feed = h.serve("seeds", &base);
    let (first_fetcher, _) = h.fetcher();
    let first = poll(&first_fetcher, &feed).await;
    assert_eq!((first.published, first.seen), (5, 0));
    drop(first_fetcher);

    // A new fetcher has no in-process memory: what it knows comes from the bucket.
    let (restarted, metrics) = h.fetcher();
    let again = poll(&restarted, &feed).await;
    assert_eq!(
        (again.entries, again.published, again.duplicates, again.seen),
        (5, 0, 0, 5),
        "nothing reaches JetStream, not even as a duplicate: {again:?}"
    );
    assert_eq!(seen_count(&metrics), 5);
    let stored = h.stored(&feed).await.expect("memory stored");
    assert_eq!(stored.len(), 5);
    assert_eq!(stored.encode().len(), 1 + 5 * 24, "24 bytes an entry");

    // The bucket is on disk: a restarted nats-server and a new connection still know.
    h.nats.restart();
    let bus = Bus::connect(&h.nats_settings, "e2e-after-restart", newswire_bus::ClientRole::All)
        .await
        .expect("reconnect");
    let (after_restart, _) = h.fetcher_on(bus);
    h.serve("seeds", &with_new_entries(&base, 2));
    let stats = poll(&after_restart, &feed).await;
    assert_eq!(
        (stats.entries, stats.published, stats.duplicates, stats.seen, stats.failed),
        (7, 2, 0, 5, 0),
        "only the two new entries: {stats:?}"
    );
    assert_eq!(h.raw_messages().await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_is_not_remembered() {
    let h = harness(|_| {}).await;
    let base = seeds::load();
    let feed = h.serve("seeds", &base);
    let (fetcher, _) = h.fetcher();
    assert_eq!(poll(&fetcher, &feed).await.published, 5);

    // Two new entries, and no stream to take them: their publishes fail.
    let grown = with_new_entries(&base, 2);
    h.serve("seeds", &grown);
    h.bus.jetstream().delete_stream(&h.nats_settings.raw_stream.name).await.expect("delete raw stream");
    let failed = poll(&fetcher, &feed).await;
    assert_eq!(
        (failed.entries, failed.published, failed.seen, failed.failed),
        (7, 0, 5, 2),
        "the seen entries are skipped, the new ones fail: {failed:?}"
    );
    let stored = h.stored(&feed).await.expect("memory stored");
    let new_ids: Vec<u128> = grown[5..]
        .iter()
        .map(|s| {
            newswire_model::ArticleId::from_url(&newswire_model::CanonicalUrl::parse(&s.link, None).unwrap())
                .to_bits()
        })
        .collect();
    assert_eq!(stored.len(), 5, "only the five published entries are remembered: {stored:?}");
    assert!(stored.entries().iter().all(|fp: &Fingerprint| !new_ids.contains(&fp.id)));

    // The stream is back (as every service start-up re-creates it). A restarted fetcher
    // publishes exactly the two that failed.
    h.bus.ensure_streams(newswire_bus::ClientRole::All).await.expect("re-create streams");
    let (restarted, _) = h.fetcher();
    let retried = poll(&restarted, &feed).await;
    assert_eq!((retried.published, retried.seen, retried.failed), (2, 5, 0), "{retried:?}");
    assert_eq!(h.raw_messages().await, 2, "the new stream holds the two retried entries");

    // The first fetcher did not remember them in process either: it sends them again
    // (JetStream drops them inside its window), and its write, based on an older revision
    // of the key, merges with the restarted fetcher's instead of overwriting it.
    let first_again = poll(&fetcher, &feed).await;
    assert_eq!(
        (first_again.published + first_again.duplicates, first_again.seen, first_again.failed),
        (2, 5, 0),
        "{first_again:?}"
    );
    let (third, _) = h.fetcher();
    let settled = poll(&third, &feed).await;
    assert_eq!((settled.published, settled.duplicates, settled.seen), (0, 0, 7), "{settled:?}");
    assert_eq!(h.raw_messages().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_bucket_costs_republishing_never_items() {
    let h = harness(|_| {}).await;
    // A stream squatting the bucket's name with a configuration JetStream cannot turn into the
    // bucket (memory storage cannot become file storage): the bucket cannot be opened.
    let squatter = format!("KV_{}", KvBucketName::FetcherSeen.bucket_name("news"));
    h.bus
        .jetstream()
        .create_stream(async_nats::jetstream::stream::Config {
            name: squatter,
            subjects: vec!["squatter.>".into()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create squatter stream");
    let base = seeds::load();
    let feed = h.serve("seeds", &base);
    let (fetcher, _) = h.fetcher();
    let error = fetcher.open_memory().await.expect_err("the bucket cannot be opened");
    assert_eq!(error.kind(), BusErrorKind::Transient, "{error}");

    let first = poll(&fetcher, &feed).await;
    assert_eq!((first.published, first.seen, first.failed), (5, 0, 0), "{first:?}");
    h.serve("seeds", &with_new_entries(&base, 1));
    let second = poll(&fetcher, &feed).await;
    assert_eq!(
        (second.entries, second.published, second.duplicates, second.seen),
        (6, 1, 5, 0),
        "without memory every entry is sent; JetStream drops the repeats: {second:?}"
    );
    assert_eq!(h.raw_messages().await, 6);
}

/// The wrapper the fetcher's memory (and later the processor's leases) is built on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_bucket_create_update_and_delete_are_atomic() {
    let h = harness(|_| {}).await;
    let kv = h.bus.kv_bucket(KvBucketName::FetcherSeen, Some(Duration::from_secs(3600))).await.expect("open");
    assert_eq!(kv.name(), "NEWSWIRE_FETCHER_SEEN");
    // Opening again (another replica, another max_age) is fine.
    let kv2 = h.bus.kv_bucket(KvBucketName::FetcherSeen, None).await.expect("reopen");

    // Values as (bytes, revision), without naming the `bytes` crate.
    let get = |kv: &newswire_bus::KvBucket| {
        let kv = kv.clone();
        async move { kv.get("k").await.unwrap().map(|(v, r)| (String::from_utf8(v.to_vec()).unwrap(), r)) }
    };
    assert_eq!(get(&kv).await, None);
    let r1 = kv.create("k", "one".into()).await.unwrap().expect("first create wins");
    assert_eq!(kv2.create("k", "two".into()).await.unwrap(), None, "second create loses");
    assert_eq!(get(&kv).await, Some(("one".to_owned(), r1)));

    let r2 = kv.update("k", "three".into(), r1).await.unwrap().expect("current revision");
    assert!(r2 > r1);
    assert_eq!(kv2.update("k", "stale".into(), r1).await.unwrap(), None, "stale revision");
    assert_eq!(get(&kv2).await, Some(("three".to_owned(), r2)));

    kv.delete("k").await.unwrap();
    assert_eq!(get(&kv).await, None);
    assert!(kv.create("k", "again".into()).await.unwrap().is_some(), "create after delete");
    let r = kv.put("k", "put".into()).await.unwrap();
    assert_eq!(get(&kv).await, Some(("put".to_owned(), r)));

    let bad = kv.put("a.*", "x".into()).await.unwrap_err();
    assert_eq!(bad.kind(), BusErrorKind::Message, "{bad}");
}
