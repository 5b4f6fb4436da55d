//! The networked data path on the command line: `dtfhe serve` (the platform server),
//! `dtfhe identity new|show` (a party's key file), `dtfhe admin register` (an admin
//! registers a party) and `dtfhe agent` (a source's edge agent with its durable spool).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use dtfhe_agent::upload::{EdgeAgent, EdgeError, Event, FileReport, RetryPolicy};
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{ApiError, Client, Identity, Role};

use crate::error::CliError;

/// A platform API failure as a command error, by the one mapping every networked command
/// uses (`dtfhe_model::ExitKind::for_problem`): a request the platform rejects as malformed
/// (400, e.g. bad SQL) is bad input (exit 3, as in the embedded command); an authentication,
/// authorisation or policy refusal (401, 403, 422) a refusal (exit 4); an unknown name or a
/// conflict (404, 409) a usage error (exit 2); an unreachable platform an I/O error (exit 1);
/// a server failure or an unexpected answer a platform error (exit 9).
pub fn api_error(e: ApiError) -> CliError {
    dtfhe_analyst::error::api_error(e).into()
}

/// An agent failure as a command error (exit codes as for the embedded `dtfhe ingest`:
/// 3 bad input (the file, or a chunk the platform rejects as such), 4 refused, 1 platform
/// unreachable with the chunks safe in the spool).
pub fn edge_error(e: EdgeError) -> CliError {
    match e {
        EdgeError::Input(e) => CliError::Input(e),
        EdgeError::Io { path, source } => CliError::io(&path, source),
        EdgeError::Api(e) => api_error(e),
        EdgeError::Crypto(e) => CliError::Crypto(e),
        // A chunk the platform refused: by the platform's problem type, as for every request
        // (bad input 3, a refusal 4, ...).
        EdgeError::Refused {
            source: ApiError::Problem { ref problem, .. },
            ..
        } => {
            let kind = dtfhe_model::ExitKind::for_problem(problem.status, problem.short_kind());
            dtfhe_analyst::error::with_kind(kind, e.to_string()).into()
        }
        e @ (EdgeError::Refused { .. } | EdgeError::Unattested(_)) => {
            CliError::Refused(e.to_string())
        }
        e @ EdgeError::Offline { .. } => CliError::Io {
            path: "platform".into(),
            source: std::io::Error::other(e.to_string()),
        },
        EdgeError::Spool(e) => CliError::Io {
            path: e.path.display().to_string(),
            source: std::io::Error::other(e.reason),
        },
        other => CliError::Usage(other.to_string()),
    }
}

fn load_identity(path: &Path) -> Result<Identity, CliError> {
    Identity::load(path).map_err(|e| CliError::Usage(e.to_string()))
}

/// `dtfhe serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Platform directory: the store (ciphertexts, ledger) and its checkpoint key. Created on
    /// first start. Never holds a key share.
    #[arg(long, value_name = "D")]
    pub dir: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8700 (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8700")]
    pub listen: std::net::SocketAddr,
    /// The first admin, NAME=ed25519:KEY (from `dtfhe identity new`); registered on start.
    #[arg(long, value_name = "NAME=KEY")]
    pub admin: Option<String>,
    /// Trustee names, one per factory (first start: the key ceremony's participants; later
    /// starts: must match the deployment).
    #[arg(long, value_name = "a,b,c", value_delimiter = ',')]
    pub trustees: Vec<String>,
    /// k: smallest number of rows any released group may have (first start only).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub min_group_size: u32,
    /// BFV parameter preset (first start only).
    #[arg(long, value_name = "NAME", default_value = "bfv-16384",
          value_parser = ["bfv-16384", "bfv-8192"])]
    pub preset: String,
    /// Custom BFV parameters from a TOML file, validated like `dtfhe init --params`.
    #[arg(long, value_name = "P", conflicts_with = "preset")]
    pub params: Option<PathBuf>,
}

/// `dtfhe serve`: builds a tokio runtime and runs the platform server (its store at `store`)
/// until Ctrl-C/SIGTERM.
pub fn run_serve(a: ServeArgs, store: dtfhe_store::StoreLocation) -> Result<(), CliError> {
    let admin = match &a.admin {
        None => None,
        Some(spec) => {
            let (name, key) = spec
                .split_once('=')
                .ok_or_else(|| CliError::Usage("--admin: expected NAME=ed25519:KEY".into()))?;
            if !dtfhe_model::names::is_party_name(name) {
                return Err(CliError::Usage(format!(
                    "--admin: name {name:?} must be 1-64 of letters, digits, '-', '_' or '.'"
                )));
            }
            dtfhe_api::identity::parse_public_key(key)
                .map_err(|e| CliError::Usage(format!("--admin: {e}")))?;
            Some((name.to_string(), key.trim().to_string()))
        }
    };
    let trustees: Vec<String> = a.trustees.iter().map(|t| t.trim().to_string()).collect();
    for (i, t) in trustees.iter().enumerate() {
        if !dtfhe_model::names::is_party_name(t) || trustees[..i].contains(t) {
            return Err(CliError::Usage(format!(
                "--trustees: {t:?} is not a valid name or is listed twice"
            )));
        }
    }
    if a.min_group_size == 0 {
        return Err(CliError::Usage(
            "--min-group-size must be at least 1".into(),
        ));
    }
    let preset = match &a.params {
        None => a.preset.clone(),
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| CliError::io(file, e))?;
            dtfhe_crypto::ParamSpec::from_toml(&text, &file.display().to_string())
                .and_then(|s| s.validate(false).map(|_| s))
                .map_err(|e| CliError::Usage(e.to_string()))?
                .custom_name()
        }
    };
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
    rt.block_on(dtfhe_server::serve(opts)).map_err(|e| match e {
        dtfhe_server::ServerError::Store(e) => CliError::Store(e),
        dtfhe_server::ServerError::Config(m) => CliError::Usage(m),
        other => CliError::Platform(other.to_string()),
    })
}

/// `dtfhe identity`.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    #[command(subcommand)]
    command: IdentityCommand,
}

#[derive(Debug, Subcommand)]
enum IdentityCommand {
    /// Create a new identity file (mode 0600, never overwritten) and print its public key.
    New {
        /// The party's name (1-64 of letters, digits, '-', '_', '.').
        #[arg(long, value_name = "N")]
        name: String,
        /// Identity file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print an identity's name and public key (the line an admin registers).
    Show {
        /// Identity file.
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

/// `dtfhe identity new|show`.
pub fn run_identity(a: IdentityArgs) -> Result<(), CliError> {
    match a.command {
        IdentityCommand::New { name, out } => {
            let id = Identity::generate(&name).map_err(|e| CliError::Usage(e.to_string()))?;
            id.save_new(&out)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", id.public_key_string());
            Ok(())
        }
        IdentityCommand::Show { identity } => {
            let id = load_identity(&identity)?;
            println!("{} {}", id.name(), id.public_key_string());
            Ok(())
        }
    }
}

/// `dtfhe admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Register a party's public key with a role (and dataset grants for sources and
    /// analysts). Recorded in the ledger as `identity_registered`.
    Register {
        /// Platform server URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The admin's identity file.
        #[arg(long, value_name = "F")]
        identity: PathBuf,
        /// The party's name.
        #[arg(long, value_name = "N")]
        name: String,
        /// Its role: source, analyst, trustee, auditor or admin.
        #[arg(long, value_name = "R")]
        role: Role,
        /// Its public key, ed25519:<base64> (printed by `dtfhe identity new`).
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// Datasets a source may append to or an analyst may query (`*`: all).
        #[arg(long, value_name = "a,b", value_delimiter = ',')]
        datasets: Vec<String>,
    },
}

/// `dtfhe admin register`.
pub fn run_admin(a: AdminArgs) -> Result<(), CliError> {
    let AdminCommand::Register {
        server,
        identity,
        name,
        role,
        public_key,
        datasets,
    } = a.command;
    dtfhe_api::identity::parse_public_key(&public_key)
        .map_err(|e| CliError::Usage(format!("--public-key: {e}")))?;
    let admin = load_identity(&identity)?;
    let client = Client::new(&server, Some(admin), Duration::from_secs(60));
    let record: IdentityRecord = client
        .post_json(
            "/v1/identities",
            &IdentityRecord {
                name,
                role,
                public_key: public_key.trim().to_string(),
                datasets,
            },
        )
        .map_err(api_error)?;
    println!(
        "registered `{}` as {}{}",
        record.name,
        record.role,
        if record.datasets.is_empty() {
            String::new()
        } else {
            format!(" (datasets: {})", record.datasets.join(", "))
        }
    );
    Ok(())
}

/// `dtfhe agent`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["csv", "watch"])))]
pub struct AgentArgs {
    /// Platform server URL.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The source's identity file: its name is the chunks' source, its key signs requests and
    /// chunks.
    #[arg(long, value_name = "F")]
    pub identity: PathBuf,
    /// Dataset schema (TOML).
    #[arg(long, value_name = "S.toml")]
    pub schema: PathBuf,
    /// One CSV file to encrypt and upload.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Watch a directory: every new *.csv is ingested once.
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// Spool directory (default: <identity file>.spool next to the identity file).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// With --watch: take the files present now, upload, and exit.
    #[arg(long)]
    pub once: bool,
    /// Give up retrying an unreachable platform after this many seconds (not in --watch
    /// mode without --once, which retries forever). The chunks stay in the spool.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub max_retry_seconds: u64,
    /// With --watch: poll interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub poll_ms: u64,
}

fn summary(path: &Path, r: &FileReport) -> String {
    let drained = if r.drained > 0 {
        format!(" (after uploading {} spooled chunks first)", r.drained)
    } else {
        String::new()
    };
    if r.already_ingested {
        format!(
            "{}: already stored in `{}` ({} rows, {} chunks); nothing sent{drained}",
            path.display(),
            r.dataset,
            r.rows,
            r.chunks
        )
    } else {
        format!(
            "{}: {} rows into `{}`: {} chunks uploaded{}{drained}",
            path.display(),
            r.rows,
            r.dataset,
            r.uploaded,
            if r.resumed > 0 {
                format!(", {} stored by an earlier run", r.resumed)
            } else {
                String::new()
            }
        )
    }
}

/// `dtfhe agent`.
pub fn run_agent(a: AgentArgs) -> Result<(), CliError> {
    let identity = load_identity(&a.identity)?;
    let spool = a.spool.clone().unwrap_or_else(|| {
        let mut p = a.identity.clone().into_os_string();
        p.push(".spool");
        PathBuf::from(p)
    });
    let forever = a.watch.is_some() && !a.once;
    let retry = RetryPolicy {
        give_up_after: (!forever).then(|| Duration::from_secs(a.max_retry_seconds)),
        ..RetryPolicy::default()
    };
    let agent = EdgeAgent::new(&a.server, identity, &spool, retry).map_err(edge_error)?;
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} chunks {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut progress = |e: Event| {
        let Some(bar) = &bar else {
            // Not a terminal: log only the waits long enough to matter to an operator.
            if let Event::Retry { reason, delay } = e {
                if delay >= Duration::from_secs(1) {
                    eprintln!("retrying in {:.1} s: {reason}", delay.as_secs_f64());
                }
            }
            return;
        };
        match e {
            Event::File {
                path,
                total,
                stored,
            } => {
                bar.reset();
                bar.set_length(total as u64);
                bar.set_position(stored as u64);
                bar.set_message(format!("encrypting {}", path.display()));
            }
            Event::Chunk { .. } => bar.inc(1),
            Event::Drained { seq } => bar.set_message(format!("uploaded spooled seq {seq}")),
            Event::Retry { reason, delay } => bar.set_message(format!(
                "retrying in {:.1} s: {reason}",
                delay.as_secs_f64()
            )),
            _ => {}
        }
    };
    if let Some(csv) = &a.csv {
        let r = agent.ingest_csv(&a.schema, csv, &mut progress);
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let r = r.map_err(edge_error)?;
        println!("{}", summary(csv, &r));
        return Ok(());
    }
    let Some(dir) = &a.watch else {
        return Err(CliError::Usage("give --csv FILE or --watch DIR".into()));
    };
    let mut on_file = |path: &Path, r: Result<FileReport, &EdgeError>| {
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        match r {
            Ok(r) => println!("{}", summary(path, &r)),
            Err(e) => eprintln!("{}: {e}", path.display()),
        }
    };
    agent
        .watch(
            &a.schema,
            dir,
            Duration::from_millis(a.poll_ms.max(100)),
            a.once,
            &|| false,
            &mut progress,
            &mut on_file,
        )
        .map_err(edge_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtfhe_api::Problem;

    fn problem(status: u16) -> ApiError {
        ApiError::Problem {
            url: "http://p/v1/x".into(),
            problem: Box::new(Problem::new(status, "k", "t", "d")),
        }
    }

    #[test]
    fn api_errors_map_to_the_documented_exit_codes() {
        for (status, code) in [
            (401, 4),
            (403, 4),
            (422, 4),
            (400, 3),
            (413, 3),
            (404, 2),
            (409, 2),
            (500, 9),
            (503, 9),
        ] {
            assert_eq!(api_error(problem(status)).exit_code(), code, "{status}");
        }
        let transport = ApiError::Transport {
            url: "http://p".into(),
            reason: "refused".into(),
        };
        assert_eq!(api_error(transport).exit_code(), 1);
    }
}
