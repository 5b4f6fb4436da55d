//! Disclosure control through the `dtfhe` binary (embedded deployment): every known way to
//! get a row out of a sequence of allowed queries is tried as an attacker would, and is
//! refused (audit mode, naming the earlier release it would combine with) or gets noise
//! (dp mode). Released results are still checked against the plaintext.

mod common;

use common::*;
use dtfhe_embedded::reference;
use dtfhe_model::Schema;
use std::path::{Path, PathBuf};

/// A deployment of three trustees (k = 5) with `plant-a` holding AI4I rows 1..=297 and
/// `tiny` rows 298..=300 (fewer than k), the per-product process and service datasets of
/// rows 1..=300, and 60 production runs per plant.
fn deployment(name: &str, extra: &[&str]) -> PathBuf {
    let root = fresh_dir(name);
    let dir = root.join("d");
    init_with(&dir, "a,b,c", 5, "bfv-16384", extra);
    let ai4i = repo().join("schemas/ai4i.toml");
    for (source, from, to) in [("plant-a", 0, 297), ("tiny", 297, 300)] {
        let csv = root.join(format!("{source}.csv"));
        std::fs::write(&csv, ai4i_slice(from, to)).expect("write");
        ingest(&dir, &ai4i, &csv, source);
    }
    let all = root.join("all.csv");
    std::fs::write(&all, ai4i_slice(0, 300)).expect("write");
    ingest_schema(&dir, "ai4i_process", &all, "maker");
    ingest_schema(&dir, "ai4i_service", &all, "service");
    let runs = root.join("runs.csv");
    std::fs::write(&runs, dtfhe_agent::mes::production_runs(60, 7)).expect("write");
    ingest_schema(&dir, "production_runs", &runs, "plant-a");
    dir
}

/// The query is refused (exit 4); returns the message.
fn refused(dir: &Path, sql: &str) -> String {
    let e = fails_with(4, query_args(dir, sql));
    assert!(e.contains("nothing was decrypted"), "{sql}: {e}");
    e
}

/// The query is released and equals the plaintext answer.
fn released(dir: &Path, sql: &str) {
    let schema = Schema::from_toml_file(&repo().join("schemas/ai4i.toml")).expect("schema");
    let mut rows =
        reference::plain_rows(ai4i_slice(0, 297).as_bytes(), &schema, "plant-a").expect("rows");
    rows.extend(
        reference::plain_rows(ai4i_slice(297, 300).as_bytes(), &schema, "tiny").expect("rows"),
    );
    check_query(dir, &schema, &rows, sql);
}

/// The refusal names an earlier release (the ledger entry of its request).
fn names_earlier_release(e: &str) {
    assert!(
        e.contains("together with earlier release") && e.contains("entry "),
        "{e}"
    );
    assert!(e.contains("fewer than k = 5 rows"), "{e}");
}

#[test]
fn identifier_columns_cannot_filter_or_group_by_default() {
    let dir = deployment("disclosure_keys", &[]);
    for sql in UDI_FILTERS.into_iter().chain([
        "SELECT product_id, COUNT(*), AVG(torque) FROM ai4i GROUP BY product_id",
        "SELECT COUNT(*), AVG(m.torque) FROM ai4i_process m JOIN ai4i_service s \
         ON m.product_id = s.product_id WHERE m.product_id <> 'M14860'",
        "SELECT COUNT(*), AVG(downtime_min) FROM production_runs WHERE run_id <= 50",
    ]) {
        let e = refused(&dir, sql);
        assert!(e.contains("identifies rows"), "{sql}: {e}");
    }
    // A source with fewer than k rows never comes out, neither as a group nor by
    // subtracting the other sources from the whole table.
    released(&dir, "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i");
    let e = refused(&dir, "SELECT source, SUM(torque) FROM ai4i GROUP BY source");
    assert!(
        e.contains("source = 'tiny'") && e.contains("fewer than k"),
        "{e}"
    );
    let e = refused(
        &dir,
        "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE source IN ('plant-a')",
    );
    names_earlier_release(&e);
    // Grouping by the public quality type after the whole table is safe: released.
    released(
        &dir,
        "SELECT type, COUNT(*), AVG(torque) FROM ai4i GROUP BY type",
    );
}

#[test]
fn differencing_is_refused_by_every_trustee_audit() {
    // Row-number filters allowed by policy: the audit alone must stop differencing.
    let dir = deployment("disclosure_audit", &["--allow-key-filters"]);
    // Prefix sums: the classic tracker.
    released(
        &dir,
        "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE udi <= 100",
    );
    let e = refused(
        &dir,
        "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE udi <= 99",
    );
    names_earlier_release(&e);
    // Five rows apart is a set of k rows: released; then four rows apart of either is not.
    released(
        &dir,
        "SELECT COUNT(*), SUM(torque) FROM ai4i WHERE udi <= 95",
    );
    names_earlier_release(&refused(
        &dir,
        "SELECT COUNT(*), SUM(torque) FROM ai4i WHERE udi <= 97",
    ));
    // The complement of one row against the whole table.
    released(&dir, "SELECT COUNT(*), SUM(torque) FROM ai4i");
    names_earlier_release(&refused(
        &dir,
        "SELECT COUNT(*), SUM(torque) FROM ai4i WHERE udi <> 7",
    ));
    // Squares and products of one row (variance, covariance) by differencing.
    released(
        &dir,
        "SELECT VAR_POP(torque), COVAR_POP(torque, rpm) FROM ai4i WHERE udi <= 200",
    );
    names_earlier_release(&refused(
        &dir,
        "SELECT VAR_POP(torque), COVAR_POP(torque, rpm) FROM ai4i WHERE udi <= 199",
    ));
    // Which bucket one run is in (histogram, counts over a threshold).
    ok(query_args(
        &dir,
        "SELECT HISTOGRAM(downtime_min), COUNT(*) FILTER (WHERE downtime_min > 60) \
         FROM production_runs WHERE run_id <= 50",
    ));
    names_earlier_release(&refused(
        &dir,
        "SELECT HISTOGRAM(downtime_min) FROM production_runs WHERE run_id <= 49",
    ));
    names_earlier_release(&refused(
        &dir,
        "SELECT COUNT(*) FILTER (WHERE downtime_min > 60) FROM production_runs \
         WHERE run_id <> 50 AND run_id <= 50",
    ));
    // Joins: the audit covers the rows of both base datasets.
    ok(query_args(
        &dir,
        "SELECT COUNT(*), AVG(m.torque), AVG(s.failure) FROM ai4i_process m \
         JOIN ai4i_service s ON m.product_id = s.product_id",
    ));
    names_earlier_release(&refused(
        &dir,
        "SELECT COUNT(*), AVG(m.torque), AVG(s.failure) FROM ai4i_process m \
         JOIN ai4i_service s ON m.product_id = s.product_id WHERE m.product_id <> 'M14860'",
    ));
    // The same query asked again reveals nothing new: released (the logged shares).
    released(
        &dir,
        "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE udi <= 100",
    );
    // Each trustee keeps its own audit record in its own directory.
    for t in ["a", "b", "c"] {
        let f = dir.join("trustees").join(t).join("disclosure.audit");
        assert!(f.metadata().expect("audit record").len() > 0, "{t}");
    }
}

/// ε each trustee has charged to `dataset`, from its own log.
fn spent(dir: &Path, dataset: &str) -> Vec<f64> {
    ["a", "b", "c"]
        .iter()
        .map(|t| {
            dtfhe_release::Disclosure::open(&dir.join("trustees").join(t))
                .expect("policy")
                .spent(dataset)
                .expect("spent")
        })
        .collect()
}

#[test]
fn dp_mode_noises_every_release_and_charges_every_base_dataset() {
    let dir = deployment(
        "disclosure_dp",
        &["--dp-budget", "1", "--dp-epsilon", "0.25"],
    );
    // No --epsilon: the policy's default applies; there is no exact release in dp mode.
    let o = dtfhe(query_args(&dir, "SELECT COUNT(*), SUM(torque) FROM ai4i"));
    let (_, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("differential privacy") && err.contains("0.25"),
        "{err}"
    );
    assert_eq!(spent(&dir, "ai4i"), vec![0.25; 3]);
    // A join spends on both base datasets. The swapped join is the same release: it gets
    // the identical noised answer (the logged shares), not fresh noise, and spends nothing.
    let answers: Vec<String> = [
        "SELECT COUNT(*), AVG(m.torque) FROM ai4i_process m JOIN ai4i_service s \
         ON m.product_id = s.product_id",
        "SELECT COUNT(*), AVG(m.torque) FROM ai4i_service s JOIN ai4i_process m \
         ON m.product_id = s.product_id",
    ]
    .iter()
    .map(|sql| ok(query_args(&dir, sql)))
    .collect();
    assert_eq!(
        answers[0], answers[1],
        "a swapped join must not get fresh noise"
    );
    assert_eq!(spent(&dir, "ai4i_process"), vec![0.25; 3]);
    assert_eq!(spent(&dir, "ai4i_service"), vec![0.25; 3]);
    let self_join = dtfhe(query_args(
        &dir,
        "SELECT COUNT(*), AVG(m.rpm) FROM ai4i_process m JOIN ai4i_process n \
         ON m.product_id = n.product_id",
    ));
    // A self-join is charged once to its one base dataset.
    if self_join.status.success() {
        assert_eq!(spent(&dir, "ai4i_process"), vec![0.5; 3]);
    } else {
        assert_eq!(
            spent(&dir, "ai4i_process"),
            vec![0.25; 3],
            "a refusal spends nothing"
        );
    }
    // Until the budget runs out: then every trustee refuses, and nothing more is spent.
    let before = spent(&dir, "ai4i_service");
    let mut refusals = 0;
    for filter in ["'M'", "'H'", "'L'", "'L' OR m.type = 'M'"] {
        let sql = format!(
            "SELECT COUNT(*), SUM(s.failure) FROM ai4i_process m JOIN ai4i_service s \
             ON m.product_id = s.product_id WHERE m.type = {filter}"
        );
        let o = dtfhe(query_args(&dir, &sql));
        if !o.status.success() {
            assert_eq!(o.status.code(), Some(4));
            assert!(texts(&o).1.contains("budget"), "{}", texts(&o).1);
            refusals += 1;
        }
    }
    assert!(refusals >= 1, "the budget of 1 was never exhausted");
    let after = spent(&dir, "ai4i_service");
    assert!(
        after.iter().all(|s| *s <= 1.0 + 1e-9),
        "{before:?} → {after:?}"
    );
}

#[test]
fn per_row_scoring_needs_a_fitted_model_and_the_owners_key() {
    let dir = deployment("disclosure_score", &[]);
    let root = dir.parent().expect("root").to_path_buf();
    // A hand-written model that would copy each row's torque into its prediction.
    let forged = root.join("forged.json");
    std::fs::write(
        &forged,
        r#"{"format":"dtfhe-linear-model/1","dataset":"ai4i","target":"failure","features":["torque"],"intercept":0,"coefficients":[1],"ridge":0,"n":300,"rmse_train":0}"#,
    )
    .expect("write");
    let args = |model: &Path, source: &str| -> Vec<std::ffi::OsString> {
        vec![
            "model".into(),
            "score".into(),
            "--dir".into(),
            dir.clone().into(),
            "--model".into(),
            model.into(),
            "--dataset".into(),
            "ai4i".into(),
            "--source".into(),
            source.into(),
        ]
    };
    let e = fails_with(4, args(&forged, "plant-a"));
    assert!(e.contains("not one fitted"), "{e}");
    // A fitted model (recorded in the ledger) scores the owner's rows for the owner only.
    let fitted = root.join("fitted.json");
    ok([
        "model".as_ref(),
        "fit".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--dataset".as_ref(),
        "ai4i".as_ref(),
        "--target".as_ref(),
        "failure".as_ref(),
        "--features".as_ref(),
        "torque,tool_wear".as_ref(),
        "--out".as_ref(),
        fitted.as_os_str(),
    ] as [&std::ffi::OsStr; 12]);
    let out = ok(args(&fitted, "plant-a"));
    assert!(out.contains("prediction"), "{out}");
    // Someone without the source's signing key is not the owner.
    let key_dir = dtfhe_agent::source_key::source_dir(&dir, "tiny");
    std::fs::remove_dir_all(&key_dir).expect("remove tiny's key");
    let e = fails_with(4, args(&fitted, "tiny"));
    assert!(e.contains("only released to `tiny`"), "{e}");
}
