//! `newswire-fetcher`: polls the configured feeds and publishes raw items on
//! `news.raw.<source>`. Usage: `newswire-fetcher [--config FILE] [--once]`.

use anyhow::Context;
use newswire_app::{Settings, config_path_from_args, run_fetcher, serve};
use newswire_telemetry::init_logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let settings = Settings::load(config_path_from_args(&args).as_deref())?;
    init_logging(&settings.log)?;
    let once = args.iter().any(|a| a == "--once");
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
