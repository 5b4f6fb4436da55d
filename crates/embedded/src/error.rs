//! One error type of the embedded deployment (init, ingest, query, audit, artifacts, models).

use dtfhe_crypto::CryptoError;
use dtfhe_engine::EngineError;
use dtfhe_model::{ExitKind, ThreadError};
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
    /// A document (B2MML, MTConnect, …) was refused whole: every rejected element named by
    /// line and path, never a value; nothing was stored.
    #[error("{0}; nothing was stored")]
    Document(#[from] dtfhe_agent::formats::FormatError),
    /// The schema file is not the dataset's registered schema (names the differences);
    /// nothing was stored.
    #[error("{0}")]
    SchemaConflict(String),
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
    /// A trustee's key share, ceremony record, share log or policy (or a source's key) is
    /// missing, damaged or does not match, or released shares are inconsistent (names the
    /// trustee and the file; never key material). Nothing was decrypted.
    #[error("{0}")]
    Damaged(String),
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
    /// What kind of failure this is (one mapping to exit codes for every command:
    /// [`ExitKind`]).
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            EmbeddedError::Usage(_) => ExitKind::Usage,
            EmbeddedError::Input(_)
            | EmbeddedError::Document(_)
            | EmbeddedError::Query(_)
            | EmbeddedError::SchemaConflict(_) => ExitKind::Input,
            EmbeddedError::Refused(_) | EmbeddedError::Release(_) => ExitKind::Refused,
            EmbeddedError::Store(e) => store_exit_kind(e),
            EmbeddedError::Crypto(_) => ExitKind::Crypto,
            EmbeddedError::Mismatch(_) => ExitKind::Mismatch,
            EmbeddedError::Tampered(_) | EmbeddedError::Damaged(_) => ExitKind::Damaged,
            EmbeddedError::Io { .. } => ExitKind::Io,
        }
    }

    /// Process exit code of `dtfhe` ([`EmbeddedError::exit_kind`]'s code).
    pub fn exit_code(&self) -> i32 {
        self.exit_kind().code()
    }

    /// Whether a release rule refused (exit code 4), as opposed to a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, EmbeddedError::Refused(_) | EmbeddedError::Release(_))
    }
}

dtfhe_model::io_error_constructor!(EmbeddedError);

dtfhe_engine::refusal_or_query_error!(EmbeddedError);

/// The exit kind of a store error: damage or tampering the store detected (a file that is
/// not a store, a changed row or blob) is [`ExitKind::Damaged`]; a read-only deployment
/// directory a usage error; everything else a store error.
pub fn store_exit_kind(e: &StoreError) -> ExitKind {
    match e {
        StoreError::Tampered { .. }
        | StoreError::Corrupt { .. }
        | StoreError::CorruptRecord { .. }
        | StoreError::NotAStore { .. } => ExitKind::Damaged,
        StoreError::ReadOnly { .. } => ExitKind::Usage,
        StoreError::SchemaConflict { .. } => ExitKind::Input,
        _ => ExitKind::Store,
    }
}
