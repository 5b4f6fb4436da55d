//! The `dtfhe` command: library part, so the demo, the benchmark and the tests drive exactly
//! the code paths the command line uses.
#![forbid(unsafe_code)]

pub mod analytics_cli;
pub mod artifact;
pub mod audit;
pub mod bench;
pub mod bench_load;
pub mod demo;
pub mod error;
pub mod model;
pub mod net;
pub mod ops;
pub mod platform;
pub mod reference;
pub mod remote_audit;
pub mod store_location;

pub use error::CliError;
