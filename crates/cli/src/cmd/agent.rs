//! `dtfhe agent`: a source's edge agent (encrypt at the source, durable spool, upload).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use dtfhe_agent::live::{LiveConfig, LiveEvent, LiveRun, LiveStats};
use dtfhe_agent::opcua::security::SecurityError;
use dtfhe_agent::upload::{EdgeAgent, EdgeError, Event, FileReport, RetryPolicy};
use dtfhe_api::ApiError;
use dtfhe_cli::CliError;

use super::{api_error, load_identity};

/// An agent failure as a command error (exit codes as for the embedded `dtfhe ingest`:
/// 3 bad input, 4 refused, 1 platform unreachable with the chunks safe in the spool).
fn edge_error(e: EdgeError) -> CliError {
    match e {
        EdgeError::Input(e) => e.into(),
        EdgeError::Document(e) => dtfhe_embedded::EmbeddedError::Document(e).into(),
        EdgeError::Io { path, source } => CliError::io(&path, source),
        EdgeError::Api(e) => api_error(e),
        EdgeError::Crypto(e) => e.into(),
        // A chunk the platform refused: by the platform's problem type, as for every request
        // (bad input 3, a refusal 4, ...).
        EdgeError::Refused {
            source: ApiError::Problem { ref problem, .. },
            ..
        } => {
            let kind = dtfhe_model::ExitKind::for_problem(problem.status, problem.short_kind());
            dtfhe_analyst::error::with_kind(kind, e.to_string()).into()
        }
        e @ (EdgeError::Refused { .. }
        | EdgeError::Unattested(_)
        | EdgeError::Security(SecurityError::Untrusted { .. })) => CliError::Refused(e.to_string()),
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
#[command(group(clap::ArgGroup::new("input").required(true).args(["csv", "watch", "mqtt", "mtconnect", "opcua"])))]
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
    /// Poll an MTConnect agent (http://HOST:PORT[/DEVICE]): `/sample?from=N` with N the
    /// `nextSequence` of the previous answer (the first poll asks `/sample`); each answer is
    /// kept in the spool (`mtconnect/pending.xml`) until its rows are uploaded, so a restart
    /// uploads it again by its hash before polling on: nothing lost, nothing twice.
    /// `UNAVAILABLE` values are counted, never stored. With --once: stop when an answer
    /// brings no new sequence. The dataset schema maps dataItemIds to columns.
    #[arg(long, value_name = "URL")]
    mtconnect: Option<String>,
    /// With --mtconnect: milliseconds between polls.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    mtconnect_interval_ms: u64,
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
    /// Subscribe to an MQTT broker (mqtt://HOST[:PORT] or mqtts://HOST[:PORT]) and encrypt
    /// what the mapping file (--map) maps, window by window, until stopped.
    #[arg(long, value_name = "URL", requires = "map")]
    mqtt: Option<String>,
    /// Subscribe to an OPC UA server (opc.tcp://HOST:PORT, security policy None, anonymous)
    /// and encrypt the nodes the mapping file (--map) maps, window by window, until stopped.
    #[arg(long, value_name = "URL", requires = "map", conflicts_with = "mqtt")]
    opcua: Option<String>,
    /// With --mqtt: the mapping file (TOML) from topic filters and payload fields (JSON) or
    /// metrics (Sparkplug B) to the schema's columns; with --opcua: from node ids to columns
    /// and the subscription's intervals.
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
    /// With --mqtt: the MQTT client id; the broker keeps this id's session and queues its
    /// messages while the agent is away (default: dtfhe-<source>-<dataset>).
    #[arg(long, value_name = "ID")]
    mqtt_client_id: Option<String>,
    /// With --mqtt: the broker username.
    #[arg(long, value_name = "NAME", requires = "mqtt_password_file")]
    mqtt_user: Option<String>,
    /// With --mqtt: a file holding the broker password (first line).
    #[arg(long, value_name = "FILE", requires = "mqtt_user")]
    mqtt_password_file: Option<PathBuf>,
    /// With mqtts://: the CA certificate (PEM) the broker's certificate must chain to.
    #[arg(long, value_name = "PEM")]
    mqtt_ca: Option<PathBuf>,
    /// With mqtts://: a client certificate (PEM), for brokers that require one.
    #[arg(long, value_name = "PEM", requires_all = ["mqtt_key", "mqtt_ca"])]
    mqtt_cert: Option<PathBuf>,
    /// With --mqtt-cert: its private key (PEM).
    #[arg(long, value_name = "PEM", requires = "mqtt_cert")]
    mqtt_key: Option<PathBuf>,
    /// With --mqtt or --opcua: close a chunk this many seconds after its first value...
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    window: f64,
    /// ... or at this many rows, whichever first (default and maximum: the parameter set's
    /// slots per chunk).
    #[arg(long, value_name = "N")]
    window_rows: Option<usize>,
    /// With --mqtt: past this many MiB of chunks waiting in the spool (platform away), stop
    /// taking messages: they wait at the broker. With --opcua: warn (a server keeps nothing).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    spool_max_mib: u64,
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
            dtfhe_model::report::if_any(r.resumed as u64, "stored by an earlier run")
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
    // The MQTT agent retries the platform in its uploader; one call gives up sooner.
    let live = a.mqtt.is_some() || a.opcua.is_some();
    let forever = forever && !live;
    let a_retry = if live {
        Some(Duration::from_secs(10))
    } else {
        None
    };
    let retry = RetryPolicy {
        give_up_after: a_retry.or((!forever).then(|| Duration::from_secs(a.max_retry_seconds))),
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
    if let Some(url) = &a.mqtt {
        return run_live(&a, &agent, url, false);
    }
    if let Some(url) = &a.opcua {
        return run_live(&a, &agent, url, true);
    }
    if let Some(url) = &a.mtconnect {
        return run_mtconnect(&a, &agent, &spool, url, &mut progress);
    }
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

/// `dtfhe agent --mtconnect`: poll, keep the answer, upload its rows, move on. The answer
/// is written to `<spool>/mtconnect/pending.xml` (temp file + rename) before anything is
/// taken from it and removed only after its rows are uploaded and the next sequence is
/// written to `<spool>/mtconnect/next`; a restart finds it and uploads it again first (the
/// chunks resume by the file's hash), so each observation is stored exactly once.
fn run_mtconnect(
    a: &AgentArgs,
    agent: &EdgeAgent,
    spool: &Path,
    url: &str,
    progress: &mut dyn FnMut(Event),
) -> Result<(), CliError> {
    use dtfhe_agent::formats::DocumentFormat;
    let dir = spool.join("mtconnect");
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    let pending = dir.join("pending.xml");
    let next_file = dir.join("next");
    let write_atomic = |path: &Path, bytes: &[u8]| -> Result<(), CliError> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| CliError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| CliError::io(path, e))
    };
    let http = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let base = url.trim_end_matches('/');
    loop {
        let from: Option<u64> = std::fs::read_to_string(&next_file)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        if !pending.exists() {
            let sample = match from {
                Some(n) => format!("{base}/sample?from={n}"),
                None => format!("{base}/sample"),
            };
            let body = http.get(&sample).call().and_then(|mut r| {
                r.body_mut()
                    .with_config()
                    .limit(32 * 1024 * 1024)
                    .read_to_vec()
            });
            match body {
                Ok(bytes) => write_atomic(&pending, bytes.as_slice())?,
                Err(e) if !a.once => {
                    eprintln!("{sample}: {e}; polling again");
                    std::thread::sleep(Duration::from_millis(a.mtconnect_interval_ms.max(100)));
                    continue;
                }
                Err(e) => {
                    return Err(CliError::Io {
                        path: sample,
                        source: std::io::Error::other(e.to_string()),
                    })
                }
            }
        }
        let (r, notes) = agent
            .ingest_document(&a.schema, &pending, DocumentFormat::MtConnect, progress)
            .map_err(edge_error)?;
        let Some(next) = notes.next_sequence else {
            return Err(CliError::Usage(format!(
                "{}: the answer has no nextSequence; kept for inspection",
                pending.display()
            )));
        };
        println!(
            "{}; {} UNAVAILABLE (not stored); next sequence {next}",
            summary(&pending, &r),
            notes.unavailable
        );
        write_atomic(&next_file, next.to_string().as_bytes())?;
        std::fs::remove_file(&pending).map_err(|e| CliError::io(&pending, e))?;
        if a.once && from == Some(next) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(a.mtconnect_interval_ms));
    }
}

/// How a live source's log names it.
struct LiveLog<'a> {
    /// Its URL.
    url: &'a str,
    /// The peer whose connection drops ("broker", "OPC UA").
    peer: &'a str,
    /// What happens to new values while the spool is full.
    when_full: &'a str,
    /// What the source receives ("messages", "values").
    received: &'a str,
}

impl LiveLog<'_> {
    /// One event as a line on stderr.
    fn event(&self, e: LiveEvent) {
        match e {
            LiveEvent::Connected { resumed } => eprintln!(
                "connected to {}{}",
                self.url,
                if resumed { " (session resumed)" } else { "" }
            ),
            LiveEvent::Subscribed { items } => eprintln!("subscribed: {items} monitored items"),
            LiveEvent::Secured { summary } => eprintln!("secured endpoint: {summary}"),
            LiveEvent::Disconnected { reason } => {
                eprintln!("{} connection lost: {reason}; retrying", self.peer)
            }
            LiveEvent::BadQuality { node, status } => {
                eprintln!("bad quality on `{node}`: {status} (not stored)")
            }
            LiveEvent::Rejected { origin, reason } => {
                eprintln!("rejected {origin}: {reason} (not stored)")
            }
            LiveEvent::Duplicate { origin } => eprintln!("dropped {origin} (already taken)"),
            LiveEvent::Window { seq, rows } => {
                eprintln!("window seq {seq}: {rows} rows encrypted and spooled")
            }
            LiveEvent::Uploaded { seq } => eprintln!("seq {seq} uploaded"),
            LiveEvent::SpoolFull { bytes, limit } => eprintln!(
                "WARNING: the spool is full ({bytes} bytes waiting, limit {limit}): the platform \
                 is not taking chunks; {}",
                self.when_full
            ),
            LiveEvent::SpoolResumed => eprintln!("the spool has room again"),
            LiveEvent::PlatformAway { reason } => {
                eprintln!("the platform is unreachable ({reason}); chunks wait in the spool")
            }
            LiveEvent::Refused { reason } => eprintln!("{reason}"),
            _ => {}
        }
    }

    /// The run's counts, on stdout.
    fn stats(&self, s: &LiveStats) {
        println!(
            "{} {}, {} rows in {} windows, {} uploaded, {} bad quality, {} rejected, \
             {} duplicates dropped",
            s.received,
            self.received,
            s.rows,
            s.windows,
            s.uploaded,
            s.bad_quality,
            s.rejected,
            s.duplicates
        );
    }
}

/// `dtfhe agent --mqtt URL` or `--opcua URL` (`opcua` tells which): runs until killed. A kill
/// loses nothing taken: the open window is in the sealed journal and the next run closes it.
/// MQTT: unacknowledged messages wait at the broker. OPC UA: a server keeps no values for an
/// absent client, so what the machine produced meanwhile is not seen.
fn run_live(a: &AgentArgs, agent: &EdgeAgent, url: &str, opcua: bool) -> Result<(), CliError> {
    let flag = if opcua { "--opcua" } else { "--mqtt" };
    let Some(map) = &a.map else {
        return Err(CliError::Usage(format!("{flag} needs --map FILE")));
    };
    if !(a.window.is_finite() && a.window > 0.0 && a.window <= 86_400.0) {
        return Err(CliError::Usage(format!(
            "--window {}: give seconds in (0, 86400]",
            a.window
        )));
    }
    let schema = dtfhe_model::Schema::from_toml_file(&a.schema)?;
    let run = LiveRun {
        agent,
        schema_path: &a.schema,
        live: LiveConfig {
            window: Duration::from_secs_f64(a.window),
            window_rows: a.window_rows,
            spool_max_bytes: a.spool_max_mib.saturating_mul(1 << 20),
        },
        stop: &|| false,
        drain_for: Duration::from_secs(30),
    };
    let usage = |e: dtfhe_agent::live::mapfile::MapError| CliError::Usage(e.to_string());
    let log = if opcua {
        LiveLog {
            url,
            peer: "OPC UA",
            when_full: "an OPC UA server keeps no values, so rows go on being journalled",
            received: "values",
        }
    } else {
        LiveLog {
            url,
            peer: "broker",
            when_full: "messages now wait at the broker (check its queue limit)",
            received: "messages",
        }
    };
    let mut events = |e| log.event(e);
    let stats = if opcua {
        use dtfhe_agent::opcua::{map::Mapping, run};
        let mapping = Mapping::from_file(map, &schema).map_err(usage)?;
        let cfg = run::OpcuaConfig {
            url: url.to_string(),
            retry_max: Duration::from_secs(5),
        };
        run::run(&run, &mapping, &cfg, &mut events)
    } else {
        use dtfhe_agent::mqtt::{map::Mapping, run};
        let mapping = Mapping::from_file(map, &schema).map_err(usage)?;
        let credentials = match (&a.mqtt_user, &a.mqtt_password_file) {
            (Some(u), Some(f)) => Some((
                u.clone(),
                run::read_password(f).map_err(|e| CliError::io(f, e))?,
            )),
            _ => None,
        };
        let cfg = run::MqttConfig {
            url: url.to_string(),
            client_id: a
                .mqtt_client_id
                .clone()
                .unwrap_or_else(|| format!("dtfhe-{}-{}", agent.identity().name(), schema.dataset)),
            credentials,
            tls: a.mqtt_ca.as_ref().map(|ca| run::TlsFiles {
                ca: ca.clone(),
                client: a.mqtt_cert.clone().zip(a.mqtt_key.clone()),
            }),
            keep_alive: Duration::from_secs(30),
        };
        run::run(&run, &mapping, &cfg, &mut events)
    };
    log.stats(&stats.map_err(edge_error)?);
    Ok(())
}
