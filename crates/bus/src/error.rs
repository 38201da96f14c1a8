/// What a caller can do about a [`BusError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// The server is unreachable or slow: retry later (nak, back off), nothing is wrong with the
    /// message.
    Transient,
    /// The message itself cannot be handled (too large, does not encode): dead-letter it.
    Message,
    /// Configuration or server set-up is wrong (bad URL, stream conflict): stop and report.
    Fatal,
}

/// The underlying error of a [`BusError`], kept (not flattened to text) so that callers and
/// logs can walk the cause chain. Shared, so that a remembered failure can be reported again.
pub type Source = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Wraps any error as a [`Source`].
pub(crate) fn source(e: impl std::error::Error + Send + Sync + 'static) -> Source {
    std::sync::Arc::new(e)
}

/// A plain message as a [`Source`], for failures that have no error value of their own.
pub(crate) fn message(m: impl Into<String>) -> Source {
    #[derive(Debug)]
    struct Message(String);
    impl std::fmt::Display for Message {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Message {}
    std::sync::Arc::new(Message(m.into()))
}

/// Errors talking to NATS. Each carries what a caller can do about it ([`BusError::kind`])
/// and the client's error as its source.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Could not connect: `Fatal` for an address that does not parse, refused credentials or
    /// a TLS set-up error; `Transient` for an unreachable server.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The configured URL.
        url: String,
        /// What the caller can do.
        kind: BusErrorKind,
        /// The client's error.
        source: Source,
    },
    /// A stream could not be created, read or updated: `Fatal` when the server refuses the
    /// configuration (subjects overlapping another stream, limits, JetStream disabled);
    /// `Transient` for timeouts and a server that is not answering yet.
    #[error("JetStream stream {stream}: {source}")]
    Stream {
        /// Stream name.
        stream: String,
        /// What the caller can do.
        kind: BusErrorKind,
        /// The client's error.
        source: Source,
    },
    /// A consumer could not be created or read from (same kinds as [`BusError::Stream`]).
    #[error("JetStream consumer {consumer} on {stream}: {source}")]
    Consumer {
        /// Stream name.
        stream: String,
        /// Durable consumer name.
        consumer: String,
        /// What the caller can do.
        kind: BusErrorKind,
        /// The client's error.
        source: Source,
    },
    /// A publish failed or was not acknowledged.
    #[error("publish to {subject} failed: {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// What the caller can do.
        kind: BusErrorKind,
        /// The client's error.
        source: Source,
    },
    /// An acknowledgement could not be sent (always `Transient`: the server redelivers).
    #[error("ack failed: {0}")]
    Ack(Source),
    /// A message could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The local nats-server could not be started.
    #[error("{0}")]
    LocalServer(String),
    /// A key-value bucket could not be created or opened.
    #[error("JetStream key-value bucket {bucket}: {source}")]
    Bucket {
        /// Bucket name.
        bucket: String,
        /// What the caller can do: `Fatal` for a configuration the server can never accept,
        /// `Transient` otherwise.
        kind: BusErrorKind,
        /// The client's error.
        source: Source,
    },
    /// A key-value read or write failed (a stale revision or an existing key is not an error:
    /// see `KvBucket::update` and `KvBucket::create`).
    #[error("key-value {op} of {key} in {bucket} failed: {source}")]
    Kv {
        /// Bucket name.
        bucket: String,
        /// The key.
        key: String,
        /// The operation (`get`, `put`, `create`, `update`, `delete`).
        op: &'static str,
        /// What the caller can do: `Message` for an invalid key, `Transient` otherwise.
        kind: BusErrorKind,
        /// The client's error.
        source: Source,
    },
}

impl BusError {
    /// Whether to retry, dead-letter or stop.
    pub fn kind(&self) -> BusErrorKind {
        match self {
            BusError::Connect { kind, .. }
            | BusError::Stream { kind, .. }
            | BusError::Consumer { kind, .. }
            | BusError::Publish { kind, .. }
            | BusError::Bucket { kind, .. }
            | BusError::Kv { kind, .. } => *kind,
            BusError::Ack(_) => BusErrorKind::Transient,
            BusError::Encode(_) => BusErrorKind::Message,
            BusError::LocalServer(_) => BusErrorKind::Fatal,
        }
    }
}

/// The kind of a connect error: what retrying cannot fix is `Fatal`.
pub(crate) fn connect_kind(kind: async_nats::ConnectErrorKind) -> BusErrorKind {
    use async_nats::ConnectErrorKind as K;
    match kind {
        K::ServerParse | K::Authentication | K::AuthorizationViolation | K::Tls => BusErrorKind::Fatal,
        K::Dns | K::TimedOut | K::Io | K::MaxReconnects => BusErrorKind::Transient,
    }
}

/// The kind of a JetStream API error by its code: the server refusing a configuration is
/// `Fatal`; a cluster or leader not available yet, or anything unknown, is `Transient`.
pub(crate) fn jetstream_kind(e: &async_nats::jetstream::Error) -> BusErrorKind {
    use async_nats::jetstream::ErrorCode as C;
    let code = e.error_code();
    let fatal = [
        C::STREAM_SUBJECT_OVERLAP,
        C::STREAM_NAME_EXIST,
        C::STREAM_LIMITS,
        C::STREAM_MISMATCH,
        C::BAD_REQUEST,
        C::INVALID_JSON,
        C::JETSTREAM_NOT_ENABLED,
        C::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT,
        C::INSUFFICIENT_RESOURCES,
        C::MAXIMUM_STREAMS_LIMIT,
        C::MAXIMUM_CONSUMERS_LIMIT,
        C::STREAM_REPLICAS_NOT_UPDATABLE,
        C::NO_ACCOUNT,
    ];
    if fatal.contains(&code) { BusErrorKind::Fatal } else { BusErrorKind::Transient }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_address_or_refused_credentials_are_fatal_an_unreachable_server_is_not() {
        use async_nats::ConnectErrorKind as K;
        for k in [K::ServerParse, K::Authentication, K::AuthorizationViolation, K::Tls] {
            assert_eq!(connect_kind(k), BusErrorKind::Fatal, "{k:?}");
        }
        for k in [K::Dns, K::TimedOut, K::Io] {
            assert_eq!(connect_kind(k), BusErrorKind::Transient, "{k:?}");
        }
    }

    #[test]
    fn the_source_is_kept() {
        use std::error::Error as _;
        let e = BusError::Stream {
            stream: "S".into(),
            kind: BusErrorKind::Transient,
            source: message("timed out"),
        };
        assert_eq!(e.to_string(), "JetStream stream S: timed out");
        assert_eq!(e.source().map(ToString::to_string).as_deref(), Some("timed out"));
    }
}
