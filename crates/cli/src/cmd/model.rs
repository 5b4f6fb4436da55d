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
intercept, coefficients, n, rmse_train). Ridge penalises the coefficients, not the intercept."
    )]
    Fit(FitArgs),
    /// Score every row of one source homomorphically; predictions only to that source.
    #[command(
        long_about = "Compute every row's prediction homomorphically (plaintext \
weights × ciphertexts) for the rows of --source, and release the per-row predictions only to \
that source: the caller must hold the source's signing key (the one its chunks are signed \
with), and the model must be one `model fit` recorded in the ledger (a hand-written model \
could release any row's value). Each trustee checks that every row belongs to the recipient \
before giving its share. Output: the dataset's public columns, source, prediction."
    )]
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
struct FitArgs {
    /// Deployment directory.
    #[arg(long, value_name = "D")]
    dir: PathBuf,
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
    /// Deployment directory.
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Model JSON written by `model fit`.
    #[arg(long, value_name = "M.json")]
    model: PathBuf,
    /// Dataset to score (must have the model's feature columns).
    #[arg(long, value_name = "NAME")]
    dataset: String,
    /// The source whose rows are scored.
    #[arg(long, value_name = "OWNER")]
    source: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run `dtfhe model …`.
pub(crate) fn run(args: ModelArgs, store: &dtfhe_store::StoreLocation) -> Result<(), CliError> {
    match args.command {
        ModelCommand::Fit(a) => {
            let (m, report) = model::fit(
                DeploymentDir::new(&a.dir, store.clone()),
                &a.dataset,
                &a.target,
                &a.features,
                a.ridge,
            )?;
            std::fs::write(&a.out, m.to_json()).map_err(|e| CliError::io(&a.out, e))?;
            println!(
                "fitted {} ~ {} on {} rows (ridge λ = {}): training RMSE {:.4}; {} sums released in {:.1} s; model written to {}",
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
            let r = model::score(
                DeploymentDir::new(&a.dir, store.clone()),
                &m,
                &a.dataset,
                &a.source,
            )?;
            super::print_result(&r.result, a.format);
            Ok(())
        }
    }
}
