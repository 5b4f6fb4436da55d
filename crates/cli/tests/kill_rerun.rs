//! Crash safety of `dtfhe ingest`: the real binary is killed with SIGKILL 20 times at random
//! points of an ingest of a 50,000-row file, then the same command is run to completion.
//! Every row must be stored exactly once (resume, not duplicate), in ceil(50000/8192) chunks,
//! and the store must verify.

mod common;

use common::{fresh_dir, ingest, ok, BIN};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const ROWS: usize = 50_000;
const SCHEMA: &str = include_str!("schemas/lots.toml");

fn csv(rng: &mut StdRng) -> String {
    let mut s = String::from("line,temp,load,count\n");
    for _ in 0..ROWS {
        let _ = writeln!(
            s,
            "{},{:.1},{:.2},{}",
            rng.random_range(1..=4),
            rng.random_range(-400..=1200) as f64 / 10.0,
            rng.random_range(0..=1000) as f64 / 100.0,
            rng.random_range(0..=1000)
        );
    }
    s
}

fn ingest_cmd(dir: &Path, schema: &Path, csv: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(["ingest", "--dir"])
        .arg(dir)
        .arg("--schema")
        .arg(schema)
        .arg("--csv")
        .arg(csv)
        .args(["--source", "plant-a"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn init(dir: &Path) {
    ok([
        "init".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--trustees".as_ref(),
        "a,b".as_ref(),
        "--preset".as_ref(),
        "bfv-8192".as_ref(),
    ]);
}

#[test]
fn ingest_killed_20_times_then_rerun_stores_every_row_once() {
    let started = Instant::now();
    let root = fresh_dir("kill_rerun");
    let mut rng = StdRng::seed_from_u64(0x6b69_6c6c);
    let schema = root.join("lots.toml");
    let data = root.join("lots.csv");
    std::fs::write(&schema, SCHEMA).expect("schema");
    std::fs::write(&data, csv(&mut rng)).expect("csv");

    // One clean run elsewhere, to know how long an ingest takes here.
    let calib = root.join("calib");
    init(&calib);
    let t = Instant::now();
    let status = ingest_cmd(&calib, &schema, &data).status().expect("run");
    assert!(status.success());
    let clean = t.elapsed();
    eprintln!("clean ingest: {clean:?}");

    let dir = root.join("d");
    init(&dir);
    let mut killed = 0;
    for i in 0..20 {
        let mut child = ingest_cmd(&dir, &schema, &data).spawn().expect("spawn");
        // Spread over a clean run's duration, start-up included, skewed early: each run that
        // lives long enough commits chunks, so later runs have less left to do.
        let u: f64 = rng.random_range(0.0..1.0);
        let wait = clean.mul_f64(u * u);
        std::thread::sleep(wait);
        let exited = child.try_wait().expect("try_wait");
        child.kill().expect("kill"); // SIGKILL on Unix
        let status = child.wait().expect("wait");
        match exited {
            // It had already finished ("already ingested" or the last chunks); it must have
            // succeeded.
            Some(s) => assert!(s.success(), "run {i} failed on its own: {s:?}"),
            None => killed += 1,
        }
        let stored = dtfhe_store::Store::open(&dir)
            .and_then(|s| s.chunks("lots"))
            .map_or(0, |c| c.len());
        eprintln!("run {i}: kill after {wait:?} ({status:?}), {stored} chunks stored");
    }
    eprintln!("{killed} of 20 runs were killed mid-way");
    assert!(
        killed >= 10,
        "only {killed} runs were killed before they finished"
    );

    let out = ingest(&dir, &schema, &data, "plant-a");
    eprintln!("final run: {out}");
    // Once more: nothing left to do.
    let again = ingest(&dir, &schema, &data, "plant-a");
    assert!(again.contains("already ingested"), "{again}");

    let store = dtfhe_store::Store::open(&dir).expect("store");
    let chunks = store.chunks("lots").expect("chunks");
    assert_eq!(chunks.len(), ROWS.div_ceil(8192));
    assert_eq!(chunks.iter().map(|c| c.rows as usize).sum::<usize>(), ROWS);
    let seqs: Vec<u64> = chunks.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (0..chunks.len() as u64).collect::<Vec<_>>());
    let report = store.verify().expect("verify");
    assert_eq!(report.chunks, chunks.len() as u64);
    drop(store);

    let count = ok([
        "query".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
        "SELECT COUNT(*) FROM lots".as_ref(),
    ]);
    assert_eq!(
        count.lines().nth(1).map(str::trim),
        Some("50000"),
        "{count}"
    );

    // The audit command, where this build has it.
    let audit = Command::new(BIN)
        .args(["audit", "verify", "--dir"])
        .arg(&dir)
        .output()
        .expect("run audit");
    let err = String::from_utf8_lossy(&audit.stderr);
    if !err.contains("unrecognized subcommand") {
        assert!(audit.status.success(), "audit verify failed: {err}");
    }
    eprintln!("kill-and-rerun test took {:?}", started.elapsed());
}
