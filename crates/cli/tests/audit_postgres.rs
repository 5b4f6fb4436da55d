//! `dtfhe` on a PostgreSQL store (`--store postgres://...`): init, ingest (two sources and a
//! per-product lane dataset), queries, a sealed artifact; `audit verify`, `log` and `prove`
//! pass; UPDATE, DELETE and TRUNCATE issued with `psql` fail on every table; and after one
//! byte of one row of EVERY non-empty table is changed with `psql` by a superuser who
//! bypasses the triggers (`SET session_replication_role = replica`), `audit verify` fails
//! naming the table or entry. The PostgreSQL twin of `audit.rs`.
//!
//! Needs `DTFHE_TEST_PG_URL` (an admin URL, see `scripts/ensure-postgres.sh`): skipped with a
//! note without it, a failure under CI.

mod common;

use common::*;
use dtfhe_cli::demo;
use dtfhe_testkit::pg::{self, PgDb};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Exit code of a store error (e.g. a schema version changed so the store cannot be opened).
const STORE: i32 = 5;

/// The tables that must exist and be non-empty in the setup.
const CORE_TABLES: [&str; 10] = [
    "ledger_entries",
    "checkpoints",
    "checkpoint_key",
    "chunks",
    "blobs",
    "parts",
    "sources",
    "datasets",
    "lanes",
    "artifacts",
];

/// Runs SQL with the `psql` tool in one session (stopping at the first error).
fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new(pg::tool("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .expect("run psql");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        Err(err)
    }
}

struct Setup {
    dir: PathBuf,
    /// Never dropped (a static): the template of every test's copy.
    db: PgDb,
}

fn with_store<'a>(args: &[&'a str], url: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--store", url]);
    v
}

fn setup() -> Option<&'static Setup> {
    static SETUP: OnceLock<Option<Setup>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            pg::admin_url("PostgreSQL audit tests")?;
            let Some(csv) = ai4i_csv() else {
                eprintln!("SKIPPED: AI4I 2020 data not found (data/ai4i2020/ai4i2020.csv)");
                return None;
            };
            let root = fresh_dir(&format!("audit-pg-{}", std::process::id()));
            let dir = root.join("deployment");
            let db = PgDb::new("dtfhe_cli", None);
            let url = db.url.clone();
            let d = dir.to_str().expect("utf-8 path");
            ok(with_store(
                &[
                    "init",
                    "--dir",
                    d,
                    "--trustees",
                    "north,south,east",
                    "--min-group-size",
                    "5",
                    "--preset",
                    "bfv-8192",
                ],
                &url,
            ));
            // Nothing of the store itself is in the directory: only keys and trustees.
            assert!(!dir.join(dtfhe_store::STORE_FILE).exists());
            assert!(dir.join(dtfhe_store::KEY_FILE).is_file());
            let bytes = std::fs::read(csv).expect("data");
            let parts = demo::split_csv(&bytes, 3);
            let ingest = |schema: &str, csv: &Path, source: &str| {
                let mut args = ingest_args(&dir, &repo().join(schema), csv, source);
                args.extend(["--store".into(), url.as_str().into()]);
                ok(args)
            };
            for (source, part) in ["north", "south"].iter().zip(&parts) {
                let csv = root.join(format!("{source}.csv"));
                std::fs::write(&csv, part).expect("write part");
                ingest("schemas/ai4i.toml", &csv, source);
            }
            // A per-product dataset (fills the lane map).
            ingest(
                "schemas/ai4i_process.toml",
                &root.join("north.csv"),
                "north",
            );
            let out = ok(with_store(
                &[
                    "query",
                    "--dir",
                    d,
                    "--format",
                    "csv",
                    "SELECT type, COUNT(*), AVG(torque) FROM ai4i GROUP BY type",
                ],
                &url,
            ));
            assert!(out.starts_with("type,"), "{out}");
            let err = fails_with(
                4,
                with_store(&["query", "--dir", d, "SELECT torque FROM ai4i"], &url),
            );
            assert!(err.contains("encrypted"), "{err}");
            // A sealed artifact.
            let file = root.join("bracket.step");
            std::fs::write(&file, b"ISO-10303-21; a bracket").expect("write");
            ok(with_store(
                &[
                    "artifact",
                    "put",
                    "--dir",
                    d,
                    "--product",
                    "M14860",
                    "--stage",
                    "design",
                    "--file",
                    file.to_str().expect("path"),
                    "--source",
                    "north",
                ],
                &url,
            ));
            Some(Setup { dir, db })
        })
        .as_ref()
}

fn verify_args(dir: &Path, url: &str) -> Vec<std::ffi::OsString> {
    vec![
        "audit".into(),
        "verify".into(),
        "--dir".into(),
        dir.into(),
        "--store".into(),
        url.into(),
    ]
}

/// A copy of the setup: its directory and its database (dropped with the [`PgDb`]).
fn copy_of(name: &str) -> (PathBuf, PgDb, String) {
    let s = setup().expect("setup");
    let dir = fresh_dir(&format!("audit-pg-{}-{name}", std::process::id())).join("deployment");
    copy_dir(&s.dir, &dir);
    let db = PgDb::new("dtfhe_cli", Some(&s.db));
    let url = db.url.clone();
    (dir, db, url)
}

fn tables(url: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY 1",
        &[],
    )
    .expect("tables")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The attacker's statement for `table`: change one byte of the middle row (by physical
/// position): the first non-empty BYTEA column (`set_byte`), else the first TEXT column that
/// is not a timestamp (`overlay`, one ASCII character), else the first BIGINT column.
/// Returns the statement and a description, or `None` if the table is empty.
fn one_byte_change(url: &str, table: &str) -> Option<(String, String)> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let t = quote_ident(table);
    let cols: Vec<(String, String)> = c
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .expect("columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let ctids: Vec<String> = c
        .query(&format!("SELECT ctid::text FROM {t} ORDER BY ctid"), &[])
        .expect("ctids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ctid = ctids.get(ctids.len() / 2)?.clone();
    let at = format!("ctid = '{ctid}'");
    for (col, ty) in &cols {
        if ty == "bytea" {
            let q = quote_ident(col);
            let len: Option<i32> = c
                .query_one(&format!("SELECT length({q}) FROM {t} WHERE {at}"), &[])
                .expect("length")
                .get(0);
            let Some(len) = len.filter(|l| *l > 0) else {
                continue;
            };
            let i = len / 2;
            return Some((
                format!(
                    "UPDATE {t} SET {q} = set_byte({q}, {i}, get_byte({q}, {i}) # 1) WHERE {at}"
                ),
                format!("{table}.{col} ({ctid}, byte {i})"),
            ));
        }
    }
    if let Some((col, _)) = cols
        .iter()
        .find(|(n, ty)| ty == "text" && !n.ends_with("_at"))
    {
        let q = quote_ident(col);
        let v: String = c
            .query_one(&format!("SELECT {q} FROM {t} WHERE {at}"), &[])
            .expect("text")
            .get(0);
        let i = v.bytes().rposition(|x| x.is_ascii_alphanumeric())?;
        let ch = if v.as_bytes()[i] == b'a' { "b" } else { "a" };
        // overlay counts characters from 1; the text before `i` may hold multi-byte ones.
        let pos = v[..i].chars().count() + 1;
        return Some((
            format!("UPDATE {t} SET {q} = overlay({q} placing '{ch}' from {pos} for 1) WHERE {at}"),
            format!("{table}.{col} ({ctid}, character {pos})"),
        ));
    }
    let (col, _) = cols.iter().find(|(_, ty)| ty == "bigint")?;
    let q = quote_ident(col);
    Some((
        format!("UPDATE {t} SET {q} = {q} # 256 WHERE {at}"),
        format!("{table}.{col} ({ctid})"),
    ))
}

#[test]
fn fresh_postgres_store_verifies_logs_and_proves() {
    let Some(s) = setup() else { return };
    let out = ok(verify_args(&s.dir, &s.db.url));
    let line = out.trim();
    assert!(
        line.starts_with("verified ") && line.ends_with(": OK") && line.contains(" 1 releases,"),
        "{out}"
    );
    let d = s.dir.to_str().expect("path");
    let log = ok(with_store(
        &["audit", "log", "--dir", d, "--format", "json"],
        &s.db.url,
    ));
    let (_, kinds) = parse_log(&log);
    for k in [
        "deployment_created",
        "chunk_appended",
        "query_run",
        "release_requested",
        "trustee_approved",
        "result_delivered",
        "access_denied",
        "artifact_sealed",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} entry: {kinds:?}");
    }
    let out = ok(with_store(
        &["audit", "prove", "--dir", d, "--entry", "7"],
        &s.db.url,
    ));
    assert!(out.contains("inclusion proof verified: entry 7"), "{out}");
    let out = ok(with_store(
        &["audit", "prove", "--dir", d, "--from", "3", "--to", "9"],
        &s.db.url,
    ));
    assert!(out.contains("consistency proof verified"), "{out}");
    // The thread of a product reads from PostgreSQL too.
    let out = ok(with_store(
        &["thread", "show", "--dir", d, "--product", "M14860"],
        &s.db.url,
    ));
    assert!(out.contains("bracket.step"), "{out}");
    // A wrong password never shows in an error.
    let bad =
        s.db.url
            .replacen("postgres://postgres@", "postgres://nobody:s3cret@", 1);
    let o = dtfhe(verify_args(&s.dir, &bad));
    let (out, err) = texts(&o);
    assert_eq!(o.status.code(), Some(STORE), "{out}{err}");
    assert!(!err.contains("s3cret") && err.contains("***"), "{err}");
}

#[test]
fn update_delete_and_truncate_with_psql_fail_on_every_table() {
    let Some(s) = setup() else { return };
    let (dir, db, url) = copy_of("triggers");
    let all = tables(&url);
    for t in CORE_TABLES {
        assert!(all.iter().any(|x| x == t), "no table {t}: {all:?}");
    }
    // Spent request nonces are the one table meant to shrink: pruned past the clock skew,
    // never ledgered (migration 0006).
    assert!(all.iter().any(|x| x == "request_nonces"), "{all:?}");
    for table in all.iter().filter(|t| *t != "request_nonces") {
        let t = quote_ident(table);
        for sql in [
            format!("UPDATE {t} SET ctid = ctid"),
            format!("UPDATE {t} SET {c} = {c}", c = first_column(&url, table)),
            format!("DELETE FROM {t}"),
            format!("TRUNCATE {t} CASCADE"),
        ] {
            if sql.contains("SET ctid") {
                continue; // ctid is a system column: not updatable at all.
            }
            match psql(&url, &sql) {
                Ok(()) => {
                    // Allowed only where nothing is there to change.
                    let n: i64 = postgres::Client::connect(&url, postgres::NoTls)
                        .expect("connect")
                        .query_one(&format!("SELECT COUNT(*) FROM {t}"), &[])
                        .expect("count")
                        .get(0);
                    assert!(
                        n == 0 && !sql.starts_with("TRUNCATE"),
                        "{sql} succeeded on {n} rows"
                    );
                }
                Err(e) => assert!(e.contains(&format!("{table} is append-only")), "{sql}: {e}"),
            }
        }
    }
    ok(verify_args(&dir, &url));
    let _ = s;
    drop(db);
}

fn first_column(url: &str, table: &str) -> String {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let name: String = c
        .query_one(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             ORDER BY ordinal_position LIMIT 1",
            &[&table],
        )
        .expect("column")
        .get(0);
    quote_ident(&name)
}

#[test]
fn one_byte_changed_with_psql_in_any_table_is_named() {
    let Some(s) = setup() else { return };
    let all = tables(&s.db.url);
    for t in CORE_TABLES {
        assert!(all.iter().any(|x| x == t), "no table {t}: {all:?}");
    }
    let mut changed = 0;
    for table in &all {
        let (dir, db, url) = copy_of(&format!("byte_{table}"));
        let Some((update, what)) = one_byte_change(&url, table) else {
            eprintln!("{table}: empty in this deployment, nothing to change");
            drop(db);
            continue;
        };
        // The attacker: a superuser session that switches the triggers (and foreign keys)
        // off, then changes one byte.
        let script = format!("SET session_replication_role = replica; {update};");
        psql(&url, &script).unwrap_or_else(|e| panic!("{what}: {e}\n{script}"));
        let o = dtfhe(verify_args(&dir, &url));
        assert_tampering_named(&o, &what, table);
        changed += 1;
        drop(db);
        let _ = std::fs::remove_dir_all(dir.parent().expect("copy root"));
    }
    assert!(changed >= CORE_TABLES.len(), "{changed} tables changed");
}
