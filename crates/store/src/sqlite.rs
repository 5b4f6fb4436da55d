//! The SQLite backend of the store.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::error::StoreError;
use crate::{migrate, ChunkMeta, Deployment, NewChunk, PartMeta, PART_KINDS, STORE_FILE};

/// How long a writer waits for another connection's lock before failing:
/// the CLI, a server and an auditor may open the same store concurrently.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Attaches the store path and the operation to a SQLite error.
pub(crate) trait SqlContext<T> {
    /// Maps the error to [`StoreError::Sqlite`].
    fn ctx(self, path: &Path, op: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            op,
            source,
        })
    }
}

/// Current time as unix seconds, the timestamp format of rows the store
/// stamps itself (portable, sortable, no time-zone library needed).
pub(crate) fn now_string() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

/// A store: one SQLite database `store.sqlite` in a directory.
///
/// Every write is one transaction, so a crash or an error leaves either the
/// whole operation or nothing. Write transactions take the write lock up
/// front (`BEGIN IMMEDIATE`), so concurrent writers (several ingest processes
/// on one store) wait for each other through the busy timeout instead of
/// failing on a stale read of the last sequence number. The connection runs in WAL mode with
/// `synchronous=FULL` (a committed append survives power loss), foreign keys
/// on and a busy timeout.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Creates a new store at `dir/store.sqlite` (creating `dir` if missing)
    /// and applies the migrations.
    ///
    /// Fails with [`StoreError::AlreadyExists`] if a store file is already
    /// there, so `init` can never overwrite a deployment.
    pub fn create(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STORE_FILE);
        // `create_new` is atomic: two concurrent `create`s cannot both win.
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists { path });
            }
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        let made = Self::init_new(&path);
        if made.is_err() {
            // Do not leave a half-initialised file that `open` would reject.
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        made
    }

    fn init_new(path: &Path) -> Result<Store, StoreError> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(path, "open database")?;
        configure(&conn, path)?;
        migrate::apply_all(&mut conn, path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store at `dir/store.sqlite`.
    ///
    /// Never creates anything: fails with [`StoreError::NotFound`] if the
    /// file is missing, [`StoreError::NotAStore`] if it is not a store, and
    /// [`StoreError::UnsupportedVersion`] if its schema version is not
    /// [`crate::SCHEMA_VERSION`]. The version is checked before any pragma
    /// that could write, so a foreign file is left untouched.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        if !path.is_file() {
            return Err(StoreError::NotFound { path });
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::NotAStore {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .ctx(&path, "set busy timeout")?;
        migrate::check(&conn, &path)?;
        configure(&conn, &path)?;
        Ok(Store { conn, path })
    }

    /// Path of the database file, for messages and tools.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the deployment record; done once, by `init`.
    ///
    /// Fails with [`StoreError::DeploymentExists`] if one is already set: the
    /// keys and trustees of a deployment never change (ciphertexts already
    /// stored depend on them).
    pub fn put_deployment(&mut self, d: &Deployment) -> Result<(), StoreError> {
        if d.preset.is_empty() {
            return Err(StoreError::Invalid("deployment preset is empty".into()));
        }
        let mut seen = HashSet::new();
        for t in &d.trustees {
            if t.is_empty() {
                return Err(StoreError::Invalid("empty trustee name".into()));
            }
            if !seen.insert(t.as_str()) {
                return Err(StoreError::Invalid(format!("trustee `{t}` listed twice")));
            }
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path, "begin")?;
        let exists: i64 = tx
            .query_row("SELECT COUNT(*) FROM deployment", [], |r| r.get(0))
            .ctx(&path, "read deployment")?;
        if exists > 0 {
            return Err(StoreError::DeploymentExists { path });
        }
        tx.execute(
            "INSERT INTO deployment (id, preset, min_group_size, public_key, relin_key, created_at) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![
                d.preset,
                i64::from(d.min_group_size),
                d.public_key,
                d.relin_key,
                d.created_at
            ],
        )
        .ctx(&path, "insert deployment")?;
        {
            let mut stmt = tx
                .prepare("INSERT INTO deployment_trustees (position, name) VALUES (?1, ?2)")
                .ctx(&path, "prepare trustee insert")?;
            for (i, t) in d.trustees.iter().enumerate() {
                let pos = i64::try_from(i)
                    .map_err(|_| StoreError::Invalid("too many trustees".into()))?;
                stmt.execute(params![pos, t]).ctx(&path, "insert trustee")?;
            }
        }
        tx.commit().ctx(&path, "commit deployment")
    }

    /// The deployment record; [`StoreError::DeploymentMissing`] if `init`
    /// has not run, so every command fails early with a clear message.
    pub fn deployment(&self) -> Result<Deployment, StoreError> {
        let path = &self.path;
        let row = self
            .conn
            .query_row(
                "SELECT preset, min_group_size, public_key, relin_key, created_at \
                 FROM deployment WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .ctx(path, "read deployment")?;
        let Some((preset, min_group_size, public_key, relin_key, created_at)) = row else {
            return Err(StoreError::DeploymentMissing { path: path.clone() });
        };
        let min_group_size =
            u32::try_from(min_group_size).map_err(|_| StoreError::CorruptRecord {
                path: path.clone(),
                what: format!("deployment min_group_size {min_group_size} out of range"),
            })?;
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM deployment_trustees ORDER BY position")
            .ctx(path, "prepare trustees")?;
        let trustees = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(path, "read trustees")?;
        Ok(Deployment {
            preset,
            trustees,
            min_group_size,
            public_key,
            relin_key,
            created_at,
        })
    }

    /// Registers a dataset schema (TOML text kept verbatim).
    ///
    /// Idempotent with identical text, so re-running an ingest is harmless;
    /// a different text under the same name is a [`StoreError::SchemaConflict`]
    /// because stored chunks were encoded against the first one.
    pub fn register_dataset(&mut self, name: &str, schema_toml: &str) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path, "begin")?;
        register_in(&tx, &path, name, schema_toml)?;
        tx.commit().ctx(&path, "commit dataset registration")
    }

    /// The registered schema text of a dataset, or `None` if unknown.
    pub fn dataset_schema(&self, name: &str) -> Result<Option<String>, StoreError> {
        schema_of(&self.conn, &self.path, name)
    }

    /// Names of all registered datasets, sorted.
    pub fn datasets(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM datasets ORDER BY name")
            .ctx(&self.path, "prepare datasets")?;
        stmt.query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .ctx(&self.path, "read datasets")
    }

    /// Appends chunks of one dataset from one source in ONE transaction.
    ///
    /// All or nothing: the dataset registration (same rules as
    /// [`Store::register_dataset`]), every chunk, part and blob is committed
    /// together or not at all, so a failed or interrupted ingest leaves no
    /// trace and can simply be re-run. Sequence numbers continue per
    /// `(dataset, source)` from the last stored one (starting at 0). Returns
    /// the assigned chunk ids, in input order.
    ///
    /// Each chunk is validated (rows ≥ 1, known part names, non-empty column
    /// names, no `(column, part)` twice) just before it is inserted; an
    /// invalid chunk yields [`StoreError::InvalidChunk`] and rolls back the
    /// chunks already inserted.
    pub fn append_chunks(
        &mut self,
        dataset: &str,
        schema_toml: &str,
        source: &str,
        chunks: &[NewChunk],
    ) -> Result<Vec<i64>, StoreError> {
        if source.is_empty() {
            return Err(StoreError::Invalid("source name is empty".into()));
        }
        let path = self.path.clone();
        let path = path.as_path();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(path, "begin append")?;
        register_in(&tx, path, dataset, schema_toml)?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT MAX(seq) FROM chunks WHERE dataset = ?1 AND source = ?2",
                params![dataset, source],
                |r| r.get(0),
            )
            .ctx(path, "read last sequence number")?;
        let mut seq: i64 = match last {
            Some(s) => s.checked_add(1).ok_or_else(|| StoreError::CorruptRecord {
                path: path.to_path_buf(),
                what: format!("sequence number overflow for `{dataset}`/`{source}`"),
            })?,
            None => 0,
        };
        let mut ids = Vec::with_capacity(chunks.len());
        {
            let mut insert_chunk = tx
                .prepare_cached(
                    "INSERT INTO chunks (dataset, source, seq, \"rows\", public) \
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )
                .ctx(path, "prepare chunk insert")?;
            let mut insert_blob = tx
                .prepare_cached(
                    "INSERT INTO blobs (hash, size, bytes) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (hash) DO NOTHING",
                )
                .ctx(path, "prepare blob insert")?;
            let mut insert_part = tx
                .prepare_cached(
                    "INSERT INTO parts (chunk_id, \"column\", part, blob_hash) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .ctx(path, "prepare part insert")?;
            for (index, chunk) in chunks.iter().enumerate() {
                validate_chunk(chunk).map_err(|reason| StoreError::InvalidChunk {
                    dataset: dataset.to_string(),
                    source_name: source.to_string(),
                    index,
                    reason,
                })?;
                let id: i64 = insert_chunk
                    .query_row(
                        params![dataset, source, seq, i64::from(chunk.rows), chunk.public],
                        |r| r.get(0),
                    )
                    .ctx(path, "insert chunk")?;
                for p in &chunk.parts {
                    let hash = blake3::hash(&p.bytes).to_hex().to_string();
                    let size = i64::try_from(p.bytes.len())
                        .map_err(|_| StoreError::Invalid("blob too large".into()))?;
                    insert_blob
                        .execute(params![hash, size, p.bytes])
                        .ctx(path, "insert blob")?;
                    insert_part
                        .execute(params![id, p.column, p.part, hash])
                        .ctx(path, "insert part")?;
                }
                ids.push(id);
                seq += 1;
            }
        }
        tx.commit().ctx(path, "commit append")?;
        Ok(ids)
    }

    /// All chunks of a dataset in `(source, seq)` order, without ciphertext
    /// bytes (see [`Store::part`]). [`StoreError::UnknownDataset`] if the
    /// dataset is not registered; an empty list if it has no chunks yet.
    ///
    /// Sources are ordered by byte-wise comparison of their names.
    pub fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, StoreError> {
        self.require_dataset(dataset)?;
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, source, seq, \"rows\", public FROM chunks \
                 WHERE dataset = ?1 ORDER BY source, seq",
            )
            .ctx(path, "prepare chunks")?;
        let rows = stmt
            .query_map([dataset], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(path, "read chunks")?;
        rows.into_iter()
            .map(|(id, source, seq, rows, public)| {
                let corrupt = |what: String| StoreError::CorruptRecord {
                    path: path.clone(),
                    what,
                };
                Ok(ChunkMeta {
                    id,
                    seq: u64::try_from(seq)
                        .map_err(|_| corrupt(format!("chunk {id}: negative seq {seq}")))?,
                    rows: u32::try_from(rows).map_err(|_| {
                        corrupt(format!("chunk {id}: row count {rows} out of range"))
                    })?,
                    source,
                    public,
                })
            })
            .collect()
    }

    /// The parts a chunk has, without bytes, ordered by `(column, part)`;
    /// empty if the chunk does not exist.
    pub fn parts(&self, chunk_id: i64) -> Result<Vec<PartMeta>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT p.\"column\", p.part, b.hash, b.size \
                 FROM parts p JOIN blobs b ON b.hash = p.blob_hash \
                 WHERE p.chunk_id = ?1 ORDER BY p.\"column\", p.part",
            )
            .ctx(path, "prepare parts")?;
        let rows = stmt
            .query_map([chunk_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(path, "read parts")?;
        rows.into_iter()
            .map(|(column, part, hash, size)| {
                let size = u64::try_from(size).map_err(|_| StoreError::CorruptRecord {
                    path: path.clone(),
                    what: format!("blob {hash}: negative size {size}"),
                })?;
                Ok(PartMeta {
                    column,
                    part,
                    hash,
                    size,
                })
            })
            .collect()
    }

    /// The bytes of one ciphertext part of a chunk; `None` if that part does
    /// not exist.
    ///
    /// The bytes are re-hashed and compared with their blake3 address; a
    /// mismatch is [`StoreError::Corrupt`] (naming chunk, column and part),
    /// so a ciphertext altered outside the store never reaches a computation.
    pub fn part(
        &self,
        chunk_id: i64,
        column: &str,
        part: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT b.hash, b.bytes FROM parts p JOIN blobs b ON b.hash = p.blob_hash \
                 WHERE p.chunk_id = ?1 AND p.\"column\" = ?2 AND p.part = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![chunk_id, column, part], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()
            })
            .ctx(&self.path, "read part")?;
        let Some((expected, bytes)) = row else {
            return Ok(None);
        };
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != expected {
            return Err(StoreError::Corrupt {
                chunk_id,
                column: column.to_string(),
                part: part.to_string(),
                expected,
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// Bytes at rest for a dataset: total size of the distinct ciphertext
    /// blobs its chunks reference (after deduplication), for the benchmark.
    /// Public columns and SQLite overhead are not included; a blob shared
    /// with another dataset counts for both.
    pub fn blob_bytes(&self, dataset: &str) -> Result<u64, StoreError> {
        self.require_dataset(dataset)?;
        let total: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.hash IN \
                 (SELECT p.blob_hash FROM parts p JOIN chunks c ON c.id = p.chunk_id \
                  WHERE c.dataset = ?1)",
                [dataset],
                |r| r.get(0),
            )
            .ctx(&self.path, "sum blob sizes")?;
        u64::try_from(total).map_err(|_| StoreError::CorruptRecord {
            path: self.path.clone(),
            what: format!("negative total blob size {total} for dataset `{dataset}`"),
        })
    }

    fn require_dataset(&self, dataset: &str) -> Result<(), StoreError> {
        match schema_of(&self.conn, &self.path, dataset)? {
            Some(_) => Ok(()),
            None => Err(StoreError::UnknownDataset {
                dataset: dataset.to_string(),
            }),
        }
    }
}

/// Connection settings every store connection uses (see [`Store`]).
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(path, "set busy timeout")?;
    conn.pragma_update(None, "foreign_keys", true)
        .ctx(path, "enable foreign keys")?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .ctx(path, "enable WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Sqlite {
            path: path.to_path_buf(),
            op: "enable WAL",
            source: rusqlite::Error::InvalidQuery,
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx(path, "set synchronous=FULL")
}

fn schema_of(conn: &Connection, path: &Path, name: &str) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT schema_toml FROM datasets WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()
    .ctx(path, "read dataset schema")
}

/// Registers a dataset inside the caller's transaction.
fn register_in(
    conn: &Connection,
    path: &Path,
    name: &str,
    schema_toml: &str,
) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Invalid("dataset name is empty".into()));
    }
    match schema_of(conn, path, name)? {
        Some(existing) if existing == schema_toml => Ok(()),
        Some(_) => Err(StoreError::SchemaConflict {
            dataset: name.to_string(),
        }),
        None => {
            conn.execute(
                "INSERT INTO datasets (name, schema_toml, registered_at) VALUES (?1, ?2, ?3)",
                params![name, schema_toml, now_string()],
            )
            .ctx(path, "register dataset")?;
            Ok(())
        }
    }
}

/// Checks one chunk of an append; the error is the reason it is invalid.
fn validate_chunk(chunk: &NewChunk) -> Result<(), String> {
    if chunk.rows == 0 {
        return Err("chunk has 0 rows".into());
    }
    let mut seen = HashSet::new();
    for p in &chunk.parts {
        if p.column.is_empty() {
            return Err("part with an empty column name".into());
        }
        if !PART_KINDS.contains(&p.part.as_str()) {
            return Err(format!(
                "column `{}`: unknown part `{}` (expected one of {:?})",
                p.column, p.part, PART_KINDS
            ));
        }
        if !seen.insert((p.column.as_str(), p.part.as_str())) {
            return Err(format!(
                "column `{}`: part `{}` given twice",
                p.column, p.part
            ));
        }
    }
    Ok(())
}
