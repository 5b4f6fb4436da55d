//! Reading a source's CSV export into checked, encoded columns, all or nothing.
//!
//! Layout rules (from [`CsvOptions`](crate::CsvOptions)):
//! - a UTF-8 byte-order mark at the start of the file is ignored; lines may end in `\n` or
//!   `\r\n`; blank lines (empty or whitespace only) are skipped;
//! - with a delimiter character, fields are split by the `csv` crate (RFC 4180 quoting);
//!   with `delimiter = "whitespace"` each line is split on runs of ASCII whitespace
//!   (leading and trailing whitespace ignored, as in NASA C-MAPSS files);
//! - with a header, each schema column is read from the header field equal to its `source`
//!   (both trimmed); other CSV columns are ignored, but every data row must have as many
//!   fields as the header; without a header, the schema columns are the row's fields in
//!   order and every row must have exactly as many fields as the schema has columns;
//! - fields are trimmed; an empty field is NULL, allowed only in `nullable` columns.
//!
//! Any problem aborts the whole file with a [`ThreadError`] naming the file, the 1-based line
//! (the header is line 1) and the column. The value of an encrypted column is never quoted
//! in an error: it is confidential.

use crate::encoding::EncodeError;
use crate::error::ThreadError;
use crate::schema::{ColumnKind, ColumnSpec, PublicType, Schema};
use std::path::Path;

/// Longest text accepted in a public text column, in bytes (64 KiB).
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// Longest excerpt of a public value quoted in an error message, in characters.
const QUOTE_LEN: usize = 40;

/// A clear value of a public column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL (empty field).
    Null,
    /// Integer.
    Int(i64),
    /// Decimal.
    Dec(f64),
    /// Text.
    Text(String),
}

/// How a public value is shown to people (a product's thread, a group's name): `NULL`, the
/// number, or the text as it is.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Dec(d) => write!(f, "{d}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// One public column of a table, in row order.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicColumn {
    /// SQL column name.
    pub name: String,
    /// Values, one per row.
    pub values: Vec<Value>,
}

/// One encrypted column, encoded but not yet encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedColumn {
    /// SQL column name.
    pub name: String,
    /// Centred fixed-point values; 0 where the field is NULL.
    pub values: Vec<i64>,
    /// Presence flags (false = NULL). All true for non-nullable columns.
    pub present: Vec<bool>,
}

/// A whole CSV file, validated against its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Number of data rows.
    pub rows: usize,
    /// Public columns in schema order.
    pub public: Vec<PublicColumn>,
    /// Encrypted columns in schema order.
    pub encrypted: Vec<EncodedColumn>,
}

/// Read and validate a CSV file. Any bad field aborts the whole file.
///
/// The file is read whole, then checked by [`read_csv_bytes`] with the path as origin.
pub fn read_csv_file(path: &Path, schema: &Schema) -> Result<Table, ThreadError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ThreadError::Io {
        origin: origin.clone(),
        source,
    })?;
    read_csv_bytes(&bytes, &origin, schema)
}

/// A CSV reader for a schema's delimited layout (`[csv] delimiter`): no header handling
/// (the caller maps the header itself), records of any length (the caller names a wrong
/// count). The ingest and the plaintext reference read files the same way through it.
pub fn delimited_reader<R: std::io::Read>(delimiter: u8, input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(input)
}

/// Read and validate CSV bytes; `origin` names the source in errors.
///
/// Returns the whole table or the first error; never a partial table.
pub fn read_csv_bytes(bytes: &[u8], origin: &str, schema: &Schema) -> Result<Table, ThreadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut builder = Builder::new(origin, schema);
    match schema.csv.delimiter {
        Some(d) => {
            let mut reader = delimited_reader(d, bytes);
            let mut record = csv::ByteRecord::new();
            let mut lines = LineCounter { pos: 0, line: 1 };
            loop {
                let more = reader.read_byte_record(&mut record).map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    ThreadError::Csv {
                        origin: origin.to_string(),
                        line,
                        column: None,
                        reason: format!("malformed CSV: {e}"),
                    }
                })?;
                if !more {
                    break;
                }
                // The csv crate's own line numbers point at where it started reading (before
                // skipped blank lines and the '\n' of a CRLF), so compute the record's first
                // line from its byte offset instead.
                let mut start = record.position().map_or(0, |p| p.byte() as usize);
                while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
                    start += 1;
                }
                let line = lines.line_at(bytes, start);
                let fields: Vec<&[u8]> = record.iter().collect();
                builder.record(line, &fields)?;
            }
        }
        None => {
            let mut fields: Vec<&[u8]> = Vec::new();
            for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                fields.clear();
                fields.extend(
                    line.split(|b| b.is_ascii_whitespace())
                        .filter(|f| !f.is_empty()),
                );
                builder.record(i + 1, &fields)?;
            }
        }
    }
    builder.finish()
}

/// Incremental "which line is byte offset N on" for monotonically increasing offsets.
struct LineCounter {
    pos: usize,
    line: usize,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], pos: usize) -> usize {
        let pos = pos.min(bytes.len());
        if pos < self.pos {
            *self = LineCounter { pos: 0, line: 1 };
        }
        self.line += bytes[self.pos..pos].iter().filter(|&&b| b == b'\n').count();
        self.pos = pos;
        self.line
    }
}

/// Where the value of one schema column is found in a record, and where it goes.
enum Sink {
    Public {
        ty: PublicType,
        values: Vec<Value>,
    },
    Encrypted {
        spec: crate::schema::EncryptedSpec,
        values: Vec<i64>,
        present: Vec<bool>,
    },
}

struct Builder<'a> {
    origin: &'a str,
    schema: &'a Schema,
    /// Field index of each schema column; known after the header (or at once without one).
    index: Option<Vec<usize>>,
    /// Number of fields every data row must have.
    expected: usize,
    sinks: Vec<Sink>,
    rows: usize,
}

impl<'a> Builder<'a> {
    fn new(origin: &'a str, schema: &'a Schema) -> Self {
        let sinks = schema
            .columns
            .iter()
            .map(|c| match &c.kind {
                ColumnKind::Public(ty) => Sink::Public {
                    ty: *ty,
                    values: Vec::new(),
                },
                ColumnKind::Encrypted(spec) => Sink::Encrypted {
                    spec: spec.clone(),
                    values: Vec::new(),
                    present: Vec::new(),
                },
            })
            .collect();
        let (index, expected) = if schema.csv.header {
            (None, 0)
        } else {
            (
                Some((0..schema.columns.len()).collect()),
                schema.columns.len(),
            )
        };
        Builder {
            origin,
            schema,
            index,
            expected,
            sinks,
            rows: 0,
        }
    }

    fn err(&self, line: usize, column: Option<&ColumnSpec>, reason: String) -> ThreadError {
        ThreadError::Csv {
            origin: self.origin.to_string(),
            line,
            column: column.map(|c| c.name.clone()),
            reason,
        }
    }

    fn record(&mut self, line: usize, fields: &[&[u8]]) -> Result<(), ThreadError> {
        // Blank line (or whitespace only): skipped.
        if fields.len() <= 1 && fields.iter().all(|f| f.trim_ascii().is_empty()) {
            return Ok(());
        }
        let Some(index) = self.index.take() else {
            let index = self.header(line, fields)?;
            self.index = Some(index);
            self.expected = fields.len();
            return Ok(());
        };
        let result = self.data_row(line, fields, &index);
        self.index = Some(index);
        result
    }

    fn header(&self, line: usize, fields: &[&[u8]]) -> Result<Vec<usize>, ThreadError> {
        let mut names = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            let s = std::str::from_utf8(f).map_err(|_| {
                self.err(
                    line,
                    None,
                    format!("header field {} is not valid UTF-8 text", i + 1),
                )
            })?;
            names.push(s.trim());
        }
        let mut index = Vec::with_capacity(self.schema.columns.len());
        for col in &self.schema.columns {
            let mut hits = names
                .iter()
                .enumerate()
                .filter(|(_, n)| **n == col.source)
                .map(|(i, _)| i);
            let Some(first) = hits.next() else {
                return Err(self.err(
                    line,
                    Some(col),
                    format!(
                        "the header has no column \"{}\" (the header names: {})",
                        col.source,
                        quote_list(&names)
                    ),
                ));
            };
            if hits.next().is_some() {
                return Err(self.err(
                    line,
                    Some(col),
                    format!(
                        "the header names \"{}\" more than once; cannot tell which to read",
                        col.source
                    ),
                ));
            }
            index.push(first);
        }
        Ok(index)
    }

    fn data_row(
        &mut self,
        line: usize,
        fields: &[&[u8]],
        index: &[usize],
    ) -> Result<(), ThreadError> {
        if fields.len() != self.expected {
            return Err(self.err(
                line,
                None,
                format!(
                    "wrong column count: expected {}, found {}",
                    self.expected,
                    fields.len()
                ),
            ));
        }
        // On error the whole builder is dropped, so a half-stored row never escapes.
        for (j, &i) in index.iter().enumerate() {
            let col = &self.schema.columns[j];
            let raw = fields[i];
            let text = match std::str::from_utf8(raw) {
                Ok(t) => t.trim(),
                Err(_) => {
                    return Err(self.err(line, Some(col), "not valid UTF-8 text".to_string()))
                }
            };
            if text.is_empty() && !col.nullable {
                return Err(self.err(
                    line,
                    Some(col),
                    "empty field (NULL) in a column that is not nullable".to_string(),
                ));
            }
            let parsed = match &self.sinks[j] {
                Sink::Public { ty, .. } => parse_public(*ty, text)
                    .map(Parsed::Public)
                    .map_err(|e| e.to_string()),
                Sink::Encrypted { spec, .. } => {
                    if text.is_empty() {
                        Ok(Parsed::Encrypted(None))
                    } else {
                        spec.codec
                            .encode_with(text, spec.round)
                            .map(|v| Parsed::Encrypted(Some(v)))
                            .map_err(|e| match e {
                                // The value is confidential: the reason never quotes it.
                                EncodeError::NotANumber => "not a decimal number".to_string(),
                                e @ EncodeError::TooManyDecimals { .. } => e.to_string(),
                                EncodeError::OutOfRange { min, max } => {
                                    format!("value outside the declared range [{min}, {max}]")
                                }
                            })
                    }
                }
            };
            let parsed = parsed.map_err(|reason| self.err(line, Some(col), reason))?;
            match (&mut self.sinks[j], parsed) {
                (Sink::Public { values, .. }, Parsed::Public(v)) => values.push(v),
                (
                    Sink::Encrypted {
                        values, present, ..
                    },
                    Parsed::Encrypted(v),
                ) => {
                    values.push(v.unwrap_or(0));
                    present.push(v.is_some());
                }
                // Each sink only ever receives its own kind.
                _ => {}
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> Result<Table, ThreadError> {
        if self.rows == 0 {
            return Err(ThreadError::NoDataRows {
                origin: self.origin.to_string(),
            });
        }
        let mut public = Vec::new();
        let mut encrypted = Vec::new();
        for (col, sink) in self.schema.columns.iter().zip(self.sinks) {
            match sink {
                Sink::Public { values, .. } => public.push(PublicColumn {
                    name: col.name.clone(),
                    values,
                }),
                Sink::Encrypted {
                    values, present, ..
                } => encrypted.push(EncodedColumn {
                    name: col.name.clone(),
                    values,
                    present,
                }),
            }
        }
        Ok(Table {
            rows: self.rows,
            public,
            encrypted,
        })
    }
}

enum Parsed {
    Public(Value),
    Encrypted(Option<i64>),
}

/// Why a public field does not parse (its text is public, so it may be quoted).
#[derive(Debug, thiserror::Error)]
enum PublicFieldError {
    #[error("not an integer: {0}")]
    NotInteger(String),
    #[error("not a decimal number: {0}")]
    NotDecimal(String),
    #[error("text of {0} bytes is longer than the limit of {MAX_TEXT_LEN}")]
    TextTooLong(usize),
    #[error("{0}")]
    Control(ControlCharError),
}

/// Parse a trimmed public field; the error reason may quote the (public) value.
fn parse_public(ty: PublicType, text: &str) -> Result<Value, PublicFieldError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match ty {
        PublicType::Integer => text
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| PublicFieldError::NotInteger(quote(text))),
        PublicType::Decimal => match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Dec(x)),
            _ => Err(PublicFieldError::NotDecimal(quote(text))),
        },
        PublicType::Text => {
            if text.len() > MAX_TEXT_LEN {
                Err(PublicFieldError::TextTooLong(text.len()))
            } else {
                check_public_text(text).map_err(PublicFieldError::Control)?;
                Ok(Value::Text(text.to_string()))
            }
        }
    }
}

/// A public value quoted for an error message, shortened and with control characters escaped.
fn quote(text: &str) -> String {
    let short: String = text.chars().take(QUOTE_LEN).collect();
    let ellipsis = if short.len() < text.len() { "…" } else { "" };
    format!("\"{}{ellipsis}\"", short.escape_debug())
}

fn quote_list(names: &[&str]) -> String {
    const MAX: usize = 30;
    let mut out: Vec<String> = names.iter().take(MAX).map(|n| quote(n)).collect();
    if names.len() > MAX {
        out.push(format!("… {} more", names.len() - MAX));
    }
    out.join(", ")
}

/// A public text value holds a control character: refused at ingest (CSV, agent upload,
/// platform), so no stored text can carry a NUL or a terminal escape sequence into a
/// report, a log or an analyst's terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text holds the control character {code} at character {position}; NUL, escape, bell and other control characters (C0, DEL, C1; tab excepted) are not accepted in text")]
pub struct ControlCharError {
    /// The character as `U+XXXX` (never the text around it).
    pub code: String,
    /// Its position in the value, counting characters from 1.
    pub position: usize,
}

/// Whether `c` is refused in public text: C0 controls except tab, DEL, and C1 controls.
pub fn is_refused_control(c: char) -> bool {
    // `is_control` is Unicode's Cc category: C0, DEL and C1.
    c.is_control() && c != '\t'
}

/// Checks a public text value for control characters (see [`ControlCharError`]).
pub fn check_public_text(text: &str) -> Result<(), ControlCharError> {
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| is_refused_control(*c))
    {
        Some((i, c)) => Err(ControlCharError {
            code: format!("U+{:04X}", u32::from(c)),
            position: i + 1,
        }),
        None => Ok(()),
    }
}
