//! The binary encoding of one chunk upload (`POST /v1/datasets/{name}/chunks`) and of one
//! file in an edge agent's spool: the dataset's schema TOML and one signed chunk with its
//! origin, so a spooled chunk can be uploaded again after a crash exactly as it was signed.
//!
//! Ciphertexts are megabytes, so a chunk travels as raw bytes, not JSON/base64. The format
//! is versioned and strict: the decoder refuses a wrong magic or version, a truncated
//! field, a length above its limit and trailing bytes, each with an error naming the field,
//! and never allocates more than the input's size.
//!
//! Format version 1 (integers big-endian):
//!
//! ```text
//! 8   magic "DTFHECHK"
//! u8  version (= 1)
//! u32 len, schema TOML (UTF-8, at most 1 MiB)
//! u64 seq
//! u32 rows
//! u32 len, public column bytes (at most 64 MiB)
//! 64  signature (ed25519, of dtfhe_model::chunk_message)
//! u8  origin flag: 0 none, 1 present, then: 32 file blake3, u32 index, u32 count
//! u32 number of parts (at most 4096), then per part:
//!     u16 len, column (UTF-8, at most 256 bytes)
//!     u16 len, part name (UTF-8, at most 64 bytes)
//!     u32 len, ciphertext bytes (at most 64 MiB)
//! ```

use dtfhe_model::cursor::{ByteCursor, Truncated};
use dtfhe_model::{ChunkOrigin, NewChunk, NewPart};

/// First bytes of an encoded chunk.
pub const MAGIC: &[u8; 8] = b"DTFHECHK";
/// Format version written by [`encode_chunk`]; the only one [`decode_chunk`] reads.
pub const WIRE_VERSION: u8 = 1;
/// Largest schema text.
pub const MAX_SCHEMA_BYTES: usize = 1024 * 1024;
/// Largest public-column or ciphertext field.
pub const MAX_BLOB_BYTES: usize = 64 * 1024 * 1024;
/// Most parts in one chunk.
pub const MAX_PARTS: usize = 4096;
/// Longest column name.
pub const MAX_COLUMN_BYTES: usize = 256;
/// Longest part name.
pub const MAX_PART_NAME_BYTES: usize = 64;

/// Why bytes are not a valid encoded chunk; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a dtfhe chunk encoding (bad magic)")]
    BadMagic,
    /// An unknown format version.
    #[error("chunk encoding version {0} is not supported (this build reads {WIRE_VERSION})")]
    Version(u8),
    /// The input ends inside a field.
    #[error("chunk encoding truncated in field `{0}`")]
    Truncated(String),
    /// A length prefix exceeds the field's limit.
    #[error("field `{field}`: length {len} exceeds the limit {max}")]
    TooLong {
        /// The field.
        field: String,
        /// The declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A text field is not UTF-8.
    #[error("field `{0}` is not UTF-8")]
    NotUtf8(String),
    /// A flag byte has a value other than 0 or 1.
    #[error("field `{field}`: invalid value {value}")]
    BadFlag {
        /// The field.
        field: String,
        /// The byte found.
        value: u8,
    },
    /// Bytes after the last field.
    #[error("{0} trailing bytes after the chunk encoding")]
    Trailing(usize),
    /// A field of the chunk to encode exceeds its limit (encoding side).
    #[error("cannot encode: field `{field}` is {len} bytes, at most {max} allowed")]
    Oversized {
        /// The field.
        field: String,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// One decoded upload: the schema text and the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireChunk {
    /// The dataset's schema TOML, verbatim (registered with the first chunk).
    pub schema_toml: String,
    /// The signed chunk.
    pub chunk: NewChunk,
}

fn check(field: &str, len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        return Err(WireError::Oversized {
            field: field.to_string(),
            len,
            max,
        });
    }
    Ok(())
}

/// Encodes a schema text and a chunk (format version 1); refuses a field above its limit,
/// so nothing is ever spooled or sent that the decoder would refuse.
pub fn encode_chunk(schema_toml: &str, chunk: &NewChunk) -> Result<Vec<u8>, WireError> {
    check("schema", schema_toml.len(), MAX_SCHEMA_BYTES)?;
    check("public", chunk.public.len(), MAX_BLOB_BYTES)?;
    check("parts", chunk.parts.len(), MAX_PARTS)?;
    let size: usize = 8
        + 1
        + 4
        + schema_toml.len()
        + 8
        + 4
        + 4
        + chunk.public.len()
        + 64
        + 41
        + 4
        + chunk
            .parts
            .iter()
            .map(|p| 8 + p.column.len() + p.part.len() + p.bytes.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.push(WIRE_VERSION);
    out.extend_from_slice(&(schema_toml.len() as u32).to_be_bytes());
    out.extend_from_slice(schema_toml.as_bytes());
    out.extend_from_slice(&chunk.seq.to_be_bytes());
    out.extend_from_slice(&chunk.rows.to_be_bytes());
    out.extend_from_slice(&(chunk.public.len() as u32).to_be_bytes());
    out.extend_from_slice(&chunk.public);
    out.extend_from_slice(&chunk.signature);
    match &chunk.origin {
        None => out.push(0),
        Some(o) => {
            out.push(1);
            out.extend_from_slice(&o.file_hash);
            out.extend_from_slice(&o.index.to_be_bytes());
            out.extend_from_slice(&o.count.to_be_bytes());
        }
    }
    out.extend_from_slice(&(chunk.parts.len() as u32).to_be_bytes());
    for (i, p) in chunk.parts.iter().enumerate() {
        check(
            &format!("parts[{i}].column"),
            p.column.len(),
            MAX_COLUMN_BYTES,
        )?;
        check(
            &format!("parts[{i}].part"),
            p.part.len(),
            MAX_PART_NAME_BYTES,
        )?;
        check(&format!("parts[{i}].bytes"), p.bytes.len(), MAX_BLOB_BYTES)?;
        out.extend_from_slice(&(p.column.len() as u16).to_be_bytes());
        out.extend_from_slice(p.column.as_bytes());
        out.extend_from_slice(&(p.part.len() as u16).to_be_bytes());
        out.extend_from_slice(p.part.as_bytes());
        out.extend_from_slice(&(p.bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&p.bytes);
    }
    Ok(out)
}

impl From<Truncated> for WireError {
    /// The input ends inside the field.
    fn from(t: Truncated) -> WireError {
        WireError::Truncated(t.field)
    }
}

/// A length-prefixed byte field whose prefix was already read as `len`.
fn sized<'a>(
    r: &mut ByteCursor<'a>,
    field: &str,
    len: u64,
    max: usize,
) -> Result<&'a [u8], WireError> {
    if len > max as u64 {
        return Err(WireError::TooLong {
            field: field.to_string(),
            len,
            max,
        });
    }
    Ok(r.take(field, len as usize)?)
}

/// A length-prefixed UTF-8 field whose prefix was already read as `len`.
fn text(r: &mut ByteCursor<'_>, field: &str, len: u64, max: usize) -> Result<String, WireError> {
    std::str::from_utf8(sized(r, field, len, max)?)
        .map(str::to_string)
        .map_err(|_| WireError::NotUtf8(field.to_string()))
}

/// Decodes [`encode_chunk`]'s output, strictly (see the module docs). Never panics.
pub fn decode_chunk(bytes: &[u8]) -> Result<WireChunk, WireError> {
    let mut r = ByteCursor::new(bytes);
    let magic = r
        .take("magic", MAGIC.len())
        .map_err(|_| WireError::BadMagic)?;
    if magic != MAGIC {
        return Err(WireError::BadMagic);
    }
    let version = r.u8("version")?;
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    let len = r.u32_be("schema length")?;
    let schema_toml = text(&mut r, "schema", len.into(), MAX_SCHEMA_BYTES)?;
    let seq = r.u64_be("seq")?;
    let rows = r.u32_be("rows")?;
    let len = r.u32_be("public length")?;
    let public = sized(&mut r, "public", len.into(), MAX_BLOB_BYTES)?.to_vec();
    let signature = r.array::<64>("signature")?;
    let origin = match r.u8("origin flag")? {
        0 => None,
        1 => Some(ChunkOrigin {
            file_hash: r.array::<32>("origin file hash")?,
            index: r.u32_be("origin index")?,
            count: r.u32_be("origin count")?,
        }),
        value => {
            return Err(WireError::BadFlag {
                field: "origin flag".into(),
                value,
            })
        }
    };
    let count = r.u32_be("part count")?;
    if count as usize > MAX_PARTS {
        return Err(WireError::TooLong {
            field: "part count".into(),
            len: count.into(),
            max: MAX_PARTS,
        });
    }
    // Each part takes at least 8 bytes: never reserve more than the input can hold.
    let mut parts = Vec::with_capacity((count as usize).min(bytes.len() / 8));
    for i in 0..count {
        let field = |f: &str| format!("parts[{i}].{f}");
        let len = r.u16_be(&field("column length"))?;
        let column = text(&mut r, &field("column"), len.into(), MAX_COLUMN_BYTES)?;
        let len = r.u16_be(&field("part length"))?;
        let part = text(&mut r, &field("part"), len.into(), MAX_PART_NAME_BYTES)?;
        let len = r.u32_be(&field("bytes length"))?;
        let bytes = sized(&mut r, &field("bytes"), len.into(), MAX_BLOB_BYTES)?.to_vec();
        parts.push(NewPart {
            column,
            part,
            bytes,
        });
    }
    if r.remaining() != 0 {
        return Err(WireError::Trailing(r.remaining()));
    }
    Ok(WireChunk {
        schema_toml,
        chunk: NewChunk {
            seq,
            rows,
            public,
            parts,
            signature,
            origin,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(origin: bool) -> (String, NewChunk) {
        (
            "dataset = \"d\"\nstage = \"design\"\n".to_string(),
            NewChunk {
                seq: 7,
                rows: 3,
                public: vec![1, 2, 3, 4],
                parts: vec![
                    NewPart {
                        column: "torque".into(),
                        part: "value".into(),
                        bytes: vec![9; 100],
                    },
                    NewPart {
                        column: "torque".into(),
                        part: "presence".into(),
                        bytes: vec![],
                    },
                ],
                signature: [5; 64],
                origin: origin.then_some(ChunkOrigin {
                    file_hash: [8; 32],
                    index: 2,
                    count: 9,
                }),
            },
        )
    }

    #[test]
    fn a_chunk_round_trips_with_and_without_origin() {
        for origin in [false, true] {
            let (schema, chunk) = sample(origin);
            let bytes = encode_chunk(&schema, &chunk).expect("encode");
            let back = decode_chunk(&bytes).expect("decode");
            assert_eq!(back.schema_toml, schema);
            assert_eq!(back.chunk, chunk);
        }
    }

    #[test]
    fn every_truncation_is_refused_naming_a_field() {
        let (schema, chunk) = sample(true);
        let bytes = encode_chunk(&schema, &chunk).expect("encode");
        for cut in 0..bytes.len() {
            let err = decode_chunk(&bytes[..cut]).expect_err("truncated");
            assert!(
                matches!(err, WireError::Truncated(_) | WireError::BadMagic),
                "cut {cut}: {err}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode_chunk(&long), Err(WireError::Trailing(1)));
    }

    #[test]
    fn corrupt_fields_are_refused_with_their_name() {
        let (schema, chunk) = sample(true);
        let bytes = encode_chunk(&schema, &chunk).expect("encode");
        let at = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = bytes.clone();
            f(&mut b);
            decode_chunk(&b).expect_err("corrupt").to_string()
        };
        assert!(at(&|b| b[0] = b'X').contains("magic"));
        assert!(at(&|b| b[8] = 2).contains("version 2"));
        // Schema length far too large.
        assert!(at(&|b| b[9] = 0xff).contains("`schema`"));
        // Schema bytes not UTF-8.
        assert!(at(&|b| b[13] = 0xff).contains("`schema` is not UTF-8"));
        let s = 13 + schema.len();
        // Public length too large (seq 8, rows 4 then the public length).
        assert!(at(&|b| b[s + 12] = 0xff).contains("`public`"));
        let flag = s + 12 + 4 + 4 + 64;
        assert!(at(&|b| b[flag] = 7).contains("origin flag"));
        let count = flag + 1 + 40;
        assert!(at(&|b| b[count] = 0xff).contains("part count"));
        // The first part's column length beyond the limit.
        assert!(at(&|b| {
            b[count + 4] = 0xff;
        })
        .contains("parts[0].column"));
        // Ciphertext length larger than what is left.
        let plen = count + 4 + 2 + 6 + 2 + 5;
        assert!(at(&|b| b[plen + 3] = 0xff).contains("parts[0].bytes"));
    }

    #[test]
    fn oversized_chunks_are_not_encoded() {
        let (schema, mut chunk) = sample(false);
        chunk.parts[0].column = "c".repeat(MAX_COLUMN_BYTES + 1);
        assert!(matches!(
            encode_chunk(&schema, &chunk),
            Err(WireError::Oversized { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_chunk(&bytes);
            let mut framed = MAGIC.to_vec();
            framed.push(WIRE_VERSION);
            framed.extend_from_slice(&bytes);
            let _ = decode_chunk(&framed);
        }

        #[test]
        fn arbitrary_chunks_round_trip(
            seq in any::<u64>(), rows in any::<u32>(),
            public in proptest::collection::vec(any::<u8>(), 0..64),
            parts in proptest::collection::vec(("[a-z]{1,8}", "[a-z0-9]{1,6}",
                proptest::collection::vec(any::<u8>(), 0..64)), 0..5),
            origin in proptest::option::of((any::<[u8; 32]>(), any::<u32>(), any::<u32>())),
            schema in ".{0,80}",
        ) {
            let chunk = NewChunk {
                seq, rows, public,
                parts: parts.into_iter().map(|(column, part, bytes)| NewPart { column, part, bytes }).collect(),
                signature: [3; 64],
                origin: origin.map(|(file_hash, index, count)| ChunkOrigin { file_hash, index, count }),
            };
            let bytes = encode_chunk(&schema, &chunk).expect("encode");
            let back = decode_chunk(&bytes).expect("decode");
            prop_assert_eq!(back.schema_toml, schema);
            prop_assert_eq!(back.chunk, chunk);
        }
    }
}
