//! Command-line front of the analytics commands: `model fit|score`, `features cmapss`,
//! `generate mes`.

use crate::error::CliError;
use clap::{Args, Subcommand};
use dtfhe_embedded::{model, DeploymentDir};
use dtfhe_engine::model::LinearModel;
use std::path::PathBuf;

/// `dtfhe model …`
#[derive(Debug, Args)]
pub struct ModelArgs {
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
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json", "csv"])]
    format: String,
}

/// Run `dtfhe model …`.
pub fn run_model(args: ModelArgs, store: &dtfhe_store::StoreLocation) -> Result<(), CliError> {
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
            let text = match a.format.as_str() {
                "json" => r.result.to_json(),
                "csv" => r.result.to_csv(),
                _ => r.result.to_table(),
            };
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(())
        }
    }
}

/// `dtfhe features …`
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    #[command(subcommand)]
    command: FeaturesCommand,
}

#[derive(Debug, Subcommand)]
enum FeaturesCommand {
    /// Edge features for a turbofan run log (NASA C-MAPSS layout), computed before encryption.
    Cmapss {
        /// Whitespace-separated run log (unit, cycle, 3 settings, 21 sensors).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Output CSV (schemas/cmapss_{train,test}_features.toml).
        #[arg(long, value_name = "OUT.csv")]
        out: PathBuf,
        /// Training log (runs to failure): add `rul`, cycles to failure capped at this value.
        #[arg(long, value_name = "CAP")]
        rul_cap: Option<u32>,
    },
}

/// Run `dtfhe features …`.
pub fn run_features(args: FeaturesArgs) -> Result<(), CliError> {
    match args.command {
        FeaturesCommand::Cmapss {
            input,
            out,
            rul_cap,
        } => {
            let text = std::fs::read_to_string(&input).map_err(|e| CliError::io(&input, e))?;
            let csv = dtfhe_agent::features::cmapss_features(
                &text,
                &input.display().to_string(),
                rul_cap,
            )
            .map_err(|e| CliError::Usage(format!("{e}; nothing was written")))?;
            std::fs::write(&out, &csv).map_err(|e| CliError::io(&out, e))?;
            println!(
                "{} feature rows written to {}",
                csv.lines().count().saturating_sub(1),
                out.display()
            );
            Ok(())
        }
    }
}

/// `dtfhe generate …`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    command: GenerateCommand,
}

#[derive(Debug, Subcommand)]
enum GenerateCommand {
    /// MES production runs (ISA-95 vocabulary) for OEE: schemas/production_runs.toml.
    Mes {
        /// Number of runs.
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        /// Random seed (same seed, same file).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output CSV.
        #[arg(long, value_name = "OUT.csv")]
        out: PathBuf,
    },
}

/// Run `dtfhe generate …`.
pub fn run_generate(args: GenerateArgs) -> Result<(), CliError> {
    match args.command {
        GenerateCommand::Mes { rows, seed, out } => {
            std::fs::write(&out, dtfhe_agent::mes::production_runs(rows, seed))
                .map_err(|e| CliError::io(&out, e))?;
            println!("{rows} production runs written to {}", out.display());
            Ok(())
        }
    }
}
