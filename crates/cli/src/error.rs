//! One error type for the command line, mapped to exit codes in one place.

use dtfhe_crypto::CryptoError;
use dtfhe_engine::EngineError;
use dtfhe_model::{ExitKind, ThreadError};
use dtfhe_store::StoreError;

/// Everything a `dtfhe` command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Wrong arguments or a deployment mismatch the user must fix.
    #[error("{0}")]
    Usage(String),
    /// A privacy rule refused the request; nothing was decrypted.
    #[error("refused: {0}; nothing was decrypted")]
    Refused(String),
    /// The demo or a self-check found an encrypted result that differs from plaintext.
    #[error("{0}")]
    Mismatch(String),
    /// The platform server failed or answered something inconsistent (names the request).
    #[error("{0}")]
    Platform(String),
    /// An operation of the embedded deployment failed (its message unchanged; boxed, it is
    /// as large as this whole enum was). A schema, CSV or query the user gave, a release
    /// rule's refusal and a store error come here too: the embedded layer says them once.
    #[error(transparent)]
    Embedded(Box<dtfhe_embedded::EmbeddedError>),
    /// A networked query or remote audit failed (its message unchanged).
    #[error(transparent)]
    Analyst(Box<dtfhe_analyst::AnalystError>),
    /// The dashboard failed (its message unchanged).
    #[error(transparent)]
    Dashboard(Box<dtfhe_dashboard::DashboardError>),
    /// A benchmark failed (its message unchanged).
    #[error(transparent)]
    Bench(Box<dtfhe_bench::BenchError>),
    /// File-system trouble outside the store.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl CliError {
    /// What kind of failure this is: the one mapping to exit codes ([`ExitKind`]) that the
    /// embedded, networked and daemon commands share; the roles' errors say their own kind.
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            CliError::Usage(_) => ExitKind::Usage,
            CliError::Refused(_) => ExitKind::Refused,
            CliError::Mismatch(_) => ExitKind::Mismatch,
            CliError::Platform(_) => ExitKind::Platform,
            CliError::Io { .. } => ExitKind::Io,
            CliError::Embedded(e) => e.exit_kind(),
            CliError::Analyst(e) => e.exit_kind(),
            CliError::Bench(e) => e.exit_kind(),
            CliError::Dashboard(e) => e.exit_kind(),
        }
    }

    /// Process exit code ([`CliError::exit_kind`]'s code).
    pub fn exit_code(&self) -> i32 {
        self.exit_kind().code()
    }

    /// Whether a release rule refused (exit code 4), as opposed to a failure.
    pub fn is_refusal(&self) -> bool {
        match self {
            CliError::Embedded(e) => e.is_refusal(),
            CliError::Analyst(e) => e.is_refusal(),
            _ => matches!(self, CliError::Refused(_)),
        }
    }
}

dtfhe_model::io_error_constructor!(CliError);

dtfhe_model::boxed_from!(CliError {
    Embedded: dtfhe_embedded::EmbeddedError,
    Analyst: dtfhe_analyst::AnalystError,
    Dashboard: dtfhe_dashboard::DashboardError,
    Bench: dtfhe_bench::BenchError,
});

/// Errors the embedded layer already names and classifies (bad input, a query that cannot
/// be planned or is refused, a release rule's refusal, the store, a cryptographic failure)
/// pass through it.
macro_rules! through_embedded {
    ($($from:ty),*) => {$(
        impl From<$from> for CliError {
            fn from(e: $from) -> Self {
                CliError::Embedded(Box::new(e.into()))
            }
        }
    )*};
}

through_embedded!(
    ThreadError,
    EngineError,
    StoreError,
    CryptoError,
    dtfhe_release::Refusal
);
