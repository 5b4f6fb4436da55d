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

/// Domain tag of the statement a trustee signs to attest the deployment's keys.
pub const DEPLOYMENT_TAG: &str = "dtfhe-deployment-v1";

/// The statement a trustee signs once it has checked the deployment's keys against the
/// ceremony's messages: `dtfhe-deployment-v1\n<blake3(public key) hex>\n<blake3(relin key)
/// hex>` over the encoded keys as `GET /v1/deployment` serves them.
pub fn deployment_statement(public_key: &[u8], relin_key: &[u8]) -> Vec<u8> {
    format!(
        "{DEPLOYMENT_TAG}\n{}\n{}",
        blake3::hash(public_key).to_hex(),
        blake3::hash(relin_key).to_hex()
    )
    .into_bytes()
}

/// One trustee's attestation of the deployment's keys (`POST /v1/ceremony/attestation`,
/// `GET /v1/ceremony/attestations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attestation {
    /// The trustee.
    pub trustee: String,
    /// base64 ed25519 signature of [`deployment_statement`] with the trustee's registered key.
    pub signature: String,
}

/// Checks that every trustee of `deployment` attested exactly its keys with the key it is
/// registered with (`identities`, from `GET /v1/identities`). A source should encrypt under
/// the public key only after this passes: the platform alone cannot forge it, and each
/// trustee attests only after recomputing both keys from the ceremony's messages.
pub fn check_attestations(
    deployment: &crate::types::DeploymentInfo,
    attestations: &[Attestation],
    identities: &[crate::types::IdentityRecord],
) -> Result<(), AttestationError> {
    use base64::Engine as _;
    use ed25519_dalek::Verifier as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let pk = b64
        .decode(&deployment.public_key)
        .map_err(|_| AttestationError::KeyNotBase64("public_key"))?;
    let rk = b64
        .decode(&deployment.relin_key)
        .map_err(|_| AttestationError::KeyNotBase64("relin_key"))?;
    let msg = deployment_statement(&pk, &rk);
    for t in &deployment.trustees {
        let trustee = || t.clone();
        let id = identities
            .iter()
            .find(|i| &i.name == t && i.role == crate::Role::Trustee)
            .ok_or_else(|| AttestationError::NotRegistered { trustee: trustee() })?;
        let key = crate::identity::parse_public_key(&id.public_key).map_err(|source| {
            AttestationError::RegisteredKey {
                trustee: trustee(),
                source,
            }
        })?;
        let a = attestations
            .iter()
            .find(|a| &a.trustee == t)
            .ok_or_else(|| AttestationError::NotAttested { trustee: trustee() })?;
        let sig: [u8; 64] = b64
            .decode(&a.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| AttestationError::MalformedSignature { trustee: trustee() })?;
        key.verify(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| AttestationError::WrongKeys { trustee: trustee() })?;
    }
    Ok(())
}

/// Why [`check_attestations`] refuses a deployment record. Only [`NotAttested`] may
/// change by waiting (trustees attest right after the ceremony); every other variant is a
/// refusal that stands.
///
/// [`NotAttested`]: AttestationError::NotAttested
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// A key of the deployment record is not base64.
    #[error("{0} is not base64")]
    KeyNotBase64(&'static str),
    /// A trustee of the deployment is not registered as a trustee.
    #[error("trustee `{trustee}` is not a registered trustee")]
    NotRegistered {
        /// The trustee.
        trustee: String,
    },
    /// A trustee's registered key does not parse.
    #[error("trustee `{trustee}`: {source}")]
    RegisteredKey {
        /// The trustee.
        trustee: String,
        /// What is wrong with its key.
        source: crate::identity::PublicKeyError,
    },
    /// A trustee has not attested yet.
    #[error("trustee `{trustee}` has not attested the deployment's keys")]
    NotAttested {
        /// The trustee.
        trustee: String,
    },
    /// A trustee's attestation is not a 64-byte base64 signature.
    #[error("trustee `{trustee}`: attestation is not a 64-byte signature")]
    MalformedSignature {
        /// The trustee.
        trustee: String,
    },
    /// A trustee's attestation does not cover these keys (or is not its signature).
    #[error("trustee `{trustee}` did not attest these keys")]
    WrongKeys {
        /// The trustee.
        trustee: String,
    },
}

/// `who`'s attestation of the deployment keys `public_key` and `relin_key` (encoded as
/// served); sign only after checking them against the ceremony's messages.
pub fn attest(who: &crate::Identity, public_key: &[u8], relin_key: &[u8]) -> Attestation {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    Attestation {
        trustee: who.name().to_string(),
        signature: base64::engine::general_purpose::STANDARD.encode(
            who.signing_key()
                .sign(&deployment_statement(public_key, relin_key))
                .to_bytes(),
        ),
    }
}
