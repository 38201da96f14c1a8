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
#[derive(Debug, Clone, PartialEq)]
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
    /// Entries that are not run because they are invalid or their URL is refused (the SSRF
    /// guard): one bad entry must not stop the fetcher for every other feed. The fetcher
    /// reports each at start-up and counts them (`newswire_fetcher_feeds_rejected`).
    pub rejected: Vec<RejectedFeed>,
}

/// A feeds-file entry that is not run, and why.
#[derive(Debug, Clone)]
pub struct RejectedFeed {
    /// The entry's `id` as written.
    pub id: String,
    /// The entry's `url` as written.
    pub url: String,
    /// What is wrong, naming the entry and the field.
    pub reason: String,
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

    /// Parses a feeds file's text; `origin` names it in errors. A file that is not valid TOML
    /// or has unknown fields is an error; an entry with a bad value is [`rejected`](Self::rejected)
    /// alone.
    pub fn parse(
        text: &str,
        origin: &str,
        guard: &NetGuard,
        default_interval: Duration,
    ) -> Result<Self, FetchError> {
        let file: FeedFile = toml::from_str(text)
            .map_err(|e| FetchError::InvalidUrl { url: origin.to_owned(), reason: e.to_string() })?;
        let mut seen = HashSet::new();
        let mut list = Self { feeds: Vec::with_capacity(file.feed.len()), rejected: Vec::new() };
        for (i, e) in file.feed.into_iter().enumerate() {
            match Self::entry(&e, guard, default_interval, &mut seen) {
                Ok(spec) => list.feeds.push(spec),
                Err((field, msg)) => list.rejected.push(RejectedFeed {
                    reason: format!("{origin}: feed #{} ({}) `{field}`: {msg}", i + 1, e.id),
                    id: e.id,
                    url: e.url,
                }),
            }
        }
        Ok(list)
    }

    /// Validates one entry; the error names the field.
    fn entry(
        e: &FeedEntry,
        guard: &NetGuard,
        default_interval: Duration,
        seen: &mut HashSet<SourceId>,
    ) -> Result<FeedSpec, (&'static str, String)> {
        let spec = FeedSpec::validate(
            &FeedFields {
                id: &e.id,
                url: &e.url,
                poll_interval_secs: e.poll_interval_secs,
                language: e.language.as_deref(),
                category: e.category.as_deref(),
                full_text: e.full_text,
            },
            guard,
            default_interval,
        )?;
        if !seen.insert(spec.id.clone()) {
            return Err(("id", format!("duplicate id {}", spec.id)));
        }
        Ok(spec)
    }
}

/// A feed's fields as written (a feeds-file entry, a registry value, a CLI or API request),
/// before validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedFields<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub poll_interval_secs: Option<u64>,
    pub language: Option<&'a str>,
    pub category: Option<&'a str>,
    pub full_text: FullText,
}

impl FeedSpec {
    /// The one set of rules for a feed, wherever it comes from (the feeds file, the registry,
    /// the CLI, the API): a valid source id, a URL the SSRF guard accepts, a language and a
    /// category that parse, an interval of at least a second. The error names the field.
    pub(crate) fn validate(
        f: &FeedFields<'_>,
        guard: &NetGuard,
        default_interval: Duration,
    ) -> Result<FeedSpec, (&'static str, String)> {
        let id = SourceId::parse(f.id).map_err(|err| ("id", err.to_string()))?;
        let url = guard.parse(f.url).map_err(|err| ("url", err.to_string()))?;
        let language =
            f.language.map(Lang::parse).transpose().map_err(|err| ("language", err.to_string()))?;
        let category = f
            .category
            .map(Category::parse)
            .transpose()
            .map_err(|err| ("category", err.to_string()))?
            .unwrap_or_default();
        let poll_interval = match f.poll_interval_secs {
            Some(0) => return Err(("poll_interval_secs", "must be at least 1".into())),
            Some(s) => Duration::from_secs(s),
            None => default_interval,
        };
        Ok(FeedSpec { id, url, poll_interval, language, category, full_text: f.full_text })
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

    #[test]
    fn a_refused_or_invalid_entry_is_rejected_alone_and_the_rest_is_kept() {
        let text = "[[feed]]\nid = \"good\"\nurl = \"https://a.example/rss\"\n\n\
                    [[feed]]\nid = \"internal\"\nurl = \"http://127.0.0.1:8080/rss\"\n\n\
                    [[feed]]\nid = \"badlang\"\nurl = \"https://b.example/rss\"\nlanguage = \"not a language\"\n\n\
                    [[feed]]\nid = \"good\"\nurl = \"https://c.example/rss\"\n\n\
                    [[feed]]\nid = \"other\"\nurl = \"https://d.example/rss\"\n";
        let list = FeedList::parse(text, "feeds.toml", &GUARD, Duration::from_secs(60)).unwrap();
        let ids: Vec<&str> = list.feeds.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["good", "other"]);
        let rejected: Vec<(&str, &str)> =
            list.rejected.iter().map(|r| (r.id.as_str(), r.reason.as_str())).collect();
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        assert!(rejected[0].0 == "internal" && rejected[0].1.contains("`url`"), "{rejected:?}");
        assert!(rejected[1].0 == "badlang" && rejected[1].1.contains("`language`"), "{rejected:?}");
        assert!(rejected[2].0 == "good" && rejected[2].1.contains("duplicate id"), "{rejected:?}");
        assert!(rejected[0].1.starts_with("feeds.toml: feed #2 (internal)"), "{rejected:?}");
    }
}
