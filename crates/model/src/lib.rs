//! The digital-thread model: what a dataset looks like (schema), how a source's CSV export
//! is read and checked, and how decimal values become the fixed-point integers that get
//! encrypted. It also holds the chunk types every role exchanges (what a source appends and
//! signs, what a reader lists) and the [`ChunkReader`] trait the engine computes over.
//! Small helpers every role shares live here too: the clock ([`clock`]), party name checks
//! ([`names`]), owner-only secret files ([`secret_file`]) and `Debug` that leaves secrets
//! out ([`redact`]). Nothing here talks to a
//! database or the network or encrypts: the only cryptography is hashing and signing the
//! chunk message, so every rule can be tested in plaintext.
#![forbid(unsafe_code)]

pub mod chunk;
pub mod clock;
pub mod cursor;
pub mod encoding;
pub mod error;
pub mod exit;
pub mod lanes;
pub mod names;
pub mod public_codec;
pub mod reader;
pub mod redact;
pub mod report;
pub mod schema;
pub mod schema_diff;
pub mod schema_error;
pub mod secret_file;
pub mod table;

pub use chunk::{
    chunk_message, is_part_kind, ChunkMeta, ChunkOrigin, ChunkProvenance, Hash, NewChunk, NewPart,
    CHUNK_MESSAGE_VERSION, MAX_INDICATOR_PARTS, PART_KINDS,
};
pub use encoding::{EncodeError, FixedPoint, MAX_SCALE, MAX_SCALED_MAGNITUDE};
pub use error::ThreadError;
pub use exit::ExitKind;
pub use public_codec::{decode_public_columns, encode_public_columns};
pub use reader::{ChunkPin, ChunkReadError, ChunkReader, PartRead, PinnedReader, RecordingReader};
pub use schema::{
    indicator_part, is_identifier, ColumnKind, ColumnSpec, CsvOptions, EncryptedSpec, PublicType,
    Schema, Stage, Usage, LANE_COLUMN, MAX_THRESHOLDS, SOURCE_COLUMN,
};
pub use schema_error::{SchemaError, SchemaPlace};
pub use table::{
    read_csv_bytes, read_csv_file, EncodedColumn, PublicColumn, Table, Value, MAX_TEXT_LEN,
};
