//! The embedded deployment: one directory on one machine holds the store (or names its
//! PostgreSQL database), the collective keys and every trustee's key share in its own
//! directory. Initialise, ingest, query through the release pipeline, audit the ledger,
//! seal artifacts, fit and score models. The `dtfhe` command's `init`, `ingest`, `query`,
//! `audit`, `artifact`, `thread` and `model` subcommands are thin wrappers over this crate.
#![forbid(unsafe_code)]

pub mod artifact;
pub mod audit;
pub mod error;
pub mod location;
pub mod model;
pub mod ops;
pub mod reference;

pub use error::EmbeddedError;
pub use location::DeploymentDir;
