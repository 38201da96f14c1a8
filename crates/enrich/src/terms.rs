//! Terms of a text: the words that carry its meaning, for keywords and story similarity.

use std::borrow::Cow;
use std::sync::LazyLock;

use newswire_clean::{NormalizedWords, is_alphanumeric, normalize_for_matching, tokens};
use rustc_hash::{FxHashMap, FxHashSet};

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

static STOP: LazyLock<FxHashSet<String>> =
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

/// Weighted terms of a normalised text: stems of content words with their counts, borrowed
/// from the text (an article has hundreds; copying each would cost more than finding it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms<'a> {
    items: Vec<Term<'a>>,
}

/// One term of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term<'a> {
    /// The stem (clitics stripped), in matching form.
    pub stem: &'a str,
    /// How often it occurs.
    pub count: u32,
    /// The word it was most often written as in matching form (for display: keywords).
    pub surface: &'a str,
}

/// The written forms of one word and how often each occurs.
type Forms<'a> = Vec<(Cow<'a, str>, u32)>;

/// Counts of borrowed words: one allocation per distinct word at the end, not one per
/// occurrence (words repeat, Zipf), and forms kept in a short list (a stem has few).
fn add_form<'a>(forms: &mut Forms<'a>, form: Cow<'a, str>, n: u32) {
    match forms.iter_mut().find(|(f, _)| *f == form) {
        Some((_, c)) => *c += n,
        None => forms.push((form, n)),
    }
}

/// The most frequent form, the shortest on ties (the one with fewest clitics), then the
/// first in code point order: a total order, so the choice does not depend on map order.
fn most_frequent(forms: Forms<'_>) -> Option<Cow<'_, str>> {
    forms
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.len().cmp(&a.0.len())).then_with(|| b.0.cmp(&a.0)))
        .map(|(f, _)| f)
}

impl<'a> Terms<'a> {
    /// The terms of a normalised text (stop words, numbers and one-letter words left out).
    pub fn of(normalized: &'a str) -> Self {
        Self::counted(tokens(normalized).map(|w| (w, 1)), normalized.len() / 12)
    }

    /// The terms of [`NormalizedWords::text`], counted once per distinct written piece rather
    /// than once per word: the same terms as [`Terms::of`] on the text, for less work.
    pub fn of_words(words: &'a NormalizedWords<'_>) -> Self {
        Self::counted(
            words.pieces.iter().flat_map(|(_, norm, n)| tokens(norm).map(move |w| (w, *n))),
            words.pieces.len(),
        )
    }

    /// `distinct`: about how many distinct words there are, to size the map once.
    fn counted(words: impl Iterator<Item = (&'a str, u32)>, distinct: usize) -> Self {
        let mut by_stem: FxHashMap<&str, (u32, Forms<'_>)> =
            FxHashMap::with_capacity_and_hasher(distinct, Default::default());
        for (w, n) in words {
            if w.chars().nth(1).is_none() || w.bytes().all(|b| b.is_ascii_digit()) || STOP.contains(w) {
                continue;
            }
            let s = stem(w);
            if STOP.contains(s) {
                continue;
            }
            let (count, forms) = by_stem.entry(s).or_default();
            *count += n;
            add_form(forms, Cow::Borrowed(w), n);
        }
        let items = by_stem
            .into_iter()
            .map(|(stem, (count, forms))| {
                let surface = match most_frequent(forms) {
                    Some(Cow::Borrowed(w)) => w,
                    _ => stem,
                };
                Term { stem, count, surface }
            })
            .collect();
        Self { items }
    }

    /// The terms, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Term<'a>> {
        self.items.iter()
    }

    /// How often `stem` occurs (0 if it is not a term).
    pub fn count(&self, stem: &str) -> u32 {
        self.items.iter().find(|t| t.stem == stem).map_or(0, |t| t.count)
    }

    /// Number of distinct terms.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
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
    pub fn of(terms: &Terms, written: &FxHashMap<Cow<'_, str>, Cow<'_, str>>) -> Self {
        let mut text = String::new();
        let mut items = Vec::with_capacity(terms.len());
        for &Term { stem, count, surface } in terms.iter() {
            let shown = written.get(surface).map_or(surface, |w| w.as_ref());
            let start = text.len() as u32;
            text.push_str(shown);
            items.push((crate::story::feature_id(stem), 1.0 + (count as f32).ln(), start, text.len() as u32));
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

/// For each word in matching form of a text, the spelling the text uses most (diacritics and
/// punctuation around it removed), so that keywords can be shown as written: الخارجية, not the
/// matching form الخارجيه.
pub fn spellings<'a>(words: &NormalizedWords<'a>) -> FxHashMap<Cow<'a, str>, Cow<'a, str>> {
    let is_mark = |c: char| matches!(c, '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}');
    let mut seen: FxHashMap<Cow<'a, str>, Forms<'a>> =
        FxHashMap::with_capacity_and_hasher(words.pieces.len(), Default::default());
    for (piece, norm, n) in &words.pieces {
        // One word in matching form: the piece without punctuation around it or diacritics
        // (which normalisation drops too, so the matching form is the piece's).
        if norm.is_empty() || norm.contains(' ') {
            continue;
        }
        let trimmed = piece.trim_matches(|c: char| !is_alphanumeric(c));
        let word = if trimmed.contains(is_mark) {
            Cow::Owned(trimmed.chars().filter(|c| !is_mark(*c)).collect())
        } else {
            Cow::Borrowed(trimmed)
        };
        add_form(seen.entry(norm.clone()).or_default(), word, *n);
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
        let text = normalize_for_matching("وقال الوزير إن التعاون مع روسيا والتعاون الاقتصادي في 2025");
        let t = Terms::of(&text);
        assert_eq!(t.count("تعاون"), 2);
        assert!(t.count("وزير") == 1 && t.count("روسيا") == 1);
        assert!(t.count("قال") == 0 && t.count("في") == 0 && t.count("2025") == 0);
    }

    #[test]
    fn terms_of_words_equal_terms_of_the_text() {
        let text =
            "وقال الوزير إن التعاون مع روسيا والتعاون، الاقتصادي (والتعاون) U.S. talks; talks TALKS e-mail";
        let words = NormalizedWords::of(text);
        let sorted = |t: Terms<'_>| {
            let mut v: Vec<(String, u32, String)> =
                t.iter().map(|t| (t.stem.to_owned(), t.count, t.surface.to_owned())).collect();
            v.sort();
            v
        };
        let by_words = sorted(Terms::of_words(&words));
        assert_eq!(by_words, sorted(Terms::of(&words.text)));
        assert!(by_words.iter().any(|(s, c, _)| s == "تعاون" && *c == 3), "{by_words:?}");
    }

    #[test]
    fn keywords_prefer_frequent_rare_terms() {
        let t = Terms::of("alpha alpha beta gamma");
        let c = KeywordCandidates::of(&t, &FxHashMap::default());
        let gamma = crate::story::feature_id("gamma");
        assert_eq!(c.top(2, |f| if f == gamma { 3.0 } else { 1.0 }), ["gamma", "alpha"]);
    }

    #[test]
    fn keywords_are_shown_as_written() {
        let original = "وزارة الخارجية، والخارجيّة الروسية: الخارجية";
        let words = NormalizedWords::of(original);
        let c = KeywordCandidates::of(&Terms::of_words(&words), &spellings(&words));
        assert!(c.top(5, |_| 1.0).contains(&"الخارجية".to_owned()), "{:?}", c.top(5, |_| 1.0));
    }

    #[test]
    fn spellings_restore_the_written_form() {
        let original = "وزارة الخارجية، والخارجيّة الروسية: الخارجية";
        let words = NormalizedWords::of(original);
        let map = spellings(&words);
        assert_eq!(
            map.get(normalize_for_matching("الخارجية").as_str()).map(|w| w.as_ref()),
            Some("الخارجية")
        );
        assert_eq!(map.get(normalize_for_matching("وزارة").as_str()).map(|w| w.as_ref()), Some("وزارة"));
    }

    #[test]
    fn summary_takes_lead_sentences() {
        let s = summary("First sentence here. Second one! Third?\n\nNext paragraph.", 60).unwrap();
        assert_eq!(s, "First sentence here. Second one!");
        assert_eq!(summary("", 100), None);
    }
}
