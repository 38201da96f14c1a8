/// What the sink can do about a [`StoreError`]: the kind is what callers act on; the error
/// itself keeps the driver's error as its source.
///
/// The mapping, from [`StoreError::kind`]:
///
/// | Error | Kind |
/// |---|---|
/// | [`StoreError::Config`], `sqlx::Error::Configuration` | [`Fatal`](Self::Fatal) |
/// | PostgreSQL SQLSTATE class `28` (refused credentials), `3D000` (no such database), `42501` (insufficient privilege) | [`Fatal`](Self::Fatal) |
/// | IO errors (connection refused or reset, broken pipe), `PoolTimedOut`, `PoolClosed`, `WorkerCrashed`, `Tls` | [`Unavailable`](Self::Unavailable) |
/// | PostgreSQL SQLSTATE class `08` (connection exception), `53` (insufficient resources: disk full, out of memory, too many connections), `57P01`..`57P03` (admin/crash shutdown, cannot connect now), `58` (system error, I/O), `40001` (serialization failure), `40P01` (deadlock), `25006` (read-only transaction: a standby) | [`Unavailable`](Self::Unavailable) |
/// | PostgreSQL SQLSTATE class `22` (data exception: `22P05` untranslatable character such as `\u0000` in JSONB, `22021` invalid byte sequence such as a NUL in text, `22P02` invalid text representation, …), `23` (integrity constraint violation), `54` (program limit exceeded: a row or value too large) | [`Rejected`](Self::Rejected) |
/// | SQLite primary result codes `SQLITE_BUSY`, `SQLITE_LOCKED`, `SQLITE_NOMEM`, `SQLITE_IOERR`, `SQLITE_FULL` (disk full), `SQLITE_CANTOPEN`, `SQLITE_PROTOCOL`, `SQLITE_READONLY` | [`Unavailable`](Self::Unavailable) |
/// | SQLite `SQLITE_CONSTRAINT` (and its extended codes), `SQLITE_TOOBIG`, `SQLITE_MISMATCH` | [`Rejected`](Self::Rejected) |
/// | `sqlx::Error::Encode`, [`StoreError::Decode`] (an article that does not serialise), [`StoreError::Index`] (its search terms could not be built) | [`Rejected`](Self::Rejected) |
/// | [`StoreError::Migrate`]: a failed statement as above; an unknown, changed or half-applied migration | [`Fatal`](Self::Fatal) |
/// | anything else (other SQLSTATEs, protocol errors, …) | [`Transient`](Self::Transient) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The store is down, unreachable, full or busy: nothing is wrong with the data. The sink
    /// keeps the messages, stops pulling and retries the same batch until the store is back;
    /// it never dead-letters for this.
    Unavailable,
    /// The database refused this data (a row-level error): retrying the same rows cannot
    /// succeed. The sink bisects the batch to store the rest and dead-letters the rejected
    /// article(s).
    Rejected,
    /// Unclassified: possibly passing. The batch is nacked with back-off; a message on its
    /// last delivery is dead-lettered (reason `store`).
    Transient,
    /// The configuration is wrong (bad URL, refused credentials, a role without the
    /// privilege): the sink stops with an error (a non-zero exit), nacking what it holds.
    Fatal,
}

/// Why the sink stage stopped: errors that retrying cannot fix, so that the service exits
/// with a non-zero code instead of idling or ending as if it had been asked to.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The bus failed (its consumer could not be opened).
    #[error(transparent)]
    Bus(#[from] newswire_bus::BusError),
    /// The store refused the sink for good (configuration, permissions).
    #[error("store failed: {0}")]
    Store(#[source] StoreError),
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
    /// A stored row does not decode, or an article does not encode.
    #[error("stored article does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    /// Building an article's search terms failed (a panic in the analysis, caught). Treated
    /// as a rejected row: the sink isolates the article by bisecting its batch.
    #[error("search terms could not be built: {0}")]
    Index(String),
    /// The schema could not be brought up to date.
    #[error("{backend}: schema migration failed: {source}")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
}

impl StoreError {
    pub(crate) fn sqlite(source: sqlx::Error) -> Self {
        StoreError::Db { backend: "sqlite", source }
    }
    pub(crate) fn pg(source: sqlx::Error) -> Self {
        StoreError::Db { backend: "postgres", source }
    }

    /// What to do about it: see the table on [`StoreErrorKind`].
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::Config(_) => StoreErrorKind::Fatal,
            StoreError::Decode(_) | StoreError::Index(_) => StoreErrorKind::Rejected,
            StoreError::Db { backend, source } => sqlx_kind(backend, source),
            // A statement of a migration failed: as any statement would (a server going away
            // mid-migration is worth waiting for).
            StoreError::Migrate { backend, source: sqlx::migrate::MigrateError::Execute(e) } => {
                sqlx_kind(backend, e)
            }
            // The database holds a migration this binary does not know, one whose text
            // changed, or one left half-applied: an operator has to look.
            StoreError::Migrate { .. } => StoreErrorKind::Fatal,
        }
    }

    /// The database's own message for a database error (what it said about the row), else the
    /// whole error.
    pub fn db_message(&self) -> String {
        match self {
            StoreError::Db { source: sqlx::Error::Database(e), .. } => match e.code() {
                Some(code) => format!("{} (code {code})", e.message()),
                None => e.message().to_owned(),
            },
            other => other.to_string(),
        }
    }
}

fn sqlx_kind(backend: &str, e: &sqlx::Error) -> StoreErrorKind {
    match e {
        sqlx::Error::Configuration(_) => StoreErrorKind::Fatal,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
        sqlx::Error::Encode(_) => StoreErrorKind::Rejected,
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if backend == "sqlite" => sqlite_kind(&code),
            Some(code) => pg_kind(&code),
            None => StoreErrorKind::Transient,
        },
        _ => StoreErrorKind::Transient,
    }
}

/// By SQLSTATE (five characters: a two-character class, then the condition).
fn pg_kind(sqlstate: &str) -> StoreErrorKind {
    match sqlstate {
        // Refused credentials, a database that does not exist, a role without the privilege:
        // retrying cannot fix these, and every article would end up dead-lettered meanwhile.
        "3D000" | "42501" => StoreErrorKind::Fatal,
        s if s.starts_with("28") => StoreErrorKind::Fatal,
        "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "25006" => StoreErrorKind::Unavailable,
        s if s.starts_with("08") || s.starts_with("53") || s.starts_with("58") => StoreErrorKind::Unavailable,
        s if s.starts_with("22") || s.starts_with("23") || s.starts_with("54") => StoreErrorKind::Rejected,
        _ => StoreErrorKind::Transient,
    }
}

/// SQLite's primary result codes for a database another connection holds.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// The primary result code of a SQLite code as sqlx reports it: the extended code, whose low
/// byte is the primary one.
fn sqlite_primary(code: &str) -> Option<i64> {
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

/// Whether `e` is SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED`: another connection holds the file.
pub(crate) fn sqlite_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    db.code().and_then(|c| sqlite_primary(&c)).is_some_and(|c| matches!(c, SQLITE_BUSY | SQLITE_LOCKED))
}

/// By SQLite result code (see [`sqlite_primary`]).
fn sqlite_kind(code: &str) -> StoreErrorKind {
    const NOMEM: i64 = 7;
    const READONLY: i64 = 8;
    const IOERR: i64 = 10;
    const FULL: i64 = 13;
    const CANTOPEN: i64 = 14;
    const PROTOCOL: i64 = 15;
    const TOOBIG: i64 = 18;
    const CONSTRAINT: i64 = 19;
    const MISMATCH: i64 = 20;
    match sqlite_primary(code) {
        Some(SQLITE_BUSY | SQLITE_LOCKED | NOMEM | READONLY | IOERR | FULL | CANTOPEN | PROTOCOL) => {
            StoreErrorKind::Unavailable
        }
        Some(TOOBIG | CONSTRAINT | MISMATCH) => StoreErrorKind::Rejected,
        _ => StoreErrorKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_kinds() {
        for s in ["22P05", "22021", "22P02", "23505", "23502", "54000", "54001"] {
            assert_eq!(pg_kind(s), StoreErrorKind::Rejected, "{s}");
        }
        for s in ["08006", "08001", "53100", "53300", "57P01", "57P03", "58030", "40001", "40P01"] {
            assert_eq!(pg_kind(s), StoreErrorKind::Unavailable, "{s}");
        }
        for s in ["42P01", "XX000", "57014", ""] {
            assert_eq!(pg_kind(s), StoreErrorKind::Transient, "{s}");
        }
        for s in ["28P01", "28000", "3D000", "42501"] {
            assert_eq!(pg_kind(s), StoreErrorKind::Fatal, "{s}");
        }
    }

    #[test]
    fn sqlite_codes_map_to_kinds() {
        // 2067 = SQLITE_CONSTRAINT_UNIQUE, 1299 = SQLITE_CONSTRAINT_NOTNULL, 18 TOOBIG, 20 MISMATCH.
        for c in ["19", "2067", "1299", "18", "20"] {
            assert_eq!(sqlite_kind(c), StoreErrorKind::Rejected, "{c}");
        }
        // 5 BUSY, 517 BUSY_SNAPSHOT, 13 FULL, 10 IOERR, 266 IOERR_READ, 14 CANTOPEN, 8 READONLY.
        for c in ["5", "517", "13", "10", "266", "14", "8"] {
            assert_eq!(sqlite_kind(c), StoreErrorKind::Unavailable, "{c}");
        }
        for c in ["1", "11", "x"] {
            assert_eq!(sqlite_kind(c), StoreErrorKind::Transient, "{c}");
        }
    }

    #[test]
    fn non_database_errors_map_to_kinds() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(StoreError::pg(sqlx::Error::Io(io)).kind(), StoreErrorKind::Unavailable);
        assert_eq!(StoreError::pg(sqlx::Error::PoolTimedOut).kind(), StoreErrorKind::Unavailable);
        assert_eq!(StoreError::Config("x".into()).kind(), StoreErrorKind::Fatal);
        assert_eq!(StoreError::pg(sqlx::Error::Protocol("x".into())).kind(), StoreErrorKind::Transient);
    }
}
