//! Property checks on arbitrary input: no function panics, normalisation is idempotent.
//! A small deterministic generator stands in for proptest (one dependency fewer).

use crate::{extract_article, html_to_text, normalize_for_matching, strip_boilerplate};

/// Pieces that exercise the parsers' edge cases: markup, entities, brackets, markers, Arabic
/// with diacritics, combining marks, BOM, control characters and multi-byte boundaries.
const PIECES: &[&str] = &[
    "<",
    ">",
    "</",
    "<p>",
    "</p>",
    "<div>",
    "<br>",
    "<script>",
    "</script>",
    "&",
    "&amp;",
    "&#1604;",
    "&#x;",
    "&nbsp",
    "(",
    ")",
    "(SeaPRwire) –",
    ":",
    "المصدر:",
    "إقرأ أيضاً:",
    "تعليق (0)",
    "[إعلان 2]",
    "اخر الاخبار",
    "(صورة: x) |",
    "مُحَمَّد",
    "ی",
    "ـــ",
    "\u{0301}",
    "\u{feff}",
    "\u{200c}",
    "\u{0000}",
    "\u{0007}",
    "\n",
    "\n\n",
    " ",
    "\t",
    "a",
    "Z",
    "٣",
    "😀",
    "e\u{0301}",
    "ﻻ",
    "<!DOCTYPE html>",
    "<html>",
    "<article>",
    "<meta charset=x>",
    "\"",
    "'",
    "|",
    "–",
];

/// xorshift64*: deterministic, seedable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn text(&mut self) -> String {
        let n = (self.next() % 60) as usize;
        (0..n).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
    }
}

#[test]
fn arbitrary_input_never_panics_and_normalisation_is_idempotent() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let s = rng.text();
        let text = html_to_text(&s);
        let paras: Vec<String> = text.split("\n\n").map(str::to_owned).collect();
        let _ = strip_boilerplate(&rng.text(), &paras);
        let _ = extract_article(&s);
        let _ = crate::clean_title(&s);
        let once = normalize_for_matching(&s);
        assert_eq!(normalize_for_matching(&once), once, "not idempotent on {s:?}");
        assert!(!once.contains("  ") && !once.starts_with(' ') && !once.ends_with(' '), "{once:?}");
    }
}
