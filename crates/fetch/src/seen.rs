//! The fetcher's per-feed memory of what it has published, and the decision it drives: which
//! entries of a freshly parsed feed to publish. Pure (no IO, no clock): the async shell in
//! `service` loads it from and stores it in a JetStream key-value bucket.
//!
//! A feed that changed is fetched whole, and most of its entries were published on an earlier
//! poll. JetStream's `Nats-Msg-Id` window drops exact re-publishes only for 10 minutes, so
//! without this memory every poll of a changed feed would re-publish every entry older than
//! that. An entry is published when its [`Fingerprint`] (article id, content hash) is not
//! remembered: a new id, or a known id whose content changed.
//!
//! The memory is bounded: the entries of the current feed document, plus the most recently
//! seen ones that have left it (feeds sometimes drop an entry and bring it back), up to
//! `max(2 × entries, 1,000)` per feed; those that left the document longest ago are forgotten
//! first.

use std::collections::HashSet;

use newswire_model::RawItem;

/// What identifies one published version of an entry: its article id and a hash of the
/// content the processor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The article id ([`ArticleId::to_bits`](newswire_model::ArticleId::to_bits)).
    pub id: u128,
    /// [`content_hash`] of the entry.
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of a parsed entry.
    pub fn of(item: &RawItem) -> Self {
        Self { id: item.id.to_bits(), hash: content_hash(item) }
    }
}

/// The entry's [`RawItem::content_version`]: a hash of the fields that make its content.
pub fn content_hash(item: &RawItem) -> u64 {
    item.content_version()
}

/// What to do with one parsed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not remembered (new id, or changed content): publish it.
    Publish,
    /// Published before with this very content: skip it (counted as dropped, reason `seen`).
    Seen,
}

/// What became of one entry of the current document on this poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The entry is on the bus: skipped as seen, or published (JetStream acknowledged it, as
    /// new or as a duplicate it already had).
    OnBus,
    /// The publish failed: the entry must not be remembered, so that the next poll publishes
    /// it again.
    Failed,
}

/// The smallest bound of a feed's memory, whatever the size of its document.
pub const MIN_CAPACITY: usize = 1_000;

/// The encoding's version byte: a memory written in another format decodes as an error (and
/// the fetcher then starts afresh) rather than as garbage.
const VERSION: u8 = 1;
/// Bytes per remembered entry: 16 (id) + 8 (hash).
const ENTRY_BYTES: usize = 24;

/// The value in the key-value bucket does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeenDecodeError {
    /// Empty, or written in another format version.
    #[error("unknown memory format (version byte {0:?})")]
    Version(Option<u8>),
    /// Truncated: the length is not a whole number of entries.
    #[error("truncated memory: {0} bytes after the version byte is not a multiple of 24")]
    Length(usize),
}

/// A feed's memory: remembered fingerprints, oldest first ("oldest" meaning: left the feed
/// document longest ago; the entries of the latest document are last, in document order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenMemory {
    entries: Vec<Fingerprint>,
}

impl SeenMemory {
    /// A memory holding these fingerprints, oldest first (for tests and tools).
    pub fn from_entries(entries: Vec<Fingerprint>) -> Self {
        Self { entries }
    }

    /// Remembered fingerprints, oldest first.
    pub fn entries(&self) -> &[Fingerprint] {
        &self.entries
    }

    /// Number of remembered fingerprints.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered (a new feed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether this exact version of an entry was published.
    pub fn contains(&self, fp: &Fingerprint) -> bool {
        self.entries.contains(fp)
    }

    /// For each entry of the current document (in order), whether to publish it.
    pub fn diff(&self, current: &[Fingerprint]) -> Vec<Decision> {
        let known: HashSet<&Fingerprint> = self.entries.iter().collect();
        current.iter().map(|fp| if known.contains(fp) { Decision::Seen } else { Decision::Publish }).collect()
    }

    /// For each entry of the current document, whether the memory holds another version of it
    /// (same article id, other content): a changed entry, published as a new version.
    pub fn changed(&self, current: &[Fingerprint]) -> Vec<bool> {
        let known: HashSet<&Fingerprint> = self.entries.iter().collect();
        let ids: HashSet<u128> = self.entries.iter().map(|fp| fp.id).collect();
        current.iter().map(|fp| !known.contains(fp) && ids.contains(&fp.id)).collect()
    }

    /// The memory after a poll, given each entry of the current document (in order) and what
    /// became of it, and whether it differs from `self` (so that an unchanged memory is not
    /// written back).
    ///
    /// - Entries on the bus are remembered, at the end, in document order.
    /// - Failed entries are not: the next poll publishes them again. (An older remembered
    ///   version of a failed entry stays; it does not match the new content anyway.)
    /// - An older version of an entry whose current version is on the bus is forgotten, so
    ///   that a change back to it is a change again.
    /// - Remembered entries no longer in the document stay, in their order, until the bound
    ///   `max(2 × current.len(), MIN_CAPACITY)` pushes the oldest out.
    pub fn remember(&self, current: &[(Fingerprint, Outcome)]) -> (SeenMemory, bool) {
        let mut on_bus: Vec<Fingerprint> = Vec::with_capacity(current.len());
        let mut on_bus_set: HashSet<Fingerprint> = HashSet::with_capacity(current.len());
        for (fp, outcome) in current {
            if *outcome == Outcome::OnBus && on_bus_set.insert(*fp) {
                on_bus.push(*fp);
            }
        }
        let on_bus_ids: HashSet<u128> = on_bus.iter().map(|fp| fp.id).collect();
        let previous: HashSet<&Fingerprint> = self.entries.iter().collect();
        let added = on_bus.iter().any(|fp| !previous.contains(fp));

        let mut superseded = false;
        let mut entries: Vec<Fingerprint> = Vec::with_capacity(self.entries.len() + on_bus.len());
        for fp in &self.entries {
            if on_bus_set.contains(fp) {
                continue; // moves to the end, with the current document
            }
            if on_bus_ids.contains(&fp.id) {
                superseded = true; // an older version of an entry now on the bus
                continue;
            }
            entries.push(*fp);
        }
        entries.extend(on_bus);
        let capacity = (2 * current.len()).max(MIN_CAPACITY);
        if entries.len() > capacity {
            entries.drain(..entries.len() - capacity);
        }
        (SeenMemory { entries }, added || superseded)
    }

    /// The stored form: one version byte, then per entry the id (16 bytes) and the hash
    /// (8 bytes), big-endian. Binary because the value is read only by this code and is
    /// rewritten whole on every change: 24 bytes an entry against about 60 in JSON with hex
    /// ids, i.e. 1,201 bytes for a 50-entry feed and at most 24,001 at the 1,000-entry bound.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.entries.len() * ENTRY_BYTES);
        out.push(VERSION);
        for fp in &self.entries {
            out.extend_from_slice(&fp.id.to_be_bytes());
            out.extend_from_slice(&fp.hash.to_be_bytes());
        }
        out
    }

    /// Reads the stored form back (see [`encode`](Self::encode)).
    pub fn decode(bytes: &[u8]) -> Result<Self, SeenDecodeError> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(SeenDecodeError::Version(None));
        };
        if version != VERSION {
            return Err(SeenDecodeError::Version(Some(version)));
        }
        if rest.len() % ENTRY_BYTES != 0 {
            return Err(SeenDecodeError::Length(rest.len()));
        }
        let entries = rest
            .chunks_exact(ENTRY_BYTES)
            .map(|c| {
                let (id, hash) = c.split_at(16);
                let mut id_bytes = [0u8; 16];
                id_bytes.copy_from_slice(id);
                let mut hash_bytes = [0u8; 8];
                hash_bytes.copy_from_slice(hash);
                Fingerprint { id: u128::from_be_bytes(id_bytes), hash: u64::from_be_bytes(hash_bytes) }
            })
            .collect();
        Ok(Self { entries })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use newswire_model::{ArticleId, Category, SourceId};

    use super::*;

    fn item(n: u32, title: &str) -> RawItem {
        RawItem {
            schema_version: 1,
            id: ArticleId::digest(&["test", &n.to_string()]),
            source_id: SourceId::parse("feed").unwrap(),
            feed_url: "https://example.com/feed".into(),
            guid: None,
            link: Some(format!("https://example.com/{n}")),
            title: Some(title.to_owned()),
            content: Some("<p>body</p>".into()),
            summary: None,
            authors: vec![],
            feed_categories: vec![],
            published: Some(Utc.with_ymd_and_hms(2025, 2, 16, 9, 30, 0).unwrap()),
            updated: None,
            language_hint: None,
            category: Category::default(),
            fetched_at: Utc::now(),
            http: None,
        }
    }

    fn fp(id: u128, hash: u64) -> Fingerprint {
        Fingerprint { id, hash }
    }

    fn all_on_bus(fps: &[Fingerprint]) -> Vec<(Fingerprint, Outcome)> {
        fps.iter().map(|f| (*f, Outcome::OnBus)).collect()
    }

    #[test]
    fn a_known_id_with_other_content_is_changed_and_a_new_id_is_not() {
        let (m, _) = SeenMemory::default().remember(&all_on_bus(&[fp(1, 10), fp(2, 20)]));
        assert_eq!(m.changed(&[fp(1, 10), fp(2, 21), fp(3, 30)]), [false, true, false]);
    }

    #[test]
    fn the_hash_follows_content_not_fetch_time() {
        let a = item(1, "title");
        let mut b = a.clone();
        b.fetched_at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        b.authors.push("someone".into());
        assert_eq!(content_hash(&a), content_hash(&b), "fetch time and authors are not content");
        for change in [
            |i: &mut RawItem| i.title = Some("other".into()),
            |i: &mut RawItem| i.link = Some("https://example.com/other".into()),
            |i: &mut RawItem| i.content = Some("<p>edited</p>".into()),
            |i: &mut RawItem| i.summary = Some(String::new()),
            |i: &mut RawItem| i.published = None,
            |i: &mut RawItem| i.updated = Some(Utc.with_ymd_and_hms(2025, 2, 17, 0, 0, 0).unwrap()),
        ] {
            let mut c = a.clone();
            change(&mut c);
            assert_ne!(content_hash(&a), content_hash(&c), "{c:?}");
        }
        // Field boundaries count: moving text from title to content is a change.
        let mut d = a.clone();
        d.title = Some("ti".into());
        d.content = Some("tle<p>body</p>".into());
        assert_ne!(content_hash(&a), content_hash(&d));
        // Stable across runs, platforms and releases (it is stored): pinned. If this changes,
        // every remembered entry looks changed once and is published again.
        assert_eq!(content_hash(&a), content_hash(&item(1, "title")));
        assert_eq!(content_hash(&a), 18_404_279_695_331_066_801);
    }

    #[test]
    fn a_new_feed_publishes_everything_and_a_repoll_nothing() {
        let current: Vec<Fingerprint> = (0..5).map(|i| fp(i, 100 + i as u64)).collect();
        let empty = SeenMemory::default();
        assert!(empty.diff(&current).iter().all(|d| *d == Decision::Publish));
        let (memory, changed) = empty.remember(&all_on_bus(&current));
        assert!(changed);
        assert_eq!(memory.entries(), &current[..]);
        assert!(memory.diff(&current).iter().all(|d| *d == Decision::Seen));
        let (again, changed) = memory.remember(&all_on_bus(&current));
        assert!(!changed, "nothing new: no write");
        assert_eq!(again, memory);
    }

    #[test]
    fn new_and_changed_entries_are_published_the_rest_is_seen() {
        let first: Vec<Fingerprint> = (0..5).map(|i| fp(i, 1)).collect();
        let (memory, _) = SeenMemory::default().remember(&all_on_bus(&first));
        // Three new entries at the top, entry 2 edited, entry 0 gone from the feed.
        let mut current: Vec<Fingerprint> = vec![fp(1, 1), fp(2, 2), fp(3, 1), fp(4, 1)];
        current.extend([fp(10, 1), fp(11, 1), fp(12, 1)]);
        let decisions = memory.diff(&current);
        let published: Vec<u128> = current
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| **d == Decision::Publish)
            .map(|(f, _)| f.id)
            .collect();
        assert_eq!(published, vec![2, 10, 11, 12]);
        let (next, changed) = memory.remember(&all_on_bus(&current));
        assert!(changed);
        // Entry 0 left the feed but is still remembered (oldest); the old version of 2 is gone.
        let mut expected = vec![fp(0, 1)];
        expected.extend(&current);
        assert_eq!(next.entries(), &expected[..]);
        // A change back to the old version is a change again.
        assert_eq!(next.diff(&[fp(2, 1)]), vec![Decision::Publish]);
    }

    #[test]
    fn only_entries_on_the_bus_are_remembered() {
        let first = [fp(1, 1), fp(2, 1)];
        let (memory, _) = SeenMemory::default().remember(&all_on_bus(&first));
        // Poll 2: entry 1 seen, 2 changed but its publish failed, 3 new and failed, 4 new and
        // published.
        let current = [
            (fp(1, 1), Outcome::OnBus),
            (fp(2, 9), Outcome::Failed),
            (fp(3, 1), Outcome::Failed),
            (fp(4, 1), Outcome::OnBus),
        ];
        let (next, changed) = memory.remember(&current);
        assert!(changed);
        assert!(
            !next.contains(&fp(2, 9)) && !next.contains(&fp(3, 1)),
            "failed publishes are not remembered"
        );
        assert!(next.contains(&fp(4, 1)) && next.contains(&fp(1, 1)));
        // So the next poll publishes exactly the two failures again.
        let fps: Vec<Fingerprint> = current.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            next.diff(&fps),
            vec![Decision::Seen, Decision::Publish, Decision::Publish, Decision::Seen]
        );
        // Nothing succeeded and nothing was known: nothing to write.
        let (_, changed) = SeenMemory::default().remember(&[(fp(7, 7), Outcome::Failed)]);
        assert!(!changed);
    }

    #[test]
    fn the_memory_is_bounded_and_forgets_what_left_the_feed_first() {
        // A 50-entry feed that turned over 30 times: 1,550 entries went through it.
        let mut memory = SeenMemory::default();
        for round in 0..31u128 {
            let doc: Vec<Fingerprint> = (round * 50..round * 50 + 50).map(|i| fp(i, 0)).collect();
            memory = memory.remember(&all_on_bus(&doc)).0;
        }
        assert_eq!(memory.len(), MIN_CAPACITY);
        assert_eq!(memory.entries()[0], fp(1550 - 1000, 0), "the oldest are forgotten first");
        assert_eq!(memory.entries().last(), Some(&fp(1549, 0)));
        assert_eq!(memory.encode().len(), 1 + 24 * MIN_CAPACITY);
        // A feed larger than the minimum keeps its whole document and as much again.
        let big: Vec<Fingerprint> = (0..1500).map(|i| fp(i, 0)).collect();
        let (m, _) = SeenMemory::default().remember(&all_on_bus(&big));
        let bigger: Vec<Fingerprint> = (1500..3000).map(|i| fp(i, 0)).collect();
        let (m, _) = m.remember(&all_on_bus(&bigger));
        assert_eq!(m.len(), 3000);
        let (m, _) = m.remember(&all_on_bus(&(3000..4500).map(|i| fp(i, 0)).collect::<Vec<_>>()));
        assert_eq!(m.len(), 3000);
        assert_eq!(m.entries()[0], fp(1500, 0));
    }

    #[test]
    fn an_entry_back_in_the_feed_moves_to_the_end() {
        let (m, _) = SeenMemory::default().remember(&all_on_bus(&[fp(1, 0), fp(2, 0)]));
        let (m, _) = m.remember(&all_on_bus(&[fp(3, 0)]));
        assert_eq!(m.entries(), &[fp(1, 0), fp(2, 0), fp(3, 0)]);
        let (m, changed) = m.remember(&all_on_bus(&[fp(1, 0), fp(3, 0)]));
        assert!(!changed, "same set, only the order moved");
        assert_eq!(m.entries(), &[fp(2, 0), fp(1, 0), fp(3, 0)]);
    }

    #[test]
    fn the_same_id_twice_in_one_document_does_not_flip_flop() {
        let doc = [fp(1, 1), fp(1, 2)];
        let (m, _) = SeenMemory::default().remember(&all_on_bus(&doc));
        assert_eq!(m.diff(&doc), vec![Decision::Seen, Decision::Seen]);
        assert!(!m.remember(&all_on_bus(&doc)).1);
    }

    #[test]
    fn encoding_round_trips_and_size_is_24_bytes_an_entry() {
        let m = SeenMemory::from_entries((0..50).map(|i| fp(u128::MAX - i, u64::MAX - i as u64)).collect());
        let bytes = m.encode();
        assert_eq!(bytes.len(), 1 + 50 * 24, "a 50-entry feed: 1,201 bytes");
        assert_eq!(SeenMemory::decode(&bytes), Ok(m));
        assert_eq!(SeenMemory::decode(&[1]), Ok(SeenMemory::default()));
        assert_eq!(SeenMemory::decode(&[]), Err(SeenDecodeError::Version(None)));
        assert_eq!(SeenMemory::decode(b"{\"json\":1}"), Err(SeenDecodeError::Version(Some(b'{'))));
        assert_eq!(SeenMemory::decode(&bytes[..30]), Err(SeenDecodeError::Length(29)));
    }
}
