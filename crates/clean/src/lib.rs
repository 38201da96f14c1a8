//! Cleaning: HTML to plain text and text normalisation. Pure functions: no IO, no clock, no
//! global state, so everything here is cheap to test, fuzz and benchmark.
//!
//! Parts:
//! - [`html_to_text`]: an HTML fragment or page (or plain text) to paragraphs separated by a
//!   blank line; scripts, styles, forms and navigation are dropped, entities decoded,
//!   whitespace collapsed.
//! - [`clean_title`]: a title as feeds give it (entities, stray tags) to one clean line.
//! - [`normalize_for_matching`]: the form used to compare texts (dedup, clustering, entity
//!   matching): Unicode NFKC, lower case, Arabic orthography unified (diacritics and tatweel
//!   removed, alef/yeh/teh marbuta/hamza variants and Persian letters folded), digits to ASCII,
//!   punctuation removed.
//! - [`extract_article`]: a whole HTML page to its main article (title, text, date, canonical
//!   URL): chrome pruned by tag, class/id names, link density and labels, the marked article
//!   body or the readability choice, JSON-LD as a fallback; iterative, whatever the nesting.
//! - [`strip_boilerplate`]: what outlets wrap around an article (source and tag lines, "read
//!   also" teasers, comment forms, rights notices, ad markers, captions, wire prefixes).

mod boilerplate;
mod extract;
mod html;
mod normalize;

#[cfg(test)]
mod props;

pub use boilerplate::{Cleaned, strip_boilerplate};
pub use extract::{Extracted, MAX_PAGE_BYTES, extract_article};
pub use html::{clean_title, html_to_text};
pub use normalize::{
    NormalizedWords, fold_letters, is_alphanumeric, normalize_borrowed, normalize_for_matching, tokens,
};
