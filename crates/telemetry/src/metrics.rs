//! Every metric newswire exports. The names are a contract (see `docs/metrics.md`) that the
//! Grafana dashboards and alerts depend on: `newswire_<stage>_<name>_<unit>[_total]`.
//!
//! Label values are bounded: `reason` and `result` take the values listed on each field, never
//! free text or URLs. Work that will be retried is not counted as dropped or failed until it is
//! given up on.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    exponential_buckets,
};

use crate::TelemetryError;

/// The counters every stage has: items in, out, dropped on purpose and failed.
#[derive(Debug, Clone)]
pub struct StageCounters {
    /// `newswire_<stage>_items_in_total`: items the stage received.
    pub items_in: IntCounter,
    /// `newswire_<stage>_items_out_total`: items the stage handed on (published or stored).
    pub items_out: IntCounter,
    /// `newswire_<stage>_items_dropped_total{reason}`: items dropped on purpose
    /// (`seen`, `duplicate`, `empty`, `unchanged`).
    pub items_dropped: IntCounterVec,
    /// `newswire_<stage>_items_failed_total{reason}`: items given up on (`decode`, `invalid`,
    /// `publish`, `store`, `fetch`, `parse`), each also dead-lettered where a message exists.
    pub items_failed: IntCounterVec,
}

impl StageCounters {
    fn new(stage: &str, registry: &Registry) -> Result<Self, TelemetryError> {
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
    /// per-feed memory), `duplicate` (JetStream already had it); failed `publish`, `invalid`.
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
        let fetched_bytes =
            IntCounter::new("newswire_fetcher_fetched_bytes_total", "Feed body bytes received.")?;
        registry.register(Box::new(fetched_bytes.clone()))?;
        let pages = IntCounterVec::new(
            Opts::new("newswire_fetcher_pages_total", "Article pages fetched for teaser entries, by result."),
            &["result"],
        )?;
        registry.register(Box::new(pages.clone()))?;
        for r in PAGE_RESULTS {
            pages.with_label_values(&[r]);
        }
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
            stage: StageCounters::new("fetcher", registry)?,
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
    /// failed `decode`, `invalid`, `publish` (the last after all redeliveries).
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
        Ok(Self {
            duplicates,
            stage: StageCounters::new("processor", registry)?,
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
}

impl SinkMetrics {
    /// Registers the sink's metrics.
    pub fn new(registry: &Registry) -> Result<Self, TelemetryError> {
        let stored = IntCounterVec::new(
            Opts::new("newswire_sink_articles_stored_total", "Upsert outcomes, by result."),
            &["result"],
        )?;
        registry.register(Box::new(stored.clone()))?;
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
            stage: StageCounters::new("sink", registry)?,
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
        })
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
    use super::*;

    /// Every stage's metrics register side by side in one registry (the all-in-one command
    /// does exactly that), and the names follow the contract.
    #[test]
    fn all_stages_share_one_registry_and_follow_the_naming_contract() {
        let r = Registry::new();
        let f = FetcherMetrics::new(&r).unwrap();
        let p = ProcessorMetrics::new(&r).unwrap();
        let s = SinkMetrics::new(&r).unwrap();
        f.stage.dropped("duplicate");
        p.stage.failed("decode");
        s.stored.with_label_values(&["inserted"]).inc();
        let names: Vec<String> = r.gather().iter().map(|m| m.name().to_owned()).collect();
        for n in &names {
            assert!(
                n.starts_with("newswire_fetcher_")
                    || n.starts_with("newswire_processor_")
                    || n.starts_with("newswire_sink_"),
                "{n}"
            );
        }
        assert!(names.iter().any(|n| n == "newswire_processor_items_failed_total"));
        assert!(FetcherMetrics::new(&r).is_err(), "double registration must be refused");
    }

    /// Metric names are a written contract: every registered metric is documented in
    /// `docs/metrics.md`, and every `newswire_*` name the Grafana dashboard queries exists.
    #[test]
    fn docs_and_dashboard_match_the_registered_metrics() {
        let r = Registry::new();
        let f = FetcherMetrics::new(&r).unwrap();
        let p = ProcessorMetrics::new(&r).unwrap();
        let s = SinkMetrics::new(&r).unwrap();
        // Vectors appear in `gather` only once they have a child.
        for v in [
            &f.stage.items_dropped,
            &f.stage.items_failed,
            &f.polls,
            &p.stage.items_dropped,
            &p.stage.items_failed,
            &p.duplicates,
            &s.stage.items_dropped,
            &s.stage.items_failed,
            &s.stored,
        ] {
            v.with_label_values(&["x"]).inc();
        }
        let names: Vec<String> = r.gather().iter().map(|m| m.name().to_owned()).collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let doc = std::fs::read_to_string(root.join("docs/metrics.md")).unwrap();
        for n in &names {
            let stage_generic =
                n.replace("fetcher", "<stage>").replace("processor", "<stage>").replace("sink", "<stage>");
            assert!(
                doc.contains(&format!("`{n}`")) || doc.contains(&format!("`{stage_generic}`")),
                "{n} is not documented in docs/metrics.md"
            );
        }
        let dashboard =
            std::fs::read_to_string(root.join("deploy/grafana/dashboards/newswire.json")).unwrap();
        let mut used = 0;
        for word in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(base) = word.strip_prefix("newswire_") {
                let base = format!("newswire_{base}");
                let base = base.trim_end_matches("_bucket");
                if base.contains("pipeline") {
                    continue;
                }
                used += 1;
                assert!(names.iter().any(|n| n == base), "dashboard queries unknown metric {word}");
            }
        }
        assert!(used > 10, "the dashboard should query the pipeline metrics");
    }
}
