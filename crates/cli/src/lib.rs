//! The `dtfhe` command: library part, so the demo, the benchmark and the tests drive exactly
//! the code paths the command line uses.
#![forbid(unsafe_code)]

pub mod analytics_cli;
pub mod demo;
pub mod error;
pub mod platform;
pub mod trustee;

pub use error::CliError;
