//! The processor's async shell around [`Processor`]: pull a batch, analyse it on every core,
//! decide in order, publish with many acks in flight, ack each message once its effect is on
//! the bus.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use newswire_bus::{
    Bus, BusError, BusErrorKind, ConsumerRole, CrashGuard, Delivery, KvBucketName, PendingPublish, Replayed,
    decode_batch,
};
use newswire_model::{ArticleId, DuplicateKind, RawItem};
use newswire_telemetry::metrics::ProcessorMetrics;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::lease::{Lease, holder_name};
use crate::{Analysis, DropReason, Outcome, Processor, ProcessorSettings, Recalled, analyze, recall};

/// Batches whose publish acks may be awaited at once while the next batches are analysed.
/// With the default batch of 256 that is up to 1,024 articles in flight, below the consumer's
/// `max_ack_pending` of 4,096.
const BATCHES_IN_FLIGHT: usize = 4;

/// How long a batch waits to fill up: short, so that light traffic is not delayed.
const LINGER: Duration = Duration::from_millis(5);

/// What happens to one message once the batch's decisions are made.
enum Step {
    /// Dropped on purpose (repeat, empty): ack.
    Ack(Delivery),
    /// Its analysis panicked: dead-letter it (reason `panic`); the rest of the batch goes on.
    DeadLetter { delivery: Delivery, error: String },
    /// Published: ack when the server acknowledged the article.
    Publish { delivery: Delivery, id: ArticleId, duplicate: Option<DuplicateKind>, pending: PendingPublish },
    /// The publish could not even be sent.
    Failed { delivery: Delivery, id: ArticleId, error: BusError },
}

/// Consumes raw items until `shutdown`, publishing one article per new item.
///
/// Per batch: decode; drop ids already decided (before any cleaning); analyse the rest on
/// every core, off the async runtime; decide each in input order (exact, near, story) and
/// send its article without waiting; then, in a separate task, await the batch's acks
/// together and ack each message only once its article is stored by JetStream. While those
/// acks are awaited, the next batch is already being analysed.
///
/// A message that does not decode is dead-lettered at once; one whose article cannot be
/// published is forgotten by the memory (so that its redelivery is processed again) and
/// nacked with back-off, or dead-lettered on its last delivery. On shutdown the batches in
/// flight are finished; fetched but unhandled messages are redelivered.
pub async fn run(
    bus: Bus,
    settings: &ProcessorSettings,
    metrics: ProcessorMetrics,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let ttl = settings.lease_ttl();
    let bucket = bus.kv_bucket(KvBucketName::ProcessorLease, Some(ttl)).await?;
    let holder = holder_name();
    loop {
        // Standby until this replica is the active one.
        let Some(lease) = Lease::acquire(bucket.clone(), holder.clone(), ttl, &shutdown).await? else {
            return Ok(());
        };
        let active = shutdown.child_token();
        let stop_renewing = CancellationToken::new();
        // Renewal and work run in this one task, so that whatever ends the task (a panic, an
        // abort) ends the renewals too and the lease expires.
        let work = async {
            let result = async {
                let mut processor = Processor::new(settings);
                replay(&bus, &mut processor, settings).await?;
                run_with(bus.clone(), processor, settings, metrics.clone(), active.clone()).await
            }
            .await;
            stop_renewing.cancel();
            result
        };
        let (result, held) = tokio::join!(work, lease.keep(stop_renewing.clone(), active.clone()));
        if shutdown.is_cancelled() || result.is_err() {
            if let Some(lease) = held {
                lease.release().await;
            }
            return result;
        }
        // The lease was lost: back to standby, with a memory rebuilt when active again.
    }
}

/// Restores the memory from the last `replay_articles` articles of the article stream.
pub async fn replay(
    bus: &Bus,
    processor: &mut Processor,
    settings: &ProcessorSettings,
) -> Result<Replayed, BusError> {
    let started = Instant::now();
    let s = settings.clone();
    let done = bus
        .replay_articles(settings.replay_articles as u64, 1024, |batch| {
            use rayon::prelude::*;
            let recalled: Vec<Recalled> = batch.into_par_iter().map(|a| recall(a, &s)).collect();
            for m in recalled {
                processor.remember(m);
            }
        })
        .await?;
    let (exact, near, stories) = processor.remembered();
    tracing::info!(
        message = "Memory restored from the article stream.",
        articles = done.articles,
        skipped = done.skipped,
        exact,
        near,
        stories,
        seconds = started.elapsed().as_secs_f64()
    );
    Ok(done)
}

/// What analysis made of one item.
#[allow(
    clippy::large_enum_variant,
    reason = "held in a batch-sized Vec, as the Result<Analysis, _> it replaced; boxing would add an allocation per item"
)]
enum Analysed1 {
    /// Ready for the decision.
    Done(Analysis),
    /// Nothing to decide (decided before, or empty after cleaning).
    Dropped(DropReason),
    /// The analysis panicked, with this message: the item is dead-lettered.
    Panicked(String),
}

/// A batch on its way from analysis to decision.
struct Analysed {
    deliveries: Vec<Delivery>,
    /// `None` if the analysis failed as a whole (its task was lost): the batch is retried.
    results: Option<Vec<Analysed1>>,
    /// A redelivered message analysed alone under a crash mark, cleared once it is decided
    /// (see [`CrashGuard`]).
    suspect: bool,
}

/// Analysed batches waiting for the decision step: one, so that the next batch is analysed
/// while this one is decided, and no more (memory, and messages held from other replicas).
const ANALYSED_WAITING: usize = 1;

fn lock(p: &Mutex<Processor>) -> std::sync::MutexGuard<'_, Processor> {
    // A panic while deciding cannot leave the memory half-updated in a way that matters more
    // than stopping would: keep going with it.
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Consumes with `processor` until `shutdown` (the active replica's loop; see [`run`]).
///
/// Two stages in one task: the first pulls, decodes, drops ids already decided and analyses
/// (on every core); the second decides in input order and publishes. They overlap, so the
/// cores analyse batch N+1 while batch N is decided and sent.
pub async fn run_with(
    bus: Bus,
    processor: Processor,
    settings: &ProcessorSettings,
    metrics: ProcessorMetrics,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let mut consumer = bus.consumer(ConsumerRole::Processor).await?;
    let guard = CrashGuard::open(&bus, ConsumerRole::Processor).await;
    // Shared with the ackers: a publish that fails must be forgotten before its message is
    // nacked, or the redelivery would be dropped as already seen (and acked: lost).
    let processor = Arc::new(Mutex::new(processor));
    let (analysed_tx, mut analysed_rx) = mpsc::channel::<Analysed>(ANALYSED_WAITING);
    let analyse_stage = async {
        while let Some(batch) = consumer.next_batch(settings.batch_size, LINGER, &shutdown).await {
            metrics.stage.items_in.inc_by(batch.len() as u64);
            let decoded = decode_batch::<RawItem>(batch, "raw item", |dead_lettered| {
                metrics.stage.failed("decode");
                if dead_lettered {
                    metrics.dead_lettered.inc();
                }
            })
            .await;
            // Redelivered messages may be what killed the last processor: each is analysed
            // and decided alone, under a mark (see CrashGuard), before the rest of the batch.
            let (suspects, normal): (Vec<_>, Vec<_>) =
                decoded.into_iter().partition(|(d, _)| CrashGuard::is_suspect(d));
            let mut closed = false;
            for (d, raw) in suspects {
                if guard.check(&d).await {
                    metrics.stage.failed("crash");
                    if d.dead_letter("crash", "the processor died while processing this message alone").await
                    {
                        metrics.dead_lettered.inc();
                        guard.clear(&d).await;
                    }
                    continue;
                }
                let batch = Analysed { deliveries: vec![d], results: None, suspect: true };
                if !send_analysed(batch, vec![raw], &processor, settings, &metrics, &analysed_tx).await {
                    closed = true;
                    break;
                }
            }
            if closed {
                break;
            }
            if normal.is_empty() {
                continue;
            }
            let (deliveries, raws): (Vec<Delivery>, Vec<RawItem>) = normal.into_iter().unzip();
            let batch = Analysed { deliveries, results: None, suspect: false };
            if !send_analysed(batch, raws, &processor, settings, &metrics, &analysed_tx).await {
                break;
            }
        }
        drop(analysed_tx);
    };
    let decide_stage = async {
        let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        let mut ackers = JoinSet::new();
        while let Some(Analysed { deliveries, results, suspect }) = analysed_rx.recv().await {
            if shutdown.is_cancelled() {
                // Stopping, or no longer the active replica: decide nothing more; the batch
                // goes back to the stream for whoever decides next.
                for d in deliveries {
                    let _ = d.nak(Duration::ZERO).await;
                }
                continue;
            }
            let Some(results) = results else {
                for d in deliveries {
                    if suspect {
                        guard.clear(&d).await;
                    }
                    retry_or_dead_letter(&d, &metrics, "analysis", "analysis failed").await;
                }
                continue;
            };
            let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
            let outcomes: Vec<Result<Outcome, String>> = {
                let mut p = lock(&processor);
                results
                    .into_iter()
                    .map(|a| match a {
                        Analysed1::Done(a) => Ok(p.decide(a, Utc::now())),
                        Analysed1::Dropped(reason) => Ok(Outcome::Dropped(reason)),
                        Analysed1::Panicked(error) => Err(error),
                    })
                    .collect()
            };
            // Decided: whatever could kill the stage has run.
            if suspect {
                for d in &deliveries {
                    guard.clear(d).await;
                }
            }
            let mut steps = Vec::with_capacity(deliveries.len());
            for (delivery, outcome) in deliveries.into_iter().zip(outcomes) {
                steps.push(match outcome {
                    Err(error) => Step::DeadLetter { delivery, error },
                    Ok(Outcome::Dropped(reason)) => {
                        metrics.stage.dropped(reason.as_str());
                        Step::Ack(delivery)
                    }
                    Ok(Outcome::Article(article)) => {
                        let duplicate = article.duplicate.as_ref().map(|d| d.kind);
                        match bus.send_article(&article).await {
                            Ok(pending) => Step::Publish { delivery, id: article.id, duplicate, pending },
                            Err(error) => {
                                lock(&processor).forget(&article.id);
                                Step::Failed { delivery, id: article.id, error }
                            }
                        }
                    }
                });
            }
            let (metrics, processor) = (metrics.clone(), processor.clone());
            ackers.spawn(async move {
                // Together, not one by one: an ack's timeout runs from when it is awaited, so
                // with the server gone a batch would wait one timeout per article.
                futures_util::future::join_all(
                    steps.into_iter().map(|step| finish(step, &metrics, &processor)),
                )
                .await;
                drop(permit);
            });
            while ackers.try_join_next().is_some() {}
        }
        while ackers.join_next().await.is_some() {}
    };
    tokio::join!(analyse_stage, decide_stage);
    Ok(())
}

/// Drops ids decided before, analyses the rest of `raws` (the items of `batch.deliveries`)
/// and hands the batch to the decision stage; `false` once that stage is gone.
async fn send_analysed(
    mut batch: Analysed,
    raws: Vec<RawItem>,
    processor: &Mutex<Processor>,
    settings: &ProcessorSettings,
    metrics: &ProcessorMetrics,
    tx: &mpsc::Sender<Analysed>,
) -> bool {
    // Ids decided before are not analysed. One decided in the batch still being decided is
    // caught again by `decide`.
    let fresh: Vec<bool> = {
        let p = lock(processor);
        raws.iter().map(|r| !p.seen(r)).collect()
    };
    batch.results = analyse(raws, fresh, settings, metrics).await;
    tx.send(batch).await.is_ok()
}

/// Analyses a batch on every core (rayon's pool, off the async runtime), in input order.
/// Items not `fresh` were decided before and are not analysed. A panic in one item's analysis
/// is caught and reported for that item alone.
async fn analyse(
    raws: Vec<RawItem>,
    fresh: Vec<bool>,
    settings: &ProcessorSettings,
    metrics: &ProcessorMetrics,
) -> Option<Vec<Analysed1>> {
    let settings = settings.clone();
    let work = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        raws.into_par_iter()
            .zip(fresh)
            .map(|(raw, fresh)| {
                let started = Instant::now();
                if !fresh {
                    return (Analysed1::Dropped(DropReason::Duplicate), None);
                }
                let id = raw.id.clone();
                let a = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| analyze(raw, &settings))) {
                    Ok(Ok(a)) => Analysed1::Done(a),
                    Ok(Err(reason)) => Analysed1::Dropped(reason),
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".to_owned());
                        tracing::error!(message = "Analysis panicked; the item will be dead-lettered.", item_id = %id, panic = %what);
                        Analysed1::Panicked(format!("analysis panicked: {what}"))
                    }
                };
                (a, Some(started.elapsed()))
            })
            .collect::<Vec<_>>()
    });
    match work.await {
        Ok(results) => Some(
            results
                .into_iter()
                .map(|(a, took)| {
                    if let Some(t) = took {
                        metrics.process_duration.observe(t.as_secs_f64());
                    }
                    a
                })
                .collect(),
        ),
        Err(e) => {
            tracing::error!(message = "Analysis task failed; the batch will be redelivered.", error = %e);
            None
        }
    }
}

/// Acks, nacks or dead-letters one message once its article's fate is known.
async fn finish(step: Step, metrics: &ProcessorMetrics, processor: &Mutex<Processor>) {
    let (delivery, id, error) = match step {
        Step::Ack(d) => {
            ack(&d).await;
            return;
        }
        Step::DeadLetter { delivery, error } => {
            metrics.stage.failed("panic");
            if delivery.dead_letter("panic", &error).await {
                metrics.dead_lettered.inc();
            }
            return;
        }
        Step::Publish { delivery, id, duplicate, pending } => match pending.acked().await {
            Ok(_) => {
                metrics.stage.items_out.inc();
                if let Some(kind) = duplicate {
                    let kind = match kind {
                        DuplicateKind::Exact => "exact",
                        DuplicateKind::Near => "near",
                    };
                    metrics.duplicates.with_label_values(&[kind]).inc();
                }
                ack(&delivery).await;
                return;
            }
            Err(error) => {
                // Not on the bus: the memory forgets the id before the nack below, so that the
                // redelivery (or a requeued dead letter) is decided again, not dropped as seen.
                lock(processor).forget(&id);
                (delivery, id, error)
            }
        },
        Step::Failed { delivery, id, error } => (delivery, id, error),
    };
    if error.kind() == BusErrorKind::Message {
        metrics.stage.failed("publish");
        tracing::error!(message = "Article cannot be published; dead-lettering.", %error, article_id = %id);
        if delivery.dead_letter("publish", &error.to_string()).await {
            metrics.dead_lettered.inc();
        }
    } else {
        tracing::warn!(message = "Publishing article failed; will retry.", %error, article_id = %id, delivered = delivery.delivered());
        retry_or_dead_letter(&delivery, metrics, "publish", &error.to_string()).await;
    }
}

/// Nacks with back-off, or dead-letters on the last delivery.
async fn retry_or_dead_letter(d: &Delivery, metrics: &ProcessorMetrics, reason: &'static str, error: &str) {
    if d.is_last_attempt() {
        metrics.stage.failed(reason);
        if d.dead_letter(reason, error).await {
            metrics.dead_lettered.inc();
        }
    } else {
        d.retry_later().await;
    }
}

async fn ack(d: &Delivery) {
    if let Err(error) = d.ack().await {
        // The article is out; a redelivery will be recognised as a repeat.
        tracing::warn!(message = "Ack failed.", %error);
    }
}
