//! The fetcher in registry mode: follow the feed registry, poll this replica's share.
//!
//! One supervisor loop keeps the registry's current state (a watch for changes within a
//! second, a full re-read every `registry_resync_secs` for anything the watch missed) and the
//! live replica set (heartbeats, every third of the TTL). After every change it *reconciles*:
//! a feed that is active (not paused) and whose rendezvous owner is this replica has a poll
//! task; any other task is stopped (a poll under way is finished first). A feed whose spec
//! changed gets a new task.
//!
//! Each poll task loops: claim the poll in the status bucket (compare-and-set; not due: sleep
//! until the claim's `next_poll`), take the host's and then a global fetch slot (the same
//! per-host and global limits as [`Fetcher::run`]), poll, write the outcome. The claim is what
//! guarantees a feed is polled at most once per interval even while two replicas disagree
//! about who owns it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use newswire_model::SourceId;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::registry::{
    Claim, FeedRegistry, FeedState, FeedStatus, PollOutcome, RegisteredFeed, RegistryChange, RegistryError,
};
use crate::replicas::{Membership, owner, replica_name};
use crate::service::{Fetcher, host_key};
use crate::{FeedSpec, FetcherSettings, Validators};

/// How long a poll task waits before trying again when the status bucket cannot be read.
const CLAIM_RETRY: Duration = Duration::from_secs(5);

/// How a fetcher follows the registry (see [`Fetcher::run_registry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRun {
    /// This replica's name (a valid key: see [`replica_name`]).
    pub replica: String,
    /// Feed fetches at the same time, at most.
    pub max_concurrency: usize,
    /// Of those, to one host at most.
    pub per_host: usize,
    /// Heartbeat TTL: a replica silent this long is dead.
    pub replica_ttl: Duration,
    /// Full re-read of the registry.
    pub resync: Duration,
    /// Successful polls with nothing published this long: `quiet`.
    pub quiet_after: Duration,
}

impl RegistryRun {
    /// From the `[fetcher]` settings.
    pub fn from_settings(s: &FetcherSettings) -> Self {
        Self {
            replica: replica_name(&s.replica_name),
            max_concurrency: s.max_concurrency.max(1),
            per_host: s.max_fetches_per_host.max(1),
            replica_ttl: Duration::from_secs(s.replica_ttl_secs.max(1)),
            resync: Duration::from_secs(s.registry_resync_secs.max(1)),
            quiet_after: Duration::from_secs(s.quiet_after_secs),
        }
    }
}

/// What the supervisor knows of one key of the registry.
#[derive(Debug, Clone)]
struct Known {
    revision: u64,
    /// `None`: removed, or a value that does not validate.
    feed: Option<RegisteredFeed>,
}

/// A running poll task.
struct Running {
    spec: FeedSpec,
    stop: CancellationToken,
}

type Statuses = Arc<Mutex<HashMap<String, FeedStatus>>>;

struct Follower {
    fetcher: Fetcher,
    registry: FeedRegistry,
    opts: RegistryRun,
    known: HashMap<String, Known>,
    live: Vec<String>,
    running: HashMap<SourceId, Running>,
    tasks: tokio::task::JoinSet<()>,
    global: Arc<Semaphore>,
    hosts: HashMap<String, Arc<Semaphore>>,
    statuses: Statuses,
    shutdown: CancellationToken,
}

impl Fetcher {
    /// Follows the feed registry until `shutdown`, polling the feeds this replica owns among
    /// the live replicas (the sharing is described in [`replicas`](crate::replicas)): added feeds start within a second
    /// (or at the next re-read if the watch is broken), removed and paused ones stop, resumed
    /// ones start again, and a dead replica's feeds are taken over within about 1⅓ TTL. NATS
    /// being unavailable is ridden out (polls wait, the state is read again when it is back).
    pub async fn run_registry(self, registry: FeedRegistry, opts: RegistryRun, shutdown: CancellationToken) {
        let me = opts.replica.clone();
        let mut f = Follower {
            global: Arc::new(Semaphore::new(opts.max_concurrency.max(1))),
            fetcher: self,
            registry,
            known: HashMap::new(),
            live: vec![me.clone()],
            running: HashMap::new(),
            tasks: tokio::task::JoinSet::new(),
            hosts: HashMap::new(),
            statuses: Arc::default(),
            shutdown: shutdown.clone(),
            opts,
        };
        let bus = f.fetcher.bus().clone();
        let mut membership = match Membership::join(&bus, &me, f.opts.replica_ttl).await {
            Ok(m) => Some(m),
            Err(error) => {
                tracing::warn!(message = "Cannot join the fetcher replicas; polling as if alone until it works.", %error);
                None
            }
        };
        if let Some(m) = &membership {
            f.refresh_live(m).await;
        }
        // Watch first, then read: a change between the two is seen twice, never missed.
        let mut watch = f.open_watch().await;
        f.resync().await;
        f.reconcile(true);
        tracing::info!(message = "Fetcher following the feed registry.", replica = %me, live = f.live.len(), feeds = f.known.values().filter(|k| k.feed.is_some()).count());

        let mut beat = tokio::time::interval(f.opts.replica_ttl / 3);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut resync = tokio::time::interval(f.opts.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Both fire at once; the state was just read.
        beat.tick().await;
        resync.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                change = next_change(&mut watch) => match change {
                    Some(Ok(change)) => {
                        f.apply(change);
                        f.reconcile(false);
                    }
                    Some(Err(error)) => {
                        tracing::warn!(message = "Registry watch broke; reopening it at the next heartbeat.", %error);
                        watch = None;
                    }
                    None => watch = None,
                },
                _ = beat.tick() => {
                    match &membership {
                        Some(m) => {
                            if let Err(error) = m.beat().await {
                                tracing::warn!(message = "Heartbeat failed.", %error);
                            }
                            f.refresh_live(m).await;
                        }
                        None => {
                            membership = Membership::join(&bus, &me, f.opts.replica_ttl).await.ok();
                        }
                    }
                    if watch.is_none() {
                        watch = f.open_watch().await;
                        if watch.is_some() {
                            f.resync().await;
                        }
                    }
                    f.reconcile(false);
                }
                _ = resync.tick() => {
                    f.resync().await;
                    f.reconcile(false);
                }
                Some(_) = f.tasks.join_next(), if !f.tasks.is_empty() => {}
            }
        }
        for r in f.running.values() {
            r.stop.cancel();
        }
        while f.tasks.join_next().await.is_some() {}
        if let Some(m) = &membership {
            m.leave().await;
        }
    }
}

async fn next_change(
    watch: &mut Option<BoxStream<'static, Result<RegistryChange, RegistryError>>>,
) -> Option<Result<RegistryChange, RegistryError>> {
    match watch.as_mut() {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

impl Follower {
    async fn open_watch(&self) -> Option<BoxStream<'static, Result<RegistryChange, RegistryError>>> {
        match self.registry.watch().await {
            Ok(w) => Some(w),
            Err(error) => {
                tracing::warn!(message = "Cannot watch the feed registry; re-reading it periodically.", %error);
                None
            }
        }
    }

    async fn refresh_live(&mut self, m: &Membership) {
        match m.live().await {
            Ok(live) => {
                if live != self.live {
                    tracing::info!(message = "Fetcher replicas changed.", live = ?live);
                    self.live = live;
                }
            }
            // The last view stands; the claims keep a feed from being polled twice meanwhile.
            Err(error) => tracing::warn!(message = "Cannot read the live replicas.", %error),
        }
    }

    /// Reads the whole registry (and the statuses) again and replaces what is known.
    async fn resync(&mut self) {
        let listing = match self.registry.list().await {
            Ok(l) => l,
            Err(error) => {
                tracing::warn!(message = "Cannot read the feed registry; keeping the feeds known so far.", %error);
                return;
            }
        };
        let mut known = HashMap::with_capacity(listing.feeds.len());
        for f in listing.feeds {
            known.insert(f.spec.id.to_string(), Known { revision: f.revision, feed: Some(f) });
        }
        for r in &listing.rejected {
            if self.known.get(&r.id).is_none_or(|k| k.feed.is_some()) {
                tracing::error!(message = "Registry feed not run: its value is invalid or its URL is refused.", feed_id = %r.id, reason = %r.reason);
            }
            known.insert(r.id.clone(), Known { revision: 0, feed: None });
        }
        // A change the watch delivered after the listing was taken is newer: keep it.
        for (id, k) in &self.known {
            if known.get(id).is_none_or(|n| n.revision < k.revision) && k.revision > 0 {
                known.insert(id.clone(), k.clone());
            }
        }
        self.known = known;
        if let Ok(statuses) = self.registry.statuses().await {
            let mut map = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
            *map = statuses.into_iter().collect();
        }
    }

    fn apply(&mut self, change: RegistryChange) {
        let id = change.id().to_owned();
        let revision = change.revision();
        if self.known.get(&id).is_some_and(|k| k.revision >= revision) {
            return;
        }
        let feed = match change {
            RegistryChange::Upserted(f) => Some(f),
            RegistryChange::Removed { .. } => None,
            RegistryChange::Rejected { feed, .. } => {
                tracing::error!(message = "Registry feed not run: its value is invalid or its URL is refused.", feed_id = %feed.id, reason = %feed.reason);
                None
            }
        };
        self.known.insert(id, Known { revision, feed });
    }

    fn owns(&self, id: &str) -> bool {
        owner(id, &self.live) == Some(self.opts.replica.as_str())
    }

    /// Starts and stops poll tasks to match the registry and the live set; updates the gauge.
    fn reconcile(&mut self, initial: bool) {
        let mut desired: HashMap<SourceId, FeedSpec> = HashMap::new();
        let mut counts: HashMap<FeedState, i64> = HashMap::new();
        let now = Utc::now();
        {
            let statuses = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, k) in &self.known {
                let Some(feed) = &k.feed else { continue };
                if !self.owns(id) {
                    continue;
                }
                *counts
                    .entry(FeedState::of(feed, statuses.get(id), now, self.opts.quiet_after))
                    .or_default() += 1;
                if !feed.paused {
                    desired.insert(feed.spec.id.clone(), feed.spec.clone());
                }
            }
        }
        let counts: Vec<(&str, i64)> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        self.fetcher.metrics.feeds_by_state.set(&counts);

        let stale: Vec<SourceId> = self
            .running
            .iter()
            .filter(|(id, r)| desired.get(*id) != Some(&r.spec))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(r) = self.running.remove(&id) {
                tracing::info!(message = "Feed no longer polled here (removed, paused, changed or moved to another replica).", feed_id = %id);
                r.stop.cancel();
            }
        }
        let mut new: Vec<FeedSpec> =
            desired.into_values().filter(|s| !self.running.contains_key(&s.id)).collect();
        new.sort_by(|a, b| a.id.cmp(&b.id));
        let n = new.len().max(1) as u32;
        for (i, spec) in new.into_iter().enumerate() {
            // At start-up, first polls are spread over up to 10 s so that a restart does not hit
            // every server at once; a feed added or taken over later starts at once.
            let delay = if initial {
                spec.poll_interval.min(Duration::from_secs(10)) / n * i as u32
            } else {
                Duration::ZERO
            };
            self.spawn(spec, delay);
        }
    }

    fn spawn(&mut self, spec: FeedSpec, delay: Duration) {
        let stop = self.shutdown.child_token();
        let host = self
            .hosts
            .entry(host_key(&spec.url))
            .or_insert_with(|| Arc::new(Semaphore::new(self.opts.per_host.max(1))))
            .clone();
        let task = PollTask {
            fetcher: self.fetcher.clone(),
            registry: self.registry.clone(),
            replica: self.opts.replica.clone(),
            spec: spec.clone(),
            host,
            global: self.global.clone(),
            statuses: self.statuses.clone(),
            stop: stop.clone(),
        };
        let span = tracing::info_span!("feed", feed_id = %spec.id);
        tracing::info!(message = "Feed polled here.", feed_id = %spec.id);
        self.running.insert(spec.id.clone(), Running { spec, stop });
        self.tasks.spawn(task.run(delay).instrument(span));
    }
}

/// One feed's poll loop on this replica.
struct PollTask {
    fetcher: Fetcher,
    registry: FeedRegistry,
    replica: String,
    spec: FeedSpec,
    host: Arc<Semaphore>,
    global: Arc<Semaphore>,
    statuses: Statuses,
    stop: CancellationToken,
}

impl PollTask {
    /// Sleeps `d`; `false` if stopped meanwhile.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(d) => true,
        }
    }

    async fn run(self, delay: Duration) {
        // Another replica may have polled this feed since this one last did: its memory in the
        // bucket is newer than any copy cached here.
        self.fetcher.memories.forget(&self.spec.id);
        let mut validators = Validators::default();
        if !self.sleep(delay).await {
            return;
        }
        let interval = self.spec.poll_interval;
        loop {
            let (revision, claimed) =
                match self.registry.claim(&self.spec.id, interval, &self.replica, Utc::now()).await {
                    Ok(Claim::Won { revision, status }) => (revision, status),
                    Ok(Claim::NotDue(at)) => {
                        let wait = (at - Utc::now()).to_std().unwrap_or_default();
                        if !self.sleep(wait.max(Duration::from_millis(10))).await {
                            return;
                        }
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(message = "Cannot claim the feed's poll; trying again.", %error);
                        if !self.sleep(CLAIM_RETRY.min(interval)).await {
                            return;
                        }
                        continue;
                    }
                };
            // The host's share first: a feed waiting for its host holds no global slot.
            let slots = async {
                let host = self.host.acquire().await.ok()?;
                let global = self.global.acquire().await.ok()?;
                Some((host, global))
            };
            let Some(_slots) = (tokio::select! {
                () = self.stop.cancelled() => None,
                s = slots => s,
            }) else {
                return;
            };
            let result = self.fetcher.poll(&self.spec, &mut validators).await;
            let outcome = match &result {
                Ok(s) => PollOutcome::Ok { published: s.published as u64 },
                Err(e) => PollOutcome::Failed { error: e.to_string() },
            };
            match self.registry.record(&self.spec.id, claimed, revision, &outcome, interval).await {
                Ok(Some(status)) => {
                    self.statuses
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(self.spec.id.to_string(), status);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(message = "Cannot record the feed's poll status.", %error),
            }
            match result {
                Ok(s) if s.not_modified => tracing::debug!(message = "Feed not modified."),
                Ok(s) => tracing::info!(
                    message = "Feed polled.",
                    entries = s.entries,
                    seen = s.seen,
                    published = s.published,
                    duplicates = s.duplicates,
                    failed = s.failed,
                    pages = s.pages,
                    deferred = s.deferred
                ),
                Err(error) => tracing::warn!(message = "Feed poll failed.", %error, kind = ?error.kind()),
            }
        }
    }
}
