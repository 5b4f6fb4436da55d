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

mod export_aas;

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
    /// With --server: keep running, and run the query again each time new chunks of its
    /// datasets land on the platform (its chunk feed). Every run is released (or refused)
    /// anew; a refused run prints its reason, never the previous numbers. With --format json
    /// each result is one line. Stop with Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// Also write the released result as an Asset Administration Shell (V3 JSON)
    /// environment holding one `ReleasedAggregates` submodel: the SQL, the release facts
    /// (release id, ledger entries, disclosure mode, trustees and the time of their
    /// approval) and the result rows as typed properties. Embedded: the facts are read from
    /// the deployment's ledger; networked: from the platform's answer (release id = the
    /// `release_requested` entry, the `result_delivered` entry it names, the approvals it
    /// recorded). Not with --follow.
    #[arg(long, value_name = "F.json")]
    export_aas: Option<std::path::PathBuf>,
    /// The SQL query (one SELECT with aggregates).
    #[arg(value_name = "SQL")]
    sql: String,
}

/// `dtfhe query`.
pub(crate) fn run(a: QueryArgs, store: &StoreLocation) -> Result<(), CliError> {
    let at = |dir: &Path| DeploymentDir::new(dir, store.clone());
    if a.export_aas.is_some() && a.follow {
        return Err(CliError::Usage(
            "--export-aas writes one release: it cannot be used with --follow".into(),
        ));
    }
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
            if a.follow {
                return follow(opts, a.format);
            }
            let submitted = net::submit(&opts)?;
            // On stderr, so the result on stdout stays machine-readable.
            eprintln!(
                "query {} accepted by the platform; waiting up to {} s for the trustees",
                submitted.id, a.timeout
            );
            let released = net::finish_released(submitted, &opts)?;
            if let Some(out) = &a.export_aas {
                export_aas::networked(&a.sql, &released, out)?;
            }
            released.report
        }
        (Some(_), _, _) if a.follow => {
            return Err(CliError::Usage(
                "--follow needs a networked deployment (--server URL --identity F): it \
                 listens to the platform's chunk feed"
                    .into(),
            ))
        }
        (Some(dir), _, _) => {
            let r = ops::query_with(at(dir), &a.sql, a.epsilon)?;
            if let Some(out) = &a.export_aas {
                export_aas::embedded(&at(dir), &a.sql, &r, out)?;
            }
            r
        }
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

/// `dtfhe query --follow`: the query now and after every batch of new chunks of its
/// datasets. A run that is refused or not released prints why on stderr (and no numbers);
/// a first run that cannot be asked at all (a bad query, an unknown dataset, a bad identity) ends
/// the command with its error, as without `--follow`.
fn follow(opts: net::RemoteQueryOptions, format: Format) -> Result<(), CliError> {
    use dtfhe_analyst::follow::{self, Follow};
    use std::ops::ControlFlow;
    let f = Follow {
        query: opts,
        quiet: Duration::from_millis(1500),
    };
    let mut runs = 0u64;
    let mut fatal = None;
    follow::follow(&f, |trigger, result| {
        runs += 1;
        if runs > 1 {
            eprintln!("{trigger}: running the query again");
        }
        match result {
            Ok(r) => {
                eprintln!(
                    "run {runs}: released at {} (unix)",
                    dtfhe_model::clock::now_unix()
                );
                if matches!(format, Format::Json) {
                    // One line per run, so a reader can split the stream.
                    let doc: serde_json::Value =
                        serde_json::from_str(&r.result.to_json()).unwrap_or_default();
                    super::print_out(&doc.to_string());
                } else {
                    super::print_result(&r.result, format);
                }
                ControlFlow::Continue(())
            }
            Err(
                e @ (dtfhe_analyst::AnalystError::Usage(_)
                | dtfhe_analyst::AnalystError::Query(_)
                | dtfhe_analyst::AnalystError::Input(_)),
            ) if runs == 1 => {
                fatal = Some(e);
                ControlFlow::Break(())
            }
            Err(e) => {
                eprintln!("run {runs}: not released: {e}");
                ControlFlow::Continue(())
            }
        }
    })?;
    match fatal {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
