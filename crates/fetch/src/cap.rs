//! The per-feed item cap: a feed document is cut after its first `max` entries before it is
//! parsed, so that a feed of 100,000 items costs the memory of `max` parsed entries, not of
//! all of them (the parser builds every entry before the fetcher sees one). Feeds list their
//! newest entries first; the cut keeps those.
//!
//! Pure and synchronous. The cut is made on the decoded text: for XML, right before the start
//! tag of the first entry over the cap, with the elements still open closed after it; for
//! JSON Feed, by reading the `items` array element by element and skipping the rest.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

/// A document cut to its first entries.
#[derive(Debug)]
pub(crate) struct Capped<'a> {
    /// The document, shortened if it had more than the cap.
    pub text: Cow<'a, str>,
    /// Entries left out.
    pub dropped: usize,
}

/// Cuts `text` (a feed document, XML or JSON) after its first `max` entries. A document that
/// cannot have more (a cheap upper bound says so) or that does not read is returned as it is:
/// the parser then reports it.
pub(crate) fn cap_entries(text: &str, max: usize) -> Capped<'_> {
    let unchanged = Capped { text: Cow::Borrowed(text), dropped: 0 };
    if text.trim_start().starts_with('{') {
        // Every item is an object: at most one per `{` after the document's own.
        if text.bytes().filter(|b| *b == b'{').count() <= max + 1 {
            return unchanged;
        }
        return cap_json(text, max).unwrap_or(unchanged);
    }
    // Every entry's start tag contains its name.
    if text.matches("item").count() + text.matches("entry").count() <= max {
        return unchanged;
    }
    cap_xml(text, max).unwrap_or(unchanged)
}

fn is_entry(local_name: &str) -> bool {
    local_name == "item" || local_name == "entry"
}

fn cap_xml(text: &str, max: usize) -> Option<Capped<'_>> {
    let mut reader = Reader::from_str(text);
    // Names of the open elements, to close them after the cut.
    let mut open: Vec<String> = Vec::new();
    // Depth of the entry we are inside, so that an `<item>` nested in an entry is no entry.
    let mut in_entry: Option<usize> = None;
    let mut entries = 0usize;
    // Where to cut, and the elements open there.
    let mut cut: Option<(usize, Vec<String>)> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        let event = reader.read_event().ok()?;
        match event {
            Event::Start(e) => {
                let entry_start = in_entry.is_none() && is_entry(e.local_name().as_ref());
                if entry_start {
                    if entries == max && cut.is_none() {
                        cut = Some((before, open.clone()));
                    }
                    entries += 1;
                    in_entry = Some(open.len());
                }
                open.push(e.name().as_ref().to_owned());
            }
            Event::Empty(e) if in_entry.is_none() && is_entry(e.local_name().as_ref()) => {
                if entries == max && cut.is_none() {
                    cut = Some((before, open.clone()));
                }
                entries += 1;
            }
            Event::End(_) => {
                open.pop();
                if in_entry == Some(open.len()) {
                    in_entry = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Read to the end: entries past the cut are counted, and a document that does not read
    // is left whole for the parser to report.
    let (at, stack) = cut?;
    let mut out = String::with_capacity(at + 64);
    out.push_str(text.get(..at)?);
    for name in stack.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    Some(Capped { text: Cow::Owned(out), dropped: entries - max })
}

fn cap_json(text: &str, max: usize) -> Option<Capped<'_>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// The first `max` elements of an array, and how many followed.
    struct Items {
        max: usize,
    }
    impl<'de> DeserializeSeed<'de> for Items {
        type Value = (Vec<Value>, usize);
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Items {
        type Value = (Vec<Value>, usize);
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of items")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut kept = Vec::with_capacity(self.max.min(1024));
            while kept.len() < self.max {
                match seq.next_element::<Value>()? {
                    Some(v) => kept.push(v),
                    None => return Ok((kept, 0)),
                }
            }
            let mut dropped = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                dropped += 1;
            }
            Ok((kept, dropped))
        }
    }

    /// The top-level object, with `items` read through [`Items`].
    struct Doc {
        max: usize,
    }
    impl<'de> Visitor<'de> for Doc {
        type Value = (Map<String, Value>, usize);
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON Feed object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Map::new();
            let mut dropped = 0;
            while let Some(key) = map.next_key::<String>()? {
                if key == "items" {
                    let (kept, d) = map.next_value_seed(Items { max: self.max })?;
                    dropped = d;
                    out.insert(key, Value::Array(kept));
                } else {
                    let v = map.next_value::<Value>()?;
                    out.insert(key, v);
                }
            }
            Ok((out, dropped))
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let (doc, dropped) = de.deserialize_map(Doc { max }).ok()?;
    if dropped == 0 {
        return Some(Capped { text: Cow::Borrowed(text), dropped: 0 });
    }
    let out = serde_json::to_string(&Value::Object(doc)).ok()?;
    Some(Capped { text: Cow::Owned(out), dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(n: usize) -> String {
        let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
        for i in 0..n {
            s.push_str(&format!("<item><title>entry {i}</title><link>https://a.example/{i}</link></item>\n"));
        }
        s.push_str("<lastBuildDate>x</lastBuildDate></channel></rss>");
        s
    }

    #[test]
    fn an_rss_feed_over_the_cap_keeps_its_first_entries_and_stays_well_formed() {
        let text = rss(50);
        let c = cap_entries(&text, 10);
        assert_eq!(c.dropped, 40);
        assert!(c.text.contains("entry 9<") && !c.text.contains("entry 10<"), "{}", c.text);
        assert!(c.text.ends_with("</channel></rss>"), "{}", c.text);
        let feed = feed_rs::parser::parse(c.text.as_bytes()).unwrap();
        assert_eq!(feed.entries.len(), 10);
    }

    #[test]
    fn a_feed_at_or_under_the_cap_is_untouched() {
        let text = rss(10);
        let c = cap_entries(&text, 10);
        assert_eq!(c.dropped, 0);
        assert!(matches!(c.text, Cow::Borrowed(_)));
    }

    #[test]
    fn atom_with_prefixes_and_nested_items_counts_entries_only() {
        let mut s = String::from("<a:feed xmlns:a=\"http://www.w3.org/2005/Atom\"><a:title>t</a:title>");
        for i in 0..5 {
            s.push_str(&format!(
                "<a:entry><a:id>urn:{i}</a:id><a:title>e{i}</a:title><x:item xmlns:x=\"urn:x\">not an entry</x:item></a:entry>"
            ));
        }
        s.push_str("</a:feed>");
        let c = cap_entries(&s, 2);
        assert_eq!(c.dropped, 3);
        assert!(c.text.ends_with("</a:entry></a:feed>"), "{}", c.text);
        assert_eq!(feed_rs::parser::parse(c.text.as_bytes()).unwrap().entries.len(), 2);
    }

    #[test]
    fn a_json_feed_over_the_cap_keeps_its_first_items_and_other_fields() {
        let items: Vec<String> = (0..30)
            .map(|i| format!("{{\"id\":\"{i}\",\"url\":\"https://a.example/{i}\",\"title\":\"t{i}\"}}"))
            .collect();
        let text = format!(
            "{{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"f\",\"items\":[{}],\"home_page_url\":\"https://a.example/\"}}",
            items.join(",")
        );
        let c = cap_entries(&text, 7);
        assert_eq!(c.dropped, 23);
        let feed = feed_rs::parser::parse(c.text.as_bytes()).unwrap();
        assert_eq!(feed.entries.len(), 7);
        assert_eq!(feed.entries[6].id, "6");
    }

    #[test]
    fn a_malformed_document_is_left_for_the_parser_to_report() {
        let broken = rss(20).replace("<title>entry 15</title>", "<title>entry 15</wrong>");
        let c = cap_entries(&broken, 5);
        assert_eq!(c.dropped, 0);
        assert_eq!(c.text, broken);
        let json = format!("{{\"items\":[{}", "{\"id\":\"1\"},".repeat(20));
        assert_eq!(cap_entries(&json, 5).text, json);
    }
}
