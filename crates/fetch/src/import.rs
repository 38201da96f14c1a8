//! Feed-list import: an OPML subscription list (what every feed reader exports) or a plain list
//! of URLs, to `[[feed]]` entries of the feeds file.

use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::{FeedList, FeedUrl, FetchError, NetGuard};

/// A feed to add to the feeds file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFeed {
    /// A source id derived from the title (ASCII) or the URL's host, unique in the list.
    pub id: String,
    /// The feed URL.
    pub url: String,
    /// The title given by the OPML, if any (kept as a comment).
    pub title: Option<String>,
    /// The outline's `language` attribute (OPML 2.0), if any.
    pub language: Option<String>,
    /// The outline's `category` attribute (its first one, without slashes), if it is a valid
    /// category.
    pub category: Option<String>,
    /// `newswire:pollIntervalSecs` (newswire's own OPML export), if any.
    pub poll_interval_secs: Option<u64>,
}

/// One feed found in the input, before ids are chosen.
#[derive(Debug, Default)]
struct Candidate {
    url: String,
    title: Option<String>,
    /// `newswire:id`: the id a newswire export gave it, kept when free.
    id: Option<String>,
    language: Option<String>,
    category: Option<String>,
    poll_interval_secs: Option<u64>,
}

/// Reads an OPML document, or a plain list of URLs (one per line, `#` comments), and returns
/// the feeds not already in `existing`, with ids that collide with nothing. Every URL passes the
/// same [`NetGuard`] as the fetcher; a refused or invalid one is an error naming it.
pub fn import_feeds(
    text: &str,
    existing: &FeedList,
    guard: &NetGuard,
) -> Result<Vec<ImportedFeed>, FetchError> {
    let candidates = if text.trim_start().starts_with('<') { opml_outlines(text)? } else { url_lines(text) };
    // Rejected entries are still in the file: their ids and URLs are taken too.
    let mut ids: HashSet<String> = existing
        .feeds
        .iter()
        .map(|f| f.id.to_string())
        .chain(existing.rejected.iter().map(|r| r.id.clone()))
        .collect();
    let mut urls: HashSet<String> = existing
        .feeds
        .iter()
        .map(|f| f.url.to_string())
        .chain(existing.rejected.iter().map(|r| r.url.clone()))
        .collect();
    let mut out = Vec::new();
    for Candidate { url, title, id: wanted, language, category, poll_interval_secs } in candidates {
        let parsed = guard.parse(&url)?;
        if !matches!(parsed, FeedUrl::Http(_)) {
            return Err(FetchError::Refused { url, reason: "only http(s) feeds can be imported".into() });
        }
        if !urls.insert(parsed.to_string()) {
            continue;
        }
        let base = wanted
            .filter(|w| newswire_model::SourceId::parse(w).is_ok())
            .or_else(|| slug(title.as_deref().unwrap_or_default()).filter(|s| s.len() >= 3))
            .or_else(|| host_slug(&parsed))
            .unwrap_or_else(|| "feed".to_owned());
        let mut id = base.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{}-{n}", &base[..base.len().min(60)]);
            n += 1;
        }
        ids.insert(id.clone());
        let language = language.filter(|l| newswire_model::Lang::parse(l).is_ok());
        out.push(ImportedFeed { id, url: parsed.to_string(), title, language, category, poll_interval_secs });
    }
    Ok(out)
}

/// `[[feed]]` tables for the feeds file. A feed's own language, category and interval (from
/// the OPML) win over `language` and `category`.
pub fn render_feeds(feeds: &[ImportedFeed], language: Option<&str>, category: Option<&str>) -> String {
    let q = toml_string;
    let mut out = String::new();
    for f in feeds {
        out.push_str("[[feed]]\n");
        if let Some(t) = &f.title {
            let one_line: String = t.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            out.push_str(&format!("# {}\n", one_line.trim()));
        }
        out.push_str(&format!("id = {}\nurl = {}\n", q(&f.id), q(&f.url)));
        if let Some(s) = f.poll_interval_secs {
            out.push_str(&format!("poll_interval_secs = {s}\n"));
        }
        if let Some(l) = f.language.as_deref().or(language) {
            out.push_str(&format!("language = {}\n", q(l)));
        }
        if let Some(c) = f.category.as_deref().or(category) {
            out.push_str(&format!("category = {}\n", q(c)));
        }
        out.push('\n');
    }
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn url_lines(text: &str) -> Vec<Candidate> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| Candidate { url: l.to_owned(), ..Candidate::default() })
        .collect()
}

/// `xmlUrl`, `title`/`text`, `language`, `category` and newswire's own attributes of every
/// `<outline>`, nested folders included.
fn opml_outlines(text: &str) -> Result<Vec<Candidate>, FetchError> {
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().into_inner() == "outline" => {
                let mut url = None;
                let mut title = None;
                let mut c = Candidate::default();
                for attr in e.attributes().flatten() {
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map(|v| v.trim().to_owned())
                        .unwrap_or_default();
                    // newswire's own attributes carry their prefix; the standard ones none.
                    match attr.key.into_inner() {
                        "newswire:id" => c.id = Some(value),
                        "newswire:pollIntervalSecs" => {
                            c.poll_interval_secs = value.parse().ok().filter(|s| *s > 0)
                        }
                        "xmlUrl" | "xmlurl" => url = Some(value),
                        "title" => title = Some(value),
                        "text" if title.is_none() => title = Some(value),
                        "language" => c.language = Some(value).filter(|v| !v.is_empty()),
                        // OPML categories are comma-separated, slash-delimited paths.
                        "category" => {
                            c.category = value
                                .split(',')
                                .next()
                                .map(|v| v.trim().trim_matches('/').to_owned())
                                .filter(|v| newswire_model::Category::parse(v).is_ok());
                        }
                        _ => {}
                    }
                }
                if let Some(url) = url.filter(|u| !u.is_empty()) {
                    out.push(Candidate { url, title: title.filter(|t| !t.is_empty()), ..c });
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(FetchError::Malformed {
                    url: "OPML".into(),
                    message: format!("at byte {}: {e}", reader.buffer_position()),
                });
            }
        }
    }
    Ok(out)
}

/// Lowercase ASCII letters and digits joined by `-`; `None` when nothing is left (e.g. an
/// Arabic title).
fn slug(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    (!out.is_empty()).then(|| out[..out.len().min(60)].trim_end_matches('-').to_owned())
}

fn host_slug(url: &FeedUrl) -> Option<String> {
    match url {
        FeedUrl::Http(u) => slug(u.host_str()?.trim_start_matches("www.")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const GUARD: NetGuard = NetGuard { allow_private: false, allow_files: false };

    #[test]
    fn opml_with_folders_becomes_feeds_with_unique_ids() {
        let opml = r#"<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>
            <outline text="World"><outline type="rss" text="Al Jazeera &amp; more" xmlUrl="https://www.aljazeera.net/rss"/>
            <outline type="rss" title="الجزيرة" xmlUrl="https://www.aljazeera.net/other.xml"/></outline>
            <outline type="rss" text="Al Jazeera &amp; more" xmlUrl="https://www.aljazeera.net/rss2"/>
            <outline text="no url"/></body></opml>"#;
        let feeds = import_feeds(opml, &FeedList::default(), &GUARD).unwrap();
        let got: Vec<(&str, &str)> = feeds.iter().map(|f| (f.id.as_str(), f.url.as_str())).collect();
        assert_eq!(
            got,
            [
                ("al-jazeera-more", "https://www.aljazeera.net/rss"),
                ("aljazeera-net", "https://www.aljazeera.net/other.xml"),
                ("al-jazeera-more-2", "https://www.aljazeera.net/rss2"),
            ]
        );
        // The rendered TOML is a valid feeds file with the same feeds.
        let toml = render_feeds(&feeds, Some("ar"), Some("world"));
        let list = FeedList::parse(&toml, "import", &GUARD, Duration::from_secs(300)).unwrap();
        assert_eq!(list.feeds.len(), 3);
        assert_eq!(list.feeds[1].language.as_ref().map(|l| l.as_str()), Some("ar"));
        assert!(toml.contains("# الجزيرة"));
    }

    #[test]
    fn url_lists_skip_known_feeds_and_refuse_internal_addresses() {
        let existing = FeedList::parse(
            "[[feed]]\nid = \"a\"\nurl = \"https://a.example/rss\"\n",
            "x",
            &GUARD,
            Duration::from_secs(1),
        )
        .unwrap();
        let feeds =
            import_feeds("# mine\nhttps://a.example/rss\nhttps://b.example/feed\n", &existing, &GUARD)
                .unwrap();
        assert_eq!(feeds.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["b-example"]);
        let e = import_feeds("http://169.254.169.254/latest\n", &FeedList::default(), &GUARD).unwrap_err();
        assert!(e.to_string().contains("internal address"), "{e}");
        assert!(import_feeds("<opml><body><outline xmlUrl=\"x\"", &FeedList::default(), &GUARD).is_err());
    }
}
