//! The release pipeline: the only way a number leaves the ciphertexts. Every path (embedded
//! `query`, the platform's fail-fast check, each trustee daemon's review, the analyst's
//! combination) calls this crate, so each rule is written once.
#![forbid(unsafe_code)]

pub mod audit;
