//! Crashes, restarts and poison messages.

use std::time::Duration;

use futures_util::StreamExt;
use newswire_store::ArticleStore;
use newswire_testkit::wait_until;

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
