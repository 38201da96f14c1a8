use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::TelemetryError;

/// Readiness of a service, shared between the stage (which knows) and `/readyz` (which tells).
///
/// A service starts not ready and says why; it becomes ready once its dependencies (NATS,
/// the database) are connected, and not ready again when it loses them or shuts down.
/// A process that runs several stages gives each its own [`component`](Self::component):
/// it is ready only while every component is, and `/readyz` names those that are not.
#[derive(Debug, Clone)]
pub struct Health {
    parts: Arc<RwLock<BTreeMap<String, Result<(), String>>>>,
    /// This handle's part: `""` for the whole service.
    name: String,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Not ready, "starting".
    pub fn new() -> Self {
        let parts = BTreeMap::from([(String::new(), Err("starting".to_owned()))]);
        Self { parts: Arc::new(RwLock::new(parts)), name: String::new() }
    }

    /// A part of this service's readiness (one stage of several in one process), not ready
    /// ("starting") until it says so.
    pub fn component(&self, name: &str) -> Health {
        if let Ok(mut parts) = self.parts.write() {
            parts.insert(name.to_owned(), Err("starting".to_owned()));
        }
        Self { parts: self.parts.clone(), name: name.to_owned() }
    }

    /// Marks this part ready.
    pub fn set_ready(&self) {
        if let Ok(mut parts) = self.parts.write() {
            parts.insert(self.name.clone(), Ok(()));
        }
    }

    /// Marks this part not ready, with a reason shown by `/readyz`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        if let Ok(mut parts) = self.parts.write() {
            parts.insert(self.name.clone(), Err(reason.into()));
        }
    }

    /// Readiness of the whole service: ready when every part is; else the reasons of those
    /// that are not, each after its part's name.
    pub fn readiness(&self) -> Result<(), String> {
        let Ok(parts) = self.parts.read() else { return Err("poisoned".to_owned()) };
        let reasons: Vec<String> = parts
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|why| (name, why)))
            .map(|(name, why)| if name.is_empty() { why.clone() } else { format!("{name}: {why}") })
            .collect();
        if reasons.is_empty() { Ok(()) } else { Err(reasons.join("; ")) }
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Registry,
    health: Health,
}

/// A running admin server.
#[derive(Debug)]
pub struct AdminServer {
    /// The address it actually listens on (the configured port may be 0).
    pub addr: SocketAddr,
    /// Finishes after the shutdown token is cancelled and open requests are answered.
    pub task: JoinHandle<()>,
}

/// Binds `addr` and serves `/metrics`, `/healthz` and `/readyz` until `shutdown` is cancelled.
///
/// Binding happens before this returns, so a port conflict is a start-up error, and port 0
/// yields the chosen port in [`AdminServer::addr`].
pub async fn serve_admin(
    addr: &str,
    registry: Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<AdminServer, TelemetryError> {
    let bind_err = |source| TelemetryError::Bind { addr: addr.to_owned(), source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState { registry, health });
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(message = "Admin server failed.", %error);
        }
    });
    Ok(AdminServer { addr: local, task })
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&s.registry.gather(), &mut buf) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buf).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    match s.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_of_several_stages_is_ready_only_while_every_stage_is() {
        let health = Health::new();
        let fetcher = health.component("fetcher");
        let sink = health.component("sink");
        health.set_ready();
        assert_eq!(health.readiness(), Err("fetcher: starting; sink: starting".to_owned()));
        fetcher.set_ready();
        sink.set_ready();
        assert_eq!(health.readiness(), Ok(()));
        fetcher.set_not_ready("failed: feeds file unreadable");
        assert_eq!(health.readiness(), Err("fetcher: failed: feeds file unreadable".to_owned()));
        assert_eq!(sink.readiness(), health.readiness(), "every handle sees the whole service");
    }
}
