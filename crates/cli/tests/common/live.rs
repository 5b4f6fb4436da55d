//! What the live-source tests share (MQTT against a Mosquitto broker, OPC UA against the
//! asyncua machine): the peer found or skipped, the peer process on a loopback port, the
//! networked deployment with the schema and mapping written, the agent's command line, and
//! waiting until the agent's windows hold every published row and are uploaded.

use super::net::{start, Net};
use super::Proc;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `found` as it is; when `None`, a failure under CI=true (the test script must provide the
/// peer) and elsewhere a message that `what` is skipped, with `hint` on how to provide it.
pub fn required<T>(found: Option<T>, what: &str, hint: &str) -> Option<T> {
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{what} cannot run under CI: {hint}"
        );
        eprintln!("SKIPPED: {what}: {hint}");
    }
    found
}

/// A peer process (a broker, a machine's server) listening on a loopback port, its output
/// appended to `<dir>/<name>.log` across restarts, killed when dropped.
pub struct Peer {
    /// Its directory (configuration, data, log).
    pub dir: PathBuf,
    /// Its loopback port.
    pub port: u16,
    name: &'static str,
    child: Option<Child>,
}

impl Peer {
    /// A peer named `name` in `dir` (created) on `port`, not started.
    pub fn new(dir: PathBuf, name: &'static str, port: u16) -> Peer {
        std::fs::create_dir_all(&dir).expect("peer directory");
        Peer {
            dir,
            port,
            name,
            child: None,
        }
    }

    /// Starts `cmd` and waits (at most `limit`) until it listens on the port.
    pub fn start(&mut self, cmd: &mut Command, limit: Duration) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", self.name)))
            .expect("peer log");
        let child = cmd
            .stdout(log.try_clone().expect("peer log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < limit,
                "{} did not listen: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// Stops it as a shutdown does (SIGTERM), and waits for it: at most 30 s, then it is
    /// killed (a peer whose own shutdown stalls must not hang the test run).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let started = Instant::now();
            while matches!(c.try_wait(), Ok(None)) {
                if started.elapsed() > Duration::from_secs(30) {
                    eprintln!("{} ignored SIGTERM for 30 s; killed", self.name);
                    let _ = c.kill();
                    let _ = c.wait();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A networked deployment (platform + trustees, bfv-8192) for one live source: analyst `ana`
/// and source `edge-1` hold grants on the dataset, whose schema and mapping are written.
pub struct LiveNet {
    /// The deployment.
    pub net: Net,
    /// The dataset's schema file.
    pub schema: PathBuf,
    /// The mapping file.
    pub map: PathBuf,
    /// The agent's spool.
    pub spool: PathBuf,
}

impl LiveNet {
    /// Starts the deployment `name` for `dataset`, writing `schema` and the mapping `map`.
    pub fn start(name: &str, dataset: &str, schema: &str, map: &str) -> LiveNet {
        let net = start(
            name,
            "bfv-8192",
            &[],
            &[("ana", "analyst", dataset), ("edge-1", "source", dataset)],
        );
        let schema_path = net.root.join(format!("{dataset}.toml"));
        std::fs::write(&schema_path, schema).expect("write the schema");
        let map_path = net.root.join(format!("{dataset}.map.toml"));
        std::fs::write(&map_path, map).expect("write the mapping");
        let spool = net.root.join("edge-1.spool");
        LiveNet {
            net,
            schema: schema_path,
            map: map_path,
            spool,
        }
    }

    /// Starts `dtfhe agent` for `edge-1` with the source's own flags (`--mqtt URL ...`), the
    /// mapping, the spool and windows of 1.5 s or 40 rows; its log is `<name>.log`.
    pub fn agent(&self, name: &str, source: &[&str]) -> Proc {
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--server".into(),
            self.net.url.clone(),
            "--identity".into(),
            self.net.id("edge-1").display().to_string(),
            "--schema".into(),
            self.schema.display().to_string(),
            "--map".into(),
            self.map.display().to_string(),
            "--spool".into(),
            self.spool.display().to_string(),
        ];
        args.extend(source.iter().map(|s| s.to_string()));
        args.extend(["--window", "1.5", "--window-rows", "40"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Proc::spawn(&self.net.root, name, &args)
    }
}

/// Waits (at most `limit`) until the agent has spooled windows holding `rows` rows in all
/// and uploaded each; more rows than that is a failure at once.
pub fn wait_uploaded(agent: &Proc, rows: usize, limit: Duration) {
    let started = Instant::now();
    loop {
        let log = agent.log();
        let mut windows: BTreeMap<u64, usize> = BTreeMap::new();
        let mut uploaded = BTreeSet::new();
        for l in log.lines() {
            if let Some(rest) = l.strip_prefix("window seq ") {
                let (seq, rest) = rest.split_once(": ").expect("window line");
                let n = rest.split_once(' ').expect("window line").0;
                windows.insert(
                    seq.parse().expect("window seq"),
                    n.parse().expect("window rows"),
                );
            } else if let Some(seq) = l
                .strip_prefix("seq ")
                .and_then(|r| r.strip_suffix(" uploaded"))
            {
                uploaded.insert(seq.parse::<u64>().expect("uploaded seq"));
            }
        }
        let total: usize = windows.values().sum();
        assert!(total <= rows, "{total} rows taken, {rows} published: {log}");
        if total == rows && windows.keys().all(|s| uploaded.contains(s)) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{total} of {rows} rows in windows, uploaded {uploaded:?} of {:?}: {log}",
            windows.keys()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The root of this package's tests' peers' scripts (`tests/<sub>`).
pub fn test_script(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}
