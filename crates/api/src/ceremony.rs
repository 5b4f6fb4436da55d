//! Bodies of the key-ceremony routes (`/v1/ceremony...`, trustee role).
//!
//! The server draws the ceremony seed (public: it only derives the common random
//! polynomials), collects each trustee's public-key share and relinearisation-key shares,
//! and aggregates them. Every message is a versioned `dtfhe_crypto::ceremony::net` message,
//! base64 in JSON; none holds a secret.

use serde::{Deserialize, Serialize};

/// `GET /v1/ceremony`: where the ceremony stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CeremonyState {
    /// The public ceremony seed (hex).
    pub seed: String,
    /// Parameter preset of the deployment.
    pub preset: String,
    /// Trustees, in ceremony order.
    pub trustees: Vec<String>,
    /// k: smallest group a release may describe.
    pub min_group_size: u32,
    /// Trustees whose public-key share is in.
    pub pk_shares: Vec<String>,
    /// Trustees whose round-1 relinearisation share is in.
    pub rlk1: Vec<String>,
    /// Trustees whose round-2 relinearisation share is in.
    pub rlk2: Vec<String>,
    /// The round-1 aggregate (base64), once every round-1 share is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round1_aggregate: Option<String>,
    /// Whether the deployment record (public and relinearisation keys) is written.
    pub complete: bool,
    /// Once complete: every trustee's public-key share message (base64), so each trustee
    /// can check that the deployment's public key is the aggregate of the trustees' shares,
    /// its own among them (a platform that published a key of its own could decrypt
    /// everything encrypted under it).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pk_share_messages: std::collections::BTreeMap<String, String>,
}

/// `POST /v1/ceremony/pk-share`, `/rlk1`, `/rlk2`: one trustee's message for one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CeremonyShare {
    /// The message's bytes (base64 of its `to_bytes`).
    pub share: String,
}

/// `GET /v1/ceremony/transcript` (trustee role, once the ceremony is complete): every
/// message of the ceremony (base64 by trustee), so each trustee can recompute the
/// deployment's public and relinearisation keys itself and find its own messages among
/// them. A relinearisation key of the platform's making could turn a trustee's decryption
/// share into a leak of its secret, so trustees check it before serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CeremonyTranscript {
    /// The public ceremony seed (hex).
    pub seed: String,
    /// Public-key share messages.
    pub pk: std::collections::BTreeMap<String, String>,
    /// Round-1 relinearisation messages.
    pub rlk1: std::collections::BTreeMap<String, String>,
    /// Round-2 relinearisation messages.
    pub rlk2: std::collections::BTreeMap<String, String>,
}
