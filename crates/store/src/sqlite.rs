use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use newswire_model::{Article, ArticleId, SourceId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::batch::{Batch, RowState};
use crate::search;
use crate::stories::{self, Member, StoryRow};
use crate::{
    ArticleFilter, ArticleQueries, ArticleStore, Cursor, Page, PageRequest, SearchHit, SourceStats,
    StoreError, Story, StoryChange, StoryDetail, UpsertResult, decode_row, meta_json, search_hits,
};

/// The embedded default store: one SQLite file in WAL mode, no server to run.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// WAL pages written before SQLite checkpoints them into the database file.
const WAL_CHECKPOINT_PAGES: u64 = 16_384;

/// How long opening waits for another opener that holds the file (see [`SqliteStore::open`]).
const OPEN_BUSY_WAIT: Duration = Duration::from_secs(15);

/// Times are stored as RFC 3339 UTC text with milliseconds: one fixed width, so that text
/// order is time order (lists sort on it).
fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, brings the schema up to date (versioned
    /// migrations) and indexes the rows stored before search existed.
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
            // A sink batch writes a few thousand pages, past the default 1,000-page checkpoint:
            // every commit paid for a checkpoint that copied pages a later batch would dirty
            // again. At 16,384 pages (64 MB) checkpoints come every few batches (sink-alone
            // +15-20 %); the WAL file is cut back to that size after each.
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", (WAL_CHECKPOINT_PAGES * 4096).to_string())
            .busy_timeout(Duration::from_secs(10));
        // Switching a new file to WAL takes an exclusive lock that SQLite's busy timeout does
        // not wait for: two processes opening one new file at once (`newswire run` starts the
        // sink and the API together) can get SQLITE_BUSY here. That passes as soon as the
        // other opener is done, so it is retried; any other failure to open a local file will
        // not pass on retry.
        let deadline = tokio::time::Instant::now() + OPEN_BUSY_WAIT;
        let mut pause = Duration::from_millis(10);
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(opts.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if crate::error::sqlite_busy(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(message = "SQLite file busy while opening; retrying.", path = %path.display(), error = %e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(StoreError::Config(format!(
                        "cannot open SQLite database {}: {e}",
                        path.display()
                    )));
                }
            }
        };
        // sqlx takes no lock for SQLite migrations: two processes opening a new file at once
        // (the sink and `newswire-api`, say) can both try a migration, and the loser fails on
        // the winner's work (a duplicate column, a duplicate version). Each migration is its
        // own transaction, so running again sees what the winner applied and goes on.
        let migrator = crate::migrate::sqlite();
        let mut attempt = 0;
        loop {
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(source) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(message = "SQLite migration raced another opener; retrying.", error = %source);
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(source) => return Err(StoreError::Migrate { backend: "sqlite", source }),
            }
        }
        let store = Self { pool };
        store.index_unindexed().await?;
        Ok(store)
    }

    /// Builds search terms and stories for rows that have none (stored before migration 2,
    /// or marked for re-indexing by a later one), a chunk per transaction; their stories
    /// raise no events (see `PgStore`).
    async fn index_unindexed(&self) -> Result<(), StoreError> {
        let mut total = 0usize;
        loop {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::sqlite)?;
            let rows = sqlx::query(
                "SELECT rowid, title, body, meta FROM articles WHERE search_version IS NULL ORDER BY id LIMIT 500",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::sqlite)?;
            if rows.is_empty() {
                break;
            }
            let mut stories: Vec<String> = Vec::new();
            for r in &rows {
                let rowid: i64 = r.try_get("rowid").map_err(StoreError::sqlite)?;
                let a = decode_row(r, StoreError::sqlite)?;
                let [c1, c2, c3, c4] = search::document_terms(&a).fts_columns();
                // Re-indexing replaces what an earlier version of the terms left.
                sqlx::query("DELETE FROM articles_fts WHERE rowid = ?")
                    .bind(rowid)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::sqlite)?;
                sqlx::query(
                    "INSERT INTO articles_fts (rowid, exact_strong, exact_weak, skeleton_strong, skeleton_weak)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(rowid)
                .bind(c1)
                .bind(c2)
                .bind(c3)
                .bind(c4)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sqlite)?;
                sqlx::query("UPDATE articles SET search_version = ? WHERE rowid = ?")
                    .bind(search::TERMS_VERSION)
                    .bind(rowid)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::sqlite)?;
                stories.extend(a.story_id);
            }
            apply_stories(&mut tx, &[], stories, false).await?;
            tx.commit().await.map_err(StoreError::sqlite)?;
            total += rows.len();
        }
        if total > 0 {
            tracing::info!(message = "Indexed stored articles for search.", articles = total);
        }
        Ok(())
    }
}

/// Columns written per article.
const COLUMNS: usize = 16;

/// Rows per multi-row statement: 500 × 16 = 8,000 bound parameters, well under the bundled
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
            published_at, fetched_at, processed_at, stored_at, story_id, duplicate_of, content_hash, meta,
            search_version)
         VALUES {}
         ON CONFLICT (id) DO UPDATE SET canonical_url = excluded.canonical_url,
            source_id = excluded.source_id, title = excluded.title, body = excluded.body,
            language = excluded.language, category = excluded.category,
            published_at = excluded.published_at, fetched_at = excluded.fetched_at,
            processed_at = excluded.processed_at, stored_at = excluded.stored_at,
            story_id = excluded.story_id, duplicate_of = excluded.duplicate_of,
            content_hash = excluded.content_hash, meta = excluded.meta,
            search_version = excluded.search_version",
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
        // The rows about to be replaced; their stories are recomputed (a revision or a replay
        // may move an article).
        let mut stored: HashMap<String, RowState> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, content_hash, story_id, duplicate_of FROM articles WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query_as::<_, (String, String, Option<String>, Option<String>)>(
                sqlx::AssertSqlSafe(sql),
            );
            for id in chunk {
                query = query.bind(*id);
            }
            for (id, content_hash, story_id, duplicate_of) in
                query.fetch_all(&mut *tx).await.map_err(StoreError::sqlite)?
            {
                stored.insert(id, RowState { content_hash, story_id, duplicate_of });
            }
        }

        let mut results = vec![UpsertResult::Unchanged; articles.len()];
        let rows: Vec<&Article> = batch
            .groups()
            .iter()
            .filter_map(|g| {
                let id = batch.article(g[0]).id.as_str();
                batch.replay(g, stored.get(id), &mut results)
            })
            .collect();

        // The search terms are built on another thread while the rows are written.
        let terms = crate::spawn_terms(&rows, search::DocTerms::fts_columns);
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
                    .bind(meta_json(a)?)
                    .bind(search::TERMS_VERSION);
            }
            query.execute(&mut *tx).await.map_err(StoreError::sqlite)?;
        }
        let columns = crate::built_terms(terms).await?;
        write_fts(&mut tx, &rows, &columns, &stored).await?;

        // Stories: new rows merge into theirs; a revision's story (and the one it left, if it
        // moved) is recomputed from its articles.
        let mut new_members: Vec<Member> = Vec::new();
        let mut recompute: Vec<String> = Vec::new();
        for a in &rows {
            if let Some(old) = stored.get(a.id.as_str()) {
                recompute.extend(a.story_id.clone());
                recompute.extend(old.story_id.clone());
            } else {
                new_members.extend(Member::of(a));
            }
        }
        apply_stories(&mut tx, &new_members, recompute, true).await?;
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

/// Rows per FTS statement: five parameters each.
const FTS_ROWS_PER_STATEMENT: usize = 1000;

/// Indexes the rows just written, whose FTS columns are `columns` (in the same order): the
/// terms of a replaced row are deleted first (by rowid, which an upsert keeps), then every
/// written row's terms are inserted, a chunk per statement.
async fn write_fts(
    tx: &mut sqlx::SqliteConnection,
    rows: &[&Article],
    columns: &[[String; 4]],
    stored: &HashMap<String, RowState>,
) -> Result<(), StoreError> {
    let replaced: Vec<&str> =
        rows.iter().map(|a| a.id.as_str()).filter(|id| stored.contains_key(*id)).collect();
    for chunk in replaced.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "DELETE FROM articles_fts WHERE rowid IN (SELECT rowid FROM articles WHERE id IN ({}))",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *tx).await.map_err(StoreError::sqlite)?;
    }
    for (chunk, columns) in rows.chunks(FTS_ROWS_PER_STATEMENT).zip(columns.chunks(FTS_ROWS_PER_STATEMENT)) {
        let sql = format!(
            "INSERT INTO articles_fts (rowid, exact_strong, exact_weak, skeleton_strong, skeleton_weak)
             SELECT a.rowid, v.column2, v.column3, v.column4, v.column5
             FROM (VALUES {}) AS v JOIN articles a ON a.id = v.column1",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (a, [c1, c2, c3, c4]) in chunk.iter().zip(columns) {
            query = query.bind(a.id.as_str()).bind(c1).bind(c2).bind(c3).bind(c4);
        }
        query.execute(&mut *tx).await.map_err(StoreError::sqlite)?;
    }
    Ok(())
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Config(format!("stored time {s:?} does not parse: {e}")))
}

/// Brings the stories of a batch up to date, in the batch's transaction (see the PostgreSQL
/// store's `apply_stories`; `BEGIN IMMEDIATE` already serialises writers here).
async fn apply_stories(
    tx: &mut sqlx::SqliteConnection,
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
    let mut existing: HashMap<String, StoryRow> = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT {STORY_COLUMNS} FROM stories WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for r in query.fetch_all(&mut *tx).await.map_err(StoreError::sqlite)? {
            let row = story_row(&r)?;
            existing.insert(row.id.clone(), row);
        }
    }
    let merged: Vec<Member> =
        new_members.iter().filter(|m| recompute.binary_search(&m.story).is_err()).cloned().collect();
    let mut rows = stories::merge_new(&existing, &merged);
    let mut emptied: Vec<&str> = Vec::new();
    if !recompute.is_empty() {
        let mut members: HashMap<String, Vec<Member>> = HashMap::new();
        for chunk in recompute.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT story_id, id, source_id, language, title, sort_at FROM articles WHERE story_id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for r in query.fetch_all(&mut *tx).await.map_err(StoreError::sqlite)? {
                let at: String = r.try_get("sort_at").map_err(StoreError::sqlite)?;
                let m = Member {
                    story: r.try_get("story_id").map_err(StoreError::sqlite)?,
                    article: r.try_get("id").map_err(StoreError::sqlite)?,
                    source: r.try_get("source_id").map_err(StoreError::sqlite)?,
                    language: r.try_get("language").map_err(StoreError::sqlite)?,
                    title: r.try_get("title").map_err(StoreError::sqlite)?,
                    at: parse_ts(&at)?,
                };
                members.entry(m.story.clone()).or_default().push(m);
            }
        }
        for id in &recompute {
            let list = members.get(id).map(Vec::as_slice).unwrap_or_default();
            match stories::recompute(existing.get(id), list, events) {
                Some(row) => rows.push(row),
                None => emptied.push(id),
            }
        }
    }
    rows.retain(|r| existing.get(&r.id) != Some(r));
    let now = ts(Utc::now());
    for chunk in rows.chunks(ROWS_PER_STATEMENT / 2) {
        let sql = format!(
            "INSERT INTO stories (id, language, title, first_outlet, first_article, first_seen,
                last_seen, article_count, outlets, version, published_version, change_kind, changed_at)
             VALUES {}
             ON CONFLICT (id) DO UPDATE SET language = excluded.language, title = excluded.title,
                first_outlet = excluded.first_outlet, first_article = excluded.first_article,
                first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                article_count = excluded.article_count, outlets = excluded.outlets,
                version = excluded.version, change_kind = excluded.change_kind,
                changed_at = CASE WHEN excluded.version <> stories.version THEN excluded.changed_at
                                  ELSE stories.changed_at END",
            placeholders(chunk.len(), 13)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.id.as_str())
                .bind(r.language.as_str())
                .bind(r.title.as_str())
                .bind(r.first_outlet.as_str())
                .bind(r.first_article.as_str())
                .bind(ts(r.first_seen))
                .bind(ts(r.last_seen))
                .bind(r.article_count)
                .bind(r.outlets_json()?)
                .bind(r.version)
                .bind(r.published_version)
                .bind(stories::kind_str(r.change_kind))
                .bind(now.clone());
        }
        query.execute(&mut *tx).await.map_err(StoreError::sqlite)?;
    }
    for id in emptied {
        sqlx::query("DELETE FROM stories WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sqlite)?;
    }
    Ok(())
}

const STORY_COLUMNS: &str = "id, language, title, first_outlet, first_article, first_seen, last_seen,
    article_count, outlets, version, published_version, change_kind";

fn story_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoryRow, StoreError> {
    let outlets: String = r.try_get("outlets").map_err(StoreError::sqlite)?;
    let kind: String = r.try_get("change_kind").map_err(StoreError::sqlite)?;
    let first_seen: String = r.try_get("first_seen").map_err(StoreError::sqlite)?;
    let last_seen: String = r.try_get("last_seen").map_err(StoreError::sqlite)?;
    Ok(StoryRow {
        id: r.try_get("id").map_err(StoreError::sqlite)?,
        language: r.try_get("language").map_err(StoreError::sqlite)?,
        title: r.try_get("title").map_err(StoreError::sqlite)?,
        first_outlet: r.try_get("first_outlet").map_err(StoreError::sqlite)?,
        first_article: r.try_get("first_article").map_err(StoreError::sqlite)?,
        first_seen: parse_ts(&first_seen)?,
        last_seen: parse_ts(&last_seen)?,
        article_count: r.try_get("article_count").map_err(StoreError::sqlite)?,
        outlets: serde_json::from_str(&outlets)?,
        version: r.try_get("version").map_err(StoreError::sqlite)?,
        published_version: r.try_get("published_version").map_err(StoreError::sqlite)?,
        change_kind: stories::parse_kind(&kind),
    })
}

/// Appends `AND col IN (?, …)` for a non-empty list.
fn push_in(q: &mut QueryBuilder<Sqlite>, column: &str, values: impl Iterator<Item = String>) {
    let values: Vec<String> = values.collect();
    if values.is_empty() {
        return;
    }
    q.push(format!(" AND {column} IN ("));
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    q.push(")");
}

/// Appends the conditions of `f` on `articles AS a`.
fn push_article_filter(q: &mut QueryBuilder<Sqlite>, f: &ArticleFilter) {
    push_in(q, "a.language", f.languages.iter().map(|l| l.as_str().to_owned()));
    push_in(q, "a.source_id", f.sources.iter().map(|s| s.as_str().to_owned()));
    push_in(q, "a.category", f.categories.iter().map(|c| c.as_str().to_owned()));
    if let Some(story) = &f.story {
        q.push(" AND a.story_id = ").push_bind(story.clone());
    }
    if let Some(t) = f.since {
        q.push(" AND a.sort_at >= ").push_bind(ts(t));
    }
    if let Some(t) = f.until {
        q.push(" AND a.sort_at < ").push_bind(ts(t));
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

impl ArticleQueries for SqliteStore {
    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        req: &PageRequest,
    ) -> Result<Page<Article>, StoreError> {
        let limit = req.limit.max(1) as usize;
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT a.title, a.body, a.meta, a.sort_at, a.id FROM articles a WHERE 1",
        );
        push_article_filter(&mut q, filter);
        if let Some(c) = &req.after {
            q.push(" AND (a.sort_at, a.id) < (")
                .push_bind(ts(c.at))
                .push(", ")
                .push_bind(c.id.clone())
                .push(")");
        }
        q.push(" ORDER BY a.sort_at DESC, a.id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(StoreError::sqlite)?;
        let items = rows
            .iter()
            .map(|r| {
                let at: String = r.try_get("sort_at").map_err(StoreError::sqlite)?;
                let cursor = Cursor { at: parse_ts(&at)?, id: r.try_get("id").map_err(StoreError::sqlite)? };
                Ok((decode_row(r, StoreError::sqlite)?, cursor))
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
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {STORY_COLUMNS} FROM stories s WHERE 1"));
        push_in(&mut q, "s.language", filter.languages.iter().map(|l| l.as_str().to_owned()));
        if !filter.sources.is_empty() {
            q.push(" AND s.id IN (SELECT story_id FROM articles a WHERE story_id IS NOT NULL");
            push_in(&mut q, "a.source_id", filter.sources.iter().map(|s| s.as_str().to_owned()));
            q.push(")");
        }
        if let Some(t) = filter.since {
            q.push(" AND s.last_seen >= ").push_bind(ts(t));
        }
        if let Some(t) = filter.until {
            q.push(" AND s.last_seen < ").push_bind(ts(t));
        }
        if let Some(c) = &req.after {
            q.push(" AND (s.last_seen, s.id) < (")
                .push_bind(ts(c.at))
                .push(", ")
                .push_bind(c.id.clone())
                .push(")");
        }
        q.push(" ORDER BY s.last_seen DESC, s.id DESC LIMIT ").push_bind(limit as i64 + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(StoreError::sqlite)?;
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
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STORY_COLUMNS} FROM stories WHERE id = ?")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::sqlite)?
        else {
            return Ok(None);
        };
        let Some(story) = story_row(&row)?.to_story() else { return Ok(None) };
        let articles = sqlx::query(
            "SELECT title, body, meta FROM articles WHERE story_id = ? ORDER BY sort_at, id LIMIT 1000",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sqlite)?
        .iter()
        .map(|r| decode_row(r, StoreError::sqlite))
        .collect::<Result<Vec<_>, _>>()?;
        let raw: Vec<(String, String)> =
            sqlx::query_as("SELECT sort_at, source_id FROM articles WHERE story_id = ? ORDER BY sort_at, id")
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::sqlite)?;
        let points =
            raw.into_iter().map(|(t, s)| Ok((parse_ts(&t)?, s))).collect::<Result<Vec<_>, StoreError>>()?;
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
        // As on PostgreSQL, only the newest SEARCH_CANDIDATES matches are ranked (newest
        // stored: FTS5 walks its rowids backwards, and an article's time sits after its body in
        // the row, where reading it costs the body's overflow pages), and bodies are read for
        // the final page only. Column weights mirror PostgreSQL's A-D: exact strong, exact
        // weak, skeleton strong, skeleton weak. bm25 is lower for better matches.
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT a.title, a.body, a.meta, c.score
             FROM (SELECT m.rowid AS rid, m.score FROM (
                     SELECT articles_fts.rowid AS rowid,
                            -bm25(articles_fts, 10.0, 4.0, 1.0, 0.5) AS score
                     FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid
                     WHERE articles_fts MATCH ",
        );
        q.push_bind(search::fts_match(&words));
        push_article_filter(&mut q, filter);
        q.push(" ORDER BY articles_fts.rowid DESC LIMIT ")
            .push_bind(search::SEARCH_CANDIDATES)
            .push(") m ORDER BY m.score DESC, m.rowid DESC LIMIT ")
            .push_bind(i64::from(limit))
            .push(") c JOIN articles a ON a.rowid = c.rid ORDER BY c.score DESC, a.sort_at DESC, a.id DESC");
        let rows = q.build().fetch_all(&self.pool).await.map_err(StoreError::sqlite)?;
        search_hits(&rows, StoreError::sqlite)
    }

    async fn sources(&self) -> Result<Vec<SourceStats>, StoreError> {
        let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT source_id, count(*), max(stored_at) FROM articles GROUP BY source_id ORDER BY source_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sqlite)?;
        let mut out = Vec::with_capacity(rows.len());
        for (s, n, last) in rows {
            let Ok(source_id) = SourceId::parse(&s) else { continue };
            let last_stored = last.as_deref().map(parse_ts).transpose()?;
            out.push(SourceStats { source_id, articles: n.max(0) as u64, last_stored });
        }
        Ok(out)
    }

    async fn pending_story_changes(&self, limit: u32) -> Result<Vec<StoryChange>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STORY_COLUMNS} FROM stories WHERE version > published_version ORDER BY changed_at, id LIMIT ?"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sqlite)?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::sqlite)?;
        for (id, v) in published {
            sqlx::query(
                "UPDATE stories SET published_version = max(published_version, min(?, version)) WHERE id = ?",
            )
            .bind(i64::try_from(*v).unwrap_or(i64::MAX))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sqlite)?;
        }
        tx.commit().await.map_err(StoreError::sqlite)?;
        Ok(())
    }
}
