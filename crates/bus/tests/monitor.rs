//! The JetStream poller against a real `nats-server`: a durable consumer's pending count grows
//! with messages published and not consumed, turns into ack-pending when they are delivered,
//! shows a redelivery, and drops to 0 once they are acked; stream sizes follow; a failing
//! target is counted and the loop goes on.
//!
//! The server is started with `LocalNatsServer` (what `newswire_testkit::TestNats` wraps;
//! this crate cannot depend on the testkit, which depends on it).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use newswire_bus::monitor::{self, ConsumerSample, MonitorTargets, StreamSample};
use newswire_bus::{Bus, BusSettings, ClientRole, ConsumerRole, LocalNatsServer};
use tokio_util::sync::CancellationToken;

/// A store directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("newswire-monitor-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the loop reported last, and the failures counted so far.
#[derive(Default)]
struct Seen {
    streams: Vec<StreamSample>,
    consumers: Vec<ConsumerSample>,
    failures: u64,
    rounds: u64,
}

impl Seen {
    fn consumer(&self) -> Option<(u64, u64, u64)> {
        self.consumers
            .iter()
            .find(|c| c.stream == "NEWS_RAW" && c.consumer == "processor")
            .map(|c| (c.pending, c.ack_pending, c.redelivered))
    }

    fn raw_messages(&self) -> Option<(u64, u64)> {
        self.streams.iter().find(|s| s.stream == "NEWS_RAW").map(|s| (s.messages, s.bytes))
    }
}

/// Waits until the loop's latest round satisfies `ok`.
async fn wait_for(seen: &Arc<Mutex<Seen>>, what: &str, ok: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        {
            let s = seen.lock().unwrap();
            if ok(&s) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: consumer {:?}, raw stream {:?}, {} failures in {} rounds",
                    s.consumer(),
                    s.raw_messages(),
                    s.failures,
                    s.rounds
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn pending_grows_while_unconsumed_and_drops_after_acks() {
    let dir = TempDir::new();
    let server = LocalNatsServer::start(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let settings = BusSettings { url: server.url(), ack_wait_secs: 30, ..BusSettings::default() };
    let bus = Bus::connect(&settings, "monitor-test", ClientRole::All).await.unwrap();

    // The processor's durable consumer, created as `Bus::consumer` does but without pulling,
    // so that published messages stay undelivered (pending).
    let raw = bus.jetstream().get_stream(&settings.raw_stream.name).await.unwrap();
    raw.get_or_create_consumer::<pull::Config>(
        "processor",
        pull::Config {
            durable_name: Some("processor".into()),
            filter_subject: bus.subjects().raw_all(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_deliver: settings.max_deliver,
            max_ack_pending: 4096,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // The processor's targets plus the raw stream and one that does not exist: its failures are
    // counted, the rest is still reported.
    let mut targets = MonitorTargets::for_role(ClientRole::Processor, &settings);
    targets.streams.push(settings.raw_stream.name.clone());
    targets.streams.push("NO_SUCH_STREAM".into());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shutdown = CancellationToken::new();
    let poller = {
        let seen = seen.clone();
        tokio::spawn(monitor::run(
            bus.clone(),
            targets,
            Duration::from_millis(100),
            move |round| {
                let mut s = seen.lock().unwrap();
                s.streams = round.streams.clone();
                s.consumers = round.consumers.clone();
                s.failures += round.failures.len() as u64;
                s.rounds += 1;
            },
            shutdown.clone(),
        ))
    };

    wait_for(&seen, "an empty consumer", |s| s.consumer() == Some((0, 0, 0))).await;
    assert_eq!(seen.lock().unwrap().raw_messages(), Some((0, 0)));

    // Published, not consumed: pending grows.
    for i in 0..5 {
        bus.jetstream()
            .publish(format!("{}.raw.test", settings.subject_root), format!("{{\"n\":{i}}}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    wait_for(&seen, "5 pending", |s| s.consumer() == Some((5, 0, 0))).await;
    let (messages, bytes) = seen.lock().unwrap().raw_messages().unwrap();
    assert_eq!(messages, 5);
    assert!(bytes > 0);
    for i in 5..8 {
        bus.jetstream()
            .publish(format!("{}.raw.test", settings.subject_root), format!("{{\"n\":{i}}}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    wait_for(&seen, "8 pending", |s| s.consumer() == Some((8, 0, 0))).await;

    // Delivered, not acked: pending becomes ack-pending.
    let mut consumer = bus.consumer(ConsumerRole::Processor).await.unwrap();
    let mut batch = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while batch.len() < 8 && Instant::now() < deadline {
        batch.extend(consumer.next_batch(8, Duration::from_millis(200), &shutdown).await.unwrap());
    }
    assert_eq!(batch.len(), 8);
    wait_for(&seen, "8 ack-pending", |s| s.consumer() == Some((0, 8, 0))).await;

    // One nacked and delivered again: a redelivery in progress.
    batch[0].nak(Duration::ZERO).await.unwrap();
    let again = consumer.next_batch(1, Duration::from_millis(50), &shutdown).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivered(), 2);
    wait_for(&seen, "1 redelivered", |s| s.consumer() == Some((0, 8, 1))).await;

    // Acked: everything drops to 0, the stream keeps its messages (limits retention).
    again[0].ack().await.unwrap();
    for d in &batch[1..] {
        d.ack().await.unwrap();
    }
    wait_for(&seen, "nothing pending after the acks", |s| s.consumer() == Some((0, 0, 0))).await;
    assert_eq!(seen.lock().unwrap().raw_messages().unwrap().0, 8);

    // The missing stream failed in every round, and the loop went on.
    {
        let s = seen.lock().unwrap();
        assert!(s.rounds >= 5, "{} rounds", s.rounds);
        assert_eq!(s.failures, s.rounds, "one failure per round: the missing stream");
        assert!(s.streams.iter().any(|s| s.stream == "NEWS_DLQ"));
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .expect("the poller stops on shutdown")
        .unwrap();
}

/// A consumer that does not exist yet is not reported and is not an error; an unreachable
/// server is counted as failures, never a panic, and the loop ends on shutdown.
#[tokio::test]
async fn a_missing_consumer_is_skipped_and_a_dead_server_is_counted() {
    let dir = TempDir::new();
    let mut server = LocalNatsServer::start(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let settings = BusSettings { url: server.url(), ..BusSettings::default() };
    let bus = Bus::connect(&settings, "monitor-test", ClientRole::All).await.unwrap();
    let targets = MonitorTargets::for_role(ClientRole::Sink, &settings);

    let round = monitor::poll_once(&bus, &targets).await;
    assert!(round.failures.is_empty(), "{:?}", round.failures);
    assert!(round.consumers.is_empty(), "the sink's consumer does not exist yet");
    assert_eq!(round.streams.len(), 1);

    server.kill();
    let round = monitor::poll_once(&bus, &targets).await;
    assert_eq!(round.failures.len(), 2, "{:?}", round.failures);
    assert!(round.failures.iter().any(|f| f.target == "stream NEWS_STORIES"), "{:?}", round.failures);
    assert!(round.failures[0].error.to_string().contains("NEWS_STORIES"), "{}", round.failures[0].error);
}
