use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits of one JetStream stream.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Stream name.
    pub name: String,
    /// Messages older than this are removed. Raw items are kept for replay (re-processing after
    /// a processor change), articles for late consumers.
    pub max_age_secs: u64,
    /// Size cap in bytes (`-1`: none); the oldest messages go first.
    #[serde(default = "unlimited")]
    pub max_bytes: i64,
    /// Window in which a publish with an already seen `Nats-Msg-Id` is dropped by the server.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_secs: u64,
}

fn unlimited() -> i64 {
    -1
}
fn default_duplicate_window() -> u64 {
    // Long enough to cover a fetcher restart and a re-poll; the processor's own dedup and the
    // sink's upsert cover everything older.
    600
}

impl StreamSettings {
    fn new(name: &str, days: u64) -> Self {
        Self {
            name: name.to_owned(),
            max_age_secs: days * 86_400,
            max_bytes: unlimited(),
            duplicate_window_secs: default_duplicate_window(),
        }
    }

    /// `max_age_secs` as a duration.
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_secs)
    }
}

/// The `[nats]` section: where the bus is and how its streams are shaped.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusSettings {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// Optional token for servers that require one. Never logged or serialised.
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// Optional user name for servers with user/password authentication (each stage its own
    /// user, with its own subject permissions: see `deploy/nats/nats.conf`). Goes with
    /// `password`.
    #[serde(skip_serializing)]
    pub user: Option<String>,
    /// The password of `user`. Never logged or serialised.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Give up connecting after this long at start-up.
    pub connect_timeout_secs: u64,
    /// First token of every subject (`news` → `news.raw.<source>`). Change it to run two
    /// independent pipelines on one server.
    pub subject_root: String,
    /// Stream of raw items.
    pub raw_stream: StreamSettings,
    /// Stream of processed articles.
    pub articles_stream: StreamSettings,
    /// Stream of dead-lettered messages.
    pub dlq_stream: StreamSettings,
    /// Stream of story events (`<root>.stories.<lang>`), written by the sink.
    pub stories_stream: StreamSettings,
    /// Deliveries of one message before it is dead-lettered.
    pub max_deliver: i64,
    /// Time a consumer has to ack a delivery before the server redelivers it.
    pub ack_wait_secs: u64,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            token: None,
            user: None,
            password: None,
            connect_timeout_secs: 10,
            subject_root: "news".to_owned(),
            raw_stream: StreamSettings::new("NEWS_RAW", 7),
            articles_stream: StreamSettings::new("NEWS_ARTICLES", 30),
            dlq_stream: StreamSettings::new("NEWS_DLQ", 30),
            stories_stream: StreamSettings::new("NEWS_STORIES", 30),
            max_deliver: 5,
            ack_wait_secs: 30,
        }
    }
}

impl fmt::Debug for BusSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusSettings")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("subject_root", &self.subject_root)
            .field("raw_stream", &self.raw_stream)
            .field("articles_stream", &self.articles_stream)
            .field("dlq_stream", &self.dlq_stream)
            .field("stories_stream", &self.stories_stream)
            .field("max_deliver", &self.max_deliver)
            .field("ack_wait_secs", &self.ack_wait_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_neither_logged_nor_serialised() {
        let s = BusSettings {
            token: Some("tok-secret".into()),
            user: Some("fetcher".into()),
            password: Some("pw-secret".into()),
            ..BusSettings::default()
        };
        let debug = format!("{s:?}");
        assert!(!debug.contains("tok-secret") && !debug.contains("pw-secret"), "{debug}");
        assert!(debug.contains("fetcher"), "{debug}");
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(!json.contains("secret") && !json.contains("\"user\""), "{json}");
    }
}
