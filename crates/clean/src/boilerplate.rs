//! Boilerplate removal on paragraphs: what outlets wrap around an article's own text.
//!
//! Rules are general (every Arabic or English news site uses some of them), matched on a
//! lightly normalised form of each paragraph (Arabic letters folded, lower case, punctuation
//! kept), never on a particular article:
//!
//! - **Trailers**: from the first "source:", "tags:", "read also", "leave a comment", "all
//!   rights reserved", "subscribe", wire-disclaimer… paragraph in the last part of the
//!   article, everything is dropped: what follows such a marker is comments, tag clouds,
//!   teasers or a whole unrelated "read also" article.
//! - **Link teasers** anywhere: a `Read more: <headline>` or `اقرأ أيضا: <عنوان>` line, a
//!   link to another article set in the middle of this one, is dropped alone; the article goes
//!   on after it. Only the label on its own line ("Read also:") starts a trailer.
//! - **Noise lines** anywhere: section labels ("latest news"), ad markers ("[advertisement 2]"),
//!   photo captions with a credit, publication-date lines, share prompts.
//! - **Wire prefixes** such as "(SeaPRwire) –" at the start of the first paragraph.
//! - **Repeated headline**: a paragraph equal to the title, or to the title without a section
//!   prefix, is dropped (and the shorter form becomes the title).

use crate::normalize::{fold, is_alphanumeric};

/// Labels that start the trailer when followed by `:`, `(`, `-`, a digit or nothing (on their
/// own they are ordinary words: "Source" may start a sentence), with [`LINK_LABELS`].
const TRAILER_LABELS: &[&str] = &[
    "المصدر",
    "مصدر الخبر",
    "source",
    "sources",
    "كلمات دلالية",
    "الكلمات الدلالية",
    "الكلمات المفتاحية",
    "وسوم",
    "tags",
    "تعليق",
    "تعليقات",
    "التعليقات",
    "comments",
    "copyright",
    "©",
    "القطاعات",
    "sectors",
    "disclaimer",
    "إخلاء مسؤولية",
];

/// Labels of a link to another article. On its own line such a label starts the trailer (what
/// follows is a list of links or a pasted article); followed by a headline on the same line,
/// it is a link teaser, which outlets also set between paragraphs: that line alone is dropped.
const LINK_LABELS: &[&str] = &[
    "اقرأ أيضا",
    "اقرأ ايضا",
    "اقرأ المزيد",
    "اقرأ كذلك",
    "شاهد أيضا",
    "read also",
    "also read",
    "read more",
    "see also",
    "related",
    "related articles",
    "أخبار ذات صلة",
    "مواضيع ذات صلة",
];

/// Phrases that start the trailer whatever follows them: they are never article text.
const TRAILER_PHRASES: &[&str] = &[
    "اترك تعليقاً",
    "أضف تعليق",
    "leave a comment",
    "leave a reply",
    "لن يتم نشر عنوان بريدك",
    "your email address will not be published",
    "جميع الحقوق محفوظة",
    "all rights reserved",
    "حقوق النشر محفوظة",
    "اشترك في النشرة",
    "اشترك فى النشرة",
    "subscribe to our newsletter",
    "تابعنا على",
    "تابعونا على",
    "follow us on",
    // Press-release wires append these to every article.
    "يتم توفير المقال من قبل مزود محتوى خارجي",
    "the article is provided by a third-party content provider",
];

/// The marker lists in the form paragraphs are compared in, computed once.
static LABELS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| TRAILER_LABELS.iter().chain(LINK_LABELS).map(|m| light(m)).collect());
static PHRASES: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| TRAILER_PHRASES.iter().map(|m| light(m)).collect());
/// Characters in the longest of them, once folded.
static LINKS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| LINK_LABELS.iter().map(|m| light(m)).collect());
static LONGEST_TRAILER_MARKER: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    LABELS.iter().chain(PHRASES.iter()).map(|m| m.chars().count()).max().unwrap_or(0)
});
static NOISE: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| NOISE_LINES.iter().map(|m| light(m)).collect());
static META: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| META_PREFIXES.iter().map(|m| light(m)).collect());

/// Short lines that are never article text.
const NOISE_LINES: &[&str] = &[
    "آخر الأخبار",
    "اخر الاخبار",
    "الأخبار",
    "عاجل",
    "latest news",
    "breaking news",
    "breaking",
    "شارك",
    "share",
    "share this",
    "مشاركة",
    "إعلان",
    "advertisement",
    "sponsored",
    "print",
    "طباعة",
];

/// Prefixes of lines that carry metadata, not text (publication date, update time).
const META_PREFIXES: &[&str] =
    &["تاريخ النشر", "نشر في", "آخر تحديث", "published", "updated", "last updated", "تم النشر"];

/// Lowercase, Arabic letters folded, whitespace collapsed to single spaces; punctuation kept.
fn light(s: &str) -> String {
    light_prefix(s, usize::MAX)
}

/// The first `max` characters (at least) of [`light`]`(s)`, computing no more of it.
fn light_prefix(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(2)));
    let (mut space, mut n) = (false, 0);
    for c in s.chars().filter_map(fold) {
        if n >= max {
            break;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
            n += 1;
        }
        space = false;
        for l in c.to_lowercase() {
            out.push(l);
            n += 1;
        }
    }
    out
}

/// Whether some trailer label or phrase could start `p` once folded: a cheap exact test that
/// spares most paragraphs the folding of their whole head.
fn may_start_with_trailer(p: &str) -> bool {
    let prefix = light_prefix(p, *LONGEST_TRAILER_MARKER + 1);
    LABELS.iter().chain(PHRASES.iter()).any(|m| prefix.starts_with(m.as_str()))
}

fn starts_with_marker(p: &str, marker: &str) -> bool {
    let Some(rest) = p.strip_prefix(marker) else { return false };
    let rest = rest.trim_start();
    rest.is_empty()
        || rest.starts_with([':', '：', '(', '-', '–', '|'])
        || rest.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// The first `max` characters of `s` (whole string if shorter): the markers below only look
/// at the start of a paragraph, so a long paragraph is not folded whole.
fn head(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

fn is_trailer_marker(p: &str) -> bool {
    if !may_start_with_trailer(p) {
        return false;
    }
    // Markers are short; 400 characters decide whether the paragraph is over 200.
    let l = light(head(p, 400));
    let short = l.chars().count() <= 200;
    (short && LABELS.iter().any(|m| starts_with_marker(&l, m)))
        || PHRASES.iter().any(|d| l.starts_with(d.as_str()))
}

/// Whether `p` is a link teaser: a link label, a separator and a headline of at least two
/// words, all on one short line (see [`LINK_LABELS`]).
fn is_link_teaser(p: &str) -> bool {
    if p.len() > 250 * 4 || !may_start_with_trailer(p) {
        return false;
    }
    let l = light(p);
    if l.chars().count() > 250 {
        return false;
    }
    LINKS.iter().any(|m| {
        starts_with_marker(&l, m)
            && l[m.len()..]
                .trim_start_matches(|c: char| !c.is_alphanumeric())
                .split(' ')
                .filter(|w| w.chars().any(char::is_alphanumeric))
                .count()
                >= 2
    })
}

fn is_noise_line(p: &str) -> bool {
    // Every noise pattern is a short line (at most 300 characters once folded; folding only
    // drops diacritics and spaces, so 600 before it is a safe bound).
    if p.len() > 600 * 4 || p.chars().count() > 600 {
        return false;
    }
    // Without folding: a line with more than three words that have a letter or digit (so more
    // than three once trimmed: not a noise line), over 120 characters that folding keeps (so
    // no metadata line), and either no "(" or over 300 of those characters (so no caption)
    // cannot match any pattern below. Most paragraphs end here.
    let limit = if p.contains('(') { 300 } else { 120 };
    let (mut kept, mut words) = (0, 0);
    for w in p.split_whitespace() {
        let mut has_word_char = false;
        for c in w.chars().filter(|c| fold(*c).is_some()) {
            kept += 1;
            has_word_char = has_word_char || is_alphanumeric(c);
        }
        words += usize::from(has_word_char);
        if words > 3 && kept > limit {
            return false;
        }
    }
    let l = light(p);
    let bare = l.trim_matches(|c: char| !c.is_alphanumeric() && c != ' ').trim();
    let words = bare.split(' ').filter(|w| !w.is_empty()).count();
    if words <= 3
        && NOISE.iter().any(|n| {
            bare == n.as_str()
                || bare
                    .strip_prefix(n.as_str())
                    .is_some_and(|rest| rest.trim().chars().all(|c| c.is_ascii_digit()))
        })
    {
        return true;
    }
    if l.chars().count() <= 120 && META.iter().any(|m| starts_with_marker(&l, m)) {
        return true;
    }
    // A photo caption with its credit, e.g. "… (صورة: وزارة الخارجية) |".
    ["(صوره:", "(صوره :", "(الصوره:", "(photo:", "(photo :", "(image:", "(credit:"]
        .iter()
        .any(|c| l.contains(c))
        && l.chars().count() <= 300
}

/// Removes a wire-service prefix such as `(SeaPRwire) –` or `(Reuters) -` from a paragraph.
fn strip_wire_prefix(p: &str) -> &str {
    let t = p.trim_start();
    if let Some(rest) = t.strip_prefix('(')
        && let Some(close) = rest.find(')')
    {
        let name = &rest[..close];
        let after = rest[close + 1..].trim_start();
        let is_name = !name.is_empty()
            && name.len() <= 40
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '.' || c == '-');
        if is_name && let Some(body) = after.strip_prefix(['–', '—', '-']) {
            return body.trim_start();
        }
    }
    p
}

/// Strips a trailing photo credit and separators from a title.
fn clean_title_tail(title: &str) -> String {
    let mut t = title.trim().trim_end_matches(['|', '-', '–', ' ']).trim().to_owned();
    let lower = light(&t);
    for credit in ["(صوره:", "(الصوره:", "(photo:", "(image:"] {
        if let Some(pos) = lower.find(credit) {
            // `light` preserves character count except for folded/collapsed whitespace, so
            // find the same opening parenthesis in the original by its ordinal.
            let nth = lower[..pos].matches('(').count();
            if let Some((idx, _)) = t.match_indices('(').nth(nth) {
                t.truncate(idx);
            }
            break;
        }
    }
    t.trim().trim_end_matches(['|', '-', '–', ' ']).trim().to_owned()
}

/// The result of [`strip_boilerplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// The article's title after cleaning (section prefix, caption credit removed).
    pub title: String,
    /// The article's own paragraphs.
    pub paragraphs: Vec<String>,
}

/// Removes boilerplate from an article given as a title and paragraphs (see the module doc).
///
/// ```
/// let c = newswire_clean::strip_boilerplate("Title", &["First.".into(), "Second.".into(), "Third.".into(), "Source: Agency".into(), "Unrelated teaser".into()]);
/// assert_eq!(c.paragraphs, ["First.", "Second.", "Third."]);
/// ```
pub fn strip_boilerplate(title: &str, paragraphs: &[String]) -> Cleaned {
    let mut title = clean_title_tail(title);
    // Noise lines go first, so that a section label does not count as the first paragraph.
    let mut paras: Vec<String> =
        paragraphs.iter().filter(|p| !is_noise_line(p) && !is_link_teaser(p)).cloned().collect();
    // A title that is itself a section label: the next short paragraph is the real headline.
    if (title.is_empty() || is_noise_line(&title))
        && let Some(first) = paras.first()
        && first.chars().count() <= 150
        && !first.trim_end().ends_with(['.', '۔'])
    {
        title = clean_title_tail(first);
        paras.remove(0);
    }
    // Trailer: the first marker once the article has begun: at least one paragraph and either
    // 300 characters or a third of the text before it (a teaser article after "read also" can
    // be longer than the article itself, so the third alone is not enough).
    let total: usize = paras.iter().map(|p| p.chars().count()).sum();
    let mut seen = 0;
    let mut cut = paras.len();
    for (i, p) in paras.iter().enumerate() {
        if i >= 1 && (seen >= 300 || seen * 3 >= total) && is_trailer_marker(p) {
            cut = i;
            break;
        }
        seen += p.chars().count();
    }
    paras.truncate(cut);
    // The headline repeated in the body, possibly without the title's section prefix.
    let lt = light(&title);
    let title_chars = title.chars().count();
    paras.retain(|p| {
        // Folding drops at most the diacritics and extra spaces: a paragraph more than twice
        // the title's length (plus slack) cannot fold to it or to its tail.
        if p.chars().count() > 2 * title_chars + 64 {
            return true;
        }
        let lp = light(p);
        if lp == lt {
            return false;
        }
        if lp.chars().count() >= 20 && lt.ends_with(&lp) {
            title = p.trim().to_owned();
            return false;
        }
        true
    });
    if let Some(first) = paras.first_mut() {
        let stripped = strip_wire_prefix(first);
        if stripped.len() != first.len() {
            *first = stripped.to_owned();
        }
    }
    title = strip_wire_prefix(&title).to_owned();
    paras.retain(|p| !p.trim().is_empty());
    Cleaned { title, paragraphs: paras }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn trailer_after_source_line_is_cut_including_a_read_also_article() {
        let c = strip_boilerplate(
            "عنوان",
            &s(&[
                "فقرة أولى طويلة بما يكفي.",
                "فقرة ثانية.",
                "المصدر: صحيفة",
                "كلمات دلالية: أ ب",
                "إقرأ أيضاً:",
                "مقال آخر لا علاقة له",
            ]),
        );
        assert_eq!(c.paragraphs, s(&["فقرة أولى طويلة بما يكفي.", "فقرة ثانية."]));
    }

    #[test]
    fn a_read_also_article_longer_than_the_article_is_still_cut() {
        let body = "فقرة من نص الخبر الأصلي تتحدث عن الاتصال بين الوزيرين وتفاصيله. ".repeat(3);
        let mut paras = vec![body.clone(), body.clone(), "المصدر: صحيفة".to_owned(), "إقرأ أيضاً:".to_owned()];
        paras.extend(std::iter::repeat_n("مقال آخر طويل لا علاقة له بالخبر الأصلي على الإطلاق. ".repeat(4), 6));
        let c = strip_boilerplate("t", &paras);
        assert_eq!(c.paragraphs, vec![body.clone(), body]);
    }

    #[test]
    fn a_link_teaser_in_the_middle_is_dropped_alone_and_the_article_goes_on() {
        let body = "The talks resumed on Tuesday with both delegations present in the capital. ".repeat(4);
        let c = strip_boilerplate(
            "t",
            &s(&[&body, &body, "Read more: Oil prices fall as supply grows", &body, "Last paragraph."]),
        );
        assert_eq!(c.paragraphs, s(&[&body, &body, &body, "Last paragraph."]));
        let ar = "استؤنفت المحادثات يوم الثلاثاء بحضور الوفدين في العاصمة السعودية. ".repeat(4);
        let c = strip_boilerplate(
            "t",
            &s(&[&ar, &ar, "اقرأ أيضاً: ارتفاع أسعار النفط في الأسواق العالمية", &ar, "الفقرة الأخيرة."]),
        );
        assert_eq!(c.paragraphs, s(&[&ar, &ar, &ar, "الفقرة الأخيرة."]));
        // The label alone on its line still starts the trailer.
        let c = strip_boilerplate("t", &s(&[&body, &body, "Read also:", "Another story entirely."]));
        assert_eq!(c.paragraphs, s(&[&body, &body]));
        // A sentence that starts with the words is article text.
        let c = strip_boilerplate("t", &s(&[&body, "Read more about the talks in the report below.", &body]));
        assert_eq!(c.paragraphs.len(), 3);
    }

    #[test]
    fn a_marker_word_starting_a_real_sentence_is_kept() {
        let c = strip_boilerplate(
            "t",
            &s(&["One.", "Two.", "Tags are a way to classify posts, the editor said.", "Three."]),
        );
        assert_eq!(c.paragraphs.len(), 4);
        let c = strip_boilerplate("t", &s(&["One.", "تعليقا على ذلك قال الوزير إن الاتفاق مهم.", "Three."]));
        assert_eq!(c.paragraphs.len(), 3);
    }

    #[test]
    fn a_marker_at_the_very_start_does_not_empty_the_article() {
        let c = strip_boilerplate("t", &s(&["Source: Reuters", "Body one.", "Body two."]));
        assert_eq!(c.paragraphs, s(&["Source: Reuters", "Body one.", "Body two."]));
    }

    #[test]
    fn noise_lines_captions_and_wire_prefixes() {
        let c = strip_boilerplate(
            "(SeaPRwire) –   Headline here",
            &s(&[
                "[إعلان 2]",
                "A caption of the minister. (Photo: Ministry) |",
                "(Reuters) - Body starts.",
                "تاريخ النشر: 16th, February 2025 GMT",
                "More.",
            ]),
        );
        assert_eq!(c.title, "Headline here");
        assert_eq!(c.paragraphs, s(&["Body starts.", "More."]));
    }

    #[test]
    fn section_label_title_and_repeated_headline() {
        let c = strip_boilerplate(
            "اخر الاخبار",
            &s(&["موسكو: اجتماع جديد الأسبوع الجاري", "قال المسؤول إن الاجتماع سيعقد."]),
        );
        assert_eq!(c.title, "موسكو: اجتماع جديد الأسبوع الجاري");
        assert_eq!(c.paragraphs, s(&["قال المسؤول إن الاجتماع سيعقد."]));
        let c = strip_boilerplate(
            "اخبار السياسه أمريكا وروسيا تتفقان على التعاون",
            &s(&["أمريكا وروسيا تتفقان على التعاون", "نص الخبر."]),
        );
        assert_eq!(c.title, "أمريكا وروسيا تتفقان على التعاون");
        assert_eq!(c.paragraphs, s(&["نص الخبر."]));
    }

    #[test]
    fn caption_credit_is_removed_from_a_title() {
        assert_eq!(
            clean_title_tail("الوزيران في مكالمة هاتفية. (صورة: وزارة الخارجية) |"),
            "الوزيران في مكالمة هاتفية."
        );
    }
}
