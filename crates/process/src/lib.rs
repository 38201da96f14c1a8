//! The processor stage: a [`RawItem`] becomes an [`Article`] (clean → dedup → enrich).
//!
//! Parts:
//! - [`ProcessorSettings`]: the `[processor]` section.
//! - [`Processor`]: the pure, synchronous core. `process` decides; `record` remembers an
//!   article once it has been handed on. Used unchanged by the service and by
//!   `newswire process`.
//! - [`inputs`]: raw items from whole HTML pages and plain-text files (for the offline
//!   commands).
//! - [`service`]: the async shell: consume raw items, publish articles, ack, dead-letter.
//!
//! [`RawItem`]: newswire_model::RawItem
//! [`Article`]: newswire_model::Article

mod core;
pub mod inputs;
pub mod service;
mod settings;

pub use core::{DropReason, Outcome, Processed, Processor};
pub use settings::ProcessorSettings;
