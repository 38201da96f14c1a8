//! `newswire-sink`: stores articles (SQLite by default, PostgreSQL when
//! `sink.database_url` is set), acking each only after its commit.
//! Usage: `newswire-sink [--config FILE]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use newswire_app::{Settings, run_sink, serve};
use newswire_telemetry::init_logging;

/// mimalloc: glibc's malloc and free were a fifth of the processor's CPU, and the stages all
/// allocate per item (BENCHMARKS.md, "Backlog floor restored").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The newswire sink: stores articles in SQLite or PostgreSQL (acking each after its commit)
/// and publishes story events.
#[derive(Debug, Parser)]
#[command(name = "newswire-sink", version)]
struct Args {
    /// Configuration file (TOML); `NEWSWIRE_<SECTION>__<KEY>` variables override it.
    #[arg(long, env = "NEWSWIRE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Usage errors exit 2 and --help/--version exit 0, before anything connects.
    let args = Args::parse();
    let settings = Settings::load(args.config.as_deref())?;
    init_logging(&settings.log)?;
    let settings = &settings;
    serve(&settings.sink.admin_listen, |registry, health, shutdown| async move {
        run_sink(settings, &registry, health, shutdown).await
    })
    .await
    .context("sink failed")
}
