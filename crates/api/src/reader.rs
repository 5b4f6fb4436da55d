//! [`RemoteReader`]: the engine's chunk source over the platform API, so a trustee can
//! re-derive a release request's ciphertexts and an analyst can re-run the public selection
//! without trusting the platform.
//!
//! Every chunk listed is checked against its source's signature (`dtfhe_model::chunk_message`
//! with the key the admin registered for that source, from `GET /v1/identities`), and every
//! part fetched is re-hashed against the hash its source signed. A platform that alters,
//! drops into or invents a chunk is caught here, not trusted.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use dtfhe_model::{ChunkMeta, ChunkReadError, ChunkReader, PartRead};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

use crate::types::{ChunkInfo, IdentityRecord};
use crate::{ApiError, Client, Role};

/// The signed part hashes of one chunk: (column, part) -> blake3 hex.
type PartHashes = HashMap<(String, String), String>;

/// Reads a dataset's chunks from the platform, verifying signatures and hashes, caching
/// part bytes (a query reads each part once; a trustee re-deriving and the analyst's
/// selection then cost one download each).
pub struct RemoteReader {
    client: Client,
    sources: HashMap<String, VerifyingKey>,
    /// chunk id -> (column, part) -> signed blake3 hash (hex) of the part's bytes.
    parts: Mutex<HashMap<i64, PartHashes>>,
    cache: Mutex<HashMap<(i64, String, String), Vec<u8>>>,
}

dtfhe_model::debug_public_fields!(RemoteReader, |v| {
    server: v.client.base(),
    sources: v.sources.len(),
});

fn tampered(what: String) -> ChunkReadError {
    ChunkReadError::Tampered { what }
}

fn remote(e: ApiError) -> ChunkReadError {
    ChunkReadError::Unavailable {
        reason: e.to_string(),
    }
}

fn poisoned<T>(_: T) -> ChunkReadError {
    ChunkReadError::Invalid {
        reason: "reader lock poisoned".into(),
    }
}

impl RemoteReader {
    /// A reader over `client`'s server; loads the registered source keys once.
    pub fn new(client: Client) -> Result<RemoteReader, ApiError> {
        let ids: Vec<IdentityRecord> = client.get_json("/v1/identities")?;
        let mut sources = HashMap::new();
        for r in ids.into_iter().filter(|r| r.role == Role::Source) {
            let key = crate::identity::parse_public_key(&r.public_key).map_err(|e| {
                ApiError::BadResponse {
                    url: format!("{}/v1/identities", client.base()),
                    reason: format!("source `{}`: {e}", r.name),
                }
            })?;
            sources.insert(r.name, key);
        }
        Ok(RemoteReader {
            client,
            sources,
            parts: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks one listed chunk against its source's signature; returns its metadata.
    fn check(&self, dataset: &str, c: ChunkInfo) -> Result<ChunkMeta, ChunkReadError> {
        let at = format!("chunk {} of `{dataset}` from source `{}`", c.id, c.source);
        let key = self
            .sources
            .get(&c.source)
            .ok_or_else(|| tampered(format!("{at}: `{}` is not a registered source", c.source)))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let public = b64
            .decode(&c.public)
            .map_err(|_| tampered(format!("{at}: public columns are not base64")))?;
        let sig: [u8; 64] = b64
            .decode(&c.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| tampered(format!("{at}: signature is not 64 bytes of base64")))?;
        let mut hashes = Vec::with_capacity(c.parts.len());
        for p in &c.parts {
            let h: [u8; 32] = hex::decode(&p.hash)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| {
                    tampered(format!(
                        "{at}: part {}/{}: hash is not 32 bytes of hex",
                        p.column, p.part
                    ))
                })?;
            hashes.push((p.column.as_str(), p.part.as_str(), h));
        }
        let msg = dtfhe_model::chunk_message(
            dataset,
            &c.source,
            c.seq,
            c.rows,
            blake3::hash(&public).as_bytes(),
            &hashes,
        );
        key.verify(&msg, &Signature::from_bytes(&sig))
            .map_err(|_| tampered(format!("{at}: the source's signature does not verify")))?;
        let parts = c
            .parts
            .iter()
            .map(|p| ((p.column.clone(), p.part.clone()), p.hash.clone()))
            .collect();
        self.parts.lock().map_err(poisoned)?.insert(c.id, parts);
        Ok(ChunkMeta {
            id: c.id,
            source: c.source,
            seq: c.seq,
            rows: c.rows,
            public,
        })
    }
}

/// Percent-encodes a path segment (names are restricted, but a column may hold anything).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ChunkReader for RemoteReader {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
        let list: Vec<ChunkInfo> = self
            .client
            .get_json(&format!("/v1/datasets/{}/chunks", path_segment(dataset)))
            .map_err(|e| match e.status() {
                Some(404) => ChunkReadError::UnknownDataset {
                    dataset: dataset.to_string(),
                },
                _ => remote(e),
            })?;
        let mut seen: HashMap<(String, u64), i64> = HashMap::new();
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            if let Some(other) = seen.insert((c.source.clone(), c.seq), c.id) {
                return Err(tampered(format!(
                    "chunks {other} and {} of `{dataset}` both claim seq {} of source `{}`",
                    c.id, c.seq, c.source
                )));
            }
            out.push(self.check(dataset, c)?);
        }
        Ok(out)
    }

    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead {
        let key = (chunk_id, column.to_string(), part.to_string());
        if let Some(b) = self.cache.lock().map_err(poisoned)?.get(&key) {
            return Ok(Some(b.clone()));
        }
        let expected = {
            let parts = self.parts.lock().map_err(poisoned)?;
            let listed = parts
                .get(&chunk_id)
                .ok_or_else(|| ChunkReadError::Invalid {
                    reason: format!("chunk {chunk_id} was not listed by the platform"),
                })?;
            match listed.get(&(column.to_string(), part.to_string())) {
                Some(h) => h.clone(),
                None => return Ok(None),
            }
        };
        let bytes = self
            .client
            .get_bytes(&format!(
                "/v1/chunks/{chunk_id}/parts/{}/{}",
                path_segment(column),
                path_segment(part)
            ))
            .map_err(remote)?;
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != expected {
            return Err(tampered(format!(
                "chunk {chunk_id} part {column}/{part}: the platform served bytes with blake3 \
                 {actual}, the source signed {expected}"
            )));
        }
        self.cache
            .lock()
            .map_err(poisoned)?
            .insert(key, bytes.clone());
        Ok(Some(bytes))
    }
}
