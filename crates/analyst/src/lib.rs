//! The analyst's role on a networked deployment: ask a query of the platform and open the
//! trustees' sealed shares ([`net`]), and audit the platform's ledger and chunks from the
//! outside ([`remote_audit`]). Links no store and no server: what runs on an analyst's
//! machine.
#![forbid(unsafe_code)]

pub mod error;
pub mod follow;
pub mod model;
pub mod net;
pub mod remote_audit;

pub use error::AnalystError;
