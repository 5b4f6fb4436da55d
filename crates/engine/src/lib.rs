//! Query engine, plaintext side: SQL parsing and planning with the release policy, the list of
//! exact encrypted sums ("moments") a query needs, finalizing statistics from those sums,
//! result formatting, and a plaintext reference evaluator.
//!
//! Flow for the executor: [`plan()`] → for each chunk and row, [`Query::selects`] and
//! [`Query::group_key`] → [`GroupState::add_row`] and the homomorphic sums of
//! [`Query::moments`] per group → [`finalize_all`] (or [`finalize()`] per group, then
//! [`ResultSet::sort_and_limit`]).
#![forbid(unsafe_code)]

pub mod cache;
pub mod cell;
pub mod error;
mod exact;
pub mod exec;
pub mod finalize;
pub mod group;
pub mod limits;
pub mod model;
pub mod moments;
pub mod plaintext;
pub mod plan;
pub mod result;
mod stats;
pub mod threshold;

pub use cell::{Bucket, Cell, Decimal, Histogram, Percentile};
pub use error::EngineError;
pub use finalize::finalize;
pub use group::{compare_values, GroupKey, GroupState, PublicRow};
pub use limits::{parse, ParsedQuery};
pub use moments::{Factor, Moment, Part, Term, MAX_FACTORS};
pub use plan::{
    plan, plan_parsed, AggFunc, Aggregate, Catalog, CmpOp, Domain, Operand, Output, OutputExpr,
    Predicate, Query, SOURCE_COLUMN,
};
pub use result::{finalize_all, format_float, ResultSet};
