//! [`ChunkReader`]: what the engine reads to compute on a dataset, with its own typed error
//! ([`ChunkReadError`]) so callers decide (retry, refuse, report tampering) by variant, never
//! by the text of a message.

use crate::chunk::ChunkMeta;

/// What the engine reads to compute on a dataset: chunk metadata (public columns, row
/// counts) and ciphertext parts.
///
/// The platform's store implements it directly. A trustee or analyst that re-derives a
/// computation from a remote platform implements it over the HTTP API (checking every
/// chunk's source signature and every blob hash), so the same engine code runs on both sides
/// and computes the same ciphertexts.
pub trait ChunkReader {
    /// All chunks of a dataset in `(source, seq)` order, without ciphertext bytes.
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError>;
    /// The bytes of one ciphertext part of a chunk, or `None` if the chunk has no such part.
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead;
}

/// What [`ChunkReader::part`] returns: the part's bytes, `None` when the chunk has no such
/// part, or why it could not be read.
pub type PartRead = Result<Option<Vec<u8>>, ChunkReadError>;

/// Why a [`ChunkReader`] could not read.
///
/// The variants are the decisions a caller makes: [`ChunkReadError::Unavailable`] may succeed
/// on retry (the platform was unreachable or failed), [`ChunkReadError::Tampered`] must be
/// reported as an integrity failure, the others are refusals. `Clone + Eq` so the engine's
/// own error can carry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkReadError {
    /// The dataset is not registered.
    #[error("unknown dataset `{dataset}`")]
    UnknownDataset {
        /// Dataset name.
        dataset: String,
    },
    /// Stored or served bytes do not match what their source signed (or what the ledger
    /// recorded).
    #[error("tampering detected: {what}")]
    Tampered {
        /// What does not match, naming the chunk and part.
        what: String,
    },
    /// The remote platform could not be reached or answered with an error; retrying later
    /// may succeed.
    #[error("platform: {reason}")]
    Unavailable {
        /// The transport or HTTP failure.
        reason: String,
    },
    /// The local store failed (database or file error).
    #[error("{reason}")]
    Storage {
        /// The store's own error message.
        reason: String,
    },
    /// The reader was asked for something it cannot serve (a part of a chunk it never
    /// listed) or is in a broken state.
    #[error("chunk reader: {reason}")]
    Invalid {
        /// What was wrong.
        reason: String,
    },
}
