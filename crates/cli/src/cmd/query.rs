//! `dtfhe query`: an aggregate query, embedded (`--dir`) or networked (`--server`).

use clap::Args;
use dtfhe_analyst::net;
use dtfhe_cli::CliError;
use dtfhe_embedded::ops;
use dtfhe_embedded::DeploymentDir;
use dtfhe_store::StoreLocation;
use std::path::Path;
use std::time::Duration;

use super::Format;

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    target: super::Target,
    /// With --server: seconds to wait for every trustee's answer.
    #[arg(long, value_name = "S", default_value_t = 120)]
    timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Differential privacy: the trustees add jointly drawn discrete-Laplace noise to every
    /// released sum, spending this ε of the dataset's budget (row counts stay exact: they are
    /// public metadata). A deployment in dp mode noises every query: without this option the
    /// trustees' default ε per query applies.
    #[arg(long, value_name = "E")]
    epsilon: Option<f64>,
    /// The SQL query (one SELECT with aggregates).
    #[arg(value_name = "SQL")]
    sql: String,
}

/// `dtfhe query`.
pub(crate) fn run(a: QueryArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    let r = match (&a.target.dir, &a.target.server, &a.target.identity) {
        (_, Some(server), Some(identity)) => {
            let opts = net::RemoteQueryOptions {
                server: server.clone(),
                identity: identity.clone(),
                sql: a.sql.clone(),
                epsilon: a.epsilon,
                timeout: Duration::from_secs(a.timeout),
                poll: Duration::from_millis(250),
            };
            let submitted = net::submit(&opts)?;
            // On stderr, so the result on stdout stays machine-readable.
            eprintln!(
                "query {} accepted by the platform; waiting up to {} s for the trustees",
                submitted.id, a.timeout
            );
            net::finish(submitted, &opts)?
        }
        (Some(dir), _, _) => ops::query_with(at(dir), &a.sql, a.epsilon)?,
        _ => {
            return Err(CliError::Usage(
                "query needs --dir D, or --server URL --identity F".into(),
            ))
        }
    };
    if let Some(e) = r.epsilon {
        // On stderr, so the result on stdout stays machine-readable.
        eprintln!(
            "differential privacy: every released sum carries the trustees' noise \
             (ε = {e} of each dataset's budget); row counts are exact"
        );
    }
    super::print_result(&r.result, a.format);
    Ok(())
}
