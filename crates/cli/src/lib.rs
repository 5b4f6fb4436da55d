//! The `dtfhe` command: library part, so the demo and the tests drive exactly the code paths
//! the command line uses. The roles' work is in their crates (`dtfhe-embedded`,
//! `dtfhe-analyst`, `dtfhe-bench`, `dtfhe-trustee`, `dtfhe-server`, `dtfhe-agent`); the
//! subcommands' arguments and output are in the binary's `cmd` modules. The demo stays here:
//! it is a narrated walk-through (terminal output, timings) over the embedded API, and a
//! library crate of a role should not print.
#![forbid(unsafe_code)]

pub mod demo;
pub mod error;

pub use error::CliError;
