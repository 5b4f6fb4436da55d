//! Engineering parameters exported from CAD / PLM systems → rows of a design-stage dataset
//! (one row per part), and the HEADER of STEP files (ISO 10303-21) for the files sealed as
//! artifacts ([`super::step`]).
//!
//! # Input: a parameter export, CSV or JSON
//!
//! - **CSV** (the "parameter table" export of CAD systems), one line per part and parameter:
//!   a header naming the fields `part`, `parameter`, `value` (and optionally `unit`, not
//!   converted), any order, other fields ignored, `,` separated with RFC 4180 quoting.
//! - **JSON** (when the first non-blank byte is `[` or `{`): an array of parts, or an
//!   object whose `parts` is that array; each part `{"part": "P-100", "parameters":
//!   {"Length": 120.5, "Bore": {"value": 8, "unit": "mm"}}}` (a value is a number, a text,
//!   or an object with `value`).
//!
//! # Mapping: by the schema
//!
//! The column whose `source` is `@part` gets the part id; every other column's `source` is
//! a parameter name (exact match). Parameters no column names are counted
//! ([`super::DocumentNotes::unmapped`]) and skipped. A parameter given twice for one part,
//! a line without part or parameter, or a value the column refuses are all reported (CSV:
//! line; JSON: pointer) and the export is refused whole; messages never quote a value.

use std::collections::BTreeMap;

use dtfhe_model::Schema;
use serde_json::Value;

use super::{check_rows, DocRow, Document, DocumentNotes, FormatError, Problem};

/// Largest parameter export read, in bytes.
pub const MAX_CAD_BYTES: usize = 32 * 1024 * 1024;
/// `source` of the column holding the part id.
pub const SOURCE_PART: &str = "@part";

/// One part being gathered: where it first appeared and its parameters by column.
struct Part {
    line: usize,
    path: String,
    fields: BTreeMap<String, String>,
    places: BTreeMap<String, (usize, String)>,
}

/// The rows being gathered, by part id, in first-seen order.
struct Gather<'a> {
    schema: &'a Schema,
    part_col: Option<String>,
    parts: Vec<(String, Part)>,
    problems: Vec<Problem>,
    unmapped: usize,
}

impl Gather<'_> {
    fn column_of(&self, parameter: &str) -> Option<String> {
        self.schema
            .columns
            .iter()
            .find(|c| c.source == parameter && c.source != SOURCE_PART)
            .map(|c| c.name.clone())
    }

    /// One (part, parameter, value) at `line`/`path`.
    fn add(
        &mut self,
        part: &str,
        parameter: &str,
        value: Option<String>,
        line: usize,
        path: String,
    ) {
        let Some(column) = self.column_of(parameter) else {
            self.unmapped += 1;
            return;
        };
        let i = match self.parts.iter().position(|(p, _)| p == part) {
            Some(i) => i,
            None => {
                let mut fields = BTreeMap::new();
                if let Some(c) = &self.part_col {
                    fields.insert(c.clone(), part.to_string());
                }
                self.parts.push((
                    part.to_string(),
                    Part {
                        line,
                        path: path.clone(),
                        fields,
                        places: BTreeMap::new(),
                    },
                ));
                self.parts.len() - 1
            }
        };
        let p = &mut self.parts[i].1;
        if let Some((first, _)) = p.places.get(&column) {
            let first = *first;
            self.problems.push(Problem {
                line,
                path,
                column: Some(column),
                reason: if first > 0 {
                    format!("the part gives this parameter twice (also line {first})")
                } else {
                    "the part gives this parameter twice".into()
                },
            });
            return;
        }
        p.places.insert(column.clone(), (line, path));
        if let Some(v) = value {
            p.fields.insert(column, v);
        }
    }
}

/// Reads a CAD / PLM parameter export (CSV or JSON) into rows of `schema`.
pub fn read(bytes: &[u8], origin: &str, schema: &Schema) -> Result<Document, FormatError> {
    let bytes = super::within_limit(bytes, origin, MAX_CAD_BYTES)?;
    let mut g = Gather {
        schema,
        part_col: schema
            .columns
            .iter()
            .find(|c| c.source == SOURCE_PART)
            .map(|c| c.name.clone()),
        parts: Vec::new(),
        problems: Vec::new(),
        unmapped: 0,
    };
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[' | b'{') => read_json(bytes, origin, &mut g)?,
        _ => read_csv(bytes, origin, &mut g)?,
    }
    let rows: Vec<DocRow> = g
        .parts
        .into_iter()
        .map(|(_, p)| DocRow {
            line: p.line,
            path: p.path,
            fields: p.fields,
            places: p.places,
        })
        .collect();
    let table = check_rows(&rows, g.problems, origin, schema)?;
    Ok(Document {
        table,
        notes: DocumentNotes {
            unmapped: g.unmapped,
            ..DocumentNotes::default()
        },
    })
}

fn read_csv(bytes: &[u8], origin: &str, g: &mut Gather<'_>) -> Result<(), FormatError> {
    let mut reader = dtfhe_model::table::delimited_reader(b',', bytes);
    let mut record = csv::StringRecord::new();
    let mut header: Option<(usize, usize, usize)> = None;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| FormatError::Rejected {
                origin: origin.to_string(),
                problems: vec![Problem {
                    line: e.position().map_or(0, |p| p.line() as usize),
                    path: "CSV".into(),
                    column: None,
                    reason: "malformed CSV (or not UTF-8)".into(),
                }],
            })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let Some((pi, ni, vi)) = header else {
            let find = |name: &str| {
                record
                    .iter()
                    .position(|f| f.trim().eq_ignore_ascii_case(name))
            };
            match (find("part"), find("parameter"), find("value")) {
                (Some(p), Some(n), Some(v)) => header = Some((p, n, v)),
                _ => {
                    return Err(FormatError::NotThisFormat {
                        origin: origin.to_string(),
                        format: "CAD parameter export",
                        reason: "the CSV header does not name the fields part, parameter and value"
                            .into(),
                    })
                }
            }
            continue;
        };
        let field = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let (part, parameter, value) = (field(pi), field(ni), field(vi));
        let path = format!("part {part:?}, parameter {parameter:?}");
        if part.is_empty() || parameter.is_empty() {
            g.problems
                .push(Problem::new(line, path, None, "no part or no parameter"));
            continue;
        }
        let value = (!value.is_empty()).then(|| value.to_string());
        g.add(part, parameter, value, line, path);
    }
    if header.is_none() {
        return Err(FormatError::NotThisFormat {
            origin: origin.to_string(),
            format: "CAD parameter export",
            reason: "no header line".into(),
        });
    }
    Ok(())
}

fn read_json(bytes: &[u8], origin: &str, g: &mut Gather<'_>) -> Result<(), FormatError> {
    let v = super::parse_json(bytes, origin)?;
    let (parts, base) = match &v {
        Value::Array(a) => (a, String::new()),
        Value::Object(o) => match o.get("parts") {
            Some(Value::Array(a)) => (a, "/parts".to_string()),
            _ => {
                return Err(FormatError::NotThisFormat {
                    origin: origin.to_string(),
                    format: "CAD parameter export",
                    reason: "a JSON object without a `parts` array".into(),
                })
            }
        },
        _ => unreachable_json(origin)?,
    };
    for (i, p) in parts.iter().enumerate() {
        let ppath = format!("{base}/{i}");
        let part = match p.get("part") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                g.problems.push(Problem::new(
                    0,
                    ppath,
                    None,
                    "no part id (a text or a number)",
                ));
                continue;
            }
        };
        let Some(params) = p.get("parameters").and_then(Value::as_object) else {
            g.problems
                .push(Problem::new(0, ppath, None, "no parameters object"));
            continue;
        };
        for (name, value) in params {
            let vpath = format!(
                "{ppath}/parameters/{}",
                name.replace('~', "~0").replace('/', "~1")
            );
            let value = match value {
                Value::Object(o) => o.get("value").unwrap_or(&Value::Null),
                other => other,
            };
            let text = match value {
                Value::Null => None,
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(u8::from(*b).to_string()),
                _ => {
                    if let Some(column) = g.column_of(name) {
                        g.problems.push(Problem::new(
                            0,
                            vpath,
                            Some(&column),
                            "the value is not a number, text or boolean",
                        ));
                    }
                    continue;
                }
            };
            g.add(&part, name, text, 0, vpath);
        }
    }
    Ok(())
}

/// The JSON top level is neither an array nor an object (cannot happen after the first-byte
/// check, but a typed refusal is cheaper than an assumption).
fn unreachable_json<T>(origin: &str) -> Result<T, FormatError> {
    Err(FormatError::NotThisFormat {
        origin: origin.to_string(),
        format: "CAD parameter export",
        reason: "the JSON is neither an array nor an object".into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testing::{encrypted, fixture, problem_lines, public, repo_schema, spliced};
    use super::*;
    use dtfhe_model::Value as Cell;
    use proptest::prelude::*;

    fn read_fixture(name: &str) -> Result<Document, FormatError> {
        read(
            fixture(name).as_bytes(),
            name,
            &repo_schema("cad_parameters.toml"),
        )
    }

    #[test]
    fn csv_export_one_row_per_part() {
        let d = read_fixture("cad_parameters.csv").unwrap();
        assert_eq!(d.table.rows, 6);
        assert_eq!(d.notes.unmapped, 6);
        assert_eq!(public(&d.table, "part")[5], Cell::Text("P-105".into()));
        let bore = encrypted(&d.table, "bore_mm");
        assert_eq!(bore.present, [true, true, true, false, true, true]);
    }

    #[test]
    fn json_export_one_row_per_part() {
        let d = read_fixture("cad_parameters.json").unwrap();
        assert_eq!(d.table.rows, 5);
        assert_eq!(d.notes.unmapped, 5);
        let bore = encrypted(&d.table, "bore_mm");
        assert_eq!(bore.present.iter().filter(|p| !**p).count(), 1);
    }

    #[test]
    fn every_bad_line_reported_without_values() {
        let e = read_fixture("cad_parameters_malformed.csv").unwrap_err();
        let lines = problem_lines(&e, &["190.21", "2500.5", "27.653"]);
        assert_eq!(lines, [3, 6, 9, 32], "{e}");
        let e = read(b"a,b\n1,2\n", "x.csv", &repo_schema("cad_parameters.toml")).unwrap_err();
        assert!(matches!(e, FormatError::NotThisFormat { .. }), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Mutated exports are refused or read, never a panic.
        #[test]
        fn hostile_input_never_panics(pos in 0usize..1_300, bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let schema = repo_schema("cad_parameters.toml");
            for name in ["cad_parameters.csv", "cad_parameters.json"] {
                let _ = read(&spliced(&fixture(name), pos, &bytes), "mutated", &schema);
            }
        }
    }
}
