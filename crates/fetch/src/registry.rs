//! The feed registry: feeds managed at run time, kept in JetStream key-value buckets that every
//! fetcher replica, the CLI (`newswire feeds …`) and the API see.
//!
//! - `NEWSWIRE_FEEDS` (key = source id): the feed's spec as JSON (`url`, `poll_interval_secs`,
//!   `language`, `category`, `full_text`, `title`) with `paused`, `added_at` and `updated_at`.
//!   A removed feed stays as a tombstone (`removed_at`), so that the feeds file does not bring it
//!   back at the next start (see "Precedence").
//! - `NEWSWIRE_FEED_STATUS` (key = source id): [`FeedStatus`] as JSON, written by the fetcher
//!   replica that polls the feed: before each poll it *claims* the poll with compare-and-set on
//!   this key (`next_poll` not yet reached: someone else polled this interval, skip), after it
//!   the outcome (last success, last error, error streak, items published).
//!
//! **Precedence.** The feeds file (and `feeds import`) *seed* the registry: an entry whose id the
//! registry has never held is added; an entry already there is left as the registry has it
//! (paused, changed interval); an id removed at run time is not added back by the file
//! ([`seed_from`](FeedRegistry::seed_from)), only by an explicit
//! [`add`](FeedRegistry::add) or [`import`](FeedRegistry::import). So the file is the
//! first-start configuration and the registry is the truth afterwards; editing a feed that is
//! already registered is done with the CLI or the API, not in the file.
//!
//! **Who owns the buckets.** Both buckets have fixed limits (no TTL, history 1) that depend on no
//! setting, so every client that needs them creates them if missing (the fetcher at start-up,
//! the CLI, the API) and none can impose other limits on the rest. They are not streams of
//! `ClientRole`: a read-only client (`feeds ls`) creates them but never changes a stream.
//!
//! **Validation.** Every value is validated when written *and* when read (the same rules and
//! SSRF [`NetGuard`] as the feeds file): anyone with access to the NATS account can write the
//! bucket, so a reader never trusts it. A value that does not validate under the reader's guard
//! is reported as a [`RejectedFeed`] and not run.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use newswire_bus::{Bus, BusError, BusErrorKind, KvBucket, KvBucketName};
use newswire_model::SourceId;
use serde::{Deserialize, Serialize};

use crate::feeds::FeedFields;
use crate::{FeedList, FeedSpec, FeedUrl, FetcherSettings, FullText, NetGuard, RejectedFeed};

/// Compare-and-set attempts before a write gives up with [`RegistryError::Conflict`] (only
/// writers racing on the same key make one fail).
const CAS_ATTEMPTS: usize = 5;

/// The XML namespace of newswire's own OPML attributes (`newswire:id`,
/// `newswire:pollIntervalSecs`, `newswire:paused`), which other readers ignore.
pub const OPML_NAMESPACE: &str = "urn:newswire:opml:1";

/// What a caller can do about a [`RegistryError`] (an API maps these to 404, 409, 422, 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// No such feed.
    NotFound,
    /// The feed exists already, or someone else changed it at the same moment.
    Conflict,
    /// The request (or a stored value) breaks the feed rules.
    Invalid,
    /// NATS is unreachable or slow: retry later.
    Unavailable,
    /// The server refuses the buckets' configuration: stop and report.
    Fatal,
}

/// Errors of the feed registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `add` of an id the registry already holds.
    #[error("feed {id} already exists")]
    Duplicate {
        /// The id.
        id: SourceId,
    },
    /// No feed with that id (never added, or removed).
    #[error("no feed {id}")]
    NotFound {
        /// The id as given.
        id: String,
    },
    /// A field breaks the feed rules (id, URL and the SSRF guard, language, category,
    /// interval), or a stored value does not decode.
    #[error("feed {id}: `{field}`: {reason}")]
    Invalid {
        /// The id as given.
        id: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Another writer changed the feed at the same moment, every time it was tried.
    #[error("feed {id} was changed by someone else at the same time; try again")]
    Conflict {
        /// The id.
        id: SourceId,
    },
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl RegistryError {
    /// What to do about it.
    pub fn kind(&self) -> RegistryErrorKind {
        match self {
            RegistryError::Duplicate { .. } | RegistryError::Conflict { .. } => RegistryErrorKind::Conflict,
            RegistryError::NotFound { .. } => RegistryErrorKind::NotFound,
            RegistryError::Invalid { .. } => RegistryErrorKind::Invalid,
            RegistryError::Bus(e) => match e.kind() {
                BusErrorKind::Transient => RegistryErrorKind::Unavailable,
                BusErrorKind::Message => RegistryErrorKind::Invalid,
                BusErrorKind::Fatal => RegistryErrorKind::Fatal,
            },
        }
    }
}

/// A feed as a request gives it (CLI, API body, import), before validation. As JSON:
/// `{"id": "…", "url": "…", "poll_interval_secs": 300, "language": "ar", "category": "world",
/// "full_text": "auto", "title": "…"}`, every field but `id` and `url` optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFeed {
    /// Source id (`[a-z0-9_-]{1,64}`).
    pub id: String,
    /// `http(s)://` URL (or `file://` where the guard allows files).
    pub url: String,
    /// Poll interval; the fetcher's `default_poll_interval_secs` when absent.
    #[serde(default)]
    pub poll_interval_secs: Option<u64>,
    /// Language hint.
    #[serde(default)]
    pub language: Option<String>,
    /// Category; `general` when absent.
    #[serde(default)]
    pub category: Option<String>,
    /// When to fetch entries' pages; `auto` when absent.
    #[serde(default)]
    pub full_text: Option<FullText>,
    /// A human title (from an OPML import), kept for the OPML export.
    #[serde(default)]
    pub title: Option<String>,
}

/// The JSON value of a key in `NEWSWIRE_FEEDS`. Unknown fields are ignored, so that an older
/// fetcher reads what a newer CLI wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredFeed {
    url: String,
    poll_interval_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    category: String,
    #[serde(default)]
    full_text: FullText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default)]
    paused: bool,
    added_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Set on a removed feed (a tombstone): hidden, and not re-seeded from the feeds file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    removed_at: Option<DateTime<Utc>>,
}

impl StoredFeed {
    fn new(spec: &FeedSpec, title: Option<String>, now: DateTime<Utc>) -> Result<Self, RegistryError> {
        Ok(Self {
            url: stored_url(&spec.id, &spec.url)?,
            poll_interval_secs: spec.poll_interval.as_secs().max(1),
            language: spec.language.as_ref().map(|l| l.to_string()),
            category: spec.category.to_string(),
            full_text: spec.full_text,
            title,
            paused: false,
            added_at: now,
            updated_at: now,
            removed_at: None,
        })
    }

    fn encode(&self) -> Bytes {
        // A struct of strings, numbers and dates always serializes.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// How a feed's URL is kept: the URL itself; files as absolute `file://` URLs (a relative path
/// would be relative to whichever process reads it); stdin is refused.
fn stored_url(id: &SourceId, url: &FeedUrl) -> Result<String, RegistryError> {
    let invalid =
        |reason: &str| RegistryError::Invalid { id: id.to_string(), field: "url", reason: reason.to_owned() };
    match url {
        FeedUrl::Http(u) => Ok(u.to_string()),
        FeedUrl::File(p) => {
            let abs = std::path::absolute(p).map_err(|e| invalid(&e.to_string()))?;
            url::Url::from_file_path(&abs)
                .map(|u| u.to_string())
                .map_err(|()| invalid("not an absolute local path"))
        }
        FeedUrl::Stdin => Err(invalid("standard input cannot be a registered feed")),
    }
}

/// A feed in the registry, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredFeed {
    /// What to poll, and how.
    pub spec: FeedSpec,
    /// Paused feeds are kept but not polled.
    pub paused: bool,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// When it was last changed (added, paused, resumed, updated).
    pub updated_at: DateTime<Utc>,
    /// A human title, if an import gave one.
    pub title: Option<String>,
    /// The key's revision: a later change has a higher one.
    pub revision: u64,
}

/// The registry's feeds.
#[derive(Debug, Clone, Default)]
pub struct RegistryListing {
    /// Valid feeds, by id.
    pub feeds: Vec<RegisteredFeed>,
    /// Stored values that do not validate under this reader's rules (for example a private
    /// address written by a client with a laxer guard): not run, reported.
    pub rejected: Vec<RejectedFeed>,
}

impl RegistryListing {
    /// The listing as a feeds list (for [`import_feeds`](crate::import_feeds), which skips
    /// known ids and URLs).
    pub fn to_feed_list(&self) -> FeedList {
        FeedList {
            feeds: self.feeds.iter().map(|f| f.spec.clone()).collect(),
            rejected: self.rejected.clone(),
        }
    }
}

/// One change of the registry, as [`FeedRegistry::watch`] reports it.
#[derive(Debug, Clone)]
pub enum RegistryChange {
    /// A feed was added or changed (paused, resumed, updated).
    Upserted(RegisteredFeed),
    /// A feed was removed.
    Removed {
        /// Its id.
        id: String,
        /// The revision of the removal.
        revision: u64,
    },
    /// A value was written that does not validate: the feed is not run.
    Rejected {
        /// What is wrong.
        feed: RejectedFeed,
        /// The revision of that write.
        revision: u64,
    },
}

impl RegistryChange {
    /// The feed's id as stored (the key).
    pub fn id(&self) -> &str {
        match self {
            RegistryChange::Upserted(f) => f.spec.id.as_str(),
            RegistryChange::Removed { id, .. } => id,
            RegistryChange::Rejected { feed, .. } => &feed.id,
        }
    }

    /// The revision of the change.
    pub fn revision(&self) -> u64 {
        match self {
            RegistryChange::Upserted(f) => f.revision,
            RegistryChange::Removed { revision, .. } | RegistryChange::Rejected { revision, .. } => *revision,
        }
    }
}

/// What seeding or importing did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Feeds added.
    pub added: Vec<SourceId>,
    /// Feeds the registry held already (left as they are).
    pub existing: Vec<SourceId>,
    /// Feeds removed at run time, not added back ([`FeedRegistry::seed_from`] only).
    pub removed_before: Vec<SourceId>,
}

/// A feed's poll status (the JSON value of its key in `NEWSWIRE_FEED_STATUS`), written by the
/// replica that polls it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedStatus {
    /// Start of the last poll (the claim).
    pub last_poll: Option<DateTime<Utc>>,
    /// No replica polls the feed before this (its interval after the last claim, or the
    /// back-off after a failure).
    pub next_poll: Option<DateTime<Utc>>,
    /// The replica that claimed the last poll.
    pub polled_by: Option<String>,
    /// End of the last successful poll.
    pub last_success: Option<DateTime<Utc>>,
    /// The last poll error (kept after a later success, with its time).
    pub last_error: Option<String>,
    /// When `last_error` happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed polls in a row (0 after a success).
    pub error_streak: u32,
    /// Raw items published from this feed (new to JetStream), over its life.
    pub items_published: u64,
    /// The last poll that published at least one item.
    pub last_published_at: Option<DateTime<Utc>>,
}

/// The outcome of one poll, as recorded in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// The poll succeeded and published this many raw items.
    Ok {
        /// Raw items new to JetStream.
        published: u64,
    },
    /// The poll failed.
    Failed {
        /// The error, as text.
        error: String,
    },
}

impl FeedStatus {
    /// Whether a poll may start at `now`: never polled, or `next_poll` reached.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.next_poll.is_none_or(|n| n <= now)
    }

    /// The status with a poll claimed by `replica` at `now`.
    pub fn claimed(&self, replica: &str, now: DateTime<Utc>, interval: Duration) -> Self {
        Self {
            last_poll: Some(now),
            next_poll: Some(now + chrono_duration(interval)),
            polled_by: Some(replica.to_owned()),
            ..self.clone()
        }
    }

    /// The status after a poll ended at `now`. A failure moves `next_poll` to the back-off
    /// ([`failure_backoff`](crate::service::failure_backoff)), so that whichever replica polls
    /// the feed next waits as long.
    pub fn after_poll(&self, outcome: &PollOutcome, now: DateTime<Utc>, interval: Duration) -> Self {
        let mut s = self.clone();
        match outcome {
            PollOutcome::Ok { published } => {
                s.last_success = Some(now);
                s.error_streak = 0;
                s.items_published = s.items_published.saturating_add(*published);
                if *published > 0 {
                    s.last_published_at = Some(now);
                }
            }
            PollOutcome::Failed { error } => {
                s.error_streak = s.error_streak.saturating_add(1);
                s.last_error = Some(error.chars().take(500).collect());
                s.last_error_at = Some(now);
                let wait = crate::service::failure_backoff(interval, s.error_streak);
                s.next_poll = Some(now + chrono_duration(wait));
            }
        }
        s
    }

    fn decode(bytes: &[u8]) -> Self {
        // A status that does not decode is a status never written: the feed is due, which at
        // worst polls it once more.
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A feed's state for the `newswire_fetcher_feeds{state}` gauge and `feeds ls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedState {
    /// Polled, or waiting for its first poll; its last poll succeeded.
    Ok,
    /// Its last poll failed.
    Failing,
    /// Polls succeed but it has published nothing for `quiet_after` (or since it was added
    /// that long ago).
    Quiet,
    /// Paused.
    Paused,
}

impl FeedState {
    /// Every state, in the order of the gauge's labels.
    pub const ALL: [FeedState; 4] = [FeedState::Ok, FeedState::Failing, FeedState::Quiet, FeedState::Paused];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Ok => "ok",
            FeedState::Failing => "failing",
            FeedState::Quiet => "quiet",
            FeedState::Paused => "paused",
        }
    }

    /// The state of `feed` given its status at `now`.
    pub fn of(
        feed: &RegisteredFeed,
        status: Option<&FeedStatus>,
        now: DateTime<Utc>,
        quiet_after: Duration,
    ) -> Self {
        if feed.paused {
            return FeedState::Paused;
        }
        let Some(s) = status else { return FeedState::Ok };
        if s.error_streak > 0 {
            return FeedState::Failing;
        }
        let since = s.last_published_at.unwrap_or(feed.added_at);
        if s.last_success.is_some() && now - since > chrono_duration(quiet_after) {
            FeedState::Quiet
        } else {
            FeedState::Ok
        }
    }
}

/// The result of [`FeedRegistry::claim`].
#[derive(Debug, Clone)]
pub(crate) enum Claim {
    /// This replica polls the feed now; write the outcome over `revision`.
    Won { revision: u64, status: FeedStatus },
    /// Not due (someone polled it this interval, or it is backing off) until then.
    NotDue(DateTime<Utc>),
}

/// The feed registry (see the module documentation). Cheap to clone.
///
/// ```no_run
/// # async fn f(bus: &newswire_bus::Bus) -> Result<(), newswire_fetch::registry::RegistryError> {
/// use newswire_fetch::FetcherSettings;
/// use newswire_fetch::registry::{FeedRegistry, NewFeed};
/// let registry = FeedRegistry::open(bus, &FetcherSettings::default()).await?;
/// let spec = registry.validate(&NewFeed {
///     id: "bbc-ar".into(),
///     url: "https://feeds.bbci.co.uk/arabic/rss.xml".into(),
///     ..NewFeed::default()
/// })?;
/// registry.add(spec, None).await?;
/// registry.set_paused("bbc-ar", true).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FeedRegistry {
    feeds: KvBucket,
    status: KvBucket,
    guard: NetGuard,
    default_interval: Duration,
}

impl FeedRegistry {
    /// Opens the registry's buckets on `bus`, creating them if missing. `settings` gives the
    /// rules values are checked against: the SSRF guard (`allow_private_networks`,
    /// `allow_file_urls`) and `default_poll_interval_secs`.
    pub async fn open(bus: &Bus, settings: &FetcherSettings) -> Result<Self, RegistryError> {
        let guard = NetGuard {
            allow_private: settings.allow_private_networks,
            allow_files: settings.allow_file_urls,
        };
        let default_interval = Duration::from_secs(settings.default_poll_interval_secs.max(1));
        Self::open_with(bus, guard, default_interval).await
    }

    /// [`open`](Self::open) with the rules given directly.
    pub async fn open_with(
        bus: &Bus,
        guard: NetGuard,
        default_interval: Duration,
    ) -> Result<Self, RegistryError> {
        let feeds = bus.kv_bucket(KvBucketName::Feeds, None).await?;
        let status = bus.kv_bucket(KvBucketName::FeedStatus, None).await?;
        Ok(Self { feeds, status, guard, default_interval })
    }

    /// The SSRF guard values are checked against.
    pub fn guard(&self) -> NetGuard {
        self.guard
    }

    /// Validates a request with the feeds file's rules and this registry's guard.
    pub fn validate(&self, feed: &NewFeed) -> Result<FeedSpec, RegistryError> {
        let fields = FeedFields {
            id: &feed.id,
            url: &feed.url,
            poll_interval_secs: feed.poll_interval_secs,
            language: feed.language.as_deref(),
            category: feed.category.as_deref(),
            full_text: feed.full_text.unwrap_or_default(),
        };
        let spec = FeedSpec::validate(&fields, &self.guard, self.default_interval)
            .map_err(|(field, reason)| RegistryError::Invalid { id: feed.id.clone(), field, reason })?;
        if spec.url == FeedUrl::Stdin {
            return Err(RegistryError::Invalid {
                id: feed.id.clone(),
                field: "url",
                reason: "standard input cannot be a registered feed".into(),
            });
        }
        Ok(spec)
    }

    /// Re-checks a spec built elsewhere (perhaps under a laxer guard) against this registry's.
    fn recheck(&self, spec: &FeedSpec) -> Result<String, RegistryError> {
        let url = stored_url(&spec.id, &spec.url)?;
        self.guard.parse(&url).map_err(|e| RegistryError::Invalid {
            id: spec.id.to_string(),
            field: "url",
            reason: e.to_string(),
        })?;
        if spec.poll_interval.is_zero() {
            return Err(RegistryError::Invalid {
                id: spec.id.to_string(),
                field: "poll_interval_secs",
                reason: "must be at least 1".into(),
            });
        }
        Ok(url)
    }

    /// Decodes and validates a stored value.
    fn decode(&self, key: &str, bytes: &[u8], revision: u64) -> Result<Option<RegisteredFeed>, RejectedFeed> {
        let stored: StoredFeed = serde_json::from_slice(bytes).map_err(|e| RejectedFeed {
            id: key.to_owned(),
            url: String::new(),
            reason: format!("registry value of {key} does not decode: {e}"),
        })?;
        if stored.removed_at.is_some() {
            return Ok(None);
        }
        let fields = FeedFields {
            id: key,
            url: &stored.url,
            poll_interval_secs: Some(stored.poll_interval_secs),
            language: stored.language.as_deref(),
            category: Some(&stored.category),
            full_text: stored.full_text,
        };
        let spec =
            FeedSpec::validate(&fields, &self.guard, self.default_interval).map_err(|(field, msg)| {
                RejectedFeed {
                    id: key.to_owned(),
                    url: stored.url.clone(),
                    reason: format!("registry feed {key} `{field}`: {msg}"),
                }
            })?;
        Ok(Some(RegisteredFeed {
            spec,
            paused: stored.paused,
            added_at: stored.added_at,
            updated_at: stored.updated_at,
            title: stored.title,
            revision,
        }))
    }

    fn read_stored(&self, id: &str, bytes: &[u8]) -> Result<StoredFeed, RegistryError> {
        serde_json::from_slice(bytes).map_err(|e| RegistryError::Invalid {
            id: id.to_owned(),
            field: "value",
            reason: format!("stored value does not decode: {e}"),
        })
    }

    /// Every feed, by id (removed ones left out).
    pub async fn list(&self) -> Result<RegistryListing, RegistryError> {
        let mut listing = RegistryListing::default();
        let mut entries = self.feeds.entries().await?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value, revision) in entries {
            match self.decode(&key, &value, revision) {
                Ok(Some(feed)) => listing.feeds.push(feed),
                Ok(None) => {}
                Err(rejected) => listing.rejected.push(rejected),
            }
        }
        Ok(listing)
    }

    /// One feed; `None` if it was never added or was removed. A stored value that does not
    /// validate is an [`Invalid`](RegistryError::Invalid) error.
    pub async fn get(&self, id: &str) -> Result<Option<RegisteredFeed>, RegistryError> {
        let Ok(source) = SourceId::parse(id) else { return Ok(None) };
        let Some((value, revision)) = self.feeds.get(source.as_str()).await? else { return Ok(None) };
        self.decode(id, &value, revision).map_err(|r| RegistryError::Invalid {
            id: id.to_owned(),
            field: "value",
            reason: r.reason,
        })
    }

    /// Adds a feed (validated again against this registry's guard), with an optional title
    /// for the OPML export. An id the registry holds is [`Duplicate`](RegistryError::Duplicate);
    /// a removed id is added afresh.
    pub async fn add(&self, spec: FeedSpec, title: Option<String>) -> Result<RegisteredFeed, RegistryError> {
        self.recheck(&spec)?;
        let key = spec.id.as_str().to_owned();
        for _ in 0..CAS_ATTEMPTS {
            let stored = StoredFeed::new(&spec, title.clone(), Utc::now())?;
            let written = match self.feeds.get(&key).await? {
                None => self.feeds.create(&key, stored.encode()).await?,
                Some((value, revision)) => match self.read_stored(&key, &value) {
                    Ok(old) if old.removed_at.is_none() => {
                        return Err(RegistryError::Duplicate { id: spec.id.clone() });
                    }
                    // A tombstone, or garbage: replaced.
                    _ => self.feeds.update(&key, stored.encode(), revision).await?,
                },
            };
            if let Some(revision) = written {
                return Ok(self.registered(spec, stored, revision));
            }
        }
        Err(RegistryError::Conflict { id: spec.id })
    }

    /// Validates and adds a request (see [`validate`](Self::validate) and [`add`](Self::add)).
    pub async fn add_new(&self, feed: &NewFeed) -> Result<RegisteredFeed, RegistryError> {
        let spec = self.validate(feed)?;
        self.add(spec, feed.title.clone()).await
    }

    fn registered(&self, spec: FeedSpec, stored: StoredFeed, revision: u64) -> RegisteredFeed {
        RegisteredFeed {
            spec,
            paused: stored.paused,
            added_at: stored.added_at,
            updated_at: stored.updated_at,
            title: stored.title,
            revision,
        }
    }

    /// Changes a feed with compare-and-set, retried on a concurrent write: `change` edits the
    /// stored value. [`NotFound`](RegistryError::NotFound) if it is missing or removed.
    async fn modify(
        &self,
        id: &str,
        mut change: impl FnMut(&mut StoredFeed) -> Result<(), RegistryError>,
    ) -> Result<(StoredFeed, u64), RegistryError> {
        let source = SourceId::parse(id).map_err(|_| RegistryError::NotFound { id: id.to_owned() })?;
        for _ in 0..CAS_ATTEMPTS {
            let Some((value, revision)) = self.feeds.get(source.as_str()).await? else {
                return Err(RegistryError::NotFound { id: id.to_owned() });
            };
            let mut stored = self.read_stored(id, &value)?;
            if stored.removed_at.is_some() {
                return Err(RegistryError::NotFound { id: id.to_owned() });
            }
            change(&mut stored)?;
            stored.updated_at = Utc::now();
            if let Some(r) = self.feeds.update(source.as_str(), stored.encode(), revision).await? {
                return Ok((stored, r));
            }
        }
        Err(RegistryError::Conflict { id: source })
    }

    /// Replaces a feed's spec (URL, interval, language, category, full text), keeping whether
    /// it is paused and when it was added. Pollers pick the change up from the watch.
    pub async fn update(&self, spec: FeedSpec) -> Result<RegisteredFeed, RegistryError> {
        let url = self.recheck(&spec)?;
        let (stored, revision) = self
            .modify(spec.id.as_str(), |s| {
                s.url = url.clone();
                s.poll_interval_secs = spec.poll_interval.as_secs().max(1);
                s.language = spec.language.as_ref().map(|l| l.to_string());
                s.category = spec.category.to_string();
                s.full_text = spec.full_text;
                Ok(())
            })
            .await?;
        Ok(self.registered(spec, stored, revision))
    }

    /// Pauses (`true`) or resumes a feed. Setting the state it has is not an error.
    pub async fn set_paused(&self, id: &str, paused: bool) -> Result<RegisteredFeed, RegistryError> {
        let (_, revision) = self
            .modify(id, |s| {
                s.paused = paused;
                Ok(())
            })
            .await?;
        self.get(id)
            .await?
            .filter(|f| f.revision >= revision)
            .ok_or(RegistryError::NotFound { id: id.to_owned() })
    }

    /// Removes a feed (a tombstone, so that the feeds file does not add it back) and its
    /// status. Its poller stops within seconds.
    pub async fn remove(&self, id: &str) -> Result<(), RegistryError> {
        self.modify(id, |s| {
            s.removed_at = Some(Utc::now());
            Ok(())
        })
        .await?;
        self.status.delete(id).await?;
        Ok(())
    }

    /// Adds the file's feeds whose ids the registry has never held (see "Precedence" in the
    /// module documentation): existing feeds are left as they are, removed ones stay removed.
    pub async fn seed_from(&self, list: &FeedList) -> Result<SeedReport, RegistryError> {
        self.merge(list, false).await
    }

    /// Adds the list's feeds that the registry does not hold now, removed ones included (an
    /// explicit `feeds import`).
    pub async fn import(&self, list: &FeedList) -> Result<SeedReport, RegistryError> {
        self.merge(list, true).await
    }

    async fn merge(&self, list: &FeedList, revive: bool) -> Result<SeedReport, RegistryError> {
        let mut report = SeedReport::default();
        for spec in &list.feeds {
            let key = spec.id.as_str();
            let current = self.feeds.get(key).await?;
            let removed = match &current {
                None => false,
                Some((value, _)) => match self.read_stored(key, value) {
                    Ok(s) if s.removed_at.is_some() => true,
                    Ok(_) => {
                        report.existing.push(spec.id.clone());
                        continue;
                    }
                    // Garbage under the key: replaced, as a removed feed would be.
                    Err(_) => true,
                },
            };
            if removed && !revive {
                report.removed_before.push(spec.id.clone());
                continue;
            }
            match self.add(spec.clone(), None).await {
                Ok(_) => report.added.push(spec.id.clone()),
                // Added by someone else in between (another replica seeding the same file).
                Err(RegistryError::Duplicate { .. }) => report.existing.push(spec.id.clone()),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// The changes made from now on (see [`KvBucket::watch`]). To follow the registry without
    /// missing a change, open the watch *first*, then [`list`](Self::list), and skip changes
    /// whose [`revision`](RegistryChange::revision) is not newer than the listed feed's.
    pub async fn watch(
        &self,
    ) -> Result<BoxStream<'static, Result<RegistryChange, RegistryError>>, RegistryError> {
        let this = self.clone();
        let changes = self.feeds.watch().await?;
        Ok(changes
            .map(move |change| {
                let change = change?;
                Ok(match change.value {
                    None => RegistryChange::Removed { id: change.key, revision: change.revision },
                    Some(value) => match this.decode(&change.key, &value, change.revision) {
                        Ok(Some(feed)) => RegistryChange::Upserted(feed),
                        Ok(None) => RegistryChange::Removed { id: change.key, revision: change.revision },
                        Err(feed) => RegistryChange::Rejected { feed, revision: change.revision },
                    },
                })
            })
            .boxed())
    }

    /// One feed's poll status; `None` if it was never polled.
    pub async fn status(&self, id: &str) -> Result<Option<FeedStatus>, RegistryError> {
        let Ok(source) = SourceId::parse(id) else { return Ok(None) };
        Ok(self.status.get(source.as_str()).await?.map(|(v, _)| FeedStatus::decode(&v)))
    }

    /// Every feed's poll status, by id (feeds never polled have none).
    pub async fn statuses(&self) -> Result<BTreeMap<String, FeedStatus>, RegistryError> {
        Ok(self.status.entries().await?.into_iter().map(|(k, v, _)| (k, FeedStatus::decode(&v))).collect())
    }

    /// The registry as an OPML 2.0 document (see [`render_opml`]).
    pub async fn export_opml(&self) -> Result<String, RegistryError> {
        Ok(render_opml(&self.list().await?.feeds, Utc::now()))
    }

    /// Claims the next poll of `id` for `replica` (compare-and-set on its status): `Won` if it
    /// is due and no other replica claimed it first.
    pub(crate) async fn claim(
        &self,
        id: &SourceId,
        interval: Duration,
        replica: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, RegistryError> {
        let key = id.as_str();
        let (status, revision) = match self.status.get(key).await? {
            Some((value, revision)) => (FeedStatus::decode(&value), Some(revision)),
            None => (FeedStatus::default(), None),
        };
        if !status.is_due(now) {
            return Ok(Claim::NotDue(status.next_poll.unwrap_or(now)));
        }
        let claimed = status.claimed(replica, now, interval);
        let written = match revision {
            Some(r) => self.status.update(key, claimed.encode(), r).await?,
            None => self.status.create(key, claimed.encode()).await?,
        };
        match written {
            Some(revision) => Ok(Claim::Won { revision, status: claimed }),
            None => {
                // Another replica wrote first: it polls this round. Its claim says when the
                // next is due; a second later if it cannot be read.
                let retry = now + chrono::Duration::seconds(1);
                let next = match self.status.get(key).await? {
                    Some((value, _)) => FeedStatus::decode(&value).next_poll.map_or(retry, |n| n.max(retry)),
                    None => retry,
                };
                Ok(Claim::NotDue(next))
            }
        }
    }

    /// Writes the outcome of a poll claimed at `revision`. If the status changed meanwhile
    /// (another replica claimed the next round during a long poll), the outcome is applied on
    /// top of the newer status; if it was deleted (the feed was removed), nothing is written.
    /// Returns the status written.
    pub(crate) async fn record(
        &self,
        id: &SourceId,
        claimed: FeedStatus,
        mut revision: u64,
        outcome: &PollOutcome,
        interval: Duration,
    ) -> Result<Option<FeedStatus>, RegistryError> {
        let key = id.as_str();
        let mut base = claimed;
        for _ in 0..CAS_ATTEMPTS {
            let next = base.after_poll(outcome, Utc::now(), interval);
            if self.status.update(key, next.encode(), revision).await?.is_some() {
                return Ok(Some(next));
            }
            match self.status.get(key).await? {
                Some((value, r)) => {
                    base = FeedStatus::decode(&value);
                    revision = r;
                }
                None => return Ok(None),
            }
        }
        Err(RegistryError::Conflict { id: id.clone() })
    }
}

/// The feeds as an OPML 2.0 subscription list: one `<outline type="rss">` per feed with
/// `text`/`title` (the title, else the id), `xmlUrl`, the standard `language` and `category`,
/// and newswire's own `newswire:id`, `newswire:pollIntervalSecs` and `newswire:paused`, so that
/// [`import_feeds`](crate::import_feeds) gives back the same ids, languages, categories and
/// intervals. Only `http(s)` feeds are exported (a local file means nothing elsewhere).
pub fn render_opml(feeds: &[RegisteredFeed], now: DateTime<Utc>) -> String {
    let e = xml_escape;
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<opml version=\"2.0\" xmlns:newswire=\"{OPML_NAMESPACE}\">\n"));
    out.push_str("  <head>\n    <title>newswire feeds</title>\n");
    out.push_str(&format!("    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n", now.to_rfc2822()));
    let mut seen = HashSet::new();
    for f in feeds {
        let FeedUrl::Http(url) = &f.spec.url else { continue };
        if !seen.insert(f.spec.id.clone()) {
            continue;
        }
        let text = f.title.clone().unwrap_or_else(|| f.spec.id.to_string());
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{u}\"",
            t = e(&text),
            u = e(url.as_str())
        ));
        if let Some(l) = &f.spec.language {
            out.push_str(&format!(" language=\"{}\"", e(l.as_str())));
        }
        out.push_str(&format!(
            " category=\"{}\" newswire:id=\"{}\" newswire:pollIntervalSecs=\"{}\"",
            e(f.spec.category.as_str()),
            e(f.spec.id.as_str()),
            f.spec.poll_interval.as_secs()
        ));
        if f.paused {
            out.push_str(" newswire:paused=\"true\"");
        }
        out.push_str("/>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 attributes.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_feeds;

    const GUARD: NetGuard = NetGuard { allow_private: false, allow_files: false };

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn feed(
        id: &str,
        url: &str,
        lang: Option<&str>,
        cat: &str,
        secs: u64,
        title: Option<&str>,
    ) -> RegisteredFeed {
        let fields = FeedFields {
            id,
            url,
            poll_interval_secs: Some(secs),
            language: lang,
            category: Some(cat),
            full_text: FullText::Auto,
        };
        RegisteredFeed {
            spec: FeedSpec::validate(&fields, &GUARD, Duration::from_secs(300)).unwrap(),
            paused: false,
            added_at: t("2025-01-01T00:00:00Z"),
            updated_at: t("2025-01-01T00:00:00Z"),
            title: title.map(str::to_owned),
            revision: 1,
        }
    }

    #[test]
    fn opml_export_round_trips_through_the_import() {
        let feeds = vec![
            feed(
                "aljazeera-ar",
                "https://www.aljazeera.net/rss?a=1&b=2",
                Some("ar"),
                "world",
                120,
                Some("الجزيرة \"live\""),
            ),
            feed("bbc_world", "https://feeds.bbci.co.uk/news/world/rss.xml", None, "general", 300, None),
        ];
        let opml = render_opml(&feeds, t("2025-01-02T00:00:00Z"));
        let imported = import_feeds(&opml, &FeedList::default(), &GUARD).unwrap();
        type Row<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<u64>, Option<&'a str>);
        let got: Vec<Row<'_>> = imported
            .iter()
            .map(|f| {
                (
                    f.id.as_str(),
                    f.url.as_str(),
                    f.language.as_deref(),
                    f.category.as_deref(),
                    f.poll_interval_secs,
                    f.title.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "aljazeera-ar",
                    "https://www.aljazeera.net/rss?a=1&b=2",
                    Some("ar"),
                    Some("world"),
                    Some(120),
                    Some("الجزيرة \"live\"")
                ),
                (
                    "bbc_world",
                    "https://feeds.bbci.co.uk/news/world/rss.xml",
                    None,
                    Some("general"),
                    Some(300),
                    Some("bbc_world")
                ),
            ]
        );
    }

    #[test]
    fn a_claim_holds_for_the_interval_and_a_failure_pushes_the_next_poll_back() {
        let now = t("2025-01-01T00:00:00Z");
        let fresh = FeedStatus::default();
        assert!(fresh.is_due(now));
        let claimed = fresh.claimed("a", now, Duration::from_secs(60));
        assert!(!claimed.is_due(now + chrono::Duration::seconds(59)));
        assert!(claimed.is_due(now + chrono::Duration::seconds(60)));
        let ok = claimed.after_poll(&PollOutcome::Ok { published: 3 }, now, Duration::from_secs(60));
        assert_eq!((ok.items_published, ok.error_streak, ok.next_poll), (3, 0, claimed.next_poll));
        let failed =
            ok.after_poll(&PollOutcome::Failed { error: "HTTP 500".into() }, now, Duration::from_secs(60));
        let failed = failed.after_poll(
            &PollOutcome::Failed { error: "HTTP 500".into() },
            now,
            Duration::from_secs(60),
        );
        assert_eq!(failed.error_streak, 2);
        assert_eq!(failed.next_poll, Some(now + chrono::Duration::seconds(240)));
        assert_eq!(failed.items_published, 3);
    }

    #[test]
    fn states_follow_pause_errors_and_silence() {
        let f = feed("a", "https://a.example/rss", None, "general", 60, None);
        let now = t("2025-01-10T00:00:00Z");
        let day = Duration::from_secs(86_400);
        assert_eq!(FeedState::of(&f, None, now, day), FeedState::Ok);
        let mut s =
            FeedStatus { last_success: Some(now), last_published_at: Some(now), ..FeedStatus::default() };
        assert_eq!(FeedState::of(&f, Some(&s), now, day), FeedState::Ok);
        s.last_published_at = Some(t("2025-01-08T00:00:00Z"));
        assert_eq!(FeedState::of(&f, Some(&s), now, day), FeedState::Quiet);
        s.error_streak = 1;
        assert_eq!(FeedState::of(&f, Some(&s), now, day), FeedState::Failing);
        let paused = RegisteredFeed { paused: true, ..f };
        assert_eq!(FeedState::of(&paused, Some(&s), now, day), FeedState::Paused);
    }

    #[test]
    fn stored_values_ignore_unknown_fields_and_tombstones_hide_the_feed() {
        let json = br#"{"url":"https://a.example/rss","poll_interval_secs":60,"category":"world","added_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z","future":1}"#;
        let s: StoredFeed = serde_json::from_slice(json).unwrap();
        assert_eq!((s.paused, s.full_text, s.removed_at), (false, FullText::Auto, None));
    }
}
