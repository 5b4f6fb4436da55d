//! The digital thread across owners over the network, every role its own `dtfhe` process:
//! a manufacturer's agent and a service partner's agent ingest two per-product (lane)
//! datasets about overlapping products, the platform hands out the lanes, the analyst joins
//! them on the product id, every trustee re-derives the join from both owners' signed
//! chunks. The released numbers equal the plaintext inner join; an analyst granted only one
//! side is refused; the platform's directory holds no value of either side.
#![allow(clippy::unwrap_used)]

mod common;

use common::net::*;
use common::*;
use dtfhe_embedded::reference;
use dtfhe_engine::plaintext::{self, PlainRow};
use dtfhe_model::{Schema, Value};
use std::collections::HashMap;

/// The service partner's records: a failure flag and the hours a repair took.
const SERVICE_SCHEMA: &str = include_str!("schemas/service_records.toml");

/// Values that occur only in the marker rows (one per side): torque 76.4 Nm at the
/// manufacturer, 4379.17 repair hours at the service partner. The hours column's range is
/// centred on zero and wide enough that the marker's fixed-point integer (437,917) has three
/// significant bytes: a small integer such as 1,879 occurs by chance in the store's own
/// binary fields (lengths, counts), so probing for it would flag structure, not a leak.
const MARKER_TORQUE: &str = "76.4";
const MARKER_HOURS: &str = "4379.17";

/// The manufacturer's file: AI4I rows `from..to` with the first row's torque set to the
/// marker.
fn manufacturer_csv(from: usize, to: usize) -> String {
    let text = ai4i_slice(from, to);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    fields[6] = MARKER_TORQUE.to_string();
    lines[1] = fields.join(",");
    lines.join("\n") + "\n"
}

/// The service partner's file for AI4I rows `from..to`: the machine-failure flag and a repair
/// time derived from the row (the first row gets the marker).
fn service_csv(from: usize, to: usize) -> String {
    let mut out = String::from("product_id,failure,repair_hours\n");
    for (i, line) in ai4i_slice(from, to).lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let hours = if i == 0 {
            MARKER_HOURS.to_string()
        } else {
            format!("{}.{}", (i * 37) % 400, i % 10)
        };
        out.push_str(&format!("{},{},{hours}\n", f[1], f[8]));
    }
    out
}

fn plain(csv: &str, schema: &Schema, source: &str) -> Vec<PlainRow> {
    reference::plain_rows(csv.as_bytes(), schema, source).unwrap()
}

#[test]
fn two_owners_lane_datasets_join_over_the_network_equal_to_the_plaintext_inner_join() {
    // Products of two owners' columns need the larger ring for the noise flooding to hide.
    let net = start(
        "thread_network",
        "bfv-16384",
        &[],
        &[
            ("both", "analyst", "ai4i_process,service_records"),
            ("one-side", "analyst", "ai4i_process"),
            ("manufacturer", "source", "ai4i_process"),
            ("service-partner", "source", "service_records"),
            ("other-maker", "source", "ai4i_process"),
        ],
    );
    // The manufacturer made products 0..1200, the service partner serviced 600..1800:
    // 600 products in both. Then an analyst fits a model on the manufacturer's data and the
    // manufacturer scores its own products with it.
    let (m_csv, s_csv) = (manufacturer_csv(0, 1200), service_csv(600, 1800));
    let (m_path, s_path) = (net.root.join("mfg.csv"), net.root.join("svc.csv"));
    let s_schema_path = net.root.join("service_records.toml");
    std::fs::write(&m_path, &m_csv).unwrap();
    std::fs::write(&s_path, &s_csv).unwrap();
    std::fs::write(&s_schema_path, SERVICE_SCHEMA).unwrap();
    let m_schema_path = repo().join("schemas/ai4i_process.toml");
    net.upload("manufacturer", &m_schema_path, &m_path)
        .unwrap_or_else(|log| panic!("manufacturer agent: {log}"));
    net.upload("service-partner", &s_schema_path, &s_path)
        .unwrap_or_else(|log| panic!("service agent: {log}"));

    let ms = Schema::from_toml_str(&std::fs::read_to_string(&m_schema_path).unwrap(), "m").unwrap();
    let ss = Schema::from_toml_str(SERVICE_SCHEMA, "s").unwrap();
    let joined = reference::inner_join(
        &plain(&m_csv, &ms, "manufacturer"),
        "m",
        &plain(&s_csv, &ss, "service-partner"),
        "s",
        "product_id",
    );
    assert_eq!(joined.len(), 600);
    let schemas = [ms, ss];
    let catalog = dtfhe_engine::Catalog::new(&schemas.iter().collect::<Vec<_>>());

    let as_analyst = |analyst: &str, sql: &str| {
        let mut args = net.query_args(sql);
        let i = args.iter().position(|a| a == "--identity").unwrap();
        args[i + 1] = net.id(analyst).into();
        dtfhe(args)
    };
    for sql in [
        "SELECT COUNT(*) AS products, AVG(m.torque), AVG(s.repair_hours), CORR(m.tool_wear, s.repair_hours), REGR_SLOPE(s.repair_hours, m.torque), AVG(s.failure) FROM ai4i_process m JOIN service_records s ON m.product_id = s.product_id",
        "SELECT m.type, COUNT(*), AVG(s.repair_hours), CORR(m.torque, s.failure), REGR_INTERCEPT(s.repair_hours, m.rpm) FROM ai4i_process AS m INNER JOIN service_records AS s ON s.product_id = m.product_id GROUP BY m.type ORDER BY m.type",
    ] {
        let o = as_analyst("both", sql);
        let got = success_json(&o, sql);
        let q = dtfhe_engine::plan(sql, &catalog).unwrap();
        let want = plaintext::evaluate(&q, &joined);
        plaintext::compare(&got, &want, 1e-9, 1e-9).unwrap_or_else(|e| {
            panic!("{sql}: {e}\n{}\n{}", got.to_table(), want.to_table())
        });
    }

    // Granted only the manufacturer's side: refused before anything is computed.
    let o = as_analyst(
        "one-side",
        "SELECT COUNT(*), AVG(s.repair_hours) FROM ai4i_process m JOIN service_records s ON m.product_id = s.product_id",
    );
    let err = failed_with(&o, 4, "one side");
    assert!(err.contains("service_records"), "{err}");

    score_over_the_network(&net, &m_csv, &schemas[0]);

    // The platform holds the lanes (public product ids) and ciphertexts, never a value: the
    // marker values are probed as text, and the repair hours also as the 8-byte fixed-point
    // integer the source encoded (437,917: the range is centred on zero, so the centred and
    // the scaled integer are the same). The torque's integers (764, 364) are not probed: they
    // are lane numbers of this test, which the platform stores as public columns.
    let hours_fixed: i64 = 437_917;
    let probes: Vec<Vec<u8>> = vec![
        MARKER_TORQUE.into(),
        MARKER_HOURS.into(),
        hours_fixed.to_le_bytes().to_vec(),
        hours_fixed.to_be_bytes().to_vec(),
    ];
    let mut files = files_under(&net.root.join("platform"));
    files.push(net.root.join("serve.log"));
    let mut checked = 0;
    for f in files.iter().filter(|f| f.exists()) {
        let bytes = std::fs::read(f).unwrap();
        checked += bytes.len();
        for probe in &probes {
            assert!(
                !bytes.windows(probe.len()).any(|x| x == probe.as_slice()),
                "{} holds a marker value of an encrypted column (probe {probe:02x?})",
                f.display()
            );
        }
    }
    assert!(checked > 100_000, "only {checked} bytes checked");
}

/// Per-row scoring over the network: the analyst fits torque ~ rpm + tool_wear from
/// released aggregates and registers the model; the manufacturer gets each of its own
/// products' predictions, equal to the model applied to its plaintext rows; nobody else
/// gets any, and a model that was never registered scores nothing.
fn score_over_the_network(net: &Net, m_csv: &str, schema: &Schema) {
    let model_path = net.root.join("torque.json");
    let as_id = |who: &str, args: &[&str]| {
        let mut all: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        all.extend([
            "--server".into(),
            net.url.clone().into(),
            "--identity".into(),
            net.id(who).into(),
            "--timeout".into(),
            "120".into(),
        ]);
        dtfhe(all)
    };
    let model_arg = model_path.to_str().unwrap();
    let o = as_id(
        "both",
        &[
            "model",
            "fit",
            "--dataset",
            "ai4i_process",
            "--target",
            "torque",
            "--features",
            "rpm,tool_wear",
            "--out",
            model_arg,
        ],
    );
    let (out, err) = texts(&o);
    assert!(o.status.success(), "fit: {err}");
    assert!(out.contains("registered on the platform"), "{out}");
    let model =
        dtfhe_engine::model::LinearModel::from_json(&std::fs::read_to_string(&model_path).unwrap())
            .unwrap();
    let score = |who: &str, model: &str| {
        as_id(
            who,
            &[
                "model",
                "score",
                "--model",
                model,
                "--dataset",
                "ai4i_process",
                "--format",
                "json",
            ],
        )
    };

    // The owner: every product's prediction, equal to the model on the plaintext row.
    let o = score("manufacturer", model_arg);
    let got = success_json(&o, "score");
    let rows = plain(m_csv, schema, "manufacturer");
    assert_eq!(got.rows.len(), rows.len());
    let col = |name: &str| got.columns.iter().position(|c| c == name).unwrap();
    let (pid, pred) = (col("product_id"), col("prediction"));
    let num = |v: Option<&Value>| match v {
        Some(Value::Int(i)) => *i as f64,
        Some(Value::Dec(d)) => *d,
        other => panic!("{other:?}"),
    };
    let by_product: HashMap<String, &PlainRow> = rows
        .iter()
        .map(|r| match r.get("product_id") {
            Some(Value::Text(t)) => (t.clone(), r),
            other => panic!("{other:?}"),
        })
        .collect();
    for row in &got.rows {
        let dtfhe_engine::Cell::Text(p) = &row[pid] else {
            panic!("product id {:?}", row[pid]);
        };
        let plain_row = by_product[p];
        let want = model.predict(&[num(plain_row.get("rpm")), num(plain_row.get("tool_wear"))]);
        let dtfhe_engine::Cell::Float(v) = row[pred] else {
            panic!("prediction {:?}", row[pred]);
        };
        assert!(
            (v - want).abs() < 1e-3,
            "{p}: released {v}, plaintext {want}"
        );
    }

    // Anyone else: a source without the grant, a granted source with no rows of its own, an
    // analyst (not an owner). And a model never registered scores nothing.
    for who in ["service-partner", "other-maker", "both"] {
        let o = score(who, model_arg);
        failed_with(&o, 4, who);
    }
    let mut forged = model.clone();
    forged.coefficients[0] += 1.0;
    let forged_path = net.root.join("forged.json");
    std::fs::write(&forged_path, forged.to_json()).unwrap();
    let o = score("manufacturer", forged_path.to_str().unwrap());
    let (_, err) = texts(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("no model registered"), "{err}");
}
