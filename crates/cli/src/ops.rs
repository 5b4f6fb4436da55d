//! The operations behind `init`, `ingest` and `query` on an embedded (SQLite) deployment,
//! with every trustee in its own directory on this machine.

use crate::error::CliError;
use dtfhe_engine::ResultSet;
use std::path::{Path, PathBuf};

/// Options of `dtfhe init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Deployment directory (store + trustee directories).
    pub dir: PathBuf,
    /// Trustee names, one per factory (n-of-n).
    pub trustees: Vec<String>,
    /// k: smallest number of rows any released group may have.
    pub min_group_size: u32,
    /// Parameter preset name.
    pub preset: String,
}

/// Create a deployment: store, one key share per trustee (own directory, mode 0600), the
/// collective public and relinearisation keys.
pub fn init(opts: &InitOptions) -> Result<(), CliError> {
    let _ = opts;
    todo!()
}

/// Options of `dtfhe ingest`.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Deployment directory.
    pub dir: PathBuf,
    /// Schema TOML file.
    pub schema: PathBuf,
    /// CSV file.
    pub csv: PathBuf,
    /// Data owner (source) name.
    pub source: String,
    /// Show a progress bar (only on a terminal).
    pub progress: bool,
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// Dataset name.
    pub dataset: String,
    /// Rows stored.
    pub rows: usize,
    /// Chunks stored.
    pub chunks: usize,
    /// Encrypted values (rows × encrypted columns).
    pub encrypted_values: usize,
    /// Seconds spent encrypting.
    pub encrypt_seconds: f64,
    /// Seconds in total (read + encode + encrypt + store).
    pub total_seconds: f64,
}

/// Encrypt a CSV file at the source and append it to the store, all or nothing.
pub fn ingest(opts: &IngestOptions) -> Result<IngestReport, CliError> {
    let _ = opts;
    todo!()
}

/// A released query result with its timings.
#[derive(Debug, Clone)]
pub struct QueryReport {
    /// The result table.
    pub result: ResultSet,
    /// Seconds computing on ciphertexts (engine).
    pub compute_seconds: f64,
    /// Seconds for the trustees' review, shares and combination.
    pub release_seconds: f64,
    /// Number of ciphertexts released.
    pub released_ciphertexts: usize,
}

/// Plan, compute on ciphertexts, ask every trustee, combine: the released result.
pub fn query(dir: &Path, sql: &str) -> Result<QueryReport, CliError> {
    let _ = (dir, sql);
    todo!()
}
