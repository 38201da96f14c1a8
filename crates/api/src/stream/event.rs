//! Events of the live stream, their ids and their filters.

use bytes::Bytes;
use newswire_model::{Article, Category, Lang, SourceId, StoryEvent};

/// The JetStream streams the live stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `NEWS_ARTICLES`: articles and revisions.
    Articles,
    /// `NEWS_STORIES`: story events.
    Stories,
}

impl StreamKind {
    /// Both, in the order of the event id's parts.
    pub const ALL: [StreamKind; 2] = [StreamKind::Articles, StreamKind::Stories];

    /// Index into per-stream arrays.
    pub fn index(self) -> usize {
        match self {
            StreamKind::Articles => 0,
            StreamKind::Stories => 1,
        }
    }
}

/// What an event is; also its SSE `event:` name and the values of `kinds=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A first version of an article (`revision` absent).
    Article,
    /// A new version of an article published before (`revision` present).
    Revision,
    /// A story created or grown with a new outlet.
    Story,
}

impl EventKind {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Article => "article",
            EventKind::Revision => "revision",
            EventKind::Story => "story",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "articles" | "article" => Some(EventKind::Article),
            "revisions" | "revision" => Some(EventKind::Revision),
            "stories" | "story" => Some(EventKind::Story),
            _ => None,
        }
    }
}

/// A position in both streams: every event up to `articles` in the article stream and up to
/// `stories` in the story stream has been handled. Sent as the SSE `id:` (`a<seq>-s<seq>`), so
/// that a reconnecting client's `Last-Event-ID` says exactly where to resume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventId {
    /// Last article-stream sequence handled.
    pub articles: u64,
    /// Last story-stream sequence handled.
    pub stories: u64,
}

impl EventId {
    /// The sequence of one stream.
    pub fn get(&self, stream: StreamKind) -> u64 {
        match stream {
            StreamKind::Articles => self.articles,
            StreamKind::Stories => self.stories,
        }
    }

    /// Moves one stream's position forward (never back).
    pub fn advance(&mut self, stream: StreamKind, seq: u64) {
        match stream {
            StreamKind::Articles => self.articles = self.articles.max(seq),
            StreamKind::Stories => self.stories = self.stories.max(seq),
        }
    }

    /// Parses `a<seq>-s<seq>`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, st) = s.trim().split_once('-')?;
        let articles = a.strip_prefix('a')?.parse().ok()?;
        let stories = st.strip_prefix('s')?.parse().ok()?;
        Some(Self { articles, stories })
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a{}-s{}", self.articles, self.stories)
    }
}

/// One event as the hub holds it: what filters need, and its SSE frame without the id, built
/// once and shared by every client (`event: <kind>\ndata: <json>\n\n`).
#[derive(Debug, Clone)]
pub struct HubEvent {
    /// The stream it was read from.
    pub stream: StreamKind,
    /// Its sequence there.
    pub seq: u64,
    /// What it is.
    pub kind: EventKind,
    /// Its language.
    pub language: Lang,
    /// Its category (articles only).
    pub category: Option<Category>,
    /// The source of an article; the outlets of a story.
    pub sources: Vec<SourceId>,
    /// The story id.
    pub story: Option<String>,
    /// An article published as a copy of an earlier one.
    pub duplicate: bool,
    /// The frame.
    pub frame: Bytes,
}

fn frame(kind: EventKind, json: &str) -> Bytes {
    // serde_json's compact output escapes every line break, so the data is one SSE line.
    Bytes::from(format!("event: {}\ndata: {json}\n\n", kind.as_str()))
}

impl HubEvent {
    /// Decodes a message of `stream`; `None` when it is not a valid article or story event.
    pub fn decode(stream: StreamKind, seq: u64, payload: &[u8]) -> Option<Self> {
        match stream {
            StreamKind::Articles => {
                let a: Article = serde_json::from_slice(payload).ok()?;
                Some(Self::article(seq, &a))
            }
            StreamKind::Stories => {
                let e: StoryEvent = serde_json::from_slice(payload).ok()?;
                Some(Self::story(seq, &e))
            }
        }
    }

    /// An article event (a revision when `revision` is set).
    pub fn article(seq: u64, a: &Article) -> Self {
        let kind = if a.revision.is_some() { EventKind::Revision } else { EventKind::Article };
        Self {
            stream: StreamKind::Articles,
            seq,
            kind,
            language: a.language.clone(),
            category: Some(a.category.clone()),
            sources: vec![a.source_id.clone()],
            story: a.story_id.clone(),
            duplicate: a.duplicate.is_some(),
            frame: frame(kind, &serde_json::to_string(a).unwrap_or_default()),
        }
    }

    /// A story event.
    pub fn story(seq: u64, e: &StoryEvent) -> Self {
        Self {
            stream: StreamKind::Stories,
            seq,
            kind: EventKind::Story,
            language: e.language.clone(),
            category: None,
            sources: e.outlets.clone(),
            story: Some(e.story_id.clone()),
            duplicate: false,
            frame: frame(EventKind::Story, &serde_json::to_string(e).unwrap_or_default()),
        }
    }
}

/// Which events a live-stream client wants. Empty lists mean "any".
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFilter {
    /// Any of these languages.
    pub languages: Vec<Lang>,
    /// Any of these categories (articles only: story events have none and pass).
    pub categories: Vec<Category>,
    /// Articles of any of these sources; stories any of them carried.
    pub sources: Vec<SourceId>,
    /// Any of these stories.
    pub stories: Vec<String>,
    /// The kinds wanted.
    pub kinds: Vec<EventKind>,
    /// Copies (exact and near duplicates) are sent only when this is set.
    pub include_duplicates: bool,
}

impl Default for StreamFilter {
    fn default() -> Self {
        Self {
            languages: Vec::new(),
            categories: Vec::new(),
            sources: Vec::new(),
            stories: Vec::new(),
            kinds: vec![EventKind::Article, EventKind::Revision, EventKind::Story],
            include_duplicates: false,
        }
    }
}

impl StreamFilter {
    /// Parses the `kinds=` values (`articles`, `revisions`, `stories`).
    pub fn parse_kinds(values: &[&str]) -> Result<Vec<EventKind>, String> {
        let mut kinds = Vec::new();
        for v in values {
            let k = EventKind::parse(v)
                .ok_or_else(|| format!("`kinds`: {v:?} is not one of `articles`, `revisions`, `stories`"))?;
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        Ok(kinds)
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &HubEvent) -> bool {
        self.kinds.contains(&e.kind)
            && (self.include_duplicates || !e.duplicate)
            && (self.languages.is_empty() || self.languages.contains(&e.language))
            && (self.categories.is_empty() || e.category.as_ref().is_none_or(|c| self.categories.contains(c)))
            && (self.sources.is_empty() || e.sources.iter().any(|s| self.sources.contains(s)))
            && (self.stories.is_empty() || e.story.as_ref().is_some_and(|s| self.stories.contains(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_garbage_is_refused() {
        let id = EventId { articles: 42, stories: 7 };
        assert_eq!(id.to_string(), "a42-s7");
        assert_eq!(EventId::parse("a42-s7"), Some(id));
        for bad in ["", "42", "a-s", "a1-b2", "a1", "s1-a2", "a-1-s2"] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
    }
}
