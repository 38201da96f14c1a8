//! `newswire-processor`: turns raw items into articles (clean, dedup, enrich) and publishes
//! them on `news.articles.<lang>.<category>`. Usage: `newswire-processor [--config FILE]`.

use anyhow::Context;
use newswire_app::{Settings, config_path_from_args, run_processor, serve};
use newswire_telemetry::init_logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let settings = Settings::load(config_path_from_args(&args).as_deref())?;
    init_logging(&settings.log)?;
    let settings = &settings;
    serve(&settings.processor.admin_listen, |registry, health, shutdown| async move {
        run_processor(settings, &registry, health, shutdown).await
    })
    .await
    .context("processor failed")
}
