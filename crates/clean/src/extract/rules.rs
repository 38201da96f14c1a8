//! What a tag, a class or an id says about an element. General rules only: tag semantics and
//! the class/id words that site templates (English, German, French, Arabic outlets alike, as
//! templates are written in English or transliterated) give their chrome and their article body.

/// Tags whose subtree is never text: scripts, styles, media, embeds, form controls, the head,
/// AMP's ad and analytics components.
pub(super) const SKIP_TAGS: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "canvas",
    "button",
    "select",
    "option",
    "input",
    "textarea",
    "object",
    "embed",
    "audio",
    "video",
    "head",
    "title",
    "math",
    "map",
    "amp-ad",
    "amp-embed",
    "amp-analytics",
    "amp-social-share",
    "amp-sticky-ad",
];

/// Tags that are page chrome by their semantics: navigation, side content, footers, forms
/// (comment and newsletter forms). Pruned unless they hold the article (see `Analysis`).
pub(super) const CHROME_TAGS: &[&str] =
    &["nav", "aside", "footer", "menu", "form", "dialog", "amp-sidebar", "marquee", "figcaption"];

/// Tags that start and end a paragraph when turning the main block into text.
pub(super) const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "nav",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "td",
    "th",
    "hr",
    "address",
    "center",
    "details",
    "summary",
    "body",
    "html",
];

/// Whether `tag` ends a paragraph.
pub(super) fn is_block(tag: &str) -> bool {
    BLOCK_TAGS.contains(&tag)
}

/// What an element's class and id say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameRule {
    /// Nothing either way.
    Neutral,
    /// Page chrome: navigation, sharing, related links, ads, sidebars, footers…
    Boiler,
    /// A comment thread: pruned even when it is longer than the article.
    Comments,
}

/// Class/id substrings of page chrome. Matched on the lower-cased class and id, so they catch
/// `site-footer`, `footerNav`, `relatedArticles`, `share_bar`… Each is specific enough not to
/// occur inside an article-body class name.
const BOILER_SUBSTRINGS: &[&str] = &[
    "footer",
    "sidebar",
    "side-bar",
    "breadcrumb",
    "bread-crumb",
    "newsletter",
    "cookie",
    "consent",
    "related",
    "share",
    "sharing",
    "social",
    "sociable",
    "navbar",
    "navigation",
    "subnav",
    "menu",
    "advert",
    "sponsor",
    "outbrain",
    "taboola",
    "subscri",
    "signup",
    "sign-up",
    "paywall",
    "toolbar",
    "pagination",
    "recommend",
    "trending",
    "popular",
    "most-read",
    "mostread",
    "most_read",
    "tagcloud",
    "tag-list",
    "taglist",
    "byline",
    "author",
    "timestamp",
    "dateline",
    "marquee",
    "masthead",
    "topbar",
    "top-bar",
    "skip-link",
    "skiplink",
    "read-more",
    "readmore",
    "read-also",
    "readalso",
    "more-news",
    "morenews",
    "more-stories",
    "latest-news",
    "latestnews",
    "next-post",
    "prev-post",
    "post-nav",
    "post-meta",
    "entry-meta",
    "article-meta",
    "postmeta",
    "metadata",
    "caption",
    "copyright",
    "disclaimer",
];

/// Class/id substrings of a comment thread.
const COMMENT_SUBSTRINGS: &[&str] = &["comment", "disqus", "respond", "reply", "replies", "discussion"];

/// Whole words (class/id split at `-`, `_`, spaces and case changes) that mark chrome but are
/// too short to match as substrings (`ad` is in `header`, `nav` in `canvas`, `tag` in `stage`).
const BOILER_WORDS: &[&str] = &[
    "nav",
    "ad",
    "ads",
    "adv",
    "advert",
    "tags",
    "tag",
    "meta",
    "date",
    "time",
    "share",
    "links",
    "aside",
    "more",
    "keywords",
    "topics",
    "dfp",
    "gpt",
    "mpu",
    "pager",
    "rating",
    "ratings",
    "login",
    "follow",
    "credit",
    "credits",
    "caption",
    "ticker",
    "urgent",
    "promo",
    "promotion",
    "modal",
    "popup",
    "banner",
    "breaking",
];

/// Class/id words of hidden or screen-reader-only content.
const HIDDEN_WORDS: &[&str] =
    &["hidden", "hide", "sr-only", "visually-hidden", "screen-reader-text", "d-none", "invisible"];

/// Class prefixes of chrome: WordPress sidebar widgets are `widget`, `widget_recent_entries`…
/// (page builders such as Elementor wrap everything in `elementor-widget…`, so not a substring).
const BOILER_PREFIXES: &[&str] =
    &["widget", "share", "social", "related", "banner", "promo", "ad-", "ads-", "nav"];

/// The rule an element's `class` and `id` attributes match.
pub(super) fn name_rule(class: Option<&str>, id: Option<&str>) -> NameRule {
    let mut rule = NameRule::Neutral;
    for value in [class, id].into_iter().flatten() {
        let lower = value.to_ascii_lowercase();
        if COMMENT_SUBSTRINGS.iter().any(|p| lower.contains(p)) {
            return NameRule::Comments;
        }
        if BOILER_SUBSTRINGS.iter().any(|p| lower.contains(p))
            || lower.split_ascii_whitespace().any(|t| BOILER_PREFIXES.iter().any(|p| t.starts_with(p)))
            || words(value).any(|w| BOILER_WORDS.contains(&w.as_str()))
        {
            rule = NameRule::Boiler;
        }
    }
    rule
}

/// Whether the class names a hidden or screen-reader-only element.
pub(super) fn hidden_class(class: &str) -> bool {
    class.split_ascii_whitespace().any(|c| HIDDEN_WORDS.iter().any(|h| c.eq_ignore_ascii_case(h)))
}

/// Whether an inline style hides the element.
pub(super) fn hidden_style(style: &str) -> bool {
    let s: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    s.contains("display:none") || s.contains("visibility:hidden")
}

/// The words of a class or id value: split at non-alphanumerics and at lower-to-upper case
/// changes (`relatedNews` → `related`, `news`), lower-cased.
fn words(value: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in value.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
}

/// Class/id substrings of an article body, by confidence (tier 1 strongest). Tier 2 is the
/// `<article>` tag itself.
const BODY_TIER1: &[&str] = &[
    "articlebody",
    "article-body",
    "article_body",
    "article__body",
    "articlecontent",
    "article-content",
    "article_content",
    "article__content",
    "articletext",
    "article-text",
    "article_text",
    "article__text",
    "entry-content",
    "entry_content",
    "entrycontent",
    "post-content",
    "post_content",
    "postcontent",
    "post-body",
    "post_body",
    "postbody",
    "post-text",
    "post_text",
    "post-entry",
    "postentry",
    "story-body",
    "storybody",
    "story-content",
    "storycontent",
    "story-text",
    "news-body",
    "newsbody",
    "news-content",
    "news-text",
    "newstext",
    "news-details",
    "news_details",
    "article-details",
    "article_details",
    "articledetails",
    "details-body",
    "detail-body",
    "body-text",
    "bodytext",
    "text-body",
    "textbody",
    "body-copy",
    "bodycopy",
    "text-content",
    "field-body",
    "field-name-body",
    "fulltext",
    "full-text",
    "rich-text",
    "richtext",
    "art-content",
    "single-content",
    "blog-content",
    "post-inner",
    "entry-body",
    "entrybody",
];

const BODY_TIER3: &[&str] = &[
    "content-main",
    "content_main",
    "main-content",
    "main_content",
    "maincontent",
    "content-body",
    "contentbody",
    "content__body",
    "page-content",
    "pagecontent",
    "single-post",
    "main-column",
    "maincolumn",
    "article",
    "story",
    "post",
    "entry",
    "content",
    "text",
    "detail",
    "details",
];

/// The article-body tier of an element: 1 for strong class/id names and `itemprop=articleBody`,
/// 2 for `<article>`, 3 for weaker names (`main-content`, `story`, `post`…), 4 for `<main>` and
/// `role=main`; 0 otherwise.
pub(super) fn body_tier(
    tag: &str,
    class: Option<&str>,
    id: Option<&str>,
    itemprop: Option<&str>,
    role: Option<&str>,
) -> u8 {
    if itemprop.is_some_and(|p| p.eq_ignore_ascii_case("articleBody")) {
        return 1;
    }
    let mut tier = 0;
    for value in [class, id].into_iter().flatten() {
        let lower = value.to_ascii_lowercase();
        if BODY_TIER1.iter().any(|p| lower.contains(p)) {
            return 1;
        }
        // Weaker names must be a whole class token or id (`story`, not `story-teaser`), or the
        // prefix of one (`content-main`).
        if tier == 0
            && lower.split_ascii_whitespace().any(|t| {
                BODY_TIER3.iter().any(|p| t == *p || (p.contains(['-', '_']) || p.len() > 8) && t.contains(p))
            })
        {
            tier = 3;
        }
    }
    if tag == "article" {
        return 2;
    }
    if tier != 0 {
        return tier;
    }
    if tag == "main" || role.is_some_and(|r| r.eq_ignore_ascii_case("main")) {
        return 4;
    }
    0
}

/// Labels of chrome set as a line of their own: section titles of related-article lists, tag
/// and share lines, comment prompts, ad markers, in the languages newswire meets (English,
/// Arabic, German, French, Spanish, Polish). Compared in the matching form
/// ([`crate::normalize_for_matching`]: case, Arabic spelling variants and punctuation folded),
/// in which they are written here (a test checks it).
pub(super) const CHROME_LABELS: &[&str] = &[
    "related",
    "related articles",
    "related stories",
    "related posts",
    "related coverage",
    "related content",
    "related news",
    "read more",
    "read also",
    "also read",
    "see also",
    "more on this topic",
    "more stories",
    "you may also like",
    "you might also like",
    "recommended",
    "most read",
    "most popular",
    "trending",
    "tags",
    "topics",
    "share",
    "share this",
    "share this article",
    "comments",
    "view comments",
    "leave a comment",
    "leave a reply",
    "print",
    "advertisement",
    "sponsored",
    "follow us",
    "mehr zum thema",
    "weitere artikel",
    "weitere artikel zum thema",
    "auch interessant",
    "das könnte sie auch interessieren",
    "lesen sie auch",
    "zum weiterlesen",
    "weiterlesen",
    "schon gelesen",
    "schlagworte",
    "kommentieren",
    "kommentare",
    "kommentare schreiben",
    "anzeige",
    "drucken",
    "rezept drucken",
    "artikel teilen",
    "teilen",
    "à lire aussi",
    "lire aussi",
    "sur le même sujet",
    "partager",
    "commentaires",
    "temas relacionados",
    "noticias relacionadas",
    "lee también",
    "te puede interesar",
    "comentarios",
    "compartir",
    "zobacz również",
    "zobacz też",
    "czytaj także",
    "czytaj też",
    "komentarze",
    "drukuj",
    "udostępnij",
    "اقرا ايضا",
    "اقرا المزيد",
    "اخبار ذات صله",
    "مواضيع ذات صله",
    "مقالات ذات صله",
    "الاكثر قراه",
    "الاكثر مشاهده",
    "شارك",
    "شارك الخبر",
    "التعليقات",
    "تعليقات",
    "اضف تعليق",
    "الوسوم",
    "كلمات دلاليه",
    "تابعنا",
    "اعلان",
    "طباعه",
    "عاجل",
];

/// First words of a photo credit line ("Foto: dpa", "Image: Reuters", "(Photo: ABr)",
/// "الصورة: رويترز"), in matching form.
const CREDIT_WORDS: &[&str] = &[
    "foto",
    "fotos",
    "bild",
    "bildquelle",
    "photo",
    "photos",
    "image",
    "imagen",
    "credit",
    "credits",
    "صوره",
    "الصوره",
    "تصوير",
];

/// Whether a short line is one of [`CHROME_LABELS`] or a photo credit.
pub(super) fn chrome_label(line: &str) -> bool {
    if line.chars().count() > 40 {
        return false;
    }
    let n = crate::normalize_for_matching(line);
    if n.is_empty() {
        return false;
    }
    let first = n.split(' ').next().unwrap_or_default();
    CHROME_LABELS.contains(&n.as_str()) || (CREDIT_WORDS.contains(&first) && n.split(' ').count() <= 8)
}
