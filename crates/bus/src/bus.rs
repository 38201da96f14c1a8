use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, message::PublishMessage, stream};
use bytes::Bytes;
use newswire_model::{Article, RawItem, StoryEvent};
use serde::Serialize;

use crate::error::{connect_kind, jetstream_kind, message, source};
use crate::{BusError, BusErrorKind, BusSettings, Consumer, ConsumerRole, StreamSettings, Subjects};

/// What a client is, which decides what it may do to the streams when it connects. A stream's
/// limits are set by the stage that writes it, so that the last client to start does not
/// impose its configuration on the others (a default-configured tool once reset the raw
/// stream's duplicate window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    /// Touches no stream (`newswire tail`, the query API, observers in tests).
    ReadOnly,
    /// Owns the raw stream.
    Fetcher,
    /// Owns the article and dead-letter streams; creates the raw stream if it is missing.
    Processor,
    /// Owns the story-event stream; creates the article and dead-letter streams if they are
    /// missing, changes neither.
    Sink,
    /// Owns every stream: all stages in one process (`newswire run`, the demo, tests).
    All,
}

/// The three streams, by what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Raw,
    Articles,
    Dlq,
    Stories,
}

impl ClientRole {
    /// The streams this role creates or updates to its configuration, and those it only
    /// creates when missing (so that it can start before their owner).
    fn streams(self) -> (&'static [StreamKind], &'static [StreamKind]) {
        use StreamKind::*;
        match self {
            ClientRole::ReadOnly => (&[], &[]),
            ClientRole::Fetcher => (&[Raw], &[]),
            ClientRole::Processor => (&[Articles, Dlq], &[Raw]),
            ClientRole::Sink => (&[Stories], &[Articles, Dlq]),
            ClientRole::All => (&[Raw, Articles, Dlq, Stories], &[]),
        }
    }
}

/// The outcome of an acknowledged publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// JetStream already had a message with this `Nats-Msg-Id` inside its duplicate window and
    /// dropped this one.
    pub duplicate: bool,
    /// Stream sequence of the stored message (of the original when `duplicate`).
    pub sequence: u64,
}

/// A publish sent but not yet acknowledged by the server.
#[derive(Debug)]
pub struct PendingPublish {
    subject: String,
    ack: jetstream::context::PublishAckFuture,
}

impl PendingPublish {
    /// Waits for the server's ack: the message is stored in its stream.
    pub async fn acked(self) -> Result<Published, BusError> {
        await_ack(self.subject, self.ack).await
    }
}

/// A connection to NATS JetStream with newswire's streams and subjects.
#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    settings: BusSettings,
    subjects: Subjects,
}

impl Bus {
    /// Connects (failing after `connect_timeout_secs`) and sets up the streams as `role` may
    /// (see [`ClientRole`]). After start-up the client reconnects by itself, forever.
    pub async fn connect(
        settings: &BusSettings,
        client_name: &str,
        role: ClientRole,
    ) -> Result<Self, BusError> {
        let mut opts = async_nats::ConnectOptions::new()
            .name(client_name)
            .connection_timeout(Duration::from_secs(settings.connect_timeout_secs));
        if let Some(token) = &settings.token {
            opts = opts.token(token.clone());
        }
        let connect_err = |kind, source| BusError::Connect { url: settings.url.clone(), kind, source };
        // A user (each stage its own, with its own permissions) and its password; an empty
        // user (an unset variable in a compose file) is no user.
        match (settings.user.as_deref().filter(|u| !u.is_empty()), &settings.password) {
            (Some(user), password) => {
                opts = opts.user_and_password(user.to_owned(), password.clone().unwrap_or_default());
            }
            (None, Some(_)) => {
                return Err(connect_err(
                    BusErrorKind::Fatal,
                    message("`nats.password` is set but `nats.user` is not"),
                ));
            }
            (None, None) => {}
        }
        let connect = opts.connect(settings.url.as_str());
        let client = tokio::time::timeout(Duration::from_secs(settings.connect_timeout_secs.max(1)), connect)
            .await
            .map_err(|_| {
                connect_err(
                    BusErrorKind::Transient,
                    message(format!("timed out after {}s", settings.connect_timeout_secs)),
                )
            })?
            .map_err(|e| connect_err(connect_kind(e.kind()), source(e)))?;
        let js = jetstream::new(client.clone());
        let bus =
            Self { client, js, subjects: Subjects::new(&settings.subject_root), settings: settings.clone() };
        bus.ensure_streams(role).await?;
        Ok(bus)
    }

    /// Messages of a role's consumer not yet acked (pending delivery plus in flight); 0 when
    /// the consumer does not exist yet. Used to wait for the pipeline to drain.
    pub async fn pending(&self, role: ConsumerRole) -> Result<u64, BusError> {
        let stream_name = self.stream_of(role);
        let err = |kind, source| BusError::Consumer {
            stream: stream_name.clone(),
            consumer: role.durable_name().to_owned(),
            kind,
            source,
        };
        let stream =
            self.js.get_stream(stream_name).await.map_err(|e| err(get_stream_kind(e.kind()), source(e)))?;
        match stream.consumer_info(role.durable_name()).await {
            Ok(info) => Ok(info.num_pending + info.num_ack_pending as u64),
            Err(e) if e.to_string().contains("not found") => Ok(0),
            Err(e) => Err(err(BusErrorKind::Transient, source(e))),
        }
    }

    /// The stream a role consumes.
    fn stream_of(&self, role: ConsumerRole) -> &String {
        match role {
            ConsumerRole::Processor => &self.settings.raw_stream.name,
            ConsumerRole::Sink => &self.settings.articles_stream.name,
        }
    }

    /// The subject hierarchy in use.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The settings this bus was built with.
    pub fn settings(&self) -> &BusSettings {
        &self.settings
    }

    /// The underlying client (for plain NATS use such as `newswire tail`).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Sets up the streams as `role` may: those it owns are created, or updated to the
    /// configured limits and subjects; those it only uses are created when missing and never
    /// changed; a read-only client touches none. Idempotent, in any start order.
    pub async fn ensure_streams(&self, role: ClientRole) -> Result<(), BusError> {
        let (owned, used) = role.streams();
        for (kinds, update) in [(owned, true), (used, false)] {
            for kind in kinds {
                let s = &self.settings;
                let (cfg, subject, description) = match kind {
                    StreamKind::Raw => {
                        (&s.raw_stream, self.subjects.raw_all(), "Raw feed items, kept for replay.")
                    }
                    StreamKind::Articles => {
                        (&s.articles_stream, self.subjects.articles_all(), "Processed articles.")
                    }
                    StreamKind::Dlq => (&s.dlq_stream, self.subjects.dlq_all(), "Dead-lettered messages."),
                    StreamKind::Stories => {
                        (&s.stories_stream, self.subjects.stories_all(), "Story events, from the sink.")
                    }
                };
                self.ensure_stream(cfg, subject, description, update).await?;
            }
        }
        Ok(())
    }

    async fn ensure_stream(
        &self,
        cfg: &StreamSettings,
        subject: String,
        description: &str,
        update: bool,
    ) -> Result<(), BusError> {
        let config = stream::Config {
            name: cfg.name.clone(),
            subjects: vec![subject],
            description: Some(description.to_owned()),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: cfg.max_age(),
            max_bytes: cfg.max_bytes,
            duplicate_window: Duration::from_secs(cfg.duplicate_window_secs),
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        };
        let err = |kind, source| BusError::Stream { stream: cfg.name.clone(), kind, source };
        let mut existing = self
            .js
            .get_or_create_stream(config.clone())
            .await
            .map_err(|e| err(create_stream_kind(e.kind()), source(e)))?;
        if !update {
            return Ok(());
        }
        let info = existing.info().await.map_err(|e| err(BusErrorKind::Transient, source(e)))?;
        let current = &info.config;
        if current.subjects != config.subjects
            || current.max_age != config.max_age
            || current.max_bytes != config.max_bytes
            || current.duplicate_window != config.duplicate_window
        {
            tracing::info!(message = "Updating stream limits.", stream = %cfg.name);
            self.js.update_stream(config).await.map_err(|e| err(create_stream_kind(e.kind()), source(e)))?;
        }
        Ok(())
    }

    /// The largest message the server accepts (its `max_payload`, 1 MiB by default).
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// Publishes a raw item on `<root>.raw.<source>` and waits for the server's ack.
    pub async fn publish_raw(&self, item: &RawItem) -> Result<Published, BusError> {
        self.publish_json(self.subjects.raw(&item.source_id), item.id.as_str(), item).await
    }

    /// Publishes many raw items with all acks in flight at once, then waits for them: one
    /// round trip per batch instead of per item. Results are in input order.
    ///
    /// `Nats-Msg-Id` is the article id, so that JetStream drops the same article arriving from
    /// a second feed; for an item marked `changed` (a new version of an entry published
    /// before) it is [`RawItem::msg_id`], so that the new version is not dropped as a repeat.
    pub async fn publish_raw_batch(
        &self,
        items: &[RawItem],
        changed: &[bool],
    ) -> Vec<Result<Published, BusError>> {
        let mut pending = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let subject = self.subjects.raw(&item.source_id);
            let msg_id =
                if changed.get(i).copied().unwrap_or(false) { item.msg_id() } else { item.id.to_string() };
            pending.push(match self.send_json(subject.clone(), &msg_id, item).await {
                Ok(ack) => Ok((subject, ack)),
                Err(e) => Err(e),
            });
        }
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            out.push(match p {
                Ok((subject, ack)) => await_ack(subject, ack).await,
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Sends an article on `<root>.articles.<lang>.<category>` without waiting for the
    /// server's ack: many can be in flight at once. The article is on the bus only once
    /// [`PendingPublish::acked`] says so.
    pub async fn send_article(&self, article: &Article) -> Result<PendingPublish, BusError> {
        self.send_pending(self.subjects.for_article(article), &article_msg_id(article), article).await
    }

    /// Sends an article like [`send_article`](Self::send_article) but with the `Nats-Msg-Id`
    /// given (a replay's, so that a re-decided article is not dropped as a repeat of its first
    /// publish inside the duplicate window).
    pub async fn send_article_as(&self, article: &Article, msg_id: &str) -> Result<PendingPublish, BusError> {
        self.send_pending(self.subjects.for_article(article), msg_id, article).await
    }

    /// Publishes an article on `<root>.articles.<lang>.<category>` and waits for the ack.
    pub async fn publish_article(&self, article: &Article) -> Result<Published, BusError> {
        self.publish_json(self.subjects.for_article(article), &article_msg_id(article), article).await
    }

    /// Publishes a story event on `<root>.stories.<lang>` with `Nats-Msg-Id`
    /// `<story_id>:<version>` ([`StoryEvent::msg_id`]) and waits for the ack: a republish of
    /// the same change (after a crash between publish and marking it published) is dropped by
    /// the server inside the duplicate window.
    pub async fn publish_story_event(&self, event: &StoryEvent) -> Result<Published, BusError> {
        self.publish_json(self.subjects.stories(&event.language), &event.msg_id(), event).await
    }

    /// Sends a story event like [`publish_story_event`](Self::publish_story_event) without
    /// waiting for the ack, so that a page of events costs one round trip, not one each.
    pub async fn send_story_event(&self, event: &StoryEvent) -> Result<PendingPublish, BusError> {
        self.send_pending(self.subjects.stories(&event.language), &event.msg_id(), event).await
    }

    async fn send_pending<T: Serialize>(
        &self,
        subject: String,
        msg_id: &str,
        value: &T,
    ) -> Result<PendingPublish, BusError> {
        let ack = self.send_json(subject.clone(), msg_id, value).await?;
        Ok(PendingPublish { subject, ack })
    }

    async fn publish_json<T: Serialize>(
        &self,
        subject: String,
        msg_id: &str,
        value: &T,
    ) -> Result<Published, BusError> {
        let ack = self.send_json(subject.clone(), msg_id, value).await?;
        await_ack(subject, ack).await
    }

    async fn send_json<T: Serialize>(
        &self,
        subject: String,
        msg_id: &str,
        value: &T,
    ) -> Result<jetstream::context::PublishAckFuture, BusError> {
        let payload = Bytes::from(serde_json::to_vec(value)?);
        let msg = PublishMessage::build().payload(payload).message_id(msg_id);
        self.js.send_publish(subject.clone(), msg).await.map_err(|e| publish_error(&subject, e))
    }

    /// Publishes raw bytes with headers (used for dead letters).
    pub(crate) async fn publish_bytes(
        &self,
        subject: String,
        headers: async_nats::HeaderMap,
        payload: Bytes,
    ) -> Result<Published, BusError> {
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|e| publish_error(&subject, e))?;
        await_ack(subject, ack).await
    }

    /// Opens (creating if needed) the durable pull consumer of a pipeline role.
    pub async fn consumer(&self, role: ConsumerRole) -> Result<Consumer, BusError> {
        let stream_name = self.stream_of(role);
        let filter = match role {
            ConsumerRole::Processor => self.subjects.raw_all(),
            ConsumerRole::Sink => self.subjects.articles_all(),
        };
        let durable = role.durable_name();
        let err = |kind, source| BusError::Consumer {
            stream: stream_name.clone(),
            consumer: durable.to_owned(),
            kind,
            source,
        };
        let stream =
            self.js.get_stream(stream_name).await.map_err(|e| err(get_stream_kind(e.kind()), source(e)))?;
        let config = pull::Config {
            durable_name: Some(durable.to_owned()),
            description: Some(role.description().to_owned()),
            filter_subject: filter,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(self.settings.ack_wait_secs),
            max_deliver: self.settings.max_deliver,
            // Bounded so that one slow consumer cannot hold the whole stream in flight.
            max_ack_pending: 4096,
            ..Default::default()
        };
        let inner = stream
            .get_or_create_consumer(durable, config)
            .await
            .map_err(|e| err(consumer_kind(e.kind()), source(e)))?;
        Consumer::new(self.clone(), inner, role).await
    }
}

async fn await_ack(
    subject: String,
    ack: jetstream::context::PublishAckFuture,
) -> Result<Published, BusError> {
    let ack = ack.await.map_err(|e| publish_error(&subject, e))?;
    Ok(Published { duplicate: ack.duplicate, sequence: ack.sequence })
}

fn publish_error(subject: &str, e: jetstream::context::PublishError) -> BusError {
    use jetstream::context::PublishErrorKind as K;
    let kind = match e.kind() {
        K::MaxPayloadExceeded => BusErrorKind::Message,
        K::StreamNotFound => BusErrorKind::Fatal,
        _ => BusErrorKind::Transient,
    };
    BusError::Publish { subject: subject.to_owned(), kind, source: source(e) }
}

/// The kind of a stream create or update error.
pub(crate) fn create_stream_kind(kind: jetstream::context::CreateStreamErrorKind) -> BusErrorKind {
    use async_nats::jetstream::context::CreateStreamErrorKind as K;
    match kind {
        K::EmptyStreamName | K::InvalidStreamName | K::DomainAndExternalSet => BusErrorKind::Fatal,
        K::JetStream(e) => jetstream_kind(&e),
        _ => BusErrorKind::Transient,
    }
}

/// The kind of a stream lookup error: a stream not found yet is `Transient` (its owner may not
/// have started).
pub(crate) fn get_stream_kind(kind: jetstream::context::GetStreamErrorKind) -> BusErrorKind {
    use jetstream::context::GetStreamErrorKind as K;
    match kind {
        K::EmptyName | K::InvalidStreamName => BusErrorKind::Fatal,
        K::JetStream(e) if e.error_code() != jetstream::ErrorCode::STREAM_NOT_FOUND => jetstream_kind(&e),
        _ => BusErrorKind::Transient,
    }
}

/// The kind of a consumer create or lookup error.
pub(crate) fn consumer_kind(kind: stream::ConsumerErrorKind) -> BusErrorKind {
    use stream::ConsumerErrorKind as K;
    match kind {
        K::InvalidConsumerType | K::InvalidName => BusErrorKind::Fatal,
        K::JetStream(e) => jetstream_kind(&e),
        _ => BusErrorKind::Transient,
    }
}

/// An article's `Nats-Msg-Id`: its id, and `<id>.r<n>` for revision `n`, so that a revision is
/// not dropped as a repeat of the version before it.
pub fn article_msg_id(article: &Article) -> String {
    match &article.revision {
        Some(r) => format!("{}.r{}", article.id, r.number),
        None => article.id.to_string(),
    }
}
