use serde::{Deserialize, Serialize};

/// The `[processor]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// Articles remembered for exact deduplication (ids and content hashes); about 150 bytes
    /// each.
    pub dedup_capacity: usize,
    /// Estimated Jaccard similarity of word 3-shingles at or above which an article is a
    /// near-duplicate of an earlier one (a re-publication with small changes).
    pub near_dup_threshold: f32,
    /// Articles remembered for near-duplicate detection; about 600 bytes each.
    pub near_dup_window: usize,
    /// Cosine similarity (terms and entities, TF-IDF) at or above which an article joins an
    /// earlier article's story.
    pub story_threshold: f32,
    /// Articles remembered for story clustering.
    pub story_window: usize,
    /// Two dated articles further apart than this many hours are never the same story.
    pub story_max_gap_hours: i64,
    /// Keywords per article.
    pub keywords: usize,
    /// Messages taken from the consumer at once.
    pub batch_size: usize,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: String,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            dedup_capacity: 200_000,
            near_dup_threshold: 0.6,
            near_dup_window: 50_000,
            story_threshold: 0.35,
            story_window: 5_000,
            story_max_gap_hours: 96,
            keywords: 10,
            batch_size: 64,
            admin_listen: "127.0.0.1:9102".to_owned(),
        }
    }
}
