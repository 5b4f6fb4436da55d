//! One mapping from what went wrong to the exit code, for embedded and networked commands
//! alike: the README's table is `dtfhe_model::ExitKind` (checked line by line), and each
//! code is driven through the real binary, embedded (`--dir`) and networked (`serve`,
//! `trustee` daemons, `agent`, `query --server`, fake platforms for the failures a real one
//! does not make). Code 7 (an encrypted result differs from plaintext) is only produced by
//! `demo` and `bench` and cannot be provoked from outside; its place in the table is checked.

mod common;

use common::net::*;
use common::*;
use dtfhe_model::ExitKind;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The README's exit-code table as (code, meaning).
fn readme_table() -> Vec<(i32, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("an Exit codes section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split(" | ")
                .collect();
            let code = cells.first()?.trim().parse().ok()?;
            Some((code, cells[1..].join(" | ").trim().to_string()))
        })
        .collect()
}

#[test]
fn the_readme_table_is_the_mapping_in_the_code() {
    let mut expected = vec![(0, "success".to_string())];
    expected.extend(
        ExitKind::ALL
            .iter()
            .map(|k| (k.code(), k.meaning().to_string())),
    );
    assert_eq!(readme_table(), expected);
    // `dtfhe --help` sums the codes up: every one is named there too, in order.
    let help = ok(["--help"]);
    let summary = help
        .split_once("Exit codes")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no exit-code summary in {help}"))
        .replace('\n', " ");
    let mut at = 0;
    for code in 0..=9 {
        let found = summary[at..]
            .find(&format!(" {code} "))
            .unwrap_or_else(|| panic!("exit code {code} missing from --help: {summary}"));
        at += found + 1;
    }
}

fn p(x: &Path) -> &str {
    x.to_str().expect("utf-8 path")
}

/// Requires exit `code`, nothing on stdout and an `error: ` line on stderr containing every
/// `needle` (networked commands may print progress lines before it); returns stderr.
fn exits(code: i32, args: &[&str], needles: &[&str]) -> String {
    let o = dtfhe(args);
    let (out, err) = texts(&o);
    assert_eq!(o.status.code(), Some(code), "dtfhe {args:?}: {err}");
    assert!(out.is_empty(), "dtfhe {args:?} printed on stdout: {out}");
    assert!(err.contains("error: "), "dtfhe {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "dtfhe {args:?}: no `{n}` in {err}");
    }
    err
}

/// A small embedded deployment with AI4I rows 1..=60 from `plant-a`.
fn embedded(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    init(&d, "a,b", 5, "bfv-8192");
    let csv = root.join("rows.csv");
    std::fs::write(&csv, ai4i_slice(0, 60)).expect("csv");
    ingest_schema(&d, "ai4i", &csv, "plant-a");
    d
}

/// Runs `dtfhe args` on a deployment directory nobody may write to (as root, the
/// directory is handed to `nobody` and the command runs as `nobody`, since root writes
/// anywhere).
fn read_only_run(dir: &Path, args: &[&str]) -> Output {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    set_access(dir, root, false);
    if root {
        use std::os::unix::process::CommandExt as _;
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let out = cmd.output().expect("run dtfhe");
    // Back to writable (and root's), so the test directory can be removed.
    set_access(dir, root, true);
    out
}

const NOBODY: u32 = 65534;

/// `dtfhe ingest` of `csv` into deployment `d` as `source`.
fn ingest_argv<'a>(d: &'a Path, schema: &'a Path, csv: &'a Path, source: &'a str) -> [&'a str; 9] {
    [
        "ingest",
        "--dir",
        p(d),
        "--schema",
        p(schema),
        "--csv",
        p(csv),
        "--source",
        source,
    ]
}

/// Makes `dir` and everything in it read-only (or writable again), owned by `nobody` (or
/// root again) when the test runs as root.
fn set_access(dir: &Path, root: bool, writable: bool) {
    walk(dir, &mut |path, is_dir| {
        use std::os::unix::fs::PermissionsExt as _;
        if root {
            let owner = if writable { 0 } else { NOBODY };
            std::os::unix::fs::chown(path, Some(owner), Some(owner)).expect("chown");
        }
        let mode = match (is_dir, writable) {
            (true, true) => 0o700,
            (true, false) => 0o555,
            (false, true) => 0o600,
            (false, false) => 0o444,
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    });
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path, bool)) {
    f(dir, true);
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path, false);
        }
    }
}

#[test]
fn embedded_commands_exit_with_the_documented_codes() {
    let root = fresh_dir("exit_codes_embedded");
    let d = embedded(&root, "d");
    let ai4i = repo().join("schemas/ai4i.toml");
    // 0
    ok(["query", "--dir", p(&d), "SELECT COUNT(torque) FROM ai4i"]);
    // 1: a file outside the store is missing.
    let missing = root.join("missing.csv");
    exits(1, &ingest_argv(&d, &ai4i, &missing, "s"), &["missing.csv"]);
    // 2: an existing deployment; an unknown option.
    exits(
        2,
        &["init", "--dir", p(&d), "--trustees", "a"],
        &["already holds a deployment"],
    );
    exits(2, &["query", "--dir", p(&d), "--no-such-option", "x"], &[]);
    // 3: SQL, CSV, and a schema that differs from the registered one (naming the change).
    exits(3, &["query", "--dir", p(&d), "SELEC torque FROM ai4i"], &[]);
    let bad_csv = root.join("bad.csv");
    std::fs::write(
        &bad_csv,
        ai4i_slice(0, 3).replacen("M14860", "M1\u{1b}[2J", 1),
    )
    .expect("csv");
    exits(
        3,
        &ingest_argv(&d, &ai4i, &bad_csv, "s"),
        &["line 2", "product_id", "U+001B"],
    );
    let changed = root.join("ai4i_changed.toml");
    let text = std::fs::read_to_string(&ai4i).expect("schema");
    std::fs::write(&changed, text.replacen("scale = 1", "scale = 2", 1)).expect("schema");
    let csv = root.join("rows.csv");
    exits(
        3,
        &ingest_argv(&d, &changed, &csv, "s"),
        &["column \"air_temp\": scale 1 → 2", "nothing was stored"],
    );
    // 4: a refusal.
    exits(
        4,
        &["query", "--dir", p(&d), "SELECT torque FROM ai4i"],
        &["nothing was decrypted"],
    );
    // 5: no store.
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    exits(
        5,
        &["query", "--dir", p(&empty), "SELECT COUNT(*) FROM ai4i"],
        &["no store"],
    );
    // 8: a damaged key share (nothing released); a damaged store.
    let key = d.join("trustees/b/share.key");
    let good = std::fs::read(&key).expect("key");
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    std::fs::write(&key, &bad).expect("damage");
    exits(
        8,
        &["query", "--dir", p(&d), "SELECT SUM(rpm) FROM ai4i"],
        &[
            "trustee b refuses to answer",
            "share.key",
            "nothing was decrypted",
        ],
    );
    std::fs::write(&key, &good).expect("restore");
    // 2 for a command that writes to a read-only deployment, which says so; `audit verify`
    // still works there.
    let o = read_only_run(&d, &ingest_argv(&d, &ai4i, &csv, "t"));
    let (_, err) = texts(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("read-only"), "{err}");
    for audit in ["verify", "log"] {
        let o = read_only_run(&d, &["audit", audit, "--dir", p(&d)]);
        assert!(o.status.success(), "audit {audit}: {}", texts(&o).1);
    }

    // 6: the stored relinearisation key does not decode (the query needs it for products).
    let d6 = embedded(&root, "d6");
    {
        let db = rusqlite::Connection::open(d6.join("store.sqlite")).expect("open");
        db.execute_batch(
            "DROP TRIGGER deployment_no_update; UPDATE deployment SET relin_key = X'00';",
        )
        .expect("damage the relinearisation key");
    }
    exits(
        6,
        &["query", "--dir", p(&d6), "SELECT VAR_POP(torque) FROM ai4i"],
        &["relinearization key"],
    );
    // 8: the same tampering is what `audit verify` reports.
    exits(8, &["audit", "verify", "--dir", p(&d6)], &[]);
    // 8: a truncated store is damage, not a missing store.
    let store = d6.join("store.sqlite");
    let bytes = std::fs::read(&store).expect("store");
    std::fs::write(&store, &bytes[..100]).expect("truncate");
    exits(
        8,
        &["query", "--dir", p(&d6), "SELECT COUNT(*) FROM ai4i"],
        &["not a DigitalThreadFHE store", "damaged or truncated"],
    );
}

/// A platform stand-in on 127.0.0.1 answering every request with `answer(path)` (status,
/// JSON body): for the failures a real platform does not make. Returns its URL.
fn fake_platform(answer: fn(&str) -> (u16, String)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let (status, json) = answer(&path);
            let _ = (&stream).write_all(
                format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                )
                .as_bytes(),
            );
        }
    });
    url
}

#[test]
fn networked_commands_exit_with_the_documented_codes() {
    let mut net = network("exit_codes_network", &[]);
    let ana = net.id("ana");
    let query = |sql: &str, seconds: u64| -> Vec<String> {
        net.query_args_waiting(sql, seconds)
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect()
    };
    let run = |code: i32, args: Vec<String>, needles: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        exits(code, &args, needles)
    };
    // 0
    let args = query("SELECT COUNT(torque) FROM ai4i", 120);
    ok(&args);
    // 1: the platform cannot be reached.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    exits(
        1,
        &[
            "query",
            "--server",
            &nowhere,
            "--identity",
            p(&ana),
            "SELECT COUNT(*) FROM ai4i",
        ],
        &["cannot reach the platform"],
    );
    // 2: an identity file that does not exist.
    exits(
        2,
        &[
            "query",
            "--server",
            &net.url,
            "--identity",
            p(&net.root.join("nobody.id")),
            "SELECT COUNT(*) FROM ai4i",
        ],
        &["nobody.id"],
    );
    // 3: SQL the platform rejects, as the embedded query does; a CSV the agent refuses.
    run(3, query("SELEC torque FROM ai4i", 30), &[]);
    let bad_csv = net.root.join("bad.csv");
    std::fs::write(&bad_csv, ai4i_slice(0, 3).replacen("M14860", "M1\u{7}", 1)).expect("csv");
    exits(
        3,
        &[
            "agent",
            "--server",
            &net.url,
            "--identity",
            p(&net.id("plant-a")),
            "--schema",
            p(&repo().join("schemas/ai4i.toml")),
            "--csv",
            p(&bad_csv),
        ],
        &["line 2", "U+0007"],
    );
    // 4: a refusal.
    run(
        4,
        query("SELECT torque FROM ai4i", 30),
        &["nothing was decrypted"],
    );
    // 4 and 8: trustee b's key share is damaged. Its daemon refuses the release, saying why
    // (nothing is decrypted); a trustee run on it refuses to start (exit 8).
    let key = net.trustee_dir("b").join("share.key");
    let good = std::fs::read(&key).expect("key");
    let mut bad = good.clone();
    bad[good.len() / 3] ^= 0x40;
    std::fs::write(&key, &bad).expect("damage");
    run(
        4,
        query("SELECT SUM(rpm) FROM ai4i WHERE type = 'H'", 30),
        &[
            "trustee b refuses to answer",
            "is damaged",
            "nothing was decrypted",
        ],
    );
    exits(
        8,
        &[
            "trustee",
            "--dir",
            p(&net.trustee_dir("b")),
            "--server",
            &net.url,
            "--identity",
            p(&net.id("b")),
            "--once",
        ],
        &["trustee b refuses to answer", "share.key"],
    );
    std::fs::write(&key, &good).expect("restore");
    // 5: trustee b is down, so the query is not released in time (naming b).
    let unanswered = query("SELECT SUM(rpm) FROM ai4i WHERE type = 'L'", 5);
    net.trustees[1].kill();
    run(5, unanswered, &["b"]);
    // 6: the platform's relinearisation key does not decode.
    let garbled = fake_platform(|path| {
        match path {
        "/v1/deployment" => (
            200,
            r#"{"preset":"bfv-8192","trustees":["a"],"min_group_size":5,"public_key":"AAAA","relin_key":"AAAA"}"#
                .to_string(),
        ),
        _ => (404, "{}".to_string()),
    }
    });
    exits(
        6,
        &[
            "query",
            "--server",
            &garbled,
            "--identity",
            p(&ana),
            "SELECT COUNT(*) FROM ai4i",
        ],
        &["relinearization key"],
    );
    // 9: the platform fails.
    let failing = fake_platform(|_| {
        (
            500,
            r#"{"type":"urn:dtfhe:problem:internal","title":"Server error","status":500,"detail":"disk full"}"#
                .to_string(),
        )
    });
    exits(
        9,
        &[
            "query",
            "--server",
            &failing,
            "--identity",
            p(&ana),
            "SELECT COUNT(*) FROM ai4i",
        ],
        &["disk full"],
    );
    // 8: a platform whose store is tampered with (its problem type says so).
    let tampered = fake_platform(|_| {
        (
            500,
            r#"{"type":"urn:dtfhe:problem:tampered","title":"Store integrity check failed","status":500,"detail":"chunk 3 altered"}"#
                .to_string(),
        )
    });
    exits(
        8,
        &[
            "query",
            "--server",
            &tampered,
            "--identity",
            p(&ana),
            "SELECT COUNT(*) FROM ai4i",
        ],
        &["chunk 3 altered"],
    );
}
