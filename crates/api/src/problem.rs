//! RFC 9457 problem details: every error the API returns is one of these, as
//! `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use newswire_store::{StoreError, StoreErrorKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What went wrong, as a client can act on it. Each kind has its own `type` URI
/// (`urn:newswire:problem:<slug>`: stable identifiers, not pages to fetch) and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A query parameter is unknown or its value is invalid (400).
    InvalidParameter,
    /// The pagination cursor is not one this API issued (400).
    InvalidCursor,
    /// The request needs a bearer token and has none, or the wrong one (401).
    Unauthorized,
    /// Writes are disabled: no token is configured (403).
    Forbidden,
    /// No such resource (404).
    NotFound,
    /// The method is not allowed on this resource (405).
    MethodNotAllowed,
    /// The request body is not JSON of the expected shape (400).
    InvalidBody,
    /// The resource exists already (409).
    Conflict,
    /// A value of the body is invalid or refused (422).
    Unprocessable,
    /// The store (or the bus, for the live stream) is unavailable: retry later (503).
    Unavailable,
    /// A bug or an unexpected store error; the details are in the server's log (500).
    Internal,
}

impl ProblemKind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::InvalidParameter | ProblemKind::InvalidCursor | ProblemKind::InvalidBody => {
                StatusCode::BAD_REQUEST
            }
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The last part of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::InvalidParameter => "invalid-parameter",
            ProblemKind::InvalidCursor => "invalid-cursor",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "writes-disabled",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::InvalidBody => "invalid-body",
            ProblemKind::Conflict => "conflict",
            ProblemKind::Unprocessable => "invalid-value",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
        }
    }

    /// The short, fixed summary (`title`).
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::InvalidParameter => "Invalid query parameter",
            ProblemKind::InvalidCursor => "Invalid cursor",
            ProblemKind::Unauthorized => "Missing or wrong bearer token",
            ProblemKind::Forbidden => "Writes are disabled on this server",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::InvalidBody => "Invalid request body",
            ProblemKind::Conflict => "Already exists",
            ProblemKind::Unprocessable => "Invalid value",
            ProblemKind::Unavailable => "Service unavailable",
            ProblemKind::Internal => "Internal server error",
        }
    }
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// URI of the problem type, e.g. `urn:newswire:problem:invalid-cursor`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type (the same for every occurrence).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a person.
    pub detail: String,
    /// The request path this occurrence is about.
    pub instance: String,
}

/// A problem ready to be sent: the body plus what the kind adds to the headers.
#[derive(Debug, Clone)]
pub struct ApiProblem {
    /// Which problem.
    pub kind: ProblemKind,
    /// The occurrence's detail.
    pub detail: String,
    /// The request path (filled by the handler that knows it; empty otherwise).
    pub instance: String,
}

impl ApiProblem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), instance: String::new() }
    }

    /// The same problem about `path`.
    pub fn at(mut self, path: &str) -> Self {
        path.clone_into(&mut self.instance);
        self
    }

    /// A store error as the client sees it: unavailable (503, retry) or internal (500). The
    /// error itself is logged here, never sent: it may name tables, files or hosts.
    pub fn from_store(error: &StoreError) -> Self {
        if error.kind() == StoreErrorKind::Unavailable {
            tracing::warn!(message = "Store unavailable for a query.", %error);
            Self::new(ProblemKind::Unavailable, "The article store is unavailable; retry later.")
        } else {
            tracing::error!(message = "Query failed.", %error);
            Self::new(ProblemKind::Internal, "The query failed; the server log has the details.")
        }
    }

    /// The body.
    pub fn body(&self) -> Problem {
        Problem {
            problem_type: format!("urn:newswire:problem:{}", self.kind.slug()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            instance: self.instance.clone(),
        }
    }
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let kind = self.kind;
        let mut response = (kind.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match kind {
            ProblemKind::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // Store outages are usually short (a restart, a failover): tell clients when to retry
            // instead of letting them hammer a recovering database.
            ProblemKind::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        // The request-observing middleware fills `instance` from the request path.
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_every_rfc_9457_member() {
        let p = ApiProblem::new(ProblemKind::InvalidCursor, "cursor `x` was not issued by this API")
            .at("/v1/articles");
        let v = serde_json::to_value(p.body()).unwrap_or_default();
        assert_eq!(v["type"], "urn:newswire:problem:invalid-cursor");
        assert_eq!(v["status"], 400);
        assert_eq!(v["instance"], "/v1/articles");
        assert!(v["title"].is_string() && v["detail"].is_string());
        let r = p.into_response();
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
