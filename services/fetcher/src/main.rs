//! `newswire-fetcher`: polls the configured feeds and publishes raw items on
//! `news.raw.<source>`. Usage: `newswire-fetcher [--config FILE] [--once]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use newswire_app::{Settings, run_fetcher, serve};
use newswire_telemetry::init_logging;

/// mimalloc: glibc's malloc and free were a fifth of the processor's CPU, and the stages all
/// allocate per item (BENCHMARKS.md, "Backlog floor restored").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The newswire fetcher: polls the feeds (the registry, seeded from the feeds file) and
/// publishes new and changed entries as raw items on NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "newswire-fetcher", version)]
struct Args {
    /// Configuration file (TOML); `NEWSWIRE_<SECTION>__<KEY>` variables override it.
    #[arg(long, env = "NEWSWIRE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Poll every feed once, then exit (instead of polling forever).
    #[arg(long)]
    once: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Usage errors exit 2 and --help/--version exit 0, before anything connects.
    let args = Args::parse();
    let settings = Settings::load(args.config.as_deref())?;
    init_logging(&settings.log)?;
    let once = args.once;
    let settings = &settings;
    serve(&settings.fetcher.admin_listen, |registry, health, shutdown| async move {
        let results = run_fetcher(settings, &registry, health, once, shutdown).await?;
        for (feed, r) in &results {
            match r {
                Ok(s) => tracing::info!(message = "Feed polled.", %feed, entries = s.entries, published = s.published, duplicates = s.duplicates),
                Err(error) => tracing::warn!(message = "Feed failed.", %feed, %error),
            }
        }
        Ok(())
    })
    .await
    .context("fetcher failed")
}
