//! Raw items from inputs that are not feed entries: a whole HTML page or a plain-text file.
//! Used by `newswire extract` and `newswire process`, so that pages and text files go through
//! the very same [`Processor`](crate::Processor) as feed entries.

use chrono::{DateTime, NaiveDate, Utc};
use newswire_clean::{Extracted, extract_article};
use newswire_model::{ArticleId, CanonicalUrl, Category, Lang, RawItem, SCHEMA_VERSION, SourceId};

/// Where an input came from, for ids and the `feed_url` field.
#[derive(Debug, Clone)]
pub struct InputContext {
    /// The source id to give the item.
    pub source_id: SourceId,
    /// The input's path or URL.
    pub origin: String,
    /// Language hint, if the user gave one.
    pub language_hint: Option<Lang>,
    /// Category.
    pub category: Category,
    /// When it was read.
    pub fetched_at: DateTime<Utc>,
}

/// A page's main article as a raw item: title, text, date and canonical URL from the page.
/// The id comes from the canonical URL when the page has one, else from `origin`.
pub fn raw_from_page(html: &str, ctx: &InputContext) -> (RawItem, Extracted) {
    let page = extract_article(html);
    let canonical = page.canonical_url.as_deref().and_then(|u| CanonicalUrl::parse(u, None).ok());
    let id = match &canonical {
        Some(c) => ArticleId::from_url(c),
        None => ArticleId::digest(&["input", &ctx.origin]),
    };
    let item = RawItem {
        schema_version: SCHEMA_VERSION,
        id,
        source_id: ctx.source_id.clone(),
        feed_url: ctx.origin.clone(),
        guid: None,
        link: canonical.map(|c| c.as_str().to_owned()),
        title: page.title.clone(),
        content: Some(page.text.clone()),
        summary: None,
        authors: Vec::new(),
        feed_categories: Vec::new(),
        published: page.published.as_deref().and_then(parse_date),
        updated: None,
        language_hint: ctx
            .language_hint
            .clone()
            .or_else(|| page.language.as_deref().and_then(|l| Lang::parse(l).ok())),
        category: ctx.category.clone(),
        fetched_at: ctx.fetched_at,
        http: None,
    };
    (item, page)
}

/// A plain-text article: the first non-empty line is the title, the rest the body (one
/// paragraph per line). The id comes from `origin`.
pub fn raw_from_text(text: &str, ctx: &InputContext) -> RawItem {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    let title = lines.by_ref().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_owned();
    let body: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
    RawItem {
        schema_version: SCHEMA_VERSION,
        id: ArticleId::digest(&["input", &ctx.origin]),
        source_id: ctx.source_id.clone(),
        feed_url: ctx.origin.clone(),
        guid: None,
        link: None,
        title: Some(title),
        content: Some(body.join("\n")),
        summary: None,
        authors: Vec::new(),
        feed_categories: Vec::new(),
        published: None,
        updated: None,
        language_hint: ctx.language_hint.clone(),
        category: ctx.category.clone(),
        fetched_at: ctx.fetched_at,
        http: None,
    }
}

/// Parses the dates pages write: RFC 3339, RFC 2822, or a bare `YYYY-MM-DD` (taken as UTC
/// midnight).
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc2822(s))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
            Some(date.and_hms_opt(0, 0, 0)?.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> InputContext {
        InputContext {
            source_id: SourceId::parse("cli").unwrap(),
            origin: "seeds/000.txt".into(),
            language_hint: None,
            category: Category::general(),
            fetched_at: Utc::now(),
        }
    }

    #[test]
    fn text_files_have_a_title_line_and_a_body() {
        let r = raw_from_text("\n Title line \nfirst\n\nsecond\n", &ctx());
        assert_eq!(r.title.as_deref(), Some("Title line"));
        assert_eq!(r.content.as_deref(), Some("first\nsecond"));
        assert_eq!(r.id, raw_from_text("other", &ctx()).id, "id comes from the origin");
    }

    #[test]
    fn pages_give_title_date_and_canonical_id() {
        let html = r#"<html lang="ar"><head><link rel="canonical" href="https://x.example/a?utm_source=t"><meta property="article:published_time" content="2025-02-16T09:30:00+03:00"></head><body><article><h1>T</h1><p>Body text of the article that is long enough to be the main block of the page, really.</p></article></body></html>"#;
        let (r, _) = raw_from_page(html, &ctx());
        assert_eq!(r.link.as_deref(), Some("https://x.example/a"));
        assert_eq!(r.published.map(|d| d.to_rfc3339()), Some("2025-02-16T06:30:00+00:00".into()));
        assert_eq!(r.language_hint.map(String::from), Some("ar".into()));
    }

    #[test]
    fn dates() {
        assert!(parse_date("Sun, 16 Feb 2025 09:30:00 +0000").is_some());
        assert_eq!(
            parse_date("2025-02-16").map(|d| d.to_rfc3339()),
            Some("2025-02-16T00:00:00+00:00".into())
        );
        assert_eq!(parse_date("16th, February 2025"), None);
    }
}
