//! The edge agent against a real OPC UA server (the PyPI `asyncua` package's server running
//! `tests/opcua/machine.py`, a simulated machine on a free loopback port): the values it
//! published come out of a networked query (platform + three trustee daemons) as released
//! aggregates equal to the plaintext the server wrote to its oracle file; the one bad-quality
//! value is counted and reported with its node id, never stored; the server stopped and
//! restarted mid-run (the agent reconnects and resubscribes) loses and duplicates nothing the
//! agent was subscribed to, nor does the platform stopped and restarted mid-run; with
//! security policy Basic256Sha256 (certificates made here with the `cryptography` package), SignAndEncrypt and
//! Sign release the same plaintext, and a server showing another certificate than the trusted
//! one is refused before anything is subscribed.
//!
//! The server's Python: `DTFHE_ASYNCUA_PYTHON`, else `target/venv-asyncua/bin/python`
//! (`scripts/ensure-asyncua.sh` makes it). Absent: skipped with a message, except under
//! CI=true where it fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::live::{required, test_script, wait_uploaded, LiveNet, Peer};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SCHEMA: &str = include_str!("schemas/spindle.toml");
const MAP: &str = include_str!("schemas/spindle_opcua.toml");
const NODE_VIB: &str = "ns=2;s=Machine.Vibration";

/// The virtualenv's python with `asyncua`, or `None` (skip) outside CI.
fn python() -> Option<PathBuf> {
    let found = std::env::var_os("DTFHE_ASYNCUA_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            Some(target.join("venv-asyncua/bin/python"))
        })
        .filter(|p| p.exists());
    required(
        found,
        "the OPC UA tests",
        "no asyncua virtualenv (run scripts/ensure-asyncua.sh, or set DTFHE_ASYNCUA_PYTHON)",
    )
}

/// The simulated machine: one `machine.py` process at a time on one port, all runs appending
/// to one oracle file.
struct Machine {
    python: PathBuf,
    peer: Peer,
    /// With a certificate (DER) and its key (PEM): Basic256Sha256 only.
    secured: Option<(PathBuf, PathBuf)>,
}

impl Machine {
    fn new(python: &Path, root: &Path) -> Machine {
        Machine {
            python: python.to_path_buf(),
            peer: Peer::new(root.join("machine"), "machine", free_port()),
            secured: None,
        }
    }

    fn oracle(&self) -> PathBuf {
        self.peer.dir.join("oracle.jsonl")
    }

    /// Starts a run publishing ticks `start .. start + ticks`, the vibration of `bad` bad.
    fn run(&mut self, start: u64, ticks: u64, bad: Option<u64>) {
        let _ = std::fs::remove_file(self.peer.dir.join("oracle.jsonl.status"));
        let mut c = Command::new(&self.python);
        c.arg(test_script("opcua/machine.py"))
            .arg(self.peer.port.to_string())
            .arg(self.oracle())
            .args(["--start", &start.to_string(), "--ticks", &ticks.to_string()])
            .args(["--period", "0.05", "--grace", "3"]);
        if let Some(b) = bad {
            c.args(["--bad-tick", &b.to_string()]);
        }
        if let Some((cert, key)) = &self.secured {
            c.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        self.peer.start(&mut c, Duration::from_secs(60));
    }

    fn done(&self) -> bool {
        std::fs::read_to_string(self.peer.dir.join("oracle.jsonl.status"))
            .is_ok_and(|s| s.contains("done"))
    }

    /// Waits until `done` holds for the machine (its log and the agent's in the failure).
    fn wait(&self, agent: &Proc, limit: Duration, what: &str, done: impl FnMut() -> bool) {
        poll_until(limit, done, || {
            format!("machine {what}: {}\n{}", self.peer.log(), agent.log())
        });
    }

    fn url(&self) -> String {
        format!("opc.tcp://127.0.0.1:{}/", self.peer.port)
    }

    /// Every tick published: (temp in 1/100, vibration in 1/10 or None when bad, parts).
    fn published(&self) -> Vec<(i64, Option<i64>, i64)> {
        let text = std::fs::read_to_string(self.oracle()).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["temp_c100"].as_i64().unwrap(),
                    v["vib_10"].as_i64(),
                    v["counter"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

struct Setup {
    live: LiveNet,
    machine: Machine,
}

fn setup(name: &str, python: &Path) -> Setup {
    let live = LiveNet::start(name, "spindle", SCHEMA, MAP);
    let machine = Machine::new(python, &live.net.root);
    Setup { live, machine }
}

impl Setup {
    fn agent(&self) -> Proc {
        self.live
            .agent("agent-opcua", &["--opcua", &self.machine.url()])
    }

    /// The released aggregates equal the plaintext of what the server published (the bad
    /// vibration value is not in COUNT(vibration) nor in its SUM).
    fn check_released(&self) {
        let published = self.machine.published();
        let sql = "SELECT COUNT(temp), SUM(temp), AVG(temp), COUNT(vibration), SUM(vibration), \
                   SUM(parts) FROM spindle";
        let o = dtfhe(self.live.net.query_args(sql));
        let got = success_json(&o, sql);
        assert_eq!(got.rows.len(), 1, "{}", got.to_table());
        let row = &got.rows[0];
        let n = published.len() as f64;
        let t100: i64 = published.iter().map(|p| p.0).sum();
        let vib: Vec<i64> = published.iter().filter_map(|p| p.1).collect();
        let parts: i64 = published.iter().map(|p| p.2).sum();
        assert_eq!(number(&row[0]), n, "COUNT(temp)");
        assert_close(number(&row[1]), t100 as f64 / 100.0, "SUM(temp)");
        assert_close(number(&row[2]), t100 as f64 / 100.0 / n, "AVG(temp)");
        assert_eq!(number(&row[3]), vib.len() as f64, "COUNT(vibration)");
        let vib_sum = vib.iter().sum::<i64>() as f64 / 10.0;
        assert_close(number(&row[4]), vib_sum, "SUM(vibration)");
        assert_eq!(number(&row[5]), parts as f64, "SUM(parts)");
    }
}

fn bad_reports(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with(&format!("bad quality on `{NODE_VIB}`")))
        .count()
}

#[test]
fn opcua_values_are_released_equal_to_the_plaintext() {
    let Some(py) = python() else { return };
    let mut s = setup("opcua_values", &py);
    s.machine.run(0, 60, Some(17));
    let agent = s.agent();
    let limit = Duration::from_secs(60);
    s.machine
        .wait(&agent, limit, "did not finish", || s.machine.done());
    let published = s.machine.published();
    assert_eq!(published.len(), 60);
    assert_eq!(published.iter().filter(|p| p.1.is_none()).count(), 1);
    wait_uploaded(&agent, published.len(), Duration::from_secs(90));
    let log = agent.log();
    assert_eq!(bad_reports(&log), 1, "{log}");
    // The bad value itself is in no log line.
    assert!(!log.contains("999.9"), "{log}");
    s.check_released();
    s.machine.peer.stop();
}

#[test]
fn opcua_server_restart_loses_and_duplicates_nothing_subscribed() {
    let Some(py) = python() else { return };
    let mut s = setup("opcua_outage", &py);
    s.machine.run(0, 400, Some(5));
    let agent = s.agent();
    // Mid-run: the server stops (a shutdown, not a crash) and comes back on the same port.
    let limit = Duration::from_secs(60);
    s.machine.wait(&agent, limit, "did not publish", || {
        s.machine.published().len() >= 30
    });
    s.machine.peer.stop();
    assert!(
        !s.machine.done(),
        "the first run finished before it was stopped"
    );
    let first = s.machine.published().len();
    s.machine.run(1000, 40, None);
    let limit = Duration::from_secs(90);
    s.machine
        .wait(&agent, limit, "did not finish", || s.machine.done());
    let published = s.machine.published();
    assert_eq!(published.len(), first + 40);
    wait_uploaded(&agent, published.len(), Duration::from_secs(90));
    let log = agent.log();
    assert!(log.contains("OPC UA connection lost"), "{log}");
    assert!(
        log.lines().filter(|l| l.starts_with("subscribed:")).count() >= 2,
        "{log}"
    );
    assert_eq!(bad_reports(&log), 1, "{log}");
    s.check_released();
    s.machine.peer.stop();
}

/// How long a phase of the tests below may take.
const MINUTE: Duration = Duration::from_secs(60);

/// A self-signed RSA-2048 certificate for `uri` (first subjectAltName; then 127.0.0.1 and
/// localhost) made by `tests/opcua/make_cert.py` with the `cryptography` package asyncua
/// depends on: (`name`.der, `name`.key.pem) in `dir`.
fn certificate(python: &Path, dir: &Path, name: &str, uri: &str) -> (PathBuf, PathBuf) {
    let made = Command::new(python)
        .arg(test_script("opcua/make_cert.py"))
        .args([dir.as_os_str(), name.as_ref(), uri.as_ref()])
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "make_cert.py {name} failed"
    );
    (
        dir.join(format!("{name}.der")),
        dir.join(format!("{name}.key.pem")),
    )
}

impl Setup {
    /// Rewrites the mapping with a `[security]` table: Basic256Sha256 in `mode`, the agent's
    /// `client` certificate and key, `server` the one trusted server certificate.
    fn secure_map(&self, mode: &str, client: &(PathBuf, PathBuf), server: &Path) {
        let table = format!(
            "\n[security]\npolicy = \"Basic256Sha256\"\nmode = \"{mode}\"\n\
             client_certificate = {:?}\nclient_private_key = {:?}\nserver_certificate = {:?}\n",
            client.0, client.1, server
        );
        std::fs::write(&self.live.map, format!("{MAP}{table}")).unwrap();
    }
}

#[test]
fn opcua_basic256sha256_releases_the_plaintext_and_refuses_an_untrusted_server() {
    let Some(py) = python() else { return };
    let mut s = setup("opcua_secure", &py);
    let pki = s.live.net.root.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let client = certificate(&py, &pki, "dtfhe-agent", "urn:dtfhe:agent");
    let server = certificate(&py, &pki, "machine", "urn:dtfhe:test-machine:server");
    // Same name and application URI as the machine, another key: what an impostor shows.
    let impostor = certificate(
        &py,
        &pki.join(".."),
        "machine",
        "urn:dtfhe:test-machine:server",
    );
    assert_ne!(
        std::fs::read(&server.0).unwrap(),
        std::fs::read(&impostor.0).unwrap()
    );
    s.secure_map("SignAndEncrypt", &client, &server.0);

    // 1. A server showing a certificate that is not the trusted one: refused before any
    //    subscription (its monitored-item wait never ends: it publishes only its first tick).
    let mut real = std::mem::replace(
        &mut s.machine,
        Machine::new(&py, &s.live.net.root.join("impostor")),
    );
    s.machine.secured = Some(impostor);
    s.machine.run(0, 40, None);
    let mut agent = s.agent();
    let status = agent.wait(Duration::from_secs(60));
    let log = agent.log();
    assert_eq!(status.code(), Some(4), "{log}");
    assert!(
        log.contains("is not the trusted server certificate")
            && log.contains("refusing to connect")
            && log.contains(&s.machine.url()),
        "{log}"
    );
    assert!(!log.contains("subscribed:"), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        s.machine.published().len(),
        1,
        "the impostor had a subscriber"
    );
    s.machine.peer.stop();

    // 2. The real machine, SignAndEncrypt: released equal to what it published.
    std::mem::swap(&mut s.machine, &mut real);
    s.machine.secured = Some(server.clone());
    s.machine.run(0, 40, Some(11));
    let mut agent = s.agent();
    agent.wait_until("saw no end of the machine's run", MINUTE, || {
        s.machine.done()
    });
    wait_uploaded(&agent, s.machine.published().len(), 2 * MINUTE);
    let log = agent.log();
    assert_eq!(bad_reports(&log), 1, "{log}");
    let secured = "secured endpoint: Basic256Sha256 SignAndEncrypt, server certificate CN=machine";
    assert!(log.contains(secured), "{log}");
    s.check_released();
    agent.kill();
    s.machine.peer.stop();

    // 3. Sign only (signed, not encrypted), the same agent spool: the sums go on.
    s.secure_map("Sign", &client, &server.0);
    s.machine.run(1000, 30, None);
    let agent = s.agent();
    agent.wait_until("saw no end of the machine's run", MINUTE, || {
        s.machine.done()
    });
    wait_uploaded(&agent, s.machine.published().len(), 2 * MINUTE);
    assert!(
        agent
            .log()
            .contains("secured endpoint: Basic256Sha256 Sign, server"),
        "{}",
        agent.log()
    );
    s.check_released();
    s.machine.peer.stop();
    assert_eq!(s.machine.published().len(), 70, "two runs of 40 and 30");
}

#[test]
fn opcua_platform_outage_loses_and_duplicates_nothing_received() {
    let Some(py) = python() else { return };
    let mut s = setup("opcua_platform_outage", &py);
    let ticks = 300; // 15 s at 20 per second, the 10th with a bad vibration
    s.machine.run(0, ticks, Some(9));
    let agent = s.agent();
    agent.wait_until("saw 30 ticks published", MINUTE, || {
        s.machine.published().len() >= 30
    });
    // The platform goes away for a few windows: they wait in the spool, values go on being
    // taken; then it comes back on the same port with the same store.
    s.live.net.platform.kill();
    let at_kill = s.machine.published().len();
    agent.wait_until("logged no outage", MINUTE, || {
        s.machine.published().len() >= at_kill + 80
            && agent.log().contains("the platform is unreachable")
    });
    s.live.net.restart_platform();
    agent.wait_until("saw no end of the machine's run", 2 * MINUTE, || {
        s.machine.done()
    });
    let published = s.machine.published();
    assert_eq!(published.len() as u64, ticks);
    wait_uploaded(&agent, published.len(), 2 * MINUTE);
    assert_eq!(bad_reports(&agent.log()), 1, "{}", agent.log());
    s.check_released();
    s.machine.peer.stop();
}
