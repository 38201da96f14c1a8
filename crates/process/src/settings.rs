use serde::{Deserialize, Serialize};

/// The `[processor]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// Articles remembered for exact deduplication (ids and content hashes); about 150 bytes
    /// each.
    pub dedup_capacity: usize,
    /// Estimated Jaccard similarity of word 3-shingles at or above which an article is a
    /// near-duplicate of an earlier one (a re-publication with small changes). A shorter text
    /// 80 % contained in a longer one (an abridged copy) is a near-duplicate too.
    pub near_dup_threshold: f32,
    /// Articles remembered for near-duplicate detection; about 300 bytes each (the ring and
    /// the band tables).
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
    /// Messages taken from the consumer at once: analysed together on every core, then decided
    /// in order.
    pub batch_size: usize,
    /// Articles read back from the article stream at start-up to restore the dedup and story
    /// memory (after a restart, or when a standby takes over); 0 starts with an empty memory.
    pub replay_articles: usize,
    /// Time to live of the active processor's lease: a standby replica takes over this long
    /// after the active one stopped renewing it (at once after a clean stop).
    pub lease_ttl_secs: u64,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: String,
}

impl ProcessorSettings {
    /// Weight of an entity relative to an ordinary term in story features.
    pub fn story_entity_weight(&self) -> f32 {
        newswire_enrich::StorySettings::default().entity_weight
    }

    /// `lease_ttl_secs` as a duration (at least a second).
    pub fn lease_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_ttl_secs.max(1))
    }
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
            batch_size: 256,
            replay_articles: 50_000,
            lease_ttl_secs: 10,
            admin_listen: "127.0.0.1:9102".to_owned(),
        }
    }
}
