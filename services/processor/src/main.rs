//! `newswire-processor`: turns raw items into articles (clean, dedup, enrich) and publishes
//! them on `news.articles.<lang>.<category>`. Usage: `newswire-processor [--config FILE]`.

use anyhow::Context;
use newswire_app::{Settings, config_path_from_args, run_processor, shutdown_on_signals};
use newswire_telemetry::{Health, Registry, init_logging, serve_admin};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let settings = Settings::load(config_path_from_args(&args).as_deref())?;
    init_logging(&settings.log)?;
    let shutdown = shutdown_on_signals();
    let registry = Registry::new();
    let health = Health::new();
    let admin =
        serve_admin(&settings.processor.admin_listen, registry.clone(), health.clone(), shutdown.clone())
            .await?;
    tracing::info!(message = "Admin endpoints up.", addr = %admin.addr);
    let result = run_processor(&settings, &registry, health, shutdown.clone()).await;
    shutdown.cancel();
    let _ = admin.task.await;
    result.context("processor failed")
}
