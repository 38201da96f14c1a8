//! The sink's async shell: consume articles in batches, commit, then ack.

use std::time::{Duration, Instant};

use newswire_bus::{Bus, BusError, ConsumerRole, Delivery, decode_batch};
use newswire_model::Article;
use newswire_telemetry::Health;
use newswire_telemetry::metrics::SinkMetrics;
use tokio_util::sync::CancellationToken;

use crate::{ArticleStore, SinkSettings, Store, StoreErrorKind};

/// Consumes articles until `shutdown`, storing each batch in one transaction.
///
/// Acks are sent only after the commit: a crash before it means redelivery, and the upsert
/// makes a redelivered article a no-op (`unchanged`), so each article is stored exactly once.
/// Undecodable messages are dead-lettered at once. When the database fails, the whole batch is
/// nacked with back-off (and `/readyz` reports it); a message on its last delivery is
/// dead-lettered instead, so nothing is silently lost.
pub async fn run(
    bus: Bus,
    store: Store,
    settings: &SinkSettings,
    metrics: SinkMetrics,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let mut consumer = bus.consumer(ConsumerRole::Sink).await?;
    while let Some(batch) = consumer.next_batch(settings.batch_size, settings.batch_linger(), &shutdown).await
    {
        metrics.stage.items_in.inc_by(batch.len() as u64);
        let decoded = decode_batch::<Article>(batch, "article", |dead_lettered| {
            metrics.stage.failed("decode");
            if dead_lettered {
                metrics.dead_lettered.inc();
            }
        })
        .await;
        let (deliveries, articles): (Vec<Delivery>, Vec<Article>) = decoded.into_iter().unzip();
        if articles.is_empty() {
            continue;
        }
        let started = Instant::now();
        match store.upsert(&articles).await {
            Ok(results) => {
                metrics.write_duration.observe(started.elapsed().as_secs_f64());
                metrics.last_batch_size.set(articles.len() as i64);
                health.set_ready();
                for r in &results {
                    metrics.stored.with_label_values(&[r.as_str()]).inc();
                    match r {
                        crate::UpsertResult::Unchanged => metrics.stage.dropped("unchanged"),
                        _ => metrics.stage.items_out.inc(),
                    }
                }
                for d in &deliveries {
                    if let Err(error) = d.ack().await {
                        // Stored already; the redelivery will be `unchanged`.
                        tracing::warn!(message = "Ack failed after commit.", %error);
                    }
                }
                tracing::debug!(message = "Batch stored.", articles = articles.len());
            }
            Err(e) if e.kind() == StoreErrorKind::Fatal => {
                health.set_not_ready(format!("store: {e}"));
                tracing::error!(message = "Store is misconfigured; stopping the sink.", error = %e);
                for d in &deliveries {
                    let _ = d.nak(Duration::from_secs(5)).await;
                }
                return Ok(());
            }
            Err(e) => {
                health.set_not_ready(format!("store: {e}"));
                tracing::warn!(message = "Storing batch failed; will retry.", error = %e, articles = articles.len());
                for d in &deliveries {
                    if d.is_last_attempt() {
                        metrics.stage.failed("store");
                        if d.dead_letter("store", &e.to_string()).await {
                            metrics.dead_lettered.inc();
                        }
                    } else {
                        d.retry_later().await;
                    }
                }
            }
        }
    }
    Ok(())
}
