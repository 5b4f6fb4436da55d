//! `dtfhe bench opcua`: values/s through the edge agent's OPC UA input and the latency from
//! a value's source timestamp to the released windowed aggregate, on loopback.
//!
//! It starts a real platform and three trustee daemons (as `dtfhe bench mqtt` does), the
//! simulated machine of the OPC UA tests (`crates/cli/tests/opcua/machine.py`, embedded
//! here: the PyPI `asyncua` server, run with `DTFHE_ASYNCUA_PYTHON` or the virtualenv
//! `scripts/ensure-asyncua.sh` makes) on a free loopback port, and the agent's OPC UA loop
//! (the library code of `dtfhe agent --opcua`, in a thread). The machine writes `--ticks`
//! ticks of three values (temperature, vibration, part counter) with one source timestamp,
//! one every `--period` seconds, noting each in its oracle file first; an analyst asks
//! `SELECT COUNT(temp), SUM(parts) FROM spindle` over and over. Ticks reach the platform in
//! order (one subscription, windows closed and uploaded in order), so every released count
//! `c` must come with the sum of the first `c` ticks' counters (exit 7 otherwise), and a
//! tick's latency is the arrival of the first release whose count covers it minus its
//! source timestamp (wall clock, one machine). The last few ticks may stay unreleased: the
//! disclosure audit refuses a release that adds fewer than k rows to an earlier one.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use dtfhe_agent::opcua::map::Mapping;
use dtfhe_agent::opcua::run::OpcuaConfig;

use crate::error::BenchError;
use crate::load::{scratch_dir, tail, Children};
use crate::mqtt::{free_port, start_platform};

/// The machine's dataset (the OPC UA tests' `spindle`).
pub const DATASET: &str = "spindle";
const SCHEMA: &str = include_str!("../../cli/tests/schemas/spindle.toml");
const MAP: &str = include_str!("../../cli/tests/schemas/spindle_opcua.toml");
const MACHINE: &str = include_str!("../../cli/tests/opcua/machine.py");

/// `dtfhe bench opcua` arguments.
#[derive(Debug, Clone, Args)]
pub struct OpcuaArgs {
    /// Ticks the machine writes (three values each).
    #[arg(long, value_name = "N", default_value_t = 600)]
    pub ticks: u64,
    /// Seconds between two ticks.
    #[arg(long, value_name = "S", default_value_t = 0.02)]
    pub period: f64,
    /// Window, preset, deadline.
    #[command(flatten)]
    pub live: crate::live::LiveBenchArgs,
}

/// What the bench measured.
#[derive(Debug, Clone, Default)]
pub struct OpcuaFigures {
    /// Ticks the machine wrote.
    pub ticks: u64,
    /// Seconds from its first tick to its last.
    pub publish_seconds: f64,
    /// Rows (ticks) in uploaded windows, and seconds from the first tick to the last upload.
    pub ingested: (u64, f64),
    /// Windows closed.
    pub windows: u64,
    /// Ticks covered by a release, and latencies (source timestamp → release), sorted.
    pub latencies: Vec<f64>,
    /// Releases received / refused or failed.
    pub releases: (u64, u64),
}

/// The machine's python: `DTFHE_ASYNCUA_PYTHON`, else the virtualenv
/// `scripts/ensure-asyncua.sh` makes under `CARGO_TARGET_DIR` or `target/`.
fn asyncua_python() -> Result<PathBuf, BenchError> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    [
        std::env::var_os("DTFHE_ASYNCUA_PYTHON").map(PathBuf::from),
        Some(target.join("venv-asyncua/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
    .ok_or_else(|| {
        BenchError::Usage(
            "no asyncua python: run scripts/ensure-asyncua.sh or set DTFHE_ASYNCUA_PYTHON".into(),
        )
    })
}

/// Milliseconds since 1970 of the wall-clock time `t`.
fn ms_of(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The oracle: every tick's (source timestamp in ms, part counter), in order.
fn oracle(path: &std::path::Path) -> Result<Vec<(i64, i64)>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .map_err(|e| BenchError::Platform(format!("oracle line: {e}")))?;
            match (v["ts_ms"].as_i64(), v["counter"].as_i64()) {
                (Some(t), Some(c)) => Ok((t, c)),
                _ => Err(BenchError::Platform(
                    "oracle line without ts_ms/counter".into(),
                )),
            }
        })
        .collect()
}

/// Runs the bench.
pub fn measure(a: &OpcuaArgs) -> Result<OpcuaFigures, BenchError> {
    if a.ticks < 10 || a.ticks > 1_000_000 || !(a.period >= 0.001 && a.period <= 10.0) {
        return Err(BenchError::Usage(
            "--ticks in 10..=1000000, --period in [0.001, 10]".into(),
        ));
    }
    if !(a.live.window > 0.0 && a.live.window <= 60.0) {
        return Err(BenchError::Usage("--window in (0, 60]".into()));
    }
    let python = asyncua_python()?;
    let until = Instant::now() + Duration::from_secs(a.live.deadline_seconds.max(1));
    let tmp = scratch_dir("dtfhe-bench-opcua-")?;
    let root = tmp.path().to_path_buf();
    let mut children = Children::default();
    let (url, source, analyst_file) =
        start_platform(&mut children, &root, &a.live.preset, until, DATASET)?;

    let script = root.join("machine.py");
    std::fs::write(&script, MACHINE).map_err(|e| BenchError::io(&script, e))?;
    let port = free_port()?;
    let oracle_path = root.join("oracle.jsonl");
    let log = root.join("machine.log");
    let f = std::fs::File::create(&log).map_err(|e| BenchError::io(&log, e))?;
    let machine = crate::live::Peer(
        Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&oracle_path)
            .args([
                "--ticks",
                &a.ticks.to_string(),
                "--period",
                &a.period.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(f.try_clone().map_err(|e| BenchError::io(&log, e))?)
            .stderr(f)
            .spawn()
            .map_err(|e| BenchError::io(&python, e))?,
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err(BenchError::Platform(format!(
                "machine.py did not listen: {}",
                tail(&log, 8)
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cfg = OpcuaConfig {
        url: format!("opc.tcp://127.0.0.1:{port}/"),
        retry_max: Duration::from_secs(2),
    };
    eprintln!("bench opcua: platform {url} ready, machine on {}", cfg.url);
    let (schema_path, schema, agent) =
        crate::live::schema_and_agent(&root, "spindle.toml", SCHEMA, &url, source)?;
    let mapping = Mapping::from_toml_str(MAP, "bench map", &schema)
        .map_err(|e| BenchError::Usage(e.to_string()))?;
    let done_path = root.join("oracle.jsonl.status");
    let machine_done = || std::fs::read_to_string(&done_path).is_ok_and(|s| s.contains("done"));

    let stop = AtomicBool::new(false);
    let progress = crate::live::Progress::default();
    // (arrival of a release in wall-clock ms, COUNT, SUM(parts))
    let mut releases: Vec<(i64, u64, f64)> = Vec::new();
    let mut refused = 0u64;
    let stats = std::thread::scope(|scope| -> Result<_, BenchError> {
        let agent_thread = scope.spawn(|| {
            let stopped = || stop.load(Ordering::Relaxed);
            let run = crate::live::live_run(&agent, &schema_path, a.live.window, &stopped);
            dtfhe_agent::opcua::run::run(&run, &mapping, &cfg, &mut |e| progress.note(&e))
        });
        // The analyst, until every tick is released, or the machine is done and releases
        // stopped coming for 20 s (the audit's last refusals), or the deadline.
        let mut idle_since: Option<Instant> = None;
        while Instant::now() < until && !agent_thread.is_finished() {
            let sql = format!("SELECT COUNT(temp), SUM(parts) FROM {DATASET}");
            let r = crate::live::count_and_sum(&url, &analyst_file, sql);
            let at = ms_of(std::time::SystemTime::now());
            let before = releases.last().map_or(0, |r| r.1);
            match r {
                Ok((count, sum)) => releases.push((at, count, sum)),
                Err(_) => {
                    refused += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            let count = releases.last().map_or(0, |r| r.1);
            if machine_done() {
                if count >= a.ticks {
                    break;
                }
                let idle = *idle_since.get_or_insert_with(Instant::now);
                if count > before {
                    idle_since = Some(Instant::now());
                } else if idle.elapsed() > Duration::from_secs(20) {
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        agent_thread
            .join()
            .map_err(|_| BenchError::Platform("the agent thread panicked".into()))?
            .map_err(|e| BenchError::Platform(e.to_string()))
    });
    drop(machine);
    children.stop();
    let stats = stats?;
    let ticks = oracle(&oracle_path)?;
    if ticks.is_empty() {
        return Err(BenchError::Platform("the machine wrote no tick".into()));
    }
    // Every release: the first `count` ticks, their counters summed.
    let mut prefix = vec![0i64];
    for (_, c) in &ticks {
        prefix.push(prefix.last().copied().unwrap_or(0) + c);
    }
    for &(_, count, sum) in &releases {
        let want = prefix.get(count as usize).copied();
        if want.is_none_or(|w| (sum - w as f64).abs() > 1e-6) {
            return Err(BenchError::Mismatch(format!(
                "released COUNT {count}, SUM(parts) {sum}; the first {count} of {} ticks sum to {want:?}",
                ticks.len()
            )));
        }
    }
    let first = ticks[0].0;
    let secs = |ms: i64| (ms - first) as f64 / 1000.0;
    let sent: Vec<f64> = ticks.iter().map(|(ts, _)| secs(*ts)).collect();
    let released: Vec<(f64, u64)> = releases.iter().map(|(at, n, _)| (secs(*at), *n)).collect();
    let lat = crate::live::latencies(&sent, &released);
    let last_upload = progress
        .last_upload()
        .map_or(first, |(_, wall)| ms_of(wall));
    Ok(OpcuaFigures {
        ticks: ticks.len() as u64,
        publish_seconds: (ticks[ticks.len() - 1].0 - first) as f64 / 1000.0,
        ingested: (stats.rows, (last_upload - first) as f64 / 1000.0),
        windows: progress.windows.load(Ordering::Relaxed),
        latencies: lat,
        releases: (releases.len() as u64, refused),
    })
}

/// Runs the bench and prints its figures.
pub fn run(a: &OpcuaArgs) -> Result<(), BenchError> {
    let f = measure(a)?;
    let tick = format!(", a tick every {} s", a.period);
    println!("{}", a.live.heading("OPC UA", &tick));
    let per_s = |n: u64, s: f64| n as f64 / s.max(1e-9);
    println!(
        "published:  {} ticks = {} values in {:.1} s = {:.0} values/s (asyncua server)",
        f.ticks,
        3 * f.ticks,
        f.publish_seconds,
        per_s(3 * f.ticks, f.publish_seconds)
    );
    println!(
        "ingested:   {} rows = {} values in {} windows, encrypted, uploaded {:.1} s after the first tick = {:.0} values/s",
        f.ingested.0,
        3 * f.ingested.0,
        f.windows,
        f.ingested.1,
        per_s(3 * f.ingested.0, f.ingested.1)
    );
    println!(
        "{}",
        crate::live::latency_line(
            "source timestamp",
            "ticks (3 values each)",
            &f.latencies,
            f.releases
        )
    );
    println!("every released COUNT and SUM equals the plaintext of the ticks it covers");
    Ok(())
}
