//! Grouping a batch by article id, shared by both stores.
//!
//! A batch may hold the same id more than once (a redelivery next to the original). One
//! multi-row statement may write a row only once, so each id is written at most once per batch,
//! and the per-article results are worked out here as if the articles had been upserted one
//! after another in input order.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use newswire_model::Article;

use crate::UpsertResult;

/// A batch grouped by id.
pub(crate) struct Batch<'a> {
    articles: &'a [Article],
    /// One entry per distinct id, in order of first occurrence: the indexes of that id's
    /// articles in the batch, in input order.
    groups: Vec<Vec<usize>>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(articles: &'a [Article]) -> Self {
        let mut slot: HashMap<&str, usize> = HashMap::with_capacity(articles.len());
        let mut groups: Vec<Vec<usize>> = Vec::with_capacity(articles.len());
        for (i, a) in articles.iter().enumerate() {
            match slot.entry(a.id.as_str()) {
                Entry::Occupied(e) => groups[*e.get()].push(i),
                Entry::Vacant(e) => {
                    e.insert(groups.len());
                    groups.push(vec![i]);
                }
            }
        }
        Self { articles, groups }
    }

    /// The groups: indexes into the batch, one group per distinct id.
    pub(crate) fn groups(&self) -> &[Vec<usize>] {
        &self.groups
    }

    /// The article at `index` in the batch.
    pub(crate) fn article(&self, index: usize) -> &'a Article {
        &self.articles[index]
    }

    /// The distinct ids, in order of first occurrence.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.groups.iter().map(|g| self.articles[g[0]].id.as_str())
    }

    /// Replays one group's articles against the content hash stored before the batch
    /// (`None`: no row), writing each article's result into `results` (indexed like the
    /// batch). Returns the article the row must end up holding (the last one that inserted or
    /// updated), or `None` when the stored row stays as it is.
    pub(crate) fn replay(
        &self,
        group: &[usize],
        stored: Option<&str>,
        results: &mut [UpsertResult],
    ) -> Option<&'a Article> {
        let mut current = stored;
        let mut written = None;
        for &i in group {
            let a = &self.articles[i];
            let hash = a.fingerprints.content_hash.as_str();
            results[i] = match current {
                None => UpsertResult::Inserted,
                Some(h) if h == hash => UpsertResult::Unchanged,
                Some(_) => UpsertResult::Updated,
            };
            if results[i] != UpsertResult::Unchanged {
                current = Some(hash);
                written = Some(a);
            }
        }
        written
    }
}
