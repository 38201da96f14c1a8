//! Batch upserts against real databases (a temporary SQLite file and a fresh PostgreSQL
//! database): results in input order, repeated ids in one batch, batches larger than one
//! SQLite statement, all-or-nothing, and articles read back intact.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use newswire_model::{
    Article, ArticleId, Category, DuplicateInfo, DuplicateKind, Entity, EntityKind, Fingerprints, Lang,
    SCHEMA_VERSION, SourceId,
};
use newswire_store::{ArticleQueries, ArticleStore, PgStore, SqliteStore, UpsertResult};
use newswire_testkit::PgDb;
use sqlx::Connection;

use UpsertResult::{Inserted, Unchanged, Updated};

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn id(n: usize) -> ArticleId {
    ArticleId::digest(&["store-test", &n.to_string()])
}

/// Article `n` at content `version`: the content hash follows the version, so two versions
/// of one id are an update.
fn article(n: usize, version: u32) -> Article {
    let title = format!("Talks resume in Riyadh ({n}, v{version})");
    let text = format!(
        "قال وزير الخارجية الروسي إن الاجتماع سينعقد نهاية الأسبوع ({n}).\n\n\
         Officials said on Sunday that talks would resume, version {version}."
    );
    let published = base_time() + Duration::minutes(n as i64);
    Article {
        schema_version: SCHEMA_VERSION,
        id: id(n),
        canonical_url: Some(format!("https://news.example/world/{n}")),
        source_id: SourceId::parse("news-example").unwrap(),
        feed_url: "https://news.example/rss.xml".to_owned(),
        title,
        text,
        language: Lang::parse("ar").unwrap(),
        category: Category::parse("world").unwrap(),
        published_at: Some(published),
        fetched_at: published + Duration::seconds(30),
        processed_at: published + Duration::seconds(31),
        authors: vec!["Newsroom".to_owned()],
        entities: vec![
            Entity { name: "Russia".to_owned(), kind: EntityKind::Place, count: 2 },
            Entity { name: "Sergei Ryabkov".to_owned(), kind: EntityKind::Person, count: 1 },
        ],
        keywords: vec!["روسيا".to_owned(), "talks".to_owned()],
        summary: Some(format!("Talks resume ({n}).")),
        categories: vec!["politics".to_owned()],
        story_id: Some(id(n - n % 3).as_str().to_owned()),
        fingerprints: Fingerprints {
            content_hash: ArticleId::digest(&["hash", &n.to_string(), &version.to_string()])
                .as_str()
                .to_owned(),
            simhash: Some(format!("{:016x}", n * 31 + version as usize)),
        },
        duplicate: None,
        revision: None,
    }
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

/// New, changed and unchanged articles in one batch get their own results, in input order,
/// and upserting the same batch again changes nothing.
async fn mixed_batch(store: &impl ArticleStore) {
    assert_eq!(store.upsert(&[]).await.unwrap(), vec![]);
    assert_eq!(store.upsert(&[article(1, 1), article(2, 1)]).await.unwrap(), vec![Inserted, Inserted]);

    let batch = [article(3, 1), article(1, 1), article(2, 2), article(4, 1), article(5, 1)];
    assert_eq!(store.upsert(&batch).await.unwrap(), vec![Inserted, Unchanged, Updated, Inserted, Inserted]);
    assert_eq!(store.count().await.unwrap(), 5);
    assert_eq!(store.get(&id(2)).await.unwrap(), Some(article(2, 2)));
    assert_eq!(store.get(&id(3)).await.unwrap(), Some(article(3, 1)));

    assert_eq!(store.upsert(&batch).await.unwrap(), vec![Unchanged; 5]);
    assert_eq!(store.count().await.unwrap(), 5);
}

/// Repeated ids in one batch: results as if upserted one after another; the row ends up
/// holding the last article that inserted or updated it.
async fn repeated_ids(store: &impl ArticleStore) {
    // Redelivery next to the original.
    assert_eq!(store.upsert(&[article(1, 1), article(1, 1)]).await.unwrap(), vec![Inserted, Unchanged]);
    // A correction in the same batch.
    assert_eq!(store.upsert(&[article(2, 1), article(2, 2)]).await.unwrap(), vec![Inserted, Updated]);
    assert_eq!(store.get(&id(2)).await.unwrap(), Some(article(2, 2)));

    // Against stored rows, mixed with other ids.
    let batch = [
        article(1, 2), // stored v1: updated
        article(3, 1), // new
        article(1, 2), // same as just written
        article(2, 2), // stored v2 already
        article(1, 3), // updated again
        article(3, 1), // redelivery of the new one
        article(4, 1), // new, once
    ];
    assert_eq!(
        store.upsert(&batch).await.unwrap(),
        vec![Updated, Inserted, Unchanged, Unchanged, Updated, Unchanged, Inserted]
    );
    assert_eq!(store.get(&id(1)).await.unwrap(), Some(article(1, 3)));
    assert_eq!(store.get(&id(3)).await.unwrap(), Some(article(3, 1)));
    assert_eq!(store.count().await.unwrap(), 4);

    // An update and its revert in one batch: both count as updates and the row holds the
    // last article (here processed later than the stored one).
    let mut reverted = article(1, 3);
    reverted.processed_at += Duration::hours(1);
    assert_eq!(store.upsert(&[article(1, 4), reverted.clone()]).await.unwrap(), vec![Updated, Updated]);
    assert_eq!(store.get(&id(1)).await.unwrap(), Some(reverted.clone()));

    // Same content twice, the second processed later: the second is `Unchanged`, so the row
    // keeps the first, as one-by-one upserts would.
    let first = article(5, 1);
    let mut later = article(5, 1);
    later.processed_at += Duration::hours(1);
    assert_eq!(store.upsert(&[first.clone(), later]).await.unwrap(), vec![Inserted, Unchanged]);
    assert_eq!(store.get(&id(5)).await.unwrap(), Some(first));

    // Redeliveries of what is stored, repeated in one batch: all unchanged.
    let again = [article(3, 1), article(4, 1), article(3, 1), article(2, 2), article(2, 2), reverted];
    assert_eq!(store.upsert(&again).await.unwrap(), vec![Unchanged; again.len()]);
}

/// 1,200 articles: more than one SQLite statement's worth of rows and ids.
async fn large_batch(store: &impl ArticleStore) {
    let batch: Vec<Article> = (0..1200).map(|n| article(n, 1)).collect();
    assert_eq!(store.upsert(&batch).await.unwrap(), vec![Inserted; 1200]);
    assert_eq!(store.count().await.unwrap(), 1200);

    // Every third changed, one new at the end, and a changed one repeated.
    let mut again: Vec<Article> = (0..1200).map(|n| article(n, if n % 3 == 0 { 2 } else { 1 })).collect();
    again.push(article(1200, 1));
    again.push(article(999, 2));
    let mut expected: Vec<UpsertResult> =
        (0..1200).map(|n| if n % 3 == 0 { Updated } else { Unchanged }).collect();
    expected.extend([Inserted, Unchanged]);
    assert_eq!(store.upsert(&again).await.unwrap(), expected);
    assert_eq!(store.count().await.unwrap(), 1201);
    for n in [0, 1, 499, 500, 501, 999, 1000, 1199, 1200] {
        let version = if n % 3 == 0 && n < 1200 { 2 } else { 1 };
        assert_eq!(store.get(&id(n)).await.unwrap(), Some(article(n, version)), "article {n}");
    }
    assert_eq!(store.upsert(&again).await.unwrap(), vec![Unchanged; again.len()]);
}

/// Every field survives a batch upsert, including the optional ones left empty.
async fn round_trip(store: &impl ArticleStore) {
    let full = Article {
        duplicate: Some(DuplicateInfo { of: id(1), kind: DuplicateKind::Near, similarity: 0.82 }),
        ..article(2, 1)
    };
    let bare = Article {
        canonical_url: None,
        published_at: None,
        authors: vec![],
        entities: vec![],
        keywords: vec![],
        summary: None,
        categories: vec![],
        story_id: None,
        fingerprints: Fingerprints { content_hash: "0".repeat(32), simhash: None },
        language: Lang::und(),
        ..article(3, 1)
    };
    let batch = [article(1, 1), full.clone(), bare.clone()];
    assert_eq!(store.upsert(&batch).await.unwrap(), vec![Inserted; 3]);
    assert_eq!(store.get(&id(1)).await.unwrap(), Some(article(1, 1)));
    assert_eq!(store.get(&id(2)).await.unwrap(), Some(full));
    assert_eq!(store.get(&id(3)).await.unwrap(), Some(bare));
    assert_eq!(store.get(&id(4)).await.unwrap(), None);
    // Newest first, undated last.
    let recent: Vec<ArticleId> = store.recent(10).await.unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(recent, vec![id(2), id(1), id(3)]);
}

/// A batch whose last row the database rejects leaves nothing behind: not the new rows of
/// earlier statements, not the update of a stored row.
async fn failing_batch(store: &impl ArticleStore, rejected: Article) {
    assert_eq!(store.upsert(&[article(0, 1)]).await.unwrap(), vec![Inserted]);
    let mut batch: Vec<Article> = (1..1100).map(|n| article(n, 1)).collect();
    batch.push(article(0, 2));
    batch.push(rejected);
    assert!(store.upsert(&batch).await.is_err());
    assert_eq!(store.count().await.unwrap(), 1);
    assert_eq!(store.get(&id(0)).await.unwrap(), Some(article(0, 1)));
    // The store is still usable, and the same batch without the bad row goes through.
    batch.pop();
    let results = store.upsert(&batch).await.unwrap();
    assert_eq!(results.last(), Some(&Updated));
    assert_eq!(results.iter().filter(|r| **r == Inserted).count(), 1099);
}

/// A replay that changes only the processor's decisions (story, duplicate of) rewrites the
/// row, moves the article between the stories' aggregates and archives no revision; the same
/// decisions again change nothing. Both across batches and within one.
async fn replayed_decisions(store: &(impl ArticleStore + ArticleQueries)) {
    let first = article(10, 1);
    assert_eq!(store.upsert(std::slice::from_ref(&first)).await.unwrap(), vec![Inserted]);
    let old_story = first.story_id.clone().unwrap();
    let moved = Article { story_id: Some(id(99).as_str().to_owned()), ..first.clone() };
    assert_eq!(store.upsert(std::slice::from_ref(&moved)).await.unwrap(), vec![Updated], "new story");
    assert_eq!(store.upsert(std::slice::from_ref(&moved)).await.unwrap(), vec![Unchanged], "same again");
    let stored = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.story_id, moved.story_id);
    assert!(store.revisions(&first.id).await.unwrap().is_empty(), "no revision: the content is the same");
    let new_story = store.story(id(99).as_str()).await.unwrap().expect("the new story");
    assert_eq!(new_story.story.article_count, 1);
    assert!(store.story(&old_story).await.unwrap().is_none_or(|s| s.story.article_count == 0));

    let copy = Article {
        duplicate: Some(DuplicateInfo { of: id(11), kind: DuplicateKind::Near, similarity: 0.9 }),
        ..moved.clone()
    };
    // Within one batch: the copy decision is an update, its repetition unchanged, and going
    // back an update again.
    let results = store.upsert(&[copy.clone(), copy.clone(), moved.clone()]).await.unwrap();
    assert_eq!(results, vec![Updated, Unchanged, Updated]);
    assert_eq!(store.get(&first.id).await.unwrap().unwrap().duplicate, None);
    assert_eq!(store.upsert(std::slice::from_ref(&copy)).await.unwrap(), vec![Updated]);
    assert_eq!(store.get(&first.id).await.unwrap().unwrap().duplicate.map(|d| d.of), Some(id(11)));
}

#[tokio::test]
async fn sqlite_replayed_decisions() {
    let (s, _d) = sqlite().await;
    replayed_decisions(&s).await;
}

#[tokio::test]
async fn postgres_replayed_decisions() {
    let (s, _d) = postgres().await;
    replayed_decisions(&s).await;
}

#[tokio::test]
async fn sqlite_mixed_batch() {
    mixed_batch(&sqlite().await.0).await;
}

#[tokio::test]
async fn sqlite_repeated_ids() {
    repeated_ids(&sqlite().await.0).await;
}

#[tokio::test]
async fn sqlite_large_batch() {
    large_batch(&sqlite().await.0).await;
}

#[tokio::test]
async fn sqlite_round_trip() {
    round_trip(&sqlite().await.0).await;
}

#[tokio::test]
async fn sqlite_failing_batch() {
    let (store, dir) = sqlite().await;
    // SQLite takes any text, so a trigger (set up through a connection of the test's own)
    // rejects one id, as a constraint would.
    let rejected = article(5000, 1);
    let url = format!("sqlite://{}", dir.path().join("articles.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TRIGGER reject BEFORE INSERT ON articles WHEN NEW.id = '{}'
         BEGIN SELECT RAISE(ABORT, 'rejected by test'); END",
        rejected.id
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    failing_batch(&store, rejected).await;
}

#[tokio::test]
async fn postgres_mixed_batch() {
    mixed_batch(&postgres().await.0).await;
}

#[tokio::test]
async fn postgres_repeated_ids() {
    repeated_ids(&postgres().await.0).await;
}

#[tokio::test]
async fn postgres_large_batch() {
    large_batch(&postgres().await.0).await;
}

#[tokio::test]
async fn postgres_round_trip() {
    round_trip(&postgres().await.0).await;
}

#[tokio::test]
async fn postgres_failing_batch() {
    let (store, _db) = postgres().await;
    // PostgreSQL text cannot hold a NUL character; a feed could still carry one.
    let mut rejected = article(5000, 1);
    rejected.text.push('\0');
    failing_batch(&store, rejected).await;
}
