use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use newswire_model::{Article, ArticleId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::batch::Batch;
use crate::{ArticleStore, StoreError, UpsertResult, decode_row, meta_json};

const SCHEMA: &str = include_str!("../migrations/sqlite.sql");

/// The embedded default store: one SQLite file in WAL mode, no server to run.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the schema.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::sqlite)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable against process crashes (what redelivery protects
            // against); only an OS crash can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(opts)
            .await
            // A local file that cannot be opened will not open on retry either.
            .map_err(|e| {
                StoreError::Config(format!("cannot open SQLite database {}: {e}", path.display()))
            })?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(StoreError::sqlite)?;
        Ok(Self { pool })
    }
}

/// Columns written per article.
const COLUMNS: usize = 15;

/// Rows per multi-row statement: 500 × 15 = 7,500 bound parameters, well under the bundled
/// SQLite's limit of 32,766, while a sink batch (256 by default) still takes one statement.
const ROWS_PER_STATEMENT: usize = 500;

const _: () = assert!(ROWS_PER_STATEMENT * COLUMNS <= 32_766);

/// `(?, ?, …)` groups: `rows` of `width` placeholders each, comma-separated.
fn placeholders(rows: usize, width: usize) -> String {
    let group = format!("({})", vec!["?"; width].join(", "));
    vec![group.as_str(); rows].join(", ")
}

fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO articles (id, canonical_url, source_id, title, body, language, category,
            published_at, fetched_at, processed_at, stored_at, story_id, duplicate_of, content_hash, meta)
         VALUES {}
         ON CONFLICT (id) DO UPDATE SET canonical_url = excluded.canonical_url,
            source_id = excluded.source_id, title = excluded.title, body = excluded.body,
            language = excluded.language, category = excluded.category,
            published_at = excluded.published_at, fetched_at = excluded.fetched_at,
            processed_at = excluded.processed_at, stored_at = excluded.stored_at,
            story_id = excluded.story_id, duplicate_of = excluded.duplicate_of,
            content_hash = excluded.content_hash, meta = excluded.meta",
        placeholders(rows, COLUMNS)
    )
}

impl ArticleStore for SqliteStore {
    async fn upsert(&self, articles: &[Article]) -> Result<Vec<UpsertResult>, StoreError> {
        if articles.is_empty() {
            return Ok(Vec::new());
        }
        let batch = Batch::new(articles);
        // IMMEDIATE takes the write lock now, so the hashes read below cannot change before
        // the rows are written (a deferred read-then-write can also fail with SQLITE_BUSY).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::sqlite)?;

        let ids: Vec<&str> = batch.ids().collect();
        let mut stored: HashMap<String, String> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, content_hash FROM articles WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            stored.extend(query.fetch_all(&mut *tx).await.map_err(StoreError::sqlite)?);
        }

        let mut results = vec![UpsertResult::Unchanged; articles.len()];
        let rows: Vec<&Article> = batch
            .groups()
            .iter()
            .filter_map(|g| {
                let id = batch.article(g[0]).id.as_str();
                batch.replay(g, stored.get(id).map(String::as_str), &mut results)
            })
            .collect();

        let now = ts(Utc::now());
        // Revisions (rare): the versions they replace go to article_revisions first.
        let archive = batch.archive();
        for (id, number, new_hash) in &archive.from_row {
            sqlx::query(
                "INSERT INTO article_revisions (id, revision, title, body, content_hash, meta, archived_at)
                 SELECT id, ?, title, body, content_hash, meta, ? FROM articles
                 WHERE id = ? AND content_hash <> ?
                 ON CONFLICT (id, revision) DO NOTHING",
            )
            .bind(i64::from(*number))
            .bind(&now)
            .bind(*id)
            .bind(*new_hash)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sqlite)?;
        }
        for (a, number) in &archive.in_batch {
            sqlx::query(
                "INSERT INTO article_revisions (id, revision, title, body, content_hash, meta, archived_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, revision) DO NOTHING",
            )
            .bind(a.id.as_str())
            .bind(i64::from(*number))
            .bind(&a.title)
            .bind(&a.text)
            .bind(&a.fingerprints.content_hash)
            .bind(meta_json(a)?)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sqlite)?;
        }
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_sql(chunk.len())));
            for a in chunk {
                query = query
                    .bind(a.id.as_str())
                    .bind(a.canonical_url.as_deref())
                    .bind(a.source_id.as_str())
                    .bind(&a.title)
                    .bind(&a.text)
                    .bind(a.language.as_str())
                    .bind(a.category.as_str())
                    .bind(a.published_at.map(ts))
                    .bind(ts(a.fetched_at))
                    .bind(ts(a.processed_at))
                    .bind(&now)
                    .bind(a.story_id.as_deref())
                    .bind(a.duplicate.as_ref().map(|d| d.of.as_str()))
                    .bind(&a.fingerprints.content_hash)
                    .bind(meta_json(a)?);
            }
            query.execute(&mut *tx).await.map_err(StoreError::sqlite)?;
        }
        tx.commit().await.map_err(StoreError::sqlite)?;
        Ok(results)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM articles")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::sqlite)?;
        Ok(n.max(0) as u64)
    }

    async fn get(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        let row = sqlx::query("SELECT title, body, meta FROM articles WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sqlite)?;
        row.as_ref().map(|r| decode_row(r, StoreError::sqlite)).transpose()
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Article>, StoreError> {
        let rows = sqlx::query("SELECT title, body, meta FROM articles ORDER BY published_at IS NULL, published_at DESC, id LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sqlite)?;
        rows.iter().map(|r| decode_row(r, StoreError::sqlite)).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(StoreError::sqlite)?;
        Ok(())
    }

    async fn revisions(&self, id: &ArticleId) -> Result<Vec<(u32, Article)>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, title, body, meta FROM article_revisions WHERE id = ? ORDER BY revision",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sqlite)?;
        rows.iter()
            .map(|r| {
                let n: i64 = sqlx::Row::try_get(r, "revision").map_err(StoreError::sqlite)?;
                Ok((u32::try_from(n).unwrap_or(0), decode_row(r, StoreError::sqlite)?))
            })
            .collect()
    }
}
