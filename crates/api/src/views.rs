//! The JSON bodies of the API. Articles are the message contract itself ([`Article`], the same
//! JSON as on the bus and in `schemas/article.schema.json`); the rest are views of the store's
//! types, kept here so that a store change does not silently change the API.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use newswire_model::{Article, ArticleId, Lang, SourceId};
use newswire_store::{SearchHit, SourceStats, Story, StoryDetail, StoryGrowth};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// Stands for [`Article`] in the OpenAPI document: utoipa cannot derive a schema for a type of
/// another crate, so this names it, and [`crate::openapi::document`] puts the JSON Schema the
/// model crate generates (the committed `article.schema.json`) in its place.
#[derive(Debug)]
pub struct ArticleSchema;

impl PartialSchema for ArticleSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).description(Some("See article.schema.json")).into()
    }
}

impl ToSchema for ArticleSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Article")
    }
}

/// Stands for [`newswire_model::StoryEvent`] in the OpenAPI document (see [`ArticleSchema`]).
#[derive(Debug)]
pub struct StoryEventSchema;

impl PartialSchema for StoryEventSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).description(Some("See story_event.schema.json")).into()
    }
}

impl ToSchema for StoryEventSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StoryEvent")
    }
}

/// A page of articles.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArticlePage {
    /// Newest first (by publication time, else fetch time).
    #[schema(value_type = Vec<ArticleSchema>)]
    pub items: Vec<Article>,
    /// Pass as `cursor` for the next page; `null` on the last page. Also in the `Link` header.
    pub next_cursor: Option<String>,
}

/// An earlier version of a revised article.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArchivedRevision {
    /// Its revision number: 0 for the first version, then 1, 2…
    pub number: u32,
    /// The article as it was.
    #[schema(value_type = ArticleSchema)]
    pub article: Article,
}

/// One article, with its earlier versions when it was revised.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArticleDetail {
    /// The current version.
    #[serde(flatten)]
    #[schema(value_type = ArticleSchema)]
    pub article: Article,
    /// Earlier versions, oldest first; absent when the article was never revised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<ArchivedRevision>,
}

/// A story: the aggregate of the articles clustered together.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoryView {
    /// The story id (the id of its first article).
    pub id: String,
    /// The language of its first article.
    #[schema(value_type = String)]
    pub language: Lang,
    /// The title of its first article.
    pub title: String,
    /// Articles stored with this story id, copies included.
    pub article_count: u64,
    /// Source ids of the outlets that carried it, in the order they first did.
    #[schema(value_type = Vec<String>)]
    pub outlets: Vec<SourceId>,
    /// The outlet that had it first.
    #[schema(value_type = String)]
    pub first_outlet: SourceId,
    /// Its earliest article.
    #[schema(value_type = String)]
    pub first_article: ArticleId,
    /// The earliest article time.
    pub first_seen: DateTime<Utc>,
    /// The latest article time.
    pub last_seen: DateTime<Utc>,
}

impl From<Story> for StoryView {
    fn from(s: Story) -> Self {
        Self {
            id: s.id,
            language: s.language,
            title: s.title,
            article_count: s.article_count,
            outlets: s.outlets,
            first_outlet: s.first_outlet,
            first_article: s.first_article,
            first_seen: s.first_seen,
            last_seen: s.last_seen,
        }
    }
}

/// A page of stories.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoryPage {
    /// Most recently active first (by `last_seen`).
    pub items: Vec<StoryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A story's size at the end of an hour in which it grew (cumulative).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrowthPoint {
    /// The end of the hour.
    pub at: DateTime<Utc>,
    /// Articles up to then.
    pub articles: u64,
    /// Outlets up to then.
    pub outlets: u64,
}

impl From<StoryGrowth> for GrowthPoint {
    fn from(g: StoryGrowth) -> Self {
        Self { at: g.at, articles: g.articles, outlets: g.outlets }
    }
}

/// A story with its articles and its growth over time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoryDetailView {
    /// The aggregate.
    #[serde(flatten)]
    pub story: StoryView,
    /// Its articles, oldest first (at most 1,000).
    #[schema(value_type = Vec<ArticleSchema>)]
    pub articles: Vec<Article>,
    /// Its growth, one point per hour with new articles.
    pub growth: Vec<GrowthPoint>,
}

impl From<StoryDetail> for StoryDetailView {
    fn from(d: StoryDetail) -> Self {
        Self {
            story: d.story.into(),
            articles: d.articles,
            growth: d.growth.into_iter().map(Into::into).collect(),
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    /// Relevance, higher is better; comparable within one result list only.
    pub score: f64,
    /// The article.
    #[schema(value_type = ArticleSchema)]
    pub article: Article,
}

impl From<SearchHit> for SearchResult {
    fn from(h: SearchHit) -> Self {
        Self { score: h.score, article: h.article }
    }
}

/// Search results, best first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// The query as received.
    pub query: String,
    /// The matching articles, best first, at most `limit`.
    pub items: Vec<SearchResult>,
}

/// A source (feed) and what newswire knows about it.
///
/// The poll fields come from the fetcher's per-feed status; they are absent until that status
/// is served (and for a source that is no longer polled), so clients must treat each as
/// optional.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    /// The source id, as in the feeds file.
    #[schema(value_type = String)]
    pub source_id: SourceId,
    /// Articles stored from it.
    pub articles: u64,
    /// When its latest article was stored.
    pub last_stored: Option<DateTime<Utc>>,
    /// When it was last polled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_poll: Option<DateTime<Utc>>,
    /// When a poll last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    /// The error of the last failed poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failed polls in a row (0 once a poll succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_streak: Option<u32>,
    /// Whether polling is paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

impl From<SourceStats> for SourceView {
    fn from(s: SourceStats) -> Self {
        Self {
            source_id: s.source_id,
            articles: s.articles,
            last_stored: s.last_stored,
            last_poll: None,
            last_success: None,
            last_error: None,
            error_streak: None,
            paused: None,
        }
    }
}

/// Fills the poll fields of `sources` from the registry's `feeds`, and adds the feeds that have
/// no stored article yet (0 articles); the result stays sorted by source id.
pub fn merge_feed_status(sources: &mut Vec<SourceView>, feeds: Vec<crate::feeds::FeedView>) {
    for f in feeds {
        let Ok(id) = SourceId::parse(&f.id) else { continue };
        let i = match sources.binary_search_by(|s| s.source_id.as_str().cmp(id.as_str())) {
            Ok(i) => i,
            Err(i) => {
                sources.insert(
                    i,
                    SourceView::from(SourceStats { source_id: id, articles: 0, last_stored: None }),
                );
                i
            }
        };
        let s = &mut sources[i];
        s.last_poll = f.last_poll;
        s.last_success = f.last_success;
        s.last_error = f.last_error;
        s.error_streak = Some(f.error_streak);
        s.paused = Some(f.paused);
    }
}

/// The sources.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SourceList {
    /// Every source with stored articles, by id.
    pub items: Vec<SourceView>,
}
