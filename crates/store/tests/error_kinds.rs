//! The kind of real database errors (what the sink acts on): data the database refuses is
//! `Rejected`, a database that cannot be reached is `Unavailable`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use newswire_model::Article;
use newswire_store::{ArticleStore, PgStore, SqliteStore, StoreErrorKind};
use newswire_testkit::PgDb;

fn article(n: usize) -> Article {
    let id = newswire_model::ArticleId::digest(&["error-kinds", &n.to_string()]);
    serde_json::from_value(serde_json::json!({
        "schema_version": newswire_model::SCHEMA_VERSION,
        "id": id.as_str(),
        "source_id": "news-example",
        "feed_url": "https://news.example/rss.xml",
        "title": format!("Title {n}"),
        "text": format!("Text {n}."),
        "language": "en",
        "category": "world",
        "fetched_at": "2025-03-01T12:00:30Z",
        "processed_at": "2025-03-01T12:00:31Z",
        "fingerprints": { "content_hash": format!("hash-{n}") },
    }))
    .unwrap()
}

/// A NUL in a string that ends up in JSONB (22P05) and a NUL in a text column (22021) are
/// rejected data; the whole batch is rolled back, and the good article alone is stored.
#[tokio::test]
async fn postgres_nul_bytes_are_rejected() {
    let db = PgDb::create().await;
    let store = PgStore::connect(&db.url, 2).await.unwrap();
    let mut in_meta = article(1);
    in_meta.summary = Some("a \u{0} b".to_owned());
    let mut in_title = article(2);
    in_title.title = "a \u{0} b".to_owned();
    for bad in [in_meta, in_title] {
        let e = store.upsert(&[article(3), bad]).await.unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Rejected, "{e:?}");
        assert!(e.db_message().contains("code 22"), "{}", e.db_message());
    }
    assert_eq!(store.count().await.unwrap(), 0, "a failed batch is rolled back");
    store.upsert(&[article(3)]).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 1);
}

/// Nothing listens on the port: connection refused, so `Unavailable` (not `Fatal`: the sink
/// waits for its database at start-up too).
#[tokio::test]
async fn postgres_connection_refused_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = PgStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"), 1).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e:?}");
}

/// SQLite accepts NULs and any length up to 1 GB, so articles have no natural data error; a
/// real constraint violation (NOT NULL) on the store's own file checks the mapping instead.
#[tokio::test]
async fn sqlite_constraint_violation_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("articles.db");
    let store = SqliteStore::open(&path, 1).await.unwrap();
    store.upsert(&[article(1)]).await.unwrap();
    drop(store);
    // A trigger refusing one title turns that article into a row SQLite rejects
    // (SQLITE_CONSTRAINT_TRIGGER), as a CHECK would.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = 'Title 2'
         BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = SqliteStore::open(&path, 1).await.unwrap();
    let e = store.upsert(&[article(3), article(2)]).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Rejected, "{e:?}");
    assert_eq!(store.count().await.unwrap(), 1);
    store.upsert(&[article(3)]).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
}
