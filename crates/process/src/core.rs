use chrono::{DateTime, Utc};
use newswire_clean::{clean_title, html_to_text, normalize_for_matching};
use newswire_dedup::{ExactDedup, Verdict, content_hash};
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

/// What the processor made of an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Publish this article (it may carry duplicate information: an exact copy under another
    /// URL is still published, marked, so that consumers see who republished what).
    Article(Box<Article>),
    /// Nothing to publish.
    Dropped(DropReason),
}

/// The processor core: synchronous and deterministic given its inputs and the clock value
/// passed in.
#[derive(Debug)]
pub struct Processor {
    dedup: ExactDedup,
}

impl Processor {
    /// A processor with empty dedup memory.
    pub fn new(settings: &ProcessorSettings) -> Self {
        Self { dedup: ExactDedup::new(settings.dedup_capacity) }
    }

    /// Cleans, deduplicates and enriches one item. Remembers nothing: call
    /// [`record`](Self::record) once the article has been handed on.
    pub fn process(&self, raw: &RawItem, now: DateTime<Utc>) -> Outcome {
        let title = raw.title.as_deref().map(clean_title).unwrap_or_default();
        let body_html = raw.content.as_deref().or(raw.summary.as_deref()).unwrap_or_default();
        let text = html_to_text(body_html);
        if title.is_empty() && text.is_empty() {
            return Outcome::Dropped(DropReason::Empty);
        }
        let normalized = normalize_for_matching(&format!("{title}\n{text}"));
        let hash = content_hash(&normalized);
        let duplicate = match self.dedup.check(&raw.id, &hash) {
            Verdict::SameId => return Outcome::Dropped(DropReason::Duplicate),
            Verdict::SameContent(of) => {
                Some(DuplicateInfo { of, kind: DuplicateKind::Exact, similarity: 1.0 })
            }
            Verdict::New => None,
        };
        let language =
            newswire_enrich::detect_language(&format!("{title}\n{text}"), raw.language_hint.as_ref());
        Outcome::Article(Box::new(Article {
            schema_version: SCHEMA_VERSION,
            id: raw.id.clone(),
            canonical_url: raw.link.clone(),
            source_id: raw.source_id.clone(),
            feed_url: raw.feed_url.clone(),
            title,
            text,
            language,
            category: raw.category.clone(),
            published_at: raw.published.or(raw.updated),
            fetched_at: raw.fetched_at,
            processed_at: now,
            authors: raw.authors.clone(),
            entities: Vec::new(),
            keywords: Vec::new(),
            summary: None,
            categories: raw.feed_categories.clone(),
            story_id: None,
            fingerprints: Fingerprints { content_hash: hash, simhash: None },
            duplicate,
        }))
    }

    /// Remembers an article that was handed on, so later copies are recognised.
    pub fn record(&mut self, article: &Article) {
        self.dedup.record(&article.id, &article.fingerprints.content_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use newswire_model::{ArticleId, Category, SourceId};

    fn raw(link: &str, title: &str, content: &str) -> RawItem {
        RawItem {
            schema_version: SCHEMA_VERSION,
            id: ArticleId::digest(&[link]),
            source_id: SourceId::parse("src").unwrap(),
            feed_url: "file:///feed.xml".into(),
            guid: None,
            link: Some(link.into()),
            title: Some(title.into()),
            content: Some(content.into()),
            summary: None,
            authors: vec![],
            feed_categories: vec![],
            published: None,
            updated: None,
            language_hint: None,
            category: Category::general(),
            fetched_at: Utc::now(),
            http: None,
        }
    }

    fn article(o: Outcome) -> Article {
        match o {
            Outcome::Article(a) => *a,
            Outcome::Dropped(r) => panic!("dropped: {r:?}"),
        }
    }

    const BODY: &str = "<p>تلقى وزير الخارجية الروسي سيرجي لافروف اتصالا هاتفيا من نظيره الأميركي ماركو روبيو.</p><script>x</script>";

    #[test]
    fn cleans_and_detects_language() {
        let p = Processor::new(&ProcessorSettings::default());
        let a = article(p.process(&raw("https://a.example/1", "أول &amp; اتصال", BODY), Utc::now()));
        assert_eq!(a.title, "أول & اتصال");
        assert!(a.text.starts_with("تلقى وزير") && !a.text.contains('<') && !a.text.contains("x"));
        assert_eq!(a.language.as_str(), "ar");
        assert!(a.duplicate.is_none());
    }

    #[test]
    fn same_id_is_dropped_only_after_record() {
        let mut p = Processor::new(&ProcessorSettings::default());
        let item = raw("https://a.example/1", "t", BODY);
        let a = article(p.process(&item, Utc::now()));
        // Not recorded yet (e.g. the publish failed): a redelivery must still go through.
        assert!(matches!(p.process(&item, Utc::now()), Outcome::Article(_)));
        p.record(&a);
        assert_eq!(p.process(&item, Utc::now()), Outcome::Dropped(DropReason::Duplicate));
    }

    #[test]
    fn exact_copy_under_another_url_is_marked() {
        let mut p = Processor::new(&ProcessorSettings::default());
        let a = article(p.process(&raw("https://a.example/1", "t", BODY), Utc::now()));
        p.record(&a);
        // Same text with different markup and a diacritic: same normalised content.
        let copy =
            "<div>تلقى وزيرُ الخارجية الروسي سيرجي لافروف اتصالا هاتفيا من نظيره الأميركي ماركو روبيو.</div>";
        let b = article(p.process(&raw("https://b.example/9", "t", copy), Utc::now()));
        let dup = b.duplicate.expect("marked as duplicate");
        assert_eq!(dup.of, a.id);
        assert_eq!(dup.kind, DuplicateKind::Exact);
    }

    #[test]
    fn empty_items_are_dropped() {
        let p = Processor::new(&ProcessorSettings::default());
        assert_eq!(
            p.process(&raw("https://a.example/1", " ", "<script>x</script>"), Utc::now()),
            Outcome::Dropped(DropReason::Empty)
        );
    }
}
