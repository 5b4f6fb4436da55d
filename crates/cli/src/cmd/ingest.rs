//! `dtfhe ingest`: encrypt a CSV file at its source into an embedded deployment.

use clap::Args;
use dtfhe_cli::CliError;
use dtfhe_embedded::ops;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Deployment directory (created by `dtfhe init`).
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Dataset schema (TOML): table name, stage, CSV layout, public and encrypted columns.
    #[arg(long, value_name = "S.toml")]
    schema: PathBuf,
    /// CSV file to encrypt and append.
    #[arg(long, value_name = "F.csv")]
    csv: PathBuf,
    /// Data owner of these rows (a plant, a supplier); queryable as the public column `source`.
    #[arg(long, value_name = "NAME", default_value = "local")]
    source: String,
}

/// `dtfhe ingest`.
pub(crate) fn run(a: IngestArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    let opts = ops::IngestOptions {
        dir: at(&a.dir),
        schema: a.schema,
        csv: a.csv,
        source: a.source.clone(),
        progress: std::io::stderr().is_terminal(),
    };
    let r = ops::ingest(&opts)?;
    if r.already_ingested {
        println!(
            "already ingested: this file ({} rows, {} chunk{}) from source `{}` is \
             already stored in `{}`; nothing was stored",
            r.rows,
            r.resumed,
            if r.resumed == 1 { "" } else { "s" },
            a.source,
            r.dataset
        );
        return Ok(());
    }
    let rate = if r.total_seconds > 0.0 {
        r.encrypted_values as f64 / r.total_seconds
    } else {
        0.0
    };
    println!(
        "ingested {} rows into `{}` from source `{}`: {} chunk{}, {} encrypted values in {:.2} s ({:.0} values/s)",
        r.rows,
        r.dataset,
        a.source,
        r.chunks,
        if r.chunks == 1 { "" } else { "s" },
        r.encrypted_values,
        r.total_seconds,
        rate
    );
    if r.resumed > 0 {
        println!(
            "resumed an interrupted ingest: {} chunk{} of this file were already stored",
            r.resumed,
            if r.resumed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
