use serde::Deserialize;

/// The `[processor]` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// Articles remembered for exact deduplication (ids and content hashes); about 150 bytes
    /// each.
    pub dedup_capacity: usize,
    /// Messages taken from the consumer at once.
    pub batch_size: usize,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: String,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self { dedup_capacity: 200_000, batch_size: 64, admin_listen: "127.0.0.1:9102".to_owned() }
    }
}
