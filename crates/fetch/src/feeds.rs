use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use newswire_model::{Category, Lang, SourceId};
use serde::Deserialize;

use crate::{FeedUrl, FetchError, FullText, NetGuard};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedFile {
    #[serde(default)]
    feed: Vec<FeedEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedEntry {
    id: String,
    url: String,
    poll_interval_secs: Option<u64>,
    language: Option<String>,
    category: Option<String>,
    #[serde(default)]
    full_text: FullText,
}

/// One configured feed, validated.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    /// Source id (subject token).
    pub id: SourceId,
    /// Where to fetch it.
    pub url: FeedUrl,
    /// How often.
    pub poll_interval: Duration,
    /// Language hint for its items.
    pub language: Option<Lang>,
    /// Category of its items.
    pub category: Category,
    /// When to fetch an entry's linked page for its full article.
    pub full_text: FullText,
}

/// The feeds file: a list of `[[feed]]` tables.
///
/// ```toml
/// [[feed]]
/// id = "aljazeera-ar"
/// url = "https://www.aljazeera.net/aljazeerarss/a7c186be-1baa-4bd4-9d80-a84db769f779/73d0e1b4-532f-45ef-b135-bfdff8b8cab9"
/// poll_interval_secs = 300   # optional, [fetcher] default_poll_interval_secs otherwise
/// language = "ar"            # optional hint
/// category = "world"         # optional, "general" otherwise
/// full_text = "auto"         # optional: "auto" (default), "always" or "never"; see FullText
/// ```
#[derive(Debug, Clone, Default)]
pub struct FeedList {
    /// The feeds, in file order.
    pub feeds: Vec<FeedSpec>,
}

impl FeedList {
    /// Reads and validates a feeds file. Every problem names the feed and the field.
    pub fn load(path: &Path, guard: &NetGuard, default_interval: Duration) -> Result<Self, FetchError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| FetchError::Io { path: path.display().to_string(), source })?;
        let mut list = Self::parse(&text, &path.display().to_string(), guard, default_interval)?;
        // Relative paths are relative to the feeds file, not to wherever the service started.
        let dir = path.parent().unwrap_or(Path::new("."));
        for f in &mut list.feeds {
            if let FeedUrl::File(p) = &mut f.url
                && p.is_relative()
            {
                *p = dir.join(&*p);
            }
        }
        Ok(list)
    }

    /// Parses a feeds file's text; `origin` names it in errors.
    pub fn parse(
        text: &str,
        origin: &str,
        guard: &NetGuard,
        default_interval: Duration,
    ) -> Result<Self, FetchError> {
        let invalid = |reason: String| FetchError::InvalidUrl { url: origin.to_owned(), reason };
        let file: FeedFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut seen = HashSet::new();
        let mut feeds = Vec::with_capacity(file.feed.len());
        for (i, e) in file.feed.into_iter().enumerate() {
            let at = |field: &str, msg: String| invalid(format!("feed #{} `{field}`: {msg}", i + 1));
            let id = SourceId::parse(&e.id).map_err(|err| at("id", err.to_string()))?;
            if !seen.insert(id.clone()) {
                return Err(at("id", format!("duplicate id {id}")));
            }
            let url = guard.parse(&e.url).map_err(|err| at("url", err.to_string()))?;
            let language = e
                .language
                .map(|l| Lang::parse(&l))
                .transpose()
                .map_err(|err| at("language", err.to_string()))?;
            let category = e
                .category
                .map(|c| Category::parse(&c))
                .transpose()
                .map_err(|err| at("category", err.to_string()))?
                .unwrap_or_default();
            let poll_interval = match e.poll_interval_secs {
                Some(0) => return Err(at("poll_interval_secs", "must be at least 1".into())),
                Some(s) => Duration::from_secs(s),
                None => default_interval,
            };
            feeds.push(FeedSpec { id, url, poll_interval, language, category, full_text: e.full_text });
        }
        Ok(Self { feeds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: NetGuard = NetGuard { allow_private: false, allow_files: false };

    #[test]
    fn full_text_defaults_to_auto_and_a_wrong_value_names_the_field() {
        let text = "[[feed]]\nid = \"a\"\nurl = \"https://a.example/rss\"\n\n[[feed]]\nid = \"b\"\nurl = \"https://b.example/rss\"\nfull_text = \"never\"\n";
        let list = FeedList::parse(text, "feeds.toml", &GUARD, Duration::from_secs(60));
        let modes: Vec<FullText> =
            list.map(|l| l.feeds.iter().map(|f| f.full_text).collect()).unwrap_or_default();
        assert_eq!(modes, [FullText::Auto, FullText::Never]);
        let bad = "[[feed]]\nid = \"a\"\nurl = \"https://a.example/rss\"\nfull_text = \"sometimes\"\n";
        let err =
            FeedList::parse(bad, "feeds.toml", &GUARD, Duration::from_secs(60)).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("full_text") && e.contains("sometimes")),
            "{err:?}"
        );
    }
}
