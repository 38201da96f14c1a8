//! The sink under store faults: an article the database rejects is isolated and dead-lettered
//! while the rest of its batch is stored; a store that goes down is waited for, and nothing is
//! dead-lettered. Articles are published straight on the articles subjects (no processor).

use std::time::Duration;

use futures_util::StreamExt;
use newswire_app::{Settings, run_sink};
use newswire_bus::{Bus, ConsumerRole};
use newswire_model::Article;
use newswire_store::{ArticleStore, Store};
use newswire_testkit::{PgDb, PgServer, TestNats, http_get, scrape_metric, wait_until};

use crate::helpers::{Stage, start_stage};

/// A valid article `n` of the run `run` (built from JSON so that optional fields added to the
/// contract keep their defaults).
fn article(run: &str, n: usize) -> Article {
    let id = newswire_model::ArticleId::digest(&["sink-faults", run, &n.to_string()]);
    let hash = newswire_model::ArticleId::digest(&["sink-faults-hash", run, &n.to_string()]);
    serde_json::from_value(serde_json::json!({
        "schema_version": newswire_model::SCHEMA_VERSION,
        "id": id.as_str(),
        "canonical_url": format!("https://news.example/world/{run}/{n}"),
        "source_id": "news-example",
        "feed_url": "https://news.example/rss.xml",
        "title": format!("Talks resume ({run} {n})"),
        "text": format!("Officials said on Sunday that talks would resume ({run} {n})."),
        "language": "en",
        "category": "world",
        "published_at": "2025-03-01T12:00:00Z",
        "fetched_at": "2025-03-01T12:00:30Z",
        "processed_at": "2025-03-01T12:00:31Z",
        "summary": format!("Talks resume ({n})."),
        "fingerprints": { "content_hash": hash.as_str() },
    }))
    .expect("test article")
}

struct Harness {
    _nats: TestNats,
    settings: Settings,
    bus: Bus,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A private nats-server and settings for a sink writing to `database_url` (SQLite in a
    /// temp dir when `None`), redelivering after 2 s, at most `max_deliver` deliveries.
    async fn new(database_url: Option<String>, max_deliver: i64) -> Self {
        newswire_testkit::init_logging();
        let nats = TestNats::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = Settings::default();
        settings.nats.url = nats.url();
        settings.nats.ack_wait_secs = 2;
        settings.nats.max_deliver = max_deliver;
        settings.sink.sqlite_path = dir.path().join("articles.db");
        settings.sink.database_url = database_url;
        settings.sink.admin_listen = "127.0.0.1:0".to_owned();
        settings.sink.batch_linger_ms = 200;
        let bus = Bus::connect(&settings.nats, "e2e", newswire_bus::ClientRole::All).await.expect("connect");
        Self { _nats: nats, settings, bus, _dir: dir }
    }

    async fn start_sink(&self) -> Stage {
        start_stage(&self.settings, |s, r, h, t| async move { run_sink(&s, &r, h, t).await }).await
    }

    async fn publish(&self, articles: &[Article]) {
        for a in articles {
            self.bus.publish_article(a).await.expect("publish article");
        }
    }

    /// Waits until the sink's consumer has nothing pending or in flight.
    async fn wait_drained(&self) {
        wait_until(Duration::from_secs(60), "the sink to drain", || async {
            (self.bus.pending(ConsumerRole::Sink).await.ok()? == 0).then_some(())
        })
        .await;
    }

    /// Every dead-lettered message: (subject, reason, error).
    async fn dead_letters(&self) -> Vec<(String, String, String)> {
        let js = self.bus.jetstream();
        let Ok(dlq) = js.get_stream("NEWS_DLQ").await else { return Vec::new() };
        let consumer = dlq
            .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
            .await
            .expect("dlq consumer");
        let mut msgs = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .expect("fetch");
        let mut seen = Vec::new();
        while let Some(Ok(m)) = msgs.next().await {
            let h = m.headers.clone().unwrap_or_default();
            let get = |k: &str| h.get(k).map(|v| v.to_string()).unwrap_or_default();
            seen.push((
                m.subject.to_string(),
                get(newswire_bus::DLQ_REASON_HEADER),
                get(newswire_bus::DLQ_ERROR_HEADER),
            ));
        }
        seen
    }
}

async fn ready(stage: &Stage) -> bool {
    http_get(&format!("http://{}/readyz", stage.admin.addr)).await.0 == 200
}

/// 31 articles in one batch, one of them with a NUL in its summary (stored in the JSONB
/// `meta` column, which PostgreSQL refuses: SQLSTATE 22P05): the 30 others are stored, the
/// bad one alone is dead-lettered with reason `invalid` and the database's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rejected_article_is_isolated_and_the_rest_of_its_batch_is_stored() {
    let db = PgDb::create().await;
    let h = Harness::new(Some(db.url.clone()), 3).await;
    let mut articles: Vec<Article> = (0..31).map(|n| article("nul", n)).collect();
    articles[17].summary = Some("bad \u{0} summary".to_owned());
    let bad = articles[17].id.clone();
    // Published before the sink starts, so that they arrive as one batch.
    h.bus.ensure_streams(newswire_bus::ClientRole::All).await.expect("streams");
    h.publish(&articles).await;
    let sink = h.start_sink().await;

    let store = Store::open(&h.settings.sink).await.expect("open store");
    wait_until(Duration::from_secs(60), "30 stored articles", || async {
        (store.count().await.ok()? >= 30).then_some(())
    })
    .await;
    h.wait_drained().await;
    assert_eq!(store.count().await.unwrap(), 30);
    assert!(store.get(&bad).await.unwrap().is_none());
    for a in articles.iter().filter(|a| a.id != bad) {
        assert!(store.get(&a.id).await.unwrap().is_some(), "{} not stored", a.id);
    }

    let dead = h.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (subject, reason, error) = &dead[0];
    assert_eq!(subject, "news.dlq.sink");
    assert_eq!(reason, "invalid");
    assert!(error.contains("22P05") || error.to_lowercase().contains("unicode"), "{error}");

    let metrics = sink.metrics_url();
    assert_eq!(scrape_metric(&metrics, "newswire_sink_items_failed_total{reason=\"invalid\"}").await, 1.0);
    assert_eq!(scrape_metric(&metrics, "newswire_sink_dead_lettered_total").await, 1.0);
    assert_eq!(
        scrape_metric(&metrics, "newswire_sink_articles_stored_total{result=\"inserted\"}").await,
        30.0
    );
    assert!(ready(&sink).await);
    sink.stop().await;
}

/// The sink's PostgreSQL (a private server) stops for ~10 s while articles keep coming, with
/// at most 2 deliveries and a 2 s ack wait: the sink reports not ready, holds its batch and
/// waits; once the server is back, every article is stored exactly once and nothing is
/// dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_a_while_is_waited_for_and_nothing_is_dead_lettered() {
    let mut pg = PgServer::start();
    let h = Harness::new(Some(pg.url()), 2).await;
    let sink = h.start_sink().await;
    wait_until(Duration::from_secs(30), "the sink to be ready", || async {
        ready(&sink).await.then_some(())
    })
    .await;

    let first: Vec<Article> = (0..10).map(|n| article("down", n)).collect();
    h.publish(&first).await;
    h.wait_drained().await;

    pg.stop();
    let second: Vec<Article> = (10..40).map(|n| article("down", n)).collect();
    h.publish(&second).await;
    let metrics = sink.metrics_url();
    wait_until(Duration::from_secs(30), "the sink to report the store down", || async {
        let down = scrape_metric(&metrics, "newswire_sink_store_unavailable").await == 1.0;
        (down && !ready(&sink).await).then_some(())
    })
    .await;
    // Well past ack_wait × max_deliver: without the wait the batch would be dead-lettered.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!ready(&sink).await);
    pg.restart();

    let store = Store::open(&h.settings.sink).await.expect("open store");
    wait_until(Duration::from_secs(90), "40 stored articles", || async {
        (store.count().await.ok()? >= 40).then_some(())
    })
    .await;
    h.wait_drained().await;
    // Late redeliveries would show up as extra attempts, never as extra rows (the id is the
    // key), so the inserted count is what proves "exactly once".
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(store.count().await.unwrap(), 40);
    assert_eq!(
        scrape_metric(&metrics, "newswire_sink_articles_stored_total{result=\"inserted\"}").await,
        40.0
    );
    assert_eq!(h.dead_letters().await, Vec::<(String, String, String)>::new());
    assert_eq!(scrape_metric(&metrics, "newswire_sink_dead_lettered_total").await, 0.0);
    assert!(scrape_metric(&metrics, "newswire_sink_store_retries_total").await >= 1.0);
    wait_until(Duration::from_secs(10), "the sink to be ready again", || async {
        let up = scrape_metric(&metrics, "newswire_sink_store_unavailable").await == 0.0;
        (up && ready(&sink).await).then_some(())
    })
    .await;
    sink.stop().await;
}

/// Shutdown ends the wait for a store that is down at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_wait_for_a_down_store_promptly() {
    let mut pg = PgServer::start();
    let h = Harness::new(Some(pg.url()), 2).await;
    let sink = h.start_sink().await;
    wait_until(Duration::from_secs(30), "the sink to be ready", || async {
        ready(&sink).await.then_some(())
    })
    .await;
    pg.stop();
    h.publish(&[article("shutdown", 0)]).await;
    let metrics = sink.metrics_url();
    wait_until(Duration::from_secs(30), "the sink to report the store down", || async {
        (scrape_metric(&metrics, "newswire_sink_store_unavailable").await == 1.0).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), sink.stop()).await.expect("sink stops within 5 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(h.dead_letters().await, Vec::<(String, String, String)>::new());
}
