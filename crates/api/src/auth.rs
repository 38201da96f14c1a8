//! Bearer-token protection of write endpoints.
//!
//! Reads are open (the API binds loopback by default); every route wrapped with
//! [`protect`] needs `Authorization: Bearer <api.token>`. With no token configured, writes are
//! refused outright (403): an unset secret must never mean "no check".

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{ApiProblem, ProblemKind};

/// The configured write token, kept only as its SHA-256 digest.
#[derive(Clone)]
pub struct WriteAuth {
    digest: Option<Arc<[u8; 32]>>,
}

impl std::fmt::Debug for WriteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteAuth").field("enabled", &self.digest.is_some()).finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl WriteAuth {
    /// From `api.token`; `None` or blank disables writes.
    pub fn new(token: Option<&str>) -> Self {
        let digest = token.map(str::trim).filter(|t| !t.is_empty()).map(|t| Arc::new(digest(t)));
        Self { digest }
    }

    /// Whether a request with this `Authorization` header value may write.
    ///
    /// Both sides are hashed before a constant-time comparison, so that neither the bytes nor
    /// the length of the configured token leak through response timing.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), ApiProblem> {
        let Some(expected) = &self.digest else {
            return Err(ApiProblem::new(
                ProblemKind::Forbidden,
                "No write token is configured (`api.token`), so every write is refused.",
            ));
        };
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(ApiProblem::new(
                ProblemKind::Unauthorized,
                "This endpoint needs `Authorization: Bearer <token>`.",
            ));
        };
        if bool::from(digest(presented).ct_eq(expected.as_ref())) {
            Ok(())
        } else {
            Err(ApiProblem::new(ProblemKind::Unauthorized, "The bearer token is not the configured one."))
        }
    }
}

async fn require_token(State(auth): State<WriteAuth>, request: Request, next: Next) -> Response {
    let value = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth.check(value) {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// `routes` with every request checked against `auth` first. Write endpoints are added to the
/// API through this (see [`crate::Api::write_routes`]).
pub fn protect<S: Clone + Send + Sync + 'static>(routes: Router<S>, auth: WriteAuth) -> Router<S> {
    routes.route_layer(middleware::from_fn_with_state(auth, require_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_an_unset_token_refuses_every_write() {
        let auth = WriteAuth::new(Some("s3cret"));
        assert!(auth.check(Some("Bearer s3cret")).is_ok());
        for bad in [None, Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("Basic s3cret"), Some("s3cret")]
        {
            assert_eq!(auth.check(bad).err().map(|e| e.kind), Some(ProblemKind::Unauthorized), "{bad:?}");
        }
        for disabled in [WriteAuth::new(None), WriteAuth::new(Some("  "))] {
            let kind = disabled.check(Some("Bearer ")).err().map(|e| e.kind);
            assert_eq!(kind, Some(ProblemKind::Forbidden));
        }
    }
}
