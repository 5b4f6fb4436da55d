//! Errors of the query engine. Every refusal names the column or function concerned and says
//! why, because these messages are the policy the trustees enforce as well.

/// Why a query was refused or could not be finalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The SQL text does not parse.
    #[error("SQL syntax error: {0}")]
    Parse(String),
    /// The SQL text exceeds a size or depth limit of [`crate::limits`] (checked before any
    /// planning, so a hostile query cannot exhaust a thread's stack).
    #[error("query too complex: {what} (limit {limit})")]
    TooComplex {
        /// What exceeded the limit.
        what: String,
        /// The limit.
        limit: usize,
    },
    /// Valid SQL that this engine does not handle (joins, subqueries, HAVING, ...).
    #[error("{0} is not supported yet")]
    Unsupported(String),
    /// The FROM clause names no registered dataset.
    #[error("unknown dataset `{0}`")]
    UnknownDataset(String),
    /// A column that the dataset does not have.
    #[error("unknown column `{column}` in dataset `{dataset}`")]
    UnknownColumn {
        /// Column as written.
        column: String,
        /// Dataset queried.
        dataset: String,
    },
    /// A function that is not one of the supported aggregates.
    #[error("unknown function `{0}` (supported: COUNT, SUM, AVG, VAR_POP, VAR_SAMP, VARIANCE, STDDEV_POP, STDDEV_SAMP, STDDEV, COVAR_POP, COVAR_SAMP, CORR, REGR_SLOPE, REGR_INTERCEPT, REGR_R2, HISTOGRAM, APPROX_PERCENTILE)")]
    UnknownFunction(String),
    /// An aggregate called with the wrong number or kind of arguments.
    #[error("{function}: {reason}")]
    BadArguments {
        /// Function as written (lowercase).
        function: String,
        /// What is wrong.
        reason: String,
    },
    /// An encrypted column selected as such: individual values are never released.
    #[error("column `{column}` is encrypted: it can only be used inside an aggregate (COUNT, SUM, AVG, VAR_*, STDDEV_*, COVAR_*, CORR, REGR_*); individual values are never released")]
    EncryptedColumnSelected {
        /// Canonical column name.
        column: String,
    },
    /// An encrypted column used where only public columns are allowed.
    #[error("column `{column}` is encrypted and cannot be used in {clause}: only public columns can filter, group or order rows")]
    EncryptedColumnInClause {
        /// Canonical column name.
        column: String,
        /// `WHERE`, `GROUP BY` or `ORDER BY`.
        clause: String,
    },
    /// A product statistic over a column declared `usage = "sum"`.
    #[error("{function} needs products of `{column}`, but the column is declared usage = \"sum\" (stored for sums only); only COUNT, SUM and AVG are allowed on it")]
    SumOnlyColumn {
        /// The aggregate call, e.g. `var_pop(energy)`.
        function: String,
        /// Canonical column name.
        column: String,
    },
    /// A comparison of an encrypted column with something other than one of its declared
    /// thresholds (`COUNT(*) FILTER (WHERE x > 643.7)` with 643.7 undeclared, another
    /// operator, a compound condition), or a HISTOGRAM / APPROX_PERCENTILE of a column that
    /// declares none.
    #[error("{what}: the encrypted column `{column}` can only be compared with its declared thresholds, as `{column} > edge` or `{column} <= edge` (declared thresholds: {edges}); no other comparison of individual values is computed")]
    UndeclaredThreshold {
        /// The aggregate or condition as written.
        what: String,
        /// Canonical column name.
        column: String,
        /// The declared edges, comma-separated (or how to declare some).
        edges: String,
    },
    /// A pair aggregate mixing a public and an encrypted column.
    #[error("{function}({y}, {x}) mixes a public and an encrypted column; mixed pairs are not supported yet (use two encrypted or two public columns)")]
    MixedPair {
        /// Function (lowercase).
        function: String,
        /// First (dependent) argument.
        y: String,
        /// Second (independent) argument.
        x: String,
    },
    /// A SELECT item that is neither an aggregate nor a GROUP BY column.
    #[error("`{item}` must appear in GROUP BY or be used inside an aggregate")]
    NotAggregated {
        /// The item as written.
        item: String,
    },
    /// ORDER BY on something that is not a group key.
    #[error(
        "ORDER BY `{item}`: only GROUP BY columns (or their aliases) can be used to order results"
    )]
    OrderByNotGroupKey {
        /// The item as written.
        item: String,
    },
    /// A literal of the wrong type for the column it is compared with, or a non-numeric aggregate.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// The executor did not supply a moment that finalize needs.
    #[error("missing encrypted sum {0} for this group")]
    MissingMoment(String),
    /// The schema passed to finalize is not the one the query was planned against.
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),
    /// A release rule refused the query (k-minimum group size, overflow bound, noise budget,
    /// a compact sum-only column split by a filter).
    #[error("{0}")]
    Refused(String),
    /// The executor could not compute on the stored data.
    #[error("{0}")]
    Execution(String),
    /// The signed rows of a join's datasets contradict each other (a product in two lanes, or
    /// two products in one lane): joining them slot by slot would pair other products' values.
    #[error("inconsistent per-product lanes, the join is refused: {0}")]
    LanePlacement(Box<dtfhe_model::lanes::PlacementConflict>),
    /// The chunk reader failed (platform unreachable, tampered bytes, unknown dataset):
    /// kept typed so a caller can retry on [`dtfhe_model::ChunkReadError::Unavailable`].
    #[error("{0}")]
    Read(dtfhe_model::ChunkReadError),
}

impl EngineError {
    /// True for refusals that protect confidentiality (as opposed to mistakes in the SQL):
    /// the CLI reports them as "refused" with their own exit code.
    pub fn is_policy_refusal(&self) -> bool {
        matches!(
            self,
            EngineError::EncryptedColumnSelected { .. }
                | EngineError::EncryptedColumnInClause { .. }
                | EngineError::SumOnlyColumn { .. }
                | EngineError::UndeclaredThreshold { .. }
                | EngineError::Refused(_)
        )
    }
}

/// Implements `From<EngineError>` for a role's error enum that has the variants
/// `Refused(String)` and `Query(EngineError)`: a refusal that protects confidentiality (see
/// [`EngineError::is_policy_refusal`]) becomes `Refused` (exit code 4), any other planning
/// error `Query` (exit code 3). One rule for every role that plans queries.
#[macro_export]
macro_rules! refusal_or_query_error {
    ($error:ident) => {
        impl ::std::convert::From<$crate::EngineError> for $error {
            fn from(e: $crate::EngineError) -> Self {
                if e.is_policy_refusal() {
                    $error::Refused(e.to_string())
                } else {
                    $error::Query(e)
                }
            }
        }
    };
}
