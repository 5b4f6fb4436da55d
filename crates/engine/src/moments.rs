//! Moments: the exact encrypted sums a query needs, and how a statistic's sums map onto them.
//!
//! Each encrypted column `c` is stored as ciphertext parts: `V(c)` (centred fixed-point values,
//! 0 where NULL), `P(c)` (presence flags, stored only for nullable columns) and `Sq(c)` (v²,
//! stored only for nullable columns). A [`Moment`] is Σ over the selected rows of a product of at
//! most two stored parts. Products are normalized with the identities P·P = P, V·P = V,
//! Sq·P = Sq, V·V = Sq (when Sq is stored), P = 1 and Sq = V·V for non-nullable columns.
//! Columns with declared `thresholds` also store one indicator part `Gt_k(c)` = [x > e_k]
//! (0 where NULL) per edge, so Gt_k·P = Gt_k; indicators are only ever summed.

use dtfhe_model::{ColumnKind, FixedPoint, Schema};
use std::fmt;

/// A ciphertext part of an encrypted column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// Centred fixed-point value `v = round(x·10^s) − offset` (0 where NULL).
    Value,
    /// Presence flag: 1 if the value is not NULL, else 0.
    Presence,
    /// Square of the centred value, `v²` (0 where NULL).
    Square,
    /// Indicator `x > thresholds[k]` (1 or 0; 0 where NULL), stored as part `gt{k}`.
    Above(u8),
}

/// One stored ciphertext part of one column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Factor {
    /// Canonical (schema) column name.
    pub column: String,
    /// Which part.
    pub part: Part,
}

/// Σ over the selected rows of the product of the factors (1 or 2 factors, sorted).
/// Zero factors is not a moment: row counts are public and handled in clear.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Moment {
    /// The factors of the product, sorted (1 or 2).
    pub factors: Vec<Factor>,
}

/// Most stored parts a moment may multiply (one ct×ct product per row).
pub const MAX_FACTORS: usize = 2;

impl Factor {
    /// Shorthand constructor.
    pub fn new(column: &str, part: Part) -> Factor {
        Factor {
            column: column.to_string(),
            part,
        }
    }
}

impl Moment {
    /// Largest possible |product of the factors| for one row: `max_abs` for V, `max_abs²` for
    /// Sq, 1 for P (saturating; a column missing from the schema counts as unbounded).
    pub fn bound(&self, schema: &Schema) -> u128 {
        self.factors.iter().fold(1u128, |acc, f| {
            let b = match codec_of(schema, &f.column) {
                None => u128::MAX,
                Some(codec) => {
                    let m = max_abs(codec) as u128;
                    match f.part {
                        Part::Value => m,
                        Part::Presence | Part::Above(_) => 1,
                        Part::Square => m.saturating_mul(m),
                    }
                }
            };
            acc.saturating_mul(b)
        })
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Value => f.write_str("V"),
            Part::Presence => f.write_str("P"),
            Part::Square => f.write_str("Sq"),
            Part::Above(k) => write!(f, "Gt{k}"),
        }
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Σ ")?;
        for (i, x) in self.factors.iter().enumerate() {
            if i > 0 {
                f.write_str("·")?;
            }
            write!(f, "{}({})", x.part, x.column)?;
        }
        Ok(())
    }
}

/// Largest |v| an in-range value encodes to: max(|min_scaled − offset|, |max_scaled − offset|).
pub fn max_abs(codec: &FixedPoint) -> u64 {
    let lo = (codec.min_scaled as i128 - codec.offset as i128).unsigned_abs();
    let hi = (codec.max_scaled as i128 - codec.offset as i128).unsigned_abs();
    u64::try_from(lo.max(hi)).unwrap_or(u64::MAX)
}

pub(crate) fn codec_of<'s>(schema: &'s Schema, column: &str) -> Option<&'s FixedPoint> {
    match &schema.column(column)?.kind {
        ColumnKind::Encrypted(e) => Some(&e.codec),
        ColumnKind::Public(_) => None,
    }
}

/// A sum a statistic needs: either the clear row count or an encrypted moment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// The group's clear row count (the empty product).
    Rows,
    /// An encrypted moment.
    Sum(Moment),
}

/// Normalize a product of parts to a [`Term`]. `Err` carries the normalized factors when more
/// than [`MAX_FACTORS`] remain.
pub(crate) fn normalize(schema: &Schema, factors: &[Factor]) -> Result<Term, Vec<Factor>> {
    // Per column: (#V, #Sq, #P) after expanding non-stored parts.
    let mut cols: std::collections::BTreeMap<String, (u32, u32, u32)> = Default::default();
    // Indicators (idempotent: Gt_k·Gt_k = Gt_k; they absorb P like V does).
    let mut above: std::collections::BTreeSet<(String, u8)> = Default::default();
    for f in factors {
        let e = cols.entry(f.column.clone()).or_default();
        match f.part {
            Part::Above(k) => {
                above.insert((f.column.clone(), k));
            }
            Part::Value => e.0 += 1,
            Part::Square if schema.stores_square(&f.column) => e.1 += 1,
            Part::Square => e.0 += 2,
            Part::Presence if schema.stores_presence(&f.column) => e.2 += 1,
            Part::Presence => {}
        }
    }
    let mut out = Vec::new();
    for (col, (mut v, mut sq, p)) in cols {
        if schema.stores_square(&col) {
            sq += v / 2;
            v %= 2;
        }
        for _ in 0..v {
            out.push(Factor::new(&col, Part::Value));
        }
        for _ in 0..sq {
            out.push(Factor::new(&col, Part::Square));
        }
        let indicators: Vec<u8> = above
            .iter()
            .filter(|(c, _)| *c == col)
            .map(|(_, k)| *k)
            .collect();
        for k in &indicators {
            out.push(Factor::new(&col, Part::Above(*k)));
        }
        if v + sq == 0 && indicators.is_empty() && p > 0 {
            out.push(Factor::new(&col, Part::Presence));
        }
    }
    out.sort();
    match out.len() {
        0 => Ok(Term::Rows),
        n if n <= MAX_FACTORS => Ok(Term::Sum(Moment { factors: out })),
        _ => Err(out),
    }
}

/// Which sum of a statistic: single-column (x) or pair (y, x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SumKind {
    /// COUNT(x) / n over rows where both present.
    N,
    /// Σ v (single column x).
    S1,
    /// Σ v² (single column x).
    S2,
    /// Σ v_x over rows where y present.
    Sx,
    /// Σ v_y over rows where x present.
    Sy,
    /// Σ v_x² over rows where y present.
    Sxx,
    /// Σ v_y² over rows where x present.
    Syy,
    /// Σ v_x·v_y.
    Sxy,
}

/// The part product of one sum for a single column `x` or a pair `(y, x)`.
pub(crate) fn factors_of(kind: SumKind, y: Option<&str>, x: &str) -> Vec<Factor> {
    use Part::*;
    let f = Factor::new;
    match (kind, y) {
        (SumKind::N, None) => vec![f(x, Presence)],
        (SumKind::S1, _) => vec![f(x, Value)],
        (SumKind::S2, _) => vec![f(x, Square)],
        (SumKind::N, Some(y)) => vec![f(x, Presence), f(y, Presence)],
        (SumKind::Sx, Some(y)) => vec![f(x, Value), f(y, Presence)],
        (SumKind::Sy, Some(y)) => vec![f(y, Value), f(x, Presence)],
        (SumKind::Sxx, Some(y)) => vec![f(x, Square), f(y, Presence)],
        (SumKind::Syy, Some(y)) => vec![f(y, Square), f(x, Presence)],
        (SumKind::Sxy, Some(y)) => vec![f(x, Value), f(y, Value)],
        (_, None) => vec![f(x, Value)],
    }
}
