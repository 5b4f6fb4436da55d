//! `dtfhe bench load` through the real binary, at a small size: a server process, three
//! trustee processes, 3 agents, 2 analysts. It exits 0, prints every figure of the table,
//! every released result equals the plaintext, every chunk is stored once, and no process it
//! started outlives it.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_small_load_test_runs_and_prints_its_figures() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_dtfhe"))
        .args([
            "bench",
            "load",
            "--agents",
            "3",
            "--analysts",
            "2",
            "--chunks-per-agent",
            "1",
            "--queries-per-analyst",
            "1",
            "--deadline-seconds",
            "170",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    assert!(started.elapsed() < Duration::from_secs(180));
    for figure in [
        "ingest: chunks/s",
        "ingest: encrypted values/s",
        "encryption alone",
        "query latency p50 / p99 / max (s)",
        "queries/s",
        "server memory: peak VmHWM / VmRSS at end (MB)",
        "largest trustee peak VmHWM (MB)",
        "wall time",
    ] {
        assert!(stdout.contains(figure), "no `{figure}` in\n{stdout}");
    }
    let row = |name: &str| -> String {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.rsplit('|').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(row("chunks uploaded / stored"), "3 / 3", "{stdout}");
    assert_eq!(row("agent errors / retries").split(" / ").next(), Some("0"));
    assert_eq!(
        row("released results equal plaintext"),
        "2 of 2",
        "{stdout}"
    );
    let p50: f64 = row("query latency p50")
        .split(" / ")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(p50 > 0.0, "{stdout}");
    if cfg!(target_os = "linux") {
        let peak = row("server memory: peak");
        let hwm: f64 = peak.split(" / ").next().unwrap().parse().unwrap();
        assert!(hwm > 1.0, "{stdout}");
    }
    assert!(stdout.contains("2 releases: OK"), "{stdout}");
    // Names and figures only: no generated value is printed (the table has no CSV text).
    assert!(!stdout.contains("line,x,y") && !stderr.contains("line,x,y"));
}

#[test]
fn bad_sizes_are_usage_errors_and_start_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_dtfhe"))
        .args(["bench", "load", "--agents", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_dtfhe"))
        .args(["bench", "load", "--rows-per-chunk", "9000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The plain `dtfhe bench` flags still parse beside the subcommand.
    let out = Command::new(env!("CARGO_BIN_EXE_dtfhe"))
        .args(["bench", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--quick") && help.contains("load"), "{help}");
}

#[test]
fn a_passed_deadline_stops_everything_with_exit_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_dtfhe"))
        .args([
            "bench",
            "load",
            "--agents",
            "2",
            "--analysts",
            "1",
            "--queries-per-analyst",
            "50",
            "--deadline-seconds",
            // Passes during the key ceremony (which takes a few seconds), whatever the load.
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deadline passed"), "{stderr}");
    assert!(stderr.contains("every process was stopped"), "{stderr}");
}
