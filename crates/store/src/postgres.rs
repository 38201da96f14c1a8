use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use newswire_model::{Article, ArticleId, SourceId};
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::{QueryBuilder, Row};

use crate::batch::{Batch, RowState};
use crate::search;
use crate::stories::{self, Member, StoryRow};
use crate::{
    ArticleFilter, ArticleQueries, ArticleStore, Cursor, Page, PageRequest, SearchHit, SearchIndexing,
    SourceStats, StoreError, Story, StoryChange, StoryDetail, UpsertResult, decode_row, meta_json,
    search_hits,
};

/// The production store: PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    indexing: SearchIndexing,
}

/// `search_version` of a row a deferred upsert stored: queued for [`PgStore::index_queued`]
/// (migration 4 indexes the queue). Built terms carry [`search::TERMS_VERSION`] (≥ 1).
const QUEUED: i32 = 0;

/// `search_version` of a queued row whose stored form could not be read back to build its
/// terms (it was edited by hand): taken out of the queue, so that it does not stall it, and
/// logged. It stays listable; it is not searchable.
const UNINDEXABLE: i32 = -1;

/// What one [`PgStore::index_queued`] pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPass {
    /// Rows given their search terms.
    pub indexed: usize,
    /// Rows taken out of the queue unindexed, because they could not be read back.
    pub unindexable: usize,
    /// When the oldest row still queued after the pass was stored; `None` when none is.
    pub oldest_queued: Option<DateTime<Utc>>,
}

impl PgStore {
    /// Connects, brings the schema up to date (versioned migrations; sqlx's migrator holds an
    /// advisory lock, so sinks starting at once migrate one after another) and indexes the
    /// rows stored before search existed. Search terms are built in each upsert's transaction
    /// ([`SearchIndexing::Inline`]) unless [`with_search_indexing`](Self::with_search_indexing)
    /// says otherwise.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::pg)?;
        crate::migrate::postgres()
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { backend: "postgres", source })?;
        let store = Self { pool, indexing: SearchIndexing::Inline };
        store.index_unindexed().await?;
        Ok(store)
    }

    /// The same store, writing search terms as `indexing` says. With
    /// [`SearchIndexing::Deferred`], an upsert stores its rows queued for
    /// [`index_queued`](Self::index_queued), which someone must then run (the sink does:
    /// [`crate::service::index_search`]).
    pub fn with_search_indexing(self, indexing: SearchIndexing) -> Self {
        Self { indexing, ..self }
    }

    /// How upserts write search terms.
    pub fn search_indexing(&self) -> SearchIndexing {
        self.indexing
    }

    /// Builds the search terms of up to `limit` queued rows (stored by a deferred upsert),
    /// oldest first, in one transaction. The rows are locked and others skipped, so that
    /// several sinks index the queue together without doing a row twice, and an upsert of a
    /// row being indexed waits for the pass (then queues the row again). A row that cannot be
    /// read back is taken out of the queue unindexed ([`IndexPass::unindexable`], logged).
    pub async fn index_queued(&self, limit: u32) -> Result<IndexPass, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::pg)?;
        let rows = sqlx::query(
            "SELECT id, title, body, meta::text AS meta FROM articles WHERE search_version = $1
             ORDER BY stored_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(QUEUED)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::pg)?;
        let mut articles = Vec::with_capacity(rows.len());
        let mut unreadable: Vec<String> = Vec::new();
        for r in &rows {
            match decode_row(r, StoreError::pg) {
                Ok(a) => articles.push(a),
                Err(error) => {
                    let id: String = r.try_get("id").map_err(StoreError::pg)?;
                    tracing::error!(message = "A stored article cannot be read back; it is left out of search.", article_id = %id, %error);
                    unreadable.push(id);
                }
            }
        }
        if !articles.is_empty() {
            let refs: Vec<&Article> = articles.iter().collect();
            let vectors = crate::built_terms(spawn_tsvectors(&refs)).await?;
            set_terms(&mut tx, &articles, &vectors).await?;
        }
        if !unreadable.is_empty() {
            sqlx::query("UPDATE articles SET search_version = $2 WHERE id = ANY($1)")
                .bind(&unreadable)
                .bind(UNINDEXABLE)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::pg)?;
        }
        tx.commit().await.map_err(StoreError::pg)?;
        let oldest_queued: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(stored_at) FROM articles WHERE search_version = $1")
                .bind(QUEUED)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::pg)?;
        Ok(IndexPass { indexed: articles.len(), unindexable: unreadable.len(), oldest_queued })
    }

    /// The pool (for tools and benchmarks that measure next to the store).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Builds search terms and stories for rows that have none (stored before migration 2,
    /// or marked for re-indexing by a later one), a chunk per transaction. Their stories are
    /// built without events: they were never announced, and announcing the whole history at
    /// upgrade would flood subscribers.
    async fn index_unindexed(&self) -> Result<(), StoreError> {
        const CHUNK: i64 = 500;
        let mut total = 0usize;
        loop {
            let mut tx = self.pool.begin().await.map_err(StoreError::pg)?;
            let rows = sqlx::query(
                "SELECT title, body, meta::text AS meta FROM articles WHERE search_version IS NULL
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(CHUNK)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::pg)?;
            if rows.is_empty() {
                break;
            }
            let articles =
                rows.iter().map(|r| decode_row(r, StoreError::pg)).collect::<Result<Vec<_>, _>>()?;
            let vectors: Vec<TsVector> =
                articles.iter().map(|a| TsVector(search::document_terms(a).tsvector())).collect();
            set_terms(&mut tx, &articles, &vectors).await?;
            let stories: Vec<String> = articles.iter().filter_map(|a| a.story_id.clone()).collect();
            apply_stories(&mut tx, &[], stories, false).await?;
            tx.commit().await.map_err(StoreError::pg)?;
            total += articles.len();
        }
        if total > 0 {
            tracing::info!(message = "Indexed stored articles for search.", articles = total);
        }
        Ok(())
    }
}

/// Writes the search terms `vectors[i]` of the stored `articles[i]`.
async fn set_terms(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    articles: &[Article],
    vectors: &[TsVector],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE articles SET search = t.search, search_version = $3
         FROM UNNEST($1::text[], $2::tsvector[]) AS t(id, search) WHERE articles.id = t.id",
    )
    .bind(articles.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
    .bind(vectors)
    .bind(search::TERMS_VERSION)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::pg)?;
    Ok(())
}

/// Rows in the first search window: a few times [`search::SEARCH_CANDIDATES`], so that a
/// common word fills it at once.
const SEARCH_FIRST_WINDOW: i64 = 4 * search::SEARCH_CANDIDATES;

/// The window after one of `rows` rows that held `found` (< [`search::SEARCH_CANDIDATES`])
/// candidates: large enough, at their density, to hold them with a margin, and at least four
/// times larger. A window larger than the store is the whole store.
fn next_window(rows: i64, found: i64) -> i64 {
    let by_density = rows.saturating_mul(search::SEARCH_CANDIDATES) / found.max(1) * 3 / 2;
    by_density.max(rows.saturating_mul(4))
}

impl PgStore {
    /// The time from which the newest `rows` rows (in the filter's time range) start, walking
    /// the time index; `None` when there are fewer.
    async fn window_start(
        &self,
        filter: &ArticleFilter,
        rows: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new("SELECT a.sort_at FROM articles a WHERE TRUE");
        if let Some(t) = filter.since {
            q.push(" AND a.sort_at >= ").push_bind(t);
        }
        if let Some(t) = filter.until {
            q.push(" AND a.sort_at < ").push_bind(t);
        }
        q.push(" ORDER BY a.sort_at DESC, a.id DESC OFFSET ").push_bind(rows - 1).push(" LIMIT 1");
        let row = q.build().fetch_optional(&self.pool).await.map_err(StoreError::pg)?;
        row.map(|r| r.try_get("sort_at")).transpose().map_err(StoreError::pg)
    }

    /// The final page of a search among the newest [`search::SEARCH_CANDIDATES`] matches at or
    /// after `bound` (all matches when `None`), each row with the number of candidates found.
    /// Rows are found with `match_query` and ranked with `rank_query` (see
    /// [`search::match_tsquery`]).
    async fn search_candidates(
        &self,
        (rank_query, match_query): (&str, &str),
        filter: &ArticleFilter,
        bound: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<sqlx::postgres::PgRow>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT a.title, a.body, a.meta::text AS meta, c.score, c.candidates
             FROM (SELECT m.id, m.sort_at, ts_rank('{0.05, 0.1, 0.4, 1.0}', m.search, ",
        );
        q.push_bind(rank_query.to_owned()).push(
            "::tsquery)::float8 AS score, count(*) OVER () AS candidates
                   FROM (SELECT a.id, a.sort_at, a.search FROM ",
        );
        // The window's matches in a sub-query of their own, which OFFSET 0 keeps the planner
        // from merging into the ordered, limited one: merged, it may walk the time index and
        // test row after row (its estimate of a query's matches can be far off), 100,000 rows
        // for two Arabic words. Apart, it fetches the matches the two indexes agree on.
        q.push("(SELECT a.id, a.sort_at, a.search FROM articles a WHERE a.search @@ ");
        q.push_bind(match_query.to_owned()).push("::tsquery");
        push_article_filter(&mut q, filter);
        if let Some(t) = bound {
            q.push(" AND a.sort_at >= ").push_bind(t);
        }
        q.push(" OFFSET 0) a ORDER BY a.sort_at DESC, a.id DESC LIMIT ")
            .push_bind(search::SEARCH_CANDIDATES)
            .push(") m ORDER BY score DESC, m.sort_at DESC, m.id DESC LIMIT ")
            .push_bind(i64::from(limit))
            .push(") c JOIN articles a ON a.id = c.id ORDER BY c.score DESC, c.sort_at DESC, c.id DESC");
        // Not prepared: planned with this query's words and window each time. A prepared
        // statement switches to a generic plan after five runs, and a plan that cannot see the
        // words or the window is the slow one (seconds instead of milliseconds).
        q.build().persistent(false).fetch_all(&self.pool).await.map_err(StoreError::pg)
    }
}

/// The whole batch in one statement: one bound array per column, zipped by `UNNEST`.
/// `RETURNING` gives the rows written; a row left out had the same content, story and
/// duplicate (`Unchanged`, see [`RowState`]).
/// `$15` lists ids written even with an equal hash (see `upsert`); `$16` holds the search
/// terms as binary tsvectors built in Rust, `$17` their version. A deferred upsert sends no
/// terms and version [`QUEUED`]: a new row has none until it is indexed, an updated one keeps
/// its previous terms (searchable by its old words for that moment rather than by none).
const UPSERT: &str = "INSERT INTO articles (id, canonical_url, source_id, title, body, language, category,
        published_at, fetched_at, processed_at, story_id, duplicate_of, content_hash, meta,
        search, search_version)
     SELECT id, canonical_url, source_id, title, body, language, category,
        published_at, fetched_at, processed_at, story_id, duplicate_of, content_hash, meta::jsonb,
        search, $17
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[],
        $13::text[], $14::text[], $16::tsvector[])
        AS t(id, canonical_url, source_id, title, body, language, category, published_at,
             fetched_at, processed_at, story_id, duplicate_of, content_hash, meta, search)
     ON CONFLICT (id) DO UPDATE SET canonical_url = EXCLUDED.canonical_url,
        source_id = EXCLUDED.source_id, title = EXCLUDED.title, body = EXCLUDED.body,
        language = EXCLUDED.language, category = EXCLUDED.category,
        published_at = EXCLUDED.published_at, fetched_at = EXCLUDED.fetched_at,
        processed_at = EXCLUDED.processed_at, stored_at = now(),
        story_id = EXCLUDED.story_id, duplicate_of = EXCLUDED.duplicate_of,
        content_hash = EXCLUDED.content_hash, meta = EXCLUDED.meta,
        search = coalesce(EXCLUDED.search, articles.search), search_version = EXCLUDED.search_version
     WHERE articles.content_hash IS DISTINCT FROM EXCLUDED.content_hash
        OR articles.story_id IS DISTINCT FROM EXCLUDED.story_id
        OR articles.duplicate_of IS DISTINCT FROM EXCLUDED.duplicate_of
        OR EXCLUDED.id = ANY($15::text[])
     RETURNING id, (xmax = 0),
        -- An updated row's story before the update: a sub-select in RETURNING reads the
        -- snapshot the statement started from (only revisions pay for it).
        CASE WHEN xmax = 0 THEN NULL
             ELSE (SELECT old.story_id FROM articles old WHERE old.id = articles.id) END";

/// Rows per upsert statement: small enough that building the next chunk's terms overlaps most
/// of the batch's insert, large enough that per-statement overhead stays small.
const PIPELINE_ROWS: usize = 64;

/// Rows in a batch's first statement: the database waits for its terms, so it is short, and
/// the second chunk's terms are built alongside it (two chunks are kept ahead).
const FIRST_CHUNK_ROWS: usize = 16;

/// The binary tsvectors of `chunk`'s rows, built while the previous chunk is inserted.
fn spawn_tsvectors(chunk: &[&Article]) -> tokio::task::JoinHandle<Vec<TsVector>> {
    crate::spawn_terms(chunk, |t| TsVector(t.tsvector()))
}

/// A `tsvector` in the binary wire format ([`search::DocTerms::tsvector`]), bound as is: the
/// server reads it without parsing a literal.
struct TsVector(Vec<u8>);

impl sqlx::Type<Postgres> for TsVector {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        // Built-in type OIDs are fixed (pg_type.dat): no lookup by name.
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(3614))
    }
}

impl sqlx::postgres::PgHasArrayType for TsVector {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(3643))
    }
}

impl sqlx::Encode<'_, Postgres> for TsVector {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(&self.0);
        Ok(sqlx::encode::IsNull::No)
    }
}

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
        let stored: HashMap<String, RowState> = if repeated.is_empty() {
            HashMap::new()
        } else {
            sqlx::query_as::<_, (String, String, Option<String>, Option<String>)>(
                "SELECT id, content_hash, story_id, duplicate_of FROM articles WHERE id = ANY($1)
                 ORDER BY id FOR UPDATE",
            )
            .bind(&repeated)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::pg)?
            .into_iter()
            .map(|(id, content_hash, story_id, duplicate_of)| {
                (id, RowState { content_hash, story_id, duplicate_of })
            })
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
            } else if let Some(a) = batch.replay(g, stored.get(first.id.as_str()), &mut results) {
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

        // The rows go in chunks, and each chunk's search terms are built on a blocking thread
        // while the database writes the chunk before: term building (~0.1 ms per article) and
        // the insert (GIN postings, TOAST) then take a core each instead of taking turns.
        // Deferred, no terms are built here.
        let deferred = self.indexing == SearchIndexing::Deferred;
        let spawn = |c: &[&Article]| (!deferred).then(|| spawn_tsvectors(c));
        let version = if deferred { QUEUED } else { search::TERMS_VERSION };
        let mut returned: Vec<(String, bool, Option<String>)> = Vec::with_capacity(rows.len());
        let (first, rest) = rows.split_at(rows.len().min(FIRST_CHUNK_ROWS));
        let mut chunks = std::iter::once(first).chain(rest.chunks(PIPELINE_ROWS));
        let mut ahead: std::collections::VecDeque<_> =
            chunks.by_ref().take(2).map(|c| (c, spawn(c))).collect();
        while let Some((chunk, terms)) = ahead.pop_front() {
            let vectors: Vec<Option<TsVector>> = match terms {
                Some(t) => crate::built_terms(t).await?.into_iter().map(Some).collect(),
                None => chunk.iter().map(|_| None).collect(),
            };
            ahead.extend(chunks.next().map(|c| (c, spawn(c))));
            let metas = chunk.iter().map(|a| meta_json(a)).collect::<Result<Vec<_>, _>>()?;
            returned.extend(
                sqlx::query_as::<_, (String, bool, Option<String>)>(UPSERT)
                    .bind(chunk.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.canonical_url.as_deref()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.source_id.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.title.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.text.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.language.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.category.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.published_at).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.fetched_at).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.processed_at).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|a| a.story_id.as_deref()).collect::<Vec<_>>())
                    .bind(
                        chunk.iter().map(|a| a.duplicate.as_ref().map(|d| d.of.as_str())).collect::<Vec<_>>(),
                    )
                    .bind(chunk.iter().map(|a| a.fingerprints.content_hash.as_str()).collect::<Vec<_>>())
                    .bind(&metas)
                    .bind(&forced)
                    .bind(&vectors)
                    .bind(version)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::pg)?,
            );
        }

        // Stories: new rows merge into theirs; a revision's story (and the one it left, if it
        // moved) is recomputed from its articles.
        let mut written: HashMap<String, bool> = HashMap::with_capacity(returned.len());
        let mut recompute: Vec<String> = Vec::new();
        for (id, inserted, old_story) in returned {
            if !inserted {
                recompute.extend(old_story);
            }
            written.insert(id, inserted);
        }
        let mut new_members: Vec<Member> = Vec::new();
        for a in &rows {
            match written.get(a.id.as_str()) {
                Some(true) => new_members.extend(Member::of(a)),
                Some(false) => recompute.extend(a.story_id.clone()),
                None => {}
            }
        }
        apply_stories(&mut tx, &new_members, recompute, true).await?;
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

/// Brings the stories of a batch up to date, in the batch's transaction: `new_members` (rows
/// just inserted) merge into their stories; the stories in `recompute` are rebuilt from their
/// articles (`events`: whether that may raise an event; see [`stories::recompute`]).
async fn apply_stories(
    tx: &mut sqlx::PgConnection,
    new_members: &[Member],
    mut recompute: Vec<String>,
    events: bool,
) -> Result<(), StoreError> {
    recompute.sort_unstable();
    recompute.dedup();
    let mut ids: Vec<&str> =
        new_members.iter().map(|m| m.story.as_str()).chain(recompute.iter().map(String::as_str)).collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    // Concurrent sinks may touch the same story, even one neither has stored yet: one lock
    // per story id, taken in id order (so they queue instead of deadlocking), held to commit.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended(s, 16)) FROM unnest($1::text[]) AS s")
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::pg)?;
    let existing: HashMap<String, StoryRow> =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STORY_COLUMNS} FROM stories WHERE id = ANY($1)")))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::pg)?
            .iter()
            .map(story_row)
            .map(|r| r.map(|r| (r.id.clone(), r)))
            .collect::<Result<_, _>>()?;

    let merged: Vec<Member> =
        new_members.iter().filter(|m| recompute.binary_search(&m.story).is_err()).cloned().collect();
    let mut rows = stories::merge_new(&existing, &merged);
    let mut emptied: Vec<&str> = Vec::new();
    if !recompute.is_empty() {
        let mut members: HashMap<String, Vec<Member>> = HashMap::new();
        for r in sqlx::query(
            "SELECT story_id, id, source_id, language, title, sort_at FROM articles WHERE story_id = ANY($1)",
        )
        .bind(&recompute)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::pg)?
        {
            let m = Member {
                story: r.try_get("story_id").map_err(StoreError::pg)?,
                article: r.try_get("id").map_err(StoreError::pg)?,
                source: r.try_get("source_id").map_err(StoreError::pg)?,
                language: r.try_get("language").map_err(StoreError::pg)?,
                title: r.try_get("title").map_err(StoreError::pg)?,
                at: r.try_get("sort_at").map_err(StoreError::pg)?,
            };
            members.entry(m.story.clone()).or_default().push(m);
        }
        for id in &recompute {
            let list = members.get(id).map(Vec::as_slice).unwrap_or_default();
            match stories::recompute(existing.get(id), list, events) {
                Some(row) => rows.push(row),
                None => emptied.push(id),
            }
        }
    }
    // Only rows that changed are written.
    rows.retain(|r| existing.get(&r.id) != Some(r));
    if !rows.is_empty() {
        let outlets = rows.iter().map(StoryRow::outlets_json).collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "INSERT INTO stories (id, language, title, first_outlet, first_article, first_seen,
                last_seen, article_count, outlets, version, published_version, change_kind)
             SELECT id, language, title, first_outlet, first_article, first_seen, last_seen,
                article_count, outlets::jsonb, version, published_version, change_kind
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::timestamptz[], $7::timestamptz[], $8::bigint[], $9::text[], $10::bigint[],
                $11::bigint[], $12::text[])
                AS t(id, language, title, first_outlet, first_article, first_seen, last_seen,
                     article_count, outlets, version, published_version, change_kind)
             ON CONFLICT (id) DO UPDATE SET language = EXCLUDED.language, title = EXCLUDED.title,
                first_outlet = EXCLUDED.first_outlet, first_article = EXCLUDED.first_article,
                first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
                article_count = EXCLUDED.article_count, outlets = EXCLUDED.outlets,
                version = EXCLUDED.version, change_kind = EXCLUDED.change_kind,
                changed_at = CASE WHEN EXCLUDED.version <> stories.version THEN now()
                                  ELSE stories.changed_at END",
        )
        .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.language.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.first_outlet.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.first_article.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.first_seen).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.last_seen).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.article_count).collect::<Vec<_>>())
        .bind(&outlets)
        .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.published_version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| stories::kind_str(r.change_kind)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::pg)?;
    }
    if !emptied.is_empty() {
        sqlx::query("DELETE FROM stories WHERE id = ANY($1)")
            .bind(&emptied)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::pg)?;
    }
    Ok(())
}

const STORY_COLUMNS: &str = "id, language, title, first_outlet, first_article, first_seen, last_seen,
    article_count, outlets::text AS outlets, version, published_version, change_kind";

fn story_row(r: &sqlx::postgres::PgRow) -> Result<StoryRow, StoreError> {
    let outlets: String = r.try_get("outlets").map_err(StoreError::pg)?;
    let kind: String = r.try_get("change_kind").map_err(StoreError::pg)?;
    Ok(StoryRow {
        id: r.try_get("id").map_err(StoreError::pg)?,
        language: r.try_get("language").map_err(StoreError::pg)?,
        title: r.try_get("title").map_err(StoreError::pg)?,
        first_outlet: r.try_get("first_outlet").map_err(StoreError::pg)?,
        first_article: r.try_get("first_article").map_err(StoreError::pg)?,
        first_seen: r.try_get("first_seen").map_err(StoreError::pg)?,
        last_seen: r.try_get("last_seen").map_err(StoreError::pg)?,
        article_count: r.try_get("article_count").map_err(StoreError::pg)?,
        outlets: serde_json::from_str(&outlets)?,
        version: r.try_get("version").map_err(StoreError::pg)?,
        published_version: r.try_get("published_version").map_err(StoreError::pg)?,
        change_kind: stories::parse_kind(&kind),
    })
}

/// Appends the conditions of `f` (and of the cursor) on `articles AS a`.
fn push_article_filter(q: &mut QueryBuilder<Postgres>, f: &ArticleFilter) {
    if !f.languages.is_empty() {
        q.push(" AND a.language = ANY(")
            .push_bind(f.languages.iter().map(|l| l.as_str().to_owned()).collect::<Vec<_>>())
            .push(")");
    }
    if !f.sources.is_empty() {
        q.push(" AND a.source_id = ANY(")
            .push_bind(f.sources.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>())
            .push(")");
    }
    if !f.categories.is_empty() {
        q.push(" AND a.category = ANY(")
            .push_bind(f.categories.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>())
            .push(")");
    }
    if let Some(story) = &f.story {
        q.push(" AND a.story_id = ").push_bind(story.clone());
    }
    if let Some(t) = f.since {
        q.push(" AND a.sort_at >= ").push_bind(t);
    }
    if let Some(t) = f.until {
        q.push(" AND a.sort_at < ").push_bind(t);
    }
    if !f.include_duplicates {
        q.push(" AND a.duplicate_of IS NULL");
    }
}

/// A page of `items` fetched with one extra row: the extra says there is a next page.
fn page<T>(mut items: Vec<(T, Cursor)>, limit: usize) -> Page<T> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|(_, c)| c.clone())
    } else {
        None
    };
    Page { items: items.into_iter().map(|(t, _)| t).collect(), next }
}

impl ArticleQueries for PgStore {
    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        req: &PageRequest,
    ) -> Result<Page<Article>, StoreError> {
        let limit = req.limit.max(1) as usize;
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT a.title, a.body, a.meta::text AS meta, a.sort_at, a.id FROM articles a WHERE true",
        );
        push_article_filter(&mut q, filter);
        if let Some(c) = &req.after {
            q.push(" AND (a.sort_at, a.id) < (").push_bind(c.at).push(", ").push_bind(c.id.clone()).push(")");
        }
        q.push(" ORDER BY a.sort_at DESC, a.id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(StoreError::pg)?;
        let items = rows
            .iter()
            .map(|r| {
                let cursor = Cursor {
                    at: r.try_get("sort_at").map_err(StoreError::pg)?,
                    id: r.try_get("id").map_err(StoreError::pg)?,
                };
                Ok((decode_row(r, StoreError::pg)?, cursor))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, limit))
    }

    async fn list_stories(
        &self,
        filter: &ArticleFilter,
        req: &PageRequest,
    ) -> Result<Page<Story>, StoreError> {
        let limit = req.limit.max(1) as usize;
        let mut q =
            QueryBuilder::<Postgres>::new(format!("SELECT {STORY_COLUMNS} FROM stories s WHERE true"));
        if !filter.languages.is_empty() {
            q.push(" AND s.language = ANY(")
                .push_bind(filter.languages.iter().map(|l| l.as_str().to_owned()).collect::<Vec<_>>())
                .push(")");
        }
        if !filter.sources.is_empty() {
            q.push(" AND s.id IN (SELECT story_id FROM articles WHERE source_id = ANY(")
                .push_bind(filter.sources.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>())
                .push(") AND story_id IS NOT NULL)");
        }
        if let Some(t) = filter.since {
            q.push(" AND s.last_seen >= ").push_bind(t);
        }
        if let Some(t) = filter.until {
            q.push(" AND s.last_seen < ").push_bind(t);
        }
        if let Some(c) = &req.after {
            q.push(" AND (s.last_seen, s.id) < (")
                .push_bind(c.at)
                .push(", ")
                .push_bind(c.id.clone())
                .push(")");
        }
        q.push(" ORDER BY s.last_seen DESC, s.id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(StoreError::pg)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = story_row(r)?;
            let cursor = Cursor { at: row.last_seen, id: row.id.clone() };
            if let Some(s) = row.to_story() {
                items.push((s, cursor));
            }
        }
        Ok(page(items, limit))
    }

    async fn story(&self, id: &str) -> Result<Option<StoryDetail>, StoreError> {
        let Some(row) =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STORY_COLUMNS} FROM stories WHERE id = $1")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::pg)?
        else {
            return Ok(None);
        };
        let Some(story) = story_row(&row)?.to_story() else { return Ok(None) };
        let articles = sqlx::query(
            "SELECT title, body, meta::text AS meta FROM articles WHERE story_id = $1 ORDER BY sort_at, id LIMIT 1000",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::pg)?
        .iter()
        .map(|r| decode_row(r, StoreError::pg))
        .collect::<Result<Vec<_>, _>>()?;
        let points: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT sort_at, source_id FROM articles WHERE story_id = $1 ORDER BY sort_at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::pg)?;
        Ok(Some(StoryDetail { story, articles, growth: stories::growth(&points) }))
    }

    async fn search(
        &self,
        query: &str,
        filter: &ArticleFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let words = search::query_words(query, &filter.languages);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Only the newest SEARCH_CANDIDATES matches are ranked (news readers want recent
        // articles, and ranking every match of a common word grows with the store); the bodies
        // are read for the final page only. Weights {D, C, B, A}: skeleton weak, skeleton
        // strong, exact weak, exact strong; an exact match anywhere outweighs a skeleton-only
        // one.
        //
        // Finding the newest matches: the planner's choices both fail at scale. A bitmap scan
        // of the GIN index reads every match's row to sort them by time (16,000 rows, 200 ms
        // for two common English words over 200,000 articles), and walking the time index
        // tests every row's tsvector until enough match (a rare word walks the whole table).
        // Its estimates cannot pick well either: words of one language occur together, so
        // their selectivities do not multiply. So the query is bounded to a window of the
        // newest rows, where the time index and the GIN index are intersected (BitmapAnd)
        // and only the matches inside are read; a window that yields fewer than
        // SEARCH_CANDIDATES matches grows by their density until it covers the store. Each
        // window is the newest rows, so a full window's candidates are the newest overall.
        // Matched with the slim query (fewer GIN posting lists, the same rows), ranked with
        // every form.
        let (rank_query, match_query) = (search::tsquery(&words), search::match_tsquery(&words));
        let mut window = SEARCH_FIRST_WINDOW;
        // The planner's row count: a window past it is the whole store, found without walking
        // the time index to its end. A shortcut only, the result stays exact: a stale count
        // too low searches the whole store sooner, one too high leaves it to the walk, and a
        // table never analysed (-1) has no count.
        let mut rows_estimate: Option<f64> = None;
        loop {
            if window > SEARCH_FIRST_WINDOW && rows_estimate.is_none() {
                rows_estimate = Some(
                    sqlx::query_scalar(
                        "SELECT reltuples::float8 FROM pg_class WHERE oid = 'articles'::regclass",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::pg)?,
                );
            }
            let bound = match rows_estimate {
                Some(n) if n > 0.0 && window as f64 >= n * 1.1 => None,
                _ => self.window_start(filter, window).await?,
            };
            let rows = self.search_candidates((&rank_query, &match_query), filter, bound, limit).await?;
            let found: i64 = match rows.first() {
                Some(r) => r.try_get("candidates").map_err(StoreError::pg)?,
                None => 0,
            };
            if bound.is_none() || found >= search::SEARCH_CANDIDATES {
                return search_hits(&rows, StoreError::pg);
            }
            window = next_window(window, found);
        }
    }

    async fn sources(&self) -> Result<Vec<SourceStats>, StoreError> {
        let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT source_id, count(*), max(stored_at) FROM articles GROUP BY source_id ORDER BY source_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::pg)?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n, last)| {
                Some(SourceStats {
                    source_id: SourceId::parse(&s).ok()?,
                    articles: n.max(0) as u64,
                    last_stored: last,
                })
            })
            .collect())
    }

    async fn pending_story_changes(&self, limit: u32) -> Result<Vec<StoryChange>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STORY_COLUMNS} FROM stories WHERE version > published_version ORDER BY changed_at, id LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::pg)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.extend(story_row(r)?.to_change());
        }
        Ok(out)
    }

    async fn mark_story_changes_published(&self, published: &[(String, u64)]) -> Result<(), StoreError> {
        if published.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE stories SET published_version = GREATEST(published_version, LEAST(t.v, version))
             FROM UNNEST($1::text[], $2::bigint[]) AS t(id, v) WHERE stories.id = t.id",
        )
        .bind(published.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
        .bind(published.iter().map(|(_, v)| i64::try_from(*v).unwrap_or(i64::MAX)).collect::<Vec<_>>())
        .execute(&self.pool)
        .await
        .map_err(StoreError::pg)?;
        Ok(())
    }
}
