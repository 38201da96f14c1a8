//! A message that kills its stage: recognised on redelivery by the marks of `CrashGuard` and
//! dead-lettered (reason `crash`) before it is processed again, while the messages behind it
//! flow on. Real nats-server; the processor is the service's own stage code.
//!
//! No input is known to abort the processor any more (deep nesting was the last), so the
//! deaths are the guard's own model of one: a suspect marked and never cleared.

use std::time::Duration;

use newswire_app::{Settings, run_processor};
use newswire_bus::{Bus, ClientRole, ConsumerRole, CrashGuard, KvBucketName};
use newswire_model::{Category, RawItem, SourceId};
use newswire_testkit::{TestNats, seeds, wait_until};
use tokio_util::sync::CancellationToken;

use crate::helpers::start_stage;

fn seed_items() -> Vec<RawItem> {
    newswire_fetch::parse_feed(
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
    .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspect_survives_one_death_and_is_dead_lettered_after_two() {
    let nats = TestNats::start();
    let mut settings = Settings::default();
    settings.nats.url = nats.url();
    settings.nats.ack_wait_secs = 1;
    let bus = Bus::connect(&settings.nats, "e2e", ClientRole::All).await.unwrap();
    bus.publish_raw(&seed_items()[0]).await.unwrap();
    let mut consumer = bus.consumer(ConsumerRole::Processor).await.unwrap();
    let guard = CrashGuard::open(&bus, ConsumerRole::Processor).await;
    let token = CancellationToken::new();
    let mut next = async || {
        let batch =
            tokio::time::timeout(Duration::from_secs(15), consumer.next_batch(1, Duration::ZERO, &token))
                .await
                .expect("a (re)delivery")
                .unwrap();
        batch.into_iter().next().unwrap()
    };
    let first = next().await;
    assert!(!CrashGuard::is_suspect(&first), "a first delivery goes in its batch, unmarked");
    // Not acked: the stage "died". Redelivered after ack_wait, it is a suspect.
    let second = next().await;
    assert!(CrashGuard::is_suspect(&second));
    assert!(!guard.check(&second).await, "no death on it yet: processed alone, marked");
    // The stage dies again while processing it alone (the mark is never cleared).
    let third = next().await;
    assert!(!guard.check(&third).await, "one death alone may be an operator's kill -9");
    let fourth = next().await;
    assert_eq!(fourth.delivered(), 4);
    assert!(guard.check(&fourth).await, "two deaths alone: dead-letter it");
    guard.clear(&fourth).await;
    fourth.ack().await.unwrap();

    // A suspect processed without dying has its mark cleared: it starts from zero again.
    bus.publish_raw(&seed_items()[1]).await.unwrap();
    let _first = next().await;
    let again = next().await;
    assert!(!guard.check(&again).await);
    guard.clear(&again).await;
    let once_more = next().await;
    assert!(!guard.check(&once_more).await, "the cleared mark does not count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processor_dead_letters_a_message_it_died_on_and_the_rest_flow() {
    let nats = TestNats::start();
    let mut settings = Settings::default();
    settings.nats.url = nats.url();
    settings.nats.ack_wait_secs = 1;
    settings.processor.admin_listen = "127.0.0.1:0".to_owned();
    let bus = Bus::connect(&settings.nats, "e2e", ClientRole::All).await.unwrap();
    let items = seed_items();
    assert_eq!(items.len(), 5);
    for item in &items {
        bus.publish_raw(item).await.unwrap();
    }
    // A processor takes the first message and dies twice on it while processing it alone:
    // its marks are in the bucket, as a dead process leaves them.
    let seq = {
        let mut consumer = bus.consumer(ConsumerRole::Processor).await.unwrap();
        let token = CancellationToken::new();
        let batch = consumer.next_batch(1, Duration::ZERO, &token).await.unwrap();
        batch[0].stream_sequence()
    };
    let marks = bus.kv_bucket(KvBucketName::Crashes, Some(Duration::from_secs(24 * 3600))).await.unwrap();
    marks.put(&format!("processor.{seq}"), "2".into()).await.unwrap();

    let stage = start_stage(&settings, |s, r, h, t| async move { run_processor(&s, &r, h, t).await }).await;
    let js = bus.jetstream();
    wait_until(Duration::from_secs(60), "4 articles and 1 dead letter", || async {
        let articles = js.get_stream("NEWS_ARTICLES").await.ok()?.info().await.ok()?.state.messages;
        let dlq = js.get_stream("NEWS_DLQ").await.ok()?.info().await.ok()?.state.messages;
        (articles == 4 && dlq == 1).then_some(())
    })
    .await;
    let dlq = js.get_stream("NEWS_DLQ").await.unwrap();
    let letter = dlq.get_raw_message(1).await.unwrap();
    let headers = letter.headers;
    assert_eq!(headers.get(newswire_bus::DLQ_REASON_HEADER).map(|v| v.as_str()), Some("crash"));
    assert_eq!(
        headers.get(newswire_bus::DLQ_SEQUENCE_HEADER).map(|v| v.as_str().to_owned()),
        Some(seq.to_string())
    );
    assert!(marks.get(&format!("processor.{seq}")).await.unwrap().is_none(), "the mark is cleared");
    // The other messages that came back with it went through alone, and left no marks.
    for s in 1..=5u64 {
        assert!(marks.get(&format!("processor.{s}")).await.unwrap().is_none(), "mark left on {s}");
    }
    assert_eq!(bus.pending(ConsumerRole::Processor).await.unwrap(), 0);
    stage.stop().await;
}
