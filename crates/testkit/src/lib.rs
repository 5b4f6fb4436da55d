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

/// Runs `task` to its end on a multi-thread Tokio runtime (two workers) of its own, in a new
/// thread, so a test can serve a router whether it is a plain or an async test.
#[cfg(feature = "runtime")]
pub fn run_in_thread<F>(task: F) -> std::thread::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(task)
    })
}

/// Asserts that the file at `path` is readable and writable by its owner only (mode `0600`),
/// as every key, share or user file must be; does nothing where there are no Unix modes.
#[track_caller]
pub fn assert_owner_only(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    #[cfg(not(unix))]
    let _ = path;
}
