//! The handlers. Each parses its query by hand ([`Query`]), asks the store, and answers JSON
//! or a problem. The `#[utoipa::path]` attributes are the OpenAPI document's source.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use newswire_bus::Bus;
use newswire_model::ArticleId;
use newswire_store::{Cursor, Page};
use newswire_telemetry::metrics::ApiMetrics;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

use crate::params::{MAX_QUERY_CHARS, Query};
use crate::problem::{ApiProblem, Problem, ProblemKind};
use crate::settings::ApiSettings;
use crate::store::ReadStore;
use crate::stream::{EventId, Hub, StreamFilter, SubscribeError, sse};
use crate::views::{
    ArchivedRevision, ArticleDetail, ArticlePage, SearchResults, SourceList, StoryDetailView, StoryPage,
};

/// What every handler shares.
pub struct ApiState<S> {
    /// The store.
    pub store: S,
    /// The live-stream hub.
    pub hub: Arc<Hub>,
    /// The bus, once connected (read-backs for resuming clients need it).
    pub bus: Arc<OnceLock<Bus>>,
    /// The `[api]` settings.
    pub settings: Arc<ApiSettings>,
    /// The OpenAPI document, serialised once.
    pub openapi: Bytes,
    /// Ends live streams at shutdown (they would otherwise keep the server from stopping).
    pub shutdown: CancellationToken,
    /// The feed registry, once connected (the feed routes answer 503 before).
    pub feeds: Arc<OnceLock<crate::feeds::Feeds>>,
}

impl<S: Clone> Clone for ApiState<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            hub: self.hub.clone(),
            bus: self.bus.clone(),
            settings: self.settings.clone(),
            openapi: self.openapi.clone(),
            shutdown: self.shutdown.clone(),
            feeds: self.feeds.clone(),
        }
    }
}

const ARTICLE_PARAMS: &[&str] =
    &["lang", "source", "category", "story", "since", "until", "duplicates", "limit", "cursor"];
const STORY_PARAMS: &[&str] = &["lang", "source", "since", "until", "limit", "cursor"];
const SEARCH_PARAMS: &[&str] =
    &["q", "lang", "source", "category", "story", "since", "until", "duplicates", "limit"];
const STREAM_PARAMS: &[&str] = &["lang", "source", "category", "story", "duplicates", "kinds"];

/// The article filters (documentation of the query string; parsed by [`Query`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query string for the OpenAPI document only")]
pub struct ArticleFilterParams {
    /// Languages (ISO 639-1, else 639-3; `und`), repeated or comma-separated.
    lang: Option<Vec<String>>,
    /// Source ids, repeated or comma-separated.
    source: Option<Vec<String>>,
    /// Categories, repeated or comma-separated.
    category: Option<Vec<String>>,
    /// One story id.
    story: Option<String>,
    /// Article time at or after (RFC 3339).
    since: Option<String>,
    /// Article time before (RFC 3339).
    until: Option<String>,
    /// `hide` (default) leaves out exact and near copies of earlier articles; `show` includes them.
    duplicates: Option<String>,
}

/// Paging (documentation of the query string).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query string for the OpenAPI document only")]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Story filters (documentation of the query string).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query string for the OpenAPI document only")]
pub struct StoryFilterParams {
    /// Languages of the stories' first articles, repeated or comma-separated.
    lang: Option<Vec<String>>,
    /// Stories any of these outlets carried, repeated or comma-separated.
    source: Option<Vec<String>>,
    /// Last seen at or after (RFC 3339).
    since: Option<String>,
    /// Last seen before (RFC 3339).
    until: Option<String>,
}

/// Search terms (documentation of the query string).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query string for the OpenAPI document only")]
pub struct SearchParams {
    /// The words to find (all of them), up to 500 characters. Spelling variants are folded:
    /// `بوتن` finds `بوتين`.
    q: String,
    /// Results, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// Live-stream filters (documentation of the query string).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query string for the OpenAPI document only")]
pub struct StreamParams {
    /// Languages, repeated or comma-separated.
    lang: Option<Vec<String>>,
    /// Categories (articles only; story events pass), repeated or comma-separated.
    category: Option<Vec<String>>,
    /// Source ids (of an article; among a story's outlets), repeated or comma-separated.
    source: Option<Vec<String>>,
    /// Story ids, repeated or comma-separated.
    story: Option<Vec<String>>,
    /// `hide` (default) or `show` copies of earlier articles.
    duplicates: Option<String>,
    /// Any of `articles`, `revisions`, `stories` (default all), repeated or comma-separated.
    kinds: Option<Vec<String>>,
}

fn store_problem(e: &newswire_store::StoreError) -> ApiProblem {
    ApiProblem::from_store(e)
}

pub(crate) fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Err(e) => {
            tracing::error!(message = "Response does not serialise.", error = %e);
            ApiProblem::new(ProblemKind::Internal, "The response could not be written.").into_response()
        }
    }
}

/// A page as JSON, with `Link: <…>; rel="next"` when there is a next page.
fn paged<T: Serialize>(query: &Query, path: &str, body: &T, next: Option<&Cursor>) -> Response {
    let mut response = json(body);
    if let Some(next) = next
        && let Ok(link) = HeaderValue::from_str(&format!("<{}>; rel=\"next\"", query.next_link(path, next)))
    {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// Lists articles, newest first.
#[utoipa::path(
    get, path = "/v1/articles", tag = "articles",
    params(ArticleFilterParams, PageParams),
    responses(
        (status = 200, description = "A page of articles; `Link: <…>; rel=\"next\"` names the next page.", body = ArticlePage,
         headers(("Link" = String, description = "The next page, when there is one."))),
        (status = 400, description = "A filter or the cursor is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_articles<S: ReadStore>(
    State(st): State<ApiState<S>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let q = Query::parse(raw.as_deref(), ARTICLE_PARAMS)?;
    let (filter, page) = (q.filter()?, q.page()?);
    let Page { items, next } = st.store.list_articles(&filter, &page).await.map_err(|e| store_problem(&e))?;
    let body = ArticlePage { items, next_cursor: next.as_ref().map(Cursor::encode) };
    Ok(paged(&q, "/v1/articles", &body, next.as_ref()))
}

/// One article, with its earlier versions when it was revised.
#[utoipa::path(
    get, path = "/v1/articles/{id}", tag = "articles",
    params(("id" = String, Path, description = "The article id (32 hex digits).")),
    responses(
        (status = 200, description = "The article.", body = ArticleDetail),
        (status = 404, description = "No such article.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_article<S: ReadStore>(
    State(st): State<ApiState<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiProblem> {
    let not_found = || ApiProblem::new(ProblemKind::NotFound, format!("No article has the id {id:?}."));
    let Ok(article_id) = ArticleId::parse(&id) else { return Err(not_found()) };
    let Some(article) = st.store.article(&article_id).await.map_err(|e| store_problem(&e))? else {
        return Err(not_found());
    };
    let revisions = if article.revision.is_some() {
        let archived = st.store.article_revisions(&article_id).await.map_err(|e| store_problem(&e))?;
        archived.into_iter().map(|(number, article)| ArchivedRevision { number, article }).collect()
    } else {
        Vec::new()
    };
    Ok(json(&ArticleDetail { article, revisions }))
}

/// Lists stories, most recently active first.
#[utoipa::path(
    get, path = "/v1/stories", tag = "stories",
    params(StoryFilterParams, PageParams),
    responses(
        (status = 200, description = "A page of stories.", body = StoryPage,
         headers(("Link" = String, description = "The next page, when there is one."))),
        (status = 400, description = "A filter or the cursor is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_stories<S: ReadStore>(
    State(st): State<ApiState<S>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let q = Query::parse(raw.as_deref(), STORY_PARAMS)?;
    let (filter, page) = (q.filter()?, q.page()?);
    let Page { items, next } = st.store.list_stories(&filter, &page).await.map_err(|e| store_problem(&e))?;
    let body = StoryPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.as_ref().map(Cursor::encode),
    };
    Ok(paged(&q, "/v1/stories", &body, next.as_ref()))
}

/// One story: its articles, outlets, first outlet, first and last seen times and growth.
#[utoipa::path(
    get, path = "/v1/stories/{id}", tag = "stories",
    params(("id" = String, Path, description = "The story id.")),
    responses(
        (status = 200, description = "The story.", body = StoryDetailView),
        (status = 404, description = "No such story.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_story<S: ReadStore>(
    State(st): State<ApiState<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiProblem> {
    let not_found = || ApiProblem::new(ProblemKind::NotFound, format!("No story has the id {id:?}."));
    if id.len() > 128 {
        return Err(not_found());
    }
    match st.store.story(&id).await.map_err(|e| store_problem(&e))? {
        Some(detail) => Ok(json(&StoryDetailView::from(detail))),
        None => Err(not_found()),
    }
}

/// Full-text search, best first. Arabic spelling variants and Latin-script word forms are
/// folded the way deduplication folds them. An article is found by its title, keywords,
/// entities, summary and the first 60 words of its body.
#[utoipa::path(
    get, path = "/v1/search", tag = "articles",
    params(SearchParams, ArticleFilterParams),
    responses(
        (status = 200, description = "The matching articles.", body = SearchResults),
        (status = 400, description = "`q` is missing or too long, or a filter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search<S: ReadStore>(
    State(st): State<ApiState<S>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let q = Query::parse(raw.as_deref(), SEARCH_PARAMS)?;
    let text = q.one("q")?.map(str::trim).unwrap_or_default().to_owned();
    if text.is_empty() {
        return Err(ApiProblem::new(ProblemKind::InvalidParameter, "`q`: give the words to search for."));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiProblem::new(
            ProblemKind::InvalidParameter,
            format!("`q`: at most {MAX_QUERY_CHARS} characters."),
        ));
    }
    let (filter, limit) = (q.filter()?, q.limit()?);
    let hits = st.store.search(&text, &filter, limit).await.map_err(|e| store_problem(&e))?;
    Ok(json(&SearchResults { query: text, items: hits.into_iter().map(Into::into).collect() }))
}

/// The sources with stored articles.
#[utoipa::path(
    get, path = "/v1/sources", tag = "sources",
    responses(
        (status = 200, description = "The sources, by id.", body = SourceList),
        (status = 503, description = "The store is unavailable.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sources<S: ReadStore>(
    State(st): State<ApiState<S>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    Query::parse(raw.as_deref(), &[])?;
    let stats = st.store.sources().await.map_err(|e| store_problem(&e))?;
    let mut items: Vec<crate::views::SourceView> = stats.into_iter().map(Into::into).collect();
    // The poll status comes from the feed registry, when NATS is reached; without it the
    // sources are served from the store alone (the poll fields stay absent).
    if let Some(feeds) = st.feeds.get() {
        match crate::feeds::views(&feeds.registry, feeds.quiet_after).await {
            Ok(views) => crate::views::merge_feed_status(&mut items, views),
            Err(e) => tracing::warn!(message = "Sources served without poll status.", detail = %e.detail),
        }
    }
    Ok(json(&SourceList { items }))
}

/// The live stream: server-sent events as they are published.
///
/// Events: `article` (an `Article`), `revision` (an `Article` with `revision`), `story` (a
/// `StoryEvent`). Each has an `id:` (`a<seq>-s<seq>`: positions in the article and story
/// streams); reconnect with `Last-Event-ID` to receive exactly what was missed. A comment is
/// sent every `api.keepalive_secs` on an idle stream. A client that falls `api.client_buffer`
/// events behind is dropped: its stream ends, and it may resume.
#[utoipa::path(
    get, path = "/v1/stream", tag = "stream",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (`a<seq>-s<seq>`)."),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`.", content_type = "text/event-stream", body = String),
        (status = 400, description = "A filter or `Last-Event-ID` is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not connected to NATS yet, or too many stream clients.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stream<S: ReadStore>(
    State(st): State<ApiState<S>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let q = Query::parse(raw.as_deref(), STREAM_PARAMS)?;
    let kinds = StreamFilter::parse_kinds(&q.list("kinds"))
        .map_err(|detail| ApiProblem::new(ProblemKind::InvalidParameter, detail))?;
    let filter = StreamFilter {
        languages: q.parsed_list("lang", newswire_model::Lang::parse)?,
        categories: q.parsed_list("category", newswire_model::Category::parse)?,
        sources: q.parsed_list("source", newswire_model::SourceId::parse)?,
        stories: q.list("story").into_iter().map(str::to_owned).collect(),
        kinds: if kinds.is_empty() { StreamFilter::default().kinds } else { kinds },
        include_duplicates: q.duplicates(false)?,
    };
    let resume = match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        None | Some(Ok("")) => None,
        Some(Ok(v)) => Some(EventId::parse(v).ok_or_else(|| {
            ApiProblem::new(
                ProblemKind::InvalidParameter,
                format!("`Last-Event-ID`: {v:?} is not an id this stream sent (`a<seq>-s<seq>`)"),
            )
        })?),
        Some(Err(_)) => {
            return Err(ApiProblem::new(ProblemKind::InvalidParameter, "`Last-Event-ID` is not text."));
        }
    };
    let subscription = st.hub.subscribe(filter.clone(), resume).map_err(|e| match e {
        SubscribeError::NotConnected => ApiProblem::new(
            ProblemKind::Unavailable,
            "The live stream is not connected to NATS yet; retry later.",
        ),
        SubscribeError::TooManyClients => {
            ApiProblem::new(ProblemKind::Unavailable, "Too many live-stream clients; retry later.")
        }
    })?;
    let body = sse::client_stream(
        subscription,
        filter,
        st.bus.get().cloned(),
        st.settings.keepalive(),
        st.shutdown.clone(),
    );
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) would otherwise buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
pub async fn openapi<S: ReadStore>(State(st): State<ApiState<S>>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], st.openapi.clone())
        .into_response()
}

async fn not_found() -> ApiProblem {
    ApiProblem::new(ProblemKind::NotFound, "No such resource; see /openapi.json for the routes.")
}

async fn method_not_allowed() -> ApiProblem {
    ApiProblem::new(ProblemKind::MethodNotAllowed, "This resource does not accept that method.")
}

/// Counts every request by route template and status class, times it, and fills the problem
/// `instance` with the request path (handlers do not need to know it).
async fn observe(State(metrics): State<ApiMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    if let Some(problem) = response.extensions().get::<ApiProblem>()
        && problem.instance.is_empty()
    {
        response = problem.clone().at(&path).into_response();
    }
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics.requests.with_label_values(&[&route, class]).inc();
    metrics.request_duration.with_label_values(&[&route]).observe(started.elapsed().as_secs_f64());
    response
}

/// The routes, with `writes` (already protected by a bearer token) merged in.
pub fn router<S: ReadStore>(state: ApiState<S>, writes: Router<ApiState<S>>) -> Router {
    let metrics = state.hub.metrics().clone();
    Router::new()
        .route("/v1/articles", get(list_articles::<S>))
        .route("/v1/articles/{id}", get(get_article::<S>))
        .route("/v1/stories", get(list_stories::<S>))
        .route("/v1/stories/{id}", get(get_story::<S>))
        .route("/v1/search", get(search::<S>))
        .route("/v1/sources", get(sources::<S>))
        .route("/v1/stream", get(stream::<S>))
        .route("/openapi.json", get(openapi::<S>))
        .merge(crate::feeds::read_routes())
        .merge(writes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(metrics, observe))
}
