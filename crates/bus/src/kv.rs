//! JetStream key-value buckets: small, durable, per-key state shared by the replicas of a
//! stage and kept across restarts (the fetcher's per-feed memory, later the processor's leases).
//!
//! Only this crate knows bucket names ([`KvBucketName`]). [`KvBucket`] is a thin typed wrapper
//! over `async_nats::jetstream::kv::Store` that turns the two expected "races" into values
//! rather than errors: [`KvBucket::create`] on an existing key and [`KvBucket::update`] with a
//! stale revision both return `Ok(None)`, so that callers can build compare-and-set loops and
//! leases without matching on client error kinds.

use std::time::Duration;

use async_nats::jetstream::context as stream_error;
use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::error::{Source, message, source};
use crate::{Bus, BusError, BusErrorKind};

/// The key-value buckets newswire uses. Names are fixed here so that no other crate knows them
/// (the same rule as for streams and subjects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvBucketName {
    /// `NEWSWIRE_FETCHER_SEEN`: per feed (key = source id), the entries the fetcher has
    /// published (article id and content hash), so that a re-poll publishes only new or
    /// changed entries, also after a restart.
    FetcherSeen,
    /// `NEWSWIRE_PROCESSOR_LEASE`: the lease of the one active processor among replicas (key
    /// `active`, value = the holder's name; entries expire after the lease TTL).
    ProcessorLease,
    /// `NEWSWIRE_CRASHES`: per redelivered message being processed alone (key
    /// `<stage>.<stream sequence>`), how many times its stage died while processing it (see
    /// [`CrashGuard`](crate::CrashGuard)); entries expire after a day.
    Crashes,
    /// `NEWSWIRE_FEEDS`: the feed registry (key = source id, value = the feed's spec as JSON
    /// with `paused`, `added_at`; see `newswire_fetch::registry`). Every fetcher replica
    /// follows it; the CLI and the API write it.
    Feeds,
    /// `NEWSWIRE_FEED_STATUS`: per feed (key = source id), its poll status as JSON (last poll,
    /// last success, last error, error streak, items published) and the poll claim replicas
    /// take with compare-and-set before each poll, so that a feed is polled once per interval.
    FeedStatus,
    /// `NEWSWIRE_FETCHER_REPLICAS`: one key per live fetcher replica (its name), rewritten
    /// as a heartbeat; entries expire after the replica TTL, so a dead replica drops out.
    FetcherReplicas,
}

impl KvBucketName {
    /// The bucket name for the default subject root (`news`).
    pub fn as_str(self) -> &'static str {
        match self {
            KvBucketName::FetcherSeen => "NEWSWIRE_FETCHER_SEEN",
            KvBucketName::ProcessorLease => "NEWSWIRE_PROCESSOR_LEASE",
            KvBucketName::Crashes => "NEWSWIRE_CRASHES",
            KvBucketName::Feeds => "NEWSWIRE_FEEDS",
            KvBucketName::FeedStatus => "NEWSWIRE_FEED_STATUS",
            KvBucketName::FetcherReplicas => "NEWSWIRE_FETCHER_REPLICAS",
        }
    }

    /// The bucket name for a pipeline rooted at `subject_root`: [`as_str`](Self::as_str) for
    /// the default root `news`, else suffixed with the root (upper-cased, any character a bucket
    /// name cannot hold replaced by `_`). Two pipelines on one server (different
    /// `nats.subject_root`) must not share a memory: the second would skip entries only the
    /// first had published.
    pub fn bucket_name(self, subject_root: &str) -> String {
        if subject_root == "news" {
            return self.as_str().to_owned();
        }
        let suffix: String = subject_root
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_uppercase() } else { '_' })
            .collect();
        format!("{}_{suffix}", self.as_str())
    }

    fn description(self) -> &'static str {
        match self {
            KvBucketName::FetcherSeen => {
                "Per feed: article ids and content hashes the fetcher has published (binary, see newswire-fetch seen.rs)."
            }
            KvBucketName::ProcessorLease => {
                "The lease of the one active processor (the others wait as standbys)."
            }
            KvBucketName::Crashes => {
                "Per redelivered message processed alone: how often its stage died on it (stage.sequence)."
            }
            KvBucketName::Feeds => {
                "The feed registry: per source id, the feed's spec (JSON), paused, added_at."
            }
            KvBucketName::FeedStatus => {
                "Per feed: poll status (last poll, success, error, streak, items) and the poll claim (JSON)."
            }
            KvBucketName::FetcherReplicas => {
                "Live fetcher replicas (heartbeats; entries expire after the TTL)."
            }
        }
    }
}

impl Bus {
    /// Opens a key-value bucket, creating it if missing (see [`KvBucket`]): file storage,
    /// history 1, entries expiring after `max_age` if given. Its name carries
    /// `nats.subject_root` when that is not `news` (see [`KvBucketName::bucket_name`]).
    pub async fn kv_bucket(
        &self,
        bucket: KvBucketName,
        max_age: Option<Duration>,
    ) -> Result<KvBucket, BusError> {
        let name = bucket.bucket_name(&self.settings().subject_root);
        KvBucket::open(self.jetstream(), bucket, name, max_age).await
    }
}

/// An open key-value bucket (history 1: only the latest value of each key is kept). Cheap to
/// clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct KvBucket {
    name: String,
    store: kv::Store,
}

impl KvBucket {
    /// Creates the bucket if it does not exist, or updates its limits to these (file storage,
    /// history 1, `max_age`: entries not written for that long disappear, `None`: kept until
    /// deleted). Idempotent; every replica calls it at start-up.
    ///
    /// The bucket's stream (`KV_<name>` on `$KV.<name>.>`, the layout every NATS client and
    /// the `nats kv` tool share) is created here rather than with the client's
    /// `create_key_value`, which first asks the server for its account information and cannot
    /// read the answer of nats-server 2.9 (the version Debian ships, used by the demo and the
    /// tests).
    pub(crate) async fn open(
        js: &async_nats::jetstream::Context,
        bucket: KvBucketName,
        name: String,
        max_age: Option<Duration>,
    ) -> Result<Self, BusError> {
        use async_nats::jetstream::stream;
        let config = stream::Config {
            name: format!("KV_{name}"),
            description: Some(bucket.description().to_owned()),
            subjects: vec![format!("$KV.{name}.>")],
            // History 1: only the latest value of a key is kept.
            max_messages_per_subject: 1,
            max_age: max_age.unwrap_or_default(),
            storage: stream::StorageType::File,
            num_replicas: 1,
            // As the client's own key-value streams: deletes are markers (rollups), reads go
            // through the direct-get API, and a full bucket refuses writes rather than losing
            // other keys.
            allow_rollup: true,
            deny_delete: true,
            deny_purge: false,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        let err =
            |kind: BusErrorKind, source: Source| BusError::Bucket { bucket: name.clone(), kind, source };
        let stream_err = |e: stream_error::CreateStreamError| {
            use stream_error::CreateStreamErrorKind as K;
            let kind = match e.kind() {
                K::EmptyStreamName | K::InvalidStreamName | K::DomainAndExternalSet => BusErrorKind::Fatal,
                // Unreachable server, timeout, or a stream of that name the server refuses to
                // turn into this bucket: retrying later may work, and callers fall back.
                _ => BusErrorKind::Transient,
            };
            err(kind, source(e))
        };
        let existing = js.get_or_create_stream(config.clone()).await.map_err(stream_err)?;
        let current = &existing.cached_info().config;
        if current.subjects != config.subjects
            || current.max_age != config.max_age
            || current.max_messages_per_subject != config.max_messages_per_subject
            || current.storage != config.storage
            || !current.allow_direct
            || !current.allow_rollup
        {
            tracing::info!(message = "Updating key-value bucket limits.", bucket = %name);
            js.update_stream(config).await.map_err(stream_err)?;
        }
        let store = js.get_key_value(name.clone()).await.map_err(|e| {
            let kind = match e.kind() {
                async_nats::jetstream::context::KeyValueErrorKind::InvalidStoreName => BusErrorKind::Fatal,
                _ => BusErrorKind::Transient,
            };
            err(kind, source(e))
        })?;
        Ok(Self { name, store })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The latest value of `key` and its revision; `None` if the key was never written or was
    /// deleted.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, u64)>, BusError> {
        check_key(&self.name, key, "get")?;
        let entry = self.store.entry(key).await.map_err(|e| {
            let kind = match e.kind() {
                kv::EntryErrorKind::InvalidKey => BusErrorKind::Message,
                kv::EntryErrorKind::TimedOut | kv::EntryErrorKind::Other => BusErrorKind::Transient,
            };
            self.error(key, "get", kind, e)
        })?;
        Ok(entry.and_then(|e| match e.operation {
            kv::Operation::Put => Some((e.value, e.revision)),
            kv::Operation::Delete | kv::Operation::Purge => None,
        }))
    }

    /// Writes `value` whatever the key holds; returns the new revision.
    pub async fn put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        check_key(&self.name, key, "put")?;
        self.store.put(key, value).await.map_err(|e| {
            let kind = match e.kind() {
                kv::PutErrorKind::InvalidKey => BusErrorKind::Message,
                kv::PutErrorKind::Publish | kv::PutErrorKind::Ack => BusErrorKind::Transient,
            };
            self.error(key, "put", kind, e)
        })
    }

    /// Writes `value` only if the key holds no value (never written, or deleted): the new
    /// revision, or `None` if the key already has a value. Atomic: of two concurrent creates,
    /// exactly one gets `Some`.
    pub async fn create(&self, key: &str, value: Bytes) -> Result<Option<u64>, BusError> {
        check_key(&self.name, key, "create")?;
        match self.store.create(key, value).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) => match e.kind() {
                kv::CreateErrorKind::AlreadyExists => Ok(None),
                kv::CreateErrorKind::InvalidKey => Err(self.error(key, "create", BusErrorKind::Message, e)),
                kv::CreateErrorKind::Publish | kv::CreateErrorKind::Ack | kv::CreateErrorKind::Other => {
                    Err(self.error(key, "create", BusErrorKind::Transient, e))
                }
            },
        }
    }

    /// Writes `value` only if the key's latest revision is still `revision` (compare-and-set):
    /// the new revision, or `None` if someone else wrote (or deleted) the key in between.
    pub async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError> {
        check_key(&self.name, key, "update")?;
        match self.store.update(key, value, revision).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) => match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                kv::UpdateErrorKind::InvalidKey => Err(self.error(key, "update", BusErrorKind::Message, e)),
                kv::UpdateErrorKind::TimedOut | kv::UpdateErrorKind::Other => {
                    Err(self.error(key, "update", BusErrorKind::Transient, e))
                }
            },
        }
    }

    /// Deletes the key (a delete marker: [`get`](Self::get) then returns `None` and
    /// [`create`](Self::create) succeeds again).
    pub async fn delete(&self, key: &str) -> Result<(), BusError> {
        check_key(&self.name, key, "delete")?;
        self.store.delete(key).await.map_err(|e| {
            let kind = match e.kind() {
                kv::UpdateErrorKind::InvalidKey => BusErrorKind::Message,
                _ => BusErrorKind::Transient,
            };
            self.error(key, "delete", kind, e)
        })
    }

    /// Every key that holds a value (deleted keys left out), in no particular order.
    pub async fn keys(&self) -> Result<Vec<String>, BusError> {
        use futures_util::TryStreamExt;
        let keys = self.store.keys().await.map_err(|e| self.watch_error("keys", e))?;
        keys.try_collect().await.map_err(|e| self.error(">", "keys", BusErrorKind::Transient, e))
    }

    /// Every key with its value and revision. One read per key after listing them: meant for
    /// small buckets (the feed registry), not for scanning large ones.
    pub async fn entries(&self) -> Result<Vec<(String, Bytes, u64)>, BusError> {
        let mut out = Vec::new();
        for key in self.keys().await? {
            // A key deleted between the listing and the read is simply gone.
            if let Some((value, revision)) = self.get(&key).await? {
                out.push((key, value, revision));
            }
        }
        Ok(out)
    }

    /// The changes made to any key from now on (puts and deletes, in order), until the stream
    /// is dropped. The client re-creates its consumer after a reconnect; an error item means
    /// the watch broke and should be opened again (and the state re-read with
    /// [`entries`](Self::entries), since changes may have been missed).
    pub async fn watch(
        &self,
    ) -> Result<futures_util::stream::BoxStream<'static, Result<KvChange, BusError>>, BusError> {
        use futures_util::StreamExt;
        let watch = self.store.watch_all().await.map_err(|e| self.watch_error("watch", e))?;
        let bucket = self.name.clone();
        Ok(watch
            .map(move |entry| match entry {
                Ok(e) => Ok(KvChange {
                    value: matches!(e.operation, kv::Operation::Put).then_some(e.value),
                    key: e.key,
                    revision: e.revision,
                }),
                Err(e) => Err(BusError::Kv {
                    bucket: bucket.clone(),
                    key: ">".to_owned(),
                    op: "watch",
                    kind: BusErrorKind::Transient,
                    source: source(e),
                }),
            })
            .boxed())
    }

    fn watch_error(&self, op: &'static str, e: kv::WatchError) -> BusError {
        let kind = match e.kind() {
            kv::WatchErrorKind::InvalidKey => BusErrorKind::Message,
            _ => BusErrorKind::Transient,
        };
        self.error(">", op, kind, e)
    }

    fn error(
        &self,
        key: &str,
        op: &'static str,
        kind: BusErrorKind,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> BusError {
        BusError::Kv { bucket: self.name.clone(), key: key.to_owned(), op, kind, source: source(e) }
    }
}

/// One change seen by [`KvBucket::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvChange {
    /// The key.
    pub key: String,
    /// The new value; `None` when the key was deleted or purged.
    pub value: Option<Bytes>,
    /// The revision of this change (the bucket's stream sequence: later changes have higher
    /// revisions, across keys too).
    pub revision: u64,
}

/// Refuses keys JetStream would reject or misread (`*`, `>`, spaces, empty tokens), before
/// anything is sent, with an error that names the key.
fn check_key(bucket: &str, key: &str, op: &'static str) -> Result<(), BusError> {
    let ok = !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'=' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(BusError::Kv {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            op,
            kind: BusErrorKind::Message,
            source: message("invalid key (allowed: letters, digits, `-_/=.`, no empty tokens)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_carry_a_non_default_root() {
        assert_eq!(KvBucketName::FetcherSeen.bucket_name("news"), "NEWSWIRE_FETCHER_SEEN");
        assert_eq!(
            KvBucketName::FetcherSeen.bucket_name("staging.news"),
            "NEWSWIRE_FETCHER_SEEN_STAGING_NEWS"
        );
        assert_eq!(KvBucketName::FetcherSeen.bucket_name("t-1"), "NEWSWIRE_FETCHER_SEEN_T-1");
    }

    #[test]
    fn feed_ids_are_valid_keys_and_wildcards_are_not() {
        for ok in ["seeds-rss", "a", "feed_01", "x".repeat(64).as_str()] {
            assert!(check_key("B", ok, "get").is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a.*", ">", ".a", "a.", "a..b", "é"] {
            let e = check_key("B", bad, "get").unwrap_err();
            assert_eq!(e.kind(), BusErrorKind::Message, "{bad}");
        }
    }
}
