use chrono::{DateTime, Utc};
use newswire_clean::{clean_title, html_to_text, normalize_for_matching, strip_boilerplate};
use newswire_dedup::{ExactDedup, NearDupIndex, Signature, Verdict, content_hash, fingerprint};
use newswire_enrich::story::Features;
use newswire_enrich::{StoryIndex, StorySettings, Terms, find_entities, keywords, spellings, summary};
use newswire_model::{Article, DuplicateInfo, DuplicateKind, Fingerprints, RawItem, SCHEMA_VERSION};

use crate::ProcessorSettings;

/// Why an item produced no article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The same article id was already processed.
    Duplicate,
    /// Neither title nor text survived cleaning.
    Empty,
}

impl DropReason {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Duplicate => "duplicate",
            DropReason::Empty => "empty",
        }
    }
}

/// An article ready to publish, with what the processor must remember once it is published.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// The article.
    pub article: Article,
    signature: Signature,
    features: Features,
}

/// What the processor made of an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Publish this article. A copy of an earlier article (exact under another URL, or near) is
    /// still published, with `duplicate` set, so consumers see who republished what.
    Article(Box<Processed>),
    /// Nothing to publish.
    Dropped(DropReason),
}

/// The processor core: clean → dedup → enrich → story. Synchronous and deterministic given
/// its inputs, its memory and the clock value passed in.
#[derive(Debug)]
pub struct Processor {
    settings: ProcessorSettings,
    exact: ExactDedup,
    near: NearDupIndex,
    stories: StoryIndex,
}

impl Processor {
    /// A processor with empty memory.
    pub fn new(settings: &ProcessorSettings) -> Self {
        Self {
            settings: settings.clone(),
            exact: ExactDedup::new(settings.dedup_capacity),
            near: NearDupIndex::new(settings.near_dup_window),
            stories: StoryIndex::new(StorySettings {
                threshold: settings.story_threshold,
                window: settings.story_window,
                max_gap: chrono::Duration::hours(settings.story_max_gap_hours),
                ..StorySettings::default()
            }),
        }
    }

    /// Cleans, deduplicates and enriches one item. Remembers nothing: call
    /// [`record`](Self::record) once the article has been handed on.
    pub fn process(&self, raw: &RawItem, now: DateTime<Utc>) -> Outcome {
        let title = raw.title.as_deref().map(clean_title).unwrap_or_default();
        let body_html = raw.content.as_deref().or(raw.summary.as_deref()).unwrap_or_default();
        let body = html_to_text(body_html);
        let paragraphs: Vec<String> =
            body.split("\n\n").filter(|p| !p.is_empty()).map(str::to_owned).collect();
        let cleaned = strip_boilerplate(&title, &paragraphs);
        let (title, text) = (cleaned.title, cleaned.paragraphs.join("\n\n"));
        if title.is_empty() && text.is_empty() {
            return Outcome::Dropped(DropReason::Empty);
        }
        let joined = format!("{title}\n{text}");
        let normalized = normalize_for_matching(&joined);
        let hash = content_hash(&normalized);
        let verdict = self.exact.check(&raw.id, &hash);
        if verdict == Verdict::SameId {
            return Outcome::Dropped(DropReason::Duplicate);
        }
        let (signature, simhash) = fingerprint(&normalized);
        let duplicate = match verdict {
            Verdict::SameContent(of) => {
                Some(DuplicateInfo { of, kind: DuplicateKind::Exact, similarity: 1.0 })
            }
            Verdict::SameId | Verdict::New => self
                .near
                .best_match(&signature, self.settings.near_dup_threshold)
                .map(|(of, similarity)| DuplicateInfo { of, kind: DuplicateKind::Near, similarity }),
        };
        let language = newswire_enrich::detect_language(&joined, raw.language_hint.as_ref());
        let entities = find_entities(&normalized);
        let terms = Terms::of(&normalized);
        let features = self.stories.features(&terms, &entities);
        let published_at = raw.published.or(raw.updated);
        let story_id = self
            .stories
            .best_story(&features, published_at)
            .map(|(story, _)| story)
            .unwrap_or_else(|| StoryIndex::new_story_id(&raw.id));
        let mut categories = raw.feed_categories.clone();
        categories.retain(|c| !c.trim().is_empty());
        let article = Article {
            schema_version: SCHEMA_VERSION,
            id: raw.id.clone(),
            canonical_url: raw.link.clone(),
            source_id: raw.source_id.clone(),
            feed_url: raw.feed_url.clone(),
            summary: summary(&text, 300),
            keywords: {
                let written = spellings(&joined);
                keywords(&terms, self.settings.keywords, |t| self.stories.idf(t))
                    .into_iter()
                    .map(|k| written.get(&k).cloned().unwrap_or(k))
                    .collect()
            },
            title,
            text,
            language,
            category: raw.category.clone(),
            published_at,
            fetched_at: raw.fetched_at,
            processed_at: now,
            authors: raw.authors.clone(),
            entities,
            categories,
            story_id: Some(story_id),
            fingerprints: Fingerprints { content_hash: hash, simhash: Some(simhash) },
            duplicate,
        };
        Outcome::Article(Box::new(Processed { article, signature, features }))
    }

    /// Remembers an article that was handed on, so that later copies and later articles of
    /// the same story are recognised. Copies are remembered for exact dedup only: the
    /// canonical article already stands for them.
    pub fn record(&mut self, p: &Processed) {
        let a = &p.article;
        self.exact.record(&a.id, &a.fingerprints.content_hash);
        if a.duplicate.is_none() {
            self.near.insert(a.id.clone(), p.signature.clone());
            let story = a.story_id.clone().unwrap_or_else(|| StoryIndex::new_story_id(&a.id));
            self.stories.insert(&story, p.features.clone(), a.published_at);
        }
    }
}

#[cfg(test)]
mod tests;
