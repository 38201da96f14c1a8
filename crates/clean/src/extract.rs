//! Main-content extraction from a whole HTML page, readability-style: score the blocks that
//! hold paragraph text, take the best container, and read metadata from the head.

use scraper::{ElementRef, Html, Selector};

use crate::html::{collect_text, html_to_text};

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
    let doc = Html::parse_document(html);
    let title = first_attr(&doc, "meta[property='og:title']", "content")
        .map(|t| crate::clean_title(&t))
        .or_else(|| first_text(&doc, "h1"))
        .or_else(|| first_text(&doc, "title"));
    let published = first_attr(&doc, "meta[property='article:published_time']", "content")
        .or_else(|| first_attr(&doc, "meta[itemprop='datePublished']", "content"))
        .or_else(|| {
            first_attr(
                &doc,
                "meta[name='pubdate'], meta[name='publishdate'], meta[name='date'], meta[name='dc.date']",
                "content",
            )
        })
        .or_else(|| json_ld_date(&doc))
        .or_else(|| first_attr(&doc, "time[datetime]", "datetime"));
    let canonical_url = first_attr(&doc, "link[rel='canonical']", "href")
        .or_else(|| first_attr(&doc, "meta[property='og:url']", "content"));
    let language = first_attr(&doc, "html", "lang");
    let text = main_text(&doc);
    // The headline is the title, not the body's first paragraph.
    let text = match &title {
        Some(t) => {
            let mut paras: Vec<&str> = text.split("\n\n").collect();
            if paras.first().is_some_and(|p| p.trim() == t.trim()) {
                paras.remove(0);
            }
            paras.join("\n\n")
        }
        None => text,
    };
    Extracted { title, text, published, canonical_url, language }
}

fn json_ld_date(doc: &Html) -> Option<String> {
    let s = sel("script[type='application/ld+json']")?;
    doc.select(&s).find_map(|e| {
        let body: String = e.text().collect();
        let at = body.find("\"datePublished\"")?;
        let rest = &body[at + "\"datePublished\"".len()..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_owned())
    })
}

/// Elements whose whole subtree is chrome, not content, when looking for the main block.
const CHROME: &[&str] = &["nav", "header", "footer", "aside", "form", "menu"];

/// The main text: an explicit article body if the page marks one, else the best-scoring
/// container of paragraphs.
fn main_text(doc: &Html) -> String {
    for explicit in ["[itemprop='articleBody']", "article", "main", "[role='main']"] {
        if let Some(s) = sel(explicit) {
            let best = doc.select(&s).max_by_key(|e| paragraph_chars(*e));
            if let Some(e) = best
                && paragraph_chars(e) >= 200
            {
                return collect_text(e, CHROME);
            }
        }
    }
    // Score every element by the paragraph text of its children (full) and grandchildren
    // (half), the readability heuristic; links count against it.
    let mut best: Option<(f64, ElementRef<'_>)> = None;
    if let Some(p_sel) = sel("p, pre, blockquote") {
        let mut scores: std::collections::HashMap<ego_tree::NodeId, (f64, ElementRef<'_>)> =
            Default::default();
        for p in doc.select(&p_sel) {
            if inside(p, CHROME) {
                continue;
            }
            let len = p.text().map(|t| t.trim().chars().count()).sum::<usize>() as f64;
            if len < 25.0 {
                continue;
            }
            let score = 1.0
                + (len / 100.0).min(3.0)
                + p.text().collect::<String>().matches(['،', ',']).count() as f64;
            let mut weight = 1.0;
            for ancestor in p.ancestors().filter_map(ElementRef::wrap).take(2) {
                let entry = scores.entry(ancestor.id()).or_insert((0.0, ancestor));
                entry.0 += score * weight;
                weight /= 2.0;
            }
        }
        for (_, (score, el)) in scores {
            let adjusted = score * (1.0 - link_density(el));
            if best.as_ref().is_none_or(|(b, _)| adjusted > *b) {
                best = Some((adjusted, el));
            }
        }
    }
    match best {
        Some((_, el)) => collect_text(el, CHROME),
        None => html_to_text(&doc.root_element().html()),
    }
}

fn paragraph_chars(e: ElementRef<'_>) -> usize {
    sel("p").map(|s| e.select(&s).map(|p| p.text().map(str::len).sum::<usize>()).sum()).unwrap_or(0)
}

fn inside(e: ElementRef<'_>, names: &[&str]) -> bool {
    e.ancestors().filter_map(ElementRef::wrap).any(|a| names.contains(&a.value().name()))
}

fn link_density(e: ElementRef<'_>) -> f64 {
    let total: usize = e.text().map(str::len).sum();
    if total == 0 {
        return 1.0;
    }
    let links: usize =
        sel("a").map(|s| e.select(&s).map(|a| a.text().map(str::len).sum::<usize>()).sum()).unwrap_or(0);
    links as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_main_block_without_article_tag() {
        let page = r#"<!DOCTYPE html><html lang="ar"><head><title>Site | T</title>
            <meta property="og:title" content="العنوان">
            <link rel="canonical" href="https://x.example/a">
            <script type="application/ld+json">{"@type":"NewsArticle","datePublished": "2025-02-16T09:30:00Z"}</script></head>
            <body><div class="menu"><a href="/">الرئيسية</a> <a href="/w">العالم</a> <a href="/e">اقتصاد</a></div>
            <div id="content"><p>تلقى وزير الخارجية الروسي اتصالا هاتفيا من نظيره الأميركي، وفق ما نقلته الخارجية.</p>
            <p>وأضافت الوزارة أن الجانبين اتفقا على التعاون، والبدء في التحضير للقاء بين الرئيسين.</p></div>
            <div class="sidebar"><p><a href="/1">خبر آخر مرتبط بعنوان طويل جدا هنا</a></p></div>
            <footer><p>جميع الحقوق محفوظة للموقع الإخباري 2025</p></footer></body></html>"#;
        let a = extract_article(page);
        assert_eq!(a.title.as_deref(), Some("العنوان"));
        assert_eq!(a.published.as_deref(), Some("2025-02-16T09:30:00Z"));
        assert_eq!(a.canonical_url.as_deref(), Some("https://x.example/a"));
        assert_eq!(a.language.as_deref(), Some("ar"));
        assert!(a.text.starts_with("تلقى وزير"), "{}", a.text);
        assert!(a.text.contains("والبدء في التحضير"));
        assert!(
            !a.text.contains("الرئيسية") && !a.text.contains("خبر آخر") && !a.text.contains("الحقوق"),
            "{}",
            a.text
        );
    }
}
