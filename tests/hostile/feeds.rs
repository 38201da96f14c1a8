//! Hostile documents, parsed as the fetcher and the processor do (no network: see
//! `network.rs` for what comes over HTTP).

use chrono::Utc;
use newswire_fetch::{FeedContext, FetchError, ParsedFeed, parse_feed};
use newswire_model::{Category, RawItem, SourceId};
use newswire_process::{Outcome, Processor, ProcessorSettings};

use crate::bounds::{MIB, bounded, turn};
use crate::targets;

fn ctx() -> FeedContext {
    FeedContext {
        source_id: SourceId::parse("hostile").unwrap(),
        feed_url: "https://hostile.example/feed".into(),
        base_url: url::Url::parse("https://hostile.example/feed").ok(),
        language_hint: None,
        category: Category::general(),
        fetched_at: Utc::now(),
        http: None,
    }
}

fn parse(body: &[u8]) -> Result<ParsedFeed, FetchError> {
    parse_feed(body, Some("application/rss+xml"), &ctx())
}

/// Every text field of every item, with the item's title to name it.
fn texts(items: &[RawItem]) -> Vec<&str> {
    items
        .iter()
        .flat_map(|i| {
            [&i.title, &i.content, &i.summary, &i.guid, &i.link]
                .into_iter()
                .flatten()
                .chain(&i.authors)
                .chain(&i.feed_categories)
                .map(String::as_str)
        })
        .collect()
}

/// The processor's article from an item, as the processor service makes it.
fn process(item: &RawItem) -> Option<newswire_model::Article> {
    match Processor::new(&ProcessorSettings::default()).process(item, Utc::now()) {
        Outcome::Article(a) => Some(*a),
        Outcome::Dropped(_) => None,
    }
}

fn rss_item(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title>\
         <item><title>hostile</title><link>https://hostile.example/a</link>{inner}</item></channel></rss>"
    )
}

#[test]
fn billion_laughs_is_not_expanded() {
    let turn = turn();
    let mut doc = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY lol0 \"lol\">\n");
    for level in 1..10 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        doc.push_str(&format!("<!ENTITY lol{level} \"{refs}\">\n"));
    }
    doc.push_str(
        "]>\n<rss version=\"2.0\"><channel><title>&lol9;</title><item><title>&lol9;</title>\
         <link>https://hostile.example/a</link><description>&lol9;</description></item></channel></rss>",
    );
    // Expanded, &lol9; is 3 GB of "lol".
    let result = bounded(&turn, "billion laughs", 20, 64 * MIB, move || parse(doc.as_bytes()));
    eprintln!("billion laughs: {:?}", result.as_ref().map(|p| texts(&p.items).len()));
    if let Ok(parsed) = result {
        for t in texts(&parsed.items) {
            assert!(t.len() < 4096, "an entity was expanded: {} bytes", t.len());
        }
    }
}

#[test]
fn quadratic_entity_blowup_is_not_expanded() {
    let turn = turn();
    // One 100 KB entity referenced 20,000 times: 2 GB once expanded, from a 260 KB document.
    let doc = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY big \"{}\">]>\n{}",
        "x".repeat(100_000),
        rss_item(&format!("<description>{}</description>", "&big;".repeat(20_000)))
    );
    let result = bounded(&turn, "quadratic blow-up", 20, 64 * MIB, move || parse(doc.as_bytes()));
    eprintln!("quadratic blow-up: {:?}", result.as_ref().map(|p| texts(&p.items).len()));
    if let Ok(parsed) = result {
        for t in texts(&parsed.items) {
            assert!(t.len() < 200_000, "the entity was expanded: {} bytes", t.len());
        }
    }
}

#[test]
fn external_entities_are_never_read() {
    let turn = turn();
    let secret = tempfile::NamedTempFile::new().unwrap();
    let marker = format!("NEWSWIRE-XXE-MARKER-{}", std::process::id());
    std::fs::write(secret.path(), &marker).unwrap();
    let secret_url = url::Url::from_file_path(secret.path()).unwrap();
    let doc = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM \"{secret_url}\">\n\
         <!ENTITY passwd SYSTEM \"file:///etc/passwd\">\n<!ENTITY % p SYSTEM \"{secret_url}\"> %p;\n]>\n{}",
        rss_item(
            "<guid>g</guid><description>before &xxe; &passwd; after</description><category>&xxe;</category>"
        )
    );
    let result = bounded(&turn, "external entity", 20, 16 * MIB, move || parse(doc.as_bytes()));
    eprintln!("external entity: {:?}", result.as_ref().map(|p| texts(&p.items)));
    if let Ok(parsed) = result {
        for t in texts(&parsed.items) {
            assert!(!t.contains(&marker), "the external entity was read: {t:?}");
            assert!(!t.contains("root:"), "/etc/passwd was read: {t:?}");
        }
    }
}

#[test]
fn a_hundred_thousand_nested_elements_in_a_feed_item() {
    let turn = turn();
    let depth = 100_000;
    // Nested XML elements inside the item: the feed parser's own nesting.
    let xml = rss_item(&format!("<guid>x</guid>{}deep{}", "<x>".repeat(depth), "</x>".repeat(depth)));
    let result = bounded(&turn, "100k nested XML elements in an item", 30, 128 * MIB, move || {
        parse(xml.as_bytes()).map(|p| p.items.len())
    });
    eprintln!("nested XML: {result:?}");
    // Nested HTML in the item's content: the processor's nesting (html_to_text).
    let html = rss_item(&format!(
        "<guid>h</guid><description>{}&lt;p&gt;deep text&lt;/p&gt;{}</description>",
        "&lt;div&gt;".repeat(depth),
        "&lt;/div&gt;".repeat(depth)
    ));
    let article = bounded(&turn, "100k nested divs in an item", 60, 256 * MIB, move || {
        let parsed = parse(html.as_bytes()).expect("parses");
        assert_eq!(parsed.items.len(), 1);
        process(&parsed.items[0])
    });
    let article = article.expect("an article");
    assert!(article.text.contains("deep text"), "the text was lost: {:?}", article.text);
}

#[test]
fn a_hundred_thousand_nested_elements_in_a_page() {
    let turn = turn();
    let depth = 100_000;
    let page = format!(
        "<html><body>{}<p>The article text, deep inside the page, is still found.</p>{}</body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    // What `newswire extract` runs: extraction, html_to_text and the processor.
    bounded(&turn, "100k nested divs in a page", 60, 256 * MIB, move || targets::html(page.as_bytes()));
    let unclosed = format!("<html><body>{}<p>Unclosed all the way down.</p>", "<div><span>".repeat(depth));
    bounded(&turn, "100k unclosed nested elements in a page", 60, 256 * MIB, move || {
        targets::html(unclosed.as_bytes())
    });
}

/// Ten million bytes of Arabic and English words, no line break.
fn ten_mb_line() -> String {
    let words = "وزير الخارجية الروسي سيرغي لافروف Lavrov Rubio phone call ";
    let mut line = words.repeat(10_000_000 / words.len() + 1);
    let mut end = 10_000_000;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line
}

#[test]
fn a_ten_megabyte_single_line() {
    let turn = turn();
    let line = ten_mb_line();
    let feed = rss_item(&format!("<guid>l</guid><description>{line}</description>"));
    drop(line);
    // The fetcher: a 10 MB body (its limit) parsed, then the entry cut to fit a bus message
    // (1 MiB by default) as `Fetcher::poll` does before publishing.
    let item = bounded(&turn, "10 MB line in a feed: parse", 60, 100 * MIB, move || {
        let parsed = parse(feed.as_bytes()).expect("parses");
        let mut item = parsed.items.into_iter().next().expect("one item");
        // RSS `<description>` is the entry's summary.
        let kept = item.content.as_ref().or(item.summary.as_ref()).map_or(0, String::len);
        assert!(kept > 9_900_000, "the line was cut to {kept} bytes");
        assert!(item.trim_to(MIB));
        item
    });
    let article =
        bounded(&turn, "10 MB line in a feed: process the published item", 60, 64 * MIB, move || {
            process(&item).map(|a| a.text.len())
        });
    assert!(article.is_some_and(|n| n > 900_000), "{article:?}");
    // `newswire extract` and `newswire process` on a 10 MB page: the page is processed up to the extractor's cap.
    let page = format!("<html><body><article><p>{}</p></article></body></html>", ten_mb_line());
    let article = bounded(&turn, "10 MB line in a page: extract", 120, 100 * MIB, move || {
        let ctx = newswire_process::inputs::InputContext {
            source_id: SourceId::parse("hostile").unwrap(),
            origin: "page.html".into(),
            language_hint: None,
            category: Category::general(),
            fetched_at: Utc::now(),
        };
        newswire_process::inputs::raw_from_page(&page, &ctx).0
    });
    // Analysis keeps a few word lists of the text (matching form, terms, spellings): about 24
    // bytes of heap per byte of a 10 MB text, measured; the bound leaves a third more.
    let text = bounded(&turn, "10 MB line in a page: process", 120, 320 * MIB, move || {
        process(&article).map(|a| a.text.len())
    });
    // The extractor reads the first `MAX_PAGE_BYTES` of a page: the text is what fits in them.
    let cap = newswire_clean::MAX_PAGE_BYTES;
    assert!(text.is_some_and(|n| n > cap - cap / 100 && n <= cap), "{text:?}");
    let plain = ten_mb_line();
    bounded(&turn, "10 MB line of plain text: normalisation and boilerplate", 120, 200 * MIB, move || {
        targets::text(plain.as_bytes())
    });
}

#[test]
fn invalid_utf8_in_feeds_and_pages() {
    let turn = turn();
    // Every kind of invalid sequence: bytes that never occur, lone continuation bytes, overlong
    // forms, UTF-16 surrogates, a sequence cut short, and one at the very end.
    let bad: &[&[u8]] =
        &[b"\xff", b"\xfe", b"\x80", b"\xbf\xbf", b"\xc0\x80", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xe2\x82"];
    let title = "وزير الخارجية الروسي سيرغي لافروف في اتصال هاتفي مع نظيره الأمريكي";
    let mut feed = Vec::new();
    feed.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>");
    for (i, b) in bad.iter().enumerate() {
        feed.extend_from_slice(
            format!("<item><link>https://hostile.example/{i}</link><title>{title}").as_bytes(),
        );
        feed.extend_from_slice(b);
        feed.extend_from_slice(b"</title></item>");
    }
    feed.extend_from_slice(b"</channel></rss>\xf0\x9f");
    let items = bounded(&turn, "invalid UTF-8 in a feed", 20, 16 * MIB, move || {
        targets::feed(&feed);
        parse(&feed).expect("a UTF-8 feed with a few bad bytes parses").items
    });
    assert_eq!(items.len(), bad.len());
    for item in &items {
        let t = item.title.as_deref().unwrap_or_default();
        // The bad bytes become U+FFFD; the Arabic around them stays Arabic (not re-decoded).
        assert!(t.starts_with(title), "{t:?}");
    }
    // Nothing but invalid bytes: refused, not parsed as garbage.
    let garbage: Vec<u8> = bad.iter().flat_map(|b| b.iter().copied()).cycle().take(1 << 20).collect();
    let garbage2 = garbage.clone();
    let r = bounded(&turn, "1 MB of invalid UTF-8 as a feed", 20, 32 * MIB, move || {
        parse(&garbage).map(|p| p.items.len())
    });
    assert!(r.is_err(), "{r:?}");
    bounded(&turn, "1 MB of invalid UTF-8 as a page", 20, 64 * MIB, move || targets::html(&garbage2));
}

#[test]
fn nul_bytes_in_json_feeds_and_pages() {
    let turn = turn();
    // The XML path is `parse::tests::nul_bytes_and_script_links_do_not_get_past_the_parser`;
    // JSON Feed escapes NUL its own way, and a page has no parser check at all.
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t\u0000","items":[
        {"id":"a\u0000","url":"https://hostile.example/a","title":"A\u0000B","content_html":"<p>x\u0000y</p>",
         "authors":[{"name":"\u0000"},{"name":"Ann\u0000"}],"tags":["world\u0000","\u0001"]}]}"#;
    let items = bounded(&turn, "NUL in a JSON feed", 20, 16 * MIB, move || {
        targets::feed(json.as_bytes());
        parse_feed(json.as_bytes(), Some("application/feed+json"), &ctx()).expect("parses").items
    });
    assert_eq!(items.len(), 1);
    for t in texts(&items) {
        assert!(!t.contains('\u{0}') && !t.contains('\u{1}'), "{t:?}");
    }
    assert_eq!(items[0].title.as_deref(), Some("AB"));
    let page = "<html><head><title>T\0itle</title></head><body><article><h1>Head\0line</h1>\
        <p>Para\0graph one of the article, long enough to be the article.</p><p>\0\0\0</p></article></body></html>";
    // The target asserts no control character in the extracted text, title or article.
    bounded(&turn, "NUL in a page", 20, 16 * MIB, move || targets::html(page.as_bytes()));
}

/// A 7 MB feed of 100,000 items: the fetcher reads the first `max_items_per_feed` (1,000 by
/// default) and counts the rest without parsing them, so the heap stays near what 1,000 items
/// take, far from the ~200 MB of parsing them all; RSS and JSON Feed alike.
#[test]
fn a_feed_of_a_hundred_thousand_items_costs_the_memory_of_the_cap() {
    let turn = turn();
    const ITEMS: usize = 100_000;
    let entry = |i: usize| {
        format!(
            "<item><title>خبر رقم {i}</title><link>https://hostile.example/a/{i}</link>\
             <description>نص الخبر {i} lorem ipsum dolor sit amet</description></item>"
        )
    };
    let mut rss = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    (0..ITEMS).for_each(|i| rss.push_str(&entry(i)));
    rss.push_str("</channel></rss>");
    assert!(rss.len() > 7_000_000, "{} bytes", rss.len());
    let parsed =
        bounded(&turn, "100,000-item RSS feed", 60, 48 * MIB, move || parse(rss.as_bytes()).expect("parses"));
    assert_eq!(parsed.items.len(), newswire_fetch::DEFAULT_MAX_ITEMS);
    assert_eq!(parsed.capped, ITEMS - newswire_fetch::DEFAULT_MAX_ITEMS);
    // Document order is kept: feeds list the newest first.
    assert_eq!(parsed.items[0].link.as_deref(), Some("https://hostile.example/a/0"));
    drop(parsed);

    let items: Vec<serde_json::Value> = (0..ITEMS)
        .map(|i| serde_json::json!({"id": i.to_string(), "url": format!("https://hostile.example/j/{i}"), "content_text": format!("نص {i} lorem ipsum dolor sit amet consectetur")}))
        .collect();
    let json =
        serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": items})
            .to_string();
    drop(items);
    let parsed = bounded(&turn, "100,000-item JSON Feed", 60, 48 * MIB, move || {
        parse_feed(json.as_bytes(), Some("application/feed+json"), &ctx()).expect("parses")
    });
    assert_eq!(parsed.items.len(), newswire_fetch::DEFAULT_MAX_ITEMS);
    assert_eq!(parsed.capped, ITEMS - newswire_fetch::DEFAULT_MAX_ITEMS);
}
