//! `dtfhe dashboard [add-user]`: arguments only; the dashboard is `dtfhe_dashboard`.

use clap::{Args, Subcommand};
use dtfhe_cli::CliError;
use dtfhe_dashboard::schedule::Schedule;
use dtfhe_dashboard::scores::{Scoring, ScoringOptions};
use dtfhe_dashboard::{App, Backend, Options, Role, Users};
use dtfhe_embedded::DeploymentDir;
use dtfhe_engine::model::LinearModel;
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
    /// A scheduled report of a ready-made view, sealed like any other; repeat for several
    /// views. VIEW=MINUTES: every MINUTES minutes from the start (1 to 10080, e.g.
    /// `oee=480`). VIEW@HH:MM[,HH:MM...]: at these clock times every day, as plants schedule
    /// per shift (e.g. `oee@06:00,14:00,22:00`): 24-hour times, strictly increasing within
    /// the day, each once, in UTC unless --schedule-tz-offset says otherwise.
    #[arg(long, value_name = "VIEW=MINUTES|VIEW@HH:MM,...", value_parser = parse_schedule)]
    schedule: Vec<(String, Schedule)>,
    /// The UTC offset of every --schedule VIEW@HH:MM time, as +HH:MM or -HH:MM (e.g. +01:00
    /// for 06:00 in Central European winter time); default +00:00 (UTC). A fixed offset:
    /// no daylight-saving changes are applied.
    #[arg(
        long,
        value_name = "±HH:MM",
        value_parser = parse_offset,
        allow_hyphen_values = true,
        default_value = "+00:00"
    )]
    schedule_tz_offset: i32,
    #[command(flatten)]
    scoring: ScoringArgs,
    /// With --auditor-identity: the platform's checkpoint key (store.pub) to pin.
    #[arg(long, value_name = "F", requires = "auditor_identity")]
    store_key: Option<PathBuf>,
}

/// Running the dashboard as the source that owns the rows: its own predicted remaining
/// life per asset.
#[derive(Debug, Args)]
struct ScoringArgs {
    /// Run as the source that owns the rows and add the view "Predicted remaining life per
    /// asset" (/views/remaining-life): the source's own rows scored with this model (JSON
    /// written by `dtfhe model fit` from released aggregates), released by every trustee to
    /// the source alone (as `dtfhe model score`). Networked, --identity must be the
    /// source's; embedded, name it with --source. Without --model (an analyst's dashboard)
    /// the view list explains what the source runs instead.
    #[arg(long, value_name = "M.json")]
    model: Option<PathBuf>,
    /// With --dir and --model: the source whose own rows are scored; the deployment must
    /// hold its signing key, as for `dtfhe model score --dir D --source SOURCE`.
    #[arg(
        long,
        value_name = "SOURCE",
        requires = "model",
        conflicts_with = "server"
    )]
    source: Option<String>,
    /// With --model: the dataset scored (default: the model's own dataset).
    #[arg(long, value_name = "NAME", requires = "model")]
    score_dataset: Option<String>,
    /// With --model: the public column naming the asset (e.g. `unit`, an engine of C-MAPSS,
    /// or `product_id` of AI4I); default: the dataset's first public column.
    #[arg(long, value_name = "COLUMN", requires = "model")]
    asset: Option<String>,
    /// With --model: a public column ordering an asset's rows (e.g. `cycle`); each asset
    /// shows the prediction of its row with the greatest value. Default: its last row stored.
    #[arg(long, value_name = "COLUMN", requires = "model")]
    latest_by: Option<String>,
    /// With --model: the unit of the prediction, for the chart's axis and the table
    /// (e.g. "operating cycles"); default: the model's target column.
    #[arg(long, value_name = "TEXT", requires = "model")]
    score_unit: Option<String>,
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

/// `VIEW=MINUTES` or `VIEW@HH:MM,...` of `--schedule` (the view is checked when the
/// dashboard starts); a bad value is a usage error naming what is wrong.
fn parse_schedule(spec: &str) -> Result<(String, Schedule), CliError> {
    Ok(dtfhe_dashboard::schedule::parse(spec)?)
}

/// `--schedule-tz-offset`: minutes east of UTC.
fn parse_offset(text: &str) -> Result<i32, CliError> {
    Ok(dtfhe_dashboard::schedule::parse_offset(text)?)
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
    opts.schedules = s
        .schedule
        .into_iter()
        .map(|(view, when)| match when {
            Schedule::At(t) => t
                .at_offset(s.schedule_tz_offset)
                .map(|t| (view, Schedule::At(t))),
            every => Ok((view, every)),
        })
        .collect::<Result<_, _>>()?;
    if let Some(path) = &s.scoring.model {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
        let model = LinearModel::from_json(&text)?;
        opts.scoring = Some(Scoring::new(
            &opts.backend,
            ScoringOptions {
                model,
                dataset: s.scoring.score_dataset.clone(),
                asset: s.scoring.asset.clone(),
                latest_by: s.scoring.latest_by.clone(),
                unit: s.scoring.score_unit.clone(),
                source: s.scoring.source.clone(),
            },
        )?);
    }
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
