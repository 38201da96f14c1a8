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

pub use near::{NUM_HASHES, NearDupIndex, Signature, fingerprint, simhash};

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

use newswire_model::ArticleId;
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
    /// This id was already processed (re-poll, second feed with the same link, redelivery).
    SameId,
    /// Another article with exactly this content was already processed.
    SameContent(ArticleId),
}

/// A bounded memory of processed articles.
///
/// Bounded because a processor runs for months: past `capacity` entries the oldest are
/// forgotten. Older repeats are still caught downstream (JetStream's `Nats-Msg-Id` window and
/// the sink's idempotent upsert), so forgetting costs a little work, never a second row.
#[derive(Debug)]
pub struct ExactDedup {
    ids: Bounded<ArticleId>,
    hashes: HashMap<String, ArticleId>,
    hash_order: VecDeque<String>,
    capacity: usize,
}

impl ExactDedup {
    /// Remembers up to `capacity` articles.
    pub fn new(capacity: usize) -> Self {
        Self {
            ids: Bounded::new(capacity),
            hashes: HashMap::new(),
            hash_order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Classifies an article without remembering it.
    pub fn check(&self, id: &ArticleId, content_hash: &str) -> Verdict {
        if self.ids.contains(id) {
            return Verdict::SameId;
        }
        match self.hashes.get(content_hash) {
            Some(other) if other != id => Verdict::SameContent(other.clone()),
            _ => Verdict::New,
        }
    }

    /// Remembers an article once it has been handed on, so that a failed publish is not
    /// mistaken for a duplicate on redelivery. The first article with a given content stays
    /// the canonical one.
    pub fn record(&mut self, id: &ArticleId, content_hash: &str) {
        self.ids.insert(id.clone());
        if !self.hashes.contains_key(content_hash) {
            self.hashes.insert(content_hash.to_owned(), id.clone());
            self.hash_order.push_back(content_hash.to_owned());
            while self.hash_order.len() > self.capacity {
                if let Some(old) = self.hash_order.pop_front() {
                    self.hashes.remove(&old);
                }
            }
        }
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.ids.set.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.ids.set.is_empty()
    }
}

/// A set that forgets its oldest member past its capacity.
#[derive(Debug)]
struct Bounded<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
    capacity: usize,
}

impl<T: Eq + Hash + Clone> Bounded<T> {
    fn new(capacity: usize) -> Self {
        Self { set: HashSet::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }
    fn contains(&self, v: &T) -> bool {
        self.set.contains(v)
    }
    fn insert(&mut self, v: T) {
        if self.set.insert(v.clone()) {
            self.order.push_back(v);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
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
        assert_eq!(d.check(&id(1), "h1"), Verdict::New);
        assert_eq!(d.check(&id(1), "h1"), Verdict::New, "check alone remembers nothing");
        d.record(&id(1), "h1");
        assert_eq!(d.check(&id(1), "h1"), Verdict::SameId);
        assert_eq!(d.check(&id(1), "changed"), Verdict::SameId);
        assert_eq!(d.check(&id(2), "h1"), Verdict::SameContent(id(1)));
        assert_eq!(d.check(&id(2), "h2"), Verdict::New);
    }

    #[test]
    fn memory_is_bounded_and_forgets_oldest_first() {
        let mut d = ExactDedup::new(3);
        for n in 0..5 {
            d.record(&id(n), &format!("h{n}"));
        }
        assert_eq!(d.len(), 3);
        assert_eq!(d.check(&id(0), "h0"), Verdict::New);
        assert_eq!(d.check(&id(4), "h4"), Verdict::SameId);
        assert_eq!(d.hashes.len(), 3);
    }

    #[test]
    fn content_hash_is_stable_hex() {
        let h = content_hash("abc");
        assert_eq!(h.len(), 32);
        assert_eq!(h, content_hash("abc"));
        assert_ne!(h, content_hash("abd"));
    }
}
