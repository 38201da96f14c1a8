//! The committed OpenAPI document is what clients generate code from: it must match the code,
//! and the served one must be it.

use crate::common::*;

/// Regenerate with `UPDATE_SCHEMAS=1 cargo test -p newswire-api --test e2e openapi`.
#[test]
fn committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json");
    let generated = newswire_api::openapi::document_text().unwrap();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date; run UPDATE_SCHEMAS=1 cargo test -p newswire-api --test e2e openapi",
        path.display()
    );
}

#[tokio::test]
async fn the_document_is_served_and_describes_every_route() {
    let (store, _dir) = sqlite_store().await;
    let api = spawn_api(store).await;
    let r = get(&api.url("/openapi.json")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    assert_eq!(doc, newswire_api::openapi::document().unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for route in [
        "/v1/articles",
        "/v1/articles/{id}",
        "/v1/stories",
        "/v1/stories/{id}",
        "/v1/search",
        "/v1/sources",
        "/v1/stream",
        "/openapi.json",
    ] {
        assert!(doc["paths"][route]["get"].is_object(), "{route} is not documented");
    }
    // Every reference resolves (the model's schemas were spliced in with theirs).
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "dangling $ref {name}");
    }
    assert!(doc["components"]["schemas"]["Article"]["properties"]["story_id"].is_object());
    api.stop().await;
}
