//! The feeds the fetchers follow, over HTTP: the registry (`NEWSWIRE_FEEDS`, see
//! `newswire_fetch::registry`) that `newswire feeds` also edits. Running fetchers pick a change
//! up within seconds; nothing restarts.
//!
//! Reads (`GET /v1/feeds`, `/v1/feeds/{id}`, `/v1/feeds.opml`) are open like the rest of the
//! API; writes (`POST /v1/feeds`, `PATCH` and `DELETE /v1/feeds/{id}`) need the bearer token
//! ([`crate::Api::write_routes`]). Until the API has reached NATS, every feed route answers 503.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use newswire_fetch::registry::{
    FeedRegistry, FeedState, FeedStatus, NewFeed, RegisteredFeed, RegistryError, RegistryErrorKind,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::params::Query;
use crate::problem::{ApiProblem, Problem, ProblemKind};
use crate::routes::{ApiState, json};
use crate::store::ReadStore;

/// A feed of the registry with its poll status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedView {
    /// Source id.
    pub id: String,
    /// What is polled.
    pub url: String,
    /// `ok`, `failing`, `quiet` (polls succeed but nothing new for `fetcher.quiet_after_secs`)
    /// or `paused`.
    pub state: String,
    /// Paused feeds are kept but not polled.
    pub paused: bool,
    /// Poll interval.
    pub poll_interval_secs: u64,
    /// Language hint.
    pub language: Option<String>,
    /// Category of its articles.
    pub category: String,
    /// When entries' pages are fetched: `auto`, `always` or `never`.
    pub full_text: String,
    /// A human title (from an OPML import or the request that added it).
    pub title: Option<String>,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last polled (by any fetcher replica).
    pub last_poll: Option<DateTime<Utc>>,
    /// When the next poll is due.
    pub next_poll: Option<DateTime<Utc>>,
    /// When a poll last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The error of the last failed poll (kept after a success; see `error_streak`).
    pub last_error: Option<String>,
    /// Failed polls in a row (0 once a poll succeeds).
    pub error_streak: u32,
    /// Items published from it.
    pub items_published: u64,
}

impl FeedView {
    fn of(
        f: &RegisteredFeed,
        status: Option<&FeedStatus>,
        now: DateTime<Utc>,
        quiet_after: std::time::Duration,
    ) -> Self {
        let s = status.cloned().unwrap_or_default();
        Self {
            id: f.spec.id.to_string(),
            url: f.spec.url.to_string(),
            state: FeedState::of(f, status, now, quiet_after).as_str().to_owned(),
            paused: f.paused,
            poll_interval_secs: f.spec.poll_interval.as_secs(),
            language: f.spec.language.as_ref().map(ToString::to_string),
            category: f.spec.category.to_string(),
            full_text: serde_json::to_value(f.spec.full_text)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            title: f.title.clone(),
            added_at: f.added_at,
            updated_at: f.updated_at,
            last_poll: s.last_poll,
            next_poll: s.next_poll,
            last_success: s.last_success,
            last_error: s.last_error,
            error_streak: s.error_streak,
            items_published: s.items_published,
        }
    }
}

/// The feeds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedList {
    /// By id; with `state=failing`, the longest error streaks first.
    pub items: Vec<FeedView>,
}

/// A feed to add (the body of `POST /v1/feeds`): `id` and `url`, the rest optional.
/// Mirrors `newswire_fetch::registry::NewFeed`, which the body is read into.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedBody {
    /// Source id, `[a-z0-9_-]{1,64}`: the subject token and the key of its articles.
    pub id: String,
    /// `http(s)://` URL of an RSS, Atom or JSON feed.
    pub url: String,
    /// Poll interval; `fetcher.default_poll_interval_secs` when absent.
    pub poll_interval_secs: Option<u64>,
    /// Language hint (`ar`, `en`, …).
    pub language: Option<String>,
    /// Category; `general` when absent.
    pub category: Option<String>,
    /// `auto` (default), `always` or `never`: when entries' pages are fetched.
    pub full_text: Option<String>,
    /// A human title.
    pub title: Option<String>,
}

/// A change to a feed (the body of `PATCH /v1/feeds/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedPatch {
    /// `true` pauses the feed, `false` resumes it.
    pub paused: bool,
}

/// The filters of `GET /v1/feeds`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedListParams {
    /// Only feeds in this state: `ok`, `failing`, `quiet` or `paused`.
    pub state: Option<String>,
    /// At most this many (1-10,000; all by default). With `state=failing`: the top N by
    /// error streak.
    pub limit: Option<u32>,
}

fn registry<S>(st: &ApiState<S>) -> Result<&FeedRegistry, ApiProblem> {
    st.feeds
        .get()
        .map(|f| &f.registry)
        .ok_or_else(|| ApiProblem::new(ProblemKind::Unavailable, "Not connected to NATS yet; retry later."))
}

/// A registry error as the client sees it; internal details are logged, not sent.
fn registry_problem(e: &RegistryError) -> ApiProblem {
    match e.kind() {
        RegistryErrorKind::NotFound => ApiProblem::new(ProblemKind::NotFound, e.to_string()),
        RegistryErrorKind::Conflict => ApiProblem::new(ProblemKind::Conflict, e.to_string()),
        RegistryErrorKind::Invalid => ApiProblem::new(ProblemKind::Unprocessable, e.to_string()),
        RegistryErrorKind::Unavailable => {
            tracing::warn!(message = "Feed registry unavailable.", error = %e);
            ApiProblem::new(ProblemKind::Unavailable, "The feed registry is unavailable; retry later.")
        }
        RegistryErrorKind::Fatal => {
            tracing::error!(message = "Feed registry failed.", error = %e);
            ApiProblem::new(
                ProblemKind::Internal,
                "The feed registry failed; the server log has the details.",
            )
        }
    }
}

/// The registry's feeds with their status.
pub(crate) async fn views(
    registry: &FeedRegistry,
    quiet_after: std::time::Duration,
) -> Result<Vec<FeedView>, ApiProblem> {
    let listing = registry.list().await.map_err(|e| registry_problem(&e))?;
    let statuses = registry.statuses().await.map_err(|e| registry_problem(&e))?;
    let now = Utc::now();
    Ok(listing
        .feeds
        .iter()
        .map(|f| FeedView::of(f, statuses.get(f.spec.id.as_str()), now, quiet_after))
        .collect())
}

fn quiet_after<S>(st: &ApiState<S>) -> std::time::Duration {
    st.feeds.get().map(|f| f.quiet_after).unwrap_or_default()
}

/// The registry the feed routes serve, once NATS is reached.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// The registry.
    pub registry: FeedRegistry,
    /// `fetcher.quiet_after_secs`: when a feed that publishes nothing counts as `quiet`.
    pub quiet_after: std::time::Duration,
}

/// The feeds the fetchers follow, with each one's state and poll status.
#[utoipa::path(
    get, path = "/v1/feeds", tag = "feeds", params(FeedListParams),
    responses(
        (status = 200, description = "The feeds.", body = FeedList),
        (status = 400, description = "A parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not connected to NATS yet.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_feeds<S: ReadStore>(
    State(st): State<ApiState<S>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let q = Query::parse(raw.as_deref(), &["state", "limit"])?;
    let state = match q.one("state")? {
        None => None,
        Some(s) => Some(
            FeedState::ALL
                .into_iter()
                .find(|k| k.as_str() == s)
                .ok_or_else(|| {
                    ApiProblem::new(
                        ProblemKind::InvalidParameter,
                        format!("state: `{s}` is not ok, failing, quiet or paused"),
                    )
                })?
                .as_str(),
        ),
    };
    let limit = match q.one("limit")? {
        None => usize::MAX,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(ApiProblem::new(
                    ProblemKind::InvalidParameter,
                    format!("`limit`: {v:?} is not a whole number from 1 to 10000"),
                ));
            }
        },
    };
    let mut items = views(registry(&st)?, quiet_after(&st)).await?;
    if let Some(state) = state {
        items.retain(|f| f.state == state);
    }
    if state == Some(FeedState::Failing.as_str()) {
        items.sort_by(|a, b| b.error_streak.cmp(&a.error_streak).then_with(|| a.id.cmp(&b.id)));
    }
    items.truncate(limit);
    Ok(json(&FeedList { items }))
}

/// One feed.
#[utoipa::path(
    get, path = "/v1/feeds/{id}", tag = "feeds",
    params(("id" = String, Path, description = "Source id.")),
    responses(
        (status = 200, description = "The feed.", body = FeedView),
        (status = 404, description = "No such feed.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not connected to NATS yet.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_feed<S: ReadStore>(
    State(st): State<ApiState<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiProblem> {
    let registry = registry(&st)?;
    let feed = registry.get(&id).await.map_err(|e| registry_problem(&e))?;
    let Some(feed) = feed else {
        return Err(ApiProblem::new(ProblemKind::NotFound, format!("No feed `{id}`.")));
    };
    let status = registry.status(&id).await.map_err(|e| registry_problem(&e))?;
    Ok(json(&FeedView::of(&feed, status.as_ref(), Utc::now(), quiet_after(&st))))
}

/// The feeds as OPML 2.0 (for a feed reader, or `newswire feeds import` elsewhere).
#[utoipa::path(
    get, path = "/v1/feeds.opml", tag = "feeds",
    responses(
        (status = 200, description = "An OPML 2.0 document.", content_type = "text/x-opml", body = String),
        (status = 503, description = "Not connected to NATS yet.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_opml<S: ReadStore>(State(st): State<ApiState<S>>) -> Result<Response, ApiProblem> {
    let opml = registry(&st)?.export_opml().await.map_err(|e| registry_problem(&e))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/x-opml; charset=utf-8"))], opml)
        .into_response())
}

/// Reads a JSON body into `T`, as a 400 problem when it is not one.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiProblem> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiProblem::new(ProblemKind::InvalidBody, format!("The body is not a valid request: {e}"))
    })
}

/// Adds a feed. Running fetchers start polling it within seconds.
#[utoipa::path(
    post, path = "/v1/feeds", tag = "feeds", request_body = NewFeedBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added; `Location` names it.", body = FeedView),
        (status = 400, description = "The body is not JSON of this shape.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled (no token configured).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A feed with this id (or URL) exists.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is invalid, or the URL is refused (private address, scheme).", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not connected to NATS yet.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_feed<S: ReadStore>(
    State(st): State<ApiState<S>>,
    bytes: Bytes,
) -> Result<Response, ApiProblem> {
    let new: NewFeed = body(&bytes)?;
    let registry = registry(&st)?;
    let feed = registry.add_new(&new).await.map_err(|e| registry_problem(&e))?;
    tracing::info!(message = "Feed added through the API.", feed = %feed.spec.id, url = %feed.spec.url);
    let view = FeedView::of(&feed, None, Utc::now(), quiet_after(&st));
    let location = HeaderValue::from_str(&format!("/v1/feeds/{}", view.id)).ok();
    let mut response = json(&view);
    *response.status_mut() = StatusCode::CREATED;
    if let Some(l) = location {
        response.headers_mut().insert(header::LOCATION, l);
    }
    Ok(response)
}

/// Pauses or resumes a feed.
#[utoipa::path(
    patch, path = "/v1/feeds/{id}", tag = "feeds", request_body = FeedPatch,
    params(("id" = String, Path, description = "Source id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The feed as it is now.", body = FeedView),
        (status = 400, description = "The body is not JSON of this shape.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled (no token configured).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feed.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not connected to NATS yet.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn patch_feed<S: ReadStore>(
    State(st): State<ApiState<S>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiProblem> {
    let patch: FeedPatch = body(&bytes)?;
    let registry = registry(&st)?;
    let feed = registry.set_paused(&id, patch.paused).await.map_err(|e| registry_problem(&e))?;
    tracing::info!(message = "Feed changed through the API.", feed = %id, paused = patch.paused);
    let status = registry.status(&id).await.map_err(|e| registry_problem(&e))?;
    Ok(json(&FeedView::of(&feed, status.as_ref(), Utc::now(), quiet_after(&st))))
}

/// Removes a feed: fetchers stop polling it within seconds, and the feeds file does not add it
/// back. Its stored articles stay.
#[utoipa::path(
    delete, path = "/v1/feeds/{id}", tag = "feeds",
    params(("id" = String, Path, description = "Source id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "Missing or wrong bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled (no token configured).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feed.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not connected to NATS yet.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_feed<S: ReadStore>(
    State(st): State<ApiState<S>>,
    Path(id): Path<String>,
) -> Result<Response, ApiProblem> {
    registry(&st)?.remove(&id).await.map_err(|e| registry_problem(&e))?;
    tracing::info!(message = "Feed removed through the API.", feed = %id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The open feed routes.
pub(crate) fn read_routes<S: ReadStore>() -> Router<ApiState<S>> {
    Router::new()
        .route("/v1/feeds", get(list_feeds::<S>))
        .route("/v1/feeds.opml", get(export_opml::<S>))
        .route("/v1/feeds/{id}", get(get_feed::<S>))
}

/// The feed routes that change the registry (to be protected by the bearer token).
pub(crate) fn write_routes<S: ReadStore>() -> Router<ApiState<S>> {
    Router::new()
        .route("/v1/feeds", post(add_feed::<S>))
        .route("/v1/feeds/{id}", axum::routing::patch(patch_feed::<S>).delete(delete_feed::<S>))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented body is the one the registry reads: every field of the schema is a field
    /// of `NewFeed` (which refuses unknown ones), with the same meaning.
    #[test]
    fn new_feed_body_is_what_the_registry_reads() {
        let documented = NewFeedBody {
            id: "bbc-ar".into(),
            url: "https://example.org/rss.xml".into(),
            poll_interval_secs: Some(120),
            language: Some("ar".into()),
            category: Some("world".into()),
            full_text: Some("never".into()),
            title: Some("BBC".into()),
        };
        let read: NewFeed = serde_json::from_value(serde_json::to_value(&documented).unwrap()).unwrap();
        assert_eq!(read.id, "bbc-ar");
        assert_eq!(read.poll_interval_secs, Some(120));
        assert_eq!(read.full_text, Some(newswire_fetch::FullText::Never));
        assert_eq!(read.title.as_deref(), Some("BBC"));
    }
}
