//! `dtfhe trustee --server`: a factory's trustee daemon on a networked deployment.

use clap::Args;
use dtfhe_cli::CliError;
use dtfhe_trustee::daemon::{self, DaemonError, DaemonOptions};
use std::path::PathBuf;
use std::time::Duration;

use super::DisclosureArgs;

#[derive(Debug, Args)]
pub(crate) struct TrusteeArgs {
    /// The trustee's own directory (key share, share log, DP budget log).
    #[arg(long, value_name = "T")]
    dir: PathBuf,
    /// Platform server URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The trustee's identity file (its name is the trustee's name).
    #[arg(long, value_name = "F")]
    identity: PathBuf,
    /// Poll interval in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    poll_ms: u64,
    /// Answer the pending requests once, then exit.
    #[arg(long)]
    once: bool,
    /// This trustee's own k, if stricter than the deployment's.
    #[arg(long, value_name = "K")]
    min_group_size: Option<u32>,
    /// Release only these datasets (comma-separated).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    datasets: Option<Vec<String>>,
    #[command(flatten)]
    disclosure: DisclosureArgs,
    /// Refuse requests whose analyst statement is older than this many seconds (0: no
    /// limit), so a query its analyst gave up on spends no DP budget.
    #[arg(long, value_name = "S", default_value_t = 3600)]
    max_age_seconds: u64,
    /// t of a t-of-n deployment, as the trustees agreed: the dealing the platform announces
    /// is joined only if its t is this one (needed once, for the dealing).
    #[arg(long, value_name = "T")]
    threshold: Option<usize>,
    /// Join a t-of-n deployment in place of a departed trustee (after `dtfhe admin
    /// replace-trustee --old X --new NAME`): no key ceremony and no n-of-n key share; it
    /// receives its threshold secret in the proactive re-sharing and answers t-of-n releases
    /// with it only (per-row scoring, which needs an n-of-n share, is refused naming it).
    /// Needs `--threshold`.
    #[arg(long, requires = "threshold")]
    join: bool,
}

/// `dtfhe trustee`.
pub(crate) fn run(a: TrusteeArgs) -> Result<(), CliError> {
    let identity = super::load_identity(&a.identity)?;
    let opts = DaemonOptions {
        dir: a.dir,
        server: a.server,
        identity,
        poll: Duration::from_millis(a.poll_ms.max(10)),
        once: a.once,
        min_group_size: a.min_group_size,
        datasets: a.datasets,
        local_policy: a.disclosure.policy()?,
        timeout: Duration::from_secs(600),
        stop: None,
        max_age: (a.max_age_seconds > 0).then(|| Duration::from_secs(a.max_age_seconds)),
        threshold: a.threshold,
        join: a.join,
    };
    daemon::run(&opts).map_err(daemon_error)
}

/// The daemon's failure as a command error: API failures as for every networked command
/// (a policy refusal with the server's reason alone); a missing, damaged or mismatching key
/// share, ceremony record, ceremony progress file, share log or policy is damage (exit 8, as in the embedded
/// deployment); a crypto failure exit 6; another trustee problem a usage error; an unusable
/// deployment or schema, or an inconsistent platform, a platform error (exit 9).
fn daemon_error(e: DaemonError) -> CliError {
    use dtfhe_trustee::TrusteeError as T;
    match e {
        DaemonError::Api(e) => dtfhe_analyst::net::api_error(e).into(),
        DaemonError::Trustee(
            e @ (T::KeyShare { .. }
            | T::KeyStore { .. }
            | T::ShareLog { .. }
            | T::Disclosure { .. }
            | T::CeremonyProgress { .. }),
        ) => dtfhe_analyst::AnalystError::Damaged(e.to_string()).into(),
        DaemonError::Trustee(T::Crypto(e)) => e.into(),
        DaemonError::Trustee(e) => CliError::Usage(e.to_string()),
        DaemonError::Remote(e) => dtfhe_analyst::net::remote_error(e).into(),
        other => CliError::Platform(other.to_string()),
    }
}
