//! Dataset schema, loaded from one TOML file per dataset.

use crate::encoding::FixedPoint;
use crate::error::ThreadError;

/// Lifecycle stage a dataset belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Design parameters, simulations.
    Design,
    /// Process and quality data.
    Manufacturing,
    /// Sensor, repair and usage data.
    Maintenance,
}

/// How the CSV export of a source is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter; `None` means "any run of whitespace" (C-MAPSS style).
    pub delimiter: Option<u8>,
    /// Whether the first line is a header. Without one, columns match by position.
    pub header: bool,
}

/// Type of a clear (public) column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicType {
    /// 64-bit signed integer.
    Integer,
    /// Decimal number (kept as f64 for filtering/grouping).
    Decimal,
    /// UTF-8 text.
    Text,
}

/// What an encrypted column may be used for; decides how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Enters products (variance, covariance, correlation, regression): stored at full level.
    Product,
    /// Only summed (COUNT/SUM/AVG): stored switched down, about half the bytes.
    Sum,
}

/// Declaration of an encrypted column.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedSpec {
    /// Fixed-point codec derived from `scale`, `min` and `max`.
    pub codec: FixedPoint,
    /// Storage/usage class.
    pub usage: Usage,
}

/// Whether a column is clear or encrypted, with its type details.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// Stored in clear; usable in WHERE / GROUP BY.
    Public(PublicType),
    /// FHE-encrypted at the source.
    Encrypted(EncryptedSpec),
}

/// One column of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// SQL name.
    pub name: String,
    /// CSV header name to read from (defaults to `name`).
    pub source: String,
    /// Clear or encrypted.
    pub kind: ColumnKind,
    /// Whether empty fields (NULL) are allowed.
    pub nullable: bool,
}

/// A dataset schema: one table of one lifecycle stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// SQL table name.
    pub dataset: String,
    /// Lifecycle stage.
    pub stage: Stage,
    /// CSV layout.
    pub csv: CsvOptions,
    /// Columns in declaration order.
    pub columns: Vec<ColumnSpec>,
}

impl Schema {
    /// Parse and validate a schema from TOML text; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Schema, ThreadError> {
        let _ = (text, origin);
        todo!("helper")
    }

    /// Look a column up by SQL name (case-insensitive).
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }
}
