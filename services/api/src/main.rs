//! `newswire-api`: the query API over the store the sink writes, and the live stream from
//! JetStream. Usage: `newswire-api [--config FILE]` (or `$NEWSWIRE_CONFIG`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use newswire_app::{Settings, run_api, shutdown_on_signals};
use newswire_telemetry::{Health, Registry, init_logging, serve_admin};

/// mimalloc: glibc's malloc and free were a fifth of the processor's CPU, and the stages all
/// allocate per item (BENCHMARKS.md, "Backlog floor restored").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The newswire query API: articles, stories, search, sources and the live stream (SSE).
#[derive(Debug, Parser)]
#[command(name = "newswire-api", version)]
struct Args {
    /// Configuration file (TOML); `NEWSWIRE_<SECTION>__<KEY>` variables override it.
    #[arg(long, env = "NEWSWIRE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Usage errors exit 2 and --help/--version exit 0, as clap does.
    let args = Args::parse();
    let settings = Settings::load(args.config.as_deref())?;
    init_logging(&settings.log)?;
    let shutdown = shutdown_on_signals();
    let registry = Registry::new();
    let health = Health::new();
    let admin = serve_admin(&settings.api.admin_listen, registry.clone(), health.clone(), shutdown.clone())
        .await
        .context("admin server failed to start")?;
    tracing::info!(message = "Admin endpoints up.", addr = %admin.addr);
    let result = run_api(&settings, &registry, health, shutdown.clone()).await;
    shutdown.cancel();
    let _ = admin.task.await;
    result.context("api failed")
}
