//! Story clustering: which earlier article is this one about the same event as?

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use newswire_model::{ArticleId, Entity, EntityKind};

use crate::Terms;

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
    /// Feature → log-scaled term frequency (entities prefixed `@`).
    tf: HashMap<String, f32>,
}

/// Recent articles and document frequencies.
#[derive(Debug)]
pub struct StoryIndex {
    settings: StorySettings,
    docs: VecDeque<Doc>,
    df: HashMap<String, u32>,
}

/// The features of an article, computed once by [`StoryIndex::features`].
#[derive(Debug, Clone, PartialEq)]
pub struct Features(HashMap<String, f32>);

impl StoryIndex {
    /// An empty index.
    pub fn new(settings: StorySettings) -> Self {
        Self { settings, docs: VecDeque::new(), df: HashMap::new() }
    }

    /// Inverse document frequency of a feature among the remembered articles (smoothed, ≥ 1).
    pub fn idf(&self, feature: &str) -> f32 {
        let n = self.docs.len() as f32;
        let df = self.df.get(feature).copied().unwrap_or(0) as f32;
        ((n + 1.0) / (df + 1.0)).ln() + 1.0
    }

    /// Terms and entities as weighted features. Places weigh half as much as people and
    /// organisations: most stories of a region share them.
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

    /// The story of the most similar remembered article at or above the threshold and within
    /// the time gap, with its similarity.
    pub fn best_story(&self, f: &Features, published: Option<DateTime<Utc>>) -> Option<(String, f32)> {
        let norm_a = self.norm(&f.0);
        if norm_a == 0.0 {
            return None;
        }
        self.docs
            .iter()
            .filter(|d| match (published, d.published) {
                (Some(a), Some(b)) => (a - b).abs() <= self.settings.max_gap,
                _ => true,
            })
            .map(|d| {
                let dot: f32 =
                    f.0.iter().filter_map(|(k, w)| d.tf.get(k).map(|v| w * v * self.idf(k).powi(2))).sum();
                let norm_b = self.norm(&d.tf);
                (d, if norm_b == 0.0 { 0.0 } else { dot / (norm_a * norm_b) })
            })
            .filter(|(_, s)| *s >= self.settings.threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(d, s)| (d.story.clone(), s))
    }

    fn norm(&self, tf: &HashMap<String, f32>) -> f32 {
        tf.iter().map(|(k, w)| (w * self.idf(k)).powi(2)).sum::<f32>().sqrt()
    }

    /// Remembers an article as a member of `story`.
    pub fn insert(&mut self, story: &str, f: Features, published: Option<DateTime<Utc>>) {
        for k in f.0.keys() {
            *self.df.entry(k.clone()).or_insert(0) += 1;
        }
        self.docs.push_front(Doc { story: story.to_owned(), published, tf: f.0 });
        while self.docs.len() > self.settings.window.max(1) {
            if let Some(old) = self.docs.pop_back() {
                for k in old.tf.keys() {
                    if let Some(n) = self.df.get_mut(k) {
                        *n -= 1;
                        if *n == 0 {
                            self.df.remove(k);
                        }
                    }
                }
            }
        }
    }

    /// A new story's id: the id of the article that started it.
    pub fn new_story_id(first: &ArticleId) -> String {
        first.to_string()
    }
}
