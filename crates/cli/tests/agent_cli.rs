//! The `dtfhe agent`, `dtfhe identity` and `dtfhe admin` commands as processes against a
//! platform server in this test's process: exit codes and summary lines.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use dtfhe_crypto::{ceremony, codec};
use dtfhe_server::{AppState, ServeOptions};
use dtfhe_store::{Deployment, Store};

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
    let dir = tmp.path().join("platform");
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    {
        let mut rng = rand::rng();
        let shares = vec![ceremony::new_share(&params, &mut rng)];
        let keys = ceremony::run(&params, &shares, &mut rng).unwrap();
        Store::create(&dir)
            .unwrap()
            .put_deployment(&Deployment {
                preset: "bfv-8192".into(),
                trustees: vec!["plant-a".into()],
                min_group_size: 2,
                public_key: codec::encode_public_key(&params, &keys.public),
                relin_key: codec::encode_relin_key(&params, &keys.relin),
                created_at: "0".into(),
            })
            .unwrap();
    }
    let root_id = tmp.path().join("root.id");
    let (code, root_key, _) = dtfhe(&["identity", "new", "--name", "root", "--out", p(&root_id)]);
    assert_eq!(code, 0);
    let root_key = root_key.trim().to_string();
    assert!(root_key.starts_with("ed25519:"));
    // Never overwritten.
    let (code, _, err) = dtfhe(&["identity", "new", "--name", "root", "--out", p(&root_id)]);
    assert_eq!(code, 2, "{err}");

    let state = Arc::new(
        AppState::open(ServeOptions {
            store: Default::default(),
            dir: dir.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: Some(("root".into(), root_key)),
            trustees: vec!["plant-a".into()],
            min_group_size: 2,
            preset: "bfv-8192".into(),
        })
        .unwrap(),
    );
    common::attest_deployment(&state, &dir, "plant-a");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = dtfhe_server::app(state.clone());
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };

    let src_id = tmp.path().join("src.id");
    let (_, src_key, _) = dtfhe(&["identity", "new", "--name", "src-a", "--out", p(&src_id)]);
    let (code, out, err) = dtfhe(&[
        "admin",
        "register",
        "--server",
        &base,
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
        &base,
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
    let (code, _, err) = agent(&base, &bad);
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
    let (code, out, err) = agent(&base, &good);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("2 rows into `runs`: 1 chunks uploaded"),
        "{out}"
    );
    let (code, out, _) = agent(&base, &good);
    assert_eq!(code, 0);
    assert!(out.contains("already stored"), "{out}");
    assert_eq!(state.store.lock().unwrap().chunks("runs").unwrap().len(), 1);
}
