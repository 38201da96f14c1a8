//! The processor's memory across restarts and replicas: every copy is marked as a copy of the
//! first-processed article of its group, whichever processor saw the original.

use std::time::Duration;

use newswire_model::{ArticleId, CanonicalUrl, DuplicateKind};
use newswire_store::ArticleStore;
use newswire_testkit::seeds::{Seed, rss};
use newswire_testkit::{Route, wait_until};

use crate::helpers::{Backend, TestPipeline, spawn_pipeline};

/// Originals and their copies. Each original is distinct text (its own words and numbers);
/// every fourth has an exact copy and every seventh a near copy (another outlet's footer
/// added), both under other links and published later.
struct Farm {
    originals: Vec<Seed>,
    copies: Vec<(Seed, String)>,
}

fn farm(n: usize) -> Farm {
    let mut originals = Vec::new();
    let mut copies = Vec::new();
    for i in 0..n {
        let paragraphs: Vec<String> = (0..6)
            .map(|p| {
                (0..40)
                    .map(|w| match (w * 7 + p * 3 + i) % 5 {
                        0 => format!("report{i}x{p}x{w}"),
                        1 => format!("event{}", (i * 31 + w) % 997),
                        _ => format!("word{}", (i * 13 + p * 17 + w * 29) % 4001),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "."
            })
            .collect();
        let original = Seed {
            stem: format!("o{i}"),
            title: format!("Headline number {i} about event{}", i % 997),
            paragraphs,
            link: format!("https://origin.example/news/{i}"),
            published: format!("2025-03-01T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
        };
        let later = format!("2025-03-02T{:02}:{:02}:00Z", i / 60 % 24, i % 60);
        if i % 4 == 0 {
            let mut c = original.clone();
            c.stem = format!("e{i}");
            c.link = format!("https://copier.example/exact/{i}");
            c.published = later.clone();
            copies.push((c, original.link.clone()));
        } else if i % 7 == 0 {
            let mut c = original.clone();
            c.stem = format!("n{i}");
            c.link = format!("https://copier.example/near/{i}");
            c.published = later.clone();
            c.paragraphs
                .push("Republished with permission; all rights reserved by the original publisher.".into());
            copies.push((c, original.link.clone()));
        }
        originals.push(original);
    }
    Farm { originals, copies }
}

fn id(link: &str) -> ArticleId {
    ArticleId::from_url(&CanonicalUrl::parse(link, None).unwrap())
}

/// Serves the originals at `/originals.rss` and the copies at `/copies.rss`.
fn serve(p: &TestPipeline, f: &Farm) {
    p.feeds.set("/originals.rss", Route::body("application/rss+xml", rss(&f.originals)));
    let copies: Vec<Seed> = f.copies.iter().map(|(c, _)| c.clone()).collect();
    p.feeds.set("/copies.rss", Route::body("application/rss+xml", rss(&copies)));
}

/// Every original stored as an original, every copy as a copy of its original.
async fn assert_every_copy_marked(p: &TestPipeline, f: &Farm) {
    let total = (f.originals.len() + f.copies.len()) as u64;
    assert_eq!(p.wait_for_articles(total).await, total);
    let store = p.store().await;
    for o in &f.originals {
        let a = store.get(&id(&o.link)).await.unwrap().unwrap_or_else(|| panic!("{} missing", o.link));
        assert_eq!(a.duplicate, None, "{} is an original", o.link);
    }
    for (c, of) in &f.copies {
        let a = store.get(&id(&c.link)).await.unwrap().unwrap_or_else(|| panic!("{} missing", c.link));
        let d = a.duplicate.unwrap_or_else(|| panic!("{} escaped: not marked as a copy", c.link));
        assert_eq!(d.of, id(of), "{} is a copy of {of}", c.link);
        if c.link.contains("/exact/") {
            assert_eq!(d.kind, DuplicateKind::Exact, "{}", c.link);
        }
    }
}

/// Every group (an original and its copies) stored with exactly one canonical member and every
/// other member marked as a copy of it, every original outside a group stored as an original:
/// "a copy of the first-processed article of its group". After a crash the messages the dead
/// replica held come back only after the consumer's ack wait, behind newer ones, so a copy
/// can be processed before its original and become the canonical member.
async fn assert_every_group_has_one_canonical(p: &TestPipeline, f: &Farm) {
    let total = (f.originals.len() + f.copies.len()) as u64;
    assert_eq!(p.wait_for_articles(total).await, total);
    let store = p.store().await;
    for o in &f.originals {
        let mut members = vec![o.link.clone()];
        members.extend(f.copies.iter().filter(|(_, of)| *of == o.link).map(|(c, _)| c.link.clone()));
        let mut stored = Vec::new();
        for link in &members {
            let a = store.get(&id(link)).await.unwrap().unwrap_or_else(|| panic!("{link} missing"));
            stored.push((link.clone(), a.duplicate));
        }
        let canonical: Vec<&String> = stored.iter().filter(|(_, d)| d.is_none()).map(|(l, _)| l).collect();
        assert_eq!(canonical.len(), 1, "group of {}: one canonical member, got {canonical:?}", o.link);
        for (link, d) in &stored {
            if let Some(d) = d {
                assert_eq!(
                    d.of,
                    id(canonical[0]),
                    "{link} is a copy of the group's canonical {}",
                    canonical[0]
                );
            }
        }
    }
}

async fn pipeline_for_replicas() -> TestPipeline {
    let mut p = spawn_pipeline(Backend::Sqlite).await;
    // A stopped replica's lease expires quickly in tests.
    p.settings.processor.lease_ttl_secs = 2;
    p.processor.take().unwrap().stop().await;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_killed_mid_stream_is_replaced_and_every_copy_is_still_marked() {
    let mut p = pipeline_for_replicas().await;
    let f = farm(240);
    serve(&p, &f);
    p.poll(&[("originals", "/originals.rss")]).await;
    p.poll(&[("copies", "/copies.rss")]).await;
    p.settings.processor.batch_size = 16;
    p.processor = Some(p.start_processor().await);
    let store = p.store().await;
    wait_until(Duration::from_secs(60), "a first part of the stream stored", || async {
        (store.count().await.ok()? >= 60).then_some(())
    })
    .await;
    // Killed like a process: no lease release, unacked messages left to redeliver.
    p.processor.take().unwrap().kill().await;
    let at_kill = store.count().await.unwrap();
    assert!(at_kill < (f.originals.len() + f.copies.len()) as u64, "the kill must land mid-stream");
    p.processor = Some(p.start_processor().await);
    assert_every_group_has_one_canonical(&p, &f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_processor_remembers_what_it_published_before() {
    let mut p = pipeline_for_replicas().await;
    let f = farm(60);
    serve(&p, &f);
    p.processor = Some(p.start_processor().await);
    p.poll(&[("originals", "/originals.rss")]).await;
    assert_eq!(p.wait_for_articles(60).await, 60);
    p.processor.take().unwrap().stop().await;
    // The copies arrive while no processor runs; the new one has only the stream to go by.
    p.poll(&[("copies", "/copies.rss")]).await;
    p.processor = Some(p.start_processor().await);
    assert_every_copy_marked(&p, &f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_decide_like_one_and_a_standby_takes_over() {
    let mut p = pipeline_for_replicas().await;
    let f = farm(160);
    serve(&p, &f);
    p.settings.processor.batch_size = 16;
    let first = p.start_processor().await;
    let second = p.start_processor().await;
    p.poll(&[("originals", "/originals.rss")]).await;
    p.poll(&[("copies", "/copies.rss")]).await;
    assert_every_copy_marked(&p, &f).await;

    // Kill one replica abruptly (whichever was active, the other must carry on), then send
    // more copies of the same originals under new links.
    first.kill().await;
    let more: Vec<(Seed, String)> = f
        .copies
        .iter()
        .map(|(c, of)| {
            let mut c = c.clone();
            c.link = c.link.replace("copier.example", "second-copier.example");
            (c, of.clone())
        })
        .collect();
    let again = Farm { originals: f.originals.clone(), copies: more };
    serve(&p, &again);
    p.poll(&[("copies2", "/copies.rss")]).await;
    assert_every_copy_marked_in(&p, &again, (f.originals.len() + 2 * f.copies.len()) as u64).await;
    second.stop().await;
}

async fn assert_every_copy_marked_in(p: &TestPipeline, f: &Farm, total: u64) {
    assert_eq!(p.wait_for_articles(total).await, total);
    let store = p.store().await;
    for (c, of) in &f.copies {
        let a = store.get(&id(&c.link)).await.unwrap().unwrap_or_else(|| panic!("{} missing", c.link));
        let d = a.duplicate.unwrap_or_else(|| panic!("{} escaped: not marked as a copy", c.link));
        assert_eq!(d.of, id(of), "{} is a copy of {of}", c.link);
    }
}
