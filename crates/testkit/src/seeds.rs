//! The seed articles (`../shared/seeds/*.txt`) and feeds and pages built from them.
//!
//! A seed file is a title line and body lines, as a naive scraper hands them over, with the
//! outlet's boilerplate still in. The feed metadata an outlet would add (link, date) comes from
//! [`FIXTURE_META`]; seeds not listed there get generic values, so new seed files work too.

use std::path::{Path, PathBuf};

/// One seed article.
#[derive(Debug, Clone)]
pub struct Seed {
    /// File stem, e.g. `000_25edafe2ef25a816`.
    pub stem: String,
    /// First non-empty line.
    pub title: String,
    /// The other non-empty lines: one paragraph each.
    pub paragraphs: Vec<String>,
    /// The article's URL at its outlet.
    pub link: String,
    /// Publication time, RFC 3339.
    pub published: String,
}

/// Link host and publication date for the seeds the project started with, as their outlets'
/// feeds would give them (see the seeds README for the outlets and events).
pub const FIXTURE_META: &[(&str, &str, &str)] = &[
    ("000", "aggregator-one.example", "2025-02-16T09:30:00Z"),
    ("001", "arabic-news.example", "2025-02-23T12:00:00Z"),
    ("002", "vn-daily.example", "2025-02-15T08:00:00Z"),
    ("003", "seaprwire.example", "2025-02-18T16:00:00Z"),
    ("004", "mojaz-news.example", "2021-01-29T10:00:00Z"),
];

/// The seeds directory: `$NEWSWIRE_SEEDS_DIR`, else `../shared/seeds` beside the repository.
pub fn dir() -> PathBuf {
    std::env::var_os("NEWSWIRE_SEEDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds"))
}

/// All seeds, in file-name order. Panics (failing the test) if the directory is missing.
pub fn load() -> Vec<Seed> {
    let dir = dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!("seed articles not found at {} ({e}); set NEWSWIRE_SEEDS_DIR", dir.display())
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files.iter().enumerate().map(|(i, p)| parse(p, i)).collect()
}

fn parse(path: &Path, index: usize) -> Seed {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let title = lines.next().unwrap_or_default().to_owned();
    let paragraphs = lines.map(str::to_owned).collect();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = stem.split('_').next().unwrap_or_default();
    let (host, published) = FIXTURE_META
        .iter()
        .find(|(p, _, _)| *p == prefix)
        .map(|(_, h, d)| ((*h).to_owned(), (*d).to_owned()))
        .unwrap_or_else(|| {
            ("seeds.example".to_owned(), format!("2025-03-{:02}T00:00:00Z", (index % 28) + 1))
        });
    Seed { link: format!("https://{host}/news/{stem}"), stem, title, paragraphs, published }
}

/// Escapes text for XML content and attributes.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Seed {
    /// The body as HTML paragraphs.
    pub fn html_body(&self) -> String {
        self.paragraphs.iter().map(|p| format!("<p>{}</p>", xml_escape(p))).collect::<Vec<_>>().join("\n")
    }

    /// The body as plain text, paragraphs separated by blank lines.
    pub fn text(&self) -> String {
        self.paragraphs.join("\n\n")
    }

    /// A whole article page, with navigation, a comment form and a footer around the article.
    pub fn html_page(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"ar\" dir=\"rtl\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<meta property=\"article:published_time\" content=\"{d}\"><link rel=\"canonical\" href=\"{l}\"></head>\n<body><nav><a href=\"/\">الرئيسية</a> <a href=\"/world\">العالم</a></nav>\n<article><h1>{t}</h1>\n{b}\n</article>\n<form><label>البريد الإلكتروني</label><input name=\"email\"></form>\n<footer>جميع الحقوق محفوظة</footer><script>track()</script></body></html>\n",
            t = xml_escape(&self.title),
            d = self.published,
            l = self.link,
            b = self.html_body()
        )
    }
}

/// An RSS 2.0 feed of the seeds (HTML body in `description` and `content:encoded`).
pub fn rss(seeds: &[Seed]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n<channel>\n<title>newswire seed articles</title>\n<link>https://seeds.example/</link>\n<description>The seed articles of the newswire project</description>\n<language>ar</language>\n",
    );
    for s in seeds {
        let date = chrono_rfc2822(&s.published);
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>{}</link>\n<guid isPermaLink=\"true\">{}</guid>\n<pubDate>{}</pubDate>\n<description>{}</description>\n<content:encoded><![CDATA[{}]]></content:encoded>\n</item>\n",
            xml_escape(&s.title),
            xml_escape(&s.link),
            xml_escape(&s.link),
            date,
            xml_escape(&s.html_body()),
            s.html_body()
        ));
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// An Atom 1.0 feed of the seeds.
pub fn atom(seeds: &[Seed]) -> String {
    let updated = seeds.iter().map(|s| s.published.as_str()).max().unwrap_or("2025-01-01T00:00:00Z");
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"ar\">\n<title>newswire seed articles</title>\n<id>urn:newswire:seeds</id>\n<updated>{updated}</updated>\n<link href=\"https://seeds.example/\"/>\n"
    );
    for s in seeds {
        out.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{}</id>\n<link rel=\"alternate\" href=\"{}\"/>\n<published>{}</published>\n<updated>{}</updated>\n<content type=\"html\">{}</content>\n</entry>\n",
            xml_escape(&s.title),
            xml_escape(&s.link),
            xml_escape(&s.link),
            s.published,
            s.published,
            xml_escape(&s.html_body())
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// A JSON Feed 1.1 of the seeds.
pub fn json_feed(seeds: &[Seed]) -> String {
    let items: Vec<serde_json::Value> = seeds
        .iter()
        .map(|s| {
            serde_json::json!({"id": s.link, "url": s.link, "title": s.title,
                "content_html": s.html_body(), "date_published": s.published})
        })
        .collect();
    let feed = serde_json::json!({"version": "https://jsonfeed.org/version/1.1",
        "title": "newswire seed articles", "language": "ar", "items": items});
    format!("{feed}\n")
}

/// RFC 3339 (`2025-02-16T09:30:00Z`, UTC) to RFC 2822 (`Sun, 16 Feb 2025 09:30:00 +0000`)
/// without a date library: the weekday by Zeller's congruence.
fn chrono_rfc2822(rfc3339: &str) -> String {
    let num = |r: std::ops::Range<usize>| rfc3339.get(r).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let time = rfc3339.get(11..19).unwrap_or("00:00:00");
    let (yy, mm) = if m < 3 { (y - 1, m + 12) } else { (y, m) };
    let h = (d + 13 * (mm + 1) / 5 + yy % 100 + (yy % 100) / 4 + (yy / 100) / 4 + 5 * (yy / 100)) % 7;
    let wd = ["Sat", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri"][h as usize];
    let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [(m.clamp(1, 12) - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {time} +0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2822_weekday() {
        assert_eq!(chrono_rfc2822("2025-02-16T09:30:00Z"), "Sun, 16 Feb 2025 09:30:00 +0000");
        assert_eq!(chrono_rfc2822("2021-01-29T10:00:00Z"), "Fri, 29 Jan 2021 10:00:00 +0000");
    }

    /// The sample feeds and pages shipped for the demo and the README are exactly what the generator makes from the
    /// seeds. Regenerate with `UPDATE_SAMPLES=1 cargo test -p newswire-testkit`.
    #[test]
    fn committed_sample_feeds_and_pages_match_the_seeds() {
        let seeds = load();
        assert_eq!(seeds.len(), 5, "the five seed articles");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/feeds");
        for (file, body) in
            [("seeds.rss", rss(&seeds)), ("seeds.atom", atom(&seeds)), ("seeds.json", json_feed(&seeds))]
        {
            let path = dir.join(file);
            if std::env::var_os("UPDATE_SAMPLES").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &body).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == body,
                "{} is stale; run UPDATE_SAMPLES=1 cargo test -p newswire-testkit",
                path.display()
            );
        }
        // One HTML page per seed, for `newswire extract` and `newswire process` examples.
        let pages = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/pages");
        for seed in &seeds {
            let path = pages.join(format!("{}.html", seed.stem));
            if std::env::var_os("UPDATE_SAMPLES").is_some() {
                std::fs::create_dir_all(&pages).unwrap();
                std::fs::write(&path, seed.html_page()).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == seed.html_page(),
                "{} is stale; run UPDATE_SAMPLES=1 cargo test -p newswire-testkit",
                path.display()
            );
        }
    }
}
