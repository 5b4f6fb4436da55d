//! What the analyst's networked query and remote audit can fail with.

use dtfhe_api::ApiError;
use dtfhe_crypto::CryptoError;
use dtfhe_engine::EngineError;

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
    /// Process exit code of `dtfhe` (the command's documented contract, kept here so the
    /// library's callers and tests see the same codes): 2 usage, 3 bad query, 4 refused,
    /// 5 not released in time, 6 crypto, 7 mismatch, 8 audit found tampering, 9 platform
    /// server failure, 1 other.
    pub fn exit_code(&self) -> i32 {
        match self {
            AnalystError::Usage(_) => 2,
            AnalystError::Query(_) => 3,
            AnalystError::Refused(_) => 4,
            AnalystError::NotReleased(_) => 5,
            AnalystError::Crypto(_) => 6,
            AnalystError::Mismatch(_) => 7,
            AnalystError::Tampered(_) => 8,
            AnalystError::Platform(_) => 9,
            AnalystError::Io { .. } => 1,
        }
    }

    /// Whether a release rule refused (exit code 4), as opposed to a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AnalystError::Refused(_))
    }
}

dtfhe_model::io_error_constructor!(AnalystError);

dtfhe_engine::refusal_or_query_error!(AnalystError);

/// A platform API failure as an analyst error: an authentication, authorisation or policy
/// refusal (401, 403, 422) is a refusal (exit 4); a malformed request, an unknown name or a
/// conflict (400, 404, 409) a usage error (exit 2); an unreachable platform an I/O error
/// (exit 1); a server failure or an unexpected answer a platform error (exit 9).
pub fn api_error(e: ApiError) -> AnalystError {
    match &e {
        ApiError::Problem { problem, .. } => match problem.status {
            401 | 403 | 422 => AnalystError::Refused(e.to_string()),
            400 | 404 | 409 => AnalystError::Usage(e.to_string()),
            _ => AnalystError::Platform(e.to_string()),
        },
        ApiError::Transport { url, reason } => AnalystError::Io {
            path: url.clone(),
            source: std::io::Error::other(format!("cannot reach the platform: {reason}")),
        },
        ApiError::Identity { .. } => AnalystError::Usage(e.to_string()),
        _ => AnalystError::Platform(e.to_string()),
    }
}
