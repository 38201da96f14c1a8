//! The two messages that cross the bus.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ArticleId, Category, Lang, SourceId};

/// Version of the message contract. Additive changes keep it; anything else bumps it.
pub const SCHEMA_VERSION: u32 = 1;

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

/// HTTP facts about the response an item came from (absent for `file://` feeds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HttpMeta {
    /// Response status code.
    pub status: u16,
    /// URL after redirects.
    #[serde(default)]
    pub final_url: Option<String>,
    /// `Content-Type` header as sent.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `ETag` header, used for the next conditional request.
    #[serde(default)]
    pub etag: Option<String>,
    /// `Last-Modified` header, used for the next conditional request.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Character encoding the body was decoded from (e.g. `windows-1256`).
    #[serde(default)]
    pub charset: Option<String>,
}

/// One feed entry exactly as fetched, before any cleaning. Published by the fetcher on
/// `news.raw.<source>`; the raw stream keeps these for replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RawItem {
    /// Contract version this message was written with.
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// Stable id (see [`ArticleId`]); also the `Nats-Msg-Id` of the publish.
    pub id: ArticleId,
    /// The configured source the feed belongs to.
    pub source_id: SourceId,
    /// The feed's URL as configured.
    pub feed_url: String,
    /// The entry's own id (`guid`, `atom:id`, JSON Feed `id`), if it has one.
    #[serde(default)]
    pub guid: Option<String>,
    /// The entry's link as given (before canonicalisation), if any.
    #[serde(default)]
    pub link: Option<String>,
    /// Title as given (may contain entities or markup).
    #[serde(default)]
    pub title: Option<String>,
    /// Full content as given (`content:encoded`, `atom:content`, `content_html`), usually HTML.
    #[serde(default)]
    pub content: Option<String>,
    /// Summary or description as given, usually HTML.
    #[serde(default)]
    pub summary: Option<String>,
    /// Author names as given.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Category terms as given by the feed.
    #[serde(default)]
    pub feed_categories: Vec<String>,
    /// Publication time given by the feed, normalised to UTC; `None` if absent or unparsable.
    #[serde(default)]
    pub published: Option<DateTime<Utc>>,
    /// Last-update time given by the feed, normalised to UTC.
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
    /// Language declared by the feed or configured for the source (a hint, not a detection).
    #[serde(default)]
    pub language_hint: Option<Lang>,
    /// Category configured for the source.
    #[serde(default)]
    pub category: Category,
    /// When the fetcher received the feed.
    pub fetched_at: DateTime<Utc>,
    /// The HTTP response the feed came in, if it came over HTTP.
    #[serde(default)]
    pub http: Option<HttpMeta>,
}

impl RawItem {
    /// A stable 64-bit hash (the first 8 bytes of SHA-256) of the fields that make this
    /// entry's content: title, link, content, summary, published and updated times. The
    /// fetcher remembers it per entry (a re-polled entry with the same hash is not published
    /// again), it makes the raw message's `Nats-Msg-Id` (`<id>.<hash>`, so that a changed
    /// entry is not dropped as a repeat), and the processor drops a redelivered version before
    /// cleaning it. Fields are tagged (absent ≠ empty) and length-prefixed; `fetched_at` and
    /// the HTTP metadata, which change on every fetch, are left out.
    pub fn content_version(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for field in [&self.title, &self.link, &self.content, &self.summary] {
            match field {
                Some(s) => {
                    h.update([1]);
                    h.update((s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
                None => h.update([0]),
            }
        }
        for time in [self.published, self.updated] {
            match time {
                Some(t) => {
                    h.update([1]);
                    h.update(t.timestamp().to_le_bytes());
                    h.update(t.timestamp_subsec_nanos().to_le_bytes());
                }
                None => h.update([0]),
            }
        }
        let d = h.finalize();
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }

    /// Makes an item from outside safe to carry on: NUL and other control characters (but
    /// tab, line feed and carriage return) removed from every text field, empty authors and
    /// categories dropped, and a `link` that is not an absolute `http(s)` URL removed (a
    /// `javascript:` or `data:` link must never reach a consumer as the article's URL).
    /// PostgreSQL's JSONB refuses `\u0000`, so one NUL would otherwise fail a whole batch.
    pub fn sanitize(&mut self) {
        fn clean(s: &mut String) {
            if s.chars().any(is_unwanted_control) {
                s.retain(|c| !is_unwanted_control(c));
            }
        }
        for field in [&mut self.title, &mut self.content, &mut self.summary, &mut self.guid, &mut self.link]
            .into_iter()
            .flatten()
        {
            clean(field);
        }
        for list in [&mut self.authors, &mut self.feed_categories] {
            list.iter_mut().for_each(clean);
            list.retain(|s| !s.trim().is_empty());
        }
        let web = |l: &String| {
            url::Url::parse(l.trim())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        };
        if self.link.as_ref().is_some_and(|l| !web(l)) {
            self.link = None;
        }
    }

    /// Shortens `content`, then `summary`, until the item's JSON fits in `max_bytes`, cutting
    /// at a character boundary. Returns whether anything was cut. An entry larger than the
    /// bus's message limit would otherwise never be published (and be retried on every poll).
    pub fn trim_to(&mut self, max_bytes: usize) -> bool {
        let mut trimmed = false;
        for _ in 0..8 {
            let size = serde_json::to_vec(self).map_or(usize::MAX, |v| v.len());
            if size <= max_bytes {
                return trimmed;
            }
            // JSON escaping makes the text a little larger than its bytes: cut the excess and
            // a margin, from the longer field first.
            let excess = size - max_bytes + 1024;
            let field = match (&mut self.content, &mut self.summary) {
                (Some(c), Some(s)) if s.len() > c.len() => s,
                (Some(c), _) if !c.is_empty() => c,
                (_, Some(s)) if !s.is_empty() => s,
                _ => return trimmed,
            };
            let mut keep = field.len().saturating_sub(excess);
            while !field.is_char_boundary(keep) {
                keep -= 1;
            }
            field.truncate(keep);
            trimmed = true;
        }
        trimmed
    }

    /// The `Nats-Msg-Id` of this version of the entry: `<id>.<content_version in hex>`.
    pub fn msg_id(&self) -> String {
        format!("{}.{:016x}", self.id, self.content_version())
    }
}

/// Control characters that carry no text: all but tab, line feed and carriage return.
fn is_unwanted_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Kind of a named entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A person.
    Person,
    /// A country, city or region.
    Place,
    /// A company, ministry, agency or party.
    Organization,
    /// Anything else worth indexing.
    Other,
}

/// A named entity found in an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Entity {
    /// Canonical name (one spelling for all variants, e.g. `Putin` for بوتين and بوتن).
    pub name: String,
    /// What it is.
    pub kind: EntityKind,
    /// How many times it occurs.
    #[serde(default)]
    pub count: u32,
}

/// Fingerprints used for deduplication, kept on the article so that downstream systems can
/// deduplicate against it too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fingerprints {
    /// SHA-256 (128 bits, hex) of the normalised title and text: equal for exact copies.
    pub content_hash: String,
    /// 64-bit SimHash of the normalised text as 16 hex digits, when computed.
    #[serde(default)]
    pub simhash: Option<String>,
}

/// How an article relates to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateKind {
    /// Same normalised content under another id.
    Exact,
    /// Nearly the same text (re-publication with small edits).
    Near,
}

/// Duplicate information: set when this article is a copy of an earlier, canonical one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicateInfo {
    /// The canonical article's id.
    pub of: ArticleId,
    /// Exact or near.
    pub kind: DuplicateKind,
    /// Similarity to the canonical article in `[0, 1]` (1 for exact copies).
    pub similarity: f32,
}

/// A processed article: clean text, language and enrichment. Published by the processor on
/// `news.articles.<lang>.<category>` and stored by the sink, keyed by `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Article {
    /// Contract version this message was written with.
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// Stable id, same as the [`RawItem`] it came from.
    pub id: ArticleId,
    /// Canonical URL of the article, when the entry had a usable link.
    #[serde(default)]
    pub canonical_url: Option<String>,
    /// The configured source.
    pub source_id: SourceId,
    /// The feed it was read from.
    pub feed_url: String,
    /// Clean title (plain text, whitespace collapsed).
    pub title: String,
    /// Clean body text: paragraphs separated by a blank line.
    pub text: String,
    /// Detected language (`und` when undetermined).
    pub language: Lang,
    /// Category (from the source's configuration).
    #[serde(default)]
    pub category: Category,
    /// Publication time, RFC 3339 in UTC; `None` when the feed gave none.
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    /// When the fetcher received it, RFC 3339 in UTC.
    pub fetched_at: DateTime<Utc>,
    /// When the processor produced this article, RFC 3339 in UTC.
    pub processed_at: DateTime<Utc>,
    /// Author names.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Named entities.
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Keywords, most salient first.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A short extractive summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Topic categories assigned by enrichment (the feed's own terms included).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Story cluster id: articles about the same event share it.
    #[serde(default)]
    pub story_id: Option<String>,
    /// Dedup fingerprints.
    #[serde(default)]
    pub fingerprints: Fingerprints,
    /// Set when this article is a copy of an earlier one.
    #[serde(default)]
    pub duplicate: Option<DuplicateInfo>,
    /// Set when this message is a new version of an article published before under the same
    /// id (a correction, an update): consumers replace what they hold for `id`. Absent on an
    /// article's first version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

/// What a revision changed, compared with the previous version of the article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevisionChange {
    /// The title only.
    Title,
    /// The text only.
    Text,
    /// Both.
    Both,
}

/// A new version of an article already published (same id, changed title or text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Revision {
    /// 1 for the first revision, then 2, 3…; the first version has no `revision`.
    pub number: u32,
    /// What changed.
    pub changed: RevisionChange,
    /// Similarity of this version's text to the previous version's, in `[0, 1]` (from their
    /// 64-bit SimHashes: 1 − Hamming distance / 64; 1 when only the title changed).
    pub similarity: f32,
}
