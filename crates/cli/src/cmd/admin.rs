//! `dtfhe admin register`: an admin registers a party with the platform.

use clap::{Args, Subcommand};
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{Client, Role};
use dtfhe_cli::CliError;
use std::path::PathBuf;
use std::time::Duration;

use super::{api_error, load_identity};

/// `dtfhe admin`.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Register a party's public key with a role (and dataset grants for sources and
    /// analysts). Recorded in the ledger as `identity_registered`.
    Register {
        /// Platform server URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The admin's identity file.
        #[arg(long, value_name = "F")]
        identity: PathBuf,
        /// The party's name.
        #[arg(long, value_name = "N")]
        name: String,
        /// Its role: source, analyst, trustee, auditor or admin.
        #[arg(long, value_name = "R")]
        role: Role,
        /// Its public key, ed25519:<base64> (printed by `dtfhe identity new`).
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// Datasets a source may append to or an analyst may query (`*`: all).
        #[arg(long, value_name = "a,b", value_delimiter = ',')]
        datasets: Vec<String>,
    },
}

/// `dtfhe admin register`.
pub(crate) fn run(a: AdminArgs) -> Result<(), CliError> {
    let AdminCommand::Register {
        server,
        identity,
        name,
        role,
        public_key,
        datasets,
    } = a.command;
    dtfhe_api::identity::parse_public_key(&public_key)
        .map_err(|e| CliError::Usage(format!("--public-key: {e}")))?;
    let admin = load_identity(&identity)?;
    let client = Client::new(&server, Some(admin), Duration::from_secs(60));
    let record = client
        .register(&IdentityRecord {
            name,
            role,
            public_key: public_key.trim().to_string(),
            datasets,
        })
        .map_err(api_error)?;
    println!(
        "registered `{}` as {}{}",
        record.name,
        record.role,
        if record.datasets.is_empty() {
            String::new()
        } else {
            format!(" (datasets: {})", record.datasets.join(", "))
        }
    );
    Ok(())
}
