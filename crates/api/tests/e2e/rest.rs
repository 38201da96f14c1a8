//! The JSON endpoints over real stores (SQLite file, PostgreSQL database), filled through
//! `ArticleStore::upsert`, spoken to over real HTTP.

use std::collections::HashSet;

use axum::routing::post;
use newswire_model::{Category, DuplicateInfo, DuplicateKind, Revision, RevisionChange};
use newswire_store::{ArticleStore, Store};

use crate::common::*;

/// A small corpus: Arabic and English, three sources, two categories, a story of three
/// articles over two outlets, one near copy.
fn corpus() -> Vec<newswire_model::Article> {
    let mut v = Vec::new();
    for n in 0..12 {
        let (src, lang) = match n % 3 {
            0 => ("alpha", "ar"),
            1 => ("beta", "en"),
            _ => ("gamma", "ar"),
        };
        let mut a =
            article(n, src, lang, &format!("عنوان {n} title"), &format!("نص المقال رقم {n} text body"));
        if n % 4 == 0 {
            a.category = Category::parse("economy").unwrap();
        }
        v.push(a);
    }
    // The story: articles 0 (alpha, first), 3 (alpha), 5 (gamma).
    let story = v[0].id.to_string();
    for i in [0, 3, 5] {
        v[i].story_id = Some(story.clone());
    }
    v[6].text = "قال الرئيس الروسي فلاديمير بوتين إن المحادثات ستستمر".into();
    v[6].fingerprints.content_hash = "putin-hash".into();
    v[7].duplicate = Some(DuplicateInfo { of: v[1].id.clone(), kind: DuplicateKind::Near, similarity: 0.9 });
    v
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect()
}

async fn list_filters_and_pagination(store: Store) {
    let articles = corpus();
    store.upsert(&articles).await.unwrap();
    let api = spawn_api(store).await;

    let all = get(&api.url("/v1/articles")).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.header("content-type"), Some("application/json"));
    let body = all.json();
    assert_eq!(ids(&body).len(), 11, "duplicates are hidden by default");
    assert!(body["next_cursor"].is_null());
    assert_eq!(body["items"][0]["id"], articles[11].id.as_str(), "newest first");
    let with_dups = get(&api.url("/v1/articles?duplicates=show")).await.json();
    assert_eq!(ids(&with_dups).len(), 12);

    let en = get(&api.url("/v1/articles?lang=en")).await.json();
    assert_eq!(ids(&en).len(), 3, "beta's 4 English articles, less the copy");
    let both = get(&api.url("/v1/articles?lang=ar,en&duplicates=show")).await.json();
    assert_eq!(ids(&both).len(), 12);
    let sources = get(&api.url("/v1/articles?source=alpha&source=beta")).await.json();
    assert_eq!(ids(&sources).len(), 7);
    let economy = get(&api.url("/v1/articles?category=economy")).await.json();
    assert_eq!(ids(&economy).len(), 3);
    let story = get(&api.url(&format!("/v1/articles?story={}", articles[0].id))).await.json();
    assert_eq!(ids(&story).len(), 3);
    let since = (base_time() + chrono::Duration::minutes(4)).to_rfc3339();
    let until = (base_time() + chrono::Duration::minutes(8)).to_rfc3339();
    let url = format!("/v1/articles?since={}&until={}&duplicates=show", urlenc(&since), urlenc(&until));
    let window = get(&api.url(&url)).await.json();
    assert_eq!(ids(&window).len(), 4, "minutes 4, 5, 6, 7");

    // Pagination: follow the Link header; every article once, in order.
    let mut seen = Vec::new();
    let mut next = Some("/v1/articles?duplicates=show&limit=5".to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let r = get(&api.url(&path)).await;
        assert_eq!(r.status, 200);
        let body = r.json();
        seen.extend(ids(&body));
        pages += 1;
        if let Some(link) = r.header("link") {
            assert!(link.ends_with(">; rel=\"next\""), "{link}");
            let target = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
            assert!(target.contains("duplicates=show") && target.contains("limit=5"), "{target}");
            assert_eq!(body["next_cursor"].as_str().map(|c| target.contains(c)), Some(true));
            next = Some(target);
        } else {
            assert!(body["next_cursor"].is_null());
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = articles.iter().rev().map(|a| a.id.to_string()).collect();
    assert_eq!(seen, expected);
    api.stop().await;
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn article_story_search_sources(store: Store) {
    let articles = corpus();
    store.upsert(&articles).await.unwrap();
    // A revision of article 2: new text, same id; the first version is archived.
    let mut revised = articles[2].clone();
    revised.text = "نص معدل بعد التصحيح".into();
    revised.fingerprints.content_hash = "revised-hash".into();
    revised.revision = Some(Revision { number: 1, changed: RevisionChange::Text, similarity: 0.5 });
    store.upsert(std::slice::from_ref(&revised)).await.unwrap();
    let api = spawn_api(store).await;

    let one = get(&api.url(&format!("/v1/articles/{}", articles[1].id))).await;
    assert_eq!(one.status, 200);
    let one = one.json();
    assert_eq!(one["id"], articles[1].id.as_str());
    assert!(one.get("revisions").is_none(), "never revised: no revisions member");
    let rev = get(&api.url(&format!("/v1/articles/{}", articles[2].id))).await.json();
    assert_eq!(rev["text"], "نص معدل بعد التصحيح");
    assert_eq!(rev["revision"]["number"], 1);
    let revisions = rev["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0]["number"], 0);
    assert_eq!(revisions[0]["article"]["text"], articles[2].text);

    let stories = get(&api.url("/v1/stories")).await;
    assert_eq!(stories.status, 200);
    let stories = stories.json();
    let story_id = articles[0].id.to_string();
    let listed = stories["items"].as_array().unwrap();
    assert!(listed.iter().any(|s| s["id"] == story_id.as_str()), "{stories}");
    let by_gamma = get(&api.url("/v1/stories?source=gamma&limit=200")).await.json();
    assert!(
        by_gamma["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| { s["outlets"].as_array().unwrap().iter().any(|o| o == "gamma") })
    );
    let story = get(&api.url(&format!("/v1/stories/{story_id}"))).await;
    assert_eq!(story.status, 200);
    let story = story.json();
    assert_eq!(story["article_count"], 3);
    assert_eq!(story["first_outlet"], "alpha");
    assert_eq!(story["first_article"], story_id.as_str());
    assert_eq!(story["outlets"], serde_json::json!(["alpha", "gamma"]));
    assert_eq!(
        story["first_seen"],
        articles[0].published_at.unwrap().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    assert_eq!(story["articles"].as_array().unwrap().len(), 3);
    assert!(!story["growth"].as_array().unwrap().is_empty());
    get(&api.url("/v1/stories/nope")).await.problem(404, "not-found", "/v1/stories/nope");

    // بوتن (one spelling) finds بوتين (another).
    let hits = get(&api.url(&format!("/v1/search?q={}", urlenc("بوتن")))).await;
    assert_eq!(hits.status, 200, "{}", String::from_utf8_lossy(&hits.body));
    let hits = hits.json();
    assert_eq!(hits["query"], "بوتن");
    let found: Vec<&str> =
        hits["items"].as_array().unwrap().iter().map(|h| h["article"]["id"].as_str().unwrap()).collect();
    assert_eq!(found, [articles[6].id.as_str()]);
    assert!(hits["items"][0]["score"].is_number());
    let filtered = get(&api.url(&format!("/v1/search?q={}&lang=en", urlenc("بوتن")))).await.json();
    assert!(filtered["items"].as_array().unwrap().is_empty());
    get(&api.url("/v1/search")).await.problem(400, "invalid-parameter", "/v1/search");

    let sources = get(&api.url("/v1/sources")).await.json();
    let items = sources["items"].as_array().unwrap();
    let names: HashSet<&str> = items.iter().map(|s| s["source_id"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["alpha", "beta", "gamma"]));
    assert!(
        items.iter().all(|s| s["articles"].as_u64() == Some(4) && s["last_stored"].is_string()),
        "{sources}"
    );
    api.stop().await;
}

#[tokio::test]
async fn sqlite_articles_filters_and_pagination() {
    let (store, _dir) = sqlite_store().await;
    list_filters_and_pagination(store).await;
}

#[tokio::test]
async fn sqlite_article_revisions_stories_search_and_sources() {
    let (store, _dir) = sqlite_store().await;
    article_story_search_sources(store).await;
}

#[tokio::test]
async fn postgres_articles_filters_and_pagination() {
    let db = newswire_testkit::PgDb::create().await;
    list_filters_and_pagination(pg_store(&db).await).await;
}

#[tokio::test]
async fn postgres_article_revisions_stories_search_and_sources() {
    let db = newswire_testkit::PgDb::create().await;
    article_story_search_sources(pg_store(&db).await).await;
}

#[tokio::test]
async fn bad_input_and_unknown_resources_are_problem_details() {
    let (store, _dir) = sqlite_store().await;
    let api = spawn_api(store).await;
    for (path, slug, needle) in [
        ("/v1/articles?lang=A.B", "invalid-parameter", "`lang`"),
        ("/v1/articles?lnag=ar", "invalid-parameter", "`lnag`"),
        ("/v1/articles?since=yesterday", "invalid-parameter", "`since`"),
        ("/v1/articles?limit=0", "invalid-parameter", "`limit`"),
        ("/v1/articles?limit=500", "invalid-parameter", "`limit`"),
        ("/v1/articles?duplicates=maybe", "invalid-parameter", "`duplicates`"),
        ("/v1/articles?cursor=not-a-cursor", "invalid-cursor", "`cursor`"),
        ("/v1/stories?category=x", "invalid-parameter", "`category`"),
        ("/v1/stories?cursor=abc", "invalid-cursor", "`cursor`"),
        ("/v1/search?q=a&cursor=x", "invalid-parameter", "`cursor`"),
        ("/v1/stream?kinds=tweets", "invalid-parameter", "`kinds`"),
    ] {
        let r = get(&api.url(path)).await;
        let instance = path.split('?').next().unwrap();
        let detail = r.problem(400, slug, instance);
        assert!(detail.contains(needle), "{path}: {detail}");
    }
    let missing = "/v1/articles/00000000000000000000000000000000";
    get(&api.url(missing)).await.problem(404, "not-found", missing);
    get(&api.url("/v1/articles/not-an-id")).await.problem(404, "not-found", "/v1/articles/not-an-id");
    get(&api.url("/v2/nothing")).await.problem(404, "not-found", "/v2/nothing");
    request("DELETE", &api.url("/v1/articles"), &[]).await.problem(405, "method-not-allowed", "/v1/articles");
    // No bus attached: the live stream says so.
    get(&api.url("/v1/stream")).await.problem(503, "unavailable", "/v1/stream");

    assert_eq!(
        api.metric("newswire_api_requests_total{route=\"/v1/articles\",status=\"4xx\"}").await,
        8.0,
        "7 bad queries and 1 bad method"
    );
    assert_eq!(api.metric("newswire_api_requests_total{route=\"unmatched\",status=\"4xx\"}").await, 1.0);
    api.stop().await;
}

#[tokio::test]
async fn a_store_that_goes_down_gives_503_with_retry_after() {
    let db = newswire_testkit::PgDb::create().await;
    let store = pg_store(&db).await;
    store.upsert(&corpus()).await.unwrap();
    let Store::Postgres(pg) = &store else { unreachable!() };
    let pool = pg.pool().clone();
    let api = spawn_api(store).await;
    assert_eq!(get(&api.url("/v1/articles")).await.status, 200);
    pool.close().await;
    for path in ["/v1/articles", "/v1/stories", "/v1/search?q=talks", "/v1/sources"] {
        let r = get(&api.url(path)).await;
        r.problem(503, "unavailable", path.split('?').next().unwrap());
        assert_eq!(r.header("retry-after"), Some("5"));
        assert!(!String::from_utf8_lossy(&r.body).contains("postgres://"), "no internals leak");
    }
    assert_eq!(api.metric("newswire_api_requests_total{status=\"5xx\"}").await, 4.0);
    api.stop().await;
}

/// There is no write endpoint yet (feed management comes later): the bearer layer is tested on
/// a route added through `Api::write_routes`, exactly as the feed routes will be.
#[tokio::test]
async fn write_routes_need_the_configured_bearer_token() {
    let writes = || axum::Router::new().route("/v1/test-write", post(|| async { "written" }));
    let (store, _dir) = sqlite_store().await;
    let settings = newswire_api::ApiSettings { token: Some("s3cret-token".into()), ..test_settings() };
    let api = spawn_api_with(store.clone(), settings, None, Some(writes())).await;
    let url = api.url("/v1/test-write");
    let none = request("POST", &url, &[]).await;
    none.problem(401, "unauthorized", "/v1/test-write");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    request("POST", &url, &[("Authorization", "Bearer wrong")]).await.problem(
        401,
        "unauthorized",
        "/v1/test-write",
    );
    request("POST", &url, &[("Authorization", "Basic s3cret-token")]).await.problem(
        401,
        "unauthorized",
        "/v1/test-write",
    );
    let ok = request("POST", &url, &[("Authorization", "Bearer s3cret-token")]).await;
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"written".as_slice()));
    // Reads stay open.
    assert_eq!(get(&api.url("/v1/articles")).await.status, 200);
    api.stop().await;

    let unset = spawn_api_with(store, test_settings(), None, Some(writes())).await;
    let url = unset.url("/v1/test-write");
    let r = request("POST", &url, &[("Authorization", "Bearer anything")]).await;
    assert!(r.problem(403, "writes-disabled", "/v1/test-write").contains("api.token"));
    unset.stop().await;
}
