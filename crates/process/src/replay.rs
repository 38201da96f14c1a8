//! `newswire replay`: a range of the raw stream processed again, for example after a
//! threshold change, by the same analysis and decisions as the service.
//!
//! The range is read with an ephemeral ordered consumer (nothing is acked or changed). A fresh
//! [`Processor`] with the configured settings decides it, its memory warmed like the
//! service's, but with the articles stored *before* the range's first raw item: the articles
//! made from the range itself would make every item a repeat of itself. Articles are published
//! on their usual subjects with `Nats-Msg-Id` `<article msg id>.replay.<hash>` ([`replay_msg_id`]):
//! a re-decided article is not dropped as a repeat of its first publish, the same replay run
//! twice inside the duplicate window publishes once, and the sink's upsert (keyed by article
//! id) stores no second row.
//!
//! Concurrency with a running processor: one decider at a time is an invariant (two memories
//! would each miss the copies the other saw), so a replay holds the processor lease for its
//! run, like a replica. While a processor is active the replay refuses to start unless
//! `force` is set; a processor started meanwhile waits as a standby and, once the lease is
//! released, rebuilds its memory from the article stream, replayed articles included. A dry
//! run takes no lease and publishes nothing.

use std::time::{Duration, Instant};

use chrono::Utc;
use newswire_bus::{
    Bus, BusError, KvBucketName, NewsStream, PendingPublish, RangeEnd, RangeStart, Replayed, StoredMessage,
    article_msg_id,
};
use newswire_model::{Article, RawItem};
use tokio_util::sync::CancellationToken;

use crate::lease::{Lease, holder_name};
use crate::{Outcome, Processor, ProcessorSettings, analyze_batch, recall};

/// What to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRange {
    /// The first raw item (by sequence or time).
    pub start: RangeStart,
    /// The last (inclusive sequence, exclusive time, or the stream's end now).
    pub end: RangeEnd,
}

/// How to replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Decide and report, publish nothing, take no lease.
    pub dry_run: bool,
    /// Replay even while a processor holds the lease (two deciders at once).
    pub force: bool,
}

/// Where a replay is, for progress output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayProgress {
    /// Stream sequence of the last raw item handled.
    pub sequence: u64,
    /// The last sequence the range can reach.
    pub last: u64,
    /// Raw items handled so far.
    pub items: u64,
    /// Time since the replay started reading the range.
    pub elapsed: Duration,
}

impl ReplayProgress {
    /// Items per second so far.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Articles of the article stream that warmed the memory.
    pub warmed: Replayed,
    /// Raw items read.
    pub items: u64,
    /// Raw items that did not decode (skipped; the running processor dead-letters them).
    pub undecodable: u64,
    /// Articles decided (published unless a dry run).
    pub articles: u64,
    /// Of those, copies (`duplicate` set).
    pub copies: u64,
    /// Articles the server dropped as a repeat of the same replay (same decision, inside the
    /// duplicate window).
    pub bus_duplicates: u64,
    /// Items dropped by the processor (a repeat of an item in the range, or empty).
    pub dropped: u64,
    /// First and last raw sequence handled (0 when none).
    pub first_sequence: u64,
    /// See `first_sequence`.
    pub last_sequence: u64,
    /// Whether the processor lease was held for the run (false for a dry or forced run).
    pub held_lease: bool,
}

/// Why a replay did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The bus failed (reading the range, warming the memory, or the lease bucket).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A processor is active: replaying now would make two deciders.
    #[error(
        "a processor holds the lease (it is deciding); stop it first, or pass --force to replay alongside it"
    )]
    LeaseHeld,
    /// The lease was lost during the replay (not renewed in time, or taken).
    #[error("the processor lease was lost at raw sequence {0}; nothing after it was published")]
    LeaseLost(u64),
    /// The analysis of a batch failed as a whole (a panic on the analysis threads).
    #[error("analysis failed in the batch from raw sequence {sequence}: {error}")]
    Analysis {
        /// The batch's first raw sequence.
        sequence: u64,
        /// What failed.
        error: String,
    },
    /// An article could not be published; articles before it are on the bus.
    #[error("publishing stopped at raw sequence {sequence}: {source}; run again with --from-seq {sequence}")]
    Publish {
        /// The raw item whose article failed.
        sequence: u64,
        /// The bus error.
        source: BusError,
    },
}

/// The `Nats-Msg-Id` of a replayed article: its usual one, `.replay.`, and 16 hex digits of a
/// hash of the article without `processed_at` (which changes on every run), so that the same
/// decision published twice is one message and a changed one is a new message.
pub fn replay_msg_id(article: &Article) -> String {
    use std::hash::Hasher;
    let mut a = article.clone();
    a.processed_at = chrono::DateTime::UNIX_EPOCH;
    let mut h = rustc_hash::FxHasher::default();
    h.write(&serde_json::to_vec(&a).unwrap_or_default());
    format!("{}.replay.{:016x}", article_msg_id(article), h.finish())
}

/// Replays `range` of the raw stream (see the module doc). `article` sees every article
/// decided, in order (a dry run prints them); `progress` is called at most once a second, and
/// once at the end.
pub async fn replay(
    bus: &Bus,
    settings: &ProcessorSettings,
    range: ReplayRange,
    options: ReplayOptions,
    mut article: impl FnMut(&Article),
    mut progress: impl FnMut(&ReplayProgress),
) -> Result<ReplayReport, ReplayError> {
    let lease = if options.dry_run { None } else { take_lease(bus, settings, options.force).await? };
    let held_lease = lease.is_some();
    let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
    let work = async {
        let r = run(bus, settings, range, options, &lost, &mut article, &mut progress).await;
        stop.cancel();
        r
    };
    let (result, held) = match lease {
        Some(lease) => {
            let (r, held) = tokio::join!(work, lease.keep(stop.clone(), lost.clone()));
            (r, held)
        }
        None => (work.await, None),
    };
    if let Some(lease) = held {
        lease.release().await;
    }
    result.map(|r| ReplayReport { held_lease, ..r })
}

/// Takes the processor lease at once, or says it is held (`None` with `force`).
async fn take_lease(
    bus: &Bus,
    settings: &ProcessorSettings,
    force: bool,
) -> Result<Option<Lease>, ReplayError> {
    let ttl = settings.lease_ttl();
    let bucket = bus.kv_bucket(KvBucketName::ProcessorLease, Some(ttl)).await?;
    // Cancelled before the call: `acquire` tries once and does not wait.
    let once = CancellationToken::new();
    once.cancel();
    match Lease::acquire(bucket, format!("replay-{}", holder_name()), ttl, &once).await? {
        Some(lease) => Ok(Some(lease)),
        None if force => {
            tracing::warn!(message = "A processor holds the lease; replaying alongside it (--force).");
            Ok(None)
        }
        None => Err(ReplayError::LeaseHeld),
    }
}

async fn run(
    bus: &Bus,
    settings: &ProcessorSettings,
    range: ReplayRange,
    options: ReplayOptions,
    lost: &CancellationToken,
    article: &mut impl FnMut(&Article),
    progress: &mut impl FnMut(&ReplayProgress),
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut raws = bus.read_range(NewsStream::Raw, None, range.start, range.end).await?;
    let Some(first) = raws.next().await? else {
        return Ok(report);
    };
    let mut processor = Processor::new(settings);
    report.warmed = warm(bus, &mut processor, settings, &first).await?;
    let started = Instant::now();
    let mut shown = started;
    let mut pending = Some(first);
    let batch_size = settings.batch_size.max(1);
    loop {
        let mut batch: Vec<StoredMessage> = pending.take().into_iter().collect();
        while batch.len() < batch_size {
            match raws.next().await? {
                Some(m) => batch.push(m),
                None => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        let last_seq = batch.last().map_or(0, |m| m.sequence);
        if lost.is_cancelled() {
            return Err(ReplayError::LeaseLost(batch[0].sequence));
        }
        if report.first_sequence == 0 {
            report.first_sequence = batch[0].sequence;
        }
        report.items += batch.len() as u64;
        let mut seqs = Vec::with_capacity(batch.len());
        let mut items = Vec::with_capacity(batch.len());
        for m in &batch {
            match serde_json::from_slice::<RawItem>(&m.payload) {
                Ok(item) => {
                    seqs.push(m.sequence);
                    items.push(item);
                }
                Err(_) => report.undecodable += 1,
            }
        }
        let fresh: Vec<bool> = items.iter().map(|r| !processor.seen(r)).collect();
        let s = settings.clone();
        let analysed = tokio::task::spawn_blocking(move || analyze_batch(items, &fresh, &s))
            .await
            .map_err(|e| ReplayError::Analysis { sequence: batch[0].sequence, error: e.to_string() })?;
        let mut sent: Vec<(u64, PendingPublish)> = Vec::new();
        for (seq, a) in seqs.iter().zip(analysed) {
            let outcome = match a {
                Ok(a) => processor.decide(a, Utc::now()),
                Err(reason) => Outcome::Dropped(reason),
            };
            let Outcome::Article(a) = outcome else {
                report.dropped += 1;
                continue;
            };
            report.articles += 1;
            report.copies += u64::from(a.duplicate.is_some());
            article(&a);
            if !options.dry_run {
                let p = bus
                    .send_article_as(&a, &replay_msg_id(&a))
                    .await
                    .map_err(|source| ReplayError::Publish { sequence: *seq, source })?;
                sent.push((*seq, p));
            }
        }
        for (seq, p) in sent {
            let published =
                p.acked().await.map_err(|source| ReplayError::Publish { sequence: seq, source })?;
            report.bus_duplicates += u64::from(published.duplicate);
        }
        report.last_sequence = last_seq;
        if shown.elapsed() >= Duration::from_secs(1) {
            shown = Instant::now();
            progress(&ReplayProgress {
                sequence: last_seq,
                last: raws.last_sequence(),
                items: report.items,
                elapsed: started.elapsed(),
            });
        }
    }
    progress(&ReplayProgress {
        sequence: report.last_sequence,
        last: raws.last_sequence(),
        items: report.items,
        elapsed: started.elapsed(),
    });
    Ok(report)
}

/// Warms the memory as the service does, with the last `replay_articles` articles stored
/// before `first` (the range's first raw item) was.
async fn warm(
    bus: &Bus,
    processor: &mut Processor,
    settings: &ProcessorSettings,
    first: &StoredMessage,
) -> Result<Replayed, BusError> {
    let mut done = Replayed::default();
    let limit = settings.replay_articles as u64;
    let state = bus.stream_state(NewsStream::Articles).await?;
    if limit == 0 || state.messages == 0 {
        return Ok(done);
    }
    let before = bus.sequence_at(NewsStream::Articles, None, first.time).await?;
    if before <= state.first {
        return Ok(done);
    }
    let start = before.saturating_sub(limit).max(state.first);
    let mut articles = bus
        .read_range(NewsStream::Articles, None, RangeStart::Sequence(start), RangeEnd::Sequence(before - 1))
        .await?;
    let mut batch = Vec::with_capacity(1024);
    loop {
        let next = articles.next().await?;
        let end = next.is_none();
        if let Some(m) = next {
            match serde_json::from_slice::<Article>(&m.payload) {
                Ok(a) => {
                    batch.push(a);
                    done.articles += 1;
                }
                Err(_) => done.skipped += 1,
            }
        }
        if batch.len() >= 1024 || (end && !batch.is_empty()) {
            use rayon::prelude::*;
            let s = settings.clone();
            let recalled: Vec<_> =
                std::mem::take(&mut batch).into_par_iter().map(|a| recall(a, &s)).collect();
            for m in recalled {
                processor.remember(m);
            }
        }
        if end {
            break;
        }
    }
    tracing::info!(
        message = "Replay memory warmed from the article stream.",
        articles = done.articles,
        skipped = done.skipped,
        before_sequence = before
    );
    Ok(done)
}
