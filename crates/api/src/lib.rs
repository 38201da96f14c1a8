//! The query API: what readers, downstream services and operators ask newswire, over HTTP.
//!
//! Parts:
//! - [`ApiSettings`]: the `[api]` section (listen address, write token, live-stream buffers).
//! - [`routes`]: the handlers (`/v1/articles`, `/v1/articles/{id}`, `/v1/stories`,
//!   `/v1/stories/{id}`, `/v1/search`, `/v1/sources`, `/v1/stream`, `/openapi.json`) and the
//!   middleware that counts requests.
//! - [`params`]: query strings (repeated or comma-separated filters, limits, cursors).
//! - [`problem`]: RFC 9457 problem details, the shape of every error.
//! - [`auth`]: bearer-token protection of write routes (constant-time, refused when unset).
//! - [`feeds`]: the feed registry the fetchers follow (`/v1/feeds`: list, add, pause, remove,
//!   OPML), served once NATS is reached; its writes need the token.
//! - [`stream`]: the live stream: one JetStream reader per stream, a broadcast hub with a
//!   bounded ring, per-client bounded queues, `Last-Event-ID` resume.
//! - [`openapi`]: the OpenAPI document generated from the code.
//! - [`ReadStore`]: what the API needs of a store; [`Store`] has it.
//!
//! [`Api`] puts them together for a given store: [`Api::serve`] binds and serves (port 0 in
//! tests), [`Api::attach_bus`] starts the live stream's readers; [`run`] is the whole service as
//! the binary runs it.

pub mod auth;
pub mod feeds;
pub mod openapi;
pub mod params;
pub mod problem;
pub mod routes;
mod settings;
mod store;
pub mod stream;
pub mod views;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use newswire_bus::{Bus, BusSettings, ClientRole};
use newswire_fetch::FetcherSettings;
use newswire_fetch::registry::FeedRegistry;
use newswire_store::{SinkSettings, Store, StoreErrorKind};
use newswire_telemetry::metrics::ApiMetrics;
use newswire_telemetry::{Health, Registry, until_ready};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use auth::WriteAuth;
pub use routes::ApiState;
pub use settings::ApiSettings;
pub use store::ReadStore;
use stream::{Hub, StreamKind};

/// Errors that stop the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The listener could not bind.
    #[error("cannot listen on {addr} for the API: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// Metrics could not be registered.
    #[error(transparent)]
    Telemetry(#[from] newswire_telemetry::TelemetryError),
    /// The store cannot be opened (its configuration is unusable).
    #[error(transparent)]
    Store(#[from] newswire_store::StoreError),
    /// NATS refused the connection for good (bad URL, credentials).
    #[error(transparent)]
    Bus(#[from] newswire_bus::BusError),
    /// A JetStream stream could not be read.
    #[error("stream {stream}: {message}")]
    Stream {
        /// The stream name.
        stream: String,
        /// What went wrong.
        message: String,
    },
    /// The OpenAPI document could not be built.
    #[error(transparent)]
    OpenApi(#[from] openapi::OpenApiError),
    /// The HTTP server failed.
    #[error("API server failed: {0}")]
    Serve(std::io::Error),
}

/// The API over one store, before it serves.
pub struct Api<S: ReadStore> {
    state: ApiState<S>,
    writes: Router<ApiState<S>>,
    auth: WriteAuth,
}

/// A serving API.
#[derive(Debug)]
pub struct RunningApi {
    /// The address it listens on (the configured port may be 0).
    pub addr: SocketAddr,
    /// The live-stream hub (tests look at its clients).
    pub hub: Arc<Hub>,
    /// Finishes after the shutdown token is cancelled and open requests are answered.
    pub task: JoinHandle<Result<(), ApiError>>,
}

impl<S: ReadStore> Api<S> {
    /// An API over `store`, counting into `metrics`; live streams end when `shutdown` is
    /// cancelled.
    pub fn new(
        settings: &ApiSettings,
        store: S,
        metrics: ApiMetrics,
        shutdown: CancellationToken,
    ) -> Result<Self, ApiError> {
        let hub = Arc::new(Hub::new(
            settings.stream_buffer,
            settings.client_buffer,
            settings.max_stream_clients,
            metrics,
        ));
        let openapi = Bytes::from(openapi::document_text()?);
        let state = ApiState {
            store,
            hub,
            bus: Arc::new(OnceLock::new()),
            settings: Arc::new(settings.clone()),
            openapi,
            shutdown,
            feeds: Arc::new(OnceLock::new()),
        };
        let auth = WriteAuth::new(settings.token.as_deref());
        let writes = auth::protect(feeds::write_routes(), auth.clone());
        Ok(Self { state, writes, auth })
    }

    /// Adds write routes: each request to them needs `Authorization: Bearer <api.token>`
    /// (and is refused with 403 when no token is configured).
    pub fn write_routes(mut self, routes: Router<ApiState<S>>) -> Self {
        self.writes = self.writes.merge(auth::protect(routes, self.auth.clone()));
        self
    }

    /// The live-stream hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.state.hub
    }

    /// Starts the live stream's readers on `bus` (one per stream, until shutdown).
    pub fn attach_bus(&self, bus: Bus) {
        attach(&self.state, bus);
    }

    /// Serves the feed routes from `feeds` (before, they answer 503). Once only.
    pub fn attach_feeds(&self, feeds: feeds::Feeds) {
        let _ = self.state.feeds.set(feeds);
    }

    /// The router (for serving it some other way).
    pub fn router(&self) -> Router {
        routes::router(self.state.clone(), self.writes.clone())
    }

    /// Binds `addr` and serves until shutdown. Binding happens before this returns, so a port
    /// conflict is a start-up error and port 0 yields the chosen port.
    pub async fn serve(self, addr: &str) -> Result<RunningApi, ApiError> {
        let bind_err = |source| ApiError::Bind { addr: addr.to_owned(), source };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        let app = self.router();
        let shutdown = self.state.shutdown.clone();
        let hub = self.state.hub.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .map_err(ApiError::Serve)
        });
        Ok(RunningApi { addr: local, hub, task })
    }
}

fn attach<S: ReadStore>(state: &ApiState<S>, bus: Bus) {
    if state.bus.set(bus.clone()).is_err() {
        return;
    }
    for stream in StreamKind::ALL {
        let reader =
            stream::reader::run_reader(bus.clone(), state.hub.clone(), stream, state.shutdown.clone());
        tokio::spawn(reader);
    }
    state.hub.set_connected(true);
}

/// The whole service: opens the store the sink writes (waiting for it), serves the API on
/// `api.listen`, connects to NATS read-only for the live stream (waiting for it too: the REST
/// endpoints serve meanwhile, `/v1/stream` answers 503), and runs until `shutdown`.
pub async fn run(
    api: &ApiSettings,
    nats: &BusSettings,
    sink: &SinkSettings,
    fetcher: &FetcherSettings,
    registry: &Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), ApiError> {
    let metrics = ApiMetrics::new(registry)?;
    health.set_not_ready("opening the store");
    let fatal = |e: &newswire_store::StoreError| e.kind() == StoreErrorKind::Fatal;
    let Some(store) = until_ready("the store", &health, &shutdown, || Store::open(sink), fatal).await? else {
        return Ok(());
    };
    let api = Api::new(api, store, metrics, shutdown.clone())?;
    let state = api.state.clone();
    let running = api.serve(&state.settings.listen).await?;
    tracing::info!(message = "API listening.", addr = %running.addr, backend = state.store.backend());
    health.set_ready();
    let nats = nats.clone();
    let fetcher = fetcher.clone();
    let stream_health = health.clone();
    let connect_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let fatal = |e: &newswire_bus::BusError| e.kind() == newswire_bus::BusErrorKind::Fatal;
        // NATS is needed only by the live stream: its absence must not make the API unready.
        let quiet = Health::new();
        match until_ready(
            "NATS",
            &quiet,
            &connect_shutdown,
            || Bus::connect(&nats, "newswire-api", ClientRole::ReadOnly),
            fatal,
        )
        .await
        {
            Ok(Some(bus)) => {
                attach(&state, bus.clone());
                tracing::info!(message = "Live stream connected to NATS.");
                // The feed registry's buckets; a refusal leaves the feed routes at 503.
                match FeedRegistry::open(&bus, &fetcher).await {
                    Ok(registry) => {
                        let quiet_after = Duration::from_secs(fetcher.quiet_after_secs);
                        let _ = state.feeds.set(feeds::Feeds { registry, quiet_after });
                    }
                    Err(error) => {
                        tracing::error!(message = "Feed registry unavailable; the feed routes answer 503.", %error)
                    }
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(message = "NATS refused the API; the live stream stays unavailable.", %error);
                stream_health.set_not_ready(format!("NATS: {error}"));
            }
        }
    });
    let result = running.task.await.unwrap_or_else(|e| Err(ApiError::Serve(std::io::Error::other(e))));
    health.set_not_ready("shut down");
    result
}
