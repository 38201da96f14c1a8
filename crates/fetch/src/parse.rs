//! Feed bytes to raw items. Pure and synchronous: no IO, no clock (the fetch time is given).

use chrono::{DateTime, Utc};
use newswire_model::{ArticleId, CanonicalUrl, Category, HttpMeta, Lang, RawItem, SCHEMA_VERSION, SourceId};
use url::Url;

use crate::{FetchError, decode_body};

/// What the parser needs to know about where a feed came from.
#[derive(Debug, Clone)]
pub struct FeedContext {
    /// The configured source.
    pub source_id: SourceId,
    /// The feed's location as configured (recorded on every item).
    pub feed_url: String,
    /// Base for relative links (the final URL after redirects, for HTTP).
    pub base_url: Option<Url>,
    /// The source's configured language, used when the feed declares none.
    pub language_hint: Option<Lang>,
    /// The source's category.
    pub category: Category,
    /// When the body was received.
    pub fetched_at: DateTime<Utc>,
    /// The HTTP response, if any.
    pub http: Option<HttpMeta>,
}

/// A parsed feed.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    /// The feed's title, if any.
    pub title: Option<String>,
    /// One raw item per entry, in document order.
    pub items: Vec<RawItem>,
    /// Entries skipped because they have no link, GUID, title or content to identify them.
    pub skipped: usize,
    /// Entries beyond the item cap, not parsed (see [`parse_feed_capped`]).
    pub capped: usize,
    /// The encoding the body was decoded from.
    pub encoding: &'static str,
    /// Size of the body in bytes, as received.
    pub body_bytes: usize,
}

/// Decodes and parses a feed body (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.x).
///
/// Entries get their id from their link (canonicalised) when they have one, else from their
/// GUID within the source, else from their title and content; an entry with none of these is
/// skipped (it cannot be identified, so it could never be deduplicated).
pub fn parse_feed(
    bytes: &[u8],
    content_type: Option<&str>,
    ctx: &FeedContext,
) -> Result<ParsedFeed, FetchError> {
    parse_feed_capped(bytes, content_type, ctx, DEFAULT_MAX_ITEMS)
}

/// The default of `fetcher.max_items_per_feed`.
pub const DEFAULT_MAX_ITEMS: usize = 1000;

/// [`parse_feed`] reading at most the first `max_items` entries (document order: feeds list
/// the newest first). The rest are not parsed at all, so that a feed of 100,000 items costs
/// the memory of `max_items`; [`ParsedFeed::capped`] says how many were left out.
pub fn parse_feed_capped(
    bytes: &[u8],
    content_type: Option<&str>,
    ctx: &FeedContext,
    max_items: usize,
) -> Result<ParsedFeed, FetchError> {
    let origin = ctx.feed_url.as_str();
    let decoded = decode_body(bytes, content_type, origin)?;
    let text = decoded.text.trim_start_matches('\u{feff}');
    sniff(text, origin, ctx.base_url.as_ref())?;
    let normalized = normalize_dialect(text);
    let capped = crate::cap::cap_entries(normalized.as_ref(), max_items);
    let text = capped.text.as_ref();
    let parser = feed_rs::parser::Builder::new()
        .base_uri(ctx.base_url.as_ref().map(Url::as_str))
        // An empty id tells us the entry had none (feed-rs would otherwise invent one).
        .id_generator(|_, _, _| String::new())
        .build();
    // feed-rs and quick-xml are not written for hostile input; a panic in them (found by
    // fuzzing once) is one malformed feed, never a dead fetcher task.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(text.as_bytes())))
        .map_err(|_| FetchError::Malformed {
            url: origin.to_owned(),
            message: "the feed parser panicked on this body".to_owned(),
        })?;
    let feed =
        parsed.map_err(|e| FetchError::Malformed { url: origin.to_owned(), message: e.to_string() })?;
    let feed_lang = feed.language.as_deref().and_then(|l| Lang::parse(l).ok());
    let mut http = ctx.http.clone();
    if let Some(h) = http.as_mut() {
        h.charset = Some(decoded.encoding.to_owned());
    }
    let mut items = Vec::with_capacity(feed.entries.len());
    let mut skipped = 0;
    for entry in feed.entries {
        let link = pick_link(&entry.links);
        let guid = Some(entry.id.trim().to_owned()).filter(|g| !g.is_empty());
        let title = entry.title.map(|t| t.content).filter(|t| !t.trim().is_empty());
        let content = entry.content.and_then(|c| c.body).filter(|c| !c.trim().is_empty());
        let summary = entry.summary.map(|s| s.content).filter(|s| !s.trim().is_empty());
        let canonical = link.as_deref().and_then(|l| CanonicalUrl::parse(l, ctx.base_url.as_ref()).ok());
        let id = match (&canonical, &guid) {
            (Some(url), _) => ArticleId::from_url(url),
            (None, Some(g)) => ArticleId::from_source_guid(&ctx.source_id, g),
            (None, None) if title.is_some() || content.is_some() || summary.is_some() => {
                ArticleId::digest(&[
                    "content",
                    ctx.source_id.as_str(),
                    title.as_deref().unwrap_or_default(),
                    content.as_deref().or(summary.as_deref()).unwrap_or_default(),
                ])
            }
            (None, None) => {
                skipped += 1;
                continue;
            }
        };
        let entry_lang = entry.language.as_deref().and_then(|l| Lang::parse(l).ok());
        items.push(RawItem {
            schema_version: SCHEMA_VERSION,
            id,
            source_id: ctx.source_id.clone(),
            feed_url: ctx.feed_url.clone(),
            guid,
            // Only a canonical http(s) URL: a `javascript:` or `data:` link is no article URL.
            link: canonical.as_ref().map(|c| c.as_str().to_owned()),
            title,
            content,
            summary,
            authors: entry
                .authors
                .into_iter()
                .filter_map(|p| p.name)
                .filter(|n| !n.trim().is_empty())
                .collect(),
            feed_categories: entry.categories.into_iter().map(|c| c.label.unwrap_or(c.term)).collect(),
            published: entry.published,
            updated: entry.updated,
            language_hint: entry_lang.or_else(|| feed_lang.clone()).or_else(|| ctx.language_hint.clone()),
            category: ctx.category.clone(),
            fetched_at: ctx.fetched_at,
            http: http.clone(),
        });
    }
    for item in &mut items {
        item.sanitize();
    }
    Ok(ParsedFeed {
        title: feed.title.map(|t| t.content),
        items,
        skipped,
        capped: capped.dropped,
        encoding: decoded.encoding,
        body_bytes: bytes.len(),
    })
}

const ATOM_03_NS: &str = "http://purl.org/atom/ns#";

/// Rewrites the feed dialects feed-rs does not read into ones it does, without touching the
/// content:
/// - Atom 0.3 differs from 1.0 mostly by namespace; read as 1.0 its entries are recovered
///   (`issued`/`modified` dates are then not read), with 0.3's MIME-type `type` attributes
///   mapped to 1.0's `text`/`html`/`xhtml`.
/// - `<rss>` without a `version` attribute (common in the wild) is read as RSS 2.0, which is
///   a superset of the 0.9x versions.
fn normalize_dialect(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let mut out = utf8_declaration(text);
    if out.contains(ATOM_03_NS) {
        out = Cow::Owned(
            out.replace(ATOM_03_NS, "http://www.w3.org/2005/Atom")
                .replace("type=\"text/plain\"", "type=\"text\"")
                .replace("type=\"text/html\"", "type=\"html\"")
                .replace("type=\"application/xhtml+xml\"", "type=\"xhtml\""),
        );
    }
    let mut after = skip_prolog(&out);
    if after.starts_with("<!DOCTYPE") || after.starts_with("<!doctype") {
        after = after.find('>').map_or(after, |e| skip_prolog(&after[e + 1..]));
    }
    let root_at = out.len() - after.len();
    let rest = &out[root_at..];
    if rest.starts_with("<rss") && rest[4..].starts_with(|c: char| c.is_whitespace() || c == '>') {
        let tag_end = rest.find('>').unwrap_or(rest.len());
        if !rest[..tag_end].contains("version") {
            let mut fixed = String::with_capacity(out.len() + 16);
            fixed.push_str(&out[..root_at + 4]);
            fixed.push_str(" version=\"2.0\"");
            fixed.push_str(&out[root_at + 4..]);
            out = Cow::Owned(fixed);
        }
    }
    out
}

/// The text is UTF-8 by now (`decode_body` honoured the declared encoding), so the XML
/// declaration must not name another: quick-xml switches decoders on an `encoding` it finds in
/// any declaration, and panics when that declaration is not at the very start (fuzzing found
/// declarations after a comment, twice, inside elements). The leading declaration is rewritten
/// without an encoding, and any later one, invalid XML anyway, becomes an ordinary
/// processing instruction (`<?xml-stray …?>`) that parsers skip.
fn utf8_declaration(text: &str) -> std::borrow::Cow<'_, str> {
    const DECLARATION: &str = "<?xml version=\"1.0\"?>";
    let is_declaration_at = |t: &str, at: usize| {
        t[at..]
            .strip_prefix("<?xml")
            .is_some_and(|after| after.starts_with(|c: char| c.is_whitespace() || c == '?'))
    };
    if !text.contains("<?xml") {
        return std::borrow::Cow::Borrowed(text);
    }
    let start = text.len() - text.trim_start().len();
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    if is_declaration_at(text, start)
        && let Some(end) = text[start..].find("?>")
    {
        out.push_str(DECLARATION);
        rest = &text[start + end + 2..];
    }
    while let Some(at) = rest.find("<?xml") {
        out.push_str(&rest[..at]);
        if is_declaration_at(rest, at) {
            out.push_str("<?xml-stray");
        } else {
            out.push_str("<?xml");
        }
        rest = &rest[at + "<?xml".len()..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The entry's article link: `rel="alternate"` (or no rel) first, never `self`/`enclosure`.
fn pick_link(links: &[feed_rs::model::Link]) -> Option<String> {
    let usable = |l: &&feed_rs::model::Link| !l.href.trim().is_empty();
    links
        .iter()
        .filter(usable)
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| {
            links
                .iter()
                .filter(usable)
                .find(|l| !matches!(l.rel.as_deref(), Some("self" | "enclosure" | "replies" | "edit")))
        })
        .map(|l| l.href.trim().to_owned())
}

/// Refuses what is plainly not a feed with a message that says what it is instead, rather
/// than the XML parser's "no root element".
fn sniff(text: &str, origin: &str, base: Option<&Url>) -> Result<(), FetchError> {
    let not_a_feed =
        |reason: &str| FetchError::NotAFeed { url: origin.to_owned(), reason: reason.to_owned() };
    let head = text.trim_start();
    if head.is_empty() {
        return Err(not_a_feed("empty body"));
    }
    if looks_binary(head) {
        return Err(not_a_feed("binary data"));
    }
    let lower: String = head.chars().take(256).collect::<String>().to_ascii_lowercase();
    let after_decl = skip_prolog(&lower);
    if after_decl.starts_with("<!doctype html") || after_decl.starts_with("<html") {
        let feeds = discover_feeds(text, base);
        return Err(not_a_feed(&if feeds.is_empty() {
            "an HTML page, and it links to no feed".to_owned()
        } else {
            format!("an HTML page; it links to the feed(s) {}", feeds.join(" "))
        }));
    }
    if !(head.starts_with('<') || head.starts_with('{')) {
        return Err(not_a_feed("neither XML nor JSON"));
    }
    Ok(())
}

/// The feeds an HTML page announces with `<link rel="alternate" type="application/rss+xml"
/// href="…">` (RSS, Atom or JSON Feed), resolved against `base`: what to configure instead of
/// the page. Plain `application/json` alternates are left out: on WordPress and others they
/// are REST API documents, not feeds.
pub fn discover_feeds(html: &str, base: Option<&Url>) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("<link") {
        let start = from + pos;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &html[start..end];
        let ltag = &lower[start..end];
        from = end;
        let is_alternate = crate::charset::attr_value(ltag, "rel")
            .is_some_and(|r| r.split_whitespace().any(|t| t == "alternate"));
        let is_feed = crate::charset::attr_value(ltag, "type").is_some_and(|t| {
            ["application/rss+xml", "application/atom+xml", "application/feed+json"].contains(&t.as_str())
        });
        if !(is_alternate && is_feed) {
            continue;
        }
        if let Some(href) = crate::charset::attr_value(tag, "href") {
            let resolved = match base {
                Some(b) => b.join(&href).map(|u| u.to_string()).unwrap_or(href),
                None => href,
            };
            if !out.contains(&resolved) {
                out.push(resolved);
            }
        }
    }
    out
}

/// Skips the XML declaration, comments and processing instructions at the start.
fn skip_prolog(s: &str) -> &str {
    let mut rest = s.trim_start();
    loop {
        if rest.starts_with("<?") {
            match rest.find("?>") {
                Some(e) => rest = rest[e + 2..].trim_start(),
                None => return rest,
            }
        } else if rest.starts_with("<!--") {
            match rest.find("-->") {
                Some(e) => rest = rest[e + 3..].trim_start(),
                None => return rest,
            }
        } else {
            return rest;
        }
    }
}

/// Whether decoded text is really binary data: more than a few control characters (other than
/// whitespace) in its first 512 characters. Text never has them; images, archives and
/// mis-declared UTF-16 always do.
pub fn looks_binary(text: &str) -> bool {
    text.chars().take(512).filter(|c| c.is_control() && !c.is_whitespace()).count() > 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_page_names_the_feeds_it_links_to() {
        let page = r#"<!DOCTYPE html><html><head><link rel="stylesheet" href="/s.css">
            <LINK REL="alternate" TYPE="application/rss+xml" TITLE="RSS" HREF="/rss.xml">
            <link rel='alternate' type='application/atom+xml' href='https://x.example/atom'></head></html>"#;
        let base = Url::parse("https://x.example/news/page.html").ok();
        assert_eq!(
            discover_feeds(page, base.as_ref()),
            ["https://x.example/rss.xml", "https://x.example/atom"]
        );
        let ctx = FeedContext {
            source_id: SourceId::parse("t").unwrap(),
            feed_url: "https://x.example/news/page.html".into(),
            base_url: base,
            language_hint: None,
            category: Category::general(),
            fetched_at: Utc::now(),
            http: None,
        };
        let e = parse_feed(page.as_bytes(), Some("text/html"), &ctx).unwrap_err().to_string();
        assert!(
            e.contains("it links to the feed(s) https://x.example/rss.xml https://x.example/atom"),
            "{e}"
        );
    }

    #[test]
    fn nul_bytes_and_script_links_do_not_get_past_the_parser() {
        let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
            <item><title>A&#0;B</title><link>javascript:alert(1)</link><guid>g1</guid>\
            <category>world&#x0;</category><category>&#1;</category><author>x@y (Ann&#0;)</author>\
            <description>text&#0; here</description></item>\
            <item><title>C</title><link>data:text/html,&lt;script&gt;x()&lt;/script&gt;</link><guid>g2</guid></item>\
            </channel></rss>";
        let ctx = FeedContext {
            source_id: SourceId::parse("t").unwrap(),
            feed_url: "https://x.example/rss".into(),
            base_url: Url::parse("https://x.example/rss").ok(),
            language_hint: None,
            category: Category::general(),
            fetched_at: Utc::now(),
            http: None,
        };
        // Written raw as well, in case the XML parser refuses the character references.
        let raw = rss.replace("&#0;", "\u{0}").replace("&#x0;", "\u{0}").replace("&#1;", "\u{1}");
        let mut parsed_any = false;
        for body in [rss.to_owned(), raw] {
            let Ok(parsed) = parse_feed(body.as_bytes(), Some("application/rss+xml"), &ctx) else { continue };
            parsed_any = true;
            assert_eq!(parsed.items.len(), 2);
            for item in &parsed.items {
                let json = serde_json::to_string(item).unwrap();
                assert!(!json.contains("\\u0000") && !json.contains("\\u0001"), "{json}");
                assert_eq!(item.link, None, "no script or data link: {json}");
            }
            assert!(parsed.items[0].feed_categories.iter().all(|c| c == "world"));
        }
        assert!(parsed_any, "at least one form of the feed must parse");
    }

    #[test]
    fn dialects_feed_rs_does_not_read_are_rewritten() {
        let rss = "<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE rss>\n<rss xmlns:x=\"y\"><channel/></rss>";
        assert!(normalize_dialect(rss).contains("<rss version=\"2.0\" xmlns:x"));
        let versioned = "<rss version=\"0.91\"><channel/></rss>";
        assert_eq!(normalize_dialect(versioned), versioned);
        let atom03 = "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><title type=\"text/plain\">t</title></feed>";
        let upgraded = normalize_dialect(atom03);
        assert!(upgraded.contains("http://www.w3.org/2005/Atom") && upgraded.contains("type=\"text\""));
        assert_eq!(normalize_dialect("<rssfeed/>"), "<rssfeed/>");
    }
}
