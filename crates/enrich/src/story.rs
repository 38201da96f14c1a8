//! Story clustering: which earlier article is this one about the same event as?
//!
//! Each article is a sparse vector of its terms and entities weighted by TF-IDF; it joins the
//! story of the most similar recent article (cosine ≥ threshold, within the time gap), else it
//! starts a story. Candidates come from an inverted index over each article's most weighted
//! features, so the cost per article depends on how many recent articles share its rare terms,
//! not on the size of the window.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use newswire_model::{ArticleId, Entity, EntityKind};

use crate::Terms;

/// Features of an article put in the inverted index (and used to look up candidates): its
/// most weighted ones. Rare, specific terms and names are what two reports of one event share.
const INDEXED_FEATURES: usize = 24;

/// Story clustering settings (part of `[processor]`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorySettings {
    /// Cosine similarity at or above which an article joins an earlier article's story.
    pub threshold: f32,
    /// Articles compared against, most recent first; older ones are forgotten.
    pub window: usize,
    /// Two dated articles further apart than this are never the same story.
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

#[derive(Debug)]
struct Doc {
    story: String,
    published: Option<DateTime<Utc>>,
    /// Feature → TF-IDF weight, with the IDF of when the article was added.
    weights: HashMap<String, f32>,
    norm: f32,
    indexed: Vec<String>,
}

/// The features of an article (feature → log-scaled frequency; entities prefixed `@`),
/// computed once by [`StoryIndex::features`].
#[derive(Debug, Clone, PartialEq)]
pub struct Features(HashMap<String, f32>);

/// Recent articles, their document frequencies and an inverted index.
#[derive(Debug)]
pub struct StoryIndex {
    settings: StorySettings,
    /// Sequence number of `docs[0]`.
    first_seq: u64,
    docs: VecDeque<Doc>,
    df: HashMap<String, u32>,
    /// Feature → sequence numbers of the articles indexed under it, ascending (evictions are
    /// first-in first-out, so an evicted article is always at the front of its lists).
    postings: HashMap<String, VecDeque<u64>>,
}

impl StoryIndex {
    /// An empty index.
    pub fn new(settings: StorySettings) -> Self {
        Self { settings, first_seq: 0, docs: VecDeque::new(), df: HashMap::new(), postings: HashMap::new() }
    }

    /// Inverse document frequency of a feature among the remembered articles (smoothed, ≥ 1).
    pub fn idf(&self, feature: &str) -> f32 {
        let n = self.docs.len() as f32;
        let df = self.df.get(feature).copied().unwrap_or(0) as f32;
        ((n + 1.0) / (df + 1.0)).ln() + 1.0
    }

    /// Terms and entities as features. Places weigh half as much as people and organisations:
    /// most stories of a region share them.
    pub fn features(&self, terms: &Terms, entities: &[Entity]) -> Features {
        let mut tf: HashMap<String, f32> =
            terms.counts.iter().map(|(t, c)| (t.clone(), 1.0 + (*c as f32).ln())).collect();
        for e in entities {
            let kind_weight = if e.kind == EntityKind::Place { 0.5 } else { 1.0 };
            let w = (1.0 + (e.count.max(1) as f32).ln()) * self.settings.entity_weight * kind_weight;
            tf.insert(format!("@{}", e.name), w);
        }
        Features(tf)
    }

    fn weigh(&self, f: &Features) -> (HashMap<String, f32>, f32) {
        let weights: HashMap<String, f32> = f.0.iter().map(|(k, tf)| (k.clone(), tf * self.idf(k))).collect();
        let norm = weights.values().map(|w| w * w).sum::<f32>().sqrt();
        (weights, norm)
    }

    fn top_features(weights: &HashMap<String, f32>) -> Vec<String> {
        let mut v: Vec<(&String, &f32)> = weights.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
        v.into_iter().take(INDEXED_FEATURES).map(|(k, _)| k.clone()).collect()
    }

    /// The story of the most similar remembered article at or above the threshold and within
    /// the time gap, with its similarity.
    pub fn best_story(&self, f: &Features, published: Option<DateTime<Utc>>) -> Option<(String, f32)> {
        let (weights, norm) = self.weigh(f);
        if norm == 0.0 {
            return None;
        }
        let candidates: HashSet<u64> = Self::top_features(&weights)
            .iter()
            .filter_map(|k| self.postings.get(k))
            .flatten()
            .copied()
            .collect();
        candidates
            .into_iter()
            .filter_map(|seq| self.docs.get(usize::try_from(seq.checked_sub(self.first_seq)?).ok()?))
            .filter(|d| match (published, d.published) {
                (Some(a), Some(b)) => (a - b).abs() <= self.settings.max_gap,
                _ => true,
            })
            .map(|d| {
                let (small, large) = if weights.len() <= d.weights.len() {
                    (&weights, &d.weights)
                } else {
                    (&d.weights, &weights)
                };
                let dot: f32 = small.iter().filter_map(|(k, w)| large.get(k).map(|v| w * v)).sum();
                (d, if d.norm == 0.0 { 0.0 } else { dot / (norm * d.norm) })
            })
            .filter(|(_, s)| *s >= self.settings.threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.story.cmp(&a.0.story)))
            .map(|(d, s)| (d.story.clone(), s))
    }

    /// Remembers an article as a member of `story`.
    pub fn insert(&mut self, story: &str, f: Features, published: Option<DateTime<Utc>>) {
        for k in f.0.keys() {
            *self.df.entry(k.clone()).or_insert(0) += 1;
        }
        let (weights, norm) = self.weigh(&f);
        let indexed = Self::top_features(&weights);
        let seq = self.first_seq + self.docs.len() as u64;
        for k in &indexed {
            self.postings.entry(k.clone()).or_default().push_back(seq);
        }
        self.docs.push_back(Doc { story: story.to_owned(), published, weights, norm, indexed });
        while self.docs.len() > self.settings.window.max(1) {
            let Some(old) = self.docs.pop_front() else { break };
            let old_seq = self.first_seq;
            self.first_seq += 1;
            for k in &old.indexed {
                if let Some(list) = self.postings.get_mut(k) {
                    if list.front() == Some(&old_seq) {
                        list.pop_front();
                    }
                    if list.is_empty() {
                        self.postings.remove(k);
                    }
                }
            }
            for k in old.weights.keys() {
                if let Some(n) = self.df.get_mut(k) {
                    *n -= 1;
                    if *n == 0 {
                        self.df.remove(k);
                    }
                }
            }
        }
    }

    /// Number of remembered articles.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// A new story's id: the id of the article that started it.
    pub fn new_story_id(first: &ArticleId) -> String {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Terms {
        Terms::of(&newswire_clean::normalize_for_matching(text))
    }

    fn settings() -> StorySettings {
        StorySettings { threshold: 0.3, window: 3, ..StorySettings::default() }
    }

    #[test]
    fn similar_articles_share_a_story_and_unrelated_ones_do_not() {
        let mut idx = StoryIndex::new(settings());
        let a =
            idx.features(&terms("earthquake hits coastal city rescue teams search rubble survivors"), &[]);
        idx.insert("s1", a, None);
        let b = idx.features(&terms("rescue teams search rubble after earthquake in coastal city"), &[]);
        assert_eq!(idx.best_story(&b, None).map(|s| s.0), Some("s1".to_owned()));
        let c = idx.features(&terms("central bank raises interest rates inflation"), &[]);
        assert_eq!(idx.best_story(&c, None), None);
    }

    #[test]
    fn dated_articles_too_far_apart_are_not_one_story() {
        let mut idx = StoryIndex::new(settings());
        let t0 = DateTime::parse_from_rfc3339("2025-02-16T00:00:00Z").unwrap().with_timezone(&Utc);
        let f = idx.features(&terms("earthquake hits coastal city rescue teams"), &[]);
        idx.insert("s1", f.clone(), Some(t0));
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
            let f = idx.features(&terms(text), &[]);
            idx.insert(&format!("s{i}"), f, None);
        }
        assert_eq!(idx.len(), 3);
        let first = idx.features(&terms("alpha beta gamma"), &[]);
        assert_eq!(idx.best_story(&first, None), None, "evicted");
        let last = idx.features(&terms("kappa lambda mu"), &[]);
        assert_eq!(idx.best_story(&last, None).map(|s| s.0), Some("s3".to_owned()));
        assert!(idx.postings.values().all(|l| l.iter().all(|s| *s >= idx.first_seq)));
        assert!(!idx.df.contains_key("alpha"));
    }
}
