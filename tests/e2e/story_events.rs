//! Story events on `news.stories.<lang>`: a story two outlets share gives `created`, then
//! `new_outlet`; a sink killed and restarted, and articles delivered again, add no event.

use std::time::Duration;

use newswire_bus::{NewsStream, RangeEnd, RangeStart};
use newswire_model::{StoryEvent, StoryEventKind};
use newswire_testkit::{Route, scrape_metric, seeds, wait_until};

use crate::helpers::{Backend, TestPipeline, spawn_pipeline};

/// Every story event in the stream, oldest first, with its `Nats-Msg-Id`.
async fn story_events(p: &TestPipeline) -> Vec<(StoryEvent, Option<String>)> {
    let mut r =
        p.bus.read_range(NewsStream::Stories, None, RangeStart::Sequence(1), RangeEnd::Now).await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = r.next().await.unwrap() {
        assert!(m.subject.starts_with("news.stories."), "{}", m.subject);
        let id = m.header("Nats-Msg-Id").map(str::to_owned);
        out.push((serde_json::from_slice(&m.payload).unwrap(), id));
    }
    out
}

async fn wait_for_events(p: &TestPipeline, n: usize) -> Vec<(StoryEvent, Option<String>)> {
    wait_until(Duration::from_secs(30), &format!("{n} story events"), || async {
        let e = story_events(p).await;
        (e.len() >= n).then_some(e)
    })
    .await
}

async fn a_story_two_outlets_share(backend: Backend) {
    let mut p = spawn_pipeline(backend).await;
    let all = seeds::load();
    let by_prefix = |pre: &str| all.iter().find(|s| s.stem.starts_with(pre)).cloned().unwrap();
    // 000 and 002: the same Lavrov–Rubio call from two outlets (see the seeds README).
    p.feeds.set("/a.rss", Route::body("application/rss+xml", seeds::rss(&[by_prefix("000")])));
    p.feeds.set("/b.rss", Route::body("application/rss+xml", seeds::rss(&[by_prefix("002")])));

    p.poll(&[("outlet-a", "/a.rss")]).await;
    assert_eq!(p.wait_for_articles(1).await, 1);
    let events = wait_for_events(&p, 1).await;
    let (created, id) = &events[0];
    assert_eq!(created.kind, StoryEventKind::Created);
    assert_eq!(created.language.as_str(), "ar");
    assert_eq!(created.article_count, 1);
    assert_eq!(created.outlets.iter().map(|o| o.as_str()).collect::<Vec<_>>(), ["outlet-a"]);
    assert_eq!(created.first_outlet.as_str(), "outlet-a");
    assert_eq!(id.as_deref(), Some(created.msg_id().as_str()));

    p.poll(&[("outlet-b", "/b.rss")]).await;
    assert_eq!(p.wait_for_articles(2).await, 2);
    let events = wait_for_events(&p, 2).await;
    let (grown, _) = &events[1];
    assert_eq!(grown.kind, StoryEventKind::NewOutlet, "{events:?}");
    assert_eq!(grown.story_id, created.story_id, "002 joins 000's story");
    assert_eq!(grown.article_count, 2);
    // 002 was published a day before 000: outlet-b carried the story first (by article time,
    // not by arrival), and its article is the story's first.
    assert_eq!(grown.outlets.iter().map(|o| o.as_str()).collect::<Vec<_>>(), ["outlet-b", "outlet-a"]);
    assert_eq!(grown.first_outlet.as_str(), "outlet-b");
    assert!(grown.first_seen < grown.last_seen);
    assert!(grown.version > created.version);

    // The sink dies abruptly and comes back: the outbox holds nothing due, nothing is
    // published again. The articles delivered once more (as after a crash before the ack) are
    // `unchanged` and cause no event.
    p.sink.take().unwrap().kill().await;
    p.sink = Some(p.start_sink().await);
    let store = p.store().await;
    for a in newswire_store::ArticleStore::recent(&store, 10).await.unwrap() {
        p.bus.send_article_as(&a, &format!("{}.again", a.id)).await.unwrap().acked().await.unwrap();
    }
    p.wait_drained().await;
    let sink_metrics = p.sink.as_ref().unwrap().metrics_url();
    wait_until(Duration::from_secs(10), "the redelivered articles to be seen as unchanged", || async {
        (scrape_metric(&sink_metrics, "newswire_sink_articles_stored_total{result=\"unchanged\"}").await
            == 2.0)
            .then_some(())
    })
    .await;
    // A publish whose marking was lost (a crash in between) is sent again with the same
    // `Nats-Msg-Id`: JetStream drops it.
    let again = p.bus.publish_story_event(&grown.clone()).await.unwrap();
    assert!(again.duplicate);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = story_events(&p).await;
    assert_eq!(events.len(), 2, "no duplicate events: {events:?}");
    assert_eq!(scrape_metric(&sink_metrics, "newswire_sink_story_events_failed_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_two_outlets_share_gives_created_then_new_outlet_once_sqlite() {
    a_story_two_outlets_share(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_two_outlets_share_gives_created_then_new_outlet_once_postgres() {
    a_story_two_outlets_share(Backend::Postgres).await;
}
