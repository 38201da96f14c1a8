//! NATS authentication and per-service permissions with the deployment's own
//! `deploy/nats/nats.conf`: each stage logs in as its user and does its whole job (the real
//! stages, end to end, with no permission violation in the server's log), and a user that
//! tries another's job is refused: the fetcher cannot publish articles, the sink cannot
//! publish articles, the processor cannot publish raw items, the API publishes no pipeline
//! subject (it edits only the feed registry), and a wrong password is a fatal connect error.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use newswire_app::{Settings, run_fetcher, run_processor, run_sink};
use newswire_bus::{
    Bus, BusErrorKind, BusSettings, ClientRole, KvBucketName, NewsStream, RangeEnd, RangeStart,
};
use newswire_store::ArticleStore;
use newswire_telemetry::{Health, Registry};
use newswire_testkit::{ConfiguredNats, FeedServer, Route, http_get, seeds, wait_until};
use tokio_util::sync::CancellationToken;

use crate::helpers::start_stage;

const USERS: [&str; 5] = ["fetcher", "processor", "sink", "api", "admin"];

fn within<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(15), f)
}

fn password(user: &str) -> String {
    format!("{user}-pw-{}", std::process::id())
}

fn start_server() -> ConfiguredNats {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/nats.conf");
    let vars: Vec<(String, String)> =
        USERS.iter().map(|u| (format!("{}_NATS_PASSWORD", u.to_uppercase()), password(u))).collect();
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ConfiguredNats::start(&conf, &env)
}

fn as_user(nats: &ConfiguredNats, user: &str) -> BusSettings {
    BusSettings {
        url: nats.url(),
        user: Some(user.to_owned()),
        password: Some(password(user)),
        connect_timeout_secs: 5,
        ..BusSettings::default()
    }
}

/// Lines of the server's log about refused subjects (`Publish Violation - User "fetcher",
/// Subject "..."`, `Subscription Violation - ...`: logged as errors).
fn violations(nats: &ConfiguredNats) -> Vec<String> {
    nats.log().lines().filter(|l| l.contains(" Violation - User")).map(str::to_owned).collect()
}

/// A plain client of `user` that records the errors the server sends it (`-ERR`).
async fn plain_client(nats: &ConfiguredNats, user: &str) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client = async_nats::ConnectOptions::new()
        .user_and_password(user.to_owned(), password(user))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    seen.lock().unwrap().push(e.to_string());
                }
            }
        })
        .connect(nats.url())
        .await
        .unwrap_or_else(|e| panic!("{user} cannot log in: {e}"));
    (client, errors)
}

/// Publishes on `subject` as `user` and waits for the server's permission error.
async fn assert_publish_refused(nats: &ConfiguredNats, user: &str, subject: &str) {
    let (client, errors) = plain_client(nats, user).await;
    client.publish(subject.to_owned(), "x".into()).await.unwrap();
    client.flush().await.unwrap();
    let want = format!("Permissions Violation for Publish to \"{subject}\"");
    wait_until(Duration::from_secs(5), &format!("{user} refused publishing {subject}"), || async {
        errors.lock().unwrap().iter().any(|e| e.contains(&want)).then_some(())
    })
    .await;
}

/// Subscribes to `subject` as `user` and waits for the server's permission error.
async fn assert_subscribe_refused(nats: &ConfiguredNats, user: &str, subject: &str) {
    let (client, errors) = plain_client(nats, user).await;
    let _sub = client.subscribe(subject.to_owned()).await.unwrap();
    client.flush().await.unwrap();
    let want = format!("Permissions Violation for Subscription to \"{subject}\"");
    wait_until(Duration::from_secs(5), &format!("{user} refused subscribing to {subject}"), || async {
        errors.lock().unwrap().iter().any(|e| e.contains(&want)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stage_does_its_job_with_its_own_user_and_no_other() {
    newswire_testkit::init_logging();
    let nats = start_server();
    let feeds = FeedServer::start().await;
    feeds.set("/seeds.rss", Route::body("application/rss+xml; charset=utf-8", seeds::rss(&seeds::load())));
    let dir = tempfile::tempdir().unwrap();
    let feeds_file = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds_file,
        format!("[[feed]]\nid = \"seeds\"\nurl = \"{}\"\nlanguage = \"ar\"\n", feeds.url("/seeds.rss")),
    )
    .unwrap();
    let mut base = Settings::default();
    base.nats.ack_wait_secs = 2;
    base.fetcher.allow_private_networks = true;
    base.fetcher.feeds_file = feeds_file;
    base.sink.sqlite_path = dir.path().join("articles.db");
    let stage_settings = |user: &str| {
        let mut s = base.clone();
        s.nats = BusSettings { ack_wait_secs: 2, ..as_user(&nats, user) };
        s
    };

    // The monitoring port the exporter scrapes.
    for path in ["/varz", "/jsz?accounts=true", "/connz"] {
        assert_eq!(http_get(&format!("{}{path}", nats.monitor_url())).await.0, 200, "{path}");
    }

    // The whole pipeline, each stage as its own user: registry, replicas, feed status, seen
    // memory, lease, crash marks, replay, durable consumers, acks, story events.
    let processor =
        start_stage(
            &stage_settings("processor"),
            |s, r, h, t| async move { run_processor(&s, &r, h, t).await },
        )
        .await;
    let sink =
        start_stage(&stage_settings("sink"), |s, r, h, t| async move { run_sink(&s, &r, h, t).await }).await;
    let fetcher_settings = stage_settings("fetcher");
    let fetcher_stop = CancellationToken::new();
    let fetcher = tokio::spawn({
        let stop = fetcher_stop.clone();
        async move {
            run_fetcher(&fetcher_settings, &Registry::new(), Health::new(), false, stop).await.map(|_| ())
        }
    });
    let store = newswire_store::Store::open(&base.sink).await.unwrap();
    // A refused subject fails here at once, with the server's words.
    let none: Vec<String> = Vec::new();
    wait_until(Duration::from_secs(20), "5 articles stored by stages under their own users", || async {
        let refused = !violations(&nats).is_empty();
        (refused || store.count().await.ok()? == 5).then_some(())
    })
    .await;
    assert_eq!(violations(&nats), none, "a stage needed a subject its user may not use");

    // The API's user reads both streams the way its live stream does (ordered readers).
    let api = Bus::connect(&as_user(&nats, "api"), "e2e-api", ClientRole::ReadOnly).await.unwrap();
    wait_until(Duration::from_secs(10), "story events", || async {
        (api.stream_state(NewsStream::Stories).await.ok()?.messages > 0).then_some(())
    })
    .await;
    for (stream, want) in [(NewsStream::Articles, 5), (NewsStream::Stories, 1)] {
        let mut range = api.read_range(stream, None, RangeStart::Sequence(1), RangeEnd::Now).await.unwrap();
        let mut n = 0;
        while range.next().await.unwrap().is_some() {
            n += 1;
        }
        assert!(n >= want, "{stream:?}: {n} messages read as the api user");
    }
    // A processor that starts again restores its memory from the article stream.
    let processor_settings = stage_settings("processor");
    let processor_bus =
        Bus::connect(&processor_settings.nats, "e2e-processor", ClientRole::Processor).await.unwrap();
    let mut memory = newswire_process::Processor::new(&processor_settings.processor);
    let replayed =
        newswire_process::service::replay(&processor_bus, &mut memory, &processor_settings.processor)
            .await
            .unwrap();
    assert_eq!(replayed.articles, 5);
    // The crash marks of its own stage, as the processor's CrashGuard writes them.
    let crashes =
        processor_bus.kv_bucket(KvBucketName::Crashes, Some(Duration::from_secs(86_400))).await.unwrap();
    crashes.put("processor.1", "1".into()).await.unwrap();
    crashes.delete("processor.1").await.unwrap();

    // The operator's CLI user sees everything (here: the processor's durable consumer drained).
    let admin = Bus::connect(&as_user(&nats, "admin"), "e2e-admin", ClientRole::ReadOnly).await.unwrap();
    wait_until(Duration::from_secs(10), "the processor's consumer to drain", || async {
        (admin.pending(newswire_bus::ConsumerRole::Processor).await.ok()? == 0).then_some(())
    })
    .await;
    let stored = admin.stream_state(NewsStream::Articles).await.unwrap().messages;

    assert_eq!(violations(&nats), none, "a stage needed a subject its user may not use");
    fetcher_stop.cancel();
    fetcher.await.unwrap().unwrap();
    processor.stop().await;
    sink.stop().await;

    // The API's user lists the feed registry with its poll status and edits it (/v1/feeds).
    let feeds = newswire_fetch::registry::FeedRegistry::open(&api, &base.fetcher).await.unwrap();
    assert_eq!(feeds.list().await.unwrap().feeds.len(), 1);
    assert!(feeds.statuses().await.unwrap().contains_key("seeds"));
    assert!(feeds.set_paused("seeds", true).await.unwrap().paused);
    assert!(!feeds.set_paused("seeds", false).await.unwrap().paused);
    assert_eq!(violations(&nats), none, "the API needed a subject its user may not use");

    // Another's job is refused, on publish and on subscribe.
    tokio::join!(
        assert_publish_refused(&nats, "fetcher", "news.articles.ar.world"),
        assert_publish_refused(&nats, "fetcher", "news.dlq.processor"),
        assert_publish_refused(&nats, "sink", "news.articles.ar.world"),
        assert_publish_refused(&nats, "sink", "news.raw.seeds"),
        assert_publish_refused(&nats, "processor", "news.raw.seeds"),
        assert_publish_refused(&nats, "processor", "news.stories.ar"),
        assert_publish_refused(&nats, "api", "news.articles.ar.world"),
        assert_publish_refused(&nats, "api", "news.raw.seeds"),
        assert_publish_refused(&nats, "api", "$KV.NEWSWIRE_PROCESSOR_LEASE.active"),
        assert_publish_refused(&nats, "processor", "$KV.NEWSWIRE_FEEDS.seeds"),
        assert_publish_refused(&nats, "sink", "$JS.API.STREAM.DELETE.NEWS_RAW"),
        assert_publish_refused(&nats, "fetcher", "$JS.API.STREAM.UPDATE.NEWS_ARTICLES"),
        assert_publish_refused(&nats, "api", "$JS.API.CONSUMER.MSG.NEXT.NEWS_RAW.processor"),
        assert_subscribe_refused(&nats, "fetcher", "news.>"),
        assert_subscribe_refused(&nats, "api", "news.raw.>"),
    );
    // Through the bus as a stage would: the fetcher's article publish is refused and fails
    // (no ack), and nothing reached the stream.
    let fetcher_bus =
        Bus::connect(&as_user(&nats, "fetcher"), "e2e-fetcher", ClientRole::Fetcher).await.unwrap();
    let article = store.recent(1).await.unwrap().remove(0);
    let sink_bus = Bus::connect(&as_user(&nats, "sink"), "e2e-sink", ClientRole::Sink).await.unwrap();
    let sink_crashes =
        sink_bus.kv_bucket(KvBucketName::Crashes, Some(Duration::from_secs(86_400))).await.unwrap();
    let (by_fetcher, by_sink, mark) = tokio::join!(
        within(fetcher_bus.publish_article(&article)),
        within(sink_bus.publish_article(&article)),
        within(sink_crashes.put("processor.1", "1".into())),
    );
    assert!(!matches!(by_fetcher, Ok(Ok(_))), "the fetcher published an article: {by_fetcher:?}");
    assert!(!matches!(by_sink, Ok(Ok(_))), "the sink published an article: {by_sink:?}");
    assert!(!matches!(mark, Ok(Ok(_))), "the sink wrote the processor's crash mark: {mark:?}");
    assert_eq!(admin.stream_state(NewsStream::Articles).await.unwrap().messages, stored);
    assert!(violations(&nats).iter().any(|l| l.contains("news.articles.ar.world")));

    // Wrong credentials are refused at connect, and the bus calls that fatal: retrying a
    // wrong password cannot help, so the stage stops with the reason instead of waiting.
    for (user, pw) in
        [("fetcher", "wrong".to_owned()), ("sink", password("fetcher")), ("nobody", password("admin"))]
    {
        let s = BusSettings { password: Some(pw), ..as_user(&nats, user) };
        let e = Bus::connect(&s, "e2e-wrong", ClientRole::ReadOnly).await.unwrap_err();
        assert_eq!(e.kind(), BusErrorKind::Fatal, "{user}: {e}");
    }
    let anonymous = BusSettings { url: nats.url(), connect_timeout_secs: 5, ..BusSettings::default() };
    let e = Bus::connect(&anonymous, "e2e-anonymous", ClientRole::ReadOnly).await.unwrap_err();
    assert_eq!(e.kind(), BusErrorKind::Fatal, "{e}");
}
