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

pub use dtfhe_ledger::{Entry, EntryKind, Hash};
pub use error::{Refusal, StoreError};
pub use location::{redact_url, ParseStoreLocationError, StoreLocation};
pub use migrate::SCHEMA_VERSION;
pub use signing::{chunk_message, CHUNK_MESSAGE_VERSION};
pub use store::artifacts::{
    artifact_message, ArtifactMeta, NewArtifact, ARTIFACT_STAGES, SEAL_OVERHEAD,
};
pub use store::Store;

/// What the engine reads to compute on a dataset: chunk metadata (public columns, row
/// counts) and ciphertext parts.
///
/// The platform's [`Store`] implements it directly. A trustee or analyst that re-derives a
/// computation from a remote platform implements it over the HTTP API (checking every
/// chunk's source signature and every blob hash), so the same engine code runs on both sides
/// and computes the same ciphertexts.
pub trait ChunkReader {
    /// All chunks of a dataset in `(source, seq)` order, without ciphertext bytes.
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, StoreError>;
    /// The bytes of one ciphertext part of a chunk, or `None` if the chunk has no such part.
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl ChunkReader for Store {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, StoreError> {
        Store::chunks(self, dataset)
    }
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Store::part(self, chunk_id, column, part)
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

/// An inclusion proof of one ledger entry in the current tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's sequence number (leaf index).
    pub seq: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
    /// Tree size the proof is for (the current ledger size).
    pub size: u64,
    /// Root of that tree.
    pub root: Hash,
    /// The RFC 6962 audit path.
    pub proof: Vec<Hash>,
    /// The signed checkpoint for `(size, root)`.
    pub checkpoint: String,
}

/// A consistency proof between two sizes of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// Root at the older size.
    pub old_root: Hash,
    /// Root at the newer size.
    pub new_root: Hash,
    /// The RFC 6962 consistency proof.
    pub proof: Vec<Hash>,
    /// The signed checkpoint at the older size, if one was stored.
    pub old_checkpoint: Option<String>,
    /// The signed checkpoint at the newer size, if one was stored.
    pub new_checkpoint: Option<String>,
}

/// Part names a chunk may hold per encrypted column: the encrypted value, the
/// encrypted presence bit (1 if the cell is not NULL) and, when declared, the
/// encrypted square (for variances). Checked on append so a typo in a caller
/// cannot create a part nobody will ever read.
pub const PART_KINDS: &[&str] = &["value", "presence", "square"];

/// Most threshold indicator parts (`gt0` … `gt31`) a column may have.
pub const MAX_INDICATOR_PARTS: usize = 32;

/// Whether `part` is a part name a chunk may hold: one of [`PART_KINDS`], or a declared
/// threshold's indicator `gt{k}` (`x > thresholds[k]`, 1/0), k < [`MAX_INDICATOR_PARTS`]
/// written without leading zeros.
pub fn is_part_kind(part: &str) -> bool {
    if PART_KINDS.contains(&part) {
        return true;
    }
    part.strip_prefix("gt").is_some_and(|k| {
        !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_digit())
            && (k == "0" || !k.starts_with('0'))
            && k.parse::<usize>().is_ok_and(|k| k < MAX_INDICATOR_PARTS)
    })
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

/// A chunk to append: up to N rows of one dataset from one source, signed
/// by that source.
///
/// The source assigns `seq` (the store accepts only a seq greater than the
/// source's last one for the dataset, so a chunk cannot be replayed or its
/// seq reused) and signs [`chunk_message`] with its registered key (see
/// [`NewChunk::sign`] and [`Store::register_source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    /// Position in the source's sequence for this dataset (strictly
    /// increasing; gaps are allowed).
    pub seq: u64,
    /// Number of rows in the chunk (at least 1).
    pub rows: u32,
    /// Encoded public (clear) columns, opaque to the store.
    pub public: Vec<u8>,
    /// Ciphertext parts; each `(column, part)` at most once.
    pub parts: Vec<NewPart>,
    /// The source's ed25519 signature of [`chunk_message`] for this chunk.
    pub signature: [u8; 64],
    /// Which chunk of which input file this is, so an interrupted ingest of
    /// the same file can resume (see [`Store::file_chunks`]).
    pub origin: Option<ChunkOrigin>,
}

/// Where a chunk comes from: chunk `index` of `count` of an input file whose
/// bytes hash (blake3) to `file_hash`. Not signed: it only lets an ingest
/// recognise the chunks of its file that are already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOrigin {
    /// blake3 hash of the input file's bytes.
    pub file_hash: Hash,
    /// Position of the chunk in the file, from 0.
    pub index: u32,
    /// Number of chunks the file makes.
    pub count: u32,
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

/// One ciphertext of a chunk: a part (see [`PART_KINDS`]) of one encrypted
/// column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPart {
    /// Encrypted column name (non-empty).
    pub column: String,
    /// Part name, one of [`PART_KINDS`].
    pub part: String,
    /// Serialized ciphertext, opaque to the store.
    pub bytes: Vec<u8>,
}

/// A stored chunk without its ciphertext bytes.
///
/// Planning a query needs only the public columns and row counts; the
/// (large) ciphertexts are fetched one at a time with [`Store::part`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Store-assigned chunk id.
    pub id: i64,
    /// Source (factory) that produced the chunk.
    pub source: String,
    /// Position in the source's sequence for this dataset, assigned and
    /// signed by the source (strictly increasing).
    pub seq: u64,
    /// Number of rows.
    pub rows: u32,
    /// Encoded public columns, as appended.
    pub public: Vec<u8>,
}

/// What a stored chunk's source signed besides its [`ChunkMeta`]: the signature and the
/// (unsigned) origin, so a remote reader (the platform API) can hand them to clients that
/// check every chunk's signature themselves instead of trusting the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkProvenance {
    /// Store-assigned chunk id.
    pub id: i64,
    /// The source's ed25519 signature of [`chunk_message`].
    pub signature: [u8; 64],
    /// The chunk's origin, if it was appended with one.
    pub origin: Option<ChunkOrigin>,
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
