//! Consumer lag and stream size, read from JetStream by newswire itself: what a stage owns or
//! consumes, polled every few seconds and handed to a callback that sets the
//! `newswire_bus_*` gauges (see `docs/metrics.md`; the metrics are defined in
//! `newswire-telemetry`, which this crate does not depend on).
//!
//! - [`MonitorTargets::for_role`]: which streams and durable consumers a client reports: the
//!   streams it owns (the fetcher `NEWS_RAW`, the processor `NEWS_ARTICLES` and `NEWS_DLQ`, the
//!   sink `NEWS_STORIES`) and the durable consumer it reads (the processor's on the raw
//!   stream, the sink's on the articles). Label values are therefore the configured stream
//!   names and the two durable names: a bounded set, known before the first poll.
//! - [`stream_sample`] and [`consumer_sample`]: the pure mapping from the server's info to
//!   samples.
//! - [`poll_once`] and [`run`]: one round, and the loop (first round at once, then every
//!   `every`, until the token is cancelled). A failed request is logged with the stream or
//!   consumer and the error, counted in the round ([`MonitorRound::failures`]), and leaves the
//!   gauges at their last values; it never stops the loop. A durable consumer that does not
//!   exist yet (its stage has not started) is skipped, not counted as an error.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{consumer, context::ConsumerInfoErrorKind, stream};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::bus::get_stream_kind;
use crate::error::source;
use crate::{Bus, BusError, BusErrorKind, BusSettings, ClientRole, ConsumerRole};

/// How often the services poll JetStream (the Prometheus scrape interval of the shipped
/// configuration).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// The streams and durable consumers one client reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorTargets {
    /// Stream names.
    pub streams: Vec<String>,
    /// Durable consumers, as `(stream, consumer)`.
    pub consumers: Vec<(String, String)>,
}

impl MonitorTargets {
    /// What a client of `role` reports: the streams it owns (those it creates or updates to
    /// its configuration, see [`ClientRole`]) and the durable consumers it reads. A read-only
    /// client reports nothing; [`ClientRole::All`] everything.
    pub fn for_role(role: ClientRole, settings: &BusSettings) -> Self {
        let raw = || settings.raw_stream.name.clone();
        let articles = || settings.articles_stream.name.clone();
        let processor = || (raw(), ConsumerRole::Processor.durable_name().to_owned());
        let sink = || (articles(), ConsumerRole::Sink.durable_name().to_owned());
        let (streams, consumers) = match role {
            ClientRole::ReadOnly => (vec![], vec![]),
            ClientRole::Fetcher => (vec![raw()], vec![]),
            ClientRole::Processor => (vec![articles(), settings.dlq_stream.name.clone()], vec![processor()]),
            ClientRole::Sink => (vec![settings.stories_stream.name.clone()], vec![sink()]),
            ClientRole::All => (
                vec![
                    raw(),
                    articles(),
                    settings.dlq_stream.name.clone(),
                    settings.stories_stream.name.clone(),
                ],
                vec![processor(), sink()],
            ),
        };
        Self { streams, consumers }
    }

    /// Whether there is nothing to poll.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.consumers.is_empty()
    }
}

/// A stream's size (`newswire_bus_stream_messages`, `newswire_bus_stream_bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSample {
    /// Stream name.
    pub stream: String,
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// A durable consumer's lag (`newswire_bus_consumer_pending`, `…_ack_pending`,
/// `…_redelivered`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSample {
    /// Stream name.
    pub stream: String,
    /// Durable consumer name.
    pub consumer: String,
    /// Messages not delivered yet (`num_pending`).
    pub pending: u64,
    /// Messages delivered and not acknowledged yet (`num_ack_pending`).
    pub ack_pending: u64,
    /// Messages delivered more than once and not acknowledged yet (`num_redelivered`).
    pub redelivered: u64,
}

/// The sample of a stream's info.
pub fn stream_sample(info: &stream::Info) -> StreamSample {
    StreamSample { stream: info.config.name.clone(), messages: info.state.messages, bytes: info.state.bytes }
}

/// The sample of a consumer's info.
pub fn consumer_sample(info: &consumer::Info) -> ConsumerSample {
    ConsumerSample {
        stream: info.stream_name.clone(),
        consumer: info.name.clone(),
        pending: info.num_pending,
        ack_pending: info.num_ack_pending as u64,
        redelivered: info.num_redelivered as u64,
    }
}

/// A request of a round that failed.
#[derive(Debug)]
pub struct MonitorFailure {
    /// What was asked, e.g. `stream NEWS_RAW` or `consumer processor on NEWS_RAW`.
    pub target: String,
    /// The error.
    pub error: BusError,
}

/// What one round read.
#[derive(Debug, Default)]
pub struct MonitorRound {
    /// One per stream read.
    pub streams: Vec<StreamSample>,
    /// One per consumer read (a consumer that does not exist yet has none).
    pub consumers: Vec<ConsumerSample>,
    /// The requests that failed.
    pub failures: Vec<MonitorFailure>,
}

/// Reads every target once, all requests at once (so that a server that does not answer
/// costs one request timeout per round, not one per target). Failures are returned, not
/// logged (see [`run`]).
pub async fn poll_once(bus: &Bus, targets: &MonitorTargets) -> MonitorRound {
    let streams = join_all(targets.streams.iter().map(|name| read_stream(bus, name)));
    let consumers =
        join_all(targets.consumers.iter().map(|(stream, durable)| read_consumer(bus, stream, durable)));
    let (streams, consumers) = futures_util::join!(streams, consumers);
    let mut round = MonitorRound::default();
    for r in streams {
        match r {
            Ok(s) => round.streams.push(s),
            Err(f) => round.failures.push(f),
        }
    }
    for r in consumers {
        match r {
            Ok(Some(c)) => round.consumers.push(c),
            Ok(None) => {}
            Err(f) => round.failures.push(f),
        }
    }
    round
}

async fn read_stream(bus: &Bus, name: &str) -> Result<StreamSample, MonitorFailure> {
    match bus.jetstream().get_stream(name).await {
        Ok(s) => Ok(stream_sample(s.cached_info())),
        Err(e) => Err(MonitorFailure {
            target: format!("stream {name}"),
            error: BusError::Stream {
                stream: name.to_owned(),
                kind: get_stream_kind(e.kind()),
                source: source(e),
            },
        }),
    }
}

/// `None`: the consumer (or its stream) does not exist yet.
async fn read_consumer(
    bus: &Bus,
    stream_name: &str,
    durable: &str,
) -> Result<Option<ConsumerSample>, MonitorFailure> {
    let err = |kind, e| MonitorFailure {
        target: format!("consumer {durable} on {stream_name}"),
        error: BusError::Consumer {
            stream: stream_name.to_owned(),
            consumer: durable.to_owned(),
            kind,
            source: e,
        },
    };
    let stream = bus
        .jetstream()
        .get_stream_no_info(stream_name)
        .await
        .map_err(|e| err(get_stream_kind(e.kind()), source(e)))?;
    match stream.consumer_info(durable).await {
        Ok(info) => Ok(Some(consumer_sample(&info))),
        Err(e)
            if matches!(
                e.kind(),
                ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
            ) =>
        {
            tracing::debug!(message = "Consumer does not exist yet; not reported.", stream = %stream_name, consumer = %durable);
            Ok(None)
        }
        Err(e) => Err(err(BusErrorKind::Transient, source(e))),
    }
}

/// Polls `targets` at once and then every `every` until `shutdown`, handing each round to
/// `report`. A failure is logged at `warn` when its target starts failing (then at `debug`
/// while it goes on failing, and at `info` when it recovers), so that a NATS outage costs one
/// line per target, not one per round.
pub async fn run(
    bus: Bus,
    targets: MonitorTargets,
    every: Duration,
    mut report: impl FnMut(&MonitorRound) + Send,
    shutdown: CancellationToken,
) {
    if targets.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let round = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = poll_once(&bus, &targets) => r,
        };
        let now_failing: HashSet<String> = round.failures.iter().map(|f| f.target.clone()).collect();
        for f in &round.failures {
            if failing.contains(&f.target) {
                tracing::debug!(message = "Reading JetStream info still fails.", target = %f.target, error = %f.error);
            } else {
                tracing::warn!(message = "Reading JetStream info failed; the lag and stream gauges keep their last values.", target = %f.target, error = %f.error, kind = ?f.error.kind());
            }
        }
        for recovered in failing.difference(&now_failing) {
            tracing::info!(message = "Reading JetStream info works again.", target = %recovered);
        }
        failing = now_failing;
        report(&round);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `STREAM.INFO` answer as nats-server 2.10 sends it (trimmed to what the client needs).
    const STREAM_INFO: &str = r#"{
        "config": {"name": "NEWS_RAW", "subjects": ["news.raw.>"], "retention": "limits",
                   "max_consumers": -1, "max_msgs": -1, "max_bytes": -1, "max_age": 604800000000000,
                   "max_msgs_per_subject": -1, "max_msg_size": -1, "discard": "old", "storage": "file",
                   "num_replicas": 1, "duplicate_window": 600000000000},
        "created": "2025-03-01T12:00:00.000000000Z",
        "state": {"messages": 1234, "bytes": 5678901, "first_seq": 10, "first_ts": "2025-03-01T12:00:01Z",
                  "last_seq": 1243, "last_ts": "2025-03-01T13:00:00Z", "consumer_count": 1}
    }"#;

    /// A `CONSUMER.INFO` answer.
    const CONSUMER_INFO: &str = r#"{
        "stream_name": "NEWS_RAW", "name": "processor", "created": "2025-03-01T12:00:00Z",
        "config": {"durable_name": "processor", "deliver_policy": "all", "ack_policy": "explicit",
                   "ack_wait": 30000000000, "max_deliver": 5, "filter_subject": "news.raw.>",
                   "replay_policy": "instant", "max_ack_pending": 4096},
        "delivered": {"consumer_seq": 100, "stream_seq": 110},
        "ack_floor": {"consumer_seq": 90, "stream_seq": 100},
        "num_ack_pending": 10, "num_redelivered": 3, "num_waiting": 1, "num_pending": 1133
    }"#;

    #[test]
    fn stream_info_maps_to_messages_and_bytes() {
        let info: stream::Info = serde_json::from_str(STREAM_INFO).unwrap();
        assert_eq!(
            stream_sample(&info),
            StreamSample { stream: "NEWS_RAW".into(), messages: 1234, bytes: 5_678_901 }
        );
    }

    #[test]
    fn consumer_info_maps_to_pending_ack_pending_and_redelivered() {
        let info: consumer::Info = serde_json::from_str(CONSUMER_INFO).unwrap();
        assert_eq!(
            consumer_sample(&info),
            ConsumerSample {
                stream: "NEWS_RAW".into(),
                consumer: "processor".into(),
                pending: 1133,
                ack_pending: 10,
                redelivered: 3,
            }
        );
    }

    /// Each stage reports what it owns or reads, and together they report every stream and
    /// both durable consumers exactly once (so that `newswire run`, which has all three in one
    /// process and one registry, registers no series twice).
    #[test]
    fn each_role_reports_what_it_owns_or_reads_and_the_stages_cover_all_once() {
        let s = BusSettings::default();
        let t = |role| MonitorTargets::for_role(role, &s);
        assert_eq!(t(ClientRole::Fetcher).streams, ["NEWS_RAW"]);
        assert!(t(ClientRole::Fetcher).consumers.is_empty());
        assert_eq!(t(ClientRole::Processor).streams, ["NEWS_ARTICLES", "NEWS_DLQ"]);
        assert_eq!(t(ClientRole::Processor).consumers, [("NEWS_RAW".to_owned(), "processor".to_owned())]);
        assert_eq!(t(ClientRole::Sink).streams, ["NEWS_STORIES"]);
        assert_eq!(t(ClientRole::Sink).consumers, [("NEWS_ARTICLES".to_owned(), "sink".to_owned())]);
        assert!(t(ClientRole::ReadOnly).is_empty());
        let mut streams: Vec<String> = [ClientRole::Fetcher, ClientRole::Processor, ClientRole::Sink]
            .into_iter()
            .flat_map(|r| t(r).streams)
            .collect();
        let mut consumers: Vec<(String, String)> =
            [ClientRole::Fetcher, ClientRole::Processor, ClientRole::Sink]
                .into_iter()
                .flat_map(|r| t(r).consumers)
                .collect();
        let mut all = t(ClientRole::All);
        for v in [&mut streams, &mut all.streams] {
            v.sort();
        }
        consumers.sort();
        all.consumers.sort();
        assert_eq!(streams, all.streams);
        assert_eq!(consumers, all.consumers);
    }

    /// Renamed streams are reported under their configured names.
    #[test]
    fn configured_stream_names_are_the_label_values() {
        let mut s = BusSettings::default();
        s.raw_stream.name = "TEST_RAW".into();
        assert_eq!(MonitorTargets::for_role(ClientRole::Fetcher, &s).streams, ["TEST_RAW"]);
        assert_eq!(MonitorTargets::for_role(ClientRole::Processor, &s).consumers[0].0, "TEST_RAW");
    }
}
