use scraper::{ElementRef, Html, Node};

/// Elements whose content is never article text.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "form", "button", "select",
    "input", "textarea", "nav", "object", "embed", "audio", "video", "head", "title",
];

/// Elements that end a paragraph.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "table",
    "tr",
    "td",
    "th",
    "hr",
    "address",
    "body",
    "html",
];

/// Converts HTML (a fragment or a whole page) or plain text to clean text: one paragraph per
/// block, paragraphs separated by a blank line, whitespace inside a paragraph collapsed.
///
/// Input without any tag is treated as plain text: each non-empty line is a paragraph.
///
/// ```
/// let t = newswire_clean::html_to_text("<p>One &amp; two</p><script>x()</script><p>Three<br>four</p>");
/// assert_eq!(t, "One & two\n\nThree\n\nfour");
/// ```
pub fn html_to_text(input: &str) -> String {
    if !looks_like_html(input) {
        return join_paragraphs(input.lines());
    }
    // Deep nesting (a hostile feed item: 100,000 nested <div>s) would make the walk below
    // recurse that deep and the parser slow down quadratically: past MAX_DEPTH levels the
    // tags are dropped before parsing and their text kept.
    let flattened = crate::extract::flatten_deep_nesting(input, crate::extract::MAX_DEPTH);
    let input = flattened.as_deref().unwrap_or(input);
    let doc = if input.trim_start().get(..9).is_some_and(|h| h.eq_ignore_ascii_case("<!doctype"))
        || input.contains("<html")
    {
        Html::parse_document(input)
    } else {
        Html::parse_fragment(input)
    };
    let mut out = Collector::default();
    walk(doc.root_element(), &mut out);
    out.finish()
}

/// A title as feeds give it (entities, sometimes tags, line breaks) to one clean line.
pub fn clean_title(input: &str) -> String {
    let text = if looks_like_html(input) {
        let doc = Html::parse_fragment(input);
        doc.root_element().text().collect::<String>()
    } else {
        input.to_owned()
    };
    collapse(&text)
}

fn looks_like_html(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.windows(2).any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
        || has_entity(s)
}

/// Whether `s` contains a character reference such as `&amp;`, `&#1604;` or `&#x644;`.
fn has_entity(s: &str) -> bool {
    s.match_indices('&').any(|(i, _)| {
        let rest = &s.as_bytes()[i + 1..];
        let name_len = rest.iter().take(32).take_while(|b| b.is_ascii_alphanumeric() || **b == b'#').count();
        name_len > 0 && rest.get(name_len) == Some(&b';')
    })
}

#[derive(Default)]
struct Collector {
    paragraphs: Vec<String>,
    current: String,
}

impl Collector {
    fn text(&mut self, t: &str) {
        self.current.push_str(t);
    }
    fn line_break(&mut self) {
        self.current.push('\n');
    }
    fn end_block(&mut self) {
        let block = std::mem::take(&mut self.current);
        for line in block.split('\n') {
            let line = collapse(line);
            if !line.is_empty() {
                self.paragraphs.push(line);
            }
        }
    }
    fn finish(mut self) -> String {
        self.end_block();
        self.paragraphs.join("\n\n")
    }
}

fn walk(el: ElementRef<'_>, out: &mut Collector) {
    walk_skipping(el, out, &[]);
}

fn walk_skipping(el: ElementRef<'_>, out: &mut Collector, extra_skip: &[&str]) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.text(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name)
                    || extra_skip.contains(&name)
                    || e.attr("hidden").is_some()
                    || e.attr("aria-hidden") == Some("true")
                {
                    continue;
                }
                if name == "br" {
                    out.line_break();
                    continue;
                }
                if name == "img" {
                    continue;
                }
                let block = BLOCK.contains(&name);
                if block {
                    out.end_block();
                }
                if let Some(child_el) = ElementRef::wrap(child) {
                    walk_skipping(child_el, out, extra_skip);
                }
                if block {
                    out.end_block();
                }
            }
            _ => {}
        }
    }
}

fn join_paragraphs<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let paras: Vec<String> = lines.map(collapse).filter(|l| !l.is_empty()).collect();
    paras.join("\n\n")
}

/// Collapses runs of whitespace (including no-break spaces) to one space and drops zero-width
/// spaces and byte-order marks: they sit inside words as often as between them (a copy with
/// one inserted must not split a word in two).
pub(crate) fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    // Kept characters are copied a run at a time, not one by one.
    let mut run: Option<usize> = None;
    for (i, c) in s.char_indices() {
        let blank = c.is_whitespace();
        let kept = !blank
            && !matches!(c, '\u{200b}' | '\u{feff}')
            && (!c.is_control() || c == '\u{200c}' || c == '\u{200d}');
        if kept {
            if space {
                out.push(' ');
                space = false;
            }
            run.get_or_insert(i);
            continue;
        }
        if let Some(start) = run.take() {
            out.push_str(&s[start..i]);
        }
        if blank {
            space = !out.is_empty();
        }
    }
    if let Some(start) = run {
        out.push_str(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_thousand_nested_divs_neither_overflow_a_small_stack_nor_lose_the_text() {
        let html = format!("{}<p>deep text</p>{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
        // 256 KiB: well under a tokio worker's 2 MiB, where the processor runs this.
        let worker = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || html_to_text(&html));
        let text = worker.ok().and_then(|h| h.join().ok());
        assert_eq!(text.as_deref(), Some("deep text"));
    }

    #[test]
    fn table() {
        let cases = [
            ("plain line one\n\n  line   two  \n", "plain line one\n\nline two"),
            ("<p>أ&nbsp;ب</p><p></p><div>ج<span> د</span></div>", "أ ب\n\nج د"),
            ("<style>p{}</style><nav><a>Home</a></nav><h1>T</h1><p>x</p><form>Email<input></form>", "T\n\nx"),
            (
                "<html><head><title>no</title></head><body><p>yes</p><script>no()</script></body></html>",
                "yes",
            ),
            ("<p>a<br/>b</p>", "a\n\nb"),
            ("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"),
            ("<p>unclosed <b>bold", "unclosed bold"),
            ("&lt;p&gt; is text", "<p> is text"),
        ];
        for (input, want) in cases {
            assert_eq!(html_to_text(input), want, "input: {input:?}");
        }
    }

    #[test]
    fn titles() {
        assert_eq!(clean_title("  Lavrov &amp; Rubio\n talk "), "Lavrov & Rubio talk");
        assert_eq!(clean_title("<b>بوتين</b> يتصل"), "بوتين يتصل");
    }
}
