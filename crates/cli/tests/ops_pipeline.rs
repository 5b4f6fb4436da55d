//! The library pipeline (init → ingest → query) on real AI4I data, each result checked
//! against the plaintext reference evaluator.

use dtfhe_embedded::ops::{self, IngestOptions, InitOptions};
use dtfhe_engine::plaintext::{self, PlainRow};
use dtfhe_model::Value;
use std::path::{Path, PathBuf};

const SCHEMA: &str = include_str!("schemas/ai4i_subset.toml");

fn ai4i() -> Option<PathBuf> {
    let p = dtfhe_testkit::data::ai4i_csv();
    if p.is_none() {
        eprintln!("skipping: the AI4I 2020 CSV is not found");
    }
    p
}

fn plain_rows(csv: &Path, source: &str) -> Vec<PlainRow> {
    let text = std::fs::read_to_string(csv).expect("csv");
    let text = text.trim_start_matches('\u{feff}');
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().expect("headers").clone();
    let idx = |h: &str| headers.iter().position(|x| x == h).expect(h);
    let (udi, ty, tq, tw, fl, twf) = (
        idx("UDI"),
        idx("Type"),
        idx("Torque [Nm]"),
        idx("Tool wear [min]"),
        idx("Machine failure"),
        idx("TWF"),
    );
    rdr.records()
        .map(|r| {
            let r = r.expect("record");
            let f = |i: usize| Value::Dec(r[i].parse::<f64>().expect("number"));
            PlainRow::from([
                ("source".to_string(), Value::Text(source.into())),
                ("udi".to_string(), Value::Int(r[udi].parse().expect("udi"))),
                ("type".to_string(), Value::Text(r[ty].to_string())),
                ("torque".to_string(), f(tq)),
                ("tool_wear".to_string(), f(tw)),
                ("failure".to_string(), f(fl)),
                ("twf".to_string(), f(twf)),
            ])
        })
        .collect()
}

/// [`SCHEMA`] written to `dir/ai4i.toml`: that file.
fn schema_file(dir: &Path) -> PathBuf {
    let schema = dir.join("ai4i.toml");
    std::fs::write(&schema, SCHEMA).expect("schema");
    schema
}

#[test]
fn ai4i_statistics_match_plaintext() {
    let Some(csv) = ai4i() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = schema_file(dir.path());
    ops::init(&InitOptions::new(dir.path(), &["a", "b", "c"], "bfv-16384")).expect("init");
    let report = ops::ingest(&IngestOptions {
        dir: dir.path().into(),
        schema: schema.clone(),
        csv: csv.clone(),
        source: "plant-a".into(),
        progress: false,
    })
    .expect("ingest");
    assert_eq!(report.rows, 10_000);
    let rows = plain_rows(&csv, "plant-a");
    let parsed = dtfhe_model::Schema::from_toml_str(SCHEMA, "schema").expect("schema");
    let catalog = dtfhe_engine::Catalog::new(&[&parsed]);
    for sql in [
        "SELECT COUNT(*), SUM(torque), AVG(torque), VAR_POP(torque), STDDEV_SAMP(tool_wear), CORR(tool_wear, failure), SUM(twf) FROM ai4i",
        "SELECT type, COUNT(*) AS n, AVG(failure) AS rate, AVG(torque), COVAR_SAMP(torque, tool_wear), REGR_SLOPE(failure, tool_wear), REGR_INTERCEPT(torque, tool_wear), REGR_R2(torque, tool_wear) FROM ai4i GROUP BY type ORDER BY type",
        "SELECT AVG(torque), VAR_SAMP(torque) FROM ai4i WHERE udi BETWEEN 100 AND 4000 AND type IN ('L', 'M')",
    ] {
        let got = ops::query(dir.path(), sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let q = dtfhe_engine::plan(sql, &catalog).expect("plan");
        let want = plaintext::evaluate(&q, &rows);
        plaintext::compare(&got.result, &want, 1e-9, 1e-9).unwrap_or_else(|e| panic!("{sql}: {e}\n{}\n{}", got.result.to_table(), want.to_table()));
        println!("{sql}: compute {:.2}s release {:.2}s", got.compute_seconds, got.release_seconds);
    }
    // A sum-only column split by a filter is refused, and so is a group below k.
    for (sql, needle) in [
        (
            "SELECT SUM(twf) FROM ai4i WHERE type = 'L'",
            "usage = \"sum\"",
        ),
        (
            "SELECT COUNT(*), AVG(torque) FROM ai4i WHERE udi < 3",
            "fewer than k",
        ),
    ] {
        let e = ops::query(dir.path(), sql).expect_err(sql);
        assert_eq!(e.exit_code(), 4, "{sql}: {e}");
        assert!(e.to_string().contains(needle), "{sql}: {e}");
    }
}

#[test]
fn differential_privacy_noise_and_budget() {
    let Some(csv) = ai4i() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = schema_file(dir.path());
    ops::init(&InitOptions {
        policy: dtfhe_release::LocalPolicy {
            mode: dtfhe_release::Mode::dp(1.0, None).expect("dp mode"),
            ..Default::default()
        },
        ..InitOptions::new(dir.path(), &["a", "b"], "bfv-8192")
    })
    .expect("init");
    ops::ingest(&IngestOptions {
        dir: dir.path().into(),
        schema,
        csv: csv.clone(),
        source: "plant-a".into(),
        progress: false,
    })
    .expect("ingest");
    // Different filters give different sum ciphertexts (one logged share each).
    let rows = plain_rows(&csv, "plant-a");
    let truth = |min_udi: i64| -> f64 {
        rows.iter()
            .filter(|r| matches!(r["udi"], Value::Int(u) if u > min_udi))
            .map(|r| match r["failure"] {
                Value::Dec(f) => f,
                _ => 0.0,
            })
            .sum()
    };
    let sql =
        |min_udi: i64| format!("SELECT COUNT(*), SUM(failure) FROM ai4i WHERE udi > {min_udi}");
    // ε = 0.4 on one sum of sensitivity 1: discrete Laplace with α = e^-0.4, sd ≈ 3.4.
    let noisy = ops::query_with(dir.path(), &sql(10), Some(0.4)).expect("noisy");
    let noisy_sum = noisy.result.rows[0][1].as_f64().expect("sum");
    assert_eq!(
        noisy.result.rows[0][0],
        dtfhe_engine::Cell::Int(9990),
        "row counts are public and exact"
    );
    assert!(
        (noisy_sum - truth(10)).abs() < 60.0,
        "noise far beyond its scale: {noisy_sum}"
    );
    assert_eq!(noisy_sum.fract(), 0.0, "integer noise on an integer sum");
    // Asking again returns the identical logged shares: the noise cannot be averaged away,
    // and no budget is spent twice.
    let again = ops::query_with(dir.path(), &sql(10), Some(0.4)).expect("repeat");
    assert_eq!(again.result.rows, noisy.result.rows);
    ops::query_with(dir.path(), &sql(20), Some(0.5)).expect("within budget");
    // In dp mode there is no exact release: a query naming no ε gets the policy's default
    // (a tenth of the budget), noised and charged like any other.
    let default = ops::query_with(dir.path(), &sql(25), None).expect("default epsilon");
    assert_eq!(default.epsilon, Some(0.1), "dp mode without --epsilon");
    for t in ["a", "b"] {
        let spent = dtfhe_release::Disclosure::open(&ops::trustee_dir(dir.path(), t))
            .expect("policy")
            .spent("ai4i")
            .expect("spent");
        assert!((spent - 1.0).abs() < 1e-9, "trustee {t} spent {spent}");
    }
    // 0.4 + 0.5 + 0.1 spent; 0.2 more would pass the cap of 1.0: refused by the trustees.
    let e = ops::query_with(dir.path(), &sql(30), Some(0.2)).expect_err("over budget");
    assert_eq!(e.exit_code(), 4, "{e}");
    assert!(e.to_string().contains("budget"), "{e}");
}
