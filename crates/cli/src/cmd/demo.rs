//! `dtfhe demo`: the embedded walk-through on bundled data.

use clap::Args;
use dtfhe_cli::CliError;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the deployment in this directory (must not hold one already);
    /// default: a temporary directory, deleted at the end.
    #[arg(long, value_name = "D")]
    dir: Option<PathBuf>,
}

/// `dtfhe demo`.
pub(crate) fn run(a: DemoArgs) -> Result<(), CliError> {
    dtfhe_cli::demo::run(a.dir.as_deref())
}
