//! What the analyst's networked query and remote audit can fail with.

use dtfhe_api::ApiError;
use dtfhe_crypto::CryptoError;
use dtfhe_engine::EngineError;
use dtfhe_model::ExitKind;

/// Everything a networked query or a remote audit can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalystError {
    /// Wrong arguments, a bad identity file, or an unknown name at the platform.
    #[error("{0}")]
    Usage(String),
    /// The query could not be planned (syntax, unknown column, unsupported construct).
    #[error("{0}")]
    Query(EngineError),
    /// The platform rejected the request as bad input (its problem detail, unchanged).
    #[error("{0}")]
    Input(String),
    /// A trustee's key files or a released result do not check out (inconsistent shares);
    /// nothing was released.
    #[error("{0}")]
    Damaged(String),
    /// A privacy rule refused the request; nothing was decrypted.
    #[error("refused: {0}; nothing was decrypted")]
    Refused(String),
    /// A cryptographic object was invalid or an operation failed.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// A released result differs from what the signed chunks allow.
    #[error("{0}")]
    Mismatch(String),
    /// The remote audit found the platform's ledger or chunks inconsistent (names the first
    /// bad entry, checkpoint or chunk).
    #[error("audit failed: {0}")]
    Tampered(String),
    /// The platform server failed or answered something inconsistent (names the request).
    #[error("{0}")]
    Platform(String),
    /// A networked query was not released in time: some trustees did not answer (named);
    /// nothing was released.
    #[error("{0}")]
    NotReleased(String),
    /// File-system or network trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file, directory or URL.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl AnalystError {
    /// What kind of failure this is (one mapping to exit codes for every command:
    /// [`ExitKind`]).
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            AnalystError::Usage(_) => ExitKind::Usage,
            AnalystError::Query(_) | AnalystError::Input(_) => ExitKind::Input,
            AnalystError::Refused(_) => ExitKind::Refused,
            AnalystError::NotReleased(_) => ExitKind::Store,
            AnalystError::Crypto(_) => ExitKind::Crypto,
            AnalystError::Mismatch(_) => ExitKind::Mismatch,
            AnalystError::Tampered(_) | AnalystError::Damaged(_) => ExitKind::Damaged,
            AnalystError::Platform(_) => ExitKind::Platform,
            AnalystError::Io { .. } => ExitKind::Io,
        }
    }

    /// Process exit code of `dtfhe` ([`AnalystError::exit_kind`]'s code).
    pub fn exit_code(&self) -> i32 {
        self.exit_kind().code()
    }

    /// Whether a release rule refused (exit code 4), as opposed to a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AnalystError::Refused(_))
    }
}

dtfhe_model::io_error_constructor!(AnalystError);

dtfhe_engine::refusal_or_query_error!(AnalystError);

/// The analyst error of `kind` with `message` (a platform answer already classified by
/// [`ExitKind::for_problem`], e.g. the refusal of an uploaded chunk).
pub fn with_kind(kind: ExitKind, message: String) -> AnalystError {
    match kind {
        ExitKind::Input => AnalystError::Input(message),
        ExitKind::Refused => AnalystError::Refused(message),
        ExitKind::Usage => AnalystError::Usage(message),
        ExitKind::Damaged => AnalystError::Tampered(message),
        _ => AnalystError::Platform(message),
    }
}

/// A platform API failure as an analyst error, by [`ExitKind::for_problem`] (the one
/// mapping every networked command uses): SQL or data the platform rejects is bad input
/// (exit 3, as the embedded command says), a refusal exit 4, an unknown name or a conflict
/// a usage error (exit 2), a tampered store exit 8; an unreachable platform an I/O error
/// (exit 1); a server failure or an unexpected answer a platform error (exit 9).
pub fn api_error(e: ApiError) -> AnalystError {
    match &e {
        ApiError::Problem { problem, .. } => with_kind(
            ExitKind::for_problem(problem.status, problem.short_kind()),
            e.to_string(),
        ),
        ApiError::Transport { url, reason } => AnalystError::Io {
            path: url.clone(),
            source: std::io::Error::other(format!("cannot reach the platform: {reason}")),
        },
        ApiError::Identity { .. } => AnalystError::Usage(e.to_string()),
        _ => AnalystError::Platform(e.to_string()),
    }
}
