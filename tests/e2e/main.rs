//! End-to-end tests: real nats-server, real HTTP feed server, real SQLite and PostgreSQL.
//! Set `TEST_LOG=1` to see the services' logs.

#![allow(missing_docs, reason = "test code")]

mod fetch_errors;
mod helpers;
mod pipeline;
mod reliability;
