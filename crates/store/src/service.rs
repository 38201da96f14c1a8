//! The sink's async shell: consume articles in batches, commit, publish the story events the
//! batch made due, then ack.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use newswire_bus::{Bus, ConsumerRole, Delivery, PendingPublish, decode_batch};
use newswire_model::{Article, SCHEMA_VERSION, StoryEvent, StoryEventKind};
use newswire_telemetry::Health;
use newswire_telemetry::metrics::{SearchIndexMetrics, SinkMetrics, StoryEventMetrics};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    ArticleQueries, ArticleStore, PgStore, SinkError, SinkSettings, Store, StoreError, StoreErrorKind,
    StoryChange, StoryChangeKind, UpsertResult,
};

/// First wait after the store was found unavailable; doubled after each failed retry.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest wait between two retries while the store is unavailable.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// Story changes read from the outbox at once.
const STORY_PAGE: u32 = 256;
/// Longest the start-up drain of the story outbox may take; what is left goes out after the
/// next batches.
const STORY_DRAIN_AT_START: Duration = Duration::from_secs(30);
/// How often `newswire_sink_newest_article_age_seconds` is recomputed between commits, so that
/// it grows while nothing arrives.
const FRESHNESS_REFRESH: Duration = Duration::from_secs(5);
/// Rows one search indexing pass builds terms for (one transaction).
const INDEX_PASS_ROWS: u32 = 512;
/// How often an idle search indexer looks at the queue without being woken by a commit (rows
/// another sink replica stored, or rows it skipped because a replica held them).
const INDEX_IDLE_POLL: Duration = Duration::from_secs(1);

/// Consumes articles until `shutdown`, storing each batch in one transaction.
///
/// Acks are sent only after the commit: a crash before it means redelivery, and the upsert
/// makes a redelivered article a no-op (`unchanged`), so each article is stored exactly once.
/// Undecodable messages are dead-lettered at once (reason `decode`). What happens when the
/// upsert fails depends on the error's [`StoreErrorKind`]:
///
/// - `Rejected` (the database refused some row): the batch is bisected, recursively, so that
///   every good article is stored and acked and each rejected one is isolated and
///   dead-lettered (reason `invalid`) with the database's message. Halving ends at single
///   articles, so an article takes part in at most ⌈log2 n⌉ + 1 upserts.
/// - `Unavailable` (the store is down, full or busy): nothing is acked, nacked or
///   dead-lettered. The sink stops pulling, keeps the batch's messages in progress (`+WPI`, so
///   the server neither redelivers them nor counts deliveries) and retries the same batch
///   after 0.5 s, 1 s, 2 s … up to 30 s, with `/readyz` not ready and
///   `newswire_sink_store_unavailable` at 1 until a retry succeeds. `shutdown` ends the wait
///   at once; the messages are then redelivered after `ack_wait`.
/// - `Transient` (unclassified): the batch is nacked with back-off; a message on its last
///   delivery is dead-lettered (reason `store`), so nothing is silently lost.
/// - `Fatal` (configuration): the batch is nacked and the sink stops with
///   [`SinkError::Store`].
///
/// Story events: the upsert writes the story changes it causes to an outbox in the same
/// transaction; after each commit, before the acks, the due events are published (see
/// [`publish_story_events`]), and the outbox is drained once at start for what a crash left.
/// A failed publish leaves its event in the outbox for the next batch: it never holds back or
/// loses articles.
///
/// Freshness: each commit records its articles' `fetched_at` (see
/// `newswire_telemetry::metrics::Freshness`), and the newest article's age is recomputed every
/// 5 s between commits.
///
/// Search: on PostgreSQL, [`index_search`] runs alongside for as long as this does, woken by
/// each commit. It indexes what a deferred store queued (and, with inline indexing, whatever
/// an earlier deferred run left).
pub async fn run(
    bus: Bus,
    store: Store,
    settings: &SinkSettings,
    metrics: SinkMetrics,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), SinkError> {
    let mut consumer = bus.consumer(ConsumerRole::Sink).await?;
    // The freshness gauge ages between commits; the task ends with this function.
    let refresh = shutdown.child_token();
    let _stop_refresh = refresh.clone().drop_guard();
    tokio::spawn(metrics.freshness.clone().refresh_every(FRESHNESS_REFRESH, refresh));
    let committed = Arc::new(Notify::new());
    let indexer = shutdown.child_token();
    let _stop_indexer = indexer.clone().drop_guard();
    if let Store::Postgres(pg) = &store {
        tokio::spawn(index_search(pg.clone(), metrics.search_index.clone(), committed.clone(), indexer));
    }
    // Progress is reported well within ack_wait, so that a message is never redelivered while
    // the sink is still working on it (a slow commit or a store outage).
    let keepalive = (Duration::from_secs(bus.settings().ack_wait_secs) / 3).max(Duration::from_millis(100));
    publish_due(&bus, &store, &metrics.story_events, STORY_DRAIN_AT_START).await;
    let sink = Sink { store: &store, bus: &bus, metrics: &metrics, keepalive, committed: &committed };
    while let Some(batch) = consumer.next_batch(settings.batch_size, settings.batch_linger(), &shutdown).await
    {
        metrics.stage.items_in.inc_by(batch.len() as u64);
        let decoded = decode_batch::<Article>(batch, "article", |dead_lettered| {
            metrics.stage.failed("decode");
            if dead_lettered {
                metrics.dead_lettered.inc();
            }
        })
        .await;
        if decoded.is_empty() {
            continue;
        }
        let (deliveries, articles): (Vec<Delivery>, Vec<Article>) = decoded.into_iter().unzip();
        let mut pending = VecDeque::from([Chunk { deliveries, articles }]);
        let mut delay = FIRST_RETRY;
        let mut down_since: Option<Instant> = None;
        loop {
            // While the store is down, shutdown may interrupt an attempt (it rolls back; the
            // messages are redelivered); otherwise a commit in flight is let finish.
            let cancel = down_since.is_some().then_some(&shutdown);
            let Some(outcome) = sink.store_isolating(&mut pending, cancel).await else {
                return Ok(());
            };
            match outcome {
                Ok(()) => {
                    if let Some(since) = down_since {
                        tracing::info!(
                            message = "Store is back; batch stored.",
                            down_for_secs = since.elapsed().as_secs()
                        );
                        metrics.store_unavailable.set(0);
                    }
                    health.set_ready();
                    break;
                }
                Err(e) if e.kind() == StoreErrorKind::Unavailable => {
                    down_since.get_or_insert_with(Instant::now);
                    health.set_not_ready(format!("store unavailable: {e}"));
                    metrics.store_unavailable.set(1);
                    metrics.store_retries.inc();
                    let articles: usize = pending.iter().map(|c| c.articles.len()).sum();
                    tracing::warn!(message = "Store unavailable; holding the batch and retrying.", error = %e, articles, retry_in_ms = delay.as_millis() as u64);
                    if !sink.hold(&pending, delay, &shutdown).await {
                        return Ok(());
                    }
                    delay = (delay * 2).min(MAX_RETRY);
                }
                Err(e) if e.kind() == StoreErrorKind::Fatal => {
                    health.set_not_ready(format!("store: {e}"));
                    tracing::error!(message = "Store is misconfigured; stopping the sink.", error = %e);
                    for d in pending.iter().flat_map(|c| &c.deliveries) {
                        let _ = d.nak(Duration::from_secs(5)).await;
                    }
                    return Err(SinkError::Store(e));
                }
                Err(e) => {
                    health.set_not_ready(format!("store: {e}"));
                    tracing::warn!(message = "Storing batch failed; will retry.", error = %e);
                    for d in pending.iter().flat_map(|c| &c.deliveries) {
                        if d.is_last_attempt() {
                            metrics.stage.failed("store");
                            if d.dead_letter("store", &e.to_string()).await {
                                metrics.dead_lettered.inc();
                            }
                        } else {
                            d.retry_later().await;
                        }
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Articles and their messages, in the same order.
struct Chunk {
    deliveries: Vec<Delivery>,
    articles: Vec<Article>,
}

struct Sink<'a> {
    store: &'a Store,
    bus: &'a Bus,
    metrics: &'a SinkMetrics,
    keepalive: Duration,
    /// Wakes the search indexer.
    committed: &'a Notify,
}

impl Sink<'_> {
    /// Stores the chunks of `pending` in order, acking each chunk after its commit. A chunk
    /// the database rejects is halved (both halves go back to the front, in order, so that
    /// repeated ids are still upserted in input order); a single rejected article is
    /// dead-lettered. Returns `Ok` when all is done, or the first error of another kind, with
    /// the chunks not stored left in `pending`; `None` if `cancel` fired.
    async fn store_isolating(
        &self,
        pending: &mut VecDeque<Chunk>,
        cancel: Option<&CancellationToken>,
    ) -> Option<Result<(), StoreError>> {
        while let Some(chunk) = pending.pop_front() {
            let started = Instant::now();
            let attempt = self.store.upsert(&chunk.articles);
            let others = pending.iter().flat_map(|c| &c.deliveries);
            let result =
                keep_alive(attempt, chunk.deliveries.iter().chain(others), self.keepalive, cancel).await?;
            match result {
                Ok(results) => {
                    self.stored(&chunk, &results, started);
                    self.committed.notify_one();
                    // Within a third of ack_wait, so that the batch's messages are not
                    // redelivered meanwhile; what is left goes out after the next batch.
                    if results.iter().any(|r| *r != UpsertResult::Unchanged) {
                        publish_due(self.bus, self.store, &self.metrics.story_events, self.keepalive).await;
                    }
                    for d in &chunk.deliveries {
                        if let Err(error) = d.ack().await {
                            // Stored already; the redelivery will be `unchanged`.
                            tracing::warn!(message = "Ack failed after commit.", %error);
                        }
                    }
                }
                Err(e) if e.kind() == StoreErrorKind::Rejected && chunk.articles.len() > 1 => {
                    let Chunk { mut deliveries, mut articles } = chunk;
                    let half = articles.len() / 2;
                    let second =
                        Chunk { deliveries: deliveries.split_off(half), articles: articles.split_off(half) };
                    tracing::info!(message = "Batch rejected by the store; bisecting.", articles = articles.len() + second.articles.len(), error = %e);
                    pending.push_front(second);
                    pending.push_front(Chunk { deliveries, articles });
                }
                Err(e) if e.kind() == StoreErrorKind::Rejected => {
                    for (d, a) in chunk.deliveries.iter().zip(&chunk.articles) {
                        let reason = e.db_message();
                        tracing::error!(message = "Article rejected by the store; dead-lettering.", id = %a.id, subject = d.subject(), error = %reason);
                        self.metrics.stage.failed("invalid");
                        if d.dead_letter("invalid", &reason).await {
                            self.metrics.dead_lettered.inc();
                        }
                    }
                }
                Err(e) => {
                    pending.push_front(chunk);
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(()))
    }

    fn stored(&self, chunk: &Chunk, results: &[UpsertResult], started: Instant) {
        self.metrics.write_duration.observe(started.elapsed().as_secs_f64());
        self.metrics.last_batch_size.set(chunk.articles.len() as i64);
        for (a, r) in chunk.articles.iter().zip(results) {
            self.metrics.freshness.committed(a.fetched_at.timestamp_millis(), *r != UpsertResult::Unchanged);
        }
        for r in results {
            self.metrics.stored.with_label_values(&[r.as_str()]).inc();
            match r {
                UpsertResult::Unchanged => self.metrics.stage.dropped("unchanged"),
                _ => self.metrics.stage.items_out.inc(),
            }
        }
        tracing::debug!(message = "Batch stored.", articles = chunk.articles.len());
    }

    /// Waits `delay` while keeping every pending message in progress; `false` if `shutdown`
    /// came first.
    async fn hold(&self, pending: &VecDeque<Chunk>, delay: Duration, shutdown: &CancellationToken) -> bool {
        let deliveries = || pending.iter().flat_map(|c| &c.deliveries);
        keep_alive(tokio::time::sleep(delay), deliveries(), self.keepalive, Some(shutdown)).await.is_some()
    }
}

/// Indexes `store`'s search queue (rows a deferred upsert stored without their terms; see
/// [`PgStore::index_queued`]) until `shutdown`: passes of 512 rows back to back while rows
/// wait, then sleeps until `committed` is notified or a second passes.
/// A failed pass is logged, counted and retried with back-off; its rows stay queued (the
/// pass's transaction rolls back, as it does when `shutdown` interrupts one).
pub async fn index_search(
    store: PgStore,
    metrics: SearchIndexMetrics,
    committed: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut delay = FIRST_RETRY;
    loop {
        let pass = tokio::select! {
            pass = store.index_queued(INDEX_PASS_ROWS) => pass,
            _ = shutdown.cancelled() => return,
        };
        match pass {
            Ok(pass) => {
                delay = FIRST_RETRY;
                metrics.indexed.inc_by(pass.indexed as u64);
                metrics.unindexable.inc_by(pass.unindexable as u64);
                let lag = pass.oldest_queued.map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0));
                metrics.lag.set(lag.unwrap_or(0) as f64 / 1000.0);
                // More is waiting that this indexer could take: go on at once.
                if lag.is_some() && pass.indexed + pass.unindexable > 0 {
                    continue;
                }
                tokio::select! {
                    _ = committed.notified() => {}
                    _ = tokio::time::sleep(INDEX_IDLE_POLL) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            Err(error) => {
                metrics.errors.inc();
                tracing::warn!(message = "Search indexing failed; the rows stay queued.", %error, retry_in_ms = delay.as_millis() as u64);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => return,
                }
                delay = (delay * 2).min(MAX_RETRY);
            }
        }
    }
}

/// Runs `work`, telling the server every `every` that `deliveries` are still in progress.
/// `None` if `cancel` fired first (`work` is dropped).
async fn keep_alive<'d, T>(
    work: impl Future<Output = T>,
    deliveries: impl Iterator<Item = &'d Delivery> + Clone,
    every: Duration,
    cancel: Option<&CancellationToken>,
) -> Option<T> {
    let never = CancellationToken::new();
    let cancel = cancel.unwrap_or(&never);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return None,
            out = &mut work => return Some(out),
            () = tokio::time::sleep(every) => {
                for d in deliveries.clone() {
                    if let Err(error) = d.in_progress().await {
                        // The server redelivers after ack_wait; storing stays idempotent.
                        tracing::debug!(message = "Progress ack failed.", %error);
                    }
                }
            }
        }
    }
}

/// What one round of [`publish_story_events`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoryEventsPublished {
    /// Events the server acknowledged (and marked published in the store).
    pub published: u64,
    /// Publishes that failed (their events stay due).
    pub failed: u64,
    /// Whether due events may be left (a failure, a full last page when time ran out, or the
    /// outbox could not be read or updated).
    pub left: bool,
}

/// [`publish_story_events`] on the configured store, logged.
async fn publish_due(bus: &Bus, store: &Store, metrics: &StoryEventMetrics, budget: Duration) {
    let done = publish_story_events(bus, store, metrics, budget).await;
    if done.published > 0 || done.failed > 0 {
        tracing::debug!(
            message = "Story events published.",
            published = done.published,
            failed = done.failed,
            left = done.left
        );
    }
}

/// Publishes the story events due in `store`'s outbox, oldest first, each with `Nats-Msg-Id`
/// `<story_id>:<version>`, and marks them published; pages of 256, each sent at once and then
/// acked, until the outbox is empty or `budget` is spent. A failed publish ends the round
/// after its page (the server is most likely unreachable): the page's acked events are
/// marked, the rest stays due. A crash between a publish and its marking republishes the
/// event later, which JetStream drops inside its duplicate window and a consumer recognises
/// by its `version` outside it.
pub async fn publish_story_events<Q: ArticleQueries>(
    bus: &Bus,
    store: &Q,
    metrics: &StoryEventMetrics,
    budget: Duration,
) -> StoryEventsPublished {
    let started = Instant::now();
    let mut done = StoryEventsPublished::default();
    loop {
        let changes = match store.pending_story_changes(STORY_PAGE).await {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(message = "Reading the story outbox failed; retrying after the next batch.", %error);
                done.left = true;
                return done;
            }
        };
        let full = changes.len() >= STORY_PAGE as usize;
        // The page is sent at once and its acks awaited after: one round trip per page, not
        // one per event (a drain creates nearly one story per article).
        let (mut events, mut pending) =
            (Vec::with_capacity(changes.len()), Vec::with_capacity(changes.len()));
        let mut failed = false;
        for change in &changes {
            let event = story_event(change);
            match bus.send_story_event(&event).await {
                Ok(p) => {
                    events.push(event);
                    pending.push(p);
                }
                Err(error) => {
                    story_event_failed(metrics, &mut done, &event, &error);
                    failed = true;
                    break;
                }
            }
        }
        // Awaited together: an ack's timeout runs from when it is awaited, so one by one a
        // page would wait 256 timeouts while the server is away.
        let acks = futures_util::future::join_all(pending.into_iter().map(PendingPublish::acked)).await;
        let mut marked = Vec::with_capacity(events.len());
        for (event, ack) in events.into_iter().zip(acks) {
            match ack {
                Ok(_) => {
                    metrics.published.inc();
                    marked.push((event.story_id, event.version));
                }
                // The others of the page may still be acked: each stands alone.
                Err(error) => {
                    story_event_failed(metrics, &mut done, &event, &error);
                    failed = true;
                }
            }
        }
        done.published += marked.len() as u64;
        if let Err(error) = store.mark_story_changes_published(&marked).await {
            // Published but not marked: they go out again, and are dropped as duplicates.
            tracing::warn!(message = "Marking story events published failed; they will be republished.", %error);
            done.left = true;
            return done;
        }
        if failed || !full {
            done.left |= failed;
            return done;
        }
        if started.elapsed() >= budget {
            done.left = true;
            return done;
        }
    }
}

fn story_event_failed(
    metrics: &StoryEventMetrics,
    done: &mut StoryEventsPublished,
    event: &StoryEvent,
    error: &newswire_bus::BusError,
) {
    metrics.failed.inc();
    done.failed += 1;
    tracing::warn!(message = "Publishing a story event failed; it stays due.", %error, story_id = %event.story_id, version = event.version);
}

/// The event of a story change.
pub fn story_event(change: &StoryChange) -> StoryEvent {
    let s = &change.story;
    StoryEvent {
        schema_version: SCHEMA_VERSION,
        story_id: s.id.clone(),
        language: s.language.clone(),
        kind: match change.kind {
            StoryChangeKind::Created => StoryEventKind::Created,
            StoryChangeKind::NewOutlet => StoryEventKind::NewOutlet,
        },
        article_count: s.article_count,
        outlets: s.outlets.clone(),
        first_outlet: s.first_outlet.clone(),
        first_article: s.first_article.clone(),
        first_seen: s.first_seen,
        last_seen: s.last_seen,
        version: change.version,
    }
}
