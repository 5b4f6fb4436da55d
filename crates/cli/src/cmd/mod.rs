//! One module per subcommand of `dtfhe`: its clap arguments and its output. The work is
//! done by the role crates (`dtfhe-embedded`, `dtfhe-analyst`, `dtfhe-bench`, the trustee
//! daemon, the server, the agent). What several subcommands share (result output, identity
//! files, custom parameters, API error codes) is here, once.

use clap::{Args, ValueEnum};
use dtfhe_api::{ApiError, Identity};
use dtfhe_cli::CliError;
use dtfhe_engine::ResultSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub(crate) mod admin;
pub(crate) mod agent;
pub(crate) mod arenas;
pub(crate) mod artifact;
pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod dashboard;
pub(crate) mod demo;
pub(crate) mod features;
pub(crate) mod generate;
pub(crate) mod identity;
pub(crate) mod ingest;
pub(crate) mod init;
pub(crate) mod model;
pub(crate) mod query;
pub(crate) mod serve;
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

/// How a released result is printed on stdout.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Aligned human-readable table.
    Table,
    /// {"columns":[...],"rows":[[...],...]} with numbers as JSON numbers, histograms and
    /// percentiles as objects.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

/// Prints a released result in `format` on stdout.
pub(crate) fn print_result(r: &ResultSet, format: Format) {
    print_out(&match format {
        Format::Table => r.to_table(),
        Format::Json => r.to_json(),
        Format::Csv => r.to_csv(),
    });
}

/// Writes a command's output on stdout, ending with a newline, in one locked write (a
/// closed pipe is not an error: the reader has what it wanted).
pub(crate) fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Reads an identity file (`--identity`); a missing or malformed one is a usage error.
pub(crate) fn load_identity(path: &Path) -> Result<Identity, CliError> {
    Identity::load(path).map_err(|e| CliError::Usage(e.to_string()))
}

/// The release rules and parameters of a new deployment, the same for `init` and for
/// `serve` (which creates its deployment on the first start): the quorum t, k and the BFV
/// parameters.
#[derive(Debug, Args)]
pub(crate) struct NewDeploymentArgs {
    /// t: any t of the trustees release, fewer learn nothing (each trustee deals Shamir
    /// shares of its key share to the others: at `init`, or after the key ceremony of
    /// `serve`, sealed to their keys and relayed by the server). Default (or the number of
    /// trustees): all of them must answer (n-of-n). `serve`: first start only; later starts
    /// check it.
    #[arg(long, value_name = "T")]
    pub(crate) threshold: Option<usize>,
    /// k: smallest number of rows any released group may have (`serve`: first start only).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub(crate) min_group_size: u32,
    /// The BFV parameters (`serve`: first start only).
    #[command(flatten)]
    pub(crate) params: ParamsArgs,
}

/// The BFV parameters of a new deployment (`init`, and `serve` on its first start): a vetted
/// preset, or custom numbers from a file validated like the presets.
#[derive(Debug, Args)]
pub(crate) struct ParamsArgs {
    /// BFV parameter preset. bfv-16384 allows masked products (WHERE/GROUP BY with
    /// variances, correlations); bfv-8192 is faster and smaller but refuses those.
    #[arg(long, value_name = "NAME", default_value = "bfv-16384",
          value_parser = ["bfv-16384", "bfv-8192"])]
    preset: String,
    /// Custom BFV parameters from a TOML file (`degree`, `plaintext`, `moduli`), validated
    /// like the presets (128-bit size bound, t prime, t ≡ 1 mod 2N, t below every modulus).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    params: Option<PathBuf>,
}

impl ParamsArgs {
    /// The preset name to record (custom parameters: `custom:<hex>`); a bad file is a usage
    /// error whose message ends with `suffix`.
    pub(crate) fn preset_name(&self, suffix: &str) -> Result<String, CliError> {
        let Some(file) = &self.params else {
            return Ok(self.preset.clone());
        };
        let text = std::fs::read_to_string(file).map_err(|e| CliError::io(file, e))?;
        dtfhe_crypto::ParamSpec::from_toml(&text, &file.display().to_string())
            .and_then(|s| s.validate(false).map(|_| s.custom_name()))
            .map_err(|e| CliError::Usage(format!("{e}{suffix}")))
    }

    /// How the parameters read in a summary line.
    pub(crate) fn describe(&self) -> &str {
        match self.params {
            Some(_) => "custom (validated)",
            None => &self.preset,
        }
    }
}

/// A platform API failure as a command error, by the one mapping every networked command
/// uses (`dtfhe_model::ExitKind::for_problem`): a request the platform rejects as malformed
/// (400, e.g. bad SQL) is bad input (exit 3, as in the embedded command); an authentication,
/// authorisation or policy refusal (401, 403, 422) a refusal (exit 4); an unknown name or a
/// conflict (404, 409) a usage error (exit 2); an unreachable platform an I/O error (exit 1);
/// a server failure or an unexpected answer a platform error (exit 9).
pub(crate) fn api_error(e: ApiError) -> CliError {
    dtfhe_analyst::error::api_error(e).into()
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

#[cfg(test)]
mod tests {
    use super::*;
    use dtfhe_api::Problem;

    fn problem(status: u16) -> ApiError {
        ApiError::Problem {
            url: "http://p/v1/x".into(),
            problem: Box::new(Problem::new(status, "k", "t", "d")),
        }
    }

    #[test]
    fn api_errors_map_to_the_documented_exit_codes() {
        for (status, code) in [
            (401, 4),
            (403, 4),
            (422, 4),
            (400, 3),
            (413, 3),
            (404, 2),
            (409, 2),
            (500, 9),
            (503, 9),
        ] {
            assert_eq!(api_error(problem(status)).exit_code(), code, "{status}");
        }
        let transport = ApiError::Transport {
            url: "http://p".into(),
            reason: "refused".into(),
        };
        assert_eq!(api_error(transport).exit_code(), 1);
    }
}
