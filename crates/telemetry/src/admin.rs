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
#[derive(Debug, Clone)]
pub struct Health {
    state: Arc<RwLock<Result<(), String>>>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Not ready, "starting".
    pub fn new() -> Self {
        Self { state: Arc::new(RwLock::new(Err("starting".to_owned()))) }
    }

    /// Marks the service ready.
    pub fn set_ready(&self) {
        if let Ok(mut s) = self.state.write() {
            *s = Ok(());
        }
    }

    /// Marks the service not ready, with a reason shown by `/readyz`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        if let Ok(mut s) = self.state.write() {
            *s = Err(reason.into());
        }
    }

    /// Current readiness.
    pub fn readiness(&self) -> Result<(), String> {
        self.state.read().map(|s| s.clone()).unwrap_or_else(|_| Err("poisoned".to_owned()))
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
