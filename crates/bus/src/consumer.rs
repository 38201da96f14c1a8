use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{
    Bus, BusError, DLQ_DELIVERIES_HEADER, DLQ_ERROR_HEADER, DLQ_REASON_HEADER, DLQ_SEQUENCE_HEADER,
    DLQ_SUBJECT_HEADER,
};

/// Which stage a durable consumer belongs to. Each role has one durable consumer: replicas of
/// the same stage share it, so JetStream spreads the messages among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerRole {
    /// Reads raw items.
    Processor,
    /// Reads articles.
    Sink,
}

impl ConsumerRole {
    /// Durable consumer name.
    pub fn durable_name(self) -> &'static str {
        match self {
            ConsumerRole::Processor => "processor",
            ConsumerRole::Sink => "sink",
        }
    }

    /// The stage name used in dead-letter subjects and metrics.
    pub fn stage(self) -> &'static str {
        self.durable_name()
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            ConsumerRole::Processor => "newswire processor: raw items to articles",
            ConsumerRole::Sink => "newswire sink: articles to storage",
        }
    }
}

/// A durable pull consumer delivering messages in batches.
pub struct Consumer {
    bus: Bus,
    inner: PullConsumer,
    role: ConsumerRole,
    messages: jetstream::consumer::pull::Stream,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("role", &self.role).finish_non_exhaustive()
    }
}

impl Consumer {
    pub(crate) async fn new(bus: Bus, inner: PullConsumer, role: ConsumerRole) -> Result<Self, BusError> {
        let messages = open(&inner, role).await?;
        Ok(Self { bus, inner, role, messages })
    }

    /// Waits for the next message, then takes whatever else arrives within `linger`, up to
    /// `max` messages. Returns `None` once `shutdown` is cancelled; messages already received
    /// but not returned are left unacked and will be redelivered.
    ///
    /// Batching lets the sink commit many articles per transaction while adding at most
    /// `linger` of latency when traffic is light.
    pub async fn next_batch(
        &mut self,
        max: usize,
        linger: Duration,
        shutdown: &CancellationToken,
    ) -> Option<Vec<Delivery>> {
        let mut batch = Vec::new();
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.cancelled() => return None,
                m = self.messages.next() => m,
            };
            match first {
                Some(Ok(msg)) => {
                    batch.push(Delivery { msg, bus: self.bus.clone(), role: self.role });
                    break;
                }
                Some(Err(error)) => {
                    // Missed heartbeats and the like: the stream recovers by itself.
                    tracing::warn!(message = "Consumer stream error.", %error, role = ?self.role);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => {
                    tracing::warn!(message = "Consumer stream ended; reopening.", role = ?self.role);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match open(&self.inner, self.role).await {
                        Ok(m) => self.messages = m,
                        Err(error) => {
                            tracing::warn!(message = "Reopening consumer failed.", %error);
                        }
                    }
                }
            }
        }
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, self.messages.next()).await {
                Ok(Some(Ok(msg))) => batch.push(Delivery { msg, bus: self.bus.clone(), role: self.role }),
                Ok(Some(Err(error))) => {
                    tracing::warn!(message = "Consumer stream error.", %error, role = ?self.role);
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
        Some(batch)
    }
}

async fn open(
    inner: &PullConsumer,
    role: ConsumerRole,
) -> Result<jetstream::consumer::pull::Stream, BusError> {
    inner.messages().await.map_err(|e| BusError::Consumer {
        stream: inner.cached_info().stream_name.clone(),
        consumer: role.durable_name().to_owned(),
        kind: crate::BusErrorKind::Transient,
        source: crate::error::source(e),
    })
}

/// One delivered message, to be acked, nacked or dead-lettered exactly once.
pub struct Delivery {
    msg: jetstream::Message,
    bus: Bus,
    role: ConsumerRole,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.msg.subject.as_str())
            .field("delivered", &self.delivered())
            .finish_non_exhaustive()
    }
}

/// Decodes the JSON payload of each message of a batch, in order. A message that does not
/// decode is logged and dead-lettered (reason `decode`) and `bad` is called with whether the
/// dead-letter step succeeded, so that the stage can count it; the others come back with
/// their values.
pub async fn decode_batch<T: serde::de::DeserializeOwned>(
    batch: Vec<Delivery>,
    what: &str,
    mut bad: impl FnMut(bool),
) -> Vec<(Delivery, T)> {
    let mut out = Vec::with_capacity(batch.len());
    for d in batch {
        match serde_json::from_slice::<T>(d.payload()) {
            Ok(v) => out.push((d, v)),
            Err(e) => {
                tracing::warn!(message = "Message does not decode; dead-lettering.", what, error = %e, subject = d.subject());
                bad(d.dead_letter("decode", &e.to_string()).await);
            }
        }
    }
    out
}

impl Delivery {
    /// The message body.
    pub fn payload(&self) -> &[u8] {
        &self.msg.payload
    }

    /// The subject it was published on.
    pub fn subject(&self) -> &str {
        self.msg.subject.as_str()
    }

    /// How many times this message has been delivered, this time included (1 the first time).
    pub fn delivered(&self) -> i64 {
        self.msg.info().map(|i| i.delivered).unwrap_or(1)
    }

    /// Stream sequence of the message.
    pub fn stream_sequence(&self) -> u64 {
        self.msg.info().map(|i| i.stream_sequence).unwrap_or(0)
    }

    /// Whether the server will not deliver this message again if it is not acked now: the
    /// moment to dead-letter instead of nacking.
    pub fn is_last_attempt(&self) -> bool {
        self.delivered() >= self.bus.settings().max_deliver
    }

    /// Acknowledges: the message is done.
    pub async fn ack(&self) -> Result<(), BusError> {
        self.msg.ack().await.map_err(|e| BusError::Ack(e.into()))
    }

    /// Tells the server the message is still being worked on (`+WPI`): its `ack_wait` starts
    /// again, so it is not redelivered meanwhile, and the delivery count does not grow. The
    /// sink sends this while it waits for its store to come back.
    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.msg.ack_with(AckKind::Progress).await.map_err(|e| BusError::Ack(e.into()))
    }

    /// Asks for redelivery after `delay` (backing off so a sick database is not hammered).
    pub async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        self.msg.ack_with(AckKind::Nak(Some(delay))).await.map_err(|e| BusError::Ack(e.into()))
    }

    /// Asks for redelivery after a back-off that grows with the number of deliveries (1 s,
    /// 2 s, 4 s … capped at 60 s), so that a sick dependency is not hammered. A failed nak is
    /// only logged: the server redelivers after `ack_wait` anyway.
    pub async fn retry_later(&self) {
        if let Err(error) = self.nak(redelivery_backoff(self.delivered())).await {
            tracing::warn!(message = "Nak failed; the server will redeliver after ack_wait.", %error);
        }
    }

    /// Copies the message to `<root>.dlq.<stage>` with the reason in headers, then terminates
    /// it so it is never redelivered; `true` when done. If the dead-letter publish fails, the
    /// message is nacked instead (it is never lost), the failure is logged and `false` returned.
    pub async fn dead_letter(&self, reason: &'static str, error: &str) -> bool {
        match self.try_dead_letter(reason, error).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(message = "Dead-lettering failed; message nacked for redelivery.", error = %e, reason);
                false
            }
        }
    }

    async fn try_dead_letter(&self, reason: &'static str, error: &str) -> Result<(), BusError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(DLQ_REASON_HEADER, reason);
        // Header values cannot hold newlines; errors are one line anyway, but be sure.
        let one_line: String = error.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        headers.insert(DLQ_ERROR_HEADER, one_line.as_str());
        headers.insert(DLQ_SUBJECT_HEADER, self.subject());
        headers.insert(DLQ_SEQUENCE_HEADER, self.stream_sequence().to_string().as_str());
        headers.insert(DLQ_DELIVERIES_HEADER, self.delivered().to_string().as_str());
        let subject = self.bus.subjects().dlq(self.role.stage());
        match self.bus.publish_bytes(subject, headers, self.msg.payload.clone()).await {
            Ok(_) => self.msg.ack_with(AckKind::Term).await.map_err(|e| BusError::Ack(e.into())),
            Err(e) => {
                let _ = self.nak(Duration::from_secs(5)).await;
                Err(e)
            }
        }
    }
}

/// Delay before the `delivered`-th redelivery: 1 s, 2 s, 4 s … capped at 60 s.
pub fn redelivery_backoff(delivered: i64) -> Duration {
    Duration::from_secs(1u64 << delivered.clamp(1, 7).saturating_sub(1)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = (0..10).map(|d| redelivery_backoff(d).as_secs()).collect();
        assert_eq!(secs, [1, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
