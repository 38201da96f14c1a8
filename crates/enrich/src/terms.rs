//! Terms of a text: the words that carry its meaning, for keywords and story similarity.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use newswire_clean::{normalize_for_matching, tokens};

/// Arabic and English function words and the reporting verbs every news article uses; they
/// say nothing about the story. Written in ordinary spelling and normalised at start.
const STOP_WORDS: &str = "
في من على إلى الى عن مع أن إن ان كان كانت يكون تكون قد لا ما لم لن هذا هذه ذلك تلك التي الذي الذين اللذين
بين بعد قبل حتى أو او ثم كل كما أيضا أيضاً غير أي اي أنه انه أنها انها فيه فيها به بها له لها لهم لهما منها منه
عليه عليها عليهم إليه اليه هو هي هم هما نحن وهو وهي وقد ولا وفي ومن وعلى وإن وأن وكان عند منذ خلال حيث حول
دون ضد عبر لدى لقد إذا اذا إذ كذلك ذاته نفسه بشأن بشكل بما وبما ضمن تجاه نحو يوم اليوم أمس الأحد الاثنين
الثلاثاء الأربعاء الخميس الجمعة السبت قال وقال قالت وقالت أضاف وأضاف أضافت وأضافت أكد وأكد أكدت وأكدت أشار
وأشار أشارت وأشارت أعلن وأعلن أعلنت وأعلنت ذكر وذكر ذكرت وذكرت أوضح وأوضح تابع وتابع مشيرا مؤكدا موضحا وفقا
وفق حسب بحسب وبحسب ووفقا لما كما أن إلا الا بل لكن ولكن فقط جدا هناك هنا الآن عام عاما سنة شهر الماضي المقبل
الجاري أول الأول ثاني الثاني آخر اخر أخرى اخرى
the a an and or of to in on at by for with from as is are was were be been being it its this that these those
he she they we you i his her their our your not no but if then than so such also into over after before about
said says say told according which who whom whose what when where while will would can could should may might
has have had do does did just more most other some any all each new up out there here one two
";

static STOP: LazyLock<HashSet<String>> =
    LazyLock::new(|| STOP_WORDS.split_whitespace().map(normalize_for_matching).collect());

/// Strips Arabic proclitics (و ف ب ل ك and the article ال) from a normalised word when at
/// least three letters remain: والروسيه → روسيه, بالرياض → رياض, للتعاون → تعاون.
pub fn stem(word: &str) -> &str {
    let mut w = word;
    for prefix in ["وال", "فال", "بال", "كال", "لل", "ال"] {
        if let Some(rest) = w.strip_prefix(prefix)
            && rest.chars().count() >= 3
        {
            return rest;
        }
    }
    if let Some(rest) = w.strip_prefix(['و', 'ف', 'ب', 'ل', 'ك'])
        && rest.chars().count() >= 4
    {
        w = rest;
    }
    w
}

/// Weighted terms of a normalised text: stems of content words with their counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms {
    /// Stem → count.
    pub counts: HashMap<String, u32>,
    /// Stem → the word it was most often written as (for display: keywords).
    pub surface: HashMap<String, String>,
}

impl Terms {
    /// The terms of a normalised text (stop words, numbers and one-letter words left out).
    pub fn of(normalized: &str) -> Self {
        let mut counts = HashMap::new();
        let mut forms: HashMap<String, HashMap<&str, u32>> = HashMap::new();
        for w in tokens(normalized) {
            if w.chars().count() < 2 || w.chars().all(|c| c.is_ascii_digit()) || STOP.contains(w) {
                continue;
            }
            let s = stem(w);
            if STOP.contains(s) {
                continue;
            }
            *counts.entry(s.to_owned()).or_insert(0) += 1;
            *forms.entry(s.to_owned()).or_default().entry(w).or_insert(0) += 1;
        }
        // The most frequent form, the shortest on ties (the one with fewest clitics).
        let surface = forms
            .into_iter()
            .filter_map(|(stem, f)| {
                let best = f.into_iter().max_by(|a, b| {
                    a.1.cmp(&b.1).then_with(|| b.0.len().cmp(&a.0.len())).then_with(|| b.0.cmp(a.0))
                })?;
                Some((stem, best.0.to_owned()))
            })
            .collect();
        Self { counts, surface }
    }
}

/// An article's terms ready for keyword selection once document frequencies are known: each
/// term's feature id, log-scaled count and written form. Built during the parallel analysis;
/// all written forms share one string, so that handing it to the decision step and dropping
/// it costs two allocations, not hundreds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeywordCandidates {
    /// (feature id, 1 + ln count, start and end of the written form in `text`).
    items: Vec<(u32, f32, u32, u32)>,
    text: String,
}

impl KeywordCandidates {
    /// The candidates of `terms`, each shown as `written` spells it (see [`spellings`]).
    pub fn of(terms: &Terms, written: &HashMap<String, String>) -> Self {
        let mut text = String::new();
        let mut items = Vec::with_capacity(terms.counts.len());
        for (stem, count) in &terms.counts {
            let surface = terms.surface.get(stem).unwrap_or(stem);
            let shown = written.get(surface).unwrap_or(surface);
            let start = text.len() as u32;
            text.push_str(shown);
            items.push((
                crate::story::feature_id(stem),
                1.0 + (*count as f32).ln(),
                start,
                text.len() as u32,
            ));
        }
        Self { items, text }
    }

    fn shown(&self, start: u32, end: u32) -> &str {
        self.text.get(start as usize..end as usize).unwrap_or_default()
    }

    /// The `k` most salient terms, count × `idf(feature id)`, ties by written form.
    pub fn top(&self, k: usize, idf: impl Fn(u32) -> f32) -> Vec<String> {
        let mut scored: Vec<(f32, &str)> =
            self.items.iter().map(|(f, tf, s, e)| (tf * idf(*f), self.shown(*s, *e))).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let mut out: Vec<String> = Vec::with_capacity(k);
        for (_, w) in scored {
            // Two stems can be written the same way; show each word once.
            if out.len() == k {
                break;
            }
            if !out.iter().any(|o| o == w) {
                out.push(w.to_owned());
            }
        }
        out
    }
}

/// For each normalised word of `original`, the spelling `original` uses most (diacritics and
/// punctuation around it removed), so that keywords can be shown as written: الخارجية, not the
/// matching form الخارجيه.
pub fn spellings(original: &str) -> HashMap<String, String> {
    let mut seen: HashMap<String, HashMap<String, u32>> = HashMap::new();
    // Words repeat (Zipf): normalise each distinct written piece once.
    let mut cache: HashMap<&str, Option<(String, String)>> = HashMap::new();
    for piece in original.split_whitespace() {
        let entry = cache.entry(piece).or_insert_with(|| {
            let word: String = piece
                .trim_matches(|c: char| !c.is_alphanumeric())
                .chars()
                .filter(|c| !matches!(c, '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}'))
                .collect();
            let norm = normalize_for_matching(&word);
            (!norm.is_empty() && !norm.contains(' ')).then_some((norm, word))
        });
        if let Some((norm, word)) = entry {
            *seen.entry(norm.clone()).or_default().entry(word.clone()).or_insert(0) += 1;
        }
    }
    seen.into_iter()
        .filter_map(|(norm, forms)| {
            let best = forms.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
            Some((norm, best.0))
        })
        .collect()
}

/// A lead summary: the first sentences of the text, up to about `max_chars` characters.
pub fn summary(text: &str, max_chars: usize) -> Option<String> {
    let mut out = String::new();
    for para in text.split("\n\n") {
        for sentence in split_sentences(para) {
            let len = out.chars().count() + sentence.chars().count();
            if !out.is_empty() && len > max_chars {
                return Some(out);
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(sentence);
            if out.chars().count() >= max_chars / 2 {
                return Some(out);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn split_sentences(para: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = para.char_indices().collect();
    for (n, (i, c)) in chars.iter().enumerate() {
        let end_mark = matches!(c, '.' | '؟' | '?' | '!' | '۔');
        let followed_by_space = chars.get(n + 1).is_none_or(|(_, next)| next.is_whitespace());
        if end_mark && followed_by_space {
            let end = i + c.len_utf8();
            let s = para[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let rest = para[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_and_clitics() {
        let t =
            Terms::of(&normalize_for_matching("وقال الوزير إن التعاون مع روسيا والتعاون الاقتصادي في 2025"));
        assert_eq!(t.counts.get("تعاون"), Some(&2));
        assert!(t.counts.contains_key("وزير") && t.counts.contains_key("روسيا"));
        assert!(
            !t.counts.contains_key("قال") && !t.counts.contains_key("في") && !t.counts.contains_key("2025")
        );
    }

    #[test]
    fn keywords_prefer_frequent_rare_terms() {
        let t = Terms::of("alpha alpha beta gamma");
        let c = KeywordCandidates::of(&t, &HashMap::new());
        let gamma = crate::story::feature_id("gamma");
        assert_eq!(c.top(2, |f| if f == gamma { 3.0 } else { 1.0 }), ["gamma", "alpha"]);
    }

    #[test]
    fn keywords_are_shown_as_written() {
        let original = "وزارة الخارجية، والخارجيّة الروسية: الخارجية";
        let c = KeywordCandidates::of(&Terms::of(&normalize_for_matching(original)), &spellings(original));
        assert!(c.top(5, |_| 1.0).contains(&"الخارجية".to_owned()), "{:?}", c.top(5, |_| 1.0));
    }

    #[test]
    fn spellings_restore_the_written_form() {
        let original = "وزارة الخارجية، والخارجيّة الروسية: الخارجية";
        let map = spellings(original);
        assert_eq!(map.get(&normalize_for_matching("الخارجية")).map(String::as_str), Some("الخارجية"));
        assert_eq!(map.get(&normalize_for_matching("وزارة")).map(String::as_str), Some("وزارة"));
    }

    #[test]
    fn summary_takes_lead_sentences() {
        let s = summary("First sentence here. Second one! Third?\n\nNext paragraph.", 60).unwrap();
        assert_eq!(s, "First sentence here. Second one!");
        assert_eq!(summary("", 100), None);
    }
}
