//! SQL parsing and planning: from SQL text to a checked [`Query`].

use crate::error::EngineError;
use crate::limits::ParsedQuery;
use crate::moments::{factors_of, normalize, Factor, Moment, Part, SumKind, Term};
use dtfhe_model::{ColumnKind, ColumnSpec, PublicType, Schema, Usage, Value};
use sqlparser::ast::{
    self, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    LimitClause, OrderByKind, SelectItem, SetExpr, Statement, TableFactor, UnaryOperator,
};

/// Name of the implicit public text column holding each row's data owner (e.g. the plant).
pub const SOURCE_COLUMN: &str = "source";

/// The datasets a query may name: dataset name (case-insensitive) → schema.
#[derive(Debug, Clone, Default)]
pub struct Catalog<'a> {
    schemas: Vec<&'a Schema>,
}

impl<'a> Catalog<'a> {
    /// A catalog over the given schemas.
    pub fn new(schemas: &[&'a Schema]) -> Catalog<'a> {
        Catalog {
            schemas: schemas.to_vec(),
        }
    }

    /// Register one more schema (a later one with the same name shadows earlier ones).
    pub fn add(&mut self, schema: &'a Schema) {
        self.schemas.push(schema);
    }

    /// Look a dataset up by name (case-insensitive).
    pub fn get(&self, dataset: &str) -> Option<&'a Schema> {
        self.schemas
            .iter()
            .rev()
            .find(|s| s.dataset.eq_ignore_ascii_case(dataset))
            .copied()
    }
}

/// A supported aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `COUNT(*)` or `COUNT(col)`.
    Count,
    /// `SUM(col)`.
    Sum,
    /// `AVG(col)`.
    Avg,
    /// `VAR_POP(col)`.
    VarPop,
    /// `VAR_SAMP(col)` / `VARIANCE(col)`.
    VarSamp,
    /// `STDDEV_POP(col)`.
    StddevPop,
    /// `STDDEV_SAMP(col)` / `STDDEV(col)`.
    StddevSamp,
    /// `COVAR_POP(y, x)`.
    CovarPop,
    /// `COVAR_SAMP(y, x)`.
    CovarSamp,
    /// `CORR(y, x)`.
    Corr,
    /// `REGR_SLOPE(y, x)`: slope of the least-squares line y = a + b·x.
    RegrSlope,
    /// `REGR_INTERCEPT(y, x)`: intercept of the least-squares line.
    RegrIntercept,
    /// `REGR_R2(y, x)`: coefficient of determination.
    RegrR2,
    /// `COUNT(*) FILTER (WHERE x > e_k)`: rows whose value exceeds the declared threshold
    /// `e_k` of `x` (Σ of the indicator part `gt{k}`).
    CountAbove(u8),
    /// `COUNT(*) FILTER (WHERE x <= e_k)`: non-NULL rows not above `e_k` (COUNT(x) − Σ gt{k}).
    CountAtMost(u8),
    /// `HISTOGRAM(x)`: bucket counts between the declared thresholds, as one structured cell
    /// ([`crate::Cell::Histogram`]).
    Histogram,
    /// `APPROX_PERCENTILE(x, p)`, interpolated in the histogram; `p` kept as `f64::to_bits`
    /// (so the enum stays `Eq + Hash`), see [`AggFunc::percentile`].
    ApproxPercentile(u64),
}

impl AggFunc {
    /// Look a function up by SQL name (case-insensitive), including the aliases
    /// `VARIANCE` (= VAR_SAMP) and `STDDEV` (= STDDEV_SAMP).
    pub fn from_name(name: &str) -> Option<AggFunc> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "var_pop" => AggFunc::VarPop,
            "var_samp" | "variance" => AggFunc::VarSamp,
            "stddev_pop" => AggFunc::StddevPop,
            "stddev_samp" | "stddev" => AggFunc::StddevSamp,
            "covar_pop" => AggFunc::CovarPop,
            "covar_samp" => AggFunc::CovarSamp,
            "corr" => AggFunc::Corr,
            "regr_slope" => AggFunc::RegrSlope,
            "regr_intercept" => AggFunc::RegrIntercept,
            "regr_r2" => AggFunc::RegrR2,
            "histogram" => AggFunc::Histogram,
            // p is set by the planner from the second argument.
            "approx_percentile" => AggFunc::ApproxPercentile(0.5f64.to_bits()),
            _ => return None,
        })
    }

    /// Canonical lowercase SQL name.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::VarPop => "var_pop",
            AggFunc::VarSamp => "var_samp",
            AggFunc::StddevPop => "stddev_pop",
            AggFunc::StddevSamp => "stddev_samp",
            AggFunc::CovarPop => "covar_pop",
            AggFunc::CovarSamp => "covar_samp",
            AggFunc::Corr => "corr",
            AggFunc::RegrSlope => "regr_slope",
            AggFunc::RegrIntercept => "regr_intercept",
            AggFunc::RegrR2 => "regr_r2",
            AggFunc::CountAbove(_) | AggFunc::CountAtMost(_) => "count",
            AggFunc::Histogram => "histogram",
            AggFunc::ApproxPercentile(_) => "approx_percentile",
        }
    }

    /// Whether the function is computed from declared thresholds (filtered COUNT,
    /// HISTOGRAM, APPROX_PERCENTILE).
    pub fn is_threshold(self) -> bool {
        matches!(
            self,
            AggFunc::CountAbove(_)
                | AggFunc::CountAtMost(_)
                | AggFunc::Histogram
                | AggFunc::ApproxPercentile(_)
        )
    }

    /// The fraction p of `APPROX_PERCENTILE(x, p)`.
    pub fn percentile(self) -> Option<f64> {
        match self {
            AggFunc::ApproxPercentile(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    /// Number of column arguments (COUNT(*) has 0 and is special-cased).
    pub fn arity(self) -> usize {
        if self.is_pair() {
            2
        } else {
            1
        }
    }

    /// Whether the function takes a (y, x) pair.
    pub fn is_pair(self) -> bool {
        matches!(
            self,
            AggFunc::CovarPop
                | AggFunc::CovarSamp
                | AggFunc::Corr
                | AggFunc::RegrSlope
                | AggFunc::RegrIntercept
                | AggFunc::RegrR2
        )
    }

    /// Whether the function needs products of values (refused on `usage = "sum"` columns).
    pub fn is_product(self) -> bool {
        !matches!(self, AggFunc::Count | AggFunc::Sum | AggFunc::Avg) && !self.is_threshold()
    }

    /// The sums this function is finalized from (for encrypted arguments).
    pub(crate) fn sums(self) -> &'static [SumKind] {
        use SumKind::*;
        match self {
            AggFunc::Count => &[N],
            AggFunc::Sum | AggFunc::Avg => &[N, S1],
            AggFunc::VarPop | AggFunc::VarSamp | AggFunc::StddevPop | AggFunc::StddevSamp => {
                &[N, S1, S2]
            }
            AggFunc::CovarPop | AggFunc::CovarSamp => &[N, Sx, Sy, Sxy],
            AggFunc::RegrSlope | AggFunc::RegrIntercept => &[N, Sx, Sy, Sxx, Sxy],
            AggFunc::Corr | AggFunc::RegrR2 => &[N, Sx, Sy, Sxx, Syy, Sxy],
            // See `Aggregate::threshold_terms`.
            AggFunc::CountAbove(_)
            | AggFunc::CountAtMost(_)
            | AggFunc::Histogram
            | AggFunc::ApproxPercentile(_) => &[],
        }
    }
}

/// Where an aggregate is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// In clear, from public column values (and `COUNT(*)` from row counts).
    Clear,
    /// From exact encrypted sums ([`Moment`]s).
    Encrypted,
}

/// One aggregate of the SELECT list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Aggregate {
    /// The function.
    pub func: AggFunc,
    /// Canonical column names: empty for `COUNT(*)`, `[x]` for single-column functions,
    /// `[y, x]` for pair functions (SQL order: dependent first).
    pub args: Vec<String>,
    /// Clear or encrypted.
    pub domain: Domain,
}

impl Aggregate {
    /// The single-column argument or, for pairs, `(Some(y), x)`; `None` for `COUNT(*)`.
    pub(crate) fn yx(&self) -> Option<(Option<&str>, &str)> {
        match self.args.as_slice() {
            [x] => Some((None, x.as_str())),
            [y, x] => Some((Some(y.as_str()), x.as_str())),
            _ => None,
        }
    }

    /// The sums (clear row count or encrypted moments) this aggregate is finalized from, in
    /// the order of [`AggFunc`]'s formulas. Empty for clear aggregates.
    pub fn terms(&self, schema: &Schema) -> Vec<Term> {
        self.terms_checked(schema).unwrap_or_default()
    }

    pub(crate) fn terms_checked(&self, schema: &Schema) -> Result<Vec<Term>, EngineError> {
        if self.domain != Domain::Encrypted {
            return Ok(Vec::new());
        }
        let Some((y, x)) = self.yx() else {
            return Ok(Vec::new());
        };
        if self.func.is_threshold() {
            return Ok(self.threshold_terms(schema, x));
        }
        let mut out = Vec::new();
        for &kind in self.func.sums() {
            match normalize(schema, &factors_of(kind, y, x)) {
                Ok(t) => out.push(t),
                Err(factors) => {
                    let parts: Vec<String> = factors
                        .iter()
                        .map(|f| format!("{}({})", f.part, f.column))
                        .collect();
                    return Err(EngineError::Unsupported(format!(
                        "{}({}): it needs Σ {} (a product of {} ciphertexts, because one column is nullable and the other is not); this",
                        self.func.name(),
                        self.args.join(", "),
                        parts.join("·"),
                        factors.len()
                    )));
                }
            }
        }
        Ok(out)
    }
}

impl Aggregate {
    /// Threshold aggregates over `x`: filtered COUNT > e_k → [Σ gt_k]; ≤ e_k → [n, Σ gt_k];
    /// HISTOGRAM / APPROX_PERCENTILE → [n, Σ gt_0, …, Σ gt_{K−1}] (n = COUNT(x)).
    fn threshold_terms(&self, schema: &Schema, x: &str) -> Vec<Term> {
        let term = |factors: &[Factor]| normalize(schema, factors).unwrap_or(Term::Rows);
        let n = || term(&factors_of(SumKind::N, None, x));
        let above = |k: u8| term(&[Factor::new(x, Part::Above(k))]);
        match self.func {
            AggFunc::CountAbove(k) => vec![above(k)],
            AggFunc::CountAtMost(k) => vec![n(), above(k)],
            _ => {
                let edges = schema.thresholds(x).len().min(dtfhe_model::MAX_THRESHOLDS);
                std::iter::once(n())
                    .chain((0..edges as u8).map(above))
                    .collect()
            }
        }
    }
}

/// What one output column computes.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputExpr {
    /// The group-key value at this index of [`Query::group_by`].
    GroupKey(usize),
    /// An aggregate.
    Aggregate(Aggregate),
    /// Arithmetic over aggregates (`SUM(good) / SUM(total)`, `100 * AVG(x)`), finalized in
    /// clear from the released aggregates: OEE, yields, defect rates.
    Arith(ArithExpr),
}

/// Arithmetic over the values of other output columns.
#[derive(Clone, Debug, PartialEq)]
pub enum ArithExpr {
    /// The value of output column `i` (usually a hidden aggregate).
    Ref(usize),
    /// A numeric literal.
    Num(f64),
    /// Unary minus.
    Neg(Box<ArithExpr>),
    /// A binary operation.
    Bin(Box<ArithExpr>, ArithOp, Box<ArithExpr>),
}

/// Operator of an [`ArithExpr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (NULL on division by zero, as in SQL engines that do not raise)
    Div,
}

impl ArithExpr {
    /// Evaluate over the already computed cells of the row; NULL propagates.
    pub fn eval(&self, cells: &[Option<f64>]) -> Option<f64> {
        match self {
            ArithExpr::Ref(i) => cells.get(*i).copied().flatten(),
            ArithExpr::Num(v) => Some(*v),
            ArithExpr::Neg(e) => e.eval(cells).map(|v| -v),
            ArithExpr::Bin(a, op, b) => {
                let (a, b) = (a.eval(cells)?, b.eval(cells)?);
                match op {
                    ArithOp::Add => Some(a + b),
                    ArithOp::Sub => Some(a - b),
                    ArithOp::Mul => Some(a * b),
                    ArithOp::Div if b == 0.0 => None,
                    ArithOp::Div => Some(a / b),
                }
            }
        }
    }

    fn shift_refs(&mut self, from: usize, by: usize) {
        match self {
            ArithExpr::Ref(i) if *i >= from => *i += by,
            ArithExpr::Neg(e) => e.shift_refs(from, by),
            ArithExpr::Bin(a, _, b) => {
                a.shift_refs(from, by);
                b.shift_refs(from, by);
            }
            _ => {}
        }
    }
}

/// One output column.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Column name: the alias, or a default like `avg(torque)` / `count(*)` / `line`.
    pub name: String,
    /// What it computes.
    pub expr: OutputExpr,
    /// An aggregate computed only as an operand of an [`OutputExpr::Arith`] column; not shown.
    pub hidden: bool,
}

/// Comparison operator of a WHERE predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

/// One side of a comparison: a public column or a literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// Canonical name of a public column (may be `source`).
    Column(String),
    /// A literal (`Value::Null` for `NULL`).
    Literal(Value),
}

/// A WHERE predicate over public columns, evaluated with SQL three-valued logic.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// `a AND b`
    And(Box<Predicate>, Box<Predicate>),
    /// `a OR b`
    Or(Box<Predicate>, Box<Predicate>),
    /// `NOT a`
    Not(Box<Predicate>),
    /// `left op right`
    Compare {
        /// Left operand.
        left: Operand,
        /// Operator.
        op: CmpOp,
        /// Right operand.
        right: Operand,
    },
    /// `operand [NOT] IN (list)`
    InList {
        /// Tested operand.
        operand: Operand,
        /// Candidates.
        list: Vec<Operand>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `operand [NOT] BETWEEN low AND high` (inclusive).
    Between {
        /// Tested operand.
        operand: Operand,
        /// Lower bound.
        low: Operand,
        /// Upper bound.
        high: Operand,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `operand IS [NOT] NULL`
    IsNull {
        /// Tested operand.
        operand: Operand,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

/// A planned, policy-checked query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Canonical dataset name.
    pub dataset: String,
    /// WHERE predicate (public columns only).
    pub filter: Option<Predicate>,
    /// GROUP BY columns, canonical names (public only; may include `source`).
    pub group_by: Vec<String>,
    /// Output columns in SELECT order.
    pub outputs: Vec<Output>,
    /// ORDER BY: (index into `group_by`, descending).
    pub order_by: Vec<(usize, bool)>,
    /// LIMIT.
    pub limit: Option<u64>,
    /// The schema the query was planned against (for a join: both datasets' columns,
    /// qualified as `alias.column`).
    pub schema: Schema,
    /// The inner join across two per-product (lane) datasets, if any.
    pub join: Option<Join>,
}

/// One side of a join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinSide {
    /// Dataset name.
    pub dataset: String,
    /// Alias used to qualify its columns in the combined schema.
    pub alias: String,
}

/// An inner join of two lane datasets on their shared lane key (the product id): their
/// ciphertexts line up slot by slot, so products across datasets are slot-wise products.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    /// Left and right datasets.
    pub sides: [JoinSide; 2],
    /// The lane key column (same name in both datasets).
    pub key: String,
}

impl Query {
    /// Distinct moments needed (deduplicated, sorted) for the encrypted aggregates.
    pub fn moments(&self) -> Vec<Moment> {
        let mut out: Vec<Moment> = self
            .aggregates()
            .flat_map(|a| a.terms(&self.schema))
            .filter_map(|t| match t {
                Term::Sum(m) => Some(m),
                Term::Rows => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Names of public columns whose values the executor must supply per row (filter, group
    /// keys, public aggregates), in first-use order, without duplicates.
    pub fn public_columns_needed(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |c: &str| {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        };
        if let Some(p) = &self.filter {
            let mut cols = Vec::new();
            p.columns(&mut cols);
            cols.iter().for_each(|c| push(c));
        }
        self.group_by.iter().for_each(|c| push(c));
        for a in self.aggregates() {
            if a.domain == Domain::Clear {
                a.args.iter().for_each(|c| push(c));
            }
        }
        out
    }

    /// The output column names (aliases or defaults).
    pub fn column_names(&self) -> Vec<String> {
        self.visible().map(|o| o.name.clone()).collect()
    }

    /// The output columns shown to the user, in SELECT order (hidden operands excluded).
    pub fn visible(&self) -> impl Iterator<Item = &Output> {
        self.outputs.iter().filter(|o| !o.hidden)
    }

    /// The aggregates of the SELECT list, in order.
    pub fn aggregates(&self) -> impl Iterator<Item = &Aggregate> {
        self.outputs.iter().filter_map(|o| match &o.expr {
            OutputExpr::Aggregate(a) => Some(a),
            OutputExpr::GroupKey(_) | OutputExpr::Arith(_) => None,
        })
    }

    /// Names of the encrypted columns the query reads (through its moments).
    pub fn encrypted_columns_needed(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .moments()
            .into_iter()
            .flat_map(|m| m.factors.into_iter().map(|f| f.column))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Identifier columns (`role = "key"`) that the WHERE or GROUP BY reads: a released
    /// aggregate filtered or grouped on one is refused unless the trustees' policy allows it.
    pub fn key_columns_used(&self) -> Vec<String> {
        let mut cols = Vec::new();
        if let Some(p) = &self.filter {
            p.columns(&mut cols);
        }
        for g in &self.group_by {
            if !cols.contains(g) {
                cols.push(g.clone());
            }
        }
        cols.retain(|c| self.schema.column(c).is_some_and(|spec| spec.key));
        cols
    }

    /// The stored datasets the query reads, without repeats (a self-join reads one): what a
    /// release is audited and charged against.
    pub fn base_datasets(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.join {
            None => vec![self.dataset.clone()],
            Some(j) => j.sides.iter().map(|s| s.dataset.clone()).collect(),
        };
        out.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        out
    }
}

impl Predicate {
    /// Public columns the predicate reads (appended to `out`).
    pub fn columns(&self, out: &mut Vec<String>) {
        let mut op = |o: &Operand| {
            if let Operand::Column(c) = o {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
        };
        match self {
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
            Predicate::Not(a) => a.columns(out),
            Predicate::Compare { left, right, .. } => {
                op(left);
                op(right);
            }
            Predicate::InList { operand, list, .. } => {
                op(operand);
                list.iter().for_each(op);
            }
            Predicate::Between {
                operand, low, high, ..
            } => {
                op(operand);
                op(low);
                op(high);
            }
            Predicate::IsNull { operand, .. } => op(operand),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

/// Parse and plan one SELECT statement against the catalog, enforcing the release policy
/// and the size limits of [`crate::limits`].
pub fn plan(sql: &str, catalog: &Catalog) -> Result<Query, EngineError> {
    plan_parsed(&crate::limits::parse(sql)?, catalog)
}

/// Plan a statement already parsed (and checked against the limits) by
/// [`crate::limits::parse`]: a caller that checks grants on [`ParsedQuery::datasets`] first
/// parses once.
pub fn plan_parsed(parsed: &ParsedQuery, catalog: &Catalog) -> Result<Query, EngineError> {
    let Statement::Query(q) = &parsed.statement else {
        return Err(EngineError::Unsupported(
            "statements other than SELECT".into(),
        ));
    };
    plan_query(q, catalog)
}

#[derive(Clone, Debug)]
enum ColKind {
    Public(PublicType),
    Encrypted(Usage),
}

#[derive(Clone, Debug)]
struct Col {
    name: String,
    kind: ColKind,
}

struct Ctx<'a> {
    schema: &'a Schema,
    alias: Option<String>,
    /// Join mode: (alias, dataset) of each side; column names are `alias.column`.
    sides: Vec<(String, String)>,
}

impl Ctx<'_> {
    fn lookup(&self, name: &str) -> Result<Col, EngineError> {
        if !self.sides.is_empty() && !name.contains('.') {
            let suffix = format!(".{}", name.to_ascii_lowercase());
            let hits: Vec<&ColumnSpec> = self
                .schema
                .columns
                .iter()
                .filter(|c| c.name.to_ascii_lowercase().ends_with(&suffix))
                .collect();
            return match hits.as_slice() {
                [one] => self.lookup(&one.name.clone()),
                [] => Err(EngineError::UnknownColumn {
                    column: name.to_string(),
                    dataset: self.schema.dataset.clone(),
                }),
                _ => Err(EngineError::Parse(format!(
                    "column `{name}` is ambiguous in the join: qualify it as {}",
                    hits.iter()
                        .map(|c| format!("`{}`", c.name))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))),
            };
        }
        if let Some(c) = self.schema.column(name) {
            let kind = match &c.kind {
                ColumnKind::Public(t) => ColKind::Public(*t),
                ColumnKind::Encrypted(e) => ColKind::Encrypted(e.usage),
            };
            return Ok(Col {
                name: c.name.clone(),
                kind,
            });
        }
        if name.eq_ignore_ascii_case(SOURCE_COLUMN) {
            return Ok(Col {
                name: SOURCE_COLUMN.into(),
                kind: ColKind::Public(PublicType::Text),
            });
        }
        Err(EngineError::UnknownColumn {
            column: name.to_string(),
            dataset: self.schema.dataset.clone(),
        })
    }

    /// `Some` if the expression is a (possibly qualified) column reference.
    fn column(&self, e: &Expr) -> Option<Result<Col, EngineError>> {
        match e {
            Expr::Identifier(id) => Some(self.lookup(&id.value)),
            Expr::CompoundIdentifier(ids) if ids.len() == 2 && !self.sides.is_empty() => {
                let q = &ids[0].value;
                match self
                    .sides
                    .iter()
                    .find(|(a, d)| a.eq_ignore_ascii_case(q) || d.eq_ignore_ascii_case(q))
                {
                    Some((alias, _)) => Some(self.lookup(&format!("{alias}.{}", ids[1].value))),
                    None => Some(Err(EngineError::UnknownColumn {
                        column: e.to_string(),
                        dataset: self.schema.dataset.clone(),
                    })),
                }
            }
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                let q = &ids[0].value;
                let ok = q.eq_ignore_ascii_case(&self.schema.dataset)
                    || self
                        .alias
                        .as_ref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(q));
                if ok {
                    Some(self.lookup(&ids[1].value))
                } else {
                    Some(Err(EngineError::UnknownColumn {
                        column: e.to_string(),
                        dataset: self.schema.dataset.clone(),
                    }))
                }
            }
            Expr::Nested(inner) => self.column(inner),
            _ => None,
        }
    }

    fn public_column(&self, e: &Expr, clause: &str) -> Option<Result<Col, EngineError>> {
        self.column(e).map(|r| {
            r.and_then(|c| match c.kind {
                ColKind::Encrypted(_) => Err(EngineError::EncryptedColumnInClause {
                    column: c.name,
                    clause: clause.into(),
                }),
                ColKind::Public(_) => Ok(c),
            })
        })
    }
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError::Unsupported(what.into()))
}

/// Refuses the first clause of `clauses` (is it present, its name) that is present.
fn none_present(clauses: &[(bool, &str)]) -> Result<(), EngineError> {
    match clauses.iter().find(|(present, _)| *present) {
        Some((_, what)) => unsupported(*what),
        None => Ok(()),
    }
}

fn plan_query(q: &ast::Query, catalog: &Catalog) -> Result<Query, EngineError> {
    none_present(&[
        (q.with.is_some(), "WITH (common table expressions)"),
        (q.fetch.is_some(), "FETCH"),
        (
            !q.locks.is_empty() || q.for_clause.is_some(),
            "FOR UPDATE / FOR clauses",
        ),
        (
            q.settings.is_some() || q.format_clause.is_some() || !q.pipe_operators.is_empty(),
            "SETTINGS / FORMAT / pipe operators",
        ),
    ])?;
    let select = match q.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::Query(_) => return unsupported("subqueries"),
        SetExpr::SetOperation { op, .. } => return unsupported(format!("{op}")),
        SetExpr::Values(_) => return unsupported("VALUES"),
        other => return unsupported(format!("`{other}`")),
    };
    if let Some(d) = &select.distinct {
        return match d {
            ast::Distinct::All => unsupported("SELECT ALL"),
            _ => unsupported("DISTINCT"),
        };
    }
    none_present(&[
        (select.top.is_some(), "TOP"),
        (select.into.is_some(), "SELECT INTO"),
        (select.having.is_some(), "HAVING"),
        (
            !select.named_window.is_empty() || select.qualify.is_some(),
            "window functions",
        ),
        (
            select.prewhere.is_some()
                || !select.lateral_views.is_empty()
                || !select.connect_by.is_empty()
                || !select.cluster_by.is_empty()
                || !select.distribute_by.is_empty()
                || !select.sort_by.is_empty()
                || select.exclude.is_some(),
            "dialect-specific SELECT clauses",
        ),
    ])?;

    // FROM
    let table = match select.from.as_slice() {
        [] => return unsupported("SELECT without FROM"),
        [t] => t,
        _ => return unsupported("joins (several tables in FROM)"),
    };
    let combined: Schema;
    let (schema, ctx, join) = if table.joins.is_empty() {
        let (dataset, alias) = table_name(&table.relation)?;
        let schema = catalog
            .get(&dataset)
            .ok_or_else(|| EngineError::UnknownDataset(dataset.clone()))?;
        let ctx = Ctx {
            schema,
            alias,
            sides: Vec::new(),
        };
        (schema, ctx, None)
    } else {
        let (c, join) = plan_join(table, catalog)?;
        combined = c;
        let sides = join
            .sides
            .iter()
            .map(|s| (s.alias.clone(), s.dataset.clone()))
            .collect();
        let ctx = Ctx {
            schema: &combined,
            alias: None,
            sides,
        };
        (&combined, ctx, Some(join))
    };

    // WHERE
    let filter = match &select.selection {
        Some(e) => Some(plan_predicate(&ctx, e)?),
        None => None,
    };

    // GROUP BY
    let mut group_by: Vec<String> = Vec::new();
    match &select.group_by {
        GroupByExpr::All(_) => return unsupported("GROUP BY ALL"),
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return unsupported("GROUP BY modifiers (ROLLUP, CUBE, TOTALS)");
            }
            for e in exprs {
                match ctx.public_column(e, "GROUP BY") {
                    Some(c) => {
                        let c = c?;
                        if !group_by.contains(&c.name) {
                            group_by.push(c.name);
                        }
                    }
                    None => {
                        return unsupported(format!(
                            "GROUP BY `{e}` (only plain public columns can be grouped on)"
                        ))
                    }
                }
            }
        }
    }

    // SELECT list; aggregates inside arithmetic become hidden outputs appended at the end.
    let mut outputs = Vec::new();
    let mut hidden: Vec<Output> = Vec::new();
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            SelectItem::ExprWithAliases { .. } => return unsupported("multiple aliases"),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                if let Some(c) = schema
                    .columns
                    .iter()
                    .find(|c| matches!(c.kind, ColumnKind::Encrypted(_)))
                {
                    return Err(EngineError::EncryptedColumnSelected {
                        column: c.name.clone(),
                    });
                }
                return Err(EngineError::NotAggregated { item: "*".into() });
            }
        };
        let (default_name, out) = plan_item(&ctx, expr, &group_by, &mut hidden)?;
        outputs.push(Output {
            name: alias.unwrap_or(default_name),
            expr: out,
            hidden: false,
        });
    }
    if outputs.is_empty() {
        return Err(EngineError::Parse("empty SELECT list".into()));
    }
    let visible = outputs.len();
    for o in &mut outputs {
        if let OutputExpr::Arith(a) = &mut o.expr {
            a.shift_refs(0, visible);
        }
    }
    outputs.extend(hidden);

    // ORDER BY
    let mut order_by = Vec::new();
    if let Some(ob) = &q.order_by {
        if ob.interpolate.is_some() {
            return unsupported("INTERPOLATE");
        }
        let exprs = match &ob.kind {
            OrderByKind::All(_) => return unsupported("ORDER BY ALL"),
            OrderByKind::Expressions(v) => v,
        };
        for o in exprs {
            if o.with_fill.is_some() {
                return unsupported("WITH FILL");
            }
            if o.options.nulls_first.is_some() {
                return unsupported("NULLS FIRST / NULLS LAST");
            }
            let desc = match &o.options.sort {
                None | Some(ast::OrderBySort::Asc) => false,
                Some(ast::OrderBySort::Desc) => true,
                Some(ast::OrderBySort::Using(_)) => return unsupported("ORDER BY ... USING"),
            };
            let idx = order_key(&ctx, &o.expr, &outputs, &group_by)?;
            if !order_by.iter().any(|(i, _)| *i == idx) {
                order_by.push((idx, desc));
            }
        }
    }

    // LIMIT
    let limit = match &q.limit_clause {
        None => None,
        Some(LimitClause::OffsetCommaLimit { .. }) => return unsupported("LIMIT offset, count"),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if offset.is_some() {
                return unsupported("OFFSET");
            }
            if !limit_by.is_empty() {
                return unsupported("LIMIT BY");
            }
            match limit {
                None => None,
                Some(Expr::Value(v)) => match &v.value {
                    ast::Value::Number(n, _) => Some(n.parse::<u64>().map_err(|_| {
                        EngineError::Parse(format!("LIMIT must be a non-negative integer, got {n}"))
                    })?),
                    ast::Value::Null => None,
                    other => {
                        return Err(EngineError::Parse(format!(
                            "LIMIT must be a non-negative integer, got {other}"
                        )))
                    }
                },
                Some(e) => return unsupported(format!("LIMIT `{e}` (only integer literals)")),
            }
        }
    };

    Ok(Query {
        dataset: schema.dataset.clone(),
        filter,
        group_by,
        outputs,
        order_by,
        limit,
        schema: schema.clone(),
        join,
    })
}

/// Dataset name and alias of a plain table reference.
fn table_name(relation: &TableFactor) -> Result<(String, Option<String>), EngineError> {
    match relation {
        TableFactor::Table {
            name, alias, args, ..
        } => {
            if args.is_some() {
                return unsupported("table functions");
            }
            let dataset = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.clone())
                .unwrap_or_else(|| name.to_string());
            Ok((dataset, alias.as_ref().map(|a| a.name.value.clone())))
        }
        TableFactor::Derived { .. } => unsupported("subqueries in FROM"),
        other => unsupported(format!("`{other}` in FROM")),
    }
}

/// `FROM a [AS x] [INNER] JOIN b [AS y] ON x.k = y.k` over two lane datasets sharing the
/// lane key k: the combined schema qualifies every column as `alias.column`.
fn plan_join(
    table: &ast::TableWithJoins,
    catalog: &Catalog,
) -> Result<(Schema, Join), EngineError> {
    let [j] = table.joins.as_slice() else {
        return unsupported("joins of more than two datasets");
    };
    let constraint = match &j.join_operator {
        ast::JoinOperator::Join(c) | ast::JoinOperator::Inner(c) => c,
        _ => return unsupported("outer, cross and other non-inner joins"),
    };
    let on = match constraint {
        ast::JoinConstraint::On(e) => e,
        _ => return unsupported("joins without ON a.key = b.key"),
    };
    let (ld, la) = table_name(&table.relation)?;
    let (rd, ra) = table_name(&j.relation)?;
    let (ls, rs) = (
        catalog
            .get(&ld)
            .ok_or_else(|| EngineError::UnknownDataset(ld.clone()))?,
        catalog
            .get(&rd)
            .ok_or_else(|| EngineError::UnknownDataset(rd.clone()))?,
    );
    let la = la.unwrap_or_else(|| ls.dataset.clone());
    let ra = ra.unwrap_or_else(|| rs.dataset.clone());
    if la.eq_ignore_ascii_case(&ra) {
        return Err(EngineError::Parse(
            "the two sides of a join need different aliases".into(),
        ));
    }
    let (Some(lk), Some(rk)) = (&ls.lanes, &rs.lanes) else {
        return unsupported(format!(
            "joining `{}` and `{}`: only per-product datasets (schema key `lanes`) can be joined",
            ls.dataset, rs.dataset
        ));
    };
    if !lk.eq_ignore_ascii_case(rk) {
        return unsupported(format!(
            "joining datasets with different lane keys (`{lk}` and `{rk}`)"
        ));
    }
    // ON x.k = y.k (either order).
    let key_of = |e: &Expr| -> Option<(String, String)> {
        match e {
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                Some((ids[0].value.clone(), ids[1].value.clone()))
            }
            Expr::Nested(inner) => match inner.as_ref() {
                Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                    Some((ids[0].value.clone(), ids[1].value.clone()))
                }
                _ => None,
            },
            _ => None,
        }
    };
    let ok = match on {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } => match (key_of(left), key_of(right)) {
            (Some((qa, ca)), Some((qb, cb))) => {
                let is = |q: &str, alias: &str, ds: &str| {
                    q.eq_ignore_ascii_case(alias) || q.eq_ignore_ascii_case(ds)
                };
                let sides_ok = (is(&qa, &la, &ls.dataset) && is(&qb, &ra, &rs.dataset))
                    || (is(&qa, &ra, &rs.dataset) && is(&qb, &la, &ls.dataset));
                sides_ok && ca.eq_ignore_ascii_case(lk) && cb.eq_ignore_ascii_case(lk)
            }
            _ => false,
        },
        _ => false,
    };
    if !ok {
        return unsupported(format!(
            "join conditions other than {la}.{lk} = {ra}.{lk} (the product lane)"
        ));
    }
    let mut columns = Vec::new();
    for (alias, schema) in [(&la, ls), (&ra, rs)] {
        if schema
            .columns
            .iter()
            .any(|c| c.nullable && c.is_encrypted())
        {
            return unsupported(format!(
                "joins over `{}`, which has nullable encrypted columns",
                schema.dataset
            ));
        }
        for c in &schema.columns {
            let mut c = c.clone();
            c.name = format!("{alias}.{}", c.name);
            columns.push(c);
        }
        columns.push(ColumnSpec {
            name: format!("{alias}.{SOURCE_COLUMN}"),
            source: SOURCE_COLUMN.into(),
            kind: ColumnKind::Public(PublicType::Text),
            nullable: false,
            key: false,
        });
    }
    let dataset = format!("{}_join_{}", ls.dataset, rs.dataset);
    let combined = Schema {
        dataset,
        stage: ls.stage,
        csv: ls.csv.clone(),
        columns,
        lanes: Some(format!("{la}.{lk}")),
    };
    let join = Join {
        sides: [
            JoinSide {
                dataset: ls.dataset.clone(),
                alias: la,
            },
            JoinSide {
                dataset: rs.dataset.clone(),
                alias: ra,
            },
        ],
        key: lk.clone(),
    };
    Ok((combined, join))
}

fn order_key(
    ctx: &Ctx,
    e: &Expr,
    outputs: &[Output],
    group_by: &[String],
) -> Result<usize, EngineError> {
    let not_key = || EngineError::OrderByNotGroupKey {
        item: e.to_string(),
    };
    let by_output = |o: &Output| match o.expr {
        OutputExpr::GroupKey(i) => Ok(i),
        OutputExpr::Aggregate(_) | OutputExpr::Arith(_) => Err(not_key()),
    };
    match e {
        Expr::Identifier(id) => {
            if let Some(o) = outputs
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&id.value))
            {
                return by_output(o);
            }
        }
        Expr::Value(v) => {
            if let ast::Value::Number(n, _) = &v.value {
                let k: usize = n.parse().map_err(|_| not_key())?;
                return match k.checked_sub(1).and_then(|i| outputs.get(i)) {
                    Some(o) => by_output(o),
                    None => Err(EngineError::OrderByNotGroupKey {
                        item: format!("{n} (there are {} output columns)", outputs.len()),
                    }),
                };
            }
            return Err(not_key());
        }
        _ => {}
    }
    match ctx.column(e) {
        Some(c) => {
            let c = c?;
            if let ColKind::Encrypted(_) = c.kind {
                return Err(EngineError::EncryptedColumnInClause {
                    column: c.name,
                    clause: "ORDER BY".into(),
                });
            }
            group_by
                .iter()
                .position(|g| *g == c.name)
                .ok_or_else(not_key)
        }
        None => Err(not_key()),
    }
}

fn plan_item(
    ctx: &Ctx,
    e: &Expr,
    group_by: &[String],
    hidden: &mut Vec<Output>,
) -> Result<(String, OutputExpr), EngineError> {
    if let Some(c) = ctx.column(e) {
        let c = c?;
        return match c.kind {
            ColKind::Encrypted(_) => Err(EngineError::EncryptedColumnSelected { column: c.name }),
            ColKind::Public(_) => match group_by.iter().position(|g| *g == c.name) {
                Some(i) => Ok((c.name, OutputExpr::GroupKey(i))),
                None => Err(EngineError::NotAggregated {
                    item: e.to_string(),
                }),
            },
        };
    }
    match e {
        Expr::Nested(inner) => plan_item(ctx, inner, group_by, hidden),
        Expr::Function(f) => {
            let (name, agg) = plan_aggregate(ctx, f)?;
            Ok((name, OutputExpr::Aggregate(agg)))
        }
        Expr::BinaryOp { .. } | Expr::UnaryOp { .. } => {
            let arith = plan_arith(ctx, e, hidden)?;
            if hidden.is_empty() {
                return unsupported(format!("arithmetic without an aggregate (`{e}`)"));
            }
            Ok((e.to_string().to_ascii_lowercase(), OutputExpr::Arith(arith)))
        }
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::In { .. } => unsupported("subqueries"),
        Expr::Value(_) => unsupported(format!("constants in SELECT (`{e}`)")),
        _ => unsupported(format!("the expression `{e}` in SELECT")),
    }
}

/// Arithmetic over aggregates and numeric literals; refs index into `hidden` (shifted past
/// the visible outputs by the caller).
fn plan_arith(ctx: &Ctx, e: &Expr, hidden: &mut Vec<Output>) -> Result<ArithExpr, EngineError> {
    match e {
        Expr::Nested(inner) => plan_arith(ctx, inner, hidden),
        Expr::Function(f) => {
            let (name, agg) = plan_aggregate(ctx, f)?;
            let expr = OutputExpr::Aggregate(agg);
            let i = match hidden.iter().position(|o| o.expr == expr) {
                Some(i) => i,
                None => {
                    hidden.push(Output {
                        name,
                        expr,
                        hidden: true,
                    });
                    hidden.len() - 1
                }
            };
            Ok(ArithExpr::Ref(i))
        }
        Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n
                .parse::<f64>()
                .map(ArithExpr::Num)
                .map_err(|_| EngineError::Parse(format!("bad number {n}"))),
            other => Err(EngineError::TypeMismatch(format!(
                "`{other}` in arithmetic: only numbers"
            ))),
        },
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => Ok(ArithExpr::Neg(Box::new(plan_arith(ctx, expr, hidden)?))),
        Expr::UnaryOp {
            op: ast::UnaryOperator::Plus,
            expr,
        } => plan_arith(ctx, expr, hidden),
        Expr::BinaryOp { left, op, right } => {
            let op = match op {
                ast::BinaryOperator::Plus => ArithOp::Add,
                ast::BinaryOperator::Minus => ArithOp::Sub,
                ast::BinaryOperator::Multiply => ArithOp::Mul,
                ast::BinaryOperator::Divide => ArithOp::Div,
                other => return unsupported(format!("the operator `{other}` in SELECT")),
            };
            Ok(ArithExpr::Bin(
                Box::new(plan_arith(ctx, left, hidden)?),
                op,
                Box::new(plan_arith(ctx, right, hidden)?),
            ))
        }
        _ => match ctx.column(e) {
            Some(Ok(c)) if matches!(c.kind, ColKind::Encrypted(_)) => {
                Err(EngineError::EncryptedColumnSelected { column: c.name })
            }
            Some(Ok(_)) => Err(EngineError::NotAggregated {
                item: e.to_string(),
            }),
            Some(Err(err)) => Err(err),
            None => unsupported(format!("the expression `{e}` in arithmetic")),
        },
    }
}

fn plan_aggregate(ctx: &Ctx, f: &ast::Function) -> Result<(String, Aggregate), EngineError> {
    let written = f.name.to_string().to_ascii_lowercase();
    let func = AggFunc::from_name(&written)
        .ok_or_else(|| EngineError::UnknownFunction(f.name.to_string()))?;
    if f.over.is_some() {
        return unsupported(format!("window functions ({written}(...) OVER ...)"));
    }
    if f.filter.is_some() && func != AggFunc::Count {
        return unsupported(format!(
            "FILTER on {written} (only COUNT(*) FILTER (WHERE x > edge) with a declared threshold of x)"
        ));
    }
    if !f.within_group.is_empty() {
        return unsupported("WITHIN GROUP");
    }
    if f.null_treatment.is_some() {
        return unsupported("IGNORE/RESPECT NULLS");
    }
    if !matches!(f.parameters, FunctionArguments::None) {
        return unsupported(format!("parametric {written}"));
    }
    let bad = |reason: String| EngineError::BadArguments {
        function: written.clone(),
        reason,
    };
    let list = match &f.args {
        FunctionArguments::List(l) => l,
        FunctionArguments::None => return Err(bad("missing argument list".into())),
        FunctionArguments::Subquery(_) => return unsupported("subqueries"),
    };
    if let Some(ast::DuplicateTreatment::Distinct) = list.duplicate_treatment {
        return unsupported(format!("{written}(DISTINCT ...)"));
    }
    if !list.clauses.is_empty() {
        return unsupported(format!("clauses inside {written}(...)"));
    }
    // COUNT(*)
    if func == AggFunc::Count {
        if let [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] = list.args.as_slice() {
            if let Some(filter) = &f.filter {
                return plan_count_filter(ctx, None, filter);
            }
            return Ok((
                "count(*)".into(),
                Aggregate {
                    func,
                    args: Vec::new(),
                    domain: Domain::Clear,
                },
            ));
        }
    }
    if matches!(func, AggFunc::Histogram | AggFunc::ApproxPercentile(_)) {
        return plan_histogram(ctx, &written, func, &list.args);
    }
    if list.args.len() != func.arity() {
        return Err(bad(format!(
            "expects {} column argument{}, got {}",
            func.arity(),
            if func.arity() == 1 { "" } else { "s (y, x)" },
            list.args.len()
        )));
    }
    let mut cols = Vec::new();
    for a in &list.args {
        let e = match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e,
            FunctionArg::Unnamed(_) => return Err(bad("`*` is only allowed in COUNT(*)".into())),
            _ => return unsupported("named function arguments"),
        };
        match ctx.column(e) {
            Some(c) => cols.push(c?),
            None => {
                return match e {
                    Expr::Function(_) => unsupported("nested aggregates"),
                    Expr::Subquery(_) => unsupported("subqueries"),
                    Expr::BinaryOp { .. } | Expr::UnaryOp { .. } => {
                        unsupported(format!("arithmetic inside aggregates (`{e}`)"))
                    }
                    _ => unsupported(format!(
                        "the argument `{e}` of {written} (only plain columns)"
                    )),
                }
            }
        }
    }
    if let Some(filter) = &f.filter {
        return plan_count_filter(ctx, cols.first(), filter);
    }
    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let default_name = format!("{written}({})", names.join(", "));
    let encrypted = cols
        .iter()
        .filter(|c| matches!(c.kind, ColKind::Encrypted(_)))
        .count();
    let domain = if encrypted == 0 {
        Domain::Clear
    } else if encrypted == cols.len() {
        Domain::Encrypted
    } else {
        return Err(EngineError::MixedPair {
            function: written,
            y: names[0].clone(),
            x: names[1].clone(),
        });
    };
    match domain {
        Domain::Encrypted => {
            if func.is_product() {
                for c in &cols {
                    if let ColKind::Encrypted(Usage::Sum) = c.kind {
                        return Err(EngineError::SumOnlyColumn {
                            function: default_name,
                            column: c.name.clone(),
                        });
                    }
                }
            }
        }
        Domain::Clear => {
            if func != AggFunc::Count {
                for c in &cols {
                    if let ColKind::Public(PublicType::Text) = c.kind {
                        return Err(EngineError::TypeMismatch(format!(
                            "{written}({}): column `{}` is text; only COUNT applies to text columns",
                            names.join(", "),
                            c.name
                        )));
                    }
                }
            }
        }
    }
    let agg = Aggregate {
        func,
        args: names,
        domain,
    };
    agg.terms_checked(ctx.schema)?;
    Ok((default_name, agg))
}

/// The declared thresholds of `column` as text at its scale, for messages.
fn edges_text(schema: &Schema, column: &str) -> String {
    let Some(spec) = schema.column(column).and_then(|c| c.encrypted()) else {
        return "none".into();
    };
    if spec.thresholds.is_empty() {
        return "none; declare them with thresholds = [...] on the column in the schema".into();
    }
    spec.thresholds
        .iter()
        .map(|&e| spec.codec.scaled_text(e))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of a numeric literal (`50`, `-1.5`), if `e` is one.
fn number_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Nested(inner) => number_text(inner),
        Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => Some(n.to_string()),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => number_text(expr).map(|n| format!("-{n}")),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => number_text(expr),
        _ => None,
    }
}

/// First encrypted column named anywhere in a (filter) expression.
fn encrypted_column_in(ctx: &Ctx, e: &Expr) -> Option<String> {
    if let Some(Ok(c)) = ctx.column(e) {
        return matches!(c.kind, ColKind::Encrypted(_)).then_some(c.name);
    }
    match e {
        Expr::Nested(x) | Expr::UnaryOp { expr: x, .. } | Expr::IsNull(x) | Expr::IsNotNull(x) => {
            encrypted_column_in(ctx, x)
        }
        Expr::BinaryOp { left, right, .. } => {
            encrypted_column_in(ctx, left).or_else(|| encrypted_column_in(ctx, right))
        }
        Expr::Between {
            expr, low, high, ..
        } => encrypted_column_in(ctx, expr)
            .or_else(|| encrypted_column_in(ctx, low))
            .or_else(|| encrypted_column_in(ctx, high)),
        Expr::In { expr, target, .. } => encrypted_column_in(ctx, expr).or_else(|| match target {
            ast::InTarget::List(list) => list.iter().find_map(|i| encrypted_column_in(ctx, i)),
            _ => None,
        }),
        _ => None,
    }
}

/// `COUNT(*) FILTER (WHERE x > e)` / `x <= e` (either operand order) with `e` a declared
/// threshold of the encrypted column `x`. Any other condition on an encrypted column is a
/// policy refusal listing the declared thresholds.
fn plan_count_filter(
    ctx: &Ctx,
    arg: Option<&Col>,
    filter: &Expr,
) -> Result<(String, Aggregate), EngineError> {
    let arg_text = arg.map_or("*".to_string(), |c| c.name.clone());
    let what = format!("COUNT({arg_text}) FILTER (WHERE {filter})");
    let refuse = |column: String| EngineError::UndeclaredThreshold {
        what: what.clone(),
        edges: edges_text(ctx.schema, &column),
        column,
    };
    let mut e = filter;
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    let shape = match e {
        Expr::BinaryOp { left, op, right } => match (ctx.column(left), ctx.column(right)) {
            (Some(c), None) => Some((c?, op.clone(), right.as_ref())),
            (None, Some(c)) => {
                let flipped = match op {
                    BinaryOperator::Gt => BinaryOperator::Lt,
                    BinaryOperator::Lt => BinaryOperator::Gt,
                    BinaryOperator::GtEq => BinaryOperator::LtEq,
                    BinaryOperator::LtEq => BinaryOperator::GtEq,
                    other => other.clone(),
                };
                Some((c?, flipped, left.as_ref()))
            }
            _ => None,
        },
        _ => None,
    };
    let Some((col, op, value)) = shape else {
        return match encrypted_column_in(ctx, e) {
            Some(c) => Err(refuse(c)),
            None => unsupported(format!("FILTER on public columns (`{filter}`); use WHERE")),
        };
    };
    if !matches!(col.kind, ColKind::Encrypted(_)) {
        return match encrypted_column_in(ctx, value) {
            Some(c) => Err(refuse(c)),
            None => unsupported(format!("FILTER on public columns (`{filter}`); use WHERE")),
        };
    }
    if let Some(a) = arg {
        if a.name != col.name {
            return unsupported(format!(
                "COUNT({}) with a FILTER on another column `{}`; use COUNT(*)",
                a.name, col.name
            ));
        }
    }
    let spec = ctx
        .schema
        .column(&col.name)
        .and_then(|c| c.encrypted())
        .ok_or_else(|| refuse(col.name.clone()))?;
    let k = number_text(value)
        .and_then(|t| spec.codec.scaled_exact(&t))
        .and_then(|v| spec.thresholds.iter().position(|&e| e == v))
        .ok_or_else(|| refuse(col.name.clone()))?;
    let edge = spec.codec.scaled_text(spec.thresholds[k]);
    let (func, sym) = match op {
        BinaryOperator::Gt => (AggFunc::CountAbove(k as u8), ">"),
        BinaryOperator::LtEq => (AggFunc::CountAtMost(k as u8), "<="),
        _ => return Err(refuse(col.name.clone())),
    };
    let name = format!("count({arg_text}) filter (where {} {sym} {edge})", col.name);
    encrypted_aggregate(ctx, name, func, col.name)
}

/// The aggregate `func` of the encrypted column `column`, named `name`, once its terms are
/// known to be computable from the schema's stored parts.
fn encrypted_aggregate(
    ctx: &Ctx,
    name: String,
    func: AggFunc,
    column: String,
) -> Result<(String, Aggregate), EngineError> {
    let agg = Aggregate {
        func,
        args: vec![column],
        domain: Domain::Encrypted,
    };
    agg.terms_checked(ctx.schema)?;
    Ok((name, agg))
}

/// `HISTOGRAM(x)` and `APPROX_PERCENTILE(x, p)` over an encrypted column with declared
/// thresholds. The percentile's default name states its error bound (the widest bucket).
fn plan_histogram(
    ctx: &Ctx,
    written: &str,
    func: AggFunc,
    args: &[FunctionArg],
) -> Result<(String, Aggregate), EngineError> {
    let bad = |reason: String| EngineError::BadArguments {
        function: written.to_string(),
        reason,
    };
    let exprs: Vec<&Expr> = args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            _ => Err(bad("expects plain arguments".into())),
        })
        .collect::<Result<_, _>>()?;
    let (column, p) = match (func, exprs.as_slice()) {
        (AggFunc::Histogram, [x]) => (*x, None),
        (AggFunc::ApproxPercentile(_), [x, p]) => {
            let p = number_text(p)
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|p| *p > 0.0 && *p < 1.0)
                .ok_or_else(|| bad(format!("p must be a number with 0 < p < 1, got `{p}`")))?;
            (*x, Some(p))
        }
        (AggFunc::Histogram, _) => return Err(bad("expects one column argument".into())),
        _ => return Err(bad("expects a column and a fraction p (0 < p < 1)".into())),
    };
    let col = match ctx.column(column) {
        Some(c) => c?,
        None => {
            return unsupported(format!(
                "the argument `{column}` of {written} (only plain columns)"
            ))
        }
    };
    if !matches!(col.kind, ColKind::Encrypted(_)) {
        return unsupported(format!("{written} on the public column `{}`", col.name));
    }
    let spec = ctx
        .schema
        .column(&col.name)
        .and_then(|c| c.encrypted())
        .filter(|s| !s.thresholds.is_empty())
        .ok_or_else(|| EngineError::UndeclaredThreshold {
            what: format!("{written}({})", col.name),
            edges: edges_text(ctx.schema, &col.name),
            column: col.name.clone(),
        })?;
    let (func, name) = match p {
        None => (AggFunc::Histogram, format!("{written}({})", col.name)),
        Some(p) => (
            AggFunc::ApproxPercentile(p.to_bits()),
            format!(
                "{written}({}, {}) ±{}",
                col.name,
                crate::result::format_float(p),
                crate::threshold::error_bound_text(&spec.codec, &spec.thresholds)
            ),
        ),
    };
    encrypted_aggregate(ctx, name, func, col.name)
}

fn plan_predicate(ctx: &Ctx, e: &Expr) -> Result<Predicate, EngineError> {
    Ok(match e {
        Expr::Nested(inner) => plan_predicate(ctx, inner)?,
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::And => {
                    return Ok(Predicate::And(
                        Box::new(plan_predicate(ctx, left)?),
                        Box::new(plan_predicate(ctx, right)?),
                    ))
                }
                BinaryOperator::Or => {
                    return Ok(Predicate::Or(
                        Box::new(plan_predicate(ctx, left)?),
                        Box::new(plan_predicate(ctx, right)?),
                    ))
                }
                BinaryOperator::Eq => CmpOp::Eq,
                BinaryOperator::NotEq => CmpOp::NotEq,
                BinaryOperator::Lt => CmpOp::Lt,
                BinaryOperator::LtEq => CmpOp::LtEq,
                BinaryOperator::Gt => CmpOp::Gt,
                BinaryOperator::GtEq => CmpOp::GtEq,
                other => return unsupported(format!("the operator `{other}` in WHERE")),
            };
            let (l, r) = (operand(ctx, left)?, operand(ctx, right)?);
            check_types(ctx, &l, &r, e)?;
            Predicate::Compare {
                left: l,
                op: cmp,
                right: r,
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Predicate::Not(Box::new(plan_predicate(ctx, expr)?)),
        Expr::In {
            expr,
            target,
            negated,
            ..
        } => {
            let ast::InTarget::List(list) = target else {
                return unsupported(format!("IN with a subquery or table (`{e}`)"));
            };
            let o = operand(ctx, expr)?;
            let mut items = Vec::new();
            for i in list {
                let v = operand(ctx, i)?;
                check_types(ctx, &o, &v, e)?;
                items.push(v);
            }
            Predicate::InList {
                operand: o,
                list: items,
                negated: *negated,
            }
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let o = operand(ctx, expr)?;
            let (l, h) = (operand(ctx, low)?, operand(ctx, high)?);
            check_types(ctx, &o, &l, e)?;
            check_types(ctx, &o, &h, e)?;
            Predicate::Between {
                operand: o,
                low: l,
                high: h,
                negated: *negated,
            }
        }
        Expr::IsNull(x) => Predicate::IsNull {
            operand: operand(ctx, x)?,
            negated: false,
        },
        Expr::IsNotNull(x) => Predicate::IsNull {
            operand: operand(ctx, x)?,
            negated: true,
        },
        Expr::Subquery(_) | Expr::Exists { .. } => return unsupported("subqueries"),
        Expr::Function(_) => return unsupported(format!("functions in WHERE (`{e}`)")),
        Expr::Like { .. } | Expr::ILike { .. } => return unsupported("LIKE"),
        other => {
            if let Some(c) = ctx.public_column(other, "WHERE") {
                c?;
                return unsupported(format!(
                    "a bare column as a condition (`{other}`); compare it with a value"
                ));
            }
            return unsupported(format!("the condition `{other}` in WHERE"));
        }
    })
}

fn operand(ctx: &Ctx, e: &Expr) -> Result<Operand, EngineError> {
    if let Some(c) = ctx.public_column(e, "WHERE") {
        return Ok(Operand::Column(c?.name));
    }
    literal(e).map(Operand::Literal)
}

fn literal(e: &Expr) -> Result<Value, EngineError> {
    match e {
        Expr::Nested(inner) => literal(inner),
        Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => parse_number(n),
            ast::Value::SingleQuotedString(s)
            | ast::Value::DoubleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s)
            | ast::Value::NationalStringLiteral(s) => Ok(Value::Text(s.clone())),
            ast::Value::Null => Ok(Value::Null),
            other => unsupported(format!("the literal `{other}`")),
        },
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr,
        } => match (literal(expr)?, op) {
            (v, UnaryOperator::Plus) => Ok(v),
            (Value::Int(i), _) => Ok(i
                .checked_neg()
                .map(Value::Int)
                .unwrap_or(Value::Dec(-(i as f64)))),
            (Value::Dec(d), _) => Ok(Value::Dec(-d)),
            (Value::Null, _) => Ok(Value::Null),
            (Value::Text(_), _) => Err(EngineError::TypeMismatch(format!(
                "cannot negate the text literal in `{e}`"
            ))),
        },
        Expr::BinaryOp { .. } => unsupported(format!("arithmetic in WHERE (`{e}`)")),
        Expr::Subquery(_) => unsupported("subqueries"),
        _ => unsupported(format!("the expression `{e}` in WHERE")),
    }
}

fn parse_number(n: &str) -> Result<Value, EngineError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    n.parse::<f64>()
        .map(Value::Dec)
        .map_err(|_| EngineError::Parse(format!("bad number literal {n}")))
}

/// Text vs number comparisons are refused at plan time.
fn check_types(ctx: &Ctx, a: &Operand, b: &Operand, e: &Expr) -> Result<(), EngineError> {
    #[derive(PartialEq, Clone, Copy)]
    enum T {
        Num,
        Text,
        Any,
    }
    let ty = |o: &Operand| -> Result<(T, String), EngineError> {
        Ok(match o {
            Operand::Column(c) => match ctx.lookup(c)?.kind {
                ColKind::Public(PublicType::Text) => (T::Text, format!("column `{c}` is text")),
                _ => (T::Num, format!("column `{c}` is numeric")),
            },
            Operand::Literal(Value::Text(s)) => (T::Text, format!("'{s}' is text")),
            Operand::Literal(Value::Null) => (T::Any, String::new()),
            Operand::Literal(v) => (T::Num, format!("{v:?} is numeric")),
        })
    };
    let (ta, da) = ty(a)?;
    let (tb, db) = ty(b)?;
    if ta != T::Any && tb != T::Any && ta != tb {
        return Err(EngineError::TypeMismatch(format!(
            "in `{e}`: {da} but {db}"
        )));
    }
    Ok(())
}
