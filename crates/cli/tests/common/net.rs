//! A networked deployment of real `dtfhe` processes for the tests: a `serve` platform, three
//! `trustee` daemons (or any number, with a threshold: [`start_quorum`]), the edge `agent`s
//! that upload, and the analyst's `query --server`.
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
    /// The arguments it was started with (for [`Net::restart_platform`]).
    pub platform_args: Vec<String>,
    /// The trustee daemons, in [`Net::names`] order.
    pub trustees: Vec<Proc>,
    /// The trustees' names ([`TRUSTEES`] unless started by [`start_quorum`]).
    pub names: Vec<String>,
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

/// The parties [`network`] registers besides the trustees: (name, role, datasets).
pub const NETWORK_PARTIES: [(&str, &str, &str); 3] = [
    ("ana", "analyst", "ai4i,production_runs"),
    ("plant-a", "source", "ai4i,production_runs"),
    ("tiny", "source", "ai4i"),
];

/// Starts the platform, registers everyone, runs the key ceremony with trustee daemons
/// started with `trustee_flags` (their local disclosure policy), and uploads the two sources.
pub fn network(name: &str, trustee_flags: &[&str]) -> Net {
    let net = start(name, "bfv-8192", trustee_flags, &NETWORK_PARTIES);
    net.upload_sources();
    net
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
    start_of(platform(name, preset, parties), trustee_flags)
}

/// Starts the trustee daemons of `net` (with `trustee_flags`) and waits for the key
/// ceremony (and the dealing, with a threshold).
fn start_of(mut net: Net, trustee_flags: &[&str]) -> Net {
    net.trustees = net
        .names
        .iter()
        .map(|t| net.start_trustee(t, trustee_flags))
        .collect();
    net.wait_ready(Duration::from_secs(180));
    net
}

/// A t-of-n deployment (bfv-8192, k = 5, [`NETWORK_PARTIES`] registered, nothing uploaded):
/// `dtfhe serve --trustees <trustees> --threshold <threshold>`, one daemon per trustee, the
/// key ceremony and the dealing done.
pub fn start_quorum(name: &str, trustees: &[&str], threshold: usize) -> Net {
    let t = threshold.to_string();
    let net = platform_of(
        name,
        "bfv-8192",
        &NETWORK_PARTIES,
        trustees,
        &["--threshold", &t],
    );
    start_of(net, &["--threshold", &t])
}

/// The platform of [`start`] with the trustees and `parties` registered, before any trustee
/// runs: for tests that run the key ceremony their own way ([`Net::start_trustee`],
/// [`Net::restart_platform`], [`Net::wait_ready`]).
pub fn platform(name: &str, preset: &str, parties: &[(&str, &str, &str)]) -> Net {
    platform_of(name, preset, parties, &TRUSTEES, &[])
}

/// [`platform`] with these `trustees` and `extra` arguments of `dtfhe serve`.
pub fn platform_of(
    name: &str,
    preset: &str,
    parties: &[(&str, &str, &str)],
    trustees: &[&str],
    extra: &[&str],
) -> Net {
    let root = fresh_dir(name);
    let url = format!("http://127.0.0.1:{}", free_port());
    let listen = url.trim_start_matches("http://").to_string();
    let admin = format!("root={}", identity(&root, "root"));
    let platform_dir = root.join("platform");
    let platform_args: Vec<String> = [
        "serve",
        "--dir",
        &p(&platform_dir),
        "--listen",
        &listen,
        "--admin",
        &admin,
        "--trustees",
        &trustees.join(","),
        "--min-group-size",
        "5",
        "--preset",
        preset,
    ]
    .iter()
    .chain(extra)
    .map(|a| a.to_string())
    .collect();
    let platform = serve(&root, &url, &platform_args);
    let register =
        |who: &str, role: &str, datasets: &str| register_party(&root, &url, who, role, datasets);
    for t in trustees {
        register(t, "trustee", "");
    }
    for (who, role, datasets) in parties {
        register(who, role, datasets);
    }
    Net {
        root,
        url,
        platform,
        platform_args,
        trustees: Vec::new(),
        names: trustees.iter().map(|t| t.to_string()).collect(),
    }
}

/// Prints, as `figure: <line>`, every line of `log` that holds one of `marks` (the
/// figures a test reports: set-up and re-sharing times, bytes).
pub fn print_figures(log: &str, marks: &[&str]) {
    for l in log.lines().filter(|l| marks.iter().any(|m| l.contains(m))) {
        println!("figure: {l}");
    }
}

/// A fresh identity `who` (file `<root>/<who>.id`) registered by `root` at the platform
/// `url` with `role` (and `datasets`, comma-separated, if any).
pub fn register_party(root: &Path, url: &str, who: &str, role: &str, datasets: &str) {
    let key = identity(root, who);
    let root_id = p(&root.join("root.id"));
    let mut args = vec![
        "admin",
        "register",
        "--server",
        url,
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
}

fn p(x: &Path) -> String {
    x.to_str().expect("utf-8 path").to_string()
}

/// `dtfhe serve` with `args`, once it answers its health check.
fn serve(root: &Path, url: &str, args: &[String]) -> Proc {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let platform = Proc::spawn(root, "serve", &args);
    wait_for_platform(url, false, Duration::from_secs(30), || platform.log());
    platform
}

impl Net {
    /// `dtfhe agent --csv` as `source` (waits up to 120 s): the agent's log on failure.
    pub fn upload(&self, source: &str, schema: &Path, csv: &Path) -> Result<String, String> {
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

    /// The uploads of [`network`]: `plant-a` AI4I rows 1..=297 and 60 production runs,
    /// `tiny` AI4I rows 298..=300 (see [`Net::released`]).
    pub fn upload_sources(&self) {
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
            let csv = self.root.join(file);
            std::fs::write(&csv, csv_text).expect("write");
            if let Err(log) = self.upload(source, schema, &csv) {
                panic!("{source}: upload failed: {log}");
            }
        }
    }

    /// `dtfhe admin <command> --server URL --identity root <args>`: (success, stdout, stderr).
    pub fn admin(&self, command: &str, args: &[&str]) -> (bool, String, String) {
        let root = p(&self.id("root"));
        let mut all = vec!["admin", command, "--server", &self.url, "--identity", &root];
        all.extend(args);
        let o = crate::common::dtfhe(all);
        let (out, err) = crate::common::texts(&o);
        (o.status.success(), out, err)
    }

    /// Starts the trustee daemon `t` (its directory under `trustees/`, polling every 100 ms)
    /// against the platform; its log is `trustee-<t>.log` (appended on a restart).
    pub fn start_trustee(&self, t: &str, flags: &[&str]) -> Proc {
        self.start_trustee_via(t, &self.url, flags)
    }

    /// [`Net::start_trustee`] talking to the platform at `url` (e.g. through a relay).
    pub fn start_trustee_via(&self, t: &str, url: &str, flags: &[&str]) -> Proc {
        self.start_trustee_polling(t, url, 100, flags)
    }

    /// [`Net::start_trustee_via`] polling the platform every `poll_ms` milliseconds.
    pub fn start_trustee_polling(&self, t: &str, url: &str, poll_ms: u64, flags: &[&str]) -> Proc {
        let dir = p(&self.trustee_dir(t));
        let id = p(&self.id(t));
        let poll = poll_ms.to_string();
        let mut args = vec![
            "trustee",
            "--dir",
            &dir,
            "--server",
            url,
            "--identity",
            &id,
            "--poll-ms",
            &poll,
        ];
        args.extend(flags);
        Proc::spawn(&self.root, &format!("trustee-{t}"), &args)
    }

    /// Kills the platform and starts it again with the same directory and arguments (it
    /// keeps its store and the ceremony's seed, and forgets what is only in memory).
    pub fn restart_platform(&mut self) {
        self.platform.kill();
        self.platform = serve(&self.root, &self.url, &self.platform_args);
    }

    /// Waits until the key ceremony is over and the deployment ready (panics with the
    /// trustees' logs after `limit`).
    pub fn wait_ready(&self, limit: Duration) {
        wait_for_platform(&self.url, true, limit, || {
            self.trustees
                .iter()
                .map(Proc::log)
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    /// Runs `sql` with `dtfhe query --server`, requires a release equal to the plaintext
    /// evaluation over `parts` (CSV text, source) read with `schemas/<schema>.toml`; returns
    /// the query id.
    pub fn released_on(&self, sql: &str, schema: &str, parts: &[(String, &str)]) -> u64 {
        let o = dtfhe(self.query_args(sql));
        let (out, err) = texts(&o);
        assert!(o.status.success(), "{sql}: {err}");
        let path = repo().join(format!("schemas/{schema}.toml"));
        let text = std::fs::read_to_string(path).expect("schema");
        let schema = Schema::from_toml_str(&text, schema).expect("schema");
        let mut rows = Vec::new();
        for (csv, source) in parts {
            rows.extend(reference::plain_rows(csv.as_bytes(), &schema, source).expect("rows"));
        }
        let plain = reference::evaluate(&schema, sql, &rows).expect("plaintext");
        let mut got = parse_json(&out);
        got.decimals = plain.decimals.clone();
        if let Err(e) = reference::check(&got, &plain) {
            panic!(
                "`{sql}`: {e}\nreleased: {:?}\nplaintext: {:?}",
                got.rows, plain.rows
            );
        }
        query_id(&err)
    }

    /// The trustees whose log says they approved release `id` (waits up to 10 s for `want`
    /// of them).
    pub fn approvers(&self, id: u64, want: usize) -> Vec<String> {
        let line = format!(": release {id}: approved");
        let started = std::time::Instant::now();
        loop {
            let found: Vec<String> = self
                .names
                .iter()
                .filter(|t| {
                    std::fs::read_to_string(self.root.join(format!("trustee-{t}.log")))
                        .unwrap_or_default()
                        .contains(&line)
                })
                .cloned()
                .collect();
            if found.len() >= want || started.elapsed() > Duration::from_secs(10) {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Net::released_on`] over the AI4I rows [`Net::upload_sources`] sends.
    pub fn released(&self, sql: &str) -> u64 {
        let parts = [
            (ai4i_slice(0, 297), "plant-a"),
            (ai4i_slice(297, 300), "tiny"),
        ];
        self.released_on(sql, "ai4i", &parts)
    }
}

/// A TCP relay on loopback in front of the platform that passes what a client sends at
/// `bytes_per_second` (a slow uplink; answers come back at full speed), so that a large
/// upload stays in flight for seconds and the test can kill its sender mid-upload. Stops
/// relaying when dropped.
pub struct SlowLink {
    /// The relay's URL, to give the client instead of the platform's.
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SlowLink {
    /// Starts relaying to the platform at `target` (`http://host:port`).
    pub fn start(target: &str, bytes_per_second: usize) -> SlowLink {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let url = format!("http://{}", listener.local_addr().expect("relay address"));
        listener.set_nonblocking(true).expect("nonblocking accept");
        let target = target.trim_start_matches("http://").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        // Sends `from` to `to` in slices of `slice` bytes every 50 ms (or at once with
        // `None`); closes the other direction when `from` ends.
        let pipe = |mut from: TcpStream, mut to: TcpStream, slice: Option<usize>| {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; slice.unwrap_or(64 << 10)];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if slice.is_some() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            });
        };
        let slice = (bytes_per_second / 20).max(1);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                            continue;
                        };
                        pipe(client, server, Some(slice));
                        pipe(s2, c2, None);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        SlowLink { url, stop }
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
