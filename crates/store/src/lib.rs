//! Article storage and the sink stage.
//!
//! Parts:
//! - [`SinkSettings`]: the `[sink]` section (SQLite path or PostgreSQL URL, batching).
//! - [`ArticleStore`]: the one storage trait: idempotent batch upsert keyed by article id.
//! - [`SqliteStore`] (the zero-set-up default) and [`PgStore`] (production), and [`Store`],
//!   the enum the sink holds, chosen by configuration.
//! - [`service`]: the async shell: consume articles in batches, commit, then ack.
//!
//! Upsert semantics, the same in both stores: a new id is inserted; an id already stored with
//! the same content hash is left alone (`unchanged`: a redelivery or a re-poll); an id stored
//! with a different content hash is updated (the outlet corrected the article). A batch is
//! written with a few multi-row statements (PostgreSQL: one `UNNEST` upsert; SQLite: one
//! lookup, then multi-row inserts of the new and changed rows); an id repeated within a batch
//! is written once, with the results one-by-one upserts would give.

mod batch;
mod error;
mod migrate;
mod postgres;
pub mod query;
pub mod search;
pub mod service;
mod settings;
mod sqlite;
mod store;
mod stories;

pub use error::{SinkError, StoreError, StoreErrorKind};
pub use postgres::PgStore;
pub use query::{
    ArticleFilter, ArticleQueries, Cursor, Page, PageRequest, SearchHit, SourceStats, Story, StoryChange,
    StoryChangeKind, StoryDetail, StoryGrowth,
};
pub use settings::SinkSettings;
pub use sqlite::SqliteStore;
pub use store::{ArticleStore, Store, UpsertResult};

/// Builds the search terms of `rows` on a blocking thread, rendered for a store by `render`,
/// so that the database can work on the rows meanwhile. A panic there becomes a
/// [`StoreError::Index`] of the batch when awaited, which the sink bisects like a rejected row.
pub(crate) fn spawn_terms<T: Send + 'static>(
    rows: &[&newswire_model::Article],
    render: fn(&search::DocTerms) -> T,
) -> tokio::task::JoinHandle<Vec<T>> {
    let sources: Vec<search::TermSource> = rows.iter().map(|a| search::TermSource::of(a)).collect();
    tokio::task::spawn_blocking(move || sources.iter().map(|s| render(&s.terms())).collect())
}

/// Waits for [`spawn_terms`].
pub(crate) async fn built_terms<T>(terms: tokio::task::JoinHandle<Vec<T>>) -> Result<Vec<T>, StoreError> {
    terms.await.map_err(|e| StoreError::Index(e.to_string()))
}

/// The article minus title and body, as stored in the `meta` column.
pub(crate) fn meta_json(a: &newswire_model::Article) -> Result<String, StoreError> {
    let mut v = serde_json::to_value(a)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("title");
        o.remove("text");
    }
    Ok(v.to_string())
}

/// Rebuilds an article from a row's `title`, `body` and `meta` (JSON) columns; `db_err`
/// says which backend a column error came from.
pub(crate) fn decode_row<R: sqlx::Row>(
    r: &R,
    db_err: fn(sqlx::Error) -> StoreError,
) -> Result<newswire_model::Article, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let title: String = r.try_get("title").map_err(db_err)?;
    let body: String = r.try_get("body").map_err(db_err)?;
    let meta: String = r.try_get("meta").map_err(db_err)?;
    let mut v: serde_json::Value = serde_json::from_str(&meta)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("title".into(), title.into());
        o.insert("text".into(), body.into());
    }
    Ok(serde_json::from_value(v)?)
}

/// Search hits from rows with the columns [`decode_row`] reads and a `score` (f64).
pub(crate) fn search_hits<R: sqlx::Row>(
    rows: &[R],
    db_err: fn(sqlx::Error) -> StoreError,
) -> Result<Vec<SearchHit>, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|r| {
            Ok(SearchHit { article: decode_row(r, db_err)?, score: r.try_get("score").map_err(db_err)? })
        })
        .collect()
}
