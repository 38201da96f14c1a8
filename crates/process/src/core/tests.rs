use super::*;
use newswire_model::{ArticleId, Category, SourceId};

fn raw(link: &str, title: &str, content: &str) -> RawItem {
    RawItem {
        schema_version: SCHEMA_VERSION,
        id: ArticleId::digest(&[link]),
        source_id: SourceId::parse("src").unwrap(),
        feed_url: "file:///feed.xml".into(),
        guid: None,
        link: Some(link.into()),
        title: Some(title.into()),
        content: Some(content.into()),
        summary: None,
        authors: vec![],
        feed_categories: vec![],
        published: None,
        updated: None,
        language_hint: None,
        category: Category::general(),
        fetched_at: Utc::now(),
        http: None,
    }
}

fn processed(o: Outcome) -> Processed {
    match o {
        Outcome::Article(p) => *p,
        Outcome::Dropped(r) => panic!("dropped: {r:?}"),
    }
}

const BODY: &str = "<p>تلقى وزير الخارجية الروسي سيرجي لافروف اتصالا هاتفيا من نظيره الأميركي ماركو روبيو، وفق ما نقلته الخارجية الروسية.</p><p>واتفق الجانبان على التعاون في تسوية الوضع في أوكرانيا والبدء في التحضير للقاء بين الرئيسين بوتين وترامب.</p><script>x</script><p>المصدر: وكالات</p>";

#[test]
fn cleans_detects_language_and_enriches() {
    let p = Processor::new(&ProcessorSettings::default());
    let a = processed(p.process(&raw("https://a.example/1", "أول &amp; اتصال", BODY), Utc::now())).article;
    assert_eq!(a.title, "أول & اتصال");
    assert!(a.text.starts_with("تلقى وزير") && !a.text.contains('<') && !a.text.contains("x"));
    assert!(!a.text.contains("المصدر"), "boilerplate trailer kept: {}", a.text);
    assert_eq!(a.language.as_str(), "ar");
    assert!(a.duplicate.is_none());
    let names: Vec<&str> = a.entities.iter().map(|e| e.name.as_str()).collect();
    for n in ["Sergey Lavrov", "Marco Rubio", "Vladimir Putin", "Donald Trump", "Ukraine"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!a.keywords.is_empty() && a.summary.as_deref().is_some_and(|s| s.starts_with("تلقى")));
    assert_eq!(a.story_id.as_deref(), Some(a.id.as_str()), "first article starts its story");
    assert_eq!(a.fingerprints.simhash.as_ref().map(String::len), Some(16));
}

#[test]
fn same_id_is_dropped_only_after_record() {
    let mut p = Processor::new(&ProcessorSettings::default());
    let item = raw("https://a.example/1", "t", BODY);
    let a = processed(p.process(&item, Utc::now()));
    // Not recorded yet (e.g. the publish failed): a redelivery must still go through.
    assert!(matches!(p.process(&item, Utc::now()), Outcome::Article(_)));
    p.record(&a);
    assert_eq!(p.process(&item, Utc::now()), Outcome::Dropped(DropReason::Duplicate));
}

#[test]
fn exact_and_near_copies_under_other_urls_are_marked_and_join_the_story() {
    let mut p = Processor::new(&ProcessorSettings::default());
    let a = processed(p.process(&raw("https://a.example/1", "t", BODY), Utc::now()));
    p.record(&a);
    // Same text with different markup and a diacritic: same normalised content.
    let exact = BODY.replace("<p>", "<div>").replace("</p>", "</div>").replace("وزير", "وزيرُ");
    let b = processed(p.process(&raw("https://b.example/9", "t", &exact), Utc::now())).article;
    let dup = b.duplicate.expect("marked as duplicate");
    assert_eq!((dup.of, dup.kind), (a.article.id.clone(), DuplicateKind::Exact));
    // Another outlet's copy with its own trailer and a Persian yeh: near-duplicate.
    let near = format!(
        "{}<p>تابعونا على مواقع التواصل</p><p>جميع الحقوق محفوظة</p>",
        BODY.replace("الخارجية", "الخارجیة").replace("المصدر: وكالات", "إقرأ أيضاً: خبر آخر")
    );
    let c = processed(p.process(&raw("https://c.example/2?utm_source=x", "t", &near), Utc::now())).article;
    let dup = c.duplicate.expect("marked as near duplicate");
    assert_eq!(dup.of, a.article.id);
    assert!(dup.similarity >= 0.6, "{}", dup.similarity);
    assert_eq!(c.story_id, a.article.story_id);
}

#[test]
fn empty_items_are_dropped() {
    let p = Processor::new(&ProcessorSettings::default());
    assert_eq!(
        p.process(&raw("https://a.example/1", " ", "<script>x</script>"), Utc::now()),
        Outcome::Dropped(DropReason::Empty)
    );
}
