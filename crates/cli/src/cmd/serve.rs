//! `dtfhe serve`: the platform server of a networked deployment (holds no key share).

use clap::Args;
use dtfhe_cli::CliError;
use std::path::{Path, PathBuf};

use super::NewDeploymentArgs;

/// `dtfhe serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Platform directory: the store (ciphertexts, ledger) and its checkpoint key. Created on
    /// first start. Never holds a key share.
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8700 (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8700")]
    listen: std::net::SocketAddr,
    /// The first admin, NAME=ed25519:KEY (from `dtfhe identity new`); registered on start.
    #[arg(long, value_name = "NAME=KEY")]
    admin: Option<String>,
    /// Trustee names, one per factory (first start: the key ceremony's participants; later
    /// starts: must match the deployment).
    #[arg(long, value_name = "a,b,c", value_delimiter = ',')]
    trustees: Vec<String>,
    /// t, k and the parameters (first start only).
    #[command(flatten)]
    new: NewDeploymentArgs,
    /// Milliseconds a client has to send a request's headers (and to start its next request
    /// on a kept-alive connection) before the connection is closed.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Milliseconds a client has to send a request's body (then 408).
    #[arg(long, value_name = "MS", default_value_t = 120_000)]
    body_timeout_ms: u64,
    /// Connections served at once (others wait in the listen backlog).
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_connections: usize,
    /// Milliseconds between the ledger summaries of refused unauthenticated requests (one
    /// entry per source address per period).
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    denial_report_ms: u64,
    /// Queries and scorings computed at once (each uses every core and holds its
    /// ciphertexts in memory: this bounds the server's memory).
    #[arg(long, value_name = "N", default_value_t = 2)]
    computations_at_once: usize,
    /// Queries and scorings that may wait their turn; a further one is answered 503 with
    /// Retry-After (the analyst's client sends it again).
    #[arg(long, value_name = "N", default_value_t = 32)]
    computations_waiting: usize,
    /// Complete results (ciphertexts and sealed shares) read and sent at once; further
    /// fetches wait their turn (with the computations, this bounds the server's memory).
    #[arg(long, value_name = "N", default_value_t = 2)]
    results_at_once: usize,
}

/// `dtfhe serve`: builds a tokio runtime and runs the platform server (its store at `store`)
/// until Ctrl-C/SIGTERM.
pub(crate) fn run(a: ServeArgs, store: dtfhe_store::StoreLocation) -> Result<(), CliError> {
    let admin = a
        .admin
        .as_deref()
        .map(dtfhe_server::parse_admin)
        .transpose()
        .map_err(server_error)?;
    let trustees: Vec<String> = a.trustees.iter().map(|t| t.trim().to_string()).collect();
    let preset = a.new.params.preset_name("")?;
    let opts = dtfhe_server::ServeOptions {
        store,
        dir: a.dir,
        listen: a.listen,
        admin,
        trustees,
        min_group_size: a.new.min_group_size,
        preset,
        threshold: a.new.threshold,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io(Path::new("tokio runtime"), e))?;
    let ms = std::time::Duration::from_millis;
    let limits = dtfhe_server::Limits {
        header_timeout: ms(a.header_timeout_ms),
        body_timeout: ms(a.body_timeout_ms),
        max_connections: a.max_connections,
        denial_report: ms(a.denial_report_ms),
        computations_at_once: a.computations_at_once,
        computations_waiting: a.computations_waiting,
        results_at_once: a.results_at_once,
        ..dtfhe_server::Limits::default()
    };
    rt.block_on(dtfhe_server::serve_with(opts, limits))
        .map_err(server_error)
}

/// A server failure as a command error: bad start options are usage errors (exit 2).
fn server_error(e: dtfhe_server::ServerError) -> CliError {
    match e {
        dtfhe_server::ServerError::Store(e) => e.into(),
        dtfhe_server::ServerError::Config(m) => CliError::Usage(m),
        other => CliError::Platform(other.to_string()),
    }
}
