//! Main-content extraction from a whole HTML page, in the manner of trafilatura and
//! readability:
//!
//! 1. One iterative analysis of the DOM ([`dom`]): per element its text, link text and
//!    paragraph text, with and without chrome. Chrome is decided by tag semantics (`nav`,
//!    `aside`, `footer`, `form`, page-level `header`), by class/id words in the names templates
//!    use ([`rules`]: footer, sidebar, related, share, comment, breadcrumb, newsletter, ad,
//!    ticker…) and by link density (menus and related-article lists are mostly link text).
//!    An element that holds a marked article body or most of the page's prose is never chrome,
//!    so a template's `has-sidebar` wrapper cannot hide the article.
//! 2. The main block: the marked article body (`itemprop=articleBody`, `article-body`-like
//!    names, `<article>`, then weaker names, then `<main>`), unless the readability choice
//!    (paragraphs vote for their containers) is much bigger and elsewhere.
//! 3. Its text ([`text`]): one paragraph per block element, chrome subtrees left out, link
//!    lines dropped; headings, lists, quotes and tables are kept.
//! 4. JSON-LD `articleBody`, when the page has one and the DOM text is much shorter.
//!
//! Nothing here recurses on the depth of the page.

mod dom;
mod rules;
mod text;

#[cfg(test)]
mod tests;

use scraper::{Html, Selector};

/// Pages are cut at this many bytes before parsing (at a character boundary): the fetcher's
/// limits are lower, this bounds the work on any other input.
pub const MAX_PAGE_BYTES: usize = 8 << 20;

/// A main text shorter than this (non-blank characters) is widened (see `extract_article`).
const MIN_MAIN_CHARS: usize = 250;

/// Nesting beyond this depth is flattened before parsing (see [`flatten_deep_nesting`]).
pub(crate) const MAX_DEPTH: usize = 512;

/// What [`extract_article`] found in a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// `og:title`, else the first `<h1>`, else `<title>`.
    pub title: Option<String>,
    /// The main text: paragraphs separated by a blank line (boilerplate not yet removed).
    pub text: String,
    /// `article:published_time`, `datePublished` (JSON-LD or microdata), `<time datetime>`…,
    /// as written in the page.
    pub published: Option<String>,
    /// `<link rel="canonical">`, else `og:url`.
    pub canonical_url: Option<String>,
    /// `<html lang>`.
    pub language: Option<String>,
}

fn sel(s: &str) -> Option<Selector> {
    Selector::parse(s).ok()
}

fn first_attr(doc: &Html, selector: &str, attr: &str) -> Option<String> {
    let s = sel(selector)?;
    doc.select(&s).find_map(|e| e.value().attr(attr)).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn first_text(doc: &Html, selector: &str) -> Option<String> {
    let s = sel(selector)?;
    doc.select(&s).map(|e| crate::clean_title(&e.text().collect::<String>())).find(|t| !t.is_empty())
}

/// Extracts the main article of an HTML page.
///
/// ```
/// let page = "<html><body><nav>Home | World</nav><article><h1>T</h1><p>First paragraph of the story, long enough to count.</p><p>Second one.</p></article><footer>© Site</footer></body></html>";
/// let a = newswire_clean::extract_article(page);
/// assert_eq!(a.title.as_deref(), Some("T"));
/// assert_eq!(a.text, "First paragraph of the story, long enough to count.\n\nSecond one.");
/// ```
pub fn extract_article(html: &str) -> Extracted {
    let html = cap(html, MAX_PAGE_BYTES);
    let flat;
    let html = match flatten_deep_nesting(html, MAX_DEPTH) {
        Some(f) => {
            flat = f;
            flat.as_str()
        }
        None => html,
    };
    let doc = Html::parse_document(html);
    let title = first_attr(&doc, "meta[property='og:title']", "content")
        .map(|t| crate::clean_title(&t))
        .or_else(|| first_text(&doc, "h1"))
        .or_else(|| first_text(&doc, "title"));
    let ld = JsonLd::of(&doc);
    let published = first_attr(&doc, "meta[property='article:published_time']", "content")
        .or_else(|| first_attr(&doc, "meta[itemprop='datePublished']", "content"))
        .or_else(|| {
            first_attr(
                &doc,
                "meta[name='pubdate'], meta[name='publishdate'], meta[name='date'], meta[name='dc.date']",
                "content",
            )
        })
        .or_else(|| ld.date.clone())
        .or_else(|| first_attr(&doc, "time[datetime]", "datetime"));
    let canonical_url = first_attr(&doc, "link[rel='canonical']", "href")
        .or_else(|| first_attr(&doc, "meta[property='og:url']", "content"));
    let language = first_attr(&doc, "html", "lang");

    let analysis = dom::analyse(doc.tree.root());
    let roots = analysis.main_roots();
    let mut paras: Vec<String> =
        text::blocks(&analysis, &roots).into_iter().filter(text::keep).map(|b| b.text).collect();
    // A main block with less than half of the page's prose (or under 250 characters) is an
    // uncertain choice: a fragment of a page whose text is spread over several containers.
    // The block is widened to its nearest ancestor that holds half of the prose (chrome still
    // left out), as trafilatura falls back to a wider extraction when its result is short.
    let got: usize = paras.iter().map(|p| chars(p)).sum();
    let page = analysis.els[analysis.body as usize].cgood as usize;
    if let Some(&first) = roots.first()
        && (got < MIN_MAIN_CHARS || got * 2 < page)
    {
        let wider = analysis.widen(first, page / 2);
        if wider != first {
            paras =
                text::blocks(&analysis, &[wider]).into_iter().filter(text::keep).map(|b| b.text).collect();
        }
    }
    // The headline is the title, not the body's first paragraph; nor is the headline with a
    // section label or kicker before it ("Politics: <title>").
    if let Some(t) = title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let is_headline = |p: &String| p.trim() == t || (p.len() <= t.len() + 40 && p.trim().ends_with(t));
        if let Some(at) = paras.iter().take(3).position(is_headline) {
            paras.remove(at);
        }
    }
    let mut text = paras.join("\n\n");
    if let Some(body) = ld.body.as_deref().map(ld_body_text)
        && plausible_ld_body(&body, &text)
    {
        text = body;
    }
    Extracted { title, text, published, canonical_url, language }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Non-blank characters of a text.
fn chars(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}

/// JSON-LD `articleBody` is used when it is a real text (200 characters or more) and the DOM
/// gave much less: a page that renders its text with scripts, or one whose markup misled the
/// extractor. When both are there the DOM text wins: it keeps paragraphs and headings.
fn plausible_ld_body(body: &str, dom_text: &str) -> bool {
    let b = chars(body);
    b >= 200 && chars(dom_text) * 2 < b
}

/// `articleBody` as text: with markup, its paragraphs; without, one paragraph per line.
fn ld_body_text(body: &str) -> String {
    let paras: Vec<String> = if body.contains('<') {
        let frag = Html::parse_fragment(cap(body, MAX_PAGE_BYTES));
        text::fragment_blocks(frag.tree.root()).into_iter().map(|b| b.text).collect()
    } else {
        body.lines().map(crate::html::collapse).filter(|l| !l.is_empty()).collect()
    };
    paras.join("\n\n")
}

/// What the page's JSON-LD blocks say.
#[derive(Debug, Default)]
struct JsonLd {
    date: Option<String>,
    body: Option<String>,
}

impl JsonLd {
    /// The first `datePublished` and the longest `articleBody` of all JSON-LD blocks (objects
    /// nested in `@graph` or lists included). serde_json refuses nesting deeper than 128, and
    /// the walk below keeps its own stack.
    fn of(doc: &Html) -> Self {
        let mut out = JsonLd::default();
        let Some(s) = sel("script[type='application/ld+json']") else { return out };
        for script in doc.select(&s) {
            let raw: String = script.text().collect();
            let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.trim()) else {
                // Invalid JSON (trailing commas, raw newlines in strings) is common: the date
                // may still be read as text.
                if out.date.is_none() {
                    out.date = scan_date(&raw);
                }
                continue;
            };
            let mut stack = vec![&value];
            while let Some(v) = stack.pop() {
                match v {
                    serde_json::Value::Object(map) => {
                        if out.date.is_none()
                            && let Some(d) = map.get("datePublished").and_then(|d| d.as_str())
                        {
                            out.date = Some(d.trim().to_owned()).filter(|d| !d.is_empty());
                        }
                        if let Some(b) = map.get("articleBody").and_then(|b| b.as_str())
                            && out.body.as_ref().is_none_or(|o| o.len() < b.len())
                        {
                            out.body = Some(b.to_owned());
                        }
                        stack.extend(map.values().rev());
                    }
                    serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
                    _ => {}
                }
            }
        }
        out
    }
}

/// `"datePublished": "…"` read as text from a JSON-LD block that does not parse.
fn scan_date(body: &str) -> Option<String> {
    let at = body.find("\"datePublished\"")?;
    let rest = &body[at + "\"datePublished\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Tags that never have an end tag, so never nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr",
];

/// A copy of `html` without the start and end tags nested deeper than `max_depth`, or `None`
/// when nothing is that deep (the common case: one scan, no copy).
///
/// The HTML tree builder checks scopes by scanning its stack of open elements, so a page of
/// 100,000 nested `<div>`s costs it time quadratic in the depth. Real pages nest a few dozen
/// levels; past `max_depth` the tags are dropped and their text kept. The depth count is a
/// cheap approximation (start tags minus end tags, void and self-closed tags aside); raw text
/// elements (`script`, `style`, comments) are skipped whole.
pub(crate) fn flatten_deep_nesting(html: &str, max_depth: usize) -> Option<String> {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut too_deep = false;
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr_lt(&bytes[i..]) {
        let start = i + off;
        let Some(tag) = scan_tag(html, start) else {
            i = start + 1;
            continue;
        };
        i = tag.end;
        match tag.kind {
            TagKind::Raw => {}
            TagKind::Open => {
                depth += 1;
                if depth > max_depth {
                    too_deep = true;
                    cuts.push((start, tag.end));
                }
            }
            TagKind::Close => {
                if depth > max_depth {
                    cuts.push((start, tag.end));
                }
                depth = depth.saturating_sub(1);
            }
        }
    }
    if !too_deep {
        return None;
    }
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    for (s, e) in cuts {
        out.push_str(&html[at..s]);
        at = e;
    }
    out.push_str(&html[at..]);
    Some(out)
}

/// Elements whose end tag may be omitted.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "td", "th", "tr", "thead", "tbody", "tfoot", "option", "optgroup", "colgroup",
    "caption", "rp", "rt", "html", "head", "body",
];

/// The first position of `needle` (lower-case ASCII) in `hay`, ignoring ASCII case.
fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

fn memchr_lt(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'<')
}

enum TagKind {
    Open,
    Close,
    /// Void, self-closed, comment, doctype, or a raw-text element with its content.
    Raw,
}

struct Tag {
    kind: TagKind,
    end: usize,
}

/// The tag starting at `html[start] == '<'`, if it is one.
fn scan_tag(html: &str, start: usize) -> Option<Tag> {
    let rest = &html[start..];
    if rest.starts_with("<!--") {
        let end = rest.find("-->").map_or(html.len(), |e| start + e + 3);
        return Some(Tag { kind: TagKind::Raw, end });
    }
    let b = rest.as_bytes();
    let (close, name_at) = if b.get(1) == Some(&b'/') { (true, 2) } else { (false, 1) };
    if !b.get(name_at).is_some_and(|c| c.is_ascii_alphabetic()) {
        if b.get(1).is_some_and(|c| *c == b'!' || *c == b'?') {
            let end = rest.find('>').map_or(html.len(), |e| start + e + 1);
            return Some(Tag { kind: TagKind::Raw, end });
        }
        return None;
    }
    let name_len = b[name_at..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'-').count();
    let name = rest[name_at..name_at + name_len].to_ascii_lowercase();
    let gt = rest.find('>').map_or(html.len(), |e| start + e + 1);
    if close {
        return Some(Tag { kind: TagKind::Close, end: gt });
    }
    if matches!(name.as_str(), "script" | "style" | "textarea" | "title" | "xmp") {
        let closing = format!("</{name}");
        let end = find_ignore_case(&html.as_bytes()[gt..], closing.as_bytes()).map_or(html.len(), |e| gt + e);
        return Some(Tag { kind: TagKind::Raw, end });
    }
    let self_closed = html[..gt].ends_with("/>");
    // Void elements never nest; elements whose end tag may be omitted (`<p>`, `<li>`, `<td>`…)
    // are closed by their next sibling, so counting them would make long flat pages look deep.
    if VOID.contains(&name.as_str()) || OPTIONAL_END.contains(&name.as_str()) || self_closed {
        return Some(Tag { kind: TagKind::Raw, end: gt });
    }
    Some(Tag { kind: TagKind::Open, end: gt })
}
