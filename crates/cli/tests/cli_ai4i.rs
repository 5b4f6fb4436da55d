//! The `dtfhe` binary on the vendored AI4I 2020 data (two sources): every aggregate, WHERE,
//! GROUP BY and ORDER BY checked against the plaintext evaluation, every refusal checked.
//! One deployment is shared by all the read-only tests in this file.

mod common;

use common::*;
use dtfhe_engine::plaintext::PlainRow;
use dtfhe_model::Schema;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Setup {
    dir: PathBuf,
    schema: Schema,
    rows: Vec<PlainRow>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let root = fresh_dir("cli_ai4i");
        let dir = root.join("deployment");
        let schema_path = repo().join("schemas/ai4i.toml");
        let schema = Schema::from_toml_file(&schema_path).expect("schema");
        // Row-number filters exercise WHERE evaluation; the trustees' policy must allow them
        // (identifier columns are refused by default, see tests/disclosure.rs).
        init_with(
            &dir,
            "north,south,east",
            5,
            "bfv-16384",
            &["--allow-key-filters"],
        );
        let rows = ingest_ai4i_halves(&root, &dir, &schema_path, &schema);
        assert_eq!(rows.len(), 10_000);
        Setup { dir, schema, rows }
    })
}

fn check(sql: &str) -> usize {
    let s = setup();
    check_query(&s.dir, &s.schema, &s.rows, sql)
}

#[test]
fn every_aggregate_over_all_rows() {
    let n = check(
        "SELECT COUNT(*) AS n, COUNT(torque) AS n_torque, SUM(torque) AS sum_torque, \
         AVG(torque) AS avg_torque, VAR_POP(torque) AS var_pop, VAR_SAMP(torque) AS var_samp, \
         VARIANCE(rpm) AS variance_rpm, STDDEV_POP(torque) AS sd_pop, \
         STDDEV_SAMP(torque) AS sd_samp, STDDEV(tool_wear) AS sd_wear FROM ai4i",
    );
    assert_eq!(n, 10);
    let n = check(
        "SELECT COVAR_POP(torque, rpm), COVAR_SAMP(torque, rpm), CORR(torque, rpm), \
         REGR_SLOPE(torque, rpm), REGR_INTERCEPT(torque, rpm), REGR_R2(torque, rpm), \
         CORR(process_temp, air_temp), REGR_SLOPE(failure, tool_wear) FROM ai4i",
    );
    assert_eq!(n, 8);
    // Sums of every encrypted column, including the compact sum-only flags.
    check(
        "SELECT SUM(air_temp), SUM(process_temp), SUM(rpm), SUM(tool_wear), SUM(failure), \
         SUM(twf), SUM(hdf), SUM(pwf), SUM(osf), SUM(rnf), AVG(twf) FROM ai4i",
    );
}

#[test]
fn group_by_and_order_by() {
    let n = check(
        "SELECT type, COUNT(*) AS n, AVG(failure) AS rate, VAR_SAMP(torque) AS v, \
         CORR(torque, rpm) AS r FROM ai4i GROUP BY type ORDER BY type DESC",
    );
    assert_eq!(n, 15);
    // Group by the data owner; sum-only columns are allowed (whole chunks).
    check(
        "SELECT source, COUNT(*), SUM(twf), AVG(rnf), STDDEV_POP(air_temp), \
         REGR_INTERCEPT(process_temp, air_temp) FROM ai4i GROUP BY source ORDER BY source",
    );
    // Two keys, the key columns not selected first.
    check(
        "SELECT AVG(torque) AS t, source, type, COVAR_SAMP(rpm, torque) FROM ai4i \
         GROUP BY source, type ORDER BY source DESC, type",
    );
}

#[test]
fn where_clauses() {
    check(
        "SELECT COUNT(*), AVG(torque), STDDEV_SAMP(rpm) FROM ai4i WHERE udi > 2500 AND udi <= 7500",
    );
    check(
        "SELECT COUNT(*), SUM(failure), VAR_POP(tool_wear) FROM ai4i WHERE type = 'H' OR udi < 100",
    );
    check("SELECT COUNT(*), AVG(air_temp), REGR_R2(process_temp, air_temp) FROM ai4i WHERE NOT (type = 'L')");
    check("SELECT type, COUNT(*), AVG(rpm) FROM ai4i WHERE type IN ('M', 'H') GROUP BY type ORDER BY type");
    check(
        "SELECT COUNT(*), SUM(torque), CORR(torque, tool_wear) FROM ai4i \
         WHERE udi BETWEEN 1000 AND 1999 AND type <> 'M'",
    );
    check("SELECT COUNT(*), AVG(torque) FROM ai4i WHERE udi NOT BETWEEN 10 AND 9990 OR source = 'south'");
    check("SELECT COUNT(*), AVG(failure) FROM ai4i WHERE product_id IN ('M14860', 'L47181', 'L47182', 'L47183', 'L47184', 'M14865')");
}

#[test]
fn output_formats() {
    let s = setup();
    let sql = "SELECT type, COUNT(*) AS n, SUM(failure) AS failures FROM ai4i GROUP BY type ORDER BY type";
    let json = ok(query_args(&s.dir, sql));
    assert_eq!(
        json.trim(),
        r#"{"columns":["type","n","failures"],"rows":[["H",1003,21.0],["L",6000,235.0],["M",2997,83.0]]}"#,
        "JSON output: numbers as JSON numbers, group keys with their own type"
    );
    let csv = ok([
        "query".as_ref(),
        "--dir".as_ref(),
        s.dir.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
        sql.as_ref(),
    ] as [&std::ffi::OsStr; 6]);
    assert_eq!(csv, "type,n,failures\nH,1003,21\nL,6000,235\nM,2997,83\n");
    let table = ok([
        "query".as_ref(),
        "--dir".as_ref(),
        s.dir.as_os_str(),
        sql.as_ref(),
    ] as [&std::ffi::OsStr; 4]);
    assert!(table.contains("type | "), "{table}");
    assert!(table.contains("(3 rows)"), "{table}");
}

fn refused(sql: &str) -> String {
    let s = setup();
    let err = fails_with(4, query_args(&s.dir, sql));
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("nothing was decrypted"), "{err}");
    err
}

#[test]
fn refusals() {
    // Each refused query, with what its message must name.
    let cases: [(&str, &[&str]); 8] = [
        ("SELECT torque FROM ai4i", &["`torque` is encrypted"]),
        (
            "SELECT type, tool_wear FROM ai4i GROUP BY type, tool_wear",
            &["tool_wear"],
        ),
        (
            "SELECT COUNT(*) FROM ai4i WHERE torque > 40",
            &["`torque`", "WHERE"],
        ),
        (
            "SELECT AVG(rpm) FROM ai4i WHERE udi < 5",
            &["fewer than k = 5"],
        ),
        // Only the H group (udi 11, 12, 19) is too small: the message names it.
        (
            "SELECT type, AVG(torque) FROM ai4i WHERE udi <= 20 GROUP BY type",
            &["type = 'H'"],
        ),
        ("SELECT VAR_POP(twf) FROM ai4i", &["twf", "usage = \"sum\""]),
        ("SELECT CORR(torque, osf) FROM ai4i", &["osf"]),
        // Compact sum-only columns can only be summed over whole chunks.
        ("SELECT SUM(twf) FROM ai4i WHERE type = 'L'", &["twf"]),
    ];
    for (sql, names) in cases {
        let e = refused(sql);
        for n in names {
            assert!(e.contains(n), "{sql}: {e}");
        }
    }
}

#[test]
fn bad_queries_are_input_errors() {
    let s = setup();
    for (sql, needle) in [
        ("SELECT AVG(nope) FROM ai4i", "nope"),
        ("SELECT AVG(torque) FROM nothing", "nothing"),
        ("SELEC AVG(torque) FROM ai4i", "syntax"),
        ("SELECT MEDIAN(torque) FROM ai4i", "median"),
    ] {
        let e = fails_with(3, query_args(&s.dir, sql));
        assert!(e.to_lowercase().contains(needle), "{sql}: {e}");
    }
}

#[test]
fn usage_errors() {
    let s = setup();
    // The deployment exists already: init refuses to overwrite it.
    let e = fails_with(
        2,
        [
            "init".as_ref(),
            "--dir".as_ref(),
            s.dir.as_os_str(),
            "--trustees".as_ref(),
            "a,b".as_ref(),
        ] as [&std::ffi::OsStr; 5],
    );
    assert!(e.contains("already"), "{e}");
    // clap reports missing arguments with exit 2.
    let o = dtfhe(["query"]);
    assert_eq!(o.status.code(), Some(2));
    let o = dtfhe(["init", "--dir", "x", "--trustees", "a", "--preset", "bfv-1"]);
    assert_eq!(o.status.code(), Some(2));
    // Help texts exist.
    let help = ok(["--help"]);
    assert!(
        help.contains("trustee") && help.contains("platform"),
        "{help}"
    );
    for sub in ["init", "ingest", "query", "demo", "bench"] {
        let h = ok([sub, "--help"]);
        assert!(h.contains("--"), "{sub}: {h}");
    }
}
