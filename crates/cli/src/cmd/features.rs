//! `dtfhe features cmapss`: edge features of a raw run log, computed before encryption.

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;
use std::path::PathBuf;

/// `dtfhe features …`
#[derive(Debug, Args)]
pub(crate) struct FeaturesArgs {
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
pub(crate) fn run(args: FeaturesArgs) -> Result<(), CliError> {
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
