//! `newswire dlq list|show|requeue|purge`: the dead-letter stream from the operator's side (the
//! logic is `newswire_bus`'s `dlq_*` methods).

use std::process::ExitCode;

use newswire_app::Settings;
use newswire_bus::{Bus, ClientRole, DeadLetter, DlqFilter};

/// `newswire dlq` subcommands.
#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first: seq, stage, reason, error, deliveries, original
    /// subject, time.
    List {
        /// Only this stage's (`processor`, `sink`).
        #[arg(long)]
        stage: Option<String>,
        /// Only those with this reason (`decode`, `invalid`, `publish`…).
        #[arg(long)]
        reason: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print one dead letter: its headers, then its payload (pretty JSON when it is JSON).
    Show {
        /// Its sequence in the dead-letter stream (the first column of `list`).
        seq: u64,
    },
    /// Publish dead letters back on their original subject, then delete them.
    Requeue {
        /// Sequences to requeue.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        seqs: Vec<u64>,
        /// Every dead letter (of `--stage`, with `--reason`).
        #[arg(long)]
        all: bool,
        /// With --all: only this stage's.
        #[arg(long, requires = "all")]
        stage: Option<String>,
        /// With --all: only those with this reason.
        #[arg(long, requires = "all")]
        reason: Option<String>,
    },
    /// Delete dead letters for good.
    Purge {
        /// Only this stage's.
        #[arg(long)]
        stage: Option<String>,
        /// Only those with this reason.
        #[arg(long)]
        reason: Option<String>,
        /// Required: purging cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs a `newswire dlq` subcommand.
pub async fn run(settings: Settings, command: DlqCommand) -> anyhow::Result<ExitCode> {
    // Read-only: messages are read, published and deleted, but no stream is configured.
    let bus = Bus::connect(&settings.nats, "newswire-dlq", ClientRole::ReadOnly).await?;
    match command {
        DlqCommand::List { stage, reason, limit } => {
            let (letters, more) = bus.dlq_list(&DlqFilter { stage, reason }, limit).await?;
            print!("{}", table(&letters));
            if more > 0 {
                eprintln!("newswire: {more} more (use --limit)");
            }
        }
        DlqCommand::Show { seq } => {
            let d = bus.dlq_get(seq).await?;
            println!("seq: {}", d.seq);
            println!("subject: {}", bus.subjects().dlq(&d.stage));
            println!("time: {}", d.time.to_rfc3339());
            for (name, value) in &d.headers {
                println!("{name}: {value}");
            }
            println!();
            match serde_json::from_slice::<serde_json::Value>(&d.payload) {
                Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
                Err(_) => println!("{}", String::from_utf8_lossy(&d.payload)),
            }
        }
        DlqCommand::Requeue { seqs, all, stage, reason } => {
            let seqs = if all {
                let (letters, _) = bus.dlq_list(&DlqFilter { stage, reason }, usize::MAX).await?;
                letters.into_iter().map(|d| d.seq).collect()
            } else {
                seqs
            };
            let mut failed = 0;
            for seq in &seqs {
                match bus.dlq_requeue(*seq).await {
                    Ok(r) => println!("requeued {} to {} (seq {})", r.seq, r.subject, r.sequence),
                    Err(e) => {
                        failed += 1;
                        eprintln!("newswire: {e}");
                    }
                }
            }
            eprintln!("newswire: {} requeued, {failed} failed", seqs.len() - failed);
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        DlqCommand::Purge { stage, reason, yes } => {
            let filter = DlqFilter { stage, reason };
            if !yes {
                let (letters, more) = bus.dlq_list(&filter, usize::MAX).await?;
                anyhow::bail!(
                    "this would delete {} dead letters for good; add --yes to do it",
                    letters.len() as u64 + more
                );
            }
            let purged = bus.dlq_purge(&filter).await?;
            println!("purged {purged} dead letters");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `list` table: fixed columns, the error cut to one short line.
fn table(letters: &[DeadLetter]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8}  {:<10} {:<9} {:<50} {:>4}  {:<40} time",
        "seq", "stage", "reason", "error", "dlv", "original subject"
    );
    for d in letters {
        let error = d.error.as_deref().unwrap_or("-");
        let error: String = if error.chars().count() > 50 {
            error.chars().take(49).chain(['…']).collect()
        } else {
            error.to_owned()
        };
        let _ = writeln!(
            out,
            "{:>8}  {:<10} {:<9} {:<50} {:>4}  {:<40} {}",
            d.seq,
            d.stage,
            d.reason.as_deref().unwrap_or("-"),
            error,
            d.deliveries.map_or("-".to_owned(), |n| n.to_string()),
            d.original_subject.as_deref().unwrap_or("-"),
            d.time.format("%Y-%m-%dT%H:%M:%SZ"),
        );
    }
    out
}
