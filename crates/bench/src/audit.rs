//! Cost of the disclosure audit: time of one check (median of several) and memory after 100 /
//! 1,000 / 10,000 committed releases on a 1,000,000-row dataset in 8192-row chunks.
//!
//! Rows carry (day 0..365, line 0..8, plant 0..3); each plant is a source whose chunks arrive in
//! time order. Queries are day windows (1, 7, 30 or 90 days) x optional line filter x optional
//! plant filter, some grouped by plant or by line. Run: `dtfhe bench audit` (release build:
//! `cargo run --release -p dtfhe-cli -- bench audit`).

use std::collections::BTreeMap;
use std::time::Instant;

use dtfhe_release::audit::{Auditor, CheckError, ChunkKey, ChunkRows, RowSet};

use crate::error::BenchError;

const ROWS: usize = 1_000_000;
const CHUNK: usize = 8192;
const DAYS: u32 = 365;
const LINES: u32 = 8;
const PLANTS: u32 = 3;
const K: u64 = 5;
const DATASET: &str = "lifecycle";

/// splitmix64: a small deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

struct Chunk {
    key: ChunkKey,
    plant: u32,
    day: Vec<u16>,
    line: Vec<u8>,
}

/// The table: per plant (a source), chunks of rows in time order.
fn table(rng: &mut Rng) -> Vec<Chunk> {
    let mut per_plant: Vec<Vec<(u16, u8)>> = vec![Vec::new(); PLANTS as usize];
    for i in 0..ROWS {
        let day = (i as u64 * u64::from(DAYS) / ROWS as u64) as u16;
        let plant = rng.below(PLANTS);
        let line = rng.below(LINES) as u8;
        per_plant[plant as usize].push((day, line));
    }
    let mut chunks = Vec::new();
    for (p, rows) in per_plant.iter().enumerate() {
        for (seq, part) in rows.chunks(CHUNK).enumerate() {
            chunks.push(Chunk {
                key: ChunkKey {
                    source: format!("plant-{p}"),
                    seq: seq as u64,
                },
                plant: p as u32,
                day: part.iter().map(|r| r.0).collect(),
                line: part.iter().map(|r| r.1).collect(),
            });
        }
    }
    chunks
}

#[derive(Clone, Copy)]
enum GroupBy {
    None,
    Plant,
    Line,
}

/// A realistic query: a day window, optional line and plant filters, optional grouping.
/// `heavy`: the costliest shape (a 90-day window over all plants and lines, grouped by line).
fn query(rng: &mut Rng, chunks: &[Chunk], heavy: bool) -> Vec<RowSet> {
    let len = if heavy {
        90
    } else {
        [1u32, 7, 30, 90][rng.below(4) as usize]
    };
    let start = rng.below(DAYS - len + 1);
    let (lo, hi) = (start as u16, (start + len - 1) as u16);
    let line = (!heavy && rng.below(2) == 0).then(|| rng.below(LINES) as u8);
    let plant = (!heavy && rng.below(2) == 0).then(|| rng.below(PLANTS));
    let by = match rng.below(5) {
        _ if heavy => GroupBy::Line,
        0 => GroupBy::Plant,
        1 => GroupBy::Line,
        _ => GroupBy::None,
    };
    let mut groups: BTreeMap<u32, RowSet> = BTreeMap::new();
    for c in chunks {
        if plant.is_some_and(|p| p != c.plant) {
            continue;
        }
        let (first, last) = (c.day[0], c.day[c.day.len() - 1]);
        if last < lo || first > hi {
            continue;
        }
        let n = c.day.len() as u32;
        let whole_days = first >= lo && last <= hi;
        let mut sel: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        if whole_days && line.is_none() && !matches!(by, GroupBy::Line) {
            let g = if matches!(by, GroupBy::Plant) {
                c.plant
            } else {
                0
            };
            groups
                .entry(g)
                .or_default()
                .chunks
                .insert(c.key.clone(), ChunkRows::All { rows: n });
            continue;
        }
        for (r, (&d, &l)) in c.day.iter().zip(&c.line).enumerate() {
            if d < lo || d > hi || line.is_some_and(|x| x != l) {
                continue;
            }
            let g = match by {
                GroupBy::None => 0,
                GroupBy::Plant => c.plant,
                GroupBy::Line => u32::from(l),
            };
            sel.entry(g).or_default().push(r as u32);
        }
        for (g, selected) in sel {
            groups
                .entry(g)
                .or_default()
                .chunks
                .insert(c.key.clone(), ChunkRows::Some { rows: n, selected });
        }
    }
    groups.into_values().collect()
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Builds the audit state release by release (100, 1,000, 10,000 committed releases) and
/// prints, after each step, the check time (median and max of fresh checks), the state's
/// size and encode/write/decode times, and the process's peak memory.
pub fn run() -> Result<(), BenchError> {
    let mut rng = Rng(0x5eed_a0d1);
    let chunks = table(&mut rng);
    println!(
        "audit bench: {ROWS} rows, {} chunks of <= {CHUNK} rows, k = {K}",
        chunks.len()
    );
    let mut auditor = Auditor::in_memory();
    let (mut committed, mut refused) = (0usize, 0usize);
    let mut commit_secs = 0.0;
    for target in [100usize, 1_000, 10_000] {
        while committed < target {
            let q = query(&mut rng, &chunks, false);
            match auditor.check(DATASET, &q, K) {
                Ok(ap) => {
                    let t = Instant::now();
                    auditor
                        .commit(ap, &format!("release-{committed:05}"))
                        .map_err(|e| BenchError::Audit(e.to_string()))?;
                    commit_secs += t.elapsed().as_secs_f64();
                    committed += 1;
                }
                Err(CheckError::Refused(_)) => refused += 1,
                Err(e) => return Err(BenchError::Audit(e.to_string())),
            }
        }
        // Time fresh checks (not committed) on the state after `target` releases.
        let mut times = Vec::new();
        let mut heavy_times = Vec::new();
        let mut approved = 0;
        for i in 0..42 {
            let heavy = i % 2 == 1;
            let q = query(&mut rng, &chunks, heavy);
            let t = Instant::now();
            let r = auditor.check(DATASET, &q, K);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if heavy {
                heavy_times.push(ms);
            } else {
                times.push(ms);
            }
            approved += usize::from(r.is_ok());
        }
        let t = Instant::now();
        let bytes = auditor.state().encode();
        let encode_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let decoded = dtfhe_release::audit::decode_state(&bytes)
            .map_err(|e| BenchError::Audit(e.to_string()))?;
        let decode_ms = t.elapsed().as_secs_f64() * 1e3;
        drop(decoded);
        // What a durable commit adds on top: writing and fsyncing the whole state file.
        let dir = tempfile::tempdir().map_err(|e| BenchError::io(&std::env::temp_dir(), e))?;
        let state_file = dir.path().join("audit.state");
        let t = Instant::now();
        {
            use std::io::Write;
            let io = |e| BenchError::io(&state_file, e);
            let mut f = std::fs::File::create(&state_file).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        let write_ms = t.elapsed().as_secs_f64() * 1e3;
        let stats = auditor
            .state()
            .stats(DATASET)
            .ok_or_else(|| BenchError::Audit(format!("no audit state for `{DATASET}`")))?;
        let max = times.iter().copied().fold(0.0, f64::max);
        let heavy_max = heavy_times.iter().copied().fold(0.0, f64::max);
        println!(
            "after {target:>6} releases: check median {:.2} ms (max {:.2} ms); heavy 90-day GROUP BY line check median {:.2} ms (max {:.2} ms); {approved}/42 approved | \
             state {:.2} MB (encode {encode_ms:.1} ms, write+fsync {write_ms:.1} ms, decode {decode_ms:.1} ms) | cells {} rank {} \
             basis entries {} derivable cells {} | refused while building {refused} | mean commit {:.2} ms | VmHWM {:.1} MB",
            median(times),
            max,
            median(heavy_times),
            heavy_max,
            bytes.len() as f64 / 1e6,
            stats.cells,
            stats.rank,
            stats.basis_entries,
            stats.derivable_cells,
            commit_secs * 1e3 / committed as f64,
            vm_hwm_kib() as f64 / 1024.0,
        );
    }
    Ok(())
}
