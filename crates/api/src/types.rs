//! Request and response bodies of the platform API (JSON). Binary fields (keys, chunks,
//! ciphertexts, sealed shares) are base64 strings; ciphertext parts are served as raw bytes.
//!
//! Every body is versioned by the API path (`/v1/...`).

use serde::{Deserialize, Serialize};

use crate::Role;

/// `GET /v1/health`: liveness, no authentication.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Whether the key ceremony has finished and the deployment accepts data.
    pub ready: bool,
}

/// `POST /v1/identities` (admin): register a party's public key, role and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityRecord {
    /// The party's name (ledger actor).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Its public key, `ed25519:<base64>`.
    pub public_key: String,
    /// Datasets a source may append to or an analyst may query (`*`: all). Empty for the
    /// other roles.
    #[serde(default)]
    pub datasets: Vec<String>,
}

impl IdentityRecord {
    /// Whether the grants cover `dataset` (case-insensitive; `*` covers all).
    pub fn grants(&self, dataset: &str) -> bool {
        self.datasets
            .iter()
            .any(|d| d == "*" || d.eq_ignore_ascii_case(dataset))
    }
}
