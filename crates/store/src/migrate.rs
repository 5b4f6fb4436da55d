//! Embedded SQL migrations and the schema-version check.
//!
//! Migrations are plain `.sql` files compiled into the binary: one set for SQLite
//! (`migrations/`) and an equivalent set for PostgreSQL (`migrations/postgres/`), the same
//! versions with the same tables, columns, constraints and append-only guards. `create`
//! applies them in order inside its transaction and records each in the `schema_version`
//! table. `open` never migrates: it only checks that the recorded version is exactly the
//! one this build knows, so an old binary cannot silently misread a newer store (and vice
//! versa).

use std::path::Path;

use crate::db::{params, Db, SqlContext};
use crate::error::StoreError;
use crate::store::now_string;

/// The migrations `(version, sql)` in application order, read from `migrations/<dir>`: each
/// version exists once per backend, under the same file name.
macro_rules! migrations {
    ($dir:literal: $($version:literal => $file:literal),+ $(,)?) => {
        &[$(($version, include_str!(concat!("../migrations/", $dir, $file)))),+]
    };
    ($dir:literal) => {
        migrations!($dir:
            1 => "0001_initial.sql",
            2 => "0002_ledger.sql",
            3 => "0003_sources.sql",
            4 => "0004_lanes.sql",
            5 => "0005_artifacts.sql",
            6 => "0006_request_nonces.sql",
        )
    };
}

/// The embedded SQLite migrations, `(version, sql)`, in application order.
pub(crate) const MIGRATIONS: &[(i64, &str)] = migrations!("");

/// The embedded PostgreSQL migrations: the same versions as [`MIGRATIONS`].
pub(crate) const PG_MIGRATIONS: &[(i64, &str)] = migrations!("postgres/");

/// The schema version this build writes and reads (the last migration).
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const _: () = assert!(PG_MIGRATIONS.len() == MIGRATIONS.len());
const _: () = assert!(PG_MIGRATIONS[PG_MIGRATIONS.len() - 1].0 == SCHEMA_VERSION);

/// Whether the database already holds a store (has a `schema_version` table).
pub(crate) fn has_store(db: &Db, path: &Path) -> Result<bool, StoreError> {
    db.query_opt(has_table_sql(db), params![])
        .map(|r| r.is_some())
        .ctx(path, "look for an existing store")
}

fn has_table_sql(db: &Db) -> &'static str {
    if db.is_pg() {
        "SELECT 1 FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = 'schema_version'"
    } else {
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    }
}

/// Applies every migration to a fresh database, inside the caller's transaction.
pub(crate) fn apply_all(db: &Db, path: &Path) -> Result<(), StoreError> {
    let migrations = if db.is_pg() {
        PG_MIGRATIONS
    } else {
        MIGRATIONS
    };
    for (version, sql) in migrations {
        db.batch(sql).ctx(path, "apply migration")?;
        db.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            params![*version, &now_string()],
        )
        .ctx(path, "record migration")?;
    }
    Ok(())
}

/// Checks that the database is a store with exactly [`SCHEMA_VERSION`].
///
/// Read-only: on SQLite this runs before any pragma that could write to the file, so
/// opening something that is not a store leaves it untouched.
pub(crate) fn check(db: &Db, path: &Path) -> Result<(), StoreError> {
    let not_a_store = |reason: String| StoreError::NotAStore {
        path: path.to_path_buf(),
        reason,
    };
    let has_table = db
        .query_opt(has_table_sql(db), params![])
        .map_err(|e| not_a_store(e.to_string()))?;
    if has_table.is_none() {
        return Err(not_a_store("no schema_version table".into()));
    }
    let found = db
        .query_one("SELECT MAX(version) FROM schema_version", params![])
        .and_then(|r| r.opt_i64(0))
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
