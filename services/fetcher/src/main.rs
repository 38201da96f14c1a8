//! `newswire-fetcher`: polls the configured feeds and publishes raw items on
//! `news.raw.<source>`. Usage: `newswire-fetcher [--config FILE] [--once]`.

use anyhow::Context;
use newswire_app::{Settings, config_path_from_args, run_fetcher, shutdown_on_signals};
use newswire_telemetry::{Health, Registry, init_logging, serve_admin};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let settings = Settings::load(config_path_from_args(&args).as_deref())?;
    init_logging(&settings.log)?;
    let once = args.iter().any(|a| a == "--once");
    let shutdown = shutdown_on_signals();
    let registry = Registry::new();
    let health = Health::new();
    let admin =
        serve_admin(&settings.fetcher.admin_listen, registry.clone(), health.clone(), shutdown.clone())
            .await?;
    tracing::info!(message = "Admin endpoints up.", addr = %admin.addr);
    let results =
        run_fetcher(&settings, &registry, health, once, shutdown.clone()).await.context("fetcher failed")?;
    for (feed, r) in &results {
        match r {
            Ok(s) => {
                tracing::info!(message = "Feed polled.", %feed, entries = s.entries, published = s.published, duplicates = s.duplicates)
            }
            Err(error) => tracing::warn!(message = "Feed failed.", %feed, %error),
        }
    }
    shutdown.cancel();
    let _ = admin.task.await;
    Ok(())
}
