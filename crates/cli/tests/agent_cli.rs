//! The `dtfhe agent`, `dtfhe identity` and `dtfhe admin` commands as processes against a
//! platform server in this test's process: exit codes and summary lines.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use dtfhe_testkit::platform::{closed_url, Platform};

const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";

fn dtfhe(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dtfhe"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn agent_exit_codes_and_summaries() {
    let tmp = tempfile::tempdir().unwrap();
    let root_id = tmp.path().join("root.id");
    let (code, root_key, _) = dtfhe(&["identity", "new", "--name", "root", "--out", p(&root_id)]);
    assert_eq!(code, 0);
    let root_key = root_key.trim().to_string();
    assert!(root_key.starts_with("ed25519:"));
    // Never overwritten.
    let (code, _, err) = dtfhe(&["identity", "new", "--name", "root", "--out", p(&root_id)]);
    assert_eq!(code, 2, "{err}");

    let platform =
        Platform::deployed_with_admin(&["plant-a"], dtfhe_api::Identity::load(&root_id).unwrap());
    platform.attest("plant-a");
    let (state, base) = (&platform.state, platform.base.as_str());
    let closed = closed_url();

    let src_id = tmp.path().join("src.id");
    let (_, src_key, _) = dtfhe(&["identity", "new", "--name", "src-a", "--out", p(&src_id)]);
    let (code, out, err) = dtfhe(&[
        "admin",
        "register",
        "--server",
        base,
        "--identity",
        p(&root_id),
        "--name",
        "src-a",
        "--role",
        "source",
        "--public-key",
        src_key.trim(),
        "--datasets",
        "runs",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("registered `src-a` as source"), "{out}");
    // A source cannot register anyone: refused (exit 4), logged by the server.
    let (code, _, err) = dtfhe(&[
        "admin",
        "register",
        "--server",
        base,
        "--identity",
        p(&src_id),
        "--name",
        "x",
        "--role",
        "admin",
        "--public-key",
        src_key.trim(),
    ]);
    assert_eq!(code, 4, "{err}");

    let schema = tmp.path().join("runs.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let good = tmp.path().join("good.csv");
    std::fs::write(&good, "line,torque\nL1,10.5\nL2,20.5\n").unwrap();
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "line,torque\nL1,10.5\nL2,500\n").unwrap();
    let spool = tmp.path().join("spool");
    let agent = |server: &str, csv: &Path| {
        dtfhe(&[
            "agent",
            "--server",
            server,
            "--identity",
            p(&src_id),
            "--schema",
            p(&schema),
            "--csv",
            p(csv),
            "--spool",
            p(&spool),
            "--max-retry-seconds",
            "1",
        ])
    };

    // Bad input: exit 3, nothing spooled or sent.
    let (code, _, err) = agent(base, &bad);
    assert_eq!(code, 3, "{err}");
    assert!(
        !err.contains("500"),
        "the rejected value is not echoed: {err}"
    );
    // Platform down and no cached deployment: exit 1.
    let (code, _, err) = agent(&closed, &good);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unreachable"), "{err}");
    // Online: one summary line.
    let (code, out, err) = agent(base, &good);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("2 rows into `runs`: 1 chunks uploaded"),
        "{out}"
    );
    let (code, out, _) = agent(base, &good);
    assert_eq!(code, 0);
    assert!(out.contains("already stored"), "{out}");
    assert_eq!(state.store.lock().unwrap().chunks("runs").unwrap().len(), 1);
}
