//! `newswire-sink`: stores articles (SQLite by default, PostgreSQL when
//! `sink.database_url` is set), acking each only after its commit.
//! Usage: `newswire-sink [--config FILE]`.

use anyhow::Context;
use newswire_app::{Settings, config_path_from_args, run_sink, serve};
use newswire_telemetry::init_logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let settings = Settings::load(config_path_from_args(&args).as_deref())?;
    init_logging(&settings.log)?;
    let settings = &settings;
    serve(&settings.sink.admin_listen, |registry, health, shutdown| async move {
        run_sink(settings, &registry, health, shutdown).await
    })
    .await
    .context("sink failed")
}
