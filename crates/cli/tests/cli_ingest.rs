//! Ingest through the `dtfhe` binary: bad files are rejected with file, line and column and
//! leave the store unchanged; BOM + CRLF files are accepted; a second ingest appends; NULLs
//! are skipped by aggregates; an aggregate whose declared bounds could overflow is refused.

mod common;

use common::*;
use dtfhe_embedded::reference;
use dtfhe_model::Schema;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PARTS_SCHEMA: &str = include_str!("schemas/parts.toml");

/// `n` good rows (starting at id `first`) with a header, LF line endings.
fn parts_csv(first: usize, n: usize) -> String {
    let mut s = String::from("id,line,X [mm],y\n");
    for i in first..first + n {
        let x = (i * 7919) % 10_000;
        let y = ((i * 104_729) % 1001) as i64 - 500;
        let _ = writeln!(
            s,
            "{i},L{},{}.{:02},{}{}.{}",
            i % 3,
            x / 100,
            x % 100,
            if y < 0 { "-" } else { "" },
            y.abs() / 10,
            y.abs() % 10
        );
    }
    s
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

/// A new deployment `d` (k = 5) of `trustees` under a fresh directory `name`: the directory
/// and the deployment.
fn deployment(name: &str, trustees: &str, preset: &str) -> (PathBuf, PathBuf) {
    let root = fresh_dir(name);
    let dir = root.join("d");
    init(&dir, trustees, 5, preset);
    (root, dir)
}

/// Replace line `line` (1-based, header = 1) of a CSV text.
fn with_line(csv: &str, line: usize, new: &str) -> String {
    csv.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                new.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn bad_files_are_rejected_and_store_unchanged() {
    let (root, dir) = deployment("cli_ingest_bad", "a,b", "bfv-8192");
    let schema = write(&root, "parts.toml", PARTS_SCHEMA);
    let good = parts_csv(1, 40);
    ingest(&dir, &schema, &write(&root, "good.csv", &good), "plant");
    let before = (store_counts(&dir, "parts"), count_rows(&dir, "parts"));
    assert_eq!(before, ((40, 1), 40));

    let mut non_utf8 = with_line(&good, 6, "5,L@,1.00,2.0").into_bytes();
    let at = non_utf8
        .windows(2)
        .position(|w| w == b"L@")
        .expect("marker");
    non_utf8[at + 1] = 0xFF;
    // (file name, bytes, line named, column named, words of the reason)
    type Case<'a> = (&'a str, Vec<u8>, usize, Option<&'a str>, &'a str);
    // A copy of the good file with `line` replaced by `text`.
    let bad_line = |name, line, text, column, reason| -> Case {
        (
            name,
            with_line(&good, line, text).into_bytes(),
            line,
            column,
            reason,
        )
    };
    let cases: Vec<Case> = vec![
        bad_line(
            "unparsable.csv",
            41,
            "40,L1,12.3.4,1.0",
            Some("x"),
            "not a decimal number",
        ),
        bad_line(
            "out_of_range.csv",
            7,
            "6,L0,100.01,1.0",
            Some("x"),
            "outside the declared range",
        ),
        bad_line(
            "below_range.csv",
            9,
            "8,L2,1.00,-50.1",
            Some("y"),
            "outside the declared range",
        ),
        bad_line("columns.csv", 4, "3,L0,1.00,2.0,extra", None, ""),
        bad_line("short.csv", 12, "11,L0,1.00", None, ""),
        ("non_utf8.csv", non_utf8, 6, None, "UTF-8"),
        bad_line("null.csv", 3, "2,L2,,2.0", Some("x"), ""),
        bad_line("bad_integer.csv", 10, "nine,L2,1.00,2.0", Some("id"), ""),
    ];
    for (name, bytes, line, column, reason) in cases {
        let csv = write(&root, name, &bytes);
        let err = fails_with(3, ingest_args(&dir, &schema, &csv, "plant"));
        assert!(err.contains(name), "{name}: message names the file: {err}");
        assert!(
            err.contains(&format!("line {line}")),
            "{name}: message names line {line}: {err}"
        );
        if let Some(c) = column {
            assert!(
                err.contains(&format!("column \"{c}\"")),
                "{name}: message names column {c}: {err}"
            );
        }
        assert!(err.contains(reason), "{name}: {err}");
        assert!(err.contains("nothing was stored"), "{name}: {err}");
        let after = (store_counts(&dir, "parts"), count_rows(&dir, "parts"));
        assert_eq!(after, before, "{name}: the store changed");
    }

    // A bad first file of a new dataset does not even register the dataset.
    let other = write(
        &root,
        "other.toml",
        PARTS_SCHEMA.replace("\"parts\"", "\"other\""),
    );
    let csv = write(&root, "other.csv", with_line(&good, 20, "19,L0,abc,1.0"));
    fails_with(3, ingest_args(&dir, &other, &csv, "plant"));
    assert_eq!(store_counts(&dir, "other"), (0, 0));
    let store = dtfhe_store::Store::open(&dir).expect("store");
    assert_eq!(
        store.datasets().expect("datasets"),
        vec!["parts".to_string()]
    );

    // A schema error and a missing file are reported too, still with nothing stored.
    let bad_schema = write(
        &root,
        "bad.toml",
        PARTS_SCHEMA.replace(
            "kind = \"public\"\ntype = \"text\"",
            "knd = \"public\"\ntype = \"text\"",
        ),
    );
    let err = fails_with(
        3,
        ingest_args(&dir, &bad_schema, &root.join("good.csv"), "plant"),
    );
    assert!(err.contains("bad.toml") && err.contains("knd"), "{err}");
    assert_eq!(store_counts(&dir, "parts"), before.0);
}

#[test]
fn bom_crlf_and_append() {
    let (root, dir) = deployment("cli_ingest_append", "a,b,c", "bfv-8192");
    let schema_path = write(&root, "parts.toml", PARTS_SCHEMA);
    let schema = Schema::from_toml_str(PARTS_SCHEMA, "parts.toml").expect("schema");

    let ingest_file = |name: &str, bytes: &[u8], source: &str| {
        ingest(&dir, &schema_path, &write(&root, name, bytes), source)
    };
    // First file: UTF-8 BOM and CRLF line endings.
    let first = parts_csv(1, 40);
    let mut bom_crlf = b"\xEF\xBB\xBF".to_vec();
    bom_crlf.extend_from_slice(first.replace('\n', "\r\n").as_bytes());
    let out = ingest_file("first.csv", &bom_crlf, "plant-a");
    assert!(out.contains("40 rows"), "{out}");
    // Second file (same dataset, another source): appended.
    let second = parts_csv(41, 30);
    let out = ingest_file("second.csv", second.as_bytes(), "plant-b");
    assert!(out.contains("30 rows"), "{out}");
    // Third, same source again: appended too.
    let third = parts_csv(71, 10);
    ingest_file("third.csv", third.as_bytes(), "plant-a");

    assert_eq!(store_counts(&dir, "parts"), (80, 3));
    assert_eq!(count_rows(&dir, "parts"), 80);
    let mut rows = reference::plain_rows(&bom_crlf, &schema, "plant-a").expect("rows");
    rows.extend(reference::plain_rows(second.as_bytes(), &schema, "plant-b").expect("rows"));
    rows.extend(reference::plain_rows(third.as_bytes(), &schema, "plant-a").expect("rows"));
    assert_eq!(rows.len(), 80);
    for sql in [
        "SELECT COUNT(*), SUM(x), AVG(y), VAR_SAMP(x), CORR(x, y), REGR_SLOPE(y, x) FROM parts",
        "SELECT source, COUNT(*), SUM(x), SUM(y), AVG(x) FROM parts GROUP BY source ORDER BY source",
        "SELECT line, COUNT(*), SUM(y) FROM parts WHERE id BETWEEN 20 AND 60 GROUP BY line ORDER BY line",
    ] {
        check_query(&dir, &schema, &rows, sql);
    }
}

const SENSORS_SCHEMA: &str = include_str!("schemas/sensors.toml");

#[test]
fn nullable_columns_are_skipped_by_aggregates() {
    let (root, dir) = deployment("cli_ingest_nullable", "a,b", "bfv-16384");
    let schema_path = write(&root, "sensors.toml", SENSORS_SCHEMA);
    let schema = Schema::from_toml_str(SENSORS_SCHEMA, "sensors.toml").expect("schema");
    let mut csv = String::from("unit;shift;temp;load\n");
    for i in 0..60usize {
        let temp = if i % 4 == 1 {
            String::new()
        } else {
            format!("{}.{}", 20 + (i * 37) % 60, i % 10)
        };
        let load = if i % 5 == 2 {
            String::new()
        } else {
            format!("{}.{:02}", (i * 13) % 10, (i * 29) % 100)
        };
        let shift = if i % 7 == 3 {
            ""
        } else if i % 2 == 0 {
            "day"
        } else {
            "night"
        };
        let _ = writeln!(csv, "{};{shift};{temp};{load}", i % 6);
    }
    ingest(
        &dir,
        &schema_path,
        &write(&root, "sensors.csv", &csv),
        "site",
    );
    let rows = reference::plain_rows(csv.as_bytes(), &schema, "site").expect("rows");
    let r = query_json(
        &dir,
        "SELECT COUNT(*), COUNT(temp), COUNT(load) FROM sensors",
    );
    assert_eq!(
        r.rows[0],
        vec![
            dtfhe_engine::Cell::Int(60),
            dtfhe_engine::Cell::Int(45),
            dtfhe_engine::Cell::Int(48)
        ]
    );
    for sql in [
        "SELECT COUNT(*), COUNT(temp), COUNT(load), SUM(temp), AVG(temp), AVG(load), \
         VAR_POP(temp), STDDEV_SAMP(load) FROM sensors",
        "SELECT COVAR_POP(temp, load), CORR(temp, load), REGR_SLOPE(load, temp), \
         REGR_INTERCEPT(load, temp) FROM sensors",
        "SELECT shift, COUNT(*), COUNT(temp), AVG(temp), AVG(load) FROM sensors \
         WHERE shift IS NOT NULL GROUP BY shift ORDER BY shift",
    ] {
        check_query(&dir, &schema, &rows, sql);
    }
}

#[test]
fn aggregate_that_could_overflow_is_refused() {
    let (root, dir) = deployment("cli_ingest_overflow", "a,b,c", "bfv-8192");
    // |v| up to 10^12 ≈ 2^40 per row: 1,100 rows could reach 1.1·10^15 > t/2 ≈ 5.6·10^14.
    let schema_text = r#"
dataset = "ledger"
stage = "design"
[[columns]]
name = "id"
kind = "public"
type = "integer"
[[columns]]
name = "amount"
kind = "encrypted"
scale = 0
min = -1000000000000
max = 1000000000000
"#;
    let schema_path = write(&root, "ledger.toml", schema_text);
    let schema = Schema::from_toml_str(schema_text, "ledger.toml").expect("schema");
    let mut csv = String::from("id,amount\n");
    for i in 1..=1100i64 {
        let v = (i * 987_654_321_987) % 1_000_000_000_000 * if i % 2 == 0 { 1 } else { -1 };
        let _ = writeln!(csv, "{i},{v}");
    }
    ingest(
        &dir,
        &schema_path,
        &write(&root, "ledger.csv", &csv),
        "office",
    );
    let err = fails_with(4, query_args(&dir, "SELECT SUM(amount) FROM ledger"));
    assert!(
        err.contains("refused") && err.contains("plaintext bound"),
        "{err}"
    );
    assert!(err.contains("nothing was decrypted"), "{err}");
    let err = fails_with(
        4,
        query_args(&dir, "SELECT AVG(amount) FROM ledger WHERE id > 100"),
    );
    assert!(err.contains("plaintext bound"), "{err}");
    // Products of such values can never fit, even over few rows.
    fails_with(
        4,
        query_args(&dir, "SELECT VAR_POP(amount) FROM ledger WHERE id <= 10"),
    );
    // Over few enough rows the proof succeeds and the sum is exact.
    let rows = reference::plain_rows(csv.as_bytes(), &schema, "office").expect("rows");
    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT COUNT(*), SUM(amount), AVG(amount) FROM ledger WHERE id <= 500",
    );
}
