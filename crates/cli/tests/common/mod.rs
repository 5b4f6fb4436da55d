//! Shared helpers for the tests that run the real `dtfhe` binary.
#![allow(dead_code, unused_imports)]

pub mod documents;
pub mod live;
pub mod net;

use dtfhe_embedded::reference;
use dtfhe_engine::plaintext::PlainRow;
use dtfhe_engine::{Cell, ResultSet};
use dtfhe_model::Schema;
pub use dtfhe_testkit::data::{ai4i_csv, ai4i_slice, repo, shared_data};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A released numeric cell as a number.
pub fn number(c: &Cell) -> f64 {
    match c {
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        other => panic!("not a number: {other:?}"),
    }
}

/// Asserts that `text` says each of `phrases`.
pub fn assert_says(text: &str, phrases: &[&str]) {
    for p in phrases {
        assert!(text.contains(p), "no `{p}` in: {text}");
    }
}

/// Asserts that a released value equals the plaintext (to 1e-6).
pub fn assert_close(released: f64, plain: f64, what: &str) {
    assert!(
        (released - plain).abs() < 1e-6,
        "{what}: released {released}, plaintext {plain}"
    );
}

/// Path of the `dtfhe` binary built by cargo for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_dtfhe");

/// A fresh, empty directory under cargo's per-target temporary directory, named after the
/// test (removed first if a previous run left it), so no run leaks temporary data.
pub fn fresh_dir(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create test directory");
    p
}

/// `dtfhe demo` into `root/deployment` (`root` a [`fresh_dir`] named `name`): the root, the
/// deployment and the demo's output, which says that every released value agrees with the
/// plaintext answer.
pub fn demo_deployment(name: &str) -> (PathBuf, PathBuf, String) {
    let root = fresh_dir(name);
    let dir = root.join("deployment");
    let out = ok(["demo".as_ref(), "--dir".as_ref(), dir.as_os_str()] as [&std::ffi::OsStr; 3]);
    assert!(out.contains("agree with the plaintext answers"), "{out}");
    (root, dir, out)
}

/// An embedded deployment of `trustees` at `dir` (bfv-16384, the other `dtfhe init`
/// defaults) made in process, holding every `(schema, csv, source)` ingested in order: for
/// the tests that drive the library rather than the binary.
pub fn embedded_deployment(dir: &Path, trustees: &[&str], files: &[(PathBuf, &Path, &str)]) {
    use dtfhe_embedded::ops::{self, IngestOptions, InitOptions};
    ops::init(&InitOptions::new(dir, trustees, "bfv-16384")).expect("init");
    for (schema, csv, source) in files {
        ops::ingest(&IngestOptions {
            dir: dir.into(),
            schema: schema.clone(),
            csv: csv.to_path_buf(),
            source: source.to_string(),
            progress: false,
        })
        .expect("ingest");
    }
}

/// Run `dtfhe` with the arguments.
pub fn dtfhe(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Output {
    Command::new(BIN).args(args).output().expect("run dtfhe")
}

/// Text of stdout and stderr.
pub fn texts(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run `dtfhe`; returns the arguments (for messages), the output, stdout and stderr.
fn run(
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> (Vec<std::ffi::OsString>, Output, String, String) {
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let o = dtfhe(&args);
    let (out, err) = texts(&o);
    (args, o, out, err)
}

/// The result a successful `dtfhe … --format json` run printed (`what` names the run in
/// a failure).
pub fn success_json(o: &Output, what: &str) -> ResultSet {
    let (out, err) = texts(o);
    assert!(o.status.success(), "{what}: {err}");
    parse_json(&out)
}

/// The stderr of a run that failed with exit `code` and printed nothing on stdout (`what`
/// names the run in a failure).
pub fn failed_with(o: &Output, code: i32, what: &str) -> String {
    let (out, err) = texts(o);
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(out.is_empty(), "{what}: {out}");
    err
}

/// Runs `cmd` with `input` on its stdin; its output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Every file under `dir`, recursively (none if `dir` cannot be read).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Run `dtfhe` and require success; returns stdout.
pub fn ok(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> String {
    let (args, o, out, err) = run(args);
    assert!(
        o.status.success(),
        "dtfhe {args:?} failed with {:?}\nstdout: {out}\nstderr: {err}",
        o.status.code()
    );
    out
}

/// Run `dtfhe` and require the exit code; returns stderr.
pub fn fails_with(code: i32, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> String {
    let (args, o, out, err) = run(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "dtfhe {args:?}: expected exit {code}\nstdout: {out}\nstderr: {err}"
    );
    assert!(
        err.starts_with("error: "),
        "stderr should start with `error: `: {err}"
    );
    assert!(
        out.is_empty(),
        "nothing may be printed on stdout on failure: {out}"
    );
    err
}

/// `dtfhe init` with the given trustees, k and preset.
pub fn init(dir: &Path, trustees: &str, k: u32, preset: &str) {
    init_with(dir, trustees, k, preset, &[]);
}

/// `dtfhe init` with the given trustees, k, preset and further options (e.g. the
/// disclosure policy: `--dp-budget`, `--allow-key-filters`).
pub fn init_with(dir: &Path, trustees: &str, k: u32, preset: &str, extra: &[&str]) {
    let k = k.to_string();
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "init".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--trustees".as_ref(),
        trustees.as_ref(),
        "--min-group-size".as_ref(),
        k.as_ref(),
        "--preset".as_ref(),
        preset.as_ref(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    ok(args);
}

/// `dtfhe ingest`; returns stdout.
pub fn ingest(dir: &Path, schema: &Path, csv: &Path, source: &str) -> String {
    ok(ingest_args(dir, schema, csv, source))
}

/// The C-MAPSS FD001 training file from `../shared/data` (`None`, the skip printed, where
/// it is absent), a fresh test directory `name` and the deployment path `d` inside it.
pub fn cmapss_train(name: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let data = shared_data("cmapss-fd001/train_FD001.txt")?;
    let root = fresh_dir(name);
    let dir = root.join("d");
    Some((data, root, dir))
}

/// Queries that filter ai4i on its identifier column `udi` (refused unless a trustee
/// allows key filters).
pub const UDI_FILTERS: [&str; 2] = [
    "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE udi <= 100",
    "SELECT COUNT(*), SUM(torque) FROM ai4i WHERE udi <> 7",
];

/// [`ingest`] with the repository's `schemas/<schema>.toml`.
pub fn ingest_schema(dir: &Path, schema: &str, csv: &Path, source: &str) -> String {
    ingest(
        dir,
        &repo().join(format!("schemas/{schema}.toml")),
        csv,
        source,
    )
}

/// The arguments of `dtfhe ingest` (for failure tests).
pub fn ingest_args(dir: &Path, schema: &Path, csv: &Path, source: &str) -> Vec<std::ffi::OsString> {
    vec![
        "ingest".into(),
        "--dir".into(),
        dir.into(),
        "--schema".into(),
        schema.into(),
        "--csv".into(),
        csv.into(),
        "--source".into(),
        source.into(),
    ]
}

/// The arguments of `dtfhe query --format json`.
pub fn query_args(dir: &Path, sql: &str) -> Vec<std::ffi::OsString> {
    vec![
        "query".into(),
        "--dir".into(),
        dir.into(),
        "--format".into(),
        "json".into(),
        sql.into(),
    ]
}

/// Run a query with `--format json` and parse the result (decimals taken from `like`).
pub fn query_json(dir: &Path, sql: &str) -> ResultSet {
    let out = ok(query_args(dir, sql));
    parse_json(&out)
}

/// Parse `{"columns":[...],"rows":[[...]]}` into a result set.
pub fn parse_json(text: &str) -> ResultSet {
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("valid JSON");
    let columns: Vec<String> = v["columns"]
        .as_array()
        .expect("columns array")
        .iter()
        .map(|c| c.as_str().expect("column name").to_string())
        .collect();
    let rows: Vec<Vec<Cell>> = v["rows"]
        .as_array()
        .expect("rows array")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row array")
                .iter()
                .map(|c| match c {
                    serde_json::Value::Null => Cell::Null,
                    serde_json::Value::String(s) => Cell::Text(s.clone()),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) if !n.is_f64() => Cell::Int(i),
                        _ => Cell::Float(n.as_f64().expect("finite number")),
                    },
                    o @ serde_json::Value::Object(_) => structured_cell(o),
                    other => panic!("unexpected JSON value {other}"),
                })
                .collect()
        })
        .collect();
    ResultSet {
        columns,
        rows,
        decimals: Vec::new(),
        keys: Vec::new(),
    }
}

/// A `HISTOGRAM` or `APPROX_PERCENTILE` cell from its JSON object, every field required and
/// checked: the edges must be exact decimals at the stated scale, counts integers, the
/// percentile's error bound the width of its bucket.
pub fn structured_cell(o: &serde_json::Value) -> Cell {
    use dtfhe_engine::{Bucket, Decimal, Histogram, Percentile};
    let f = |v: &serde_json::Value, what: &str| -> f64 {
        v.as_f64()
            .unwrap_or_else(|| panic!("{what} is not a number in {o}"))
    };
    let column = o["column"].as_str().expect("column name").to_string();
    match o["type"].as_str() {
        Some("histogram") => {
            let scale = u32::try_from(o["scale"].as_u64().expect("scale")).expect("scale");
            let edge = |v: &serde_json::Value| {
                let x = f(v, "edge");
                let d = Decimal::new((x * 10f64.powi(scale as i32)).round() as i64, scale);
                assert_eq!(d.to_f64(), x, "edge {x} is not a decimal at scale {scale}");
                d
            };
            let buckets: Vec<Bucket> = o["buckets"]
                .as_array()
                .expect("buckets array")
                .iter()
                .map(|b| Bucket {
                    lo: edge(&b["lo"]),
                    hi: edge(&b["hi"]),
                    count: b["count"].as_i64().expect("integer count"),
                })
                .collect();
            for w in buckets.windows(2) {
                assert_eq!(w[0].hi, w[1].lo, "adjacent buckets share an edge: {o}");
            }
            Cell::Histogram(Box::new(Histogram { column, buckets }))
        }
        Some("percentile") => {
            let bucket = &o["bucket"];
            let (lo, hi) = (f(&bucket["lo"], "lo"), f(&bucket["hi"], "hi"));
            let scale = u32::try_from(o["scale"].as_u64().expect("scale")).expect("scale");
            let d = |x: f64| {
                let d = Decimal::new((x * 10f64.powi(scale as i32)).round() as i64, scale);
                assert_eq!(d.to_f64(), x, "edge {x} is not a decimal at scale {scale}");
                d
            };
            let p = Percentile {
                column,
                p: f(&o["p"], "p"),
                value: f(&o["value"], "value"),
                lo: d(lo),
                hi: d(hi),
            };
            assert_eq!(
                f(&o["error_bound"], "error_bound"),
                p.error_bound().to_f64(),
                "{o}"
            );
            Cell::Percentile(Box::new(p))
        }
        other => panic!("unknown structured cell type {other:?} in {o}"),
    }
}

/// Run `sql` through the binary and check every value against the plaintext evaluation of
/// the same SQL over `rows`; returns the number of values checked.
pub fn check_query(dir: &Path, schema: &Schema, rows: &[PlainRow], sql: &str) -> usize {
    let plain = reference::evaluate(schema, sql, rows)
        .unwrap_or_else(|e| panic!("plaintext side of `{sql}`: {e}"));
    let mut released = query_json(dir, sql);
    released.decimals = plain.decimals.clone();
    match reference::check(&released, &plain) {
        Ok(n) => n,
        Err(e) => panic!(
            "`{sql}`: {e}\nreleased: {:?}\nplaintext: {:?}",
            released.rows, plain.rows
        ),
    }
}

/// Number of rows and chunks of a dataset (0, 0 when it is not registered).
pub fn store_counts(dir: &Path, dataset: &str) -> (u64, usize) {
    let store = dtfhe_store::Store::open(dir).expect("open store");
    if !store
        .datasets()
        .expect("datasets")
        .iter()
        .any(|d| d == dataset)
    {
        return (0, 0);
    }
    let chunks = store.chunks(dataset).expect("chunks");
    (chunks.iter().map(|c| u64::from(c.rows)).sum(), chunks.len())
}

/// `SELECT COUNT(*)` through the binary.
pub fn count_rows(dir: &Path, dataset: &str) -> i64 {
    let r = query_json(dir, &format!("SELECT COUNT(*) FROM {dataset}"));
    match r.rows.first().and_then(|row| row.first()) {
        Some(Cell::Int(n)) => *n,
        other => panic!("COUNT(*) gave {other:?}"),
    }
}

/// A `dtfhe` child process (server, trustee daemon, agent, waiting analyst) whose stdout and
/// stderr go to a log file; killed when dropped, so a failing test leaves no process behind.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Its name in messages.
    pub name: String,
    /// Its log file.
    pub log: PathBuf,
}

impl Proc {
    /// Start `dtfhe args`, logging to `root/name.log` (appended, so a restarted process keeps
    /// its earlier log).
    pub fn spawn(root: &Path, name: &str, args: &[&str]) -> Proc {
        let log = root.join(format!("{name}.log"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log");
        let child = Command::new(BIN)
            .args(args)
            .stdout(f.try_clone().expect("log handle"))
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn dtfhe");
        Proc {
            child,
            name: name.into(),
            log,
        }
    }

    /// Kill the process and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `done()` holds, polling it every 100 ms (panics with `what` and the log
    /// after `limit`).
    pub fn wait_until(&self, what: &str, limit: Duration, done: impl FnMut() -> bool) {
        poll_until(limit, done, || {
            format!("{} {what}: {}", self.name, self.log())
        });
    }

    /// Wait until it accepts TCP connections on `addr` (panics with its log after 30 s).
    pub fn wait_listening(&self, addr: &str) {
        self.wait_until("did not start", Duration::from_secs(30), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
    }

    /// Wait for it to exit (panics with its log after `limit`).
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut status = None;
        poll_until(
            limit,
            || {
                status = self.child.try_wait().expect("try_wait");
                status.is_some()
            },
            || {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                format!("{} did not finish: {log}", self.name)
            },
        );
        status.expect("exited")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1 (for a `dtfhe serve` to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Wait until the platform at `url` answers its health check and, with `ready`, has finished
/// the key ceremony; panics with `logs()` after `limit`.
pub fn wait_for_platform(url: &str, ready: bool, limit: Duration, logs: impl Fn() -> String) {
    let c = dtfhe_api::Client::new(url, None, Duration::from_secs(5));
    poll_until(
        limit,
        || {
            matches!(c.get_json::<dtfhe_api::types::Health>("/v1/health"),
                Ok(h) if h.ready || !ready)
        },
        || {
            let state = if ready { "ready" } else { "up" };
            format!("platform at {url} not {state}: {}", logs())
        },
    );
}

/// Polls `done` every 100 ms until it holds; panics with `failure()` after `limit`.
pub fn poll_until(limit: Duration, mut done: impl FnMut() -> bool, failure: impl Fn() -> String) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{}", failure());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ingests the vendored AI4I CSV into `dir` as two sources, `north` and `south`, each half
/// of the rows (CSV files written under `root`); returns the rows for the plaintext side.
pub fn ingest_ai4i_halves(
    root: &Path,
    dir: &Path,
    schema_path: &Path,
    schema: &Schema,
) -> Vec<PlainRow> {
    let bytes = std::fs::read(repo().join("data/ai4i2020/ai4i2020.csv")).expect("data");
    let mut rows = Vec::new();
    for (source, part) in ["north", "south"]
        .iter()
        .zip(dtfhe_cli::demo::split_csv(&bytes, 2))
    {
        let csv = root.join(format!("{source}.csv"));
        std::fs::write(&csv, &part).expect("write part");
        let out = ingest(dir, schema_path, &csv, source);
        assert!(out.contains("5000 rows"), "{out}");
        rows.extend(reference::plain_rows(&part, schema, source).expect("plain rows"));
    }
    rows
}

/// Requires `dtfhe audit verify` (its output `o`) to have failed on a change to `table`
/// (`what`): exit 8 (tampering) or 5 (a store that no longer opens), nothing on stdout, and a
/// message naming the table or entry.
pub fn assert_tampering_named(o: &Output, what: &str, table: &str) {
    /// Exit codes of `dtfhe audit`: tampering found, or a store error.
    const TAMPERED: i32 = 8;
    const STORE: i32 = 5;
    let (out, err) = texts(o);
    let code = o.status.code();
    assert!(
        code == Some(TAMPERED) || code == Some(STORE),
        "{what} changed, audit verify exited {code:?}\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.is_empty(), "{out}");
    assert!(
        names(&err, table),
        "{what} changed: the message does not name the table or entry: {err}"
    );
    eprintln!("{what}: {}", err.trim());
}

/// Does the failure message name the table (or its rows) or a ledger entry? A part is
/// named through the chunk it belongs to.
pub fn names(msg: &str, table: &str) -> bool {
    let singular = table.trim_end_matches('s');
    msg.contains(table)
        || (table == "parts" && msg.contains("chunk "))
        || msg.contains(singular)
        || msg.contains(&table.replace('_', " "))
        || msg.contains("ledger entry")
}

/// The entries `dtfhe audit log --format json` printed, and their kinds, in order.
pub fn parse_log(log: &str) -> (Vec<serde_json::Value>, Vec<String>) {
    let entries: Vec<serde_json::Value> = serde_json::from_str(log).expect("json");
    let kinds = entries
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_string())
        .collect();
    (entries, kinds)
}

/// Copies a deployment directory (store, keys, trustees, sources) recursively. A file that
/// vanishes between listing and copying (a lock or temporary file of a command another test
/// runs on the same deployment at that moment) is not part of the deployment and is skipped.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let vanished = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        match e.file_type() {
            Ok(t) if t.is_dir() => copy_dir(&e.path(), &target),
            Ok(_) => match std::fs::copy(e.path(), &target) {
                Err(err) if !vanished(&err) => panic!("copy {}: {err}", e.path().display()),
                _ => {}
            },
            Err(err) if vanished(&err) => {}
            Err(err) => panic!("file type of {}: {err}", e.path().display()),
        }
    }
}
