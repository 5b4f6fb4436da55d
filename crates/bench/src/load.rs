//! `dtfhe bench load`: a bounded load test of the networked deployment on loopback.
//!
//! It starts a real platform server (`dtfhe serve`, a child process of this executable, on
//! `127.0.0.1:0`) and three trustee daemons (`dtfhe trustee`, child processes) in a temporary
//! directory, registers an admin, the trustees, `--agents` sources and `--analysts` analysts
//! through the API, waits for the key ceremony, then measures:
//!
//! 1. **ingest**: every source's edge agent (a thread running the library uploader of
//!    `dtfhe agent`, [`EdgeAgent`]) uploads its own `--chunks-per-agent` small CSV files (one
//!    chunk each), all agents at once. Encryption alone is measured beforehand on the same
//!    files with the same code (nothing uploaded). The stored chunk listing is checked: as
//!    many chunks as were sent, none twice, every row there;
//! 2. **queries**: every analyst (a thread running the client of `dtfhe query --server`)
//!    asks `--queries-per-analyst` aggregate queries in turn (AVG/COUNT GROUP BY source,
//!    AVG/SUM GROUP BY line, STDDEV/CORR), all analysts at once; each released result is
//!    compared with the plaintext computation over the generated CSVs (a difference fails the
//!    bench with exit code 7);
//! 3. **memory**: the server's peak (`VmHWM`) and current (`VmRSS`) resident memory from
//!    `/proc/<pid>/status`, also sampled during each phase; the trustees' peaks.
//!
//! Bounded: every loop has a count, every wait the overall `--deadline-seconds`; loopback
//! only. Every child process is killed when the bench ends, on every path ([`Children`]).
//! Nothing printed holds a data value or key material: figures, counts and names only.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Args;
use dtfhe_agent::upload::{EdgeAgent, EdgeError, Event, RetryPolicy};
use dtfhe_api::types::{unb64, ChunkInfo, DeploymentInfo, Health, IdentityRecord};
use dtfhe_api::{Client, Identity, Role};
use dtfhe_engine::plaintext::PlainRow;
use dtfhe_engine::ResultSet;
use dtfhe_model::Schema;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::BenchError;
use dtfhe_analyst::net::{self, RemoteQueryOptions};
use dtfhe_embedded::reference;

/// Dataset of the load test.
pub const DATASET: &str = "load";

/// Schema of the load test's dataset: a public production `line` (1..=4) and two
/// product-capable encrypted columns `x`, `y` (hundredths).
pub const LOAD_SCHEMA: &str = concat!(
    r#"dataset = "load"
stage = "manufacturing"
description = "synthetic load-test data"
"#,
    line_x_y_columns!()
);

/// The second dataset, ingested during the query phase (`--ingest-during-queries`).
pub const LIVE_DATASET: &str = "load_live";

/// The queries the analysts ask, in turn (analyst `a`'s query `q` is
/// `QUERIES[(a + q) % QUERIES.len()]`).
pub const QUERIES: [&str; 3] = [
    "SELECT source, COUNT(*), AVG(x), AVG(y) FROM load GROUP BY source ORDER BY source",
    "SELECT line, COUNT(*), AVG(x), SUM(y) FROM load GROUP BY line ORDER BY line",
    "SELECT COUNT(*), AVG(x), STDDEV_POP(x), CORR(x, y) FROM load",
];

/// The trustees of the load-test deployment.
pub const TRUSTEES: [&str; 3] = ["trustee-a", "trustee-b", "trustee-c"];

/// `dtfhe bench load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Concurrent edge agents (sources), each ingesting its own files.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub agents: usize,
    /// Concurrent analysts.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub analysts: usize,
    /// Files each agent ingests, one chunk each.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub chunks_per_agent: usize,
    /// Rows of each file (and chunk); at most the preset's slot count.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub rows_per_chunk: usize,
    /// Queries each analyst asks, one after the other.
    #[arg(long, value_name = "M", default_value_t = 2)]
    pub queries_per_analyst: usize,
    /// BFV parameter preset of the deployment.
    #[arg(long, value_name = "NAME", default_value = "bfv-8192",
          value_parser = ["bfv-16384", "bfv-8192"])]
    pub preset: String,
    /// Keep the agents ingesting during the query phase: each uploads up to this many more
    /// files (one chunk each) into a second dataset, `load_live`, until the analysts are
    /// done (0: off). The queried dataset does not change, so every result stays checked.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub ingest_during_queries: usize,
    /// Give up (exit 1, everything stopped) if the whole bench takes longer.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub deadline_seconds: u64,
}

/// The figures of one load-test run.
#[derive(Debug, Clone, Default)]
pub struct LoadFigures {
    /// Agents, analysts, files per agent, rows per file, queries per analyst.
    pub shape: (usize, usize, usize, usize, usize),
    /// Setup (server start, identities, key ceremony) seconds.
    pub setup_seconds: f64,
    /// Encryption alone: seconds, over every chunk of every agent.
    pub encrypt_seconds: f64,
    /// Ingest phase wall seconds (all agents, encryption + spool + upload).
    pub ingest_seconds: f64,
    /// Chunks uploaded in the ingest phase.
    pub chunks: usize,
    /// Encrypted values uploaded.
    pub values: usize,
    /// Chunks the platform lists afterwards.
    pub chunks_stored: usize,
    /// Agent errors.
    pub ingest_errors: usize,
    /// Agent retries (transport errors, 5xx, 429, 503 waited out).
    pub ingest_retries: u64,
    /// Per chunk, encrypt + sign + spool + upload seconds: p50, p99.
    pub chunk_latency: (f64, f64),
    /// Bytes of `GET /v1/deployment?relin_key=omit`, which every agent fetches first.
    pub deployment_bytes: usize,
    /// Median seconds an agent spends on its requests before its first chunk.
    pub before_first_chunk: f64,
    /// Ingest during the query phase (`--ingest-during-queries`): chunks uploaded (and
    /// stored, checked), seconds the live agents ran.
    pub live: Option<(usize, f64)>,
    /// Query phase wall seconds.
    pub query_seconds: f64,
    /// Latency of every query, seconds, sorted.
    pub latencies: Vec<f64>,
    /// Queries whose result was checked against the plaintext (all of them on success).
    pub checked: usize,
    /// Server memory, MB: VmHWM at the end, VmRSS at the end, sampled VmRSS peak during
    /// ingest, during queries.
    pub server_mb: (Option<f64>, Option<f64>, Option<f64>, Option<f64>),
    /// Largest trustee VmHWM, MB.
    pub trustee_mb: Option<f64>,
    /// The machine's 1-minute load average before and after (other processes competing
    /// for the cores make every figure slower), if known.
    pub loadavg: (Option<f64>, Option<f64>),
    /// The remote audit's summary line.
    pub audit: String,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `VmHWM` and `VmRSS` of a process, MB (Linux `/proc`; `None` elsewhere or once it exited).
pub fn process_memory(pid: u32) -> (Option<f64>, Option<f64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kb: f64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kb / 1024.0)
        })
    };
    (field("VmHWM"), field("VmRSS"))
}

/// The 1-minute load average (Linux `/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The child processes of the bench, killed (and reaped) when dropped: on success, on an
/// error and on a panic alike.
#[derive(Debug, Default)]
pub struct Children {
    procs: Vec<(String, Child, PathBuf)>,
}

impl Children {
    /// Starts `current_exe args`, stderr (and stdout unless `pipe_stdout`) to `log`.
    pub(crate) fn spawn(
        &mut self,
        name: &str,
        args: &[&str],
        log: &Path,
        pipe_stdout: bool,
    ) -> Result<&mut Child, BenchError> {
        let exe = std::env::current_exe().map_err(|e| BenchError::io(Path::new("dtfhe"), e))?;
        let f = std::fs::File::create(log).map_err(|e| BenchError::io(log, e))?;
        let out = if pipe_stdout {
            Stdio::piped()
        } else {
            Stdio::from(f.try_clone().map_err(|e| BenchError::io(log, e))?)
        };
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(f)
            .spawn()
            .map_err(|e| BenchError::io(Path::new(name), e))?;
        self.procs
            .push((name.to_string(), child, log.to_path_buf()));
        let last = self.procs.len() - 1;
        Ok(&mut self.procs[last].1)
    }

    /// Starts the platform server (`dtfhe serve`) of [`TRUSTEES`] in `root/platform`,
    /// listening on `listen`, with `admin` its administrator; logs to `root/server.log`.
    pub(crate) fn spawn_server(
        &mut self,
        root: &Path,
        listen: &str,
        admin: &Identity,
        preset: &str,
        pipe_stdout: bool,
    ) -> Result<&mut Child, BenchError> {
        let platform = root.join("platform");
        let admin_arg = format!("root={}", admin.public_key_string());
        let trustees = TRUSTEES.join(",");
        self.spawn(
            "server",
            &[
                "serve",
                "--dir",
                path_str(&platform)?,
                "--listen",
                listen,
                "--admin",
                &admin_arg,
                "--trustees",
                &trustees,
                "--min-group-size",
                "5",
                "--preset",
                preset,
            ],
            &root.join("server.log"),
            pipe_stdout,
        )
    }

    /// Starts trustee `name`'s daemon (`dtfhe trustee`) against the platform at `url`, with
    /// its directory `root/trustees/name` and its identity file; logs to `root/name.log`.
    pub(crate) fn spawn_trustee(
        &mut self,
        root: &Path,
        name: &str,
        url: &str,
        identity: &Path,
    ) -> Result<(), BenchError> {
        let dir = root.join("trustees").join(name);
        self.spawn(
            name,
            &[
                "trustee",
                "--dir",
                path_str(&dir)?,
                "--server",
                url,
                "--identity",
                path_str(identity)?,
                "--poll-ms",
                "100",
            ],
            &root.join(format!("{name}.log")),
            false,
        )?;
        Ok(())
    }

    /// The process id of `name`.
    fn pid(&self, name: &str) -> Option<u32> {
        self.procs
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, c, _)| c.id())
    }

    /// An error if a child has exited (it should run until the end), with its log's tail.
    pub(crate) fn check_alive(&mut self) -> Result<(), BenchError> {
        for (name, child, log) in &mut self.procs {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(BenchError::Platform(format!(
                    "{name} exited early ({status}); last lines of its log:\n{}",
                    tail(log, 8)
                )));
            }
        }
        Ok(())
    }

    /// Kills every child and waits for it.
    pub fn stop(&mut self) {
        for (_, child, _) in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.procs.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `n` lines of a log file (the daemons log names, counts and reasons, no values).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A new temporary directory named `prefix…` (removed when dropped).
pub(crate) fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir, BenchError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| BenchError::io(&std::env::temp_dir(), e))
}

/// Registers `id` with `role` and `datasets` at the platform of `admin`.
pub(crate) fn register(
    admin: &Client,
    id: &Identity,
    role: Role,
    datasets: Vec<String>,
) -> Result<(), BenchError> {
    admin
        .register(&IdentityRecord::of(id, role, datasets))
        .map_err(dtfhe_analyst::error::api_error)?;
    Ok(())
}

/// A new identity `name`, saved to `root/name.id`: the identity and its file.
pub(crate) fn new_identity(root: &Path, name: &str) -> Result<(Identity, PathBuf), BenchError> {
    let id = Identity::generate(name).map_err(|e| BenchError::Usage(e.to_string()))?;
    let file = root.join(format!("{name}.id"));
    id.save_new(&file)
        .map_err(|e| BenchError::Usage(e.to_string()))?;
    Ok((id, file))
}

pub(crate) fn path_str(p: &Path) -> Result<&str, BenchError> {
    p.to_str()
        .ok_or_else(|| BenchError::Usage(format!("{}: not a UTF-8 path", p.display())))
}

/// The overall deadline.
#[derive(Debug, Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    fn check(&self, what: &str) -> Result<(), BenchError> {
        if self.left().is_zero() {
            return Err(deadline_error(what));
        }
        Ok(())
    }
}

fn deadline_error(what: &str) -> BenchError {
    BenchError::Io {
        path: "bench load".into(),
        source: std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the deadline passed during {what}; every process was stopped"),
        ),
    }
}

/// One agent's generated files: CSV text per file, and the clear rows for the reference.
struct AgentData {
    files: Vec<String>,
}

/// Writes one agent's generated CSV files into `dir` (`export-000.csv`, …, created as
/// needed); their paths, in order.
fn write_exports(dir: &Path, files: &[String]) -> Result<Vec<PathBuf>, BenchError> {
    std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    files
        .iter()
        .enumerate()
        .map(|(j, text)| {
            let p = dir.join(format!("export-{j:03}.csv"));
            std::fs::write(&p, text).map_err(|e| BenchError::io(&p, e))?;
            Ok(p)
        })
        .collect()
}

/// Generates `files` CSV files of `rows` rows for agent `agent` (deterministic): line in
/// 1..=4, x uniform in [0, 100), y = 0.8·x + uniform [0, 50), hundredths.
fn generate(agent: usize, files: usize, rows: usize) -> AgentData {
    let mut rng = StdRng::seed_from_u64(0x10AD_0000 ^ agent as u64);
    let files = (0..files)
        .map(|_| {
            let mut s = String::with_capacity(rows * 16 + 16);
            s.push_str("line,x,y\n");
            for _ in 0..rows {
                let x: i64 = rng.random_range(0..10_000);
                let y: i64 = x * 4 / 5 + rng.random_range(0..5_000);
                let line: u8 = rng.random_range(1..=4);
                let _ = writeln!(
                    s,
                    "{line},{}.{:02},{}.{:02}",
                    x / 100,
                    x % 100,
                    y / 100,
                    y % 100
                );
            }
            s
        })
        .collect();
    AgentData { files }
}

fn source_name(i: usize) -> String {
    format!("edge-{i:03}")
}

fn analyst_name(i: usize) -> String {
    format!("analyst-{i:02}")
}

/// Samples a process's VmRSS until stopped; returns the largest, MB.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Option<f64>>,
}

impl Sampler {
    fn start(pid: Option<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak: Option<f64> = None;
            let pid = pid?;
            // Bounded: stops with the flag, or after an hour whatever happens.
            for _ in 0..(3600 * 5) {
                if let (_, Some(rss)) = process_memory(pid) {
                    peak = Some(peak.map_or(rss, |p: f64| p.max(rss)));
                }
                if s.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Option<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

/// What one agent thread reports.
struct AgentRun {
    /// Chunks it uploaded.
    uploaded: usize,
    /// Seconds from the start to its first chunk's encryption (the agent's requests before:
    /// deployment, spool drain, the file's stored chunks, the last seq).
    before_first_chunk: f64,
    /// Per chunk: seconds between the events before and after it (encrypt, sign, spool,
    /// upload).
    chunk_seconds: Vec<f64>,
}

/// Edge agents, one thread each, running the library uploader of `dtfhe agent`.
struct AgentSet<'a> {
    url: &'a str,
    sources: &'a [Identity],
    schema: &'a Path,
    spools: &'a Path,
    retries: &'a Arc<AtomicU64>,
    /// Checked between files: stop early (the live ingest of the query phase).
    stop: &'a Arc<AtomicBool>,
    deadline: Deadline,
}

impl AgentSet<'_> {
    /// Starts one thread per source, each ingesting its `files[i]` in order once the returned
    /// barrier is passed (by the caller too); each sends its [`AgentRun`] or error.
    fn spawn(
        &self,
        files: &[Vec<PathBuf>],
    ) -> (Arc<Barrier>, mpsc::Receiver<Result<AgentRun, EdgeError>>) {
        let barrier = Arc::new(Barrier::new(self.sources.len() + 1));
        let (tx, rx) = mpsc::channel();
        for (id, paths) in self.sources.iter().zip(files) {
            let (tx, barrier, retries) = (tx.clone(), barrier.clone(), self.retries.clone());
            let (url, id, paths) = (self.url.to_string(), id.clone(), paths.clone());
            let spool = self.spools.join(id.name());
            let schema = self.schema.to_path_buf();
            let (stop, deadline) = (self.stop.clone(), self.deadline);
            std::thread::spawn(move || {
                barrier.wait();
                let started = Instant::now();
                let run = || -> Result<AgentRun, EdgeError> {
                    let policy = RetryPolicy {
                        give_up_after: Some(deadline.left().min(Duration::from_secs(120))),
                        ..RetryPolicy::default()
                    };
                    let agent = EdgeAgent::new(&url, id, &spool, policy)?;
                    let mut out = AgentRun {
                        uploaded: 0,
                        before_first_chunk: 0.0,
                        chunk_seconds: Vec::new(),
                    };
                    for p in &paths {
                        if stop.load(Ordering::Relaxed) || deadline.left().is_zero() {
                            break;
                        }
                        let mut last = Instant::now();
                        let r = agent.ingest_csv(&schema, p, &mut |e| match e {
                            Event::Retry { .. } => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            Event::File { .. } => {
                                if out.chunk_seconds.is_empty() {
                                    out.before_first_chunk = started.elapsed().as_secs_f64();
                                }
                                last = Instant::now();
                            }
                            Event::Chunk { .. } => {
                                out.chunk_seconds.push(last.elapsed().as_secs_f64());
                                last = Instant::now();
                            }
                            _ => {}
                        })?;
                        out.uploaded += r.uploaded;
                    }
                    Ok(out)
                };
                let _ = tx.send(run());
            });
        }
        (barrier, rx)
    }
}

/// What an analyst thread reports for one query.
enum QueryOutcome {
    /// Released and equal to the plaintext: latency in seconds.
    Ok(f64),
    /// Released, but a value differs (where, never the values).
    Mismatch(String),
    /// Not released or failed.
    Failed(BenchError),
}

/// Where a released result first differs from the plaintext one (row, column), without the
/// values; `None` if equal.
fn first_difference(released: &ResultSet, plain: &ResultSet) -> Option<String> {
    if released.columns != plain.columns {
        return Some("the columns differ".into());
    }
    if released.rows.len() != plain.rows.len() {
        return Some(format!(
            "{} rows released, {} in plaintext",
            released.rows.len(),
            plain.rows.len()
        ));
    }
    for (r, (a, b)) in released.rows.iter().zip(&plain.rows).enumerate() {
        if a.len() != b.len() {
            return Some(format!("row {}: the value counts differ", r + 1));
        }
        for (c, (x, y)) in a.iter().zip(b).enumerate() {
            let dec = released.decimals.get(c).copied().flatten();
            if !reference::cell_matches(x, y, dec) {
                return Some(format!("row {}, column `{}`", r + 1, released.columns[c]));
            }
        }
    }
    None
}

/// Runs the load test and returns its figures; every child process is stopped on return.
pub fn measure(a: &LoadArgs) -> Result<LoadFigures, BenchError> {
    if a.agents == 0 || a.analysts == 0 || a.chunks_per_agent == 0 || a.rows_per_chunk == 0 {
        return Err(BenchError::Usage(
            "--agents, --analysts, --chunks-per-agent and --rows-per-chunk must be at least 1"
                .into(),
        ));
    }
    if a.agents > 1000
        || a.analysts > 200
        || a.chunks_per_agent > 100
        || a.ingest_during_queries > 100
        || a.queries_per_analyst > 1000
    {
        return Err(BenchError::Usage(
            "bounded load test: at most 1000 agents, 200 analysts, 100 chunks per agent (and \
             during queries), 1000 queries per analyst"
                .into(),
        ));
    }
    let params = dtfhe_crypto::params_by_name(&a.preset)?;
    if a.rows_per_chunk > params.slots() {
        return Err(BenchError::Usage(format!(
            "--rows-per-chunk: at most {} (one chunk of {})",
            params.slots(),
            a.preset
        )));
    }
    let deadline = Deadline(Instant::now() + Duration::from_secs(a.deadline_seconds.max(1)));
    let load_before = load_average();
    let mut f = LoadFigures {
        shape: (
            a.agents,
            a.analysts,
            a.chunks_per_agent,
            a.rows_per_chunk,
            a.queries_per_analyst,
        ),
        ..LoadFigures::default()
    };
    let tmp = scratch_dir("dtfhe-bench-load-")?;
    let root = tmp.path().to_path_buf();
    // Declared after `tmp`: dropped (processes killed) before the directory is removed.
    let mut children = Children::default();
    let started = Instant::now();

    // Identities.
    let new_id = |name: &str| new_identity(&root, name);
    let (admin, _) = new_id("root")?;

    // The platform server.
    let server = children.spawn_server(&root, "127.0.0.1:0", &admin, &a.preset, true)?;
    let stdout = server
        .stdout
        .take()
        .ok_or_else(|| BenchError::Platform("server: no stdout".into()))?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        // Reads the server's stdout to its end (so it never blocks on a full pipe).
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60).min(deadline.left()))
        .map_err(|_| {
            let _ = children.check_alive();
            // The deadline may pass before a loaded machine even starts the server.
            if let Err(e) = deadline.check("the server's start") {
                return e;
            }
            BenchError::Platform(format!(
                "the server did not say where it listens; last lines of its log:\n{}",
                tail(&root.join("server.log"), 8)
            ))
        })?;
    let url = format!("http://{addr}");
    if !addr.starts_with("127.0.0.1:") {
        return Err(BenchError::Platform(format!(
            "the server listens on {addr}, not on loopback"
        )));
    }
    let server_pid = children.pid("server");

    let admin_client = Client::new(&url, Some(admin.clone()), Duration::from_secs(60));
    let register = |id: &Identity, role: Role| -> Result<(), BenchError> {
        let datasets = match role {
            Role::Source => vec![DATASET.to_string(), LIVE_DATASET.to_string()],
            Role::Analyst => vec![DATASET.to_string()],
            _ => Vec::new(),
        };
        register(&admin_client, id, role, datasets)
    };

    // Trustees: registered, then started as processes; they run the key ceremony.
    for t in TRUSTEES {
        let (id, file) = new_id(t)?;
        register(&id, Role::Trustee)?;
        children.spawn_trustee(&root, t, &url, &file)?;
    }
    let sources: Vec<Identity> = (0..a.agents)
        .map(|i| {
            let id = Identity::generate(&source_name(i))
                .map_err(|e| BenchError::Usage(e.to_string()))?;
            register(&id, Role::Source)?;
            Ok(id)
        })
        .collect::<Result<_, BenchError>>()?;
    let analysts: Vec<PathBuf> = (0..a.analysts)
        .map(|i| {
            let (id, file) = new_id(&analyst_name(i))?;
            register(&id, Role::Analyst)?;
            Ok(file)
        })
        .collect::<Result<_, BenchError>>()?;
    let (auditor, auditor_file) = new_id("auditor")?;
    register(&auditor, Role::Auditor)?;
    let health = Client::new(&url, None, Duration::from_secs(10));
    loop {
        deadline.check("the key ceremony")?;
        children.check_alive()?;
        if health
            .get_json::<Health>("/v1/health")
            .is_ok_and(|h| h.ready)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f.setup_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "bench load: platform {url} ready ({} trustees, key ceremony done in {:.1} s)",
        TRUSTEES.len(),
        f.setup_seconds
    );

    // The data: files on disk, the clear rows for the reference.
    let schema_path = root.join("load.toml");
    std::fs::write(&schema_path, LOAD_SCHEMA).map_err(|e| BenchError::io(&schema_path, e))?;
    let schema = Schema::from_toml_str(LOAD_SCHEMA, "load.toml")?;
    let mut plain: Vec<PlainRow> = Vec::new();
    let mut files: Vec<Vec<PathBuf>> = Vec::new();
    for i in 0..a.agents {
        let data = generate(i, a.chunks_per_agent, a.rows_per_chunk);
        for text in &data.files {
            plain.extend(
                reference::plain_rows(text.as_bytes(), &schema, &source_name(i))
                    .map_err(|e| BenchError::Usage(e.to_string()))?,
            );
        }
        files.push(write_exports(
            &root.join("data").join(source_name(i)),
            &data.files,
        )?);
    }
    let live_schema_path = root.join("load_live.toml");
    let live_schema = LOAD_SCHEMA.replace("dataset = \"load\"", "dataset = \"load_live\"");
    std::fs::write(&live_schema_path, &live_schema)
        .map_err(|e| BenchError::io(&live_schema_path, e))?;
    let mut live_files: Vec<Vec<PathBuf>> = Vec::new();
    for i in 0..a.agents {
        let data = generate(i | 1 << 20, a.ingest_during_queries, a.rows_per_chunk);
        live_files.push(write_exports(
            &root.join("data-live").join(source_name(i)),
            &data.files,
        )?);
    }

    // Encryption alone: the same files, the same code as the agents, nothing uploaded.
    (f.encrypt_seconds, f.deployment_bytes) =
        encrypt_only(&admin_client, &schema, &files, &sources, deadline)?;

    // Phase 1: every agent at once.
    let server_sampler = Sampler::start(server_pid);
    let retries = Arc::new(AtomicU64::new(0));
    let never = Arc::new(AtomicBool::new(false));
    let agents = AgentSet {
        url: &url,
        sources: &sources,
        schema: &schema_path,
        spools: &root.join("spools"),
        retries: &retries,
        stop: &never,
        deadline,
    };
    let (barrier, rx) = agents.spawn(&files);
    let t = Instant::now();
    barrier.wait();
    let mut agent_errors: Vec<EdgeError> = Vec::new();
    let mut chunk_latencies: Vec<f64> = Vec::new();
    let mut first_requests: Vec<f64> = Vec::new();
    for _ in 0..a.agents {
        match rx.recv_timeout(deadline.left()) {
            Ok(Ok(r)) => {
                f.chunks += r.uploaded;
                chunk_latencies.extend(r.chunk_seconds);
                first_requests.push(r.before_first_chunk);
            }
            Ok(Err(e)) => agent_errors.push(e),
            Err(_) => return Err(deadline_error("the ingest phase")),
        }
    }
    // Agents that gave up because the deadline passed report errors of their own: the
    // deadline is the cause to report.
    if !agent_errors.is_empty() {
        deadline.check("the ingest phase")?;
    }
    f.ingest_seconds = t.elapsed().as_secs_f64();
    f.server_mb.2 = server_sampler.finish();
    f.ingest_retries = retries.load(Ordering::Relaxed);
    f.ingest_errors = agent_errors.len();
    chunk_latencies.sort_by(f64::total_cmp);
    first_requests.sort_by(f64::total_cmp);
    f.chunk_latency = (
        percentile(&chunk_latencies, 50.0),
        percentile(&chunk_latencies, 99.0),
    );
    f.before_first_chunk = percentile(&first_requests, 50.0);
    f.values = f.chunks * a.rows_per_chunk * 2;
    eprintln!(
        "bench load: ingest: {} chunks from {} agents in {:.1} s",
        f.chunks, a.agents, f.ingest_seconds
    );
    if let Some(e) = agent_errors.first() {
        return Err(BenchError::Platform(format!(
            "{} of {} agents failed; the first: {e}",
            agent_errors.len(),
            a.agents
        )));
    }

    // The platform stores exactly what was sent: each source's chunks once, every row.
    let expected = a.agents * a.chunks_per_agent;
    let reader = Client::new(
        &url,
        Some(Identity::load(&analysts[0]).map_err(|e| BenchError::Usage(e.to_string()))?),
        Duration::from_secs(120),
    );
    let listed: Vec<ChunkInfo> = reader
        .get_json(&format!("/v1/datasets/{DATASET}/chunks"))
        .map_err(dtfhe_analyst::error::api_error)?;
    f.chunks_stored = listed.len();
    let ids: HashSet<i64> = listed.iter().map(|c| c.id).collect();
    let seqs: HashSet<(&str, u64)> = listed.iter().map(|c| (c.source.as_str(), c.seq)).collect();
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &listed {
        *per_source.entry(c.source.as_str()).or_default() += 1;
    }
    let rows: u64 = listed.iter().map(|c| u64::from(c.rows)).sum();
    if f.chunks != expected
        || listed.len() != expected
        || ids.len() != expected
        || seqs.len() != expected
        || per_source.len() != a.agents
        || per_source.values().any(|&n| n != a.chunks_per_agent)
        || rows != (expected * a.rows_per_chunk) as u64
    {
        return Err(BenchError::Platform(format!(
            "the platform stores {} chunks ({} distinct ids, {} distinct (source, seq), {} \
             sources, {rows} rows) for {} uploaded; expected {expected} chunks of {} rows, {} \
             per source",
            listed.len(),
            ids.len(),
            seqs.len(),
            per_source.len(),
            f.chunks,
            a.rows_per_chunk,
            a.chunks_per_agent
        )));
    }

    // Phase 2: every analyst at once, each its queries in turn, each result checked.
    let expected: Vec<ResultSet> = QUERIES
        .iter()
        .map(|sql| reference::evaluate(&schema, sql, &plain).map_err(BenchError::Query))
        .collect::<Result<_, _>>()?;
    let expected = Arc::new(expected);
    let server_sampler = Sampler::start(server_pid);
    let barrier = Arc::new(Barrier::new(a.analysts + 1));
    let (tx, rx) = mpsc::channel::<QueryOutcome>();
    for (i, file) in analysts.iter().enumerate() {
        let (tx, barrier, expected) = (tx.clone(), barrier.clone(), expected.clone());
        let (url, file, n) = (url.clone(), file.clone(), a.queries_per_analyst);
        std::thread::spawn(move || {
            barrier.wait();
            for q in 0..n {
                let kind = (i + q) % QUERIES.len();
                let t = Instant::now();
                let r = net::query(&RemoteQueryOptions {
                    server: url.clone(),
                    identity: file.clone(),
                    sql: QUERIES[kind].into(),
                    epsilon: None,
                    timeout: deadline.left().max(Duration::from_secs(1)),
                    poll: Duration::from_millis(100),
                });
                let latency = t.elapsed().as_secs_f64();
                let outcome = match r {
                    Ok(r) => match first_difference(&r.result, &expected[kind]) {
                        None => QueryOutcome::Ok(latency),
                        Some(at) => QueryOutcome::Mismatch(format!(
                            "{} query {} ({}): {at} differs from the plaintext",
                            analyst_name(i),
                            q + 1,
                            QUERIES[kind]
                        )),
                    },
                    Err(e) => QueryOutcome::Failed(e.into()),
                };
                if tx.send(outcome).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let live_stop = Arc::new(AtomicBool::new(false));
    // The phase-1 agents again, on their own spools, ingesting the live files until stopped.
    let live_agents = AgentSet {
        schema: &live_schema_path,
        spools: &root.join("spools-live"),
        stop: &live_stop,
        ..agents
    };
    let live = (a.ingest_during_queries > 0).then(|| live_agents.spawn(&live_files));
    if let Some((b, _)) = &live {
        b.wait();
    }
    let t = Instant::now();
    barrier.wait();
    let mut mismatches: Vec<String> = Vec::new();
    let mut failures: Vec<BenchError> = Vec::new();
    for _ in 0..a.analysts * a.queries_per_analyst {
        match rx.recv_timeout(deadline.left()) {
            Ok(QueryOutcome::Ok(s)) => {
                f.latencies.push(s);
                f.checked += 1;
            }
            Ok(QueryOutcome::Mismatch(m)) => mismatches.push(m),
            Ok(QueryOutcome::Failed(e)) => failures.push(e),
            Err(_) => return Err(deadline_error("the query phase")),
        }
    }
    f.query_seconds = t.elapsed().as_secs_f64();
    live_stop.store(true, Ordering::Relaxed);
    if let Some((_, rx)) = live {
        let mut uploaded = 0;
        for _ in 0..a.agents {
            match rx.recv_timeout(deadline.left()) {
                Ok(Ok(r)) => uploaded += r.uploaded,
                Ok(Err(e)) => {
                    return Err(BenchError::Platform(format!(
                        "an agent failed during the query phase: {e}"
                    )))
                }
                Err(_) => return Err(deadline_error("the ingest during queries")),
            }
        }
        let seconds = t.elapsed().as_secs_f64();
        // The analysts have no grant for the live dataset: listed as the auditor.
        let listed: Vec<ChunkInfo> =
            Client::new(&url, Some(auditor.clone()), Duration::from_secs(120))
                .get_json(&format!("/v1/datasets/{LIVE_DATASET}/chunks"))
                .map_err(dtfhe_analyst::error::api_error)?;
        let distinct: HashSet<(&str, u64)> =
            listed.iter().map(|c| (c.source.as_str(), c.seq)).collect();
        if listed.len() != uploaded || distinct.len() != uploaded {
            return Err(BenchError::Platform(format!(
                "during the queries {uploaded} chunks were uploaded to `{LIVE_DATASET}`, the \
                 platform lists {} ({} distinct)",
                listed.len(),
                distinct.len()
            )));
        }
        f.live = Some((uploaded, seconds));
    }
    f.server_mb.3 = server_sampler.finish();
    f.latencies.sort_by(f64::total_cmp);
    if let Some(m) = mismatches.first() {
        return Err(BenchError::Mismatch(format!(
            "{} of {} released results differ from the plaintext; the first: {m}",
            mismatches.len(),
            a.analysts * a.queries_per_analyst
        )));
    }
    if !failures.is_empty() {
        let n = failures.len();
        let first = failures.swap_remove(0);
        eprintln!("bench load: {n} queries failed; the first:");
        return Err(first);
    }
    eprintln!(
        "bench load: queries: {} released and checked in {:.1} s",
        f.checked, f.query_seconds
    );

    // The ledger of the whole run, checked from the outside (pinned key).
    let store_key = root.join("platform").join(dtfhe_store::PUB_FILE);
    f.audit = dtfhe_analyst::remote_audit::verify(
        &url,
        &auditor_file,
        store_key.is_file().then_some(store_key.as_path()),
        false,
    )?
    .to_string();

    // Memory at the end.
    children.check_alive()?;
    if let Some(pid) = server_pid {
        let (hwm, rss) = process_memory(pid);
        f.server_mb.0 = hwm;
        f.server_mb.1 = rss;
    }
    f.trustee_mb = TRUSTEES
        .iter()
        .filter_map(|t| children.pid(t).and_then(|p| process_memory(p).0))
        .reduce(f64::max);
    children.stop();
    f.loadavg = (load_before, load_average());
    Ok(f)
}

/// Encrypts every file with the agents' code (`encrypt_ordered`, the deployment's public key,
/// each source's key signing), nothing spooled or uploaded, on as many threads as there are
/// cores; returns the seconds and the size of the deployment record every agent fetches.
fn encrypt_only(
    client: &Client,
    schema: &Schema,
    files: &[Vec<PathBuf>],
    sources: &[Identity],
    deadline: Deadline,
) -> Result<(f64, usize), BenchError> {
    // What an agent fetches first (the public key; the relinearisation key by its hash).
    let body = client
        .get_bytes("/v1/deployment?relin_key=omit")
        .map_err(dtfhe_analyst::error::api_error)?;
    let dep: DeploymentInfo = serde_json::from_slice(&body)
        .map_err(|e| BenchError::Platform(format!("/v1/deployment: {e}")))?;
    let params = dtfhe_crypto::params_by_name(&dep.preset)?;
    let pk_bytes =
        unb64("public_key", &dep.public_key).map_err(|e| BenchError::Platform(e.to_string()))?;
    let pk = dtfhe_crypto::codec::decode_public_key(&params, &pk_bytes)?;
    let mut tables = Vec::new();
    for (paths, id) in files.iter().zip(sources) {
        for p in paths {
            let bytes = std::fs::read(p).map_err(|e| BenchError::io(p, e))?;
            let table = dtfhe_model::read_csv_bytes(&bytes, &p.display().to_string(), schema)?;
            tables.push((table, id, *blake3::hash(&bytes).as_bytes()));
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tables.len())
        .max(1);
    let t = Instant::now();
    std::thread::scope(|s| -> Result<(), BenchError> {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (params, pk, tables) = (&params, &pk, &tables);
                s.spawn(move || -> Result<(), BenchError> {
                    for (table, id, hash) in tables.iter().skip(k).step_by(threads) {
                        deadline.check("the encryption measurement")?;
                        let signer = dtfhe_agent::ChunkSigner {
                            key: id.signing_key(),
                            dataset: DATASET,
                            source: id.name(),
                            base_seq: 0,
                            file_hash: *hash,
                        };
                        let indices: Vec<usize> =
                            (0..dtfhe_agent::chunk_count(table.rows, params.slots())).collect();
                        dtfhe_agent::encrypt_ordered(
                            params,
                            pk,
                            schema,
                            table,
                            &indices,
                            &signer,
                            |_, chunk| {
                                std::hint::black_box(chunk);
                                Ok::<(), BenchError>(())
                            },
                        )
                        .map_err(|e| match e {
                            dtfhe_agent::PipelineError::Agent(e) => {
                                BenchError::Platform(format!("encryption: {e}"))
                            }
                            dtfhe_agent::PipelineError::Sink(e) => e,
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| BenchError::Platform("an encryption thread panicked".into()))??;
        }
        Ok(())
    })?;
    Ok((t.elapsed().as_secs_f64(), body.len()))
}

fn mb(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.0}"))
}

/// The figures as a markdown table.
pub fn table(f: &LoadFigures, preset: &str) -> String {
    let (agents, analysts, files, rows, queries) = f.shape;
    let n = f.latencies.len();
    let per_s = |count: f64, s: f64| count / s.max(1e-9);
    let rows_out: Vec<(String, String)> = vec![
        (
            "setup: server, identities, key ceremony (s)".into(),
            format!("{:.1}", f.setup_seconds),
        ),
        (
            "encryption alone, every chunk: chunks/s (values/s)".into(),
            format!(
                "{:.1} ({:.0})",
                per_s(f.chunks as f64, f.encrypt_seconds),
                per_s(f.values as f64, f.encrypt_seconds)
            ),
        ),
        (
            format!("ingest, {agents} concurrent agents, wall (s)"),
            format!("{:.2}", f.ingest_seconds),
        ),
        (
            "ingest: chunks/s".into(),
            format!("{:.1}", per_s(f.chunks as f64, f.ingest_seconds)),
        ),
        (
            "ingest: encrypted values/s (encrypt + spool + upload)".into(),
            format!("{:.0}", per_s(f.values as f64, f.ingest_seconds)),
        ),
        (
            "chunks uploaded / stored (no duplicates)".into(),
            format!("{} / {}", f.chunks, f.chunks_stored),
        ),
        (
            "  per chunk: encrypt + sign + spool + upload, p50 / p99 (s)".into(),
            format!("{:.2} / {:.2}", f.chunk_latency.0, f.chunk_latency.1),
        ),
        (
            "  per agent: requests before its first chunk, p50 (s)".into(),
            format!("{:.2}", f.before_first_chunk),
        ),
        (
            "  of which GET /v1/deployment?relin_key=omit, body (MB)".into(),
            format!("{:.1}", f.deployment_bytes as f64 / 1e6),
        ),
        (
            "agent errors / retries".into(),
            format!("{} / {}", f.ingest_errors, f.ingest_retries),
        ),
        (
            format!("queries, {analysts} concurrent analysts, wall (s)"),
            format!("{:.2}", f.query_seconds),
        ),
        (
            "ingest during the queries: chunks (per s of the phase)".into(),
            match f.live {
                None => "off".into(),
                Some((n, s)) => format!("{n} ({:.1})", per_s(n as f64, s)),
            },
        ),
        (
            "queries/s".into(),
            format!("{:.2}", per_s(n as f64, f.query_seconds)),
        ),
        (
            "query latency p50 / p99 / max (s)".into(),
            format!(
                "{:.2} / {:.2} / {:.2}",
                percentile(&f.latencies, 50.0),
                percentile(&f.latencies, 99.0),
                f.latencies.last().copied().unwrap_or(0.0)
            ),
        ),
        (
            "released results equal plaintext".into(),
            format!("{} of {}", f.checked, analysts * queries),
        ),
        (
            "server memory: peak VmHWM / VmRSS at end (MB)".into(),
            format!("{} / {}", mb(f.server_mb.0), mb(f.server_mb.1)),
        ),
        (
            "server VmRSS sampled peak: ingest / queries (MB)".into(),
            format!("{} / {}", mb(f.server_mb.2), mb(f.server_mb.3)),
        ),
        ("largest trustee peak VmHWM (MB)".into(), mb(f.trustee_mb)),
    ];
    // Column widths: the widest cell or heading.
    let width = |head: &str, cell: fn(&(String, String)) -> &String| {
        rows_out
            .iter()
            .map(|r| cell(r).chars().count())
            .fold(head.len(), usize::max)
    };
    let (w0, w1) = (width("measure", |r| &r.0), width("value", |r| &r.1));
    let mut out = format!(
        "Load test, preset {preset}, 3 trustee processes, 1 server process, loopback, {} \
         threads: {agents} agents × {files} chunk{} of {rows} rows (x, y encrypted), {analysts} \
         analysts × {queries} quer{}.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if files == 1 { "" } else { "s" },
        if queries == 1 { "y" } else { "ies" },
    );
    let _ = writeln!(out, "| {:w0$} | {:>w1$} |", "measure", "value");
    let _ = writeln!(out, "|:{}|{}:|", "-".repeat(w0 + 1), "-".repeat(w1 + 1));
    for (k, v) in &rows_out {
        let pad = w0.saturating_sub(k.chars().count());
        let _ = writeln!(out, "| {k}{} | {v:>w1$} |", " ".repeat(pad));
    }
    let _ = writeln!(
        out,
        "\nMachine load average (1 min) before / after: {} / {}.\n{}",
        f.loadavg
            .0
            .map_or_else(|| "n/a".into(), |v| format!("{v:.2}")),
        f.loadavg
            .1
            .map_or_else(|| "n/a".into(), |v| format!("{v:.2}")),
        f.audit
    );
    out
}

/// `dtfhe bench load`: measure and print the table.
pub fn run(a: &LoadArgs) -> Result<(), BenchError> {
    let wall = Instant::now();
    let f = measure(a)?;
    println!("{}", table(&f, &a.preset));
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.0);
    }

    #[test]
    fn generated_files_parse_and_are_deterministic() {
        let a = generate(7, 2, 50);
        let b = generate(7, 2, 50);
        assert_eq!(a.files, b.files);
        assert_ne!(a.files[0], a.files[1]);
        let schema = Schema::from_toml_str(LOAD_SCHEMA, "load.toml").expect("schema");
        let t = dtfhe_model::read_csv_bytes(a.files[0].as_bytes(), "f.csv", &schema).expect("csv");
        assert_eq!(t.rows, 50);
        let rows = reference::plain_rows(a.files[0].as_bytes(), &schema, "edge-007").expect("rows");
        assert_eq!(rows.len(), 50);
        for sql in QUERIES {
            reference::evaluate(&schema, sql, &rows).expect("plans");
        }
    }

    #[test]
    fn memory_of_this_process_is_read() {
        let (hwm, rss) = process_memory(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(hwm.is_some_and(|v| v > 0.0) && rss.is_some_and(|v| v > 0.0));
        }
    }
}
