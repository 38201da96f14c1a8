//! One client's server-sent-event stream: what it missed (read back, then from the ring), then
//! its live queue, with keep-alive comments, ending on shutdown or when the hub drops it.
//!
//! Each event is written as two chunks: its `id:` line (the client's own position, so that
//! `Last-Event-ID` resumes it exactly) and the frame the hub built once for every client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use newswire_bus::Bus;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::event::{EventId, HubEvent, StreamFilter};
use super::hub::{CatchUp, ClientGuard, Subscription};
use super::reader::ReadBack;

/// The first bytes of every stream: a reconnection delay for the client (2 s) and a comment, so
/// that a client knows at once that it is subscribed.
const OPENING: &[u8] = b"retry: 2000\n: newswire live stream\n\n";
/// A keep-alive comment.
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

enum Phase {
    Opening,
    ReadBack,
    Backlog,
    Live,
    Done,
}

struct ClientStream {
    phase: Phase,
    cursor: EventId,
    filter: StreamFilter,
    catch_up: VecDeque<CatchUp>,
    reading: Option<ReadBack>,
    backlog: VecDeque<Arc<HubEvent>>,
    live: mpsc::Receiver<Arc<HubEvent>>,
    bus: Option<Bus>,
    keepalive: Interval,
    shutdown: CancellationToken,
    /// The frame of an event whose id line was just sent.
    pending: Option<Bytes>,
    _guard: ClientGuard,
}

impl ClientStream {
    /// The id line and the frame of `event` if it is new to this client (its position moves
    /// on either way).
    fn emit(&mut self, event: &HubEvent) -> Option<Bytes> {
        if event.seq <= self.cursor.get(event.stream) {
            return None;
        }
        self.cursor.advance(event.stream, event.seq);
        self.pending = Some(event.frame.clone());
        Some(Bytes::from(format!("id: {}\n", self.cursor)))
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(frame) = self.pending.take() {
            return Some(frame);
        }
        loop {
            match &mut self.phase {
                Phase::Opening => {
                    self.phase = Phase::ReadBack;
                    return Some(Bytes::from_static(OPENING));
                }
                Phase::ReadBack => {
                    if self.reading.is_none() {
                        let Some(range) = self.catch_up.pop_front() else {
                            self.phase = Phase::Backlog;
                            continue;
                        };
                        let Some(bus) = &self.bus else {
                            self.phase = Phase::Backlog;
                            continue;
                        };
                        match ReadBack::open(bus, range.stream, range.from, range.to).await {
                            Ok(r) => self.reading = Some(r),
                            Err(error) => {
                                // The client would miss events silently: end its stream, so that
                                // it reconnects and tries again from the same id.
                                tracing::warn!(message = "Cannot read back missed events; ending the stream.", %error);
                                self.phase = Phase::Done;
                                continue;
                            }
                        }
                    }
                    let Some(reader) = self.reading.as_mut() else { continue };
                    match reader.next().await {
                        Some((seq, Some(event))) => {
                            if self.filter.matches(&event) {
                                if let Some(id) = self.emit(&event) {
                                    return Some(id);
                                }
                            } else {
                                self.cursor.advance(event.stream, seq);
                            }
                        }
                        Some((_, None)) => {}
                        None => self.reading = None,
                    }
                }
                Phase::Backlog => match self.backlog.pop_front() {
                    Some(event) => {
                        if let Some(id) = self.emit(&event) {
                            return Some(id);
                        }
                    }
                    None => {
                        self.phase = Phase::Live;
                        self.keepalive.reset();
                    }
                },
                Phase::Live => {
                    tokio::select! {
                        biased;
                        () = self.shutdown.cancelled() => self.phase = Phase::Done,
                        event = self.live.recv() => match event {
                            Some(event) => {
                                self.keepalive.reset();
                                if let Some(id) = self.emit(&event) {
                                    return Some(id);
                                }
                            }
                            // Dropped by the hub (too slow) or the hub closed.
                            None => self.phase = Phase::Done,
                        },
                        _ = self.keepalive.tick() => return Some(Bytes::from_static(KEEPALIVE)),
                    }
                }
                Phase::Done => return None,
            }
        }
    }
}

/// The body of one client's stream.
pub fn client_stream(
    subscription: Subscription,
    filter: StreamFilter,
    bus: Option<Bus>,
    keepalive: Duration,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    let mut interval = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let Subscription { cursor, catch_up, backlog, live, guard } = subscription;
    let state = ClientStream {
        phase: Phase::Opening,
        cursor,
        filter,
        catch_up: catch_up.into(),
        reading: None,
        backlog,
        live,
        bus,
        keepalive: interval,
        shutdown,
        pending: None,
        _guard: guard,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok(chunk), s))
    })
}
