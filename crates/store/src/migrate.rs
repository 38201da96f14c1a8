//! Versioned schema migrations, embedded in the binary: one directory per backend under
//! `migrations/`, applied in order by sqlx's migrator, which records them in
//! `_sqlx_migrations` (with checksums: an applied migration must never be edited; add one).
//!
//! `0001_initial.sql` is the schema as it was before migrations had versions, written with
//! `IF NOT EXISTS`: on a database created by that code it changes nothing and is recorded as
//! applied, so old databases upgrade like new ones.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

fn migration(version: i64, description: &'static str, sql: &'static str) -> Migration {
    Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
}

/// The PostgreSQL migrations.
pub(crate) fn postgres() -> Migrator {
    Migrator::with_migrations(vec![
        migration(1, "initial", include_str!("../migrations/postgres/0001_initial.sql")),
        migration(2, "read side", include_str!("../migrations/postgres/0002_read_side.sql")),
        migration(3, "lz4 search meta", include_str!("../migrations/postgres/0003_lz4_search_meta.sql")),
        migration(4, "deferred search", include_str!("../migrations/postgres/0004_deferred_search.sql")),
    ])
}

/// The SQLite migrations.
pub(crate) fn sqlite() -> Migrator {
    Migrator::with_migrations(vec![
        migration(1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
        migration(2, "read side", include_str!("../migrations/sqlite/0002_read_side.sql")),
    ])
}
