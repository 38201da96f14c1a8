/// What to do about a [`FetchError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// Worth retrying on the next poll (network, timeout, 5xx).
    Transient,
    /// The feed itself is wrong (not a feed, malformed, too large, 4xx): retrying the same
    /// bytes will not help; report it.
    Content,
    /// Refused by configuration (SSRF guard, scheme not allowed).
    Refused,
}

/// Errors fetching or parsing a feed. Each names the input.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not acceptable.
    #[error("{url}: refused: {reason}")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The URL does not parse.
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl {
        /// The input.
        url: String,
        /// Why.
        reason: String,
    },
    /// Network-level failure (DNS, connect, TLS, reset, timeout).
    #[error("{url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// The client's message, with its causes.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// `Retry-After`, when the server gave one (seconds or an HTTP date), as a wait from
        /// when the answer came.
        retry_after: Option<std::time::Duration>,
    },
    /// The body exceeded the size limit.
    #[error("{url}: body larger than the {limit}-byte limit")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A local file or stdin could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The body is not a feed (HTML page, binary, empty).
    #[error("{url}: not a feed: {reason}")]
    NotAFeed {
        /// The URL or path.
        url: String,
        /// What it looks like instead.
        reason: String,
    },
    /// The body looks like a feed but does not parse.
    #[error("{url}: malformed feed: {message}")]
    Malformed {
        /// The URL or path.
        url: String,
        /// The parser's message.
        message: String,
    },
    /// The declared or detected character encoding cannot be decoded.
    #[error("{url}: unsupported character encoding {encoding:?}")]
    Encoding {
        /// The URL or path.
        url: String,
        /// The label.
        encoding: String,
    },
}

impl FetchError {
    /// Whether to retry, report or refuse.
    pub fn kind(&self) -> FetchErrorKind {
        match self {
            FetchError::Refused { .. } | FetchError::InvalidUrl { .. } => FetchErrorKind::Refused,
            FetchError::Network { .. } | FetchError::Io { .. } => FetchErrorKind::Transient,
            FetchError::Status { status, .. } if *status >= 500 || *status == 429 => {
                FetchErrorKind::Transient
            }
            _ => FetchErrorKind::Content,
        }
    }

    /// Whether the body arrived but is not a usable feed (not a feed, malformed, undecodable),
    /// as opposed to a body that could not be had at all.
    pub fn is_parse_error(&self) -> bool {
        matches!(
            self,
            FetchError::NotAFeed { .. } | FetchError::Malformed { .. } | FetchError::Encoding { .. }
        )
    }

    /// A bounded label for metrics.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            FetchError::Refused { .. } | FetchError::InvalidUrl { .. } => "refused",
            FetchError::Network { timeout: true, .. } => "timeout",
            FetchError::Network { .. } => "network",
            FetchError::Status { .. } => "status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Io { .. } => "io",
            FetchError::NotAFeed { .. } => "not_a_feed",
            FetchError::Malformed { .. } => "malformed",
            FetchError::Encoding { .. } => "encoding",
        }
    }
}
