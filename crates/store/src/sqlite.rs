//! The SQLite backend of the store.

pub(crate) mod artifacts;

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dtfhe_ledger::{Entry, EntryKind, Frontier, Hash};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::error::Refusal;
use crate::error::StoreError;
use crate::ledger::{self, Writer};
use crate::signing::{self, chunk_message};
use crate::{
    migrate, ChunkMeta, ChunkOrigin, ChunkProvenance, ConsistencyProof, Deployment, FileChunk,
    InclusionProof, LogIdentity, NewChunk, PartMeta, VerifyReport, KEY_FILE, PART_KINDS,
    STORE_FILE,
};

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
///
/// Every write also appends its ledger entries and a signed checkpoint of
/// the new tree in the same transaction (see [`Store::verify`]).
pub struct Store {
    conn: Connection,
    path: PathBuf,
    dir: PathBuf,
    /// The checkpoint signing key, read from `store.key` on first write.
    key: Option<SigningKey>,
    /// The Merkle tree's compact state as of the last write by this handle;
    /// brought up to date inside each write transaction (other handles may
    /// have appended since).
    frontier: Frontier,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the signing key.
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("ledger_size", &self.frontier.size())
            .finish_non_exhaustive()
    }
}

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
        let mut created = Vec::new();
        let made = Self::init_new(dir, &path, &mut created);
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

    fn init_new(dir: &Path, path: &Path, created: &mut Vec<PathBuf>) -> Result<Store, StoreError> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(path, "open database")?;
        // Ciphertext blobs are ~0.2–1.3 MB: large pages keep their overflow chains short.
        // Only possible on an empty file, before WAL mode.
        conn.pragma_update(None, "page_size", 65536)
            .ctx(path, "set page size")?;
        configure(&conn, path)?;
        migrate::apply_all(&mut conn, path)?;
        let (key, ident) = ledger::create_key_files(dir, created)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(path, "begin")?;
        ledger::insert_identity(&tx, path, &ident)?;
        let frontier = Frontier::new();
        ledger::checkpoint_in(&tx, path, &frontier, &key, &ident)?;
        tx.commit().ctx(path, "commit checkpoint key")?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            key: Some(key),
            frontier,
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
        Ok(Store {
            conn,
            path,
            dir: dir.to_path_buf(),
            key: None,
            frontier: Frontier::new(),
        })
    }

    /// Path of the database file, for messages and tools.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`) that also
    /// brings the tree up to date, lets `f` append ledger entries, and ends
    /// with a signed checkpoint of the new tree, all committed together.
    ///
    /// The checkpoint's root comes from the in-memory frontier (O(log n) per
    /// append); only entries appended by other handles are read.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection, &mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.key.is_none() {
            self.key = Some(ledger::load_signing_key(&self.dir)?);
        }
        let Store {
            conn,
            path,
            dir,
            key,
            frontier,
        } = self;
        let path = path.as_path();
        let key = key.as_ref().ok_or_else(|| StoreError::Key {
            path: dir.join(KEY_FILE),
            reason: "not loaded".into(),
        })?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(path, "begin")?;
        let ident = ledger::read_identity(&tx, path)?;
        if key.verifying_key() != ident.verifying_key {
            return Err(StoreError::Key {
                path: dir.join(KEY_FILE),
                reason: "does not match the store's recorded checkpoint key".into(),
            });
        }
        let mut next = frontier.clone();
        ledger::sync_frontier(&tx, path, &mut next)?;
        let out = {
            let mut w = Writer {
                conn: &tx,
                path,
                frontier: &mut next,
                time: ledger::now_unix(),
            };
            f(&tx, &mut w)?
        };
        ledger::checkpoint_in(&tx, path, &next, key, &ident)?;
        tx.commit().ctx(path, "commit")?;
        *frontier = next;
        Ok(out)
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
        self.conn
            .query_row(
                "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx(&self.path, "read checkpoint")?
            .ok_or_else(|| StoreError::Tampered {
                what: "table checkpoints: no checkpoint".into(),
            })
    }

    /// Who signs this store's checkpoints (origin, key name, public key), as
    /// recorded in the store.
    pub fn identity(&self) -> Result<LogIdentity, StoreError> {
        ledger::read_identity(&self.conn, &self.path)
    }

    /// Every ledger entry, in order, decoded and checked against its stored
    /// leaf hash (a mismatch is [`StoreError::Tampered`]).
    pub fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(ledger::read_entries(&self.conn, &self.path)?.0)
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT note FROM checkpoints WHERE size = ?1",
                [size],
                |r| r.get(0),
            )
            .optional()
            .ctx(&self.path, "read checkpoint")
    }

    /// Proves that entry `seq` is in the current ledger: its leaf hash, the
    /// audit path, the current (size, root) and the signed checkpoint for
    /// them. Verify with `dtfhe_ledger::verify_inclusion` and
    /// `dtfhe_ledger::verify_checkpoint`.
    pub fn inclusion_proof(&self, seq: u64) -> Result<InclusionProof, StoreError> {
        let (_, leaves) = ledger::read_entries(&self.conn, &self.path)?;
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
        let (_, leaves) = ledger::read_entries(&self.conn, &self.path)?;
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
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .ctx(&self.path, "begin verify")?;
        let out = ledger::verify(&self.conn, &self.path, &self.dir);
        let _ = self.conn.execute_batch("COMMIT");
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
        let path = self.path.clone();
        let path = path.as_path();
        self.write(|tx, w| put_deployment_in(tx, path, w, d))
    }

    /// The deployment record; [`StoreError::DeploymentMissing`] if `init`
    /// has not run, so every command fails early with a clear message.
    pub fn deployment(&self) -> Result<Deployment, StoreError> {
        deployment_of(&self.conn, &self.path)
    }
}

/// Writes the deployment record and its ledger entries inside a write.
fn put_deployment_in(
    tx: &Connection,
    path: &Path,
    w: &mut Writer<'_>,
    d: &Deployment,
) -> Result<(), StoreError> {
    {
        let exists: i64 = tx
            .query_row("SELECT COUNT(*) FROM deployment", [], |r| r.get(0))
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
                d.preset,
                i64::from(d.min_group_size),
                d.public_key,
                d.relin_key,
                d.created_at
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
        let mut stmt = tx
            .prepare("INSERT INTO deployment_trustees (position, name) VALUES (?1, ?2)")
            .ctx(path, "prepare trustee insert")?;
        for (i, t) in d.trustees.iter().enumerate() {
            let pos =
                i64::try_from(i).map_err(|_| StoreError::Invalid("too many trustees".into()))?;
            stmt.execute(params![pos, t]).ctx(path, "insert trustee")?;
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
    conn: &Connection,
    path: &Path,
) -> Result<Option<DeploymentRowRaw>, StoreError> {
    conn.query_row(
        "SELECT preset, min_group_size, public_key, relin_key, created_at \
         FROM deployment WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .optional()
    .ctx(path, "read deployment")
}

/// Reads the deployment record.
fn deployment_of(conn: &Connection, path: &Path) -> Result<Deployment, StoreError> {
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
        let mut stmt = conn
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
}

impl Store {
    /// Registers a dataset schema (TOML text kept verbatim).
    ///
    /// Idempotent with identical text, so re-running an ingest is harmless;
    /// a different text under the same name is a [`StoreError::SchemaConflict`]
    /// because stored chunks were encoded against the first one. A new
    /// registration is recorded as a `SchemaRegistered` ledger entry.
    pub fn register_dataset(&mut self, name: &str, schema_toml: &str) -> Result<(), StoreError> {
        let path = self.path.clone();
        let path = path.as_path();
        self.write(|tx, w| register_in(tx, path, w, "platform", name, schema_toml))
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
    /// [`crate::chunk_message`] does not verify with that key, its seq is not
    /// greater than the source's last seq for the dataset (replay or reuse),
    /// its content is identical to a stored chunk's (duplicate), or its
    /// [`crate::ChunkOrigin`] (file, index) is already stored. A refusal
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
        let path = self.path.clone();
        let path = path.as_path();
        let out = self.write(|tx, w| append_in(tx, path, w, dataset, schema_toml, source, chunks));
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
        let path = self.path.clone();
        let path = path.as_path();
        self.write(|tx, w| match source_key_of(tx, path, source)? {
            Some(k) if k == *key => Ok(false),
            Some(_) => Err(StoreError::SourceKeyConflict {
                source_name: source.to_string(),
            }),
            None => {
                let at = now_string();
                tx.execute(
                    "INSERT INTO sources (name, public_key, registered_at) VALUES (?1, ?2, ?3)",
                    params![source, key.as_bytes().to_vec(), at],
                )
                .ctx(path, "register source")?;
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
        source_key_of(&self.conn, &self.path, source)
    }

    /// The last stored seq of `source` for `dataset`, or `None` if it has no
    /// chunks there.
    pub fn last_seq(&self, dataset: &str, source: &str) -> Result<Option<u64>, StoreError> {
        last_seq_of(&self.conn, &self.path, dataset, source)
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
            .conn
            .prepare_cached(
                "SELECT id, seq, file_index, file_chunks FROM chunks \
                 WHERE dataset = ?1 AND source = ?2 AND file_hash = ?3 ORDER BY file_index",
            )
            .and_then(|mut s| {
                s.query_map(params![dataset, source, file_hash.to_vec()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            })
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

    /// The signature and origin of every chunk of a dataset, in `(source, seq)` order (the
    /// order of [`Store::chunks`]). [`StoreError::UnknownDataset`] if it is not registered.
    pub fn chunk_provenance(&self, dataset: &str) -> Result<Vec<ChunkProvenance>, StoreError> {
        self.require_dataset(dataset)?;
        let path = &self.path;
        type Row = (i64, Vec<u8>, Option<Vec<u8>>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(
                "SELECT id, signature, file_hash, file_index, file_chunks FROM chunks \
                 WHERE dataset = ?1 ORDER BY source, seq",
            )
            .and_then(|mut s| {
                s.query_map([dataset], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            })
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
        self.conn
            .prepare_cached("SELECT dataset FROM chunks WHERE id = ?1")
            .and_then(|mut s| s.query_row([chunk_id], |r| r.get(0)).optional())
            .ctx(&self.path, "read chunk dataset")
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

/// Registers a dataset inside the caller's write, recording a
/// `SchemaRegistered` entry (by `actor`) when it is new.
fn register_in(
    conn: &Connection,
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
        Some(_) => Err(StoreError::SchemaConflict {
            dataset: name.to_string(),
        }),
        None => {
            let at = now_string();
            conn.execute(
                "INSERT INTO datasets (name, schema_toml, registered_at) VALUES (?1, ?2, ?3)",
                params![name, schema_toml, at],
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
    tx: &Connection,
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
    let mut insert_chunk = tx
        .prepare_cached(
            "INSERT INTO chunks (dataset, source, seq, \"rows\", public, signature, \
             content_hash, file_hash, file_index, file_chunks) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
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
    let mut find_content = tx
        .prepare_cached("SELECT id FROM chunks WHERE content_hash = ?1 ORDER BY id LIMIT 1")
        .ctx(path, "prepare duplicate check")?;
    let mut find_origin = tx
        .prepare_cached(
            "SELECT id FROM chunks WHERE dataset = ?1 AND source = ?2 \
             AND file_hash = ?3 AND file_index = ?4",
        )
        .ctx(path, "prepare file chunk check")?;
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
        if let Some(l) = last {
            if chunk.seq <= l {
                return Err(refuse(Refusal::Replay { last: l }));
            }
        }
        let seq = i64::try_from(chunk.seq).map_err(|_| StoreError::InvalidChunk {
            dataset: dataset.to_string(),
            source_name: source.to_string(),
            index,
            reason: format!("seq {} is too large", chunk.seq),
        })?;
        let content = ledger::content_hash(dataset, chunk.rows, &public_hash, &signed);
        if let Some(id) = find_content
            .query_row([content.to_vec()], |r| r.get::<_, i64>(0))
            .optional()
            .ctx(path, "check duplicates")?
        {
            return Err(refuse(Refusal::Duplicate { chunk_id: id }));
        }
        let (file_hash, file_index, file_chunks) = match &chunk.origin {
            Some(o) => {
                if let Some(id) = find_origin
                    .query_row(
                        params![dataset, source, o.file_hash.to_vec(), i64::from(o.index)],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()
                    .ctx(path, "check file chunk")?
                {
                    return Err(refuse(Refusal::FileChunkStored {
                        index: o.index,
                        chunk_id: id,
                    }));
                }
                (
                    Some(o.file_hash.to_vec()),
                    Some(i64::from(o.index)),
                    Some(i64::from(o.count)),
                )
            }
            None => (None, None, None),
        };
        let rows = i64::from(chunk.rows);
        let id: i64 = insert_chunk
            .query_row(
                params![
                    dataset,
                    source,
                    seq,
                    rows,
                    chunk.public,
                    chunk.signature.to_vec(),
                    content.to_vec(),
                    file_hash,
                    file_index,
                    file_chunks
                ],
                |r| r.get(0),
            )
            .ctx(path, "insert chunk")?;
        let mut part_rows = Vec::with_capacity(chunk.parts.len());
        for (p, h) in chunk.parts.iter().zip(&hashes) {
            let hash = h.to_hex().to_string();
            let size = i64::try_from(p.bytes.len())
                .map_err(|_| StoreError::Invalid("blob too large".into()))?;
            insert_blob
                .execute(params![hash, size, p.bytes])
                .ctx(path, "insert blob")?;
            insert_part
                .execute(params![id, p.column, p.part, hash])
                .ctx(path, "insert part")?;
            part_rows.push((p.column.clone(), p.part.clone(), hash));
        }
        let row = ledger::ChunkRow {
            id,
            dataset,
            source,
            seq,
            rows,
            public: &chunk.public,
            signature: &chunk.signature,
            content_hash: &content,
            file_hash: file_hash.as_deref(),
            file_index,
            file_chunks,
        };
        let entry_hashes = ledger::chunk_hashes(&row, &part_rows).map_err(StoreError::Invalid)?;
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
        last = Some(chunk.seq);
        ids.push(id);
    }
    Ok(ids)
}

/// The registered key of a source, if any.
fn source_key_of(
    conn: &Connection,
    path: &Path,
    source: &str,
) -> Result<Option<VerifyingKey>, StoreError> {
    let pk: Option<Vec<u8>> = conn
        .prepare_cached("SELECT public_key FROM sources WHERE name = ?1")
        .and_then(|mut s| s.query_row([source], |r| r.get(0)).optional())
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
    conn: &Connection,
    path: &Path,
    dataset: &str,
    source: &str,
) -> Result<Option<u64>, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT MAX(seq) FROM chunks WHERE dataset = ?1 AND source = ?2")
        .and_then(|mut s| s.query_row(params![dataset, source], |r| r.get(0)))
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
fn validate_chunk(chunk: &NewChunk) -> Result<(), String> {
    if chunk.rows == 0 {
        return Err("chunk has 0 rows".into());
    }
    let mut seen = HashSet::new();
    for p in &chunk.parts {
        if p.column.is_empty() {
            return Err("part with an empty column name".into());
        }
        if !crate::is_part_kind(&p.part) {
            return Err(format!(
                "column `{}`: unknown part `{}` (expected one of {:?} or a threshold \
                 indicator gt0..gt{})",
                p.column,
                p.part,
                PART_KINDS,
                crate::MAX_INDICATOR_PARTS - 1
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

impl Store {
    /// The lanes of `keys` in lane space `space`, handing out the next free lane to every key
    /// seen for the first time (one transaction; the map is append-only).
    pub fn assign_lanes(&mut self, space: &str, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path, "begin lane assignment")?;
        let mut next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(lane) + 1, 0) FROM lanes WHERE space = ?1",
                [space],
                |r| r.get(0),
            )
            .ctx(&path, "read lanes")?;
        let mut out = Vec::with_capacity(keys.len());
        {
            let mut get = tx
                .prepare("SELECT lane FROM lanes WHERE space = ?1 AND key = ?2")
                .ctx(&path, "prepare")?;
            let mut put = tx
                .prepare("INSERT INTO lanes (space, key, lane) VALUES (?1, ?2, ?3)")
                .ctx(&path, "prepare")?;
            for k in keys {
                let existing: Option<i64> = get
                    .query_row(rusqlite::params![space, k], |r| r.get(0))
                    .map(Some)
                    .or_else(|e| {
                        if e == rusqlite::Error::QueryReturnedNoRows {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    })
                    .ctx(&path, "read lane")?;
                let lane = match existing {
                    Some(l) => l,
                    None => {
                        put.execute(rusqlite::params![space, k, next])
                            .ctx(&path, "assign lane")?;
                        next += 1;
                        next - 1
                    }
                };
                out.push(lane as u64);
            }
        }
        tx.commit().ctx(&path, "commit lanes")?;
        Ok(out)
    }
}
