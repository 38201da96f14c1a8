//! Enrichment: what the processor adds to an article's text. Pure and synchronous; the only
//! data is the gazetteer compiled into the binary.
//!
//! Parts:
//! - [`detect_language`]: whatlang, falling back to the feed's hint when unsure.
//! - [`Gazetteer`] / [`find_entities`]: people, places and organisations from
//!   `data/gazetteer.tsv`, matched on normalised text with Arabic clitics stripped, so that
//!   بوتين and بوتن, ترامب and ترمب, وروسيا and روسيا are each one entity.
//! - [`Terms`], [`KeywordCandidates`], [`summary`]: the weighted terms of a text (Arabic and
//!   English stop words removed, clitics stripped), its keywords and a lead-based summary.
//! - [`StoryIndex`]: story clustering: an article joins the recent story whose centroid is most
//!   similar (TF-IDF cosine over terms and entities) within a time window, else starts one.

mod entities;
mod lang;
pub mod story;
mod terms;

pub use entities::{Gazetteer, find_entities};
pub use lang::detect_language;
pub use story::{StoryIndex, StorySettings};
pub use terms::{KeywordCandidates, Terms, spellings, stem, summary};
