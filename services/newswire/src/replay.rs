//! `newswire replay`: a range of `NEWS_RAW` processed again (see `newswire_process::replay`).

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use newswire_app::Settings;
use newswire_bus::{Bus, ClientRole, RangeEnd, RangeStart};
use newswire_process::replay::{ReplayOptions, ReplayProgress, ReplayRange, replay};

/// Arguments of `newswire replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// First raw item by time: RFC 3339 (`2025-02-16T08:00:00Z`) or an age (`90m`, `6h`, `1d`).
    #[arg(long, conflicts_with = "from_seq", required_unless_present = "from_seq")]
    since: Option<String>,
    /// First raw item by stream sequence.
    #[arg(long)]
    from_seq: Option<u64>,
    /// Stop before the first raw item stored at or after this time (same forms as --since).
    #[arg(long, conflicts_with = "to_seq")]
    until: Option<String>,
    /// Last raw item by stream sequence (inclusive). Default: the last one stored now.
    #[arg(long)]
    to_seq: Option<u64>,
    /// Decide and print the articles (JSON lines on stdout); publish nothing, take no lease.
    #[arg(long)]
    dry_run: bool,
    /// Replay even while a processor holds the lease (two deciders at once: each misses the
    /// copies the other sees). Without it, a replay refuses to start while a processor runs.
    #[arg(long)]
    force: bool,
}

/// Parses `--since`/`--until`: RFC 3339, or an age before `now` (`<n>s|m|h|d`).
pub fn parse_time(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().with_context(|| format!("{s:?} is neither RFC 3339 nor an age like 6h"))?;
    let age = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => anyhow::bail!("{s:?}: the unit of an age is s, m, h or d"),
    };
    Ok(now - age)
}

/// Runs `newswire replay`.
pub async fn run(settings: Settings, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let start = match (&args.since, args.from_seq) {
        (Some(t), _) => RangeStart::Time(parse_time(t, now).context("--since")?),
        (None, Some(n)) => RangeStart::Sequence(n),
        (None, None) => anyhow::bail!("--since or --from-seq is required"),
    };
    let end = match (&args.until, args.to_seq) {
        (Some(t), _) => RangeEnd::Time(parse_time(t, now).context("--until")?),
        (None, Some(n)) => RangeEnd::Sequence(n),
        (None, None) => RangeEnd::Now,
    };
    // Read-only: a replay publishes into the streams but never changes their configuration.
    let bus = Bus::connect(&settings.nats, "newswire-replay", ClientRole::ReadOnly).await?;
    let options = ReplayOptions { dry_run: args.dry_run, force: args.force };
    let mut out = std::io::stdout().lock();
    let report = replay(
        &bus,
        &settings.processor,
        ReplayRange { start, end },
        options,
        |a| {
            if args.dry_run {
                use std::io::Write;
                if let Ok(line) = serde_json::to_string(a) {
                    let _ = writeln!(out, "{line}");
                }
            }
        },
        |p: &ReplayProgress| {
            eprintln!(
                "newswire: replay: seq {} of {}, {} items, {:.0} items/s",
                p.sequence,
                p.last,
                p.items,
                p.rate()
            );
        },
    )
    .await?;
    eprintln!(
        "newswire: replayed raw seq {}..={}: {} items, {} articles{} ({} copies), {} dropped by the processor, {} undecodable, {} already published by an identical replay; memory warmed with {} articles",
        report.first_sequence,
        report.last_sequence,
        report.items,
        report.articles,
        if args.dry_run { " decided, none published (dry run)" } else { " published" },
        report.copies,
        report.dropped,
        report.undecodable,
        report.bus_duplicates,
        report.warmed.articles,
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_ages() {
        let now = DateTime::parse_from_rfc3339("2025-02-16T12:00:00Z").map(|t| t.with_timezone(&Utc));
        let now = now.unwrap_or_default();
        let t = |s| parse_time(s, now).map(|t| t.to_rfc3339()).ok();
        assert_eq!(t("2025-02-16T08:00:00+02:00").as_deref(), Some("2025-02-16T06:00:00+00:00"));
        assert_eq!(t("6h").as_deref(), Some("2025-02-16T06:00:00+00:00"));
        assert_eq!(t("1d").as_deref(), Some("2025-02-15T12:00:00+00:00"));
        assert_eq!(t("90m").as_deref(), Some("2025-02-16T10:30:00+00:00"));
        assert!(t("yesterday").is_none() && t("5y").is_none());
    }
}
