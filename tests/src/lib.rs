//! End-to-end tests of newswire live in `e2e/`; this crate has no library code.
