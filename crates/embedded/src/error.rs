//! One error type of the embedded deployment (init, ingest, query, audit, artifacts, models).

use dtfhe_crypto::CryptoError;
use dtfhe_engine::EngineError;
use dtfhe_model::ThreadError;
use dtfhe_store::StoreError;

/// Everything an embedded operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// Wrong arguments or a deployment mismatch the user must fix.
    #[error("{0}")]
    Usage(String),
    /// A schema or CSV file was rejected; nothing was stored.
    #[error("{0}; nothing was stored")]
    Input(#[from] ThreadError),
    /// The query could not be planned (syntax, unknown column, unsupported construct).
    #[error("{0}")]
    Query(EngineError),
    /// A privacy rule refused the request; nothing was decrypted.
    #[error("refused: {0}; nothing was decrypted")]
    Refused(String),
    /// A release rule of the pipeline refused the request (typed); nothing was decrypted.
    #[error("refused: {0}; nothing was decrypted")]
    Release(#[from] dtfhe_release::Refusal),
    /// The store could not be used.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A cryptographic object was invalid or an operation failed.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The demo or a self-check found an encrypted result that differs from plaintext.
    #[error("{0}")]
    Mismatch(String),
    /// `dtfhe audit` found the store or its ledger inconsistent: modified outside the store,
    /// or a result delivered without the approval of every trustee. Names the first bad
    /// entry, checkpoint, chunk, blob or table.
    #[error("audit failed: {0}")]
    Tampered(String),
    /// File-system trouble outside the store.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl EmbeddedError {
    /// Process exit code of `dtfhe` (the command's documented contract, kept here so the
    /// library's callers and tests see the same codes): 2 usage, 3 bad input, 4 refused by
    /// policy, 5 store, 6 crypto, 7 mismatch, 8 audit found tampering, 1 other.
    pub fn exit_code(&self) -> i32 {
        match self {
            EmbeddedError::Usage(_) => 2,
            EmbeddedError::Input(_) | EmbeddedError::Query(_) => 3,
            EmbeddedError::Refused(_) | EmbeddedError::Release(_) => 4,
            EmbeddedError::Store(_) => 5,
            EmbeddedError::Crypto(_) => 6,
            EmbeddedError::Mismatch(_) => 7,
            EmbeddedError::Tampered(_) => 8,
            EmbeddedError::Io { .. } => 1,
        }
    }

    /// Whether a release rule refused (exit code 4), as opposed to a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, EmbeddedError::Refused(_) | EmbeddedError::Release(_))
    }
}

dtfhe_model::io_error_constructor!(EmbeddedError);

dtfhe_engine::refusal_or_query_error!(EmbeddedError);
