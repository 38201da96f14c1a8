//! `newswire demo`: the pipeline end to end on the bundled sample feeds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use newswire_app::{Settings, run_fetcher, run_processor, run_sink};
use newswire_bus::{Bus, ConsumerRole, LocalNatsServer};
use newswire_store::{ArticleStore, Store};
use newswire_telemetry::{Health, Registry, init_logging};
use tokio_util::sync::CancellationToken;

/// Options of `newswire demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Use this NATS server instead of starting a private one.
    #[arg(long)]
    nats_url: Option<String>,
    /// Keep the SQLite file from an earlier run (a second run then stores nothing new).
    #[arg(long)]
    keep: bool,
}

/// The demo's own configuration file and store: whatever `--config`, `NEWSWIRE_CONFIG` or
/// `NEWSWIRE_SINK__*` say, the demo never writes into (or deletes) a configured store.
const DEMO_CONFIG: &str = "config/demo.toml";
const DEMO_STORE: &str = ".newswire/demo.db";

pub async fn run(config: Option<PathBuf>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(c) = config.filter(|c| c.as_path() != std::path::Path::new(DEMO_CONFIG)) {
        eprintln!(
            "newswire demo: not using {}: the demo runs on {DEMO_CONFIG}, its own store ({DEMO_STORE}) and its own nats-server",
            c.display()
        );
    }
    let mut settings = Settings::load(Some(std::path::Path::new(DEMO_CONFIG)))?;
    settings.sink.database_url = None;
    settings.sink.sqlite_path = PathBuf::from(DEMO_STORE);
    init_logging(&settings.log)?;
    let started = Instant::now();

    // A private nats-server with its store under .newswire/, unless one is given.
    let _server = match args.nats_url {
        Some(url) => {
            settings.nats.url = url;
            None
        }
        None => {
            let dir = PathBuf::from(".newswire/nats");
            let _ = std::fs::remove_dir_all(&dir);
            let server = LocalNatsServer::start(&dir)?;
            println!("Started nats-server with JetStream at {} (store {})", server.url(), dir.display());
            settings.nats.url = server.url();
            Some(server)
        }
    };
    if !args.keep && settings.sink.database_url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = settings.sink.sqlite_path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }

    let registry = Registry::new();
    let shutdown = CancellationToken::new();
    let processor = {
        let (s, r, t) = (settings.clone(), registry.clone(), shutdown.clone());
        tokio::spawn(async move { run_processor(&s, &r, Health::new(), t).await })
    };
    let sink = {
        let (s, r, t) = (settings.clone(), registry.clone(), shutdown.clone());
        tokio::spawn(async move { run_sink(&s, &r, Health::new(), t).await })
    };

    println!("\nFetching the feeds of {} once:", settings.fetcher.feeds_file.display());
    let polls = run_fetcher(&settings, &registry, Health::new(), true, shutdown.clone()).await?;
    let mut failed_feeds = 0;
    for (feed, result) in &polls {
        match result {
            // "Already on the bus": skipped by the fetcher's memory (`seen`, e.g. with
            // `--nats-url` on a second run) or dropped by JetStream (`duplicates`).
            Ok(s) => println!(
                "  {feed:<12} {} entries: {} raw items published, {} already on the bus",
                s.entries,
                s.published,
                s.seen + s.duplicates
            ),
            Err(e) => {
                failed_feeds += 1;
                println!("  {feed:<12} FAILED: {e}");
            }
        }
    }

    let bus = Bus::connect(&settings.nats, "newswire-demo", newswire_bus::ClientRole::All).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = bus.pending(ConsumerRole::Processor).await? + bus.pending(ConsumerRole::Sink).await?;
        if pending == 0 && Instant::now() > started + Duration::from_millis(300) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pipeline did not drain within 60 s ({pending} messages pending)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    processor.await.context("processor task")??;
    sink.await.context("sink task")??;

    let store = Store::open(&settings.sink).await?;
    let stored = store.recent(100).await?;
    let where_ = match &settings.sink.database_url {
        Some(_) => "PostgreSQL".to_owned(),
        None => settings.sink.sqlite_path.display().to_string(),
    };
    println!("\nStored articles ({} in {where_}; articles of one story share its id):", store.count().await?);
    for a in &stored {
        let date =
            a.published_at.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "----------".into());
        let title: String = a.title.chars().take(70).collect();
        let story: String = a.story_id.as_deref().unwrap_or("-").chars().take(8).collect();
        println!("  {}  {}  {}  story {story}  {}", a.id, a.language, date, title);
    }
    println!("\nCounters (also on each service's /metrics):");
    for family in registry.gather() {
        let name = family.name();
        if !name.ends_with("_total") {
            continue;
        }
        for m in family.get_metric() {
            let labels: Vec<String> =
                m.get_label().iter().map(|l| format!("{}={}", l.name(), l.value())).collect();
            let v = m.get_counter().get_value();
            if v > 0.0 {
                let labels =
                    if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
                println!("  {name}{labels} {v}");
            }
        }
    }
    println!(
        "\nDone in {:.1}s. Run `sqlite3 {where_} 'select id, title from articles'` to look inside.",
        started.elapsed().as_secs_f64()
    );
    Ok(if failed_feeds == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
