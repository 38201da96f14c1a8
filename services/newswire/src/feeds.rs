//! `newswire feeds …`: the feed registry by hand (add, rm, pause, resume, ls, export-opml,
//! import), while fetchers run: they follow the registry within seconds.
//!
//! The CLI connects as a read-only client (it changes no stream) and opens the registry's two
//! buckets, creating them if missing: their limits are fixed, so this imposes nothing on the
//! fetchers (see `newswire_fetch::registry`, "Who owns the buckets").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use newswire_app::Settings;
use newswire_bus::{Bus, ClientRole};
use newswire_fetch::registry::{FeedRegistry, FeedState, NewFeed, RegistryErrorKind};
use newswire_fetch::{FeedList, FullText, import_feeds};

/// `newswire feeds` subcommands.
#[derive(clap::Subcommand)]
pub enum FeedsCommand {
    /// Add a feed; fetchers start polling it within seconds.
    Add {
        /// Source id (`[a-z0-9_-]`, at most 64).
        id: String,
        /// The feed's http(s) URL.
        url: String,
        /// Poll interval in seconds (default: `fetcher.default_poll_interval_secs`).
        #[arg(long)]
        interval: Option<u64>,
        /// Language hint for its items.
        #[arg(long)]
        language: Option<String>,
        /// Category of its items (default `general`).
        #[arg(long)]
        category: Option<String>,
        /// When to fetch an entry's page: `auto`, `always` or `never`.
        #[arg(long, value_parser = ["auto", "always", "never"])]
        full_text: Option<String>,
    },
    /// Remove a feed (the feeds file does not bring it back).
    Rm {
        /// Source id.
        id: String,
    },
    /// Stop polling a feed, keeping it.
    Pause {
        /// Source id.
        id: String,
    },
    /// Poll a paused feed again.
    Resume {
        /// Source id.
        id: String,
    },
    /// List the feeds with their poll status.
    Ls {
        /// One JSON object per feed instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the feeds as OPML 2.0 (to FILE, or stdout).
    ExportOpml {
        /// Output file.
        file: Option<PathBuf>,
    },
    /// Add the feeds of a feeds file (TOML), an OPML file or a list of URLs that the registry
    /// does not hold (ids and URLs already there are skipped).
    Import {
        /// The file (or - for stdin).
        file: String,
        /// Language hint for imported OPML/URL-list feeds that give none.
        #[arg(long)]
        language: Option<String>,
        /// Category for imported OPML/URL-list feeds that give none.
        #[arg(long)]
        category: Option<String>,
    },
}

/// Runs one `feeds` subcommand.
pub async fn run(settings: &Settings, command: FeedsCommand) -> anyhow::Result<ExitCode> {
    let bus = Bus::connect(&settings.nats, "newswire-feeds", ClientRole::ReadOnly).await?;
    let registry = FeedRegistry::open(&bus, &settings.fetcher).await?;
    let result = match command {
        FeedsCommand::Add { id, url, interval, language, category, full_text } => {
            let full_text = match full_text.as_deref() {
                Some("always") => Some(FullText::Always),
                Some("never") => Some(FullText::Never),
                Some(_) => Some(FullText::Auto),
                None => None,
            };
            let feed =
                NewFeed { id, url, poll_interval_secs: interval, language, category, full_text, title: None };
            registry.add_new(&feed).await.map(|f| {
                eprintln!(
                    "newswire: added {} ({}, every {}s)",
                    f.spec.id,
                    f.spec.url,
                    f.spec.poll_interval.as_secs()
                );
            })
        }
        FeedsCommand::Rm { id } => registry.remove(&id).await.map(|()| eprintln!("newswire: removed {id}")),
        FeedsCommand::Pause { id } => {
            registry.set_paused(&id, true).await.map(|_| eprintln!("newswire: paused {id}"))
        }
        FeedsCommand::Resume { id } => {
            registry.set_paused(&id, false).await.map(|_| eprintln!("newswire: resumed {id}"))
        }
        FeedsCommand::Ls { json } => return ls(settings, &registry, json).await,
        FeedsCommand::ExportOpml { file } => {
            let opml = registry.export_opml().await?;
            match file {
                Some(path) => {
                    std::fs::write(&path, opml).with_context(|| path.display().to_string())?;
                    eprintln!("newswire: wrote {}", path.display());
                }
                None => print!("{opml}"),
            }
            Ok(())
        }
        FeedsCommand::Import { file, language, category } => {
            return import(settings, &registry, &file, language.as_deref(), category.as_deref()).await;
        }
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("newswire: {e}");
            // 2 for "no such feed" and "already exists", so that scripts can tell them apart.
            Ok(match e.kind() {
                RegistryErrorKind::NotFound | RegistryErrorKind::Conflict => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            })
        }
    }
}

/// `feeds ls`.
async fn ls(settings: &Settings, registry: &FeedRegistry, json: bool) -> anyhow::Result<ExitCode> {
    let listing = registry.list().await?;
    let statuses = registry.statuses().await?;
    let now = Utc::now();
    let quiet_after = std::time::Duration::from_secs(settings.fetcher.quiet_after_secs);
    if json {
        for f in &listing.feeds {
            let status = statuses.get(f.spec.id.as_str());
            let line = serde_json::json!({
                "id": f.spec.id,
                "url": f.spec.url.to_string(),
                "state": FeedState::of(f, status, now, quiet_after).as_str(),
                "paused": f.paused,
                "poll_interval_secs": f.spec.poll_interval.as_secs(),
                "language": f.spec.language,
                "category": f.spec.category,
                "added_at": f.added_at,
                "status": status,
            });
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<8} {:>8} {:>10} {:>12} {:>6} {:>8}  {:<40} LAST ERROR",
        "ID", "STATE", "INTERVAL", "LAST POLL", "LAST SUCCESS", "ERRORS", "ITEMS", "URL"
    );
    for f in &listing.feeds {
        let s = statuses.get(f.spec.id.as_str()).cloned().unwrap_or_default();
        let error = s.last_error.as_deref().filter(|_| s.error_streak > 0).unwrap_or("");
        println!(
            "{:<24} {:<8} {:>8} {:>10} {:>12} {:>6} {:>8}  {:<40} {}",
            f.spec.id,
            FeedState::of(f, Some(&s), now, quiet_after).as_str(),
            format!("{}s", f.spec.poll_interval.as_secs()),
            ago(s.last_poll, now),
            ago(s.last_success, now),
            s.error_streak,
            s.items_published,
            f.spec.url.to_string(),
            error.chars().take(80).collect::<String>()
        );
    }
    for r in &listing.rejected {
        println!("{:<24} {:<8} (not run: {})", r.id, "invalid", r.reason);
    }
    Ok(ExitCode::SUCCESS)
}

/// `12s ago`, `5m ago`, `3h ago`, `2d ago`; `-` for never.
fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = t else { return "-".into() };
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// `feeds import`: a feeds file (TOML) as it is; OPML and URL lists through the importer
/// (which skips URLs and renames ids the registry already holds).
async fn import(
    settings: &Settings,
    registry: &FeedRegistry,
    file: &str,
    language: Option<&str>,
    category: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use std::io::Read;
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| file.to_owned())?;
    }
    let guard = registry.guard();
    let default_interval = std::time::Duration::from_secs(settings.fetcher.default_poll_interval_secs.max(1));
    let toml = if text.trim_start().starts_with('<') {
        None
    } else {
        FeedList::parse(&text, file, &guard, default_interval).ok()
    };
    let list = match toml {
        Some(list) => {
            for r in &list.rejected {
                eprintln!("newswire: skipped: {}", r.reason);
            }
            list
        }
        None => {
            // OPML or URLs: added one by one, keeping the OPML titles for the export.
            let existing = registry.list().await?.to_feed_list();
            let imported = import_feeds(&text, &existing, &guard).with_context(|| file.to_owned())?;
            let mut added = 0;
            for f in imported {
                let feed = NewFeed {
                    id: f.id,
                    url: f.url,
                    poll_interval_secs: f.poll_interval_secs,
                    language: f.language.or_else(|| language.map(str::to_owned)),
                    category: f.category.or_else(|| category.map(str::to_owned)),
                    full_text: None,
                    title: f.title,
                };
                match registry.add_new(&feed).await {
                    Ok(_) => added += 1,
                    Err(e) if e.kind() == RegistryErrorKind::Unavailable => return Err(e.into()),
                    Err(e) => eprintln!("newswire: skipped: {e}"),
                }
            }
            eprintln!("newswire: added {added} feeds");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let report = registry.import(&list).await?;
    for id in &report.existing {
        eprintln!("newswire: {id} is already registered; left as it is");
    }
    eprintln!("newswire: added {} feeds", report.added.len());
    Ok(ExitCode::SUCCESS)
}
