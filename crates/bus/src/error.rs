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

/// Errors talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Could not connect.
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect {
        /// The configured URL.
        url: String,
        /// The client's message.
        message: String,
    },
    /// A stream could not be created or read.
    #[error("JetStream stream {stream}: {message}")]
    Stream {
        /// Stream name.
        stream: String,
        /// The server's message.
        message: String,
    },
    /// A consumer could not be created or read from.
    #[error("JetStream consumer {consumer} on {stream}: {message}")]
    Consumer {
        /// Stream name.
        stream: String,
        /// Durable consumer name.
        consumer: String,
        /// The server's message.
        message: String,
    },
    /// A publish failed or was not acknowledged.
    #[error("publish to {subject} failed: {message}")]
    Publish {
        /// The subject.
        subject: String,
        /// What the caller can do.
        kind: BusErrorKind,
        /// The client's message.
        message: String,
    },
    /// An acknowledgement could not be sent.
    #[error("ack failed: {0}")]
    Ack(String),
    /// A message could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The local nats-server could not be started.
    #[error("{0}")]
    LocalServer(String),
    /// A key-value bucket could not be created or opened.
    #[error("JetStream key-value bucket {bucket}: {message}")]
    Bucket {
        /// Bucket name.
        bucket: String,
        /// What the caller can do: `Fatal` for a configuration the server can never accept,
        /// `Transient` otherwise.
        kind: BusErrorKind,
        /// The client's message.
        message: String,
    },
    /// A key-value read or write failed (a stale revision or an existing key is not an error:
    /// see `KvBucket::update` and `KvBucket::create`).
    #[error("key-value {op} of {key} in {bucket} failed: {message}")]
    Kv {
        /// Bucket name.
        bucket: String,
        /// The key.
        key: String,
        /// The operation (`get`, `put`, `create`, `update`, `delete`).
        op: &'static str,
        /// What the caller can do: `Message` for an invalid key, `Transient` otherwise.
        kind: BusErrorKind,
        /// The client's message.
        message: String,
    },
}

impl BusError {
    /// Whether to retry, dead-letter or stop.
    pub fn kind(&self) -> BusErrorKind {
        match self {
            BusError::Connect { .. } | BusError::Ack(_) | BusError::Consumer { .. } => {
                BusErrorKind::Transient
            }
            BusError::Publish { kind, .. } | BusError::Bucket { kind, .. } | BusError::Kv { kind, .. } => {
                *kind
            }
            BusError::Encode(_) => BusErrorKind::Message,
            BusError::Stream { .. } | BusError::LocalServer(_) => BusErrorKind::Fatal,
        }
    }
}
