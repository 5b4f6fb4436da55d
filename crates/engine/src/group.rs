//! Clear-side evaluation: row access, WHERE with three-valued logic, group keys and per-group
//! accumulators for everything that is computed in clear (row counts, public aggregates).

use crate::plan::{AggFunc, CmpOp, Domain, Operand, OutputExpr, Predicate, Query};
use dtfhe_model::{ColumnKind, PublicType, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Row access for public columns: the executor implements it over decoded chunk columns.
/// Must answer every name of [`Query::public_columns_needed`], including `source` (as
/// `Value::Text`). Unknown names should return `&Value::Null`.
pub trait PublicRow {
    /// The value of `column` (canonical name) in this row.
    fn get(&self, column: &str) -> &Value;
}

static NULL: Value = Value::Null;

impl PublicRow for HashMap<String, Value> {
    fn get(&self, column: &str) -> &Value {
        HashMap::get(self, column).unwrap_or(&NULL)
    }
}

/// SQL comparison of two values: `None` when either is NULL (unknown) or the types do not
/// compare (text vs number). Integers and decimals compare numerically.
pub fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Dec(x), Value::Dec(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Dec(y)) => cmp_int_dec(*x, *y),
        (Value::Dec(x), Value::Int(y)) => cmp_int_dec(*y, *x).map(Ordering::reverse),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn cmp_int_dec(i: i64, d: f64) -> Option<Ordering> {
    if d.is_nan() {
        return None;
    }
    let c = (i as f64).partial_cmp(&d)?;
    if c != Ordering::Equal {
        return Some(c);
    }
    // Equal as f64: d is integral and within ~i64 range; compare exactly.
    if d >= 9_223_372_036_854_775_808.0 {
        return Some(Ordering::Less);
    }
    Some((i as i128).cmp(&(d as i128)))
}

impl Operand {
    fn value<'r>(&'r self, row: &'r dyn PublicRow) -> &'r Value {
        match self {
            Operand::Column(c) => row.get(c),
            Operand::Literal(v) => v,
        }
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

impl Predicate {
    /// Whether the row is selected: the predicate is TRUE (UNKNOWN and FALSE are not).
    pub fn matches(&self, row: &dyn PublicRow) -> bool {
        self.eval(row) == Some(true)
    }

    /// Three-valued evaluation: `None` is SQL UNKNOWN.
    pub fn eval(&self, row: &dyn PublicRow) -> Option<bool> {
        match self {
            Predicate::And(a, b) => and3(a.eval(row), b.eval(row)),
            Predicate::Or(a, b) => or3(a.eval(row), b.eval(row)),
            Predicate::Not(a) => a.eval(row).map(|v| !v),
            Predicate::Compare { left, op, right } => {
                let c = compare_values(left.value(row), right.value(row))?;
                Some(match op {
                    CmpOp::Eq => c == Ordering::Equal,
                    CmpOp::NotEq => c != Ordering::Equal,
                    CmpOp::Lt => c == Ordering::Less,
                    CmpOp::LtEq => c != Ordering::Greater,
                    CmpOp::Gt => c == Ordering::Greater,
                    CmpOp::GtEq => c != Ordering::Less,
                })
            }
            Predicate::InList {
                operand,
                list,
                negated,
            } => {
                let v = operand.value(row);
                let mut acc = Some(false);
                for item in list {
                    let eq = compare_values(v, item.value(row)).map(|c| c == Ordering::Equal);
                    acc = or3(acc, eq);
                    if acc == Some(true) {
                        break;
                    }
                }
                if *negated {
                    acc.map(|b| !b)
                } else {
                    acc
                }
            }
            Predicate::Between {
                operand,
                low,
                high,
                negated,
            } => {
                let v = operand.value(row);
                let ge = compare_values(v, low.value(row)).map(|c| c != Ordering::Less);
                let le = compare_values(v, high.value(row)).map(|c| c != Ordering::Greater);
                let r = and3(ge, le);
                if *negated {
                    r.map(|b| !b)
                } else {
                    r
                }
            }
            Predicate::IsNull { operand, negated } => {
                let is_null = matches!(operand.value(row), Value::Null);
                Some(is_null != *negated)
            }
        }
    }
}

/// A group key with total order, equality and hashing (usable as a map key). Order: per
/// component ascending, numbers numerically, NULL last.
#[derive(Clone, Debug)]
pub struct GroupKey(pub Vec<Value>);

fn rank(v: &Value) -> u8 {
    match v {
        Value::Int(_) | Value::Dec(_) => 0,
        Value::Text(_) => 1,
        Value::Null => 2,
    }
}

/// Total order on values used for group keys: numbers (numerically; an Int before an equal
/// Dec), then text, then NULL.
pub fn total_cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Dec(x), Value::Dec(y)) => norm(*x).total_cmp(&norm(*y)),
        (Value::Int(_), Value::Dec(y)) | (Value::Dec(y), Value::Int(_)) if y.is_nan() => {
            if matches!(a, Value::Dec(_)) {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        _ => match compare_values(a, b) {
            Some(Ordering::Equal) => match (a, b) {
                (Value::Int(_), Value::Dec(_)) => Ordering::Less,
                (Value::Dec(_), Value::Int(_)) => Ordering::Greater,
                _ => Ordering::Equal,
            },
            Some(o) => o,
            None => rank(a).cmp(&rank(b)),
        },
    }
}

fn norm(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x
    }
}

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for GroupKey {}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(&other.0) {
            let c = total_cmp_values(a, b);
            if c != Ordering::Equal {
                return c;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}
impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.len().hash(state);
        for v in &self.0 {
            match v {
                Value::Null => 0u8.hash(state),
                Value::Int(i) => (1u8, *i).hash(state),
                Value::Dec(d) => (2u8, norm(*d).to_bits()).hash(state),
                Value::Text(t) => (3u8, t).hash(state),
            }
        }
    }
}
impl From<Vec<Value>> for GroupKey {
    fn from(v: Vec<Value>) -> Self {
        GroupKey(v)
    }
}

/// What a clear aggregate collects from each row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ClearAcc {
    /// Not a clear aggregate (group key or encrypted aggregate).
    None,
    /// COUNT(*): uses the row count.
    Rows,
    /// Single public column: non-NULL values, plus the exact integer sum for Integer columns.
    Single {
        column: String,
        count: u64,
        values: Vec<f64>,
        int_sum: Option<i128>,
    },
    /// Public pair (y, x): rows where both are non-NULL.
    Pair {
        y: String,
        x: String,
        values: Vec<(f64, f64)>,
    },
}

/// Per-group accumulator for clear things: row count, group key values, public-column
/// aggregates. Feed it only rows that pass the filter and belong to the group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupState {
    key: Vec<Value>,
    rows: u64,
    pub(crate) acc: Vec<ClearAcc>,
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Dec(d) => Some(*d),
        _ => None,
    }
}

impl GroupState {
    /// Count one selected row and feed its public values to the clear aggregates.
    pub fn add_row(&mut self, row: &dyn PublicRow) {
        self.rows += 1;
        for a in &mut self.acc {
            match a {
                ClearAcc::None | ClearAcc::Rows => {}
                ClearAcc::Single {
                    column,
                    count,
                    values,
                    int_sum,
                } => {
                    let v = row.get(column);
                    if !matches!(v, Value::Null) {
                        *count += 1;
                    }
                    if let Some(f) = as_f64(v) {
                        values.push(f);
                        if let (Some(s), Value::Int(i)) = (int_sum.as_mut(), v) {
                            *s += *i as i128;
                        }
                    }
                }
                ClearAcc::Pair { y, x, values } => {
                    if let (Some(fy), Some(fx)) = (as_f64(row.get(y)), as_f64(row.get(x))) {
                        values.push((fy, fx));
                    }
                }
            }
        }
    }

    /// Merge another partial state of the same group (e.g. from another chunk or thread).
    pub fn merge(&mut self, other: GroupState) {
        self.rows += other.rows;
        for (a, b) in self.acc.iter_mut().zip(other.acc) {
            match (a, b) {
                (
                    ClearAcc::Single {
                        values,
                        int_sum,
                        count,
                        ..
                    },
                    ClearAcc::Single {
                        values: v2,
                        int_sum: s2,
                        count: c2,
                        ..
                    },
                ) => {
                    *count += c2;
                    values.extend(v2);
                    if let (Some(s), Some(s2)) = (int_sum.as_mut(), s2) {
                        *s += s2;
                    }
                }
                (ClearAcc::Pair { values, .. }, ClearAcc::Pair { values: v2, .. }) => {
                    values.extend(v2)
                }
                _ => {}
            }
        }
    }

    /// Number of selected rows in the group (public metadata).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The group key values, in GROUP BY order.
    pub fn key(&self) -> &[Value] {
        &self.key
    }
}

impl Query {
    /// A fresh, empty accumulator for the group with this key (empty key without GROUP BY).
    pub fn new_group(&self, key: Vec<Value>) -> GroupState {
        let acc = self
            .outputs
            .iter()
            .map(|o| match &o.expr {
                OutputExpr::GroupKey(_) | OutputExpr::Arith(_) => ClearAcc::None,
                OutputExpr::Aggregate(a) if a.domain == Domain::Encrypted => ClearAcc::None,
                OutputExpr::Aggregate(a) => match a.args.as_slice() {
                    [] => ClearAcc::Rows,
                    [c] => {
                        let is_int = matches!(
                            self.schema.column(c).map(|s| &s.kind),
                            Some(ColumnKind::Public(PublicType::Integer))
                        );
                        ClearAcc::Single {
                            column: c.clone(),
                            count: 0,
                            values: Vec::new(),
                            int_sum: (is_int && a.func == AggFunc::Sum).then_some(0),
                        }
                    }
                    [y, x, ..] => ClearAcc::Pair {
                        y: y.clone(),
                        x: x.clone(),
                        values: Vec::new(),
                    },
                },
            })
            .collect();
        GroupState { key, rows: 0, acc }
    }

    /// The group key of a row: its values of the GROUP BY columns, in order.
    pub fn group_key(&self, row: &dyn PublicRow) -> Vec<Value> {
        self.group_by.iter().map(|c| row.get(c).clone()).collect()
    }

    /// Whether a row passes the WHERE clause (always true without one).
    pub fn selects(&self, row: &dyn PublicRow) -> bool {
        self.filter.as_ref().is_none_or(|p| p.matches(row))
    }
}
