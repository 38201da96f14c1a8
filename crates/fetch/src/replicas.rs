//! Fetcher replicas sharing the registry's feeds.
//!
//! Each replica writes a heartbeat key (its name) in the `FetcherReplicas` bucket every third of
//! `replica_ttl_secs`; the bucket expires keys after that TTL, so a replica that died drops out
//! of the live set within one TTL, and one that stops cleanly deletes its key at once. Each feed
//! belongs to its *rendezvous-hash owner* among the live replicas ([`owner`]): the replica with
//! the highest score of hash(feed, replica). When the live set changes, only the feeds of the
//! replica that came or went move.
//!
//! Ownership decides who *tries* to poll a feed; it does not by itself stop two replicas that
//! briefly disagree about the live set from both trying. That is what the per-feed poll claim
//! in the status bucket is for (see [`registry`](crate::registry)): before each poll the owner
//! claims it with compare-and-set, and a claim holds for the feed's interval, so a feed is
//! polled at most once per interval whoever thinks they own it.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use newswire_bus::{Bus, BusError, KvBucket, KvBucketName};

/// The live-replica set of the fetchers sharing one registry, as seen by one of them.
#[derive(Debug, Clone)]
pub struct Membership {
    bucket: KvBucket,
    name: String,
}

impl Membership {
    /// Opens the replicas bucket (entries expire after `ttl`; every replica must use the same
    /// TTL, since opening the bucket sets it) and writes this replica's first heartbeat.
    pub async fn join(bus: &Bus, name: &str, ttl: Duration) -> Result<Self, BusError> {
        let bucket = bus.kv_bucket(KvBucketName::FetcherReplicas, Some(ttl)).await?;
        let m = Self { bucket, name: name.to_owned() };
        m.beat().await?;
        Ok(m)
    }

    /// This replica's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rewrites the heartbeat, keeping this replica alive for another TTL.
    pub async fn beat(&self) -> Result<(), BusError> {
        let value = format!("{{\"beat_at\":\"{}\"}}", Utc::now().to_rfc3339());
        self.bucket.put(&self.name, Bytes::from(value)).await.map(|_| ())
    }

    /// The live replicas, sorted; this one is always included (if its own heartbeat failed
    /// it still polls its share rather than none).
    pub async fn live(&self) -> Result<Vec<String>, BusError> {
        let mut names = self.bucket.keys().await?;
        if !names.iter().any(|n| n == &self.name) {
            names.push(self.name.clone());
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Deletes the heartbeat (a clean stop): the others take over this replica's feeds at
    /// their next look at the live set instead of after the TTL.
    pub async fn leave(&self) {
        if let Err(error) = self.bucket.delete(&self.name).await {
            tracing::warn!(message = "Could not remove the replica's heartbeat; its feeds move after the TTL.", %error);
        }
    }
}

/// A replica name usable as a key: `[A-Za-z0-9_-]`, other characters replaced by `-`; empty:
/// the host name, process id and a random suffix (unique per process).
pub fn replica_name(configured: &str) -> String {
    let raw = if configured.trim().is_empty() {
        let host =
            std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "fetcher".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!("{host}-{}-{:06x}", std::process::id(), mix(u64::from(nanos)) & 0xff_ffff)
    } else {
        configured.trim().to_owned()
    };
    let name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .take(64)
        .collect();
    name
}

/// The owner of `feed` among `replicas` (rendezvous hashing): the replica with the highest
/// score; `None` only if there are no replicas. Every replica computes the same answer from the
/// same set, and removing a replica moves only the feeds it owned.
pub fn owner<'a>(feed: &str, replicas: &'a [String]) -> Option<&'a str> {
    replicas.iter().max_by_key(|r| (score(feed, r), r.as_str())).map(String::as_str)
}

/// FNV-1a over `feed`, a separator and `replica`, then a 64-bit finaliser (FNV alone mixes
/// the last bytes poorly, and replica names often differ only there).
fn score(feed: &str, replica: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in feed.bytes().chain([0xff]).chain(replica.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_spread_and_only_the_departed_replicas_feeds_move() {
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let two: Vec<String> = ["a", "c"].map(String::from).to_vec();
        let feeds: Vec<String> = (0..300).map(|i| format!("feed-{i}")).collect();
        let mut counts = std::collections::HashMap::new();
        for f in &feeds {
            let before = owner(f, &three).unwrap();
            *counts.entry(before).or_insert(0) += 1;
            let after = owner(f, &two).unwrap();
            if before != "b" {
                assert_eq!(before, after, "{f} moved although its owner stayed");
            }
        }
        for r in ["a", "b", "c"] {
            assert!((60..=140).contains(&counts[r]), "{counts:?}");
        }
        assert_eq!(owner("x", &[]), None);
    }

    #[test]
    fn replica_names_are_valid_keys() {
        assert_eq!(replica_name("fetcher 1.eu"), "fetcher-1-eu");
        let generated = replica_name("");
        assert!(
            !generated.is_empty()
                && generated.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
