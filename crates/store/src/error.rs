/// What the sink can do about a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The database is unreachable, busy or failing: nack and retry later.
    Transient,
    /// The configuration is wrong (bad URL, unwritable file): stop.
    Fatal,
}

/// Errors of the article store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database error.
    #[error("{backend}: {source}")]
    Db {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The configuration is unusable.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// A stored row does not decode.
    #[error("stored article does not decode: {0}")]
    Decode(#[from] serde_json::Error),
}

impl StoreError {
    pub(crate) fn sqlite(source: sqlx::Error) -> Self {
        StoreError::Db { backend: "sqlite", source }
    }
    pub(crate) fn pg(source: sqlx::Error) -> Self {
        StoreError::Db { backend: "postgres", source }
    }

    /// Whether to retry or stop.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::Config(_) => StoreErrorKind::Fatal,
            StoreError::Db { source: sqlx::Error::Configuration(_), .. } => StoreErrorKind::Fatal,
            _ => StoreErrorKind::Transient,
        }
    }
}
