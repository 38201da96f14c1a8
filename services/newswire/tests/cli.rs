//! `newswire inspect feed`, `extract` and `process` as a user runs them: the built binary on
//! the seed articles (as text files, RSS and Atom feeds, and HTML pages) and on bad inputs.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use newswire_testkit::seeds::{self, Seed};
use serde_json::Value;

fn newswire(args: &[&str]) -> Output {
    newswire_stdin(args, None)
}

fn newswire_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_newswire"))
        .args(args)
        .env_remove("NEWSWIRE_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Every stdout line is a whole JSON object.
fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn seed_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seeds::dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    files
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The story expectations of the seeds README: 000 and 002 together, 004 apart, no
/// duplicates among the five.
fn assert_seed_stories(lines: &[Value]) {
    assert_eq!(lines.len(), 5, "five articles");
    for l in lines {
        for key in ["input", "id", "title", "language", "duplicate_of", "similarity", "story_id", "entities"]
        {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        assert!(l["duplicate_of"].is_null() && l["similarity"].is_null(), "no seed is a duplicate: {l}");
        assert_eq!(l["language"], "ar");
    }
    let story = |i: usize| lines[i]["story_id"].as_str().unwrap().to_owned();
    assert_eq!(story(0), story(2), "000 and 002 report the same call");
    assert_ne!(story(4), story(0), "004 is another event");
}

#[test]
fn process_the_five_seed_text_files() {
    let files = seed_files();
    let args: Vec<&str> = std::iter::once("process").chain(files.iter().map(|p| s(p))).collect();
    let out = newswire(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_seed_stories(&lines);
    // Input order is kept and each line names its file.
    for (l, f) in lines.iter().zip(&files) {
        assert_eq!(l["input"], s(f));
    }
    let names = |i: usize| -> Vec<String> {
        lines[i]["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for n in ["Sergey Lavrov", "Marco Rubio", "Vladimir Putin", "Donald Trump", "Russia", "United States"] {
        assert!(names(0).contains(&n.to_owned()) && names(2).contains(&n.to_owned()), "{n}");
    }
    for n in ["Antony Blinken", "Joe Biden", "Alexei Navalny"] {
        assert!(names(4).contains(&n.to_owned()), "{n} missing in 004");
    }
    assert!(!names(4).contains(&"Marco Rubio".to_owned()));
    // Boilerplate is gone: the "read also" article of 000, the comment form of 001.
    let text = |i: usize| lines[i]["text"].as_str().unwrap().to_owned();
    assert!(!text(0).contains("إقرأ أيضاً") && !text(0).contains("سفيريدينكو"), "{}", text(0));
    assert!(!text(1).contains("اترك تعليقاً") && !text(1).contains("بريدك الإلكتروني"));
    assert!(!text(3).contains("SeaPRwire") && !text(4).contains("جميع الحقوق محفوظة"));
}

#[test]
fn a_directory_is_processed_in_name_order_and_a_republished_copy_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    for f in seed_files() {
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    // Another outlet republishes 000: its own boilerplate, diacritics, ی for ي, other line
    // breaks. Named so that it sorts after the original.
    let original = std::fs::read_to_string(&seed_files()[0]).unwrap();
    let mut lines: Vec<String> =
        original.lines().filter(|l| !l.trim().is_empty()).take(7).map(str::to_owned).collect();
    lines[2] = lines[2].replace("وزير الخارجية", "وَزِيرُ الخارجیة");
    let joined = format!("{} {}", lines[3], lines[4]);
    lines.splice(3..5, [joined]);
    lines.insert(1, "آخر الأخبار".into());
    lines.push("جميع الحقوق محفوظة لموقع آخر".into());
    lines.push("تابعونا على مواقع التواصل الاجتماعي".into());
    std::fs::write(dir.path().join("005_republished.txt"), lines.join("\n")).unwrap();
    std::fs::write(dir.path().join("README.md"), "not an article").unwrap();

    let out = newswire(&["process", s(dir.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 6, "five seeds and the copy; README.md is not an input type");
    assert_seed_stories(&lines[..5]);
    let copy = &lines[5];
    assert_eq!(copy["duplicate_of"], lines[0]["id"], "{copy}");
    assert!(copy["similarity"].as_f64().unwrap() >= 0.6, "{copy}");
    assert_eq!(copy["story_id"], lines[0]["story_id"]);
}

fn write_feeds(dir: &Path, all: &[Seed]) -> (PathBuf, PathBuf) {
    let rss = dir.join("seeds.rss");
    let atom = dir.join("seeds.atom");
    std::fs::write(&rss, seeds::rss(all)).unwrap();
    std::fs::write(&atom, seeds::atom(all)).unwrap();
    (rss, atom)
}

#[test]
fn process_the_rss_and_atom_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let all = seeds::load();
    let (rss, atom) = write_feeds(dir.path(), &all);
    let out = newswire(&["process", s(&rss), s(&atom)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    // The Atom entries have the RSS entries' links: same ids, dropped as already processed.
    assert_seed_stories(&lines);
    assert_eq!(stderr(&out).matches("dropped (duplicate)").count(), 5, "{}", stderr(&out));
    for (l, seed) in lines.iter().zip(&all) {
        assert_eq!(l["input"], format!("{}#{}", s(&rss), seed.link));
        assert_eq!(l["canonical_url"], seed.link.as_str());
        assert_eq!(l["published_at"], seed.published.as_str());
    }
}

#[test]
fn process_html_pages_and_extract_one() {
    let dir = tempfile::tempdir().unwrap();
    let all = seeds::load();
    let mut pages = Vec::new();
    for seed in &all {
        let p = dir.path().join(format!("{}.html", seed.stem));
        std::fs::write(&p, seed.html_page()).unwrap();
        pages.push(p);
    }
    let args: Vec<&str> = std::iter::once("process").chain(pages.iter().map(|p| s(p))).collect();
    let out = newswire(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_seed_stories(&lines);
    assert_eq!(lines[0]["canonical_url"], all[0].link.as_str(), "id from <link rel=canonical>");

    // extract: the article text only, the page chrome gone.
    let out = newswire(&["extract", s(&pages[3])]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("اتخذت روسيا والولايات المتحدة الخطوات الأولى"), "{text}");
    // The page's navigation, comment form, footer and script, and the wire's advertising
    // trailer. (Single nav words may occur in the article itself; the nav line may not.)
    for chrome in ["الرئيسية العالم", "البريد الإلكتروني", "جميع الحقوق محفوظة", "track()", "يوفر SeaPRwire"]
    {
        assert!(!text.contains(chrome), "{chrome} left in: {text}");
    }
    assert!(text.contains("\n\n"), "paragraphs separated by blank lines");
    // --format json: the whole Article.
    let out = newswire(&["extract", "--format", "json", s(&pages[0])]);
    let article: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(article["title"], all[0].title.as_str());
    assert_eq!(article["published_at"], all[0].published.as_str());
    assert_eq!(article["language"], "ar");
    assert!(article["entities"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(article["fingerprints"]["simhash"].is_string() && article["summary"].is_string());
    // --format text: a readable view.
    let out = newswire(&["extract", "--format", "text", s(&pages[0])]);
    let view = String::from_utf8(out.stdout).unwrap();
    assert!(
        view.contains("title:")
            && view.contains("story:")
            && view.contains("entities:")
            && view.contains("Sergey Lavrov")
    );
}

#[test]
fn extract_honours_a_windows_1256_meta_charset() {
    let dir = tempfile::tempdir().unwrap();
    let seed = &seeds::load()[2];
    let page = seed.html_page().replace("<meta charset=\"utf-8\">", "<meta charset=\"windows-1256\">");
    let (bytes, _, _) = encoding_rs::WINDOWS_1256.encode(&page);
    let p = dir.path().join("page.html");
    std::fs::write(&p, &bytes).unwrap();
    let out = newswire(&["extract", s(&p)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8(out.stdout).unwrap().contains("فلاديمير بوتن"));
}

#[test]
fn inspect_feed_prints_raw_items_in_document_order() {
    let dir = tempfile::tempdir().unwrap();
    let all = seeds::load();
    let (rss, atom) = write_feeds(dir.path(), &all);
    let from_rss = json_lines(&newswire(&["inspect", "feed", s(&rss)]));
    let from_atom = json_lines(&newswire(&["inspect", "feed", s(&atom)]));
    assert_eq!(from_rss.len(), 5);
    for ((r, a), seed) in from_rss.iter().zip(&from_atom).zip(&all) {
        assert_eq!(r["link"], seed.link.as_str());
        assert_eq!(r["id"], a["id"], "same article, same id, whatever the format");
        assert_eq!(r["published"], seed.published.as_str());
        assert_eq!(r["schema_version"], 1);
        let raw: newswire_model::RawItem = serde_json::from_value(r.clone()).unwrap();
        assert_eq!(raw.title.as_deref(), Some(seed.title.as_str()));
    }
    // stdin works the same.
    let out = newswire_stdin(&["inspect", "feed", "-"], Some(seeds::rss(&all).as_bytes()));
    assert_eq!(json_lines(&out).len(), 5);
    let out = newswire(&["inspect", "feed", "--format", "text", s(&rss)]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("published: 2025-02-16T09:30:00+00:00"));
}

#[test]
fn bad_inputs_give_one_line_errors_and_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let malformed = write("malformed.xml", b"<?xml version='1.0'?><rss><channel><item><title>x</item></rss");
    let html = write("page.xml", b"<!DOCTYPE html><html><body><p>hello</p></body></html>");
    let binary = write("blob.xml", &(0u8..=255).cycle().take(2048).collect::<Vec<u8>>());
    let encoding = write("enc.xml", b"<?xml version='1.0' encoding='x-klingon'?><rss/>");
    let missing = dir.path().join("missing.xml");
    let cases: [(&[&str], u8, &str); 7] = [
        (&["inspect", "feed", s(&malformed)], 3, "malformed feed"),
        (&["inspect", "feed", s(&html)], 3, "not a feed: an HTML page"),
        (&["inspect", "feed", s(&binary)], 3, "not a feed"),
        (&["inspect", "feed", s(&encoding)], 3, "unsupported character encoding"),
        (&["inspect", "feed", s(&missing)], 1, "no such file"),
        (&["extract", "http://127.0.0.1:9/page.html"], 1, "refused"),
        (&["extract", s(&binary)], 3, "binary data"),
    ];
    for (args, code, want) in cases {
        let out = newswire(args);
        assert_eq!(out.status.code(), Some(i32::from(code)), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(err.contains(args[args.len() - 1]), "the error names the input: {err}");
        assert!(out.stdout.is_empty(), "nothing on stdout for a failed input");
    }
}

#[test]
fn process_reports_a_bad_input_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let files = seed_files();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<rss><channel><item>").unwrap();
    let missing = dir.path().join("nope.txt");
    let out = newswire(&["process", s(&files[0]), s(&bad), s(&missing), s(&files[2])]);
    assert_eq!(out.status.code(), Some(3), "the worst failure's code: {}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "the good inputs are still processed");
    assert_eq!(lines[0]["story_id"], lines[1]["story_id"]);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains(s(&bad)) && err.contains(s(&missing)), "{err}");
}

#[test]
fn import_appends_new_feeds_from_an_opml_export() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(&feeds, "[[feed]]\nid = \"bbc\"\nurl = \"https://feeds.bbci.co.uk/arabic/rss.xml\"\n")
        .unwrap();
    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        r#"<opml version="2.0"><body><outline text="News">
        <outline type="rss" text="BBC" xmlUrl="https://feeds.bbci.co.uk/arabic/rss.xml"/>
        <outline type="rss" text="Al Jazeera" xmlUrl="https://www.aljazeera.net/aljazeerarss"/>
        <outline type="rss" text="bbc" xmlUrl="https://www.bbc.com/arabic/index.xml"/>
        </outline></body></opml>"#,
    )
    .unwrap();
    let out = newswire(&["import", s(&opml), "--into", s(&feeds), "--language", "ar", "--category", "world"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("added 2 feeds"), "{}", stderr(&out));
    // The result is a feeds file the fetcher accepts, with unique ids and no repeated URL.
    let out = newswire(&["inspect", "feed", "--format", "text", s(&feeds)]);
    assert_eq!(out.status.code(), Some(3), "a feeds file is not a feed: {}", stderr(&out));
    let text = std::fs::read_to_string(&feeds).unwrap();
    assert_eq!(text.matches("https://feeds.bbci.co.uk/arabic/rss.xml").count(), 1);
    assert!(text.contains("id = \"al-jazeera\"") && text.contains("id = \"bbc-2\""), "{text}");
    assert!(text.contains("language = \"ar\"") && text.contains("category = \"world\""));
    // Without --into the entries go to stdout; a refused URL is an error naming it.
    let out = newswire_stdin(&["import", "-"], Some(b"http://10.0.0.1/feed\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("10.0.0.1"), "{}", stderr(&out));
}
