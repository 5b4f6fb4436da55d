//! A networked deployment of real `dtfhe` processes for the tests: a `serve` platform, three
//! `trustee` daemons, the edge `agent`s that upload, and the analyst's `query --server`.
#![allow(dead_code)]

use super::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The trustees of [`network`].
pub const TRUSTEES: [&str; 3] = ["a", "b", "c"];

/// A running networked deployment (k = 5, bfv-8192): `plant-a` has uploaded AI4I rows
/// 1..=297 and `tiny` rows 298..=300 (fewer than k); analyst `ana` holds the grant.
pub struct Net {
    /// The test's directory (identities, logs, CSV files, trustee directories).
    pub root: PathBuf,
    /// The platform's URL.
    pub url: String,
    /// The platform process.
    pub platform: Proc,
    /// The trustee daemons, in [`TRUSTEES`] order.
    pub trustees: Vec<Proc>,
}

impl Net {
    /// An identity file of the test.
    pub fn id(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.id"))
    }

    /// A trustee's own directory.
    pub fn trustee_dir(&self, name: &str) -> PathBuf {
        self.root.join("trustees").join(name)
    }

    /// The arguments of `dtfhe query --server ... --format json` (waiting up to 120 s).
    pub fn query_args(&self, sql: &str) -> Vec<std::ffi::OsString> {
        self.query_args_waiting(sql, 120)
    }

    /// The arguments of `dtfhe query --server ... --format json`, waiting up to `seconds`
    /// for the trustees.
    pub fn query_args_waiting(&self, sql: &str, seconds: u64) -> Vec<std::ffi::OsString> {
        vec![
            "query".into(),
            "--server".into(),
            self.url.clone().into(),
            "--identity".into(),
            self.id("ana").into(),
            "--timeout".into(),
            seconds.to_string().into(),
            "--format".into(),
            "json".into(),
            sql.into(),
        ]
    }
}

/// The query id from the analyst's progress line ("query N accepted by the platform").
pub fn query_id(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("query ")?
                .split_once(" accepted by the platform")?
                .0
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no query id in {stderr}"))
}

/// `dtfhe identity new`; returns the public key.
pub fn identity(root: &Path, name: &str) -> String {
    let out = root.join(format!("{name}.id"));
    ok([
        "identity".as_ref(),
        "new".as_ref(),
        "--name".as_ref(),
        name.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ] as [&std::ffi::OsStr; 6])
    .trim()
    .to_string()
}

/// Starts the platform, registers everyone, runs the key ceremony with trustee daemons
/// started with `trustee_flags` (their local disclosure policy), and uploads the two sources.
pub fn network(name: &str, trustee_flags: &[&str]) -> Net {
    let net = start(
        name,
        "bfv-8192",
        trustee_flags,
        &[
            ("ana", "analyst", "ai4i,production_runs"),
            ("plant-a", "source", "ai4i,production_runs"),
            ("tiny", "source", "ai4i"),
        ],
    );
    let ai4i = repo().join("schemas/ai4i.toml");
    let runs = repo().join("schemas/production_runs.toml");
    for (source, schema, csv_text, file) in [
        ("plant-a", &ai4i, ai4i_slice(0, 297), "plant-a.csv"),
        ("tiny", &ai4i, ai4i_slice(297, 300), "tiny.csv"),
        (
            "plant-a",
            &runs,
            dtfhe_agent::mes::production_runs(60, 7),
            "plant-a-runs.csv",
        ),
    ] {
        let csv = net.root.join(file);
        std::fs::write(&csv, csv_text).expect("write");
        let log = net.upload(source, schema, &csv);
        assert!(log.is_ok(), "{}", log.unwrap_err());
    }
    net
}

impl Net {
    /// `dtfhe agent --csv` as `source` (waits up to 120 s): the agent's log on failure.
    pub fn upload(&self, source: &str, schema: &Path, csv: &Path) -> Result<String, String> {
        let p = |x: &Path| x.to_str().expect("utf-8 path").to_string();
        let id = p(&self.id(source));
        let mut agent = Proc::spawn(
            &self.root,
            &format!("agent-{source}"),
            &[
                "agent",
                "--server",
                &self.url,
                "--identity",
                &id,
                "--schema",
                &p(schema),
                "--csv",
                &p(csv),
                "--max-retry-seconds",
                "60",
            ],
        );
        let status = agent.wait(Duration::from_secs(120));
        if status.success() {
            Ok(agent.log())
        } else {
            Err(agent.log())
        }
    }
}

/// Starts the platform (k = 5, parameter `preset`), registers the trustees and `parties`
/// (name, role, datasets), and runs the key ceremony with trustee daemons started with
/// `trustee_flags`. Nothing is uploaded.
pub fn start(
    name: &str,
    preset: &str,
    trustee_flags: &[&str],
    parties: &[(&str, &str, &str)],
) -> Net {
    let root = fresh_dir(name);
    let url = format!("http://127.0.0.1:{}", free_port());
    let listen = url.trim_start_matches("http://").to_string();
    let admin = format!("root={}", identity(&root, "root"));
    let platform_dir = root.join("platform");
    let p = |x: &Path| x.to_str().expect("utf-8 path").to_string();
    let platform = Proc::spawn(
        &root,
        "serve",
        &[
            "serve",
            "--dir",
            &p(&platform_dir),
            "--listen",
            &listen,
            "--admin",
            &admin,
            "--trustees",
            &TRUSTEES.join(","),
            "--min-group-size",
            "5",
            "--preset",
            preset,
        ],
    );
    wait_for_platform(&url, false, Duration::from_secs(30), || platform.log());
    let root_id = p(&root.join("root.id"));
    let register = |who: &str, role: &str, datasets: &str| {
        let key = identity(&root, who);
        let mut args = vec![
            "admin",
            "register",
            "--server",
            &url,
            "--identity",
            &root_id,
            "--name",
            who,
            "--role",
            role,
            "--public-key",
            &key,
        ];
        if !datasets.is_empty() {
            args.extend(["--datasets", datasets]);
        }
        ok(args);
    };
    for t in TRUSTEES {
        register(t, "trustee", "");
    }
    for (who, role, datasets) in parties {
        register(who, role, datasets);
    }
    let trustees: Vec<Proc> = TRUSTEES
        .iter()
        .map(|t| {
            let dir = p(&root.join("trustees").join(t));
            let id = p(&root.join(format!("{t}.id")));
            let mut args = vec![
                "trustee",
                "--dir",
                &dir,
                "--server",
                &url,
                "--identity",
                &id,
                "--poll-ms",
                "100",
            ];
            args.extend(trustee_flags);
            Proc::spawn(&root, &format!("trustee-{t}"), &args)
        })
        .collect();
    wait_for_platform(&url, true, Duration::from_secs(180), || {
        trustees
            .iter()
            .map(Proc::log)
            .collect::<Vec<_>>()
            .join("\n")
    });
    Net {
        root,
        url,
        platform,
        trustees,
    }
}
