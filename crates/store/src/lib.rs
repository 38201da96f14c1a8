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
pub use postgres::{IndexPass, PgStore};
pub use query::{
    ArticleFilter, ArticleQueries, Cursor, Page, PageRequest, SearchHit, SourceStats, Story, StoryChange,
    StoryChangeKind, StoryDetail, StoryGrowth,
};
pub use settings::{SearchIndexing, SinkSettings};
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

/// The article minus title and body, as both stores keep it in the `meta` column (public for
/// the benchmarks, whose `COPY` baseline writes the same rows).
pub fn meta_json(a: &newswire_model::Article) -> Result<String, StoreError> {
    Ok(serde_json::to_string(&ArticleMeta::of(a))?)
}

/// Every field of [`newswire_model::Article`] but `title` and `text`, borrowed, with the same
/// serde names and rules. Serialising this view writes the `meta` column straight from the
/// article; going through a `serde_json::Value` of the whole article copied the body into the
/// tree only to drop it, while the database waited for the statement. [`ArticleMeta::of`]
/// stops compiling when `Article` gains a field, and the test
/// `meta_holds_every_article_field_but_title_and_text` checks that the view writes the
/// document the `Value` path wrote.
#[derive(serde::Serialize)]
struct ArticleMeta<'a> {
    schema_version: u32,
    id: &'a newswire_model::ArticleId,
    canonical_url: &'a Option<String>,
    source_id: &'a newswire_model::SourceId,
    feed_url: &'a str,
    language: &'a newswire_model::Lang,
    category: &'a newswire_model::Category,
    published_at: &'a Option<chrono::DateTime<chrono::Utc>>,
    fetched_at: &'a chrono::DateTime<chrono::Utc>,
    processed_at: &'a chrono::DateTime<chrono::Utc>,
    authors: &'a [String],
    entities: &'a [newswire_model::Entity],
    keywords: &'a [String],
    summary: &'a Option<String>,
    categories: &'a [String],
    story_id: &'a Option<String>,
    fingerprints: &'a newswire_model::Fingerprints,
    duplicate: &'a Option<newswire_model::DuplicateInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: &'a Option<newswire_model::Revision>,
}

impl<'a> ArticleMeta<'a> {
    fn of(a: &'a newswire_model::Article) -> Self {
        // Destructured, so that a field added to `Article` fails to compile here until this
        // view decides about it (title and text are the body columns).
        let newswire_model::Article {
            schema_version,
            id,
            canonical_url,
            source_id,
            feed_url,
            title: _,
            text: _,
            language,
            category,
            published_at,
            fetched_at,
            processed_at,
            authors,
            entities,
            keywords,
            summary,
            categories,
            story_id,
            fingerprints,
            duplicate,
            revision,
        } = a;
        Self {
            schema_version: *schema_version,
            id,
            canonical_url,
            source_id,
            feed_url,
            language,
            category,
            published_at,
            fetched_at,
            processed_at,
            authors,
            entities,
            keywords,
            summary,
            categories,
            story_id,
            fingerprints,
            duplicate,
            revision,
        }
    }
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
    article_from_columns(title, body, &meta)
}

/// The article whose `meta` column ([`meta_json`]) is `meta`, with its body columns.
fn article_from_columns(
    title: String,
    body: String,
    meta: &str,
) -> Result<newswire_model::Article, StoreError> {
    let mut v: serde_json::Value = serde_json::from_str(meta)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use newswire_model::{DuplicateInfo, DuplicateKind, Entity, EntityKind, Revision, RevisionChange};

    /// What `meta` held before [`ArticleMeta`]: the whole article as JSON, title and text
    /// removed. The view must write the same document (with similarities exact in binary:
    /// the `Value` path wrote an `f32` with the digits of its `f64` widening, 0.9 as
    /// 0.8999999761581421, the view writes its shortest form; both read back the same `f32`).
    fn meta_through_value(a: &newswire_model::Article) -> serde_json::Value {
        let mut v = serde_json::to_value(a).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("title");
            o.remove("text");
        }
        v
    }

    #[test]
    fn meta_holds_every_article_field_but_title_and_text() {
        let mut a = newswire_testkit::articles::article("meta", 1, "outlet", "ar", "عنوان", "نص المقال");
        let first = a.clone();
        a.authors = vec!["A. Writer".into()];
        a.entities = vec![Entity { name: "Putin".into(), kind: EntityKind::Person, count: 2 }];
        a.keywords = vec!["talks".into()];
        a.summary = Some("summary".into());
        a.categories = vec!["politics".into()];
        a.story_id = Some("story-1".into());
        a.fingerprints.simhash = Some("00ff00ff00ff00ff".into());
        a.duplicate =
            Some(DuplicateInfo { of: first.id.clone(), kind: DuplicateKind::Near, similarity: 0.75 });
        a.revision = Some(Revision { number: 2, changed: RevisionChange::Text, similarity: 0.5 });
        for a in [&first, &a] {
            let meta: serde_json::Value =
                serde_json::from_str(&meta_json(a).unwrap_or_default()).unwrap_or_default();
            assert_eq!(meta, meta_through_value(a));
            let keys = meta.as_object().map(|o| o.len()).unwrap_or(0);
            assert!(keys >= 18, "{meta}");
        }
        // Neither body column is in it, and with them it reads back as the article (as
        // `decode_row` reads it).
        let meta = meta_json(&a).unwrap_or_default();
        assert!(!meta.contains("نص المقال") && !meta.contains("عنوان"), "{meta}");
        a.duplicate = a.duplicate.map(|d| DuplicateInfo { similarity: 0.9, ..d });
        let meta = meta_json(&a).unwrap_or_default();
        let read = article_from_columns(a.title.clone(), a.text.clone(), &meta).ok();
        assert_eq!(read, Some(a));
    }
}
