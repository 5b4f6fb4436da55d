//! Ledger entries and their canonical binary encoding.
//!
//! Encoding, format version 1 (all integers big-endian):
//!
//! ```text
//! u8  version (= 1)
//! u64 seq
//! u64 time_unix
//! u8  kind (see EntryKind::code)
//! u32 len, actor bytes   (UTF-8, at most MAX_ACTOR_LEN bytes)
//! u32 len, subject bytes (UTF-8, at most MAX_SUBJECT_LEN bytes)
//! u32 len, detail bytes  (UTF-8, at most MAX_DETAIL_LEN bytes)
//! u32 count, count x 32-byte hashes (at most MAX_HASHES)
//! ```
//!
//! The encoding is canonical: every entry has exactly one encoding, and the
//! decoder accepts exactly the encodings the encoder produces (fixed-width
//! integers, explicit lengths, no trailing bytes, known kinds only, valid
//! UTF-8). So any change to an encoded entry either fails to decode or
//! decodes to a different entry, and the leaf hash commits to the entry.

use dtfhe_model::cursor::{ByteCursor, Truncated};

use crate::merkle::{leaf_hash, Hash};
use crate::LedgerError;

/// The encoding's format version (first byte).
pub const FORMAT_VERSION: u8 = 1;
/// Longest actor name, in bytes.
pub const MAX_ACTOR_LEN: usize = 1024;
/// Longest subject, in bytes.
pub const MAX_SUBJECT_LEN: usize = 4096;
/// Longest detail text, in bytes.
pub const MAX_DETAIL_LEN: usize = 64 * 1024;
/// Most content hashes in one entry.
pub const MAX_HASHES: usize = 16 * 1024;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// The deployment record (preset, trustees, public keys) was written.
    DeploymentCreated,
    /// A trustee was registered in the deployment.
    TrusteeRegistered,
    /// A source's signing key was registered.
    SourceKeyRegistered,
    /// A dataset schema was registered.
    SchemaRegistered,
    /// An encrypted chunk was appended.
    ChunkAppended,
    /// A query was run over encrypted data.
    QueryRun,
    /// The release of an aggregate was requested from the trustees.
    ReleaseRequested,
    /// A trustee approved a release (and gave its share).
    TrusteeApproved,
    /// A trustee refused a release (the reason is in the detail).
    TrusteeRefused,
    /// A released result was delivered to the requester.
    ResultDelivered,
    /// An access was refused.
    AccessDenied,
    /// An ingest (chunk) was refused.
    IngestRefused,
    /// A source sealed an artifact (a design file, a simulation result, a repair report)
    /// under its own key; the hashes are those of the sealed bytes and of the plaintext.
    ArtifactSealed,
    /// A party's identity (name, role, ed25519 public key, dataset grants) was registered
    /// with a networked platform by an admin.
    IdentityRegistered,
    /// A step of the networked key ceremony: a trustee's public-key or relinearisation share
    /// was accepted (hash of the share), or the collective keys were formed.
    CeremonyStep,
    /// Lanes of a lane space (the shared product-lane map) were handed out to keys seen for
    /// the first time; the hashes bind the new (key, lane) rows.
    LanesAssigned,
    /// The release policy in force (disclosure mode per dataset: audit or dp with its
    /// budget; k; identifier filters), as the deployment or a trustee set it.
    PolicySet,
    /// A predictive model was fitted from released aggregates; the hash is the model's
    /// canonical JSON, so per-row scoring can prove its model came from a fit.
    ModelFitted,
    /// An admin revoked a registered identity (subject: its name; detail: the reason as
    /// JSON; hash: blake3 of its public key). Its earlier entries stay; from this entry on
    /// the platform refuses its requests and counts none of its answers.
    IdentityRevoked,
    /// An admin replaced a trustee of a t-of-n deployment by another registered trustee at
    /// the same position (subject: [`crate::membership::replacement_subject`]). The
    /// deployment's trustee list follows it; the departed trustee's answers count before it
    /// and never after. The re-sharing that hands the position's share to the new trustee
    /// follows as `ceremony_step` entries.
    TrusteeReplaced,
}

impl EntryKind {
    /// Every kind, in code order.
    pub const ALL: [EntryKind; 20] = [
        EntryKind::DeploymentCreated,
        EntryKind::TrusteeRegistered,
        EntryKind::SourceKeyRegistered,
        EntryKind::SchemaRegistered,
        EntryKind::ChunkAppended,
        EntryKind::QueryRun,
        EntryKind::ReleaseRequested,
        EntryKind::TrusteeApproved,
        EntryKind::TrusteeRefused,
        EntryKind::ResultDelivered,
        EntryKind::AccessDenied,
        EntryKind::IngestRefused,
        EntryKind::ArtifactSealed,
        EntryKind::IdentityRegistered,
        EntryKind::CeremonyStep,
        EntryKind::LanesAssigned,
        EntryKind::PolicySet,
        EntryKind::ModelFitted,
        EntryKind::IdentityRevoked,
        EntryKind::TrusteeReplaced,
    ];

    /// The kind's byte in the encoding (1..=20; never reused or renumbered).
    pub fn code(self) -> u8 {
        match self {
            EntryKind::DeploymentCreated => 1,
            EntryKind::TrusteeRegistered => 2,
            EntryKind::SourceKeyRegistered => 3,
            EntryKind::SchemaRegistered => 4,
            EntryKind::ChunkAppended => 5,
            EntryKind::QueryRun => 6,
            EntryKind::ReleaseRequested => 7,
            EntryKind::TrusteeApproved => 8,
            EntryKind::TrusteeRefused => 9,
            EntryKind::ResultDelivered => 10,
            EntryKind::AccessDenied => 11,
            EntryKind::IngestRefused => 12,
            EntryKind::ArtifactSealed => 13,
            EntryKind::IdentityRegistered => 14,
            EntryKind::CeremonyStep => 15,
            EntryKind::LanesAssigned => 16,
            EntryKind::PolicySet => 17,
            EntryKind::ModelFitted => 18,
            EntryKind::IdentityRevoked => 19,
            EntryKind::TrusteeReplaced => 20,
        }
    }

    /// The kind with this code, or `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// A stable snake_case name, for logs and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::DeploymentCreated => "deployment_created",
            EntryKind::TrusteeRegistered => "trustee_registered",
            EntryKind::SourceKeyRegistered => "source_key_registered",
            EntryKind::SchemaRegistered => "schema_registered",
            EntryKind::ChunkAppended => "chunk_appended",
            EntryKind::QueryRun => "query_run",
            EntryKind::ReleaseRequested => "release_requested",
            EntryKind::TrusteeApproved => "trustee_approved",
            EntryKind::TrusteeRefused => "trustee_refused",
            EntryKind::ResultDelivered => "result_delivered",
            EntryKind::AccessDenied => "access_denied",
            EntryKind::IngestRefused => "ingest_refused",
            EntryKind::ArtifactSealed => "artifact_sealed",
            EntryKind::IdentityRegistered => "identity_registered",
            EntryKind::CeremonyStep => "ceremony_step",
            EntryKind::LanesAssigned => "lanes_assigned",
            EntryKind::PolicySet => "policy_set",
            EntryKind::ModelFitted => "model_fitted",
            EntryKind::IdentityRevoked => "identity_revoked",
            EntryKind::TrusteeReplaced => "trustee_replaced",
        }
    }

    /// The kind with this [`EntryKind::name`], or `None`.
    pub fn from_name(name: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One ledger entry: who did what to which subject, when, with the content
/// addresses of the data involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, from 0, no gaps (also the leaf index).
    pub seq: u64,
    /// When the action happened, unix seconds.
    pub time_unix: u64,
    /// What happened.
    pub kind: EntryKind,
    /// Who did it (a source, a trustee, the platform, a querier).
    pub actor: String,
    /// What it was done to (a dataset, a chunk id, a trustee, a query id).
    pub subject: String,
    /// Free text for humans (a refusal reason, a query text). NEVER a
    /// plaintext value or key material.
    pub detail: String,
    /// Content addresses of the data involved (e.g. ciphertext blob hashes).
    pub hashes: Vec<Hash>,
}

fn put_str(out: &mut Vec<u8>, field: &str, s: &str, max: usize) -> Result<(), LedgerError> {
    if s.len() > max {
        return Err(LedgerError::EntryTooLarge(format!(
            "{field} is {} bytes, at most {max} allowed",
            s.len()
        )));
    }
    // max <= 64 KiB, so the length fits in a u32.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

impl Entry {
    /// The canonical encoding (format version 1, see the module docs).
    ///
    /// Fails with [`LedgerError::EntryTooLarge`] if a field exceeds its limit,
    /// so nothing is ever stored that the decoder would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::with_capacity(
            1 + 8
                + 8
                + 1
                + 16
                + self.actor.len()
                + self.subject.len()
                + self.detail.len()
                + 32 * self.hashes.len(),
        );
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.time_unix.to_be_bytes());
        out.push(self.kind.code());
        put_str(&mut out, "actor", &self.actor, MAX_ACTOR_LEN)?;
        put_str(&mut out, "subject", &self.subject, MAX_SUBJECT_LEN)?;
        put_str(&mut out, "detail", &self.detail, MAX_DETAIL_LEN)?;
        if self.hashes.len() > MAX_HASHES {
            return Err(LedgerError::EntryTooLarge(format!(
                "{} hashes, at most {MAX_HASHES} allowed",
                self.hashes.len()
            )));
        }
        out.extend_from_slice(&(self.hashes.len() as u32).to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        Ok(out)
    }

    /// Decodes an entry, accepting only canonical encodings (see the module
    /// docs). Never panics, and never allocates more than the input's size.
    pub fn decode(bytes: &[u8]) -> Result<Entry, LedgerError> {
        let mut r = ByteCursor::new(bytes);
        let version = r.u8("version")?;
        if version != FORMAT_VERSION {
            return Err(malformed(format!(
                "unknown format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        let seq = r.u64_be("seq")?;
        let time_unix = r.u64_be("time")?;
        let code = r.u8("kind")?;
        let kind =
            EntryKind::from_code(code).ok_or_else(|| malformed(format!("unknown kind {code}")))?;
        let actor = string(&mut r, "actor", MAX_ACTOR_LEN)?;
        let subject = string(&mut r, "subject", MAX_SUBJECT_LEN)?;
        let detail = string(&mut r, "detail", MAX_DETAIL_LEN)?;
        let count = r.u32_be("hash count")? as usize;
        if count > MAX_HASHES {
            return Err(malformed(format!(
                "{count} hashes, at most {MAX_HASHES} allowed"
            )));
        }
        let raw = r.take("hashes", count * 32)?;
        let hashes = raw
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        if r.remaining() != 0 {
            return Err(malformed(format!("{} trailing bytes", r.remaining())));
        }
        Ok(Entry {
            seq,
            time_unix,
            kind,
            actor,
            subject,
            detail,
            hashes,
        })
    }

    /// The entry's leaf hash in the Merkle tree: `leaf_hash(encode())`.
    pub fn leaf_hash(&self) -> Result<Hash, LedgerError> {
        Ok(leaf_hash(&self.encode()?))
    }
}

fn malformed(reason: String) -> LedgerError {
    LedgerError::MalformedEntry(reason)
}

impl From<Truncated> for LedgerError {
    /// An encoded entry that ends inside a field.
    fn from(t: Truncated) -> LedgerError {
        malformed(t.to_string())
    }
}

/// A `u32`-length-prefixed UTF-8 field of at most `max` bytes.
fn string(r: &mut ByteCursor<'_>, field: &str, max: usize) -> Result<String, LedgerError> {
    let len = r.u32_be(field)? as usize;
    if len > max {
        return Err(malformed(format!(
            "{field} is {len} bytes, at most {max} allowed"
        )));
    }
    let raw = r.take(field, len)?;
    String::from_utf8(raw.to_vec()).map_err(|_| malformed(format!("{field} is not UTF-8")))
}
