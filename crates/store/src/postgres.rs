use std::collections::HashMap;
use std::time::Duration;

use newswire_model::{Article, ArticleId};
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::batch::Batch;
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

/// The whole batch in one statement: one bound array per column, zipped by `UNNEST`.
/// `RETURNING` gives the rows written; a row left out had the same content hash (`Unchanged`).
/// `$15` lists ids written even with an equal hash (see `upsert`).
const UPSERT: &str = "INSERT INTO articles (id, canonical_url, source_id, title, body, language, category,
        published_at, fetched_at, processed_at, story_id, duplicate_of, content_hash, meta)
     SELECT id, canonical_url, source_id, title, body, language, category,
        published_at, fetched_at, processed_at, story_id, duplicate_of, content_hash, meta::jsonb
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[],
        $13::text[], $14::text[])
        AS t(id, canonical_url, source_id, title, body, language, category, published_at,
             fetched_at, processed_at, story_id, duplicate_of, content_hash, meta)
     ON CONFLICT (id) DO UPDATE SET canonical_url = EXCLUDED.canonical_url,
        source_id = EXCLUDED.source_id, title = EXCLUDED.title, body = EXCLUDED.body,
        language = EXCLUDED.language, category = EXCLUDED.category,
        published_at = EXCLUDED.published_at, fetched_at = EXCLUDED.fetched_at,
        processed_at = EXCLUDED.processed_at, stored_at = now(),
        story_id = EXCLUDED.story_id, duplicate_of = EXCLUDED.duplicate_of,
        content_hash = EXCLUDED.content_hash, meta = EXCLUDED.meta
     WHERE articles.content_hash IS DISTINCT FROM EXCLUDED.content_hash
        OR EXCLUDED.id = ANY($15::text[])
     RETURNING id, (xmax = 0)";

impl ArticleStore for PgStore {
    async fn upsert(&self, articles: &[Article]) -> Result<Vec<UpsertResult>, StoreError> {
        if articles.is_empty() {
            return Ok(Vec::new());
        }
        let batch = Batch::new(articles);
        let mut results = vec![UpsertResult::Unchanged; articles.len()];
        let mut tx = self.pool.begin().await.map_err(StoreError::pg)?;

        // An id that occurs more than once is written once, so its results cannot come from
        // RETURNING: they are replayed against the hash stored before the batch, read under
        // a row lock so that it cannot change before the write.
        let repeated: Vec<&str> =
            batch.groups().iter().filter(|g| g.len() > 1).map(|g| batch.article(g[0]).id.as_str()).collect();
        let stored: HashMap<String, String> = if repeated.is_empty() {
            HashMap::new()
        } else {
            sqlx::query_as::<_, (String, String)>(
                "SELECT id, content_hash FROM articles WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            )
            .bind(&repeated)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::pg)?
            .into_iter()
            .collect()
        };
        let mut rows: Vec<&Article> = Vec::with_capacity(batch.groups().len());
        // Replayed ids the replay says to write: written even when the final hash equals the
        // stored one (an update and its revert in one batch rewrite the row, as they would one
        // by one).
        let mut forced: Vec<&str> = Vec::new();
        for g in batch.groups() {
            let first = batch.article(g[0]);
            if g.len() == 1 {
                rows.push(first);
            } else if let Some(a) =
                batch.replay(g, stored.get(first.id.as_str()).map(String::as_str), &mut results)
            {
                rows.push(a);
                forced.push(a.id.as_str());
            }
        }
        if rows.is_empty() {
            tx.commit().await.map_err(StoreError::pg)?;
            return Ok(results);
        }
        // Rows are locked in id order, so that concurrent sinks with overlapping batches take
        // their locks in the same order (and wait rather than deadlock).
        rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));

        // Revisions (rare): the versions they replace go to article_revisions first.
        let archive = batch.archive();
        for (id, number, new_hash) in &archive.from_row {
            sqlx::query(
                "INSERT INTO article_revisions (id, revision, title, body, content_hash, meta)
                 SELECT id, $2, title, body, content_hash, meta FROM articles
                 WHERE id = $1 AND content_hash <> $3
                 ON CONFLICT (id, revision) DO NOTHING",
            )
            .bind(*id)
            .bind(i32::try_from(*number).unwrap_or(i32::MAX))
            .bind(*new_hash)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::pg)?;
        }
        for (a, number) in &archive.in_batch {
            sqlx::query(
                "INSERT INTO article_revisions (id, revision, title, body, content_hash, meta)
                 VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (id, revision) DO NOTHING",
            )
            .bind(a.id.as_str())
            .bind(i32::try_from(*number).unwrap_or(i32::MAX))
            .bind(&a.title)
            .bind(&a.text)
            .bind(&a.fingerprints.content_hash)
            .bind(meta_json(a)?)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::pg)?;
        }

        let metas = rows.iter().map(|a| meta_json(a)).collect::<Result<Vec<_>, _>>()?;
        let written: HashMap<String, bool> = sqlx::query_as::<_, (String, bool)>(UPSERT)
            .bind(rows.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.canonical_url.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.source_id.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.title.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.text.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.language.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.category.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.published_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.fetched_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.processed_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.story_id.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.duplicate.as_ref().map(|d| d.of.as_str())).collect::<Vec<_>>())
            .bind(rows.iter().map(|a| a.fingerprints.content_hash.as_str()).collect::<Vec<_>>())
            .bind(&metas)
            .bind(&forced)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::pg)?
            .into_iter()
            .collect();
        tx.commit().await.map_err(StoreError::pg)?;

        for g in batch.groups().iter().filter(|g| g.len() == 1) {
            results[g[0]] = match written.get(batch.article(g[0]).id.as_str()) {
                // xmax = 0: no earlier version of the row, so it was inserted.
                Some(true) => UpsertResult::Inserted,
                Some(false) => UpsertResult::Updated,
                None => UpsertResult::Unchanged,
            };
        }
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

    async fn revisions(&self, id: &ArticleId) -> Result<Vec<(u32, Article)>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, title, body, meta::text AS meta FROM article_revisions WHERE id = $1 ORDER BY revision",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::pg)?;
        rows.iter()
            .map(|r| {
                let n: i32 = sqlx::Row::try_get(r, "revision").map_err(StoreError::pg)?;
                Ok((u32::try_from(n).unwrap_or(0), decode_row(r, StoreError::pg)?))
            })
            .collect()
    }
}
