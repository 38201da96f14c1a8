//! The foundation's promise: feeds in, each article stored exactly once.

use std::time::Duration;

use newswire_model::ArticleId;
use newswire_store::{ArticleQueries, ArticleStore};
use newswire_testkit::{Route, http_get, scrape_metric, seeds, wait_until};

use crate::helpers::{Backend, spawn_pipeline};

async fn seeds_in_rss_and_atom_are_stored_once(backend: Backend) {
    let p = spawn_pipeline(backend).await;
    let results = p.poll(&[("seeds-rss", "/seeds.rss"), ("seeds-atom", "/seeds.atom")]).await;
    for (feed, r) in &results {
        let stats = r.as_ref().unwrap_or_else(|e| panic!("{feed}: {e}"));
        assert_eq!(stats.entries, 5, "{feed}");
    }
    assert_eq!(p.wait_for_articles(5).await, 5);

    // Every seed is there, under the id of its canonical link, with clean text.
    let store = p.store().await;
    for seed in seeds::load() {
        let id = ArticleId::from_url(&newswire_model::CanonicalUrl::parse(&seed.link, None).unwrap());
        let a = store.get(&id).await.unwrap().unwrap_or_else(|| panic!("{} not stored", seed.stem));
        // Cleaning may drop a section label or a wire prefix, never invent a title.
        let lines: Vec<String> =
            std::iter::once(&seed.title).chain(&seed.paragraphs).map(|l| collapse(l)).collect();
        assert!(
            !a.title.is_empty() && lines.iter().any(|l| l.contains(&a.title)),
            "{}: title {:?}",
            seed.stem,
            a.title
        );
        assert_eq!(a.language.as_str(), "ar");
        assert!(!a.text.contains("<p>"), "{}: markup left in text", seed.stem);
        // The lead: the longest of the first three lines (the others may be labels or dates).
        let longest =
            seed.paragraphs.iter().take(3).max_by_key(|p| p.len()).map(|p| collapse(p)).unwrap_or_default();
        assert!(a.text.contains(&longest), "{}: the lead paragraph is missing", seed.stem);
        assert_eq!(a.published_at.map(|d| d.to_rfc3339()), Some(chrono_like(&seed.published)));
    }

    // Polling again (and the JSON Feed with the same articles) stores nothing new.
    let again = p
        .poll(&[("seeds-rss", "/seeds.rss"), ("seeds-atom", "/seeds.atom"), ("seeds-json", "/seeds.json")])
        .await;
    assert!(again.iter().all(|(_, r)| r.is_ok()));
    p.wait_drained().await;
    assert_eq!(store.count().await.unwrap(), 5);
}

/// Whitespace runs (no-break spaces included) as one space, as cleaning leaves them.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2025-02-16T09:30:00Z` as chrono's `to_rfc3339` prints it.
fn chrono_like(rfc3339_z: &str) -> String {
    rfc3339_z.replace('Z', "+00:00")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_in_rss_and_atom_end_up_as_five_rows_in_sqlite() {
    seeds_in_rss_and_atom_are_stored_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_in_rss_and_atom_end_up_as_five_rows_in_postgres() {
    seeds_in_rss_and_atom_are_stored_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoints_show_the_counts() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    p.poll(&[("seeds-rss", "/seeds.rss"), ("seeds-atom", "/seeds.atom")]).await;
    p.wait_for_articles(5).await;
    let fetcher = format!("http://{}/metrics", p.fetcher_admin.addr);
    assert_eq!(scrape_metric(&fetcher, "newswire_fetcher_items_in_total").await, 10.0);
    // The Atom copies carry the same ids: JetStream drops them as duplicates.
    assert_eq!(scrape_metric(&fetcher, "newswire_fetcher_items_out_total").await, 5.0);
    assert_eq!(
        scrape_metric(&fetcher, "newswire_fetcher_items_dropped_total{reason=\"duplicate\"}").await,
        5.0
    );
    assert_eq!(scrape_metric(&fetcher, "newswire_fetcher_polls_total{result=\"ok\"}").await, 2.0);
    let all = seeds::load();
    let body_bytes = seeds::rss(&all).len() + seeds::atom(&all).len();
    assert_eq!(scrape_metric(&fetcher, "newswire_fetcher_fetched_bytes_total").await, body_bytes as f64);
    let processor = p.processor.as_ref().unwrap().metrics_url();
    assert_eq!(scrape_metric(&processor, "newswire_processor_items_in_total").await, 5.0);
    assert_eq!(scrape_metric(&processor, "newswire_processor_items_out_total").await, 5.0);
    let sink = p.sink.as_ref().unwrap().metrics_url();
    assert_eq!(scrape_metric(&sink, "newswire_sink_items_in_total").await, 5.0);
    assert_eq!(scrape_metric(&sink, "newswire_sink_articles_stored_total{result=\"inserted\"}").await, 5.0);
    assert_eq!(scrape_metric(&sink, "newswire_sink_items_failed_total").await, 0.0);

    // Health endpoints answer on the same port.
    let sink_addr = p.sink.as_ref().unwrap().admin.addr;
    let ready = http_get(&format!("http://{sink_addr}/readyz")).await;
    assert_eq!(ready, (200, "ready\n".to_owned()));
    assert_eq!(http_get(&format!("http://{sink_addr}/healthz")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_feed_beside_good_ones_loses_nothing_else() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    p.feeds
        .set("/broken.xml", Route::body("application/rss+xml", "<rss><channel><item><title>x</item></rss"));
    p.feeds.set("/page.html", Route::body("text/html", "<!DOCTYPE html><html><body>hi</body></html>"));
    let results =
        p.poll(&[("broken", "/broken.xml"), ("seeds-rss", "/seeds.rss"), ("page", "/page.html")]).await;
    let errors: Vec<String> =
        results.iter().filter_map(|(_, r)| r.as_ref().err().map(|e| e.to_string())).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("malformed feed")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("not a feed: an HTML page")), "{errors:?}");
    assert_eq!(p.wait_for_articles(5).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_get_skips_unchanged_feeds_and_sees_changes() {
    let p = spawn_pipeline(Backend::Sqlite).await;
    let guard = newswire_fetch::NetGuard { allow_private: true, allow_files: false };
    let toml = format!("[[feed]]\nid = \"seeds\"\nurl = \"{}\"\n", p.feeds.url("/seeds.rss"));
    let list =
        newswire_fetch::FeedList::parse(&toml, "test", &guard, std::time::Duration::from_secs(60)).unwrap();
    let feed = &list.feeds[0];
    let mut validators = newswire_fetch::Validators::default();
    let first = p.fetcher.poll(feed, &mut validators).await.unwrap();
    assert_eq!((first.entries, first.published, first.not_modified), (5, 5, false));
    assert!(validators.etag.is_some(), "the ETag is kept for the next poll");
    let second = p.fetcher.poll(feed, &mut validators).await.unwrap();
    assert!(second.not_modified, "unchanged feed must answer 304: {second:?}");
    // The feed changes: one new article at the top.
    let mut all = seeds::load();
    let mut extra = all[0].clone();
    extra.link = "https://another-outlet.example/news/extra".into();
    extra.title = "خبر جديد".into();
    all.insert(0, extra);
    p.feeds.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&all)));
    let third = p.fetcher.poll(feed, &mut validators).await.unwrap();
    // The five known entries are not even sent: the fetcher remembers publishing them.
    assert_eq!((third.entries, third.published, third.duplicates, third.seen), (6, 1, 0, 5));
    assert_eq!(p.wait_for_articles(6).await, 6);
    let fetcher = format!("http://{}/metrics", p.fetcher_admin.addr);
    assert_eq!(scrape_metric(&fetcher, "newswire_fetcher_polls_total{result=\"not_modified\"}").await, 1.0);
}

async fn a_corrected_article_is_stored_as_a_revision_with_its_history(backend: Backend) {
    let p = spawn_pipeline(backend).await;
    let all = seeds::load();
    let first = seeds::rss(&all);
    p.feeds.set("/revised.rss", Route::body("application/rss+xml", first.clone()));
    p.poll(&[("revised", "/revised.rss")]).await;
    assert_eq!(p.wait_for_articles(all.len() as u64).await, all.len() as u64);

    // The outlet corrects the second article's lead paragraph, inside the duplicate window.
    let seed = &all[1];
    let lead = seed.paragraphs.iter().take(3).max_by_key(|p| p.len()).cloned().unwrap_or_default();
    let fixed_lead = format!("{lead} (تصحيح: التاريخ الصحيح هو الأحد)");
    let corrected =
        first.replace(&seeds::xml_escape(&lead), &seeds::xml_escape(&fixed_lead)).replace(&lead, &fixed_lead);
    assert_ne!(corrected, first, "the test must change the feed");
    p.feeds.set("/revised.rss", Route::body("application/rss+xml", corrected));
    let results = p.poll(&[("revised", "/revised.rss")]).await;
    let stats = results[0].1.as_ref().unwrap_or_else(|e| panic!("poll: {e}"));
    assert_eq!((stats.published, stats.duplicates), (1, 0), "the changed entry gets through JetStream");

    let store = p.store().await;
    let id = ArticleId::from_url(&newswire_model::CanonicalUrl::parse(&seed.link, None).unwrap());
    let current = wait_until(std::time::Duration::from_secs(30), "the revision to be stored", || async {
        let a = store.get(&id).await.ok()??;
        a.revision.is_some().then_some(a)
    })
    .await;
    let r = current.revision.clone().unwrap();
    assert_eq!((r.number, r.changed), (1, newswire_model::RevisionChange::Text));
    assert!(r.similarity > 0.5 && r.similarity < 1.0, "{}", r.similarity);
    assert!(current.text.contains("تصحيح"), "the row holds the corrected text");
    let history = store.revisions(&id).await.unwrap();
    assert_eq!(history.len(), 1, "the first version is archived");
    assert_eq!(history[0].0, 0);
    assert!(!history[0].1.text.contains("تصحيح") && history[0].1.text.contains(&collapse(&lead)));
    p.wait_drained().await;
    assert_eq!(store.count().await.unwrap(), all.len() as u64, "still one row per article");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_article_is_a_revision_in_sqlite() {
    a_corrected_article_is_stored_as_a_revision_with_its_history(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_article_is_a_revision_in_postgres() {
    a_corrected_article_is_stored_as_a_revision_with_its_history(Backend::Postgres).await;
}

/// The sink as configured by default on PostgreSQL: rows are stored without their search
/// terms, and the sink's indexer makes them searchable right after the commit (بوتن finds
/// بوتين), counting what it indexed and showing no lag once the queue is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_sink_indexes_search_after_the_commit() {
    let p = spawn_pipeline(Backend::Postgres).await;
    assert_eq!(p.settings.sink.search_indexing, newswire_store::SearchIndexing::Deferred, "the default");
    p.poll(&[("seeds-rss", "/seeds.rss")]).await;
    assert_eq!(p.wait_for_articles(5).await, 5);
    let sink = p.sink.as_ref().unwrap().metrics_url();
    wait_until(Duration::from_secs(30), "five articles indexed for search", || async {
        (scrape_metric(&sink, "newswire_sink_search_indexed_total").await == 5.0).then_some(())
    })
    .await;
    assert_eq!(scrape_metric(&sink, "newswire_sink_search_lag_seconds").await, 0.0);
    assert_eq!(scrape_metric(&sink, "newswire_sink_search_index_errors_total").await, 0.0);

    let store = p.store().await;
    let none = newswire_store::ArticleFilter::default();
    let hits = store.search("بوتن", &none, 10).await.unwrap();
    assert!(!hits.is_empty(), "بوتن finds the seeds that name بوتين");
    for h in &hits {
        let a = &h.article;
        assert!(
            [&a.title, &a.text].iter().any(|t| t.contains("بوتين") || t.contains("بوتن")),
            "{}: a hit names him",
            a.id
        );
    }
}
