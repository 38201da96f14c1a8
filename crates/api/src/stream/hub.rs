//! The broadcast hub: one reader per JetStream stream hands each event to the hub once; the hub
//! keeps the latest events in a bounded ring (for resuming) and queues each event for every
//! client whose filter it passes.
//!
//! The reader never waits for a client: a client's queue is bounded, and a client whose queue
//! is full is dropped on the spot (its stream ends after what is queued; it may reconnect with
//! its last event id and miss nothing). The lock is held only to push and queue, never across
//! an await.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use newswire_telemetry::metrics::ApiMetrics;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::event::{EventId, HubEvent, StreamFilter, StreamKind};

/// The live stream's shared state.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<State>,
    capacity: usize,
    client_buffer: usize,
    max_clients: usize,
    metrics: ApiMetrics,
    /// Set once the readers are connected: before that, there is nothing to stream or resume.
    connected: AtomicBool,
}

#[derive(Debug)]
struct State {
    ring: VecDeque<Arc<HubEvent>>,
    /// Per stream: every event read with a sequence at or after this is in the ring. Older ones
    /// have to be read back from JetStream.
    covered_from: [u64; 2],
    /// Per stream: the last sequence read (0: none yet).
    last: [u64; 2],
    /// Per stream: whether its reader has said where it starts.
    started: [bool; 2],
    clients: Vec<Client>,
    next_client: u64,
}

#[derive(Debug)]
struct Client {
    id: u64,
    filter: Arc<StreamFilter>,
    tx: mpsc::Sender<Arc<HubEvent>>,
    /// Shared with the client's [`ClientGuard`]: whoever clears it first takes the client off
    /// the gauge.
    counted: Arc<AtomicBool>,
}

/// Why a client could not subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeError {
    /// `api.max_stream_clients` are connected.
    TooManyClients,
    /// The readers are not connected to JetStream yet.
    NotConnected,
}

/// A range of one stream to read back from JetStream (inclusive), because it is older than the
/// ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// The stream.
    pub stream: StreamKind,
    /// First sequence.
    pub from: u64,
    /// Last sequence.
    pub to: u64,
}

/// A new client's view: what it missed (to read back, then from the ring), and its queue of
/// live events from the moment it subscribed. Taken under one lock, so nothing falls between.
#[derive(Debug)]
pub struct Subscription {
    /// Where the client stands: its `Last-Event-ID`, or the hub's position when it had none.
    pub cursor: EventId,
    /// Ranges older than the ring, to read from JetStream first.
    pub catch_up: Vec<CatchUp>,
    /// Events from the ring after `cursor` that pass the filter, oldest first.
    pub backlog: VecDeque<Arc<HubEvent>>,
    /// Live events.
    pub live: mpsc::Receiver<Arc<HubEvent>>,
    /// Decrements the clients gauge when the client goes.
    pub guard: ClientGuard,
}

/// Counts a connected client for as long as it lives, or until the hub drops it: a dropped
/// client whose socket never drains may hold its connection open for long after, and must not
/// count as served meanwhile.
#[derive(Debug)]
pub struct ClientGuard {
    metrics: ApiMetrics,
    counted: Arc<AtomicBool>,
}

impl ClientGuard {
    fn uncount(counted: &AtomicBool, metrics: &ApiMetrics) {
        if counted.swap(false, Ordering::AcqRel) {
            metrics.sse_clients.dec();
        }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        Self::uncount(&self.counted, &self.metrics);
    }
}

impl Hub {
    /// A hub keeping `capacity` events for resuming, `client_buffer` queued per client, at most
    /// `max_clients` clients.
    pub fn new(capacity: usize, client_buffer: usize, max_clients: usize, metrics: ApiMetrics) -> Self {
        Self {
            state: Mutex::new(State {
                ring: VecDeque::with_capacity(capacity.min(65_536)),
                covered_from: [1, 1],
                last: [0, 0],
                started: [false, false],
                clients: Vec::new(),
                next_client: 0,
            }),
            capacity: capacity.max(1),
            client_buffer: client_buffer.max(1),
            max_clients,
            metrics,
            connected: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every change is a single
        // push or retain), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The metrics the hub counts into.
    pub fn metrics(&self) -> &ApiMetrics {
        &self.metrics
    }

    /// Marks the readers connected (or not).
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// Whether the readers are connected and each knows where its stream starts (before
    /// that, a resuming client could not be told what it missed).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire) && self.lock().started.iter().all(|s| *s)
    }

    /// Where a stream's reader must (re)start: after the last event read; `None` for a reader
    /// that never started (it starts at the stream's end and calls [`start`](Self::start)).
    pub fn resume_point(&self, stream: StreamKind) -> Option<u64> {
        let s = self.lock();
        let i = stream.index();
        s.started[i].then(|| s.last[i] + 1)
    }

    /// A stream's reader starts at `first` (the sequence after the stream's last message when
    /// the hub started): older events are read back from JetStream on demand.
    pub fn start(&self, stream: StreamKind, first: u64) {
        let mut s = self.lock();
        let i = stream.index();
        if !s.started[i] {
            s.started[i] = true;
            s.covered_from[i] = first.max(1);
            s.last[i] = first.saturating_sub(1);
        }
    }

    /// The position of the newest event read, per stream.
    pub fn position(&self) -> EventId {
        let s = self.lock();
        EventId { articles: s.last[0], stories: s.last[1] }
    }

    /// Notes a message that is not a valid event: nothing to send, but the position moves on.
    pub fn skip(&self, stream: StreamKind, seq: u64) {
        let mut s = self.lock();
        let i = stream.index();
        s.last[i] = s.last[i].max(seq);
    }

    /// Adds an event: into the ring, and into the queue of every client whose filter it passes.
    /// A client whose queue is full is dropped (counted); one that went away is forgotten.
    pub fn publish(&self, event: HubEvent) {
        let event = Arc::new(event);
        let mut s = self.lock();
        let i = event.stream.index();
        s.last[i] = s.last[i].max(event.seq);
        s.ring.push_back(event.clone());
        while s.ring.len() > self.capacity {
            if let Some(old) = s.ring.pop_front() {
                let j = old.stream.index();
                s.covered_from[j] = s.covered_from[j].max(old.seq + 1);
            }
        }
        let mut dropped = 0;
        s.clients.retain(|c| {
            if !c.filter.matches(&event) {
                return !c.tx.is_closed();
            }
            match c.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    dropped += 1;
                    ClientGuard::uncount(&c.counted, &self.metrics);
                    tracing::info!(message = "Live-stream client dropped: too far behind.", client = c.id);
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
        if dropped > 0 {
            self.metrics.sse_clients_dropped.inc_by(dropped);
        }
    }

    /// Subscribes a client with `filter`, resuming after `resume` (its `Last-Event-ID`) when
    /// given, else from now.
    pub fn subscribe(
        &self,
        filter: StreamFilter,
        resume: Option<EventId>,
    ) -> Result<Subscription, SubscribeError> {
        if !self.is_connected() {
            return Err(SubscribeError::NotConnected);
        }
        let mut s = self.lock();
        s.clients.retain(|c| !c.tx.is_closed());
        if s.clients.len() >= self.max_clients {
            return Err(SubscribeError::TooManyClients);
        }
        let now = EventId { articles: s.last[0], stories: s.last[1] };
        let cursor = resume.unwrap_or(now);
        let mut catch_up = Vec::new();
        for stream in StreamKind::ALL {
            let i = stream.index();
            let from = cursor.get(stream) + 1;
            // Only up to what the reader has read: the rest is still to come live.
            let to = (s.covered_from[i] - 1).min(s.last[i]);
            if from <= to {
                catch_up.push(CatchUp { stream, from, to });
            }
        }
        let backlog: VecDeque<Arc<HubEvent>> = if resume.is_some() {
            s.ring.iter().filter(|e| e.seq > cursor.get(e.stream) && filter.matches(e)).cloned().collect()
        } else {
            VecDeque::new()
        };
        if resume.is_some() {
            let from = if catch_up.is_empty() { "buffer" } else { "jetstream" };
            self.metrics.sse_resumes.with_label_values(&[from]).inc();
        }
        let (tx, live) = mpsc::channel(self.client_buffer);
        let id = s.next_client;
        s.next_client += 1;
        let counted = Arc::new(AtomicBool::new(true));
        s.clients.push(Client { id, filter: Arc::new(filter), tx, counted: counted.clone() });
        self.metrics.sse_clients.inc();
        Ok(Subscription {
            cursor,
            catch_up,
            backlog,
            live,
            guard: ClientGuard { metrics: self.metrics.clone(), counted },
        })
    }

    /// Clients subscribed (including those whose stream is ending).
    pub fn clients(&self) -> usize {
        self.lock().clients.len()
    }

    /// Ends every client's live queue (shutdown): their streams end after what is queued.
    pub fn close_all(&self) {
        self.lock().clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::event::EventKind;
    use newswire_model::{Lang, SourceId};

    fn ev(stream: StreamKind, seq: u64, lang: &str) -> HubEvent {
        HubEvent {
            stream,
            seq,
            kind: if stream == StreamKind::Articles { EventKind::Article } else { EventKind::Story },
            language: Lang::parse(lang).unwrap_or_else(|_| Lang::und()),
            category: None,
            sources: vec![SourceId::parse("s").unwrap_or_else(|e| panic!("{e}"))],
            story: None,
            duplicate: false,
            frame: bytes::Bytes::from_static(b"event: article\ndata: {}\n\n"),
        }
    }

    fn hub(capacity: usize, client_buffer: usize) -> Hub {
        let metrics = ApiMetrics::new(&prometheus_registry()).unwrap_or_else(|e| panic!("{e}"));
        let h = Hub::new(capacity, client_buffer, 10, metrics);
        h.set_connected(true);
        h.start(StreamKind::Articles, 1);
        h.start(StreamKind::Stories, 1);
        h
    }

    fn prometheus_registry() -> newswire_telemetry::Registry {
        newswire_telemetry::Registry::new()
    }

    #[test]
    fn a_full_client_is_dropped_and_the_others_keep_receiving() {
        let h = hub(100, 2);
        let mut fast = h.subscribe(StreamFilter::default(), None).unwrap_or_else(|e| panic!("{e:?}"));
        let slow = h.subscribe(StreamFilter::default(), None).unwrap_or_else(|e| panic!("{e:?}"));
        for seq in 1..=5 {
            h.publish(ev(StreamKind::Articles, seq, "ar"));
            while let Ok(e) = fast.live.try_recv() {
                assert_eq!(e.seq, seq);
            }
        }
        assert_eq!(h.clients(), 1, "the slow client is gone");
        assert_eq!(h.metrics.sse_clients_dropped.get(), 1);
        assert_eq!(h.metrics.sse_clients.get(), 1, "off the gauge while its stream still exists");
        drop(slow.guard);
        assert_eq!(h.metrics.sse_clients.get(), 1, "and not taken off twice when it goes");
        drop(fast.guard);
        assert_eq!(h.metrics.sse_clients.get(), 0);
        let mut slow_live = slow.live;
        let mut got = Vec::new();
        while let Ok(e) = slow_live.try_recv() {
            got.push(e.seq);
        }
        assert_eq!(got, [1, 2], "it keeps what was queued, then its stream ends");
        assert!(slow_live.try_recv().is_err());
    }

    #[test]
    fn resuming_takes_the_ring_after_the_cursor_and_older_ranges_from_jetstream() {
        let h = hub(4, 10);
        for seq in 1..=6 {
            h.publish(ev(StreamKind::Articles, seq, "ar"));
        }
        h.publish(ev(StreamKind::Stories, 1, "ar"));
        // The ring holds articles 4, 5, 6 and story 1.
        let from_ring = h
            .subscribe(StreamFilter::default(), Some(EventId { articles: 4, stories: 0 }))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(from_ring.catch_up.is_empty());
        let seqs: Vec<(StreamKind, u64)> = from_ring.backlog.iter().map(|e| (e.stream, e.seq)).collect();
        assert_eq!(seqs, [(StreamKind::Articles, 5), (StreamKind::Articles, 6), (StreamKind::Stories, 1)]);
        let older = h
            .subscribe(StreamFilter::default(), Some(EventId { articles: 1, stories: 1 }))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(older.catch_up, [CatchUp { stream: StreamKind::Articles, from: 2, to: 3 }]);
        assert_eq!(older.backlog.len(), 3);
        let filtered = StreamFilter {
            languages: vec![Lang::parse("en").unwrap_or_else(|_| Lang::und())],
            ..StreamFilter::default()
        };
        let none = h.subscribe(filtered, Some(EventId::default())).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(none.backlog.is_empty());
    }

    #[test]
    fn clients_are_refused_before_the_readers_connect_and_beyond_the_limit() {
        let metrics = ApiMetrics::new(&prometheus_registry()).unwrap_or_else(|e| panic!("{e}"));
        let h = Hub::new(10, 10, 1, metrics);
        h.set_connected(true);
        h.start(StreamKind::Articles, 1);
        assert_eq!(h.subscribe(StreamFilter::default(), None).err(), Some(SubscribeError::NotConnected));
        h.start(StreamKind::Stories, 1);
        let _one = h.subscribe(StreamFilter::default(), None);
        assert_eq!(h.subscribe(StreamFilter::default(), None).err(), Some(SubscribeError::TooManyClients));
        assert_eq!(h.metrics.sse_clients.get(), 1);
    }
}
