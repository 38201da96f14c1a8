//! The hostile corpus: inputs built to exhaust the fetcher and the parsers (entity expansion,
//! external entities, gzip bombs, endless and trickling bodies, redirect loops, deep nesting,
//! a 10 MB line, invalid UTF-8, NUL bytes), each run under a bound on time and on heap; and
//! every input the fuzzers kept (`fuzz/regressions`, `fuzz/seeds`) replayed through the fuzz
//! targets' own code (`fuzz/src/targets.rs`, included as source).
//!
//! A binary of its own: its global allocator records the peak heap, and its tests take turns
//! so that each peak belongs to one case.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[path = "../../fuzz/src/targets.rs"]
mod targets;

mod bounds;
mod feeds;
mod network;
mod regressions;
