//! Shared helpers of the store tests: deterministic source keys and signed appends.
#![allow(dead_code, clippy::unwrap_used)]

use dtfhe_store::{NewChunk, Store, StoreError};
use ed25519_dalek::SigningKey;

/// A deterministic signing key for a source name (tests only).
pub fn source_key(source: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(source.as_bytes()).as_bytes())
}

/// Appending as an honest source: registers the source's key (once), gives the chunks the
/// next seqs after the source's last one and signs them.
pub trait SignedAppend {
    /// [`Store::append_chunks`] with registered key, fresh seqs and signatures.
    fn append_signed(
        &mut self,
        dataset: &str,
        schema_toml: &str,
        source: &str,
        chunks: &[NewChunk],
    ) -> Result<Vec<i64>, StoreError>;
}

impl SignedAppend for Store {
    fn append_signed(
        &mut self,
        dataset: &str,
        schema_toml: &str,
        source: &str,
        chunks: &[NewChunk],
    ) -> Result<Vec<i64>, StoreError> {
        let key = source_key(source);
        self.register_source(source, &key.verifying_key())?;
        let base = self.last_seq(dataset, source)?.map_or(0, |l| l + 1);
        let signed: Vec<NewChunk> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c.seq = base + i as u64;
                c.sign(dataset, source, &key);
                c
            })
            .collect();
        self.append_chunks(dataset, schema_toml, source, &signed)
    }
}
