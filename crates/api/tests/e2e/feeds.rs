//! The feed routes over a real nats-server: the registry running fetchers follow.

use std::time::Duration;

use newswire_api::feeds::Feeds;
use newswire_bus::KvBucketName;
use newswire_fetch::FetcherSettings;
use newswire_fetch::registry::{FeedRegistry, FeedStatus};
use newswire_testkit::TestNats;

use crate::common::*;

const TOKEN: &str = "feeds-token";

fn fetcher_settings() -> FetcherSettings {
    // The feeds of these tests are on 127.0.0.1, as a local farm's would be.
    FetcherSettings { allow_private_networks: true, ..FetcherSettings::default() }
}

async fn feeds_api(nats: &TestNats) -> (TestApi, FeedRegistry, tempfile::TempDir) {
    let bus = owner_bus(nats).await;
    let registry = FeedRegistry::open(&bus, &fetcher_settings()).await.unwrap();
    let feeds = Feeds { registry: registry.clone(), quiet_after: Duration::from_secs(86_400) };
    let (store, dir) = sqlite_store().await;
    let settings = newswire_api::ApiSettings { token: Some(TOKEN.into()), ..test_settings() };
    (spawn_api_full(store, settings, None, None, Some(feeds)).await, registry, dir)
}

fn auth() -> [(&'static str, &'static str); 2] {
    [("Authorization", "Bearer feeds-token"), ("Content-Type", "application/json")]
}

#[tokio::test]
async fn feeds_are_added_listed_paused_exported_and_removed_through_the_api() {
    let nats = TestNats::start();
    let (api, registry, _dir) = feeds_api(&nats).await;
    let body = br#"{"id": "local-ar", "url": "http://127.0.0.1:9/rss.xml", "language": "ar", "poll_interval_secs": 60}"#;

    // Writes need the token; reads do not.
    request_with_body("POST", &api.url("/v1/feeds"), &[], body).await.problem(
        401,
        "unauthorized",
        "/v1/feeds",
    );
    assert!(registry.get("local-ar").await.unwrap().is_none(), "a refused write changed nothing");

    let created = request_with_body("POST", &api.url("/v1/feeds"), &auth(), body).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    assert_eq!(created.header("location"), Some("/v1/feeds/local-ar"));
    let view = created.json();
    assert_eq!(view["id"], "local-ar");
    assert_eq!(view["state"], "ok");
    assert_eq!(view["poll_interval_secs"], 60);
    // What running fetchers follow: the registry has it.
    let stored = registry.get("local-ar").await.unwrap().expect("added to the registry");
    assert_eq!(stored.spec.url.to_string(), "http://127.0.0.1:9/rss.xml");

    // The same id again, a bad value, a body that is not the shape.
    let again = request_with_body("POST", &api.url("/v1/feeds"), &auth(), body).await;
    again.problem(409, "conflict", "/v1/feeds");
    let bad = br#"{"id": "Bad Id", "url": "http://127.0.0.1:9/x.xml"}"#;
    request_with_body("POST", &api.url("/v1/feeds"), &auth(), bad).await.problem(
        422,
        "invalid-value",
        "/v1/feeds",
    );
    let ftp = br#"{"id": "ftp", "url": "ftp://127.0.0.1/x.xml"}"#;
    request_with_body("POST", &api.url("/v1/feeds"), &auth(), ftp).await.problem(
        422,
        "invalid-value",
        "/v1/feeds",
    );
    let unknown = br#"{"id": "x", "url": "http://127.0.0.1:9/x.xml", "colour": "red"}"#;
    request_with_body("POST", &api.url("/v1/feeds"), &auth(), unknown).await.problem(
        400,
        "invalid-body",
        "/v1/feeds",
    );

    let list = get(&api.url("/v1/feeds")).await;
    assert_eq!(list.status, 200);
    let ids: Vec<String> = list.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["local-ar"]);
    assert_eq!(get(&api.url("/v1/feeds/local-ar")).await.json()["language"], "ar");
    get(&api.url("/v1/feeds/nope")).await.problem(404, "not-found", "/v1/feeds/nope");

    // Pause, seen by the registry and in the views; then resume.
    request_with_body("PATCH", &api.url("/v1/feeds/local-ar"), &[], br#"{"paused": true}"#).await.problem(
        401,
        "unauthorized",
        "/v1/feeds/local-ar",
    );
    let paused =
        request_with_body("PATCH", &api.url("/v1/feeds/local-ar"), &auth(), br#"{"paused": true}"#).await;
    assert_eq!(paused.status, 200);
    assert_eq!(paused.json()["state"], "paused");
    assert!(registry.get("local-ar").await.unwrap().unwrap().paused);
    let sources = get(&api.url("/v1/sources")).await.json();
    let source = &sources["items"][0];
    assert_eq!((source["source_id"].as_str(), source["articles"].as_u64()), (Some("local-ar"), Some(0)));
    assert_eq!(source["paused"], true, "{source}");
    let resumed =
        request_with_body("PATCH", &api.url("/v1/feeds/local-ar"), &auth(), br#"{"paused": false}"#).await;
    assert_eq!(resumed.json()["state"], "ok");

    let opml = get(&api.url("/v1/feeds.opml")).await;
    assert_eq!(opml.status, 200);
    assert!(opml.header("content-type").unwrap().starts_with("text/x-opml"));
    assert!(String::from_utf8_lossy(&opml.body).contains("http://127.0.0.1:9/rss.xml"));

    // Removed: gone from the registry and the API; removing again is a 404.
    request("DELETE", &api.url("/v1/feeds/local-ar"), &[]).await.problem(
        401,
        "unauthorized",
        "/v1/feeds/local-ar",
    );
    let deleted = request("DELETE", &api.url("/v1/feeds/local-ar"), &auth()).await;
    assert_eq!(deleted.status, 204);
    assert!(registry.get("local-ar").await.unwrap().is_none());
    get(&api.url("/v1/feeds/local-ar")).await.problem(404, "not-found", "/v1/feeds/local-ar");
    request("DELETE", &api.url("/v1/feeds/local-ar"), &auth()).await.problem(
        404,
        "not-found",
        "/v1/feeds/local-ar",
    );
    api.stop().await;
}

#[tokio::test]
async fn failing_feeds_are_listed_longest_streak_first_and_limited() {
    let nats = TestNats::start();
    let (api, registry, _dir) = feeds_api(&nats).await;
    let status = owner_bus(&nats).await.kv_bucket(KvBucketName::FeedStatus, None).await.unwrap();
    for (id, streak) in [("a-ok", 0u32), ("b-fails", 2), ("c-fails", 7), ("d-fails", 4)] {
        let url = format!("http://127.0.0.1:9/{id}.xml");
        registry
            .add_new(&newswire_fetch::registry::NewFeed { id: id.into(), url, ..Default::default() })
            .await
            .unwrap();
        let s = FeedStatus {
            last_poll: Some(chrono::Utc::now()),
            last_error: (streak > 0).then(|| "connection refused".to_owned()),
            error_streak: streak,
            ..FeedStatus::default()
        };
        status.put(id, serde_json::to_vec(&s).unwrap().into()).await.unwrap();
    }
    let top = get(&api.url("/v1/feeds?state=failing&limit=2")).await.json();
    let got: Vec<(String, u64)> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f["error_streak"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, [("c-fails".to_owned(), 7), ("d-fails".to_owned(), 4)]);
    assert_eq!(top["items"][0]["last_error"], "connection refused");
    let sources = get(&api.url("/v1/sources")).await.json();
    let streaks: Vec<u64> =
        sources["items"].as_array().unwrap().iter().map(|s| s["error_streak"].as_u64().unwrap()).collect();
    assert_eq!(streaks, [0, 2, 7, 4], "sources by id, with the registry's status");
    get(&api.url("/v1/feeds?state=broken")).await.problem(400, "invalid-parameter", "/v1/feeds");
    api.stop().await;
}

#[tokio::test]
async fn feed_routes_answer_503_until_the_registry_is_reached() {
    let (store, _dir) = sqlite_store().await;
    let settings = newswire_api::ApiSettings { token: Some(TOKEN.into()), ..test_settings() };
    let api = spawn_api_with(store, settings, None, None).await;
    get(&api.url("/v1/feeds")).await.problem(503, "unavailable", "/v1/feeds");
    request_with_body(
        "POST",
        &api.url("/v1/feeds"),
        &auth(),
        br#"{"id": "x", "url": "http://127.0.0.1:9/x"}"#,
    )
    .await
    .problem(503, "unavailable", "/v1/feeds");
    // The rest of the API serves meanwhile.
    assert_eq!(get(&api.url("/v1/sources")).await.status, 200);
    api.stop().await;
}
