//! `dtfhe artifact put|get`: sealed per-product files of an embedded deployment.

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;
use dtfhe_embedded::artifact;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct ArtifactArgs {
    #[command(subcommand)]
    command: ArtifactCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArtifactCommand {
    /// Seal a file at its source and store it as an artifact of a product.
    Put {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Product (thread) the file belongs to, e.g. M14860.
        #[arg(long, value_name = "P")]
        product: String,
        /// Lifecycle stage.
        #[arg(long, value_parser = ["design", "manufacturing", "maintenance"])]
        stage: String,
        /// File to seal; stored under its file name (unique per product).
        #[arg(long, value_name = "F")]
        file: PathBuf,
        /// Owning source (holds the key).
        #[arg(long, value_name = "NAME", default_value = "local")]
        source: String,
    },
    /// Open an artifact as its owning source and write its bytes to a file.
    Get {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Product.
        #[arg(long, value_name = "P")]
        product: String,
        /// File name of the artifact.
        #[arg(long, value_name = "FILE")]
        name: String,
        /// Where to write the opened bytes (written only if they authenticate).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        /// Source opening it (must be the owner).
        #[arg(long, value_name = "NAME", default_value = "local")]
        source: String,
    },
}

/// `dtfhe artifact`.
pub(crate) fn run(a: ArtifactArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    match a.command {
        ArtifactCommand::Put {
            dir,
            product,
            stage,
            file,
            source,
        } => {
            let r = artifact::put(at(&dir), &product, &stage, &file, &source)?;
            println!(
                "sealed `{}` ({} bytes) for product `{product}`, stage {stage}, source \
             `{source}`: artifact {}, sealed blake3 {}",
                r.name, r.size, r.id, r.sealed_hash
            );
            Ok(())
        }
        ArtifactCommand::Get {
            dir,
            product,
            name,
            out,
            source,
        } => {
            let n = artifact::get(at(&dir), &product, &name, &out, &source)?;
            println!(
                "opened `{name}` of product `{product}`: {n} bytes written to {}",
                out.display()
            );
            Ok(())
        }
    }
}
