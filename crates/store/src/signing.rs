//! Signature checks of the store: chunk messages (`dtfhe_model::chunk_message`), source
//! registrations and artifacts, always strict ed25519.

use ed25519_dalek::{Signature, VerifyingKey};

/// Whether `signature` is `key`'s signature of `message` (strict ed25519
/// verification: no malleable or small-order encodings).
pub(crate) fn signature_ok(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}
