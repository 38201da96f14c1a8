//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! views' `ToSchema` derives; committed as `schemas/openapi.json` (a test checks they agree).
//!
//! `Article` and `StoryEvent` are the message contract, described by the JSON Schemas that the
//! model crate generates (`schemas/article.schema.json`, `schemas/story_event.schema.json`);
//! they are spliced into the components here, so the API and the bus describe articles with
//! one schema. OpenAPI 3.1 schemas are JSON Schema 2020-12, so only the `$ref`s move.

use serde_json::{Map, Value};
use utoipa::OpenApi;

use crate::feeds::{self, FeedList, FeedPatch, FeedView, NewFeedBody};
use crate::problem::Problem;
use crate::routes;
use crate::views::{
    ArchivedRevision, ArticleDetail, ArticlePage, GrowthPoint, SearchResult, SearchResults, SourceList,
    SourceView, StoryDetailView, StoryEventSchema, StoryPage, StoryView,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "newswire query API",
        description = "Articles, stories, search, sources and the live stream of a newswire deployment. \
Errors are RFC 9457 problem details (`application/problem+json`) whose `type` is `urn:newswire:problem:<slug>`: \
`invalid-parameter`, `invalid-cursor` (400), `unauthorized` (401), `writes-disabled` (403), `not-found` (404), \
`method-not-allowed` (405), `invalid-body` (400), `conflict` (409), `invalid-value` (422), `unavailable` (503, with `Retry-After`), `internal` (500). \
Write endpoints need `Authorization: Bearer <api.token>`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        routes::list_articles,
        routes::get_article,
        routes::list_stories,
        routes::get_story,
        routes::search,
        routes::sources,
        routes::stream,
        routes::openapi,
        feeds::list_feeds,
        feeds::get_feed,
        feeds::export_opml,
        feeds::add_feed,
        feeds::patch_feed,
        feeds::delete_feed,
    ),
    components(schemas(
        Problem,
        ArticlePage,
        ArticleDetail,
        ArchivedRevision,
        StoryView,
        StoryPage,
        StoryDetailView,
        GrowthPoint,
        SearchResult,
        SearchResults,
        SourceView,
        SourceList,
        StoryEventSchema,
        FeedView,
        FeedList,
        NewFeedBody,
        FeedPatch,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "articles", description = "Stored articles, one article, search."),
        (name = "stories", description = "Stories: articles clustered together."),
        (name = "sources", description = "The feeds articles come from."),
        (name = "feeds", description = "The feeds the fetchers follow: add, pause, resume, remove, export."),
        (name = "stream", description = "Server-sent events as articles and story events are published."),
        (name = "meta", description = "This document."),
    )
)]
struct ApiDoc;

/// The `bearer` security scheme the write endpoints name (`api.token`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Why the document could not be assembled (a name collision between a view and a model
/// schema: a programming error, caught by the drift test).
#[derive(Debug, thiserror::Error)]
#[error("OpenAPI document: {0}")]
pub struct OpenApiError(String);

/// Moves a model JSON Schema into `components/schemas` as `name`, with its `$defs` beside it.
fn splice(schemas: &mut Map<String, Value>, name: &str, mut schema: Value) -> Result<(), OpenApiError> {
    fn rewrite_refs(v: &mut Value) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get_mut("$ref")
                    && let Some(rest) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("#/components/schemas/{rest}");
                }
                o.values_mut().for_each(rewrite_refs);
            }
            Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
            _ => {}
        }
    }
    rewrite_refs(&mut schema);
    let Value::Object(mut top) = schema else { return Err(OpenApiError(format!("{name}: not an object"))) };
    top.remove("$schema");
    if let Some(Value::Object(defs)) = top.remove("$defs") {
        for (k, v) in defs {
            match schemas.get(&k) {
                Some(existing) if existing != &v => {
                    return Err(OpenApiError(format!("{name}: schema `{k}` collides with another one")));
                }
                _ => {
                    schemas.insert(k, v);
                }
            }
        }
    }
    schemas.insert(name.to_owned(), Value::Object(top));
    Ok(())
}

/// The OpenAPI document as served at `/openapi.json`.
pub fn document() -> Result<Value, OpenApiError> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).map_err(|e| OpenApiError(e.to_string()))?;
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| OpenApiError("no components".to_owned()))?;
    splice(schemas, "Article", newswire_model::article_schema())?;
    splice(schemas, "StoryEvent", newswire_model::story_event_schema())?;
    Ok(doc)
}

/// [`document`] as committed in `schemas/openapi.json`: pretty-printed, with a final newline.
pub fn document_text() -> Result<String, OpenApiError> {
    let doc = document()?;
    serde_json::to_string_pretty(&doc).map(|s| s + "\n").map_err(|e| OpenApiError(e.to_string()))
}
