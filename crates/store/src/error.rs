//! The one error type of the store layer.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
///
/// One enum for the whole layer so callers (CLI, engine) match on a single
/// type; every message names the store path, dataset or chunk involved so a
/// user can act on it without a debugger. `#[non_exhaustive]` so a future
/// backend can add variants without a breaking change.
#[non_exhaustive]
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// A filesystem operation (creating the directory or file) failed.
    #[error("store {path}: {source}")]
    Io {
        /// Path being operated on.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A database operation failed.
    #[error("store {path}: {op}: {source}")]
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// What the store was doing.
        op: &'static str,
        /// Underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL operation failed.
    #[error("store {url}: {op}: {source}")]
    Postgres {
        /// The database URL, password redacted.
        url: String,
        /// What the store was doing.
        op: &'static str,
        /// Underlying PostgreSQL error.
        #[source]
        source: postgres::Error,
    },
    /// `create` was asked to create a store where one already exists.
    #[error("a store already exists at {path}")]
    AlreadyExists {
        /// Existing database file.
        path: PathBuf,
    },
    /// `open` found no store file.
    #[error("no store at {path} (create one first, e.g. with `dtfhe init`)")]
    NotFound {
        /// Expected database file.
        path: PathBuf,
    },
    /// The deployment directory (or the store file) cannot be written, and this command
    /// writes to the store. `dtfhe audit verify` opens the store read-only and still works.
    #[error(
        "{path}: the deployment directory is read-only and this command writes to the store \
         (`dtfhe audit verify` works on a read-only deployment)"
    )]
    ReadOnly {
        /// The deployment directory.
        path: PathBuf,
    },
    /// The file exists but is not a store of this project (not SQLite, or no
    /// schema version recorded): another file in its place, or a damaged or truncated store.
    #[error("{path} is not a DigitalThreadFHE store (another file, or a damaged or truncated store): {reason}")]
    NotAStore {
        /// Database file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The store's schema version is not the one this build knows.
    #[error(
        "store {path} has schema version {found}, this build supports version {supported}{hint}",
        hint = if .found > .supported { " (store written by a newer dtfhe; upgrade dtfhe)" } else { "" }
    )]
    UnsupportedVersion {
        /// Database file.
        path: PathBuf,
        /// Version recorded in the store.
        found: i64,
        /// Version this build writes and reads.
        supported: i64,
    },
    /// `put_deployment` called on a store that already has one.
    #[error("store {path} is already initialised (deployment record exists)")]
    DeploymentExists {
        /// Database file.
        path: PathBuf,
    },
    /// `deployment` called before `init`.
    #[error("store {path} is not initialised (no deployment record)")]
    DeploymentMissing {
        /// Database file.
        path: PathBuf,
    },
    /// A dataset name is already registered with a different schema text.
    #[error("dataset `{dataset}` is already registered with another schema: {differences}")]
    SchemaConflict {
        /// Dataset name.
        dataset: String,
        /// Which columns or fields differ (or that only the text does).
        differences: String,
    },
    /// The dataset is not registered.
    #[error("unknown dataset `{dataset}`")]
    UnknownDataset {
        /// Dataset name.
        dataset: String,
    },
    /// An input was rejected before anything was stored (empty name, bad
    /// deployment field, ...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// One chunk of an append was invalid; the whole append was rolled back.
    #[error("dataset `{dataset}`, source `{source_name}`, chunk #{index} of the batch: {reason} (nothing was stored)")]
    InvalidChunk {
        /// Dataset name.
        dataset: String,
        /// Source name.
        source_name: String,
        /// Index of the offending chunk in the batch (0-based).
        index: usize,
        /// What is wrong with it.
        reason: ChunkDefect,
    },
    /// A chunk was refused: unknown source, bad signature, replayed or
    /// reused seq, or a duplicate. Nothing of the chunk (nor of its batch)
    /// was stored, and the refusal was recorded as an `IngestRefused`
    /// ledger entry.
    #[error(
        "dataset `{dataset}`: chunk seq {seq} from source `{source_name}` refused: {reason} \
         (nothing was stored; the refusal is recorded in the ledger)"
    )]
    IngestRefused {
        /// Dataset name.
        dataset: String,
        /// Source name.
        source_name: String,
        /// The chunk's seq.
        seq: u64,
        /// Why it was refused.
        reason: Refusal,
    },
    /// A source is already registered with a different public key.
    #[error("source `{source_name}` is already registered with a different key")]
    SourceKeyConflict {
        /// Source name.
        source_name: String,
    },
    /// A ciphertext blob does not hash to its address: the database was
    /// modified outside the store.
    #[error(
        "corrupt blob for chunk {chunk_id}, column `{column}`, part `{part}`: \
         expected blake3 {expected}, found {actual}"
    )]
    Corrupt {
        /// Chunk id.
        chunk_id: i64,
        /// Column name.
        column: String,
        /// Part name.
        part: String,
        /// Hash recorded in the store.
        expected: String,
        /// Hash of the bytes actually read.
        actual: String,
    },
    /// A stored value is out of range for its type (e.g. negative row count):
    /// the database was modified outside the store.
    #[error("store {path}: corrupt record: {what}")]
    CorruptRecord {
        /// Database file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The store's checkpoint signing key (`store.key`) or its public key
    /// (`store.pub`) cannot be created, read or used.
    #[error("store key {path}: {reason}")]
    Key {
        /// Key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A ledger operation failed (entry too large, proof out of range, ...).
    #[error("ledger: {0}")]
    Ledger(#[from] dtfhe_ledger::LedgerError),
    /// `verify` found data that does not match the signed ledger: the store
    /// was modified outside this API. `what` names the first bad entry,
    /// checkpoint, chunk, blob or table row.
    #[error("store has been tampered with: {what}")]
    Tampered {
        /// The first inconsistency found.
        what: String,
    },
}

impl StoreError {
    /// This error as a [`ChunkReader`](dtfhe_model::ChunkReader) error: an unknown dataset
    /// and tampering keep their meaning, anything else is a storage failure (its message kept).
    pub fn into_read_error(self) -> dtfhe_model::ChunkReadError {
        use dtfhe_model::ChunkReadError;
        match self {
            StoreError::UnknownDataset { dataset } => ChunkReadError::UnknownDataset { dataset },
            StoreError::Tampered { what } => ChunkReadError::Tampered { what },
            other => ChunkReadError::Storage {
                reason: other.to_string(),
            },
        }
    }
}

/// Why [`StoreError::IngestRefused`] refused a chunk.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The source has no registered key.
    UnknownSource,
    /// The signature does not verify with the source's registered key (the
    /// chunk was altered, or signed by someone else).
    BadSignature,
    /// The seq is not greater than the source's last seq for the dataset
    /// (a replayed chunk or a reused sequence number).
    Replay {
        /// The source's last stored seq for the dataset.
        last: u64,
    },
    /// The chunk's content is identical to a stored chunk.
    Duplicate {
        /// The stored chunk's id.
        chunk_id: i64,
    },
    /// This chunk of this input file is already stored.
    FileChunkStored {
        /// Position of the chunk in the file.
        index: u32,
        /// The stored chunk's id.
        chunk_id: i64,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownSource => f.write_str("unknown source (no registered key)"),
            Refusal::BadSignature => {
                f.write_str("bad signature (the chunk does not verify with the source's key)")
            }
            Refusal::Replay { last } => write!(
                f,
                "replayed or reused sequence number (the source's last seq is {last})"
            ),
            Refusal::Duplicate { chunk_id } => {
                write!(f, "duplicate of stored chunk {chunk_id}")
            }
            Refusal::FileChunkStored { index, chunk_id } => write!(
                f,
                "chunk #{index} of this file is already stored as chunk {chunk_id}"
            ),
        }
    }
}

/// What is wrong with one chunk of an append ([`StoreError::InvalidChunk`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkDefect {
    /// The chunk has no rows.
    #[error("chunk has 0 rows")]
    NoRows,
    /// A part names no column.
    #[error("part with an empty column name")]
    EmptyColumn,
    /// A part kind that is not a stored part.
    #[error("column `{column}`: unknown part `{part}` (expected one of {:?} or a threshold indicator gt0..gt{})", dtfhe_model::PART_KINDS, dtfhe_model::MAX_INDICATOR_PARTS - 1)]
    UnknownPart {
        /// The column.
        column: String,
        /// The part as given.
        part: String,
    },
    /// The same `(column, part)` twice.
    #[error("column `{column}`: part `{part}` given twice")]
    DuplicatePart {
        /// The column.
        column: String,
        /// The part.
        part: String,
    },
    /// A public text value holds a control character (NUL, escape, bell, …): refused so no
    /// stored text can carry one into a report or a terminal (the agent's CSV check refuses
    /// it first; this catches a client that skips it).
    #[error("public column `{column}`, row {row} of the chunk: {reason}")]
    ControlCharacter {
        /// The column.
        column: String,
        /// The row within the chunk, from 1.
        row: usize,
        /// Which character, where (boxed: keeps every store error small).
        reason: Box<dtfhe_model::table::ControlCharError>,
    },
    /// The sequence number does not fit the database's signed 64-bit integer.
    #[error("seq {0} is too large")]
    SeqTooLarge(u64),
}
