//! `dtfhe serve`: the platform server of a networked deployment (holds no key share).

use clap::Args;
use dtfhe_cli::CliError;
use std::path::{Path, PathBuf};

use super::ParamsArgs;

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
    /// k: smallest number of rows any released group may have (first start only).
    #[arg(long, value_name = "K", default_value_t = 5)]
    min_group_size: u32,
    /// The parameters (first start only).
    #[command(flatten)]
    params: ParamsArgs,
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
    let preset = a.params.preset_name("")?;
    let opts = dtfhe_server::ServeOptions {
        store,
        dir: a.dir,
        listen: a.listen,
        admin,
        trustees,
        min_group_size: a.min_group_size,
        preset,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io(Path::new("tokio runtime"), e))?;
    rt.block_on(dtfhe_server::serve(opts)).map_err(server_error)
}

/// A server failure as a command error: bad start options are usage errors (exit 2).
fn server_error(e: dtfhe_server::ServerError) -> CliError {
    match e {
        dtfhe_server::ServerError::Store(e) => CliError::Store(e),
        dtfhe_server::ServerError::Config(m) => CliError::Usage(m),
        other => CliError::Platform(other.to_string()),
    }
}
