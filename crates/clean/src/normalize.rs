use unicode_normalization::UnicodeNormalization;

/// Folds one character to its matching form, or drops it (`None`).
pub(crate) fn fold(c: char) -> Option<char> {
    Some(match c {
        // Harakat, tanween, shadda, sukun, superscript alef, Quranic marks, tatweel.
        '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' | '\u{0640}' => return None,
        // Alef with hamza above/below, madda, wasla → bare alef.
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        // Alef maqsura, Persian/Urdu yeh and yeh barree → Arabic yeh.
        'ى' | 'ی' | 'ې' | 'ے' => 'ي',
        // Hamza on yeh/waw → the bare letter; standalone hamza dropped below.
        'ئ' => 'ي',
        'ؤ' => 'و',
        // Teh marbuta → heh (the two are swapped freely in informal spelling).
        'ة' => 'ه',
        // Persian/Urdu keheh and gaf → kaf; Persian heh goal → heh.
        'ک' | 'گ' => 'ك',
        'ہ' | 'ە' => 'ه',
        // Arabic-Indic and extended (Persian) digits → ASCII.
        '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
        '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
        'ء' => return None,
        // Zero-width (non-)joiners and marks that only shape rendering.
        '\u{200B}'..='\u{200F}' | '\u{061C}' | '\u{FEFF}' => return None,
        c => c,
    })
}

/// Folds Arabic letter variants (as [`normalize_for_matching`] does) but keeps everything else:
/// case, punctuation and spacing. Used where punctuation still carries meaning (boilerplate
/// markers such as `Source:`).
pub fn fold_letters(input: &str) -> String {
    input.chars().filter_map(fold).collect()
}

/// The form in which two texts are compared: NFKC, lower case, Arabic orthography unified,
/// digits in ASCII, punctuation and symbols turned into spaces, whitespace collapsed.
///
/// It is idempotent, and maps the spelling variants found in real Arabic news (أميركا /
/// أمريكا stay different words, but الخارجیة with a Persian yeh, or a diacritised copy, equal
/// their plain forms) onto one string.
///
/// ```
/// use newswire_clean::normalize_for_matching as n;
/// assert_eq!(n("الخارجیة"), n("الخارجية"));
/// assert_eq!(n("مُحَمَّد، ٢٠٢٥!"), "محمد 2025");
/// ```
pub fn normalize_for_matching(input: &str) -> String {
    let mut out = normalize_once(input);
    // Lower case of a composed form can be composable again (Ή + ͅ lower-cases to ή + ͅ, which
    // NFKC makes ῄ): then normalise the result once more, so that the form is a fixed point.
    // Only scripts with case outside ASCII get here; it ends after one more pass in practice.
    for _ in 0..4 {
        if !out.cased_other
            || unicode_normalization::is_nfkc_quick(out.out.chars())
                == unicode_normalization::IsNormalized::Yes
        {
            break;
        }
        let again = normalize_once(&out.out);
        if again.out == out.out {
            break;
        }
        out = again;
    }
    out.out
}

fn normalize_once(input: &str) -> Normalized {
    let mut out =
        Normalized { out: String::with_capacity(input.len()), pending_space: false, cased_other: false };
    // Most news text is already NFKC: skip the decomposition machinery then (the quick check
    // is exact when it says yes).
    if input.chars().all(nfkc_stable)
        || unicode_normalization::is_nfkc_quick(input.chars()) == unicode_normalization::IsNormalized::Yes
    {
        input.chars().for_each(|c| out.push(c));
    } else {
        input.nfkc().for_each(|c| out.push(c));
    }
    out
}

/// [`normalize_for_matching`] without a copy when `input` is already in matching form (a
/// lower-case ASCII or plain Arabic word, say): the common case for single words.
pub fn normalize_borrowed(input: &str) -> std::borrow::Cow<'_, str> {
    // A character normalisation leaves as it is: a word character of the fast classes that
    // folding keeps and case does not change.
    let plain = |c: char| fast_class(c) == Some(true) && !c.is_ascii_uppercase() && fold(c) == Some(c);
    let words_ok = !input.is_empty() && input.split(' ').all(|w| !w.is_empty());
    if words_ok && input.chars().all(|c| c == ' ' || plain(c)) {
        std::borrow::Cow::Borrowed(input)
    } else {
        std::borrow::Cow::Owned(normalize_for_matching(input))
    }
}

/// A text in matching form together with its distinct written pieces (whitespace-separated)
/// and their matching forms: [`normalize_for_matching`] done one distinct piece at a time.
/// Words repeat (Zipf), so this normalises a fraction of the text, and callers that need the
/// written form of a matching word (keywords shown as written) get it without a second pass.
#[derive(Debug, Clone)]
pub struct NormalizedWords<'a> {
    /// The whole text in matching form: equal to `normalize_for_matching(input)`.
    pub text: String,
    /// Each distinct piece once, in order of first appearance: (piece, its matching form,
    /// occurrences).
    pub pieces: Vec<(&'a str, std::borrow::Cow<'a, str>, u32)>,
}

impl<'a> NormalizedWords<'a> {
    /// Normalises `input`. Splitting at whitespace first gives the same text: whitespace
    /// separates words in matching form too, and no normalisation step (NFKC, case, folding)
    /// reaches across it.
    pub fn of(input: &'a str) -> Self {
        // About one distinct word per twelve bytes of news text: sized once, not regrown.
        let mut ids: rustc_hash::FxHashMap<&'a str, u32> =
            rustc_hash::FxHashMap::with_capacity_and_hasher(input.len() / 12, Default::default());
        let mut pieces: Vec<(&'a str, std::borrow::Cow<'a, str>, u32)> = Vec::new();
        let mut sequence: Vec<u32> = Vec::new();
        for piece in input.split_whitespace() {
            let id = *ids.entry(piece).or_insert_with(|| {
                pieces.push((piece, std::borrow::Cow::Borrowed(""), 0));
                (pieces.len() - 1) as u32
            });
            if let Some(p) = pieces.get_mut(id as usize) {
                p.2 += 1;
            }
            sequence.push(id);
        }
        for (piece, norm, _) in &mut pieces {
            *norm = normalize_borrowed(piece);
        }
        let mut text = String::with_capacity(input.len());
        for id in sequence {
            let Some((_, norm, _)) = pieces.get(id as usize) else { continue };
            if norm.is_empty() {
                continue;
            }
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(norm);
        }
        Self { text, pieces }
    }
}

/// The output of [`normalize_for_matching`] as it is built, one NFKC character at a time.
struct Normalized {
    out: String,
    pending_space: bool,
    /// A character outside ASCII and Arabic went through Unicode lower-casing.
    cased_other: bool,
}

impl Normalized {
    fn push(&mut self, c: char) {
        if c.is_ascii() {
            self.push_lower(c.to_ascii_lowercase());
        } else if matches!(c, '\u{0600}'..='\u{06FF}') {
            self.push_lower(c); // Arabic has no case.
        } else {
            self.cased_other = true;
            c.to_lowercase().for_each(|l| self.push_lower(l));
        }
    }

    fn push_lower(&mut self, c: char) {
        let Some(c) = fold(c) else { return };
        if is_alphanumeric(c) {
            if self.pending_space && !self.out.is_empty() {
                self.out.push(' ');
            }
            self.pending_space = false;
            self.out.push(c);
        } else if !is_mark(c) {
            // Combining marks of other scripts are kept only through NFKC composition;
            // anything else non-alphanumeric separates words.
            self.pending_space = true;
        }
    }
}

/// Characters NFKC leaves as they are wherever they stand: ASCII and the Arabic letters and
/// punctuation have no compatibility mapping, combining class 0, and are never the second
/// character of a composition. Checked before the quick check's table lookups, because most
/// news text is made of nothing else.
fn nfkc_stable(c: char) -> bool {
    c.is_ascii()
        || matches!(c, '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}' | '\u{060C}' | '\u{061B}' | '\u{061F}')
}

/// Arabic letters (no case) and ASCII: the characters most text here is made of, answered
/// without Unicode table lookups.
fn fast_class(c: char) -> Option<bool> {
    match c {
        'a'..='z' | '0'..='9' | '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}' => Some(true),
        ' ' | '\n' | '\t' | '\r' => Some(false),
        c if c.is_ascii() => Some(c.is_ascii_alphanumeric()),
        _ => None,
    }
}

/// `char::is_alphanumeric`, with ASCII and Arabic letters answered without Unicode tables.
pub fn is_alphanumeric(c: char) -> bool {
    fast_class(c).unwrap_or_else(|| c.is_alphanumeric())
}

/// Non-spacing combining marks outside Arabic (which `fold` handles): dropped silently so
/// that they do not split words.
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// The words of a normalised text.
pub fn tokens(normalized: &str) -> impl Iterator<Item = &str> {
    normalized.split(' ').filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_variants_fold_together() {
        let pairs = [
            ("الخارجیة", "الخارجية"), // Persian yeh
            ("إلى", "الي"),           // hamza under alef, alef maqsura
            ("مَدْرَسَةٌ", "مدرسه"),       // diacritics, teh marbuta
            ("بـــوتين", "بوتين"),    // tatweel
            ("مسؤول", "مسوول"),
            ("٣ شباط", "3 شباط"),
        ];
        for (a, b) in pairs {
            assert_eq!(normalize_for_matching(a), normalize_for_matching(b), "{a} vs {b}");
        }
    }

    #[test]
    fn punctuation_separates_and_latin_is_lowercased() {
        assert_eq!(normalize_for_matching("“Hello,”  WORLD—again…"), "hello world again");
        assert_eq!(normalize_for_matching("Café"), "café");
    }

    #[test]
    fn borrowed_form_equals_the_normalised_one() {
        for s in [
            "بوتين",
            "trump",
            "ترامب بوتين",
            "بوتين ",
            "Trump",
            "الخارجية",
            "أميركا",
            "شيء",
            "a  b",
            "",
            "ـ",
            "٣",
        ] {
            assert_eq!(normalize_borrowed(s), normalize_for_matching(s), "{s:?}");
        }
        assert!(matches!(normalize_borrowed("ترامب"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn word_by_word_equals_whole_text() {
        let samples = [
            "أول اتصال بين وزيري خارجية أميركا وروسيا، ٢٠٢٥!\n\nقال (الخارجیة) \u{200B}إن…",
            "“Hello,”  WORLD—again… U.S. e-mail\u{00A0}Café x\u{0301} ﻻ ﷲ ½ ﬁne",
            " \t leading and trailing \n ",
            "",
            "ـــ ، .",
        ];
        for s in samples {
            let w = NormalizedWords::of(s);
            assert_eq!(w.text, normalize_for_matching(s), "{s:?}");
            assert_eq!(w.pieces.iter().map(|p| p.2 as usize).sum::<usize>(), s.split_whitespace().count());
        }
    }

    #[test]
    fn characters_taken_as_nfkc_stable_are_left_alone_in_any_pair() {
        let stable: Vec<char> =
            (0u32..0x0700).filter_map(char::from_u32).filter(|c| nfkc_stable(*c)).collect();
        assert_eq!(stable.len(), 128 + 26 + 10 + 3, "ASCII, the Arabic letters and three marks");
        for &a in &stable {
            for &b in &stable {
                let pair: String = [a, b].into_iter().collect();
                assert_eq!(pair.nfkc().collect::<String>(), pair, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn idempotent_on_samples() {
        // The last: a capital whose lower case composes with the mark after it (found by fuzzing).
        for s in ["أول اتصال بين وزيري خارجية أميركا وروسيا", "Ünïcödé — text 12", "ﻻ ﷲ", "Ή\u{345}x"]
        {
            let once = normalize_for_matching(s);
            assert_eq!(normalize_for_matching(&once), once);
        }
    }
}
