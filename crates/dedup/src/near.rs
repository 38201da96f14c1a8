//! Near-duplicate detection: MinHash signatures of word shingles, an LSH index over a bounded
//! window of recent articles, and SimHash for downstream consumers.

use std::collections::{HashMap, VecDeque};

use newswire_model::ArticleId;

/// Hashes per MinHash signature. 128 gives a standard error of about 0.044 on the Jaccard
/// estimate, enough to separate re-publications (≥ 0.8) from related articles (≤ 0.3).
pub const NUM_HASHES: usize = 128;
/// LSH bands × rows = [`NUM_HASHES`]. 32 × 4 makes two signatures with Jaccard 0.5 share a band
/// with probability ≈ 0.88 and with 0.8 almost surely, while unrelated texts rarely collide.
const BANDS: usize = 32;
const ROWS: usize = NUM_HASHES / BANDS;
/// Words per shingle.
const SHINGLE: usize = 3;

/// A MinHash signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature(Vec<u32>);

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

    fn of_shingles(sh: &[u64]) -> Self {
        let mut mins = vec![u32::MAX; NUM_HASHES];
        for &h in sh {
            for (i, m) in mins.iter_mut().enumerate() {
                let v = (mix(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 32) as u32;
                if v < *m {
                    *m = v;
                }
            }
        }
        Self(mins)
    }

    /// Estimated Jaccard similarity of the two shingle sets, in `[0, 1]`.
    pub fn similarity(&self, other: &Signature) -> f32 {
        let same = self.0.iter().zip(&other.0).filter(|(a, b)| a == b && **a != u32::MAX).count();
        same as f32 / NUM_HASHES as f32
    }

    fn band_keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.0
            .chunks(ROWS)
            .enumerate()
            .map(|(b, rows)| rows.iter().fold(mix(b as u64 + 1), |acc, r| mix(acc ^ u64::from(*r))))
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
    let mut acc = [0i32; 64];
    for &h in sh {
        for (bit, a) in acc.iter_mut().enumerate() {
            *a += if (h >> bit) & 1 == 1 { 1 } else { -1 };
        }
    }
    let v = acc.iter().enumerate().fold(0u64, |v, (bit, a)| if *a > 0 { v | (1 << bit) } else { v });
    format!("{v:016x}")
}

/// Recent signatures, searchable by LSH; the oldest are forgotten past `capacity`.
#[derive(Debug)]
pub struct NearDupIndex {
    capacity: usize,
    next: u64,
    entries: VecDeque<(u64, ArticleId, Signature)>,
    bands: Vec<HashMap<u64, Vec<u64>>>,
}

impl NearDupIndex {
    /// Remembers up to `capacity` articles (about 600 bytes each).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next: 0,
            entries: VecDeque::new(),
            bands: vec![HashMap::new(); BANDS],
        }
    }

    /// The most similar remembered article with similarity ≥ `threshold`, if any.
    pub fn best_match(&self, sig: &Signature, threshold: f32) -> Option<(ArticleId, f32)> {
        let first_seq = self.entries.front().map_or(0, |e| e.0);
        let mut candidates: Vec<u64> = sig
            .band_keys()
            .enumerate()
            .filter_map(|(b, k)| self.bands[b].get(&k))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .filter_map(|seq| self.entries.get(usize::try_from(seq - first_seq).ok()?))
            .map(|(_, id, s)| (id.clone(), sig.similarity(s)))
            .filter(|(_, s)| *s >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Remembers an article's signature.
    pub fn insert(&mut self, id: ArticleId, sig: Signature) {
        let seq = self.next;
        self.next += 1;
        for (b, k) in sig.band_keys().enumerate() {
            self.bands[b].entry(k).or_default().push(seq);
        }
        self.entries.push_back((seq, id, sig));
        while self.entries.len() > self.capacity {
            if let Some((old, _, old_sig)) = self.entries.pop_front() {
                for (b, k) in old_sig.band_keys().enumerate() {
                    if let Some(list) = self.bands[b].get_mut(&k) {
                        list.retain(|s| *s != old);
                        if list.is_empty() {
                            self.bands[b].remove(&k);
                        }
                    }
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
        idx.insert(id(1), Signature::of(TEXT));
        let hit = idx.best_match(&Signature::of(&format!("{TEXT} اضافه")), 0.7);
        assert_eq!(hit.map(|h| h.0), Some(id(1)));
        idx.insert(id(2), Signature::of("نص مختلف تماما عن الخبر الاول في كل كلماته وتفاصيله"));
        idx.insert(id(3), Signature::of("نص ثالث مختلف ايضا عن كل ما سبق من نصوص في هذا الاختبار"));
        assert_eq!(idx.len(), 2);
        assert!(idx.best_match(&Signature::of(TEXT), 0.7).is_none(), "evicted entries must not match");
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
