use unicode_normalization::UnicodeNormalization;

/// Folds one character to its matching form, or drops it (`None`).
fn fold(c: char) -> Option<char> {
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
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    // Most news text is already NFKC: skip the decomposition machinery then (the quick check
    // is exact when it says yes).
    let chars: Box<dyn Iterator<Item = char>> =
        if unicode_normalization::is_nfkc_quick(input.chars()) == unicode_normalization::IsNormalized::Yes {
            Box::new(input.chars())
        } else {
            Box::new(input.nfkc())
        };
    let lower = |c: char| {
        let one = if c.is_ascii() {
            Some(c.to_ascii_lowercase())
        } else if matches!(c, '\u{0600}'..='\u{06FF}') {
            Some(c) // Arabic has no case.
        } else {
            None
        };
        one.into_iter().chain(one.is_none().then(|| c.to_lowercase()).into_iter().flatten())
    };
    for c in chars.flat_map(lower) {
        let Some(c) = fold(c) else { continue };
        if is_alphanumeric(c) {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else if !is_mark(c) {
            // Combining marks of other scripts are kept only through NFKC composition;
            // anything else non-alphanumeric separates words.
            pending_space = true;
        }
    }
    out
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

fn is_alphanumeric(c: char) -> bool {
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
    fn idempotent_on_samples() {
        for s in ["أول اتصال بين وزيري خارجية أميركا وروسيا", "Ünïcödé — text 12", "ﻻ ﷲ"]
        {
            let once = normalize_for_matching(s);
            assert_eq!(normalize_for_matching(&once), once);
        }
    }
}
