//! Crashes, restarts and poison messages.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use newswire_store::ArticleStore;
use newswire_testkit::seeds::{Seed, rss};
use newswire_testkit::{Route, wait_until};

use crate::helpers::{Backend, spawn_pipeline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_killed_mid_stream_and_restarted_ends_with_exactly_five_rows() {
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    // Commit one article per transaction so that the kill lands between commits.
    p.settings.sink.batch_size = 1;
    p.settings.sink.batch_linger_ms = 0;
    p.sink.take().unwrap().stop().await;
    p.sink = Some(p.start_sink().await);

    p.poll(&[("seeds-rss", "/seeds.rss")]).await;
    let store = p.store().await;
    wait_until(Duration::from_secs(30), "a first stored article", || async {
        (store.count().await.ok()? >= 1).then_some(())
    })
    .await;
    p.sink.take().unwrap().kill().await;
    let after_kill = store.count().await.unwrap();
    assert!(after_kill <= 5);

    p.sink = Some(p.start_sink().await);
    assert_eq!(p.wait_for_articles(5).await, 5);
    // Redeliveries of what was stored before the kill must have been no-ops.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(store.count().await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_loses_nothing() {
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    p.poll(&[("seeds-rss", "/seeds.rss")]).await;
    assert_eq!(p.wait_for_articles(5).await, 5);
    p.nats.restart();
    // The clients reconnect by themselves; the same feed under another source id goes through.
    let all = newswire_testkit::seeds::load();
    p.feeds.set(
        "/seeds2.atom",
        newswire_testkit::Route::body(
            "application/atom+xml",
            newswire_testkit::seeds::atom(&all).replace("/news/", "/news/v2-"),
        ),
    );
    wait_until(Duration::from_secs(30), "a successful poll after the restart", || async {
        let r = p.poll(&[("seeds-atom2", "/seeds2.atom")]).await;
        r.iter().all(|(_, r)| r.as_ref().is_ok_and(|s| s.failed == 0)).then_some(())
    })
    .await;
    assert_eq!(p.wait_for_articles(10).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_the_rest_flows() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    let js = p.bus.jetstream().clone();
    // Not JSON, and JSON that is not a RawItem (invalid id).
    for body in [
        &b"\xff\xfe not json"[..],
        br#"{"id":"nothex","source_id":"x","feed_url":"f","fetched_at":"2025-01-01T00:00:00Z"}"#,
    ] {
        js.publish("news.raw.poison", body.to_vec().into()).await.unwrap().await.unwrap();
    }
    // An article that does not decode, straight to the sink's stream.
    js.publish("news.articles.ar.world", b"{\"broken\": true}".to_vec().into()).await.unwrap().await.unwrap();
    p.poll(&[("seeds-rss", "/seeds.rss")]).await;
    assert_eq!(p.wait_for_articles(5).await, 5);

    let dlq = js.get_stream("NEWS_DLQ").await.unwrap();
    let consumer = dlq
        .create_consumer(async_nats::jetstream::consumer::pull::Config { ..Default::default() })
        .await
        .unwrap();
    let mut msgs =
        consumer.fetch().max_messages(10).expires(Duration::from_secs(2)).messages().await.unwrap();
    let mut seen = Vec::new();
    while let Some(Ok(m)) = msgs.next().await {
        let h = m.headers.clone().unwrap_or_default();
        seen.push((
            m.subject.to_string(),
            h.get(newswire_bus::DLQ_REASON_HEADER).map(|v| v.to_string()).unwrap_or_default(),
            h.get(newswire_bus::DLQ_SUBJECT_HEADER).map(|v| v.to_string()).unwrap_or_default(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("news.dlq.processor".to_owned(), "decode".to_owned(), "news.raw.poison".to_owned()),
            ("news.dlq.processor".to_owned(), "decode".to_owned(), "news.raw.poison".to_owned()),
            ("news.dlq.sink".to_owned(), "decode".to_owned(), "news.articles.ar.world".to_owned()),
        ]
    );
}

/// A bus that takes the processor's articles and never acknowledges them (a subscriber where
/// the stream was): every publish ack times out (5 s). Awaited together, the acks of a batch
/// cost one timeout, and a processor asked to stop is done a few seconds later; awaited one
/// after another, 20 articles would hold it for 100 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_acks_that_never_come_cost_a_batch_one_timeout() {
    const ITEMS: usize = 20;
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    // The server's ack_wait (2 s here) must not bring the articles back meanwhile: the
    // processor's consumer is made again with a long one.
    p.processor.take().unwrap().stop().await;
    p.sink.take().unwrap().stop().await;
    p.settings.nats.ack_wait_secs = 300;
    let js = p.bus.jetstream().clone();
    let raw = js.get_stream(&p.settings.nats.raw_stream.name).await.unwrap();
    let durable = newswire_bus::ConsumerRole::Processor.durable_name();
    raw.delete_consumer(durable).await.unwrap();
    p.processor = Some(p.start_processor().await);
    // The processor sets up its output stream, then its consumer: once the consumer is
    // there, the stream can be taken away for good.
    wait_until(Duration::from_secs(10), "the processor's consumer", || async {
        raw.consumer_info(durable).await.ok().map(|_| ())
    })
    .await;
    js.delete_stream(&p.settings.nats.articles_stream.name).await.unwrap();
    let mut silent = p.bus.client().subscribe(p.bus.subjects().articles_all()).await.unwrap();
    p.bus.client().flush().await.unwrap();

    let items: Vec<Seed> = (0..ITEMS)
        .map(|i| Seed {
            stem: format!("a{i}"),
            title: format!("Unacknowledged report {i} on topic{i}"),
            paragraphs: (0..3)
                .map(|n| (0..30).map(|w| format!("word{i}x{n}x{w}")).collect::<Vec<_>>().join(" ") + ".")
                .collect(),
            link: format!("https://silent.example/news/{i}"),
            published: format!("2025-03-01T10:{i:02}:00Z"),
        })
        .collect();
    p.feeds.set("/silent.rss", Route::body("application/rss+xml", rss(&items)));
    p.poll(&[("silent", "/silent.rss")]).await;

    // Every article is sent once; none is acknowledged.
    let mut seen: HashSet<String> = HashSet::new();
    let deadline = Duration::from_secs(30);
    while seen.len() < ITEMS {
        let Ok(Some(m)) = tokio::time::timeout(deadline, silent.next()).await else {
            panic!("only {} of {ITEMS} articles were sent", seen.len());
        };
        let a: newswire_model::Article = serde_json::from_slice(&m.payload).unwrap();
        seen.insert(a.id.as_str().to_owned());
    }
    let stopping = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(60), p.processor.take().unwrap().stop()).await;
    let took = stopping.elapsed();
    assert!(stopped.is_ok() && took < Duration::from_secs(20), "the processor took {took:?} to stop");
}
