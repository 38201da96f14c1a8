use super::*;

fn url(s: &str) -> CanonicalUrl {
    CanonicalUrl::parse(s, None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn source_id_accepts_tokens_and_rejects_subject_breakers() {
    assert!(SourceId::parse("aljazeera-ar_2").is_ok());
    for bad in ["", "Al", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
        assert!(SourceId::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn canonical_url_drops_tracking_fragment_and_sorts_query() {
    let u = url("HTTPS://WWW.Example.com:443/a/b?z=1&utm_source=x&fbclid=y&a=2#top");
    assert_eq!(u.as_str(), "https://www.example.com/a/b?a=2&z=1");
    assert_eq!(u.identity_key(), "example.com/a/b?a=2&z=1");
}

#[test]
fn article_id_ignores_scheme_www_and_tracking() {
    let a = ArticleId::from_url(&url("https://www.example.com/news/1?utm_medium=rss"));
    let b = ArticleId::from_url(&url("http://example.com/news/1"));
    let c = ArticleId::from_url(&url("http://example.com/news/2"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(ArticleId::parse(a.as_str()).is_ok());
}

#[test]
fn relative_links_resolve_against_base_and_other_schemes_are_refused() {
    let base = url::Url::parse("https://example.com/feed/rss.xml").ok();
    let u = CanonicalUrl::parse("../story/7", base.as_ref()).map(|u| u.to_string());
    assert_eq!(u.as_deref(), Ok("https://example.com/story/7"));
    assert!(CanonicalUrl::parse("mailto:x@example.com", None).is_err());
    assert!(CanonicalUrl::parse("/relative", None).is_err());
}

#[test]
fn digest_parts_are_unambiguous() {
    assert_ne!(ArticleId::digest(&["ab", "c"]), ArticleId::digest(&["a", "bc"]));
}

#[test]
fn lang_normalises_region_and_case() {
    assert_eq!(Lang::parse("ar-EG").map(String::from), Ok("ar".to_owned()));
    assert!(Lang::parse("arabic").is_err());
    assert!(Lang::parse("a1").is_err());
}

#[test]
fn old_messages_without_new_fields_still_decode() {
    // A minimal v1 article as an early producer wrote it: every later field must default.
    let json = r#"{"id":"0123456789abcdef0123456789abcdef","source_id":"s","feed_url":"f",
        "title":"t","text":"x","language":"ar","fetched_at":"2025-02-16T00:00:00Z",
        "processed_at":"2025-02-16T00:00:01Z"}"#;
    let a: Article = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.schema_version, SCHEMA_VERSION);
    assert_eq!(a.category.as_str(), "general");
    assert!(a.entities.is_empty() && a.duplicate.is_none());
}

#[test]
fn invalid_ids_in_messages_are_rejected() {
    let json = r#"{"id":"nothex","source_id":"s","feed_url":"f","fetched_at":"2025-02-16T00:00:00Z"}"#;
    let err = serde_json::from_str::<RawItem>(json).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("invalid article id")));
}

/// The committed schemas are what consumers validate against: they must match the code.
/// Regenerate with `UPDATE_SCHEMAS=1 cargo test -p newswire-model`.
#[test]
fn committed_json_schemas_match_the_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    for (file, schema) in
        [("raw_item.schema.json", raw_item_schema()), ("article.schema.json", article_schema())]
    {
        let path = dir.join(file);
        let generated = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap_or_default());
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{e}"));
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date; run UPDATE_SCHEMAS=1 cargo test -p newswire-model",
            path.display()
        );
    }
}

#[test]
fn article_ids_round_trip_through_their_bits() {
    for id in [
        ArticleId::digest(&["a"]),
        ArticleId::digest(&["b", "c"]),
        ArticleId::from_bits(0),
        ArticleId::from_bits(u128::MAX),
    ] {
        assert_eq!(ArticleId::from_bits(id.to_bits()), id);
        assert_eq!(ArticleId::parse(ArticleId::from_bits(id.to_bits()).as_str()), Ok(id));
    }
}
