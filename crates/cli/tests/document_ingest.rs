//! Documents through the real `dtfhe` binary: a B2MML production performance, a B2MML job
//! response and an MTConnect `/sample` response are ingested with `--format`, and the
//! released aggregates equal the plaintext this test computes from the fixture files on its
//! own (plain string scanning, not the agent's reader). A malformed document is refused
//! whole (exit 3), every bad element named by line, no value quoted, nothing stored.

mod common;

use common::documents::{blocks, document_deployment, fixture, texts_of, DocIngest};
use common::*;
use dtfhe_engine::Cell;

fn num(s: &str) -> f64 {
    s.trim().parse().unwrap_or_else(|_| panic!("number {s}"))
}

/// Minutes since the start of the month of `2026-12-DDTHH:MM:SS…` (enough for the fixture).
fn minutes(t: &str) -> f64 {
    let day = num(&t[8..10]);
    let h = num(&t[11..13]);
    let m = num(&t[14..16]);
    let zone = if t.len() >= 25 {
        num(&t[20..22]) * 60.0 * if &t[19..20] == "-" { -1.0 } else { 1.0 }
    } else {
        0.0
    };
    day * 1440.0 + h * 60.0 + m - zone
}

/// (rows, Σ total, Σ good, Σ downtime min, Σ planned min) of the segment responses.
fn plain_b2mml(xml: &str, row_tag: &str, start: &str, end: &str) -> (i64, f64, f64, f64, f64) {
    let mut acc = (0, 0.0, 0.0, 0.0, 0.0);
    for r in blocks(xml, row_tag) {
        acc.0 += 1;
        let produced: Vec<&str> = blocks(r, "MaterialProducedActual")
            .into_iter()
            .chain(
                blocks(r, "MaterialActual")
                    .into_iter()
                    .filter(|m| m.contains("Produced")),
            )
            .collect();
        for m in produced {
            let total = num(texts_of(m, "QuantityString")[0]);
            let prop = |id: &str| {
                m.split(&format!("<ID>{id}</ID>"))
                    .nth(1)
                    .map(|s| num(texts_of(s, "ValueString")[0]))
            };
            acc.1 += total;
            acc.2 += prop("GoodQuantity")
                .unwrap_or_else(|| total - prop("ScrapQuantity").expect("scrap"));
        }
        if let Some(d) = r.split("<ID>Downtime</ID>").nth(1) {
            let v = num(texts_of(d, "ValueString")[0]);
            acc.3 += match texts_of(d, "UnitOfMeasure")[0] {
                "s" => v / 60.0,
                _ => v,
            };
        }
        acc.4 += minutes(texts_of(r, end)[0]) - minutes(texts_of(r, start)[0]);
    }
    acc
}

#[test]
fn b2mml_documents_release_the_plaintext_sums_and_bad_ones_store_nothing() {
    let (_, dir) = document_deployment("document_ingest_b2mml");
    let runs = DocIngest::new(&dir, "b2mml", "production_runs.toml", "plant-a");

    // A malformed document first: refused whole, every bad element named, nothing stored.
    let secrets = ["7190", "900", "750"];
    let err = runs.refused_whole(&fixture("b2mml_malformed.xml"), 5, &secrets);
    for line in [19, 46, 67, 79, 113] {
        assert!(
            err.contains(&format!("line {line} /ProductionPerformance/")),
            "line {line}: {err}"
        );
    }
    assert!(err.contains("nothing was stored"), "{err}");
    let err = runs.refused(&fixture("b2mml_not_well_formed.xml"));
    assert!(err.contains("line 19: not well-formed XML"), "{err}");
    assert_eq!(store_counts(&dir, "production_runs"), (0, 0));

    let pp = std::fs::read_to_string(fixture("b2mml_production_performance.xml")).expect("fixture");
    let jobs = std::fs::read_to_string(fixture("b2mml_job_response.xml")).expect("fixture");
    let out = runs.ok(&fixture("b2mml_production_performance.xml"));
    assert!(
        out.contains("ingested 8 rows into `production_runs`"),
        "{out}"
    );
    let jobs_plain = jobs.replace("b2mml:", "");
    let out = runs.by("plant-b").ok(&fixture("b2mml_job_response.xml"));
    assert!(out.contains("ingested 5 rows"), "{out}");
    // The same document again stores nothing.
    let out = runs.by("plant-b").ok(&fixture("b2mml_job_response.xml"));
    assert!(out.contains("already ingested"), "{out}");

    let a = plain_b2mml(&pp, "SegmentResponse", "ActualStartTime", "ActualEndTime");
    let b = plain_b2mml(&jobs_plain, "JobResponse", "StartTime", "EndTime");
    assert_eq!((a.0, b.0), (8, 5));
    let r = query_json(
        &dir,
        "SELECT source, COUNT(*), SUM(total_count), SUM(good_count), SUM(downtime_min), \
         SUM(planned_min) FROM production_runs GROUP BY source ORDER BY source",
    );
    for (row, plain) in r.rows.iter().zip([a, b]) {
        assert_eq!(row[1], Cell::Int(plain.0), "{row:?}");
        assert_close(number(&row[2]), plain.1, "SUM(total_count)");
        assert_close(number(&row[3]), plain.2, "SUM(good_count)");
        assert_close(number(&row[4]), plain.3, "SUM(downtime_min)");
        assert_close(number(&row[5]), plain.4, "SUM(planned_min)");
    }
    assert_eq!(r.rows.len(), 2);
}

#[test]
fn mtconnect_sample_releases_the_plaintext_and_counts_unavailable() {
    let (_, dir) = document_deployment("document_ingest_mtconnect");
    let machine = DocIngest::new(&dir, "mtconnect", "mtconnect_machine.toml", "vmc");

    let secrets = ["250.5", "rpm", "226.946"];
    machine.refused_whole(&fixture("mtconnect_malformed.xml"), 4, &secrets);
    let err = machine.refused(&fixture("mtconnect_error.xml"));
    assert!(err.contains("OUT_OF_RANGE"), "{err}");
    assert_eq!(store_counts(&dir, "mtconnect_machine"), (0, 0));

    let out = machine.ok(&fixture("mtconnect_sample.xml"));
    assert_says(
        &out,
        &[
            "5 observations were UNAVAILABLE: counted, not stored",
            "next sequence: 158 (poll /sample?from=158)",
            "ingested 12 rows into `mtconnect_machine`",
        ],
    );

    // Plaintext from the fixture: every Load and RotaryVelocity that is not UNAVAILABLE.
    let xml = std::fs::read_to_string(fixture("mtconnect_sample.xml")).expect("fixture");
    let values = |tag: &str| -> Vec<f64> {
        texts_of(&xml, tag)
            .into_iter()
            .filter(|v| *v != "UNAVAILABLE")
            .map(num)
            .collect()
    };
    let load = values("Load");
    let rpm = values("RotaryVelocity");
    let r = query_json(
        &dir,
        "SELECT COUNT(*), SUM(spindle_load), AVG(spindle_load), SUM(spindle_speed) FROM mtconnect_machine",
    );
    let row = &r.rows[0];
    assert_eq!(row[0], Cell::Int(12));
    assert_close(number(&row[1]), load.iter().sum(), "SUM(spindle_load)");
    assert_close(
        number(&row[2]),
        load.iter().sum::<f64>() / load.len() as f64,
        "AVG(spindle_load)",
    );
    assert_close(number(&row[3]), rpm.iter().sum(), "SUM(spindle_speed)");
    assert_eq!(load.len(), 11);
}
