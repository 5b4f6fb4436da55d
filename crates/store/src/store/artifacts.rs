//! Sealed artifacts: the non-numeric files of a product's thread (CAD files, simulation
//! results, repair reports), sealed at their source under a key the store never sees.
//!
//! The store keeps the sealed bytes, their blake3 hash, the blake3 hash and size of the
//! plaintext, and the source's ed25519 signature over all of that (see
//! [`ArtifactFile::message`]); each row commits with an `ArtifactSealed` ledger entry, and
//! [`Store::verify`] re-checks every row against its entry, its signature and its sealed
//! bytes.

use std::collections::HashMap;
use std::path::Path;

use dtfhe_ledger::{Entry, EntryKind, Hash};
use ed25519_dalek::VerifyingKey;

use super::{now_string, source_key_of, Store};
use crate::db::{params, Db, DbError, Row, SqlContext};
use crate::error::StoreError;
use crate::ledger::record_hash;

/// The stages an artifact may belong to, in thread order.
pub const ARTIFACT_STAGES: [&str; 3] = ["design", "manufacturing", "maintenance"];

/// Bytes an AEAD-sealed artifact adds to its plaintext: the 24-byte XChaCha20 nonce in
/// front and the 16-byte Poly1305 tag at the end.
pub const SEAL_OVERHEAD: u64 = 24 + 16;

/// What a source states about an artifact file, and what it signs (with the sealed bytes'
/// hash, see [`ArtifactFile::message`]): the same for an artifact to store and a stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Product (the thread) the artifact belongs to.
    pub product: String,
    /// Stage: one of [`ARTIFACT_STAGES`].
    pub stage: String,
    /// Owning source (must have a registered key).
    pub source: String,
    /// File name (unique per product).
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// blake3 hash of the plaintext.
    pub plain_hash: Hash,
}

impl ArtifactFile {
    /// The byte string its source signs: a domain-separated hash of its fields and the
    /// sealed bytes' hash.
    pub fn message(&self, sealed_hash: &Hash) -> Vec<u8> {
        let size = self.size.to_be_bytes();
        let mut parts = self.fields(&size).to_vec();
        parts.push(sealed_hash);
        record_hash("dtfhe artifact message v1", &parts).to_vec()
    }

    /// The fields in their hashed order (product, stage, source, name, size, plaintext
    /// hash), `size` being `self.size` big-endian: the one place that order is written.
    fn fields<'a>(&'a self, size: &'a [u8; 8]) -> [&'a [u8]; 6] {
        [
            self.product.as_bytes(),
            self.stage.as_bytes(),
            self.source.as_bytes(),
            self.name.as_bytes(),
            size,
            &self.plain_hash,
        ]
    }
}

/// An artifact to store, already sealed and signed by its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArtifact {
    /// What the source states about the file.
    pub file: ArtifactFile,
    /// The sealed bytes (nonce, ciphertext, tag); opaque to the store.
    pub sealed: Vec<u8>,
    /// The source's signature of [`ArtifactFile::message`].
    pub signature: [u8; 64],
}

/// A stored artifact, without its sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactMeta {
    /// Store-assigned id (the subject of its ledger entry).
    pub id: i64,
    /// What its source stated about the file.
    pub file: ArtifactFile,
    /// blake3 hash of the sealed bytes.
    pub sealed_hash: Hash,
    /// When it was stored (unix seconds).
    pub sealed_at: String,
}

/// The hashes of an `ArtifactSealed` entry: a record hash over the whole row, then the
/// blake3 hash of the sealed bytes, then that of the plaintext.
fn artifact_hashes(m: &ArtifactMeta, signature: &[u8]) -> Vec<Hash> {
    let id = m.id.to_be_bytes();
    let size = m.file.size.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![&id];
    parts.extend(m.file.fields(&size));
    parts.extend([&m.sealed_hash[..], signature, m.sealed_at.as_bytes()]);
    vec![
        record_hash("dtfhe artifact v1", &parts),
        m.sealed_hash,
        m.file.plain_hash,
    ]
}

fn hash32(v: Vec<u8>, what: &str, path: &Path) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| StoreError::CorruptRecord {
        path: path.to_path_buf(),
        what: format!("{what} is not 32 bytes"),
    })
}

const COLUMNS: &str =
    "id, product, stage, source, name, size, plain_hash, sealed_hash, sealed_at, signature";

type RawRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    Vec<u8>,
    Vec<u8>,
    String,
    Vec<u8>,
);

fn raw_row(r: &Row) -> Result<RawRow, DbError> {
    Ok((
        r.i64(0)?,
        r.text(1)?,
        r.text(2)?,
        r.text(3)?,
        r.text(4)?,
        r.i64(5)?,
        r.bytes(6)?,
        r.bytes(7)?,
        r.text(8)?,
        r.bytes(9)?,
    ))
}

fn meta_of(raw: RawRow, path: &Path) -> Result<(ArtifactMeta, Vec<u8>), StoreError> {
    let (id, product, stage, source, name, size, plain, sealed, sealed_at, sig) = raw;
    let size = u64::try_from(size).map_err(|_| StoreError::CorruptRecord {
        path: path.to_path_buf(),
        what: format!("artifact {id}: negative size {size}"),
    })?;
    Ok((
        ArtifactMeta {
            id,
            file: ArtifactFile {
                product,
                stage,
                source,
                name,
                size,
                plain_hash: hash32(plain, "artifact plaintext hash", path)?,
            },
            sealed_hash: hash32(sealed, "artifact sealed hash", path)?,
            sealed_at,
        },
        sig,
    ))
}

fn describe(m: &ArtifactMeta) -> String {
    format!(
        "artifact {} `{}` of product `{}` (stage {}, source `{}`, table artifacts)",
        m.id, m.file.name, m.file.product, m.file.stage, m.file.source
    )
}

impl Store {
    /// Stores a sealed artifact with its `ArtifactSealed` ledger entry (actor: the source;
    /// subject: the artifact id; detail: product, stage, file name and size, never content;
    /// hashes: see the migration) in one transaction. Returns the artifact id.
    ///
    /// Refused with [`StoreError::Invalid`] if the stage is unknown, a name is empty, the
    /// source has no registered key or its signature of [`ArtifactFile::message`] does not
    /// verify, the sealed bytes are not `size` + [`SEAL_OVERHEAD`] long, or the product
    /// already has an artifact of that name (artifacts are never replaced).
    pub fn put_artifact(&mut self, new: &NewArtifact) -> Result<i64, StoreError> {
        let a = &new.file;
        if !ARTIFACT_STAGES.contains(&a.stage.as_str()) {
            return Err(StoreError::Invalid(format!(
                "unknown stage `{}` (expected one of {})",
                a.stage,
                ARTIFACT_STAGES.join(", ")
            )));
        }
        if a.product.is_empty() || a.name.is_empty() || a.source.is_empty() {
            return Err(StoreError::Invalid(
                "artifact product, source and name must not be empty".into(),
            ));
        }
        if new.sealed.len() as u64 != a.size.saturating_add(SEAL_OVERHEAD) {
            return Err(StoreError::Invalid(format!(
                "artifact `{}`: {} sealed bytes for a {}-byte file (expected {} more)",
                a.name,
                new.sealed.len(),
                a.size,
                SEAL_OVERHEAD
            )));
        }
        let size =
            i64::try_from(a.size).map_err(|_| StoreError::Invalid("artifact too large".into()))?;
        let sealed_hash = *blake3::hash(&new.sealed).as_bytes();
        self.write(|tx, w| {
            let path = w.path;
            let Some(key) = source_key_of(tx, path, &a.source)? else {
                return Err(StoreError::Invalid(format!(
                    "source `{}` has no registered key; artifact refused",
                    a.source
                )));
            };
            let message = a.message(&sealed_hash);
            if !crate::signing::signature_ok(&key, &message, &new.signature) {
                return Err(StoreError::Invalid(format!(
                    "artifact `{}`: signature does not verify with source `{}`'s registered \
                     key; refused",
                    a.name, a.source
                )));
            }
            if let Some(id) = tx
                .query_opt_map(
                    "SELECT id FROM artifacts WHERE product = ?1 AND name = ?2",
                    params![&a.product, &a.name],
                    |r| r.i64(0),
                )
                .ctx(path, "check artifact name")?
            {
                return Err(StoreError::Invalid(format!(
                    "product `{}` already has an artifact named `{}` (artifact {id}); \
                     artifacts are never replaced, store it under a new name",
                    a.product, a.name
                )));
            }
            let sealed_at = now_string();
            let id: i64 = tx
                .query_one(
                    "INSERT INTO artifacts (id, product, stage, source, name, size, plain_hash, \
                     sealed_hash, sealed, signature, sealed_at) \
                     VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM artifacts), \
                     ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                    params![
                        &a.product,
                        &a.stage,
                        &a.source,
                        &a.name,
                        size,
                        &a.plain_hash,
                        &sealed_hash,
                        &new.sealed,
                        &new.signature,
                        &sealed_at
                    ],
                )
                .and_then(|r| r.i64(0))
                .ctx(path, "insert artifact")?;
            let meta = ArtifactMeta {
                id,
                file: a.clone(),
                sealed_hash,
                sealed_at,
            };
            w.append(
                EntryKind::ArtifactSealed,
                &a.source,
                &id.to_string(),
                &format!(
                    "product `{}`, stage {}, file `{}`, {} bytes",
                    a.product, a.stage, a.name, a.size
                ),
                artifact_hashes(&meta, &new.signature),
            )?;
            Ok(id)
        })
    }

    /// The artifacts of a product, without their sealed bytes, in stage order then id.
    pub fn artifacts(&self, product: &str) -> Result<Vec<ArtifactMeta>, StoreError> {
        let path = &self.path;
        let rows = self
            .db
            .query_map(
                &format!(
                    "SELECT {COLUMNS} FROM artifacts WHERE product = ?1 ORDER BY \
                     CASE stage WHEN 'design' THEN 0 WHEN 'manufacturing' THEN 1 ELSE 2 END, id"
                ),
                params![product],
                raw_row,
            )
            .ctx(path, "read artifacts")?;
        rows.into_iter()
            .map(|r| meta_of(r, path).map(|(m, _)| m))
            .collect()
    }

    /// One artifact of a product by file name, with its sealed bytes; `None` if there is
    /// none. The sealed bytes are re-hashed: a mismatch with the recorded hash (bytes
    /// altered outside the store) is [`StoreError::Tampered`] naming the artifact.
    pub fn artifact(
        &self,
        product: &str,
        name: &str,
    ) -> Result<Option<(ArtifactMeta, Vec<u8>)>, StoreError> {
        let path = &self.path;
        let row = self
            .db
            .query_opt_map(
                &format!(
                    "SELECT {COLUMNS}, CAST(sealed AS BLOB) FROM artifacts \
                 WHERE product = ?1 AND name = ?2"
                ),
                params![product, name],
                |mut r| Ok((raw_row(&r)?, r.take_bytes(10)?)),
            )
            .ctx(path, "read artifact")?;
        let Some((raw, sealed)) = row else {
            return Ok(None);
        };
        let (meta, _) = meta_of(raw, path)?;
        if blake3::hash(&sealed).as_bytes() != &meta.sealed_hash {
            return Err(StoreError::Tampered {
                what: format!(
                    "{}: sealed bytes do not match their recorded hash",
                    describe(&meta)
                ),
            });
        }
        Ok(Some((meta, sealed)))
    }
}

/// Checks every artifact row against its sealed bytes, its source's signature and exactly
/// one `ArtifactSealed` entry (and every such entry against a row), inside
/// [`Store::verify`]. Returns the number of artifacts checked.
pub(crate) fn verify_artifacts(
    conn: &Db,
    path: &Path,
    entries: &[Entry],
    source_keys: &HashMap<String, VerifyingKey>,
) -> Result<u64, StoreError> {
    let tampered = |what: String| StoreError::Tampered { what };
    let mut by_subject = crate::ledger::group(entries, EntryKind::ArtifactSealed);
    let mut n = 0u64;
    conn.for_each(
        &format!("SELECT {COLUMNS}, CAST(sealed AS BLOB) FROM artifacts ORDER BY id"),
        params![],
        path,
        "read artifacts",
        |mut r| -> Result<(), StoreError> {
            let raw = raw_row(&r).ctx(path, "read artifact")?;
            let sealed: Vec<u8> = r.take_bytes(10).ctx(path, "read artifact")?;
            let id = raw.0;
            let (meta, sig) = meta_of(raw, path)
                .map_err(|e| tampered(format!("artifact {id} (table artifacts): {e}")))?;
            let row = describe(&meta);
            let found = by_subject.remove(&id.to_string()).unwrap_or_default();
            let entry = match found.as_slice() {
                [one] => *one,
                [] => {
                    return Err(tampered(format!(
                        "{row}: no artifact_sealed ledger entry records it"
                    )))
                }
                many => {
                    return Err(tampered(format!(
                        "{row}: {} artifact_sealed ledger entries claim it",
                        many.len()
                    )))
                }
            };
            let actual = blake3::hash(&sealed);
            if actual.as_bytes() != &meta.sealed_hash {
                return Err(tampered(format!(
                    "{row}: sealed bytes hash to {actual}, recorded {} (ledger entry {})",
                    blake3::Hash::from(meta.sealed_hash).to_hex(),
                    entry.seq
                )));
            }
            if sealed.len() as u64 != meta.file.size.saturating_add(SEAL_OVERHEAD) {
                return Err(tampered(format!(
                    "{row}: {} sealed bytes for a recorded size of {}",
                    sealed.len(),
                    meta.file.size
                )));
            }
            let Some(key) = source_keys.get(&meta.file.source) else {
                return Err(tampered(format!(
                    "{row}: its source has no registered key (table sources)"
                )));
            };
            let message = meta.file.message(&meta.sealed_hash);
            if !crate::signing::signature_ok(key, &message, &sig) {
                return Err(tampered(format!(
                    "{row}: source signature does not verify with `{}`'s registered key",
                    meta.file.source
                )));
            }
            if entry.hashes != artifact_hashes(&meta, &sig) || entry.actor != meta.file.source {
                return Err(crate::ledger::mismatch(&row, entry.seq));
            }
            n += 1;
            Ok(())
        },
    )?;
    crate::ledger::leftover(by_subject, "artifact")?;
    Ok(n)
}
