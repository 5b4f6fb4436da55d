//! The thread across stages: a manufacturer's process data and a service partner's failure
//! records, two datasets of different stages and owners laid out in shared product lanes,
//! joined on the product id; every result equals the plaintext inner join.

mod common;

use dtfhe_embedded::ops;
use dtfhe_embedded::reference;
use dtfhe_engine::plaintext;
use dtfhe_model::Schema;
use std::path::{Path, PathBuf};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

/// Keep the header and data lines `from..to` (0-based) of the CSV.
fn slice_csv(bytes: &[u8], from: usize, to: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split_inclusive('\n');
    let mut out = lines.next().expect("header").to_string();
    for l in lines.skip(from).take(to - from) {
        out.push_str(l);
    }
    out.into_bytes()
}

#[test]
fn cross_stage_join_equals_plaintext_inner_join() {
    let csv = std::fs::read(repo("data/ai4i2020/ai4i2020.csv")).expect("vendored AI4I");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("dep");
    // The manufacturer has products 2000..10000, the service partner 0..8000: 6000 in both.
    let (mfg, svc) = (slice_csv(&csv, 2000, 10000), slice_csv(&csv, 0, 8000));
    let (mfg_path, svc_path) = (dir.path().join("mfg.csv"), dir.path().join("svc.csv"));
    std::fs::write(&mfg_path, &mfg).expect("write");
    std::fs::write(&svc_path, &svc).expect("write");
    common::embedded_deployment(
        &d,
        &["oem", "service", "plant"],
        &[
            (repo("schemas/ai4i_process.toml"), &mfg_path, "manufacturer"),
            (
                repo("schemas/ai4i_service.toml"),
                &svc_path,
                "service-partner",
            ),
        ],
    );

    // Plaintext twin: the inner join of the two clear tables, columns qualified m. / s.
    let ms = Schema::from_toml_file(&repo("schemas/ai4i_process.toml")).expect("schema");
    let ss = Schema::from_toml_file(&repo("schemas/ai4i_service.toml")).expect("schema");
    let m_rows = reference::plain_rows(&mfg, &ms, "manufacturer").expect("rows");
    let s_rows = reference::plain_rows(&svc, &ss, "service-partner").expect("rows");
    let joined = reference::inner_join(&m_rows, "m", &s_rows, "s", "product_id");
    assert_eq!(joined.len(), 6000);

    let schemas = [ms.clone(), ss.clone()];
    let catalog = dtfhe_engine::Catalog::new(&schemas.iter().collect::<Vec<_>>());
    for sql in [
        "SELECT COUNT(*) AS products, CORR(m.torque, s.failure) AS corr_torque_failure, AVG(s.failure) AS failure_rate, AVG(m.torque), COVAR_SAMP(m.tool_wear, s.osf) FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id",
        "SELECT m.type, COUNT(*), CORR(m.tool_wear, s.failure), REGR_SLOPE(s.failure, m.torque), SUM(s.osf) FROM ai4i_process AS m INNER JOIN ai4i_service AS s ON s.product_id = m.product_id GROUP BY m.type ORDER BY m.type",
        "SELECT AVG(rpm), AVG(failure) FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id WHERE m.type = 'L'",
    ] {
        let got = ops::query(&d, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let q = dtfhe_engine::plan(sql, &catalog).expect("plan");
        let want = plaintext::evaluate(&q, &joined);
        plaintext::compare(&got.result, &want, 1e-9, 1e-9).unwrap_or_else(|e| panic!("{sql}: {e}\n{}\n{}", got.result.to_table(), want.to_table()));
        println!("{sql}\n{}  computed {:.2}s", got.result.to_table(), got.compute_seconds);
    }
    // Joins are only on the product lane, and only between lane datasets.
    for sql in [
        "SELECT COUNT(*) FROM ai4i_process m JOIN ai4i_service s ON m.type = s.product_id",
        "SELECT COUNT(*) FROM ai4i_process m LEFT JOIN ai4i_service s ON m.product_id = s.product_id",
        "SELECT AVG(torque) FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id WHERE s.failure = 1",
    ] {
        let e = ops::query(&d, sql).expect_err(sql);
        assert_ne!(e.exit_code(), 0, "{sql}");
    }
}
