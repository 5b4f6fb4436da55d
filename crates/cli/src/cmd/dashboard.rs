//! `dtfhe dashboard [add-user]`: arguments only; the dashboard is `dtfhe_dashboard`.

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;
use dtfhe_dashboard::{App, Backend, Options, Role, Users};
use dtfhe_embedded::DeploymentDir;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Target;

/// `dtfhe dashboard`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct DashboardArgs {
    #[command(subcommand)]
    command: Option<DashboardCommand>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    target: Target,
    /// The dashboard's own state directory (users file, sign-in log); default D/dashboard
    /// with --dir (required with --server).
    #[arg(long, value_name = "S")]
    state: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8780")]
    listen: std::net::SocketAddr,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, value_name = "MIN", default_value_t = 60)]
    session_minutes: u64,
    /// Seconds of inactivity after which a session ends (overrides --session-minutes).
    #[arg(long, value_name = "S", hide = true)]
    session_seconds: Option<u64>,
    /// Mark cookies Secure: set this when a TLS-terminating proxy serves the dashboard.
    #[arg(long)]
    secure_cookies: bool,
    /// Seconds a networked query waits for every trustee.
    #[arg(long, value_name = "S", default_value_t = 300)]
    timeout: u64,
    /// With --server: an auditor's identity file, with which the audit view lists the
    /// platform's ledger and "verify now" runs `dtfhe audit verify --server` (the ledger is
    /// read by auditors only).
    #[arg(long, value_name = "F", requires = "server")]
    auditor_identity: Option<PathBuf>,
    /// A scheduled report: VIEW=MINUTES makes a report of the ready-made view every MINUTES
    /// minutes (e.g. `oee=480` once per 8-hour shift), sealed like any other report;
    /// repeat for several views.
    #[arg(long, value_name = "VIEW=MINUTES", value_parser = parse_schedule)]
    schedule: Vec<(String, Duration)>,
    /// With --auditor-identity: the platform's checkpoint key (store.pub) to pin.
    #[arg(long, value_name = "F", requires = "auditor_identity")]
    store_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum DashboardCommand {
    /// Add a dashboard user (the first one: --role admin); the password is read from the
    /// first line of stdin.
    AddUser {
        /// The dashboard's state directory.
        #[arg(long, value_name = "S", required_unless_present = "dir")]
        state: Option<PathBuf>,
        /// Deployment directory (the state is then D/dashboard).
        #[arg(long, value_name = "D", conflicts_with = "state")]
        dir: Option<PathBuf>,
        /// Sign-in name.
        #[arg(long)]
        name: String,
        /// viewer, analyst, auditor or admin.
        #[arg(long, value_parser = ["viewer", "analyst", "auditor", "admin"])]
        role: String,
        /// Datasets the user may see (comma-separated), or * for every dataset.
        #[arg(long, value_name = "a,b|*", value_delimiter = ',', default_value = "*")]
        datasets: Vec<String>,
        /// Replace an existing user's password, role and datasets.
        #[arg(long)]
        replace: bool,
    },
}

/// `VIEW=MINUTES` of `--schedule` (the view is checked when the dashboard starts).
fn parse_schedule(spec: &str) -> Result<(String, Duration), String> {
    let (view, minutes) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}`: expected VIEW=MINUTES, e.g. oee=480"))?;
    let minutes: u64 = minutes
        .parse()
        .ok()
        .filter(|m| (1..=7 * 24 * 60).contains(m))
        .ok_or_else(|| format!("`{spec}`: MINUTES must be a whole number from 1 to 10080"))?;
    Ok((view.to_string(), Duration::from_secs(minutes * 60)))
}

fn state_dir(state: Option<PathBuf>, dir: Option<&Path>) -> Result<PathBuf, CliError> {
    match (state, dir) {
        (Some(s), _) => Ok(s),
        (None, Some(d)) => Ok(d.join("dashboard")),
        (None, None) => Err(CliError::Usage(
            "--state S: the dashboard's state directory is required with --server".into(),
        )),
    }
}

/// `dtfhe dashboard`: serve until killed; `dtfhe dashboard add-user`: add an account.
pub(crate) fn run(a: DashboardArgs, store: &dtfhe_store::StoreLocation) -> Result<(), CliError> {
    if let Some(DashboardCommand::AddUser {
        state,
        dir,
        name,
        role,
        datasets,
        replace,
    }) = a.command
    {
        let state = state_dir(state, dir.as_deref())?;
        let role = Role::parse(&role).ok_or_else(|| CliError::Usage(format!("--role {role}")))?;
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::io(Path::new("stdin"), e))?;
        let password = line.trim_end_matches(['\n', '\r']);
        let mut users = Users::load(&state)?;
        let datasets: Vec<String> = datasets.iter().map(|d| d.trim().to_string()).collect();
        users.add(&name, role, &datasets, password, replace)?;
        println!(
            "user `{name}` ({}) can sign in to the dashboard of {}",
            role.as_str(),
            state.display()
        );
        return Ok(());
    }
    let s = a.serve;
    let state = state_dir(s.state, s.target.dir.as_deref())?;
    let backend = match (&s.target.dir, &s.target.server, &s.target.identity) {
        (Some(d), _, _) => Backend::Embedded {
            dir: DeploymentDir::new(d, store.clone()),
        },
        (None, Some(server), Some(identity)) => Backend::Networked {
            server: server.clone(),
            identity: identity.clone(),
            timeout: Duration::from_secs(s.timeout),
            auditor: s.auditor_identity.clone(),
            store_key: s.store_key.clone(),
        },
        _ => {
            return Err(CliError::Usage(
                "give --dir D, or --server URL with --identity F".into(),
            ))
        }
    };
    let mut opts = Options::new(backend, state);
    opts.session_idle = Duration::from_secs(
        s.session_seconds
            .unwrap_or(s.session_minutes.saturating_mul(60))
            .max(1),
    );
    opts.secure_cookies = s.secure_cookies;
    opts.schedules = s.schedule;
    let app = Arc::new(App::new(opts)?);
    serve(app, s.listen, |_, _| Ok(()))
}

/// Serves `app` on `listen` until the process ends; prints the URL, then calls `ready` with
/// the app and the bound address (e.g. to print a one-time sign-in link).
pub(crate) fn serve(
    app: Arc<App>,
    listen: std::net::SocketAddr,
    ready: impl FnOnce(&App, std::net::SocketAddr) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io(Path::new("tokio runtime"), e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::io(Path::new(&listen.to_string()), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::io(Path::new(&listen.to_string()), e))?;
        println!("dashboard: serving http://{addr}/");
        ready(&app, addr)?;
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        dtfhe_dashboard::app::serve(app, listener)
            .await
            .map_err(|e| CliError::io(Path::new(&addr.to_string()), e))
    })
}
