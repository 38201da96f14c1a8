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
}

impl BusError {
    /// Whether to retry, dead-letter or stop.
    pub fn kind(&self) -> BusErrorKind {
        match self {
            BusError::Connect { .. } | BusError::Ack(_) | BusError::Consumer { .. } => {
                BusErrorKind::Transient
            }
            BusError::Publish { kind, .. } => *kind,
            BusError::Encode(_) => BusErrorKind::Message,
            BusError::Stream { .. } | BusError::LocalServer(_) => BusErrorKind::Fatal,
        }
    }
}
