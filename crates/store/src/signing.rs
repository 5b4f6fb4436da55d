//! The canonical byte string a source signs for each chunk, shared by the
//! agent (which signs) and the store (which verifies on append and in
//! `verify`), so both always agree on it.

use dtfhe_ledger::Hash;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::NewChunk;

/// Version of the signed chunk message (its second field).
pub const CHUNK_MESSAGE_VERSION: u8 = 1;

/// Domain separation tag at the start of every signed chunk message.
const CHUNK_MESSAGE_TAG: &[u8] = b"dtfhe source chunk signature";

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

/// The byte string a source signs for a chunk, format version 1:
///
/// ```text
/// u64 len, "dtfhe source chunk signature"
/// u8  version (= 1)
/// u64 len, dataset (UTF-8)
/// u64 len, source (UTF-8)
/// u64 seq
/// u32 rows
/// 32  blake3(public bytes)
/// u64 number of parts, then for each part, ordered by (column, part):
///     u64 len, column; u64 len, part; 32 blake3(ciphertext bytes)
/// ```
///
/// All integers are big-endian. Parts are sorted here, so the order in which
/// a chunk lists them does not matter (the store does not keep that order).
pub fn chunk_message(
    dataset: &str,
    source: &str,
    seq: u64,
    rows: u32,
    public_hash: &Hash,
    parts: &[(&str, &str, Hash)],
) -> Vec<u8> {
    let mut parts: Vec<&(&str, &str, Hash)> = parts.iter().collect();
    parts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut out = Vec::with_capacity(128 + parts.len() * 64);
    put_bytes(&mut out, CHUNK_MESSAGE_TAG);
    out.push(CHUNK_MESSAGE_VERSION);
    put_bytes(&mut out, dataset.as_bytes());
    put_bytes(&mut out, source.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&rows.to_be_bytes());
    out.extend_from_slice(public_hash);
    out.extend_from_slice(&(parts.len() as u64).to_be_bytes());
    for (column, part, hash) in parts {
        put_bytes(&mut out, column.as_bytes());
        put_bytes(&mut out, part.as_bytes());
        out.extend_from_slice(hash);
    }
    out
}

impl NewChunk {
    /// The message of [`chunk_message`] for this chunk (hashing its public
    /// bytes and every part).
    pub fn message(&self, dataset: &str, source: &str) -> Vec<u8> {
        let parts: Vec<(&str, &str, Hash)> = self
            .parts
            .iter()
            .map(|p| {
                (
                    p.column.as_str(),
                    p.part.as_str(),
                    *blake3::hash(&p.bytes).as_bytes(),
                )
            })
            .collect();
        chunk_message(
            dataset,
            source,
            self.seq,
            self.rows,
            blake3::hash(&self.public).as_bytes(),
            &parts,
        )
    }

    /// Signs the chunk (its current `seq` and content) as `source` for
    /// `dataset`, setting [`NewChunk::signature`].
    pub fn sign(&mut self, dataset: &str, source: &str, key: &SigningKey) {
        self.signature = key.sign(&self.message(dataset, source)).to_bytes();
    }
}

/// Whether `signature` is `key`'s signature of `message` (strict ed25519
/// verification: no malleable or small-order encodings).
pub(crate) fn signature_ok(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}
