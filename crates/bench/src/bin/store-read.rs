//! `store-read`: the store's read side under load (run by `scripts/bench-store`).
//!
//! Usage: `store-read ingest [N] --pg URL`, `store-read search [N] [--pg URL] [--queries Q]`,
//! `store-read terms [N]` (the Rust side of indexing alone: µs per article).
//!
//! - `ingest`: N synthetic articles (default 50,000) upserted in sink-sized batches (256) into
//!   a fresh PostgreSQL store (search terms, stories, all indexes), against a same-run `COPY`
//!   of the same rows into a plain table (the article columns, lz4 body, jsonb meta, no
//!   index): the ceiling. Prints `{"mode":"ingest",…,"upsert_rows_per_s":…,"copy_rows_per_s":…}`
//!   (best round of each), and the CPU each side used per row, server and client (least
//!   round of each; [`cpu_seconds`]): `copy_vs_upsert_cpu` is the ratio of the work each side
//!   does, which the wall-time ratio hides where the upsert overlaps its client's work with
//!   the server's. The store indexes search as the sink's default does
//!   (`STORE_READ_INDEXING=deferred`: the sink's search indexer runs alongside, woken after
//!   each batch, and `searchable_rows_per_s` is N over the time until every row is
//!   searchable); `STORE_READ_INDEXING=inline` builds the terms in the upsert.
//! - `search`: N articles (default 200,000) stored in a fresh SQLite file and, with `--pg`, a
//!   fresh PostgreSQL database; then Q (default 100) two-word Arabic queries and Q two-word
//!   English ones, each run twice, and the latency percentiles per backend and language.
//!
//! Profiling knobs for `ingest`: `STORE_READ_SQL` runs SQL on each fresh store before its run
//! (e.g. `DROP INDEX articles_search`, to see what an index costs), and `STORE_READ_KEEP=1`
//! keeps the store databases (`ingest` and `search`) for `EXPLAIN ANALYZE` by hand (drop them
//! yourself); `STORE_READ_REUSE=URL` runs `search`'s queries alone against such a kept store;
//! `STORE_READ_WRITERS=K` runs both sides of `ingest` with K concurrent writers (the batches
//! dealt out in turn, one connection each).
//!
//! The text is drawn from the seed articles' vocabulary (`$NEWSWIRE_SEEDS_DIR`, else
//! `../shared/seeds`) by a Zipf-like law, so that query words have realistic frequencies: a
//! few words are in most articles, most words in few.

use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};
use newswire_model::{
    Article, ArticleId, Category, Entity, EntityKind, Fingerprints, Lang, SCHEMA_VERSION, SourceId,
};
use newswire_store::{
    ArticleFilter, ArticleQueries, ArticleStore, PgStore, SearchIndexing, SinkSettings, SqliteStore,
};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The sink's allocator, so that the client side costs what it costs in the service.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 256;

const ENGLISH: &str = "the minister said on Sunday that talks between Russia and United States would \
    resume this week to discuss relations after war in Ukraine pushed them lowest level since Cold \
    War officials met Riyadh Cairo oil prices rose percent markets investors government parliament \
    budget agreement ceasefire humanitarian aid convoy reported according sources statement agency \
    meeting delegation summit security council resolution refugees border economy growth inflation \
    election candidate voters campaign court ruling judge protest police arrested strike workers \
    union company shares profit quarter bank interest rates central energy gas pipeline exports \
    drought harvest farmers storm flooding rescue hospital patients vaccine outbreak school students";

const ENTITIES: &[&str] =
    &["Putin", "Trump", "Sergei Lavrov", "Marco Rubio", "Russia", "Ukraine", "Riyadh", "Gaza"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A rank in 0..n, Zipf-like (density ∝ 1 / rank).
    fn zipf(&mut self, n: usize) -> usize {
        (((n as f64 + 1.0).powf(self.unit()) - 1.0) as usize).min(n - 1)
    }
}

/// Words by frequency, most frequent first.
fn vocabulary() -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let dir = std::env::var_os("NEWSWIRE_SEEDS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds"));
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("seeds at {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "txt") {
            for w in std::fs::read_to_string(&path)?.split(|c: char| !c.is_alphanumeric()) {
                if w.chars().count() > 1 && w.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)) {
                    *counts.entry(w.to_owned()).or_default() += 1;
                }
            }
        }
    }
    let mut arabic: Vec<(String, usize)> = counts.into_iter().collect();
    arabic.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let english = ENGLISH.split_whitespace().map(str::to_owned).collect();
    Ok((arabic.into_iter().map(|(w, _)| w).collect(), english))
}

struct Generator {
    rng: Rng,
    arabic: Vec<String>,
    english: Vec<String>,
}

impl Generator {
    fn words(&mut self, arabic: bool, n: usize, out: &mut String) {
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            let pool = if arabic { &self.arabic } else { &self.english };
            let w = &pool[self.rng.zipf(pool.len())];
            out.push_str(w);
            if i % 14 == 13 {
                out.push_str(if arabic { "، " } else { ". " });
            }
        }
    }

    fn article(&mut self, i: usize, base: DateTime<Utc>) -> anyhow::Result<Article> {
        let arabic = self.rng.below(4) != 0;
        let mut title = String::new();
        let n = 8 + self.rng.below(6);
        self.words(arabic, n, &mut title);
        let mut text = String::with_capacity(6000);
        let size = 3000 + self.rng.below(3000);
        while text.len() < size {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            let n = 40 + self.rng.below(40);
            self.words(arabic, n, &mut text);
        }
        let summary: String = text.chars().take(300).collect();
        // Ten keywords, as the processor picks (`keywords = 10`): words of this article's body,
        // so that strong fields cost what they cost on real articles.
        let body_words: Vec<&str> = text.split_whitespace().filter(|w| w.chars().count() > 3).collect();
        let mut keywords: Vec<String> = Vec::with_capacity(10);
        for _ in 0..40 {
            let Some(w) = body_words.get(self.rng.below(body_words.len())) else { break };
            let w = w.trim_matches(['،', '.']).to_owned();
            if keywords.len() < 10 && !keywords.contains(&w) {
                keywords.push(w);
            }
        }
        let at = base + Duration::seconds(i as i64 * 7);
        let source = format!("outlet-{}", i % 40);
        Ok(Article {
            schema_version: SCHEMA_VERSION,
            id: ArticleId::digest(&["store-read", &i.to_string()]),
            canonical_url: Some(format!("https://{source}.example/news/{i}")),
            source_id: SourceId::parse(&source)?,
            feed_url: format!("https://{source}.example/rss.xml"),
            fingerprints: Fingerprints {
                content_hash: ArticleId::digest(&[&title, &text]).as_str().to_owned(),
                simhash: None,
            },
            title,
            summary: Some(summary),
            text,
            language: Lang::parse(if arabic { "ar" } else { "en" })?,
            category: Category::parse("world")?,
            published_at: Some(at),
            fetched_at: at + Duration::seconds(90),
            processed_at: at + Duration::seconds(91),
            authors: vec![],
            entities: (0..3)
                .map(|_| Entity {
                    name: ENTITIES[self.rng.below(ENTITIES.len())].to_owned(),
                    kind: EntityKind::Person,
                    count: 1,
                })
                .collect(),
            keywords,
            categories: vec![],
            story_id: Some(
                ArticleId::digest(&["store-read-story", &(i - i % 4).to_string()]).as_str().to_owned(),
            ),
            duplicate: None,
            revision: None,
        })
    }
}

fn articles(n: usize) -> anyhow::Result<(Vec<Article>, Generator)> {
    let (arabic, english) = vocabulary()?;
    let mut g = Generator { rng: Rng(0x9e37_79b9_7f4a_7c15), arabic, english };
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().context("base time")?;
    let list = (0..n).map(|i| g.article(i, base)).collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, g))
}

/// A fresh database on the server of `admin_url`; dropped by [`drop_db`].
async fn create_db(admin_url: &str, tag: &str) -> anyhow::Result<(String, String)> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let name = format!("newswire_bench_{tag}_{}_{nanos}", std::process::id());
    let mut admin = PgConnection::connect(admin_url).await.context("connect to --pg")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    let _ = admin.close().await;
    let Some((server, _)) = admin_url.split('?').next().and_then(|b| b.rsplit_once('/')) else {
        bail!("--pg URL must end with /<database>");
    };
    Ok((format!("{server}/{name}"), name))
}

async fn drop_db(admin_url: &str, name: &str) -> anyhow::Result<()> {
    if std::env::var_os("STORE_READ_KEEP").is_some() && !name.contains("copy") {
        eprintln!("kept database {name}");
        return Ok(());
    }
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// COPY text format: backslash, tab, newline and carriage return escaped; `\N` is NULL.
fn copy_field(out: &mut String, v: Option<&str>) {
    let Some(v) = v else {
        out.push_str("\\N");
        return;
    };
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// CPU seconds used so far by the PostgreSQL server (every process named `postgres`, with
/// the children they reaped: a backend that has exited is counted by the postmaster) and by
/// this process. Linux `/proc`, in USER_HZ ticks (100 per second on Linux's ABI). Background
/// work counts too (the WAL writer, autovacuum cleaning GIN's pending list), wherever it
/// falls inside the measured run.
fn cpu_seconds() -> (f64, f64) {
    fn ticks(stat: &str, fields: &[usize]) -> f64 {
        // Fields after the `(comm)`, which may hold spaces: field 3 is the first.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        fields.iter().filter_map(|&i| f.get(i - 3)?.parse::<f64>().ok()).sum::<f64>() / 100.0
    }
    let mut server = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if stat.contains("(postgres)") {
            server += ticks(&stat, &[14, 15, 16, 17]);
        }
    }
    let me = std::fs::read_to_string("/proc/self/stat").map_or(0.0, |s| ticks(&s, &[14, 15]));
    (server, me)
}

/// What one side of `ingest` took: rows/s, and server and client CPU µs per row.
#[derive(Debug, Clone, Copy)]
struct Side {
    rows_per_s: f64,
    server_us: f64,
    client_us: f64,
}

impl Side {
    /// Ends a measurement begun at `started` / `cpu` over `rows` rows.
    fn since(started: Instant, cpu: (f64, f64), rows: usize) -> Self {
        let secs = started.elapsed().as_secs_f64();
        let now = cpu_seconds();
        let per_row = |s: f64| s * 1e6 / rows as f64;
        Self {
            rows_per_s: rows as f64 / secs,
            server_us: per_row(now.0 - cpu.0),
            client_us: per_row(now.1 - cpu.1),
        }
    }
}

/// `STORE_READ_WRITERS`: concurrent writers on each side of `ingest` (default 1).
fn writers() -> usize {
    std::env::var("STORE_READ_WRITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

/// The same rows by `COPY` into a plain table, in batches of the same size.
async fn copy_plain(url: &str, list: &[Article]) -> anyhow::Result<Side> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql(
        "CREATE TABLE plain (id TEXT, canonical_url TEXT, source_id TEXT, title TEXT,
            body TEXT COMPRESSION lz4, language TEXT, category TEXT, published_at TIMESTAMPTZ,
            fetched_at TIMESTAMPTZ, processed_at TIMESTAMPTZ, story_id TEXT, duplicate_of TEXT,
            content_hash TEXT, meta JSONB)",
    )
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    let k = writers();
    let mut conns = Vec::with_capacity(k);
    for _ in 0..k {
        conns.push(PgConnection::connect(url).await?);
    }
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let runs =
        conns.into_iter().enumerate().map(|(w, c)| copy_part(c, list.chunks(BATCH).skip(w).step_by(k)));
    let mut done = Vec::with_capacity(k);
    for r in futures_util::future::join_all(runs).await {
        done.push(r?);
    }
    // Before the connections close, so that their backends' CPU is still theirs to read.
    let side = Side::since(started, cpu, list.len());
    for c in done {
        let _ = c.close().await;
    }
    Ok(side)
}

async fn copy_part<'a>(
    mut conn: PgConnection,
    batches: impl Iterator<Item = &'a [Article]>,
) -> anyhow::Result<PgConnection> {
    let ts = |t: DateTime<Utc>| t.to_rfc3339();
    for batch in batches {
        let mut data = String::with_capacity(batch.len() * 8000);
        for a in batch {
            let fields: [Option<String>; 14] = [
                Some(a.id.as_str().to_owned()),
                a.canonical_url.clone(),
                Some(a.source_id.as_str().to_owned()),
                Some(a.title.clone()),
                Some(a.text.clone()),
                Some(a.language.as_str().to_owned()),
                Some(a.category.as_str().to_owned()),
                a.published_at.map(ts),
                Some(ts(a.fetched_at)),
                Some(ts(a.processed_at)),
                a.story_id.clone(),
                None,
                Some(a.fingerprints.content_hash.clone()),
                Some(newswire_store::meta_json(a)?),
            ];
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    data.push('\t');
                }
                copy_field(&mut data, f.as_deref());
            }
            data.push('\n');
        }
        let mut copy = conn.copy_in_raw("COPY plain FROM STDIN").await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
    }
    Ok(conn)
}

/// Upserts `list` in batches, notifying `committed` after each (the sink wakes its search
/// indexer so).
async fn upsert_all(
    store: &impl ArticleStore,
    list: &[Article],
    committed: Option<&tokio::sync::Notify>,
) -> anyhow::Result<Side> {
    let k = writers();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let runs = (0..k).map(|w| async move {
        for batch in list.chunks(BATCH).skip(w).step_by(k) {
            store.upsert(batch).await?;
            if let Some(c) = committed {
                c.notify_one();
            }
        }
        anyhow::Ok(())
    });
    for r in futures_util::future::join_all(runs).await {
        r?;
    }
    Ok(Side::since(started, cpu, list.len()))
}

/// `STORE_READ_INDEXING` (`inline` or `deferred`), else the sink's default.
fn indexing() -> anyhow::Result<SearchIndexing> {
    match std::env::var("STORE_READ_INDEXING").ok().as_deref() {
        None => Ok(SinkSettings::default().search_indexing),
        Some("inline") => Ok(SearchIndexing::Inline),
        Some("deferred") => Ok(SearchIndexing::Deferred),
        Some(other) => bail!("STORE_READ_INDEXING={other}: expected inline or deferred"),
    }
}

/// The sink's upsert of `list` into `store`, with the sink's search indexer alongside when the
/// store defers it: the upsert's side, and the seconds from its start until every row was
/// searchable (the upsert's own time when inline).
async fn sink_side(store: &PgStore, list: &[Article]) -> anyhow::Result<(Side, f64)> {
    let started = Instant::now();
    if store.search_indexing() == SearchIndexing::Inline {
        let side = upsert_all(store, list, None).await?;
        return Ok((side, started.elapsed().as_secs_f64()));
    }
    let metrics =
        newswire_telemetry::metrics::SinkMetrics::new(&newswire_telemetry::Registry::new())?.search_index;
    let committed = std::sync::Arc::new(tokio::sync::Notify::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let indexer = tokio::spawn(newswire_store::service::index_search(
        store.clone(),
        metrics.clone(),
        committed.clone(),
        stop.clone(),
    ));
    let side = upsert_all(store, list, Some(&committed)).await?;
    // Searchable when the indexer has done every row (its counter; polling the table would
    // load the server being measured).
    while metrics.indexed.get() < list.len() as u64 {
        if indexer.is_finished() {
            bail!("the search indexer stopped after {} rows", metrics.indexed.get());
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let searchable = started.elapsed().as_secs_f64();
    stop.cancel();
    indexer.await?;
    Ok((side, searchable))
}

async fn ingest(n: usize, admin_url: &str) -> anyhow::Result<()> {
    let (list, _) = articles(n)?;
    // Interleaved and repeated, so that neither side gets a warmer machine.
    let mut copy = Vec::new();
    let mut upsert = Vec::new();
    let mut searchable = Vec::new();
    let mode = indexing()?;
    for round in 0..2 {
        let (url, name) = create_db(admin_url, &format!("copy{round}")).await?;
        let c = copy_plain(&url, &list).await;
        drop_db(admin_url, &name).await?;
        copy.push(c?);
        let (url, name) = create_db(admin_url, &format!("store{round}")).await?;
        let u = async {
            let store = PgStore::connect(&url, 4).await?.with_search_indexing(mode);
            // Where the time goes: STORE_READ_SQL runs before the run (e.g. DROP INDEX …).
            if let Ok(sql) = std::env::var("STORE_READ_SQL") {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await?;
            }
            let r = sink_side(&store, &list).await?;
            let stored = store.count().await?;
            let indexed: i64 = sqlx::query_scalar("SELECT count(*) FROM articles WHERE search_version > 0")
                .fetch_one(store.pool())
                .await?;
            if stored != list.len() as u64 || indexed != stored as i64 {
                bail!("{stored} rows stored and {indexed} indexed, expected {}", list.len());
            }
            store.pool().close().await;
            Ok(r)
        }
        .await;
        drop_db(admin_url, &name).await?;
        let (side, secs) = u?;
        upsert.push(side);
        searchable.push(list.len() as f64 / secs);
    }
    let best = |v: &[Side]| v.iter().map(|s| s.rows_per_s).fold(0.0, f64::max);
    let (u, c) = (best(&upsert), best(&copy));
    // CPU per row, the least of the rounds (server, client): the work each side costs.
    let least = |v: &[Side], f: fn(&Side) -> f64| v.iter().map(f).fold(f64::INFINITY, f64::min);
    let (us, uc) = (least(&upsert, |s| s.server_us), least(&upsert, |s| s.client_us));
    let (cs, cc) = (least(&copy, |s| s.server_us), least(&copy, |s| s.client_us));
    let rates = |v: &[Side]| v.iter().map(|s| s.rows_per_s.round() as i64).collect::<Vec<_>>();
    let s = searchable.iter().copied().fold(0.0, f64::max);
    println!(
        r#"{{"mode":"ingest","articles":{n},"batch":{BATCH},"indexing":"{mode:?}","upsert_rows_per_s":{u:.0},"copy_rows_per_s":{c:.0},"upsert_vs_copy":{:.2},"searchable_rows_per_s":{s:.0},"searchable_vs_copy":{:.2},"runs_upsert":{:?},"runs_copy":{:?},"upsert_cpu_us_per_row":{{"server":{us:.0},"client":{uc:.0}}},"copy_cpu_us_per_row":{{"server":{cs:.0},"client":{cc:.0}}},"copy_vs_upsert_cpu":{:.2}}}"#,
        u / c,
        s / c,
        rates(&upsert),
        rates(&copy),
        (cs + cc) / (us + uc)
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Runs the queries (each twice) and prints the percentiles of each language's queries.
async fn measure(
    backend: &str,
    store: &impl ArticleQueries,
    queries: &[(&str, String)],
) -> anyhow::Result<()> {
    let filter = ArticleFilter::default();
    for lang in ["ar", "en"] {
        let mut times = Vec::new();
        let mut hits = 0usize;
        for (_, q) in queries.iter().filter(|(l, _)| *l == lang) {
            for _ in 0..2 {
                let started = Instant::now();
                hits += store.search(q, &filter, 20).await?.len();
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            r#"{{"mode":"search","backend":"{backend}","language":"{lang}","queries":{},"mean_hits":{:.1},"p50_ms":{:.1},"p95_ms":{:.1},"p99_ms":{:.1},"max_ms":{:.1}}}"#,
            times.len(),
            hits as f64 / times.len().max(1) as f64,
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(0.0),
        );
    }
    Ok(())
}

async fn search(n: usize, pg: Option<&str>, q: usize) -> anyhow::Result<()> {
    let (list, mut g) = articles(n)?;
    // Two-word queries of words that occur (ranks 5-500: neither the commonest nor absent).
    let mut queries: Vec<(&str, String)> = Vec::new();
    for _ in 0..q {
        let a = g.arabic.len().min(500);
        let (x, y) = (5 + g.rng.below(a - 5), 5 + g.rng.below(a - 5));
        queries.push(("ar", format!("{} {}", g.arabic[x], g.arabic[y])));
        let e = g.english.len();
        let (x, y) = (g.rng.below(e), g.rng.below(e));
        queries.push(("en", format!("{} {}", g.english[x], g.english[y])));
    }
    // STORE_READ_REUSE=URL: the queries only, against a store an earlier run kept
    // (STORE_READ_KEEP=1) with the same N.
    if let Ok(url) = std::env::var("STORE_READ_REUSE") {
        let store = PgStore::connect(&url, 4).await?;
        return measure("postgres", &store, &queries).await;
    }
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::open(&dir.path().join("store-read.db"), 4).await?;
    let started = Instant::now();
    upsert_all(&sqlite, &list, None).await?;
    eprintln!("sqlite: {n} stored in {:.0} s", started.elapsed().as_secs_f64());
    measure("sqlite", &sqlite, &queries).await?;
    if let Some(admin) = pg {
        let (url, name) = create_db(admin, "search").await?;
        let r = async {
            let store = PgStore::connect(&url, 4).await?;
            let started = Instant::now();
            upsert_all(&store, &list, None).await?;
            sqlx::raw_sql("VACUUM ANALYZE articles").execute(store.pool()).await?;
            eprintln!("postgres: {n} stored in {:.0} s", started.elapsed().as_secs_f64());
            measure("postgres", &store, &queries).await?;
            store.pool().close().await;
            anyhow::Ok(())
        }
        .await;
        drop_db(admin, &name).await?;
        r?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let mut n = None;
    let mut pg = None;
    let mut queries = 100usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pg" => pg = Some(args.next().context("--pg needs a URL")?),
            "--queries" => queries = args.next().context("--queries needs a number")?.parse()?,
            other => n = Some(other.parse::<usize>().with_context(|| format!("not a count: {other}"))?),
        }
    }
    match mode.as_str() {
        "ingest" => ingest(n.unwrap_or(50_000), pg.as_deref().context("ingest needs --pg URL")?).await,
        "terms" => {
            // The Rust side of indexing alone: building the search terms, per article.
            let (list, _) = articles(n.unwrap_or(5_000))?;
            let started = Instant::now();
            let bytes: usize =
                list.iter().map(|a| newswire_store::search::document_terms(a).tsvector().len()).sum();
            let us = started.elapsed().as_secs_f64() * 1e6 / list.len() as f64;
            let mut classes = [0usize; 4];
            for a in &list {
                let t = newswire_store::search::document_terms(a);
                for (c, n) in classes.iter_mut().zip([
                    t.exact_strong.len(),
                    t.exact_weak.len(),
                    t.skeleton_strong.len(),
                    t.skeleton_weak.len(),
                ]) {
                    *c += n;
                }
            }
            eprintln!(
                "terms per article by class (exact strong, exact weak, skeleton strong, skeleton weak): {:?}",
                classes.map(|c| c / list.len())
            );
            println!(
                r#"{{"mode":"terms","articles":{},"us_per_article":{us:.1},"tsvector_bytes":{}}}"#,
                list.len(),
                bytes / list.len()
            );
            Ok(())
        }
        "search" => search(n.unwrap_or(200_000), pg.as_deref(), queries.max(1)).await,
        _ => bail!("usage: store-read ingest [N] --pg URL | search [N] [--pg URL] [--queries Q] | terms [N]"),
    }
}
