//! End-to-end tests: real nats-server, real HTTP feed server, real SQLite and PostgreSQL.
//! Set `TEST_LOG=1` to see the services' logs.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod binaries;
mod cli;
mod crash_guard;
mod dlq;
mod examples;
mod faults;
mod feed_registry;
mod fetch_errors;
mod fetch_memory;
mod helpers;
mod nats_permissions;
mod operator;
mod pipeline;
mod reliability;
mod replay;
mod replicas;
mod services;
mod sink_faults;
mod story_events;
mod teasers;
mod tidy;
