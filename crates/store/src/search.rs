//! Search terms: what the full-text index holds for an article, and what a query looks up.
//! Pure functions, shared by both stores, so that SQLite FTS5 and PostgreSQL index and match
//! exactly the same terms.
//!
//! An article's terms are built once, in the sink's batch code, from its title, keywords,
//! canonical entity names (the *strong* fields), its summary and the first
//! [`BODY_LEAD_WORDS`] words of its body (the *weak* fields). The body is not indexed whole:
//! the lead carries the story, the keywords, entities and summary stand for the rest, and
//! every indexed word costs ingest time (GIN or FTS5 postings).
//!
//! Each text is put in matching form (`newswire_clean::normalize_for_matching`), split into
//! the terms story clustering uses (`newswire_enrich::Terms`: stop words, numbers and one-letter
//! words left out, Arabic clitics stripped by `newswire_enrich::stem`), then:
//! - an Arabic-script term is indexed under its stem and its written form (the *exact*
//!   forms: clitic stripping cannot tell a clitic from a first letter) and their [`skeleton`]s
//!   (long vowels removed), so that spellings that differ only in written long vowels
//!   (بوتين / بوتن, ترامب / ترمب) meet. In the weak fields only the skeletons go in (or the
//!   exact form, for a term too short to have one): a query looks every form up by its
//!   skeleton, so recall is the same, and the weak fields, most of an Arabic article's words,
//!   cost half the postings; what is lost is the exact-over-skeleton rank within weak text;
//! - any other term is stemmed with the Snowball algorithm of the article's language (English
//!   when the language has none), so that "talks" finds "talk".
//!
//! Exact forms and skeletons are kept apart (separate FTS5 columns; a `~` prefix in the
//! tsvector, a character matching form never contains), and both stores weigh them so that
//! exact-form matches rank above skeleton-only ones, and strong fields above weak ones.

use newswire_clean::{NormalizedWords, normalize_for_matching};
use newswire_enrich::Terms;
use newswire_model::Lang;
use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::{FxHashMap, FxHashSet};

/// How much of the body is indexed, in words: a wire story's lead paragraph and the one after
/// it. The rest of the body is stored but matched only through the keywords, entities and
/// summary the processor draws from the whole text. Counted in words, not bytes, so that
/// Arabic (two bytes a letter) gets as much of its lead indexed as Latin-script text; each
/// word is a term or two in the index, which is what ingest pays for (about 0.35 µs of
/// PostgreSQL GIN insertion per term, BENCHMARKS.md).
pub const BODY_LEAD_WORDS: usize = 60;

/// Matches ranked per search: the newest this many (after the filters). Ranking reads every
/// ranked match's terms, so an unbounded ranking of a common word's matches grows with the
/// store (seconds over 200,000 articles); the newest matches are what a news search is for,
/// and an older article is found by narrowing the query or the time range.
pub const SEARCH_CANDIDATES: i64 = 1000;

/// Written with the terms (`search_version`): which version of this module built them. A
/// migration that changes how terms are built sets the column to NULL, and the store
/// re-indexes those rows when it opens.
///
/// Version 2 indexes the body's first [`BODY_LEAD_WORDS`] words instead of its first 1,200
/// bytes. Version 1 rows are not rebuilt: their longer lead is a superset of what version 2
/// would index, matched and ranked as before.
pub const TERMS_VERSION: i32 = 2;

/// The prefix of skeleton lexemes in PostgreSQL's tsvector (FTS5 keeps them in columns of
/// their own). Matching form never contains it: it turns punctuation into spaces.
const SKELETON_MARK: char = '~';

/// PostgreSQL's longest lexeme, in bytes (`MAXSTRLEN`).
const MAX_LEXEME_BYTES: usize = 2046;

/// PostgreSQL's limit on a tsvector's lexeme bytes (`MAXSTRPOS - 1`).
const MAX_LEXEME_TOTAL: usize = (1 << 20) - 1;

/// PostgreSQL's largest tsvector position (`MAXENTRYPOS - 1`).
const MAX_POSITION: u16 = 16_383;

/// The letters Arabic writes long vowels with (and, in foreign names, optionally): alef, waw
/// and yeh in matching form (hamza carriers and alef maqsura are already folded to these).
const LONG_VOWELS: [char; 3] = ['ا', 'و', 'ي'];

/// The skeleton of an Arabic term in matching form: its first letter, then its other letters
/// without the long-vowel letters ا و ي. `None` for non-Arabic terms, for terms of fewer than
/// four letters, and when fewer than three letters would remain.
///
/// Why: Arabic spells foreign names (and some native words) with or without their long
/// vowels, بوتين or بوتن, ترامب or ترمب, زيلينسكي or زيلنسكي, while the consonants stay. The
/// first letter is kept whatever it is, because a word-initial ا / و / ي is a consonant or a
/// hamza seat, not a vowel. The limits keep the skeleton from merging short words, whose
/// consonants alone say little (قال, قول and قيل would all be ق ل): a skeleton keeps at least
/// three consonants. Words with the same consonants in different patterns (كاتب / كتب /
/// مكتوب → مكتب) still meet on skeletons, which is why skeleton matches rank below exact ones.
pub fn skeleton(term: &str) -> Option<String> {
    let mut chars = term.chars();
    let first = chars.next()?;
    if !is_arabic_letter(first) || term.chars().count() < 4 {
        return None;
    }
    let mut out = String::with_capacity(term.len());
    out.push(first);
    out.extend(chars.filter(|c| !LONG_VOWELS.contains(c)));
    (out.chars().count() >= 3).then_some(out)
}

fn is_arabic_letter(c: char) -> bool {
    matches!(c, '\u{0620}'..='\u{064A}' | '\u{066E}'..='\u{06D3}' | '\u{06FA}'..='\u{06FF}')
}

fn is_arabic(term: &str) -> bool {
    term.chars().any(is_arabic_letter)
}

/// The Snowball algorithm for a language code; `None` when Snowball has none for it. Arabic
/// is left out on purpose: Arabic-script words get clitic stripping and skeletons instead.
fn algorithm(lang: &str) -> Option<Algorithm> {
    Some(match lang {
        "en" => Algorithm::English,
        "fr" => Algorithm::French,
        "de" => Algorithm::German,
        "es" => Algorithm::Spanish,
        "it" => Algorithm::Italian,
        "pt" => Algorithm::Portuguese,
        "nl" => Algorithm::Dutch,
        "sv" => Algorithm::Swedish,
        "no" | "nb" | "nn" => Algorithm::Norwegian,
        "da" => Algorithm::Danish,
        "fi" => Algorithm::Finnish,
        "hu" => Algorithm::Hungarian,
        "ro" => Algorithm::Romanian,
        "ru" => Algorithm::Russian,
        "tr" => Algorithm::Turkish,
        "el" => Algorithm::Greek,
        "ta" => Algorithm::Tamil,
        _ => return None,
    })
}

/// Every algorithm [`algorithm`] can choose, English first (the default).
const ALGORITHMS: [Algorithm; 17] = [
    Algorithm::English,
    Algorithm::French,
    Algorithm::German,
    Algorithm::Spanish,
    Algorithm::Italian,
    Algorithm::Portuguese,
    Algorithm::Dutch,
    Algorithm::Swedish,
    Algorithm::Norwegian,
    Algorithm::Danish,
    Algorithm::Finnish,
    Algorithm::Hungarian,
    Algorithm::Romanian,
    Algorithm::Russian,
    Algorithm::Turkish,
    Algorithm::Greek,
    Algorithm::Tamil,
];

/// The terms of one article, each once, in its best class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocTerms {
    /// Exact forms found in the strong fields (title, keywords, entities).
    pub exact_strong: Vec<String>,
    /// Exact forms found only in the weak fields (summary, body lead).
    pub exact_weak: Vec<String>,
    /// Skeletons of the strong fields' Arabic terms.
    pub skeleton_strong: Vec<String>,
    /// Skeletons found only in the weak fields.
    pub skeleton_weak: Vec<String>,
}

/// The first `words` words of `s` (runs of non-whitespace), with what lies between them.
fn lead(s: &str, words: usize) -> &str {
    if words == 0 {
        return "";
    }
    let mut seen = 0;
    let mut in_word = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_word && seen == words {
                return &s[..i];
            }
            in_word = false;
        } else if !in_word {
            in_word = true;
            seen += 1;
        }
    }
    s
}

/// How an Arabic form goes into a class pair (see [`collect`]).
#[derive(Clone, Copy)]
enum ArabicForms {
    /// Its exact form and its skeleton: the strong fields, where an exact spelling ranks
    /// above a skeleton-only match.
    ExactAndSkeleton,
    /// Its skeleton alone, or its exact form when it has none: the weak fields. A query looks
    /// up every form's skeleton as well, and equal forms have equal skeletons, so the exact
    /// form adds no match, only rank; in the weak fields, about nine in ten of the lexemes,
    /// that rank is not worth a second GIN or FTS5 posting per word.
    SkeletonOnly,
}

/// Pushes the terms of `text` (any spelling) into `exact` / `skeletons`, repeats included:
/// [`TermSource::terms`] keeps each once, in its best class.
fn collect(
    text: &str,
    arabic: ArabicForms,
    stemmer: &mut CachedStemmer,
    exact: &mut Vec<String>,
    skeletons: &mut Vec<String>,
) {
    // Word by word, each distinct written word once (words repeat): the same terms as
    // normalising the whole text, for a fraction of the work (the processor does the same).
    let words = NormalizedWords::of(text);
    let terms = Terms::of_words(&words);
    exact.reserve(2 * terms.len());
    for t in terms.iter() {
        if is_arabic(t.stem) {
            for form in arabic_forms(t.stem, t.surface) {
                match (arabic, skeleton(form)) {
                    (ArabicForms::SkeletonOnly, Some(s)) => skeletons.push(s),
                    (_, s) => {
                        exact.push(form.to_owned());
                        skeletons.extend(s);
                    }
                }
            }
        } else {
            exact.push(stemmer.stem(t.stem));
        }
    }
}

/// Keeps the first of each term in `terms` and drops those `stronger` has: a term is indexed
/// once, in its best class.
fn distinct(terms: &mut Vec<String>, stronger: &FxHashSet<&str>) {
    let keep: Vec<bool> = {
        let mut seen: FxHashSet<&str> = FxHashSet::with_capacity_and_hasher(terms.len(), Default::default());
        terms.iter().map(|t| !stronger.contains(t.as_str()) && seen.insert(t.as_str())).collect()
    };
    let mut keep = keep.into_iter();
    terms.retain(|_| keep.next().unwrap_or(false));
}

/// The forms an Arabic term is indexed and looked up under: its stem and the word as written
/// (in matching form). Both, because clitic stripping cannot tell a clitic from a first
/// letter: بوتين loses its ب (وتين) while بوتن keeps it, so only the written forms meet.
fn arabic_forms<'a>(stem: &'a str, surface: &'a str) -> impl Iterator<Item = &'a str> {
    std::iter::once(stem).chain((surface != stem).then_some(surface))
}

/// Stems kept per thread and algorithm before the cache starts over: about a newsroom's
/// working vocabulary, a few MB at most.
const STEM_CACHE_WORDS: usize = 32_768;

std::thread_local! {
    /// Snowball stems of the words seen lately, one map per entry of [`ALGORITHMS`]. News
    /// repeats its vocabulary across articles, and a lookup costs a fraction of stemming
    /// (stemming was a sixth of building an article's terms).
    static STEMS: std::cell::RefCell<Vec<FxHashMap<Box<str>, Box<str>>>> =
        std::cell::RefCell::new(vec![FxHashMap::default(); ALGORITHMS.len()]);
}

/// A Snowball stemmer that remembers its answers ([`STEMS`]).
struct CachedStemmer {
    stemmer: Stemmer,
    /// Its algorithm's index in [`ALGORITHMS`].
    index: usize,
}

impl CachedStemmer {
    /// The stemmer for an article's non-Arabic words: its language's, else English (news in
    /// Arabic quotes English names and terms far more than any other language).
    fn for_language(lang: &Lang) -> Self {
        let algorithm = algorithm(lang.as_str()).unwrap_or(Algorithm::English);
        let index = ALGORITHMS.iter().position(|a| *a == algorithm).unwrap_or(0);
        Self { stemmer: Stemmer::create(algorithm), index }
    }

    fn stem(&mut self, word: &str) -> String {
        STEMS.with_borrow_mut(|maps| {
            let Some(map) = maps.get_mut(self.index) else {
                return self.stemmer.stem(word).into_owned();
            };
            if let Some(stem) = map.get(word) {
                return stem.to_string();
            }
            let stem = self.stemmer.stem(word).into_owned();
            if map.len() >= STEM_CACHE_WORDS {
                map.clear();
            }
            map.insert(word.into(), stem.as_str().into());
            stem
        })
    }
}

/// The search terms of an article: see the module documentation.
pub fn document_terms(a: &newswire_model::Article) -> DocTerms {
    TermSource::of(a).terms()
}

/// The fields of an article its search terms are built from, owned, so that the terms can be
/// built on another thread while the database works on the rows before (see the PostgreSQL
/// store's upsert).
#[derive(Debug, Clone)]
pub struct TermSource {
    language: Lang,
    /// Title, keywords and entity names, one per line.
    strong: String,
    /// Summary and the body's first [`BODY_LEAD_WORDS`] words.
    weak: String,
}

impl TermSource {
    /// The strong and weak texts of `a`.
    pub fn of(a: &newswire_model::Article) -> Self {
        let mut strong = String::with_capacity(a.title.len() + 256);
        strong.push_str(&a.title);
        for k in &a.keywords {
            strong.push('\n');
            strong.push_str(k);
        }
        for e in &a.entities {
            strong.push('\n');
            strong.push_str(&e.name);
        }
        let mut weak = String::with_capacity(1024);
        if let Some(s) = &a.summary {
            weak.push_str(s);
            weak.push('\n');
        }
        weak.push_str(lead(&a.text, BODY_LEAD_WORDS));
        Self { language: a.language.clone(), strong, weak }
    }

    /// The terms: see the module documentation.
    pub fn terms(&self) -> DocTerms {
        let mut stemmer = CachedStemmer::for_language(&self.language);
        let mut out = DocTerms::default();
        let (strong, weak) = (ArabicForms::ExactAndSkeleton, ArabicForms::SkeletonOnly);
        collect(&self.strong, strong, &mut stemmer, &mut out.exact_strong, &mut out.skeleton_strong);
        collect(&self.weak, weak, &mut stemmer, &mut out.exact_weak, &mut out.skeleton_weak);
        let none = FxHashSet::default();
        distinct(&mut out.exact_strong, &none);
        distinct(&mut out.skeleton_strong, &none);
        let strong: FxHashSet<&str> = out.exact_strong.iter().map(String::as_str).collect();
        distinct(&mut out.exact_weak, &strong);
        let strong: FxHashSet<&str> = out.skeleton_strong.iter().map(String::as_str).collect();
        distinct(&mut out.skeleton_weak, &strong);
        out
    }
}

impl DocTerms {
    /// PostgreSQL `tsvector` in the binary wire format (what `tsvector_recv` reads): every
    /// term with one position and its class as weight (A exact strong, B exact weak, C
    /// skeleton strong, D skeleton weak); skeletons carry `~`. Built here so that the
    /// database does no text analysis on insert, and binary so that it does not parse a
    /// tsvector literal either (parsing the text form was a fifth of the insert statement).
    ///
    /// The format: the lexeme count (i32), then per lexeme its UTF-8 bytes, a NUL, the
    /// position count (u16) and the positions (u16: weight in the top two bits). Lexemes go
    /// in byte order, distinct, as the server keeps them; it sorts an unsorted input but
    /// never merges duplicates, so this does both.
    pub fn tsvector(&self) -> Vec<u8> {
        let classes: [(&[String], bool, u16); 4] = [
            (&self.exact_strong, false, 3),
            (&self.exact_weak, false, 2),
            (&self.skeleton_strong, true, 1),
            (&self.skeleton_weak, true, 0),
        ];
        let mut lexemes: Vec<(std::borrow::Cow<'_, str>, u16)> = Vec::new();
        let mut position: u16 = 0;
        for (terms, marked, weight) in classes {
            for t in terms {
                // The server refuses a lexeme with a NUL (it ends the string) or over its
                // length limit; matching form has neither, but a term must not fail a batch.
                if t.is_empty() || t.contains('\0') || t.len() > MAX_LEXEME_BYTES {
                    continue;
                }
                // Positions stop at 16,383; a position is needed only to carry the weight.
                position = (position + 1).min(MAX_POSITION);
                let lexeme = if marked {
                    format!("{SKELETON_MARK}{t}").into()
                } else {
                    std::borrow::Cow::from(t.as_str())
                };
                lexemes.push((lexeme, weight << 14 | position));
            }
        }
        // Stable: a duplicate keeps the strongest class, which comes first.
        lexemes.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        lexemes.dedup_by(|later, earlier| later.0 == earlier.0);
        // The server's limit on a tsvector's lexeme bytes; the indexed fields are bounded far
        // below it, but a limit reached drops lexemes rather than failing the batch.
        let mut total = 0usize;
        lexemes.retain(|(l, _)| {
            total += l.len();
            total <= MAX_LEXEME_TOTAL
        });
        let mut out = Vec::with_capacity(4 + lexemes.iter().map(|(l, _)| l.len() + 5).sum::<usize>());
        // At most MAX_LEXEME_TOTAL lexemes of at least one byte: the count fits an i32.
        out.extend_from_slice(&i32::try_from(lexemes.len()).unwrap_or(i32::MAX).to_be_bytes());
        for (lexeme, pos) in &lexemes {
            out.extend_from_slice(lexeme.as_bytes());
            out.push(0);
            out.extend_from_slice(&1u16.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
        }
        out
    }

    /// The four FTS5 columns: space-separated terms.
    pub fn fts_columns(&self) -> [String; 4] {
        [
            self.exact_strong.join(" "),
            self.exact_weak.join(" "),
            self.skeleton_strong.join(" "),
            self.skeleton_weak.join(" "),
        ]
    }
}

/// A quoted tsquery lexeme (quotes doubled, backslashes escaped).
fn push_lexeme(out: &mut String, term: &str, marked: bool) {
    out.push('\'');
    if marked {
        out.push(SKELETON_MARK);
    }
    for c in term.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// One word of a query: matches when any of its exact forms or its skeleton is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    /// Exact forms: the Arabic term, or the word's stems under every stemmer an article may
    /// have been indexed with.
    pub exact: Vec<String>,
    /// The skeletons of an Arabic word's forms (none for other words).
    pub skeletons: Vec<String>,
}

/// The words of a query, all of which must match. Empty when the query has no searchable
/// word (only stop words, numbers or punctuation).
///
/// A query does not say its language, so a non-Arabic word is looked up under the stems of
/// every algorithm an article in `languages` (any language when empty) could have been
/// indexed with; usually these are one or two distinct forms.
pub fn query_words(query: &str, languages: &[Lang]) -> Vec<QueryWord> {
    let algorithms: Vec<Algorithm> = if languages.is_empty() {
        ALGORITHMS.to_vec()
    } else {
        let mut v = vec![Algorithm::English];
        v.extend(languages.iter().filter_map(|l| algorithm(l.as_str())));
        v
    };
    let stemmers: Vec<Stemmer> = algorithms.into_iter().map(Stemmer::create).collect();
    let normalized = normalize_for_matching(query);
    let terms = Terms::of(&normalized);
    let mut items: Vec<(&str, &str)> = terms.iter().map(|t| (t.stem, t.surface)).collect();
    items.sort_unstable();
    items
        .into_iter()
        .map(|(stem, surface)| {
            if is_arabic(stem) {
                let exact: Vec<String> = arabic_forms(stem, surface).map(str::to_owned).collect();
                let mut skeletons: Vec<String> = exact.iter().filter_map(|f| skeleton(f)).collect();
                skeletons.dedup();
                QueryWord { exact, skeletons }
            } else {
                let mut exact: Vec<String> = Vec::new();
                for s in &stemmers {
                    let form = s.stem(stem).into_owned();
                    if !exact.contains(&form) {
                        exact.push(form);
                    }
                }
                QueryWord { exact, skeletons: Vec::new() }
            }
        })
        .collect()
}

/// PostgreSQL `tsquery` input for [`query_words`], every form of every word: `('a' | '~s') &
/// ('b' | 'c')`. The ranking query: an exact form's match weighs more than its skeleton's.
pub fn tsquery(words: &[QueryWord]) -> String {
    build_tsquery(words, |_| true)
}

/// PostgreSQL `tsquery` input that matches the same articles as [`tsquery`] with fewer
/// lexemes: an Arabic exact form that has a skeleton is left out, because wherever the form
/// is indexed its skeleton is too (strong fields hold both, weak fields the skeleton alone,
/// and rows indexed before that held both everywhere). A GIN scan reads a posting list per
/// lexeme, and the left-out exact lists are subsets of their skeletons' lists: this query
/// reads about half the entries for an Arabic word and finds the same rows.
pub fn match_tsquery(words: &[QueryWord]) -> String {
    // `skeleton` is None for a non-Arabic term as well: Latin stems are all kept.
    build_tsquery(words, |exact| skeleton(exact).is_none())
}

/// `tsquery` text over each word's exact forms that `keep_exact` keeps and all its skeletons.
fn build_tsquery(words: &[QueryWord], keep_exact: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push_str(" & ");
        }
        out.push('(');
        let exact = w.exact.iter().filter(|e| keep_exact(e)).map(|e| (e, false));
        for (j, (term, marked)) in exact.chain(w.skeletons.iter().map(|s| (s, true))).enumerate() {
            if j > 0 {
                out.push_str(" | ");
            }
            push_lexeme(&mut out, term, marked);
        }
        out.push(')');
    }
    out
}

/// FTS5 MATCH expression for [`query_words`] over the columns `exact_strong exact_weak
/// skeleton_strong skeleton_weak`.
pub fn fts_match(words: &[QueryWord]) -> String {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    words
        .iter()
        .map(|w| {
            let exact = w.exact.iter().map(|e| quote(e)).collect::<Vec<_>>().join(" OR ");
            if w.skeletons.is_empty() {
                format!("({{exact_strong exact_weak}} : ({exact}))")
            } else {
                let skeletons = w.skeletons.iter().map(|e| quote(e)).collect::<Vec<_>>().join(" OR ");
                format!("({{exact_strong exact_weak}} : ({exact}) OR {{skeleton_strong skeleton_weak}} : ({skeletons}))")
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk(w: &str) -> Option<String> {
        skeleton(&normalize_for_matching(w))
    }

    #[test]
    fn spellings_that_differ_in_long_vowels_share_a_skeleton() {
        let pairs = [
            ("بوتين", "بوتن"),
            ("ترامب", "ترمب"),
            ("زيلينسكي", "زيلنسكي"),
            ("واشنطن", "واشنطون"),
            ("ماكرون", "ماكرن"),
            ("لافروف", "لافرف"),
            ("نتنياهو", "نتنياهو"),
        ];
        for (a, b) in pairs {
            assert!(sk(a).is_some(), "{a}");
            assert_eq!(sk(a), sk(b), "{a} / {b}");
        }
    }

    #[test]
    fn skeletons_keep_distinct_names_apart_and_skip_short_words() {
        // Different consonants stay different.
        for (a, b) in [("بوتين", "بايدن"), ("ترامب", "تركيا"), ("لافروف", "لبنان"), ("لبنان", "لندن")]
        {
            assert!(sk(a).is_some(), "{a}");
            assert_ne!(sk(a), sk(b), "{a} / {b}");
        }
        // Short words, or words that would keep under three letters, get none.
        for w in ["قال", "قول", "دول", "يوم", "رئيس", "روسيا"] {
            assert_eq!(sk(w), None, "{w}");
        }
        assert_eq!(sk("talks"), None);
        // The first letter stays even when it is a vowel letter.
        assert_eq!(sk("اوباما").as_deref(), Some("ابم"));
    }

    /// Reads the binary tsvector back: (lexeme, weight 0-3, position) per entry.
    fn decode(bytes: &[u8]) -> Vec<(String, u16, u16)> {
        let n = i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let mut rest = &bytes[4..];
        let mut out = Vec::new();
        for _ in 0..n {
            let nul = rest.iter().position(|&b| b == 0).unwrap();
            let lexeme = String::from_utf8(rest[..nul].to_vec()).unwrap();
            rest = &rest[nul + 1..];
            assert_eq!(u16::from_be_bytes([rest[0], rest[1]]), 1, "one position per lexeme");
            let pos = u16::from_be_bytes([rest[2], rest[3]]);
            rest = &rest[4..];
            out.push((lexeme, pos >> 14, pos & 0x3fff));
        }
        assert!(rest.is_empty(), "nothing after the last lexeme");
        out
    }

    #[test]
    fn the_lead_is_the_first_words_with_what_lies_between() {
        let text = "  One two,\nthree  four\n\nfive";
        assert_eq!(lead(text, 0), "");
        assert_eq!(lead(text, 1), "  One");
        assert_eq!(lead(text, 3), "  One two,\nthree");
        assert_eq!(lead(text, 5), text);
        assert_eq!(lead(text, 50), text);
        // Counted in words, not bytes: Arabic's two-byte letters get as many words.
        assert_eq!(lead("قال بوتين إن المحادثات", 2), "قال بوتين");
        assert_eq!(lead("one two three four", 2).len(), 7);
    }

    #[test]
    fn tsvector_is_sorted_distinct_and_weighted_by_class() {
        let terms = DocTerms {
            exact_strong: vec!["zeta".into(), "بوتين".into()],
            // A term already in a stronger class keeps the stronger weight, once.
            exact_weak: vec!["alpha".into(), "zeta".into(), String::new(), "a\0b".into()],
            skeleton_strong: vec!["بتن".into()],
            skeleton_weak: vec!["بتن".into(), "x".repeat(MAX_LEXEME_BYTES + 1)],
        };
        let decoded = decode(&terms.tsvector());
        let lexemes: Vec<&str> = decoded.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(lexemes, ["alpha", "zeta", "~بتن", "بوتين"], "byte order, distinct, invalid left out");
        let weight = |l: &str| decoded.iter().find(|(x, _, _)| x == l).map(|(_, w, _)| *w);
        assert_eq!(weight("zeta"), Some(3));
        assert_eq!(weight("بوتين"), Some(3));
        assert_eq!(weight("alpha"), Some(2));
        assert_eq!(weight("~بتن"), Some(1));
        assert!(decoded.iter().all(|(_, _, p)| (1..=MAX_POSITION).contains(p)));
        assert_eq!(DocTerms::default().tsvector(), 0i32.to_be_bytes(), "no terms: an empty tsvector");
    }

    #[test]
    fn document_terms_hold_each_term_once_in_its_best_class() {
        let source = TermSource {
            language: Lang::parse("ar").unwrap(),
            strong: "بوتين يتصل بترامب\nTalks".into(),
            weak: "قال بوتين إن بوتن والرئيس ترمب والرئيس ترامب talks talk محادثات".into(),
        };
        let terms = source.terms();
        for (name, class) in [
            ("exact_strong", &terms.exact_strong),
            ("exact_weak", &terms.exact_weak),
            ("skeleton_strong", &terms.skeleton_strong),
            ("skeleton_weak", &terms.skeleton_weak),
        ] {
            let mut distinct = class.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), class.len(), "{name} repeats a term: {class:?}");
        }
        assert!(
            terms.exact_strong.contains(&"بوتين".to_owned())
                && terms.exact_strong.contains(&"talk".to_owned())
        );
        for t in &terms.exact_weak {
            assert!(!terms.exact_strong.contains(t), "{t} is strong and weak");
        }
        for t in &terms.skeleton_weak {
            assert!(!terms.skeleton_strong.contains(t), "skeleton {t} is strong and weak");
        }
        // In the weak fields an Arabic form goes in as its skeleton alone, and as written
        // only when it has none (رييس: too few consonants).
        assert!(!terms.exact_weak.contains(&"بوتن".to_owned()), "{:?}", terms.exact_weak);
        assert!(!terms.exact_weak.contains(&"محادثات".to_owned()), "{:?}", terms.exact_weak);
        assert!(terms.skeleton_weak.contains(&"محدثت".to_owned()), "{:?}", terms.skeleton_weak);
        assert!(terms.exact_weak.contains(&"رييس".to_owned()), "{:?}", terms.exact_weak);
        // بوتن's skeleton is بوتين's, already strong.
        assert!(
            terms.skeleton_strong.contains(&"بتن".to_owned())
                && !terms.skeleton_weak.contains(&"بتن".to_owned())
        );
    }

    /// A word of the weak fields is found by every query the exact and skeleton forms would
    /// find: by its own spelling, a long-vowel variant, with and without a clitic.
    #[test]
    fn weak_fields_find_what_exact_forms_would() {
        let ar = Lang::parse("ar").unwrap();
        let weak = "قال بوتن للصحفيين إن المحادثات مع ترامب والكرملين بدأت في الرياض";
        let source = TermSource { language: ar.clone(), strong: "خبر".into(), weak: weak.into() };
        let terms = source.terms();
        let found = |query: &str| {
            query_words(query, std::slice::from_ref(&ar)).iter().all(|w| {
                w.exact.iter().any(|e| terms.exact_weak.contains(e))
                    || w.skeletons.iter().any(|s| terms.skeleton_weak.contains(s))
            })
        };
        for query in
            ["بوتن", "بوتين", "ترامب", "ترمب", "محادثات", "المحادثات", "الكرملين", "كرملين", "الرياض"]
        {
            assert!(found(query), "{query} not found in {terms:?}");
        }
        assert!(!found("غواصة"), "a word the text does not have");
    }

    #[test]
    fn remembered_stems_are_each_languages_own() {
        let mut en = CachedStemmer::for_language(&Lang::parse("en").unwrap());
        let mut fr = CachedStemmer::for_language(&Lang::parse("fr").unwrap());
        let mut other = CachedStemmer::for_language(&Lang::parse("sw").unwrap());
        let english = Stemmer::create(Algorithm::English);
        let french = Stemmer::create(Algorithm::French);
        let words = ["nationales", "continuellement", "running", "talks", "généralement"];
        // Twice: the second round is answered from the cache.
        for _ in 0..2 {
            for w in words {
                assert_eq!(en.stem(w), english.stem(w), "en {w}");
                assert_eq!(fr.stem(w), french.stem(w), "fr {w}");
                assert_eq!(
                    other.stem(w),
                    english.stem(w),
                    "a language without Snowball stems as English: {w}"
                );
            }
        }
        assert_ne!(
            english.stem("généralement"),
            french.stem("généralement"),
            "the words tell the languages apart"
        );
    }

    #[test]
    fn queries_are_built_like_documents() {
        let words = query_words("Talks on بوتن", &[]);
        assert_eq!(words.len(), 2);
        let arabic = words.iter().find(|w| !w.skeletons.is_empty()).unwrap();
        assert_eq!(arabic.exact, vec!["بوتن".to_owned()]);
        let latin = words.iter().find(|w| w.skeletons.is_empty()).unwrap();
        assert_eq!(latin.exact[0], "talk");
        assert!(query_words("في من the", &[]).is_empty());
        assert_eq!(tsquery(&query_words("ترمب", &[])), "('ترمب' | '~ترمب')");
        assert_eq!(match_tsquery(&query_words("ترمب", &[])), "('~ترمب')");
    }

    /// The matching query leaves out exactly the Arabic forms whose skeleton it holds, and
    /// keeps Latin stems and Arabic terms too short for a skeleton.
    #[test]
    fn the_matching_query_keeps_a_form_or_its_skeleton() {
        let words = query_words("المحادثات مع بوتين talks", &[]);
        let (full, slim) = (tsquery(&words), match_tsquery(&words));
        assert!(full.contains("'المحادثات'") && full.contains("'بوتين'"), "{full}");
        assert!(!slim.contains("'المحادثات'") && !slim.contains("'بوتين'"), "{slim}");
        assert!(slim.contains("'~محدثت'") && slim.contains("'~بتن'"), "{slim}");
        assert!(slim.contains("'talk'"), "{slim}");
        assert_eq!(slim.matches(" & ").count(), full.matches(" & ").count(), "{slim}");
        // A word too short for a skeleton is matched by its written form.
        let short = query_words("رئيس", &[]);
        assert_eq!(match_tsquery(&short), tsquery(&short));
        assert!(!match_tsquery(&short).contains('~'), "{}", match_tsquery(&short));
    }
}
