//! `dtfhe audit verify|log|prove`: the ledger, embedded (`--dir`) or remote (`--server`).

use clap::{Args, Subcommand};
use dtfhe_analyst::remote_audit;
use dtfhe_cli::CliError;
use dtfhe_embedded::audit;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::path::{Path, PathBuf};

use super::{LogFormat, Target};

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Replay and check the whole ledger; one-line summary, or the first bad entry.
    Verify {
        #[command(flatten)]
        target: Target,
        /// The store's checkpoint key (`store.pub` of the platform directory), pinned: the
        /// latest checkpoint must be signed by it (with --server).
        #[arg(long, value_name = "store.pub", requires = "server")]
        store_key: Option<PathBuf>,
        /// Also download every ciphertext and re-hash it against the hash its source signed
        /// (with --server; reads the whole store).
        #[arg(long, requires = "server")]
        ciphertexts: bool,
    },
    /// List every ledger entry (seq, time, kind, actor, subject, detail, hashes).
    Log {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        format: LogFormat,
    },
    /// Print and verify an inclusion proof (--entry N) or a consistency proof (--from M
    /// [--to N]).
    Prove {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Entry to prove included in the current tree.
        #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"],
              required_unless_present = "from")]
        entry: Option<u64>,
        /// Older tree size of a consistency proof.
        #[arg(long, value_name = "M")]
        from: Option<u64>,
        /// Newer tree size of a consistency proof (default: the current size).
        #[arg(long, value_name = "N", requires = "from")]
        to: Option<u64>,
    },
}

/// `dtfhe audit`.
pub(crate) fn run(a: AuditArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    let text = match a.command {
        AuditCommand::Verify {
            target: Target { dir: Some(dir), .. },
            ..
        } => audit::verify(at(&dir))?.to_string(),
        AuditCommand::Verify {
            target:
                Target {
                    server: Some(server),
                    identity: Some(identity),
                    ..
                },
            store_key,
            ciphertexts,
            ..
        } => {
            remote_audit::verify(&server, &identity, store_key.as_deref(), ciphertexts)?.to_string()
        }
        AuditCommand::Verify { .. } => {
            return Err(CliError::Usage(
                "audit verify needs --dir D, or --server URL --identity F".into(),
            ))
        }
        AuditCommand::Log { dir, format } => audit::log(
            at(&dir),
            match format {
                LogFormat::Text => audit::LogFormat::Text,
                LogFormat::Json => audit::LogFormat::Json,
            },
        )?,
        AuditCommand::Prove {
            dir,
            entry: Some(n),
            ..
        } => audit::prove_entry(at(&dir), n)?,
        AuditCommand::Prove {
            dir,
            from: Some(m),
            to,
            ..
        } => audit::prove_consistency(at(&dir), m, to)?,
        AuditCommand::Prove { .. } => {
            return Err(CliError::Usage(
                "audit prove needs --entry N, or --from M [--to N]".into(),
            ))
        }
    };
    super::print_out(&text);
    Ok(())
}
