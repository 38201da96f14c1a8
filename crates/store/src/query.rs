//! The read side of the store: what the query API asks of it. Both stores implement
//! [`ArticleQueries`] with the same semantics; the API is generic over it.
//!
//! Lists are ordered newest first by an article's *time*: its `published_at`, or its
//! `fetched_at` when the feed gave no date. Pagination is by keyset ([`Cursor`]: the time and
//! id of the last item returned), so a page never repeats or skips a row when rows are added
//! meanwhile.

use std::future::Future;

use chrono::{DateTime, Utc};
use newswire_model::{Article, ArticleId, Category, Lang, SourceId};

use crate::StoreError;

/// Filters shared by the article list, search and the live stream. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArticleFilter {
    /// Any of these languages.
    pub languages: Vec<Lang>,
    /// Any of these sources.
    pub sources: Vec<SourceId>,
    /// Any of these categories.
    pub categories: Vec<Category>,
    /// Only articles of this story.
    pub story: Option<String>,
    /// Article time at or after.
    pub since: Option<DateTime<Utc>>,
    /// Article time before.
    pub until: Option<DateTime<Utc>>,
    /// Copies (exact and near duplicates) are hidden unless this is set.
    pub include_duplicates: bool,
}

/// Where a page starts: after the item with this time and id (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last item's sort time.
    pub at: DateTime<Utc>,
    /// The last item's id (ties on `at` are broken by id, descending).
    pub id: String,
}

impl Cursor {
    /// The opaque form handed to clients: URL-safe, no padding.
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}", self.at.timestamp_micros(), self.id);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`encode`](Self::encode)'s output; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        if !s.len().is_multiple_of(2) || s.len() > 512 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        let text = String::from_utf8(bytes?).ok()?;
        let (micros, id) = text.split_once('|')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        (!id.is_empty()).then(|| Cursor { at, id: id.to_owned() })
    }
}

/// A page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (callers clamp it; stores treat 0 as 1).
    pub limit: u32,
    /// Start after this item; `None`: the first page.
    pub after: Option<Cursor>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<Cursor>,
}

/// A story as stored: the aggregate of its articles, kept up to date by every upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// The story id (`Article::story_id`).
    pub id: String,
    /// The language of its first article.
    pub language: Lang,
    /// The title of its first article.
    pub title: String,
    /// Articles stored with this story id (copies included).
    pub article_count: u64,
    /// The outlets (sources) that carried it, in the order they first did.
    pub outlets: Vec<SourceId>,
    /// The outlet of the earliest article (by article time).
    pub first_outlet: SourceId,
    /// The earliest article.
    pub first_article: ArticleId,
    /// The earliest article time.
    pub first_seen: DateTime<Utc>,
    /// The latest article time.
    pub last_seen: DateTime<Utc>,
}

/// A story's size at one point in time (cumulative, one point per hour with new articles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryGrowth {
    /// The end of the hour.
    pub at: DateTime<Utc>,
    /// Articles up to then.
    pub articles: u64,
    /// Outlets up to then.
    pub outlets: u64,
}

/// A story with its articles (oldest first) and its growth.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryDetail {
    /// The aggregate.
    pub story: Story,
    /// Its articles, oldest first (at most 1,000).
    pub articles: Vec<Article>,
    /// Its growth over time.
    pub growth: Vec<StoryGrowth>,
}

/// Why a story event is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryChangeKind {
    /// The story's first article was stored.
    Created,
    /// An article from an outlet new to the story was stored.
    NewOutlet,
}

/// A story change not yet published (the outbox of story events): written in the same
/// transaction as the articles that caused it, so that no event is lost to a crash between
/// commit and publish.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryChange {
    /// The story as it stands after the change.
    pub story: Story,
    /// Increases with every change of this story; with the id, the event's deduplication key.
    pub version: u64,
    /// Why.
    pub kind: StoryChangeKind,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The article.
    pub article: Article,
    /// Relevance, higher is better (comparable within one result list only).
    pub score: f64,
}

/// What a source has in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// The source.
    pub source_id: SourceId,
    /// Articles stored.
    pub articles: u64,
    /// When its latest article was stored.
    pub last_stored: Option<DateTime<Utc>>,
}

/// The read side of a store. Futures are `Send`, so that HTTP handlers can await them.
pub trait ArticleQueries: Send + Sync {
    /// Articles matching `filter`, newest first, one page.
    fn list_articles(
        &self,
        filter: &ArticleFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Article>, StoreError>> + Send;

    /// Stories, most recently active first (by `last_seen`; the cursor's time is `last_seen`);
    /// `filter.languages`, `since`/`until` (on `last_seen`) and `sources` (stories an outlet
    /// carried) apply.
    fn list_stories(
        &self,
        filter: &ArticleFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Story>, StoreError>> + Send;

    /// One story with its articles and growth.
    fn story(&self, id: &str) -> impl Future<Output = Result<Option<StoryDetail>, StoreError>> + Send;

    /// Full-text search: articles whose indexed text matches every word of `query` (in
    /// matching form, spelling variants folded), best first, at most `limit`.
    fn search(
        &self,
        query: &str,
        filter: &ArticleFilter,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SearchHit>, StoreError>> + Send;

    /// Per source: articles stored and the latest store time.
    fn sources(&self) -> impl Future<Output = Result<Vec<SourceStats>, StoreError>> + Send;

    /// Story changes not yet marked published, oldest first, at most `limit`.
    fn pending_story_changes(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoryChange>, StoreError>> + Send;

    /// Marks changes published: each story's changes up to and including `version`.
    fn mark_story_changes_published(
        &self,
        published: &[(String, u64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            id: "a|b".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "zz", "abc", "7c", "31"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
