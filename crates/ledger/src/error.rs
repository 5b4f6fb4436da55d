//! The one error type of the ledger crate.

/// Everything that can go wrong building, decoding or verifying ledger data.
///
/// `#[non_exhaustive]` so new checks can add variants without a breaking
/// change. Messages say what was wrong with the input; none of them ever
/// echoes secret material.
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// A proof was requested for an index or size outside the tree.
    #[error("invalid proof request: {0}")]
    InvalidProofRequest(String),
    /// An encoded entry could not be decoded.
    #[error("malformed ledger entry: {0}")]
    MalformedEntry(String),
    /// An entry cannot be encoded (a field exceeds its size limit).
    #[error("ledger entry too large: {0}")]
    EntryTooLarge(String),
    /// A signed note or checkpoint is not well-formed.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// A key name or verifier key string is not acceptable.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The note carries no signature by the expected key.
    #[error("note has no signature by key `{0}`")]
    NoSignature(String),
    /// A signature by the expected key does not verify.
    #[error("bad signature by key `{0}`")]
    BadSignature(String),
    /// The checkpoint is for another log.
    #[error("checkpoint origin `{found}` is not the expected `{expected}`")]
    WrongOrigin {
        /// Origin the verifier expected.
        expected: String,
        /// Origin found in the checkpoint.
        found: String,
    },
}
