use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `[api]` section: where the query API listens, who may write, and how the live stream
/// buffers. The store it reads is the sink's (`[sink]`: `database_url` or `sqlite_path`), so that
/// one configuration file describes one deployment.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Address of the API. Loopback by default: exposing it is a decision (a reverse proxy with
    /// TLS in front), not an accident.
    pub listen: String,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`), apart from the API so that
    /// scraping and probes never share limits with clients.
    pub admin_listen: String,
    /// Bearer token that write endpoints require (`Authorization: Bearer <token>`). Unset:
    /// every write is refused (403). Never logged or serialised.
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// Seconds between keep-alive comments on an idle live stream (proxies close silent
    /// connections; clients notice a dead one).
    pub keepalive_secs: u64,
    /// Live-stream events kept in memory for resuming (`Last-Event-ID`); older ones are read
    /// back from JetStream.
    pub stream_buffer: usize,
    /// Events queued for one live-stream client at most; a client that falls this far behind
    /// is dropped (its stream ends, it may resume) so that it never holds the others back.
    /// Queued events are shared with the ring and the other clients (a pointer each), so a
    /// large queue is cheap; it must absorb a burst: on 2 cores, 100 clients fall up to a whole
    /// 5,000-article burst behind while the server writes it to all of them.
    pub client_buffer: usize,
    /// Most live-stream clients at once; more get 503.
    pub max_stream_clients: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            admin_listen: "127.0.0.1:9104".to_owned(),
            token: None,
            keepalive_secs: 15,
            stream_buffer: 10_000,
            client_buffer: 16_384,
            max_stream_clients: 1_000,
        }
    }
}

impl ApiSettings {
    /// `keepalive_secs` as a duration (at least one second).
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs.max(1))
    }
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("keepalive_secs", &self.keepalive_secs)
            .field("stream_buffer", &self.stream_buffer)
            .field("client_buffer", &self.client_buffer)
            .field("max_stream_clients", &self.max_stream_clients)
            .finish()
    }
}
