//! Per-host politeness for page and robots.txt requests: at most `concurrency` requests to one
//! host at a time, request starts at least `min_interval` apart (or the host's `Crawl-delay`),
//! `Retry-After` honoured and an exponential back-off after 429 and 503.
//!
//! [`HostClock`] is the pure part (when may the next request start, what an answer changes);
//! [`Politeness`] is the async shell that waits on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Longest wait an answer can impose on a host: a `Retry-After` of a day is read as an hour.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The timing state of one host.
#[derive(Debug, Clone, Copy)]
pub struct HostClock {
    /// The earliest start of the next request (the previous start plus the interval).
    next_start: Instant,
    /// No request before this (`Retry-After` or back-off).
    blocked_until: Instant,
    /// 429/503 answers in a row, for the back-off's exponent.
    streak: u32,
}

impl HostClock {
    /// A host never contacted: free now.
    pub fn new(now: Instant) -> Self {
        Self { next_start: now, blocked_until: now, streak: 0 }
    }

    /// When a request asked for at `now` may start, if that is within `max_wait`: the start is
    /// then reserved (the next one comes `interval` later). `None` leaves the clock as it was.
    pub fn reserve(&mut self, now: Instant, interval: Duration, max_wait: Duration) -> Option<Instant> {
        let start = now.max(self.next_start).max(self.blocked_until);
        if start.duration_since(now) > max_wait {
            return None;
        }
        self.next_start = start + interval;
        Some(start)
    }

    /// Records an answer: 429 and 503 block the host for `Retry-After`, or without one for
    /// `base` × 2^(answers in a row), at most an hour; any other answer ends the streak.
    /// Returns whether the host now waits.
    pub fn answered(
        &mut self,
        now: Instant,
        status: u16,
        retry_after: Option<Duration>,
        base: Duration,
    ) -> bool {
        if status == 429 || status == 503 {
            let backoff = base.saturating_mul(1 << self.streak.min(16));
            let wait = retry_after.unwrap_or(backoff).min(MAX_BACKOFF);
            self.blocked_until = self.blocked_until.max(now + wait);
            self.streak = self.streak.saturating_add(1);
            true
        } else {
            self.streak = 0;
            false
        }
    }
}

/// Settings of the gate.
#[derive(Debug, Clone, Copy)]
pub struct PoliteSettings {
    /// Requests in flight to one host, at most.
    pub concurrency: usize,
    /// Least time between two request starts on one host (a larger `Crawl-delay` wins).
    pub min_interval: Duration,
    /// A request that would wait longer than this for its host is not made.
    pub max_wait: Duration,
}

#[derive(Debug)]
struct Host {
    slots: Arc<Semaphore>,
    clock: HostClock,
    /// The host's `Crawl-delay`, once its robots.txt has been read.
    crawl_delay: Option<Duration>,
}

/// The request could not start within `max_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

/// A request slot on a host; dropping it frees the slot.
#[derive(Debug)]
pub struct HostPermit {
    _slot: OwnedSemaphorePermit,
    /// How long the request waited for its host.
    pub waited: Duration,
}

/// The per-host gate, shared by every feed's page fetches (clones share the state).
#[derive(Debug, Clone)]
pub struct Politeness {
    settings: PoliteSettings,
    hosts: Arc<Mutex<HashMap<String, Host>>>,
}

impl Politeness {
    /// A gate with no host known yet.
    pub fn new(settings: PoliteSettings) -> Self {
        Self { settings, hosts: Arc::default() }
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut Host) -> T) -> T {
        // A poisoned lock only means another task panicked mid-update of plain timing data.
        let mut hosts = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = hosts.entry(host.to_owned()).or_insert_with(|| Host {
            slots: Arc::new(Semaphore::new(self.settings.concurrency.max(1))),
            clock: HostClock::new(Instant::now()),
            crawl_delay: None,
        });
        f(h)
    }

    /// Waits until a request to `host` may start: a free slot, then its reserved start time.
    /// Fails at once if the host is blocked (or booked) beyond `max_wait`, and after
    /// `max_wait` if no slot frees up.
    pub async fn acquire(&self, host: &str) -> Result<HostPermit, TooLong> {
        let asked = Instant::now();
        let slots = self.with_host(host, |h| h.slots.clone());
        let max_wait = self.settings.max_wait;
        let slot = tokio::time::timeout(max_wait, slots.acquire_owned()).await.map_err(|_| TooLong)?;
        // The semaphore is never closed.
        let slot = slot.map_err(|_| TooLong)?;
        let now = Instant::now();
        let left = max_wait.saturating_sub(now.duration_since(asked));
        let interval = self.settings.min_interval;
        let start = self
            .with_host(host, |h| {
                h.clock.reserve(now, h.crawl_delay.map_or(interval, |d| d.max(interval)), left)
            })
            .ok_or(TooLong)?;
        tokio::time::sleep_until(start).await;
        Ok(HostPermit { _slot: slot, waited: Instant::now().duration_since(asked) })
    }

    /// Records the status of an answer from `host` (see [`HostClock::answered`]); the
    /// back-off base is the host's interval, at least a second. Returns whether it now waits.
    pub fn answered(&self, host: &str, status: u16, retry_after: Option<Duration>) -> bool {
        let base = self.settings.min_interval.max(Duration::from_secs(1));
        self.with_host(host, |h| h.clock.answered(Instant::now(), status, retry_after, base))
    }

    /// Sets the `Crawl-delay` a host's robots.txt asked for.
    pub fn set_crawl_delay(&self, host: &str, delay: Option<Duration>) {
        self.with_host(host, |h| h.crawl_delay = delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn starts_are_spaced_by_the_interval_and_too_far_is_refused() {
        let t0 = Instant::now();
        let mut c = HostClock::new(t0);
        assert_eq!(c.reserve(t0, S, 10 * S), Some(t0));
        assert_eq!(c.reserve(t0, S, 10 * S), Some(t0 + S));
        assert_eq!(c.reserve(t0, S, 10 * S), Some(t0 + 2 * S));
        assert_eq!(c.reserve(t0, S, S), None, "3 s away is beyond a 1 s wait");
        assert_eq!(c.reserve(t0, S, 10 * S), Some(t0 + 3 * S), "a refusal reserves nothing");
    }

    #[test]
    fn retry_after_blocks_and_backoff_doubles_until_a_success() {
        let t0 = Instant::now();
        let mut c = HostClock::new(t0);
        assert!(c.answered(t0, 429, Some(30 * S), S));
        assert_eq!(c.reserve(t0, S, 60 * S), Some(t0 + 30 * S));
        let t1 = t0 + 40 * S;
        assert!(c.answered(t1, 503, None, S), "second in a row: base × 2");
        assert_eq!(c.reserve(t1, S, 60 * S), Some(t1 + 2 * S));
        assert!(c.answered(t1, 503, None, S));
        assert_eq!(c.reserve(t1, Duration::ZERO, 60 * S), Some(t1 + 4 * S));
        assert!(!c.answered(t1, 200, None, S));
        assert!(c.answered(t1, 429, None, S), "a success resets the streak");
        assert_eq!(c.reserve(t1, Duration::ZERO, 60 * S), Some(t1 + 4 * S), "never earlier than before");
        let mut d = HostClock::new(t0);
        d.answered(t0, 429, Some(Duration::from_secs(86_400)), S);
        assert_eq!(d.reserve(t0, S, 7200 * S), Some(t0 + MAX_BACKOFF), "a day is read as an hour");
        assert!(!d.answered(t0, 404, None, S), "other errors do not block");
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_limits_concurrency_per_host_and_spaces_starts() {
        let gate = Politeness::new(PoliteSettings { concurrency: 2, min_interval: S, max_wait: 60 * S });
        let t0 = Instant::now();
        let a = gate.acquire("a.example").await;
        let b = gate.acquire("a.example").await;
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(Instant::now().duration_since(t0), S, "the second start waited the interval");
        let other = gate.acquire("b.example").await;
        assert!(other.is_ok());
        assert_eq!(Instant::now().duration_since(t0), S, "another host does not wait");
        // Both slots of a.example are held: a third request waits for one to be dropped.
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire("a.example").await.map(|p| p.waited) })
        };
        tokio::time::sleep(5 * S).await;
        assert!(!waiting.is_finished(), "no slot was free");
        drop(a);
        let waited = waiting.await.ok().and_then(Result::ok);
        assert_eq!(waited, Some(5 * S));
        // Blocked beyond max_wait: refused at once.
        gate.answered("c.example", 429, Some(120 * S));
        assert_eq!(gate.acquire("c.example").await.err(), Some(TooLong));
    }
}
