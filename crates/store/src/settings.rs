use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `[sink]` section.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSettings {
    /// PostgreSQL URL (`postgres://user@host/db`). When empty, the embedded SQLite store is used.
    /// May carry a password: never logged or serialised.
    #[serde(skip_serializing)]
    pub database_url: Option<String>,
    /// SQLite database file, created if missing.
    pub sqlite_path: PathBuf,
    /// Articles committed per transaction, at most.
    pub batch_size: usize,
    /// How long to wait for more articles before committing a partial batch.
    pub batch_linger_ms: u64,
    /// Database connections.
    pub max_connections: u32,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: String,
}

impl Default for SinkSettings {
    fn default() -> Self {
        Self {
            database_url: None,
            sqlite_path: PathBuf::from("newswire.db"),
            batch_size: 256,
            batch_linger_ms: 50,
            max_connections: 4,
            admin_listen: "127.0.0.1:9103".to_owned(),
        }
    }
}

impl SinkSettings {
    /// `batch_linger_ms` as a duration.
    pub fn batch_linger(&self) -> Duration {
        Duration::from_millis(self.batch_linger_ms)
    }
}

impl std::fmt::Debug for SinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSettings")
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted>"))
            .field("sqlite_path", &self.sqlite_path)
            .field("batch_size", &self.batch_size)
            .field("batch_linger_ms", &self.batch_linger_ms)
            .field("max_connections", &self.max_connections)
            .field("admin_listen", &self.admin_listen)
            .finish()
    }
}
