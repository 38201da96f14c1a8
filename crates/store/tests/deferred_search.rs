//! Deferred search indexing on a real PostgreSQL database: a deferred upsert stores rows
//! listable at once and queued for search; `index_queued` builds their terms oldest first, a
//! revised row keeps its old terms until it is indexed again, and a row that cannot be read
//! back leaves the queue instead of stalling it.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

use newswire_model::{Article, ArticleId};
use newswire_store::{ArticleFilter, ArticleQueries, ArticleStore, PgStore, SearchIndexing};
use newswire_testkit::PgDb;

fn article(n: usize, title: &str, text: &str) -> Article {
    newswire_testkit::articles::article("deferred-search", n, "wire", "ar", title, text)
}

async fn deferred() -> (PgStore, PgDb) {
    let db = PgDb::create().await;
    let store = PgStore::connect(&db.url, 2).await.unwrap().with_search_indexing(SearchIndexing::Deferred);
    (store, db)
}

async fn found(store: &PgStore, query: &str) -> Vec<ArticleId> {
    let mut ids: Vec<ArticleId> = store
        .search(query, &ArticleFilter::default(), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.article.id)
        .collect();
    ids.sort();
    ids
}

async fn queued(store: &PgStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM articles WHERE search_version = 0")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Stored rows are there at once (get, count) and searchable only once indexed, by every
/// spelling the inline path would find.
#[tokio::test]
async fn deferred_rows_become_searchable_when_indexed() {
    let (store, _db) = deferred().await;
    let rows = vec![
        article(1, "اتصال هاتفي بين بوتين وترامب", "تحدث الرئيسان عن الحرب في أوكرانيا"),
        article(2, "قمة الرياض", "محادثات في الرياض بين الوفدين"),
    ];
    store.upsert(&rows).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    assert!(store.get(&rows[0].id).await.unwrap().is_some());
    assert!(found(&store, "بوتن").await.is_empty(), "not searchable before it is indexed");
    assert_eq!(queued(&store).await, 2);

    let pass = store.index_queued(100).await.unwrap();
    assert_eq!((pass.indexed, pass.unindexable, pass.oldest_queued), (2, 0, None));
    assert_eq!(found(&store, "بوتن").await, vec![rows[0].id.clone()], "بوتن finds بوتين");
    assert_eq!(found(&store, "ترمب").await, vec![rows[0].id.clone()], "ترمب finds ترامب");
    assert_eq!(found(&store, "الرياض").await, vec![rows[1].id.clone()]);
    assert_eq!(queued(&store).await, 0);
    let again = store.index_queued(100).await.unwrap();
    assert_eq!((again.indexed, again.unindexable), (0, 0), "an indexed row is not indexed twice");
}

/// A pass takes at most its limit, oldest stored first, and reports when the oldest row left
/// was stored.
#[tokio::test]
async fn passes_take_the_oldest_rows_first() {
    let (store, _db) = deferred().await;
    let first: Vec<Article> = (0..3).map(|n| article(n, &format!("مقال أول {n}"), "نص")).collect();
    let second: Vec<Article> = (3..6).map(|n| article(n, &format!("مقال ثان {n}"), "نص")).collect();
    store.upsert(&first).await.unwrap();
    store.upsert(&second).await.unwrap();
    // Two upserts stored in the same millisecond would not say which is older; set it.
    sqlx::query("UPDATE articles SET stored_at = stored_at + interval '1 hour' WHERE id = ANY($1)")
        .bind(second.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
        .execute(store.pool())
        .await
        .unwrap();
    let second_stored: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(stored_at) FROM articles WHERE id = ANY($1)")
            .bind(second.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
            .fetch_one(store.pool())
            .await
            .unwrap();

    let pass = store.index_queued(3).await.unwrap();
    assert_eq!(pass.indexed, 3);
    assert_eq!(pass.oldest_queued, Some(second_stored), "the newer upsert is left, and its age is told");
    let indexed: Vec<String> =
        sqlx::query_scalar("SELECT id FROM articles WHERE search_version > 0 ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut expected: Vec<String> = first.iter().map(|a| a.id.as_str().to_owned()).collect();
    expected.sort();
    assert_eq!(indexed, expected, "the older upsert's rows went first");

    let rest = store.index_queued(3).await.unwrap();
    assert_eq!((rest.indexed, rest.oldest_queued), (3, None));
}

/// A revision of an indexed row keeps the old terms while it waits (searchable by its old
/// words rather than by none), and has only its new ones once indexed.
#[tokio::test]
async fn a_revision_keeps_its_old_terms_until_indexed() {
    let (store, _db) = deferred().await;
    let old = article(1, "مفاوضات في جنيف", "بدأت المفاوضات اليوم");
    store.upsert(std::slice::from_ref(&old)).await.unwrap();
    store.index_queued(10).await.unwrap();
    assert_eq!(found(&store, "جنيف").await, vec![old.id.clone()]);

    let mut revised = old.clone();
    revised.title = "مفاوضات في فيينا".to_owned();
    revised.fingerprints.content_hash = ArticleId::digest(&["revised"]).as_str().to_owned();
    store.upsert(std::slice::from_ref(&revised)).await.unwrap();
    assert_eq!(queued(&store).await, 1, "the revision is queued");
    assert_eq!(found(&store, "جنيف").await, vec![old.id.clone()], "old terms until it is indexed");
    assert!(found(&store, "فيينا").await.is_empty());

    assert_eq!(store.index_queued(10).await.unwrap().indexed, 1);
    assert_eq!(found(&store, "فيينا").await, vec![old.id.clone()]);
    assert!(found(&store, "جنيف").await.is_empty(), "the old title's words are gone");
}

/// A queued row whose stored form was broken by hand is taken out of the queue unindexed
/// (still listed), and the rows around it are indexed.
#[tokio::test]
async fn an_unreadable_row_does_not_stall_the_queue() {
    let (store, _db) = deferred().await;
    let rows: Vec<Article> = (0..4).map(|n| article(n, &format!("خبر عاجل {n}"), "نص الخبر")).collect();
    store.upsert(&rows).await.unwrap();
    sqlx::query("UPDATE articles SET meta = '{\"not\": \"an article\"}' WHERE id = $1")
        .bind(rows[2].id.as_str())
        .execute(store.pool())
        .await
        .unwrap();

    let pass = store.index_queued(100).await.unwrap();
    assert_eq!((pass.indexed, pass.unindexable, pass.oldest_queued), (3, 1, None));
    let mut expected: Vec<ArticleId> = [0, 1, 3].iter().map(|&i| rows[i].id.clone()).collect();
    expected.sort();
    assert_eq!(found(&store, "عاجل").await, expected);
    assert_eq!(queued(&store).await, 0, "the unreadable row left the queue");
    assert_eq!(store.index_queued(100).await.unwrap().unindexable, 0, "and is not retried every pass");
    assert_eq!(store.count().await.unwrap(), 4, "it is still stored");
}

/// Inline (what `PgStore::connect` does) stores the terms with the row: nothing is queued.
#[tokio::test]
async fn inline_rows_are_searchable_at_once() {
    let db = PgDb::create().await;
    let store = PgStore::connect(&db.url, 2).await.unwrap();
    assert_eq!(store.search_indexing(), SearchIndexing::Inline);
    let row = article(1, "اتصال بين بوتين وترامب", "نص");
    store.upsert(std::slice::from_ref(&row)).await.unwrap();
    assert_eq!(found(&store, "بوتن").await, vec![row.id.clone()]);
    assert_eq!(queued(&store).await, 0);
}

/// Two indexers on one queue at once (two sink replicas): the rows they report indexed add up
/// to the rows stored (none done twice, none lost), and together they empty the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_indexers_share_the_queue_without_doing_a_row_twice() {
    let (store, _db) = deferred().await;
    let rows: Vec<Article> = (0..600).map(|n| article(n, &format!("خبر رقم {n}"), "نص الخبر")).collect();
    store.upsert(&rows).await.unwrap();
    let other = store.clone();
    let drain = |s: PgStore| async move {
        let mut indexed = 0;
        loop {
            let pass = s.index_queued(50).await.unwrap();
            indexed += pass.indexed;
            if pass.indexed == 0 && pass.oldest_queued.is_none() {
                return indexed;
            }
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(drain(store.clone())), tokio::spawn(drain(other)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, rows.len(), "every row indexed exactly once ({a} + {b})");
    assert_eq!(queued(&store).await, 0);
    assert_eq!(found(&store, "رقم").await.len(), 50, "the search limit, from a full index");
}
