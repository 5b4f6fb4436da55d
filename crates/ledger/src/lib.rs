//! The DigitalThreadFHE audit ledger, as pure functions (no I/O).
//!
//! Every action on the platform (deployment, trustee and source key
//! registration, schema registration, chunk append, query, release request,
//! trustee decision, delivery, refusal) is an [`Entry`] in an append-only log.
//! This crate provides the three layers the store and the auditor share:
//!
//! - [`merkle`]: RFC 6962 / RFC 9162 Merkle tree hashing with SHA-256 (leaf
//!   and node domain separation), inclusion and consistency proofs and their
//!   verification. Storage-agnostic: it works on a slice of leaf hashes.
//! - [`entry`]: the ledger entry and its canonical, versioned binary
//!   encoding; the leaf of the tree is `leaf_hash(entry.encode())`.
//! - [`proof`]: the inclusion and consistency proofs as the store makes them and the
//!   platform sends them.
//! - [`note`]: checkpoints (tree size + root) in the C2SP `tlog-checkpoint`
//!   format, signed with ed25519 as C2SP `signed-note`s, with a strict parser
//!   that fully verifies.
//!
//! The layout follows the spec layers of transparency logs (RFC 6962 math,
//! signed note, checkpoint) so each can be tested against published vectors.
#![forbid(unsafe_code)]

pub mod entry;
mod error;
pub mod membership;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod releases;
pub mod wording;

pub use entry::{Entry, EntryKind};
pub use error::LedgerError;
pub use merkle::{
    leaf_hash, node_hash, prove_consistency, prove_inclusion, root, root_eq, verify_consistency,
    verify_inclusion, Frontier, Hash, EMPTY_ROOT,
};
pub use note::{
    key_id, parse_verifier_key, sign_checkpoint, sign_note, verifier_key_string, verify_checkpoint,
    verify_note, Checkpoint,
};
pub use proof::{ConsistencyProof, InclusionProof};
