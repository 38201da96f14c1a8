//! The message bus: NATS JetStream streams, subjects, publishing and consuming.
//!
//! Only this crate knows subject, stream and key-value bucket names. Parts:
//! - [`BusSettings`]: the `[nats]` configuration section.
//! - [`Subjects`]: the subject hierarchy (`news.raw.<source>`, `news.articles.<lang>.<category>`,
//!   `news.dlq.<stage>`).
//! - [`Bus`]: a connection; creates the streams idempotently, publishes [`RawItem`]s and
//!   [`Article`]s with `Nats-Msg-Id` set to the article id (JetStream then drops exact
//!   re-publishes inside its duplicate window), and opens durable pull consumers.
//! - [`Consumer`] and [`Delivery`]: explicit-ack consumption in batches, with dead-lettering.
//! - [`CrashGuard`]: recognises a redelivered message that killed its stage, so that it is
//!   dead-lettered instead of killing it again.
//! - [`KvBucket`] and [`KvBucketName`]: JetStream key-value buckets (get, put, atomic create,
//!   compare-and-set update, delete), opened with [`Bus::kv_bucket`]; bucket names, like
//!   stream names, are known only here.
//! - [`read_range`](Bus::read_range): a range of a stream, by sequence or time, read with an
//!   ephemeral ordered consumer (`newswire replay`, `newswire dlq`).
//! - [`DeadLetter`] and the `dlq_*` methods of [`Bus`]: list, show, requeue and purge dead
//!   letters.
//! - [`monitor`]: consumer lag and stream sizes read from JetStream (what each stage owns or
//!   consumes), polled for the `newswire_bus_*` gauges.
//! - [`LocalNatsServer`]: starts a `nats-server -js` child process, for the demo and the tests.
//!
//! [`RawItem`]: newswire_model::RawItem
//! [`Article`]: newswire_model::Article

mod bus;
mod consumer;
mod crash;
mod dlq;
mod error;
mod kv;
mod local_server;
pub mod monitor;
mod range;
mod replay;
mod settings;
mod subjects;

pub use bus::{Bus, ClientRole, PendingPublish, Published, article_msg_id};
pub use consumer::{Consumer, ConsumerRole, Delivery, decode_batch, redelivery_backoff};
pub use crash::CrashGuard;
pub use dlq::{DeadLetter, DlqError, DlqFilter, REQUEUED_FROM_HEADER, Requeued};
pub use error::{BusError, BusErrorKind, Source};
pub use kv::{KvBucket, KvBucketName, KvChange};
pub use local_server::{LocalNatsServer, find_nats_server, nats_answers};
pub use range::{NewsStream, RangeEnd, RangeReader, RangeStart, StoredMessage, StreamState};
pub use replay::Replayed;
pub use settings::{BusSettings, StreamSettings};
pub use subjects::Subjects;

/// Header carrying the reason a message was dead-lettered (bounded vocabulary, e.g. `decode`).
pub const DLQ_REASON_HEADER: &str = "Newswire-Dlq-Reason";
/// Header carrying the human-readable error of a dead-lettered message.
pub const DLQ_ERROR_HEADER: &str = "Newswire-Dlq-Error";
/// Header carrying the subject a dead-lettered message was originally published on.
pub const DLQ_SUBJECT_HEADER: &str = "Newswire-Dlq-Subject";
/// Header carrying the stream sequence of the original message.
pub const DLQ_SEQUENCE_HEADER: &str = "Newswire-Dlq-Sequence";
/// Header carrying how many times the original message was delivered before it was
/// dead-lettered (1: given up on at once, e.g. `decode`).
pub const DLQ_DELIVERIES_HEADER: &str = "Newswire-Dlq-Deliveries";
