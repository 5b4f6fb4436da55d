//! Documents of the shop floor and of engineering, read into the rows of a dataset: ISA-95
//! B2MML production performance and job responses ([`b2mml`]), MTConnect streams
//! ([`mtconnect`]), Asset Administration Shell submodels ([`aas`], also the export of released
//! aggregates as a submodel), CAD / PLM parameter exports ([`cad`]) and STEP file headers
//! ([`step`]).
//!
//! Every format turns a document into *raw rows* (one text per schema column, by column
//! name) that are then checked and encoded exactly as CSV rows are
//! ([`crate::mqtt::decode::RowChecker`], the model's CSV row check: types, ranges, scale,
//! nulls), so a document and a CSV export of the same rows make the same table and the
//! ingest after it (`dtfhe ingest --format …`) is the CSV path's. The whole document is
//! read and checked before anything is stored: one bad element rejects the document, and
//! the error lists *every* rejected element with its line and element path. No message
//! quotes the text of a document element (a value may be confidential): only names,
//! positions and the reason.

pub mod aas;
pub mod b2mml;
pub mod cad;
pub mod irdi;
pub mod mtconnect;
pub mod step;
pub mod time_series;
pub mod xml;

use std::collections::BTreeMap;
use std::fmt;

use dtfhe_model::{Schema, Table, ThreadError};

use crate::mqtt::decode::{append, RawRow, RowChecker};

/// Most problems listed in one error (the count says how many there were in all).
pub const MAX_LISTED_PROBLEMS: usize = 50;

/// The document formats `dtfhe ingest --format` reads besides CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    /// ISA-95 B2MML (V0600/V0700) ProductionPerformance or JobResponse XML.
    B2mml,
    /// An MTConnectStreams document (an agent's `/sample` or `/current` response).
    MtConnect,
    /// An Asset Administration Shell V3 JSON environment (Nameplate, TechnicalData,
    /// TimeSeries submodels; properties by semanticId).
    Aas,
    /// A CAD / PLM engineering-parameter export (CSV `part,parameter,value` lines or JSON),
    /// one row per part.
    CadParameters,
}

impl DocumentFormat {
    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DocumentFormat::B2mml => "b2mml",
            DocumentFormat::MtConnect => "mtconnect",
            DocumentFormat::Aas => "aas",
            DocumentFormat::CadParameters => "cad",
        }
    }
}

/// One rejected element: where it is and why, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the element in the document; 0 where the format keeps no lines
    /// (JSON: the path says where).
    pub line: usize,
    /// Element path from the root: XML with the 1-based index among same-named siblings
    /// (`/ProductionPerformance/ProductionResponse[2]/SegmentResponse[1]`), JSON as a JSON
    /// pointer (`/submodels/4/submodelElements/1`).
    pub path: String,
    /// Schema column concerned, when one is.
    pub column: Option<String>,
    /// What is wrong (names and positions only).
    pub reason: String,
}

impl Problem {
    /// A problem at `line` (0: none) and `path`, about `column` if any.
    pub(crate) fn new(
        line: usize,
        path: String,
        column: Option<&str>,
        reason: impl Into<String>,
    ) -> Problem {
        Problem {
            line,
            path,
            column: column.map(str::to_string),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {} ", self.line)?;
        }
        f.write_str(&self.path)?;
        if let Some(c) = &self.column {
            write!(f, ", column \"{c}\"")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The listed problems, at most [`MAX_LISTED_PROBLEMS`].
struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0.iter().take(MAX_LISTED_PROBLEMS) {
            write!(f, "\n  {p}")?;
        }
        if self.0.len() > MAX_LISTED_PROBLEMS {
            write!(f, "\n  … {} more", self.0.len() - MAX_LISTED_PROBLEMS)?;
        }
        Ok(())
    }
}

/// Why a document was refused whole (nothing of it is stored). Messages name the document,
/// lines, element paths and columns, never an element's text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The document is larger than the format's limit.
    #[error("{origin}: {bytes} bytes is larger than the limit of {limit}")]
    TooLarge {
        /// The document.
        origin: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Not well-formed XML (or not UTF-8).
    #[error("{origin} line {line}: not well-formed XML: {reason}")]
    Xml {
        /// The document.
        origin: String,
        /// 1-based line of the defect.
        line: usize,
        /// The kind of defect.
        reason: String,
    },
    /// Not JSON (the parser's category and position, never the text).
    #[error("{origin} line {line} column {column}: not JSON: {reason}")]
    Json {
        /// The document.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The kind of defect.
        reason: String,
    },
    /// Well-formed, but not a document of the format (wrong root element).
    #[error("{origin}: not a {format} document: {reason}")]
    NotThisFormat {
        /// The document.
        origin: String,
        /// The expected format.
        format: &'static str,
        /// What was found instead.
        reason: String,
    },
    /// Elements of the document were rejected (all of them listed).
    #[error("{origin}: {} rejected element{}:{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, ProblemList(.problems))]
    Rejected {
        /// The document.
        origin: String,
        /// Every rejected element.
        problems: Vec<Problem>,
    },
    /// The document holds no row for the dataset.
    #[error("{origin}: no rows for dataset `{dataset}` in the document")]
    NoRows {
        /// The document.
        origin: String,
        /// The dataset.
        dataset: String,
    },
}

/// What a document gave besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentNotes {
    /// Observations whose value was `UNAVAILABLE` (MTConnect): counted, never stored.
    pub unavailable: usize,
    /// Observations of data items the mapping does not name (MTConnect): skipped.
    pub unmapped: usize,
    /// The `nextSequence` of an MTConnect streams header: where the next `/sample?from=`
    /// poll starts.
    pub next_sequence: Option<u64>,
}

/// A document read into a checked table.
#[derive(Debug, Clone)]
pub struct Document {
    /// The rows, checked and encoded exactly as CSV rows.
    pub table: Table,
    /// Counts and the next poll position.
    pub notes: DocumentNotes,
}

/// Reads `bytes` (a document of `format`, named `origin` in errors) into the rows of
/// `schema`'s dataset, checked as CSV rows. The mapping is the schema's: each column's
/// `source` names the field it is filled from (see each format's module). The whole
/// document is checked before the table is returned, so a caller stores all of it or
/// nothing.
pub fn read_document(
    format: DocumentFormat,
    bytes: &[u8],
    origin: &str,
    schema: &Schema,
) -> Result<Document, FormatError> {
    match format {
        DocumentFormat::B2mml => b2mml::read(bytes, origin, schema),
        DocumentFormat::MtConnect => mtconnect::read(bytes, origin, schema),
        DocumentFormat::Aas => aas::read(bytes, origin, schema),
        DocumentFormat::CadParameters => cad::read(bytes, origin, schema),
    }
}

/// A row read from a document, before checking: its place and its fields by column name.
#[derive(Debug, Clone, Default)]
pub(crate) struct DocRow {
    pub line: usize,
    pub path: String,
    pub fields: BTreeMap<String, String>,
    /// Where a column's value came from, when not the row's element (line, path).
    pub places: BTreeMap<String, (usize, String)>,
}

/// Checks every row (collecting every problem) into one table.
pub(crate) fn check_rows(
    rows: &[DocRow],
    mut problems: Vec<Problem>,
    origin: &str,
    schema: &Schema,
) -> Result<Table, FormatError> {
    let checker = RowChecker::new(schema);
    let mut table: Option<Table> = None;
    for row in rows {
        let raw: RawRow = schema
            .columns
            .iter()
            .map(|c| row.fields.get(&c.name).cloned())
            .collect();
        match checker.check(&raw, origin) {
            Ok(t) => match &mut table {
                Some(all) => append(all, t),
                None => table = Some(t),
            },
            Err(e) => {
                let (column, reason) = match e {
                    ThreadError::Csv { column, reason, .. } => (column, reason),
                    other => (None, other.to_string()),
                };
                let (line, path) = column
                    .as_ref()
                    .and_then(|c| row.places.get(c))
                    .map_or((row.line, row.path.clone()), |(l, p)| (*l, p.clone()));
                problems.push(Problem {
                    line,
                    path,
                    column,
                    reason,
                });
            }
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(FormatError::Rejected {
            origin: origin.to_string(),
            problems,
        });
    }
    table.ok_or_else(|| FormatError::NoRows {
        origin: origin.to_string(),
        dataset: schema.dataset.clone(),
    })
}

/// An exact decimal in millionths, parsed from document text without floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Micro(pub i128);

impl Micro {
    /// Millionths per unit.
    pub const ONE: i128 = 1_000_000;

    /// `[+-]digits[.digits]`, at most 6 decimals and 24 integer digits; `None` otherwise.
    pub fn parse(text: &str) -> Option<Micro> {
        let t = text.trim();
        let (neg, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if (int.is_empty() && frac.is_empty())
            || int.len() > 24
            || frac.len() > 6
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut v: i128 = 0;
        for b in int.bytes() {
            v = v * 10 + i128::from(b - b'0');
        }
        let mut f: i128 = 0;
        for i in 0..6 {
            f = f * 10 + frac.as_bytes().get(i).map_or(0, |b| i128::from(b - b'0'));
        }
        let v = v * Self::ONE + f;
        Some(Micro(if neg { -v } else { v }))
    }

    /// The exact decimal text (trailing zeros dropped).
    pub fn text(self) -> String {
        let neg = self.0 < 0;
        let a = self.0.unsigned_abs();
        let int = a / Self::ONE as u128;
        let frac = a % Self::ONE as u128;
        let mut s = format!("{}{int}", if neg { "-" } else { "" });
        if frac != 0 {
            let f = format!("{frac:06}");
            s.push('.');
            s.push_str(f.trim_end_matches('0'));
        }
        s
    }
}

/// `num / den` rounded half away from zero to `scale` decimals, as text (`den > 0`).
/// The document's bytes without a UTF-8 byte-order mark, once their size is within `limit`.
pub(crate) fn within_limit<'b>(
    bytes: &'b [u8],
    origin: &str,
    limit: usize,
) -> Result<&'b [u8], FormatError> {
    if bytes.len() > limit {
        return Err(FormatError::TooLarge {
            origin: origin.to_string(),
            bytes: bytes.len(),
            limit,
        });
    }
    Ok(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
}

/// The document parsed as JSON; a syntax error named by line and column (never quoting text).
pub(crate) fn parse_json(bytes: &[u8], origin: &str) -> Result<serde_json::Value, FormatError> {
    serde_json::from_slice(bytes).map_err(|e| FormatError::Json {
        origin: origin.to_string(),
        line: e.line(),
        column: e.column(),
        reason: format!("{:?} error", e.classify()),
    })
}

/// The columns of `schema` by their `source`: a column whose source is one of `roles` (the
/// format's own sources, e.g. the asset id or the device name) by role, in `roles` order;
/// every other column under its source key (a semanticId, a data item id).
pub(crate) fn columns_by_source<'s, const N: usize>(
    schema: &'s Schema,
    roles: [&str; N],
) -> ([Option<&'s str>; N], BTreeMap<&'s str, &'s str>) {
    let mut by_role = [None; N];
    let mut by_key = BTreeMap::new();
    for c in &schema.columns {
        match roles.iter().position(|r| *r == c.source) {
            Some(i) => by_role[i] = Some(c.name.as_str()),
            None => {
                by_key.insert(c.source.as_str(), c.name.as_str());
            }
        }
    }
    (by_role, by_key)
}

pub(crate) fn ratio_text(num: i128, den: i128, scale: u32) -> String {
    let p = 10i128.pow(scale.min(12));
    let scaled = num.saturating_mul(p);
    let q = (scaled.abs() + den / 2) / den;
    let q = if scaled < 0 { -q } else { q };
    let neg = q < 0;
    let a = q.unsigned_abs();
    let int = a / p as u128;
    let frac = a % p as u128;
    if scale == 0 {
        format!("{}{int}", if neg { "-" } else { "" })
    } else {
        format!(
            "{}{int}.{frac:0width$}",
            if neg { "-" } else { "" },
            width = scale as usize
        )
    }
}

/// Decimal scale of column `name` in `schema` (2 when it is not an encrypted column).
pub(crate) fn scale_of(schema: &Schema, name: &str) -> u32 {
    schema
        .column(name)
        .and_then(|c| c.encrypted())
        .map_or(2, |e| e.codec.scale)
}

/// Element paths with 1-based sibling indexes.
pub(crate) fn child_path(parent: &str, name: &str, index: usize) -> String {
    format!("{parent}/{name}[{}]", index + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn micro_is_exact() {
        assert_eq!(Micro::parse("12.5").unwrap().0, 12_500_000);
        assert_eq!(Micro::parse("-0.000001").unwrap().0, -1);
        assert_eq!(Micro::parse("7").unwrap().text(), "7");
        assert_eq!(Micro::parse("7.250").unwrap().text(), "7.25");
        assert_eq!(Micro::parse("-3.5").unwrap().text(), "-3.5");
        for bad in ["", ".", "1.2.3", "1e5", "0.0000001", "NaN", "１"] {
            assert!(Micro::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(ratio_text(90_000, 60_000, 1), "1.5");
        assert_eq!(ratio_text(3_000, 60_000, 1), "0.1");
        assert_eq!(ratio_text(2_999, 60_000, 1), "0.0");
        assert_eq!(ratio_text(-90_000, 60_000, 2), "-1.50");
        assert_eq!(ratio_text(5, 1, 0), "5");
    }
}

/// What the formats' unit tests share: the crate's fixtures, the repository's schemas, a
/// hostile mutation of a document and the columns of a read table.
#[cfg(test)]
pub(crate) mod testing {
    use dtfhe_model::{EncodedColumn, Schema, Table, Value};

    /// The text of `tests/fixtures/<name>` of this crate.
    pub(crate) fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The repository's `schemas/<name>`.
    pub(crate) fn repo_schema(name: &str) -> Schema {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas")
            .join(name);
        Schema::from_toml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `doc` with `bytes` written over it from `pos` (clamped to the document).
    pub(crate) fn spliced(doc: &str, pos: usize, bytes: &[u8]) -> Vec<u8> {
        let mut doc = doc.as_bytes().to_vec();
        let p = pos.min(doc.len());
        let end = (p + bytes.len()).min(doc.len());
        doc.splice(p..end, bytes.iter().copied());
        doc
    }

    /// The lines of the problems of a whole-document refusal, once its text is checked to
    /// quote none of `secrets` (values of the document's encrypted columns).
    pub(crate) fn problem_lines(e: &super::FormatError, secrets: &[&str]) -> Vec<usize> {
        let text = e.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        match e {
            super::FormatError::Rejected { problems, .. } => {
                problems.iter().map(|p| p.line).collect()
            }
            other => panic!("not a refusal by problems: {other}"),
        }
    }

    /// The values of public column `name` of `t`.
    pub(crate) fn public<'t>(t: &'t Table, name: &str) -> &'t [Value] {
        &t.public
            .iter()
            .find(|c| c.name == name)
            .expect("public column")
            .values
    }

    /// Encrypted column `name` of `t` (its encoded values and presence flags).
    pub(crate) fn encrypted<'t>(t: &'t Table, name: &str) -> &'t EncodedColumn {
        t.encrypted
            .iter()
            .find(|c| c.name == name)
            .expect("encrypted column")
    }
}
