//! Embedded SQL migrations and the schema-version check.
//!
//! Migrations are plain `.sql` files compiled into the binary, applied in
//! order inside one transaction by `create`, and recorded in the
//! `schema_version` table. `open` never migrates: it only checks that the
//! recorded version is exactly the one this build knows, so an old binary
//! cannot silently misread a newer store (and vice versa).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::error::StoreError;
use crate::sqlite::{now_string, SqlContext};

/// The embedded migrations, `(version, sql)`, in application order.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_ledger.sql")),
    (3, include_str!("../migrations/0003_sources.sql")),
    (4, include_str!("../migrations/0004_lanes.sql")),
    (5, include_str!("../migrations/0005_artifacts.sql")),
];

/// The schema version this build writes and reads (the last migration).
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Applies every migration to a fresh database, in one transaction.
pub(crate) fn apply_all(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction().ctx(path, "begin migration")?;
    for (version, sql) in MIGRATIONS {
        tx.execute_batch(sql).ctx(path, "apply migration")?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, now_string()],
        )
        .ctx(path, "record migration")?;
    }
    tx.commit().ctx(path, "commit migration")
}

/// Checks that the database is a store with exactly [`SCHEMA_VERSION`].
///
/// Read-only: this runs before any pragma that could write to the file, so
/// opening something that is not a store leaves it untouched.
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let not_a_store = |reason: String| StoreError::NotAStore {
        path: path.to_path_buf(),
        reason,
    };
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| not_a_store(e.to_string()))?;
    if has_table.is_none() {
        return Err(not_a_store("no schema_version table".into()));
    }
    let found: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .map_err(|e| not_a_store(format!("cannot read schema_version: {e}")))?;
    let Some(found) = found else {
        return Err(not_a_store("schema_version is empty".into()));
    };
    if found != SCHEMA_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}
