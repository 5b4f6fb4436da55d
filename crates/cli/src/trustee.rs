//! `dtfhe trustee --server`: a factory's trustee daemon (`dtfhe_trustee::daemon`) on a
//! networked deployment. The analyst's side of the key path is `dtfhe_analyst::net`.

use dtfhe_trustee::daemon;

use crate::error::CliError;

/// Options of `dtfhe trustee`.
pub type TrusteeOptions = daemon::DaemonOptions;

/// `dtfhe trustee`: runs the daemon.
pub fn run(opts: &TrusteeOptions) -> Result<(), CliError> {
    daemon::run(opts).map_err(|e| dtfhe_analyst::net::daemon_error(e).into())
}
