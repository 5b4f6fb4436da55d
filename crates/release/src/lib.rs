//! The release pipeline: the only way a number leaves the ciphertexts. Every path (embedded
//! `query`, the platform's fail-fast check, each trustee daemon's review, the analyst's
//! combination) calls this crate, so each rule is written once.
//!
//! plan (engine) → row selection (engine) → [`pipeline::precheck`] → compute (engine) →
//! [`pipeline::build_request`] → each trustee: [`rules::check_request`], then
//! [`Disclosure::decide`] (audit or DP budget) and [`Disclosure::record`] before its share →
//! combine → finalize (engine).
#![forbid(unsafe_code)]

pub mod audit;
pub mod disclosure;
pub mod pipeline;
mod refusal;
mod report;
pub mod rules;

pub use disclosure::{Decision, Disclosure, DisclosureError, LocalPolicy, Mode};
pub use refusal::Refusal;
pub use report::QueryReport;
pub use rules::{
    DatasetRows, GroupFacts, Policy, ReleaseItem, ReleaseRequest, RowReleaseItem, RowReleaseRequest,
};
