//! The message contract of newswire: what crosses NATS between the stages.
//!
//! Parts:
//! - [`RawItem`]: one feed entry as the fetcher saw it, published on `news.raw.<source>`.
//! - [`Article`]: a cleaned, deduplicated, enriched article, published on
//!   `news.articles.<lang>.<category>` and stored by the sink.
//! - [`StoryEvent`]: a story created or grown with a new outlet, published by the sink on
//!   `news.stories.<lang>`.
//! - Validated identifiers: [`SourceId`], [`ArticleId`], [`CanonicalUrl`], [`Lang`], [`Category`].
//!
//! Compatibility rule (downstream consumers depend on it): fields are only ever *added* within a
//! [`SCHEMA_VERSION`]; every added field has a default so that old messages still decode.
//! Removing or changing the meaning of a field bumps [`SCHEMA_VERSION`]. The JSON Schemas in
//! `schemas/` are generated from these types ([`raw_item_schema`], [`article_schema`]) and a
//! test fails when they drift.
//!
//! This crate does no IO.

mod ids;
mod messages;
mod story;

pub use ids::{ArticleId, CanonicalUrl, Category, Lang, ModelError, SourceId};
pub use messages::{
    Article, DuplicateInfo, DuplicateKind, Entity, EntityKind, Fingerprints, HttpMeta, RawItem, Revision,
    RevisionChange, SCHEMA_VERSION,
};
pub use story::{StoryEvent, StoryEventKind, story_event_schema};

/// JSON Schema (draft 2020-12) of [`RawItem`], as committed in `schemas/raw_item.schema.json`.
pub fn raw_item_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawItem)).unwrap_or_default()
}

/// JSON Schema (draft 2020-12) of [`Article`], as committed in `schemas/article.schema.json`.
pub fn article_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Article)).unwrap_or_default()
}

#[cfg(test)]
mod tests;

/// Heap bytes of a hash map from its capacity: hashbrown keeps a power-of-two number of buckets
/// at most 7/8 full, each an entry and one control byte.
pub fn map_bytes<K, V, S>(m: &std::collections::HashMap<K, V, S>) -> usize {
    let cap = m.capacity();
    let buckets = if cap == 0 { 0 } else { (cap * 8 / 7).next_power_of_two() };
    buckets * (size_of::<(K, V)>() + 1)
}
