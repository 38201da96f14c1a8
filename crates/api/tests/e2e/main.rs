//! End-to-end tests of the query API: real HTTP on 127.0.0.1, real SQLite and PostgreSQL
//! stores, a real nats-server. One test binary (link time).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

mod common;
mod feeds;
mod openapi;
mod rest;
mod stream;
