//! `dtfhe agent`: a source's edge agent (encrypt at the source, durable spool, upload).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use dtfhe_agent::upload::{EdgeAgent, EdgeError, Event, FileReport, RetryPolicy};
use dtfhe_api::ApiError;
use dtfhe_cli::CliError;

use super::{api_error, load_identity};

/// An agent failure as a command error (exit codes as for the embedded `dtfhe ingest`:
/// 3 bad input, 4 refused, 1 platform unreachable with the chunks safe in the spool).
fn edge_error(e: EdgeError) -> CliError {
    match e {
        EdgeError::Input(e) => e.into(),
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

/// `dtfhe agent`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["csv", "watch"])))]
pub(crate) struct AgentArgs {
    /// Platform server URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The source's identity file: its name is the chunks' source, its key signs requests and
    /// chunks.
    #[arg(long, value_name = "F")]
    identity: PathBuf,
    /// Dataset schema (TOML).
    #[arg(long, value_name = "S.toml")]
    schema: PathBuf,
    /// One CSV file to encrypt and upload.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Watch a directory: every new *.csv is ingested once.
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// Spool directory (default: <identity file>.spool next to the identity file).
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// With --watch: take the files present now, upload, and exit.
    #[arg(long)]
    once: bool,
    /// Give up retrying an unreachable platform after this many seconds (not in --watch
    /// mode without --once, which retries forever). The chunks stay in the spool.
    #[arg(long, value_name = "S", default_value_t = 60)]
    max_retry_seconds: u64,
    /// With --watch: poll interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    poll_ms: u64,
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
pub(crate) fn run(a: AgentArgs) -> Result<(), CliError> {
    let identity = load_identity(&a.identity)?;
    let spool = a
        .spool
        .clone()
        .unwrap_or_else(|| dtfhe_agent::spool::default_dir(&a.identity));
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
