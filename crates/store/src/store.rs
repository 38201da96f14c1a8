use newswire_model::{Article, ArticleId};

use crate::{
    ArticleFilter, ArticleQueries, Page, PageRequest, PgStore, SearchHit, SinkSettings, SourceStats,
    SqliteStore, StoreError, Story, StoryChange, StoryDetail,
};

/// Outcome of upserting one article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertResult {
    /// A new row.
    Inserted,
    /// The row existed with other content and was replaced.
    Updated,
    /// The row existed with the same content; nothing was written.
    Unchanged,
}

impl UpsertResult {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertResult::Inserted => "inserted",
            UpsertResult::Updated => "updated",
            UpsertResult::Unchanged => "unchanged",
        }
    }
}

/// Durable article storage. Every method is safe to retry.
#[allow(
    async_fn_in_trait,
    reason = "used through the concrete Store enum, never as dyn; Send is not required by its callers"
)]
pub trait ArticleStore {
    /// Upserts a batch in one transaction: all or nothing. Results are in input order; an id
    /// that occurs more than once gets the results of upserting the articles one after another.
    async fn upsert(&self, articles: &[Article]) -> Result<Vec<UpsertResult>, StoreError>;
    /// Number of stored articles.
    async fn count(&self) -> Result<u64, StoreError>;
    /// One article by id.
    async fn get(&self, id: &ArticleId) -> Result<Option<Article>, StoreError>;
    /// Checks the connection (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// The most recently published articles, newest first (undated ones last).
    async fn recent(&self, limit: u32) -> Result<Vec<Article>, StoreError>;
    /// The earlier versions of a revised article, oldest first, each with its revision number
    /// (0: the first version); the current version is the row itself ([`get`](Self::get)).
    async fn revisions(&self, id: &ArticleId) -> Result<Vec<(u32, Article)>, StoreError>;
}

/// The configured store.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite file.
    Sqlite(SqliteStore),
    /// PostgreSQL server.
    Postgres(PgStore),
}

impl Store {
    /// Opens the store the settings name (PostgreSQL when `database_url` is set, else SQLite)
    /// and applies the schema.
    pub async fn open(settings: &SinkSettings) -> Result<Self, StoreError> {
        match settings.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => Ok(Store::Postgres(
                PgStore::connect(url, settings.max_connections)
                    .await?
                    .with_search_indexing(settings.search_indexing),
            )),
            None => {
                Ok(Store::Sqlite(SqliteStore::open(&settings.sqlite_path, settings.max_connections).await?))
            }
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

impl ArticleStore for Store {
    async fn upsert(&self, articles: &[Article]) -> Result<Vec<UpsertResult>, StoreError> {
        match self {
            Store::Sqlite(s) => s.upsert(articles).await,
            Store::Postgres(s) => s.upsert(articles).await,
        }
    }
    async fn count(&self) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.count().await,
            Store::Postgres(s) => s.count().await,
        }
    }
    async fn get(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        match self {
            Store::Sqlite(s) => s.get(id).await,
            Store::Postgres(s) => s.get(id).await,
        }
    }
    async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Postgres(s) => s.ping().await,
        }
    }
    async fn recent(&self, limit: u32) -> Result<Vec<Article>, StoreError> {
        match self {
            Store::Sqlite(s) => s.recent(limit).await,
            Store::Postgres(s) => s.recent(limit).await,
        }
    }
    async fn revisions(&self, id: &ArticleId) -> Result<Vec<(u32, Article)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.revisions(id).await,
            Store::Postgres(s) => s.revisions(id).await,
        }
    }
}

impl ArticleQueries for Store {
    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        page: &PageRequest,
    ) -> Result<Page<Article>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_articles(filter, page).await,
            Store::Postgres(s) => s.list_articles(filter, page).await,
        }
    }
    async fn list_stories(
        &self,
        filter: &ArticleFilter,
        page: &PageRequest,
    ) -> Result<Page<Story>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_stories(filter, page).await,
            Store::Postgres(s) => s.list_stories(filter, page).await,
        }
    }
    async fn story(&self, id: &str) -> Result<Option<StoryDetail>, StoreError> {
        match self {
            Store::Sqlite(s) => s.story(id).await,
            Store::Postgres(s) => s.story(id).await,
        }
    }
    async fn search(
        &self,
        query: &str,
        filter: &ArticleFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        match self {
            Store::Sqlite(s) => s.search(query, filter, limit).await,
            Store::Postgres(s) => s.search(query, filter, limit).await,
        }
    }
    async fn sources(&self) -> Result<Vec<SourceStats>, StoreError> {
        match self {
            Store::Sqlite(s) => s.sources().await,
            Store::Postgres(s) => s.sources().await,
        }
    }
    async fn pending_story_changes(&self, limit: u32) -> Result<Vec<StoryChange>, StoreError> {
        match self {
            Store::Sqlite(s) => s.pending_story_changes(limit).await,
            Store::Postgres(s) => s.pending_story_changes(limit).await,
        }
    }
    async fn mark_story_changes_published(&self, published: &[(String, u64)]) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.mark_story_changes_published(published).await,
            Store::Postgres(s) => s.mark_story_changes_published(published).await,
        }
    }
}
