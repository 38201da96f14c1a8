//! Deduplication. The core is synchronous and in memory; the stage decides what to do with
//! the verdict.
//!
//! Parts:
//! - [`content_hash`]: the exact-copy fingerprint of a normalised text.
//! - [`ExactDedup`]: remembers recent article ids and content hashes (bounded, oldest
//!   forgotten first) and says whether an article is new, a re-delivery of the same id, or an
//!   exact copy of another article's content.
//! - [`Signature`], [`NearDupIndex`], [`simhash`]: near-duplicates (re-publications with other
//!   boilerplate, diacritics or line breaks) by MinHash + LSH over word shingles.

mod near;

pub use near::{
    CONTAINMENT, CONTAINMENT_MIN_JACCARD, NUM_HASHES, NearDupIndex, Signature, fingerprint, simhash,
};

use std::collections::VecDeque;

use newswire_model::ArticleId;
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

/// SHA-256 of a normalised text, first 128 bits in hex.
pub fn content_hash(normalized: &str) -> String {
    let digest = Sha256::digest(normalized.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What [`ExactDedup::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Never seen.
    New,
    /// This id was already processed (re-poll, second feed with the same link, redelivery, or
    /// a new version): what is known of its latest version.
    SameId(Version),
    /// Another article with exactly this content was already processed.
    SameContent(ArticleId),
}

/// What the processor remembers of an article's latest version, to tell a repeat from a new
/// version (a revision). Hashes are short: a collision only makes one change look like none
/// (or, for `source`, one feed's copy of a link look like a new version of another's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version {
    /// Hash of the raw item as received (title, content, summary): the same value means the
    /// same message again, dropped before any cleaning. 0: unknown (recalled, or forgotten).
    pub raw: u32,
    /// Hash of the source id: another feed's copy of the same link is no new version.
    pub source: u8,
    /// Hash of the cleaned title.
    pub title: u16,
    /// Hash of the cleaned text.
    pub text: u32,
    /// The text's 64-bit SimHash, for the similarity of the next version.
    pub simhash: u64,
    /// Revision number of this version (0: the first), at most 255 here.
    pub revision: u8,
}

/// An id map entry: the [`Version`] and the sequence number of the id's latest record (mod
/// 2^32), so that a re-recorded id is not evicted by its older ring entry. 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Known {
    simhash: u64,
    raw: u32,
    text: u32,
    seq: u32,
    title: u16,
    source: u8,
    revision: u8,
}

impl Known {
    fn new(v: Version, seq: u64) -> Self {
        let Version { raw, source, title, text, simhash, revision } = v;
        Self { simhash, raw, text, seq: seq as u32, title, source, revision }
    }

    fn version(&self) -> Version {
        let Known { simhash, raw, text, title, source, revision, .. } = *self;
        Version { raw, source, title, text, simhash, revision }
    }
}

/// The first 64 bits of a [`content_hash`] (32 hex digits); 0 for anything else, which only
/// costs a missed exact match (the near-duplicate index still sees the copy). 64 bits make a
/// collision among a window of millions a one-in-a-million-million event.
fn hash_bits(content_hash: &str) -> u64 {
    content_hash.get(..16).and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0)
}

/// An id as the 64-bit key of the id map (same collision argument) and as the two halves that
/// give it back (`[u64; 2]` rather than `u128`, whose 16-byte alignment would pad every entry).
fn id_parts(id: &ArticleId) -> (u64, [u64; 2]) {
    let bits = id.to_bits();
    (bits as u64, [(bits >> 64) as u64, bits as u64])
}

fn id_of(parts: [u64; 2]) -> ArticleId {
    ArticleId::from_bits((u128::from(parts[0]) << 64) | u128::from(parts[1]))
}

/// A bounded memory of processed articles: ids (to drop re-deliveries) and content hashes (to
/// mark exact copies under another id).
///
/// Bounded because a processor runs for months: past `capacity` entries the oldest are
/// forgotten. Older repeats are still caught downstream (JetStream's `Nats-Msg-Id` window and
/// the sink's idempotent upsert), so forgetting costs a little work, never a second row.
///
/// Memory per remembered article: one entry in the id map (8 + 24 bytes: the [`Version`] and
/// a sequence number), one in the hash map (8 + 16 bytes) and one in the eviction ring (8 + 8
/// bytes): 72 bytes, about 97 with the maps' spare capacity (measured by `decision-cost`).
#[derive(Debug)]
pub struct ExactDedup {
    /// Id key → its latest version and record.
    ids: FxHashMap<u64, Known>,
    /// Content hash → the first (canonical) article with that content.
    hashes: FxHashMap<u64, [u64; 2]>,
    /// Records in order: (id key, content hash). The front one's sequence number is
    /// `next - order.len()`.
    order: VecDeque<(u64, u64)>,
    next: u64,
    capacity: usize,
}

impl ExactDedup {
    /// Remembers up to `capacity` articles.
    pub fn new(capacity: usize) -> Self {
        Self {
            ids: FxHashMap::default(),
            hashes: FxHashMap::default(),
            order: VecDeque::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// Whether this id was already processed.
    pub fn seen_id(&self, id: &ArticleId) -> bool {
        self.ids.contains_key(&id_parts(id).0)
    }

    /// Whether this very message was already processed (same id, same raw hash): the check
    /// made before any cleaning. A new version of a known id is not seen.
    pub fn seen_version(&self, id: &ArticleId, raw: u32) -> bool {
        self.ids.get(&id_parts(id).0).is_some_and(|k| k.raw == raw && raw != 0)
    }

    /// Classifies an article without remembering it.
    pub fn check(&self, id: &ArticleId, content_hash: &str) -> Verdict {
        if let Some(known) = self.ids.get(&id_parts(id).0) {
            return Verdict::SameId(known.version());
        }
        self.copy_of(id, content_hash).map_or(Verdict::New, Verdict::SameContent)
    }

    /// The first article remembered with this content, if it is another one.
    pub fn copy_of(&self, id: &ArticleId, content_hash: &str) -> Option<ArticleId> {
        let parts = id_parts(id).1;
        self.hashes.get(&hash_bits(content_hash)).filter(|other| **other != parts).map(|o| id_of(*o))
    }

    /// Remembers an article. The first article with a given content stays the canonical one;
    /// a copy's content stands for the article it is a copy `of` (so that a copy of a copy is
    /// marked as a copy of the original, not of the first copy).
    pub fn record(&mut self, id: &ArticleId, content_hash: &str, of: Option<&ArticleId>, version: Version) {
        let ((key, own), hash) = (id_parts(id), hash_bits(content_hash));
        let parts = of.map_or(own, |o| id_parts(o).1);
        let seq = self.next;
        self.next += 1;
        self.ids.insert(key, Known::new(version, seq));
        self.hashes.entry(hash).or_insert(parts);
        self.order.push_back((key, hash));
        while self.order.len() > self.capacity {
            let old_seq = self.next - self.order.len() as u64;
            let Some((old_key, old_hash)) = self.order.pop_front() else { break };
            if self.ids.get(&old_key).is_some_and(|k| k.seq == old_seq as u32) {
                self.ids.remove(&old_key);
            }
            if self.hashes.get(&old_hash).is_some_and(|p| p[1] == old_key) {
                self.hashes.remove(&old_hash);
            }
        }
    }

    /// Forgets an id recorded for an article whose publish then failed, so that its
    /// redelivery is processed again instead of being dropped as a repeat. Its content stays
    /// remembered: the redelivery finds its own id there and is not a copy of itself.
    ///
    /// For a revision, the id stays, one revision back and with its title and text unknown,
    /// so that the redelivery is published as the same revision number again (as a change of
    /// both; its similarity is then measured against itself).
    pub fn forget_id(&mut self, id: &ArticleId) {
        let key = id_parts(id).0;
        match self.ids.get_mut(&key) {
            Some(k) if k.revision > 0 => {
                *k = Known { raw: 0, title: 0, text: 0, revision: k.revision - 1, ..*k };
            }
            _ => {
                self.ids.remove(&key);
            }
        }
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Heap bytes held, from the structures' capacities (see [`newswire_model::map_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        newswire_model::map_bytes(&self.ids)
            + newswire_model::map_bytes(&self.hashes)
            + self.order.capacity() * size_of::<(u64, u64)>()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ArticleId {
        ArticleId::digest(&[&n.to_string()])
    }

    #[test]
    fn verdicts() {
        let mut d = ExactDedup::new(10);
        assert_eq!(d.check(&id(1), &content_hash("h1")), Verdict::New);
        assert_eq!(d.check(&id(1), &content_hash("h1")), Verdict::New, "check alone remembers nothing");
        let v = Version { raw: 7, title: 1, text: 2, ..Version::default() };
        d.record(&id(1), &content_hash("h1"), None, v);
        assert_eq!(d.check(&id(1), &content_hash("h1")), Verdict::SameId(v));
        assert_eq!(d.check(&id(1), &content_hash("changed")), Verdict::SameId(v));
        assert!(d.seen_version(&id(1), 7) && !d.seen_version(&id(1), 8), "a new version is not seen");
        assert_eq!(d.check(&id(2), &content_hash("h1")), Verdict::SameContent(id(1)));
        assert_eq!(d.check(&id(2), &content_hash("h2")), Verdict::New);
    }

    #[test]
    fn memory_is_bounded_and_forgets_oldest_first() {
        let mut d = ExactDedup::new(3);
        for n in 0..5 {
            d.record(&id(n), &content_hash(&format!("h{n}")), None, Version::default());
        }
        assert_eq!(d.len(), 3);
        assert_eq!(d.check(&id(0), &content_hash("h0")), Verdict::New);
        assert_eq!(d.check(&id(4), &content_hash("h4")), Verdict::SameId(Version::default()));
        assert_eq!(d.hashes.len(), 3);
    }

    #[test]
    fn a_forgotten_id_is_processed_again_and_is_not_a_copy_of_itself() {
        let mut d = ExactDedup::new(10);
        d.record(&id(1), &content_hash("a"), None, Version::default());
        d.forget_id(&id(1));
        assert!(!d.seen_id(&id(1)));
        assert_eq!(d.check(&id(1), &content_hash("a")), Verdict::New);
        assert_eq!(d.check(&id(2), &content_hash("a")), Verdict::SameContent(id(1)));
    }

    #[test]
    fn a_forgotten_revision_goes_one_back_with_its_text_unknown() {
        let mut d = ExactDedup::new(10);
        let v = Version { raw: 9, title: 1, text: 2, simhash: 5, revision: 2, ..Version::default() };
        d.record(&id(1), &content_hash("b"), None, v);
        d.forget_id(&id(1));
        let back = Version { raw: 0, title: 0, text: 0, revision: 1, ..v };
        assert_eq!(d.check(&id(1), &content_hash("b")), Verdict::SameId(back));
        assert!(!d.seen_version(&id(1), 9), "the redelivery is processed again");
    }

    #[test]
    fn a_copy_of_a_copy_points_to_the_original() {
        let mut d = ExactDedup::new(10);
        d.record(&id(1), &content_hash("original"), None, Version::default());
        // 2 is a near copy of 1 with other text; 3 has exactly 2's text.
        d.record(&id(2), &content_hash("edited"), Some(&id(1)), Version::default());
        assert_eq!(d.check(&id(3), &content_hash("edited")), Verdict::SameContent(id(1)));
    }

    #[test]
    fn a_re_recorded_id_outlives_its_first_record() {
        let mut d = ExactDedup::new(2);
        d.record(&id(1), &content_hash("a"), None, Version::default());
        d.record(&id(1), &content_hash("a"), None, Version::default());
        d.record(&id(2), &content_hash("b"), None, Version::default());
        assert!(d.seen_id(&id(1)), "the second record of 1 is still in the window");
    }

    #[test]
    fn an_id_map_entry_stays_at_24_bytes() {
        assert_eq!(size_of::<Known>(), 24, "the per-article memory budget counts on it");
    }

    #[test]
    fn content_hash_is_stable_hex() {
        let h = content_hash("abc");
        assert_eq!(h.len(), 32);
        assert_eq!(h, content_hash("abc"));
        assert_ne!(h, content_hash("abd"));
    }
}
