//! `dtfhe init`: create an embedded deployment (store, every trustee's key share).

use clap::Args;
use dtfhe_cli::CliError;
use dtfhe_embedded::ops;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::path::{Path, PathBuf};

use super::{DisclosureArgs, NewDeploymentArgs};

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Deployment directory to create (store + trustee directories).
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Trustee names, one per factory, comma-separated; all must approve every release
    /// (unless --threshold is lower).
    #[arg(long, value_name = "a,b,c", value_delimiter = ',', required = true, num_args = 1..)]
    trustees: Vec<String>,
    #[command(flatten)]
    new: NewDeploymentArgs,
    #[command(flatten)]
    disclosure: DisclosureArgs,
}

/// `dtfhe init`.
pub(crate) fn run(a: InitArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    let trustees: Vec<String> = a.trustees.iter().map(|t| t.trim().to_string()).collect();
    let opts = ops::InitOptions {
        dir: at(&a.dir),
        trustees: trustees.clone(),
        threshold: a.new.threshold,
        min_group_size: a.new.min_group_size,
        preset: a.new.params.preset_name("; nothing was created")?,
        policy: a.disclosure.policy()?,
    };
    ops::init(&opts)?;
    let quorum = match a.new.threshold {
        Some(t) if t < trustees.len() => format!("any {t} of {}", trustees.len()),
        _ => format!("{}", trustees.len()),
    };
    println!(
        "initialised {} with {} trustees ({}; {quorum} release), k = {}, preset {}",
        a.dir.display(),
        trustees.len(),
        trustees.join(", "),
        a.new.min_group_size,
        a.new.params.describe()
    );
    Ok(())
}
