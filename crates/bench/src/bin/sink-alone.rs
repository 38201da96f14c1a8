//! `sink-alone`: the sink's store writing articles with no processor (and no NATS) in front.
//!
//! Usage: `sink-alone [N] [--pg URL]`. Builds N synthetic articles (default 10,000; 3-6 KB of
//! mixed Arabic and English text each, with entities and keywords), then upserts them in
//! batches of 256 (the sink's default) into a fresh SQLite file in a temporary directory and,
//! with `--pg`, into a fresh database created on that PostgreSQL server (dropped at the end).
//! Prints one JSON line per backend: `{"backend":…,"articles":…,"seconds":…,"rows_per_s":…}`.

use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};
use newswire_model::{
    Article, ArticleId, Category, DuplicateInfo, DuplicateKind, Entity, EntityKind, Fingerprints, Lang,
    SCHEMA_VERSION, SourceId,
};
use newswire_store::{ArticleStore, PgStore, SqliteStore};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The sink's allocator, so that the client side costs what it costs in the service.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The sink's default `batch_size`.
const BATCH: usize = 256;

/// Word pools for the synthetic text, from real wire copy.
const ARABIC: &str = "قال وزير الخارجية الروسي الأحد إن فريقين من روسيا والولايات المتحدة يخططان لعقد \
    اجتماع هذا الأسبوع لمناقشة تحسين العلاقات بعد أن الحرب أوكرانيا إلى أدنى مستوى \
    منذ الباردة وأوضح المسؤول عن هناك على رؤساء الإدارات سينعقد نهاية ونقلت وكالة \
    أنباء الرسمية عنه قوله نحن منفتحون الاتصالات مع الجانب الأميركي وخاصة بشأن \
    الثنائية الحكومة البرلمان الاقتصاد النفط الأسعار المفاوضات السلام العاصمة \
    السعودية الرياض القاهرة بيروت دمشق الرئيس المصري مجلس الأمن الدولي القرار \
    اللاجئين المساعدات الإنسانية غزة المدنيين";

const ENGLISH: &str = "the minister said on Sunday that talks between Russia and United States would \
    resume this week to discuss relations after war in Ukraine pushed them lowest \
    level since Cold War officials met Riyadh Cairo oil prices rose percent markets \
    investors government parliament budget agreement ceasefire humanitarian aid \
    convoy reported according sources statement agency meeting delegation summit \
    security council resolution refugees border economy growth inflation";

const ENTITIES: &[(&str, EntityKind)] = &[
    ("Putin", EntityKind::Person),
    ("Trump", EntityKind::Person),
    ("Sergei Ryabkov", EntityKind::Person),
    ("Mohammed bin Salman", EntityKind::Person),
    ("Russia", EntityKind::Place),
    ("United States", EntityKind::Place),
    ("Ukraine", EntityKind::Place),
    ("Riyadh", EntityKind::Place),
    ("Cairo", EntityKind::Place),
    ("Gaza", EntityKind::Place),
    ("TASS", EntityKind::Organization),
    ("UN Security Council", EntityKind::Organization),
    ("OPEC", EntityKind::Organization),
    ("Ministry of Foreign Affairs", EntityKind::Organization),
];

/// A small deterministic generator (xorshift64*), so runs are comparable without a `rand`
/// dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }
}

/// Generates the synthetic articles.
struct Generator {
    rng: Rng,
    arabic: Vec<&'static str>,
    english: Vec<&'static str>,
}

impl Generator {
    fn new() -> Self {
        Self {
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            arabic: ARABIC.split_whitespace().collect(),
            english: ENGLISH.split_whitespace().collect(),
        }
    }

    /// One sentence of 8-20 words in one language, punctuated the way that language is.
    fn sentence(&mut self, arabic: bool, out: &mut String) {
        let words: &[&str] = if arabic { &self.arabic } else { &self.english };
        let n = 8 + self.rng.below(13);
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(self.rng.word(words));
            // Wire copy carries figures and dates; they matter for text size and compression.
            if self.rng.below(12) == 0 {
                out.push_str(&format!(" {}", self.rng.below(2030)));
            }
        }
        out.push_str(if arabic { "، " } else { ", " });
        out.push_str(self.rng.word(words));
        out.push('.');
    }

    /// Paragraphs separated by a blank line, as the cleaner produces them, `target` bytes or
    /// a little more; mostly in the article's language, with quotes in the other mixed in.
    fn body(&mut self, arabic: bool, target: usize) -> String {
        let mut text = String::with_capacity(target + 512);
        while text.len() < target {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            for s in 0..2 + self.rng.below(4) {
                if s > 0 {
                    text.push(' ');
                }
                let other = self.rng.below(4) == 0;
                self.sentence(arabic != other, &mut text);
            }
        }
        text
    }

    fn article(&mut self, i: usize, base: DateTime<Utc>) -> anyhow::Result<Article> {
        let id = ArticleId::digest(&["sink-alone", &i.to_string()]);
        let arabic = self.rng.below(4) != 0;
        let mut title = String::new();
        self.sentence(arabic, &mut title);
        let title = prefix(&title, 120);
        let size = 3000 + self.rng.below(3000);
        let text = self.body(arabic, size);
        let content_hash = ArticleId::digest(&[&title, &text]).as_str().to_owned();
        let entities = (0..3 + self.rng.below(6))
            .map(|_| {
                let (name, kind) = *self.rng.pick(ENTITIES);
                Entity { name: name.to_owned(), kind, count: 1 + self.rng.below(5) as u32 }
            })
            .collect();
        let words: &[&str] = if arabic { &self.arabic } else { &self.english };
        let keywords = (0..5 + self.rng.below(6)).map(|_| self.rng.word(words).to_owned()).collect();
        let published_at = base + Duration::seconds(i as i64 * 7);
        Ok(Article {
            schema_version: SCHEMA_VERSION,
            canonical_url: Some(format!("https://outlet-{}.example/news/2025/03/{i}", i % 40)),
            source_id: SourceId::parse(&format!("outlet-{}", i % 40))?,
            feed_url: format!("https://outlet-{}.example/rss.xml", i % 40),
            summary: Some(prefix(&text, 300)),
            title,
            language: Lang::parse(if arabic { "ar" } else { "en" })?,
            category: Category::parse("world")?,
            published_at: Some(published_at),
            fetched_at: published_at + Duration::seconds(90),
            processed_at: published_at + Duration::seconds(91),
            authors: vec!["Newsroom".to_owned()],
            entities,
            keywords,
            categories: vec!["politics".to_owned(), "world".to_owned()],
            // Stories of a few articles each, as real clusters are.
            story_id: Some(ArticleId::digest(&["sink-alone", &(i - i % 4).to_string()]).as_str().to_owned()),
            fingerprints: Fingerprints { content_hash, simhash: Some(format!("{:016x}", self.rng.next())) },
            duplicate: (i % 25 == 24).then(|| DuplicateInfo {
                of: ArticleId::digest(&["sink-alone", &(i - 1).to_string()]),
                kind: DuplicateKind::Near,
                similarity: 0.82,
            }),
            revision: None,
            text,
            id,
        })
    }
}

/// The first `max` characters of `s`, cut on a character boundary.
fn prefix(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Upserts `articles` in sink-sized batches and prints the JSON line.
async fn run(backend: &str, store: &impl ArticleStore, articles: &[Article]) -> anyhow::Result<()> {
    let started = Instant::now();
    for batch in articles.chunks(BATCH) {
        store.upsert(batch).await.with_context(|| format!("{backend}: upsert"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stored = store.count().await?;
    if stored != articles.len() as u64 {
        bail!("{backend}: {stored} rows stored, expected {}", articles.len());
    }
    // Written by hand to keep the documented key order (serde_json sorts object keys).
    println!(
        r#"{{"backend":{},"articles":{},"seconds":{seconds:.3},"rows_per_s":{:.0}}}"#,
        serde_json::Value::from(backend),
        articles.len(),
        articles.len() as f64 / seconds,
    );
    Ok(())
}

async fn sqlite(articles: &[Article]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("sink-alone.db"), 4).await?;
    run("sqlite", &store, articles).await
}

/// `admin_url` with its database name replaced by `name` (query parameters kept).
fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let Some((server, _)) = base.rsplit_once('/').filter(|(s, _)| s.contains("://") && !s.ends_with('/'))
    else {
        bail!("--pg URL must end with /<database>: {admin_url}");
    };
    Ok(match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    })
}

async fn postgres(admin_url: &str, articles: &[Article]) -> anyhow::Result<()> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    // Digits and underscores only, so formatting it into SQL is safe.
    let name = format!("newswire_bench_{}_{nanos}", std::process::id());
    let url = with_database(admin_url, &name)?;
    let mut admin = PgConnection::connect(admin_url).await.context("connect to --pg")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    let result = async {
        let store = PgStore::connect(&url, 4).await?;
        run("postgres", &store, articles).await
    }
    .await;
    // Dropped even when the run failed; FORCE ends the pool's connections that may linger.
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    result?;
    dropped?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut n = 10_000usize;
    let mut pg = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pg" => pg = Some(args.next().context("--pg needs a URL")?),
            "-h" | "--help" => {
                println!("usage: sink-alone [ARTICLES] [--pg postgres://user@host:port/db]");
                return Ok(());
            }
            other => n = other.parse().with_context(|| format!("not an article count: {other}"))?,
        }
    }
    let base = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().context("base date")?;
    let mut generator = Generator::new();
    let articles = (0..n).map(|i| generator.article(i, base)).collect::<anyhow::Result<Vec<_>>>()?;
    let bytes: usize = articles.iter().map(|a| a.title.len() + a.text.len()).sum();
    eprintln!("{n} articles, {:.1} KB of text on average", bytes as f64 / n.max(1) as f64 / 1024.0);

    sqlite(&articles).await?;
    if let Some(url) = pg {
        postgres(&url, &articles).await?;
    }
    Ok(())
}
