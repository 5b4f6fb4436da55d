//! Request and response bodies of the platform API (JSON). Binary fields (keys, chunks,
//! ciphertexts, sealed shares) are base64 strings; ciphertext parts are served as raw bytes.
//!
//! Every body is versioned by the API path (`/v1/...`).

use serde::{Deserialize, Serialize};

use crate::Role;

/// `GET /v1/health`: liveness, no authentication.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Whether the key ceremony has finished and the deployment accepts data.
    pub ready: bool,
}

/// `POST /v1/identities` (admin): register a party's public key, role and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityRecord {
    /// The party's name (ledger actor).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Its public key, `ed25519:<base64>`.
    pub public_key: String,
    /// Datasets a source may append to or an analyst may query (`*`: all). Empty for the
    /// other roles.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Set once an admin revoked the identity (`POST /v1/identities/{name}/revoke`): the
    /// platform then refuses its requests, trustees refuse its release requests and the
    /// analyst counts no share of a revoked trustee. Never part of a registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// When and why an identity was revoked, as its `identity_revoked` ledger entry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revocation {
    /// The admin who revoked it.
    pub by: String,
    /// The admin's reason.
    pub reason: String,
    /// Sequence number of the `identity_revoked` ledger entry.
    pub ledger_seq: u64,
    /// When, unix seconds.
    pub time_unix: u64,
}

/// `POST /v1/identities/{name}/revoke` (admin): revoke a registered identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (recorded in the ledger; 1..=MAX_REVOKE_REASON characters, no control
    /// characters). Never a data value.
    pub reason: String,
}

/// Longest revocation reason, in characters.
pub const MAX_REVOKE_REASON: usize = 500;

impl RevokeRequest {
    /// The reason, trimmed, if it is 1..=[`MAX_REVOKE_REASON`] characters without control
    /// characters; otherwise why not (the route answers 400 with it).
    pub fn checked_reason(&self) -> Result<&str, ReasonError> {
        let r = self.reason.trim();
        if r.is_empty() {
            return Err(ReasonError::Empty);
        }
        if r.chars().count() > MAX_REVOKE_REASON {
            return Err(ReasonError::TooLong);
        }
        if r.chars().any(char::is_control) {
            return Err(ReasonError::ControlCharacter);
        }
        Ok(r)
    }
}

/// Why a revocation reason was refused (the text names the field, never echoes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// Empty or only white space.
    #[error("reason: a revocation needs a reason")]
    Empty,
    /// Longer than [`MAX_REVOKE_REASON`] characters.
    #[error("reason: at most {MAX_REVOKE_REASON} characters")]
    TooLong,
    /// Holds a control character (it would break the ledger's one-line wording).
    #[error("reason: no control characters")]
    ControlCharacter,
}

impl IdentityRecord {
    /// The record registering `id` (its name and public key) with `role` and `datasets`:
    /// what an admin sends for a party whose identity file it holds.
    pub fn of(id: &crate::Identity, role: Role, datasets: Vec<String>) -> IdentityRecord {
        IdentityRecord {
            name: id.name().into(),
            role,
            public_key: id.public_key_string(),
            datasets,
            revoked: None,
        }
    }

    /// Whether an admin revoked the identity.
    pub fn is_revoked(&self) -> bool {
        self.revoked.is_some()
    }

    /// Whether the grants cover `dataset` (case-insensitive; `*` covers all).
    pub fn grants(&self, dataset: &str) -> bool {
        self.datasets
            .iter()
            .any(|d| d == "*" || d.eq_ignore_ascii_case(dataset))
    }
}

/// `GET /v1/deployment` (any registered party): the public deployment record, once the key
/// ceremony has finished (503 before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploymentInfo {
    /// Parameter preset.
    pub preset: String,
    /// Trustees, in ceremony order (all must approve a release).
    pub trustees: Vec<String>,
    /// k: smallest number of rows a released group may have.
    pub min_group_size: u32,
    /// Collective public key (base64 of `dtfhe_crypto::codec::encode_public_key`).
    pub public_key: String,
    /// Relinearisation key (base64 of `dtfhe_crypto::codec::encode_relin_key`); empty when
    /// the request asked `?relin_key=omit`: a source encrypts under the public key only and
    /// need not download megabytes it never uses ([`DeploymentInfo::relin_key_hash`] still
    /// names the key, so the trustees' attestations can be checked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub relin_key: String,
    /// blake3 (lowercase hex) of the encoded relinearisation key, the value the trustees'
    /// attestations sign; when `relin_key` is also served, a reader checks that they agree.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub relin_key_hash: String,
}

/// Query of `GET /v1/deployment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
pub struct DeploymentQuery {
    /// `omit` leaves the relinearisation key out of the answer (sources); anything else, or
    /// nothing, serves it.
    #[serde(default)]
    pub relin_key: Option<String>,
}

impl DeploymentQuery {
    /// Whether the answer should leave the relinearisation key out.
    pub fn omits_relin_key(&self) -> bool {
        self.relin_key.as_deref() == Some("omit")
    }
}

/// One ciphertext part of a stored chunk, without its bytes (`GET /v1/chunks/{id}/parts/
/// {column}/{part}` serves them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartInfo {
    /// Encrypted column.
    pub column: String,
    /// Part name (`value`, `presence`, `square`, `gt1`...).
    pub part: String,
    /// blake3 (lowercase hex) of the bytes.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// `GET /v1/datasets/{name}/chunks` (analyst, trustee, auditor): every chunk of a dataset
/// in `(source, seq)` order, with what its source signed, so a reader checks each chunk
/// itself (`dtfhe_model::chunk_message` with the source's registered key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkInfo {
    /// Store-assigned id.
    pub id: i64,
    /// Source that signed it.
    pub source: String,
    /// The source's sequence number.
    pub seq: u64,
    /// Rows.
    pub rows: u32,
    /// Encoded public columns (base64).
    pub public: String,
    /// The source's ed25519 signature of the chunk message (base64).
    pub signature: String,
    /// Where it comes from (file hash, index, count), if the source said; not signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginInfo>,
    /// Its ciphertext parts.
    pub parts: Vec<PartInfo>,
}

/// Base64 (standard alphabet, padded): how binary fields travel in JSON bodies.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Why a binary field of a body does not decode: callers tell a bad request from other
/// failures by the variant, and the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The field is not base64 (standard alphabet, padded).
    #[error("{field}: not base64: {reason}")]
    NotBase64 {
        /// The field's name.
        field: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The field is not hex.
    #[error("{field}: not hex: {reason}")]
    NotHex {
        /// The field's name.
        field: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The field decodes to the wrong number of bytes.
    #[error("{field}: {len} bytes, expected {expected}")]
    WrongLength {
        /// The field's name.
        field: String,
        /// Bytes decoded.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// Decodes a base64 field of a body; the error names the field.
pub fn unb64(field: &str, text: &str) -> Result<Vec<u8>, FieldError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| FieldError::NotBase64 {
            field: field.to_string(),
            reason: e.to_string(),
        })
}

/// Decodes a 32-byte hash written as lowercase hex; the error names the field.
pub fn unhex32(field: &str, text: &str) -> Result<[u8; 32], FieldError> {
    let v = hex::decode(text).map_err(|e| FieldError::NotHex {
        field: field.to_string(),
        reason: e.to_string(),
    })?;
    v.try_into().map_err(|v: Vec<u8>| FieldError::WrongLength {
        field: field.to_string(),
        len: v.len(),
        expected: 32,
    })
}

/// `GET /v1/datasets`: one registered dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetInfo {
    /// The SQL table name.
    pub name: String,
    /// The schema TOML, verbatim as registered with the first chunk.
    pub schema_toml: String,
}

/// `POST /v1/datasets/{name}/chunks`: the answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkUploaded {
    /// `stored` (appended now) or `already_stored` (the same source, file and index was
    /// stored before: a retried upload, nothing changed).
    pub status: String,
    /// The store's chunk id.
    pub chunk_id: i64,
}

/// [`ChunkUploaded::status`] of a chunk appended by this request.
pub const STATUS_STORED: &str = "stored";
/// [`ChunkUploaded::status`] of a chunk that an earlier request already stored.
pub const STATUS_ALREADY_STORED: &str = "already_stored";

/// `GET /v1/datasets/{name}/sources/{source}/last-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastSeq {
    /// The source's last stored seq in the dataset; `null` if it has no chunk there.
    pub last_seq: Option<u64>,
}

/// `GET /v1/datasets/{name}/sources/{source}/files/{hash}`: one stored chunk of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileChunkInfo {
    /// The store's chunk id.
    pub id: i64,
    /// The chunk's seq.
    pub seq: u64,
    /// Position of the chunk in the file, from 0.
    pub index: u32,
    /// Number of chunks the file makes.
    pub count: u32,
}

/// Where a stored chunk comes from (see `dtfhe_model::ChunkOrigin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OriginInfo {
    /// blake3 of the input file, lowercase hex.
    pub file_hash: String,
    /// Position of the chunk in the file, from 0.
    pub index: u32,
    /// Number of chunks the file makes.
    pub count: u32,
}

/// One ledger entry as served to auditors: its fields for reading, and the canonical
/// encoding whose leaf hash the Merkle tree commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntryInfo {
    /// Position in the log (leaf index).
    pub seq: u64,
    /// Unix seconds.
    pub time_unix: u64,
    /// Entry kind name (e.g. `chunk_appended`).
    pub kind: String,
    /// Who acted.
    pub actor: String,
    /// What it concerns.
    pub subject: String,
    /// Human-readable detail (never a plaintext value or key).
    pub detail: String,
    /// Content addresses, lowercase hex.
    pub hashes: Vec<String>,
    /// `dtfhe_ledger::Entry::encode`, base64: what a verifier decodes and hashes.
    pub encoded: String,
}

/// `GET /v1/ledger?from=N&limit=M`: a page of entries and the latest signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerPage {
    /// Entries `from .. from + limit` (fewer at the end).
    pub entries: Vec<LedgerEntryInfo>,
    /// The ledger's size when the page was read.
    pub size: u64,
    /// The latest signed checkpoint (a C2SP signed note).
    pub checkpoint: String,
    /// The store's verifier key line `<name>+<id>+<key>` (compare with a pinned copy; do
    /// not trust it from this answer alone).
    pub verifier_key: String,
}

/// `GET /v1/ledger/inclusion/{seq}` and `GET /v1/ledger/consistency?old=M&new=N`: the
/// store's own proof types (hashes as hex in JSON).
pub use dtfhe_ledger::{ConsistencyProof, InclusionProof};

/// `POST /v1/datasets/{name}/lanes` (a source granted the dataset): the products of a
/// per-product dataset whose lanes the source needs before it encrypts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LaneRequest {
    /// The dataset's lane key column (its schema's `lanes`): the lane space.
    pub lane_key: String,
    /// Product ids (the key column's values as written), at most [`MAX_LANE_KEYS`].
    pub keys: Vec<String>,
}

/// Most keys one [`LaneRequest`] may carry (an agent asks in batches).
pub const MAX_LANE_KEYS: usize = 4096;

/// The answer to a [`LaneRequest`]: the lane of every key, in request order. Keys seen for
/// the first time get the next free lanes of the space (an append-only map, recorded in the
/// ledger as `lanes_assigned`). Nobody has to trust it: each source signs the lanes it used,
/// and every join checks that the signed rows agree (one lane per product, one product per
/// lane).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LaneAssignment {
    /// The lane space (the lane key column).
    pub space: String,
    /// One lane per requested key.
    pub lanes: Vec<u64>,
}
