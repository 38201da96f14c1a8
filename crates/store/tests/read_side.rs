//! The read side against real databases (a temporary SQLite file and a fresh PostgreSQL
//! database): search across Arabic spellings and English inflections, filters, keyset
//! pagination while rows arrive, stories and their events, and upgrades from the schema as it
//! was before migrations had versions.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use newswire_model::{
    Article, ArticleId, Category, DuplicateInfo, DuplicateKind, Entity, EntityKind, Lang, RawItem,
    SCHEMA_VERSION, SourceId,
};
use newswire_process::{Outcome, Processor, ProcessorSettings};
use newswire_store::{
    ArticleFilter, ArticleQueries, ArticleStore, PageRequest, PgStore, SqliteStore, StoryChangeKind,
};
use newswire_testkit::articles::base_time;
use newswire_testkit::{PgDb, seeds};
use sqlx::Connection;

/// A small article (see `newswire_testkit::articles::article`), ids of this suite.
fn article(n: usize, source: &str, lang: &str, title: &str, text: &str) -> Article {
    newswire_testkit::articles::article("read-side", n, source, lang, title, text)
}

fn ids(articles: impl IntoIterator<Item = Article>) -> Vec<ArticleId> {
    articles.into_iter().map(|a| a.id).collect()
}

async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("articles.db"), 2).await.unwrap();
    (store, dir)
}

async fn postgres() -> (PgStore, PgDb) {
    let db = PgDb::create().await;
    let store = PgStore::connect(&db.url, 2).await.unwrap();
    (store, db)
}

/// The seed articles as the real processor makes them (cleaned, enriched, clustered).
fn processed_seeds() -> Vec<Article> {
    let mut p = Processor::new(&ProcessorSettings::default());
    seeds::load()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let published = DateTime::parse_from_rfc3339(&s.published).unwrap().with_timezone(&Utc);
            let host = s.link.split('/').nth(2).unwrap().split('.').next().unwrap().to_owned();
            let raw = RawItem {
                schema_version: SCHEMA_VERSION,
                id: ArticleId::digest(&[&s.link]),
                source_id: SourceId::parse(&host).unwrap(),
                feed_url: format!("https://{host}.example/feed.xml"),
                guid: None,
                link: Some(s.link.clone()),
                title: Some(s.title.clone()),
                content: Some(s.html_body()),
                summary: None,
                authors: vec![],
                feed_categories: vec![],
                published: Some(published),
                updated: None,
                language_hint: None,
                category: Category::general(),
                fetched_at: published + Duration::minutes(i as i64 + 1),
                http: None,
            };
            match p.process(&raw, published) {
                Outcome::Article(a) => Some(*a),
                Outcome::Dropped(_) => None,
            }
        })
        .collect()
}

/// بوتن finds بوتين and back, ترمب finds ترامب and back, across the seeds' own spellings
/// (the seeds spell them differently from each other), and exact spellings rank first.
async fn arabic_spellings(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let seeds = processed_seeds();
    assert!(seeds.len() >= 5, "all seeds processed");
    store.upsert(&seeds).await.unwrap();
    let none = ArticleFilter::default();
    let norm = |s: &str| newswire_clean::normalize_for_matching(s);
    let has =
        |a: &Article, w: &str| norm(&format!("{} {}", a.title, a.text)).split(' ').any(|t| t.ends_with(w));
    for (query, other) in [("بوتن", "بوتين"), ("بوتين", "بوتن"), ("ترمب", "ترامب"), ("ترامب", "ترمب")]
    {
        let hits = q.search(query, &none, 10).await.unwrap();
        let found: Vec<&Article> = hits.iter().map(|h| &h.article).collect();
        // Every seed that spells it either way, in the indexed part of it, is found.
        for s in &seeds {
            let lead: String = s
                .text
                .split_whitespace()
                .take(newswire_store::search::BODY_LEAD_WORDS)
                .collect::<Vec<_>>()
                .join(" ");
            let spelled = |w: &str| norm(&format!("{} {lead}", s.title)).split(' ').any(|t| t.ends_with(w));
            if spelled(query) || spelled(other) {
                assert!(found.iter().any(|a| a.id == s.id), "{query}: {} not found", s.id);
            }
        }
        assert!(found.iter().any(|a| has(a, other) && !has(a, query)), "{query} finds the spelling {other}");
        // Scores are best first.
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "{query}: not ranked");
    }
    // Canonical entity names are indexed too: "Putin" finds the Arabic articles about him.
    let putin = q.search("Putin", &none, 10).await.unwrap();
    assert!(
        !putin.is_empty()
            && putin.iter().all(|h| h.article.entities.iter().any(|e| e.name.contains("Putin")))
    );
}

/// The body is indexed as far as its lead ([`newswire_store::search::BODY_LEAD_WORDS`]
/// words, whatever the script); past it, a word is found only when the processor made it a
/// keyword, an entity or part of the summary.
async fn the_body_is_indexed_to_its_lead(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let lead_words = newswire_store::search::BODY_LEAD_WORDS;
    let filler = |w: &str| vec![w; lead_words - 1].join(" ");
    // Arabic: the lead's last word, then a word just past it.
    let ar = format!("{} نفط {} غاز", filler("كلمة"), filler("جملة"));
    let en = format!("{} tanker {}", filler("word"), "harbour ".repeat(5));
    // Word 61: past the lead, and a keyword.
    let mut past_but_keyword = article(3, "c", "en", "Ports", &format!("{} word dredging", filler("word")));
    past_but_keyword.keywords = vec!["dredging".into()];
    let batch = [article(1, "a", "ar", "اخبار", &ar), article(2, "b", "en", "News", &en), past_but_keyword];
    store.upsert(&batch).await.unwrap();
    let none = &ArticleFilter::default();
    let found = |query: &'static str| async move {
        ids(q.search(query, none, 10).await.unwrap().into_iter().map(|h| h.article))
    };
    assert_eq!(found("نفط").await, vec![batch[0].id.clone()], "the lead's last Arabic word");
    assert!(found("غاز").await.is_empty(), "an Arabic word past the lead");
    assert_eq!(found("tanker").await, vec![batch[1].id.clone()], "the lead's last English word");
    assert!(found("harbour").await.is_empty(), "an English word past the lead");
    assert_eq!(found("dredging").await, vec![batch[2].id.clone()], "past the lead, but a keyword");
}

/// An article spelled exactly as the query outranks one that matches by skeleton only.
async fn exact_forms_rank_first(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let batch = [
        article(1, "a", "ar", "زيارة زيلنسكي الى واشنطون", "قال المتحدث ان اللقاء كان مثمرا."),
        article(2, "b", "ar", "زيارة زيلينسكي الى واشنطن", "قال المتحدث ان اللقاء كان مثمرا."),
        article(3, "c", "ar", "اسعار النفط ترتفع", "قال المتحدث ان السوق مستقرة."),
    ];
    store.upsert(&batch).await.unwrap();
    let none = ArticleFilter::default();
    for (query, first, second) in [("زيلينسكي", 2, 1), ("زيلنسكي", 1, 2), ("واشنطن زيلينسكي", 2, 1)]
    {
        let hits = q.search(query, &none, 10).await.unwrap();
        assert_eq!(
            ids(hits.iter().map(|h| h.article.clone())),
            vec![batch[first - 1].id.clone(), batch[second - 1].id.clone()],
            "{query}"
        );
        assert!(hits[0].score > hits[1].score, "{query}: exact ranks strictly higher");
    }
    // A word in no article finds nothing, and AND means every word.
    assert!(q.search("زيلينسكي النفط", &none, 10).await.unwrap().is_empty());
    assert!(q.search("غواصة", &none, 10).await.unwrap().is_empty());
    // Stop words alone search nothing rather than everything.
    assert!(q.search("في من", &none, 10).await.unwrap().is_empty());
}

/// Only the newest `SEARCH_CANDIDATES` matches are ranked (after the filters): five old
/// articles with the word in their titles, which would rank first, are beyond the bound until a
/// time filter brings them within it.
async fn ranking_is_bounded_to_the_newest_matches(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let old = 5;
    let n = newswire_store::search::SEARCH_CANDIDATES as usize + old;
    let all: Vec<Article> = (0..n)
        .map(|i| {
            let title = if i < old { "قمة الرياض" } else { "اخبار اليوم" };
            article(i, "a", "ar", title, "انعقدت قمة في المدينة وناقش المشاركون الملفات.")
        })
        .collect();
    for chunk in all.chunks(256) {
        store.upsert(chunk).await.unwrap();
    }
    let oldest: HashSet<ArticleId> = ids(all[..old].iter().cloned()).into_iter().collect();
    let hits = q.search("قمة", &ArticleFilter::default(), 10).await.unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| !oldest.contains(&h.article.id)), "the oldest matches are not ranked");
    let until =
        ArticleFilter { until: Some(base_time() + Duration::minutes(old as i64 + 20)), ..Default::default() };
    let hits = q.search("قمة", &until, 10).await.unwrap();
    let top: HashSet<ArticleId> = ids(hits.iter().take(old).map(|h| h.article.clone())).into_iter().collect();
    assert_eq!(top, oldest, "within the time range, the title matches rank first");
}

/// The newest-matches bound holds when matches are sparse in the newest rows, where
/// PostgreSQL widens its search window (20,000 rows, every tenth a match): title matches just
/// inside the newest `SEARCH_CANDIDATES` matches rank first and those just outside are not
/// ranked, with and without a time filter; a word found only in the oldest rows is found.
async fn sparse_matches_widen_the_window(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let k = newswire_store::search::SEARCH_CANDIDATES as usize;
    let n = 20 * k;
    // Match j (0 = newest) is row n - 10 - 10 j; with `until` at row n - 5,000 (exclusive),
    // row n - 5,010 - 10 j. The last ranked match is j = k - 1.
    let inside = n - 10 * k;
    let outside = inside - 10;
    let (inside_until, outside_until) = (inside - 5000, outside - 5000);
    let strong = [inside, outside, inside_until, outside_until];
    let all: Vec<Article> = (0..n)
        .map(|i| {
            let title = if strong.contains(&i) { "قمة الرياض" } else { "اخبار اليوم" };
            let text = match i {
                _ if i % 10 == 0 => "انعقدت قمة في المدينة.",
                3 => "غواصة في الميناء.",
                _ => "ناقش المشاركون الملفات.",
            };
            article(i, "a", "ar", title, text)
        })
        .collect();
    for chunk in all.chunks(512) {
        store.upsert(chunk).await.unwrap();
    }
    let top = |hits: &[newswire_store::SearchHit], m: usize| -> HashSet<ArticleId> {
        hits.iter().take(m).map(|h| h.article.id.clone()).collect()
    };
    let id = |i: usize| all[i].id.clone();
    let hits = q.search("قمة", &ArticleFilter::default(), 10).await.unwrap();
    assert_eq!(top(&hits, 1), HashSet::from([id(inside)]), "the title match inside the bound ranks first");
    assert!(
        hits.iter().all(|h| ![outside, inside_until, outside_until].iter().any(|&i| h.article.id == id(i)))
    );
    let until = ArticleFilter { until: Some(all[n - 5000].published_at.unwrap()), ..Default::default() };
    let hits = q.search("قمة", &until, 10).await.unwrap();
    assert_eq!(top(&hits, 3), HashSet::from([id(inside), id(outside), id(inside_until)]));
    assert!(hits.iter().all(|h| h.article.id != id(outside_until)), "outside the bound under `until`");
    let rare = q.search("غواصة", &ArticleFilter::default(), 10).await.unwrap();
    assert_eq!(ids(rare.into_iter().map(|h| h.article)), vec![id(3)], "a word only in the oldest rows");
}

/// English (and other Latin-script) words are stemmed on both sides; filters and the limit
/// apply to search.
async fn stemming_and_search_filters(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let mut batch = vec![
        article(1, "wire", "en", "Ceasefire talks resume in Riyadh", "Delegations met on Sunday."),
        article(2, "wire", "en", "Minister will talk to the press", "A statement followed."),
        article(3, "daily", "en", "Talking points on the budget", "Parliament debated."),
        article(4, "daily", "fr", "Les négociations reprennent", "Les délégations se sont réunies."),
        article(5, "daily", "en", "Oil prices rise", "Markets were calm."),
    ];
    let mut copy =
        article(6, "copier", "en", "Ceasefire talks resume in Riyadh", "Delegations met on Sunday!");
    copy.duplicate =
        Some(DuplicateInfo { of: batch[0].id.clone(), kind: DuplicateKind::Near, similarity: 0.9 });
    batch.push(copy.clone());
    store.upsert(&batch).await.unwrap();
    let none = ArticleFilter::default();
    let found = |hits: Vec<newswire_store::SearchHit>| -> HashSet<ArticleId> {
        hits.into_iter().map(|h| h.article.id).collect()
    };

    let talk: HashSet<ArticleId> = [0, 1, 2].iter().map(|&i| batch[i].id.clone()).collect();
    assert_eq!(found(q.search("talks", &none, 10).await.unwrap()), talk, "talks finds talk and talking");
    assert_eq!(found(q.search("TALK", &none, 10).await.unwrap()), talk);
    // French articles are stemmed in French: "négociation" finds "négociations".
    assert_eq!(
        found(q.search("négociation", &none, 10).await.unwrap()),
        HashSet::from([batch[3].id.clone()])
    );
    // Copies are hidden unless asked for.
    let with_copies = ArticleFilter { include_duplicates: true, ..Default::default() };
    assert!(found(q.search("ceasefire", &with_copies, 10).await.unwrap()).contains(&copy.id));
    assert!(!found(q.search("ceasefire", &none, 10).await.unwrap()).contains(&copy.id));
    // Filters.
    let daily = ArticleFilter { sources: vec![SourceId::parse("daily").unwrap()], ..Default::default() };
    assert_eq!(found(q.search("talk", &daily, 10).await.unwrap()), HashSet::from([batch[2].id.clone()]));
    let late = ArticleFilter { since: Some(base_time() + Duration::minutes(2)), ..Default::default() };
    assert_eq!(
        found(q.search("talk", &late, 10).await.unwrap()),
        HashSet::from([batch[1].id.clone(), batch[2].id.clone()])
    );
    let fr = ArticleFilter { languages: vec![Lang::parse("fr").unwrap()], ..Default::default() };
    assert!(q.search("talk", &fr, 10).await.unwrap().is_empty());
    // The limit.
    assert_eq!(q.search("talk", &none, 2).await.unwrap().len(), 2);
}

/// Lists: newest first, every filter, copies hidden by default; `sources()` counts.
async fn list_filters(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let mut batch: Vec<Article> = (0..10)
        .map(|n| {
            let mut a = article(
                n,
                if n % 2 == 0 { "even" } else { "odd" },
                if n < 7 { "ar" } else { "en" },
                "t",
                "نص",
            );
            a.story_id = Some(format!("story-{}", n % 3));
            if n == 9 {
                a.category = Category::parse("sport").unwrap();
            }
            a
        })
        .collect();
    batch[4].duplicate =
        Some(DuplicateInfo { of: batch[0].id.clone(), kind: DuplicateKind::Exact, similarity: 1.0 });
    // An undated article sorts by its fetch time.
    batch[5].published_at = None;
    store.upsert(&batch).await.unwrap();
    let all = PageRequest { limit: 100, after: None };
    let all = &all;
    let list = |f: ArticleFilter| async move { ids(q.list_articles(&f, all).await.unwrap().items) };
    let want = |ns: &[usize]| ns.iter().map(|&n| batch[n].id.clone()).collect::<Vec<_>>();

    assert_eq!(list(ArticleFilter::default()).await, want(&[9, 8, 7, 6, 5, 3, 2, 1, 0]));
    assert_eq!(
        list(ArticleFilter { include_duplicates: true, ..Default::default() }).await,
        want(&[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    );
    assert_eq!(
        list(ArticleFilter { languages: vec![Lang::parse("en").unwrap()], ..Default::default() }).await,
        want(&[9, 8, 7])
    );
    assert_eq!(
        list(ArticleFilter { sources: vec![SourceId::parse("odd").unwrap()], ..Default::default() }).await,
        want(&[9, 7, 5, 3, 1])
    );
    assert_eq!(
        list(ArticleFilter { categories: vec![Category::parse("sport").unwrap()], ..Default::default() })
            .await,
        want(&[9])
    );
    assert_eq!(
        list(ArticleFilter { story: Some("story-1".into()), ..Default::default() }).await,
        want(&[7, 1])
    );
    let window = ArticleFilter {
        since: Some(base_time() + Duration::minutes(2)),
        until: Some(base_time() + Duration::minutes(6)),
        ..Default::default()
    };
    assert_eq!(list(window).await, want(&[5, 3, 2]));

    let stats = q.sources().await.unwrap();
    let counts: Vec<(&str, u64)> = stats.iter().map(|s| (s.source_id.as_str(), s.articles)).collect();
    assert_eq!(counts, vec![("even", 5), ("odd", 5)]);
    assert!(stats.iter().all(|s| s.last_stored.is_some()));
}

/// Paging through while new rows (newer and older than the cursor, and at the cursor's very
/// time) are stored between pages: every row that existed at the start is seen exactly once.
async fn pagination_while_inserting(store: &impl ArticleStore, q: &impl ArticleQueries) {
    // Pairs of articles at the same time, so that ties are broken by id.
    let mk = |n: usize, minute: i64| {
        let mut a = article(n, "wire", "en", "paging", "text");
        a.published_at = Some(base_time() + Duration::minutes(minute));
        a
    };
    let initial: Vec<Article> = (0..25).map(|n| mk(n, (n / 2) as i64 * 10)).collect();
    store.upsert(&initial).await.unwrap();
    let mut seen: Vec<ArticleId> = Vec::new();
    let mut after = None;
    let mut extra = 1000;
    loop {
        let page = q
            .list_articles(&ArticleFilter::default(), &PageRequest { limit: 4, after: after.clone() })
            .await
            .unwrap();
        assert!(page.items.len() <= 4);
        seen.extend(ids(page.items));
        // New rows: one newer than everything, one at the cursor's time, one older.
        let cursor_minute =
            after.as_ref().map_or(0, |c: &newswire_store::Cursor| (c.at - base_time()).num_minutes());
        store
            .upsert(&[mk(extra, 10_000), mk(extra + 1, cursor_minute), mk(extra + 2, -100 - extra as i64)])
            .await
            .unwrap();
        extra += 3;
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let unique: HashSet<&ArticleId> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row repeated");
    for a in &initial {
        assert!(unique.contains(&a.id), "{} skipped", a.id);
    }
    // Pages follow the order of one full list.
    let full = ids(q
        .list_articles(&ArticleFilter::default(), &PageRequest { limit: 1000, after: None })
        .await
        .unwrap()
        .items);
    let order: Vec<&ArticleId> = full.iter().filter(|id| unique.contains(id)).collect();
    assert_eq!(order, seen.iter().collect::<Vec<_>>());
}

/// Stories: aggregate fields, outlets in first-seen order, events (Created, then NewOutlet,
/// none for a redelivery or an article from a known outlet), marking published, growth.
async fn stories(store: &impl ArticleStore, q: &impl ArticleQueries) {
    let member = |n: usize, source: &str, minute: i64| {
        let mut a = article(n, source, "ar", &format!("عنوان {n}"), "نص الخبر");
        a.published_at = Some(base_time() + Duration::minutes(minute));
        a.story_id = Some("story-x".into());
        a
    };
    let first = member(1, "alpha", 0);
    store.upsert(std::slice::from_ref(&first)).await.unwrap();
    let pending = q.pending_story_changes(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].kind, pending[0].version), (StoryChangeKind::Created, 1));
    assert_eq!(pending[0].story.first_outlet.as_str(), "alpha");
    assert_eq!(pending[0].story.article_count, 1);
    q.mark_story_changes_published(&[("story-x".into(), 1)]).await.unwrap();
    assert!(q.pending_story_changes(10).await.unwrap().is_empty());

    // A redelivery, and another article from the same outlet: no event.
    store.upsert(std::slice::from_ref(&first)).await.unwrap();
    assert!(q.pending_story_changes(10).await.unwrap().is_empty(), "redelivery raised an event");
    store.upsert(&[member(2, "alpha", 30)]).await.unwrap();
    assert!(q.pending_story_changes(10).await.unwrap().is_empty(), "same outlet raised an event");

    // A new outlet, then one that had it earlier than anyone (arriving late).
    store.upsert(&[member(3, "beta", 90)]).await.unwrap();
    let pending = q.pending_story_changes(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].kind, pending[0].version), (StoryChangeKind::NewOutlet, 2));
    store.upsert(&[member(4, "gamma", -60), member(4, "gamma", -60)]).await.unwrap();
    let pending = q.pending_story_changes(10).await.unwrap();
    assert_eq!(
        (pending[0].kind, pending[0].version),
        (StoryChangeKind::NewOutlet, 3),
        "one change per batch"
    );
    let s = &pending[0].story;
    assert_eq!(s.article_count, 4);
    assert_eq!(s.outlets.iter().map(SourceId::as_str).collect::<Vec<_>>(), ["gamma", "alpha", "beta"]);
    assert_eq!(s.first_outlet.as_str(), "gamma");
    assert_eq!(s.first_article, member(4, "gamma", -60).id);
    assert_eq!(s.title, "عنوان 4");
    assert_eq!(s.first_seen, base_time() - Duration::minutes(60));
    assert_eq!(s.last_seen, base_time() + Duration::minutes(90));
    // Marking an older version leaves the newer change pending; marking it clears it.
    q.mark_story_changes_published(&[("story-x".into(), 2)]).await.unwrap();
    assert_eq!(q.pending_story_changes(10).await.unwrap().len(), 1);
    q.mark_story_changes_published(&[("story-x".into(), 3)]).await.unwrap();
    assert!(q.pending_story_changes(10).await.unwrap().is_empty());

    // A revision that moves an article to another story: both stories follow.
    let mut moved = member(3, "beta", 90);
    moved.story_id = Some("story-y".into());
    moved.fingerprints.content_hash = "f".repeat(32);
    store.upsert(&[moved]).await.unwrap();
    let detail = q.story("story-x").await.unwrap().unwrap();
    assert_eq!(detail.story.article_count, 3);
    assert_eq!(detail.story.outlets.iter().map(SourceId::as_str).collect::<Vec<_>>(), ["gamma", "alpha"]);
    assert_eq!(detail.story.last_seen, base_time() + Duration::minutes(30));
    assert_eq!(
        ids(detail.articles.clone()),
        vec![member(4, "gamma", -60).id, first.id.clone(), member(2, "alpha", 30).id]
    );
    // Growth: hours ending 12:00 (one article), 13:00 (two more), cumulative.
    let growth: Vec<(i64, u64, u64)> =
        detail.growth.iter().map(|g| ((g.at - base_time()).num_minutes(), g.articles, g.outlets)).collect();
    assert_eq!(growth, vec![(0, 1, 1), (60, 3, 2)]);
    let y = q.story("story-y").await.unwrap().unwrap();
    assert_eq!((y.story.article_count, y.story.first_outlet.as_str()), (1, "beta"));
    assert!(q.story("no-such-story").await.unwrap().is_none());

    // Lists of stories: most recently active first, filtered by outlet.
    let all =
        q.list_stories(&ArticleFilter::default(), &PageRequest { limit: 1, after: None }).await.unwrap();
    assert_eq!(all.items[0].id, "story-y");
    let rest =
        q.list_stories(&ArticleFilter::default(), &PageRequest { limit: 1, after: all.next }).await.unwrap();
    assert_eq!((rest.items[0].id.as_str(), rest.next.is_none()), ("story-x", true));
    let gamma = ArticleFilter { sources: vec![SourceId::parse("gamma").unwrap()], ..Default::default() };
    let listed = q.list_stories(&gamma, &PageRequest { limit: 10, after: None }).await.unwrap();
    assert_eq!(listed.items.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["story-x"]);
}

/// Rows stored with the schema as it was before versioned migrations (kept verbatim as a
/// fixture), then opened by this store: the schema is upgraded, the rows are listed and
/// searchable, their stories exist without events, and opening again changes nothing.
async fn upgraded(old: &[Article], store: &(impl ArticleStore + ArticleQueries)) {
    assert_eq!(store.count().await.unwrap(), old.len() as u64);
    let listed = store
        .list_articles(&ArticleFilter::default(), &PageRequest { limit: 100, after: None })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), old.len());
    let hits = store.search("بوتن", &ArticleFilter::default(), 10).await.unwrap();
    assert_eq!(ids(hits.into_iter().map(|h| h.article)), vec![old[0].id.clone()]);
    let hits = store.search("talk", &ArticleFilter::default(), 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    let s = store.story("old-story").await.unwrap().expect("story built at upgrade");
    assert_eq!((s.story.article_count, s.story.outlets.len()), (2, 2));
    assert!(store.pending_story_changes(10).await.unwrap().is_empty(), "history raised events");
}

fn old_rows() -> Vec<Article> {
    let mut a = article(1, "old", "ar", "لقاء بوتين", "التقى الرئيس بوتين وفدا.");
    let mut b = article(2, "older", "en", "Talks resume", "Delegations met.");
    a.story_id = Some("old-story".into());
    b.story_id = Some("old-story".into());
    vec![a, b]
}

fn old_meta(a: &Article) -> String {
    let mut v = serde_json::to_value(a).unwrap();
    v.as_object_mut().unwrap().remove("title");
    v.as_object_mut().unwrap().remove("text");
    v.to_string()
}

#[tokio::test]
async fn sqlite_search_finds_arabic_spellings() {
    let (s, _d) = sqlite().await;
    arabic_spellings(&s, &s).await;
}

#[tokio::test]
async fn sqlite_search_ranks_the_newest_matches() {
    let (s, _d) = sqlite().await;
    ranking_is_bounded_to_the_newest_matches(&s, &s).await;
}

#[tokio::test]
async fn sqlite_search_bound_holds_for_sparse_matches() {
    let (s, _d) = sqlite().await;
    sparse_matches_widen_the_window(&s, &s).await;
}

#[tokio::test]
async fn postgres_search_bound_holds_for_sparse_matches() {
    let (s, _d) = postgres().await;
    sparse_matches_widen_the_window(&s, &s).await;
}

#[tokio::test]
async fn postgres_search_ranks_the_newest_matches() {
    let (s, _d) = postgres().await;
    ranking_is_bounded_to_the_newest_matches(&s, &s).await;
}

#[tokio::test]
async fn sqlite_body_is_indexed_to_its_lead() {
    let (s, _d) = sqlite().await;
    the_body_is_indexed_to_its_lead(&s, &s).await;
}

#[tokio::test]
async fn sqlite_exact_forms_rank_first() {
    let (s, _d) = sqlite().await;
    exact_forms_rank_first(&s, &s).await;
}

#[tokio::test]
async fn sqlite_stemming_and_search_filters() {
    let (s, _d) = sqlite().await;
    stemming_and_search_filters(&s, &s).await;
}

#[tokio::test]
async fn sqlite_list_filters() {
    let (s, _d) = sqlite().await;
    list_filters(&s, &s).await;
}

#[tokio::test]
async fn sqlite_pagination_while_inserting() {
    let (s, _d) = sqlite().await;
    pagination_while_inserting(&s, &s).await;
}

#[tokio::test]
async fn sqlite_stories() {
    let (s, _d) = sqlite().await;
    stories(&s, &s).await;
}

#[tokio::test]
async fn sqlite_upgrade_from_unversioned_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/schema_before_migrations_sqlite.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    let old = old_rows();
    for a in &old {
        let t = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        sqlx::query(
            "INSERT INTO articles (id, canonical_url, source_id, title, body, language, category, published_at,
                fetched_at, processed_at, stored_at, story_id, duplicate_of, content_hash, meta)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        )
        .bind(a.id.as_str())
        .bind(a.canonical_url.as_deref())
        .bind(a.source_id.as_str())
        .bind(&a.title)
        .bind(&a.text)
        .bind(a.language.as_str())
        .bind(a.category.as_str())
        .bind(a.published_at.map(t))
        .bind(t(a.fetched_at))
        .bind(t(a.processed_at))
        .bind(t(a.processed_at))
        .bind(a.story_id.as_deref())
        .bind(&a.fingerprints.content_hash)
        .bind(old_meta(a))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path, 2).await.unwrap();
    upgraded(&old, &store).await;
    // New rows after the upgrade join the old story and raise an event.
    let mut c = article(3, "newer", "ar", "بوتن مجددا", "نص");
    c.story_id = Some("old-story".into());
    store.upsert(&[c]).await.unwrap();
    assert_eq!(store.pending_story_changes(10).await.unwrap()[0].kind, StoryChangeKind::NewOutlet);
    assert_eq!(store.search("بوتين", &ArticleFilter::default(), 10).await.unwrap().len(), 2);
    drop(store);
    // Already migrated: opens again, same data.
    let again = SqliteStore::open(&path, 2).await.unwrap();
    assert_eq!(again.count().await.unwrap(), 3);
    assert_eq!(again.search("بوتين", &ArticleFilter::default(), 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn postgres_search_finds_arabic_spellings() {
    let (s, _d) = postgres().await;
    arabic_spellings(&s, &s).await;
}

/// The server reads the binary tsvectors the store sends as they were built: every term of
/// every class, with its class's weight, and nothing else.
#[tokio::test]
async fn postgres_stores_the_terms_it_was_given() {
    let (s, _d) = postgres().await;
    let seeds = processed_seeds();
    s.upsert(&seeds).await.unwrap();
    for a in &seeds {
        let t = newswire_store::search::document_terms(a);
        let mut expected: Vec<(String, String)> = Vec::new();
        for (terms, mark, weight) in [
            (&t.exact_strong, "", "A"),
            (&t.exact_weak, "", "B"),
            (&t.skeleton_strong, "~", "C"),
            (&t.skeleton_weak, "~", "D"),
        ] {
            expected.extend(terms.iter().map(|x| (format!("{mark}{x}"), weight.to_owned())));
        }
        expected.sort();
        assert!(expected.len() > 20, "{}: a seed has terms of its own", a.id);
        let mut stored: Vec<(String, String)> = sqlx::query_as(
            "SELECT lexeme, array_to_string(weights, '') FROM articles, unnest(search)
             WHERE id = $1",
        )
        .bind(a.id.as_str())
        .fetch_all(s.pool())
        .await
        .unwrap();
        stored.sort();
        assert_eq!(stored, expected, "{}", a.id);
    }
}

#[tokio::test]
async fn postgres_body_is_indexed_to_its_lead() {
    let (s, _d) = postgres().await;
    the_body_is_indexed_to_its_lead(&s, &s).await;
}

#[tokio::test]
async fn postgres_exact_forms_rank_first() {
    let (s, _d) = postgres().await;
    exact_forms_rank_first(&s, &s).await;
}

#[tokio::test]
async fn postgres_stemming_and_search_filters() {
    let (s, _d) = postgres().await;
    stemming_and_search_filters(&s, &s).await;
}

#[tokio::test]
async fn postgres_list_filters() {
    let (s, _d) = postgres().await;
    list_filters(&s, &s).await;
}

#[tokio::test]
async fn postgres_pagination_while_inserting() {
    let (s, _d) = postgres().await;
    pagination_while_inserting(&s, &s).await;
}

#[tokio::test]
async fn postgres_stories() {
    let (s, _d) = postgres().await;
    stories(&s, &s).await;
}

#[tokio::test]
async fn postgres_upgrade_from_unversioned_schema() {
    let db = PgDb::create().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/schema_before_migrations_postgres.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    let old = old_rows();
    for a in &old {
        sqlx::query(
            "INSERT INTO articles (id, canonical_url, source_id, title, body, language, category, published_at,
                fetched_at, processed_at, story_id, duplicate_of, content_hash, meta)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13::jsonb)",
        )
        .bind(a.id.as_str())
        .bind(a.canonical_url.as_deref())
        .bind(a.source_id.as_str())
        .bind(&a.title)
        .bind(&a.text)
        .bind(a.language.as_str())
        .bind(a.category.as_str())
        .bind(a.published_at)
        .bind(a.fetched_at)
        .bind(a.processed_at)
        .bind(a.story_id.as_deref())
        .bind(&a.fingerprints.content_hash)
        .bind(old_meta(a))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let store = PgStore::connect(&db.url, 2).await.unwrap();
    upgraded(&old, &store).await;
    let mut c = article(3, "newer", "ar", "بوتن مجددا", "نص");
    c.story_id = Some("old-story".into());
    store.upsert(&[c]).await.unwrap();
    assert_eq!(store.pending_story_changes(10).await.unwrap()[0].kind, StoryChangeKind::NewOutlet);
    assert_eq!(store.search("بوتين", &ArticleFilter::default(), 10).await.unwrap().len(), 2);
    drop(store);
    let again = PgStore::connect(&db.url, 2).await.unwrap();
    assert_eq!(again.count().await.unwrap(), 3);
    assert_eq!(again.search("بوتين", &ArticleFilter::default(), 10).await.unwrap().len(), 2);
}

/// Entities' canonical names and keywords are searchable even when the text does not say
/// them in that script.
#[tokio::test]
async fn sqlite_entities_are_indexed() {
    let (s, _d) = sqlite().await;
    let mut a = article(1, "wire", "ar", "لقاء في موسكو", "نص الخبر");
    a.entities = vec![Entity { name: "Sergei Ryabkov".into(), kind: EntityKind::Person, count: 1 }];
    s.upsert(std::slice::from_ref(&a)).await.unwrap();
    let hits = s.search("ryabkov", &ArticleFilter::default(), 5).await.unwrap();
    assert_eq!(ids(hits.into_iter().map(|h| h.article)), vec![a.id]);
}
