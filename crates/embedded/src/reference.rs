//! The plaintext reference used to check encrypted results: the CSV is parsed here on its own
//! (with the `csv` crate, not with the ingest reader), the query is evaluated in clear by
//! [`dtfhe_engine::plaintext::evaluate`], and results are compared value by value.
//!
//! This is test and demo machinery: it reads every value in clear, so it only ever runs where
//! the data is (the demo and the test suite), never on the platform.

use dtfhe_engine::plaintext::{self, Mismatch, PlainRow};
use dtfhe_engine::{plan, Catalog, Cell, EngineError, ResultSet, SOURCE_COLUMN};
use dtfhe_model::{ColumnKind, PublicType, Schema, Value};

/// Relative tolerance for floating-point statistics (variances, correlations, regressions).
pub const REL_TOL: f64 = 1e-9;
/// Absolute tolerance for statistics close to zero.
pub const ABS_TOL: f64 = 1e-9;

/// Why a CSV export could not be read as clear reference rows (names the row and column,
/// never a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plaintext reference: {0}")]
pub struct ReferenceError(String);

/// Parse a source's CSV export into clear rows keyed by canonical column name, with every
/// encrypted column as `Value::Dec` (parsed from its text) and the implicit `source` column
/// set to `source`. Empty fields become `Value::Null`. Follows the schema's CSV layout
/// (delimiter or whitespace, header or positions); a UTF-8 BOM is ignored.
pub fn plain_rows(
    bytes: &[u8],
    schema: &Schema,
    source: &str,
) -> Result<Vec<PlainRow>, ReferenceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ReferenceError(format!("not UTF-8: {e}")))?;
    let mut records: Vec<Vec<String>> = Vec::new();
    match schema.csv.delimiter {
        Some(d) => {
            let mut reader = dtfhe_model::table::delimited_reader(d, text.as_bytes());
            for rec in reader.records() {
                let rec = rec.map_err(|e| ReferenceError(e.to_string()))?;
                if rec.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                records.push(rec.iter().map(|f| f.trim().to_string()).collect());
            }
        }
        None => {
            for line in text.lines() {
                let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
                if !fields.is_empty() {
                    records.push(fields);
                }
            }
        }
    }
    let mut records = records.into_iter();
    let index: Vec<usize> = if schema.csv.header {
        let header = records
            .next()
            .ok_or_else(|| ReferenceError("no header line".into()))?;
        schema
            .columns
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == &c.source)
                    .ok_or_else(|| ReferenceError(format!("header has no column {:?}", c.source)))
            })
            .collect::<Result<_, _>>()?
    } else {
        (0..schema.columns.len()).collect()
    };
    let mut rows = Vec::new();
    for (n, rec) in records.enumerate() {
        let mut row = PlainRow::new();
        for (c, &i) in schema.columns.iter().zip(&index) {
            let field = rec.get(i).ok_or_else(|| {
                ReferenceError(format!("data row {}: missing field {}", n + 1, i + 1))
            })?;
            let bad = |what: &str| {
                ReferenceError(format!("data row {}, column {}: not {what}", n + 1, c.name))
            };
            let v = if field.is_empty() {
                Value::Null
            } else {
                match &c.kind {
                    ColumnKind::Public(PublicType::Integer) => {
                        Value::Int(field.parse().map_err(|_| bad("an integer"))?)
                    }
                    ColumnKind::Public(PublicType::Decimal) | ColumnKind::Encrypted(_) => {
                        Value::Dec(field.parse().map_err(|_| bad("a number"))?)
                    }
                    ColumnKind::Public(PublicType::Text) => Value::Text(field.clone()),
                }
            };
            row.insert(c.name.clone(), v);
        }
        row.insert(SOURCE_COLUMN.to_string(), Value::Text(source.to_string()));
        rows.push(row);
    }
    Ok(rows)
}

/// Plan `sql` against `schema` and evaluate it over clear rows.
pub fn evaluate(schema: &Schema, sql: &str, rows: &[PlainRow]) -> Result<ResultSet, EngineError> {
    evaluate_in(&[schema], sql, rows)
}

/// Plan `sql` against several schemas (a join) and evaluate it over clear rows whose
/// columns are named as the plan names them (`alias.column` for a join).
pub fn evaluate_in(
    schemas: &[&Schema],
    sql: &str,
    rows: &[PlainRow],
) -> Result<ResultSet, EngineError> {
    let catalog = Catalog::new(schemas);
    let query = plan(sql, &catalog)?;
    Ok(plaintext::evaluate(&query, rows))
}

/// The inner join of two clear tables on `key`, columns qualified `a.` / `b.`: the
/// plaintext twin of a join over product lanes.
pub fn inner_join(
    left: &[PlainRow],
    a: &str,
    right: &[PlainRow],
    b: &str,
    key: &str,
) -> Vec<PlainRow> {
    let text = |r: &PlainRow| match r.get(key) {
        Some(dtfhe_model::Value::Text(t)) => Some(t.clone()),
        Some(dtfhe_model::Value::Int(i)) => Some(i.to_string()),
        _ => None,
    };
    let mut by_key: std::collections::HashMap<String, Vec<&PlainRow>> =
        std::collections::HashMap::new();
    for r in right {
        if let Some(k) = text(r) {
            by_key.entry(k).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for l in left {
        for r in text(l).and_then(|k| by_key.get(&k)).into_iter().flatten() {
            let mut row = PlainRow::new();
            row.extend(l.iter().map(|(k, v)| (format!("{a}.{k}"), v.clone())));
            row.extend(r.iter().map(|(k, v)| (format!("{b}.{k}"), v.clone())));
            out.push(row);
        }
    }
    out
}

/// Whether an encrypted result cell equals the plaintext one: NULL, integers, text and
/// histograms exactly; a percentile's column, p and bucket exactly; numbers shown with a fixed number of decimals (SUM of an encrypted column) equal
/// at that precision; other numbers within `ABS_TOL + REL_TOL·max(|a|, |b|)`.
pub fn cell_matches(released: &Cell, plain: &Cell, decimals: Option<u32>) -> bool {
    match (released, plain) {
        (Cell::Null, Cell::Null) => true,
        (Cell::Int(a), Cell::Int(b)) => a == b,
        (Cell::Text(a), Cell::Text(b)) => a == b,
        // A histogram: the same column, edges and counts, exactly.
        (Cell::Histogram(a), Cell::Histogram(b)) => a == b,
        // A percentile: the same column, p and bucket; the value within the tolerance.
        (Cell::Percentile(a), Cell::Percentile(b)) => {
            plaintext::percentile_eq(a, b)
                && cell_matches(&Cell::Float(a.value), &Cell::Float(b.value), decimals)
        }
        (Cell::Null, _)
        | (_, Cell::Null)
        | (Cell::Text(_), _)
        | (_, Cell::Text(_))
        | (Cell::Histogram(_) | Cell::Percentile(_), _)
        | (_, Cell::Histogram(_) | Cell::Percentile(_)) => false,
        _ => match (released.as_f64(), plain.as_f64()) {
            (Some(a), Some(b)) if a == b => true,
            (Some(a), Some(b)) => {
                let d = (a - b).abs();
                let tight = d <= ABS_TOL + REL_TOL * a.abs().max(b.abs());
                match decimals {
                    // Exact to the declared scale: the same decimal at that precision.
                    Some(s) => tight && d < 0.5 * 10f64.powi(-(s as i32)),
                    None => tight,
                }
            }
            _ => false,
        },
    }
}

/// Compare two results value by value (each released value exact at its shown decimals,
/// then within the engine's tolerance); returns the number of values checked, or the first
/// difference (row, column, both values: the caller compares its own plaintext answers).
pub fn check(released: &ResultSet, plain: &ResultSet) -> Result<usize, Mismatch> {
    plaintext::compare_shape(released, plain)?;
    let mut n = 0;
    for (r, (a, b)) in released.rows.iter().zip(&plain.rows).enumerate() {
        for (c, (x, y)) in a.iter().zip(b).enumerate() {
            let dec = released.decimals.get(c).copied().flatten();
            if !cell_matches(x, y, dec) {
                return Err(Mismatch::Cell {
                    row: r,
                    column: released.columns[c].clone(),
                    left: x.clone(),
                    right: y.clone(),
                });
            }
            n += 1;
        }
    }
    plaintext::compare(released, plain, REL_TOL, ABS_TOL)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert!(cell_matches(&Cell::Int(3), &Cell::Int(3), None));
        assert!(!cell_matches(&Cell::Int(3), &Cell::Int(4), None));
        assert!(cell_matches(
            &Cell::Float(1.0),
            &Cell::Float(1.0 + 1e-12),
            None
        ));
        assert!(!cell_matches(
            &Cell::Float(1.0),
            &Cell::Float(1.0 + 1e-6),
            None
        ));
        assert!(cell_matches(&Cell::Float(0.0), &Cell::Float(1e-12), None));
        assert!(!cell_matches(
            &Cell::Float(10.5),
            &Cell::Float(10.6),
            Some(1)
        ));
        assert!(!cell_matches(&Cell::Null, &Cell::Float(0.0), None));
        assert!(cell_matches(&Cell::Null, &Cell::Null, None));
        assert!(cell_matches(
            &Cell::Text("L".into()),
            &Cell::Text("L".into()),
            None
        ));
    }

    #[test]
    fn parses_header_and_positions() {
        let schema = Schema::from_toml_str(
            r#"
dataset = "t"
stage = "design"
[[columns]]
name = "id"
source = "Id"
kind = "public"
type = "integer"
[[columns]]
name = "x"
kind = "encrypted"
scale = 1
min = 0
max = 10
nullable = true
"#,
            "t.toml",
        )
        .expect("schema");
        let rows = plain_rows(b"\xEF\xBB\xBFx,Id\r\n1.5,1\r\n,2\r\n", &schema, "p").expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["x"], Value::Dec(1.5));
        assert_eq!(rows[0]["id"], Value::Int(1));
        assert_eq!(rows[1]["x"], Value::Null);
        assert_eq!(rows[1]["source"], Value::Text("p".into()));
    }
}
