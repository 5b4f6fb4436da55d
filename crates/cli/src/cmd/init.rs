//! `dtfhe init`: create an embedded deployment (store, every trustee's key share).

use clap::Args;
use dtfhe_cli::CliError;
use dtfhe_embedded::ops;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::path::{Path, PathBuf};

use super::DisclosureArgs;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Deployment directory to create (store + trustee directories).
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Trustee names, one per factory, comma-separated; all must approve every release.
    #[arg(long, value_name = "a,b,c", value_delimiter = ',', required = true, num_args = 1..)]
    trustees: Vec<String>,
    /// k: smallest number of rows any released group may have.
    #[arg(long, value_name = "K", default_value_t = 5)]
    min_group_size: u32,
    /// BFV parameter preset. bfv-16384 allows masked products (WHERE/GROUP BY with
    /// variances, correlations); bfv-8192 is faster and smaller but refuses those.
    #[arg(long, value_name = "NAME", default_value = "bfv-16384",
          value_parser = ["bfv-16384", "bfv-8192"])]
    preset: String,
    /// Custom BFV parameters from a TOML file (`degree`, `plaintext`, `moduli`), validated
    /// like the presets (128-bit size bound, t prime, t ≡ 1 mod 2N, t below every modulus).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    params: Option<PathBuf>,
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
        min_group_size: a.min_group_size,
        preset: match &a.params {
            None => a.preset.clone(),
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| CliError::io(file, e))?;
                let spec = dtfhe_crypto::ParamSpec::from_toml(&text, &file.display().to_string())
                    .and_then(|s| s.validate(false).map(|_| s))
                    .map_err(|e| CliError::Usage(format!("{e}; nothing was created")))?;
                spec.custom_name()
            }
        },
        policy: a.disclosure.policy()?,
    };
    ops::init(&opts)?;
    println!(
        "initialised {} with {} trustees ({}), k = {}, preset {}",
        a.dir.display(),
        trustees.len(),
        trustees.join(", "),
        a.min_group_size,
        if a.params.is_some() {
            "custom (validated)"
        } else {
            a.preset.as_str()
        }
    );
    Ok(())
}
