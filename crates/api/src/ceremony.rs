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
    statement_of_hashes(public_key, &blake3::hash(relin_key).to_hex())
}

/// [`deployment_statement`] from the public key and the relinearisation key's hash (hex),
/// for a reader that did not download the relinearisation key.
fn statement_of_hashes(public_key: &[u8], relin_key_hash: &str) -> Vec<u8> {
    format!(
        "{DEPLOYMENT_TAG}\n{}\n{relin_key_hash}",
        blake3::hash(public_key).to_hex(),
    )
    .into_bytes()
}

/// The relinearisation key's hash (hex) a deployment record stands for: computed from the
/// key when it is served (and then it must equal a served `relin_key_hash`), otherwise the
/// served hash, which must be 64 lowercase hex digits.
fn relin_key_hash(deployment: &crate::types::DeploymentInfo) -> Result<String, AttestationError> {
    use base64::Engine as _;
    if deployment.relin_key.is_empty() {
        let h = &deployment.relin_key_hash;
        let hex = h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        return if hex {
            Ok(h.clone())
        } else {
            Err(AttestationError::NoRelinKey)
        };
    }
    let rk = base64::engine::general_purpose::STANDARD
        .decode(&deployment.relin_key)
        .map_err(|_| AttestationError::KeyNotBase64("relin_key"))?;
    let computed = blake3::hash(&rk).to_hex().to_string();
    if !deployment.relin_key_hash.is_empty() && deployment.relin_key_hash != computed {
        return Err(AttestationError::RelinKeyHashMismatch);
    }
    Ok(computed)
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
    let msg = statement_of_hashes(&pk, &relin_key_hash(deployment)?);
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
    /// The record has neither the relinearisation key nor a well-formed hash of it.
    #[error("the deployment record names no relinearisation key (neither the key nor its hash)")]
    NoRelinKey,
    /// The record's relinearisation key and the hash served beside it disagree.
    #[error("the deployment record's relinearisation key does not match its relin_key_hash")]
    RelinKeyHashMismatch,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{b64, DeploymentInfo, IdentityRecord};
    use crate::{Identity, Role};

    /// Two trustees attest a public key and a relinearisation key; the record as served in
    /// full and as served to a source (`?relin_key=omit`, named by its hash).
    fn setup() -> (DeploymentInfo, Vec<Attestation>, Vec<IdentityRecord>) {
        let (pk, rk) = (vec![7u8; 300], vec![9u8; 3000]);
        let ids: Vec<Identity> = ["t1", "t2"]
            .iter()
            .map(|n| Identity::generate(n).expect("identity"))
            .collect();
        let records = ids
            .iter()
            .map(|i| IdentityRecord::of(i, Role::Trustee, Vec::new()))
            .collect();
        let attestations = ids.iter().map(|i| attest(i, &pk, &rk)).collect();
        let full = DeploymentInfo {
            preset: "bfv-8192".into(),
            trustees: vec!["t1".into(), "t2".into()],
            min_group_size: 5,
            public_key: b64(&pk),
            relin_key: b64(&rk),
            relin_key_hash: blake3::hash(&rk).to_hex().to_string(),
        };
        (full, attestations, records)
    }

    #[test]
    fn a_record_without_the_relin_key_is_checked_by_its_hash() {
        let (full, att, ids) = setup();
        check_attestations(&full, &att, &ids).expect("full record");
        let omitted = DeploymentInfo {
            relin_key: String::new(),
            ..full.clone()
        };
        check_attestations(&omitted, &att, &ids).expect("record without the relin key");
        // Served in full without the hash (an older platform): still checked.
        let no_hash = DeploymentInfo {
            relin_key_hash: String::new(),
            ..full
        };
        check_attestations(&no_hash, &att, &ids).expect("record without the hash");
    }

    #[test]
    fn a_platform_cannot_swap_the_relin_key_behind_its_hash() {
        let (full, att, ids) = setup();
        // The platform names another relinearisation key than the trustees attested.
        let other = blake3::hash(b"another key").to_hex().to_string();
        let lying = DeploymentInfo {
            relin_key: String::new(),
            relin_key_hash: other.clone(),
            ..full.clone()
        };
        assert!(matches!(
            check_attestations(&lying, &att, &ids),
            Err(AttestationError::WrongKeys { .. })
        ));
        // A key served with a hash that is not its own.
        let mismatched = DeploymentInfo {
            relin_key_hash: other,
            ..full.clone()
        };
        assert!(matches!(
            check_attestations(&mismatched, &att, &ids),
            Err(AttestationError::RelinKeyHashMismatch)
        ));
        // Neither key nor a well-formed hash.
        for hash in ["", "abc", &"G".repeat(64), &"A".repeat(64)] {
            let none = DeploymentInfo {
                relin_key: String::new(),
                relin_key_hash: hash.to_string(),
                ..full.clone()
            };
            assert!(matches!(
                check_attestations(&none, &att, &ids),
                Err(AttestationError::NoRelinKey)
            ));
        }
    }
}
