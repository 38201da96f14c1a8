//! Reading back the most recent articles of the article stream: how a processor that starts
//! (after a restart, or taking over from another replica) gets the memory its predecessor had.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures_util::StreamExt;
use newswire_model::Article;

use crate::{Bus, BusError};

/// What [`Bus::replay_articles`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Articles handed to the callback.
    pub articles: u64,
    /// Messages that did not decode as articles (skipped).
    pub skipped: u64,
}

impl Bus {
    /// Hands the last `limit` articles of the article stream (as it stood when called) to
    /// `each`, oldest first, in batches of up to `batch`. Nothing is acked or changed: an
    /// ephemeral ordered consumer reads them. Articles published meanwhile are not included;
    /// the caller's durable consumer will deliver those.
    pub async fn replay_articles(
        &self,
        limit: u64,
        batch: usize,
        mut each: impl FnMut(Vec<Article>),
    ) -> Result<Replayed, BusError> {
        let name = &self.settings().articles_stream.name;
        let err = |source: crate::error::Source| BusError::Stream {
            stream: name.clone(),
            kind: crate::BusErrorKind::Transient,
            source,
        };
        let mut stream = self.jetstream().get_stream(name).await.map_err(|e| err(crate::error::source(e)))?;
        let info = stream.info().await.map_err(|e| err(crate::error::source(e)))?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut done = Replayed::default();
        if limit == 0 || info.state.messages == 0 || last < first {
            return Ok(done);
        }
        let start = last.saturating_sub(limit - 1).max(first);
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: start },
                filter_subject: self.subjects().articles_all(),
                ..Default::default()
            })
            .await
            .map_err(|e| err(crate::error::source(e)))?;
        let mut messages = consumer.messages().await.map_err(|e| err(crate::error::source(e)))?;
        let mut pending = Vec::with_capacity(batch);
        loop {
            // An idle stream has nothing more to give: stop rather than wait for new messages.
            let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
            let msg = match next {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(err(crate::error::source(e))),
                Ok(None) | Err(_) => break,
            };
            let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(last);
            match serde_json::from_slice::<Article>(&msg.payload) {
                Ok(a) => {
                    pending.push(a);
                    done.articles += 1;
                }
                Err(_) => done.skipped += 1,
            }
            if pending.len() >= batch.max(1) {
                each(std::mem::take(&mut pending));
            }
            if seq >= last {
                break;
            }
        }
        if !pending.is_empty() {
            each(pending);
        }
        Ok(done)
    }
}
