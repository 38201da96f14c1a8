//! The stories table's arithmetic, shared by both stores: how a batch's articles change the
//! stored aggregate of their story, and when that change is an event (the outbox: a change
//! bumps `version`; the publisher marks `published_version`).
//!
//! New articles are merged into the stored aggregate incrementally (the common case: reading
//! a story's members again for every batch would cost as much as the story is long). A
//! revised article may have moved in time or to another story, so the stories revisions touch
//! (rare) are recomputed from their articles.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use newswire_model::{Article, ArticleId, Lang, SourceId};
use serde::{Deserialize, Serialize};

use crate::query::{Story, StoryChange, StoryChangeKind, StoryGrowth};

/// An article as its story sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub(crate) story: String,
    pub(crate) article: String,
    pub(crate) source: String,
    pub(crate) language: String,
    pub(crate) title: String,
    /// The article time: published, else fetched.
    pub(crate) at: DateTime<Utc>,
}

impl Member {
    /// `None` for an article without a story.
    pub(crate) fn of(a: &Article) -> Option<Self> {
        Some(Self {
            story: a.story_id.clone()?,
            article: a.id.as_str().to_owned(),
            source: a.source_id.as_str().to_owned(),
            language: a.language.as_str().to_owned(),
            title: a.title.clone(),
            at: a.published_at.unwrap_or(a.fetched_at),
        })
    }

    /// Members are ordered by time, then id: the first of a story is its first article.
    fn key(&self) -> (DateTime<Utc>, &str) {
        (self.at, &self.article)
    }
}

/// One outlet of a story: when and with which article it first carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outlet(pub(crate) String, pub(crate) DateTime<Utc>, pub(crate) String);

/// A row of `stories`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoryRow {
    pub(crate) id: String,
    pub(crate) language: String,
    pub(crate) title: String,
    pub(crate) first_outlet: String,
    pub(crate) first_article: String,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
    pub(crate) article_count: i64,
    /// In first-seen order (time, then article id).
    pub(crate) outlets: Vec<Outlet>,
    pub(crate) version: i64,
    pub(crate) published_version: i64,
    /// The kind of the pending change (meaningful while `version > published_version`).
    pub(crate) change_kind: StoryChangeKind,
}

impl StoryRow {
    fn new(m: &Member) -> Self {
        Self {
            id: m.story.clone(),
            language: m.language.clone(),
            title: m.title.clone(),
            first_outlet: m.source.clone(),
            first_article: m.article.clone(),
            first_seen: m.at,
            last_seen: m.at,
            article_count: 0,
            outlets: Vec::new(),
            version: 0,
            published_version: 0,
            change_kind: StoryChangeKind::Created,
        }
    }

    /// Adds one article.
    fn add(&mut self, m: &Member) {
        self.article_count += 1;
        if m.key() < (self.first_seen, self.first_article.as_str()) {
            self.first_seen = m.at;
            self.first_article = m.article.clone();
            self.first_outlet = m.source.clone();
            self.title = m.title.clone();
            self.language = m.language.clone();
        }
        self.last_seen = self.last_seen.max(m.at);
        match self.outlets.iter_mut().find(|o| o.0 == m.source) {
            Some(o) => {
                if (m.at, m.article.as_str()) < (o.1, o.2.as_str()) {
                    o.1 = m.at;
                    o.2 = m.article.clone();
                }
            }
            None => self.outlets.push(Outlet(m.source.clone(), m.at, m.article.clone())),
        }
    }

    fn sort_outlets(&mut self) {
        self.outlets.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    }

    /// Records a change: one version per batch, whatever it changed; a change made while an
    /// earlier one is still unpublished keeps that one's kind (a story nobody has heard of yet
    /// is still being created).
    fn bump(&mut self, created: bool) {
        let pending = self.version > self.published_version;
        self.change_kind = match (created, pending) {
            (true, _) => StoryChangeKind::Created,
            (false, true) => self.change_kind,
            (false, false) => StoryChangeKind::NewOutlet,
        };
        self.version += 1;
    }

    /// The outlets as JSON, as both stores keep them.
    pub(crate) fn outlets_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.outlets)
    }

    /// The API's view, or `None` if a stored value does not parse (not ours, or corrupt).
    pub(crate) fn to_story(&self) -> Option<Story> {
        Some(Story {
            id: self.id.clone(),
            language: Lang::parse(&self.language).unwrap_or_else(|_| Lang::und()),
            title: self.title.clone(),
            article_count: u64::try_from(self.article_count).unwrap_or(0),
            outlets: self.outlets.iter().filter_map(|o| SourceId::parse(&o.0).ok()).collect(),
            first_outlet: SourceId::parse(&self.first_outlet).ok()?,
            first_article: ArticleId::parse(&self.first_article).ok()?,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        })
    }

    /// The pending change, if any.
    pub(crate) fn to_change(&self) -> Option<StoryChange> {
        (self.version > self.published_version).then_some(())?;
        Some(StoryChange {
            story: self.to_story()?,
            version: u64::try_from(self.version).unwrap_or(0),
            kind: self.change_kind,
        })
    }
}

/// The stored form of a change kind.
pub(crate) fn kind_str(k: StoryChangeKind) -> &'static str {
    match k {
        StoryChangeKind::Created => "created",
        StoryChangeKind::NewOutlet => "new_outlet",
    }
}

/// Parses [`kind_str`]'s output (anything else reads as `NewOutlet`, the weaker claim).
pub(crate) fn parse_kind(s: &str) -> StoryChangeKind {
    if s == "created" { StoryChangeKind::Created } else { StoryChangeKind::NewOutlet }
}

/// Merges new articles (rows just inserted) into their stories. `existing`: the stored rows of
/// those stories. Returns the rows to write, each changed story once.
pub(crate) fn merge_new(existing: &HashMap<String, StoryRow>, members: &[Member]) -> Vec<StoryRow> {
    let mut out: Vec<StoryRow> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for m in members {
        let i = *slot.entry(m.story.as_str()).or_insert_with(|| {
            out.push(existing.get(&m.story).cloned().unwrap_or_else(|| StoryRow::new(m)));
            out.len() - 1
        });
        out[i].add(m);
    }
    for row in &mut out {
        row.sort_outlets();
        // Outlets only grow here: a story is an event when it is new or has more of them.
        match existing.get(&row.id) {
            None => row.bump(true),
            Some(e) if e.outlets.len() < row.outlets.len() => row.bump(false),
            Some(_) => {}
        }
    }
    out
}

/// Recomputes a story from all its members (after revisions). `None` when no article is left
/// in it. `events`: whether a new outlet (or a new story) is an event; off when building the
/// table from rows stored before it existed, whose stories were never announced.
pub(crate) fn recompute(existing: Option<&StoryRow>, members: &[Member], events: bool) -> Option<StoryRow> {
    let first = members.iter().min_by(|a, b| a.key().cmp(&b.key()))?;
    let mut row = StoryRow::new(first);
    for m in members {
        row.add(m);
    }
    row.sort_outlets();
    match existing {
        Some(e) => {
            row.version = e.version;
            row.published_version = e.published_version;
            row.change_kind = e.change_kind;
            let grew = row.outlets.iter().any(|o| !e.outlets.iter().any(|p| p.0 == o.0));
            if events && grew {
                row.bump(false);
            }
        }
        None if events => row.bump(true),
        None => {}
    }
    Some(row)
}

/// A story's growth from its articles' (time, outlet), in time order: one point per hour with
/// new articles, at the end of that hour, with the totals up to then.
pub(crate) fn growth(points: &[(DateTime<Utc>, String)]) -> Vec<StoryGrowth> {
    let mut out: Vec<StoryGrowth> = Vec::new();
    let mut outlets: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, (at, source)) in points.iter().enumerate() {
        outlets.insert(source);
        let hour = at.timestamp().div_euclid(3600) * 3600 + 3600;
        let end = DateTime::from_timestamp(hour, 0).unwrap_or(*at);
        let point = StoryGrowth { at: end, articles: i as u64 + 1, outlets: outlets.len() as u64 };
        match out.last_mut() {
            Some(last) if last.at == end => *last = point,
            _ => out.push(point),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn m(story: &str, article: &str, source: &str, hour: u32) -> Member {
        Member {
            story: story.into(),
            article: article.into(),
            source: source.into(),
            language: "ar".into(),
            title: format!("t-{article}"),
            at: Utc.with_ymd_and_hms(2025, 2, 1, hour, 0, 0).single().unwrap_or_default(),
        }
    }

    #[test]
    fn new_story_then_new_outlet_then_same_outlet() {
        let mut stored: HashMap<String, StoryRow> = HashMap::new();
        let rows = merge_new(&stored, &[m("s", "a2", "x", 2), m("s", "a1", "y", 1)]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.article_count, r.version, r.change_kind), (2, 1, StoryChangeKind::Created));
        assert_eq!((r.first_article.as_str(), r.first_outlet.as_str()), ("a1", "y"));
        let outlets: Vec<&str> = r.outlets.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(outlets, ["y", "x"]);
        let mut published = r.clone();
        published.published_version = 1;
        stored.insert("s".into(), published);

        let rows = merge_new(&stored, &[m("s", "a3", "x", 3)]);
        assert_eq!((rows[0].article_count, rows[0].version), (3, 1), "same outlet: no event");
        let rows = merge_new(&stored, &[m("s", "a4", "z", 0)]);
        let r = &rows[0];
        assert_eq!((r.version, r.change_kind), (2, StoryChangeKind::NewOutlet));
        assert_eq!((r.first_outlet.as_str(), r.outlets[0].0.as_str()), ("z", "z"));
    }

    #[test]
    fn recompute_follows_members() {
        let e = merge_new(&HashMap::new(), &[m("s", "a1", "x", 1), m("s", "a2", "y", 2)]).remove(0);
        let r = recompute(Some(&e), &[m("s", "a2", "y", 2)], true).unwrap_or_else(|| e.clone());
        assert_eq!((r.article_count, r.first_outlet.as_str(), r.version), (1, "y", 1));
        assert_eq!(recompute(Some(&e), &[], true), None);
        let quiet = recompute(None, &[m("t", "b", "x", 1)], false).unwrap_or_else(|| e.clone());
        assert_eq!(quiet.version, quiet.published_version);
    }

    #[test]
    fn growth_is_hourly_and_cumulative() {
        let at = |h: u32, min: u32| Utc.with_ymd_and_hms(2025, 2, 1, h, min, 0).single().unwrap_or_default();
        let g = growth(&[(at(1, 5), "x".into()), (at(1, 50), "x".into()), (at(3, 0), "y".into())]);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].at, g[0].articles, g[0].outlets), (at(2, 0), 2, 1));
        assert_eq!((g[1].at, g[1].articles, g[1].outlets), (at(4, 0), 3, 2));
    }
}
