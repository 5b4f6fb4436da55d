//! What a benchmark run can fail with: the failures of the roles it drives, a result that
//! differs from plaintext, or a broken measurement set-up.

use dtfhe_analyst::AnalystError;
use dtfhe_embedded::EmbeddedError;
use dtfhe_engine::EngineError;
use dtfhe_model::ExitKind;
use dtfhe_store::StoreError;

/// Everything `dtfhe bench` can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Wrong arguments.
    #[error("{0}")]
    Usage(String),
    /// A schema or CSV file was rejected; nothing was stored.
    #[error("{0}; nothing was stored")]
    Input(#[from] dtfhe_model::ThreadError),
    /// A cryptographic object was invalid or an operation failed.
    #[error("{0}")]
    Crypto(#[from] dtfhe_crypto::CryptoError),
    /// A benchmark query could not be planned.
    #[error("{0}")]
    Query(#[from] EngineError),
    /// A released result differs from the plaintext evaluation.
    #[error("{0}")]
    Mismatch(String),
    /// The platform (a server process of the load test) failed or answered inconsistently.
    #[error("{0}")]
    Platform(String),
    /// The disclosure-audit workload failed (a commit, a state decode).
    #[error("audit bench: {0}")]
    Audit(String),
    /// A scratch store could not be used.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An embedded operation failed.
    #[error(transparent)]
    Embedded(Box<EmbeddedError>),
    /// A networked query or the remote audit failed.
    #[error(transparent)]
    Analyst(Box<AnalystError>),
    /// File-system or process trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file, directory or program.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl BenchError {
    /// What kind of failure this is ([`ExitKind`], shared by every command).
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            BenchError::Usage(_) => ExitKind::Usage,
            BenchError::Input(_) | BenchError::Query(_) => ExitKind::Input,
            BenchError::Crypto(_) => ExitKind::Crypto,
            BenchError::Store(e) => dtfhe_embedded::error::store_exit_kind(e),
            BenchError::Mismatch(_) => ExitKind::Mismatch,
            BenchError::Platform(_) => ExitKind::Platform,
            BenchError::Embedded(e) => e.exit_kind(),
            BenchError::Analyst(e) => e.exit_kind(),
            BenchError::Audit(_) | BenchError::Io { .. } => ExitKind::Io,
        }
    }

    /// Process exit code ([`BenchError::exit_kind`]'s code).
    pub fn exit_code(&self) -> i32 {
        self.exit_kind().code()
    }
}

dtfhe_model::io_error_constructor!(BenchError);

dtfhe_model::boxed_from!(BenchError {
    Embedded: EmbeddedError,
    Analyst: AnalystError,
});
