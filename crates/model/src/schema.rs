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

use crate::encoding::{FixedPoint, MAX_SCALE, MAX_SCALED_MAGNITUDE};
use crate::error::ThreadError;
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
        parse_schema(&table).map_err(|message| ThreadError::Schema {
            origin: origin.to_string(),
            message,
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

fn check_keys(table: &Table, allowed: &[&str], place: &str) -> Result<(), String> {
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!(
                "{place}unknown key \"{key}\" (accepted keys: {})",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    v.type_str()
}

fn get_str<'a>(table: &'a Table, key: &str, place: &str) -> Result<Option<&'a str>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(v) => Err(format!(
            "{place}\"{key}\" must be a string, found {}",
            type_name(v)
        )),
    }
}

fn get_bool(table: &Table, key: &str, place: &str) -> Result<Option<bool>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(v) => Err(format!(
            "{place}\"{key}\" must be true or false, found {}",
            type_name(v)
        )),
    }
}

fn get_number(table: &Table, key: &str, place: &str) -> Result<Option<f64>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::Float(f)) if f.is_finite() => Ok(Some(*f)),
        Some(Value::Float(_)) => Err(format!("{place}\"{key}\" must be a finite number")),
        Some(Value::Integer(i)) => {
            // Exactly representable as f64 (and far beyond any accepted range otherwise).
            if i.unsigned_abs() > (1u64 << 53) {
                Err(format!(
                    "{place}\"{key}\" ({i}) exceeds the supported magnitude 2^40 \
                     ({MAX_SCALED_MAGNITUDE})"
                ))
            } else {
                Ok(Some(*i as f64))
            }
        }
        Some(v) => Err(format!(
            "{place}\"{key}\" must be a number, found {}",
            type_name(v)
        )),
    }
}

fn parse_schema(table: &Table) -> Result<Schema, String> {
    check_keys(table, TOP_KEYS, "")?;
    if let Some(v) = table.get("description") {
        if !v.is_str() {
            return Err("\"description\" must be a string".to_string());
        }
    }
    let dataset = get_str(table, "dataset", "")?
        .ok_or("missing \"dataset\" (the SQL table name)")?
        .to_string();
    if !is_identifier(&dataset) {
        return Err(format!(
            "\"dataset\" = \"{dataset}\" is not an identifier \
             ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_IDENTIFIER_LEN} characters)"
        ));
    }
    let stage_text = get_str(table, "stage", "")?
        .ok_or("missing \"stage\" (design, manufacturing or maintenance)")?;
    let stage = Stage::parse(stage_text).ok_or_else(|| {
        format!("unknown stage \"{stage_text}\" (expected design, manufacturing or maintenance)")
    })?;
    let csv = match table.get("csv") {
        None => CsvOptions::default(),
        Some(Value::Table(t)) => parse_csv(t)?,
        Some(v) => return Err(format!("\"csv\" must be a table, found {}", type_name(v))),
    };
    let cols = match table.get("columns") {
        None => return Err("missing \"columns\" (declare them with [[columns]])".to_string()),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(format!(
                "\"columns\" must be an array of tables ([[columns]]), found {}",
                type_name(v)
            ))
        }
    };
    if cols.is_empty() {
        return Err("\"columns\" is empty: declare at least one column".to_string());
    }
    if cols.len() > MAX_COLUMNS {
        return Err(format!(
            "{} columns declared; at most {MAX_COLUMNS} are supported",
            cols.len()
        ));
    }
    let mut columns: Vec<ColumnSpec> = Vec::with_capacity(cols.len());
    for (i, v) in cols.iter().enumerate() {
        let t = match v {
            Value::Table(t) => t,
            other => {
                return Err(format!(
                    "columns[{i}] must be a table, found {}",
                    type_name(other)
                ))
            }
        };
        let col = parse_column(t, i)?;
        if let Some(prev) = columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(&col.name))
        {
            return Err(format!(
                "column \"{}\" is declared twice (column names are case-insensitive; \
                 first declared as \"{}\")",
                col.name, prev.name
            ));
        }
        columns.push(col);
    }
    let lanes = match get_str(table, "lanes", "")? {
        None => None,
        Some(name) => {
            let col = columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("\"lanes\" = \"{name}\" names no declared column"))?;
            if col.is_encrypted() || col.nullable {
                return Err(format!(
                    "\"lanes\" = \"{name}\" must name a public, non-nullable column (the product id)"
                ));
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

fn parse_csv(t: &Table) -> Result<CsvOptions, String> {
    check_keys(t, CSV_KEYS, "[csv]: ")?;
    let header = get_bool(t, "header", "[csv]: ")?.unwrap_or(true);
    let delimiter = match get_str(t, "delimiter", "[csv]: ")? {
        None => Some(b','),
        Some(" ") | Some("whitespace") => None,
        Some(d) => {
            let bytes = d.as_bytes();
            if bytes.len() != 1 || !bytes[0].is_ascii() || matches!(bytes[0], b'"' | b'\n' | b'\r')
            {
                return Err(format!(
                    "[csv]: delimiter {d:?} is not supported (use one ASCII character such as \
                     \",\", \";\" or \"\\t\", or \"whitespace\")"
                ));
            }
            Some(bytes[0])
        }
    };
    Ok(CsvOptions { delimiter, header })
}

fn parse_column(t: &Table, index: usize) -> Result<ColumnSpec, String> {
    let anon = format!("columns[{index}]: ");
    let name = get_str(t, "name", &anon)?
        .ok_or_else(|| format!("{anon}missing \"name\""))?
        .to_string();
    if !is_identifier(&name) {
        return Err(format!(
            "{anon}column name \"{name}\" is not an identifier \
             ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_IDENTIFIER_LEN} characters)"
        ));
    }
    let place = format!("column \"{name}\": ");
    check_keys(t, COLUMN_KEYS, &place)?;
    if name.eq_ignore_ascii_case(SOURCE_COLUMN) {
        return Err(format!(
            "{place}the name \"{SOURCE_COLUMN}\" is reserved (every dataset has an implicit \
             public column \"{SOURCE_COLUMN}\" naming the data owner); rename the column and \
             keep the CSV header with source = \"{name}\""
        ));
    }
    for key in ["description", "unit"] {
        get_str(t, key, &place)?;
    }
    let source = match get_str(t, "source", &place)? {
        Some(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Err(format!("{place}\"source\" is empty"));
            }
            s.to_string()
        }
        None => name.clone(),
    };
    let nullable = get_bool(t, "nullable", &place)?.unwrap_or(false);
    let key = match get_str(t, "role", &place)? {
        None | Some("attribute") => false,
        Some("key") => true,
        Some(other) => {
            return Err(format!(
                "{place}unknown role \"{other}\" (expected key or attribute)"
            ))
        }
    };
    let kind_text = get_str(t, "kind", &place)?
        .ok_or_else(|| format!("{place}missing \"kind\" (public or encrypted)"))?;
    let kind = match kind_text {
        "public" => {
            for key in ["scale", "min", "max", "usage", "thresholds", "round"] {
                if t.contains_key(key) {
                    return Err(format!(
                        "{place}\"{key}\" applies only to encrypted columns (this one is public)"
                    ));
                }
            }
            let ty = get_str(t, "type", &place)?.ok_or_else(|| {
                format!("{place}missing \"type\" (integer, decimal or text) for a public column")
            })?;
            let ty = match ty {
                "integer" => PublicType::Integer,
                "decimal" => PublicType::Decimal,
                "text" => PublicType::Text,
                other => {
                    return Err(format!(
                        "{place}unknown type \"{other}\" (expected integer, decimal or text)"
                    ))
                }
            };
            ColumnKind::Public(ty)
        }
        "encrypted" => {
            if key {
                return Err(format!(
                    "{place}role \"key\" applies only to public columns (an encrypted value \
                     identifies no row to anyone)"
                ));
            }
            if t.contains_key("type") {
                return Err(format!(
                    "{place}\"type\" applies only to public columns (encrypted columns are \
                     always numeric: declare scale, min and max)"
                ));
            }
            let scale = match t.get("scale") {
                None => {
                    return Err(format!(
                        "{place}missing \"scale\" (decimal digits kept, 0..={MAX_SCALE}) for an \
                         encrypted column"
                    ))
                }
                Some(Value::Integer(s)) if (0..=i64::from(MAX_SCALE)).contains(s) => *s as u32,
                Some(Value::Integer(s)) => {
                    return Err(format!(
                        "{place}scale {s} is out of range (0..={MAX_SCALE})"
                    ))
                }
                Some(v) => {
                    return Err(format!(
                        "{place}\"scale\" must be an integer, found {}",
                        type_name(v)
                    ))
                }
            };
            let min = get_number(t, "min", &place)?
                .ok_or_else(|| format!("{place}missing \"min\" for an encrypted column"))?;
            let max = get_number(t, "max", &place)?
                .ok_or_else(|| format!("{place}missing \"max\" for an encrypted column"))?;
            if min > max {
                return Err(format!("{place}min ({min}) is greater than max ({max})"));
            }
            let codec = FixedPoint::new(scale, min, max).map_err(|e| match e {
                ThreadError::Codec { reason } => format!("{place}{reason}"),
                other => format!("{place}{other}"),
            })?;
            let usage = match get_str(t, "usage", &place)? {
                None | Some("product") => Usage::Product,
                Some("sum") => Usage::Sum,
                Some(other) => {
                    return Err(format!(
                        "{place}unknown usage \"{other}\" (expected product or sum)"
                    ))
                }
            };
            let thresholds = parse_thresholds(t, &codec, &place)?;
            let round = get_bool(t, "round", &place)?.unwrap_or(false);
            ColumnKind::Encrypted(EncryptedSpec {
                codec,
                usage,
                thresholds,
                round,
            })
        }
        other => {
            return Err(format!(
                "{place}unknown kind \"{other}\" (expected public or encrypted)"
            ))
        }
    };
    Ok(ColumnSpec {
        name,
        source,
        kind,
        nullable,
        key,
    })
}

/// `thresholds = [...]`: numbers, strictly increasing, within [min, max], exact at the
/// column's scale, at most [`MAX_THRESHOLDS`]; kept as scaled integers.
fn parse_thresholds(t: &Table, codec: &FixedPoint, place: &str) -> Result<Vec<i64>, String> {
    let list = match t.get("thresholds") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(format!(
                "{place}\"thresholds\" must be an array of numbers, found {}",
                type_name(v)
            ))
        }
    };
    if list.is_empty() {
        return Err(format!(
            "{place}\"thresholds\" is empty: declare at least one edge or remove the key"
        ));
    }
    if list.len() > MAX_THRESHOLDS {
        return Err(format!(
            "{place}{} thresholds declared; at most {MAX_THRESHOLDS} are supported",
            list.len()
        ));
    }
    let mut out: Vec<i64> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let x = match v {
            Value::Float(f) if f.is_finite() => *f,
            Value::Integer(n) if n.unsigned_abs() <= 1u64 << 53 => *n as f64,
            other => {
                return Err(format!(
                    "{place}thresholds[{i}] must be a finite number, found {}",
                    match other {
                        Value::Float(_) | Value::Integer(_) => other.to_string(),
                        _ => type_name(other).to_string(),
                    }
                ))
            }
        };
        // `{}` on f64 prints the shortest text that reads back to the same number.
        let scaled = codec.scaled_exact(&format!("{x}")).ok_or_else(|| {
            format!(
                "{place}threshold {x} is not exactly representable at scale {} (at most {} \
                 decimal digit{})",
                codec.scale,
                codec.scale,
                if codec.scale == 1 { "" } else { "s" }
            )
        })?;
        if scaled < codec.min_scaled || scaled > codec.max_scaled {
            return Err(format!(
                "{place}threshold {x} is outside the declared range [{}, {}]",
                codec.min_text(),
                codec.max_text()
            ));
        }
        if let Some(&prev) = out.last() {
            if scaled <= prev {
                return Err(format!(
                    "{place}thresholds must be strictly increasing: {x} follows {}",
                    codec.scaled_text(prev)
                ));
            }
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
