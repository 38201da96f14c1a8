//! Language detection.

use newswire_model::Lang;

/// Below this many letters detection is a guess; the hint is preferred.
const MIN_LETTERS: usize = 20;
/// Characters of a text that detection reads.
const SAMPLE_CHARS: usize = 500;

/// Detects the language of `text`. A reliable detection wins over `hint` (feeds often declare
/// one language for everything they carry); otherwise `hint`; otherwise a confident-enough
/// detection; otherwise `und`.
///
/// ```
/// use newswire_model::Lang;
/// let l = newswire_enrich::detect_language("تلقى وزير الخارجية الروسي اتصالا هاتفيا من نظيره الأميركي", None);
/// assert_eq!(l.as_str(), "ar");
/// ```
pub fn detect_language(text: &str, hint: Option<&Lang>) -> Lang {
    // The first 500 characters (some 80 words) say which language an article is in as well
    // as all of it does, at a fraction of the cost on long texts.
    let text = text.char_indices().nth(SAMPLE_CHARS).map_or(text, |(i, _)| &text[..i]);
    // Arabic and ASCII letters answered without the Unicode tables.
    let letters = text
        .chars()
        .filter(|c| {
            c.is_ascii_alphabetic()
                || matches!(c, '\u{0621}'..='\u{064A}')
                || (!c.is_ascii() && c.is_alphabetic())
        })
        .count();
    let info = if letters >= MIN_LETTERS { whatlang::detect(text) } else { None };
    let detected = info.as_ref().and_then(|i| Lang::parse(iso639_1(i.lang().code())).ok());
    match (info, detected, hint) {
        (Some(i), Some(d), _) if i.is_reliable() => d,
        (_, _, Some(h)) => h.clone(),
        (Some(i), Some(d), None) if i.confidence() >= 0.5 => d,
        _ => Lang::und(),
    }
}

/// ISO 639-1 for the ISO 639-3 codes whatlang knows; the 639-3 code itself where there is no
/// two-letter one. Mandarin maps to `zh` and Iranian Persian to `fa`, as news sites label them.
fn iso639_1(code3: &str) -> &str {
    match code3 {
        "afr" => "af",
        "aka" => "ak",
        "amh" => "am",
        "ara" => "ar",
        "aze" => "az",
        "bel" => "be",
        "ben" => "bn",
        "bul" => "bg",
        "cat" => "ca",
        "ces" => "cs",
        "cmn" => "zh",
        "cym" => "cy",
        "dan" => "da",
        "deu" => "de",
        "ell" => "el",
        "eng" => "en",
        "epo" => "eo",
        "est" => "et",
        "fin" => "fi",
        "fra" => "fr",
        "guj" => "gu",
        "heb" => "he",
        "hin" => "hi",
        "hrv" => "hr",
        "hun" => "hu",
        "hye" => "hy",
        "ind" => "id",
        "ita" => "it",
        "jav" => "jv",
        "jpn" => "ja",
        "kan" => "kn",
        "kat" => "ka",
        "khm" => "km",
        "kor" => "ko",
        "lat" => "la",
        "lav" => "lv",
        "lit" => "lt",
        "mal" => "ml",
        "mar" => "mr",
        "mkd" => "mk",
        "mya" => "my",
        "nep" => "ne",
        "nld" => "nl",
        "nob" => "nb",
        "ori" => "or",
        "pan" => "pa",
        "pes" => "fa",
        "pol" => "pl",
        "por" => "pt",
        "ron" => "ro",
        "rus" => "ru",
        "sin" => "si",
        "slk" => "sk",
        "slv" => "sl",
        "sna" => "sn",
        "spa" => "es",
        "srp" => "sr",
        "swe" => "sv",
        "tam" => "ta",
        "tel" => "te",
        "tgl" => "tl",
        "tha" => "th",
        "tuk" => "tk",
        "tur" => "tr",
        "ukr" => "uk",
        "urd" => "ur",
        "uzb" => "uz",
        "vie" => "vi",
        "yid" => "yi",
        "zul" => "zu",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(s: &str) -> Lang {
        Lang::parse(s).unwrap()
    }

    #[test]
    fn detection_beats_a_wrong_hint_when_reliable() {
        let text = "The foreign ministers agreed to restore dialogue between the two countries and to prepare a meeting of the presidents.";
        assert_eq!(detect_language(text, Some(&lang("ar"))), lang("en"));
    }

    #[test]
    fn short_text_uses_the_hint_or_und() {
        assert_eq!(detect_language("OK", Some(&lang("ar"))), lang("ar"));
        assert_eq!(detect_language("OK", None), Lang::und());
        assert_eq!(detect_language("", None), Lang::und());
    }

    #[test]
    fn every_whatlang_code_maps_to_a_valid_lang() {
        for l in whatlang::Lang::all() {
            assert!(Lang::parse(iso639_1(l.code())).is_ok(), "{}", l.code());
        }
    }
}
