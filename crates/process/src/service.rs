//! The processor's async shell around [`Processor`].

use std::time::{Duration, Instant};

use chrono::Utc;
use newswire_bus::{Bus, BusError, BusErrorKind, ConsumerRole, Delivery};
use newswire_model::RawItem;
use newswire_telemetry::metrics::ProcessorMetrics;
use tokio_util::sync::CancellationToken;

use crate::{Outcome, Processor, ProcessorSettings};

/// Consumes raw items until `shutdown`, publishing one article per new item.
///
/// Each message is acked only after its article is acknowledged by JetStream (or after it was
/// dropped on purpose). A message that does not decode is dead-lettered at once; one whose
/// article cannot be published is nacked with back-off and dead-lettered on its last delivery.
/// On shutdown the current message is finished; fetched but unhandled ones are redelivered.
pub async fn run(
    bus: Bus,
    settings: &ProcessorSettings,
    metrics: ProcessorMetrics,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let mut consumer = bus.consumer(ConsumerRole::Processor).await?;
    let mut processor = Processor::new(settings);
    while let Some(batch) =
        consumer.next_batch(settings.batch_size, Duration::from_millis(20), &shutdown).await
    {
        for delivery in batch {
            handle(&bus, &mut processor, &metrics, &delivery).await;
        }
    }
    Ok(())
}

async fn handle(bus: &Bus, processor: &mut Processor, metrics: &ProcessorMetrics, d: &Delivery) {
    metrics.stage.items_in.inc();
    let raw: RawItem = match serde_json::from_slice(d.payload()) {
        Ok(r) => r,
        Err(e) => {
            metrics.stage.failed("decode");
            tracing::warn!(message = "Raw item does not decode; dead-lettering.", error = %e, subject = d.subject());
            if d.dead_letter("decode", &e.to_string()).await {
                metrics.dead_lettered.inc();
            }
            return;
        }
    };
    let started = Instant::now();
    let outcome = processor.process(&raw, Utc::now());
    metrics.process_duration.observe(started.elapsed().as_secs_f64());
    match outcome {
        Outcome::Dropped(reason) => {
            metrics.stage.dropped(reason.as_str());
            ack(d).await;
        }
        Outcome::Article(processed) => match bus.publish_article(&processed.article).await {
            Ok(_) => {
                processor.record(&processed);
                metrics.stage.items_out.inc();
                if let Some(d) = &processed.article.duplicate {
                    let kind = match d.kind {
                        newswire_model::DuplicateKind::Exact => "exact",
                        newswire_model::DuplicateKind::Near => "near",
                    };
                    metrics.duplicates.with_label_values(&[kind]).inc();
                }
                ack(d).await;
            }
            Err(e) if e.kind() == BusErrorKind::Message || d.is_last_attempt() => {
                metrics.stage.failed("publish");
                tracing::error!(message = "Article cannot be published; dead-lettering.", error = %e, article_id = %processed.article.id);
                if d.dead_letter("publish", &e.to_string()).await {
                    metrics.dead_lettered.inc();
                }
            }
            Err(e) => {
                tracing::warn!(message = "Publishing article failed; will retry.", error = %e, article_id = %processed.article.id, delivered = d.delivered());
                d.retry_later().await;
            }
        },
    }
}

async fn ack(d: &Delivery) {
    if let Err(error) = d.ack().await {
        // The article is out; a redelivery will be recognised as a duplicate.
        tracing::warn!(message = "Ack failed.", %error);
    }
}
