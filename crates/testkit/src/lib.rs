//! Fixtures shared by the workspace's tests, so each is written once: a platform server on
//! loopback with a deployment made in the test ([`platform`], feature `platform`), a scratch
//! PostgreSQL database per test ([`pg`]), readers of the vendored data ([`data`]) and a
//! cookie-keeping web client for the dashboard's tests ([`web`], feature `web`).
//!
//! A dev-dependency only (`crates/model/tests/dependency_rules.rs` checks that no crate
//! links it in a normal build): it panics on any failure, as a test fixture should.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

pub mod data;
pub mod pg;
#[cfg(feature = "platform")]
pub mod platform;
pub mod sqlite;
#[cfg(feature = "web")]
pub mod web;
