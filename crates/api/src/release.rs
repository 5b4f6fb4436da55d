//! Bodies of the query and release routes, and the canonical byte strings the parties sign
//! or bind: the analyst's query statement and the associated data a trustee's sealed share
//! is bound to.
//!
//! The server only relays: it computes the sum ciphertexts, records their hashes in the
//! ledger, and hands each trustee the request. Trustees seal their decryption shares to the
//! analyst's fresh recipient key, so the server stores bytes it cannot open.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::Identity;

/// Domain tag of the statement an analyst signs for a query.
pub const STATEMENT_TAG: &str = "dtfhe-query-v1";

/// HPKE `info` of every sealed decryption share (domain separation from any other use of
/// the recipient key).
pub const SEAL_INFO: &[u8] = b"dtfhe-release-share-v1";

/// The canonical statement of a query (see docs/NETWORK.md):
/// `dtfhe-query-v1\n<analyst>\n<timestamp>\n<epsilon or ->\n<recipient b64>\n<sql>`.
///
/// Signing it binds the SQL, the DP budget asked and the recipient key to the analyst, so
/// the platform cannot redirect the sealed shares to a key of its own or change the query:
/// every trustee checks the signature with the analyst's registered key.
pub fn statement_message(
    analyst: &str,
    timestamp: u64,
    epsilon: Option<f64>,
    recipient_b64: &str,
    sql: &str,
) -> Vec<u8> {
    let eps = epsilon.map_or_else(|| "-".to_string(), |e| format!("{e:?}"));
    format!("{STATEMENT_TAG}\n{analyst}\n{timestamp}\n{eps}\n{recipient_b64}\n{sql}").into_bytes()
}

/// The analyst's base64 signature of [`statement_message`].
pub fn sign_statement(
    who: &Identity,
    timestamp: u64,
    epsilon: Option<f64>,
    recipient_b64: &str,
    sql: &str,
) -> String {
    let msg = statement_message(who.name(), timestamp, epsilon, recipient_b64, sql);
    crate::score::sign(who, &msg)
}

/// Checks an analyst's statement signature; the error says what is wrong.
pub fn verify_statement(
    key: &VerifyingKey,
    analyst: &str,
    timestamp: u64,
    epsilon: Option<f64>,
    recipient_b64: &str,
    sql: &str,
    signature_b64: &str,
) -> Result<(), StatementError> {
    let msg = statement_message(analyst, timestamp, epsilon, recipient_b64, sql);
    crate::score::verify(key, analyst, &msg, signature_b64)
}

/// Why an analyst's statement signature is refused (see [`verify_statement`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// The signature field is not base64.
    #[error("statement_signature is not base64")]
    NotBase64,
    /// The signature is not 64 bytes.
    #[error("statement_signature is not 64 bytes")]
    Length,
    /// The signature is not the analyst's over this statement.
    #[error("the statement signature does not verify with `{analyst}`'s key")]
    DoesNotVerify {
        /// The analyst named in the request.
        analyst: String,
    },
}

/// HPKE associated data of trustee `trustee`'s sealed share of ciphertext `index` of
/// release `release`, whose blake3 hash (hex) the trustee re-derived as `ciphertext_hash`:
/// a share sealed for one release, position or trustee cannot be replayed as another's, and
/// a box opens only for the ciphertext the trustee itself computed, so a platform that shows
/// the analyst other ciphertexts than the trustees' is caught when the boxes are opened.
pub fn seal_aad(release: u64, trustee: &str, index: usize, ciphertext_hash: &str) -> Vec<u8> {
    format!(
        "dtfhe-release-share-v1\nrelease {release}\ntrustee {trustee}\nitem {index}\nciphertext {ciphertext_hash}"
    )
    .into_bytes()
}

/// `POST /v1/queries` (analyst): run an aggregate query and ask the trustees to release it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryRequest {
    /// The SQL (one SELECT with aggregates).
    pub sql: String,
    /// Differential privacy: total ε to spend, or none for exact results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// The analyst's fresh HPKE X25519 public key for this query (base64); trustees seal
    /// their shares to it.
    pub recipient: String,
    /// Unix seconds when the statement was signed.
    pub timestamp: u64,
    /// base64 ed25519 signature of [`statement_message`] by the analyst.
    pub statement_signature: String,
}

/// Answer to `POST /v1/queries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryAccepted {
    /// The query's id: the ledger sequence number of its `release_requested` entry, also
    /// the release id trustees answer.
    pub query_id: u64,
    /// How many ciphertexts await the trustees' shares.
    pub ciphertexts: usize,
    /// Trustees who must all answer.
    pub trustees: Vec<String>,
}

/// Clear facts about one output group (public metadata: its label and row count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupInfo {
    /// Human-readable key, e.g. `type = 'H'`.
    pub label: String,
    /// Rows in the group.
    pub rows: u64,
}

/// A release request as a trustee sees it (`GET /v1/releases/pending`, `/v1/releases/{id}`).
/// No ciphertext: each trustee re-derives them from the signed chunks and compares hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseInfo {
    /// Release id (= query id).
    pub id: u64,
    /// The analyst who asked.
    pub analyst: String,
    /// Dataset queried (as planned by the server).
    pub dataset: String,
    /// The analyst's request as it signed it (SQL, ε, recipient key, timestamp, signature;
    /// flattened into this body's JSON), for every trustee to verify itself.
    #[serde(flatten)]
    pub statement: QueryRequest,
    /// blake3 (hex) of every ciphertext the platform computed, in release order.
    pub ciphertext_hashes: Vec<String>,
    /// The chunks the platform computed over: per dataset, the highest chunk id it listed
    /// (`dtfhe_model::ChunkPin`). Whoever re-derives the computation reads only those, so
    /// chunks that land meanwhile change nothing.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub chunks_upto: std::collections::BTreeMap<String, i64>,
    /// The platform's group facts (trustees use their own).
    pub groups: Vec<GroupInfo>,
    /// Trustees who have answered so far.
    pub answered: Vec<String>,
    /// For a per-row scoring (`POST /v1/scores`): the model; `analyst` is then the source
    /// whose rows are scored and who alone receives the predictions, `sql` is empty, and
    /// `statement_signature` signs [`crate::score::score_message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<crate::score::ScoreInfo>,
    /// On a t-of-n deployment: the release's quorum (who claimed, the set once fixed); a
    /// trustee outside a fixed set does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<crate::dealing::Quorum>,
}

/// `POST /v1/releases/{id}/answers` (trustee).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseAnswer {
    /// Whether the trustee approves the release.
    pub approve: bool,
    /// Why it refuses (required when `approve` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One HPKE-sealed decryption share per ciphertext, in release order (base64); empty
    /// on a refusal.
    #[serde(default)]
    pub sealed: Vec<String>,
    /// The differential-privacy ε this trustee's noise share was drawn for (its policy's
    /// default when the analyst named none), so the analyst learns that, and how much, the
    /// result is noised; `None` for an exact release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
}

/// One trustee's recorded answer, as the analyst sees it: who answered, what it sent (the
/// sealed shares only once the release is complete) and when the platform recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrusteeAnswer {
    /// The trustee.
    pub trustee: String,
    /// Its answer (flattened: the JSON keeps `approve`, `reason`, `sealed`, `epsilon` at the
    /// top level).
    #[serde(flatten)]
    pub answer: ReleaseAnswer,
    /// When the platform recorded this answer (Unix seconds; 0 from a platform that did
    /// not record it), so the analyst can say when each trustee approved.
    #[serde(default)]
    pub answered_unix: u64,
}

/// Where a query stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryState {
    /// Waiting for some trustees.
    Pending,
    /// A trustee refused: nothing will be released.
    Refused,
    /// Every trustee approved: the sealed shares and ciphertexts are in the answer.
    Complete,
}

/// `GET /v1/queries/{id}` (the analyst who asked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryStatus {
    /// Query id.
    pub id: u64,
    /// Where it stands.
    pub state: QueryState,
    /// Dataset queried.
    pub dataset: String,
    /// Every trustee of the deployment.
    pub trustees: Vec<String>,
    /// The answers so far (sealed shares only when complete).
    pub answers: Vec<TrusteeAnswer>,
    /// blake3 (hex) of every ciphertext, in release order.
    pub ciphertext_hashes: Vec<String>,
    /// The ciphertexts (base64 of `dtfhe_crypto::codec::encode_ciphertext`), only when
    /// complete.
    #[serde(default)]
    pub ciphertexts: Vec<String>,
    /// The chunks the platform computed over: per dataset, the highest chunk id it listed
    /// (`dtfhe_model::ChunkPin`). Whoever re-derives the computation reads only those, so
    /// chunks that land meanwhile change nothing.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub chunks_upto: std::collections::BTreeMap<String, i64>,
    /// On a t-of-n deployment: the quorum; the release is complete once every member of
    /// its set approved, and only the set's shares are combined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<crate::dealing::Quorum>,
    /// Once delivered to the analyst: the seq of the release's `result_delivered` ledger
    /// entry (the provenance an exported result names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_entry: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_signature_binds_every_field() {
        let id = Identity::generate("ana").expect("identity");
        let sig = sign_statement(&id, 100, Some(1.0), "cmVj", "SELECT COUNT(*) FROM d");
        let key = id.verifying_key();
        let ok =
            |a: &str, t, e, r: &str, s: &str| verify_statement(&key, a, t, e, r, s, &sig).is_ok();
        assert!(ok("ana", 100, Some(1.0), "cmVj", "SELECT COUNT(*) FROM d"));
        assert!(!ok("bob", 100, Some(1.0), "cmVj", "SELECT COUNT(*) FROM d"));
        assert!(!ok("ana", 101, Some(1.0), "cmVj", "SELECT COUNT(*) FROM d"));
        assert!(!ok("ana", 100, None, "cmVj", "SELECT COUNT(*) FROM d"));
        assert!(!ok("ana", 100, Some(1.0), "eA==", "SELECT COUNT(*) FROM d"));
        assert!(!ok("ana", 100, Some(1.0), "cmVj", "SELECT COUNT(*) FROM e"));
        let aad = seal_aad(1, "a", 0, "00");
        assert_ne!(aad, seal_aad(1, "b", 0, "00"));
        assert_ne!(aad, seal_aad(2, "a", 0, "00"));
        assert_ne!(aad, seal_aad(1, "a", 1, "00"));
        assert_ne!(aad, seal_aad(1, "a", 0, "01"));
    }
}
