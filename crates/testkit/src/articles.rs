//! Small articles for store and API tests, built directly (not through the processor).

use chrono::{DateTime, Duration, TimeZone, Utc};
use newswire_model::{Article, ArticleId, Category, Fingerprints, Lang, SCHEMA_VERSION, SourceId};

/// The time article 0 was published; article `n` is `n` minutes later.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single().unwrap_or_default()
}

/// A small article: `n` (with `seed`, so that two suites' ids differ) gives its id, its time
/// (`n` minutes after [`base_time`]) and, with the text, its content hash. Category
/// `general`, no story, no entities. Panics on an invalid `source` or `lang`: test input.
pub fn article(seed: &str, n: usize, source: &str, lang: &str, title: &str, text: &str) -> Article {
    let at = base_time() + Duration::minutes(n as i64);
    #[allow(clippy::expect_used, reason = "test input, written by the test")]
    let (source_id, language) = (
        SourceId::parse(source).expect("a valid source id"),
        Lang::parse(lang).expect("a valid language tag"),
    );
    Article {
        schema_version: SCHEMA_VERSION,
        id: ArticleId::digest(&[seed, &n.to_string()]),
        canonical_url: Some(format!("https://{source}.example/{n}")),
        source_id,
        feed_url: format!("https://{source}.example/rss.xml"),
        title: title.to_owned(),
        text: text.to_owned(),
        language,
        category: Category::general(),
        published_at: Some(at),
        fetched_at: at + Duration::seconds(30),
        processed_at: at + Duration::seconds(31),
        authors: vec![],
        entities: vec![],
        keywords: vec![],
        summary: None,
        categories: vec![],
        story_id: None,
        fingerprints: Fingerprints {
            content_hash: ArticleId::digest(&["hash", &n.to_string(), title, text]).as_str().to_owned(),
            simhash: None,
        },
        duplicate: None,
        revision: None,
    }
}
