//! Fuzz targets for newswire, run by `scripts/fuzz` under cargo-afl (AFL++, coverage-guided, on
//! stable Rust). Outside the workspace on purpose: its instrumented build and its dependency on
//! `afl` never touch the main build. The target bodies live in `targets.rs`, which the main
//! workspace's `hostile` test includes as source, so every input kept under `regressions/` is
//! run through the same code by `cargo test`.

mod targets;

pub use targets::{TARGETS, config, feed, html, text};
