use super::rules::{NameRule, body_tier, name_rule};
use super::*;

const P1: &str = "The minister said on Tuesday that the talks, which lasted four hours, had gone well.";
const P2: &str = "Both sides agreed to prepare a meeting of the presidents, officials said later.";
const P3: &str = "Analysts expect the meeting to take place in the spring, in a neutral country.";

fn page(body: &str) -> String {
    format!("<!DOCTYPE html><html><head><title>Site</title></head><body>{body}</body></html>")
}

fn text_of(body: &str) -> String {
    extract_article(&page(body)).text
}

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

#[test]
fn chrome_tags_inside_the_article_are_pruned() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><aside><p>Box: a fact box that is not the story at all, long text here.</p></aside>\
         <nav><p>Previous story, next story and other navigation text here.</p></nav><p>{P2}</p>\
         <footer><p>Filed under world news, politics and diplomacy by the desk.</p></footer></article>\
         <form><p>Sign up for our daily newsletter and get the news every morning.</p></form>"
    ));
    assert!(t.contains(P1) && t.contains(P2), "{t}");
    for chrome in ["fact box", "navigation text", "newsletter", "Filed under"] {
        assert!(!t.contains(chrome), "{chrome} kept: {t}");
    }
}

#[test]
fn a_form_inside_the_article_is_part_of_it() {
    // Shops and some CMSs wrap the description in the product or page form.
    let t = text_of(&format!("<article><form action=\"/cart\"><p>{P1}</p><p>{P2}</p></form></article>"));
    assert!(t.contains(P1) && t.contains(P2), "{t}");
}

#[test]
fn page_header_is_chrome_but_article_header_is_not() {
    let t = text_of(&format!(
        "<header><p>Breaking: a headline from the site header that repeats on every page.</p></header>\
         <article><header><p>The lead paragraph of the story, set in the article's header.</p></header>\
         <p>{P1}</p><p>{P2}</p></article>"
    ));
    assert!(t.contains("The lead paragraph"), "{t}");
    assert!(!t.contains("site header"), "{t}");
}

#[test]
fn class_and_id_names_prune_chrome_in_english_and_on_arabic_templates() {
    let t = text_of(&format!(
        "<div class=\"article-body\"><p>{P1}</p>\
         <div class=\"share-buttons\">Share this article on Facebook, Twitter and WhatsApp now</div>\
         <div id=\"relatedNews\"><h3>اقرأ أيضا</h3><p>خبر آخر لا علاقة له بهذا المقال ولكنه طويل بما يكفي</p></div>\
         <p>{P2}</p><div class=\"breaking-ticker\">عاجل: نص شريط الأخبار العاجلة الذي يتكرر في كل صفحة</div>\
         <div class=\"ad-slot\">Advertisement: buy our product today, it is very good value</div>\
         <div class=\"tags\">Tags: Russia, United States, diplomacy, talks, Riyadh</div></div>"
    ));
    assert!(t.contains(P1) && t.contains(P2), "{t}");
    for chrome in ["Share this", "خبر آخر", "عاجل", "Advertisement", "Tags:"] {
        assert!(!t.contains(chrome), "{chrome} kept: {t}");
    }
}

#[test]
fn name_rules_match_words_not_letters() {
    assert_eq!(name_rule(Some("relatedNews"), None), NameRule::Boiler);
    assert_eq!(name_rule(Some("post ad-box"), None), NameRule::Boiler);
    assert_eq!(name_rule(None, Some("main-nav")), NameRule::Boiler);
    // "ad" in "header", "nav" in "canvas", "tag" in "stage": not chrome words.
    assert_eq!(name_rule(Some("header-lead canvas stage"), None), NameRule::Neutral);
    assert_eq!(name_rule(Some("comment-list"), None), NameRule::Comments);
    assert_eq!(body_tier("div", Some("entry-content clearfix"), None, None, None), 1);
    assert_eq!(body_tier("section", None, None, Some("articleBody"), None), 1);
    assert_eq!(body_tier("article", Some("x"), None, None, None), 2);
    assert_eq!(body_tier("div", Some("story"), None, None, None), 3);
    assert_eq!(body_tier("div", Some("story-teaser"), None, None, None), 0);
    assert_eq!(body_tier("main", None, None, None, None), 4);
}

#[test]
fn comment_threads_are_pruned_even_when_longer_than_the_article() {
    let comments: String = (0..12)
        .map(|i| format!("<div class=\"c\"><p>Comment {i}: I think that, honestly, the talks were a waste of time and money.</p></div>"))
        .collect();
    let t = text_of(&format!(
        "<div class=\"main\"><p>{P1}</p><p>{P2}</p></div><div id=\"comments\">{comments}</div>"
    ));
    assert!(t.contains(P1), "{t}");
    assert!(!t.contains("Comment 3"), "{t}");
}

#[test]
fn wrapper_with_a_chrome_name_that_holds_the_article_is_kept() {
    // Templates put modifier classes such as "has-sidebar" on the wrapper of everything.
    let t = text_of(&format!(
        "<div class=\"layout has-sidebar\"><div><p>{P1}</p><p>{P2}</p><p>{P3}</p></div></div>"
    ));
    assert!(t.contains(P1) && t.contains(P3), "{t}");
}

#[test]
fn link_lists_and_link_lines_are_dropped_prose_lists_kept() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><ul><li><a href=\"/a\">Another headline about another story</a></li>\
         <li><a href=\"/b\">Yet another headline about something else</a></li></ul>\
         <p><a href=\"/c\">Read more: the earlier meeting of the two ministers</a></p>\
         <ul><li>The first point of the agreement, in plain words.</li><li>The second point, also prose.</li></ul>\
         <p>{P2} See <a href=\"/d\">the statement</a>.</p></article>"
    ));
    assert!(t.contains("The first point") && t.contains("the statement"), "{t}");
    assert!(!t.contains("Another headline") && !t.contains("Read more"), "{t}");
}

#[test]
fn headings_quotes_and_tables_in_the_main_block_are_kept() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><h2>What comes next</h2><blockquote>We will meet again, he said, soon.</blockquote>\
         <table><tr><td>Delegation</td><td>Members</td></tr></table><p>{P2}</p></article>"
    ));
    for kept in ["What comes next", "We will meet again", "Delegation", "Members"] {
        assert!(t.contains(kept), "{kept} missing: {t}");
    }
}

#[test]
fn readability_takes_sibling_blocks_of_the_best_container() {
    let t = text_of(&format!(
        "<div id=\"wrap\"><div class=\"x\"><p>{P1}</p><p>{P2}</p></div><div class=\"y\"><p>{P3}</p><p>{P3}</p></div>\
         <div class=\"menu\"><a href=\"/\">Home</a> <a href=\"/w\">World</a></div></div>"
    ));
    assert!(t.contains(P1) && t.contains(P3), "{t}");
    assert!(!t.contains("Home"), "{t}");
}

#[test]
fn legacy_table_layout_text_with_line_breaks() {
    let t = text_of(&format!(
        "<table><tr><td class=\"nav\"><a href=\"/\">الرئيسية</a><br><a href=\"/a\">سياسة</a></td>\
         <td>{P1}<br><br>{P2}<br><br>{P3}</td></tr></table>"
    ));
    assert!(t.contains(P1) && t.contains(P3), "{t}");
    assert!(!t.contains("الرئيسية"), "{t}");
}

#[test]
fn hidden_elements_are_skipped() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><p style=\"display: none\">Hidden text one, never shown.</p>\
         <p aria-hidden=\"true\">Hidden text two.</p><span class=\"sr-only\">Hidden text three.</span><p>{P2}</p></article>"
    ));
    assert!(t.contains(P2) && !t.contains("Hidden text"), "{t}");
}

#[test]
fn json_ld_article_body_when_the_dom_has_no_text() {
    let body = format!("{P1}\\n{P2}\\n{P3}");
    let html = format!(
        "<html><head><script type=\"application/ld+json\">{{\"@graph\":[{{\"@type\":\"WebPage\"}},\
         {{\"@type\":\"NewsArticle\",\"datePublished\":\"2025-02-18\",\"articleBody\":\"{body}\"}}]}}</script></head>\
         <body><div id=\"app\"></div><footer>© Site</footer></body></html>"
    );
    let a = extract_article(&html);
    assert_eq!(a.published.as_deref(), Some("2025-02-18"));
    assert_eq!(a.text, format!("{P1}\n\n{P2}\n\n{P3}"));
}

#[test]
fn dom_text_wins_over_a_json_ld_summary() {
    let html = format!(
        "<html><head><script type=\"application/ld+json\">{{\"@type\":\"NewsArticle\",\"articleBody\":\"{P1} {P2}\"}}</script></head>\
         <body><article><h2>Sub</h2><p>{P1}</p><p>{P2}</p><p>{P3}</p></article></body></html>"
    );
    let a = extract_article(&html);
    assert!(a.text.contains("Sub\n\n") && a.text.contains(P3), "{}", a.text);
}

#[test]
fn deeply_nested_page_does_not_overflow() {
    let depth = 100_000;
    let html =
        format!("<html><body>{}<p>{P1}</p>{}</body></html>", "<div>".repeat(depth), "</div>".repeat(depth));
    let a = extract_article(&html);
    assert!(a.text.contains(P1), "{}", a.text.len());
    // Unclosed, too.
    let html = format!("<html><body>{}<p>{P1}</p>", "<div><span>".repeat(depth));
    assert!(extract_article(&html).text.contains(P1));
}

#[test]
fn nesting_is_flattened_only_when_deep() {
    let flat = format!("<div>{}</div>", "<p>para".repeat(2000));
    assert!(flatten_deep_nesting(&flat, 512).is_none(), "unclosed <p> do not nest");
    let deep = format!("{}x{}", "<div>".repeat(600), "</div>".repeat(600));
    let out = flatten_deep_nesting(&deep, 512).unwrap_or_default();
    assert_eq!(out.matches("<div>").count(), 512);
    assert_eq!(out.matches("</div>").count(), 512);
    assert!(out.contains('x'));
    assert!(flatten_deep_nesting("<script>if (a<b) { x = '<div>'; }</script><div></div>", 0).is_some());
    assert!(flatten_deep_nesting("<!-- <div> --><br><img src=x>", 0).is_none());
}

#[test]
fn marked_body_beats_a_better_scoring_readability_block() {
    // The box scores higher for readability (commas), the marked body has more text.
    let t = text_of(&format!(
        "<div><div class=\"intro\"><p>Red, green, blue, yellow, black, white, grey, pink, brown, orange, violet, gold.</p></div>\
         <div itemprop=\"articleBody\"><p>{P1}</p><p>{P2}</p><p>{P3}</p></div></div>"
    ));
    assert!(t.contains(P1) && t.contains(P3) && !t.contains("violet"), "{t}");
}

#[test]
fn label_of_a_removed_related_list_goes_with_it() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><p>{P2}</p><h3>You may also like</h3><ul><li><a href=\"/a\">Another headline about another story</a></li>\
         <li><a href=\"/b\">Yet another headline about something else</a></li></ul></article>"
    ));
    assert!(t.contains(P2) && !t.contains("You may also like"), "{t}");
}

#[test]
fn subheading_followed_by_an_ad_or_a_teaser_is_kept() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><h2>قمة بوتين وترمب</h2><div class=\"ad-slot\">إعلان</div><p>{P2}</p>\
         <h2>What comes next</h2><div class=\"read-also\"><a href=\"/x\">Read also: a headline of another story here</a></div><p>{P3}</p></article>"
    ));
    assert!(t.contains("قمة بوتين وترمب") && t.contains("What comes next"), "{t}");
    assert!(!t.contains("إعلان") && !t.contains("Read also"), "{t}");
}

#[test]
fn container_left_with_only_its_label_is_chrome() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><div><strong>Mehr zum Thema</strong><ul><li><a href=\"/a\">Eine andere Geschichte mit langer Überschrift</a></li>\
         <li><a href=\"/b\">Noch eine andere Geschichte mit Überschrift</a></li></ul></div><p>{P2}</p></article>"
    ));
    assert!(t.contains(P2) && !t.contains("Mehr zum Thema"), "{t}");
}

#[test]
fn captions_and_tickers_are_chrome() {
    let t = text_of(&format!(
        "<marquee>عاجل: خبر في الشريط المتحرك</marquee><article><p>{P1}</p><figure><img src=\"a.jpg\">\
         <figcaption>The two ministers in Riyadh (Photo: Agency)</figcaption></figure><p>{P2}</p></article>"
    ));
    assert!(t.contains(P2) && !t.contains("Photo: Agency") && !t.contains("الشريط"), "{t}");
}

#[test]
fn date_lines_are_metadata() {
    use super::text::dateline;
    assert!(dateline("تاريخ الإضافة: 16/02/2025 - عدد القراءات: 1532"));
    assert!(dateline("05:28 Uhr"));
    assert!(dateline("Published 2025-02-16"));
    assert!(!dateline("200 g Zucker"));
    assert!(!dateline("The meeting on 16/02/2025 lasted four and a half hours, both sides said later."));
    let t = text_of(&format!("<article><p>16.02.2025 | 10:30</p><p>{P1}</p><p>{P2}</p></article>"));
    assert!(!t.contains("16.02.2025"), "{t}");
}

#[test]
fn headline_with_a_section_label_is_the_title() {
    let html = format!(
        "<html><head><meta property=\"og:title\" content=\"Lavrov and Rubio talk\"></head><body><article>\
         <p>Politics Lavrov and Rubio talk</p><p>{P1}</p><p>{P2}</p></article></body></html>"
    );
    let a = extract_article(&html);
    assert!(a.text.starts_with(P1), "{}", a.text);
}

#[test]
fn lead_paragraph_in_the_article_header_is_kept_with_the_marked_body() {
    let t = text_of(&format!(
        "<article><header><h1>T</h1><p class=\"intro\">The lead paragraph, set above the body.</p></header>\
         <div class=\"article-body\"><p>{P1}</p><p>{P2}</p></div><div class=\"share\">Share on Facebook and X</div></article>\
         <div class=\"teaser-list\"><p>{P3} {P3}</p></div>"
    ));
    assert!(t.contains("The lead paragraph") && t.contains(P2), "{t}");
    assert!(!t.contains("Share on") && !t.contains(P3), "{t}");
}

#[test]
fn body_split_into_sibling_blocks_is_taken_whole() {
    let t = text_of(&format!(
        "<div><div class=\"article-body\"><p>{P1}</p><p>{P1}</p></div><div class=\"ad\">Anzeige</div>\
         <div class=\"article-body\"><p>{P2}</p></div><div class=\"other\"><p>{P3}</p></div></div>"
    ));
    assert!(t.contains(P1) && t.contains(P2) && !t.contains("Anzeige"), "{t}");
}

#[test]
fn soft_hyphens_are_removed() {
    let t = text_of(
        "<article><p>Schon im Mit\u{ad}tel\u{ad}al\u{ad}ter war der Wein das Aus\u{ad}hän\u{ad}ge\u{ad}schild der Region, sagen alle.</p></article>",
    );
    assert!(t.contains("Mittelalter") && t.contains("Aushängeschild"), "{t}");
}

#[test]
fn a_block_with_a_small_share_of_the_prose_is_widened() {
    // The marked body holds one paragraph; the page's text goes on in unmarked siblings.
    let t = text_of(&format!(
        "<div id=\"page\"><div class=\"entry-content\"><p>{P1} {P2}</p></div>\
         <div class=\"section\"><h2>Part two</h2><p>{P3} {P3}</p></div><div class=\"section\"><p>{P2} {P1}</p></div>\
         <div class=\"share\">Share on Facebook, X and WhatsApp now</div></div>"
    ));
    assert!(t.contains("Part two") && t.contains(&format!("{P2} {P1}")), "{t}");
    assert!(!t.contains("Share on"), "{t}");
}

#[test]
fn a_block_with_most_of_the_prose_is_not_widened() {
    let t = text_of(&format!(
        "<div id=\"page\"><div class=\"entry-content\"><p>{P1}</p><p>{P2}</p><p>{P3}</p></div>\
         <div class=\"box\"><p>A short box of text beside the article.</p></div></div>"
    ));
    assert!(t.contains(P3) && !t.contains("short box"), "{t}");
}

#[test]
fn chrome_labels_are_written_in_matching_form() {
    for l in super::rules::CHROME_LABELS {
        assert_eq!(crate::normalize_for_matching(l), *l, "label {l:?}");
    }
}

#[test]
fn chrome_labels_on_their_own_line_are_dropped() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><p>Mehr zum Thema:</p><p>{P2}</p><p>إقرأ أيضاً</p><h4>Temas relacionados</h4>\
         <p>Read more about the talks in our archive, where every earlier meeting is covered.</p></article>"
    ));
    assert!(t.contains(P2) && t.contains("Read more about the talks"), "{t}");
    assert!(!t.contains("Mehr zum Thema") && !t.contains("إقرأ") && !t.contains("Temas"), "{t}");
}

#[test]
fn photo_credit_lines_are_dropped() {
    let t = text_of(&format!(
        "<article><p>{P1}</p><p>Foto: Sascha Klahn</p><p>(Photo: ABr)</p><p>الصورة: رويترز</p><p>{P2}</p>\
         <p>Photos of the meeting were released by the ministry later that evening, officials said.</p></article>"
    ));
    assert!(t.contains(P2) && t.contains("Photos of the meeting"), "{t}");
    assert!(!t.contains("Klahn") && !t.contains("ABr") && !t.contains("رويترز"), "{t}");
}
