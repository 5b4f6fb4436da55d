//! What the live-input benches (`dtfhe bench mqtt`, `dtfhe bench opcua`) share: their
//! options, the schema file, the edge agent, the analyst's released COUNT and SUM, and the latency from a
//! value's time to the first release that covers it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use dtfhe_agent::live::{LiveConfig, LiveEvent, LiveRun};
use dtfhe_agent::upload::{EdgeAgent, RetryPolicy};
use dtfhe_analyst::net::{self, RemoteQueryOptions};
use dtfhe_analyst::AnalystError;
use dtfhe_api::Identity;
use dtfhe_model::Schema;

use crate::error::BenchError;
use crate::load::percentile;
use crate::mqtt::cell;

/// The peer's process a live bench starts (the broker, the OPC UA server), killed when
/// dropped.
pub(crate) struct Peer(pub(crate) std::process::Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The options both live benches take.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveBenchArgs {
    /// The agent's window (seconds).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub window: f64,
    /// BFV parameter preset.
    #[arg(long, value_name = "NAME", default_value = "bfv-8192",
          value_parser = ["bfv-16384", "bfv-8192"])]
    pub preset: String,
    /// Give up (and stop every process) after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub deadline_seconds: u64,
}

impl LiveBenchArgs {
    /// The figures' first line: `name` bench (preset, window, `more`, cores, load average).
    pub fn heading(&self, name: &str, more: &str) -> String {
        let load =
            crate::load::load_average().map_or(String::new(), |l| format!(", load average {l:.2}"));
        format!(
            "{name} bench ({}, window {} s{more}, {} cores{load})",
            self.preset,
            self.window,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
    }
}

/// The run of a bench's live source: windows of `window` seconds, no row cap, a 4 GiB spool,
/// until `stop`, then 30 s to upload what is left.
pub(crate) fn live_run<'a>(
    agent: &'a EdgeAgent,
    schema_path: &'a Path,
    window: f64,
    stop: &'a (dyn Fn() -> bool + Sync),
) -> LiveRun<'a> {
    LiveRun {
        agent,
        schema_path,
        live: LiveConfig {
            window: Duration::from_secs_f64(window),
            window_rows: None,
            spool_max_bytes: 4 << 30,
        },
        stop,
        drain_for: Duration::from_secs(30),
    }
}

/// Windows closed and the last upload, as the agent's events tell them.
#[derive(Default)]
pub(crate) struct Progress {
    /// Windows closed.
    pub(crate) windows: AtomicU64,
    /// When the last chunk reached the platform (monotonic, wall clock).
    pub(crate) uploaded: Mutex<Option<(Instant, SystemTime)>>,
}

impl Progress {
    /// Notes `e` if it is a closed window or an upload.
    pub(crate) fn note(&self, e: &LiveEvent) {
        match e {
            LiveEvent::Window { .. } => {
                self.windows.fetch_add(1, Ordering::Relaxed);
            }
            LiveEvent::Uploaded { .. } => {
                *self.uploaded.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), SystemTime::now()));
            }
            _ => {}
        }
    }

    /// The last upload, if any.
    pub(crate) fn last_upload(&self) -> Option<(Instant, SystemTime)> {
        *self.uploaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The schema `text` written to `root/file` and read, and the bench's edge agent: `source`
/// uploading to `url`, its spool `root/edge.spool`, an unreachable platform given up on
/// after 10 s. (The schema's path, the schema, the agent.)
pub(crate) fn schema_and_agent(
    root: &Path,
    file: &str,
    text: &str,
    url: &str,
    source: Identity,
) -> Result<(PathBuf, Schema, EdgeAgent), BenchError> {
    let path = root.join(file);
    std::fs::write(&path, text).map_err(|e| BenchError::io(&path, e))?;
    let schema = Schema::from_toml_str(text, file)?;
    let retry = RetryPolicy {
        give_up_after: Some(Duration::from_secs(10)),
        ..RetryPolicy::default()
    };
    let agent = EdgeAgent::new(url, source, &root.join("edge.spool"), retry)
        .map_err(|e| BenchError::Platform(e.to_string()))?;
    Ok((path, schema, agent))
}

/// One networked query `sql` (a COUNT, then a SUM) as the analyst of `identity`: the
/// released (count, sum), 0 where a cell is empty.
pub(crate) fn count_and_sum(
    url: &str,
    identity: &Path,
    sql: String,
) -> Result<(u64, f64), AnalystError> {
    let r = net::query(&RemoteQueryOptions {
        server: url.to_string(),
        identity: identity.to_path_buf(),
        sql,
        epsilon: None,
        timeout: Duration::from_secs(60),
        poll: Duration::from_millis(50),
    })?;
    let row = r.result.rows.first();
    let count = row.and_then(|r| r.first()).and_then(cell).unwrap_or(0.0) as u64;
    let sum = row.and_then(|r| r.get(1)).and_then(cell).unwrap_or(0.0);
    Ok((count, sum))
}

/// The latency of each value `i` sent at `sent[i]` (seconds, in send order): the arrival of
/// the first release `(arrival, count)` whose count covers it (count > i), minus `sent[i]`;
/// values no release covers have none. Sorted.
pub(crate) fn latencies(sent: &[f64], releases: &[(f64, u64)]) -> Vec<f64> {
    let mut lat = Vec::with_capacity(sent.len());
    let mut r = 0;
    for (i, t) in sent.iter().enumerate() {
        while r < releases.len() && releases[r].1 <= i as u64 {
            r += 1;
        }
        if let Some((at, _)) = releases.get(r) {
            lat.push(at - t);
        }
    }
    lat.sort_by(f64::total_cmp);
    lat
}

/// The printed latency line: `from` (what a value's time is) to the released aggregate,
/// over the `unit`s released.
pub(crate) fn latency_line(from: &str, unit: &str, lat: &[f64], releases: (u64, u64)) -> String {
    format!(
        "latency {from} -> released aggregate: p50 {:.2} s, p99 {:.2} s, max {:.2} s over {} {unit} ({} releases, {} refused or failed)",
        percentile(lat, 50.0),
        percentile(lat, 99.0),
        lat.last().copied().unwrap_or(0.0),
        lat.len(),
        releases.0,
        releases.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_waits_for_the_first_release_covering_it() {
        // Values at 0, 1, 2, 3 s; releases at 2.5 s (2 values) and 10 s (3 values).
        let lat = latencies(&[0.0, 1.0, 2.0, 3.0], &[(2.5, 2), (10.0, 3)]);
        assert_eq!(lat, vec![1.5, 2.5, 8.0]);
    }
}
