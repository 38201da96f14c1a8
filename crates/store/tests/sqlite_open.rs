//! Several openers of one new SQLite file at once (`newswire run` starts the sink and the API
//! together; a test opens the file its services write): every opener gets the store. The
//! openers here are tasks of one process, each with its own connections, which SQLite locks
//! against each other as it locks processes.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use newswire_store::{ArticleStore, SqliteStore};
use newswire_testkit::articles::article;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openers_racing_on_a_new_file_all_open_it() {
    let dir = tempfile::tempdir().unwrap();
    // The race is in the first moments of a new file (its switch to WAL, its first
    // migration): many rounds of a handful of openers each make it likely to happen.
    for round in 0..30 {
        let path = dir.path().join(format!("round-{round}.db"));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move { SqliteStore::open(&path, 2).await })
            })
            .collect();
        let mut stores = Vec::new();
        for (n, opener) in openers.into_iter().enumerate() {
            match opener.await.unwrap() {
                Ok(store) => stores.push(store),
                Err(e) => panic!("round {round}, opener {n}: {e}"),
            }
        }
        // Each opener has a working store over the same schema.
        for (n, store) in stores.iter().enumerate() {
            let a = article("open-race", n, "news-example", "en", &format!("Title {n}"), "Body.");
            store.upsert(&[a]).await.unwrap();
        }
        assert_eq!(stores[0].count().await.unwrap(), 6, "round {round}: one row per opener");
    }
}
