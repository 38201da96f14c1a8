//! `newswire`: the command-line tool.
//!
//! - `newswire demo`: the whole pipeline on the bundled sample feeds, with its own
//!   `nats-server` and the SQLite store; prints what was published and stored.
//! - `newswire run`: fetcher, processor and sink in one process (one admin port).
//! - `newswire tail [SUBJECT]`: print the messages published on a subject.
//! - `newswire import OPML|LIST [--into FEEDS]`: feeds from a reader's export to the feeds file.
//! - `newswire feeds add|rm|pause|resume|ls|export-opml|import`: the feed registry that running
//!   fetchers follow (see `feeds.rs`).
//! - `newswire schema raw-item|article|story-event`: print the JSON Schema of a message.
//! - `newswire replay --since TIME|--from-seq N`: re-process raw items (see `replay.rs`).
//! - `newswire dlq list|show|requeue|purge`: the dead letters (see `dlq.rs`).
//! - `newswire inspect feed`, `newswire extract`, `newswire process`: what newswire makes of a
//!   feed, a page or a corpus, without NATS or a database (see `offline.rs`).
//! - `newswire health URL`: exit 0 if a service's `/readyz` answers 2xx, else 1: the container
//!   health check (see `health.rs`).

mod demo;
mod dlq;
mod feeds;
mod health;
mod offline;
mod replay;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use newswire_app::{AppError, Settings, run_api, run_fetcher, run_processor, run_sink, serve};
use newswire_telemetry::init_logging;

/// mimalloc: glibc's malloc and free were a fifth of the processor's CPU, and the stages all
/// allocate per item (BENCHMARKS.md, "Backlog floor restored").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "newswire",
    version,
    about = "Streaming news-feed pipeline: fetch, clean, dedup, enrich, publish, store."
)]
struct Cli {
    /// Configuration file (TOML); NEWSWIRE_* environment variables override it.
    #[arg(long, global = true, env = "NEWSWIRE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline once on the bundled sample feeds and print the result.
    Demo(demo::DemoArgs),
    /// Run fetcher, processor, sink and the query API in this process until Ctrl-C.
    Run {
        /// Address of /metrics, /healthz and /readyz for all of them.
        #[arg(long, default_value = "127.0.0.1:9100")]
        admin_listen: String,
        /// Leave the query API out (it listens on `api.listen`, 127.0.0.1:8080 by default).
        #[arg(long)]
        no_api: bool,
    },
    /// Print every message published on SUBJECT (default: all articles), one per line.
    Tail {
        /// A NATS subject, wildcards allowed (e.g. `news.articles.ar.>`).
        subject: Option<String>,
    },
    /// Inspect an input without running the pipeline.
    Inspect {
        #[command(subcommand)]
        what: InspectCommand,
    },
    /// Extract the main article of one HTML page (a path, an http(s) URL, or - for stdin).
    Extract {
        /// The page.
        input: String,
        /// `plain` (the article text), `json` (the whole Article) or `text` (a readable view).
        #[arg(long, value_enum, default_value = "plain")]
        format: offline::Format,
        #[command(flatten)]
        opts: offline::InputOptions,
    },
    /// Run the processor over feeds, pages (.html) and text files (.txt: title line, then the
    /// body), in the order given, and print one JSON line per article.
    Process {
        /// Files, directories (their files in name order), URLs, or - for stdin.
        #[arg(required = true)]
        inputs: Vec<String>,
        /// `json` (one object per line) or `text` (a readable view).
        #[arg(long, value_enum, default_value = "json")]
        format: offline::Format,
        #[command(flatten)]
        opts: offline::InputOptions,
        #[command(flatten)]
        overrides: offline::ProcessOverrides,
    },
    /// Import feeds from an OPML file (a feed reader's export) or a list of URLs, one per line:
    /// print `[[feed]]` entries for the feeds file, or append the new ones to it with `--into`.
    Import {
        /// The OPML or URL list (a path, or - for stdin).
        input: String,
        /// Append to this feeds file, skipping feeds it already has and ids it already uses.
        #[arg(long)]
        into: Option<PathBuf>,
        /// Language hint for the imported feeds.
        #[arg(long)]
        language: Option<String>,
        /// Category for the imported feeds.
        #[arg(long)]
        category: Option<String>,
    },
    /// Manage the feed registry while fetchers run: add, rm, pause, resume, ls, export-opml,
    /// import.
    Feeds {
        #[command(subcommand)]
        command: feeds::FeedsCommand,
    },
    /// Re-process a range of raw items from NEWS_RAW (e.g. after a threshold change) and
    /// publish the articles again; the sink's upsert stores no second row.
    Replay(replay::ReplayArgs),
    /// List, show, requeue and purge dead-lettered messages.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Ask a service's admin endpoint whether it is ready (`URL/readyz`): exit 0 if it answers
    /// 2xx in time, 1 otherwise. Meant as the container health check.
    Health(health::HealthArgs),
    /// Print the JSON Schema of a message type.
    Schema {
        /// `raw-item`, `article` or `story-event`.
        #[arg(value_parser = ["raw-item", "article", "story-event"])]
        message: String,
    },
}

#[derive(Subcommand)]
enum InspectCommand {
    /// Fetch and parse one feed (a path, an http(s) URL, or - for stdin) and print each entry
    /// as the RawItem the fetcher would publish, in document order.
    Feed {
        /// The feed.
        input: String,
        /// `json` (one RawItem per line) or `text` (a readable view).
        #[arg(long, value_enum, default_value = "json")]
        format: offline::Format,
        #[command(flatten)]
        opts: offline::InputOptions,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("newswire: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(cli.config, args).await,
        Command::Run { admin_listen, no_api } => {
            let settings = Settings::load(cli.config.as_deref())?;
            init_logging(&settings.log)?;
            run_all(settings, &admin_listen, !no_api).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Tail { subject } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let subject = subject.unwrap_or_else(|| format!("{}.articles.>", settings.nats.subject_root));
            let client = newswire_bus::Bus::connect(
                &settings.nats,
                "newswire-tail",
                newswire_bus::ClientRole::ReadOnly,
            )
            .await?;
            let mut sub = client.client().subscribe(subject.clone()).await.context("subscribe")?;
            eprintln!("newswire: tailing {subject} on {} (Ctrl-C to stop)", settings.nats.url);
            while let Some(msg) = sub.next().await {
                println!("{}", String::from_utf8_lossy(&msg.payload));
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Inspect { what: InspectCommand::Feed { input, format, opts } } => {
            let settings = offline_settings(cli.config.as_deref())?;
            Ok(offline::inspect_feed(settings, &opts, &input, format).await)
        }
        Command::Extract { input, format, opts } => {
            let settings = offline_settings(cli.config.as_deref())?;
            Ok(offline::extract(settings, &opts, &input, format).await)
        }
        Command::Process { inputs, format, opts, overrides } => {
            let settings = offline_settings(cli.config.as_deref())?;
            Ok(offline::process(settings, &opts, &overrides, &inputs, format).await)
        }
        Command::Import { input, into, language, category } => {
            let settings = offline_settings(cli.config.as_deref())?;
            import(&settings, &input, into.as_deref(), language.as_deref(), category.as_deref())
        }
        Command::Feeds { command } => {
            let settings = offline_settings(cli.config.as_deref())?;
            feeds::run(&settings, command).await
        }
        Command::Replay(args) => replay::run(offline_settings(cli.config.as_deref())?, args).await,
        Command::Dlq { command } => dlq::run(offline_settings(cli.config.as_deref())?, command).await,
        Command::Health(args) => Ok(health::run(args).await),
        Command::Schema { message } => {
            let schema = match message.as_str() {
                "article" => newswire_model::article_schema(),
                "story-event" => newswire_model::story_event_schema(),
                _ => newswire_model::raw_item_schema(),
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// `newswire import`.
fn import(
    settings: &Settings,
    input: &str,
    into: Option<&std::path::Path>,
    language: Option<&str>,
    category: Option<&str>,
) -> anyhow::Result<std::process::ExitCode> {
    use std::io::Read;
    if let Some(l) = language {
        newswire_model::Lang::parse(l).map_err(|e| anyhow::anyhow!("--language: {e}"))?;
    }
    if let Some(c) = category {
        newswire_model::Category::parse(c).map_err(|e| anyhow::anyhow!("--category: {e}"))?;
    }
    let mut text = String::new();
    if input == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
    } else {
        text = std::fs::read_to_string(input).with_context(|| input.to_owned())?;
    }
    let f = &settings.fetcher;
    let guard =
        newswire_fetch::NetGuard { allow_private: f.allow_private_networks, allow_files: f.allow_file_urls };
    let existing = match into {
        Some(path) if path.exists() => newswire_fetch::FeedList::load(
            path,
            &guard,
            std::time::Duration::from_secs(f.default_poll_interval_secs),
        )?,
        _ => newswire_fetch::FeedList::default(),
    };
    let feeds = newswire_fetch::import_feeds(&text, &existing, &guard).with_context(|| input.to_owned())?;
    let toml = newswire_fetch::render_feeds(&feeds, language, category);
    match into {
        Some(path) => {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| path.display().to_string())?;
            write!(file, "\n{toml}").with_context(|| path.display().to_string())?;
            eprintln!("newswire: added {} feeds to {}", feeds.len(), path.display());
        }
        None => print!("{toml}"),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Settings for the offline commands: the processor's and fetcher's configuration, with logs
/// quiet unless asked for (stdout is for results, stderr for one-line errors).
fn offline_settings(config: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(config)?;
    if std::env::var_os("RUST_LOG").is_none() {
        settings.log.filter = "error".to_owned();
    }
    init_logging(&settings.log)?;
    Ok(settings)
}

/// All three stages in one process, sharing one registry and one admin server. `/readyz` is
/// ready only while all three are. The first stage to fail is reported at once, marks the
/// service not ready, and stops the other two: the process then exits non-zero, so that a
/// supervisor restarts it rather than leaving a pipeline with a dead stage.
async fn run_all(settings: Settings, admin_listen: &str, with_api: bool) -> anyhow::Result<()> {
    let settings = &settings;
    serve(admin_listen, |registry, health, shutdown| async move {
        let parts = [health.component("fetcher"), health.component("processor"), health.component("sink")];
        let api_part = with_api.then(|| health.component("api"));
        health.set_ready();
        let watch = |name: &'static str, part: &newswire_telemetry::Health, r: Result<(), AppError>| {
            if let Err(error) = &r {
                part.set_not_ready(format!("failed: {error}"));
                tracing::error!(message = "Stage failed; stopping the others.", stage = name, %error);
                shutdown.cancel();
            }
            r
        };
        let (f, p, s, a) = tokio::join!(
            async {
                let r = run_fetcher(settings, &registry, parts[0].clone(), false, shutdown.clone()).await;
                watch("fetcher", &parts[0], r.map(|_| ()))
            },
            async {
                let r = run_processor(settings, &registry, parts[1].clone(), shutdown.clone()).await;
                watch("processor", &parts[1], r)
            },
            async {
                let r = run_sink(settings, &registry, parts[2].clone(), shutdown.clone()).await;
                watch("sink", &parts[2], r)
            },
            async {
                let Some(part) = &api_part else { return Ok(()) };
                let r = run_api(settings, &registry, part.clone(), shutdown.clone()).await;
                watch("api", part, r)
            },
        );
        f?;
        p?;
        s?;
        a
    })
    .await?;
    Ok(())
}
