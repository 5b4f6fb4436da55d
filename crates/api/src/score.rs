//! Bodies and signed statements of per-row scoring over the network: a fitted model is
//! registered by the analyst who fitted it (`POST /v1/models`), and a source asks for the
//! predictions of its own rows (`POST /v1/scores`), released to it alone.
//!
//! Both statements are signed with the party's identity key, so neither the platform nor
//! another party can register a model in an analyst's name or redirect a source's
//! predictions: every trustee checks both signatures with the registered keys before it
//! gives a share, and seals its shares to the recipient key the source signed.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::release::StatementError;
use crate::Identity;

/// Domain tag of a source's scoring statement.
pub const SCORE_TAG: &str = "dtfhe-score-v1";
/// Domain tag of an analyst's model registration.
pub const MODEL_TAG: &str = "dtfhe-model-v1";

/// `dtfhe-score-v1\n<source>\n<timestamp>\n<recipient b64>\n<dataset>\n<model hash hex>`:
/// binds the rows (the source's own, of `dataset`), the model and the recipient key.
pub fn score_message(
    source: &str,
    timestamp: u64,
    recipient_b64: &str,
    dataset: &str,
    model_hash_hex: &str,
) -> Vec<u8> {
    format!("{SCORE_TAG}\n{source}\n{timestamp}\n{recipient_b64}\n{dataset}\n{model_hash_hex}")
        .into_bytes()
}

/// `dtfhe-model-v1\n<analyst>\n<fit query id>\n<model hash hex>`: the analyst states that
/// it fitted this model from the released aggregates of that query.
pub fn model_message(analyst: &str, fit_query: u64, model_hash_hex: &str) -> Vec<u8> {
    format!("{MODEL_TAG}\n{analyst}\n{fit_query}\n{model_hash_hex}").into_bytes()
}

/// Signs `message` with `who`'s identity key (base64).
pub fn sign(who: &Identity, message: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(who.signing_key().sign(message).to_bytes())
}

/// Checks `signature_b64` over `message` with `key`; `who` names the signer in the error.
pub fn verify(
    key: &VerifyingKey,
    who: &str,
    message: &[u8],
    signature_b64: &str,
) -> Result<(), StatementError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature_b64)
        .map_err(|_| StatementError::NotBase64)?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| StatementError::Length)?;
    key.verify(message, &Signature::from_bytes(&bytes))
        .map_err(|_| StatementError::DoesNotVerify {
            analyst: who.to_string(),
        })
}

/// `POST /v1/models` (analyst): register a model fitted from a released query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelRegistration {
    /// The model (`dtfhe-linear-model/1` JSON, as `dtfhe model fit` writes it).
    pub model: String,
    /// The query whose released aggregates the model was fitted from (the analyst's own,
    /// delivered, with the fit's SQL).
    pub fit_query: u64,
    /// base64 ed25519 signature of [`model_message`] by the analyst.
    pub signature: String,
}

/// A registered model (`POST /v1/models`, `GET /v1/models/{hash}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelRecord {
    /// blake3 (hex) of the model's canonical JSON.
    pub hash: String,
    /// The model's canonical JSON.
    pub model: String,
    /// The analyst who fitted and registered it.
    pub analyst: String,
    /// The fit query.
    pub fit_query: u64,
    /// The analyst's signature of [`model_message`].
    pub signature: String,
    /// The ledger entry (`model_fitted`) recording it.
    pub ledger_seq: u64,
}

/// `POST /v1/scores` (a source): the predictions of the caller's own rows of `dataset`
/// under a registered model, released to the caller alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoreRequest {
    /// The dataset (the model's).
    pub dataset: String,
    /// blake3 (hex) of the registered model's canonical JSON.
    pub model_hash: String,
    /// The source's fresh HPKE X25519 public key (base64); trustees seal to it.
    pub recipient: String,
    /// Unix seconds when the statement was signed.
    pub timestamp: u64,
    /// base64 ed25519 signature of [`score_message`] by the source.
    pub statement_signature: String,
}

/// What a trustee sees of a scoring release (in `ReleaseInfo::score`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoreInfo {
    /// blake3 (hex) of the model; the trustee fetches the registration itself.
    pub model_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_bind_every_field() {
        let id = Identity::generate("plant-a").expect("identity");
        let key = id.verifying_key();
        let msg = score_message("plant-a", 5, "cmVj", "runs", "ab");
        let sig = sign(&id, &msg);
        assert!(verify(&key, "plant-a", &msg, &sig).is_ok());
        for other in [
            score_message("plant-b", 5, "cmVj", "runs", "ab"),
            score_message("plant-a", 6, "cmVj", "runs", "ab"),
            score_message("plant-a", 5, "eA==", "runs", "ab"),
            score_message("plant-a", 5, "cmVj", "other", "ab"),
            score_message("plant-a", 5, "cmVj", "runs", "cd"),
            model_message("plant-a", 5, "ab"),
        ] {
            assert!(verify(&key, "plant-a", &other, &sig).is_err());
        }
        let m = model_message("ana", 7, "ab");
        let sig = sign(&id, &m);
        assert!(verify(&key, "ana", &m, &sig).is_ok());
        assert!(verify(&key, "ana", &model_message("ana", 8, "ab"), &sig).is_err());
        assert!(verify(&key, "ana", &m, "not base64!").is_err());
        assert!(verify(&key, "ana", &m, "AAAA").is_err());
    }
}
