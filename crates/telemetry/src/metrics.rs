//! Every metric newswire exports. The names are a contract (see `docs/metrics.md`) that the
//! Grafana dashboards and alerts depend on: `newswire_<stage>_<name>_<unit>[_total]`.
//!
//! Label values are bounded: `reason` and `result` take the values listed on each field, never
//! free text or URLs. Work that will be retried is not counted as dropped or failed until it is
//! given up on.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    exponential_buckets,
};
use tokio_util::sync::CancellationToken;

use crate::TelemetryError;

/// The counters every stage has: items in, out, dropped on purpose and failed.
#[derive(Debug, Clone)]
pub struct StageCounters {
    /// `newswire_<stage>_items_in_total`: items the stage received.
    pub items_in: IntCounter,
    /// `newswire_<stage>_items_out_total`: items the stage handed on (published or stored).
    pub items_out: IntCounter,
    /// `newswire_<stage>_items_dropped_total{reason}`: items dropped on purpose, by the stage's
    /// reasons ([`FETCHER_DROP_REASONS`], [`PROCESSOR_DROP_REASONS`], [`SINK_DROP_REASONS`]).
    pub items_dropped: IntCounterVec,
    /// `newswire_<stage>_items_failed_total{reason}`: items given up on, by the stage's reasons
    /// ([`FETCHER_FAIL_REASONS`], [`PROCESSOR_FAIL_REASONS`], [`SINK_FAIL_REASONS`]), each also
    /// dead-lettered where a message exists.
    pub items_failed: IntCounterVec,
}

/// The fetcher's `reason`s of `items_dropped_total`. Each starts at 0.
pub const FETCHER_DROP_REASONS: [&str; 2] = ["seen", "duplicate"];
/// The fetcher's `reason`s of `items_failed_total`: one per failed poll (the error's kind) and
/// `publish`. Each starts at 0.
pub const FETCHER_FAIL_REASONS: [&str; 10] = [
    "refused",
    "timeout",
    "network",
    "status",
    "too_large",
    "io",
    "not_a_feed",
    "malformed",
    "encoding",
    "publish",
];
/// The processor's `reason`s of `items_dropped_total`. Each starts at 0.
pub const PROCESSOR_DROP_REASONS: [&str; 2] = ["duplicate", "empty"];
/// The processor's `reason`s of `items_failed_total`. Each starts at 0.
pub const PROCESSOR_FAIL_REASONS: [&str; 5] = ["decode", "publish", "analysis", "panic", "crash"];
/// The sink's `reason`s of `items_dropped_total`. Each starts at 0.
pub const SINK_DROP_REASONS: [&str; 1] = ["unchanged"];
/// The sink's `reason`s of `items_failed_total`. Each starts at 0.
pub const SINK_FAIL_REASONS: [&str; 3] = ["decode", "invalid", "store"];
/// The `result`s of `newswire_fetcher_polls_total`. Each starts at 0.
pub const POLL_RESULTS: [&str; 4] = ["ok", "not_modified", "fetch_error", "parse_error"];
/// The `result`s of `newswire_sink_articles_stored_total`. Each starts at 0.
pub const STORE_RESULTS: [&str; 3] = ["inserted", "updated", "unchanged"];
/// The `kind`s of `newswire_processor_duplicates_total`. Each starts at 0.
pub const DUPLICATE_KINDS: [&str; 2] = ["exact", "near"];

/// Creates the child of every known label value, so that each series is exported (at 0) from
/// registration on: a dashboard shows 0, not "No data", and `rate()` sees the first event.
fn start_at_zero(vec: &IntCounterVec, values: &[&str]) {
    for v in values {
        vec.with_label_values(&[v]);
    }
}

impl StageCounters {
    fn new(
        stage: &str,
        registry: &Registry,
        drop_reasons: &[&str],
        fail_reasons: &[&str],
    ) -> Result<Self, TelemetryError> {
        let items_in = IntCounter::new(
            format!("newswire_{stage}_items_in_total"),
            format!("Items received by the {stage}."),
        )?;
        let items_out = IntCounter::new(
            format!("newswire_{stage}_items_out_total"),
            format!("Items handed on by the {stage}."),
        )?;
        let items_dropped = IntCounterVec::new(
            Opts::new(
                format!("newswire_{stage}_items_dropped_total"),
                format!("Items the {stage} dropped on purpose, by reason."),
            ),
            &["reason"],
        )?;
        let items_failed = IntCounterVec::new(
            Opts::new(
                format!("newswire_{stage}_items_failed_total"),
                format!("Items the {stage} gave up on, by reason."),
            ),
            &["reason"],
        )?;
        registry.register(Box::new(items_in.clone()))?;
        registry.register(Box::new(items_out.clone()))?;
        registry.register(Box::new(items_dropped.clone()))?;
        registry.register(Box::new(items_failed.clone()))?;
        start_at_zero(&items_dropped, drop_reasons);
        start_at_zero(&items_failed, fail_reasons);
        Ok(Self { items_in, items_out, items_dropped, items_failed })
    }

    /// Counts one item dropped on purpose.
    pub fn dropped(&self, reason: &'static str) {
        self.items_dropped.with_label_values(&[reason]).inc();
    }

    /// Counts one item given up on.
    pub fn failed(&self, reason: &'static str) {
        self.items_failed.with_label_values(&[reason]).inc();
    }
}

fn histogram(
    name: &str,
    help: &str,
    buckets: Vec<f64>,
    registry: &Registry,
) -> Result<Histogram, TelemetryError> {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

fn latency_buckets() -> Vec<f64> {
    // 1 ms .. ~65 s.
    exponential_buckets(0.001, 2.0, 17).unwrap_or_default()
}

/// Metrics of the fetcher (`stage="fetcher"`). Items are feed entries.
#[derive(Debug, Clone)]
pub struct FetcherMetrics {
    /// In: entries parsed; out: raw items published (new to JetStream); dropped `seen` (not
    /// published: this fetcher published the entry before with the same content, per its
    /// per-feed memory), `duplicate` (JetStream already had it); failed: see [`FETCHER_FAIL_REASONS`].
    pub stage: StageCounters,
    /// `newswire_fetcher_polls_total{result}`: feed polls by `result` (`ok`, `not_modified`,
    /// `fetch_error`, `parse_error`).
    pub polls: IntCounterVec,
    /// `newswire_fetcher_fetch_duration_seconds`: time to fetch and parse one feed.
    pub fetch_duration: Histogram,
    /// `newswire_fetcher_fetched_bytes_total`: body bytes received.
    pub fetched_bytes: IntCounter,
    /// `newswire_fetcher_pages_total{result}`: article pages for teaser entries, by `result`
    /// (see [`PAGE_RESULTS`]).
    pub pages: IntCounterVec,
    /// `newswire_fetcher_politeness_wait_seconds`: time a page or robots.txt request waited
    /// for its host (per-host concurrency, rate, `Retry-After` and back-off).
    pub politeness_wait: Histogram,
    /// `newswire_fetcher_host_backoffs_total`: 429 and 503 answers that made a host wait.
    pub host_backoffs: IntCounter,
    /// `newswire_fetcher_items_trimmed_total`: entries whose text was shortened to fit in a
    /// bus message.
    pub items_trimmed: IntCounter,
    /// `newswire_fetcher_items_capped_total`: entries beyond `max_items_per_feed` in one
    /// document, not parsed.
    pub items_capped: IntCounter,
    /// `newswire_fetcher_feeds_rejected`: feeds-file entries not run because they are invalid
    /// or their URL is refused.
    pub feeds_rejected: IntGauge,
    /// `newswire_fetcher_feeds{state}`: registry feeds this replica owns, by state (see
    /// [`FeedStateGauge`]).
    pub feeds_by_state: FeedStateGauge,
}

/// The `result` values of `newswire_fetcher_pages_total`: `fetched` (the page's article
/// replaced the entry's teaser), `kept_feed_text` (fetched, but the page gave no longer text),
/// `failed` (HTTP, network, charset or not a page), `skipped_robots` (robots.txt disallows it),
/// `deferred` (its host would have made it wait too long: the entry waits for the next poll),
/// `skipped_limits` (deferred for 15 minutes: published with the feed's text). Each starts at 0.
pub const PAGE_RESULTS: [&str; 6] =
    ["fetched", "kept_feed_text", "failed", "skipped_robots", "deferred", "skipped_limits"];

impl FetcherMetrics {
    /// Registers the fetcher's metrics.
    pub fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let polls = IntCounterVec::new(
            Opts::new("newswire_fetcher_polls_total", "Feed polls, by result."),
            &["result"],
        )?;
        registry.register(Box::new(polls.clone()))?;
        start_at_zero(&polls, &POLL_RESULTS);
        let fetched_bytes =
            IntCounter::new("newswire_fetcher_fetched_bytes_total", "Feed body bytes received.")?;
        registry.register(Box::new(fetched_bytes.clone()))?;
        let pages = IntCounterVec::new(
            Opts::new("newswire_fetcher_pages_total", "Article pages fetched for teaser entries, by result."),
            &["result"],
        )?;
        registry.register(Box::new(pages.clone()))?;
        start_at_zero(&pages, &PAGE_RESULTS);
        let host_backoffs = IntCounter::new(
            "newswire_fetcher_host_backoffs_total",
            "429 and 503 answers that made a host wait (Retry-After or back-off).",
        )?;
        registry.register(Box::new(host_backoffs.clone()))?;
        let items_trimmed = IntCounter::new(
            "newswire_fetcher_items_trimmed_total",
            "Entries whose text was shortened to fit in a bus message.",
        )?;
        registry.register(Box::new(items_trimmed.clone()))?;
        let items_capped = IntCounter::new(
            "newswire_fetcher_items_capped_total",
            "Entries beyond max_items_per_feed in one feed document, not parsed.",
        )?;
        registry.register(Box::new(items_capped.clone()))?;
        let feeds_rejected = IntGauge::new(
            "newswire_fetcher_feeds_rejected",
            "Feeds-file entries not run because they are invalid or their URL is refused.",
        )?;
        registry.register(Box::new(feeds_rejected.clone()))?;
        Ok(Self {
            stage: StageCounters::new("fetcher", registry, &FETCHER_DROP_REASONS, &FETCHER_FAIL_REASONS)?,
            polls,
            fetch_duration: histogram(
                "newswire_fetcher_fetch_duration_seconds",
                "Time to fetch and parse one feed.",
                latency_buckets(),
                registry,
            )?,
            fetched_bytes,
            pages,
            politeness_wait: histogram(
                "newswire_fetcher_politeness_wait_seconds",
                "Time a page or robots.txt request waited for its host.",
                latency_buckets(),
                registry,
            )?,
            host_backoffs,
            items_trimmed,
            items_capped,
            feeds_rejected,
            feeds_by_state: FeedStateGauge::new(registry)?,
        })
    }
}

// ---- Feed registry (issue 16 item 7): feeds by state. -------------------------------------

/// The `state` values of `newswire_fetcher_feeds`: `ok` (last poll succeeded, or not polled
/// yet), `failing` (last poll failed), `quiet` (polls succeed but nothing published for
/// `fetcher.quiet_after_secs`), `paused`. Each starts at 0.
pub const FEED_STATES: [&str; 4] = ["ok", "failing", "quiet", "paused"];

/// `newswire_fetcher_feeds{state}`: the registry's feeds that this fetcher replica owns (by
/// rendezvous hashing; paused ones too), by state. Summed over replicas: every feed once.
#[derive(Debug, Clone)]
pub struct FeedStateGauge {
    gauge: IntGaugeVec,
}

impl FeedStateGauge {
    fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let gauge = IntGaugeVec::new(
            Opts::new("newswire_fetcher_feeds", "Registry feeds this replica owns, by state."),
            &["state"],
        )?;
        registry.register(Box::new(gauge.clone()))?;
        for s in FEED_STATES {
            gauge.with_label_values(&[s]).set(0);
        }
        Ok(Self { gauge })
    }

    /// Sets every state's count; a state not in `counts` is 0, an unknown one is ignored (the
    /// label set stays bounded).
    pub fn set(&self, counts: &[(&str, i64)]) {
        for s in FEED_STATES {
            let n = counts.iter().filter(|(k, _)| *k == s).map(|(_, n)| *n).sum();
            self.gauge.with_label_values(&[s]).set(n);
        }
    }

    /// The count of one state (for tests and logs).
    pub fn get(&self, state: &str) -> i64 {
        if FEED_STATES.contains(&state) { self.gauge.with_label_values(&[state]).get() } else { 0 }
    }
}

// ---- End of the feed registry block. -------------------------------------------------------

/// Metrics of the processor (`stage="processor"`). Items are raw-item messages.
#[derive(Debug, Clone)]
pub struct ProcessorMetrics {
    /// In: messages received; out: articles published; dropped `duplicate`, `empty`;
    /// failed: see [`PROCESSOR_FAIL_REASONS`].
    pub stage: StageCounters,
    /// `newswire_processor_process_duration_seconds`: time to analyse one item (in parallel).
    pub process_duration: Histogram,
    /// `newswire_processor_dead_lettered_total`: messages moved to the dead-letter stream.
    pub dead_lettered: IntCounter,
    /// `newswire_processor_duplicates_total{kind}`: articles published as copies of earlier
    /// ones (`exact`, `near`).
    pub duplicates: IntCounterVec,
}

impl ProcessorMetrics {
    /// Registers the processor's metrics.
    pub fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let dead_lettered = IntCounter::new(
            "newswire_processor_dead_lettered_total",
            "Messages moved to the dead-letter stream by the processor.",
        )?;
        registry.register(Box::new(dead_lettered.clone()))?;
        let duplicates = IntCounterVec::new(
            Opts::new(
                "newswire_processor_duplicates_total",
                "Articles published as copies of earlier ones, by kind.",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(duplicates.clone()))?;
        start_at_zero(&duplicates, &DUPLICATE_KINDS);
        Ok(Self {
            duplicates,
            stage: StageCounters::new(
                "processor",
                registry,
                &PROCESSOR_DROP_REASONS,
                &PROCESSOR_FAIL_REASONS,
            )?,
            process_duration: histogram(
                "newswire_processor_process_duration_seconds",
                "Time to analyse one item: clean, fingerprints, language, entities, features.",
                exponential_buckets(0.00005, 2.0, 16).unwrap_or_default(),
                registry,
            )?,
            dead_lettered,
        })
    }
}

/// Metrics of the sink (`stage="sink"`). Items are article messages.
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    /// In: messages received; out: articles written (`inserted` + `updated`); dropped
    /// `unchanged` (already stored as is: a redelivery or a re-poll); failed `decode`,
    /// `invalid` (an article the database rejected, isolated by bisecting its batch), `store`
    /// (an unclassified store error, only once redeliveries are exhausted).
    pub stage: StageCounters,
    /// `newswire_sink_articles_stored_total{result}`: upsert outcomes (`inserted`, `updated`,
    /// `unchanged`).
    pub stored: IntCounterVec,
    /// `newswire_sink_write_duration_seconds`: time to commit one batch.
    pub write_duration: Histogram,
    /// `newswire_sink_batch_size`: articles in the last committed batch.
    pub last_batch_size: IntGauge,
    /// `newswire_sink_dead_lettered_total`: messages moved to the dead-letter stream.
    pub dead_lettered: IntCounter,
    /// `newswire_sink_store_unavailable`: 1 while the store is unavailable and the sink holds
    /// its batch and waits, else 0.
    pub store_unavailable: IntGauge,
    /// `newswire_sink_store_retries_total`: failed attempts to store a held batch because the
    /// store was unavailable (each followed by a back-off wait).
    pub store_retries: IntCounter,
    /// Story events published and failed (see [`StoryEventMetrics`]).
    pub story_events: StoryEventMetrics,
    /// `newswire_sink_newest_article_age_seconds` and `newswire_sink_fetch_to_commit_seconds`
    /// (see [`Freshness`]).
    pub freshness: Freshness,
    /// The search indexer of a deferred PostgreSQL store (see [`SearchIndexMetrics`]).
    pub search_index: SearchIndexMetrics,
}

impl SinkMetrics {
    /// Registers the sink's metrics.
    pub fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let stored = IntCounterVec::new(
            Opts::new("newswire_sink_articles_stored_total", "Upsert outcomes, by result."),
            &["result"],
        )?;
        registry.register(Box::new(stored.clone()))?;
        start_at_zero(&stored, &STORE_RESULTS);
        let last_batch_size =
            IntGauge::new("newswire_sink_batch_size", "Articles in the last committed batch.")?;
        registry.register(Box::new(last_batch_size.clone()))?;
        let dead_lettered = IntCounter::new(
            "newswire_sink_dead_lettered_total",
            "Messages moved to the dead-letter stream by the sink.",
        )?;
        registry.register(Box::new(dead_lettered.clone()))?;
        let store_unavailable = IntGauge::new(
            "newswire_sink_store_unavailable",
            "1 while the store is unavailable and the sink waits, else 0.",
        )?;
        registry.register(Box::new(store_unavailable.clone()))?;
        let store_retries = IntCounter::new(
            "newswire_sink_store_retries_total",
            "Failed attempts to store a held batch because the store was unavailable.",
        )?;
        registry.register(Box::new(store_retries.clone()))?;
        Ok(Self {
            stage: StageCounters::new("sink", registry, &SINK_DROP_REASONS, &SINK_FAIL_REASONS)?,
            stored,
            write_duration: histogram(
                "newswire_sink_write_duration_seconds",
                "Time to commit one batch of articles.",
                latency_buckets(),
                registry,
            )?,
            last_batch_size,
            dead_lettered,
            store_unavailable,
            store_retries,
            story_events: StoryEventMetrics::new(registry)?,
            freshness: Freshness::new(registry)?,
            search_index: SearchIndexMetrics::new(registry)?,
        })
    }
}

/// The sink's search indexer (PostgreSQL, `search_indexing = "deferred"`): rows stored without
/// their search terms are indexed after the commit, oldest first.
#[derive(Debug, Clone)]
pub struct SearchIndexMetrics {
    /// `newswire_sink_search_indexed_total`: stored articles given their search terms.
    pub indexed: IntCounter,
    /// `newswire_sink_search_unindexable_total`: queued articles that could not be read back
    /// to build their terms (edited by hand), taken out of the queue unsearchable.
    pub unindexable: IntCounter,
    /// `newswire_sink_search_index_errors_total`: indexing passes that failed (retried).
    pub errors: IntCounter,
    /// `newswire_sink_search_lag_seconds`: how long the oldest article still waiting for its
    /// terms has been stored (0 when none waits): how far search trails the store.
    pub lag: Gauge,
}

impl SearchIndexMetrics {
    fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let indexed = IntCounter::new(
            "newswire_sink_search_indexed_total",
            "Stored articles given their search terms.",
        )?;
        registry.register(Box::new(indexed.clone()))?;
        let unindexable = IntCounter::new(
            "newswire_sink_search_unindexable_total",
            "Queued articles that could not be read back to index, left unsearchable.",
        )?;
        registry.register(Box::new(unindexable.clone()))?;
        let errors = IntCounter::new(
            "newswire_sink_search_index_errors_total",
            "Search indexing passes that failed (retried).",
        )?;
        registry.register(Box::new(errors.clone()))?;
        let lag = Gauge::new(
            "newswire_sink_search_lag_seconds",
            "Age of the oldest stored article still waiting for its search terms (0: none).",
        )?;
        registry.register(Box::new(lag.clone()))?;
        Ok(Self { indexed, unindexable, errors, lag })
    }
}

// ---- Story events (issue 16 item 3): the sink's outbox publisher. --------------------------

/// The sink's story events (`news.stories.<lang>`), published from the store's outbox after
/// each committed batch.
#[derive(Debug, Clone)]
pub struct StoryEventMetrics {
    /// `newswire_sink_story_events_published_total`: events the server acknowledged
    /// (a republish it dropped as a duplicate counts too: the event is on the bus).
    pub published: IntCounter,
    /// `newswire_sink_story_events_failed_total`: publish attempts that failed; the event stays
    /// in the outbox and is tried again after the next batch.
    pub failed: IntCounter,
}

impl StoryEventMetrics {
    fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let published = IntCounter::new(
            "newswire_sink_story_events_published_total",
            "Story events published on the bus.",
        )?;
        registry.register(Box::new(published.clone()))?;
        let failed = IntCounter::new(
            "newswire_sink_story_events_failed_total",
            "Story event publishes that failed (retried after the next batch).",
        )?;
        registry.register(Box::new(failed.clone()))?;
        Ok(Self { published, failed })
    }
}

// ---- End of the story events block. -------------------------------------------------------

// ---- Pipeline freshness (issue 17): the sink's view of how old its newest article is. -------

/// Milliseconds since the Unix epoch on this machine's clock (0 before 1970).
fn unix_ms_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How fresh the store is, from the sink's commits: the age of the newest stored article (by
/// its `fetched_at`) and the time from fetch to commit of each article written.
///
/// `newswire_sink_newest_article_age_seconds` is now minus the newest `fetched_at` among the
/// articles this sink committed since it started, recomputed after each commit and every few
/// seconds ([`Freshness::refresh_every`]), so that it grows while nothing arrives. Until the
/// first commit it is the time since the sink started: a lower bound of the true age (every
/// article stored before was fetched before that), never a falsely fresh 0. A negative age
/// (a fetcher clock ahead of the sink's) reads 0.
#[derive(Debug, Clone)]
pub struct Freshness {
    /// `newswire_sink_newest_article_age_seconds`.
    pub newest_article_age: Gauge,
    /// `newswire_sink_fetch_to_commit_seconds`: from an article's `fetched_at` to the commit
    /// that inserted or updated it (a redelivery stored unchanged is not observed).
    pub fetch_to_commit: Histogram,
    /// Newest `fetched_at` committed (Unix ms), or the start time until the first commit.
    newest_ms: Arc<AtomicI64>,
}

impl Freshness {
    fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let newest_article_age = Gauge::new(
            "newswire_sink_newest_article_age_seconds",
            "Age of the newest article this sink committed, by its fetched time (since start until the first commit).",
        )?;
        registry.register(Box::new(newest_article_age.clone()))?;
        let fetch_to_commit = histogram(
            "newswire_sink_fetch_to_commit_seconds",
            "Time from an article's fetch to the commit that stored it.",
            // 50 ms .. ~1.8 h: a healthy pipeline takes well under a second; a backlog, hours.
            exponential_buckets(0.05, 2.0, 18).unwrap_or_default(),
            registry,
        )?;
        Ok(Self { newest_article_age, fetch_to_commit, newest_ms: Arc::new(AtomicI64::new(unix_ms_now())) })
    }

    /// Records a committed article fetched at `fetched_at_ms` (Unix ms): `written` (inserted
    /// or updated, not stored unchanged) observes the fetch-to-commit time; the newest age is
    /// recomputed either way.
    pub fn committed(&self, fetched_at_ms: i64, written: bool) {
        self.committed_at(fetched_at_ms, written, unix_ms_now());
    }

    /// [`committed`](Self::committed) at a given time (for tests).
    pub fn committed_at(&self, fetched_at_ms: i64, written: bool, now_ms: i64) {
        if written {
            self.fetch_to_commit.observe(seconds(now_ms.saturating_sub(fetched_at_ms)));
        }
        self.newest_ms.fetch_max(fetched_at_ms, Ordering::Relaxed);
        self.refresh_at(now_ms);
    }

    /// Recomputes the newest article's age now.
    pub fn refresh(&self) {
        self.refresh_at(unix_ms_now());
    }

    /// Recomputes the newest article's age at `now_ms` (for tests).
    pub fn refresh_at(&self, now_ms: i64) {
        self.newest_article_age.set(seconds(now_ms.saturating_sub(self.newest_ms.load(Ordering::Relaxed))));
    }

    /// Calls [`refresh`](Self::refresh) every `every` until `shutdown`.
    pub async fn refresh_every(self, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => self.refresh(),
            }
        }
    }
}

/// Milliseconds as seconds, negative ones as 0.
fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

// ---- End of the pipeline freshness block. --------------------------------------------------

// ---- JetStream (issue 17): consumer lag and stream sizes, read by newswire itself. ----------

/// `newswire_bus_*`: the JetStream streams a stage owns and the durable consumers it reads
/// (see `newswire_bus::monitor`), set from stream and consumer info every few seconds.
///
/// The label values are fixed at registration, one series each, exported at 0 from then on:
/// `stream` (the configured stream names) and `consumer` (the durable names `processor` and
/// `sink`). They are constant labels of one gauge per series rather than a vector, so that the
/// three stages of `newswire run` can each register theirs in one shared registry (a series
/// is registered by the one stage that reports it); [`BusMetrics::set_stream`] and
/// [`BusMetrics::set_consumer`] ignore anything else, keeping the label set bounded.
#[derive(Debug, Clone)]
pub struct BusMetrics {
    streams: Vec<StreamGauges>,
    consumers: Vec<ConsumerGauges>,
    /// `newswire_bus_monitor_errors_total{stage}`: stream or consumer info requests of this
    /// stage that failed (the gauges keep their last values meanwhile).
    pub monitor_errors: IntCounter,
}

#[derive(Debug, Clone)]
struct StreamGauges {
    stream: String,
    messages: IntGauge,
    bytes: IntGauge,
}

#[derive(Debug, Clone)]
struct ConsumerGauges {
    stream: String,
    consumer: String,
    pending: IntGauge,
    ack_pending: IntGauge,
    redelivered: IntGauge,
}

fn labelled_gauge(
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    registry: &Registry,
) -> Result<IntGauge, TelemetryError> {
    let mut opts = Opts::new(name, help);
    for (k, v) in labels {
        opts = opts.const_label(*k, *v);
    }
    let g = IntGauge::with_opts(opts)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl BusMetrics {
    /// Registers the bus metrics of `stage` (`fetcher`, `processor`, `sink`): one series per
    /// stream of `streams` and per `(stream, consumer)` of `consumers`, all at 0.
    pub fn new<S: AsRef<str>>(
        registry: &Registry,
        stage: &str,
        streams: &[S],
        consumers: &[(S, S)],
    ) -> Result<Self, TelemetryError> {
        let mut gauges = Vec::with_capacity(streams.len());
        for s in streams {
            let stream = s.as_ref();
            let l = [("stream", stream)];
            gauges.push(StreamGauges {
                stream: stream.to_owned(),
                messages: labelled_gauge(
                    "newswire_bus_stream_messages",
                    "Messages stored in a JetStream stream.",
                    &l,
                    registry,
                )?,
                bytes: labelled_gauge(
                    "newswire_bus_stream_bytes",
                    "Bytes stored in a JetStream stream.",
                    &l,
                    registry,
                )?,
            });
        }
        let mut lag = Vec::with_capacity(consumers.len());
        for (s, c) in consumers {
            let (stream, consumer) = (s.as_ref(), c.as_ref());
            let l = [("stream", stream), ("consumer", consumer)];
            lag.push(ConsumerGauges {
                stream: stream.to_owned(),
                consumer: consumer.to_owned(),
                pending: labelled_gauge(
                    "newswire_bus_consumer_pending",
                    "Messages of a durable consumer's stream not delivered yet (num_pending).",
                    &l,
                    registry,
                )?,
                ack_pending: labelled_gauge(
                    "newswire_bus_consumer_ack_pending",
                    "Messages delivered to a durable consumer and not acknowledged yet.",
                    &l,
                    registry,
                )?,
                redelivered: labelled_gauge(
                    "newswire_bus_consumer_redelivered",
                    "Messages of a durable consumer delivered more than once and not acknowledged yet.",
                    &l,
                    registry,
                )?,
            });
        }
        let monitor_errors = IntCounter::with_opts(
            Opts::new(
                "newswire_bus_monitor_errors_total",
                "JetStream stream or consumer info requests that failed.",
            )
            .const_label("stage", stage),
        )?;
        registry.register(Box::new(monitor_errors.clone()))?;
        Ok(Self { streams: gauges, consumers: lag, monitor_errors })
    }

    /// Sets a stream's size; `false` (nothing set) for a stream not registered.
    pub fn set_stream(&self, stream: &str, messages: u64, bytes: u64) -> bool {
        let Some(g) = self.streams.iter().find(|g| g.stream == stream) else { return false };
        g.messages.set(gauge_value(messages));
        g.bytes.set(gauge_value(bytes));
        true
    }

    /// Sets a durable consumer's lag; `false` (nothing set) for a consumer not registered.
    pub fn set_consumer(
        &self,
        stream: &str,
        consumer: &str,
        pending: u64,
        ack_pending: u64,
        redelivered: u64,
    ) -> bool {
        let Some(g) = self.consumers.iter().find(|g| g.stream == stream && g.consumer == consumer) else {
            return false;
        };
        g.pending.set(gauge_value(pending));
        g.ack_pending.set(gauge_value(ack_pending));
        g.redelivered.set(gauge_value(redelivered));
        true
    }

    /// A consumer's `(pending, ack_pending, redelivered)` (for tests and logs).
    pub fn consumer(&self, stream: &str, consumer: &str) -> Option<(i64, i64, i64)> {
        self.consumers
            .iter()
            .find(|g| g.stream == stream && g.consumer == consumer)
            .map(|g| (g.pending.get(), g.ack_pending.get(), g.redelivered.get()))
    }

    /// A stream's `(messages, bytes)` (for tests and logs).
    pub fn stream(&self, stream: &str) -> Option<(i64, i64)> {
        self.streams.iter().find(|g| g.stream == stream).map(|g| (g.messages.get(), g.bytes.get()))
    }
}

// ---- End of the JetStream block. -----------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Query API (`newswire-api`). One block, with its own contract test, so that the services added
// beside it keep their blocks apart.
// ---------------------------------------------------------------------------------------------

/// Metrics of the query API (`newswire_api_*`).
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    /// `newswire_api_requests_total{route,status}`: requests by route template
    /// (`/v1/articles/{id}`; `unmatched` for paths with no route) and status class (`2xx`,
    /// `3xx`, `4xx`, `5xx`).
    pub requests: IntCounterVec,
    /// `newswire_api_request_duration_seconds{route}`: time to the response head (for the live
    /// stream, to the start of the stream).
    pub request_duration: prometheus::HistogramVec,
    /// `newswire_api_sse_clients`: live-stream clients connected.
    pub sse_clients: IntGauge,
    /// `newswire_api_sse_clients_dropped_total`: live-stream clients dropped because their
    /// queue was full (too slow to keep up); their stream ends, and they may resume.
    pub sse_clients_dropped: IntCounter,
    /// `newswire_api_sse_events_total{kind}`: events the stream hub read from JetStream, by
    /// `kind` (see [`API_EVENT_KINDS`]).
    pub sse_events: IntCounterVec,
    /// `newswire_api_sse_resumes_total{from}`: live-stream reconnects with `Last-Event-ID`, by
    /// where the missed events came `from` (`buffer`: the in-memory ring; `jetstream`: read back
    /// from the streams because they were older than the ring).
    pub sse_resumes: IntCounterVec,
}

/// The `kind` values of `newswire_api_sse_events_total`: `article`, `revision`, `story`
/// (events the hub broadcast), `undecodable` (messages skipped because they are not a valid
/// article or story event). Each starts at 0.
pub const API_EVENT_KINDS: [&str; 4] = ["article", "revision", "story", "undecodable"];

impl ApiMetrics {
    /// Registers the query API's metrics.
    pub fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let requests = IntCounterVec::new(
            Opts::new("newswire_api_requests_total", "API requests, by route template and status class."),
            &["route", "status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        let request_duration = prometheus::HistogramVec::new(
            HistogramOpts::new(
                "newswire_api_request_duration_seconds",
                "Time to the response head, by route.",
            )
            .buckets(latency_buckets()),
            &["route"],
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        let sse_clients = IntGauge::new("newswire_api_sse_clients", "Live-stream clients connected.")?;
        registry.register(Box::new(sse_clients.clone()))?;
        let sse_clients_dropped = IntCounter::new(
            "newswire_api_sse_clients_dropped_total",
            "Live-stream clients dropped because they fell too far behind.",
        )?;
        registry.register(Box::new(sse_clients_dropped.clone()))?;
        let sse_events = IntCounterVec::new(
            Opts::new("newswire_api_sse_events_total", "Events the stream hub read from JetStream, by kind."),
            &["kind"],
        )?;
        registry.register(Box::new(sse_events.clone()))?;
        for k in API_EVENT_KINDS {
            sse_events.with_label_values(&[k]);
        }
        let sse_resumes = IntCounterVec::new(
            Opts::new(
                "newswire_api_sse_resumes_total",
                "Live-stream reconnects with Last-Event-ID, by where the missed events came from.",
            ),
            &["from"],
        )?;
        registry.register(Box::new(sse_resumes.clone()))?;
        for f in ["buffer", "jetstream"] {
            sse_resumes.with_label_values(&[f]);
        }
        Ok(Self { requests, request_duration, sse_clients, sse_clients_dropped, sse_events, sse_resumes })
    }
}

#[cfg(test)]
mod api_metrics_tests {
    use super::*;

    /// The API's metrics follow the naming contract and are documented in `docs/metrics.md`.
    #[test]
    fn api_metrics_are_named_by_the_contract_and_documented() {
        let r = Registry::new();
        let m = ApiMetrics::new(&r).unwrap_or_else(|e| panic!("{e}"));
        m.requests.with_label_values(&["/v1/articles", "2xx"]).inc();
        m.request_duration.with_label_values(&["/v1/articles"]).observe(0.01);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let doc = std::fs::read_to_string(root.join("docs/metrics.md")).unwrap_or_default();
        let names: Vec<String> = r.gather().iter().map(|m| m.name().to_owned()).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        for n in &names {
            assert!(n.starts_with("newswire_api_"), "{n}");
            assert!(doc.contains(&format!("`{n}`")), "{n} is not documented in docs/metrics.md");
        }
        assert!(ApiMetrics::new(&r).is_err(), "double registration must be refused");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The streams and consumers of the default configuration, as `newswire_bus::monitor`
    /// gives them to each stage (this crate does not know the bus; the names are the label
    /// values only).
    fn bus_metrics_of_every_stage(r: &Registry) -> [BusMetrics; 3] {
        let none: [(&str, &str); 0] = [];
        [
            BusMetrics::new(r, "fetcher", &["NEWS_RAW"], &none).unwrap(),
            BusMetrics::new(r, "processor", &["NEWS_ARTICLES", "NEWS_DLQ"], &[("NEWS_RAW", "processor")])
                .unwrap(),
            BusMetrics::new(r, "sink", &["NEWS_STORIES"], &[("NEWS_ARTICLES", "sink")]).unwrap(),
        ]
    }

    /// Every metric newswire registers, registered as the services do and not touched since:
    /// the families `gather` returns are those exported with a sample at start-up.
    fn everything_at_start() -> Registry {
        let r = Registry::new();
        FetcherMetrics::new(&r).unwrap();
        ProcessorMetrics::new(&r).unwrap();
        SinkMetrics::new(&r).unwrap();
        bus_metrics_of_every_stage(&r);
        ApiMetrics::new(&r).unwrap();
        r
    }

    fn exported_at_start() -> BTreeSet<String> {
        everything_at_start()
            .gather()
            .iter()
            .filter(|f| !f.get_metric().is_empty())
            .map(|f| f.name().to_owned())
            .collect()
    }

    /// The metric names of the tables of `docs/metrics.md` (first column; `<stage>` expanded),
    /// split into newswire's own and the external ones (section "External (nats exporter)").
    fn documented() -> (BTreeSet<String>, BTreeSet<String>) {
        let doc = read("docs/metrics.md");
        let (mut own, mut external) = (BTreeSet::new(), BTreeSet::new());
        let mut in_external = false;
        for line in doc.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                in_external = h.starts_with("External (nats exporter)");
                continue;
            }
            let Some(cell) = line.strip_prefix("| `") else { continue };
            let Some((name, _)) = cell.split_once('`') else { continue };
            let set = if in_external { &mut external } else { &mut own };
            if name.contains("<stage>") {
                for stage in ["fetcher", "processor", "sink"] {
                    set.insert(name.replace("<stage>", stage));
                }
            } else {
                set.insert(name.to_owned());
            }
        }
        (own, external)
    }

    /// The metric names a PromQL expression reads: identifiers outside strings, label
    /// matchers, ranges and grouping clauses that are neither functions nor keywords.
    fn promql_metrics(expr: &str) -> Vec<String> {
        const KEYWORDS: [&str; 23] = [
            "and",
            "or",
            "unless",
            "bool",
            "offset",
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "sum",
            "min",
            "max",
            "avg",
            "count",
            "stddev",
            "stdvar",
            "topk",
            "bottomk",
            "quantile",
            "count_values",
            "group",
        ];
        const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
        let chars: Vec<char> = expr.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        let skip_to = |mut i: usize, close: char| {
            while i < chars.len() && chars[i] != close {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i + 1
        };
        let next_non_space = |mut i: usize| {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            i
        };
        while i < chars.len() {
            let c = chars[i];
            match c {
                '"' | '\'' | '`' => i = skip_to(i + 1, c),
                '{' => i = skip_to(i + 1, '}'),
                '[' => i = skip_to(i + 1, ']'),
                '$' | '0'..='9' => {
                    // A Grafana variable or a number (`0.95`, `1e3`, a duration after offset).
                    i += 1;
                    while i < chars.len()
                        && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.'))
                    {
                        i += 1;
                    }
                }
                c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                    let start = i;
                    while i < chars.len()
                        && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
                    {
                        i += 1;
                    }
                    let word: String = chars[start..i].iter().collect();
                    let next = next_non_space(i);
                    let called = chars.get(next) == Some(&'(');
                    if GROUPING.contains(&word.as_str()) && called {
                        i = skip_to(next + 1, ')');
                    } else if !called && !KEYWORDS.contains(&word.as_str()) {
                        out.push(word);
                    }
                }
                _ => i += 1,
            }
        }
        out
    }

    #[test]
    fn promql_metric_extraction() {
        assert_eq!(
            promql_metrics(
                r#"histogram_quantile(0.95, sum by (le) (rate(newswire_sink_write_duration_seconds_bucket{job="x"}[5m])))"#
            ),
            ["newswire_sink_write_duration_seconds_bucket"]
        );
        assert_eq!(
            promql_metrics(
                "sum(rate(a_total[$__rate_interval])) / clamp_min(sum without (instance) (b), 1) > 0.2 and on (job) up offset 1h"
            ),
            ["a_total", "b", "up"]
        );
        assert_eq!(promql_metrics("max by (stream, consumer) (x) or vector(0)"), ["x"]);
    }

    /// Every `expr` of a Grafana dashboard, panels in rows and variable queries included.
    fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("query", serde_json::Value::String(s)) if s.contains('(') => out.push(s.clone()),
                        _ => dashboard_exprs(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| dashboard_exprs(v, out)),
            _ => {}
        }
    }

    fn dashboards() -> Vec<(String, serde_json::Value)> {
        let dir = repo("deploy/grafana/dashboards");
        let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p.file_name().unwrap().to_string_lossy().into_owned(), json)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The `expr` of every rule of a Prometheus rule file (inline or a `|` block), and the
    /// series names of a rule test file's `input_series`.
    fn yaml_exprs(text: &str) -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            let indent = line.len() - line.trim_start().len();
            let t = line.trim_start().trim_start_matches("- ");
            if let Some(rest) = t.strip_prefix("expr:") {
                let rest = rest.trim();
                if rest.starts_with('|') || rest.starts_with('>') {
                    let block: Vec<&str> = lines[n + 1..]
                        .iter()
                        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                        .copied()
                        .collect();
                    out.push(block.join("\n"));
                } else {
                    out.push(rest.trim_matches(|c| c == '"' || c == '\'').to_owned());
                }
            } else if let Some(rest) = t.strip_prefix("series:") {
                out.push(rest.trim().trim_matches(|c| c == '"' || c == '\'').to_owned());
            }
        }
        out
    }

    /// Every stage's metrics register side by side in one registry (the all-in-one command
    /// does exactly that), and the names follow the contract.
    #[test]
    fn all_stages_share_one_registry_and_follow_the_naming_contract() {
        let r = Registry::new();
        let f = FetcherMetrics::new(&r).unwrap();
        let p = ProcessorMetrics::new(&r).unwrap();
        let s = SinkMetrics::new(&r).unwrap();
        bus_metrics_of_every_stage(&r);
        f.stage.dropped("duplicate");
        p.stage.failed("decode");
        s.stored.with_label_values(&["inserted"]).inc();
        let names: Vec<String> = r.gather().iter().map(|m| m.name().to_owned()).collect();
        for n in &names {
            assert!(
                ["newswire_fetcher_", "newswire_processor_", "newswire_sink_", "newswire_bus_"]
                    .iter()
                    .any(|p| n.starts_with(p)),
                "{n}"
            );
        }
        assert!(names.iter().any(|n| n == "newswire_processor_items_failed_total"));
        assert!(FetcherMetrics::new(&r).is_err(), "double registration must be refused");
    }

    /// Metric names are a written contract: every registered metric is documented in
    /// `docs/metrics.md` and every documented one is registered; every metric a dashboard or
    /// an alert rule (or its unit test) reads is documented, the external ones in their own
    /// section; and every newswire metric a dashboard reads is exported with a sample right
    /// after registration, so that no panel is blank when the services have just started.
    #[test]
    fn docs_dashboards_and_alerts_match_the_registered_metrics() {
        let (own, external) = documented();
        let at_start = exported_at_start();
        // The only families with no sample at start-up: API requests, labelled by route as
        // they come (no dashboard reads them).
        let mut all_registered = at_start.clone();
        all_registered.extend(
            ["newswire_api_requests_total", "newswire_api_request_duration_seconds"].map(String::from),
        );
        for n in &all_registered {
            assert!(own.contains(n), "{n} is registered but not documented in docs/metrics.md");
        }
        for n in &own {
            assert!(all_registered.contains(n), "docs/metrics.md documents {n}, which no code registers");
        }
        assert!(!external.is_empty(), "docs/metrics.md has no \"External (nats exporter)\" section");
        for n in &external {
            assert!(!n.starts_with("newswire_"), "{n} is newswire's own, not external");
        }
        // A histogram is read through its `_bucket`, `_sum` and `_count` series.
        let base = |n: &str| -> String {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(b) = n.strip_suffix(suffix)
                    && all_registered.contains(b)
                {
                    return b.to_owned();
                }
            }
            n.to_owned()
        };
        let boards = dashboards();
        assert!(boards.len() >= 3, "expected the overview, feeds and NATS dashboards: {boards:?}");
        let mut uids = BTreeSet::new();
        for (file, json) in &boards {
            let uid = json["uid"].as_str().unwrap_or_else(|| panic!("{file} has no uid"));
            assert!(uids.insert(uid.to_owned()), "{file}: uid {uid} is used twice");
            let mut exprs = Vec::new();
            dashboard_exprs(json, &mut exprs);
            assert!(exprs.len() >= 5, "{file} has {} queries", exprs.len());
            let mut own_used = 0;
            for expr in &exprs {
                let metrics = promql_metrics(expr);
                assert!(!metrics.is_empty(), "{file}: no metric in `{expr}`");
                for m in metrics {
                    let m = base(&m);
                    if m == "up" {
                        continue;
                    }
                    if m.starts_with("newswire_") {
                        own_used += 1;
                        assert!(own.contains(&m), "{file} reads {m}, not documented (`{expr}`)");
                        assert!(
                            at_start.contains(&m),
                            "{file} reads {m}, which has no sample at start-up (`{expr}`)"
                        );
                    } else {
                        assert!(
                            external.contains(&m),
                            "{file} reads {m}, not in the external section (`{expr}`)"
                        );
                    }
                }
            }
            assert!(own_used > 0, "{file} reads no newswire metric");
        }
        for file in ["deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml"] {
            let exprs = yaml_exprs(&read(file));
            assert!(exprs.len() >= 7, "{file}: {exprs:?}");
            for expr in exprs {
                for m in promql_metrics(&expr) {
                    let m = base(&m);
                    assert!(
                        m == "up" || own.contains(&m) || external.contains(&m),
                        "{file} reads {m}, not documented (`{expr}`)"
                    );
                }
            }
        }
    }

    /// Labelled counters export every known label value at 0 from registration on.
    #[test]
    fn labelled_counters_start_at_zero_for_every_known_value() {
        let r = everything_at_start();
        let text = {
            use prometheus::Encoder;
            let mut buf = Vec::new();
            prometheus::TextEncoder::new().encode(&r.gather(), &mut buf).unwrap();
            String::from_utf8(buf).unwrap()
        };
        let mut expected = Vec::new();
        for (stage, drops, fails) in [
            ("fetcher", &FETCHER_DROP_REASONS[..], &FETCHER_FAIL_REASONS[..]),
            ("processor", &PROCESSOR_DROP_REASONS[..], &PROCESSOR_FAIL_REASONS[..]),
            ("sink", &SINK_DROP_REASONS[..], &SINK_FAIL_REASONS[..]),
        ] {
            expected.extend(
                drops.iter().map(|r| format!("newswire_{stage}_items_dropped_total{{reason=\"{r}\"}} 0")),
            );
            expected.extend(
                fails.iter().map(|r| format!("newswire_{stage}_items_failed_total{{reason=\"{r}\"}} 0")),
            );
        }
        expected
            .extend(POLL_RESULTS.iter().map(|r| format!("newswire_fetcher_polls_total{{result=\"{r}\"}} 0")));
        expected
            .extend(PAGE_RESULTS.iter().map(|r| format!("newswire_fetcher_pages_total{{result=\"{r}\"}} 0")));
        expected.extend(FEED_STATES.iter().map(|s| format!("newswire_fetcher_feeds{{state=\"{s}\"}} 0")));
        expected.extend(
            STORE_RESULTS.iter().map(|r| format!("newswire_sink_articles_stored_total{{result=\"{r}\"}} 0")),
        );
        expected.extend(
            DUPLICATE_KINDS.iter().map(|k| format!("newswire_processor_duplicates_total{{kind=\"{k}\"}} 0")),
        );
        expected.push(r#"newswire_bus_consumer_pending{consumer="processor",stream="NEWS_RAW"} 0"#.into());
        expected.push(r#"newswire_bus_stream_messages{stream="NEWS_DLQ"} 0"#.into());
        expected.push(r#"newswire_bus_monitor_errors_total{stage="sink"} 0"#.into());
        for line in expected {
            assert!(text.lines().any(|l| l == line), "missing at start-up: {line}");
        }
    }

    /// The reasons the stages count are the known ones (which start at 0 and are documented):
    /// the string literals the stage crates pass to `failed`/`dropped`, to the processor's
    /// `retry_or_dead_letter`, and the fetcher's `FetchError::metric_reason`.
    #[test]
    fn the_reasons_the_stages_count_are_the_known_ones() {
        let doc = read("docs/metrics.md");
        let quoted_after = |text: &str, call: &str| -> Vec<String> {
            text.match_indices(call)
                .filter_map(|(i, _)| {
                    let rest = &text[i + call.len()..];
                    let end = rest.find(')')?;
                    let args = &rest[..end];
                    let start = args.find('"')?;
                    let len = args[start + 1..].find('"')?;
                    Some(args[start + 1..start + 1 + len].to_owned())
                })
                .collect()
        };
        let sources = |dir: &str| -> String {
            let mut all = String::new();
            for e in std::fs::read_dir(repo(dir)).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "rs") {
                    all.push_str(&std::fs::read_to_string(p).unwrap());
                }
            }
            all
        };
        for (dir, drops, fails) in [
            ("crates/fetch/src", &FETCHER_DROP_REASONS[..], &FETCHER_FAIL_REASONS[..]),
            ("crates/process/src", &PROCESSOR_DROP_REASONS[..], &PROCESSOR_FAIL_REASONS[..]),
            ("crates/store/src", &SINK_DROP_REASONS[..], &SINK_FAIL_REASONS[..]),
        ] {
            let text = sources(dir);
            let dropped = quoted_after(&text, ".dropped(");
            let mut failed = quoted_after(&text, ".failed(");
            failed.extend(quoted_after(&text, "retry_or_dead_letter(&"));
            assert!(!failed.is_empty(), "{dir}: no failure reasons found");
            for r in dropped {
                assert!(drops.contains(&r.as_str()), "{dir} counts drop reason {r}, unknown to metrics.rs");
            }
            for r in failed {
                assert!(
                    fails.contains(&r.as_str()),
                    "{dir} counts failure reason {r}, unknown to metrics.rs"
                );
            }
            for r in drops.iter().chain(fails) {
                assert!(doc.contains(&format!("`{r}`")), "reason {r} is not documented");
            }
        }
        let errors = read("crates/fetch/src/error.rs");
        let body = errors.split("fn metric_reason").nth(1).unwrap().split("\n    }\n").next().unwrap();
        let reasons: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
        assert_eq!(reasons.len(), FETCHER_FAIL_REASONS.len() - 1, "{reasons:?}");
        for r in reasons {
            assert!(FETCHER_FAIL_REASONS.contains(&r), "metric_reason gives {r}, unknown to metrics.rs");
        }
        let process = read("crates/process/src/core.rs");
        let body = process.split("impl DropReason").nth(1).unwrap().split("\n}\n").next().unwrap();
        for r in body.split('"').skip(1).step_by(2) {
            assert!(PROCESSOR_DROP_REASONS.contains(&r), "DropReason gives {r}, unknown to metrics.rs");
        }
    }

    /// The age grows while nothing is committed, follows the newest fetched time (not the
    /// last committed), starts as the time since start, and never goes negative; only written
    /// articles are observed in the fetch-to-commit histogram.
    #[test]
    fn freshness_tracks_the_newest_committed_article() {
        let r = Registry::new();
        let f = SinkMetrics::new(&r).unwrap().freshness;
        let start = f.newest_ms.load(Ordering::Relaxed);
        f.refresh_at(start + 4_000);
        assert_eq!(f.newest_article_age.get(), 4.0, "before the first commit: time since start");
        f.committed_at(start + 1_000, true, start + 3_500);
        assert_eq!(f.newest_article_age.get(), 2.5);
        f.committed_at(start - 60_000, true, start + 3_500);
        assert_eq!(f.newest_article_age.get(), 2.5, "an older article does not make the store older");
        f.refresh_at(start + 11_000);
        assert_eq!(f.newest_article_age.get(), 10.0, "grows while nothing arrives");
        f.committed_at(start + 20_000, false, start + 12_000);
        assert_eq!(f.newest_article_age.get(), 0.0, "a fetcher clock ahead reads 0, not negative");
        assert_eq!(f.fetch_to_commit.get_sample_count(), 2, "unchanged articles are not observed");
        assert!((f.fetch_to_commit.get_sample_sum() - 66.0).abs() < 1e-9);
    }

    /// Bus series are registered by the stage that reports them, side by side in one registry;
    /// the same series twice is refused; values for series nobody registered are ignored.
    #[test]
    fn bus_metrics_of_the_stages_share_a_registry_and_stay_bounded() {
        let r = Registry::new();
        let [_, processor, sink] = bus_metrics_of_every_stage(&r);
        assert!(processor.set_consumer("NEWS_RAW", "processor", 7, 3, 1));
        assert!(sink.set_consumer("NEWS_ARTICLES", "sink", 2, 0, 0));
        assert!(processor.set_stream("NEWS_DLQ", 4, 4096));
        assert!(!processor.set_consumer("NEWS_ARTICLES", "sink", 9, 9, 9), "not the processor's");
        assert!(!sink.set_stream("OTHER", 1, 1));
        assert_eq!(processor.consumer("NEWS_RAW", "processor"), Some((7, 3, 1)));
        assert_eq!(sink.consumer("NEWS_ARTICLES", "sink"), Some((2, 0, 0)));
        assert_eq!(processor.stream("NEWS_DLQ"), Some((4, 4096)));
        let pending = r.gather().into_iter().find(|f| f.name() == "newswire_bus_consumer_pending").unwrap();
        assert_eq!(pending.get_metric().len(), 2, "one series per consumer, in one family");
        let none: [(&str, &str); 0] = [];
        assert!(BusMetrics::new(&r, "fetcher", &["NEWS_RAW"], &none).is_err(), "same series twice");
        processor.monitor_errors.inc();
        assert_eq!(processor.monitor_errors.get(), 1);
    }
}
