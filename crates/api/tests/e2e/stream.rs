//! The live stream against a real nats-server: articles, revisions and story events published
//! on JetStream reach the clients whose filters they pass; `Last-Event-ID` resumes without loss
//! or repeat (from the ring, from JetStream, across an API restart); keep-alives; a slow client
//! is dropped while a fast one receives everything.

use std::time::Duration;

use newswire_api::ApiSettings;
use newswire_model::{
    Article, ArticleId, Category, DuplicateInfo, DuplicateKind, Lang, Revision, RevisionChange,
    SCHEMA_VERSION, SourceId, StoryEvent, StoryEventKind,
};
use newswire_testkit::{TestNats, wait_until};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

fn story_event(id: &str, lang: &str, outlets: &[&str], version: u64) -> StoryEvent {
    let outlets: Vec<SourceId> = outlets.iter().map(|o| SourceId::parse(o).unwrap()).collect();
    StoryEvent {
        schema_version: SCHEMA_VERSION,
        story_id: id.to_owned(),
        language: Lang::parse(lang).unwrap(),
        kind: if version == 1 { StoryEventKind::Created } else { StoryEventKind::NewOutlet },
        article_count: version,
        first_outlet: outlets[0].clone(),
        outlets,
        first_article: ArticleId::digest(&[id]),
        first_seen: base_time(),
        last_seen: base_time(),
        version,
    }
}

async fn stream_api(nats: &TestNats, settings: ApiSettings) -> (TestApi, tempfile::TempDir) {
    let (store, dir) = sqlite_store().await;
    let api = spawn_api_with(store, settings, Some(reader_bus(nats).await), None).await;
    let hub = api.hub.clone();
    wait_until(WAIT, "the live stream to connect", || {
        let hub = hub.clone();
        async move { hub.is_connected().then_some(()) }
    })
    .await;
    (api, dir)
}

fn settings() -> ApiSettings {
    ApiSettings { keepalive_secs: 1, ..test_settings() }
}

/// Reads events until `n` have come: `(id, kind, article or story id)`.
async fn take(c: &mut SseClient, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let (id, kind, data) =
            c.next_event(WAIT).await.unwrap_or_else(|| panic!("only {} of {n} events", out.len()));
        let key =
            data.get("id").or_else(|| data.get("story_id")).and_then(|v| v.as_str()).unwrap().to_owned();
        out.push((id, kind, key));
    }
    out
}

/// Nothing more within a short while (keep-alives allowed).
async fn nothing_more(c: &mut SseClient) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < deadline {
        match c.next(Duration::from_millis(300)).await {
            Some(Sse::Event { id, event, data }) => panic!("unexpected {event} {id:?}: {data}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn published_articles_revisions_and_story_events_reach_the_clients_whose_filters_they_pass() {
    let nats = TestNats::start();
    let owner = owner_bus(&nats).await;
    let (api, _dir) = stream_api(&nats, settings()).await;
    let connect = |path: &'static str| SseClient::connect(api.addr, path, None, None);
    let mut all = connect("/v1/stream").await;
    let mut ar = connect("/v1/stream?lang=ar").await;
    let mut economy = connect("/v1/stream?category=economy&kinds=articles,revisions").await;
    let mut beta = connect("/v1/stream?source=beta").await;
    let mut stories = connect("/v1/stream?kinds=stories").await;
    let mut revisions = connect("/v1/stream?kinds=revisions").await;
    let mut dups = connect("/v1/stream?duplicates=show&kinds=articles").await;
    for c in [&mut all, &mut ar, &mut economy, &mut beta, &mut stories, &mut revisions, &mut dups] {
        assert!(c.head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{}", c.head);
        c.opened().await;
    }
    assert_eq!(api.metric("newswire_api_sse_clients").await, 7.0);

    let a0 = article(0, "alpha", "ar", "أ", "نص");
    let mut a1 = article(1, "beta", "en", "b", "text");
    a1.category = Category::parse("economy").unwrap();
    let mut copy = article(2, "gamma", "ar", "c", "copy");
    copy.duplicate = Some(DuplicateInfo { of: a0.id.clone(), kind: DuplicateKind::Exact, similarity: 1.0 });
    let mut rev = a1.clone();
    rev.text = "text, corrected".into();
    rev.revision = Some(Revision { number: 1, changed: RevisionChange::Text, similarity: 0.8 });
    for a in [&a0, &a1, &copy, &rev] {
        owner.publish_article(a).await.unwrap();
    }
    let story = story_event(a0.id.as_str(), "ar", &["alpha", "beta"], 2);
    owner.publish_story_event(&story).await.unwrap();

    let got = take(&mut all, 4).await;
    let mut kinds: Vec<(String, String)> = got.iter().map(|(_, k, key)| (k.clone(), key.clone())).collect();
    kinds.sort();
    let mut want = vec![
        ("article".to_owned(), a0.id.to_string()),
        ("article".to_owned(), a1.id.to_string()),
        ("revision".to_owned(), a1.id.to_string()),
        ("story".to_owned(), story.story_id.clone()),
    ];
    want.sort();
    assert_eq!(kinds, want, "the copy is hidden by default");
    assert!(got.iter().all(|(id, _, _)| id.starts_with('a') && id.contains("-s")), "{got:?}");
    let ar_got: Vec<String> = take(&mut ar, 2).await.into_iter().map(|(_, k, _)| k).collect();
    assert!(ar_got.contains(&"article".to_owned()) && ar_got.contains(&"story".to_owned()), "{ar_got:?}");
    let econ: Vec<String> = take(&mut economy, 2).await.into_iter().map(|(_, k, _)| k).collect();
    assert_eq!(econ, ["article", "revision"]);
    let beta_got = take(&mut beta, 3).await;
    assert_eq!(beta_got.iter().filter(|(_, k, _)| k == "story").count(), 1, "beta is among the outlets");
    assert_eq!(take(&mut stories, 1).await[0].1, "story");
    let r = take(&mut revisions, 1).await;
    assert_eq!((r[0].1.as_str(), r[0].2.as_str()), ("revision", a1.id.as_str()));
    let d: Vec<String> = take(&mut dups, 3).await.into_iter().map(|(_, _, key)| key).collect();
    assert_eq!(d, [a0.id.to_string(), a1.id.to_string(), copy.id.to_string()]);
    for c in [&mut ar, &mut economy, &mut beta, &mut stories, &mut revisions, &mut dups] {
        nothing_more(c).await;
    }

    // Keep-alive comments on an idle stream (every second here).
    let mut seen = false;
    for _ in 0..5 {
        if let Some(Sse::Comment(c)) = all.next(Duration::from_secs(3)).await {
            seen = c == "keep-alive";
            if seen {
                break;
            }
        }
    }
    assert!(seen, "a keep-alive comment on an idle stream");
    assert_eq!(api.metric("newswire_api_sse_events_total{kind=\"article\"}").await, 3.0);
    assert_eq!(api.metric("newswire_api_sse_events_total{kind=\"story\"}").await, 1.0);

    // A bad Last-Event-ID is a problem, not a stream from scratch.
    let bad = SseClient::connect(api.addr, "/v1/stream", Some("yesterday"), None).await;
    assert_eq!(bad.status, 400);
    drop((all, ar, economy, beta, stories, revisions, dups));
    api.stop().await;
}

#[tokio::test]
async fn last_event_id_resumes_without_loss_or_repeat_from_the_ring_from_jetstream_and_after_a_restart() {
    let nats = TestNats::start();
    let owner = owner_bus(&nats).await;
    // A ring of 5 events: older ones must be read back from JetStream.
    let small = ApiSettings { stream_buffer: 5, ..settings() };
    let (api, _dir) = stream_api(&nats, small.clone()).await;
    let articles: Vec<Article> = (0..30).map(|n| article(n, "alpha", "ar", &format!("t{n}"), "x")).collect();
    let key = |n: usize| articles[n].id.to_string();
    let keys = |r: std::ops::Range<usize>| r.map(key).collect::<Vec<_>>();

    let mut c = SseClient::connect(api.addr, "/v1/stream", None, None).await;
    c.opened().await;
    for a in &articles[0..3] {
        owner.publish_article(a).await.unwrap();
    }
    let first: Vec<String> = take(&mut c, 3).await.into_iter().map(|e| e.2).collect();
    assert_eq!(first, keys(0..3));
    let last = c.last_id.clone().unwrap();
    assert_eq!(last, "a3-s0");
    drop(c);

    // Missed while disconnected, still in the ring.
    for a in &articles[3..6] {
        owner.publish_article(a).await.unwrap();
    }
    wait_for_events(&api, 6).await;
    let mut c = SseClient::connect(api.addr, "/v1/stream", Some(&last), None).await;
    c.opened().await;
    let resumed: Vec<String> = take(&mut c, 3).await.into_iter().map(|e| e.2).collect();
    assert_eq!(resumed, keys(3..6));
    nothing_more(&mut c).await;
    assert_eq!(api.metric("newswire_api_sse_resumes_total{from=\"buffer\"}").await, 1.0);
    let last = c.last_id.clone().unwrap();
    drop(c);

    // Missed while disconnected, more than the ring holds: 6..16, the ring has 11..16.
    for a in &articles[6..16] {
        owner.publish_article(a).await.unwrap();
    }
    wait_for_events(&api, 16).await;
    let mut c = SseClient::connect(api.addr, "/v1/stream", Some(&last), None).await;
    c.opened().await;
    let resumed = take(&mut c, 10).await;
    assert_eq!(resumed.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), keys(6..16));
    let ids: Vec<&str> = resumed.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids.first(), Some(&"a7-s0"));
    assert_eq!(ids.last(), Some(&"a16-s0"));
    assert_eq!(api.metric("newswire_api_sse_resumes_total{from=\"jetstream\"}").await, 1.0);
    // And then live.
    owner.publish_article(&articles[16]).await.unwrap();
    assert_eq!(take(&mut c, 1).await[0].2, key(16));
    nothing_more(&mut c).await;
    let last = c.last_id.clone().unwrap();
    drop(c);
    api.stop().await;

    // The API restarts (an empty ring) while articles keep coming.
    for a in &articles[17..20] {
        owner.publish_article(a).await.unwrap();
    }
    let (api, _dir2) = stream_api(&nats, small).await;
    for a in &articles[20..22] {
        owner.publish_article(a).await.unwrap();
    }
    wait_for_events(&api, 2).await;
    let mut c = SseClient::connect(api.addr, "/v1/stream?lang=ar", Some(&last), None).await;
    c.opened().await;
    let resumed: Vec<String> = take(&mut c, 5).await.into_iter().map(|e| e.2).collect();
    assert_eq!(resumed, keys(17..22));
    nothing_more(&mut c).await;
    drop(c);
    api.stop().await;
}

async fn wait_for_events(api: &TestApi, n: u64) {
    let hub = api.hub.clone();
    wait_until(WAIT, "the hub to read the articles", || {
        let hub = hub.clone();
        async move { (hub_events(&hub) >= n).then_some(()) }
    })
    .await;
}

fn hub_events(hub: &newswire_api::stream::Hub) -> u64 {
    hub.metrics().sse_events.with_label_values(&["article"]).get()
}

#[tokio::test]
async fn a_slow_client_is_dropped_while_a_fast_one_receives_everything() {
    let nats = TestNats::start();
    let owner = owner_bus(&nats).await;
    let tight = ApiSettings { client_buffer: 128, ..settings() };
    let (api, _dir) = stream_api(&nats, tight).await;
    let mut fast = SseClient::connect(api.addr, "/v1/stream", None, None).await;
    fast.opened().await;
    // A client that reads nothing, with a small socket buffer.
    let mut slow = SseClient::connect(api.addr, "/v1/stream", None, Some(4096)).await;
    slow.opened().await;
    // 1,000 articles of ~13 kB: 13 MB, more than the slow client's socket buffers and queue hold.
    let n = 1000;
    let body = "كلمة ".repeat(1500);
    let fast_reader = tokio::spawn(async move {
        let got = take(&mut fast, n).await;
        (fast, got)
    });
    // In batches of 50, 20 ms apart (~2,500 articles/s): a burst, but one that a fast client in
    // a debug build follows within its 128-event queue.
    for batch in (0..n).collect::<Vec<_>>().chunks(50) {
        let mut pending = Vec::new();
        for &i in batch {
            let a = article(i, "alpha", "ar", &format!("t{i}"), &body);
            pending.push(owner.send_article(&a).await.unwrap());
        }
        for p in pending {
            p.acked().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut fast, got) = tokio::time::timeout(Duration::from_secs(60), fast_reader).await.unwrap().unwrap();
    let want: Vec<String> =
        (0..n).map(|i| ArticleId::digest(&["api-test", &i.to_string()]).to_string()).collect();
    assert_eq!(
        got.into_iter().map(|e| e.2).collect::<Vec<_>>(),
        want,
        "the fast client got every article, in order"
    );
    assert_eq!(api.metric("newswire_api_sse_clients_dropped_total").await, 1.0);
    // The slow client's stream ends once it reads what was queued for it.
    assert!(slow.ends_within(Duration::from_secs(20)).await, "the slow client's stream ends");
    let hub = api.hub.clone();
    wait_until(WAIT, "the slow client to be gone", || {
        let hub = hub.clone();
        async move { (hub.clients() == 1).then_some(()) }
    })
    .await;
    nothing_more(&mut fast).await;
    drop(fast);
    api.stop().await;
}
