//! The store: one implementation of its operations over either backend (see [`crate::db`]).

pub(crate) mod artifacts;
mod nonces;

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dtfhe_ledger::{Entry, EntryKind, Frontier, Hash};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::{Connection, OpenFlags};

use crate::db::{params, Db, PgConn, SqlContext};
use crate::error::Refusal;
use crate::error::{ChunkDefect, StoreError};
use crate::ledger::{self, Writer};
use crate::location::{redact_url, StoreLocation};
use crate::signing;
use crate::{
    migrate, ConsistencyProof, Deployment, FileChunk, InclusionProof, LogIdentity, PartMeta,
    VerifyReport, KEY_FILE, STORE_FILE,
};
use dtfhe_model::{chunk_message, ChunkMeta, ChunkOrigin, ChunkProvenance, NewChunk};

/// How long a writer waits for another connection's lock before failing:
/// the CLI, a server and an auditor may open the same store concurrently.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Current time as unix seconds, the timestamp format of rows the store
/// stamps itself (portable, sortable, no time-zone library needed).
pub(crate) fn now_string() -> String {
    dtfhe_model::clock::now_unix().to_string()
}

/// A store: its database (one SQLite file `store.sqlite` in a directory, or a PostgreSQL
/// database, see [`StoreLocation`]) and the checkpoint key files in that directory.
///
/// Every write is one transaction, so a crash or an error leaves either the
/// whole operation or nothing. Write transactions take the write lock up
/// front (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock), so
/// concurrent writers (several ingest processes on one store) wait for each other instead
/// of failing on a stale read of the last sequence number. A SQLite connection runs in WAL
/// mode with `synchronous=FULL` (a committed append survives power loss), foreign keys on
/// and a busy timeout.
///
/// Every write also appends its ledger entries and a signed checkpoint of
/// the new tree in the same transaction (see [`Store::verify`]).
pub struct Store {
    db: Db,
    /// The database file, or the PostgreSQL URL with its password redacted.
    path: PathBuf,
    dir: PathBuf,
    /// The checkpoint signing key, read from `store.key` on first write.
    key: Option<SigningKey>,
    /// The Merkle tree's compact state as of the last write by this handle;
    /// brought up to date inside each write transaction (other handles may
    /// have appended since).
    frontier: Frontier,
    /// False only for a throw-away benchmark store (see [`Store::create_scratch_unledgered`]):
    /// no ledger entries, checkpoints or signature checks.
    ledger: bool,
}

// Never print the signing key (nor a database password: `path` is redacted).
dtfhe_model::debug_public_fields!(Store, |s| {
    path: s.path,
    ledger_size: s.frontier.size(),
});

impl Store {
    /// Creates a new store at `dir/store.sqlite` (creating `dir` if missing),
    /// applies the migrations, creates the checkpoint key (`dir/store.key`,
    /// mode 0600, and `dir/store.pub`, see [`crate::KEY_FILE`]), records the
    /// log identity and signs the first checkpoint (the empty tree).
    ///
    /// Fails with [`StoreError::AlreadyExists`] if a store file is already
    /// there, so `init` can never overwrite a deployment, and with
    /// [`StoreError::Key`] if a key file is already there.
    pub fn create(dir: &Path) -> Result<Store, StoreError> {
        Self::create_at(dir, &StoreLocation::Sqlite)
    }

    /// [`Store::create`] with the database at `location`: the SQLite file in `dir`, or a
    /// PostgreSQL database (which must exist and be empty of any store: one that already
    /// holds a store is [`StoreError::AlreadyExists`]). The key files go to `dir` either
    /// way. Migrations, the log identity and the first checkpoint commit in one transaction.
    pub fn create_at(dir: &Path, location: &StoreLocation) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        match location {
            StoreLocation::Sqlite => Self::create_sqlite(dir),
            StoreLocation::Postgres(url) => {
                let path = PathBuf::from(redact_url(url));
                let db = connect_pg(url, &path)?;
                let mut created = Vec::new();
                let made = init_schema(&db, &path, dir, &mut created);
                if made.is_err() {
                    for p in created {
                        let _ = std::fs::remove_file(p);
                    }
                }
                Ok(Store::new(db, path, dir, Some(made?)))
            }
        }
    }

    /// A throw-away store for `dtfhe bench` only: a NEW SQLite store in a fresh directory
    /// under the system temporary directory, whose writes skip the ledger (no entries, no
    /// checkpoints) and the source-signature checks, so the benchmark can measure what they
    /// cost. It cannot be made from an existing store, never has a signing key, and fails
    /// `verify` if opened later. Not part of the supported API.
    #[doc(hidden)]
    pub fn create_scratch_unledgered(dir: &Path) -> Result<Store, StoreError> {
        let tmp = std::env::temp_dir();
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let parent = dir.parent().map(canon);
        if dir.exists() || !parent.is_some_and(|p| p.starts_with(canon(&tmp))) {
            return Err(StoreError::Invalid(format!(
                "an unledgered scratch store must be a new directory under {}",
                tmp.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STORE_FILE);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        let db = Db::Sqlite(open_sqlite(&path, true)?);
        db.begin_write().ctx(&path, "begin")?;
        migrate::apply_all(&db, &path)?;
        db.commit().ctx(&path, "commit")?;
        let mut s = Store::new(db, path, dir, None);
        s.ledger = false;
        Ok(s)
    }

    fn new(db: Db, path: PathBuf, dir: &Path, key: Option<SigningKey>) -> Store {
        Store {
            db,
            path,
            dir: dir.to_path_buf(),
            key,
            frontier: Frontier::new(),
            ledger: true,
        }
    }

    fn create_sqlite(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        // `create_new` is atomic: two concurrent `create`s cannot both win.
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists { path });
            }
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        let mut created = Vec::new();
        let made = open_sqlite(&path, true).and_then(|conn| {
            let db = Db::Sqlite(conn);
            let key = init_schema(&db, &path, dir, &mut created)?;
            Ok(Store::new(db, path.clone(), dir, Some(key)))
        });
        if made.is_err() {
            // Do not leave a half-initialised store that `open` would reject,
            // nor key files of a store that does not exist.
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
            for p in created {
                let _ = std::fs::remove_file(p);
            }
        }
        made
    }

    /// Opens an existing store at `dir/store.sqlite`.
    ///
    /// Never creates anything: fails with [`StoreError::NotFound`] if the
    /// file is missing, [`StoreError::NotAStore`] if it is not a store, and
    /// [`StoreError::UnsupportedVersion`] if its schema version is not
    /// [`crate::SCHEMA_VERSION`]. The version is checked before any pragma
    /// that could write, so a foreign file is left untouched.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_at(dir, &StoreLocation::Sqlite)
    }

    /// [`Store::open`] with the database at `location` (the key files are read from
    /// `dir`). A PostgreSQL database is checked the same way: [`StoreError::NotAStore`]
    /// without a `schema_version` table, [`StoreError::UnsupportedVersion`] on another
    /// version.
    pub fn open_at(dir: &Path, location: &StoreLocation) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Sqlite => {
                let path = existing_store_file(dir)?;
                let opened = open_sqlite(&path, false).and_then(|conn| {
                    let db = Db::Sqlite(conn);
                    migrate::check(&db, &path)?;
                    if let Db::Sqlite(conn) = &db {
                        configure(conn, &path)?;
                    }
                    Ok(db)
                });
                match opened {
                    Ok(db) => Ok(Store::new(db, path, dir, None)),
                    // SQLite's own words for this ("unable to open database file", "attempt
                    // to write a readonly database") do not say what to do.
                    Err(_) if !writable(dir, &path) => Err(StoreError::ReadOnly {
                        path: dir.to_path_buf(),
                    }),
                    Err(e) => Err(e),
                }
            }
            StoreLocation::Postgres(url) => {
                let path = PathBuf::from(redact_url(url));
                let db = connect_pg(url, &path)?;
                migrate::check(&db, &path)?;
                Ok(Store::new(db, path, dir, None))
            }
        }
    }

    /// [`Store::open_at`] for reading only (`dtfhe audit verify`): works on a deployment
    /// directory that cannot be written (a read-only mount, a copy kept as evidence). SQLite
    /// is opened read-only, and `immutable` when the directory cannot be written (SQLite could
    /// not create its shared-memory file there; nothing else writes to such a store either).
    /// Writing through the returned store fails.
    pub fn open_read_only(dir: &Path, location: &StoreLocation) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Sqlite => {
                let path = existing_store_file(dir)?;
                let immutable = !writable(dir, &path);
                let db = Db::Sqlite(open_sqlite_read_only(&path, immutable)?);
                migrate::check(&db, &path)?;
                Ok(Store::new(db, path, dir, None))
            }
            StoreLocation::Postgres(_) => Self::open_at(dir, location),
        }
    }

    /// Path of the database file, or the PostgreSQL URL (password redacted), for messages
    /// and tools.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries in this handle's ledger tree (the next entry's sequence number), without
    /// reading the table: what the platform's chunk feed names as a new chunk's ledger index
    /// right after appending it.
    pub fn ledger_size(&self) -> u64 {
        self.frontier.size()
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.db.is_pg()
    }

    /// Runs `f` in one write transaction that also brings the tree up to date, lets `f`
    /// append ledger entries, and ends with a signed checkpoint of the new tree, all
    /// committed together. Any error rolls the whole transaction back.
    ///
    /// The checkpoint's root comes from the in-memory frontier (O(log n) per
    /// append); only entries appended by other handles are read.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Db, &mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.ledger && self.key.is_none() {
            self.key = Some(ledger::load_signing_key(&self.dir)?);
        }
        let Store {
            db,
            path,
            dir,
            key,
            frontier,
            ledger: with_ledger,
        } = self;
        let path = path.as_path();
        db.begin_write().ctx(path, "begin")?;
        let mut next = frontier.clone();
        let out = (|| {
            if !*with_ledger {
                let mut w = Writer {
                    conn: db,
                    path,
                    frontier: &mut next,
                    time: 0,
                    enabled: false,
                };
                return f(db, &mut w);
            }
            let key = key.as_ref().ok_or_else(|| StoreError::Key {
                path: dir.join(KEY_FILE),
                reason: "not loaded".into(),
            })?;
            let ident = ledger::read_identity(db, path)?;
            if key.verifying_key() != ident.verifying_key {
                return Err(StoreError::Key {
                    path: dir.join(KEY_FILE),
                    reason: "does not match the store's recorded checkpoint key".into(),
                });
            }
            ledger::sync_frontier(db, path, &mut next)?;
            let out = {
                let mut w = Writer {
                    conn: db,
                    path,
                    frontier: &mut next,
                    time: dtfhe_model::clock::now_unix(),
                    enabled: true,
                };
                f(db, &mut w)?
            };
            ledger::checkpoint_in(db, path, &next, key, &ident)?;
            Ok(out)
        })();
        match out {
            Ok(v) => {
                if let Err(e) = db.commit().ctx(path, "commit") {
                    db.rollback();
                    return Err(e);
                }
                *frontier = next;
                Ok(v)
            }
            Err(e) => {
                db.rollback();
                Err(e)
            }
        }
    }

    /// Appends one ledger entry in its own transaction (with a checkpoint);
    /// returns its sequence number.
    ///
    /// For the actions the store does not perform itself: source key
    /// registration, queries, release requests, trustee decisions,
    /// deliveries and refusals. `detail` is free text and must never hold a
    /// plaintext value or key material; `hashes` are content addresses. The
    /// kinds the store records itself alongside the rows they describe
    /// (deployment, trustee, schema, chunk) are refused with
    /// [`StoreError::Invalid`], since `verify` binds them to those rows.
    pub fn append_entry(
        &mut self,
        kind: EntryKind,
        actor: &str,
        subject: &str,
        detail: &str,
        hashes: &[Hash],
    ) -> Result<u64, StoreError> {
        if ledger::ROW_BOUND_KINDS.contains(&kind) {
            return Err(StoreError::Invalid(format!(
                "ledger entries of kind {kind} are recorded by the store itself"
            )));
        }
        self.write(|_, w| w.append(kind, actor, subject, detail, hashes.to_vec()))
    }

    /// Signs the current (size, root) of the ledger, stores the checkpoint
    /// and returns the signed note. Every write already does this; calling
    /// it again returns the stored checkpoint for the current size.
    pub fn checkpoint(&mut self) -> Result<String, StoreError> {
        self.write(|_, _| Ok(()))?;
        self.latest_checkpoint()
    }

    /// The stored checkpoint with the largest tree size.
    pub fn latest_checkpoint(&self) -> Result<String, StoreError> {
        self.db
            .query_opt_map(
                "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                params![],
                |r| r.text(0),
            )
            .ctx(&self.path, "read checkpoint")?
            .ok_or_else(|| StoreError::Tampered {
                what: "table checkpoints: no checkpoint".into(),
            })
    }

    /// Who signs this store's checkpoints (origin, key name, public key), as
    /// recorded in the store.
    pub fn identity(&self) -> Result<LogIdentity, StoreError> {
        ledger::read_identity(&self.db, &self.path)
    }

    /// Every ledger entry, in order, decoded and checked against its stored
    /// leaf hash (a mismatch is [`StoreError::Tampered`]).
    pub fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(ledger::read_entries(&self.db, &self.path)?.0)
    }

    /// The ledger entries of `kind`, in order (checked as [`Store::entries`]).
    pub fn entries_of(&self, kind: EntryKind) -> Result<Vec<Entry>, StoreError> {
        let mut entries = self.entries()?;
        entries.retain(|e| e.kind == kind);
        Ok(entries)
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        self.db
            .query_opt_map(
                "SELECT note FROM checkpoints WHERE size = ?1",
                params![size],
                |r| r.text(0),
            )
            .ctx(&self.path, "read checkpoint")
    }

    /// Proves that entry `seq` is in the current ledger: its leaf hash, the
    /// audit path, the current (size, root) and the signed checkpoint for
    /// them. Verify with `dtfhe_ledger::verify_inclusion` and
    /// `dtfhe_ledger::verify_checkpoint`.
    pub fn inclusion_proof(&self, seq: u64) -> Result<InclusionProof, StoreError> {
        let (_, leaves) = ledger::read_entries(&self.db, &self.path)?;
        let size = leaves.len() as u64;
        let proof = dtfhe_ledger::prove_inclusion(seq, size, &leaves)?;
        let checkpoint = self
            .checkpoint_at(size)?
            .ok_or_else(|| StoreError::Tampered {
                what: format!("ledger: no signed checkpoint covers all {size} entries"),
            })?;
        Ok(InclusionProof {
            seq,
            // seq < size, checked by prove_inclusion.
            leaf_hash: leaves[seq as usize],
            size,
            root: dtfhe_ledger::root(&leaves),
            proof,
            checkpoint,
        })
    }

    /// Proves that the ledger at `old_size` entries is a prefix of the
    /// ledger at `new_size` entries (`old_size <= new_size <=` current size),
    /// with both roots and the stored checkpoints at those sizes.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        let (_, leaves) = ledger::read_entries(&self.db, &self.path)?;
        let proof = dtfhe_ledger::prove_consistency(old_size, new_size, &leaves)?;
        // Both sizes are <= leaves.len(), checked by prove_consistency.
        Ok(ConsistencyProof {
            old_size,
            new_size,
            old_root: dtfhe_ledger::root(&leaves[..old_size as usize]),
            new_root: dtfhe_ledger::root(&leaves[..new_size as usize]),
            proof,
            old_checkpoint: self.checkpoint_at(old_size)?,
            new_checkpoint: self.checkpoint_at(new_size)?,
        })
    }

    /// Audits the whole store against its ledger, read-only.
    ///
    /// Replays every entry (no gaps, canonical encoding, stored leaf hash),
    /// recomputes the Merkle tree, checks every stored checkpoint's
    /// signature, origin and root at its size (and that one covers the whole
    /// ledger), checks `store.pub` (if present) against the recorded key,
    /// re-hashes every blob, and checks that every chunk (with its parts and
    /// public bytes), dataset, the deployment record and every trustee match
    /// exactly one ledger entry, and every such entry one row. The first
    /// inconsistency is returned as [`StoreError::Tampered`], naming the
    /// entry, checkpoint, chunk, blob or table.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        // One read transaction: a consistent snapshot even if writers run.
        self.db.begin_read().ctx(&self.path, "begin verify")?;
        let out = ledger::verify(&self.db, &self.path, &self.dir);
        self.db.rollback();
        out
    }

    /// Writes the deployment record; done once, by `init`.
    ///
    /// Fails with [`StoreError::DeploymentExists`] if one is already set: the
    /// keys and trustees of a deployment never change (ciphertexts already
    /// stored depend on them).
    ///
    /// Records a `DeploymentCreated` ledger entry (hashes: the record, the
    /// public key, the relinearisation key) and one `TrusteeRegistered` per
    /// trustee, in the same transaction, then a checkpoint.
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
        self.write(|tx, w| put_deployment_in(tx, w.path, w, d))
    }

    /// The deployment record; [`StoreError::DeploymentMissing`] if `init`
    /// has not run, so every command fails early with a clear message.
    pub fn deployment(&self) -> Result<Deployment, StoreError> {
        deployment_of(&self.db, &self.path)
    }
}

/// Writes the deployment record and its ledger entries inside a write.
fn put_deployment_in(
    tx: &Db,
    path: &Path,
    w: &mut Writer<'_>,
    d: &Deployment,
) -> Result<(), StoreError> {
    {
        let exists: i64 = tx
            .query_one("SELECT COUNT(*) FROM deployment", params![])
            .and_then(|r| r.i64(0))
            .ctx(path, "read deployment")?;
        if exists > 0 {
            return Err(StoreError::DeploymentExists {
                path: path.to_path_buf(),
            });
        }
        tx.execute(
            "INSERT INTO deployment (id, preset, min_group_size, public_key, relin_key, created_at) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![
                &d.preset,
                i64::from(d.min_group_size),
                &d.public_key,
                &d.relin_key,
                &d.created_at
            ],
        )
        .ctx(path, "insert deployment")?;
        w.append(
            EntryKind::DeploymentCreated,
            "platform",
            &d.preset,
            &format!(
                "preset `{}`, {} trustees, minimum group size {}",
                d.preset,
                d.trustees.len(),
                d.min_group_size
            ),
            ledger::deployment_hashes(&ledger::DeploymentRow {
                preset: &d.preset,
                min_group_size: i64::from(d.min_group_size),
                public_key: &d.public_key,
                relin_key: &d.relin_key,
                created_at: &d.created_at,
            }),
        )?;
        for (i, t) in d.trustees.iter().enumerate() {
            let pos =
                i64::try_from(i).map_err(|_| StoreError::Invalid("too many trustees".into()))?;
            tx.execute(
                "INSERT INTO deployment_trustees (position, name) VALUES (?1, ?2)",
                params![pos, t],
            )
            .ctx(path, "insert trustee")?;
            w.append(
                EntryKind::TrusteeRegistered,
                "platform",
                t,
                &format!("trustee #{pos}"),
                ledger::trustee_hashes(pos, t),
            )?;
        }
        Ok(())
    }
}

/// The deployment row as stored: preset, min_group_size (unchecked), public key, relin key,
/// created_at. Shared by [`deployment_of`] and the ledger verification, which must see the
/// raw values to report tampering.
pub(crate) type DeploymentRowRaw = (String, i64, Vec<u8>, Vec<u8>, String);

/// Reads the raw deployment row, if the deployment was initialised.
pub(crate) fn deployment_row(
    conn: &Db,
    path: &Path,
) -> Result<Option<DeploymentRowRaw>, StoreError> {
    conn.query_opt_map(
        "SELECT preset, min_group_size, public_key, relin_key, created_at \
         FROM deployment WHERE id = 1",
        params![],
        |r| Ok((r.text(0)?, r.i64(1)?, r.bytes(2)?, r.bytes(3)?, r.text(4)?)),
    )
    .ctx(path, "read deployment")
}

/// Reads the deployment record.
fn deployment_of(conn: &Db, path: &Path) -> Result<Deployment, StoreError> {
    {
        let row = deployment_row(conn, path)?;
        let Some((preset, min_group_size, public_key, relin_key, created_at)) = row else {
            return Err(StoreError::DeploymentMissing {
                path: path.to_path_buf(),
            });
        };
        let min_group_size =
            u32::try_from(min_group_size).map_err(|_| StoreError::CorruptRecord {
                path: path.to_path_buf(),
                what: format!("deployment min_group_size {min_group_size} out of range"),
            })?;
        let trustees = conn
            .query_map(
                "SELECT name FROM deployment_trustees ORDER BY position",
                params![],
                |r| r.text(0),
            )
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
}

impl Store {
    /// Registers a dataset schema (TOML text kept verbatim).
    ///
    /// Idempotent with identical text, so re-running an ingest is harmless;
    /// a different text under the same name is a [`StoreError::SchemaConflict`]
    /// because stored chunks were encoded against the first one. A new
    /// registration is recorded as a `SchemaRegistered` ledger entry.
    pub fn register_dataset(&mut self, name: &str, schema_toml: &str) -> Result<(), StoreError> {
        self.write(|tx, w| register_in(tx, w.path, w, "platform", name, schema_toml))
    }

    /// The registered schema text of a dataset, or `None` if unknown.
    pub fn dataset_schema(&self, name: &str) -> Result<Option<String>, StoreError> {
        schema_of(&self.db, &self.path, name)
    }

    /// Names of all registered datasets, sorted.
    pub fn datasets(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .query_map("SELECT name FROM datasets ORDER BY name", params![], |r| {
                r.text(0)
            })
            .ctx(&self.path, "read datasets")
    }

    /// Appends signed chunks of one dataset from one source in ONE
    /// transaction.
    ///
    /// All or nothing: the dataset registration (same rules as
    /// [`Store::register_dataset`]), every chunk, part and blob is committed
    /// together or not at all. Returns the assigned chunk ids, in input
    /// order. An ingest that must survive a crash appends one chunk per call
    /// (each then commits with its ledger entry and checkpoint) and resumes
    /// with [`Store::file_chunks`].
    ///
    /// Each chunk is validated (rows ≥ 1, known part names, non-empty column
    /// names, no `(column, part)` twice; else [`StoreError::InvalidChunk`])
    /// and then refused with [`StoreError::IngestRefused`] if its source has
    /// no registered key ([`Store::register_source`]), its signature of
    /// [`dtfhe_model::chunk_message`] does not verify with that key, its seq is not
    /// greater than the source's last seq for the dataset (replay or reuse),
    /// its content is identical to a stored chunk's (duplicate), or its
    /// [`dtfhe_model::ChunkOrigin`] (file, index) is already stored. A refusal
    /// rolls the whole transaction back and is then recorded, in its own
    /// small transaction, as an `IngestRefused` ledger entry (actor: the
    /// source; subject: the dataset; hash: the chunk's content hash).
    ///
    /// In the same transaction as its rows, each chunk gets a
    /// `ChunkAppended` ledger entry (actor: the source; subject: the chunk
    /// id; hashes: a record hash of the chunk row, including its signature
    /// and origin, and its parts, the blake3 hash of the public bytes, then
    /// the blob address of each part in `(column, part)` order), a new
    /// dataset a `SchemaRegistered` entry, and the write ends with a signed
    /// checkpoint: a chunk is never stored without its entry, nor the
    /// reverse.
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
        let out =
            self.write(|tx, w| append_in(tx, w.path, w, dataset, schema_toml, source, chunks));
        if let Err(StoreError::IngestRefused { seq, reason, .. }) = &out {
            // The failed transaction has rolled back: log the refusal on its
            // own. A failure to log does not hide the refusal itself.
            let content: Vec<Hash> = chunks
                .iter()
                .find(|c| c.seq == *seq)
                .map(|c| ledger::new_chunk_content_hash(dataset, c))
                .into_iter()
                .collect();
            let detail = format!("dataset `{dataset}`, seq {seq}: {reason}");
            let _ = self.write(|_, w| {
                w.append(EntryKind::IngestRefused, source, dataset, &detail, content)
            });
        }
        out
    }

    /// Registers `source`'s public signing key, recording a
    /// `SourceKeyRegistered` ledger entry in the same transaction. Returns
    /// `true` if it was new, `false` if the same key was already registered;
    /// a different key is [`StoreError::SourceKeyConflict`] (a source's key
    /// never changes: its stored chunks are signed with it).
    pub fn register_source(
        &mut self,
        source: &str,
        key: &VerifyingKey,
    ) -> Result<bool, StoreError> {
        if source.is_empty() {
            return Err(StoreError::Invalid("source name is empty".into()));
        }
        self.write(|tx, w| match source_key_of(tx, w.path, source)? {
            Some(k) if k == *key => Ok(false),
            Some(_) => Err(StoreError::SourceKeyConflict {
                source_name: source.to_string(),
            }),
            None => {
                let at = now_string();
                tx.execute(
                    "INSERT INTO sources (name, public_key, registered_at) VALUES (?1, ?2, ?3)",
                    params![source, key.as_bytes(), &at],
                )
                .ctx(w.path, "register source")?;
                w.append(
                    EntryKind::SourceKeyRegistered,
                    source,
                    source,
                    &format!("source `{source}` key registered"),
                    ledger::source_hashes(source, key.as_bytes(), &at),
                )?;
                Ok(true)
            }
        })
    }

    /// The registered public key of a source, or `None`.
    pub fn source_key(&self, source: &str) -> Result<Option<VerifyingKey>, StoreError> {
        source_key_of(&self.db, &self.path, source)
    }

    /// The last stored seq of `source` for `dataset`, or `None` if it has no
    /// chunks there.
    pub fn last_seq(&self, dataset: &str, source: &str) -> Result<Option<u64>, StoreError> {
        last_seq_of(&self.db, &self.path, dataset, source)
    }

    /// The stored chunks of one input file (by the blake3 hash of its bytes)
    /// from `source` in `dataset`, ordered by index: what an interrupted
    /// ingest of that file already stored.
    pub fn file_chunks(
        &self,
        dataset: &str,
        source: &str,
        file_hash: &Hash,
    ) -> Result<Vec<FileChunk>, StoreError> {
        let path = &self.path;
        let rows = self
            .db
            .query_map(
                "SELECT id, seq, file_index, file_chunks FROM chunks \
                 WHERE dataset = ?1 AND source = ?2 AND file_hash = ?3 ORDER BY file_index",
                params![dataset, source, file_hash],
                |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?)),
            )
            .ctx(path, "read file chunks")?;
        rows.into_iter()
            .map(|(id, seq, index, count)| {
                let bad = || StoreError::CorruptRecord {
                    path: path.clone(),
                    what: format!("chunk {id}: file position out of range"),
                };
                Ok(FileChunk {
                    id,
                    seq: u64::try_from(seq).map_err(|_| bad())?,
                    index: u32::try_from(index).map_err(|_| bad())?,
                    count: u32::try_from(count).map_err(|_| bad())?,
                })
            })
            .collect()
    }

    /// All chunks of a dataset in `(source, seq)` order, without ciphertext
    /// bytes (see [`Store::part`]). [`StoreError::UnknownDataset`] if the
    /// dataset is not registered; an empty list if it has no chunks yet.
    ///
    /// Sources are ordered by byte-wise comparison of their names.
    pub fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, StoreError> {
        self.require_dataset(dataset)?;
        let path = &self.path;
        let rows = self
            .db
            .query_rows(
                "SELECT id, source, seq, \"rows\", public FROM chunks \
                 WHERE dataset = ?1 ORDER BY source, seq",
                params![dataset],
            )
            .and_then(|rows| {
                rows.into_iter()
                    .map(|mut r| {
                        Ok((
                            r.i64(0)?,
                            r.text(1)?,
                            r.i64(2)?,
                            r.i64(3)?,
                            r.take_bytes(4)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
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

    /// The signature and origin of every chunk of a dataset, in `(source, seq)` order (the
    /// order of [`Store::chunks`]). [`StoreError::UnknownDataset`] if it is not registered.
    pub fn chunk_provenance(&self, dataset: &str) -> Result<Vec<ChunkProvenance>, StoreError> {
        self.require_dataset(dataset)?;
        let path = &self.path;
        type Row = (i64, Vec<u8>, Option<Vec<u8>>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = self
            .db
            .query_map(
                "SELECT id, signature, file_hash, file_index, file_chunks FROM chunks \
                 WHERE dataset = ?1 ORDER BY source, seq",
                params![dataset],
                |r| {
                    Ok((
                        r.i64(0)?,
                        r.bytes(1)?,
                        r.opt_bytes(2)?,
                        r.opt_i64(3)?,
                        r.opt_i64(4)?,
                    ))
                },
            )
            .ctx(path, "read chunk provenance")?;
        rows.into_iter()
            .map(|(id, signature, file_hash, index, count)| {
                let corrupt = |what: &str| StoreError::CorruptRecord {
                    path: path.clone(),
                    what: format!("chunk {id}: {what}"),
                };
                let signature = <[u8; 64]>::try_from(signature.as_slice())
                    .map_err(|_| corrupt("signature is not 64 bytes"))?;
                let origin = match (file_hash, index, count) {
                    (None, None, None) => None,
                    (Some(h), Some(i), Some(c)) => Some(ChunkOrigin {
                        file_hash: <[u8; 32]>::try_from(h.as_slice())
                            .map_err(|_| corrupt("file hash is not 32 bytes"))?,
                        index: u32::try_from(i).map_err(|_| corrupt("file index out of range"))?,
                        count: u32::try_from(c).map_err(|_| corrupt("file count out of range"))?,
                    }),
                    _ => return Err(corrupt("partial file origin")),
                };
                Ok(ChunkProvenance {
                    id,
                    signature,
                    origin,
                })
            })
            .collect()
    }

    /// The dataset a chunk belongs to, or `None` if there is no such chunk (so a caller can
    /// check a reader's dataset grant before serving one of the chunk's parts).
    pub fn chunk_dataset(&self, chunk_id: i64) -> Result<Option<String>, StoreError> {
        self.db
            .query_opt_map(
                "SELECT dataset FROM chunks WHERE id = ?1",
                params![chunk_id],
                |r| r.text(0),
            )
            .ctx(&self.path, "read chunk dataset")
    }

    /// The parts a chunk has, without bytes, ordered by `(column, part)`;
    /// empty if the chunk does not exist.
    pub fn parts(&self, chunk_id: i64) -> Result<Vec<PartMeta>, StoreError> {
        let path = &self.path;
        let rows = self
            .db
            .query_map(
                "SELECT p.\"column\", p.part, b.hash, b.size \
                 FROM parts p JOIN blobs b ON b.hash = p.blob_hash \
                 WHERE p.chunk_id = ?1 ORDER BY p.\"column\", p.part",
                params![chunk_id],
                |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.i64(3)?)),
            )
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
            .db
            .query_opt_map(
                "SELECT b.hash, b.bytes FROM parts p JOIN blobs b ON b.hash = p.blob_hash \
                 WHERE p.chunk_id = ?1 AND p.\"column\" = ?2 AND p.part = ?3",
                params![chunk_id, column, part],
                |mut r| Ok((r.text(0)?, r.take_bytes(1)?)),
            )
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
            .db
            .query_one(
                "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.hash IN \
                 (SELECT p.blob_hash FROM parts p JOIN chunks c ON c.id = p.chunk_id \
                  WHERE c.dataset = ?1)",
                params![dataset],
            )
            .and_then(|r| r.i64(0))
            .ctx(&self.path, "sum blob sizes")?;
        u64::try_from(total).map_err(|_| StoreError::CorruptRecord {
            path: self.path.clone(),
            what: format!("negative total blob size {total} for dataset `{dataset}`"),
        })
    }

    fn require_dataset(&self, dataset: &str) -> Result<(), StoreError> {
        match schema_of(&self.db, &self.path, dataset)? {
            Some(_) => Ok(()),
            None => Err(StoreError::UnknownDataset {
                dataset: dataset.to_string(),
            }),
        }
    }
}

/// Opens a SQLite store file read-write (never creating it). A new file (`fresh`) gets
/// 64 KiB pages and the store's connection settings at once; an existing one is configured
/// by `open` only after its schema version was checked, so a foreign file is left untouched.
fn open_sqlite(path: &Path, fresh: bool) -> Result<Connection, StoreError> {
    let conn = connect_sqlite(
        path,
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Every statement the store runs is cached, the ingest's and verify's included.
    conn.set_prepared_statement_cache_capacity(64);
    if fresh {
        // Ciphertext blobs are ~0.2–1.3 MB: large pages keep their overflow chains short.
        // Only possible on an empty file, before WAL mode.
        conn.pragma_update(None, "page_size", 65536)
            .ctx(path, "set page size")?;
        configure(&conn, path)?;
    }
    Ok(conn)
}

/// `dir/store.sqlite`, or [`StoreError::NotFound`] when there is none.
fn existing_store_file(dir: &Path) -> Result<PathBuf, StoreError> {
    let path = dir.join(STORE_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(StoreError::NotFound { path })
    }
}

/// Opens a store file for reading only; `immutable` tells SQLite nothing can change it (no
/// locks, no shared-memory file), for a directory it cannot write to.
fn open_sqlite_read_only(path: &Path, immutable: bool) -> Result<Connection, StoreError> {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        // Percent-encode what a URI path may not hold as is.
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    connect_sqlite(
        path,
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Opens `target` (the file, or a `file:` URI for it) with `flags`; a file SQLite cannot
/// open is [`StoreError::NotAStore`] naming `path`.
fn connect_sqlite<P: AsRef<Path>>(
    path: &Path,
    target: P,
    flags: OpenFlags,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(target, flags).map_err(|e| StoreError::NotAStore {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(path, "set busy timeout")?;
    Ok(conn)
}

/// Whether the store file and its directory can be written (SQLite creates its WAL and
/// shared-memory files beside the store): a probe file is created and removed.
fn writable(dir: &Path, file: &Path) -> bool {
    let probe = dir.join(format!(".dtfhe-write-probe-{}", std::process::id()));
    let dir_ok = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    };
    dir_ok && std::fs::OpenOptions::new().write(true).open(file).is_ok()
}

/// Connects to a PostgreSQL store database; `path` is the redacted URL for messages.
fn connect_pg(url: &str, path: &Path) -> Result<Db, StoreError> {
    PgConn::connect(url)
        .map(|c| Db::Pg(Box::new(c)))
        .ctx(path, "connect to PostgreSQL")
}

/// Applies the migrations to an empty database, creates the key files in `dir`, records
/// the log identity and signs the first checkpoint, in one write transaction. Refuses a
/// database that already holds a store. `created` lists the key files written, so the
/// caller can remove them on failure.
fn init_schema(
    db: &Db,
    path: &Path,
    dir: &Path,
    created: &mut Vec<PathBuf>,
) -> Result<SigningKey, StoreError> {
    db.begin_write().ctx(path, "begin")?;
    let made = (|| {
        if migrate::has_store(db, path)? {
            return Err(StoreError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        migrate::apply_all(db, path)?;
        let (key, ident) = ledger::create_key_files(dir, created)?;
        ledger::insert_identity(db, path, &ident)?;
        ledger::checkpoint_in(db, path, &Frontier::new(), &key, &ident)?;
        Ok(key)
    })();
    match made {
        Ok(key) => match db.commit().ctx(path, "commit new store") {
            Ok(()) => Ok(key),
            Err(e) => {
                db.rollback();
                Err(e)
            }
        },
        Err(e) => {
            db.rollback();
            Err(e)
        }
    }
}

/// Connection settings every SQLite store connection uses (see [`Store`]).
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

fn schema_of(conn: &Db, path: &Path, name: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt_map(
        "SELECT schema_toml FROM datasets WHERE name = ?1",
        params![name],
        |r| r.text(0),
    )
    .ctx(path, "read dataset schema")
}

/// Registers a dataset inside the caller's write, recording a
/// `SchemaRegistered` entry (by `actor`) when it is new.
/// What differs between the registered schema text and the given one, for the message.
fn schema_conflict(registered: &str, given: &str) -> String {
    let parse = |t: &str, o: &str| dtfhe_model::Schema::from_toml_str(t, o);
    match (
        parse(registered, "the registered schema"),
        parse(given, "the given schema"),
    ) {
        (Ok(r), Ok(g)) => dtfhe_model::schema_diff::describe_conflict(&r, &g),
        (Err(e), _) | (_, Err(e)) => format!("the schemas cannot be compared ({e})"),
    }
}

fn register_in(
    conn: &Db,
    path: &Path,
    w: &mut Writer<'_>,
    actor: &str,
    name: &str,
    schema_toml: &str,
) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Invalid("dataset name is empty".into()));
    }
    match schema_of(conn, path, name)? {
        Some(existing) if existing == schema_toml => Ok(()),
        Some(existing) => Err(StoreError::SchemaConflict {
            dataset: name.to_string(),
            differences: schema_conflict(&existing, schema_toml),
        }),
        None => {
            let at = now_string();
            conn.execute(
                "INSERT INTO datasets (name, schema_toml, registered_at) VALUES (?1, ?2, ?3)",
                params![name, schema_toml, &at],
            )
            .ctx(path, "register dataset")?;
            w.append(
                EntryKind::SchemaRegistered,
                actor,
                name,
                &format!("dataset `{name}` registered"),
                ledger::dataset_hashes(name, schema_toml, &at),
            )?;
            Ok(())
        }
    }
}

/// The body of [`Store::append_chunks`], inside its write transaction: each
/// chunk is checked (shape, source key, signature, seq, duplicates) and then
/// its rows and its `ChunkAppended` entry are written together.
fn append_in(
    tx: &Db,
    path: &Path,
    w: &mut Writer<'_>,
    dataset: &str,
    schema_toml: &str,
    source: &str,
    chunks: &[NewChunk],
) -> Result<Vec<i64>, StoreError> {
    register_in(tx, path, w, source, dataset, schema_toml)?;
    let key = source_key_of(tx, path, source)?;
    let mut last = last_seq_of(tx, path, dataset, source)?;
    let mut ids = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        validate_chunk(chunk).map_err(|reason| StoreError::InvalidChunk {
            dataset: dataset.to_string(),
            source_name: source.to_string(),
            index,
            reason,
        })?;
        let refuse = |reason| StoreError::IngestRefused {
            dataset: dataset.to_string(),
            source_name: source.to_string(),
            seq: chunk.seq,
            reason,
        };
        // Every hash is computed once and serves the signature, the
        // duplicate check, the blob addresses and the ledger entry.
        let public_hash = *blake3::hash(&chunk.public).as_bytes();
        let hashes: Vec<blake3::Hash> =
            chunk.parts.iter().map(|p| blake3::hash(&p.bytes)).collect();
        let signed: Vec<(&str, &str, Hash)> = chunk
            .parts
            .iter()
            .zip(&hashes)
            .map(|(p, h)| (p.column.as_str(), p.part.as_str(), *h.as_bytes()))
            .collect();
        let Some(key) = &key else {
            return Err(refuse(Refusal::UnknownSource));
        };
        // Only a throw-away benchmark store (no ledger) skips the signature check.
        if w.enabled {
            let message = chunk_message(
                dataset,
                source,
                chunk.seq,
                chunk.rows,
                &public_hash,
                &signed,
            );
            if !signing::signature_ok(key, &message, &chunk.signature) {
                return Err(refuse(Refusal::BadSignature));
            }
        }
        if let Some(l) = last {
            if chunk.seq <= l {
                return Err(refuse(Refusal::Replay { last: l }));
            }
        }
        let seq = i64::try_from(chunk.seq).map_err(|_| StoreError::InvalidChunk {
            dataset: dataset.to_string(),
            source_name: source.to_string(),
            index,
            reason: ChunkDefect::SeqTooLarge(chunk.seq),
        })?;
        let content = ledger::content_hash(dataset, chunk.rows, &public_hash, &signed);
        if let Some(r) = tx
            .query_opt(
                "SELECT id FROM chunks WHERE content_hash = ?1 ORDER BY id LIMIT 1",
                params![&content],
            )
            .ctx(path, "check duplicates")?
        {
            let id = r.i64(0).ctx(path, "check duplicates")?;
            return Err(refuse(Refusal::Duplicate { chunk_id: id }));
        }
        let (file_hash, file_index, file_chunks) = match &chunk.origin {
            Some(o) => {
                if let Some(r) = tx
                    .query_opt(
                        "SELECT id FROM chunks WHERE dataset = ?1 AND source = ?2 \
                         AND file_hash = ?3 AND file_index = ?4",
                        params![dataset, source, &o.file_hash, i64::from(o.index)],
                    )
                    .ctx(path, "check file chunk")?
                {
                    return Err(refuse(Refusal::FileChunkStored {
                        index: o.index,
                        chunk_id: r.i64(0).ctx(path, "check file chunk")?,
                    }));
                }
                (
                    Some(&o.file_hash[..]),
                    Some(i64::from(o.index)),
                    Some(i64::from(o.count)),
                )
            }
            None => (None, None, None),
        };
        let rows = i64::from(chunk.rows);
        // Ids are handed out by the store (the next after the largest), the same way on
        // both backends; writers are serialized, so two never draw the same.
        let id: i64 = tx
            .query_one(
                "INSERT INTO chunks (id, dataset, source, seq, \"rows\", public, signature, \
                 content_hash, file_hash, file_index, file_chunks) \
                 VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM chunks), \
                 ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                params![
                    dataset,
                    source,
                    seq,
                    rows,
                    &chunk.public,
                    &chunk.signature,
                    &content,
                    file_hash,
                    file_index,
                    file_chunks
                ],
            )
            .and_then(|r| r.i64(0))
            .ctx(path, "insert chunk")?;
        let mut part_rows = Vec::with_capacity(chunk.parts.len());
        for (p, h) in chunk.parts.iter().zip(&hashes) {
            let hash = h.to_hex();
            let size = i64::try_from(p.bytes.len())
                .map_err(|_| StoreError::Invalid("blob too large".into()))?;
            tx.execute(
                "INSERT INTO blobs (hash, size, bytes) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (hash) DO NOTHING",
                params![hash.as_str(), size, &p.bytes],
            )
            .ctx(path, "insert blob")?;
            tx.execute(
                "INSERT INTO parts (chunk_id, \"column\", part, blob_hash) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, &p.column, &p.part, hash.as_str()],
            )
            .ctx(path, "insert part")?;
            part_rows.push((p.column.clone(), p.part.clone(), hash.to_string()));
        }
        if w.enabled {
            let row = ledger::ChunkRow {
                id,
                dataset,
                source,
                seq,
                rows,
                public: &chunk.public,
                signature: &chunk.signature,
                content_hash: &content,
                file_hash,
                file_index,
                file_chunks,
            };
            let entry_hashes = ledger::chunk_hashes(&row, &part_rows)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let origin = match &chunk.origin {
                Some(o) => format!(
                    ", chunk {} of {} of file {}",
                    o.index + 1,
                    o.count,
                    blake3::Hash::from(o.file_hash).to_hex()
                ),
                None => String::new(),
            };
            w.append(
                EntryKind::ChunkAppended,
                source,
                &id.to_string(),
                &format!(
                    "dataset `{dataset}`, source `{source}`, seq {seq}, {rows} rows, {} parts{origin}",
                    chunk.parts.len()
                ),
                entry_hashes,
            )?;
        }
        last = Some(chunk.seq);
        ids.push(id);
    }
    Ok(ids)
}

/// The registered key of a source, if any.
fn source_key_of(conn: &Db, path: &Path, source: &str) -> Result<Option<VerifyingKey>, StoreError> {
    let pk: Option<Vec<u8>> = conn
        .query_opt_map(
            "SELECT public_key FROM sources WHERE name = ?1",
            params![source],
            |r| r.bytes(0),
        )
        .ctx(path, "read source key")?;
    pk.map(|pk| {
        <[u8; 32]>::try_from(pk.as_slice())
            .ok()
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| StoreError::CorruptRecord {
                path: path.to_path_buf(),
                what: format!("source `{source}`: public key is not an ed25519 key"),
            })
    })
    .transpose()
}

/// The last seq of a source for a dataset, if it has chunks.
fn last_seq_of(
    conn: &Db,
    path: &Path,
    dataset: &str,
    source: &str,
) -> Result<Option<u64>, StoreError> {
    let last: Option<i64> = conn
        .query_one(
            "SELECT MAX(seq) FROM chunks WHERE dataset = ?1 AND source = ?2",
            params![dataset, source],
        )
        .and_then(|r| r.opt_i64(0))
        .ctx(path, "read last sequence number")?;
    last.map(|l| {
        u64::try_from(l).map_err(|_| StoreError::CorruptRecord {
            path: path.to_path_buf(),
            what: format!("negative seq {l} for `{dataset}`/`{source}`"),
        })
    })
    .transpose()
}

/// Checks one chunk of an append; the error is the reason it is invalid.
fn validate_chunk(chunk: &NewChunk) -> Result<(), ChunkDefect> {
    if chunk.rows == 0 {
        return Err(ChunkDefect::NoRows);
    }
    // Public columns that decode must hold clean text (undecodable bytes are refused by every
    // reader of the chunk; the store itself treats them as opaque).
    if let Ok(cols) = dtfhe_model::decode_public_columns(&chunk.public) {
        for c in &cols {
            for (row, v) in c.values.iter().enumerate() {
                if let dtfhe_model::Value::Text(t) = v {
                    dtfhe_model::table::check_public_text(t).map_err(|reason| {
                        ChunkDefect::ControlCharacter {
                            column: c.name.clone(),
                            row: row + 1,
                            reason: Box::new(reason),
                        }
                    })?;
                }
            }
        }
    }
    let mut seen = HashSet::new();
    for p in &chunk.parts {
        if p.column.is_empty() {
            return Err(ChunkDefect::EmptyColumn);
        }
        if !dtfhe_model::is_part_kind(&p.part) {
            return Err(ChunkDefect::UnknownPart {
                column: p.column.clone(),
                part: p.part.clone(),
            });
        }
        if !seen.insert((p.column.as_str(), p.part.as_str())) {
            return Err(ChunkDefect::DuplicatePart {
                column: p.column.clone(),
                part: p.part.clone(),
            });
        }
    }
    Ok(())
}

impl Store {
    /// The lanes of `keys` in lane space `space`, handing out the next free lane to every key
    /// seen for the first time (one write; the map is append-only). New lanes are recorded
    /// by one `LanesAssigned` ledger entry (subject: the space; hashes: see
    /// `ledger::lanes_hashes`), so `verify` checks every row of the map.
    pub fn assign_lanes(&mut self, space: &str, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        self.assign_lanes_as("platform", space, keys)
    }

    /// The lanes already assigned to `keys` in lane space `space` (`None` for a key never
    /// seen); assigns nothing. The platform checks an uploaded chunk's placement with it.
    pub fn lanes_of(&self, space: &str, keys: &[String]) -> Result<Vec<Option<u64>>, StoreError> {
        keys.iter()
            .map(|k| {
                let lane = self
                    .db
                    .query_opt_map(
                        "SELECT lane FROM lanes WHERE space = ?1 AND key = ?2",
                        params![space, k],
                        |r| r.i64(0),
                    )
                    .ctx(&self.path, "read lane")?;
                lane.map(|l| {
                    u64::try_from(l).map_err(|_| StoreError::CorruptRecord {
                        path: self.path.clone(),
                        what: format!("negative lane {l} in lane space `{space}`"),
                    })
                })
                .transpose()
            })
            .collect()
    }

    /// [`Store::assign_lanes`] with the ledger actor named: the platform records lanes a
    /// source asked for under that source's name.
    pub fn assign_lanes_as(
        &mut self,
        actor: &str,
        space: &str,
        keys: &[String],
    ) -> Result<Vec<u64>, StoreError> {
        if space.is_empty() {
            return Err(StoreError::Invalid("lane space name is empty".into()));
        }
        self.write(|db, w| {
            let path = w.path;
            let first: i64 = db
                .query_one(
                    "SELECT COALESCE(MAX(lane) + 1, 0) FROM lanes WHERE space = ?1",
                    params![space],
                )
                .and_then(|r| r.i64(0))
                .ctx(path, "read lanes")?;
            let mut next = first;
            let mut new_keys: Vec<&str> = Vec::new();
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let existing = db
                    .query_opt_map(
                        "SELECT lane FROM lanes WHERE space = ?1 AND key = ?2",
                        params![space, k],
                        |r| r.i64(0),
                    )
                    .ctx(path, "read lane")?;
                let lane = match existing {
                    Some(l) => l,
                    None => {
                        db.execute(
                            "INSERT INTO lanes (space, key, lane) VALUES (?1, ?2, ?3)",
                            params![space, k, next],
                        )
                        .ctx(path, "assign lane")?;
                        new_keys.push(k);
                        next += 1;
                        next - 1
                    }
                };
                out.push(u64::try_from(lane).map_err(|_| StoreError::CorruptRecord {
                    path: path.to_path_buf(),
                    what: format!("negative lane {lane} in lane space `{space}`"),
                })?);
            }
            if !new_keys.is_empty() {
                w.append(
                    EntryKind::LanesAssigned,
                    actor,
                    space,
                    &format!(
                        "lanes {first}..{next} of lane space `{space}` ({} new keys)",
                        new_keys.len()
                    ),
                    ledger::lanes_hashes(space, first, &new_keys),
                )?;
            }
            Ok(out)
        })
    }
}
