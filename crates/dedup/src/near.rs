//! Near-duplicate detection: b-bit MinHash signatures of word shingles, an LSH index over a
//! bounded window of recent articles whose lookup cost does not depend on the window, and
//! SimHash for downstream consumers.

use std::collections::VecDeque;

use newswire_model::ArticleId;

/// Hashes per MinHash signature. 128 gives a standard error of about 0.045 on the Jaccard
/// estimate, enough to separate re-publications (≥ 0.8) from related articles (≤ 0.3).
pub const NUM_HASHES: usize = 128;
/// LSH bands of rows (min-hash bytes), from the first 96 of the [`NUM_HASHES`]; all 128 go into
/// the similarity estimate. 32 bands of 3 make two signatures with a Jaccard of 0.5 share a
/// band with a probability of 0.986, and 0.55 of 0.997, so that an abridged copy (Jaccard about
/// its kept share) is found; related texts (Jaccard 0.1) are candidates 3 % of the time and
/// cost one 128-byte comparison each, unrelated ones almost never. Four rows (0.88 at 0.5)
/// missed one abridged copy in twenty; more bands would cost memory in every slot table.
const BANDS: usize = 32;
const ROWS: usize = 3;
const _: () = assert!(BANDS * ROWS <= NUM_HASHES);
/// Estimated share of the shorter text's shingles found in the longer at or above which it is
/// an abridged copy (see [`Signature::contained`]). The estimate comes from a Jaccard of about
/// 0.5 and carries a σ of about 0.05. An abridged copy with a tenth of words of its own (a
/// teaser line, another outlet's header and footer) has a true containment of about 0.9, two
/// σ above 0.8; an article that shares two thirds of its text with another stays 2.5 σ below.
pub const CONTAINMENT: f32 = 0.8;
/// Below this Jaccard the shorter text is too small a part of the longer to be a copy of it
/// (a quoted paragraph, not an abridged version).
pub const CONTAINMENT_MIN_JACCARD: f32 = 0.4;
/// Texts with fewer shingles are too short for containment to mean anything.
const CONTAINMENT_MIN_SHINGLES: u32 = 40;

/// Largest window of a [`NearDupIndex`] (8 million articles): sequence numbers are kept mod
/// 2^24 in the band tables.
pub const MAX_WINDOW: usize = 1 << 23;
const SEQ_MASK: u32 = (1 << 24) - 1;
/// Words per shingle.
const SHINGLE: usize = 3;
/// Chance that two unrelated min-hashes agree on their lowest 8 bits: the b-bit estimate
/// subtracts it.
const CHANCE: f32 = 1.0 / 256.0;

/// A b-bit MinHash signature (Li and König, "b-Bit Minwise Hashing"): the lowest 8 bits of
/// each of 128 minima (one per bin of one-permutation hashing). 128 bytes instead of 512, at
/// the price of a little variance, which [`similarity`](Self::similarity) corrects for; three
/// consecutive bytes make an LSH band key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    mins: [u8; NUM_HASHES],
    /// Distinct shingles of the text (0: an empty text, similar to nothing): with the Jaccard
    /// estimate, it gives the containment of the shorter text in the longer.
    size: u32,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64's finaliser: a cheap, well-mixed permutation of 64-bit values.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes of the word shingles of a normalised text (all words if there are fewer than a
/// shingle's worth).
fn shingles(normalized: &str) -> Vec<u64> {
    let words: Vec<u64> = newswire_clean::tokens(normalized).map(|w| fnv1a(w.as_bytes())).collect();
    if words.len() < SHINGLE {
        return words;
    }
    words.windows(SHINGLE).map(|w| w.iter().fold(0u64, |acc, h| mix(acc.rotate_left(17) ^ h))).collect()
}

impl Signature {
    /// The signature of a normalised text (see `newswire_clean::normalize_for_matching`).
    /// Deterministic across runs and machines.
    pub fn of(normalized: &str) -> Self {
        Self::of_shingles(&shingles(normalized))
    }

    /// One-permutation hashing (Li, Owen and Zhang, 2012): each shingle is hashed once; its
    /// top 7 bits pick one of the 128 bins and the rest compete for the bin's minimum. That
    /// costs one hash per shingle instead of 128, the difference between a signature being
    /// the processor's largest cost and a negligible one. Bins no shingle fell into (texts of
    /// fewer than a few hundred shingles have some) are filled by optimal densification
    /// (Shrivastava, 2017): an empty bin takes the value of the first non-empty bin in a
    /// fixed pseudo-random sequence of its own, which keeps the estimate unbiased.
    fn of_shingles(sh: &[u64]) -> Self {
        if sh.is_empty() {
            return Self { mins: [0; NUM_HASHES], size: 0 };
        }
        const EMPTY: u64 = u64::MAX;
        let mut mins = [EMPTY; NUM_HASHES];
        for &h in sh {
            let m = mix(h);
            let bin = (m >> 57) as usize;
            let value = m & ((1 << 57) - 1);
            if let Some(slot) = mins.get_mut(bin)
                && value < *slot
            {
                *slot = value;
            }
        }
        let mut distinct = sh.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let size = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
        let filled = mins;
        for (bin, slot) in mins.iter_mut().enumerate() {
            let mut attempt = 0u64;
            while *slot == EMPTY {
                let probe = mix((bin as u64) << 32 | attempt) as usize % NUM_HASHES;
                *slot = filled[probe];
                attempt += 1;
            }
        }
        Self { mins: mins.map(|m| (m & 0xff) as u8), size }
    }

    /// Estimated Jaccard similarity of the two shingle sets, in `[0, 1]`: the share of equal
    /// bytes, less the share two unrelated signatures have by chance.
    pub fn similarity(&self, other: &Signature) -> f32 {
        if self.size == 0 || other.size == 0 {
            return 0.0;
        }
        let same = self.mins.iter().zip(&other.mins).filter(|(a, b)| a == b).count();
        let raw = same as f32 / NUM_HASHES as f32;
        ((raw - CHANCE) / (1.0 - CHANCE)).clamp(0.0, 1.0)
    }

    /// Whether this text is an abridged copy of `other`, an earlier and longer one: at least
    /// [`CONTAINMENT`] of its shingles are in `other` and it is a large part of it (Jaccard
    /// `similarity` ≥ [`CONTAINMENT_MIN_JACCARD`]). A Jaccard threshold alone misses a copy
    /// that keeps the first 55 % of the text (its Jaccard is about 0.55); containment catches
    /// it, while an article that quotes one paragraph of another (small Jaccard) and texts too
    /// short to judge are left alone. Containment comes from the Jaccard estimate and the exact
    /// set sizes: |A∩B| = J(|A|+|B|)/(1+J).
    ///
    /// One way only: a text that contains an earlier, shorter one adds to it (a brief followed
    /// by the full story, a background paragraph reused), and is not hidden as its copy.
    pub fn contained(&self, other: &Signature, similarity: f32) -> bool {
        if similarity < CONTAINMENT_MIN_JACCARD
            || self.size < CONTAINMENT_MIN_SHINGLES
            || self.size > other.size
        {
            return false;
        }
        let shared = similarity * (self.size as f32 + other.size as f32) / (1.0 + similarity);
        shared / self.size as f32 >= CONTAINMENT
    }

    fn band_keys(&self) -> impl Iterator<Item = u32> + '_ {
        band_keys(&self.mins)
    }
}

/// The LSH band keys of a signature: band `b` is its `b`-th three bytes.
fn band_keys(mins: &[u8; NUM_HASHES]) -> impl Iterator<Item = u32> + '_ {
    mins.chunks_exact(ROWS).take(BANDS).map(|rows| u32::from_le_bytes([rows[0], rows[1], rows[2], 0]))
}

/// 64-bit SimHash of a normalised text's shingles, as 16 hex digits: a compact fingerprint
/// downstream systems can compare by Hamming distance.
pub fn simhash(normalized: &str) -> String {
    simhash_of_shingles(&shingles(normalized))
}

/// The [`Signature`] and the [`simhash`] of a normalised text, splitting and hashing its
/// shingles once for both (the processor needs both for every article).
pub fn fingerprint(normalized: &str) -> (Signature, String) {
    let sh = shingles(normalized);
    (Signature::of_shingles(&sh), simhash_of_shingles(&sh))
}

fn simhash_of_shingles(sh: &[u64]) -> String {
    // Counts the set bits of each of the 64 positions eight at a time: `SPREAD[b]` puts bit k
    // of byte b into byte k of a u64, so one addition counts eight positions in eight byte
    // lanes; lanes are emptied into the wide counters before they can overflow.
    const SPREAD: [u64; 256] = {
        let mut t = [0u64; 256];
        let mut b = 0;
        while b < 256 {
            let mut k = 0;
            while k < 8 {
                if b >> k & 1 == 1 {
                    t[b] |= 1 << (8 * k);
                }
                k += 1;
            }
            b += 1;
        }
        t
    };
    let mut ones = [0u32; 64];
    for chunk in sh.chunks(255) {
        let mut lanes = [0u64; 8];
        for &h in chunk {
            for (byte, lane) in lanes.iter_mut().enumerate() {
                *lane += SPREAD[(h >> (8 * byte)) as usize & 0xff];
            }
        }
        for (byte, lane) in lanes.iter().enumerate() {
            for k in 0..8 {
                ones[8 * byte + k] += ((lane >> (8 * k)) & 0xff) as u32;
            }
        }
    }
    // A bit is set where more shingles have it set than not.
    let n = sh.len() as u32;
    let v = ones.iter().enumerate().fold(0u64, |v, (bit, c)| if 2 * c > n { v | (1 << bit) } else { v });
    format!("{v:016x}")
}

/// A 128-bit id as two 64-bit halves (8-byte aligned, unlike `u128`).
fn split(bits: u128) -> [u64; 2] {
    [(bits >> 64) as u64, bits as u64]
}

/// Recent signatures, searchable by LSH; the oldest are forgotten past `capacity`.
///
/// Each band is a direct-mapped table: the band key picks a slot, which holds the latest
/// article written there and an 8-bit tag of its key, so that a lookup rarely takes an
/// article with another key for a candidate (1 in 255). A lookup reads one slot per band (32
/// in all), whatever the window. A slot can be overwritten by a newer article with the same
/// key or with another key that maps to it; the older article stays reachable through its
/// other bands (a true copy shares many: at a Jaccard of 0.8 about 16 of 32, each lost with
/// a probability of at most ~0.4 by the time the article leaves the window). A slot whose
/// article left the window is stale and ignored: nothing needs removing on eviction.
///
/// Memory per remembered article at a full window: 16 bytes of id, 128 of signature and 4 of
/// shingle count in the ring (152 with padding; reserved up to the capacity, not beyond), and
/// one 4-byte slot in each of the 32 band tables, whose size is the capacity rounded up to a
/// power of two: 152 + 128 to 256 bytes.
#[derive(Debug)]
pub struct NearDupIndex {
    capacity: usize,
    /// Sequence number of the next insert; the ring's front is `next - entries.len()`.
    next: u64,
    /// (id as two halves, signature bytes, distinct shingles): 152 bytes with padding.
    entries: VecDeque<([u64; 2], [u8; NUM_HASHES], u32)>,
    /// Per band, `slots` slots: the key's tag (1 to 255; 0 for an empty slot) in the top 8
    /// bits and the sequence number (mod 2^24) of the latest article written there in the
    /// rest. The window is below 2^23, so wrapping offsets from the front are unambiguous.
    bands: Vec<u32>,
    /// Slots per band: a power of two that grows with the ring, up to the capacity's.
    slots: usize,
}

impl NearDupIndex {
    /// Remembers up to `capacity` articles.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_WINDOW);
        Self { capacity, next: 0, entries: VecDeque::new(), bands: Vec::new(), slots: 0 }
    }

    fn first_seq(&self) -> u64 {
        self.next - self.entries.len() as u64
    }

    /// The slot of a band key and the key's tag. The key is three bytes of min-hashes, mixed
    /// so that the slot (low bits) and the tag (top bits) are independent.
    fn slot(&self, band: usize, key: u32) -> (usize, u32) {
        let h = mix(u64::from(key) ^ (band as u64) << 32);
        (band * self.slots + (h as usize & (self.slots - 1)), ((h >> 56) % 255 + 1) as u32)
    }

    fn write(&mut self, mins: &[u8; NUM_HASHES], seq: u32) {
        for (b, k) in band_keys(mins).enumerate() {
            let (slot, tag) = self.slot(b, k);
            if let Some(s) = self.bands.get_mut(slot) {
                *s = tag << 24 | (seq & SEQ_MASK);
            }
        }
    }

    /// The earliest remembered article that `sig` is a copy of (similarity ≥ `threshold`, or
    /// contained in it), other than `own` (an article whose publish failed and came back finds
    /// itself), with the similarity, if any.
    ///
    /// The earliest, not the most similar: when a copy that was missed became an "original"
    /// (say an abridged version), a later copy resembles it more than the true original, and
    /// would be marked as a copy of a copy. A group's members point at its first article.
    pub fn first_match(&self, sig: &Signature, threshold: f32, own: &ArticleId) -> Option<(ArticleId, f32)> {
        if sig.size == 0 || self.bands.is_empty() {
            return None;
        }
        let own = split(own.to_bits());
        let first = self.first_seq() as u32;
        // Slots first, then their reads in a tight loop: in a large window each read misses
        // the cache, and independent reads issued together wait for memory together.
        let mut slots = [(0usize, 0u32); BANDS];
        for ((b, k), slot) in sig.band_keys().enumerate().zip(&mut slots) {
            *slot = self.slot(b, k);
        }
        let mut candidates: Vec<u32> = slots
            .iter()
            .filter_map(|(slot, tag)| self.bands.get(*slot).filter(|s| *s >> 24 == *tag))
            .map(|s| s.wrapping_sub(first) & SEQ_MASK)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        // Offsets from the front, in ascending order: the first copy found is the earliest.
        candidates.into_iter().find_map(|offset| {
            // Stale slots (articles that left the window) fall outside the ring.
            let (id, mins, size) = self.entries.get(offset as usize)?;
            let other = Signature { mins: *mins, size: *size };
            let similarity = sig.similarity(&other);
            let copy = similarity >= threshold || sig.contained(&other, similarity);
            (*id != own && copy).then(|| {
                let [hi, lo] = *id;
                (ArticleId::from_bits((u128::from(hi) << 64) | u128::from(lo)), similarity)
            })
        })
    }

    /// Remembers an article's signature (an empty one is not worth remembering).
    pub fn insert(&mut self, id: &ArticleId, sig: Signature) {
        if sig.size == 0 {
            return;
        }
        let wanted =
            (self.entries.len() + 1).max(1024).next_power_of_two().min(self.capacity.next_power_of_two());
        if wanted > self.slots {
            // Grown with the ring (as a hash map would be), rebuilt oldest first so that the
            // latest article of each slot wins: amortised, a constant cost per insert.
            self.slots = wanted;
            self.bands = vec![0; BANDS * wanted];
            let first = self.first_seq();
            for i in 0..self.entries.len() {
                let Some((_, mins, _)) = self.entries.get(i) else { break };
                let mins = *mins;
                self.write(&mins, (first + i as u64) as u32);
            }
        }
        let seq = self.next as u32;
        self.next += 1;
        self.write(&sig.mins, seq);
        if self.entries.len() == self.entries.capacity() {
            // Grow by doubling, but never past the capacity: a full window holds no spare.
            let more =
                self.entries.len().max(1024).min(self.capacity.saturating_sub(self.entries.len()).max(1));
            self.entries.reserve_exact(more);
        }
        self.entries.push_back((split(id.to_bits()), sig.mins, sig.size));
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
    }

    /// Number of remembered articles.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Heap bytes held: the ring and the band tables, from their capacities.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * size_of::<([u64; 2], [u8; NUM_HASHES], u32)>()
            + self.bands.capacity() * size_of::<u32>()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "تلقى وزير الخارجيه الروسي سيرجي لافروف اتصالا هاتفيا من نظيره الاميركي ماركو روبيو وفق ما نقلته الخارجيه الروسيه مؤكده ان المكالمه تمت بمبادره من واشنطن واضافت وزاره الخارجيه ان الجانبين اتفقا على التعاون على تسويه الوضع في اوكرانيا والشرق الاوسط";

    fn id(n: u8) -> ArticleId {
        ArticleId::digest(&[&n.to_string()])
    }

    #[test]
    fn identical_texts_are_similar_and_different_ones_are_not() {
        let a = Signature::of(TEXT);
        assert_eq!(a.similarity(&Signature::of(TEXT)), 1.0);
        let other = "اعلنت وزاره الخزانه عن توقيع اتفاقيه شراكه في قطاع المعادن مع كييف بعد اشهر من المفاوضات بين الجانبين حول الموارد الطبيعيه";
        assert!(a.similarity(&Signature::of(other)) < 0.1);
    }

    #[test]
    fn a_copy_with_a_changed_tail_is_a_near_duplicate() {
        let copy = format!("{TEXT} المصدر وكالات");
        let s = Signature::of(TEXT).similarity(&Signature::of(&copy));
        assert!(s > 0.8, "{s}");
    }

    #[test]
    fn index_finds_the_first_match_and_forgets_the_oldest() {
        let mut idx = NearDupIndex::new(2);
        idx.insert(&id(1), Signature::of(TEXT));
        let hit = idx.first_match(&Signature::of(&format!("{TEXT} اضافه")), 0.7, &id(9));
        assert_eq!(hit.map(|h| h.0), Some(id(1)));
        assert_eq!(
            idx.first_match(&Signature::of(TEXT), 0.7, &id(1)),
            None,
            "an article is no copy of itself"
        );
        idx.insert(&id(2), Signature::of("نص مختلف تماما عن الخبر الاول في كل كلماته وتفاصيله"));
        idx.insert(&id(3), Signature::of("نص ثالث مختلف ايضا عن كل ما سبق من نصوص في هذا الاختبار"));
        assert_eq!(idx.len(), 2);
        assert!(
            idx.first_match(&Signature::of(TEXT), 0.7, &id(9)).is_none(),
            "evicted entries must not match"
        );
        assert!(idx.entries.len() <= 2, "evicted entries leave the ring");
    }

    #[test]
    fn a_copy_points_at_the_earliest_original_not_at_a_closer_missed_copy() {
        let words: Vec<String> = (0..400).map(|i| format!("c{i}")).collect();
        let mut idx = NearDupIndex::new(10);
        // The original, then a 60 % version remembered as if it had been missed.
        idx.insert(&id(1), Signature::of(&words.join(" ")));
        idx.insert(&id(2), Signature::of(&words[..240].join(" ")));
        // A 70 % version resembles the 60 % one more (Jaccard 0.86) than the original (0.7).
        let copy = Signature::of(&words[..280].join(" "));
        let (to_original, to_missed) = (
            copy.similarity(&Signature::of(&words.join(" "))),
            copy.similarity(&Signature::of(&words[..240].join(" "))),
        );
        assert!(to_missed > to_original, "{to_missed} {to_original}");
        assert_eq!(idx.first_match(&copy, 0.6, &id(3)).map(|m| m.0), Some(id(1)));
    }

    #[test]
    fn b_bit_estimate_tracks_the_true_jaccard() {
        // Two word lists sharing a known share of their shingles.
        let words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let a = words[..300].join(" ");
        let b = words[100..].join(" ");
        // 198 shared shingles of 298 + 298 - 198 = 398 in the union: Jaccard ≈ 0.5.
        let s = Signature::of(&a).similarity(&Signature::of(&b));
        assert!((s - 0.5).abs() < 0.15, "{s}");
        let unrelated: Vec<String> = (0..300).map(|i| format!("x{i}")).collect();
        assert!(Signature::of(&a).similarity(&Signature::of(&unrelated.join(" "))) < 0.05);
        assert_eq!(Signature::of("").similarity(&Signature::of("")), 0.0, "empty texts match nothing");
    }

    #[test]
    fn estimate_tracks_the_true_jaccard_for_short_and_long_texts() {
        // One-permutation hashing leaves bins empty on short texts; densification must keep
        // the estimate close there too. Averaged over several pairs to test the bias, not luck.
        for (len, shift) in [(12, 2), (40, 10), (120, 30), (2_000, 500)] {
            let mut error = 0.0;
            let trials = 20;
            for t in 0..trials {
                let words: Vec<String> = (0..len + shift).map(|i| format!("t{t}w{i}")).collect();
                let a = words[..len].join(" ");
                let b = words[shift..].join(" ");
                let (na, shared) = (len - 2, len - shift - 2);
                let truth = shared as f32 / (2 * na - shared) as f32;
                error += Signature::of(&a).similarity(&Signature::of(&b)) - truth;
            }
            let bias = error / trials as f32;
            assert!(bias.abs() < 0.06, "{len} words: mean error {bias}");
        }
    }

    #[test]
    fn an_abridged_copy_is_caught_by_containment_and_a_quote_is_not() {
        let words: Vec<String> = (0..400).map(|i| format!("a{i}")).collect();
        let original = words.join(" ");
        // Keeps the first half: Jaccard about 0.5, below the 0.6 threshold.
        let abridged = words[..200].join(" ");
        let mut idx = NearDupIndex::new(10);
        idx.insert(&id(1), Signature::of(&original));
        let (a, o) = (Signature::of(&abridged), Signature::of(&original));
        assert!(a.similarity(&o) < 0.6, "the test needs a copy the Jaccard threshold misses");
        assert_eq!(idx.first_match(&a, 0.6, &id(2)).map(|m| m.0), Some(id(1)));
        // One way only: the full text after an earlier abridged version adds to it.
        let mut later = NearDupIndex::new(10);
        later.insert(&id(1), Signature::of(&abridged));
        assert_eq!(later.first_match(&o, 0.6, &id(2)), None);
        // A roundup quoting one paragraph (60 words) among 300 of its own.
        let own: Vec<String> = (0..300).map(|i| format!("r{i}")).collect();
        let roundup =
            format!("{} {} {}", own[..150].join(" "), words[100..160].join(" "), own[150..].join(" "));
        assert_eq!(idx.first_match(&Signature::of(&roundup), 0.6, &id(3)), None);
        // Too short to judge by containment: 30 words of a 70-word text.
        let short: Vec<String> = (0..70).map(|i| format!("s{i}")).collect();
        idx.insert(&id(4), Signature::of(&short.join(" ")));
        let (p, l) = (Signature::of(&short[..30].join(" ")), Signature::of(&short.join(" ")));
        assert!(!p.contained(&l, p.similarity(&l)));
    }

    #[test]
    fn simhash_counts_bits_like_the_plain_definition() {
        let sh: Vec<u64> = (0..1_000u64).map(mix).collect();
        let mut v = 0u64;
        for bit in 0..64 {
            let ones = sh.iter().filter(|h| (*h >> bit) & 1 == 1).count();
            if 2 * ones > sh.len() {
                v |= 1 << bit;
            }
        }
        assert_eq!(simhash_of_shingles(&sh), format!("{v:016x}"));
        assert_ne!(v, 0, "the input must set some bits for the test to mean anything");
    }

    #[test]
    fn fingerprint_is_signature_and_simhash() {
        assert_eq!(fingerprint(TEXT), (Signature::of(TEXT), simhash(TEXT)));
    }

    #[test]
    fn simhash_is_stable_and_close_for_close_texts() {
        let a = u64::from_str_radix(&simhash(TEXT), 16).unwrap();
        let b = u64::from_str_radix(&simhash(&format!("{TEXT} اضافه")), 16).unwrap();
        assert_eq!(simhash(TEXT), simhash(TEXT));
        assert!((a ^ b).count_ones() < 12);
    }
}
