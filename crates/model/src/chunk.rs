//! Chunk types shared by every role: what a source appends ([`NewChunk`], [`NewPart`],
//! [`ChunkOrigin`]), what a reader lists ([`ChunkMeta`], [`ChunkProvenance`]), the part names
//! a chunk may hold, and the canonical byte string a source signs for each chunk
//! ([`chunk_message`]).
//!
//! They live here, not in the store, so the agent that signs, the store that verifies, the
//! API that carries chunks and the engine that reads them all agree on one definition without
//! linking a database client.

use ed25519_dalek::{Signer as _, SigningKey};

/// A blake3 (or RFC 6962 SHA-256) digest: 32 bytes. The same type as `dtfhe_ledger::Hash`.
pub type Hash = [u8; 32];

/// Version of the signed chunk message (its second field).
pub const CHUNK_MESSAGE_VERSION: u8 = 1;

/// Domain separation tag at the start of every signed chunk message.
const CHUNK_MESSAGE_TAG: &[u8] = b"dtfhe source chunk signature";

/// Part names a chunk may hold per encrypted column: the encrypted value, the
/// encrypted presence bit (1 if the cell is not NULL) and, when declared, the
/// encrypted square (for variances). Checked on append so a typo in a caller
/// cannot create a part nobody will ever read.
pub const PART_KINDS: &[&str] = &["value", "presence", "square"];

/// Most threshold indicator parts (`gt0` … `gt31`) a column may have.
pub const MAX_INDICATOR_PARTS: usize = 32;

/// Whether `part` is a part name a chunk may hold: one of [`PART_KINDS`], or a declared
/// threshold's indicator `gt{k}` (`x > thresholds[k]`, 1/0), k < [`MAX_INDICATOR_PARTS`]
/// written without leading zeros.
pub fn is_part_kind(part: &str) -> bool {
    if PART_KINDS.contains(&part) {
        return true;
    }
    part.strip_prefix("gt").is_some_and(|k| {
        !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_digit())
            && (k == "0" || !k.starts_with('0'))
            && k.parse::<usize>().is_ok_and(|k| k < MAX_INDICATOR_PARTS)
    })
}

/// A chunk to append: up to N rows of one dataset from one source, signed
/// by that source.
///
/// The source assigns `seq` (the store accepts only a seq greater than the
/// source's last one for the dataset, so a chunk cannot be replayed or its
/// seq reused) and signs [`chunk_message`] with its registered key (see
/// [`NewChunk::sign`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    /// Position in the source's sequence for this dataset (strictly
    /// increasing; gaps are allowed).
    pub seq: u64,
    /// Number of rows in the chunk (at least 1).
    pub rows: u32,
    /// Encoded public (clear) columns, opaque to the store.
    pub public: Vec<u8>,
    /// Ciphertext parts; each `(column, part)` at most once.
    pub parts: Vec<NewPart>,
    /// The source's ed25519 signature of [`chunk_message`] for this chunk.
    pub signature: [u8; 64],
    /// Which chunk of which input file this is, so an interrupted ingest of
    /// the same file can resume (the store lists a file's stored chunks).
    pub origin: Option<ChunkOrigin>,
}

/// Where a chunk comes from: chunk `index` of `count` of an input file whose
/// bytes hash (blake3) to `file_hash`. Not signed: it only lets an ingest
/// recognise the chunks of its file that are already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOrigin {
    /// blake3 hash of the input file's bytes.
    pub file_hash: Hash,
    /// Position of the chunk in the file, from 0.
    pub index: u32,
    /// Number of chunks the file makes.
    pub count: u32,
}

/// One ciphertext of a chunk: a part (see [`PART_KINDS`]) of one encrypted
/// column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPart {
    /// Encrypted column name (non-empty).
    pub column: String,
    /// Part name, one of [`PART_KINDS`].
    pub part: String,
    /// Serialized ciphertext, opaque to the store.
    pub bytes: Vec<u8>,
}

/// A stored chunk without its ciphertext bytes.
///
/// Planning a query needs only the public columns and row counts; the
/// (large) ciphertexts are fetched one at a time with
/// [`ChunkReader::part`](crate::ChunkReader::part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Store-assigned chunk id.
    pub id: i64,
    /// Source (factory) that produced the chunk.
    pub source: String,
    /// Position in the source's sequence for this dataset, assigned and
    /// signed by the source (strictly increasing).
    pub seq: u64,
    /// Number of rows.
    pub rows: u32,
    /// Encoded public columns, as appended.
    pub public: Vec<u8>,
}

/// What a stored chunk's source signed besides its [`ChunkMeta`]: the signature and the
/// (unsigned) origin, so a remote reader (the platform API) can hand them to clients that
/// check every chunk's signature themselves instead of trusting the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkProvenance {
    /// Store-assigned chunk id.
    pub id: i64,
    /// The source's ed25519 signature of [`chunk_message`].
    pub signature: [u8; 64],
    /// The chunk's origin, if it was appended with one.
    pub origin: Option<ChunkOrigin>,
}

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
/// The agent (which signs), the store (which verifies on append and in its
/// audit) and remote readers (which verify what a platform serves) all call
/// this one function, so they always agree on it.
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
    /// `(column, part, blake3(bytes))` of every part, in the chunk's order: what the signed
    /// message and the store's content hash commit to.
    pub fn part_hashes(&self) -> Vec<(&str, &str, Hash)> {
        self.parts
            .iter()
            .map(|p| {
                (
                    p.column.as_str(),
                    p.part.as_str(),
                    *blake3::hash(&p.bytes).as_bytes(),
                )
            })
            .collect()
    }

    /// The message of [`chunk_message`] for this chunk (hashing its public
    /// bytes and every part).
    pub fn message(&self, dataset: &str, source: &str) -> Vec<u8> {
        chunk_message(
            dataset,
            source,
            self.seq,
            self.rows,
            blake3::hash(&self.public).as_bytes(),
            &self.part_hashes(),
        )
    }

    /// Signs the chunk (its current `seq` and content) as `source` for
    /// `dataset`, setting [`NewChunk::signature`].
    pub fn sign(&mut self, dataset: &str, source: &str, key: &SigningKey) {
        self.signature = key.sign(&self.message(dataset, source)).to_bytes();
    }
}
