//! `dtfhe audit` on a real deployment (3 trustees, two AI4I sources, a few queries): the
//! ledger records every query, release, trustee decision, delivery and refusal without a
//! value; `audit verify` passes, then fails naming the table or entry after one byte of one
//! row of EVERY table of the store is changed from outside with the sqlite3 tool (triggers
//! dropped and re-created in the same session, as an attacker with file access can do);
//! UPDATE and DELETE with the triggers in place fail; a delivery without every trustee's
//! approval is caught; inclusion and consistency proofs verify.

mod common;

use common::*;
use dtfhe_cli::demo;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Exit code of `dtfhe audit` when it finds tampering.
const TAMPERED: i32 = 8;

struct Setup {
    dir: PathBuf,
    /// Values printed by the queries (must never appear in the ledger).
    released_values: Vec<String>,
}

fn setup() -> Option<&'static Setup> {
    static SETUP: OnceLock<Option<Setup>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let Some(csv) = ai4i_csv() else {
                eprintln!("SKIPPED: AI4I 2020 data not found (data/ai4i2020/ai4i2020.csv)");
                return None;
            };
            // Per process: another `cargo test` of this file may run at the same time.
            let root = fresh_dir(&format!("audit-{}", std::process::id()));
            let dir = root.join("deployment");
            let schema = repo().join("schemas/ai4i.toml");
            init(&dir, "north,south,east", 5, "bfv-8192");
            let bytes = std::fs::read(csv).expect("data");
            for (source, part) in ["north", "south"].iter().zip(demo::split_csv(&bytes, 3)) {
                let csv = root.join(format!("{source}.csv"));
                std::fs::write(&csv, &part).expect("write part");
                ingest(&dir, &schema, &csv, source);
            }
            let d = dir.to_str().expect("utf-8 path");
            let mut released_values = Vec::new();
            for sql in [
                "SELECT type, COUNT(*), AVG(torque) FROM ai4i GROUP BY type",
                "SELECT type, COUNT(*), AVG(torque) FROM ai4i GROUP BY type",
                "SELECT SUM(tool_wear), AVG(rpm) FROM ai4i",
            ] {
                let out = ok(["query", "--dir", d, "--format", "csv", sql]);
                for line in out.lines().skip(1) {
                    for v in line.split(',') {
                        // Released aggregates of encrypted columns (not counts, not labels).
                        if v.contains('.') || v.len() >= 6 {
                            released_values.push(v.to_string());
                        }
                    }
                }
            }
            let err = fails_with(4, ["query", "--dir", d, "SELECT torque FROM ai4i"]);
            assert!(err.contains("encrypted"), "{err}");
            assert!(!released_values.is_empty());
            Some(Setup {
                dir,
                released_values,
            })
        })
        .as_ref()
}

fn verify_args(dir: &Path) -> Vec<std::ffi::OsString> {
    vec!["audit".into(), "verify".into(), "--dir".into(), dir.into()]
}

fn copy_of(name: &str) -> PathBuf {
    let s = setup().expect("setup");
    let dir = fresh_dir(&format!("audit-{}-{name}", std::process::id())).join("deployment");
    copy_dir(&s.dir, &dir);
    dir
}

fn db(dir: &Path) -> PathBuf {
    dir.join(dtfhe_store::STORE_FILE)
}

/// How SQL is run against the store file from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Sqlite3,
    Rusqlite,
}

fn have_sqlite3() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The sqlite3 command-line tool, installed with `scripts/ensure-sqlite3.sh` if missing;
/// a raw rusqlite connection if it still is not available.
fn tool() -> Tool {
    static TOOL: OnceLock<Tool> = OnceLock::new();
    *TOOL.get_or_init(|| {
        if have_sqlite3() {
            return Tool::Sqlite3;
        }
        eprintln!("sqlite3 not on PATH: running scripts/ensure-sqlite3.sh");
        let _ = Command::new(repo().join("scripts/ensure-sqlite3.sh")).status();
        if have_sqlite3() {
            Tool::Sqlite3
        } else {
            eprintln!(
                "sqlite3 is still unavailable: tampering through a raw rusqlite connection instead"
            );
            Tool::Rusqlite
        }
    })
}

/// Runs an SQL script against the database file from outside the store, in one session.
fn outside_sql(db: &Path, script: &str) -> Result<(), String> {
    match tool() {
        Tool::Sqlite3 => {
            let out = output_with_stdin(
                Command::new("sqlite3").arg("-bail").arg(db),
                script.as_bytes(),
            );
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if out.status.success() && err.is_empty() {
                Ok(())
            } else {
                Err(err)
            }
        }
        Tool::Rusqlite => rusqlite::Connection::open(db)
            .and_then(|c| c.execute_batch(script))
            .map_err(|e| e.to_string()),
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The value of column `c` in row `rowid` of the table `t` (quoted).
fn cell<T: rusqlite::types::FromSql>(
    conn: &rusqlite::Connection,
    t: &str,
    c: &str,
    rowid: i64,
) -> T {
    conn.query_row(
        &format!("SELECT {} FROM {t} WHERE rowid = ?1", quote_ident(c)),
        [rowid],
        |r| r.get(0),
    )
    .expect(c)
}

/// Builds the attacker's script for `table`: drop its triggers, change one byte of one
/// row (the middle row; the first BLOB column, else the first TEXT column that is not a
/// timestamp, else the first INTEGER column), re-create the triggers. Returns the script
/// and a description, or `None` if the table is empty.
fn one_byte_change(db: &Path, table: &str) -> Option<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open read-only");
    let t = quote_ident(table);
    let cols: Vec<(String, String)> = conn
        .prepare(&format!("PRAGMA table_info({t})"))
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .and_then(|rows| rows.collect())
        })
        .expect("table_info");
    let rowids: Vec<i64> = conn
        .prepare(&format!("SELECT rowid FROM {t} ORDER BY rowid"))
        .and_then(|mut s| s.query_map([], |r| r.get(0)).and_then(|r| r.collect()))
        .expect("rowids");
    let rowid = *rowids.get(rowids.len() / 2)?;
    let pick = |ty: &str, skip_time: bool| {
        cols.iter()
            .find(|(n, t)| t.eq_ignore_ascii_case(ty) && !(skip_time && n.ends_with("_at")))
            .map(|(n, _)| n.clone())
    };
    let (col, literal) = if let Some(c) = pick("BLOB", false).filter(|c| {
        // A nullable BLOB column may be NULL in this row; take it only if set.
        conn.query_row(
            &format!(
                "SELECT length({}) FROM {t} WHERE rowid = ?1",
                quote_ident(c)
            ),
            [rowid],
            |r| r.get::<_, Option<i64>>(0),
        )
        .ok()
        .flatten()
        .unwrap_or(0)
            > 0
    }) {
        let mut v: Vec<u8> = cell(&conn, &t, &c, rowid);
        let i = v.len() / 2;
        v[i] ^= 0x01;
        (c, format!("X'{}'", hex(&v)))
    } else if let Some(c) = pick("TEXT", true) {
        let v: String = cell(&conn, &t, &c, rowid);
        let mut b = v.into_bytes();
        let i = b.iter().rposition(|x| x.is_ascii_alphanumeric())?;
        b[i] = if b[i] == b'a' { b'b' } else { b'a' };
        let v = String::from_utf8(b).expect("ascii change keeps utf-8");
        (c, format!("'{}'", v.replace('\'', "''")))
    } else {
        let c = pick("INTEGER", false)?;
        let v: i64 = cell(&conn, &t, &c, rowid);
        (c, (v ^ 0x100).to_string())
    };
    let update = format!(
        "UPDATE {t} SET {} = {literal} WHERE rowid = {rowid}",
        quote_ident(&col)
    );
    let script = dtfhe_testkit::sqlite::bypassing_triggers(&conn, table, &update);
    Some((script, format!("{table}.{col} (rowid {rowid})")))
}

fn tables(db: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .and_then(|mut s| s.query_map([], |r| r.get(0)).and_then(|r| r.collect()))
    .expect("tables")
}

#[test]
fn fresh_store_verifies_and_the_ledger_records_every_step() {
    let Some(s) = setup() else { return };
    let out = ok(verify_args(&s.dir));
    let line = out.trim();
    assert!(
        line.starts_with("verified ") && line.ends_with(": OK") && !line.contains('\n'),
        "{out}"
    );
    assert!(line.contains(" 3 releases,"), "{out}");
    let d = s.dir.to_str().expect("path");
    let log = ok(["audit", "log", "--dir", d, "--format", "json"]);
    let (entries, kinds) = parse_log(&log);
    for k in [
        "query_run",
        "release_requested",
        "trustee_approved",
        "result_delivered",
        "access_denied",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} entry: {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == "trustee_approved").count(),
        9
    );
    assert_eq!(kinds.iter().filter(|k| **k == "query_run").count(), 4);
    // The same query twice: every trustee gave byte-identical shares (one per ciphertext).
    let approvals = |release: u64, who: &str| {
        entries
            .iter()
            .find(|e| {
                e["kind"] == "trustee_approved"
                    && e["actor"] == who
                    && e["subject"] == format!("release {release}")
            })
            .map(|e| e["hashes"].clone())
            .expect("approval")
    };
    let releases: Vec<u64> = entries
        .iter()
        .filter(|e| e["kind"] == "release_requested")
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    for who in ["north", "south", "east"] {
        assert_eq!(approvals(releases[0], who), approvals(releases[1], who));
        assert_ne!(approvals(releases[0], who), approvals(releases[2], who));
    }
    // No released value appears anywhere in the ledger.
    let text = ok(["audit", "log", "--dir", d]);
    for v in &s.released_values {
        assert!(!text.contains(v.as_str()), "value {v} is in the ledger");
        assert!(!log.contains(v.as_str()), "value {v} is in the ledger");
    }
    assert!(text.starts_with("seq\ttime\tkind\tactor\tsubject\tdetail\thashes\n"));
}

#[test]
fn proofs_print_and_verify() {
    let Some(s) = setup() else { return };
    let d = s.dir.to_str().expect("path");
    let out = ok(["audit", "prove", "--dir", d, "--entry", "7"]);
    for needle in [
        "leaf hash:",
        "tree size:",
        "root:",
        "proof (",
        "signed checkpoint:",
        "inclusion proof verified: entry 7",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let out = ok(["audit", "prove", "--dir", d, "--from", "3", "--to", "9"]);
    assert!(
        out.contains(
            "consistency proof verified: the ledger at size 3 is a prefix of the ledger at size 9"
        ),
        "{out}"
    );
    let out = ok(["audit", "prove", "--dir", d, "--from", "4"]);
    assert!(out.contains("new signed checkpoint (verified)"), "{out}");
    let err = fails_with(2, ["audit", "prove", "--dir", d, "--entry", "100000"]);
    assert!(err.contains("--entry 100000"), "{err}");
}

#[test]
fn one_byte_changed_in_any_table_is_named() {
    let Some(s) = setup() else { return };
    let all = tables(&db(&s.dir));
    for t in ["ledger_entries", "checkpoints", "chunks", "blobs", "parts"] {
        assert!(all.iter().any(|x| x == t), "no table {t}: {all:?}");
    }
    eprintln!("tampering through {:?}", tool());
    for table in &all {
        let dir = copy_of(&format!("byte_{table}"));
        let Some((script, what)) = one_byte_change(&db(&dir), table) else {
            eprintln!("{table}: empty in this deployment, nothing to change");
            continue;
        };
        outside_sql(&db(&dir), &script).unwrap_or_else(|e| panic!("{what}: {e}\n{script}"));
        let o = dtfhe(verify_args(&dir));
        assert_tampering_named(&o, &what, table);
        let _ = std::fs::remove_dir_all(dir.parent().expect("copy root"));
    }
}

#[test]
fn update_and_delete_from_outside_fail_on_ledger_and_chunk_tables() {
    let Some(_) = setup() else { return };
    let dir = copy_of("triggers");
    let file = db(&dir);
    let all = tables(&file);
    for table in all.iter().filter(|t| {
        ["ledger_entries", "checkpoints", "chunks", "blobs", "parts"].contains(&t.as_str())
    }) {
        let t = quote_ident(table);
        for sql in [
            format!("UPDATE {t} SET rowid = rowid WHERE rowid = (SELECT MIN(rowid) FROM {t});"),
            format!("DELETE FROM {t} WHERE rowid = (SELECT MAX(rowid) FROM {t});"),
            format!("DELETE FROM {t};"),
        ] {
            let e = outside_sql(&file, &sql).expect_err(&format!("{sql} succeeded"));
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
    }
    ok(verify_args(&dir));
}

/// The hash the forged release entries carry.
const FORGED_HASH: [u8; 32] = [7; 32];

/// Appends (with the store's signing key) a release request by `mallory`, approved by
/// `trustees`; returns its entry.
fn request_approved_by(store: &mut dtfhe_store::Store, trustees: &[&str]) -> u64 {
    use dtfhe_store::EntryKind;
    let r = store
        .append_entry(
            EntryKind::ReleaseRequested,
            "mallory",
            "ai4i",
            "1 sum",
            &[FORGED_HASH],
        )
        .expect("append");
    for t in trustees {
        store
            .append_entry(
                EntryKind::TrusteeApproved,
                t,
                &format!("release {r}"),
                "approved",
                &[FORGED_HASH],
            )
            .expect("append");
    }
    r
}

/// Appends the delivery of release `r` to `mallory`; returns its entry.
fn deliver(store: &mut dtfhe_store::Store, r: u64) -> u64 {
    store
        .append_entry(
            dtfhe_store::EntryKind::ResultDelivered,
            "mallory",
            &format!("release {r}"),
            "1 value",
            &[FORGED_HASH],
        )
        .expect("append")
}

#[test]
fn delivery_without_every_trustee_approval_is_named() {
    use dtfhe_store::{EntryKind, Store};
    let Some(_) = setup() else { return };
    // A release approved by two of three trustees, delivered anyway (by someone holding
    // the store's signing key, so every checkpoint is valid).
    let dir = copy_of("missing_approval");
    let mut store = Store::open(&dir).expect("open");
    let r = request_approved_by(&mut store, &["north", "south"]);
    let d = deliver(&mut store, r);
    drop(store);
    let err = fails_with(TAMPERED, verify_args(&dir));
    assert!(
        err.contains(&format!("ledger entry {d}"))
            && err.contains("without the approval of trustee `east`"),
        "{err}"
    );

    // A delivery that names no earlier release request.
    let dir = copy_of("no_release");
    let mut store = Store::open(&dir).expect("open");
    let d = store
        .append_entry(EntryKind::ResultDelivered, "mallory", "release 2", "x", &[])
        .expect("append");
    drop(store);
    let err = fails_with(TAMPERED, verify_args(&dir));
    assert!(
        err.contains(&format!("ledger entry {d}")) && err.contains("not an earlier release"),
        "{err}"
    );

    // A delivery after a refusal.
    let dir = copy_of("refused_release");
    let mut store = Store::open(&dir).expect("open");
    let r = request_approved_by(&mut store, &["north", "south", "east"]);
    store
        .append_entry(
            EntryKind::TrusteeRefused,
            "east",
            &format!("release {r}"),
            "k-minimum",
            &[],
        )
        .expect("append");
    deliver(&mut store, r);
    drop(store);
    let err = fails_with(TAMPERED, verify_args(&dir));
    assert!(err.contains("which trustee `east` refused"), "{err}");
}
