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

mod html;
mod normalize;

pub use html::{clean_title, html_to_text};
pub use normalize::{normalize_for_matching, tokens};
