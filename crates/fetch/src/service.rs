//! The fetcher's async shell: poll feeds on their intervals, publish raw items.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use newswire_bus::{Bus, BusError};
use newswire_model::{Category, Lang, SourceId};
use newswire_telemetry::metrics::FetcherMetrics;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::memory::FeedMemories;
use crate::pages::PageResult;
use crate::seen::{Decision, Fingerprint, Outcome};
use crate::{
    Body, FeedContext, FeedList, FeedSpec, FetchError, HttpFetcher, PageFetcher, ParsedFeed, Validators,
    parse_feed_capped,
};

/// The wait before a feed's next poll after `failures` failed polls in a row: its interval,
/// doubled per failure, at most an hour (or the interval, if that is longer).
pub fn failure_backoff(interval: Duration, failures: u32) -> Duration {
    let cap = interval.max(Duration::from_secs(3600));
    interval.saturating_mul(1 << failures.min(16)).min(cap)
}

/// The key feeds share a per-host fetch limit by: the URL's host and port (files and stdin:
/// none).
pub(crate) fn host_key(url: &crate::FeedUrl) -> String {
    match url {
        crate::FeedUrl::Http(u) => {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default().to_ascii_lowercase(),
                u.port_or_known_default().unwrap_or(0)
            )
        }
        crate::FeedUrl::File(_) | crate::FeedUrl::Stdin => String::new(),
    }
}

/// What one poll of one feed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// The server said 304 Not Modified.
    pub not_modified: bool,
    /// Entries in the feed: `seen + published + duplicates + failed + deferred`.
    pub entries: usize,
    /// Entries not published because this fetcher had already published them with the same
    /// content (the feed's memory, kept across restarts).
    pub seen: usize,
    /// Raw items new to JetStream.
    pub published: usize,
    /// Raw items JetStream already had (same id inside the duplicate window).
    pub duplicates: usize,
    /// Raw items that could not be published (they will be published again next poll).
    pub failed: usize,
    /// Teaser entries whose text was replaced by their page's article.
    pub pages: usize,
    /// Teaser entries held back for their page host's limits (published on a later poll).
    pub deferred: usize,
}

/// Fetches one feed and parses it: the exact code path of the service, shared with
/// `newswire inspect feed`. `None` when the server answered 304.
pub async fn fetch_and_parse(
    http: &HttpFetcher,
    feed: &FeedSpec,
    validators: &Validators,
) -> Result<Option<(ParsedFeed, Validators)>, FetchError> {
    let body = http.fetch(&feed.url, validators).await?;
    if body.not_modified {
        return Ok(None);
    }
    let parsed = parse_body(
        &body,
        &feed.id,
        &feed.url.to_string(),
        feed.language.as_ref(),
        &feed.category,
        http.max_items(),
    )?;
    Ok(Some((parsed, body.validators())))
}

/// Parses a fetched body as a feed of `source_id`: the step after [`HttpFetcher::fetch`],
/// shared by the fetcher and the offline commands (which read a body before knowing whether
/// it is a feed).
pub fn parse_body(
    body: &Body,
    source_id: &SourceId,
    feed_url: &str,
    language_hint: Option<&Lang>,
    category: &Category,
    max_items: usize,
) -> Result<ParsedFeed, FetchError> {
    let ctx = FeedContext {
        source_id: source_id.clone(),
        feed_url: feed_url.to_owned(),
        base_url: body.base_url.clone(),
        language_hint: language_hint.cloned(),
        category: category.clone(),
        fetched_at: Utc::now(),
        http: body.http.clone(),
    };
    parse_feed_capped(&body.bytes, body.content_type.as_deref(), &ctx, max_items)
}

/// The fetcher stage.
///
/// It remembers per feed which entries it has published (see [`seen`](crate::seen)), in
/// process and in the `FetcherSeen` key-value bucket of `bus` (so that a restart or another
/// replica remembers too), and publishes only new or changed entries.
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: HttpFetcher,
    bus: Bus,
    pub(crate) metrics: FetcherMetrics,
    pub(crate) memories: FeedMemories,
    /// Fetches the pages of teaser entries; `None`: entries are published as the feed has them.
    pages: Option<PageFetcher>,
}

impl Fetcher {
    /// A fetcher publishing on `bus`. The memory bucket is opened on first use (or by
    /// [`open_memory`](Self::open_memory)).
    pub fn new(http: HttpFetcher, bus: Bus, metrics: FetcherMetrics) -> Self {
        let memories = FeedMemories::new(bus.clone());
        Self { http, bus, metrics, memories, pages: None }
    }

    /// The bus this fetcher publishes on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Completes teaser entries with their pages' articles before publishing them, as each
    /// feed's `full_text` says (see [`pages`](crate::pages)).
    pub fn with_pages(mut self, pages: PageFetcher) -> Self {
        self.pages = Some(pages);
        self
    }

    /// Opens (creating if missing) the bucket of the feeds' memories, to learn at start-up
    /// whether it works. Polls work without it (they publish every entry), so an error here is
    /// worth a warning, not a stop.
    pub async fn open_memory(&self) -> Result<(), BusError> {
        self.memories.bucket().await.map(|_| ())
    }

    /// Polls one feed and publishes its new or changed items, oldest first; entries published
    /// before with the same content are skipped (`seen`). Only entries whose publish was
    /// acknowledged are remembered, and `validators` are updated only when every item was
    /// published, so that a failed publish is retried on the next poll instead of being hidden
    /// behind the memory or a 304. If the memory cannot be read, every entry is published
    /// (JetStream drops exact repeats inside its window): nothing is lost, only work repeated.
    pub async fn poll(&self, feed: &FeedSpec, validators: &mut Validators) -> Result<PollStats, FetchError> {
        let started = Instant::now();
        let result = fetch_and_parse(&self.http, feed, validators).await;
        self.metrics.fetch_duration.observe(started.elapsed().as_secs_f64());
        let (parsed, next_validators) = match result {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.metrics.polls.with_label_values(&["not_modified"]).inc();
                return Ok(PollStats { not_modified: true, ..PollStats::default() });
            }
            Err(e) => {
                let result = if e.is_parse_error() { "parse_error" } else { "fetch_error" };
                self.metrics.polls.with_label_values(&[result]).inc();
                self.metrics.stage.failed(e.metric_reason());
                return Err(e);
            }
        };
        self.metrics.polls.with_label_values(&["ok"]).inc();
        self.metrics.fetched_bytes.inc_by(parsed.body_bytes as u64);
        if parsed.capped > 0 {
            self.metrics.items_capped.inc_by(parsed.capped as u64);
            tracing::warn!(message = "Feed has more entries than max_items_per_feed; the rest were not read.", feed_id = %feed.id, read = parsed.items.len(), left_out = parsed.capped);
        }
        let mut items = parsed.items;
        self.metrics.stage.items_in.inc_by(items.len() as u64);
        // Oldest first, so that the first copy of a story the processor sees is the original.
        items.sort_by_key(|i| (i.published.is_none(), i.published));
        let mut stats = PollStats { entries: items.len(), ..PollStats::default() };
        let fingerprints: Vec<Fingerprint> = items.iter().map(Fingerprint::of).collect();
        let loaded = match self.memories.load(&feed.id).await {
            Ok(loaded) => Some(loaded),
            Err(error) => {
                tracing::warn!(message = "Feed memory unavailable; publishing every entry (JetStream drops exact repeats).", feed_id = %feed.id, %error);
                None
            }
        };
        let decisions = match &loaded {
            Some(l) => l.memory.diff(&fingerprints),
            None => vec![Decision::Publish; items.len()],
        };
        let changed = match &loaded {
            Some(l) => l.memory.changed(&fingerprints),
            None => vec![false; items.len()],
        };
        // Seen entries are on the bus already; the others are until their publish fails.
        let mut outcomes = vec![Outcome::OnBus; items.len()];
        let mut to_publish = Vec::with_capacity(items.len());
        let mut positions = Vec::with_capacity(items.len());
        for (i, (item, decision)) in items.into_iter().zip(&decisions).enumerate() {
            match decision {
                Decision::Publish => {
                    to_publish.push(item);
                    positions.push(i);
                }
                Decision::Seen => {
                    stats.seen += 1;
                    self.metrics.stage.dropped("seen");
                }
            }
        }
        // Pages only for entries about to be published: a re-polled one costs no request. The
        // memory's fingerprints were taken from the feed's text, so the next poll still knows
        // the entry.
        if let Some(pages) = &self.pages {
            let results = pages.complete(&mut to_publish, feed.full_text).await;
            stats.pages = results.iter().filter(|r| **r == Some(PageResult::Fetched)).count();
            // Held back for their host's limits: not published and not remembered, so that the
            // next poll (which gets no 304: validators are kept) asks for the page again.
            let mut kept = Vec::with_capacity(to_publish.len());
            let mut kept_positions = Vec::with_capacity(positions.len());
            for ((item, pos), result) in to_publish.into_iter().zip(positions).zip(results) {
                if result == Some(PageResult::Deferred) {
                    stats.deferred += 1;
                    if let Some(o) = outcomes.get_mut(pos) {
                        *o = Outcome::Failed;
                    }
                } else {
                    kept.push(item);
                    kept_positions.push(pos);
                }
            }
            (to_publish, positions) = (kept, kept_positions);
        }
        // An entry larger than a bus message would fail on every poll: its text is cut to fit
        // (headers and the JetStream envelope take the last few KiB).
        let limit = self.bus.max_payload().saturating_sub(8 * 1024);
        for item in &mut to_publish {
            if item.trim_to(limit) {
                self.metrics.items_trimmed.inc();
                tracing::warn!(message = "Entry too large for a bus message: its text was cut.", item_id = %item.id, limit);
            }
        }
        let changed: Vec<bool> =
            positions.iter().map(|p| changed.get(*p).copied().unwrap_or(false)).collect();
        let results = self.bus.publish_raw_batch(&to_publish, &changed).await;
        for ((item, result), i) in to_publish.iter().zip(results).zip(positions) {
            match result {
                Ok(p) if p.duplicate => {
                    stats.duplicates += 1;
                    self.metrics.stage.dropped("duplicate");
                }
                Ok(_) => {
                    stats.published += 1;
                    self.metrics.stage.items_out.inc();
                }
                Err(error) => {
                    stats.failed += 1;
                    self.metrics.stage.failed("publish");
                    if let Some(o) = outcomes.get_mut(i) {
                        *o = Outcome::Failed;
                    }
                    tracing::warn!(message = "Publishing raw item failed; it will be retried next poll.", %error, item_id = %item.id);
                }
            }
        }
        if let Some(loaded) = loaded {
            let current: Vec<(Fingerprint, Outcome)> = fingerprints.into_iter().zip(outcomes).collect();
            self.memories.store(&feed.id, loaded, &current).await;
        }
        if stats.failed == 0 && stats.deferred == 0 {
            *validators = next_validators;
        }
        Ok(stats)
    }

    /// Polls every feed once, `max_concurrency` at a time, and returns each result in feed
    /// order. Used by `--once` runs and the demo.
    pub async fn poll_all_once(
        &self,
        feeds: &FeedList,
        max_concurrency: usize,
    ) -> Vec<(SourceId, Result<PollStats, FetchError>)> {
        let permits = Arc::new(Semaphore::new(max_concurrency.max(1)));
        let mut tasks = Vec::with_capacity(feeds.feeds.len());
        for feed in feeds.feeds.iter().cloned() {
            let this = self.clone();
            let permits = permits.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                let mut validators = Validators::default();
                let r = this.poll(&feed, &mut validators).await;
                (feed.id, r)
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            match t.await {
                Ok(r) => out.push(r),
                Err(e) => tracing::error!(message = "Poll task panicked.", error = %e),
            }
        }
        out
    }

    /// Polls each feed on its interval until `shutdown`. Each feed has its own task; at most
    /// `max_concurrency` fetches run at once, and at most `per_host` of them to one host, so
    /// that a host that hangs (or a site with many feeds) holds only its own share of the
    /// slots. First polls are spread over the first interval (up to 10 s) so that a restart
    /// does not hit every server at the same instant.
    pub async fn run(
        self,
        feeds: FeedList,
        max_concurrency: usize,
        per_host: usize,
        shutdown: CancellationToken,
    ) {
        let permits = Arc::new(Semaphore::new(max_concurrency.max(1)));
        let mut hosts: std::collections::HashMap<String, Arc<Semaphore>> = std::collections::HashMap::new();
        let n = feeds.feeds.len().max(1) as u32;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, feed) in feeds.feeds.into_iter().enumerate() {
            let this = self.clone();
            let permits = permits.clone();
            let host_permits = hosts
                .entry(host_key(&feed.url))
                .or_insert_with(|| Arc::new(Semaphore::new(per_host.max(1))))
                .clone();
            let shutdown = shutdown.clone();
            let offset = feed.poll_interval.min(Duration::from_secs(10)) / n * i as u32;
            let span = tracing::info_span!("feed", feed_id = %feed.id);
            tasks.spawn(
                async move {
                    let mut validators = Validators::default();
                    let mut next = tokio::time::Instant::now() + offset;
                    // Failed polls in a row: a feed that keeps failing (a host that never
                    // answers) waits longer and longer, so that it does not take a fetch slot
                    // from the healthy feeds every round.
                    let mut failures: u32 = 0;
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep_until(next) => {}
                        }
                        next = tokio::time::Instant::now() + feed.poll_interval;
                        // The host's share first: a feed waiting for its host holds no
                        // global slot meanwhile.
                        // Waiting for a slot ends at shutdown; a poll under way is finished.
                        let slots = async {
                            let host = host_permits.acquire().await.ok()?;
                            let global = permits.acquire().await.ok()?;
                            Some((host, global))
                        };
                        let Some(_slots) = (tokio::select! {
                            () = shutdown.cancelled() => None,
                            s = slots => s,
                        }) else {
                            return;
                        };
                        let result = this.poll(&feed, &mut validators).await;
                        failures = if result.is_ok() { 0 } else { failures.saturating_add(1) };
                        if failures > 0 {
                            next =
                                tokio::time::Instant::now() + failure_backoff(feed.poll_interval, failures);
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
                            Err(error) => {
                                tracing::warn!(message = "Feed poll failed.", %error, kind = ?error.kind())
                            }
                        }
                    }
                }
                .instrument(span),
            );
        }
        while tasks.join_next().await.is_some() {}
    }
}
