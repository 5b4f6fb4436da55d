//! `dtfhe thread show`: a product's digital thread (public columns and artifacts).

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;
use dtfhe_embedded::artifact;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::LogFormat;

#[derive(Debug, Args)]
pub(crate) struct ThreadArgs {
    #[command(subcommand)]
    command: ThreadCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ThreadCommand {
    /// List every record about a product, by stage (design, manufacturing, maintenance):
    /// rows of per-product datasets (public columns only) and sealed artifacts.
    Show {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Product.
        #[arg(long, value_name = "P")]
        product: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        format: LogFormat,
    },
}

/// `dtfhe thread`.
pub(crate) fn run(a: ThreadArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    let ThreadCommand::Show {
        dir,
        product,
        format,
    } = a.command;
    let t = artifact::thread(at(&dir), &product)?;
    let text = match format {
        LogFormat::Text => t.to_text(),
        LogFormat::Json => t.to_json(),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(())
}
