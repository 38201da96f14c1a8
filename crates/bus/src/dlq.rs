//! The dead-letter stream from the operator's side: list, show, requeue and purge what the
//! stages gave up on (`newswire dlq`).
//!
//! A dead letter is the original payload, unchanged, on `<root>.dlq.<stage>`, with the reason,
//! the error, the original subject and sequence and the number of deliveries in headers (see
//! [`Delivery::dead_letter`](crate::Delivery::dead_letter)). Requeueing publishes the payload
//! back on its original subject, then deletes the dead letter.

use chrono::{DateTime, Utc};

use crate::error::source;
use crate::range::{NewsStream, RangeEnd, RangeStart, StoredMessage};
use crate::{
    Bus, BusError, BusErrorKind, DLQ_DELIVERIES_HEADER, DLQ_ERROR_HEADER, DLQ_REASON_HEADER,
    DLQ_SEQUENCE_HEADER, DLQ_SUBJECT_HEADER,
};

/// Header on a requeued message: the sequence of the dead letter it came from, so that a
/// consumer (or an operator reading the stream) can tell a requeue from an original.
pub const REQUEUED_FROM_HEADER: &str = "Newswire-Requeued-From";

/// A dead-lettered message, as stored in the dead-letter stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its sequence in the dead-letter stream (what `dlq show` and `dlq requeue` take).
    pub seq: u64,
    /// The stage that gave up on it (the last token of its subject).
    pub stage: String,
    /// `Newswire-Dlq-Reason` (e.g. `decode`, `invalid`); `None` if missing.
    pub reason: Option<String>,
    /// `Newswire-Dlq-Error`, one line.
    pub error: Option<String>,
    /// `Newswire-Dlq-Deliveries`: deliveries of the original before it was given up on
    /// (absent on dead letters written before the header existed).
    pub deliveries: Option<u64>,
    /// `Newswire-Dlq-Subject`: where it was published first.
    pub original_subject: Option<String>,
    /// `Newswire-Dlq-Sequence`: its sequence in the original stream.
    pub original_sequence: Option<u64>,
    /// When it was dead-lettered.
    pub time: DateTime<Utc>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The original payload, unchanged.
    pub payload: bytes::Bytes,
}

impl DeadLetter {
    fn from_stored(m: StoredMessage) -> Self {
        let text = |name: &str| m.header(name).map(str::to_owned);
        let number = |name: &str| m.header(name).and_then(|v| v.trim().parse().ok());
        Self {
            seq: m.sequence,
            stage: m.subject.rsplit('.').next().unwrap_or_default().to_owned(),
            reason: text(DLQ_REASON_HEADER),
            error: text(DLQ_ERROR_HEADER),
            deliveries: number(DLQ_DELIVERIES_HEADER),
            original_subject: text(DLQ_SUBJECT_HEADER),
            original_sequence: number(DLQ_SEQUENCE_HEADER),
            time: m.time,
            headers: m.headers,
            payload: m.payload,
        }
    }
}

/// Which dead letters an operation applies to. Empty fields mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    /// Only this stage's (`processor`, `sink`).
    pub stage: Option<String>,
    /// Only those with this reason.
    pub reason: Option<String>,
}

impl DlqFilter {
    fn matches(&self, d: &DeadLetter) -> bool {
        self.reason.as_ref().is_none_or(|r| d.reason.as_deref() == Some(r.as_str()))
            && self.stage.as_ref().is_none_or(|s| &d.stage == s)
    }
}

/// What a requeue did with one dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeued {
    /// The dead letter's sequence.
    pub seq: u64,
    /// Where its payload was published.
    pub subject: String,
    /// The sequence of the new message in the original stream.
    pub sequence: u64,
}

/// Errors of the dead-letter operations that are not plain bus errors.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// No dead letter has this sequence.
    #[error("no dead letter with sequence {0}")]
    NotFound(u64),
    /// The dead letter does not say where it came from, or names a subject outside this
    /// pipeline's raw and article subjects (it is never published anywhere else).
    #[error("dead letter {seq}: cannot requeue to {subject:?}: {why}")]
    BadSubject {
        /// The dead letter's sequence.
        seq: u64,
        /// The subject found (empty when missing).
        subject: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A stage name that cannot be a subject token.
    #[error("invalid stage {0:?}: expected a name such as `processor` or `sink`")]
    BadStage(String),
}

impl Bus {
    fn dlq_filter_subject(&self, filter: &DlqFilter) -> Result<String, DlqError> {
        match &filter.stage {
            Some(s)
                if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Err(DlqError::BadStage(s.clone()))
            }
            Some(s) => Ok(self.subjects().dlq(s)),
            None => Ok(self.subjects().dlq_all()),
        }
    }

    /// Dead letters matching `filter`, oldest first, at most `limit`, and how many more
    /// matched.
    pub async fn dlq_list(
        &self,
        filter: &DlqFilter,
        limit: usize,
    ) -> Result<(Vec<DeadLetter>, u64), DlqError> {
        let subject = self.dlq_filter_subject(filter)?;
        let mut range =
            self.read_range(NewsStream::Dlq, Some(subject), RangeStart::Sequence(1), RangeEnd::Now).await?;
        let (mut out, mut more) = (Vec::new(), 0);
        while let Some(m) = range.next().await? {
            let d = DeadLetter::from_stored(m);
            if !filter.matches(&d) {
                continue;
            }
            if out.len() < limit {
                out.push(d);
            } else {
                more += 1;
            }
        }
        Ok((out, more))
    }

    /// One dead letter by its sequence.
    pub async fn dlq_get(&self, seq: u64) -> Result<DeadLetter, DlqError> {
        let stream = self.stream_handle(NewsStream::Dlq).await?;
        let name = self.stream_name(NewsStream::Dlq).to_owned();
        let m = match stream.get_raw_message(seq).await {
            Ok(m) => m,
            Err(e) => {
                use async_nats::jetstream::stream::RawMessageErrorKind as K;
                return match e.kind() {
                    K::NoMessageFound => Err(DlqError::NotFound(seq)),
                    K::JetStream(j)
                        if j.error_code() == async_nats::jetstream::ErrorCode::NO_MESSAGE_FOUND =>
                    {
                        Err(DlqError::NotFound(seq))
                    }
                    _ => Err(BusError::Stream {
                        stream: name,
                        kind: BusErrorKind::Transient,
                        source: source(e),
                    }
                    .into()),
                };
            }
        };
        let headers = m
            .headers
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |v| (n.to_string(), v.as_str().to_owned())))
            .collect();
        let nanos = m.time.unix_timestamp_nanos();
        let time = DateTime::from_timestamp(
            nanos.div_euclid(1_000_000_000) as i64,
            nanos.rem_euclid(1_000_000_000) as u32,
        )
        .unwrap_or_default();
        Ok(DeadLetter::from_stored(StoredMessage {
            sequence: m.sequence,
            subject: m.subject.to_string(),
            time,
            headers,
            payload: m.payload,
        }))
    }

    /// Publishes the payload of dead letter `seq` back on its original subject, then deletes
    /// the dead letter. The publish carries `Nats-Msg-Id` `requeue.<seq>` (a second requeue of
    /// the same dead letter, after a crash before the delete, is dropped by the server inside
    /// its duplicate window) and [`REQUEUED_FROM_HEADER`]. Only subjects of this pipeline's
    /// raw items and articles are accepted: a header is data, and never a way to publish
    /// elsewhere.
    pub async fn dlq_requeue(&self, seq: u64) -> Result<Requeued, DlqError> {
        let d = self.dlq_get(seq).await?;
        let subject = d.original_subject.clone().unwrap_or_default();
        self.check_requeue_subject(seq, &subject)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("requeue.{seq}").as_str());
        headers.insert(REQUEUED_FROM_HEADER, seq.to_string().as_str());
        let published = self.publish_bytes(subject.clone(), headers, d.payload.clone()).await?;
        self.dlq_delete(seq).await?;
        Ok(Requeued { seq, subject, sequence: published.sequence })
    }

    fn check_requeue_subject(&self, seq: u64, subject: &str) -> Result<(), DlqError> {
        let bad = |why| Err(DlqError::BadSubject { seq, subject: subject.to_owned(), why });
        if subject.is_empty() {
            return bad("the dead letter has no Newswire-Dlq-Subject header");
        }
        let valid_tokens = subject
            .split('.')
            .all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !valid_tokens {
            return bad("not a plain subject");
        }
        let raw = self.subjects().raw_all();
        let articles = self.subjects().articles_all();
        let under = |wildcard: &str| subject.starts_with(wildcard.trim_end_matches('>'));
        if under(&raw) || under(&articles) {
            Ok(())
        } else {
            bad("not a raw-item or article subject of this pipeline")
        }
    }

    /// Deletes one dead letter; [`DlqError::NotFound`] if there is none with that sequence.
    pub async fn dlq_delete(&self, seq: u64) -> Result<(), DlqError> {
        let stream = self.stream_handle(NewsStream::Dlq).await?;
        match stream.delete_message(seq).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DlqError::NotFound(seq)),
            Err(e) => {
                let text = e.to_string();
                if text.contains("no message found") || text.contains("not found") {
                    Err(DlqError::NotFound(seq))
                } else {
                    Err(BusError::Stream {
                        stream: self.stream_name(NewsStream::Dlq).to_owned(),
                        kind: BusErrorKind::Transient,
                        source: source(e),
                    }
                    .into())
                }
            }
        }
    }

    /// Deletes every dead letter matching `filter`; returns how many. Without a reason, a
    /// stage's (or all) dead letters go in one server-side purge; with one, each match is
    /// deleted by sequence.
    pub async fn dlq_purge(&self, filter: &DlqFilter) -> Result<u64, DlqError> {
        let subject = self.dlq_filter_subject(filter)?;
        if filter.reason.is_none() {
            let stream = self.stream_handle(NewsStream::Dlq).await?;
            let r = stream.purge().filter(subject).await.map_err(|e| BusError::Stream {
                stream: self.stream_name(NewsStream::Dlq).to_owned(),
                kind: BusErrorKind::Transient,
                source: source(e),
            })?;
            return Ok(r.purged);
        }
        let (matching, _) = self.dlq_list(filter, usize::MAX).await?;
        let mut purged = 0;
        for d in matching {
            match self.dlq_delete(d.seq).await {
                Ok(()) => purged += 1,
                // Deleted meanwhile (another operator): what was asked is done.
                Err(DlqError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(purged)
    }
}
