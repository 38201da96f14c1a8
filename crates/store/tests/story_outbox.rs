//! The story outbox against a real nats-server: every due event is published once and marked,
//! page after page, and events whose publish fails stay due until the bus is back.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use std::time::{Duration, Instant};

use newswire_bus::{Bus, BusSettings, ClientRole, NewsStream, RangeEnd, RangeStart};
use newswire_model::{Article, StoryEvent};
use newswire_store::service::publish_story_events;
use newswire_store::{ArticleQueries, ArticleStore, SqliteStore};
use newswire_telemetry::metrics::SinkMetrics;
use newswire_testkit::articles::article;
use newswire_testkit::{TestNats, wait_until};

/// More stories than one outbox page (256), so that publishing takes two pages.
const STORIES: usize = 300;
/// Stories due while the server is down.
const DOWN: usize = 20;

async fn bus(nats: &TestNats) -> Bus {
    let settings = BusSettings { url: nats.url(), ..BusSettings::default() };
    Bus::connect(&settings, "outbox-test", ClientRole::All).await.unwrap()
}

/// Article `n`, alone in story `story-<n>`.
fn in_story(n: usize, source: &str, lang: &str) -> Article {
    let mut a = article("outbox", n, source, lang, &format!("Title {n}"), "The text.");
    a.story_id = Some(format!("story-{n}"));
    a
}

async fn events_on_the_bus(bus: &Bus) -> Vec<StoryEvent> {
    let mut r =
        bus.read_range(NewsStream::Stories, None, RangeStart::Sequence(1), RangeEnd::Now).await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = r.next().await.unwrap() {
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_story_events_are_published_once_and_stay_due_while_the_bus_is_down() {
    let mut nats = TestNats::start();
    let bus = bus(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("articles.db"), 2).await.unwrap();
    let metrics = SinkMetrics::new(&newswire_telemetry::Registry::new()).unwrap().story_events;
    let budget = Duration::from_secs(30);

    // Down: nothing is published, nothing is marked, the failures are counted, and the round
    // waits about one publish-ack timeout (5 s), not one per event (20 would be 100 s).
    let first: Vec<_> = (0..DOWN).map(|n| in_story(n, "alpha", "ar")).collect();
    store.upsert(&first).await.unwrap();
    nats.kill();
    let started = Instant::now();
    let done = publish_story_events(&bus, &store, &metrics, budget).await;
    let took = started.elapsed();
    assert_eq!((done.published, done.left), (0, true), "{done:?}");
    assert!(done.failed >= 1 && metrics.failed.get() == done.failed, "{done:?}");
    assert!(took < Duration::from_secs(30), "the acks were awaited one timeout after another: {took:?}");
    assert_eq!(store.pending_story_changes(50).await.unwrap().len(), DOWN, "failed events stay due");

    // Back, with more due than one page: all go out, each once, and none is due after.
    nats.restart();
    let more: Vec<_> = (DOWN..STORIES).map(|n| in_story(n, "beta", "en")).collect();
    store.upsert(&more).await.unwrap();
    let done = wait_until(Duration::from_secs(30), "the bus to take the events", || async {
        let done = publish_story_events(&bus, &store, &metrics, budget).await;
        (done.failed == 0).then_some(done)
    })
    .await;
    assert!(!done.left, "{done:?}");
    assert!(store.pending_story_changes(10).await.unwrap().is_empty());
    assert_eq!(metrics.published.get(), STORIES as u64);
    let mut ids: Vec<String> = events_on_the_bus(&bus).await.into_iter().map(|e| e.story_id).collect();
    assert_eq!(ids.len(), STORIES, "one event per story");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), STORIES, "no story twice");
}
