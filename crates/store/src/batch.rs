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

    /// Replays one group's articles against the row stored before the batch (`None`: no
    /// row), writing each article's result into `results` (indexed like the batch). Returns
    /// the article the row must end up holding (the last one that inserted or updated), or
    /// `None` when the stored row stays as it is.
    pub(crate) fn replay(
        &self,
        group: &[usize],
        stored: Option<&RowState>,
        results: &mut [UpsertResult],
    ) -> Option<&'a Article> {
        let mut current = stored.cloned();
        let mut written = None;
        for &i in group {
            let a = &self.articles[i];
            let state = RowState::of(a);
            results[i] = match &current {
                None => UpsertResult::Inserted,
                Some(s) if *s == state => UpsertResult::Unchanged,
                Some(_) => UpsertResult::Updated,
            };
            if results[i] != UpsertResult::Unchanged {
                current = Some(state);
                written = Some(a);
            }
        }
        written
    }
}

/// What decides whether a stored row is rewritten: its content and the processor's decisions
/// about it (its story, what it is a copy of). A replay after a threshold change rewrites the
/// rows whose story or duplicate changed; a redelivery of the same decisions changes nothing.
/// Only a content change is a revision (archived in `article_revisions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowState {
    pub(crate) content_hash: String,
    pub(crate) story_id: Option<String>,
    pub(crate) duplicate_of: Option<String>,
}

impl RowState {
    pub(crate) fn of(a: &Article) -> Self {
        Self {
            content_hash: a.fingerprints.content_hash.clone(),
            story_id: a.story_id.clone(),
            duplicate_of: a.duplicate.as_ref().map(|d| d.of.as_str().to_owned()),
        }
    }
}

/// The earlier versions a batch must archive (in `article_revisions`) before it writes, so
/// that a revision never overwrites the only copy of the version it replaces.
#[derive(Debug, Default)]
pub(crate) struct Archive<'a> {
    /// A revision whose previous version is the stored row (read before the batch writes):
    /// (id, number of that previous version, the revision's content hash; the row is archived
    /// only if its hash differs, so that a redelivered revision archives nothing).
    pub(crate) from_row: Vec<(&'a str, u32, &'a str)>,
    /// An earlier version in the same batch, replaced by a revision after it: (that version,
    /// its number).
    pub(crate) in_batch: Vec<(&'a Article, u32)>,
}

impl<'a> Batch<'a> {
    /// What to archive: see [`Archive`]. Empty unless the batch holds revisions.
    pub(crate) fn archive(&self) -> Archive<'a> {
        let mut plan = Archive::default();
        for g in &self.groups {
            for (k, &i) in g.iter().enumerate() {
                let a = &self.articles[i];
                let Some(r) = &a.revision else { continue };
                let previous = k.checked_sub(1).map(|p| &self.articles[g[p]]);
                match previous {
                    None => plan.from_row.push((
                        a.id.as_str(),
                        r.number.saturating_sub(1),
                        a.fingerprints.content_hash.as_str(),
                    )),
                    Some(p) if p.fingerprints.content_hash != a.fingerprints.content_hash => {
                        plan.in_batch.push((p, p.revision.as_ref().map_or(0, |r| r.number)));
                    }
                    Some(_) => {}
                }
            }
        }
        plan
    }
}
