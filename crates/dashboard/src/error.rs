//! One error type of the dashboard: its own state (users file), and what the deployment
//! answered (a refusal with its reason, a query error, a failed audit).

/// Everything a dashboard operation can fail with. Messages never hold a password, a
/// session token, a key share or a plaintext value of an encrypted column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// Wrong arguments (a bad user name, role, password or dataset list).
    #[error("{0}")]
    Usage(String),
    /// The users file is missing a field, has another format version or does not decode
    /// (names the file and what is wrong; never a hash).
    #[error("{path}: {reason}")]
    UsersFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// File-system trouble in the dashboard's state directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Password hashing failed (argon2 parameters or output).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The deployment refused the request (a release rule, a trustee); the reason is shown
    /// to the user. Nothing was decrypted.
    #[error("{0}")]
    Refused(String),
    /// The query could not be planned (syntax, unknown dataset or column, unsupported).
    #[error("{0}")]
    Query(String),
    /// The deployment could not be read or queried (store, keys, network).
    #[error("{0}")]
    Deployment(String),
    /// `verify now` found the store or its ledger inconsistent.
    #[error("{0}")]
    Audit(String),
    /// The HTTP listener could not be started.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A refusal's words without the leading `refused: ` (the page says "Refused:" itself).
fn refusal_text(s: String) -> String {
    match s.strip_prefix("refused: ") {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

impl DashboardError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> DashboardError {
        DashboardError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The embedded deployment's error, sorted by what the user can do about it.
    pub fn from_embedded(e: dtfhe_embedded::EmbeddedError) -> DashboardError {
        use dtfhe_embedded::EmbeddedError as E;
        match e {
            E::Refused(_) | E::Release(_) => DashboardError::Refused(refusal_text(e.to_string())),
            E::Query(_) | E::Usage(_) => DashboardError::Query(e.to_string()),
            E::Tampered(_) => DashboardError::Audit(e.to_string()),
            other => DashboardError::Deployment(other.to_string()),
        }
    }

    /// The networked analyst's error, sorted likewise.
    pub fn from_analyst(e: dtfhe_analyst::AnalystError) -> DashboardError {
        use dtfhe_model::ExitKind;
        match e.exit_kind() {
            ExitKind::Refused => DashboardError::Refused(refusal_text(e.to_string())),
            ExitKind::Input | ExitKind::Usage => DashboardError::Query(e.to_string()),
            ExitKind::Damaged => DashboardError::Audit(e.to_string()),
            _ => DashboardError::Deployment(e.to_string()),
        }
    }

    /// What kind of failure this is, for the `dtfhe` exit code.
    pub fn exit_kind(&self) -> dtfhe_model::ExitKind {
        use dtfhe_model::ExitKind;
        match self {
            DashboardError::Usage(_) | DashboardError::UsersFile { .. } => ExitKind::Usage,
            DashboardError::Hash(_) => ExitKind::Crypto,
            DashboardError::Io { .. } | DashboardError::Listen { .. } => ExitKind::Io,
            DashboardError::Refused(_) => ExitKind::Refused,
            DashboardError::Query(_) => ExitKind::Input,
            DashboardError::Deployment(_) => ExitKind::Store,
            DashboardError::Audit(_) => ExitKind::Damaged,
        }
    }

    /// Whether the deployment refused the request by a privacy rule.
    pub fn is_refusal(&self) -> bool {
        matches!(self, DashboardError::Refused(_))
    }
}
