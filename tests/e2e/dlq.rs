//! Dead letters from the operator's side: a poison message is dead-lettered, listed (library
//! and `newswire dlq list`), requeued once its cause is fixed and then processed; purge by
//! stage and reason.

use std::time::Duration;

use newswire_bus::{DlqFilter, NewsStream};
use newswire_testkit::{Route, seeds, wait_until};

use crate::helpers::{Backend, TestPipeline, spawn_pipeline};
use crate::services::service;

/// Sets `max_msg_size` of the article stream (the processor compares only age, size, subjects
/// and window, so it leaves this alone).
async fn set_article_max_msg_size(p: &TestPipeline, size: i32) {
    let js = p.bus.jetstream();
    let mut stream = js.get_stream(p.bus.stream_name(NewsStream::Articles)).await.unwrap();
    let mut config = stream.info().await.unwrap().config.clone();
    config.max_message_size = size;
    js.update_stream(config).await.unwrap();
}

async fn dead_letters(p: &TestPipeline, filter: &DlqFilter) -> Vec<newswire_bus::DeadLetter> {
    p.bus.dlq_list(filter, 100).await.unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_listed_requeued_and_then_processed() {
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    // One delivery, so that the failing publish is given up on at once. The durable consumer
    // keeps the limit it was created with: made again.
    p.processor.take().unwrap().stop().await;
    let raw = p.bus.jetstream().get_stream(p.bus.stream_name(NewsStream::Raw)).await.unwrap();
    raw.delete_consumer("processor").await.unwrap();
    p.settings.nats.max_deliver = 1;
    p.processor = Some(p.start_processor().await);
    let seed = seeds::load().into_iter().next().unwrap();
    p.feeds.set("/one.rss", Route::body("application/rss+xml", seeds::rss(&[seed])));

    // The article stream refuses anything this large: the processor cannot publish the
    // article and, on its last delivery, dead-letters the raw item (reason `publish`).
    set_article_max_msg_size(&p, 256).await;
    p.poll(&[("outlet-a", "/one.rss")]).await;
    let letters = wait_until(Duration::from_secs(30), "the raw item to be dead-lettered", || async {
        let d = dead_letters(&p, &DlqFilter::default()).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(letters.len(), 1);
    let d = &letters[0];
    assert_eq!((d.stage.as_str(), d.reason.as_deref()), ("processor", Some("publish")));
    assert_eq!(d.original_subject.as_deref(), Some("news.raw.outlet-a"));
    assert_eq!(d.deliveries, Some(1));
    assert!(d.error.as_deref().is_some_and(|e| !e.is_empty()));
    let got = p.bus.dlq_get(d.seq).await.unwrap();
    assert_eq!(
        (got.seq, &got.reason, &got.original_subject, got.deliveries),
        (d.seq, &d.reason, &d.original_subject, d.deliveries)
    );
    assert!(got.payload == d.payload, "the payload is kept unchanged");

    // The command line shows the same dead letter.
    let env = vec![("NEWSWIRE_NATS__URL", p.nats.url())];
    let out = service("newswire", &env).args(["dlq", "list"]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().next().unwrap().contains("original subject"), "{stdout}");
    let row = stdout.lines().nth(1).unwrap_or_default();
    for cell in [d.seq.to_string().as_str(), "processor", "publish", "news.raw.outlet-a"] {
        assert!(row.contains(cell), "{cell} missing in {row:?}");
    }
    let out = service("newswire", &env).args(["dlq", "show", &d.seq.to_string()]).output().await.unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("Newswire-Dlq-Reason: publish") && shown.contains("\"source_id\": \"outlet-a\""),
        "{shown}"
    );

    // Fixed: the limit goes; requeued, the item is processed and stored, the DLQ is empty.
    // The processor keeps running: its memory forgot the id whose publish failed, so the
    // requeued item is decided again instead of being dropped as seen (and acked: lost).
    set_article_max_msg_size(&p, -1).await;
    let r = p.bus.dlq_requeue(d.seq).await.unwrap();
    assert_eq!(r.subject, "news.raw.outlet-a");
    assert_eq!(p.wait_for_articles(1).await, 1);
    assert!(dead_letters(&p, &DlqFilter::default()).await.is_empty());
    // Requeueing what is gone says so.
    assert!(matches!(p.bus.dlq_requeue(d.seq).await, Err(newswire_bus::DlqError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_by_stage_and_reason_and_requeue_refuses_foreign_subjects() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    // Three messages that are not raw items: dead-lettered by the processor (`decode`).
    for i in 0..3 {
        let ack = p.bus.jetstream().publish(format!("news.raw.junk{i}"), "not json".into()).await.unwrap();
        ack.await.unwrap();
    }
    // And one dead letter that claims to come from elsewhere.
    let mut h = async_nats::HeaderMap::new();
    h.insert("Newswire-Dlq-Reason", "invalid");
    h.insert("Newswire-Dlq-Subject", "elsewhere.secret");
    p.bus.jetstream().publish_with_headers("news.dlq.sink", h, "{}".into()).await.unwrap().await.unwrap();
    let all = wait_until(Duration::from_secs(20), "four dead letters", || async {
        let d = dead_letters(&p, &DlqFilter::default()).await;
        (d.len() == 4).then_some(d)
    })
    .await;
    let foreign = all.iter().find(|d| d.stage == "sink").unwrap();
    assert!(matches!(p.bus.dlq_requeue(foreign.seq).await, Err(newswire_bus::DlqError::BadSubject { .. })));
    let decode = DlqFilter { stage: Some("processor".into()), reason: Some("decode".into()) };
    assert_eq!(dead_letters(&p, &decode).await.len(), 3);
    let (page, more) = p.bus.dlq_list(&decode, 2).await.unwrap();
    assert_eq!((page.len(), more), (2, 1));

    // Without --yes the command deletes nothing.
    let env = vec![("NEWSWIRE_NATS__URL", p.nats.url())];
    let out =
        service("newswire", &env).args(["dlq", "purge", "--stage", "processor"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(dead_letters(&p, &DlqFilter::default()).await.len(), 4);

    assert_eq!(p.bus.dlq_purge(&DlqFilter { stage: None, reason: Some("decode".into()) }).await.unwrap(), 3);
    let left = dead_letters(&p, &DlqFilter::default()).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].stage, "sink");
    let out =
        service("newswire", &env).args(["dlq", "purge", "--stage", "sink", "--yes"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dead_letters(&p, &DlqFilter::default()).await.is_empty());
}
