//! Fetching and parsing feeds: the first stage of the pipeline.
//!
//! Parts, from the outside in:
//! - [`FetcherSettings`] (`[fetcher]`) and [`FeedList`] (the feeds file: id, URL, poll
//!   interval, language hint, category).
//! - [`FeedUrl`] and [`NetGuard`]: a feed URL checked against the SSRF guard (no private,
//!   loopback or link-local addresses unless allowed, checked again on every DNS answer and
//!   redirect).
//! - [`HttpFetcher`]: one GET with limits (time, size, redirects), conditional requests
//!   (ETag / Last-Modified), `file://` and stdin reads.
//! - [`decode_body`]: bytes to UTF-8 (HTTP charset, BOM, XML/HTML declaration, detection).
//! - [`parse_feed`]: pure and synchronous: RSS 0.9x/1.0/2.0, Atom and JSON Feed (feed-rs) to
//!   [`RawItem`](newswire_model::RawItem)s.
//! - [`import_feeds`]: OPML or URL lists to feeds-file entries (`newswire import`).
//! - [`pages`]: full articles for teaser entries (per-feed `full_text`): the linked page
//!   fetched behind [`robots`] (RFC 9309, pure) and the per-host [`polite`] gate (concurrency,
//!   interval, `Retry-After`, back-off), its article extracted.
//! - [`seen`]: pure: the per-feed memory of published entries (article id, content hash) and
//!   the diff that decides which parsed entries are new or changed.
//! - [`registry`]: feeds managed at run time (`FeedRegistry`: add, remove, pause, resume,
//!   statuses, watch, seeding from the feeds file, OPML export) in JetStream key-value buckets
//!   every replica sees; [`replicas`]: heartbeats and rendezvous hashing that share the feeds
//!   among fetcher replicas.
//! - [`service`]: the async shell: polls every feed on its interval and publishes the new or
//!   changed raw items, remembering them per feed in a JetStream key-value bucket; in registry
//!   mode ([`Fetcher::run_registry`](service::Fetcher::run_registry)) it follows the registry
//!   and polls its share of the feeds, each claimed once per interval.

mod cap;
mod charset;
mod error;
mod feeds;
mod follow;
mod http;
mod import;
mod memory;
mod netguard;
pub mod pages;
mod parse;
pub mod polite;
pub mod registry;
pub mod replicas;
pub mod robots;
pub mod seen;
pub mod service;
mod settings;

pub use charset::{Decoded, decode_body, decode_html};
pub use error::{FetchError, FetchErrorKind};
pub use feeds::{FeedList, FeedSpec, RejectedFeed};
pub use follow::RegistryRun;
pub use http::{Body, HttpFetcher, Validators};
pub use import::{ImportedFeed, import_feeds, render_feeds};
pub use netguard::{FeedUrl, NetGuard};
pub use pages::{FullText, PageFetcher};
pub use parse::{
    DEFAULT_MAX_ITEMS, FeedContext, ParsedFeed, discover_feeds, looks_binary, parse_feed, parse_feed_capped,
};
pub use settings::FetcherSettings;
