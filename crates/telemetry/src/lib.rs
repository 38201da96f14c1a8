//! Telemetry, set up once, from one crate: logs, metrics and the admin HTTP endpoints.
//!
//! Parts:
//! - [`init_logging`]: the tracing subscriber (human-readable or JSON lines, `RUST_LOG` wins
//!   over the configured filter).
//! - [`metrics`]: every metric newswire exports, one struct per stage. The names are a written
//!   contract (`docs/metrics.md`); nothing else in the workspace creates a metric.
//! - [`Health`] and [`serve_admin`]: `/metrics`, `/healthz` and `/readyz` on the service's
//!   admin port.

pub mod metrics;

mod admin;
mod logging;
mod retry;

pub use admin::{AdminServer, Health, serve_admin};
pub use logging::{LogFormat, LogSettings, init_logging};
pub use prometheus::Registry;
pub use retry::until_ready;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The admin listener could not bind.
    #[error("cannot listen on {addr} for /metrics and health: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// A metric could not be registered (a name collision: a programming error caught at start).
    #[error("metric registration failed: {0}")]
    Metric(#[from] prometheus::Error),
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {message}")]
    Filter {
        /// The filter.
        filter: String,
        /// The parser's message.
        message: String,
    },
}
