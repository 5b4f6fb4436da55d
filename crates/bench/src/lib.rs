//! `dtfhe bench`: the figures of one embedded deployment ([`figures`]), the bounded load
//! test on loopback ([`load`]) and the cost of the disclosure audit ([`audit`]). Its own
//! crate so the measurement code is not part of any role's library.
#![forbid(unsafe_code)]

pub mod audit;
pub mod error;
pub mod figures;
pub mod load;

pub use error::BenchError;
