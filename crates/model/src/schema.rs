//! Dataset schema, loaded from one TOML file per dataset.
//!
//! ```toml
//! dataset = "engines"            # SQL table name: [A-Za-z_][A-Za-z0-9_]*
//! stage = "maintenance"          # design | manufacturing | maintenance
//! description = "free text"      # optional, ignored
//! [csv]                          # optional
//! delimiter = ","                # default ","; " " or "whitespace": any run of whitespace
//! header = true                  # default true; false: columns match by position
//! [[columns]]
//! name = "unit"
//! source = "unit"                # CSV header name (default: name); unused without header
//! kind = "public"                # public | encrypted
//! type = "integer"               # integer | decimal | text (public columns; required)
//! [[columns]]
//! name = "s2"
//! kind = "encrypted"
//! scale = 2                      # decimal digits kept exactly, 0..=9 (required)
//! min = 640.0                    # declared range (required); values outside are rejected
//! max = 645.0
//! nullable = false               # optional, default false
//! usage = "product"              # optional: product (default) | sum
//! thresholds = [642.5, 643.5]    # optional: fault-detection edges (see below)
//! round = false                  # optional: true rounds values with more decimals than
//!                                #   `scale` (half away from zero) instead of rejecting them
//! ```
//!
//! A value with more fractional digits than its column's `scale` (`42.85` at scale 1) is
//! rejected at ingest unless the column opts in to rounding with `round = true`: silently
//! dropping digits would change the data without anyone deciding it should.
//!
//! `thresholds` (encrypted columns only): at most [`MAX_THRESHOLDS`] edges, strictly
//! increasing, inside [min, max], each exactly representable at the column's scale. For every
//! edge e_k the source also encrypts the indicator `x > e_k` (1 or 0, 0 where NULL) as the
//! extra part `gt{k}` ([`indicator_part`]), so that `COUNT(*) FILTER (WHERE x > e_k)`,
//! `HISTOGRAM(x)` and `APPROX_PERCENTILE(x, p)` are exact sums of ciphertexts.
//!
//! **Unknown keys are errors.** A typo such as `knd = "public"` would otherwise silently
//! turn into a default; the error lists the keys that are accepted. The free-text keys
//! `description` (top level and per column) and `unit` (per column) are accepted and ignored.
//!
//! Every dataset also has an implicit public text column `source` (the data owner), added by
//! the caller; a declared column may therefore not be called `source`.

use crate::encoding::{FixedPoint, MAX_SCALE};
use crate::error::ThreadError;
use crate::schema_error::{SchemaError, SchemaPlace};
use std::path::Path;
use toml::{Table, Value};

/// Most columns a dataset may declare.
pub const MAX_COLUMNS: usize = 1024;

/// Longest identifier (dataset or column name), in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 128;

/// Name of the implicit public text column naming the data owner of each row.
pub const SOURCE_COLUMN: &str = "source";

/// Public column that chunks of per-product (lane) datasets carry beside the declared ones:
/// each row's global lane number; block = lane / N, slot = lane mod N.
pub const LANE_COLUMN: &str = "__lane";

/// Most `thresholds` an encrypted column may declare.
pub const MAX_THRESHOLDS: usize = 32;

const INDICATOR_PARTS: [&str; MAX_THRESHOLDS] = [
    "gt0", "gt1", "gt2", "gt3", "gt4", "gt5", "gt6", "gt7", "gt8", "gt9", "gt10", "gt11", "gt12",
    "gt13", "gt14", "gt15", "gt16", "gt17", "gt18", "gt19", "gt20", "gt21", "gt22", "gt23", "gt24",
    "gt25", "gt26", "gt27", "gt28", "gt29", "gt30", "gt31",
];

/// Stored part name of the indicator `x > thresholds[k]` (`gt0`, `gt1`, …); `None` for
/// `k ≥` [`MAX_THRESHOLDS`].
pub fn indicator_part(k: usize) -> Option<&'static str> {
    INDICATOR_PARTS.get(k).copied()
}

const TOP_KEYS: &[&str] = &["dataset", "stage", "description", "lanes", "csv", "columns"];
const CSV_KEYS: &[&str] = &["delimiter", "header"];
const COLUMN_KEYS: &[&str] = &[
    "name",
    "source",
    "kind",
    "type",
    "scale",
    "min",
    "max",
    "nullable",
    "usage",
    "thresholds",
    "round",
    "description",
    "unit",
    "role",
];

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

impl Stage {
    /// The schema spelling (`"design"`, `"manufacturing"`, `"maintenance"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Design => "design",
            Stage::Manufacturing => "manufacturing",
            Stage::Maintenance => "maintenance",
        }
    }

    /// Parse the schema spelling (exact, lower case).
    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "design" => Some(Stage::Design),
            "manufacturing" => Some(Stage::Manufacturing),
            "maintenance" => Some(Stage::Maintenance),
            _ => None,
        }
    }
}

/// How the CSV export of a source is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter; `None` means "any run of whitespace" (C-MAPSS style).
    pub delimiter: Option<u8>,
    /// Whether the first line is a header. Without one, columns match by position.
    pub header: bool,
}

impl Default for CsvOptions {
    /// Comma-separated with a header line.
    fn default() -> Self {
        CsvOptions {
            delimiter: Some(b','),
            header: true,
        }
    }
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

impl PublicType {
    /// The schema spelling (`"integer"`, `"decimal"`, `"text"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PublicType::Integer => "integer",
            PublicType::Decimal => "decimal",
            PublicType::Text => "text",
        }
    }
}

/// What an encrypted column may be used for; decides how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Enters products (variance, covariance, correlation, regression): stored at full level.
    Product,
    /// Only summed (COUNT/SUM/AVG): stored switched down, about half the bytes.
    Sum,
}

impl Usage {
    /// The schema spelling (`"product"`, `"sum"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Product => "product",
            Usage::Sum => "sum",
        }
    }
}

/// Declaration of an encrypted column.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedSpec {
    /// Fixed-point codec derived from `scale`, `min` and `max`.
    pub codec: FixedPoint,
    /// Storage/usage class.
    pub usage: Usage,
    /// Declared fault-detection edges as fixed-point integers `x·10^scale` (not centred),
    /// strictly increasing, within [min, max]; empty when none are declared.
    pub thresholds: Vec<i64>,
    /// `round = true`: values with more decimals than `scale` are rounded (half away from
    /// zero); by default they are rejected at ingest.
    pub round: bool,
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
    /// Whether the column identifies rows (`role = "key"`: serial numbers, row numbers,
    /// product ids, full-resolution timestamps). Key columns join datasets and look up a
    /// product's thread, but may not filter or group a released aggregate: a filter on an
    /// identifier singles out rows, and differencing two such aggregates releases them.
    pub key: bool,
}

impl ColumnSpec {
    /// Whether the column is FHE-encrypted.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.kind, ColumnKind::Encrypted(_))
    }

    /// The encrypted-column declaration, if the column is encrypted.
    pub fn encrypted(&self) -> Option<&EncryptedSpec> {
        match &self.kind {
            ColumnKind::Encrypted(e) => Some(e),
            ColumnKind::Public(_) => None,
        }
    }

    /// Declared thresholds as fixed-point integers `x·10^scale` (compare exactly with
    /// [`FixedPoint::scaled_exact`]); empty for public columns and when none are declared.
    pub fn thresholds(&self) -> &[i64] {
        match &self.kind {
            ColumnKind::Encrypted(e) => &e.thresholds,
            ColumnKind::Public(_) => &[],
        }
    }

    /// The public type, if the column is public.
    pub fn public_type(&self) -> Option<PublicType> {
        match self.kind {
            ColumnKind::Public(t) => Some(t),
            ColumnKind::Encrypted(_) => None,
        }
    }
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
    /// Per-product layout: the public column whose value (the product id) places each row in
    /// a lane shared by every dataset with the same lane key, so datasets of different stages
    /// line up slot by slot and can be joined on it. `None`: rows are packed in file order.
    pub lanes: Option<String>,
}

impl Schema {
    /// Parse and validate a schema from TOML text; `origin` names the file in errors.
    ///
    /// Errors: [`ThreadError::Toml`] for TOML syntax errors (with line and column),
    /// [`ThreadError::Schema`] for everything else (naming the key or column).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Schema, ThreadError> {
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            ThreadError::Toml {
                origin: origin.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        parse_schema(&table).map_err(|problem| ThreadError::Schema {
            origin: origin.to_string(),
            problem: Box::new(problem),
        })
    }

    /// Read a schema file and parse it with [`Schema::from_toml_str`], naming the path in
    /// errors.
    pub fn from_toml_file(path: &Path) -> Result<Schema, ThreadError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ThreadError::Io {
            origin: origin.clone(),
            source,
        })?;
        Schema::from_toml_str(&text, &origin)
    }

    /// Whether chunks carry an encrypted presence flag for `column` (nullable encrypted
    /// columns: the server must not learn which rows are NULL).
    pub fn stores_presence(&self, column: &str) -> bool {
        self.column(column)
            .is_some_and(|c| c.nullable && c.is_encrypted())
    }

    /// Whether chunks carry the encrypted square v² of `column`. Needed when the dataset has a
    /// nullable encrypted column: a pair statistic then sums v²·presence, which would be a
    /// product of three ciphertexts without the stored square.
    pub fn stores_square(&self, column: &str) -> bool {
        let product = self
            .column(column)
            .and_then(|c| c.encrypted())
            .is_some_and(|e| e.usage == Usage::Product);
        product && self.columns.iter().any(|c| c.nullable && c.is_encrypted())
    }

    /// Declared thresholds of `column` (empty if none, or not an encrypted column): chunks
    /// carry one indicator part `gt{k}` per edge.
    pub fn thresholds(&self, column: &str) -> &[i64] {
        self.column(column).map_or(&[], |c| c.thresholds())
    }

    /// Look a column up by SQL name (case-insensitive).
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Public columns, in declaration order (without the implicit `source` column).
    pub fn public_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns.iter().filter(|c| !c.is_encrypted())
    }

    /// Encrypted columns, in declaration order.
    pub fn encrypted_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns.iter().filter(|c| c.is_encrypted())
    }
}

/// Whether `s` is an identifier `[A-Za-z_][A-Za-z0-9_]*` of at most [`MAX_IDENTIFIER_LEN`]
/// bytes.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    s.len() <= MAX_IDENTIFIER_LEN && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// 1-based (line, column-in-characters) of byte offset `pos` in `text`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn check_keys(
    table: &Table,
    accepted: &'static [&'static str],
    place: &SchemaPlace,
) -> Result<(), SchemaError> {
    match table.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(key) => Err(SchemaError::UnknownKey {
            place: place.clone(),
            key: key.clone(),
            accepted,
        }),
        None => Ok(()),
    }
}

fn wrong_type(
    place: &SchemaPlace,
    key: &'static str,
    expected: &'static str,
    v: &Value,
) -> SchemaError {
    SchemaError::WrongType {
        place: place.clone(),
        key,
        expected,
        found: v.type_str(),
    }
}

fn missing(place: &SchemaPlace, key: &'static str, hint: &'static str) -> SchemaError {
    SchemaError::Missing {
        place: place.clone(),
        key,
        hint,
    }
}

fn unknown_value(
    place: &SchemaPlace,
    key: &'static str,
    value: &str,
    expected: &'static str,
) -> SchemaError {
    SchemaError::UnknownValue {
        place: place.clone(),
        key,
        value: value.to_string(),
        expected,
    }
}

/// The value of `key` in `table` as `convert` reads it; a value of another type (`convert`
/// gives `None`) is refused as not being `expected`.
fn get_typed<'a, T>(
    table: &'a Table,
    key: &'static str,
    place: &SchemaPlace,
    expected: &'static str,
    convert: impl FnOnce(&'a Value) -> Option<T>,
) -> Result<Option<T>, SchemaError> {
    table
        .get(key)
        .map(|v| convert(v).ok_or_else(|| wrong_type(place, key, expected, v)))
        .transpose()
}

fn get_str<'a>(
    table: &'a Table,
    key: &'static str,
    place: &SchemaPlace,
) -> Result<Option<&'a str>, SchemaError> {
    get_typed(table, key, place, "a string", Value::as_str)
}

fn get_bool(
    table: &Table,
    key: &'static str,
    place: &SchemaPlace,
) -> Result<Option<bool>, SchemaError> {
    get_typed(table, key, place, "true or false", Value::as_bool)
}

fn get_number(
    table: &Table,
    key: &'static str,
    place: &SchemaPlace,
) -> Result<Option<f64>, SchemaError> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::Float(f)) if f.is_finite() => Ok(Some(*f)),
        Some(Value::Float(_)) => Err(SchemaError::NotFinite {
            place: place.clone(),
            key,
        }),
        // Exactly representable as f64 (and far beyond any accepted range otherwise).
        Some(Value::Integer(i)) if i.unsigned_abs() > (1u64 << 53) => Err(SchemaError::TooLarge {
            place: place.clone(),
            key,
            value: *i,
        }),
        Some(Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(v) => Err(wrong_type(place, key, "a number", v)),
    }
}

fn parse_schema(table: &Table) -> Result<Schema, SchemaError> {
    let top = &SchemaPlace::Dataset;
    check_keys(table, TOP_KEYS, top)?;
    get_str(table, "description", top)?;
    let dataset = get_str(table, "dataset", top)?
        .ok_or_else(|| missing(top, "dataset", " (the SQL table name)"))?
        .to_string();
    if !is_identifier(&dataset) {
        return Err(SchemaError::BadDatasetName { name: dataset });
    }
    let stage_text = get_str(table, "stage", top)?
        .ok_or_else(|| missing(top, "stage", " (design, manufacturing or maintenance)"))?;
    let stage = Stage::parse(stage_text).ok_or_else(|| {
        unknown_value(
            top,
            "stage",
            stage_text,
            "design, manufacturing or maintenance",
        )
    })?;
    let csv = match table.get("csv") {
        None => CsvOptions::default(),
        Some(Value::Table(t)) => parse_csv(t)?,
        Some(v) => return Err(wrong_type(top, "csv", "a table", v)),
    };
    let cols = match table.get("columns") {
        None => return Err(missing(top, "columns", " (declare them with [[columns]])")),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(wrong_type(
                top,
                "columns",
                "an array of tables ([[columns]])",
                v,
            ))
        }
    };
    if cols.is_empty() {
        return Err(SchemaError::Empty {
            place: top.clone(),
            key: "columns",
            hint: ": declare at least one column",
        });
    }
    if cols.len() > MAX_COLUMNS {
        return Err(SchemaError::TooManyColumns { count: cols.len() });
    }
    let mut columns: Vec<ColumnSpec> = Vec::with_capacity(cols.len());
    for (index, v) in cols.iter().enumerate() {
        let Value::Table(t) = v else {
            return Err(SchemaError::ColumnNotTable {
                index,
                found: v.type_str(),
            });
        };
        let col = parse_column(t, index)?;
        if let Some(prev) = columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(&col.name))
        {
            return Err(SchemaError::DuplicateColumn {
                name: col.name,
                first: prev.name.clone(),
            });
        }
        columns.push(col);
    }
    let lanes = match get_str(table, "lanes", top)? {
        None => None,
        Some(name) => {
            let col = columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| SchemaError::LanesUnknown { name: name.into() })?;
            if col.is_encrypted() || col.nullable {
                return Err(SchemaError::LanesNotPublic { name: name.into() });
            }
            Some(col.name.clone())
        }
    };
    Ok(Schema {
        dataset,
        stage,
        csv,
        columns,
        lanes,
    })
}

fn parse_csv(t: &Table) -> Result<CsvOptions, SchemaError> {
    let place = &SchemaPlace::Csv;
    check_keys(t, CSV_KEYS, place)?;
    let header = get_bool(t, "header", place)?.unwrap_or(true);
    let delimiter = match get_str(t, "delimiter", place)? {
        None => Some(b','),
        Some(" ") | Some("whitespace") => None,
        Some(d) => match d.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Some(*b),
            _ => {
                return Err(SchemaError::BadDelimiter {
                    delimiter: d.to_string(),
                })
            }
        },
    };
    Ok(CsvOptions { delimiter, header })
}

fn parse_column(t: &Table, index: usize) -> Result<ColumnSpec, SchemaError> {
    let name = get_str(t, "name", &SchemaPlace::ColumnAt(index))?
        .ok_or_else(|| missing(&SchemaPlace::ColumnAt(index), "name", ""))?
        .to_string();
    if !is_identifier(&name) {
        return Err(SchemaError::BadColumnName { index, name });
    }
    let place = &SchemaPlace::Column(name.clone());
    check_keys(t, COLUMN_KEYS, place)?;
    if name.eq_ignore_ascii_case(SOURCE_COLUMN) {
        return Err(SchemaError::ReservedName { name });
    }
    for key in ["description", "unit"] {
        get_str(t, key, place)?;
    }
    let source = match get_str(t, "source", place)?.map(str::trim) {
        Some("") => {
            return Err(SchemaError::Empty {
                place: place.clone(),
                key: "source",
                hint: "",
            })
        }
        Some(s) => s.to_string(),
        None => name.clone(),
    };
    let nullable = get_bool(t, "nullable", place)?.unwrap_or(false);
    let key = match get_str(t, "role", place)? {
        None | Some("attribute") => false,
        Some("key") => true,
        Some(other) => return Err(unknown_value(place, "role", other, "key or attribute")),
    };
    let kind = match get_str(t, "kind", place)? {
        None => return Err(missing(place, "kind", " (public or encrypted)")),
        Some("public") => ColumnKind::Public(parse_public(t, place)?),
        Some("encrypted") => {
            if key {
                return Err(SchemaError::PublicOnly {
                    place: place.clone(),
                    what: "role \"key\"",
                    why: "an encrypted value identifies no row to anyone",
                });
            }
            ColumnKind::Encrypted(parse_encrypted(t, place)?)
        }
        Some(other) => return Err(unknown_value(place, "kind", other, "public or encrypted")),
    };
    Ok(ColumnSpec {
        name,
        source,
        kind,
        nullable,
        key,
    })
}

/// The type of a public column (`type`; none of the encrypted columns' keys).
fn parse_public(t: &Table, place: &SchemaPlace) -> Result<PublicType, SchemaError> {
    for key in ["scale", "min", "max", "usage", "thresholds", "round"] {
        if t.contains_key(key) {
            return Err(SchemaError::EncryptedOnly {
                place: place.clone(),
                key,
            });
        }
    }
    match get_str(t, "type", place)? {
        None => Err(missing(
            place,
            "type",
            " (integer, decimal or text) for a public column",
        )),
        Some("integer") => Ok(PublicType::Integer),
        Some("decimal") => Ok(PublicType::Decimal),
        Some("text") => Ok(PublicType::Text),
        Some(other) => Err(unknown_value(
            place,
            "type",
            other,
            "integer, decimal or text",
        )),
    }
}

/// The declaration of an encrypted column: scale, range, usage, thresholds.
fn parse_encrypted(t: &Table, place: &SchemaPlace) -> Result<EncryptedSpec, SchemaError> {
    if t.contains_key("type") {
        return Err(SchemaError::PublicOnly {
            place: place.clone(),
            what: "\"type\"",
            why: "encrypted columns are always numeric: declare scale, min and max",
        });
    }
    let scale = match t.get("scale") {
        None => {
            return Err(SchemaError::MissingScale {
                place: place.clone(),
            })
        }
        Some(Value::Integer(s)) => u32::try_from(*s)
            .ok()
            .filter(|s| *s <= MAX_SCALE)
            .ok_or_else(|| SchemaError::ScaleOutOfRange {
                place: place.clone(),
                scale: *s,
            })?,
        Some(v) => return Err(wrong_type(place, "scale", "an integer", v)),
    };
    let min = get_number(t, "min", place)?
        .ok_or_else(|| missing(place, "min", " for an encrypted column"))?;
    let max = get_number(t, "max", place)?
        .ok_or_else(|| missing(place, "max", " for an encrypted column"))?;
    if min > max {
        return Err(SchemaError::MinAboveMax {
            place: place.clone(),
            min,
            max,
        });
    }
    let codec = FixedPoint::new(scale, min, max).map_err(|e| SchemaError::Codec {
        place: place.clone(),
        reason: match e {
            ThreadError::Codec { reason } => reason,
            other => other.to_string(),
        },
    })?;
    let usage = match get_str(t, "usage", place)? {
        None | Some("product") => Usage::Product,
        Some("sum") => Usage::Sum,
        Some(other) => return Err(unknown_value(place, "usage", other, "product or sum")),
    };
    let thresholds = parse_thresholds(t, &codec, place)?;
    let round = get_bool(t, "round", place)?.unwrap_or(false);
    Ok(EncryptedSpec {
        codec,
        usage,
        thresholds,
        round,
    })
}

/// `thresholds = [...]`: numbers, strictly increasing, within [min, max], exact at the
/// column's scale, at most [`MAX_THRESHOLDS`]; kept as scaled integers.
fn parse_thresholds(
    t: &Table,
    codec: &FixedPoint,
    place: &SchemaPlace,
) -> Result<Vec<i64>, SchemaError> {
    let list = match t.get("thresholds") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(wrong_type(place, "thresholds", "an array of numbers", v)),
    };
    if list.is_empty() {
        return Err(SchemaError::Empty {
            place: place.clone(),
            key: "thresholds",
            hint: ": declare at least one edge or remove the key",
        });
    }
    if list.len() > MAX_THRESHOLDS {
        return Err(SchemaError::TooManyThresholds {
            place: place.clone(),
            count: list.len(),
        });
    }
    let mut out: Vec<i64> = Vec::with_capacity(list.len());
    for (index, v) in list.iter().enumerate() {
        let value = match v {
            Value::Float(f) if f.is_finite() => *f,
            Value::Integer(n) if n.unsigned_abs() <= 1u64 << 53 => *n as f64,
            other => {
                return Err(SchemaError::ThresholdNotNumber {
                    place: place.clone(),
                    index,
                    found: match other {
                        Value::Float(_) | Value::Integer(_) => other.to_string(),
                        _ => other.type_str().to_string(),
                    },
                })
            }
        };
        // `{}` on f64 prints the shortest text that reads back to the same number.
        let scaled = codec.scaled_exact(&format!("{value}")).ok_or_else(|| {
            SchemaError::ThresholdNotExact {
                place: place.clone(),
                value,
                scale: codec.scale,
            }
        })?;
        if scaled < codec.min_scaled || scaled > codec.max_scaled {
            return Err(SchemaError::ThresholdOutOfRange {
                place: place.clone(),
                value,
                min: codec.min_text(),
                max: codec.max_text(),
            });
        }
        if let Some(&prev) = out.last().filter(|&&prev| scaled <= prev) {
            return Err(SchemaError::ThresholdsNotIncreasing {
                place: place.clone(),
                value,
                previous: codec.scaled_text(prev),
            });
        }
        out.push(scaled);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["a", "_", "engines", "S2", "a_1"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "é", "a.b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
        assert!(!is_identifier(&"a".repeat(MAX_IDENTIFIER_LEN + 1)));
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncé\nx", 0), (1, 1));
        assert_eq!(line_col("ab\ncé\nx", 3), (2, 1));
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("ab\ncé\nx", 6), (2, 3));
    }
}
