//! The async shell around [`SeenMemory`]: one key per feed in the `FetcherSeen` key-value
//! bucket, cached in process after the first load (the bucket is for restarts and for other
//! replicas, not read on every poll).
//!
//! Failure policy: the memory only ever saves work. When the bucket cannot be opened or read,
//! the caller publishes every entry (JetStream drops exact repeats inside its window, the
//! processor and the sink catch older ones); when it cannot be written, the in-process memory
//! still holds the result and the write is tried again on the next poll of that feed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use newswire_bus::{Bus, BusError, BusErrorKind, KvBucket, KvBucketName, Source};
use newswire_model::SourceId;

use crate::seen::{Fingerprint, Outcome, SeenMemory};

/// How long to wait before trying again to open a bucket that could not be opened, so that a
/// bucket the server refuses does not cost a round trip (and a warning) on every feed's poll.
const REOPEN_AFTER: Duration = Duration::from_secs(30);

/// Compare-and-set attempts per write before giving up (only another fetcher writing the
/// same feed's key at the same moment makes one fail).
const CAS_ATTEMPTS: usize = 3;

/// A feed's memory as loaded for one poll: what to diff against and what to write back over.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The remembered entries.
    pub memory: SeenMemory,
    /// Revision of the key this memory was read from or last written as; `None` when the key
    /// has no value yet.
    revision: Option<u64>,
    /// The in-process memory has entries the bucket does not (an earlier write failed).
    dirty: bool,
}

#[derive(Debug, Default)]
struct BucketState {
    bucket: Option<KvBucket>,
    /// After a failed open: not before this instant, and the error to report until then.
    retry: Option<(Instant, BusErrorKind, Source)>,
}

/// Per-feed memories of one fetcher (clones share them).
#[derive(Debug, Clone)]
pub(crate) struct FeedMemories {
    bus: Bus,
    bucket: Arc<tokio::sync::Mutex<BucketState>>,
    cache: Arc<Mutex<HashMap<SourceId, Loaded>>>,
}

impl FeedMemories {
    pub(crate) fn new(bus: Bus) -> Self {
        Self { bus, bucket: Arc::default(), cache: Arc::default() }
    }

    /// The bucket, opened (and created if missing) on first use.
    pub(crate) async fn bucket(&self) -> Result<KvBucket, BusError> {
        let mut state = self.bucket.lock().await;
        if let Some(b) = &state.bucket {
            return Ok(b.clone());
        }
        if let Some((at, kind, source)) = &state.retry
            && Instant::now() < *at
        {
            let bucket = KvBucketName::FetcherSeen.bucket_name(&self.bus.settings().subject_root);
            return Err(BusError::Bucket { bucket, kind: *kind, source: source.clone() });
        }
        match self.bus.kv_bucket(KvBucketName::FetcherSeen, None).await {
            Ok(b) => {
                *state = BucketState { bucket: Some(b.clone()), retry: None };
                Ok(b)
            }
            Err(e) => {
                let source: Source = match &e {
                    BusError::Bucket { source, .. } => source.clone(),
                    other => std::sync::Arc::new(std::io::Error::other(other.to_string())),
                };
                state.retry = Some((Instant::now() + REOPEN_AFTER, e.kind(), source));
                Err(e)
            }
        }
    }

    /// After a failed read or write: open the bucket afresh next time (it may have been
    /// deleted; opening re-creates it).
    async fn forget_bucket(&self) {
        self.bucket.lock().await.bucket = None;
    }

    /// The feed's memory: the in-process copy, else the bucket's value (an empty memory for a
    /// feed never polled). A value that does not decode is treated as empty (and overwritten
    /// by the next write) with a warning: publishing again is safe, trusting garbage is not.
    pub(crate) async fn load(&self, feed: &SourceId) -> Result<Loaded, BusError> {
        if let Some(cached) = self.lock_cache().get(feed) {
            return Ok(cached.clone());
        }
        let bucket = self.bucket().await?;
        match bucket.get(feed.as_str()).await {
            Ok(value) => Ok(decode(feed, value)),
            Err(e) => {
                self.forget_bucket().await;
                Err(e)
            }
        }
    }

    /// Remembers the outcome of a poll: computes the next memory from `loaded` and
    /// `current` (every entry of the document with what became of it), keeps it in process,
    /// and writes it to the bucket if it changed (or an earlier write failed). Never fails:
    /// a write that cannot be done is retried on the next poll.
    pub(crate) async fn store(&self, feed: &SourceId, loaded: Loaded, current: &[(Fingerprint, Outcome)]) {
        let (mut memory, changed) = loaded.memory.remember(current);
        let mut revision = loaded.revision;
        if !changed && !loaded.dirty {
            self.lock_cache().insert(feed.clone(), Loaded { memory, revision, dirty: false });
            return;
        }
        let bucket = match self.bucket().await {
            Ok(b) => b,
            Err(error) => {
                tracing::warn!(message = "Cannot write the feed's memory; it is kept in process and written on the next poll.", feed_id = %feed, %error);
                self.lock_cache().insert(feed.clone(), Loaded { memory, revision, dirty: true });
                return;
            }
        };
        let key = feed.as_str();
        for _ in 0..CAS_ATTEMPTS {
            let value = Bytes::from(memory.encode());
            let written = match revision {
                Some(r) => bucket.update(key, value, r).await,
                None => bucket.create(key, value).await,
            };
            match written {
                Ok(Some(r)) => {
                    self.lock_cache()
                        .insert(feed.clone(), Loaded { memory, revision: Some(r), dirty: false });
                    return;
                }
                Ok(None) => {
                    // Someone else wrote this feed's memory since we read it (another fetcher
                    // replica, or our own write that timed out but landed): apply this poll's
                    // outcome on top of theirs instead of overwriting it.
                    match bucket.get(key).await {
                        Ok(value) => {
                            let fresh = decode(feed, value);
                            memory = fresh.memory.remember(current).0;
                            revision = fresh.revision;
                        }
                        Err(error) => {
                            tracing::warn!(message = "Cannot re-read the feed's memory after a concurrent write; it will be reloaded on the next poll.", feed_id = %feed, %error);
                            self.forget_bucket().await;
                            break;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(message = "Cannot write the feed's memory; it is kept in process and written on the next poll.", feed_id = %feed, %error);
                    self.forget_bucket().await;
                    self.lock_cache().insert(feed.clone(), Loaded { memory, revision, dirty: true });
                    return;
                }
            }
        }
        // Lost the race every time (or could not re-read): forget the in-process copy so that
        // the next poll starts from the bucket. At worst a few entries are published again.
        self.lock_cache().remove(feed);
    }

    /// Drops the in-process copy of a feed's memory, so that its next poll reads the bucket:
    /// called when this replica takes a feed over, since the replica that polled it before
    /// has written a newer memory than the one cached here.
    pub(crate) fn forget(&self, feed: &SourceId) {
        self.lock_cache().remove(feed);
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<SourceId, Loaded>> {
        // The map is never left half-updated (single inserts and removes), so a panic in
        // another holder does not make it unusable.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn decode(feed: &SourceId, value: Option<(Bytes, u64)>) -> Loaded {
    match value {
        None => Loaded { memory: SeenMemory::default(), revision: None, dirty: false },
        Some((bytes, revision)) => match SeenMemory::decode(&bytes) {
            Ok(memory) => Loaded { memory, revision: Some(revision), dirty: false },
            Err(error) => {
                tracing::warn!(message = "The feed's stored memory does not decode; starting afresh (entries are published again).", feed_id = %feed, %error);
                Loaded { memory: SeenMemory::default(), revision: Some(revision), dirty: false }
            }
        },
    }
}
