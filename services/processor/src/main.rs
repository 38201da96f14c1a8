//! `newswire-processor`: turns raw items into articles (clean, dedup, enrich) and publishes
//! them on `news.articles.<lang>.<category>`. Usage: `newswire-processor [--config FILE]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use newswire_app::{Settings, run_processor, serve};
use newswire_telemetry::init_logging;

/// mimalloc: glibc's malloc and free were a fifth of the processor's CPU, and the stages all
/// allocate per item (BENCHMARKS.md, "Backlog floor restored").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The newswire processor: cleans, deduplicates and enriches raw items and publishes them as
/// articles. Replicas elect one active processor; the others wait as standbys.
#[derive(Debug, Parser)]
#[command(name = "newswire-processor", version)]
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
    serve(&settings.processor.admin_listen, |registry, health, shutdown| async move {
        run_processor(settings, &registry, health, shutdown).await
    })
    .await
    .context("processor failed")
}
