//! A 3-of-5 embedded deployment: `init` with a threshold deals every trustee's key share;
//! any 3 trustees release results equal to the plaintext; with two trustee directories gone
//! the quorum still releases; with three gone the query is refused naming the quorum and
//! nothing is released; t = n (and no threshold) stays n-of-n.

use dtfhe_embedded::ops::{self, trustee_dir, IngestOptions, InitOptions};
use dtfhe_embedded::{reference, EmbeddedError};
use dtfhe_model::Schema;
use std::path::{Path, PathBuf};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

const NAMES: [&str; 5] = ["p1", "p2", "p3", "p4", "p5"];

/// Deployment with the first 400 AI4I rows, and their plaintext twin.
fn deployment(
    root: &Path,
    threshold: Option<usize>,
) -> (PathBuf, Schema, Vec<dtfhe_engine::plaintext::PlainRow>) {
    let csv = std::fs::read(repo("data/ai4i2020/ai4i2020.csv")).expect("vendored AI4I");
    let text = String::from_utf8_lossy(&csv);
    let slice: String = text.split_inclusive('\n').take(401).collect();
    let csv_path = root.join("ai4i.csv");
    std::fs::write(&csv_path, &slice).expect("write csv");
    let d = root.join("dep");
    ops::init(&InitOptions {
        threshold,
        ..InitOptions::new(d.clone(), &NAMES, "bfv-8192")
    })
    .expect("init");
    ops::ingest(&IngestOptions {
        dir: d.clone().into(),
        schema: repo("schemas/ai4i.toml"),
        csv: csv_path,
        source: "plant-1".into(),
        progress: false,
    })
    .expect("ingest");
    let schema = Schema::from_toml_file(&repo("schemas/ai4i.toml")).expect("schema");
    let rows = reference::plain_rows(slice.as_bytes(), &schema, "plant-1").expect("rows");
    (d, schema, rows)
}

fn check(d: &Path, schema: &Schema, rows: &[dtfhe_engine::plaintext::PlainRow], sql: &str) {
    let got = ops::query(d, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let want = reference::evaluate(schema, sql, rows).expect("plaintext");
    reference::check(&got.result, &want).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

fn stop(d: &Path, name: &str) {
    std::fs::rename(trustee_dir(d, name), d.join(format!("{name}.offline"))).expect("stop");
}

fn restart(d: &Path, name: &str) {
    std::fs::rename(d.join(format!("{name}.offline")), trustee_dir(d, name)).expect("restart");
}

#[test]
fn three_of_five_release_with_two_down_and_refuse_with_three_down() {
    let root = tempfile::tempdir().expect("tempdir");
    let (d, schema, rows) = deployment(root.path(), Some(3));
    assert_eq!(
        std::fs::read_to_string(d.join(ops::THRESHOLD_FILE)).expect("threshold file"),
        "3-of-5\n"
    );
    check(
        &d,
        &schema,
        &rows,
        "SELECT type, COUNT(*), SUM(tool_wear), AVG(torque) FROM ai4i GROUP BY type",
    );
    // Two trustees down: the next three answer.
    stop(&d, "p1");
    stop(&d, "p3");
    check(
        &d,
        &schema,
        &rows,
        "SELECT COUNT(*), AVG(rpm), SUM(failure) FROM ai4i",
    );
    // A third down: refused before any share, naming the quorum and who is missing.
    stop(&d, "p5");
    let e = ops::query(&d, "SELECT AVG(air_temp) FROM ai4i").expect_err("no quorum");
    let msg = e.to_string();
    assert!(matches!(e, EmbeddedError::Refused(_)), "{msg}");
    assert!(
        msg.contains("3 of 5") && msg.contains("p1") && msg.contains("p3") && msg.contains("p5"),
        "{msg}"
    );
    for name in ["p2", "p4"] {
        let log = trustee_dir(&d, name).join(dtfhe_trustee::shares::SHARES_FILE);
        let lines = std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        // Shares for the first two queries only (3 + 3 items at most per query), none for
        // the refused one: its ciphertext is not in any log.
        assert!(lines > 0, "{name} answered the earlier quorum releases");
    }
    // Back up: released again.
    restart(&d, "p5");
    check(&d, &schema, &rows, "SELECT AVG(air_temp) FROM ai4i");
}

#[test]
fn threshold_equal_to_n_is_n_of_n_and_bad_thresholds_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    for bad in [0usize, 6] {
        let e = ops::init(&InitOptions {
            threshold: Some(bad),
            ..InitOptions::new(root.path().join(format!("bad{bad}")), &NAMES, "bfv-8192")
        })
        .expect_err("bad threshold");
        assert!(e.to_string().contains("--threshold"), "{e}");
        assert!(!root
            .path()
            .join(format!("bad{bad}"))
            .join("trustees")
            .exists());
    }
    let (d, schema, rows) = deployment(root.path(), Some(5));
    assert!(
        !d.join(ops::THRESHOLD_FILE).exists(),
        "t = n writes no threshold"
    );
    assert!(!trustee_dir(&d, "p1")
        .join(dtfhe_trustee::keystore::THRESHOLD_FILE)
        .exists());
    check(
        &d,
        &schema,
        &rows,
        "SELECT COUNT(*), SUM(tool_wear) FROM ai4i",
    );
    // n-of-n as today: one trustee down stops the release.
    stop(&d, "p2");
    assert!(ops::query(&d, "SELECT AVG(rpm) FROM ai4i").is_err());
}
