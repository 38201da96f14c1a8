//! Reading the streams: one long-lived reader per stream feeding the hub, and bounded
//! read-backs for clients that resume from before the ring.
//!
//! Both use ephemeral ordered consumers (no acks, no durable state on the server): the API only
//! observes, and a read-only client must not create or change anything on the bus.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use futures_util::StreamExt;
use newswire_bus::Bus;
use tokio_util::sync::CancellationToken;

use super::event::{HubEvent, StreamKind};
use super::hub::Hub;
use crate::ApiError;

/// The stream's name and subject filter, as the bus settings name them (only the bus crate
/// knows stream and subject names).
fn names(bus: &Bus, stream: StreamKind) -> (String, String) {
    match stream {
        StreamKind::Articles => (bus.settings().articles_stream.name.clone(), bus.subjects().articles_all()),
        StreamKind::Stories => (bus.settings().stories_stream.name.clone(), bus.subjects().stories_all()),
    }
}

fn stream_error(stream: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Stream { stream: stream.to_owned(), message: e.to_string() }
}

/// An ordered consumer on `stream` from `start` (or from the end when `None`); also returns the
/// stream's last sequence when it was opened. `None` when the stream does not exist (yet).
async fn open(bus: &Bus, stream: StreamKind, start: Option<u64>) -> Result<Option<(Ordered, u64)>, ApiError> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    let (name, filter) = names(bus, stream);
    let mut s = match bus.jetstream().get_stream(&name).await {
        Ok(s) => s,
        Err(e) => {
            if let GetStreamErrorKind::JetStream(js) = e.kind()
                && js.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND
            {
                return Ok(None);
            }
            return Err(stream_error(&name, e));
        }
    };
    let info = s.info().await.map_err(|e| stream_error(&name, e))?;
    let last = info.state.last_sequence;
    let start_sequence = start.unwrap_or(last + 1).max(1);
    let consumer = s
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
            filter_subject: filter,
            ..Default::default()
        })
        .await
        .map_err(|e| stream_error(&name, e))?;
    let messages = consumer.messages().await.map_err(|e| stream_error(&name, e))?;
    Ok(Some((messages, last)))
}

/// Feeds the hub with `stream` until `shutdown`: starts at the stream's end, and after a
/// connection loss or a missing stream (its owner has not created it yet) starts again after
/// the last event read, with back-off, so that the ring never has a hole.
pub async fn run_reader(bus: Bus, hub: Arc<Hub>, stream: StreamKind, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(250);
    loop {
        let start = hub.resume_point(stream);
        let opened = tokio::select! {
            () = shutdown.cancelled() => return,
            r = open(&bus, stream, start) => r,
        };
        match opened {
            // Not created yet (its owner has not started): nothing was ever published on it,
            // so when it appears, everything from its first sequence is new.
            Ok(None) => {
                if start.is_none() {
                    hub.start(stream, 1);
                }
                tracing::info!(message = "Live-stream reader waiting for its stream to be created.", ?stream);
            }
            Ok(Some((mut messages, last))) => {
                if start.is_none() {
                    hub.start(stream, last + 1);
                }
                delay = Duration::from_millis(250);
                tracing::info!(
                    message = "Live-stream reader started.",
                    ?stream,
                    from = start.unwrap_or(last + 1)
                );
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return,
                        m = messages.next() => m,
                    };
                    match next {
                        Some(Ok(msg)) => {
                            let seq = match msg.info() {
                                Ok(info) => info.stream_sequence,
                                Err(_) => continue,
                            };
                            handle(&hub, stream, seq, &msg.payload);
                        }
                        Some(Err(error)) => {
                            tracing::warn!(message = "Live-stream reader lost its consumer; restarting.", ?stream, %error);
                            break;
                        }
                        None => break,
                    }
                }
            }
            Err(error) => {
                tracing::warn!(message = "Live-stream reader cannot open its stream yet; retrying.", ?stream, %error, retry_in_ms = delay.as_millis() as u64);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

fn handle(hub: &Hub, stream: StreamKind, seq: u64, payload: &[u8]) {
    match HubEvent::decode(stream, seq, payload) {
        Some(event) => {
            hub.metrics().sse_events.with_label_values(&[event.kind.as_str()]).inc();
            hub.publish(event);
        }
        None => {
            hub.metrics().sse_events.with_label_values(&["undecodable"]).inc();
            tracing::warn!(message = "Skipped a message that is not a valid event.", ?stream, seq);
            hub.skip(stream, seq);
        }
    }
}

/// Reads `from..=to` of `stream` back from JetStream, for a client resuming from before the
/// ring: events in order, undecodable messages left out.
pub struct ReadBack {
    messages: Ordered,
    stream: StreamKind,
    to: u64,
    done: bool,
}

impl ReadBack {
    /// Opens the read-back.
    pub async fn open(bus: &Bus, stream: StreamKind, from: u64, to: u64) -> Result<Self, ApiError> {
        let (name, _) = names(bus, stream);
        let (messages, _) =
            open(bus, stream, Some(from)).await?.ok_or_else(|| stream_error(&name, "stream not found"))?;
        Ok(Self { messages, stream, to, done: from > to })
    }

    /// The next event, with the sequence reached; `None` at the end of the range. Messages
    /// expired from the stream meanwhile are simply not there: the range ends at `to` all the
    /// same, and a stream that stops answering ends it after 5 s.
    pub async fn next(&mut self) -> Option<(u64, Option<HubEvent>)> {
        while !self.done {
            let msg = match tokio::time::timeout(Duration::from_secs(5), self.messages.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(error))) => {
                    tracing::warn!(message = "Read-back of missed events failed.", stream = ?self.stream, %error);
                    self.done = true;
                    return None;
                }
                Ok(None) | Err(_) => {
                    self.done = true;
                    return None;
                }
            };
            let Ok(info) = msg.info() else { continue };
            let seq = info.stream_sequence;
            if seq >= self.to {
                self.done = true;
            }
            if seq > self.to {
                return None;
            }
            return Some((seq, HubEvent::decode(self.stream, seq, &msg.payload)));
        }
        None
    }
}
