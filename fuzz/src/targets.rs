// The body of every fuzz target. Shared, source for source, by the fuzz binaries
// (`fuzz/src/bin/*.rs`) and by the main workspace's `hostile` test (`#[path]` include), so that
// every input the fuzzer found becomes a regression test of the very same code.
//
// Each function takes arbitrary bytes, runs one part of the pipeline on them, and panics when
// the output breaks a documented rule (a NUL in a published field, a `javascript:` link,
// normalisation that is not idempotent…): to the fuzzer, a broken rule is a crash like any other.
// A function never panics on the input being invalid: refusing bad input is the right outcome.

use chrono::{DateTime, Utc};
use newswire_model::{Category, RawItem, SourceId};

/// One fuzz target: arbitrary bytes in, a panic when a documented rule breaks.
pub type Target = fn(&[u8]);

/// The targets by name, as `scripts/fuzz` and the regression test know them.
pub const TARGETS: &[(&str, Target)] = &[("feed", feed), ("html", html), ("text", text), ("config", config)];

/// A fixed fetch time: the same input always gives the same output.
fn fetched_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// An optional first line `CT:<content type>` gives the HTTP `Content-Type`; the rest is the
/// body. The fuzzer finds the prefix through the seeds that use it.
fn split_content_type(data: &[u8]) -> (Option<String>, &[u8]) {
    let Some(rest) = data.strip_prefix(b"CT:") else { return (None, data) };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let ct = String::from_utf8_lossy(&rest[..end]).into_owned();
    (Some(ct), rest.get(end + 1..).unwrap_or_default())
}

/// No control character but the line feed: text as `html_to_text` and the extractor give it.
fn assert_plain(s: &str, what: &str) {
    assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "{what}: control character in {s:?}");
}

/// Paragraphs separated by exactly one blank line, none empty, none with blanks at the ends.
fn assert_paragraphs(s: &str, what: &str) {
    assert_plain(s, what);
    if s.is_empty() {
        return;
    }
    for p in s.split("\n\n") {
        assert!(!p.is_empty() && !p.contains('\n'), "{what}: bad paragraph break in {s:?}");
        assert_eq!(p, p.trim(), "{what}: blanks around a paragraph in {s:?}");
    }
}

/// What `RawItem::sanitize` promises: no NUL or other control character but tab, line feed and
/// carriage return in any text field, and a link only as an absolute http(s) URL.
fn assert_safe_item(item: &RawItem) {
    let unwanted = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    let fields = [&item.title, &item.content, &item.summary, &item.guid, &item.link];
    for s in fields.into_iter().flatten().chain(&item.authors).chain(&item.feed_categories) {
        assert!(!s.chars().any(unwanted), "control character in an item field: {s:?}");
    }
    if let Some(link) = &item.link {
        let url = url::Url::parse(link).unwrap_or_else(|e| panic!("link {link:?} is no URL: {e}"));
        assert!(matches!(url.scheme(), "http" | "https") && url.host_str().is_some(), "link {link:?}");
    }
    let json = serde_json::to_string(item).unwrap_or_else(|e| panic!("item does not serialise: {e}"));
    assert!(!json.contains("\\u0000"), "NUL in {json}");
}

/// The processor on one raw item (clean, dedup, enrich), as the processor service and
/// `newswire extract` run it.
fn process(raw: &RawItem) {
    let mut processor = newswire_process::Processor::new(&newswire_process::ProcessorSettings::default());
    if let newswire_process::Outcome::Article(a) = processor.process(raw, fetched_at()) {
        assert_paragraphs(&a.text, "article text");
        assert!(!a.title.contains('\n'), "multi-line title {:?}", a.title);
        assert_plain(&a.title, "article title");
        let json = serde_json::to_string(&a).unwrap_or_else(|e| panic!("article does not serialise: {e}"));
        assert!(!json.contains("\\u0000"), "NUL in {json}");
    }
}

/// Feed bytes (and an optional `Content-Type`) through charset detection and the feed parser,
/// then the first entries through the processor.
pub fn feed(data: &[u8]) {
    let (content_type, body) = split_content_type(data);
    let content_type = content_type.as_deref();
    if let Ok(d) = newswire_fetch::decode_body(body, content_type, "fuzz") {
        // Decoding never invents text: at most a few characters per input byte.
        assert!(d.text.len() <= 3 * body.len() + 16, "{} bytes decoded to {}", body.len(), d.text.len());
    }
    let ctx = newswire_fetch::FeedContext {
        source_id: SourceId::parse("fuzz").unwrap_or_else(|e| panic!("source id: {e}")),
        feed_url: "https://fuzz.example/feed".to_owned(),
        base_url: url::Url::parse("https://fuzz.example/feed").ok(),
        language_hint: None,
        category: Category::general(),
        fetched_at: fetched_at(),
        http: None,
    };
    let parsed = match newswire_fetch::parse_feed(body, content_type, &ctx) {
        Ok(parsed) => parsed,
        // The fetcher survives a parser panic (caught), but it is still a finding: fixed by
        // not feeding the parser what makes it panic.
        Err(e) => {
            assert!(!e.to_string().contains("parser panicked"), "{e}");
            return;
        }
    };
    assert_eq!(parsed.body_bytes, body.len());
    for item in &parsed.items {
        assert_safe_item(item);
    }
    for item in parsed.items.iter().take(3) {
        process(item);
    }
}

/// An HTML page (and an optional `Content-Type`) as `newswire extract` reads it: charset,
/// extraction, then the processor; and the page through `html_to_text` as a feed item's
/// content would go.
pub fn html(data: &[u8]) {
    let (content_type, body) = split_content_type(data);
    let Ok(decoded) = newswire_fetch::decode_html(body, content_type.as_deref(), "fuzz") else { return };
    if newswire_fetch::looks_binary(&decoded.text) {
        return;
    }
    let page = &decoded.text;
    let text = newswire_clean::html_to_text(page);
    assert_paragraphs(&text, "html_to_text");
    // Entities and tags never expand to more than a few bytes of text each.
    assert!(text.len() <= 4 * page.len() + 64, "{} bytes of HTML gave {} of text", page.len(), text.len());
    let ctx = newswire_process::inputs::InputContext {
        source_id: SourceId::parse("fuzz").unwrap_or_else(|e| panic!("source id: {e}")),
        origin: "fuzz.html".to_owned(),
        language_hint: None,
        category: Category::general(),
        fetched_at: fetched_at(),
    };
    let (raw, extracted) = newswire_process::inputs::raw_from_page(page, &ctx);
    assert_paragraphs(&extracted.text, "extracted text");
    assert!(
        extracted.text.len() <= 4 * page.len() + 64,
        "{} bytes of HTML gave {} of text",
        page.len(),
        extracted.text.len()
    );
    if let Some(t) = &extracted.title {
        assert!(!t.contains('\n'), "multi-line title {t:?}");
        assert_plain(t, "extracted title");
    }
    let mut raw = raw;
    raw.sanitize();
    assert_safe_item(&raw);
    process(&raw);
}

/// Text through normalisation (its documented laws) and boilerplate removal: the first line is
/// the title, each further line a paragraph.
pub fn text(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let n = newswire_clean::normalize_for_matching(&s);
    assert_eq!(newswire_clean::normalize_for_matching(&n), n, "not idempotent on {s:?}");
    assert!(!n.contains("  ") && n == n.trim(), "spaces left in {n:?}");
    assert_eq!(newswire_clean::NormalizedWords::of(&s).text, n, "NormalizedWords differs on {s:?}");
    assert_eq!(newswire_clean::normalize_borrowed(&s), n, "normalize_borrowed differs on {s:?}");
    assert!(newswire_clean::tokens(&n).all(|t| !t.is_empty() && !t.contains(' ')));
    let folded = newswire_clean::fold_letters(&s);
    assert!(folded.chars().count() <= s.chars().count(), "folding added characters to {s:?}");
    let title = newswire_clean::clean_title(&s);
    assert!(!title.contains('\n') && title == title.trim(), "title {title:?}");
    assert_plain(&title, "clean_title");
    let mut lines = s.split('\n');
    let head = lines.next().unwrap_or_default();
    let paragraphs: Vec<String> = lines.filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    let cleaned = newswire_clean::strip_boilerplate(head, &paragraphs);
    assert!(cleaned.paragraphs.len() <= paragraphs.len(), "boilerplate removal added paragraphs");
    assert!(!cleaned.title.contains('\n'), "multi-line title {:?}", cleaned.title);
}

/// Configuration text as the services load it: TOML over the defaults, through `from_toml` and
/// through `load_from` with the same text as the file. Lines after a line `#env` are
/// `NAME=VALUE` environment variables for `load_from` (`NEWSWIRE_` is added to names without it).
pub fn config(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (toml_text, env_text) = match s.split_once("\n#env\n") {
        Some((t, e)) => (t, Some(e)),
        None => (s, None),
    };
    let from_string = newswire_config::from_toml::<newswire_app::Settings>(toml_text);
    if let Err(e) = &from_string {
        assert!(!e.to_string().is_empty());
    }
    let env: Vec<(String, String)> = env_text
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let k = if k.starts_with("NEWSWIRE_") { k.to_owned() } else { format!("NEWSWIRE_{k}") };
            (k, v.to_owned())
        })
        .collect();
    let file = ConfigFile::new(toml_text);
    let Some(path) = file.path() else { return };
    let from_file = newswire_config::load_from::<newswire_app::Settings>(Some(path), env.clone());
    if let Err(e) = &from_file {
        assert!(!e.to_string().is_empty());
    }
    // Defaults plus a file is defaults plus the same string.
    if env.is_empty() {
        assert_eq!(from_string.ok(), from_file.ok(), "from_toml and load_from disagree on {toml_text:?}");
    }
}

/// A temporary config file, removed when dropped. Named per process and call, so that tests
/// running in parallel (and parallel fuzzers) never share one.
struct ConfigFile(Option<std::path::PathBuf>);

impl ConfigFile {
    fn new(text: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("newswire-fuzz-{}-{n}.toml", std::process::id()));
        Self(std::fs::write(&path, text).ok().map(|()| path))
    }

    fn path(&self) -> Option<&std::path::Path> {
        self.0.as_deref()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
