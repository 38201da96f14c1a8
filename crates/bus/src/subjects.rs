use newswire_model::{Article, Category, Lang, SourceId};

/// The subject hierarchy. Every token after the root is a validated model type, so no subject
/// can contain `.`, `*`, `>` or whitespace from outside data.
///
/// - `<root>.raw.<source>`: raw items, one subject per source, so a consumer (or a replay) can
///   select sources.
/// - `<root>.articles.<lang>.<category>`: processed articles. Language first because it is
///   the most common subscription filter (`news.articles.ar.>`), category second
///   (`news.articles.*.economy`).
/// - `<root>.dlq.<stage>`: messages a stage gave up on, with the reason in headers.
/// - `<root>.stories.<lang>`: story events (a story created, or grown with a new outlet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    root: String,
}

impl Subjects {
    /// Subjects under `root` (e.g. `news`).
    pub fn new(root: &str) -> Self {
        Self { root: root.to_owned() }
    }

    /// Subject of a source's raw items.
    pub fn raw(&self, source: &SourceId) -> String {
        format!("{}.raw.{source}", self.root)
    }

    /// Wildcard of all raw items.
    pub fn raw_all(&self) -> String {
        format!("{}.raw.>", self.root)
    }

    /// Subject of an article.
    pub fn article(&self, lang: &Lang, category: &Category) -> String {
        format!("{}.articles.{lang}.{category}", self.root)
    }

    /// Subject of this article.
    pub fn for_article(&self, a: &Article) -> String {
        self.article(&a.language, &a.category)
    }

    /// Wildcard of all articles.
    pub fn articles_all(&self) -> String {
        format!("{}.articles.>", self.root)
    }

    /// Dead-letter subject of a stage.
    pub fn dlq(&self, stage: &str) -> String {
        format!("{}.dlq.{stage}", self.root)
    }

    /// Wildcard of all dead letters.
    pub fn dlq_all(&self) -> String {
        format!("{}.dlq.>", self.root)
    }

    /// Subject of the story events of a language.
    pub fn stories(&self, lang: &Lang) -> String {
        format!("{}.stories.{lang}", self.root)
    }

    /// Wildcard of all story events.
    pub fn stories_all(&self) -> String {
        format!("{}.stories.>", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy() {
        let s = Subjects::new("news");
        let src = SourceId::parse("aljazeera").unwrap();
        assert_eq!(s.raw(&src), "news.raw.aljazeera");
        let ar = Lang::parse("ar").unwrap();
        assert_eq!(s.article(&ar, &Category::general()), "news.articles.ar.general");
        assert_eq!(s.dlq("sink"), "news.dlq.sink");
        assert_eq!(s.stories(&ar), "news.stories.ar");
        assert_eq!(s.stories_all(), "news.stories.>");
    }
}
