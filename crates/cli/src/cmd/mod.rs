//! One module per subcommand of `dtfhe`: its clap arguments and its output. The work is
//! done by the role crates (`dtfhe-embedded`, `dtfhe-analyst`, `dtfhe-bench`, the trustee
//! daemon, the server, the agent).

use clap::{Args, ValueEnum};
use dtfhe_cli::CliError;
use std::path::PathBuf;

pub(crate) mod artifact;
pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod demo;
pub(crate) mod ingest;
pub(crate) mod init;
pub(crate) mod query;
pub(crate) mod thread;
pub(crate) mod trustee;

/// Where a command runs: an embedded deployment directory (`--dir`), or a platform server
/// (`--server`) with the caller's identity file. Shared by `query` and `audit verify`.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// Deployment directory (embedded deployment).
    #[arg(
        long,
        value_name = "D",
        required_unless_present = "server",
        conflicts_with = "server"
    )]
    pub(crate) dir: Option<PathBuf>,
    /// Platform server URL (networked deployment; needs --identity).
    #[arg(long, value_name = "URL", requires = "identity")]
    pub(crate) server: Option<String>,
    /// Your identity file, with --server: the analyst's for a query, an auditor's for an
    /// audit.
    #[arg(long, value_name = "F")]
    pub(crate) identity: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// One tab-separated line per entry, with a header line.
    Text,
    /// A JSON array of entries.
    Json,
}

/// How released aggregates are protected (written to each trustee's policy.toml and the
/// ledger). Without `--dp-budget`, every dataset is in audit mode: exact releases, and a
/// release that would let anyone derive fewer than k rows by differencing is refused.
#[derive(Debug, Args)]
pub(crate) struct DisclosureArgs {
    /// dp mode for every dataset: every release is noised by the trustees, and each dataset
    /// may spend this total ε. Each trustee keeps its own spend log and refuses beyond it.
    #[arg(long, value_name = "EPSILON")]
    dp_budget: Option<f64>,
    /// dp mode: ε of a query that names none (default: a tenth of the budget).
    #[arg(long, value_name = "EPSILON", requires = "dp_budget")]
    dp_epsilon: Option<f64>,
    /// Let identifier columns (`role = "key"`: serials, row numbers) filter and group
    /// released aggregates. Off by default: such filters single rows out.
    #[arg(long)]
    allow_key_filters: bool,
}

impl DisclosureArgs {
    pub(crate) fn policy(&self) -> Result<dtfhe_release::LocalPolicy, CliError> {
        let mode = match self.dp_budget {
            None => dtfhe_release::Mode::Audit,
            Some(b) => dtfhe_release::Mode::dp(b, self.dp_epsilon)
                .map_err(|e| CliError::Usage(format!("--dp-budget/--dp-epsilon: {e}")))?,
        };
        Ok(dtfhe_release::LocalPolicy {
            mode,
            min_group_size: None,
            allow_key_filters: self.allow_key_filters,
        })
    }
}
