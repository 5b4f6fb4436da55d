//! Persistent store for a DigitalThreadFHE platform: the deployment record,
//! dataset schemas and encrypted chunks.
//!
//! The store knows nothing about FHE. Ciphertexts and encoded public columns
//! are opaque byte blobs to it, and it never holds a secret key share: the
//! platform that runs it must not be able to decrypt anything, so nothing
//! secret is ever given to it.
//!
//! Data is append-only. Chunks, parts, blobs and dataset registrations cannot
//! be updated or deleted, and this is enforced by the database itself
//! (triggers), not only by this API. Ciphertext bytes are content-addressed by
//! their blake3 hash (deduplicated) and re-hashed on every read, so tampering
//! from outside the store is detected.
//!
//! Every action is also an entry of the store's ledger (see `dtfhe-ledger`):
//! an append-only log hashed into an RFC 6962 Merkle tree, whose (size, root)
//! the store signs after every write as a C2SP signed-note checkpoint with
//! its own ed25519 key (`store.key`, public half in `store.pub`). A chunk and
//! its ledger entry commit in the same transaction, and [`Store::verify`]
//! replays the ledger and checks every table against it.
//!
//! The database is SQLite (`<dir>/store.sqlite`, embedded) or PostgreSQL (see
//! [`StoreLocation`], [`Store::create_at`], [`Store::open_at`]). One implementation of the
//! operations runs on both through a small SQL layer; each backend has its own, equivalent
//! migrations, and on both UPDATE, DELETE (and on PostgreSQL TRUNCATE) of the append-only
//! tables are refused by the database itself.
#![forbid(unsafe_code)]

mod db;
mod error;
mod ledger;
mod location;
mod migrate;
mod signing;
mod store;

use dtfhe_model::{ChunkMeta, ChunkReadError, ChunkReader, PartRead};

pub use db::pg_sql;
pub use dtfhe_ledger::{ConsistencyProof, Entry, EntryKind, Hash, InclusionProof};
pub use error::{ChunkDefect, Refusal, StoreError};
pub use location::{redact_url, ParseStoreLocationError, StoreLocation};
pub use migrate::SCHEMA_VERSION;
pub use store::artifacts::{
    ArtifactFile, ArtifactMeta, NewArtifact, ARTIFACT_STAGES, SEAL_OVERHEAD,
};
pub use store::Store;

impl ChunkReader for Store {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
        Store::chunks(self, dataset).map_err(StoreError::into_read_error)
    }
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead {
        Store::part(self, chunk_id, column, part).map_err(StoreError::into_read_error)
    }
}

/// File name of the SQLite database inside a store directory, so tools and
/// documentation can point at it (e.g. `sqlite3 <dir>/store.sqlite`).
pub const STORE_FILE: &str = "store.sqlite";

/// File name of the store's checkpoint signing key inside a store directory:
/// one version byte (1) then the 32-byte ed25519 seed, mode 0600. It is the
/// platform's key for signing ledger checkpoints, not a trustee share: it
/// can decrypt nothing.
pub const KEY_FILE: &str = "store.key";

/// File name of the store's public checkpoint key inside a store directory,
/// as a signed-note verifier key line `<name>+<key id>+<base64 key>`; give it
/// to auditors so they can pin it.
pub const PUB_FILE: &str = "store.pub";

/// Who signs this store's checkpoints.
///
/// The origin (first line of every checkpoint) is `dtfhe/<32 hex digits>`,
/// a random id drawn by `create` and stored in the `checkpoint_key` table,
/// so it survives renaming or moving the store directory and two stores
/// never share an origin. The signed-note key name is the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIdentity {
    /// The log's origin line.
    pub origin: String,
    /// The signed-note key name of the checkpoint key.
    pub key_name: String,
    /// The ed25519 public key checkpoints are signed with.
    pub verifying_key: ed25519_dalek::VerifyingKey,
}

/// What [`Store::verify`] checked, when everything matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Ledger entries replayed.
    pub entries: u64,
    /// Chunks matched with their ledger entry.
    pub chunks: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Registered source keys matched with their ledger entry.
    pub sources: u64,
    /// Ciphertext blobs re-hashed.
    pub blobs: u64,
    /// Sealed artifacts matched with their ledger entry, signature and sealed hash.
    pub artifacts: u64,
}

/// The deployment record, written once by `init`.
///
/// It fixes everything every source and trustee must agree on: the BFV
/// parameter preset, who the trustees are, the release policy's minimum
/// group size, and the *public* key material (the joint public key and the
/// relinearisation key). No secret key share is ever stored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Name of the BFV parameter preset.
    pub preset: String,
    /// Trustee names, in the order used by the key ceremony.
    pub trustees: Vec<String>,
    /// Minimum number of rows in any released aggregate group.
    pub min_group_size: u32,
    /// Serialized joint public key (opaque to the store).
    pub public_key: Vec<u8>,
    /// Serialized relinearisation key (opaque to the store).
    pub relin_key: Vec<u8>,
    /// Creation time, RFC 3339 or unix seconds (kept verbatim).
    pub created_at: String,
}

/// A stored chunk of an input file (see [`Store::file_chunks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileChunk {
    /// Store-assigned chunk id.
    pub id: i64,
    /// The chunk's seq.
    pub seq: u64,
    /// Position of the chunk in the file.
    pub index: u32,
    /// Number of chunks the file makes, as recorded with the chunk.
    pub count: u32,
}

/// A stored ciphertext part without its bytes, so a caller can see which
/// parts a chunk has (e.g. whether squares were encrypted) before fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartMeta {
    /// Encrypted column name.
    pub column: String,
    /// Part name.
    pub part: String,
    /// blake3 hash (lowercase hex) of the bytes: the blob's address.
    pub hash: String,
    /// Size of the bytes.
    pub size: u64,
}
