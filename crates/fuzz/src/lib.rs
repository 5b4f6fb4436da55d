//! Fuzz targets for every DigitalThreadFHE decoder of outside bytes, and a runner that
//! works on the stable toolchain.
//!
//! cargo-fuzz (libFuzzer) needs a nightly compiler; this crate instead mutates a seed
//! corpus of real encoded objects with the `mutatis` mutation library and runs each input
//! through the decoder under `catch_unwind`. No coverage feedback: the seeds (valid
//! objects) and structure-aware fix-ups (e.g. ceremony checksums) make up for it by keeping
//! inputs close to what the decoders accept. See `crates/fuzz/README.md`.
#![forbid(unsafe_code)]

pub mod documents;
pub mod fixture;
pub mod mqtt;
pub mod opcua;
pub mod runner;
pub mod seeds;
pub mod sql;
pub mod targets;
