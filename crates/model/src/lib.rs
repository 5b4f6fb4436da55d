//! The digital-thread model: what a dataset looks like (schema), how a source's CSV export
//! is read and checked, and how decimal values become the fixed-point integers that get
//! encrypted. Nothing here touches cryptography, so every rule can be tested in plaintext.
#![forbid(unsafe_code)]

pub mod encoding;
pub mod error;
pub mod public_codec;
pub mod schema;
pub mod table;

pub use encoding::{EncodeError, FixedPoint, MAX_SCALE, MAX_SCALED_MAGNITUDE};
pub use error::ThreadError;
pub use public_codec::{decode_public_columns, encode_public_columns};
pub use schema::{
    indicator_part, is_identifier, ColumnKind, ColumnSpec, CsvOptions, EncryptedSpec, PublicType,
    Schema, Stage, Usage, LANE_COLUMN, MAX_THRESHOLDS, SOURCE_COLUMN,
};
pub use table::{
    read_csv_bytes, read_csv_file, EncodedColumn, PublicColumn, Table, Value, MAX_TEXT_LEN,
};
