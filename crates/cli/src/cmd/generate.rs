//! `dtfhe generate mes`: example data (MES production runs for OEE).

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;
use std::path::PathBuf;

/// `dtfhe generate …`
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
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
pub(crate) fn run(args: GenerateArgs) -> Result<(), CliError> {
    match args.command {
        GenerateCommand::Mes { rows, seed, out } => {
            std::fs::write(&out, dtfhe_agent::mes::production_runs(rows, seed))
                .map_err(|e| CliError::io(&out, e))?;
            println!("{rows} production runs written to {}", out.display());
            Ok(())
        }
    }
}
