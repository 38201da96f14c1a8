//! One active decider among processor replicas: a lease held in a JetStream key-value bucket.
//!
//! Dedup and story decisions need one memory that sees every article in order; two replicas
//! deciding at once would each miss the copies the other saw. So replicas elect one active
//! processor: the first to create the lease key holds it and renews it every third of its
//! time to live; the others wait as standbys and try to create the key, which succeeds only
//! once the key has expired (the bucket's `max_age`) or was released.
//!
//! Fencing: the holder stops deciding when its last successful renewal is half a TTL old, and
//! the key expires only a whole TTL after that renewal, so the old holder has stopped before
//! a standby can take over (both clocks are the same machine's or run at the same rate).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use newswire_bus::{BusError, BusErrorKind, KvBucket};
use tokio_util::sync::CancellationToken;

/// The key the active processor holds.
const KEY: &str = "active";

/// A lease held by this replica.
#[derive(Debug)]
pub struct Lease {
    bucket: KvBucket,
    holder: String,
    ttl: Duration,
    revision: u64,
}

/// A name for this replica: host, process and a counter (tests run two replicas in one
/// process).
pub fn holder_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Lease {
    /// Waits until this replica holds the lease; `None` if `shutdown` came first. The bucket
    /// must expire entries after `ttl`.
    pub async fn acquire(
        bucket: KvBucket,
        holder: String,
        ttl: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Option<Self>, BusError> {
        let mut announced = false;
        loop {
            match bucket.create(KEY, Bytes::from(holder.clone())).await {
                Ok(Some(revision)) => {
                    tracing::info!(message = "Holding the processor lease: deciding.", %holder);
                    return Ok(Some(Self { bucket, holder, ttl, revision }));
                }
                Ok(None) if !announced => {
                    announced = true;
                    tracing::info!(message = "Another processor is active; waiting as standby.", %holder);
                }
                Ok(None) => {}
                Err(e) if e.kind() == BusErrorKind::Fatal => return Err(e),
                Err(error) => tracing::warn!(message = "Lease bucket unavailable; retrying.", %error),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(ttl / 4) => {}
            }
        }
    }

    /// Renews the lease every third of its TTL until `stop` is cancelled, and cancels `lost`
    /// as soon as the lease can no longer be trusted: another replica took it, or no renewal
    /// succeeded for half a TTL. Returns the lease when stopped while still holding it.
    pub async fn keep(mut self, stop: CancellationToken, lost: CancellationToken) -> Option<Self> {
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return Some(self),
                () = tokio::time::sleep(self.ttl / 3) => {}
            }
            match self.bucket.update(KEY, Bytes::from(self.holder.clone()), self.revision).await {
                Ok(Some(revision)) => {
                    self.revision = revision;
                    renewed = Instant::now();
                }
                Ok(None) => {
                    tracing::error!(message = "Processor lease taken by another replica; stopping.", holder = %self.holder);
                    lost.cancel();
                    return None;
                }
                Err(error) => tracing::warn!(message = "Renewing the processor lease failed.", %error),
            }
            if renewed.elapsed() > self.ttl / 2 {
                tracing::error!(message = "Processor lease not renewed for half its TTL; stopping.", holder = %self.holder);
                lost.cancel();
                return None;
            }
        }
    }

    /// Gives the lease up at once (a standby takes over without waiting for it to expire),
    /// if this replica still holds it.
    pub async fn release(self) {
        match self.bucket.get(KEY).await {
            Ok(Some((holder, revision))) if revision == self.revision && holder == self.holder.as_bytes() => {
                if let Err(error) = self.bucket.delete(KEY).await {
                    tracing::warn!(message = "Releasing the processor lease failed; it will expire.", %error);
                }
            }
            _ => {}
        }
    }
}
