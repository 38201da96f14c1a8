use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `[fetcher]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FetcherSettings {
    /// The feeds file (TOML, `[[feed]]` tables).
    pub feeds_file: PathBuf,
    /// Poll interval of feeds that set none.
    pub default_poll_interval_secs: u64,
    /// Feeds fetched at the same time, at most.
    pub max_concurrency: usize,
    /// Whole-request time limit (connect, headers and body): a slow or endless server is cut
    /// off here.
    pub timeout_secs: u64,
    /// Connect time limit.
    pub connect_timeout_secs: u64,
    /// Longest wait for any single read, the response's first byte included: a host that
    /// accepts the connection and never answers is given up on here, not at `timeout_secs`.
    pub read_timeout_secs: u64,
    /// Bodies larger than this are refused (and the transfer stopped), in bytes.
    pub max_body_bytes: usize,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Allow feeds on loopback, private, link-local and other internal addresses. Off by
    /// default: a feed URL must not become a way into the internal network (SSRF).
    pub allow_private_networks: bool,
    /// Allow `file://` feed URLs (local feeds).
    pub allow_file_urls: bool,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: String,
    /// Article pages (for teaser entries, see the feeds' `full_text`) fetched from one host
    /// at a time, at most.
    pub page_concurrency_per_host: usize,
    /// Least time between two page requests to one host, in milliseconds (a larger
    /// `Crawl-delay` in the host's robots.txt wins).
    pub page_min_interval_ms: u64,
    /// A page whose host would make it wait longer than this (`Retry-After`, back-off, a queue
    /// of earlier pages) is not fetched: the entry keeps its feed text.
    pub page_max_wait_secs: u64,
    /// Article pages fetched at the same time over all hosts, at most.
    pub page_max_concurrency: usize,
    /// Read each host's robots.txt and fetch only the pages it allows.
    pub respect_robots_txt: bool,
    /// Entries read from one feed document, at most: the first ones in document order
    /// (feeds list the newest first); the rest are not parsed, so that a feed of 100,000
    /// items costs the memory of this many.
    pub max_items_per_feed: usize,
    /// Feed fetches to one host at the same time, at most (of `max_concurrency`): a host that
    /// accepts connections and never answers holds this many slots, not all of them.
    pub max_fetches_per_host: usize,
    /// This replica's name among the fetchers sharing the feed registry (letters, digits, `-`,
    /// `_`); empty: the host name, process id and a random suffix.
    pub replica_name: String,
    /// A replica that has not written its heartbeat for this long is taken for dead and its
    /// feeds move to the others (within about 1⅓ of it). Every replica must use the same value.
    pub replica_ttl_secs: u64,
    /// The whole registry is read again this often, besides following its changes (a change
    /// missed while the watch was broken is picked up here).
    pub registry_resync_secs: u64,
    /// A feed whose polls succeed but have published nothing for this long counts as `quiet`
    /// (`newswire_fetcher_feeds{state}`, `newswire feeds ls`).
    pub quiet_after_secs: u64,
}

impl Default for FetcherSettings {
    fn default() -> Self {
        Self {
            feeds_file: PathBuf::from("config/feeds.toml"),
            default_poll_interval_secs: 300,
            max_concurrency: 16,
            timeout_secs: 30,
            connect_timeout_secs: 10,
            read_timeout_secs: 10,
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            user_agent: concat!("newswire/", env!("CARGO_PKG_VERSION"), " (+feed fetcher)").to_owned(),
            allow_private_networks: false,
            allow_file_urls: true,
            admin_listen: "127.0.0.1:9101".to_owned(),
            page_concurrency_per_host: 2,
            page_min_interval_ms: 500,
            page_max_wait_secs: 60,
            page_max_concurrency: 16,
            respect_robots_txt: true,
            max_items_per_feed: crate::DEFAULT_MAX_ITEMS,
            max_fetches_per_host: 4,
            replica_name: String::new(),
            replica_ttl_secs: 15,
            registry_resync_secs: 30,
            quiet_after_secs: 86_400,
        }
    }
}

impl FetcherSettings {
    /// `timeout_secs` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}
