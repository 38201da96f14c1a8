//! Full articles for teaser entries: most publishers' feeds carry a sentence or two and a link,
//! so the fetcher fetches the linked page, extracts its article and publishes that instead.
//!
//! - [`teaser`] (pure) decides whether an entry's text is a teaser; a feed's `full_text`
//!   setting ([`FullText`]) says whether to ask at all.
//! - [`PageFetcher`] (the async shell) fetches pages through the same guarded client as feeds
//!   (SSRF guard, size caps, charset detection), behind robots.txt and the per-host
//!   [`Politeness`] gate, and keeps the feed's text when the page gives nothing longer.
//!
//! Only entries about to be published are completed: a re-polled entry the fetcher has
//! published before costs no page request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use newswire_model::{ArticleId, RawItem};
use newswire_telemetry::metrics::FetcherMetrics;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::polite::{PoliteSettings, Politeness};
use crate::robots::Robots;
use crate::{FeedUrl, FetchError, FetcherSettings, HttpFetcher, Validators, decode_html, looks_binary};

/// A feed's `full_text` setting: when to replace an entry's text with its page's article.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FullText {
    /// When the entry's text is a teaser (see [`teaser`]).
    #[default]
    Auto,
    /// For every new entry with a link.
    Always,
    /// Never: the feed's text is the article.
    Never,
}

/// Why an entry's text looks like a teaser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teaser {
    /// No text at all, only a title.
    NoText,
    /// Fewer than [`TEASER_CHARS`] characters.
    Short,
    /// Ends in an ellipsis: cut off.
    CutOff,
    /// Ends with a "read more" / "continue reading" link text.
    ReadMore,
}

/// Below this many characters of text an entry is a teaser: one or two sentences. A short
/// full article (a brief) costs a page request that changes nothing.
pub const TEASER_CHARS: usize = 600;

/// Link texts that end a teaser, compared lower-cased with the last characters of its text.
const READ_MORE: &[&str] = &[
    "read more",
    "continue reading",
    "read the full story",
    "read full article",
    "full story",
    "more »",
    "lire la suite",
    "weiterlesen",
    "leer más",
    "اقرأ المزيد",
    "إقرأ المزيد",
    "تابع القراءة",
    "أكمل القراءة",
    "للمزيد",
    "المزيد",
];

/// The text of an entry as the processor will read it: its content, else its summary, as
/// text, trimmed.
fn entry_text(item: &RawItem) -> String {
    let html = item.content.as_deref().filter(|c| !c.trim().is_empty()).or(item.summary.as_deref());
    html.map(newswire_clean::html_to_text).map(|t| t.trim().to_owned()).unwrap_or_default()
}

/// Whether `item`'s text (content, else summary) is a teaser, and why.
pub fn teaser(item: &RawItem) -> Option<Teaser> {
    teaser_text(&entry_text(item))
}

/// [`teaser`] on the entry's text, already converted.
fn teaser_text(text: &str) -> Option<Teaser> {
    if text.is_empty() {
        return Some(Teaser::NoText);
    }
    let end = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ']' | ')' | '»' | '>' | '›'));
    if end.ends_with('…') || end.ends_with("...") || end.ends_with("[…") || end.ends_with("[...") {
        return Some(Teaser::CutOff);
    }
    let tail: String = {
        let start = end.char_indices().rev().nth(40).map_or(0, |(i, _)| i);
        end[start..].to_lowercase()
    };
    if READ_MORE.iter().any(|m| tail.ends_with(m) || tail.ends_with(&format!("{m}…"))) {
        return Some(Teaser::ReadMore);
    }
    (text.chars().count() < TEASER_CHARS).then_some(Teaser::Short)
}

/// Whether the page's article should replace a feed text of `feed_chars` characters: it
/// must be longer by a fifth, so that a page whose extraction found only the same teaser (or
/// less) leaves the feed's text alone.
pub fn page_is_better(feed_chars: usize, page_text: &str) -> bool {
    let page = page_text.chars().count();
    page >= 80 && page * 5 > feed_chars * 6
}

/// What happened to one entry's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageResult {
    /// The page's article replaced the entry's text.
    Fetched,
    /// Fetched, but it gave no longer text.
    KeptFeedText,
    /// The request or the page failed.
    Failed,
    /// robots.txt disallows it.
    SkippedRobots,
    /// Its host would have made it wait too long: the entry is held back for the next poll.
    Deferred,
    /// Held back for its host's limits for [`MAX_DEFER`]: published with the feed's text.
    SkippedLimits,
}

impl PageResult {
    /// The `result` label of `newswire_fetcher_pages_total`.
    pub fn label(self) -> &'static str {
        match self {
            PageResult::Fetched => "fetched",
            PageResult::KeptFeedText => "kept_feed_text",
            PageResult::Failed => "failed",
            PageResult::SkippedRobots => "skipped_robots",
            PageResult::Deferred => "deferred",
            PageResult::SkippedLimits => "skipped_limits",
        }
    }
}

/// How long an entry may be held back for its host's limits (a long `Retry-After`, a queue of
/// pages longer than `page_max_wait_secs`) before it is published with the feed's text.
pub const MAX_DEFER: Duration = Duration::from_secs(900);

/// Why a request through the gate gave no body.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// The gate would have made it wait longer than `page_max_wait_secs`.
    Limited,
    /// The request failed, with the HTTP status if the server answered.
    Failed { status: Option<u16> },
}

/// How long a robots.txt is trusted once read, and once it could not be read (then every
/// page of the host is disallowed, as RFC 9309 asks, but not for long).
const ROBOTS_TTL: Duration = Duration::from_secs(3600);
const ROBOTS_UNREACHABLE_TTL: Duration = Duration::from_secs(600);

type RobotsCell = Arc<tokio::sync::Mutex<Option<(Arc<Robots>, Instant)>>>;

/// Fetches the pages of teaser entries (see the module doc). Clones share the gate and caches.
#[derive(Debug, Clone)]
pub struct PageFetcher {
    http: HttpFetcher,
    gate: Politeness,
    /// Page requests in flight over all hosts.
    slots: Arc<Semaphore>,
    /// `None`: robots.txt is not read.
    robots: Option<Arc<Mutex<HashMap<String, RobotsCell>>>>,
    /// Our product token in robots.txt groups (the user agent's first word).
    agent: String,
    metrics: FetcherMetrics,
    /// Entries held back for their host's limits, and since when.
    deferred: Arc<Mutex<HashMap<ArticleId, Instant>>>,
}

impl PageFetcher {
    /// A page fetcher using `http` (the feeds' client) and the page settings of `settings`.
    pub fn new(http: HttpFetcher, settings: &FetcherSettings, metrics: FetcherMetrics) -> Self {
        let gate = Politeness::new(PoliteSettings {
            concurrency: settings.page_concurrency_per_host.max(1),
            min_interval: Duration::from_millis(settings.page_min_interval_ms),
            max_wait: Duration::from_secs(settings.page_max_wait_secs),
        });
        let agent = settings
            .user_agent
            .split(|c: char| c == '/' || c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_owned();
        Self {
            http,
            gate,
            slots: Arc::new(Semaphore::new(settings.page_max_concurrency.max(1))),
            robots: settings.respect_robots_txt.then(Arc::default),
            agent,
            metrics,
            deferred: Arc::default(),
        }
    }

    /// Completes the teasers among `items` (as `mode` says) with their pages' articles, all
    /// pages at once within the gate's limits. Returns what happened to each item's page
    /// (`None`: not asked for); a [`PageResult::Deferred`] item must not be published now.
    pub async fn complete(&self, items: &mut [RawItem], mode: FullText) -> Vec<Option<PageResult>> {
        // The entry's text is converted once: to tell a teaser, then to compare with the page.
        let asked: Vec<Option<usize>> = items
            .iter()
            .map(|i| {
                if i.link.is_none() || mode == FullText::Never {
                    return None;
                }
                let text = entry_text(i);
                (mode == FullText::Always || teaser_text(&text).is_some()).then(|| text.chars().count())
            })
            .collect();
        let results = futures_util::future::join_all(
            items.iter_mut().zip(&asked).filter_map(|(i, chars)| chars.map(|c| self.complete_one(i, c))),
        )
        .await;
        let mut results = results.into_iter();
        asked.iter().map(|a| if a.is_some() { results.next() } else { None }).collect()
    }

    /// `feed_chars`: characters of the entry's own text.
    async fn complete_one(&self, item: &mut RawItem, feed_chars: usize) -> PageResult {
        let mut result = self.fetch_page(item, feed_chars).await;
        let mut deferred = self.deferred.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if deferred.len() >= 10_000 {
            // Entries that never came back (gone from their feed) are forgotten.
            deferred.retain(|_, since| since.elapsed() < 2 * MAX_DEFER);
        }
        if result == PageResult::SkippedLimits {
            let since = *deferred.entry(item.id.clone()).or_insert_with(Instant::now);
            if since.elapsed() < MAX_DEFER {
                result = PageResult::Deferred;
            } else {
                deferred.remove(&item.id);
            }
        } else {
            deferred.remove(&item.id);
        }
        drop(deferred);
        self.metrics.pages.with_label_values(&[result.label()]).inc();
        result
    }

    async fn fetch_page(&self, item: &mut RawItem, feed_chars: usize) -> PageResult {
        let Some(link) = item.link.as_deref() else { return PageResult::Failed };
        // The same guard as feeds: no internal addresses, no `javascript:` or `file:` links.
        let url = match self.http.guard().parse(link) {
            Ok(FeedUrl::Http(u)) => u,
            Ok(_) | Err(_) => {
                tracing::debug!(message = "Entry link is not a fetchable page.", link);
                return PageResult::Failed;
            }
        };
        let Some(host) = host_key(&url) else { return PageResult::Failed };
        if self.robots.is_some() {
            match self.robots_for(&url, &host).await {
                Ok(r) if !r.allows(&path_and_query(&url)) => return PageResult::SkippedRobots,
                Ok(_) => {}
                Err(limited) => return limited,
            }
        }
        let Ok(_slot) = self.slots.acquire().await else { return PageResult::Failed };
        let mut answer = self.request(&url, &host).await;
        if let Err(Refused::Failed { status: Some(429 | 503) }) = answer {
            // Rate-limited or overloaded: once more, after the wait the answer imposed on the
            // host (`Retry-After` or back-off), if that fits in `page_max_wait_secs`.
            answer = self.request(&url, &host).await;
        }
        let body = match answer {
            Ok(b) => b,
            Err(Refused::Limited) => return PageResult::SkippedLimits,
            Err(Refused::Failed { .. }) => return PageResult::Failed,
        };
        if let Some(ct) = body.content_type.as_deref()
            && !is_page_type(ct)
        {
            tracing::debug!(message = "Link is not an HTML page.", url = %url, content_type = ct);
            return PageResult::Failed;
        }
        let decoded = match decode_html(&body.bytes, body.content_type.as_deref(), url.as_str()) {
            Ok(d) if !looks_binary(&d.text) => d.text,
            Ok(_) => {
                tracing::debug!(message = "Page is binary data, not HTML.", url = %url);
                return PageResult::Failed;
            }
            Err(error) => {
                tracing::debug!(message = "Page could not be decoded.", url = %url, %error);
                return PageResult::Failed;
            }
        };
        // Extraction is CPU work (an HTML parse): off the async workers.
        let page = match tokio::task::spawn_blocking(move || newswire_clean::extract_article(&decoded)).await
        {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(message = "Page extraction failed.", url = %url, %error);
                return PageResult::Failed;
            }
        };
        if !page_is_better(feed_chars, &page.text) {
            return PageResult::KeptFeedText;
        }
        // The teaser stays as the summary; the article becomes the content.
        if item.summary.is_none() {
            item.summary = item.content.take();
        }
        item.content = Some(page.text);
        if item.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            item.title = page.title;
        }
        PageResult::Fetched
    }

    /// One GET through the gate, telling it how the host answered.
    async fn request(&self, url: &Url, host: &str) -> Result<crate::Body, Refused> {
        let permit = self.gate.acquire(host).await.map_err(|_| Refused::Limited)?;
        self.metrics.politeness_wait.observe(permit.waited.as_secs_f64());
        let result = self.http.fetch(&FeedUrl::Http(url.clone()), &Validators::default()).await;
        drop(permit);
        match result {
            Ok(body) => {
                self.gate.answered(host, 200, None);
                Ok(body)
            }
            Err(error) => {
                tracing::debug!(message = "Page fetch failed.", url = %url, %error);
                let FetchError::Status { status, retry_after, .. } = error else {
                    return Err(Refused::Failed { status: None });
                };
                if self.gate.answered(host, status, retry_after) {
                    self.metrics.host_backoffs.inc();
                }
                Err(Refused::Failed { status: Some(status) })
            }
        }
    }

    /// The host's robots.txt, read once per [`ROBOTS_TTL`] (one request however many pages
    /// ask at once). Fails only when the gate refuses the request.
    async fn robots_for(&self, url: &Url, host: &str) -> Result<Arc<Robots>, PageResult> {
        let Some(cache) = &self.robots else { return Ok(Arc::new(Robots::allow_all())) };
        let key = format!("{}://{host}", url.scheme());
        let cell: RobotsCell = {
            let mut map = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(key).or_default().clone()
        };
        let mut cached = cell.lock().await;
        if let Some((robots, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(robots.clone());
        }
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let (robots, ttl) = match self.request(&robots_url, host).await {
            Ok(body) => (Robots::parse(&String::from_utf8_lossy(&body.bytes), &self.agent), ROBOTS_TTL),
            Err(Refused::Limited) => return Err(PageResult::SkippedLimits),
            // No robots.txt (4xx other than 429): nothing is disallowed.
            Err(Refused::Failed { status: Some(s) }) if (400..500).contains(&s) && s != 429 => {
                (Robots::allow_all(), ROBOTS_TTL)
            }
            // Unreachable (5xx, 429, network): RFC 9309 reads it as a complete disallow.
            Err(Refused::Failed { .. }) => (Robots::disallow_all(), ROBOTS_UNREACHABLE_TTL),
        };
        self.gate.set_crawl_delay(host, robots.crawl_delay());
        let robots = Arc::new(robots);
        *cached = Some((robots.clone(), Instant::now() + ttl));
        Ok(robots)
    }
}

/// Whether a `Content-Type` can hold an article page: HTML, XHTML, or text a server labelled
/// loosely. Images, PDFs, videos and the like are not extracted.
fn is_page_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime.is_empty() || mime.starts_with("text/") || mime.contains("html") || mime.contains("xml")
}

/// `host:port`, the unit of politeness.
fn host_key(url: &Url) -> Option<String> {
    Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(content: Option<&str>, summary: Option<&str>) -> RawItem {
        let json = serde_json::json!({
            "id": "0123456789abcdef0123456789abcdef",
            "source_id": "s",
            "feed_url": "http://x.example/feed",
            "content": content,
            "summary": summary,
            "fetched_at": "2026-11-27T00:00:00Z",
        });
        match serde_json::from_value(json) {
            Ok(i) => i,
            Err(e) => panic!("test item: {e}"),
        }
    }

    #[test]
    fn teasers_are_told_from_full_articles() {
        let long = "The talks resumed on Tuesday with both delegations present. ".repeat(20);
        assert_eq!(teaser(&item(Some(&format!("<p>{long}</p>")), None)), None);
        assert_eq!(teaser(&item(None, None)), Some(Teaser::NoText));
        assert_eq!(teaser(&item(Some("  "), Some(""))), Some(Teaser::NoText));
        assert_eq!(teaser(&item(None, Some("<p>Talks resumed in Riyadh.</p>"))), Some(Teaser::Short));
        // Long but cut off, or ending with a link to the rest.
        assert_eq!(
            teaser(&item(Some(&format!("{long} and then the minister said…")), None)),
            Some(Teaser::CutOff)
        );
        assert_eq!(teaser(&item(Some(&format!("{long} the minister [...]")), None)), Some(Teaser::CutOff));
        assert_eq!(
            teaser(&item(Some(&format!("<p>{long}</p><p><a href='/a'>Continue reading »</a></p>")), None)),
            Some(Teaser::ReadMore)
        );
        let ar = "استؤنفت المحادثات يوم الثلاثاء بحضور الوفدين في العاصمة. ".repeat(20);
        assert_eq!(
            teaser(&item(Some(&format!("<p>{ar}</p><a href='/a'>اقرأ المزيد</a>")), None)),
            Some(Teaser::ReadMore)
        );
        assert_eq!(teaser(&item(Some(&format!("<p>{ar}</p>")), None)), None);
    }

    #[test]
    fn the_page_replaces_the_feed_text_only_when_clearly_longer() {
        assert!(page_is_better(0, &"x".repeat(80)));
        assert!(!page_is_better(0, "too short to be an article"));
        assert!(page_is_better(200, &"x".repeat(1000)));
        assert!(
            !page_is_better(1000, &"x".repeat(1100)),
            "a tenth longer is the same teaser, not the article"
        );
    }
}
