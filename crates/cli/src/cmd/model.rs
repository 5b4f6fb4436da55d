//! `dtfhe model fit|score`: predictive maintenance from released aggregates.

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;

use super::Format;
use dtfhe_embedded::{model, DeploymentDir};
use dtfhe_engine::model::LinearModel;
use std::path::PathBuf;

/// `dtfhe model …`
#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Fit a linear ridge regression from released aggregates (same policy as any query).
    #[command(
        long_about = "Fit a linear ridge regression of --target on --features over an \
encrypted dataset. The platform computes the encrypted sums of the Gram matrix (means, variances, \
covariances); every trustee checks them like any aggregate (k rows, no overflow) before its share; \
the model is solved in clear from the released sums and written to --out as JSON (features, \
intercept, coefficients, n, rmse_train). Ridge penalises the coefficients, not the intercept. \
With --server (an analyst's identity) the fit's query runs on the platform like any other and \
the model is then registered there with the analyst's signature (a `model_fitted` ledger entry), \
so sources can score with it."
    )]
    Fit(FitArgs),
    /// Score every row of one source homomorphically; predictions only to that source.
    #[command(
        long_about = "Compute every row's prediction homomorphically (plaintext \
weights × ciphertexts) for the rows of --source, and release the per-row predictions only to \
that source: the caller must hold the source's signing key (the one its chunks are signed \
with), and the model must be one `model fit` recorded in the ledger (a hand-written model \
could release any row's value). Each trustee checks that every row belongs to the recipient \
before giving its share. With --server the identity must be the source itself: the platform \
scores that identity's rows only, every trustee re-derives the scores from its signed chunks, \
checks the model's registration and seals its shares to a key only this process holds. \
Output: the dataset's public columns, source, prediction."
    )]
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
struct FitArgs {
    #[command(flatten)]
    target_at: super::Target,
    /// With --server: seconds to wait for every trustee's answer.
    #[arg(long, value_name = "S", default_value_t = 300)]
    timeout: u64,
    /// Dataset to train on.
    #[arg(long, value_name = "NAME")]
    dataset: String,
    /// Target (dependent) encrypted column.
    #[arg(long, value_name = "COL")]
    target: String,
    /// Feature encrypted columns, comma-separated.
    #[arg(long, value_name = "a,b,c", value_delimiter = ',', required = true)]
    features: Vec<String>,
    /// Ridge penalty λ ≥ 0.
    #[arg(long, value_name = "LAMBDA", default_value_t = 0.0)]
    ridge: f64,
    /// Where to write the model JSON.
    #[arg(long, value_name = "M.json")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct ScoreArgs {
    #[command(flatten)]
    target_at: super::Target,
    /// With --server: seconds to wait for every trustee's answer.
    #[arg(long, value_name = "S", default_value_t = 300)]
    timeout: u64,
    /// Model JSON written by `model fit`.
    #[arg(long, value_name = "M.json")]
    model: PathBuf,
    /// Dataset to score (must have the model's feature columns).
    #[arg(long, value_name = "NAME")]
    dataset: String,
    /// The source whose rows are scored (embedded; with --server, the identity's own rows).
    #[arg(long, value_name = "OWNER", required_unless_present = "server")]
    source: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The networked target, if `--server` was given.
fn remote(t: &super::Target, timeout: u64) -> Option<dtfhe_analyst::model::Remote> {
    match (&t.server, &t.identity) {
        (Some(server), Some(identity)) => Some(dtfhe_analyst::model::Remote {
            server: server.clone(),
            identity: identity.clone(),
            timeout: std::time::Duration::from_secs(timeout),
            poll: std::time::Duration::from_millis(250),
        }),
        _ => None,
    }
}

fn dir_of(t: &super::Target, command: &str) -> Result<PathBuf, CliError> {
    t.dir.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "model {command} needs --dir D, or --server URL --identity F"
        ))
    })
}

/// Run `dtfhe model …`.
pub(crate) fn run(args: ModelArgs, store: &dtfhe_store::StoreLocation) -> Result<(), CliError> {
    match args.command {
        ModelCommand::Fit(a) => {
            let (m, report, registered) = match remote(&a.target_at, a.timeout) {
                Some(r) => {
                    let f =
                        dtfhe_analyst::model::fit(&r, &a.dataset, &a.target, &a.features, a.ridge)?;
                    let note = format!(
                        "; registered on the platform (ledger entry {}, model {})",
                        f.record.ledger_seq, f.record.hash
                    );
                    (f.model, f.report, note)
                }
                None => {
                    let (m, report) = model::fit(
                        DeploymentDir::new(&dir_of(&a.target_at, "fit")?, store.clone()),
                        &a.dataset,
                        &a.target,
                        &a.features,
                        a.ridge,
                    )?;
                    (m, report, String::new())
                }
            };
            std::fs::write(&a.out, m.to_json()).map_err(|e| CliError::io(&a.out, e))?;
            println!(
                "fitted {} ~ {} on {} rows (ridge λ = {}): training RMSE {:.4}; {} sums released in {:.1} s; model written to {}{registered}",
                m.target,
                m.features.join(" + "),
                m.n,
                m.ridge,
                m.rmse_train,
                report.released_ciphertexts,
                report.compute_seconds + report.release_seconds,
                a.out.display()
            );
            Ok(())
        }
        ModelCommand::Score(a) => {
            let text = std::fs::read_to_string(&a.model).map_err(|e| CliError::io(&a.model, e))?;
            let m = LinearModel::from_json(&text)?;
            let result = match remote(&a.target_at, a.timeout) {
                Some(r) => dtfhe_analyst::model::score(&r, &m, &a.dataset)?.result,
                None => {
                    let source = a.source.clone().ok_or_else(|| {
                        CliError::Usage("model score needs --source OWNER with --dir".into())
                    })?;
                    model::score(
                        DeploymentDir::new(&dir_of(&a.target_at, "score")?, store.clone()),
                        &m,
                        &a.dataset,
                        &source,
                    )?
                    .result
                }
            };
            super::print_result(&result, a.format);
            Ok(())
        }
    }
}
