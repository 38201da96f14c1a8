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
    if letters >= MIN_LETTERS && is_plainly_english(text) {
        return Lang::parse("en").unwrap_or_else(|_| Lang::und());
    }
    let info = if letters >= MIN_LETTERS { whatlang::detect(text) } else { None };
    let detected = info.as_ref().and_then(|i| Lang::parse(iso639_1(i.lang().code())).ok());
    match (info, detected, hint) {
        (Some(i), Some(d), _) if i.is_reliable() => d,
        (_, _, Some(h)) => h.clone(),
        (Some(i), Some(d), None) if i.confidence() >= 0.5 => d,
        _ => Lang::und(),
    }
}

/// Words that mark running English text and are not common words of another Latin-script
/// language (so not "of", "is", "was", "for", "have" or "her", which Dutch, German or
/// Danish use too).
const ENGLISH_MARKERS: &[&str] = &[
    "the", "and", "that", "with", "which", "from", "been", "their", "they", "would", "this", "said", "were",
    "are", "has", "will", "its", "his", "she", "not", "but",
];

/// A fast path for the most common Latin-script language: whatlang compares every text with
/// the trigram profiles of some forty Latin-script languages, a fixed cost that made it the
/// largest single step of an English article's analysis. A text of ASCII words of which at
/// least one in twelve is an English marker (English news runs at about one in six; other
/// languages at about none) is English.
fn is_plainly_english(sample: &str) -> bool {
    let (mut words, mut ascii, mut markers) = (0usize, 0usize, 0usize);
    for w in sample.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        if w.is_empty() {
            continue;
        }
        words += 1;
        if w.bytes().all(|b| b.is_ascii_alphabetic() || b == b'\'') {
            ascii += 1;
            if w.len() <= 6 && ENGLISH_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(w)) {
                markers += 1;
            }
        }
    }
    words >= 20 && ascii * 10 >= words * 9 && markers * 12 >= words
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
    fn english_fast_path_takes_english_and_nothing_else() {
        let english = "The minister said on Tuesday that the talks, which began in Riyadh, would resume next week and that both delegations were ready to continue with their work on the agreement.";
        assert!(is_plainly_english(english));
        assert_eq!(detect_language(english, Some(&lang("fr"))), lang("en"));
        let others = [
            (
                "de",
                "Der Minister sagte am Dienstag, dass die Gespräche, die in Riad begonnen haben, nächste Woche fortgesetzt werden und dass beide Delegationen bereit sind, ihre Arbeit an dem Abkommen fortzusetzen.",
            ),
            (
                "nl",
                "De minister zei dinsdag dat de gesprekken, die in Riyad zijn begonnen, volgende week worden hervat en dat beide delegaties klaar zijn om hun werk aan het akkoord voort te zetten. Het is een belangrijke stap.",
            ),
            (
                "fr",
                "Le ministre a déclaré mardi que les discussions, qui ont commencé à Riyad, reprendront la semaine prochaine et que les deux délégations sont prêtes à poursuivre leur travail sur l'accord.",
            ),
            (
                "es",
                "El ministro dijo el martes que las conversaciones, que comenzaron en Riad, se reanudarán la próxima semana y que ambas delegaciones están listas para continuar su trabajo sobre el acuerdo.",
            ),
        ];
        for (code, text) in others {
            assert!(!is_plainly_english(text), "{code}");
            assert_eq!(detect_language(text, None), lang(code), "{code}");
        }
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
