//! `dtfhe identity new|show`: a party's identity file (name and ed25519 key).

use clap::{Args, Subcommand};
use dtfhe_api::Identity;
use dtfhe_cli::CliError;
use std::path::PathBuf;

use super::load_identity;

/// `dtfhe identity`.
#[derive(Debug, Args)]
pub(crate) struct IdentityArgs {
    #[command(subcommand)]
    command: IdentityCommand,
}

#[derive(Debug, Subcommand)]
enum IdentityCommand {
    /// Create a new identity file (mode 0600, never overwritten) and print its public key.
    New {
        /// The party's name (1-64 of letters, digits, '-', '_', '.').
        #[arg(long, value_name = "N")]
        name: String,
        /// Identity file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print an identity's name and public key (the line an admin registers).
    Show {
        /// Identity file.
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

/// `dtfhe identity new|show`.
pub(crate) fn run(a: IdentityArgs) -> Result<(), CliError> {
    match a.command {
        IdentityCommand::New { name, out } => {
            let id = Identity::generate(&name).map_err(|e| CliError::Usage(e.to_string()))?;
            id.save_new(&out)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", id.public_key_string());
            Ok(())
        }
        IdentityCommand::Show { identity } => {
            let id = load_identity(&identity)?;
            println!("{} {}", id.name(), id.public_key_string());
            Ok(())
        }
    }
}
