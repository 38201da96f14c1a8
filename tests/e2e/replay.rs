//! `newswire replay`: a range of the raw stream processed again with a changed setting stores
//! no second row and moves the articles whose story changed; it refuses while a processor decides; a dry run publishes nothing; the same
//! replay twice publishes once.

use std::collections::HashMap;

use newswire_bus::{NewsStream, RangeEnd, RangeStart};
use newswire_model::Article;
use newswire_process::replay::{ReplayError, ReplayOptions, ReplayRange, replay};
use newswire_store::ArticleStore;
use newswire_testkit::{Route, scrape_metric, seeds};

use crate::helpers::{Backend, TestPipeline, spawn_pipeline};
use crate::services::service;

/// Articles of the article stream from `from` on, with their `Nats-Msg-Id`s.
async fn articles_from(p: &TestPipeline, from: u64) -> Vec<(Article, String)> {
    let mut r = p
        .bus
        .read_range(NewsStream::Articles, None, RangeStart::Sequence(from), RangeEnd::Now)
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(m) = r.next().await.unwrap() {
        let id = m.header("Nats-Msg-Id").unwrap_or_default().to_owned();
        out.push((serde_json::from_slice(&m.payload).unwrap(), id));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_with_a_changed_threshold_republishes_without_duplicating_rows() {
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    p.feeds.set("/seeds.rss", Route::body("application/rss+xml", seeds::rss(&seeds::load())));
    p.poll(&[("seeds-rss", "/seeds.rss")]).await;
    assert_eq!(p.wait_for_articles(5).await, 5);
    let original: HashMap<String, Article> =
        articles_from(&p, 1).await.into_iter().map(|(a, _)| (a.id.to_string(), a)).collect();
    let stories = |arts: &mut dyn Iterator<Item = &Article>| {
        let mut s: Vec<String> = arts.filter_map(|a| a.story_id.clone()).collect();
        s.sort();
        s.dedup();
        s.len()
    };
    let before = stories(&mut original.values());
    assert!(before < 5, "the seeds share stories (000 and 002 at least)");
    let range = ReplayRange { start: RangeStart::Sequence(1), end: RangeEnd::Now };

    // A processor is deciding: the replay refuses.
    let r = replay(&p.bus, &p.settings.processor, range, ReplayOptions::default(), |_| {}, |_| {}).await;
    assert!(matches!(r, Err(ReplayError::LeaseHeld)), "{r:?}");

    // Stopped (the lease is released); the threshold raised so that no two seeds share a story.
    p.processor.take().unwrap().stop().await;
    let mut settings = p.settings.processor.clone();
    settings.story_threshold = 0.99;
    let stream_before = p.bus.stream_state(NewsStream::Articles).await.unwrap().last;

    // A dry run decides with the new setting and publishes nothing.
    let mut dry = Vec::new();
    let options = ReplayOptions { dry_run: true, force: false };
    let report = replay(&p.bus, &settings, range, options, |a| dry.push(a.clone()), |_| {}).await.unwrap();
    assert_eq!((report.items, report.articles, report.held_lease), (5, 5, false));
    assert_eq!(stories(&mut dry.iter()), 5, "every seed its own story at 0.99");
    assert_eq!(p.bus.stream_state(NewsStream::Articles).await.unwrap().last, stream_before);

    let mut progress = 0;
    let report =
        replay(&p.bus, &settings, range, ReplayOptions::default(), |_| {}, |_| progress += 1).await.unwrap();
    assert_eq!((report.items, report.articles, report.bus_duplicates), (5, 5, 0));
    assert!(report.held_lease && progress >= 1);
    p.wait_drained().await;
    let replayed = articles_from(&p, stream_before + 1).await;
    assert_eq!(replayed.len(), 5);
    for (a, msg_id) in &replayed {
        assert!(msg_id.starts_with(&format!("{}.replay.", a.id)), "{msg_id}");
        let o = &original[&a.id.to_string()];
        assert_eq!((&a.title, &a.fingerprints.content_hash), (&o.title, &o.fingerprints.content_hash));
    }
    assert_eq!(stories(&mut replayed.iter().map(|(a, _)| a)), 5, "the changed setting applied");

    // Same ids, same rows: nothing duplicated; the rows whose story or copy decision changed
    // are rewritten with it, the others left alone.
    let store = p.store().await;
    assert_eq!(store.count().await.unwrap(), 5);
    let decision = |a: &Article| (a.story_id.clone(), a.duplicate.as_ref().map(|d| d.of.clone()));
    let moved =
        replayed.iter().filter(|(a, _)| decision(a) != decision(&original[&a.id.to_string()])).count();
    assert!(moved >= 1, "the raised threshold splits a shared story");
    for (a, _) in &replayed {
        let row = store.get(&a.id).await.unwrap().unwrap();
        assert_eq!(decision(&row), decision(a), "{}: the store holds the replay's decisions", a.id);
    }
    let sink = p.sink.as_ref().unwrap().metrics_url();
    let stored = |result: &str| {
        let sink = sink.clone();
        let name = format!("newswire_sink_articles_stored_total{{result=\"{result}\"}}");
        async move { scrape_metric(&sink, &name).await }
    };
    assert_eq!(stored("inserted").await, 5.0);
    assert_eq!(stored("updated").await, moved as f64);
    assert_eq!(stored("unchanged").await, (5 - moved) as f64);

    // The same replay again: the same decisions, dropped by JetStream inside its window.
    let report = replay(&p.bus, &settings, range, ReplayOptions::default(), |_| {}, |_| {}).await.unwrap();
    assert_eq!(report.bus_duplicates, 5);
    assert_eq!(store.count().await.unwrap(), 5);

    // The command line: a bounded range by sequence, as a dry run, JSON lines on stdout.
    let env =
        vec![("NEWSWIRE_NATS__URL", p.nats.url()), ("NEWSWIRE_PROCESSOR__STORY_THRESHOLD", "0.99".into())];
    let out = service("newswire", &env)
        .args(["replay", "--from-seq", "2", "--to-seq", "3", "--dry-run"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "{stderr}");
    assert!(stderr.contains("seq 3 of 3") && stderr.contains("items/s"), "{stderr}");
    let out =
        service("newswire", &env).args(["replay", "--since", "1h", "--dry-run"]).output().await.unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
}
