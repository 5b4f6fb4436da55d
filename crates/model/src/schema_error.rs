//! What can be wrong with a dataset schema, typed: each problem names where it is (the
//! dataset's top level, its `[csv]` table, or a column by name or position) and which key,
//! so a caller can match on the kind of problem and a user reads the same message as
//! before (wrapped in [`crate::ThreadError::Schema`] with the file it came from).
//!
//! Schema texts are declarations, not data: the values a message repeats (names, bounds,
//! thresholds) are the schema's own, never a value of an encrypted column.

use std::fmt;

use crate::encoding::{MAX_SCALE, MAX_SCALED_MAGNITUDE};
use crate::schema::{MAX_COLUMNS, MAX_IDENTIFIER_LEN, MAX_THRESHOLDS, SOURCE_COLUMN};

/// Where in a schema a problem is; displayed as the prefix of its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaPlace {
    /// The top level (dataset name, stage, lanes, the column list). No prefix.
    Dataset,
    /// The `[csv]` table: `[csv]: `.
    Csv,
    /// A column whose name is not known yet (missing or invalid): `columns[i]: `.
    ColumnAt(usize),
    /// A named column: `column "name": `.
    Column(String),
}

impl fmt::Display for SchemaPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaPlace::Dataset => Ok(()),
            SchemaPlace::Csv => f.write_str("[csv]: "),
            SchemaPlace::ColumnAt(i) => write!(f, "columns[{i}]: "),
            SchemaPlace::Column(name) => write!(f, "column \"{name}\": "),
        }
    }
}

/// One problem of a schema, with where it is. Messages name the key and, for a column, the
/// column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A key that is not accepted there (a typo would otherwise turn into a default).
    #[error("{place}unknown key \"{key}\" (accepted keys: {})", accepted.join(", "))]
    UnknownKey {
        /// Where.
        place: SchemaPlace,
        /// The key as written.
        key: String,
        /// The keys accepted there.
        accepted: &'static [&'static str],
    },
    /// A required key is absent.
    #[error("{place}missing \"{key}\"{hint}")]
    Missing {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
        /// What to write (with its leading space), or empty.
        hint: &'static str,
    },
    /// An encrypted column without `scale`.
    #[error(
        "{place}missing \"scale\" (decimal digits kept, 0..={max}) for an encrypted column",
        max = MAX_SCALE
    )]
    MissingScale {
        /// Where.
        place: SchemaPlace,
    },
    /// A key has a value of the wrong TOML type.
    #[error("{place}\"{key}\" must be {expected}, found {found}")]
    WrongType {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
        /// What it must be ("a string", "true or false", …).
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// An entry of `[[columns]]` is not a table.
    #[error("columns[{index}] must be a table, found {found}")]
    ColumnNotTable {
        /// 0-based position in the column list.
        index: usize,
        /// The TOML type found.
        found: &'static str,
    },
    /// A number is NaN or infinite.
    #[error("{place}\"{key}\" must be a finite number")]
    NotFinite {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
    },
    /// An integer too large to be represented exactly.
    #[error(
        "{place}\"{key}\" ({value}) exceeds the supported magnitude 2^40 ({max})",
        max = MAX_SCALED_MAGNITUDE
    )]
    TooLarge {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
        /// The value as written.
        value: i64,
    },
    /// A value outside the key's vocabulary (stage, kind, type, usage, role).
    #[error("{place}unknown {key} \"{value}\" (expected {expected})")]
    UnknownValue {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// A list or text that must not be empty is.
    #[error("{place}\"{key}\" is empty{hint}")]
    Empty {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
        /// What to do (with its leading separator), or empty.
        hint: &'static str,
    },
    /// More columns than [`MAX_COLUMNS`].
    #[error("{count} columns declared; at most {max} are supported", max = MAX_COLUMNS)]
    TooManyColumns {
        /// How many were declared.
        count: usize,
    },
    /// More thresholds than [`MAX_THRESHOLDS`].
    #[error("{place}{count} thresholds declared; at most {max} are supported", max = MAX_THRESHOLDS)]
    TooManyThresholds {
        /// Where.
        place: SchemaPlace,
        /// How many were declared.
        count: usize,
    },
    /// The dataset name is not an identifier.
    #[error(
        "\"dataset\" = \"{name}\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*, at most {max} \
         characters)",
        max = MAX_IDENTIFIER_LEN
    )]
    BadDatasetName {
        /// The name as written.
        name: String,
    },
    /// A column name is not an identifier.
    #[error(
        "columns[{index}]: column name \"{name}\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*, \
         at most {max} characters)",
        max = MAX_IDENTIFIER_LEN
    )]
    BadColumnName {
        /// 0-based position in the column list.
        index: usize,
        /// The name as written.
        name: String,
    },
    /// A column is called `source`, the implicit data-owner column.
    #[error(
        "column \"{name}\": the name \"{reserved}\" is reserved (every dataset has an implicit \
         public column \"{reserved}\" naming the data owner); rename the column and keep the \
         CSV header with source = \"{name}\"",
        reserved = SOURCE_COLUMN
    )]
    ReservedName {
        /// The name as written.
        name: String,
    },
    /// Two columns with the same name (case-insensitive).
    #[error(
        "column \"{name}\" is declared twice (column names are case-insensitive; first \
         declared as \"{first}\")"
    )]
    DuplicateColumn {
        /// The second declaration's name.
        name: String,
        /// The first declaration's name.
        first: String,
    },
    /// `lanes` names no declared column.
    #[error("\"lanes\" = \"{name}\" names no declared column")]
    LanesUnknown {
        /// The name as written.
        name: String,
    },
    /// `lanes` names an encrypted or nullable column.
    #[error("\"lanes\" = \"{name}\" must name a public, non-nullable column (the product id)")]
    LanesNotPublic {
        /// The name as written.
        name: String,
    },
    /// An unsupported CSV delimiter.
    #[error(
        "[csv]: delimiter {delimiter:?} is not supported (use one ASCII character such as \
         \",\", \";\" or \"\\t\", or \"whitespace\")"
    )]
    BadDelimiter {
        /// The delimiter as written.
        delimiter: String,
    },
    /// A key of encrypted columns on a public one.
    #[error("{place}\"{key}\" applies only to encrypted columns (this one is public)")]
    EncryptedOnly {
        /// Where.
        place: SchemaPlace,
        /// The key.
        key: &'static str,
    },
    /// A key of public columns on an encrypted one.
    #[error("{place}{what} applies only to public columns ({why})")]
    PublicOnly {
        /// Where.
        place: SchemaPlace,
        /// The key (and value) as it reads in the message.
        what: &'static str,
        /// Why.
        why: &'static str,
    },
    /// `scale` outside 0..=[`MAX_SCALE`].
    #[error("{place}scale {scale} is out of range (0..={max})", max = MAX_SCALE)]
    ScaleOutOfRange {
        /// Where.
        place: SchemaPlace,
        /// The scale as written.
        scale: i64,
    },
    /// `min` above `max`.
    #[error("{place}min ({min}) is greater than max ({max})")]
    MinAboveMax {
        /// Where.
        place: SchemaPlace,
        /// Declared minimum.
        min: f64,
        /// Declared maximum.
        max: f64,
    },
    /// The scale and range give no fixed-point codec (a bound too large at that scale).
    #[error("{place}{reason}")]
    Codec {
        /// Where.
        place: SchemaPlace,
        /// The codec's reason.
        reason: String,
    },
    /// A threshold entry is not a finite number.
    #[error("{place}thresholds[{index}] must be a finite number, found {found}")]
    ThresholdNotNumber {
        /// Where.
        place: SchemaPlace,
        /// 0-based position in the list.
        index: usize,
        /// The value (a non-finite number) or the TOML type found.
        found: String,
    },
    /// A threshold with more decimals than the column keeps.
    #[error(
        "{place}threshold {value} is not exactly representable at scale {scale} (at most \
         {scale} decimal digit{s})",
        s = if *scale == 1 { "" } else { "s" }
    )]
    ThresholdNotExact {
        /// Where.
        place: SchemaPlace,
        /// The threshold.
        value: f64,
        /// The column's scale.
        scale: u32,
    },
    /// A threshold outside [min, max].
    #[error("{place}threshold {value} is outside the declared range [{min}, {max}]")]
    ThresholdOutOfRange {
        /// Where.
        place: SchemaPlace,
        /// The threshold.
        value: f64,
        /// The declared minimum, at the column's scale.
        min: String,
        /// The declared maximum, at the column's scale.
        max: String,
    },
    /// Thresholds not strictly increasing.
    #[error("{place}thresholds must be strictly increasing: {value} follows {previous}")]
    ThresholdsNotIncreasing {
        /// Where.
        place: SchemaPlace,
        /// The threshold out of order.
        value: f64,
        /// The one before it, at the column's scale.
        previous: String,
    },
}

impl SchemaError {
    /// The column the problem is in, when it concerns one (by name, or by position when its
    /// name is missing or invalid).
    pub fn place(&self) -> SchemaPlace {
        use SchemaError as E;
        match self {
            E::UnknownKey { place, .. }
            | E::Missing { place, .. }
            | E::MissingScale { place }
            | E::WrongType { place, .. }
            | E::NotFinite { place, .. }
            | E::TooLarge { place, .. }
            | E::UnknownValue { place, .. }
            | E::Empty { place, .. }
            | E::TooManyThresholds { place, .. }
            | E::EncryptedOnly { place, .. }
            | E::PublicOnly { place, .. }
            | E::ScaleOutOfRange { place, .. }
            | E::MinAboveMax { place, .. }
            | E::Codec { place, .. }
            | E::ThresholdNotNumber { place, .. }
            | E::ThresholdNotExact { place, .. }
            | E::ThresholdOutOfRange { place, .. }
            | E::ThresholdsNotIncreasing { place, .. } => place.clone(),
            E::ColumnNotTable { index, .. } | E::BadColumnName { index, .. } => {
                SchemaPlace::ColumnAt(*index)
            }
            E::ReservedName { name } | E::DuplicateColumn { name, .. } => {
                SchemaPlace::Column(name.clone())
            }
            E::BadDelimiter { .. } => SchemaPlace::Csv,
            E::TooManyColumns { .. }
            | E::BadDatasetName { .. }
            | E::LanesUnknown { .. }
            | E::LanesNotPublic { .. } => SchemaPlace::Dataset,
        }
    }
}
