//! Finalizing one group's output row from its clear state and the exact encrypted sums.
//!
//! Numerators such as n·Σv² − (Σv)² are computed exactly (i128, promoted to a big integer on
//! overflow) and converted to f64 only for the final division or square root, so
//! variance-type statistics are accurate to a few ulps.

pub use crate::cell::Cell;
use crate::error::EngineError;
use crate::exact::{ratio, Num};
use crate::group::{ClearAcc, GroupState};
use crate::moments::{codec_of, Moment, Term};
use crate::plan::{AggFunc, Aggregate, Domain, OutputExpr, Query};
use crate::stats;
use dtfhe_model::{FixedPoint, Schema};
use std::collections::HashMap;

/// A statistic as a cell; undefined values (0/0, the root of a negative variance that
/// differential-privacy noise can produce) become NULL, never NaN.
fn float(v: Option<f64>) -> Cell {
    v.filter(|x| x.is_finite())
        .map(Cell::Float)
        .unwrap_or(Cell::Null)
}

/// Finalize one group's output row from its clear state and the exact moment sums
/// (`Moment` → Σ over the group's selected rows, as a signed integer). When the group has no
/// rows, missing moments are taken as 0.
pub fn finalize(
    query: &Query,
    schema: &Schema,
    group: &GroupState,
    moments: &HashMap<Moment, i128>,
) -> Result<Vec<Cell>, EngineError> {
    if !schema.dataset.eq_ignore_ascii_case(&query.dataset) {
        return Err(EngineError::SchemaMismatch(format!(
            "query is over `{}`, schema is `{}`",
            query.dataset, schema.dataset
        )));
    }
    let mut out = Vec::with_capacity(query.outputs.len());
    for (i, o) in query.outputs.iter().enumerate() {
        let cell = match &o.expr {
            OutputExpr::GroupKey(k) => group
                .key()
                .get(*k)
                .map(Cell::from_value)
                .unwrap_or(Cell::Null),
            OutputExpr::Aggregate(a) if a.domain == Domain::Clear => {
                finalize_clear(a, group.acc.get(i), group.rows())
            }
            OutputExpr::Aggregate(a) => finalize_encrypted(a, schema, group, moments)?,
            OutputExpr::Arith(_) => Cell::Null,
        };
        out.push(cell);
    }
    Ok(finish_row(query, out))
}

/// Evaluate arithmetic columns over the computed cells and drop the hidden operands.
pub(crate) fn finish_row(query: &Query, mut cells: Vec<Cell>) -> Vec<Cell> {
    let values: Vec<Option<f64>> = cells.iter().map(Cell::as_f64).collect();
    for (o, c) in query.outputs.iter().zip(cells.iter_mut()) {
        if let OutputExpr::Arith(a) = &o.expr {
            *c = float(a.eval(&values));
        }
    }
    cells.truncate(query.visible().count());
    cells
}

fn finalize_clear(a: &Aggregate, acc: Option<&ClearAcc>, rows: u64) -> Cell {
    match acc {
        Some(ClearAcc::Rows) => Cell::Int(rows as i64),
        Some(ClearAcc::Single {
            count,
            values,
            int_sum,
            ..
        }) => match a.func {
            AggFunc::Count => Cell::Int(*count as i64),
            AggFunc::Sum if values.is_empty() => Cell::Null,
            AggFunc::Sum if int_sum.is_some() => {
                let s = int_sum.unwrap_or_default();
                i64::try_from(s)
                    .map(Cell::Int)
                    .unwrap_or(Cell::Float(s as f64))
            }
            f => float(stats::single(f, values)),
        },
        Some(ClearAcc::Pair { values, .. }) => float(stats::pair(a.func, values)),
        _ => Cell::Null,
    }
}

fn lookup(
    term: &Term,
    group: &GroupState,
    moments: &HashMap<Moment, i128>,
) -> Result<Num, EngineError> {
    match term {
        Term::Rows => Ok(Num::from(group.rows() as i128)),
        Term::Sum(m) => match moments.get(m) {
            Some(v) => Ok(Num::from(*v)),
            None if group.rows() == 0 => Ok(Num::from(0)),
            None => Err(EngineError::MissingMoment(m.to_string())),
        },
    }
}

fn codec<'s>(schema: &'s Schema, column: &str) -> Result<&'s FixedPoint, EngineError> {
    codec_of(schema, column).ok_or_else(|| {
        EngineError::SchemaMismatch(format!("`{column}` is not an encrypted column"))
    })
}

fn finalize_encrypted(
    a: &Aggregate,
    schema: &Schema,
    group: &GroupState,
    moments: &HashMap<Moment, i128>,
) -> Result<Cell, EngineError> {
    let terms = a.terms_checked(schema)?;
    let vals = terms
        .iter()
        .map(|t| lookup(t, group, moments))
        .collect::<Result<Vec<Num>, _>>()?;
    let Some((y, x)) = a.yx() else {
        return Ok(Cell::Null);
    };
    let cx = codec(schema, x)?;
    if a.func.is_threshold() {
        return Ok(threshold(a.func, x, cx, schema.thresholds(x), &vals));
    }
    match y {
        None => Ok(single(a.func, cx, &vals)),
        Some(y) => {
            let cy = codec(schema, y)?;
            Ok(pair(a.func, cy, cx, &vals))
        }
    }
}

fn n_of(v: &Num) -> i128 {
    match v {
        Num::Small(n) => *n,
        Num::Big(_) => i128::MAX,
    }
}

/// Threshold aggregates: vals = [Σ gt_k] (COUNT > e_k), [n, Σ gt_k] (COUNT <= e_k) or
/// [n, Σ gt_0, …] (HISTOGRAM, APPROX_PERCENTILE: structured cells of `column`); see
/// [`crate::threshold`].
fn threshold(func: AggFunc, column: &str, c: &FixedPoint, edges: &[i64], vals: &[Num]) -> Cell {
    use crate::threshold::{bucket_counts, histogram, percentile_cell};
    let v: Vec<i128> = vals.iter().map(n_of).collect();
    let count = |n: i128| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
    match (func, v.as_slice()) {
        (AggFunc::CountAbove(_), [above]) => count(*above),
        (AggFunc::CountAtMost(_), [n, above]) => count(n - above),
        (AggFunc::Histogram, [n, above @ ..]) if above.len() == edges.len() => {
            histogram(column, c, edges, &bucket_counts(*n, above))
                .map_or(Cell::Null, |h| Cell::Histogram(Box::new(h)))
        }
        (AggFunc::ApproxPercentile(bits), [n, above @ ..]) if above.len() == edges.len() => {
            percentile_cell(
                column,
                f64::from_bits(bits),
                c,
                edges,
                &bucket_counts(*n, above),
            )
            .map_or(Cell::Null, |p| Cell::Percentile(Box::new(p)))
        }
        _ => Cell::Null,
    }
}

/// Single column: vals = [n, S1, S2?] (see `AggFunc::sums`).
fn single(func: AggFunc, c: &FixedPoint, vals: &[Num]) -> Cell {
    let n = &vals[0];
    let nn = n_of(n);
    if func == AggFunc::Count {
        return Cell::Int(i64::try_from(nn).unwrap_or(i64::MAX));
    }
    if nn <= 0 {
        return Cell::Null;
    }
    let s1 = &vals[1];
    let scale = Num::pow10(c.scale);
    // Σx in real units = (S1 + n·offset) / 10^s.
    let total = s1.add(&n.mul(&Num::from(c.offset as i128)));
    match func {
        AggFunc::Sum => Cell::Float(ratio(&total, &scale)),
        AggFunc::Avg => Cell::Float(ratio(&total, &n.mul(&scale))),
        _ => {
            if matches!(func, AggFunc::VarSamp | AggFunc::StddevSamp) && nn < 2 {
                return Cell::Null;
            }
            let s2 = &vals[2];
            let num = n.mul(s2).sub(&s1.mul(s1));
            let nd = match func {
                AggFunc::VarPop | AggFunc::StddevPop => n.mul(n),
                _ => n.mul(&n.sub(&Num::from(1))),
            };
            let den = nd.mul(&Num::pow10(2 * c.scale));
            let var = ratio(&num, &den).max(0.0);
            Cell::Float(match func {
                AggFunc::StddevPop | AggFunc::StddevSamp => var.sqrt(),
                _ => var,
            })
        }
    }
}

/// Pair (y, x): vals follow `AggFunc::sums` — covar: [n, Sx, Sy, Sxy]; slope/intercept:
/// [n, Sx, Sy, Sxx, Sxy]; corr/r2: [n, Sx, Sy, Sxx, Syy, Sxy].
fn pair(func: AggFunc, cy: &FixedPoint, cx: &FixedPoint, vals: &[Num]) -> Cell {
    let n = &vals[0];
    let nn = n_of(n);
    if nn <= 0 {
        return Cell::Null;
    }
    let (sx, sy) = (&vals[1], &vals[2]);
    let (sxx, syy, sxy) = match func {
        AggFunc::CovarPop | AggFunc::CovarSamp => (None, None, &vals[3]),
        AggFunc::RegrSlope | AggFunc::RegrIntercept => (Some(&vals[3]), None, &vals[4]),
        _ => (Some(&vals[3]), Some(&vals[4]), &vals[5]),
    };
    // Offset-free centred numerators, exact.
    let cxy = n.mul(sxy).sub(&sx.mul(sy));
    let a = sxx.map(|sxx| n.mul(sxx).sub(&sx.mul(sx)));
    let b = syy.map(|syy| n.mul(syy).sub(&sy.mul(sy)));
    let scale_xy = Num::pow10(cx.scale + cy.scale);
    match func {
        AggFunc::CovarPop => Cell::Float(ratio(&cxy, &n.mul(n).mul(&scale_xy))),
        AggFunc::CovarSamp => {
            if nn < 2 {
                return Cell::Null;
            }
            Cell::Float(ratio(&cxy, &n.mul(&n.sub(&Num::from(1))).mul(&scale_xy)))
        }
        AggFunc::Corr => {
            let (Some(a), Some(b)) = (a, b) else {
                return Cell::Null;
            };
            if a.is_zero() || b.is_zero() {
                return Cell::Null;
            }
            let r = cxy.to_f64() / (a.to_f64().sqrt() * b.to_f64().sqrt());
            Cell::Float(r.clamp(-1.0, 1.0))
        }
        AggFunc::RegrR2 => {
            let (Some(a), Some(b)) = (a, b) else {
                return Cell::Null;
            };
            if a.is_zero() {
                return Cell::Null;
            }
            if b.is_zero() {
                return Cell::Float(1.0);
            }
            Cell::Float(ratio(&cxy.mul(&cxy), &a.mul(&b)).clamp(0.0, 1.0))
        }
        AggFunc::RegrSlope => {
            let Some(a) = a else { return Cell::Null };
            if a.is_zero() {
                return Cell::Null;
            }
            // slope = cxy/A · 10^(sx − sy), kept exact until the division.
            let v = if cx.scale >= cy.scale {
                ratio(&cxy.mul(&Num::pow10(cx.scale - cy.scale)), &a)
            } else {
                ratio(&cxy, &a.mul(&Num::pow10(cy.scale - cx.scale)))
            };
            Cell::Float(v)
        }
        AggFunc::RegrIntercept => {
            let Some(a) = a else { return Cell::Null };
            if a.is_zero() {
                return Cell::Null;
            }
            // intercept = [A·(Sy + n·oy) − cxy·(Sx + n·ox)] / (n·A·10^sy)
            let ty = sy.add(&n.mul(&Num::from(cy.offset as i128)));
            let tx = sx.add(&n.mul(&Num::from(cx.offset as i128)));
            let num = a.mul(&ty).sub(&cxy.mul(&tx));
            let den = n.mul(&a).mul(&Num::pow10(cy.scale));
            Cell::Float(ratio(&num, &den))
        }
        _ => Cell::Null,
    }
}
