use std::time::Duration;

use newswire_model::{Article, ArticleId};
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{ArticleStore, StoreError, UpsertResult, decode_row, meta_json};

const SCHEMA: &str = include_str!("../migrations/postgres.sql");

/// Serialises schema creation across sinks starting at once (CREATE … IF NOT EXISTS is not
/// safe against concurrent creators in PostgreSQL).
const SCHEMA_LOCK: i64 = 0x6e65_7773_7769_7265; // "newswire"

/// The production store: PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies the schema.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::pg)?;
        let mut tx = pool.begin().await.map_err(StoreError::pg)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::pg)?;
        sqlx::raw_sql(SCHEMA).execute(&mut *tx).await.map_err(StoreError::pg)?;
        tx.commit().await.map_err(StoreError::pg)?;
        Ok(Self { pool })
    }
}

impl ArticleStore for PgStore {
    async fn upsert(&self, articles: &[Article]) -> Result<Vec<UpsertResult>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::pg)?;
        let mut results = Vec::with_capacity(articles.len());
        for a in articles {
            // No row back: the content hash matched and nothing was written.
            let inserted: Option<bool> = sqlx::query_scalar(
                "INSERT INTO articles (id, canonical_url, source_id, title, body, language, category,
                    published_at, fetched_at, processed_at, story_id, duplicate_of, content_hash, meta)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)
                 ON CONFLICT (id) DO UPDATE SET canonical_url = EXCLUDED.canonical_url,
                    source_id = EXCLUDED.source_id, title = EXCLUDED.title, body = EXCLUDED.body,
                    language = EXCLUDED.language, category = EXCLUDED.category,
                    published_at = EXCLUDED.published_at, fetched_at = EXCLUDED.fetched_at,
                    processed_at = EXCLUDED.processed_at, stored_at = now(),
                    story_id = EXCLUDED.story_id, duplicate_of = EXCLUDED.duplicate_of,
                    content_hash = EXCLUDED.content_hash, meta = EXCLUDED.meta
                 WHERE articles.content_hash IS DISTINCT FROM EXCLUDED.content_hash
                 RETURNING (xmax = 0)",
            )
            .bind(a.id.as_str())
            .bind(a.canonical_url.as_deref())
            .bind(a.source_id.as_str())
            .bind(&a.title)
            .bind(&a.text)
            .bind(a.language.as_str())
            .bind(a.category.as_str())
            .bind(a.published_at)
            .bind(a.fetched_at)
            .bind(a.processed_at)
            .bind(a.story_id.as_deref())
            .bind(a.duplicate.as_ref().map(|d| d.of.as_str()))
            .bind(&a.fingerprints.content_hash)
            .bind(meta_json(a)?)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::pg)?;
            results.push(match inserted {
                Some(true) => UpsertResult::Inserted,
                Some(false) => UpsertResult::Updated,
                None => UpsertResult::Unchanged,
            });
        }
        tx.commit().await.map_err(StoreError::pg)?;
        Ok(results)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM articles")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::pg)?;
        Ok(n.max(0) as u64)
    }

    async fn get(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        let row = sqlx::query("SELECT title, body, meta::text AS meta FROM articles WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::pg)?;
        row.as_ref().map(|r| decode_row(r, StoreError::pg)).transpose()
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Article>, StoreError> {
        let rows = sqlx::query("SELECT title, body, meta::text AS meta FROM articles ORDER BY published_at IS NULL, published_at DESC, id LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::pg)?;
        rows.iter().map(|r| decode_row(r, StoreError::pg)).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(StoreError::pg)?;
        Ok(())
    }
}
