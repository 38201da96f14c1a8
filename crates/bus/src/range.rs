//! Reading a range of a stream as it stands, with an ephemeral ordered consumer: what
//! `newswire replay` reads from `NEWS_RAW` (and the memory it warms from `NEWS_ARTICLES`),
//! and what `newswire dlq` lists. Nothing is acked or changed by reading.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::error::{message, source};
use crate::{Bus, BusError, BusErrorKind};

/// One of newswire's streams, by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewsStream {
    /// `NEWS_RAW`: raw items.
    Raw,
    /// `NEWS_ARTICLES`: articles.
    Articles,
    /// `NEWS_DLQ`: dead letters.
    Dlq,
    /// `NEWS_STORIES`: story events.
    Stories,
}

/// Where a range starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeStart {
    /// At this stream sequence (inclusive).
    Sequence(u64),
    /// At the first message stored at or after this time.
    Time(DateTime<Utc>),
}

/// Where a range ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    /// At the last message stored when the range was opened.
    Now,
    /// At this stream sequence (inclusive).
    Sequence(u64),
    /// Before the first message stored at or after this time.
    Time(DateTime<Utc>),
}

/// A message as stored in a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Its stream sequence.
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// When the server stored it.
    pub time: DateTime<Utc>,
    /// Its headers, in the order given (a name may repeat).
    pub headers: Vec<(String, String)>,
    /// The payload, unchanged.
    pub payload: Bytes,
}

impl StoredMessage {
    /// The first value of header `name` (case-sensitive, as NATS headers are).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The first and last sequence and the message count of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamState {
    /// Sequence of the oldest message (0 when empty).
    pub first: u64,
    /// Sequence of the newest message (0 when empty).
    pub last: u64,
    /// Messages stored.
    pub messages: u64,
}

/// Messages of a range, oldest first: see [`Bus::read_range`].
pub struct RangeReader {
    messages: Option<async_nats::jetstream::consumer::pull::Ordered>,
    end: RangeEnd,
    /// The last sequence the range can reach (for progress: "seq n of m").
    last: u64,
    stream: String,
    done: bool,
}

impl std::fmt::Debug for RangeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeReader").field("stream", &self.stream).field("last", &self.last).finish()
    }
}

/// How long a range waits for its next message before taking the stream as read: messages are
/// read from storage, so a silence this long means there are none left.
const IDLE: Duration = Duration::from_secs(5);

impl RangeReader {
    /// The highest sequence this range can reach: the end sequence, or the stream's last
    /// sequence when the range was opened.
    pub fn last_sequence(&self) -> u64 {
        self.last
    }

    /// The next message of the range; `None` at its end.
    pub async fn next(&mut self) -> Result<Option<StoredMessage>, BusError> {
        if self.done {
            return Ok(None);
        }
        let Some(messages) = self.messages.as_mut() else { return Ok(None) };
        let err =
            |source| BusError::Stream { stream: self.stream.clone(), kind: BusErrorKind::Transient, source };
        let msg = match tokio::time::timeout(IDLE, messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(err(source(e))),
            Ok(None) | Err(_) => {
                self.done = true;
                return Ok(None);
            }
        };
        let info = msg.info().map_err(|e| err(message(e.to_string())))?;
        let (sequence, pending) = (info.stream_sequence, info.pending);
        let time = to_chrono(info.published.unix_timestamp_nanos());
        let past_end = match self.end {
            RangeEnd::Now => sequence > self.last,
            RangeEnd::Sequence(end) => sequence > end,
            RangeEnd::Time(until) => time >= until,
        };
        if past_end {
            self.done = true;
            return Ok(None);
        }
        // Nothing left in the stream after this one (as of now): do not wait for more.
        if pending == 0 || sequence >= self.last {
            self.done = true;
        }
        let headers = msg
            .headers
            .as_ref()
            .map(|h| {
                h.iter()
                    .flat_map(|(name, values)| {
                        values.iter().map(move |v| (name.to_string(), v.as_str().to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(StoredMessage {
            sequence,
            subject: msg.subject.to_string(),
            time,
            headers,
            payload: msg.payload.clone(),
        }))
    }
}

fn to_chrono(nanos: i128) -> DateTime<Utc> {
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    DateTime::from_timestamp(secs, sub).unwrap_or_default()
}

impl Bus {
    /// The configured name of a stream.
    pub fn stream_name(&self, kind: NewsStream) -> &str {
        let s = self.settings();
        match kind {
            NewsStream::Raw => &s.raw_stream.name,
            NewsStream::Articles => &s.articles_stream.name,
            NewsStream::Dlq => &s.dlq_stream.name,
            NewsStream::Stories => &s.stories_stream.name,
        }
    }

    /// The wildcard of all the subjects of a stream.
    pub fn stream_subjects(&self, kind: NewsStream) -> String {
        let s = self.subjects();
        match kind {
            NewsStream::Raw => s.raw_all(),
            NewsStream::Articles => s.articles_all(),
            NewsStream::Dlq => s.dlq_all(),
            NewsStream::Stories => s.stories_all(),
        }
    }

    pub(crate) async fn stream_handle(
        &self,
        kind: NewsStream,
    ) -> Result<async_nats::jetstream::stream::Stream, BusError> {
        let name = self.stream_name(kind).to_owned();
        self.jetstream().get_stream(&name).await.map_err(|e| BusError::Stream {
            stream: name,
            kind: crate::bus::get_stream_kind(e.kind()),
            source: source(e),
        })
    }

    /// First and last sequence and message count of a stream.
    pub async fn stream_state(&self, kind: NewsStream) -> Result<StreamState, BusError> {
        let mut stream = self.stream_handle(kind).await?;
        let info = stream.info().await.map_err(|e| BusError::Stream {
            stream: self.stream_name(kind).to_owned(),
            kind: BusErrorKind::Transient,
            source: source(e),
        })?;
        let s = &info.state;
        Ok(StreamState { first: s.first_sequence, last: s.last_sequence, messages: s.messages })
    }

    /// Opens a range of a stream, `filter` (a subject wildcard; `None`: all its subjects)
    /// applied, to be read oldest first with [`RangeReader::next`]. An ephemeral ordered
    /// consumer reads it: nothing is acked, and messages stored after the range was opened
    /// are not included unless its end is a later sequence or time.
    pub async fn read_range(
        &self,
        kind: NewsStream,
        filter: Option<String>,
        start: RangeStart,
        end: RangeEnd,
    ) -> Result<RangeReader, BusError> {
        let stream_name = self.stream_name(kind).to_owned();
        let state = self.stream_state(kind).await?;
        let last = match end {
            RangeEnd::Sequence(s) => s.min(state.last),
            _ => state.last,
        };
        let mut reader = RangeReader { messages: None, end, last, stream: stream_name.clone(), done: false };
        let empty = match start {
            RangeStart::Sequence(s) => s > last,
            RangeStart::Time(_) => false,
        };
        if state.messages == 0 || empty {
            return Ok(reader);
        }
        let deliver_policy = match start {
            RangeStart::Sequence(s) => DeliverPolicy::ByStartSequence { start_sequence: s.max(state.first) },
            RangeStart::Time(t) => {
                let nanos =
                    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
                let start_time = async_nats::datetime::from_nanos(nanos).map_err(|e| BusError::Stream {
                    stream: stream_name.clone(),
                    kind: BusErrorKind::Fatal,
                    source: message(format!("start time {t}: {e}")),
                })?;
                DeliverPolicy::ByStartTime { start_time }
            }
        };
        let err =
            |source| BusError::Stream { stream: stream_name.clone(), kind: BusErrorKind::Transient, source };
        let stream = self.stream_handle(kind).await?;
        let mut consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy,
                filter_subject: filter.unwrap_or_else(|| self.stream_subjects(kind)),
                ..Default::default()
            })
            .await
            .map_err(|e| err(source(e)))?;
        // Nothing matches from the start on: say so at once instead of waiting for silence.
        let pending = consumer.info().await.map(|i| i.num_pending).unwrap_or(1);
        if pending == 0 {
            return Ok(reader);
        }
        reader.messages = Some(consumer.messages().await.map_err(|e| err(source(e)))?);
        Ok(reader)
    }

    /// The sequence of the first message of a stream (matching `filter`) stored at or after
    /// `time`; the stream's last sequence + 1 when there is none.
    pub async fn sequence_at(
        &self,
        kind: NewsStream,
        filter: Option<String>,
        time: DateTime<Utc>,
    ) -> Result<u64, BusError> {
        let state = self.stream_state(kind).await?;
        let mut r = self.read_range(kind, filter, RangeStart::Time(time), RangeEnd::Now).await?;
        Ok(r.next().await?.map_or(state.last + 1, |m| m.sequence))
    }
}
