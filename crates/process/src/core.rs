use chrono::{DateTime, Utc};
use newswire_clean::{NormalizedWords, clean_title, html_to_text, strip_boilerplate};
use newswire_dedup::{ExactDedup, NearDupIndex, Signature, Verdict, Version, content_hash, fingerprint};
use newswire_enrich::story::Features;
use newswire_enrich::{
    KeywordCandidates, StoryIndex, StorySettings, Terms, find_entities, spellings, summary,
};
use newswire_model::{
    Article, ArticleId, DuplicateInfo, DuplicateKind, Entity, Fingerprints, Lang, RawItem, Revision,
    RevisionChange, SCHEMA_VERSION,
};

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

/// What the processor made of an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Publish this article. A copy of an earlier article (exact under another URL, or near) is
    /// still published, with `duplicate` set, so consumers see who republished what.
    Article(Box<Article>),
    /// Nothing to publish.
    Dropped(DropReason),
}

/// Everything about an item that does not depend on what the processor remembers: clean
/// text, fingerprints, language, entities and features. The expensive part of processing,
/// pure and independent per item, so that many run in parallel; [`Processor::decide`] then
/// takes them one at a time in input order.
#[derive(Debug, Clone)]
pub struct Analysis {
    raw: RawItem,
    /// Hash of the item as received (`raw_version`).
    raw_version: u32,
    title: String,
    text: String,
    content_hash: String,
    signature: Signature,
    simhash: String,
    language: Lang,
    entities: Vec<Entity>,
    features: Features,
    keywords: KeywordCandidates,
    summary: Option<String>,
}

impl Analysis {
    /// The item's article id.
    pub fn id(&self) -> &ArticleId {
        &self.raw.id
    }
}

/// A cheap hash of what a raw item says (title, content, summary, link and times), to drop a
/// message processed before without cleaning it again. Not 0 (0 means unknown). In memory
/// only, so a fast hash will do (the fetcher's stable one is [`RawItem::content_version`]).
pub fn raw_version(raw: &RawItem) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    (&raw.title, &raw.content, &raw.summary, &raw.link, raw.published, raw.updated).hash(&mut h);
    (h.finish() as u32).max(1)
}

fn hash32(s: &str) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish() as u32
}

/// Cleans and analyses one item (steps 1–3 and 6 of the processor; see ARCHITECTURE.md).
/// `Err` when neither title nor text survives cleaning.
pub fn analyze(mut raw: RawItem, settings: &ProcessorSettings) -> Result<Analysis, DropReason> {
    let raw_version = raw_version(&raw);
    // The bus may carry items from other producers: the same boundary rules as the fetcher's.
    raw.sanitize();
    let title = raw.title.take().as_deref().map(clean_title).unwrap_or_default();
    // Taken out of the item, so that the markup is freed here, on the analysing thread.
    let (content, teaser) = (raw.content.take(), raw.summary.take());
    let body = html_to_text(content.as_deref().or(teaser.as_deref()).unwrap_or_default());
    drop((content, teaser));
    let paragraphs: Vec<String> = body.split("\n\n").filter(|p| !p.is_empty()).map(str::to_owned).collect();
    let cleaned = strip_boilerplate(&title, &paragraphs);
    let (title, text) = (cleaned.title, cleaned.paragraphs.join("\n\n"));
    if title.is_empty() && text.is_empty() {
        return Err(DropReason::Empty);
    }
    let joined = format!("{title}\n{text}");
    let words = NormalizedWords::of(&joined);
    let normalized = &words.text;
    let content_hash = content_hash(normalized);
    let (signature, simhash) = fingerprint(normalized);
    let language = newswire_enrich::detect_language(&joined, raw.language_hint.as_ref());
    let entities = find_entities(normalized);
    let terms = Terms::of_words(&words);
    let features = Features::of(&terms, &entities, settings.story_entity_weight());
    let keywords = KeywordCandidates::of(&terms, &spellings(&words));
    let summary = summary(&text, 300);
    Ok(Analysis {
        raw,
        raw_version,
        title,
        text,
        content_hash,
        signature,
        simhash,
        language,
        entities,
        features,
        keywords,
        summary,
    })
}

/// [`analyze`] on many items at once, on every core (rayon's pool), results in input order.
/// Items whose `fresh` flag is false (ids already decided: [`Processor::seen`]) are not
/// analysed and come back as [`DropReason::Duplicate`].
pub fn analyze_batch(
    items: Vec<RawItem>,
    fresh: &[bool],
    settings: &ProcessorSettings,
) -> Vec<Result<Analysis, DropReason>> {
    use rayon::prelude::*;
    items
        .into_par_iter()
        .enumerate()
        .map(|(i, raw)| {
            if fresh.get(i).copied().unwrap_or(true) {
                analyze(raw, settings)
            } else {
                Err(DropReason::Duplicate)
            }
        })
        .collect()
}

/// What a published article left in the processor's memory, recomputed from the article
/// alone: the same content hash, signature, features and story it had when it was decided
/// (the normalised text is a function of its title and text). Pure; see
/// [`Processor::remember`].
#[derive(Debug, Clone)]
pub struct Recalled {
    id: ArticleId,
    content_hash: String,
    /// What a new version of it is compared with.
    version: Version,
    published: Option<DateTime<Utc>>,
    /// For a copy: the article it is a copy of.
    copy_of: Option<ArticleId>,
    /// For an original (not a copy): its signature, features and story.
    canonical: Option<(Signature, Features, String)>,
}

/// Recomputes what `a` left in the memory (see [`Recalled`]).
pub fn recall(a: Article, settings: &ProcessorSettings) -> Recalled {
    let canonical = a.duplicate.is_none().then(|| {
        // The same normalisation as in `analyze`, for the same signature and features.
        let joined = format!("{}\n{}", a.title, a.text);
        let normalized = NormalizedWords::of(&joined).text;
        let features = Features::of(&Terms::of(&normalized), &a.entities, settings.story_entity_weight());
        let story = a.story_id.clone().unwrap_or_else(|| StoryIndex::new_story_id(&a.id));
        (Signature::of(&normalized), features, story)
    });
    let version = Version {
        raw: 0,
        source: hash32(a.source_id.as_str()) as u8,
        title: hash32(&a.title) as u16,
        text: hash32(&a.text),
        simhash: a.fingerprints.simhash.as_deref().and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0),
        revision: a.revision.as_ref().map_or(0, |r| r.number.min(255) as u8),
    };
    Recalled {
        id: a.id,
        content_hash: a.fingerprints.content_hash,
        version,
        published: a.published_at,
        copy_of: a.duplicate.map(|d| d.of),
        canonical,
    }
}

/// The processor's memory and decisions: exact dedup, near dedup and stories. Synchronous and
/// deterministic given its inputs, their order and the clock value passed in.
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
                entity_weight: settings.story_entity_weight(),
            }),
        }
    }

    /// Whether this very message was already decided (same id, same hash of the raw item):
    /// checked before any cleaning, so that a repeat costs a lookup, not an analysis. A new
    /// version of a known article is not seen: it may be a revision.
    pub fn seen(&self, raw: &RawItem) -> bool {
        self.exact.seen_version(&raw.id, raw_version(raw))
    }

    /// Cleans, deduplicates and enriches one item, and remembers it: [`analyze`] then
    /// [`decide`](Self::decide). The offline commands and the tests use this; the service
    /// analyses a batch in parallel and decides in order, which gives the same results.
    pub fn process(&mut self, raw: &RawItem, now: DateTime<Utc>) -> Outcome {
        if self.seen(raw) {
            return Outcome::Dropped(DropReason::Duplicate);
        }
        match analyze(raw.clone(), &self.settings) {
            Ok(a) => self.decide(a, now),
            Err(reason) => Outcome::Dropped(reason),
        }
    }

    /// Decides an analysed item against the memory (steps 4, 5 and 7) and remembers it at
    /// once, so that the next item, even in the same batch, sees it. Copies are remembered for
    /// exact dedup only: the canonical article already stands for them.
    ///
    /// If the article then cannot be published, call [`forget`](Self::forget): its
    /// redelivery must be processed again, not dropped as a repeat.
    pub fn decide(&mut self, a: Analysis, now: DateTime<Utc>) -> Outcome {
        let Analysis {
            raw,
            raw_version,
            title,
            text,
            content_hash,
            signature,
            simhash,
            language,
            entities,
            features,
            keywords,
            summary,
        } = a;
        let simhash_bits = u64::from_str_radix(&simhash, 16).unwrap_or(0);
        let mut version = Version {
            raw: raw_version,
            source: hash32(raw.source_id.as_str()) as u8,
            title: hash32(&title) as u16,
            text: hash32(&text),
            simhash: simhash_bits,
            revision: 0,
        };
        let (duplicate, revision) = match self.exact.check(&raw.id, &content_hash) {
            Verdict::SameId(previous) => {
                let changed = match (previous.title != version.title, previous.text != version.text) {
                    (true, true) => Some(RevisionChange::Both),
                    (true, false) => Some(RevisionChange::Title),
                    (false, true) => Some(RevisionChange::Text),
                    (false, false) => None,
                };
                // Another feed's copy of the same link, or the same title and text again (the
                // markup or a date changed): nothing new. This message is remembered, so
                // that its redelivery is dropped before cleaning.
                let Some(changed) = changed.filter(|_| previous.source == version.source) else {
                    version = Version { raw: raw_version, ..previous };
                    self.exact.record(&raw.id, &content_hash, None, version);
                    return Outcome::Dropped(DropReason::Duplicate);
                };
                let similarity = if changed == RevisionChange::Title {
                    1.0
                } else {
                    1.0 - (previous.simhash ^ simhash_bits).count_ones() as f32 / 64.0
                };
                // Numbers beyond 255 stay 255 in memory: an article corrected that often is
                // rare enough for its later revisions to share a number.
                version.revision = previous.revision.saturating_add(1);
                let revision = Revision { number: u32::from(version.revision), changed, similarity };
                // A revision is judged for copies like a new article, against others only.
                let duplicate = self.copy(&raw.id, &content_hash, &signature);
                (duplicate, Some(revision))
            }
            Verdict::SameContent(of) => {
                (Some(DuplicateInfo { of, kind: DuplicateKind::Exact, similarity: 1.0 }), None)
            }
            Verdict::New => (self.copy(&raw.id, &content_hash, &signature), None),
        };
        let published_at = raw.published.or(raw.updated);
        let weighed = self.stories.weigh(&features);
        let story_id = self
            .stories
            .best_story_weighed(&weighed, published_at)
            .map(|(story, _)| story)
            .unwrap_or_else(|| StoryIndex::new_story_id(&raw.id));
        let keywords = keywords
            .top(self.settings.keywords, |f| weighed.idf_of(f).unwrap_or_else(|| self.stories.idf_of(f)));
        self.exact.record(&raw.id, &content_hash, duplicate.as_ref().map(|d| &d.of), version);
        // A revision's article is in the indexes already, under its first version.
        if duplicate.is_none() && revision.is_none() {
            self.near.insert(&raw.id, signature);
            self.stories.insert(&story_id, features, published_at);
        }
        let mut categories = raw.feed_categories;
        categories.retain(|c| !c.trim().is_empty());
        Outcome::Article(Box::new(Article {
            schema_version: SCHEMA_VERSION,
            id: raw.id,
            canonical_url: raw.link,
            source_id: raw.source_id,
            feed_url: raw.feed_url,
            summary,
            keywords,
            title,
            text,
            language,
            category: raw.category,
            published_at,
            fetched_at: raw.fetched_at,
            processed_at: now,
            authors: raw.authors,
            entities,
            categories,
            story_id: Some(story_id),
            fingerprints: Fingerprints { content_hash, simhash: Some(simhash) },
            duplicate,
            revision,
        }))
    }

    /// Whether an article is a copy of another remembered one: the same content, else near.
    fn copy(&self, id: &ArticleId, content_hash: &str, signature: &Signature) -> Option<DuplicateInfo> {
        match self.exact.copy_of(id, content_hash) {
            Some(of) => Some(DuplicateInfo { of, kind: DuplicateKind::Exact, similarity: 1.0 }),
            None => self
                .near
                .first_match(signature, self.settings.near_dup_threshold, id)
                .map(|(of, similarity)| DuplicateInfo { of, kind: DuplicateKind::Near, similarity }),
        }
    }

    /// Forgets the id of an article whose publish failed, so that its redelivery goes
    /// through. Its content stays remembered: the redelivery finds itself there and is no
    /// copy of itself, and copies decided meanwhile point to it, which its retry publishes.
    pub fn forget(&mut self, id: &ArticleId) {
        self.exact.forget_id(id);
    }

    /// Remembers an article that was published earlier (by this processor before a restart,
    /// or by another replica): what a fresh processor replays from the article stream at
    /// start-up. `m` comes from [`recall`].
    pub fn remember(&mut self, m: Recalled) {
        if self.exact.seen_id(&m.id) {
            // A later version replaces what is known of the article; its first version's
            // signature and features stay in the indexes.
            if m.version.revision > 0 {
                self.exact.record(&m.id, &m.content_hash, m.copy_of.as_ref(), m.version);
            }
            return;
        }
        self.exact.record(&m.id, &m.content_hash, m.copy_of.as_ref(), m.version);
        if let Some((signature, features, story)) = m.canonical {
            self.near.insert(&m.id, signature);
            self.stories.insert(&story, features, m.published);
        }
    }

    /// Articles remembered for exact dedup, near dedup and stories.
    pub fn remembered(&self) -> (usize, usize, usize) {
        (self.exact.len(), self.near.len(), self.stories.len())
    }

    /// Heap bytes held by the exact, near-duplicate and story memories, from their capacities.
    pub fn heap_bytes(&self) -> (usize, usize, usize) {
        (self.exact.heap_bytes(), self.near.heap_bytes(), self.stories.heap_bytes())
    }
}

#[cfg(test)]
mod tests;
