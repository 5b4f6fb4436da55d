//! Plaintext reference evaluator: the same query over clear rows with textbook two-pass f64
//! formulas, written independently of the moment formulas, so that comparing the two checks
//! the encrypted path end to end.

use crate::finalize::Cell;
use crate::group::{GroupKey, PublicRow};
use crate::moments::codec_of;
use crate::plan::{AggFunc, Domain, OutputExpr, Query};
use crate::result::ResultSet;
use crate::stats;
use dtfhe_model::{ColumnKind, PublicType, Value};
use std::collections::{BTreeMap, HashMap};

/// One clear row: every column's value by canonical name, including `source` and the
/// encrypted columns (as `Value::Dec` parsed from the original text, or `Value::Null`).
pub type PlainRow = HashMap<String, Value>;

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Dec(d) => Some(*d),
        _ => None,
    }
}

/// Evaluate the query over clear rows (filter, group, aggregate, order, limit).
pub fn evaluate(query: &Query, rows: &[PlainRow]) -> ResultSet {
    let mut groups: BTreeMap<GroupKey, Vec<&PlainRow>> = BTreeMap::new();
    for r in rows {
        if query
            .filter
            .as_ref()
            .is_none_or(|p| p.matches(r as &dyn PublicRow))
        {
            groups
                .entry(GroupKey(query.group_key(r)))
                .or_default()
                .push(r);
        }
    }
    if query.group_by.is_empty() && groups.is_empty() {
        groups.insert(GroupKey(Vec::new()), Vec::new());
    }
    let mut rs = ResultSet::new(query);
    for (key, members) in groups {
        let cells = query
            .outputs
            .iter()
            .map(|o| match &o.expr {
                OutputExpr::GroupKey(i) => Cell::from_value(&key.0[*i]),
                OutputExpr::Arith(_) => Cell::Null,
                OutputExpr::Aggregate(a) if a.func.is_threshold() => {
                    threshold_cell(query, a.func, &a.args[0], &members)
                }
                OutputExpr::Aggregate(a) => match a.args.as_slice() {
                    [] => Cell::Int(members.len() as i64),
                    [c] => {
                        let vals: Vec<&Value> = members
                            .iter()
                            .map(|r| r.get(c.as_str()).unwrap_or(&Value::Null))
                            .filter(|v| !matches!(v, Value::Null))
                            .collect();
                        let f: Vec<f64> = vals.iter().filter_map(|v| num(v)).collect();
                        match a.func {
                            AggFunc::Count => Cell::Int(vals.len() as i64),
                            AggFunc::Sum if f.is_empty() => Cell::Null,
                            AggFunc::Sum => {
                                let is_int = matches!(
                                    query.schema.column(c).map(|s| &s.kind),
                                    Some(ColumnKind::Public(PublicType::Integer))
                                );
                                if is_int {
                                    let s: i128 = vals
                                        .iter()
                                        .map(|v| match v {
                                            Value::Int(i) => *i as i128,
                                            _ => 0,
                                        })
                                        .sum();
                                    i64::try_from(s)
                                        .map(Cell::Int)
                                        .unwrap_or(Cell::Float(s as f64))
                                } else {
                                    let s = stats::single(AggFunc::Sum, &f).unwrap_or(0.0);
                                    match (a.domain, codec_of(&query.schema, c)) {
                                        (Domain::Encrypted, Some(codec)) => {
                                            let p = 10f64.powi(codec.scale as i32);
                                            Cell::Float((s * p).round() / p)
                                        }
                                        _ => Cell::Float(s),
                                    }
                                }
                            }
                            func => stats::single(func, &f)
                                .map(Cell::Float)
                                .unwrap_or(Cell::Null),
                        }
                    }
                    [y, x, ..] => {
                        let pairs: Vec<(f64, f64)> = members
                            .iter()
                            .filter_map(|r| {
                                Some((num(r.get(y.as_str())?)?, num(r.get(x.as_str())?)?))
                            })
                            .collect();
                        stats::pair(a.func, &pairs)
                            .map(Cell::Float)
                            .unwrap_or(Cell::Null)
                    }
                },
            })
            .collect();
        rs.rows.push(crate::finalize::finish_row(query, cells));
        rs.keys.push(key.0);
    }
    rs.sort_and_limit(query);
    rs
}

/// Threshold aggregates from the raw values: each value's bucket is the number of declared
/// edges it exceeds (no sorting); counts above an edge are the values strictly greater.
fn threshold_cell(query: &Query, func: AggFunc, column: &str, members: &[&PlainRow]) -> Cell {
    let Some(codec) = codec_of(&query.schema, column) else {
        return Cell::Null;
    };
    let edges_scaled = query.schema.thresholds(column);
    let edges: Vec<f64> = edges_scaled
        .iter()
        .map(|&e| codec.scaled_to_f64(e))
        .collect();
    let values: Vec<f64> = members
        .iter()
        .filter_map(|r| num(r.get(column).unwrap_or(&Value::Null)))
        .collect();
    let mut buckets = vec![0i128; edges.len() + 1];
    for x in &values {
        buckets[edges.iter().filter(|&&e| *x > e).count()] += 1;
    }
    let above = |k: u8| {
        let e = edges.get(usize::from(k)).copied().unwrap_or(f64::INFINITY);
        values.iter().filter(|&&x| x > e).count() as i64
    };
    match func {
        AggFunc::CountAbove(k) => Cell::Int(above(k)),
        AggFunc::CountAtMost(k) => Cell::Int(values.len() as i64 - above(k)),
        AggFunc::Histogram => crate::threshold::histogram(column, codec, edges_scaled, &buckets)
            .map_or(Cell::Null, |h| Cell::Histogram(Box::new(h))),
        AggFunc::ApproxPercentile(bits) => {
            let p = f64::from_bits(bits);
            if values.is_empty() {
                return Cell::Null;
            }
            // Walk the buckets, [min, e_0, …, max] as their edges, until p·n values are
            // covered; interpolate linearly inside that bucket.
            let lo_hi = |j: usize| {
                let lo = if j == 0 {
                    codec.min_scaled
                } else {
                    edges_scaled[j - 1]
                };
                let hi = edges_scaled.get(j).copied().unwrap_or(codec.max_scaled);
                (
                    crate::cell::Decimal::new(lo, codec.scale),
                    crate::cell::Decimal::new(hi, codec.scale),
                )
            };
            let target = p * values.len() as f64;
            let mut covered = 0i128;
            for (j, &c) in buckets.iter().enumerate() {
                if c > 0 && (covered + c) as f64 >= target {
                    let (lo, hi) = lo_hi(j);
                    let (l, h) = (lo.to_f64(), hi.to_f64());
                    return Cell::Percentile(Box::new(crate::cell::Percentile {
                        column: column.to_string(),
                        p,
                        value: l + (target - covered as f64) / c as f64 * (h - l),
                        lo,
                        hi,
                    }));
                }
                covered += c;
            }
            Cell::Null
        }
        _ => Cell::Null,
    }
}

fn cell_eq(a: &Cell, b: &Cell, rel_tol: f64, abs_tol: f64) -> bool {
    match (a, b) {
        (Cell::Null, Cell::Null) => true,
        (Cell::Text(x), Cell::Text(y)) => x == y,
        (Cell::Int(x), Cell::Int(y)) => x == y,
        (Cell::Histogram(x), Cell::Histogram(y)) => x == y,
        (Cell::Percentile(x), Cell::Percentile(y)) => {
            percentile_eq(x, y) && {
                let (x, y) = (x.value, y.value);
                x == y || (x - y).abs() <= abs_tol + rel_tol * x.abs().max(y.abs())
            }
        }
        (Cell::Histogram(_) | Cell::Percentile(_), _)
        | (_, Cell::Histogram(_) | Cell::Percentile(_)) => false,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => {
                x == y || (x - y).abs() <= abs_tol + rel_tol * x.abs().max(y.abs())
            }
            _ => false,
        },
    }
}

/// Whether two percentile cells are of the same column, fraction and bucket (their values
/// are compared within a tolerance by the caller).
pub fn percentile_eq(a: &crate::cell::Percentile, b: &crate::cell::Percentile) -> bool {
    a.column == b.column && a.p == b.p && a.lo == b.lo && a.hi == b.hi
}

/// The first difference [`compare`] finds between two results.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The column names differ.
    #[error("columns differ: {left:?} vs {right:?}")]
    Columns {
        /// Columns of the first result.
        left: Vec<String>,
        /// Columns of the second result.
        right: Vec<String>,
    },
    /// The row counts differ.
    #[error("row counts differ: {left} vs {right}")]
    RowCount {
        /// Rows of the first result.
        left: usize,
        /// Rows of the second result.
        right: usize,
    },
    /// A row has another number of cells.
    #[error("row {row}: {left} vs {right} cells")]
    RowWidth {
        /// The row (0-based).
        row: usize,
        /// Cells in the first result's row.
        left: usize,
        /// Cells in the second result's row.
        right: usize,
    },
    /// A cell differs beyond the tolerance.
    #[error("row {row}, column `{column}`: {left:?} vs {right:?}")]
    Cell {
        /// The row (0-based).
        row: usize,
        /// The column's name.
        column: String,
        /// The first result's cell.
        left: Cell,
        /// The second result's cell.
        right: Cell,
    },
}

/// Compare two results cell by cell (numbers within `abs_tol + rel_tol·max(|a|,|b|)`);
/// `Err` describes the first mismatch (row, column, both values).
pub fn compare(a: &ResultSet, b: &ResultSet, rel_tol: f64, abs_tol: f64) -> Result<(), Mismatch> {
    compare_shape(a, b)?;
    for (r, (ra, rb)) in a.rows.iter().zip(&b.rows).enumerate() {
        for (c, (x, y)) in ra.iter().zip(rb).enumerate() {
            if !cell_eq(x, y, rel_tol, abs_tol) {
                let name = a.columns.get(c).map(String::as_str).unwrap_or("?");
                return Err(Mismatch::Cell {
                    row: r,
                    column: name.to_string(),
                    left: x.clone(),
                    right: y.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Whether two results have the same columns, row count and row widths (the checks before
/// any cell is compared); `Err` names the first difference.
pub fn compare_shape(a: &ResultSet, b: &ResultSet) -> Result<(), Mismatch> {
    if a.columns != b.columns {
        return Err(Mismatch::Columns {
            left: a.columns.clone(),
            right: b.columns.clone(),
        });
    }
    if a.rows.len() != b.rows.len() {
        return Err(Mismatch::RowCount {
            left: a.rows.len(),
            right: b.rows.len(),
        });
    }
    for (r, (ra, rb)) in a.rows.iter().zip(&b.rows).enumerate() {
        if ra.len() != rb.len() {
            return Err(Mismatch::RowWidth {
                row: r,
                left: ra.len(),
                right: rb.len(),
            });
        }
    }
    Ok(())
}
