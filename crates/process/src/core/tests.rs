use super::*;
use crate::{analyze_batch, recall};
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

fn processed(o: Outcome) -> Article {
    match o {
        Outcome::Article(a) => *a,
        Outcome::Dropped(r) => panic!("dropped: {r:?}"),
    }
}

const BODY: &str = "<p>تلقى وزير الخارجية الروسي سيرجي لافروف اتصالا هاتفيا من نظيره الأميركي ماركو روبيو، وفق ما نقلته الخارجية الروسية.</p><p>واتفق الجانبان على التعاون في تسوية الوضع في أوكرانيا والبدء في التحضير للقاء بين الرئيسين بوتين وترامب.</p><script>x</script><p>المصدر: وكالات</p>";

#[test]
fn cleans_detects_language_and_enriches() {
    let mut p = Processor::new(&ProcessorSettings::default());
    let a = processed(p.process(&raw("https://a.example/1", "أول &amp; اتصال", BODY), Utc::now()));
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
fn same_id_is_dropped_unless_its_publish_failed() {
    let mut p = Processor::new(&ProcessorSettings::default());
    let item = raw("https://a.example/1", "t", BODY);
    let a = processed(p.process(&item, Utc::now()));
    assert_eq!(p.process(&item, Utc::now()), Outcome::Dropped(DropReason::Duplicate));
    // The publish failed: the redelivery goes through, and is no copy of itself.
    p.forget(&a.id);
    let again = processed(p.process(&item, Utc::now()));
    assert_eq!(again.duplicate, None);
    assert_eq!(again.story_id, a.story_id);
}

#[test]
fn a_changed_article_is_a_revision_and_an_unchanged_or_other_feeds_copy_is_not() {
    let mut p = Processor::new(&ProcessorSettings::default());
    let first = processed(p.process(&raw("https://a.example/1", "t", BODY), Utc::now()));
    assert_eq!(first.revision, None);
    // Only the markup changed: the same title and text, nothing to publish.
    let markup = BODY.replace("<p>", "<p class=\"x\">");
    assert_eq!(
        p.process(&raw("https://a.example/1", "t", &markup), Utc::now()),
        Outcome::Dropped(DropReason::Duplicate)
    );
    // A corrected text.
    let corrected = BODY.replace("التعاون", "التعاون الوثيق");
    let r1 = processed(p.process(&raw("https://a.example/1", "t", &corrected), Utc::now()));
    let rev = r1.revision.clone().expect("a revision");
    assert_eq!((rev.number, rev.changed), (1, RevisionChange::Text));
    assert!(rev.similarity > 0.6 && rev.similarity < 1.0, "{}", rev.similarity);
    assert_eq!(
        (r1.id.clone(), r1.duplicate.clone(), r1.story_id.clone()),
        (first.id.clone(), None, first.story_id.clone())
    );
    // Its redelivery is a repeat; a new title is revision 2.
    assert_eq!(
        p.process(&raw("https://a.example/1", "t", &corrected), Utc::now()),
        Outcome::Dropped(DropReason::Duplicate)
    );
    let r2 = processed(p.process(&raw("https://a.example/1", "new title", &corrected), Utc::now()));
    assert_eq!(
        r2.revision.map(|r| (r.number, r.changed, r.similarity)),
        Some((2, RevisionChange::Title, 1.0))
    );
    // The same link in another feed with other text is that feed's copy, not a revision.
    let mut other = raw("https://a.example/1", "t", BODY);
    other.source_id = SourceId::parse("other").unwrap();
    assert_eq!(p.process(&other, Utc::now()), Outcome::Dropped(DropReason::Duplicate));
}

#[test]
fn a_revision_whose_publish_failed_is_published_again_with_its_number() {
    let mut p = Processor::new(&ProcessorSettings::default());
    processed(p.process(&raw("https://a.example/1", "t", BODY), Utc::now()));
    let corrected = raw("https://a.example/1", "t", &BODY.replace("التعاون", "التعاون الوثيق"));
    let r1 = processed(p.process(&corrected, Utc::now()));
    p.forget(&r1.id);
    let again = processed(p.process(&corrected, Utc::now()));
    assert_eq!(again.revision.map(|r| r.number), Some(1));
}

#[test]
fn exact_and_near_copies_under_other_urls_are_marked_and_join_the_story() {
    let mut p = Processor::new(&ProcessorSettings::default());
    let a = processed(p.process(&raw("https://a.example/1", "t", BODY), Utc::now()));
    // Same text with different markup and a diacritic: same normalised content.
    let exact = BODY.replace("<p>", "<div>").replace("</p>", "</div>").replace("وزير", "وزيرُ");
    let b = processed(p.process(&raw("https://b.example/9", "t", &exact), Utc::now()));
    let dup = b.duplicate.expect("marked as duplicate");
    assert_eq!((dup.of, dup.kind), (a.id.clone(), DuplicateKind::Exact));
    // Another outlet's copy with its own trailer and a Persian yeh: near-duplicate.
    let near = format!(
        "{}<p>تابعونا على مواقع التواصل</p><p>جميع الحقوق محفوظة</p>",
        BODY.replace("الخارجية", "الخارجیة").replace("المصدر: وكالات", "إقرأ أيضاً: خبر آخر")
    );
    let c = processed(p.process(&raw("https://c.example/2?utm_source=x", "t", &near), Utc::now()));
    let dup = c.duplicate.expect("marked as near duplicate");
    assert_eq!(dup.of, a.id);
    assert!(dup.similarity >= 0.6, "{}", dup.similarity);
    assert_eq!(c.story_id, a.story_id);
}

#[test]
fn empty_items_are_dropped() {
    let mut p = Processor::new(&ProcessorSettings::default());
    assert_eq!(
        p.process(&raw("https://a.example/1", " ", "<script>x</script>"), Utc::now()),
        Outcome::Dropped(DropReason::Empty)
    );
}

/// A stream of items with exact and near copies of earlier ones, and related articles.
fn stream() -> Vec<RawItem> {
    let mut items = Vec::new();
    for i in 0..60 {
        let body = format!(
            "<p>{BODY}</p><p>تقرير رقم {i} عن حدث{} في مدينة{} مع تفاصيل{} و{}.</p>",
            i % 7,
            i % 5,
            i * 31 % 17,
            i * 13 % 11
        );
        let item = raw(&format!("https://a.example/{i}"), &format!("عنوان {i}"), &body);
        if i % 6 == 5 {
            // An exact copy of the previous article under another link.
            let prev = items.last().cloned().unwrap_or_else(|| item.clone());
            let mut copy = raw(&format!("https://copy.example/{i}"), "", "");
            copy.title = prev.title.clone();
            copy.content = prev.content.clone();
            items.push(copy);
        }
        items.push(item);
    }
    items
}

fn decisions(outcomes: &[Outcome]) -> Vec<(Option<ArticleId>, Option<String>)> {
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::Article(a) => (a.duplicate.as_ref().map(|d| d.of.clone()), a.story_id.clone()),
            Outcome::Dropped(_) => (None, None),
        })
        .collect()
}

#[test]
fn parallel_analysis_and_ordered_decisions_match_one_at_a_time_and_repeat() {
    let settings = ProcessorSettings::default();
    let now = Utc::now();
    let mut one = Processor::new(&settings);
    let sequential: Vec<Outcome> = stream().iter().map(|r| one.process(r, now)).collect();
    // The service's way, in uneven batches: analysis in parallel, decisions in order.
    let batched = |sizes: &[usize]| {
        let mut p = Processor::new(&settings);
        let mut items = stream().into_iter();
        let mut out = Vec::new();
        for &n in sizes.iter().cycle() {
            let batch: Vec<RawItem> = items.by_ref().take(n).collect();
            if batch.is_empty() {
                break;
            }
            let fresh: Vec<bool> = batch.iter().map(|r| !p.seen(r)).collect();
            for a in analyze_batch(batch, &fresh, &settings) {
                out.push(match a {
                    Ok(a) => p.decide(a, now),
                    Err(reason) => Outcome::Dropped(reason),
                });
            }
        }
        out
    };
    let expected = decisions(&sequential);
    assert!(expected.iter().filter(|d| d.0.is_some()).count() >= 10, "the stream has copies");
    assert_eq!(decisions(&batched(&[7, 64, 3])), expected);
    assert_eq!(decisions(&batched(&[64])), expected, "the same input again, other batches");
}

#[test]
fn a_processor_that_recalls_the_published_articles_decides_like_the_one_that_published_them() {
    let settings = ProcessorSettings::default();
    let now = Utc::now();
    let items = stream();
    let (first, rest) = items.split_at(40);
    let mut original = Processor::new(&settings);
    let published: Vec<Article> = first
        .iter()
        .filter_map(|r| match original.process(r, now) {
            Outcome::Article(a) => Some(*a),
            Outcome::Dropped(_) => None,
        })
        .collect();
    let mut restarted = Processor::new(&settings);
    for a in published {
        restarted.remember(recall(a, &settings));
    }
    assert_eq!(restarted.remembered(), original.remembered());
    let went_on: Vec<Outcome> = rest.iter().map(|r| original.process(r, now)).collect();
    let after_restart: Vec<Outcome> = rest.iter().map(|r| restarted.process(r, now)).collect();
    assert_eq!(decisions(&after_restart), decisions(&went_on));
    assert!(decisions(&went_on).iter().any(|d| d.0.is_some()), "copies after the restart");
}
