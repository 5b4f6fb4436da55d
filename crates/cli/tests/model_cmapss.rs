//! Predictive maintenance on NASA C-MAPSS FD001: edge features, an encrypted ridge fit equal
//! to its plaintext twin, homomorphic scoring released only to the owner, and the test RMSE.

mod common;

use dtfhe_agent::features::cmapss_features;
use dtfhe_embedded::model;
use dtfhe_engine::model::FitStats;
use dtfhe_engine::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cmapss-fd001");
    if p.join("train_FD001.txt").exists() {
        Some(p)
    } else {
        eprintln!("skipping: C-MAPSS FD001 not found at {}", p.display());
        None
    }
}

fn schema_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(name)
}

/// Feature rows of a feature CSV: (unit, cycle, features..., optional rul).
fn read_rows(csv: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|v| v.parse::<f64>().expect("number"))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn encrypted_ridge_fit_equals_plaintext_and_predicts_rul() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let train_text = std::fs::read_to_string(data.join("train_FD001.txt")).expect("train");
    let test_text = std::fs::read_to_string(data.join("test_FD001.txt")).expect("test");
    let train_csv = cmapss_features(&train_text, "train_FD001.txt", Some(125)).expect("features");
    let test_csv = cmapss_features(&test_text, "test_FD001.txt", None).expect("features");
    let (train_path, test_path) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    std::fs::write(&train_path, &train_csv).expect("write");
    std::fs::write(&test_path, &test_csv).expect("write");

    let d = dir.path().join("deployment");
    common::embedded_deployment(
        &d,
        &["oem", "airline", "mro"],
        &[
            (
                schema_path("cmapss_train_features.toml"),
                &train_path,
                "fleet",
            ),
            (
                schema_path("cmapss_test_features.toml"),
                &test_path,
                "fleet",
            ),
        ],
    );

    let (header, train_rows) = read_rows(&train_csv);
    let features: Vec<String> = header[2..header.len() - 1].to_vec();
    let ridge = 1.0;
    let started = std::time::Instant::now();
    let (enc_model, _) = model::fit(&d, "engines_train", "rul", &features, ridge).expect("fit");
    let fit_seconds = started.elapsed().as_secs_f64();

    // Plaintext twin: the same features and λ, from the clear feature rows.
    let x: Vec<Vec<f64>> = train_rows
        .iter()
        .map(|r| r[2..r.len() - 1].to_vec())
        .collect();
    let y: Vec<f64> = train_rows.iter().map(|r| r[r.len() - 1]).collect();
    let plain_model = FitStats::from_rows(&x, &y)
        .fit("engines_train", "rul", &features, ridge)
        .expect("plain fit");
    for (i, (a, b)) in enc_model
        .coefficients
        .iter()
        .zip(&plain_model.coefficients)
        .enumerate()
    {
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1e-3),
            "coefficient {} ({}): {a} vs {b}",
            i,
            features[i]
        );
    }
    assert!(
        (enc_model.intercept - plain_model.intercept).abs()
            <= 1e-6 * plain_model.intercept.abs().max(1.0)
    );
    assert_eq!(enc_model.n, train_rows.len() as u64);

    // Score the test fleet homomorphically; only the owner gets its rows' predictions.
    let started = std::time::Instant::now();
    let scored = model::score(&d, &enc_model, "engines_test", "fleet").expect("score");
    let score_seconds = started.elapsed().as_secs_f64();
    let (_, test_rows) = read_rows(&test_csv);
    assert_eq!(scored.result.rows.len(), test_rows.len());
    let mut last_enc: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for row in &scored.result.rows {
        let (Cell::Int(unit), Cell::Int(cycle), Some(p)) = (&row[0], &row[1], row[3].as_f64())
        else {
            panic!("row shape {row:?}")
        };
        let e = last_enc.entry(*unit).or_insert((*cycle, p));
        if *cycle >= e.0 {
            *e = (*cycle, p);
        }
    }
    let mut last_plain: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for r in &test_rows {
        let p = plain_model.predict(&r[2..]);
        let e = last_plain.entry(r[0] as i64).or_insert((r[1] as i64, p));
        if r[1] as i64 >= e.0 {
            *e = (r[1] as i64, p);
        }
    }
    let truth: Vec<f64> = std::fs::read_to_string(data.join("RUL_FD001.txt"))
        .expect("rul")
        .split_whitespace()
        .map(|v| v.parse().expect("rul"))
        .collect();
    let rmse = |preds: &BTreeMap<i64, (i64, f64)>| {
        (preds
            .values()
            .zip(&truth)
            .map(|((_, p), t)| (p - t).powi(2))
            .sum::<f64>()
            / truth.len() as f64)
            .sqrt()
    };
    let (rmse_enc, rmse_plain) = (rmse(&last_enc), rmse(&last_plain));
    println!("C-MAPSS FD001: test RMSE encrypted {rmse_enc:.3}, plaintext twin {rmse_plain:.3}; fit {fit_seconds:.1}s, score {score_seconds:.1}s");
    assert_eq!(last_enc.len(), 100);
    assert!(
        (rmse_enc - rmse_plain).abs() < 0.01,
        "{rmse_enc} vs {rmse_plain}"
    );
    assert!(rmse_enc <= 18.0, "RMSE {rmse_enc}");

    // A model nobody fitted (hand-written, or one coefficient edited) is refused: it could
    // release any row's value (coefficient 1 on one feature).
    let mut forged = enc_model.clone();
    forged.coefficients = vec![0.0; forged.coefficients.len()];
    forged.coefficients[0] = 1.0;
    forged.intercept = 0.0;
    let e = model::score(&d, &forged, "engines_test", "fleet").expect_err("unfitted model");
    assert_eq!(e.exit_code(), 4, "{e}");
    assert!(e.to_string().contains("not one fitted"), "{e}");
    // Only the owner holding its signing key receives predictions: a caller without the
    // source's key (here: the key file removed) is refused, and so is a source with no key.
    let key_dir = dtfhe_agent::source_key::source_dir(&d, "fleet");
    let moved = key_dir.with_extension("away");
    std::fs::rename(&key_dir, &moved).expect("hide the source key");
    let e = model::score(&d, &enc_model, "engines_test", "fleet").expect_err("no key");
    std::fs::rename(&moved, &key_dir).expect("restore the source key");
    assert_eq!(e.exit_code(), 4, "{e}");
    assert!(e.to_string().contains("only released to `fleet`"), "{e}");
    let e = model::score(&d, &enc_model, "engines_test", "other-fleet").expect_err("no rows");
    assert_eq!(e.exit_code(), 4, "{e}");
}
