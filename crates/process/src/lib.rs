//! The processor stage: a [`RawItem`] becomes an [`Article`] (clean → dedup → enrich).
//!
//! Parts:
//! - [`ProcessorSettings`]: the `[processor]` section.
//! - [`analyze`]: the pure, per-item part (cleaning, fingerprints, language, entities,
//!   features), run in parallel.
//! - [`Processor`]: the memory and the decisions (exact and near dedup, story), taken one item
//!   at a time in input order: `decide`, `forget` (a failed publish), `remember` (replay at
//!   start-up). Used unchanged by the service and by `newswire process`.
//! - [`inputs`]: raw items from whole HTML pages and plain-text files (for the offline
//!   commands).
//! - [`replay`]: a range of the raw stream processed again (`newswire replay`).
//! - [`service`]: the async shell: consume raw items, publish articles, ack, dead-letter.
//!
//! [`RawItem`]: newswire_model::RawItem
//! [`Article`]: newswire_model::Article

mod core;
pub mod inputs;
mod lease;
pub mod replay;
pub mod service;
mod settings;

pub use core::{Analysis, DropReason, Outcome, Processor, Recalled, analyze, analyze_batch, recall};
pub use lease::Lease;
pub use settings::ProcessorSettings;
