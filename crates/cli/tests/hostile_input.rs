//! Bytes that must not be accepted: control characters in public text (NUL, escape, bell,
//! DEL, C1) and decimals finer than the column's scale are refused at ingest with line and
//! column (exit 3, nothing stored), by the embedded `dtfhe ingest` and by the edge agent; a
//! column that declares `round = true` rounds instead. Table output escapes whatever is
//! unprintable.

mod common;

use common::*;
use dtfhe_embedded::reference;
use dtfhe_model::Schema;
use std::path::{Path, PathBuf};

const SCHEMA: &str = r#"
dataset = "cells"
stage = "manufacturing"
description = "a public text column and an encrypted one at scale 1"
[[columns]]
name = "line"
type = "text"
kind = "public"
nullable = true
[[columns]]
name = "torque"
kind = "encrypted"
min = 0.0
max = 100.0
scale = 1
"#;

fn rows(lines: &[String]) -> String {
    let mut out = String::from("line,torque\n");
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Six good rows, then `bad` on line 8.
fn with_bad_line(bad: &str) -> String {
    let mut lines: Vec<String> = (0..6).map(|i| format!("L{},{}.5", i % 2, 40 + i)).collect();
    lines.push(bad.to_string());
    rows(&lines)
}

fn ingest_fails(dir: &Path, schema: &Path, csv_text: &str, what: &str) -> String {
    let csv = dir.join("bad.csv");
    std::fs::write(&csv, csv_text).expect("csv");
    let before = store_counts(dir, "cells");
    let err = fails_with(3, ingest_args(dir, schema, &csv, "plant-a"));
    assert_eq!(
        store_counts(dir, "cells"),
        before,
        "{what}: something was stored"
    );
    assert!(
        err.contains("line 8") && err.contains("torque") == (what == "decimals"),
        "{what}: {err}"
    );
    err
}

/// A new embedded deployment `root/d` (one trustee `a`, k = 5) and the schema file
/// `root/cells.toml` holding `schema_text`: the root, the deployment and the schema file.
fn deployment_with_schema(name: &str, schema_text: &str) -> (PathBuf, PathBuf, PathBuf) {
    let root = fresh_dir(name);
    let dir = root.join("d");
    init(&dir, "a", 5, "bfv-8192");
    let schema = root.join("cells.toml");
    std::fs::write(&schema, schema_text).expect("schema");
    (root, dir, schema)
}

#[test]
fn control_characters_and_extra_decimals_are_refused_with_line_and_column() {
    let (root, dir, schema) = deployment_with_schema("hostile_input_embedded", SCHEMA);
    for (name, c) in [
        ("NUL", '\u{0}'),
        ("BEL", '\u{7}'),
        ("ESC", '\u{1b}'),
        ("DEL", '\u{7f}'),
        ("CSI (C1)", '\u{9b}'),
    ] {
        let err = ingest_fails(
            &dir,
            &schema,
            &with_bad_line(&format!("L{c}[31m,42.5")),
            name,
        );
        assert!(
            err.contains("column line")
                || err.contains("column \"line\"")
                || err.contains("`line`"),
            "{name}: {err}"
        );
        assert!(
            err.contains(&format!("U+{:04X}", u32::from(c))),
            "{name}: {err}"
        );
        assert!(
            !err.contains(c),
            "{name}: the message repeats the character"
        );
    }
    let err = ingest_fails(&dir, &schema, &with_bad_line("L1,42.85"), "decimals");
    assert!(
        err.contains("more decimals than the column's scale of 1"),
        "{err}"
    );
    assert!(
        !err.contains("42.85"),
        "an encrypted value is quoted: {err}"
    );

    // Tab is text, trailing zeros are exact: accepted, and the released sum is exact.
    let good = rows(&[
        "L\t1,42.80".into(),
        "L2,1.5".into(),
        "L2,2.0".into(),
        "L2,3".into(),
        "L2,4.5".into(),
        "L2,5.5".into(),
    ]);
    let csv = root.join("good.csv");
    std::fs::write(&csv, &good).expect("csv");
    ingest(&dir, &schema, &csv, "plant-a");
    let parsed = Schema::from_toml_str(SCHEMA, "cells").expect("schema");
    let plain = reference::plain_rows(good.as_bytes(), &parsed, "plant-a").expect("rows");
    check_query(
        &dir,
        &parsed,
        &plain,
        "SELECT COUNT(torque), SUM(torque) FROM cells",
    );
}

#[test]
fn a_column_that_opts_in_rounds_half_away_from_zero() {
    let (root, dir, schema) = deployment_with_schema(
        "hostile_input_round",
        &SCHEMA.replace("scale = 1", "scale = 1\nround = true"),
    );
    let text = rows(
        &(0..6)
            .map(|i| format!("L,{}.25", 40 + i))
            .collect::<Vec<_>>(),
    );
    let csv = root.join("r.csv");
    std::fs::write(&csv, &text).expect("csv");
    ingest(&dir, &schema, &csv, "plant-a");
    // 40.25 .. 45.25 each round to x.3: the sum is 6 × 42.8 = 256.8, exactly.
    let r = query_json(&dir, "SELECT SUM(torque) FROM cells");
    match r.rows[0][0] {
        dtfhe_engine::Cell::Float(f) => assert!((f - 256.8).abs() < 1e-9, "{f}"),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn the_agent_refuses_the_same_bytes_before_sending_anything() {
    let root = fresh_dir("hostile_input_agent");
    let schema = root.join("cells.toml");
    std::fs::write(&schema, SCHEMA).expect("schema");
    let id = root.join("src.id");
    ok([
        "identity".as_ref(),
        "new".as_ref(),
        "--name".as_ref(),
        "src".as_ref(),
        "--out".as_ref(),
        id.as_os_str(),
    ] as [&std::ffi::OsStr; 6]);
    // No platform listens on this port: the file is checked before any connection.
    let url = format!("http://127.0.0.1:{}", free_port());
    for (what, text) in [
        ("ESC", with_bad_line("L\u{1b}[2J,42.5")),
        ("decimals", with_bad_line("L1,42.85")),
    ] {
        let csv = root.join("bad.csv");
        std::fs::write(&csv, text).expect("csv");
        let err = fails_with(
            3,
            [
                "agent".as_ref(),
                "--server".as_ref(),
                url.as_ref(),
                "--identity".as_ref(),
                id.as_os_str(),
                "--schema".as_ref(),
                schema.as_os_str(),
                "--csv".as_ref(),
                csv.as_os_str(),
                "--spool".as_ref(),
                root.join("spool").as_os_str(),
            ] as [&std::ffi::OsStr; 11],
        );
        assert!(err.contains("line 8"), "{what}: {err}");
    }
}

#[test]
fn table_output_escapes_what_a_terminal_would_interpret() {
    let r = dtfhe_engine::ResultSet {
        columns: vec!["line\u{1b}[31m".into(), "n".into()],
        rows: vec![vec![
            dtfhe_engine::Cell::Text("a\u{7}b\u{0}c\u{9b}".into()),
            dtfhe_engine::Cell::Int(3),
        ]],
        decimals: Vec::new(),
        keys: Vec::new(),
    };
    let t = r.to_table();
    assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
    assert!(
        t.contains("line\\u{1b}[31m") && t.contains("a\\u{7}b\\u{0}c\\u{9b}"),
        "{t}"
    );
}
