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
    /// When PostgreSQL builds an article's search terms (SQLite always builds them in the
    /// batch's transaction: its index is in-process and cheap).
    pub search_indexing: SearchIndexing,
}

/// When the PostgreSQL store builds the search terms of the rows a batch writes.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SearchIndexing {
    /// In the batch's transaction: an article is searchable when its batch commits, and the
    /// full-text index, the insert's costliest part, is written on the sink's critical path.
    Inline,
    /// After the commit, by the sink's search indexer, oldest row first: articles are stored,
    /// listed and acked at the rate of a plain insert, and become searchable a moment later
    /// (`newswire_sink_search_lag_seconds`). A revised article keeps its previous terms until
    /// then.
    #[default]
    Deferred,
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
            search_indexing: SearchIndexing::default(),
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
            .field("search_indexing", &self.search_indexing)
            .finish()
    }
}
