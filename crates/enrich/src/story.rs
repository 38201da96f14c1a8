//! Story clustering: which story is this article about?
//!
//! Each article is a sparse vector of its terms and entities weighted by TF-IDF. A story keeps
//! a bounded centroid (the sum of its members' unit vectors, cut to the most weighted
//! [`CENTROID_FEATURES`]); an article joins the story whose centroid is most similar (cosine ≥
//! threshold, within the time gap), else it starts one. Comparing with centroids rather than
//! with every member keeps chains from forming: a story grows only with articles close to
//! what it is about overall, not to its latest member.
//!
//! The cost per article does not grow with the window:
//! - features are 32-bit ids hashed once per article, never strings in the hot loop;
//! - candidates come from an inverted index over each member's top features, with at most
//!   [`POSTING_CAP`] (the most recent) stories per feature, and features carried by a large
//!   share of the window (weak evidence) are not used to find candidates at all; of those,
//!   the [`MAX_CANDIDATES`] found under the most features are compared;
//! - document frequencies are counted over two generations of half a window each (no
//!   per-article lists to decrement).

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use newswire_model::{ArticleId, Entity, EntityKind};
use rustc_hash::FxHashMap;

use crate::Terms;

/// An article's features used to look up candidate stories: its most weighted ones.
const QUERY_FEATURES: usize = 24;
/// Features under which a member article indexes its story. Rare, specific terms and names
/// are what two reports of one event share.
const INDEXED_FEATURES: usize = 6;
/// Features kept in a story's centroid.
pub const CENTROID_FEATURES: usize = 24;
/// Stories remembered per feature in the inverted index (the most recent).
pub const POSTING_CAP: usize = 4;
/// Candidate stories compared in full per article: those found under the most of its query
/// features. Each comparison reads a story's centroid from memory that, in a large window, is
/// rarely in cache; bounding them keeps the cost flat as the window grows.
pub const MAX_CANDIDATES: usize = 16;
const NO_STORY: u32 = u32::MAX;

/// Story clustering settings (part of `[processor]`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorySettings {
    /// Cosine similarity at or above which an article joins a story.
    pub threshold: f32,
    /// Articles remembered, most recent first; a story none of whose members is among them is
    /// forgotten.
    pub window: usize,
    /// A dated article further than this from a story's first-to-last time span never joins it.
    pub max_gap: Duration,
    /// Weight of an entity relative to an ordinary term: the people and places involved say
    /// more about which event it is than the words used to describe it.
    pub entity_weight: f32,
}

impl Default for StorySettings {
    fn default() -> Self {
        Self { threshold: 0.35, window: 5_000, max_gap: Duration::days(4), entity_weight: 3.0 }
    }
}

/// 32-bit id of a feature (FNV-1a): hashed once per article. A collision merges two features'
/// counts, a negligible error at news vocabularies of a few million features.
pub fn feature_id(feature: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in feature.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The features of an article: feature id → log-scaled frequency, sorted by id. Entities are
/// separate features from words (`@` + canonical name).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features(Vec<(u32, f32)>);

impl Features {
    /// Terms and entities as features. Places weigh half as much as people and organisations:
    /// most stories of a region share them. Pure, so it runs in the parallel analysis step.
    pub fn of(terms: &Terms, entities: &[Entity], entity_weight: f32) -> Self {
        let mut tf: FxHashMap<u32, f32> =
            FxHashMap::with_capacity_and_hasher(terms.len() + entities.len(), Default::default());
        for t in terms.iter() {
            tf.insert(feature_id(t.stem), 1.0 + (t.count as f32).ln());
        }
        for e in entities {
            let kind_weight = if e.kind == EntityKind::Place { 0.5 } else { 1.0 };
            let w = (1.0 + (e.count.max(1) as f32).ln()) * entity_weight * kind_weight;
            tf.insert(feature_id(&format!("@{}", e.name)), w);
        }
        let mut v: Vec<(u32, f32)> = tf.into_iter().collect();
        v.sort_unstable_by_key(|(f, _)| *f);
        Self(v)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the article has no features.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A packed document frequency: current generation (low 16 bits) + previous (high 16 bits).
fn df_total(counts: u32) -> u32 {
    (counts & 0xffff) + (counts >> 16)
}

/// Smoothed inverse document frequency (≥ 1) among `docs` articles.
fn idf(docs: u32, df: u32) -> f32 {
    ((docs as f32 + 1.0) / (df as f32 + 1.0)).ln() + 1.0
}

/// Weights scaled to a unit vector (empty if all are zero), order kept.
fn unit(mut v: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|(_, w)| *w /= norm);
    } else {
        v.clear();
    }
    v
}

/// An article weighed against the remembered articles: see [`StoryIndex::weigh`].
#[derive(Debug, Clone, PartialEq)]
pub struct Weighed {
    /// (feature, idf), sorted by feature.
    idf: Vec<(u32, f32)>,
    /// The TF-IDF unit vector, sorted by feature.
    unit: Vec<(u32, f32)>,
}

impl Weighed {
    /// The idf of one of the article's features (`None` for a feature it does not have).
    pub fn idf_of(&self, f: u32) -> Option<f32> {
        self.idf.binary_search_by_key(&f, |(k, _)| *k).ok().and_then(|i| self.idf.get(i)).map(|(_, w)| *w)
    }
}

#[derive(Debug)]
struct Story {
    /// The story id: the id of its first article, as 128 bits.
    id: [u64; 2],
    /// Sum of the members' unit vectors, cut to [`CENTROID_FEATURES`], sorted by feature.
    centroid: Box<[(u32, f32)]>,
    norm: f32,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    /// Sequence number of its latest member (the story is forgotten when it leaves the window).
    last_seq: u64,
}

impl Story {
    /// Whether a dated article is within the gap of the story's time span.
    fn within_gap(&self, published: Option<DateTime<Utc>>, gap: Duration) -> bool {
        match (published, self.first, self.last) {
            (Some(p), Some(first), Some(last)) => p >= first - gap && p <= last + gap,
            _ => true,
        }
    }
}

/// Remembered stories, document frequencies and the inverted index.
#[derive(Debug)]
pub struct StoryIndex {
    settings: StorySettings,
    /// Document frequencies in the current and the previous generation, in one map so that a
    /// feature's frequency costs one lookup, each entry the two counts in 16 bits each
    /// (saturating: only a feature in over 65,535 articles of half a window, far past
    /// "common", reaches the cap), so that the map, read for every feature of every article,
    /// is as dense as it can be.
    df: FxHashMap<u32, u32>,
    docs: [u32; 2],
    stories: FxHashMap<u32, Story>,
    by_id: FxHashMap<[u64; 2], u32>,
    /// Feature → the most recent stories indexed under it (first = newest).
    postings: FxHashMap<u32, [u32; POSTING_CAP]>,
    /// Remembered articles in order: (story key, sequence number).
    members: VecDeque<(u32, u64)>,
    next_seq: u64,
    next_story: u32,
}

impl StoryIndex {
    /// An empty index.
    pub fn new(settings: StorySettings) -> Self {
        Self {
            settings,
            df: FxHashMap::default(),
            docs: [0, 0],
            stories: FxHashMap::default(),
            by_id: FxHashMap::default(),
            postings: FxHashMap::default(),
            members: VecDeque::new(),
            next_seq: 0,
            next_story: 0,
        }
    }

    fn window(&self) -> usize {
        self.settings.window.max(1)
    }

    fn df_of(&self, f: u32) -> u32 {
        self.df.get(&f).map_or(0, |c| df_total(*c))
    }

    fn doc_count(&self) -> u32 {
        self.docs[0] + self.docs[1]
    }

    /// [`idf`](Self::idf) of a feature id ([`feature_id`]).
    pub fn idf_of(&self, f: u32) -> f32 {
        idf(self.doc_count(), self.df_of(f))
    }

    /// Inverse document frequency of a feature among the remembered articles (smoothed, ≥ 1).
    pub fn idf(&self, feature: &str) -> f32 {
        self.idf_of(feature_id(feature))
    }

    /// A feature carried by more than a twentieth of the window (and by more than 50
    /// articles): too common to find candidates with.
    fn is_common(&self, f: u32) -> bool {
        let df = self.df_of(f);
        df > 50 && df as usize > self.doc_count() as usize / 20
    }

    /// Terms and entities as features, with this index's entity weight.
    pub fn features(&self, terms: &Terms, entities: &[Entity]) -> Features {
        Features::of(terms, entities, self.settings.entity_weight)
    }

    /// An article's TF-IDF vector under the current document frequencies, each looked up
    /// once: shared by [`best_story_weighed`](Self::best_story_weighed) and keyword selection
    /// ([`Weighed::idf_of`]), so that a decision reads the frequency map once per feature.
    pub fn weigh(&self, f: &Features) -> Weighed {
        let n = self.doc_count();
        let idf: Vec<(u32, f32)> = f.0.iter().map(|(k, _)| (*k, idf(n, self.df_of(*k)))).collect();
        let unit = unit(f.0.iter().zip(&idf).map(|((k, tf), (_, i))| (*k, tf * i)).collect());
        Weighed { idf, unit }
    }

    /// The `n` most weighted features, ties by feature id.
    fn top(v: &[(u32, f32)], n: usize) -> Vec<(u32, f32)> {
        let mut t = v.to_vec();
        t.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        t.truncate(n);
        t
    }

    /// The most similar remembered story at or above the threshold and within the time gap,
    /// with its similarity. Ties go to the older story.
    pub fn best_story(&self, f: &Features, published: Option<DateTime<Utc>>) -> Option<(String, f32)> {
        self.best_story_weighed(&self.weigh(f), published)
    }

    /// [`best_story`](Self::best_story) of an article already [weighed](Self::weigh).
    pub fn best_story_weighed(&self, w: &Weighed, published: Option<DateTime<Utc>>) -> Option<(String, f32)> {
        let u = &w.unit;
        if u.is_empty() {
            return None;
        }
        let mut candidates: Vec<u32> = Self::top(u, QUERY_FEATURES)
            .iter()
            .filter(|(k, _)| !self.is_common(*k))
            .filter_map(|(k, _)| self.postings.get(k))
            .flatten()
            .copied()
            .filter(|s| *s != NO_STORY)
            .collect();
        candidates.sort_unstable();
        // Stories found under more of the article's features first (the likeliest matches),
        // older first among equals; only the first `MAX_CANDIDATES` are compared.
        let mut ranked: Vec<(u32, u32)> = Vec::with_capacity(candidates.len());
        for key in candidates {
            match ranked.last_mut() {
                Some((k, hits)) if *k == key => *hits += 1,
                _ => ranked.push((key, 1)),
            }
        }
        ranked.sort_by_key(|(_, hits)| std::cmp::Reverse(*hits));
        ranked.truncate(MAX_CANDIDATES);
        ranked.sort_unstable();
        // All lookups first (independent memory reads, which overlap), then the comparisons.
        let stories: Vec<&Story> = ranked.iter().filter_map(|(key, _)| self.stories.get(key)).collect();
        let mut best: Option<(&Story, f32)> = None;
        for story in stories {
            if !story.within_gap(published, self.settings.max_gap) || story.norm == 0.0 {
                continue;
            }
            let dot: f32 = story
                .centroid
                .iter()
                .filter_map(|(k, c)| u.binary_search_by_key(k, |(f, _)| *f).ok().map(|i| u[i].1 * c))
                .sum();
            let sim = dot / story.norm;
            // Older story on ties: candidates are visited oldest first.
            if sim >= self.settings.threshold && best.is_none_or(|(_, b)| sim > b) {
                best = Some((story, sim));
            }
        }
        best.map(|(s, sim)| (story_name(s.id), sim))
    }

    /// Remembers an article as a member of `story`.
    pub fn insert(&mut self, story: &str, f: Features, published: Option<DateTime<Utc>>) {
        let half = (self.window() / 2).max(1) as u32;
        if self.docs[0] >= half {
            // A new generation: document frequencies cover the last half window to window.
            self.df.retain(|_, counts| {
                *counts = (*counts & 0xffff) << 16;
                *counts != 0
            });
            self.docs = [0, self.docs[0]];
        }
        self.docs[0] += 1;
        let n = self.doc_count();
        // Counted and weighed in one pass: one lookup per feature.
        let weighted: Vec<(u32, f32)> =
            f.0.iter()
                .map(|(k, tf)| {
                    let counts = self.df.entry(*k).or_insert(0);
                    if *counts & 0xffff != 0xffff {
                        *counts += 1;
                    }
                    (*k, tf * idf(n, df_total(*counts)))
                })
                .collect();
        let u = unit(weighted);
        let seq = self.next_seq;
        self.next_seq += 1;
        let sid = story_bits(story);
        let key = match self.by_id.get(&sid).copied().filter(|k| self.stories.contains_key(k)) {
            Some(key) => {
                if let Some(s) = self.stories.get_mut(&key) {
                    s.centroid = merge_top(&s.centroid, &u, CENTROID_FEATURES);
                    s.norm = s.centroid.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
                    s.first = min_time(s.first, published);
                    s.last = max_time(s.last, published);
                    s.last_seq = seq;
                }
                key
            }
            None => {
                let key = self.next_story;
                self.next_story = self.next_story.wrapping_add(1) % NO_STORY;
                let centroid = merge_top(&[], &u, CENTROID_FEATURES);
                let norm = centroid.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
                self.stories.insert(
                    key,
                    Story { id: sid, centroid, norm, first: published, last: published, last_seq: seq },
                );
                self.by_id.insert(sid, key);
                key
            }
        };
        for (k, _) in Self::top(&u, INDEXED_FEATURES) {
            let list = self.postings.entry(k).or_insert([NO_STORY; POSTING_CAP]);
            if !list.contains(&key) {
                list.rotate_right(1);
                list[0] = key;
            }
        }
        self.members.push_back((key, seq));
        while self.members.len() > self.window() {
            let Some((old_key, old_seq)) = self.members.pop_front() else { break };
            if self.stories.get(&old_key).is_some_and(|s| s.last_seq == old_seq)
                && let Some(s) = self.stories.remove(&old_key)
            {
                self.by_id.remove(&s.id);
            }
        }
        if seq.is_multiple_of(self.window() as u64) {
            // Once a window: drop index entries of forgotten stories, so that the index holds
            // what the window holds (amortised: a constant cost per article).
            let stories = &self.stories;
            self.postings.retain(|_, list| {
                for s in list.iter_mut() {
                    if *s != NO_STORY && !stories.contains_key(s) {
                        *s = NO_STORY;
                    }
                }
                list.sort_unstable_by_key(|s| *s == NO_STORY);
                list[0] != NO_STORY
            });
        }
    }

    /// Number of remembered articles.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Heap bytes held, from the structures' capacities: the maps, the member ring and each
    /// story's centroid (with 16 bytes of allocator overhead each).
    pub fn heap_bytes(&self) -> usize {
        use newswire_model::map_bytes;
        let centroids: usize =
            self.stories.values().map(|s| s.centroid.len() * size_of::<(u32, f32)>() + 16).sum();
        map_bytes(&self.df)
            + map_bytes(&self.stories)
            + map_bytes(&self.by_id)
            + map_bytes(&self.postings)
            + self.members.capacity() * size_of::<(u32, u64)>()
            + centroids
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Number of remembered stories.
    pub fn stories(&self) -> usize {
        self.stories.len()
    }

    /// A new story's id: the id of the article that started it.
    pub fn new_story_id(first: &ArticleId) -> String {
        first.to_string()
    }
}

/// A story id (an article id: 32 hex digits) as 128 bits. Story ids are always article ids;
/// anything else (a foreign message) is hashed, which keeps it apart from every other story.
fn story_bits(story: &str) -> [u64; 2] {
    let bits = ArticleId::parse(story).map(|id| id.to_bits()).unwrap_or_else(|_| {
        let h = u128::from(feature_id(story));
        (h << 96) | (h << 32) | 1
    });
    [(bits >> 64) as u64, bits as u64]
}

fn story_name(id: [u64; 2]) -> String {
    ArticleId::from_bits((u128::from(id[0]) << 64) | u128::from(id[1])).to_string()
}

/// `a + b` (both sorted by feature), cut to the `n` largest weights, sorted by feature.
fn merge_top(a: &[(u32, f32)], b: &[(u32, f32)], n: usize) -> Box<[(u32, f32)]> {
    let mut sum: Vec<(u32, f32)> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                sum.push((x.0, x.1 + y.1));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                sum.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                sum.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                sum.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    if sum.len() > n {
        sum.sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        sum.truncate(n);
        sum.sort_unstable_by_key(|(f, _)| *f);
    }
    sum.into_boxed_slice()
}

fn min_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(idx: &StoryIndex, text: &str, entities: &[Entity]) -> Features {
        idx.features(&Terms::of(&newswire_clean::normalize_for_matching(text)), entities)
    }

    /// Story ids are article ids.
    fn sid(name: &str) -> String {
        ArticleId::digest(&[name]).to_string()
    }

    fn settings() -> StorySettings {
        StorySettings { threshold: 0.3, window: 3, ..StorySettings::default() }
    }

    #[test]
    fn similar_articles_share_a_story_and_unrelated_ones_do_not() {
        let mut idx = StoryIndex::new(settings());
        let a = feats(&idx, "earthquake hits coastal city rescue teams search rubble survivors", &[]);
        idx.insert(&sid("s1"), a, None);
        let b = feats(&idx, "rescue teams search rubble after earthquake in coastal city", &[]);
        assert_eq!(idx.best_story(&b, None).map(|s| s.0), Some(sid("s1")));
        let c = feats(&idx, "central bank raises interest rates inflation", &[]);
        assert_eq!(idx.best_story(&c, None), None);
    }

    #[test]
    fn a_story_does_not_chain_through_its_latest_member() {
        // b shares four of six words with a, c four of six with b but two with a: single-link
        // clustering (join the story of the most similar member) would chain c onto a's story
        // through b; the centroid of a and b is not close enough to c.
        let mut idx =
            StoryIndex::new(StorySettings { threshold: 0.45, window: 100, ..StorySettings::default() });
        let a = feats(&idx, "alpha beta gamma delta epsilon zeta", &[]);
        idx.insert(&sid("s1"), a, None);
        let b = feats(&idx, "alpha beta gamma delta eta theta", &[]);
        assert_eq!(idx.best_story(&b, None).map(|s| s.0).as_deref(), Some(sid("s1").as_str()));
        idx.insert(&sid("s1"), b, None);
        let c = feats(&idx, "gamma delta eta theta iota kappa", &[]);
        assert_eq!(idx.best_story(&c, None), None);
        // Compared with b alone, c would have joined.
        let mut single =
            StoryIndex::new(StorySettings { threshold: 0.45, window: 100, ..StorySettings::default() });
        single.insert(&sid("b"), feats(&idx, "alpha beta gamma delta eta theta", &[]), None);
        assert!(single.best_story(&c, None).is_some());
    }

    #[test]
    fn a_common_feature_does_not_fan_out() {
        // 500 unrelated articles all naming one person: the name alone finds no candidates,
        // and a lookup visits at most POSTING_CAP stories per feature.
        let mut idx = StoryIndex::new(StorySettings { window: 1_000, ..StorySettings::default() });
        let person = Entity { name: "Someone".into(), kind: EntityKind::Person, count: 1 };
        for i in 0..500 {
            let f = feats(&idx, &format!("w{i}a w{i}b w{i}c"), std::slice::from_ref(&person));
            idx.insert(&sid(&format!("s{i}")), f, None);
        }
        assert!(idx.is_common(feature_id("@Someone")));
        assert!(idx.postings.values().all(|l| l.len() <= POSTING_CAP));
        let f = feats(&idx, "unrelated words here", std::slice::from_ref(&person));
        assert_eq!(idx.best_story(&f, None), None);
    }

    #[test]
    fn dated_articles_too_far_apart_are_not_one_story() {
        let mut idx = StoryIndex::new(settings());
        let t0 = DateTime::parse_from_rfc3339("2025-02-16T00:00:00Z").unwrap().with_timezone(&Utc);
        let f = feats(&idx, "earthquake hits coastal city rescue teams", &[]);
        idx.insert(&sid("s1"), f.clone(), Some(t0));
        assert!(idx.best_story(&f, Some(t0 + Duration::days(2))).is_some());
        assert!(idx.best_story(&f, Some(t0 + Duration::days(30))).is_none());
        assert!(idx.best_story(&f, None).is_some(), "an undated article is compared on content alone");
    }

    #[test]
    fn the_window_forgets_the_oldest_and_keeps_the_index_consistent() {
        let mut idx = StoryIndex::new(settings());
        for (i, text) in
            ["alpha beta gamma", "delta epsilon zeta", "eta theta iota", "kappa lambda mu"].iter().enumerate()
        {
            let f = feats(&idx, text, &[]);
            idx.insert(&sid(&format!("s{i}")), f, None);
        }
        assert_eq!(idx.len(), 3);
        let first = feats(&idx, "alpha beta gamma", &[]);
        assert_eq!(idx.best_story(&first, None), None, "evicted");
        let last = feats(&idx, "kappa lambda mu", &[]);
        assert_eq!(idx.best_story(&last, None).map(|s| s.0), Some(sid("s3")));
        assert_eq!(idx.stories(), 3, "the story of the evicted article is forgotten");
    }
}
