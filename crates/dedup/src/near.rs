//! Near-duplicate detection: b-bit MinHash signatures of word shingles, an LSH index over a
//! bounded window of recent articles whose lookup cost does not depend on the window, and
//! SimHash for downstream consumers.

use std::collections::VecDeque;

use newswire_model::ArticleId;
use rustc_hash::FxHashMap;

/// Hashes per MinHash signature. 128 gives a standard error of about 0.045 on the Jaccard
/// estimate, enough to separate re-publications (≥ 0.8) from related articles (≤ 0.3).
pub const NUM_HASHES: usize = 128;
/// LSH bands × rows = [`NUM_HASHES`]. 32 × 4 makes two signatures with Jaccard 0.5 share a band
/// with probability ≈ 0.88 and with 0.6 ≈ 0.99, while unrelated texts rarely collide.
const BANDS: usize = 32;
const ROWS: usize = NUM_HASHES / BANDS;
/// Words per shingle.
const SHINGLE: usize = 3;
/// Chance that two unrelated min-hashes agree on their lowest 8 bits: the b-bit estimate
/// subtracts it.
const CHANCE: f32 = 1.0 / 256.0;

/// A b-bit MinHash signature (Li and König, "b-Bit Minwise Hashing"): the lowest 8 bits of
/// each of 128 minima (one per bin of one-permutation hashing). 128 bytes instead of 512, at the price of a little variance, which
/// [`similarity`](Self::similarity) corrects for; four consecutive bytes make an LSH band key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    mins: [u8; NUM_HASHES],
    /// No shingles at all (an empty text): similar to nothing.
    empty: bool,
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
        if sh.is_empty() {
            return Self { mins: [0; NUM_HASHES], empty: true };
        }
        let filled = mins;
        for (bin, slot) in mins.iter_mut().enumerate() {
            let mut attempt = 0u64;
            while *slot == EMPTY {
                let probe = mix((bin as u64) << 32 | attempt) as usize % NUM_HASHES;
                *slot = filled[probe];
                attempt += 1;
            }
        }
        Self { mins: mins.map(|m| (m & 0xff) as u8), empty: false }
    }

    /// Estimated Jaccard similarity of the two shingle sets, in `[0, 1]`: the share of equal
    /// bytes, less the share two unrelated signatures have by chance.
    pub fn similarity(&self, other: &Signature) -> f32 {
        if self.empty || other.empty {
            return 0.0;
        }
        let same = self.mins.iter().zip(&other.mins).filter(|(a, b)| a == b).count();
        let raw = same as f32 / NUM_HASHES as f32;
        ((raw - CHANCE) / (1.0 - CHANCE)).clamp(0.0, 1.0)
    }

    /// The LSH band keys: band `b` is the `b`-th four bytes of the signature.
    fn band_keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.mins.chunks_exact(ROWS).map(|rows| u32::from_le_bytes([rows[0], rows[1], rows[2], rows[3]]))
    }
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
/// Each band is a map from band key to the latest article with that key: a lookup reads at
/// most one article per band (32 in all), whatever the window. An older article whose band
/// slot was taken by a newer one with the same four bytes stays reachable through its other
/// bands; a true copy shares many.
///
/// Memory per remembered article: 16 bytes of id and 129 of signature in the ring (152 with
/// padding), and one (key, sequence) pair of 8 bytes in each of the 32 band maps (about 12
/// bytes each with a map's control byte and spare capacity at a window of 50,000 or 200,000):
/// about 530 bytes.
#[derive(Debug)]
pub struct NearDupIndex {
    capacity: usize,
    /// Sequence number of the next insert; the ring's front is `next - entries.len()`.
    next: u64,
    /// (id as two halves, signature): 16 + 129 bytes, 152 with padding.
    entries: VecDeque<([u64; 2], Signature)>,
    /// Per band: key → sequence number (mod 2^32) of the latest article with that key. The
    /// window is far below 2^32, so wrapping offsets from the front are unambiguous.
    bands: Vec<FxHashMap<u32, u32>>,
}

impl NearDupIndex {
    /// Remembers up to `capacity` articles.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize / 2);
        Self { capacity, next: 0, entries: VecDeque::new(), bands: vec![FxHashMap::default(); BANDS] }
    }

    fn first_seq(&self) -> u64 {
        self.next - self.entries.len() as u64
    }

    /// The most similar remembered article with similarity ≥ `threshold`, other than `own`
    /// (an article whose publish failed and came back finds itself), if any. Ties go to the
    /// earlier article.
    pub fn best_match(&self, sig: &Signature, threshold: f32, own: &ArticleId) -> Option<(ArticleId, f32)> {
        if sig.empty {
            return None;
        }
        let own = split(own.to_bits());
        let first = self.first_seq() as u32;
        let mut candidates: Vec<u32> = sig
            .band_keys()
            .zip(&self.bands)
            .filter_map(|(k, band)| band.get(&k))
            .map(|seq| seq.wrapping_sub(first))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut best: Option<([u64; 2], f32)> = None;
        for offset in candidates {
            let Some((id, s)) = self.entries.get(offset as usize) else { continue };
            let similarity = sig.similarity(s);
            if *id != own && similarity >= threshold && best.is_none_or(|(_, b)| similarity > b) {
                best = Some((*id, similarity));
            }
        }
        best.map(|([hi, lo], s)| (ArticleId::from_bits((u128::from(hi) << 64) | u128::from(lo)), s))
    }

    /// Remembers an article's signature (an empty one is not worth remembering).
    pub fn insert(&mut self, id: &ArticleId, sig: Signature) {
        if sig.empty {
            return;
        }
        let seq = self.next as u32;
        self.next += 1;
        for (k, band) in sig.band_keys().zip(&mut self.bands) {
            band.insert(k, seq);
        }
        self.entries.push_back((split(id.to_bits()), sig));
        while self.entries.len() > self.capacity {
            let old = self.first_seq() as u32;
            let Some((_, old_sig)) = self.entries.pop_front() else { break };
            for (k, band) in old_sig.band_keys().zip(&mut self.bands) {
                if band.get(&k) == Some(&old) {
                    band.remove(&k);
                }
            }
        }
    }

    /// Number of remembered articles.
    pub fn len(&self) -> usize {
        self.entries.len()
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
    fn index_finds_the_best_match_and_forgets_the_oldest() {
        let mut idx = NearDupIndex::new(2);
        idx.insert(&id(1), Signature::of(TEXT));
        let hit = idx.best_match(&Signature::of(&format!("{TEXT} اضافه")), 0.7, &id(9));
        assert_eq!(hit.map(|h| h.0), Some(id(1)));
        assert_eq!(
            idx.best_match(&Signature::of(TEXT), 0.7, &id(1)),
            None,
            "an article is no copy of itself"
        );
        idx.insert(&id(2), Signature::of("نص مختلف تماما عن الخبر الاول في كل كلماته وتفاصيله"));
        idx.insert(&id(3), Signature::of("نص ثالث مختلف ايضا عن كل ما سبق من نصوص في هذا الاختبار"));
        assert_eq!(idx.len(), 2);
        assert!(
            idx.best_match(&Signature::of(TEXT), 0.7, &id(9)).is_none(),
            "evicted entries must not match"
        );
        assert!(idx.bands.iter().all(|b| b.len() <= 2), "evicted entries leave the band maps");
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
