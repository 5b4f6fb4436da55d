//! The networked deployment end to end, every role its own `dtfhe` process: `serve`, three
//! `trustee` daemons (key ceremony, then reviews), two edge `agent`s, the analyst's
//! `query --server`, `audit verify --server`. Fault cases: a trustee down (the analyst times
//! out naming it, nothing released; restarted, it catches up), a trustee refusing (its local
//! policy), the server restarted while an agent ingests (no chunk lost or duplicated), forged
//! requests (unregistered identity, no grant).
#![allow(clippy::unwrap_used)]

mod common;

use common::{files_under, free_port, wait_for_platform, Proc};
use dtfhe_testkit::pg::{self, PgDb};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dtfhe_api::types::{ChunkInfo, Health};
use dtfhe_api::Client;
use dtfhe_engine::plaintext::{self, PlainRow};
use dtfhe_engine::Catalog;
use dtfhe_model::{Schema, Value};

const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 2\nmin = -1000\nmax = 1000\n\n[[columns]]\nname = \"rpm\"\nkind = \"encrypted\"\nscale = 0\nmin = 0\nmax = 3000\n";
const SQL: &str =
    "SELECT line, COUNT(*), SUM(torque), AVG(torque), AVG(rpm) FROM runs GROUP BY line";
const TRUSTEES: [&str; 3] = ["plant-a", "plant-b", "plant-c"];
/// A torque value (scale 2) and an rpm value (scale 0) that occur only in the marker row.
const MARKER_TORQUE: &str = "987.65";
const MARKER_RPM: &str = "2971";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dtfhe")
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    platform: PathBuf,
    listen: String,
    url: String,
    /// The platform's PostgreSQL database, or `None` for SQLite in the platform directory.
    pg: Option<PgDb>,
}

impl World {
    fn new(postgres: bool) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let port = free_port();
        World {
            platform: root.join("platform"),
            listen: format!("127.0.0.1:{port}"),
            url: format!("http://127.0.0.1:{port}"),
            root,
            _tmp: tmp,
            pg: postgres.then(|| PgDb::new("dtfhe_e2e", None)),
        }
    }

    fn id(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.id"))
    }

    /// `dtfhe identity new`; returns the public key.
    fn identity(&self, name: &str) -> String {
        let out = run(&[
            "identity",
            "new",
            "--name",
            name,
            "--out",
            path(&self.id(name)),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        // Appended, so a restarted process keeps its earlier log (the secrecy check at the
        // end reads every server log).
        Proc::spawn(&self.root, name, args)
    }

    fn serve(&self, admin_key: &str) -> Proc {
        let admin = format!("root={admin_key}");
        let trustees = TRUSTEES.join(",");
        let mut args = vec![
            "serve",
            "--dir",
            path(&self.platform),
            "--listen",
            &self.listen,
            "--admin",
            &admin,
            "--trustees",
            &trustees,
            "--min-group-size",
            "2",
            "--preset",
            "bfv-8192",
        ];
        if let Some(db) = &self.pg {
            args.extend(["--store", db.url.as_str()]);
        }
        let p = self.spawn("serve", &args);
        wait_for_platform(&self.url, false, Duration::from_secs(30), || p.log());
        p
    }

    fn register(&self, name: &str, key: &str, role: &str, datasets: &str) {
        let root = self.id("root");
        let mut args = vec![
            "admin",
            "register",
            "--server",
            &self.url,
            "--identity",
            path(&root),
            "--name",
            name,
            "--role",
            role,
            "--public-key",
            key,
        ];
        if !datasets.is_empty() {
            args.extend(["--datasets", datasets]);
        }
        let out = run(&args);
        assert!(out.status.success(), "register {name}: {}", text(&out));
    }

    fn trustee(&self, name: &str, extra: &[&str]) -> Proc {
        let dir = self.root.join("trustees").join(name);
        let id = self.id(name);
        let mut args = vec![
            "trustee",
            "--dir",
            path(&dir),
            "--server",
            &self.url,
            "--identity",
            path(&id),
            "--poll-ms",
            "200",
        ];
        args.extend(extra);
        // Each run gets its own log file.
        let n = std::fs::read_dir(&self.root).unwrap().count();
        self.spawn(&format!("trustee-{name}-{n}"), &args)
    }

    fn agent(&self, source: &str, csv: &Path) -> Proc {
        let schema = self.root.join("runs.toml");
        std::fs::write(&schema, SCHEMA).unwrap();
        let n = std::fs::read_dir(&self.root).unwrap().count();
        let id = self.id(source);
        self.spawn(
            &format!("agent-{source}-{n}"),
            &[
                "agent",
                "--server",
                &self.url,
                "--identity",
                path(&id),
                "--schema",
                path(&schema),
                "--csv",
                path(csv),
                "--max-retry-seconds",
                "120",
            ],
        )
    }

    fn query(&self, analyst: &str, timeout: &str) -> Output {
        run(&[
            "query",
            "--server",
            &self.url,
            "--identity",
            path(&self.id(analyst)),
            "--timeout",
            timeout,
            "--format",
            "csv",
            SQL,
        ])
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Rows of a CSV of this schema: (line, torque, rpm), deterministic.
fn rows(n: usize, line: &str, salt: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            let k = i * 7 + salt * 13;
            (
                line.to_string(),
                format!("{}.{:02}", 10 + k % 50, (k * 3) % 100),
                format!("{}", 1000 + (k * 11) % 1500),
            )
        })
        .collect()
}

fn write_csv(p: &Path, rows: &[(String, String, String)]) {
    let mut s = String::from("line,torque,rpm\n");
    for (l, t, r) in rows {
        s.push_str(&format!("{l},{t},{r}\n"));
    }
    std::fs::write(p, s).unwrap();
}

fn expected(all: &[(String, (String, String, String))]) -> Vec<Vec<String>> {
    let schema = Schema::from_toml_str(SCHEMA, "schema").unwrap();
    let catalog = Catalog::new(&[&schema]);
    let query = dtfhe_engine::plan(SQL, &catalog).unwrap();
    let plain: Vec<PlainRow> = all
        .iter()
        .map(|(src, (l, t, r))| {
            PlainRow::from([
                ("source".to_string(), Value::Text(src.clone())),
                ("line".to_string(), Value::Text(l.clone())),
                ("torque".to_string(), Value::Dec(t.parse().unwrap())),
                ("rpm".to_string(), Value::Dec(r.parse().unwrap())),
            ])
        })
        .collect();
    parse_csv(&plaintext::evaluate(&query, &plain).to_csv())
}

fn parse_csv(s: &str) -> Vec<Vec<String>> {
    s.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Cells equal as text, or as numbers within 1e-9 relative.
fn assert_same(got: &str, want: &[Vec<String>]) {
    let got = parse_csv(got);
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "{got:?} vs {want:?}");
        for (a, b) in g.iter().zip(w) {
            if a == b {
                continue;
            }
            let (x, y): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                "{a} vs {b} in {got:?} / {want:?}"
            );
        }
    }
}

#[test]
fn networked_deployment_end_to_end_with_faults() {
    end_to_end(World::new(false));
}

/// The same with the platform's store in PostgreSQL, as a server would run it. Needs
/// `DTFHE_TEST_PG_URL` (`scripts/test.sh` starts the test server); skipped with a note outside
/// CI, a failure under CI.
#[test]
fn networked_deployment_end_to_end_on_postgresql() {
    if pg::admin_url("networked end-to-end test on PostgreSQL").is_none() {
        return;
    }
    end_to_end(World::new(true));
}

fn end_to_end(w: World) {
    let root_key = w.identity("root");
    let mut server = w.serve(&root_key);
    let mut keys = std::collections::HashMap::new();
    for n in TRUSTEES
        .iter()
        .copied()
        .chain(["edge-1", "edge-2", "ana", "nogrant", "mallory"])
    {
        keys.insert(n, w.identity(n));
    }
    for t in TRUSTEES {
        w.register(t, &keys[t], "trustee", "");
    }
    w.register("edge-1", &keys["edge-1"], "source", "runs");
    w.register("edge-2", &keys["edge-2"], "source", "runs");
    w.register("ana", &keys["ana"], "analyst", "runs");
    w.register("nogrant", &keys["nogrant"], "analyst", "other");

    // Key ceremony: two trustee processes give their first-round messages; the server
    // restarts (it keeps the seed, loses the accepted messages); the two give them again,
    // the third joins, and the deployment becomes ready.
    let mut trustees: Vec<Proc> = TRUSTEES[..2].iter().map(|t| w.trustee(t, &[])).collect();
    let started = Instant::now();
    while !trustees
        .iter()
        .all(|t| t.log().contains("round-1 relinearisation share given"))
    {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    server = w.serve(&root_key);
    trustees.push(w.trustee(TRUSTEES[2], &[]));
    let c = Client::new(&w.url, None, Duration::from_secs(5));
    let started = Instant::now();
    while !c.get_json::<Health>("/v1/health").unwrap().ready {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "ceremony did not finish: {}",
            trustees
                .iter()
                .map(Proc::log)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Two agents upload. Agent 1's file holds a marker row whose values must never appear on
    // the platform, in clear or fixed-point encoded (checked at the end).
    let r1: Vec<_> = rows(39, "L1", 1)
        .into_iter()
        .chain([(
            "L1".to_string(),
            MARKER_TORQUE.to_string(),
            MARKER_RPM.to_string(),
        )])
        .collect();
    let r2: Vec<_> = rows(30, "L1", 2)
        .into_iter()
        .chain(rows(30, "L2", 3))
        .collect();
    let (c1, c2) = (w.root.join("edge-1.csv"), w.root.join("edge-2.csv"));
    write_csv(&c1, &r1);
    write_csv(&c2, &r2);
    let mut a1 = w.agent("edge-1", &c1);
    let mut a2 = w.agent("edge-2", &c2);
    assert!(a1.wait(Duration::from_secs(120)).success(), "{}", a1.log());
    assert!(a2.wait(Duration::from_secs(120)).success(), "{}", a2.log());
    let mut all: Vec<(String, (String, String, String))> = r1
        .iter()
        .map(|r| ("edge-1".to_string(), r.clone()))
        .chain(r2.iter().map(|r| ("edge-2".to_string(), r.clone())))
        .collect();

    // The analyst's query equals the plaintext computation.
    let out = w.query("ana", "120");
    assert!(out.status.success(), "{}", text(&out));
    assert_same(&String::from_utf8_lossy(&out.stdout), &expected(&all));

    // Forged requests: an unregistered identity, an analyst without the grant.
    let out = w.query("mallory", "10");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a registered identity"));
    let out = w.query("nogrant", "10");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no grant"));

    // A trustee down: the analyst times out naming it; nothing released.
    trustees[2].kill();
    let out = w.query("ana", "6");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plant-c did not answer"), "{err}");
    assert!(err.contains("nothing was released"), "{err}");
    assert!(out.stdout.is_empty());

    // Restarted with a stricter local policy, it refuses: nothing released.
    trustees[2] = w.trustee("plant-c", &["--min-group-size", "1000"]);
    let out = w.query("ana", "120");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trustee plant-c refuses"), "{err}");
    assert!(err.contains("fewer than k = 1000"), "{err}");

    // The server restarted while a query waits for a trustee: the request survives (the
    // platform keeps it in platform/releases), the analyst keeps polling, and once plant-c
    // is back (with the deployment's policy) the result is released.
    trustees[2].kill();
    let ana_id = w.id("ana");
    let mut analyst = w.spawn(
        "query-across-restart",
        &[
            "query",
            "--server",
            &w.url,
            "--identity",
            path(&ana_id),
            "--timeout",
            "120",
            "--format",
            "csv",
            SQL,
        ],
    );
    let started = Instant::now();
    // Killed only once the analyst holds the platform's answer (its id) AND the platform has
    // stored that request as `releases/<id>.json` (a kill in between would lose the analyst's
    // submission, not the release). The file is named, not counted: a temporary file of an
    // earlier release being saved would make a count lie.
    let stored = |log: &str| {
        let id = log.lines().find_map(|l| {
            l.strip_prefix("query ")?
                .split_once(" accepted by the platform")
                .map(|(id, _)| id.to_string())
        })?;
        w.platform
            .join("releases")
            .join(format!("{id}.json"))
            .exists()
            .then_some(())
    };
    while stored(&analyst.log()).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            analyst.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    std::thread::sleep(Duration::from_millis(500));
    server = w.serve(&root_key);
    trustees[2] = w.trustee("plant-c", &[]);
    assert!(
        analyst.wait(Duration::from_secs(150)).success(),
        "{}",
        analyst.log()
    );
    // The log holds stderr's progress line besides the CSV result.
    let result: String = analyst
        .log()
        .lines()
        .filter(|l| !l.contains("accepted by the platform"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_same(&result, &expected(&all));

    // The server restarted while an agent ingests: nothing lost, nothing duplicated.
    let r3 = rows(60_000, "L2", 4);
    let c3 = w.root.join("edge-1-big.csv");
    write_csv(&c3, &r3);
    let ana = Client::new(
        &w.url,
        Some(dtfhe_api::Identity::load(&w.id("ana")).unwrap()),
        Duration::from_secs(30),
    );
    let chunks = || {
        ana.get_json::<Vec<ChunkInfo>>("/v1/datasets/runs/chunks")
            .map(|c| c.len())
    };
    let before = chunks().unwrap();
    let mut a3 = w.agent("edge-1", &c3);
    // Kill the server as soon as the first chunk of this file is stored (8 to go).
    let started = Instant::now();
    let mut at_kill = before;
    while at_kill == before {
        assert!(started.elapsed() < Duration::from_secs(120), "{}", a3.log());
        std::thread::sleep(Duration::from_millis(20));
        at_kill = chunks().unwrap_or(before);
    }
    server.kill();
    let mid_ingest = a3.child.try_wait().unwrap().is_none() && at_kill < before + 8;
    std::thread::sleep(Duration::from_millis(1500));
    let server2 = w.serve(&root_key);
    assert!(a3.wait(Duration::from_secs(300)).success(), "{}", a3.log());
    assert!(
        mid_ingest,
        "the server was not killed mid-ingest ({} of 8 chunks stored)",
        at_kill - before
    );
    assert_eq!(chunks().unwrap(), before + 8, "{}", a3.log());
    eprintln!("agent during the restart:\n{}", a3.log());
    all.extend(r3.iter().map(|r| ("edge-1".to_string(), r.clone())));
    let out = w.query("ana", "180");
    assert!(out.status.success(), "{}", text(&out));
    assert_same(&String::from_utf8_lossy(&out.stdout), &expected(&all));

    // The auditor's view: the ledger verifies against the pinned checkpoint key.
    let auditor = w.identity("auditor");
    w.register("auditor", &auditor, "auditor", "");
    let out = run(&[
        "audit",
        "verify",
        "--server",
        &w.url,
        "--identity",
        path(&w.id("auditor")),
        "--store-key",
        path(&w.platform.join("store.pub")),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // The platform directory never held a key share.
    for t in TRUSTEES {
        let share = dtfhe_model::secret_file::read_secret(
            &w.root.join("trustees").join(t).join("share.key"),
        )
        .unwrap();
        let probe = &share[share.len() - 64..];
        for f in files_under(&w.platform) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(probe.len()).any(|x| x == probe),
                "{} holds part of {t}'s share",
                f.display()
            );
        }
    }

    // No plaintext value of an encrypted column anywhere on the platform: not in its state
    // directory, not in any server log. The probes are the marker row's values as text and
    // the torque as the 8-byte fixed-point integer the source encrypted (both byte orders;
    // its range is centred on zero, so the centred and the scaled integer are both 98,765).
    // The rpm marker (2,971) is not probed: as two bytes it occurs by chance in the store's
    // binary lengths and counts, and as four digits in a log's numbers.
    assert!(std::fs::read_to_string(&c1)
        .unwrap()
        .contains(MARKER_TORQUE));
    let torque_fixed: i64 = 98765; // 987.65 at scale 2
    let mut probes: Vec<Vec<u8>> = vec![
        MARKER_TORQUE.as_bytes().to_vec(),
        torque_fixed.to_string().into_bytes(),
        torque_fixed.to_le_bytes().to_vec(),
        torque_fixed.to_be_bytes().to_vec(),
    ];
    let mut files = files_under(&w.platform);
    files.push(w.root.join("serve.log"));
    if let Some(PgDb { url, .. }) = &w.pg {
        // The database's whole content, bytea columns as hex: probe for the hex forms too.
        let dump = w.root.join("platform.sql");
        let out = Command::new(pg::tool("pg_dump"))
            .args(["--data-only", "--dbname", url, "--file", path(&dump)])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_dump: {}", text(&out));
        files.push(dump);
        let hex: Vec<Vec<u8>> = probes[2..]
            .iter()
            .map(|p| hex::encode(p).into_bytes())
            .collect();
        probes.extend(hex);
    }
    assert!(occurs_alone(b"{\"torque\":98765}", b"98765"));
    assert!(!occurs_alone(b"\"aB98765+/\"", b"98765"));
    let mut checked = 0;
    for f in files.iter().filter(|f| f.exists()) {
        let bytes = std::fs::read(f).unwrap();
        checked += bytes.len();
        for (i, probe) in probes.iter().enumerate() {
            // A bare 5-digit number occurs by chance in megabytes of base64 or hex text (a
            // release file's ciphertexts, the dump's bytea): it is probed as a number standing
            // on its own (as in JSON, CSV or a log line), not inside a longer run of such text.
            let found = if i == 1 {
                occurs_alone(&bytes, probe)
            } else {
                bytes.windows(probe.len()).any(|x| x == probe.as_slice())
            };
            assert!(
                !found,
                "{} holds a marker value of an encrypted column ({} bytes probe)",
                f.display(),
                probe.len()
            );
        }
    }
    assert!(
        checked > 100_000,
        "only {checked} bytes of platform state checked"
    );
    drop(server2);
}

/// Whether `probe` occurs in `hay` with no base64 or hex character right before or after it.
fn occurs_alone(hay: &[u8], probe: &[u8]) -> bool {
    let text_char = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    hay.windows(probe.len()).enumerate().any(|(at, x)| {
        x == probe
            && (at == 0 || !text_char(hay[at - 1]))
            && hay.get(at + probe.len()).is_none_or(|&b| !text_char(b))
    })
}
