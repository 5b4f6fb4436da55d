//! Fault detection through the `dtfhe` binary: a copy of the AI4I schema declaring
//! `thresholds` on torque and tool wear, and C-MAPSS FD001 with thresholds on s2.
//! `COUNT(*) FILTER (WHERE x > edge)`, `HISTOGRAM(x)` and `APPROX_PERCENTILE(x, p)` are
//! checked against the plaintext reference; an undeclared edge is refused.

mod common;

use common::*;
use dtfhe_embedded::reference;

/// `text` with `line` followed by `extra` (the line must occur exactly once).
fn insert_after(text: &str, line: &str, extra: &str) -> String {
    assert_eq!(text.matches(line).count(), 1, "{line}");
    text.replace(line, &format!("{line}\n{extra}"))
}

#[test]
fn ai4i_thresholds_filter_histogram_percentile() {
    let root = fresh_dir("fault_detection_ai4i");
    let dir = root.join("deployment");
    let text = std::fs::read_to_string(repo().join("schemas/ai4i.toml")).expect("schema");
    let text = insert_after(&text, "unit = \"Nm\"", "thresholds = [30, 40, 50, 60]");
    let text = insert_after(&text, "unit = \"min\"", "thresholds = [100, 200]");
    let schema_path = root.join("ai4i_thresholds.toml");
    std::fs::write(&schema_path, &text).expect("write schema");
    let schema = dtfhe_model::Schema::from_toml_str(&text, "ai4i_thresholds.toml").expect("schema");
    assert_eq!(schema.thresholds("torque"), &[300, 400, 500, 600]);

    init_with(
        &dir,
        "north,south,east",
        5,
        "bfv-8192",
        &["--allow-key-filters"],
    );
    let rows = ingest_ai4i_halves(&root, &dir, &schema_path, &schema);

    // The source stored one indicator part per declared edge, and no more.
    let store = dtfhe_store::Store::open(&dir).expect("store");
    let chunk = &store.chunks("ai4i").expect("chunks")[0];
    for (column, k, present) in [
        ("torque", 0, true),
        ("torque", 3, true),
        ("torque", 4, false),
        ("tool_wear", 1, true),
        ("tool_wear", 2, false),
        ("rpm", 0, false),
    ] {
        let part = format!("gt{k}");
        let got = store.part(chunk.id, column, &part).expect("read part");
        assert_eq!(got.is_some(), present, "{column} {part}");
    }
    drop(store);

    let n = check_query(
        &dir,
        &schema,
        &rows,
        "SELECT type, COUNT(*) AS n, COUNT(*) FILTER (WHERE torque > 50) AS high_torque, \
         COUNT(*) FILTER (WHERE torque <= 30) AS low_torque, HISTOGRAM(torque), \
         APPROX_PERCENTILE(torque, 0.9), AVG(torque) FROM ai4i GROUP BY type ORDER BY type",
    );
    assert_eq!(n, 21);
    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT COUNT(*) FILTER (WHERE tool_wear > 200) AS worn, HISTOGRAM(tool_wear) AS wear, \
         APPROX_PERCENTILE(tool_wear, 0.5), APPROX_PERCENTILE(torque, 0.1), \
         100.0 * COUNT(*) FILTER (WHERE torque > 60) / COUNT(*) AS pct_high \
         FROM ai4i WHERE udi > 2000",
    );
    // The histogram is a structured value (an object in JSON), edges at the column's scale
    // bounded by the declared min and max; the table shows its text.
    let r = query_json(&dir, "SELECT HISTOGRAM(torque) FROM ai4i");
    let dtfhe_engine::Cell::Histogram(h) = &r.rows[0][0] else {
        panic!("{:?}", r.rows)
    };
    let (min, max) = schema
        .column("torque")
        .and_then(|c| c.encrypted())
        .map(|e| (e.codec.min_scaled, e.codec.max_scaled))
        .expect("torque codec");
    let edges: Vec<i64> = h.buckets.iter().map(|b| b.lo.units).collect();
    assert_eq!(edges, vec![min, 300, 400, 500, 600]);
    assert_eq!(h.buckets[4].hi.units, max);
    assert_eq!(
        h.buckets.iter().map(|b| b.count).sum::<i64>(),
        rows.len() as i64
    );
    let text = h.text();
    assert!(
        text.starts_with("≤30.0: ") && text.contains(" | >60.0: "),
        "{text}"
    );
    let table = ok([
        "query".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "SELECT HISTOGRAM(torque) FROM ai4i".as_ref(),
    ] as [&std::ffi::OsStr; 4]);
    assert!(table.contains(&text), "{table}");
    assert_eq!(
        r.columns,
        vec!["histogram(torque)".to_string()],
        "default column name"
    );
    let r = query_json(&dir, "SELECT APPROX_PERCENTILE(torque, 0.9) FROM ai4i");
    assert_eq!(r.columns, vec!["approx_percentile(torque, 0.9) ±30.0"]);

    // An undeclared edge, another operator or a compound condition is a policy refusal.
    for sql in [
        "SELECT COUNT(*) FILTER (WHERE torque > 45) FROM ai4i",
        "SELECT COUNT(*) FILTER (WHERE torque >= 50) FROM ai4i",
        "SELECT COUNT(*) FILTER (WHERE torque > 40 AND torque <= 50) FROM ai4i",
    ] {
        let e = fails_with(4, query_args(&dir, sql));
        assert!(e.contains("refused"), "{e}");
        assert!(e.contains("30.0, 40.0, 50.0, 60.0"), "{sql}: {e}");
    }
    let e = fails_with(4, query_args(&dir, "SELECT HISTOGRAM(rpm) FROM ai4i"));
    assert!(e.contains("`rpm`") && e.contains("thresholds"), "{e}");
}

#[test]
fn cmapss_s2_thresholds() {
    let Some((data, root, dir)) = cmapss_train("fault_detection_cmapss") else {
        return;
    };
    let text = std::fs::read_to_string(repo().join("schemas/cmapss_fd001.toml")).expect("schema");
    let text = insert_after(
        &text,
        "description = \"sensor measurement 2\"",
        "thresholds = [642.5, 643.0, 643.5]",
    );
    let schema_path = root.join("engines_thresholds.toml");
    std::fs::write(&schema_path, &text).expect("write schema");
    let schema = dtfhe_model::Schema::from_toml_str(&text, "engines.toml").expect("schema");
    init(&dir, "operator,oem,mro", 5, "bfv-8192");
    let out = ingest(&dir, &schema_path, &data, "fleet-1");
    assert!(out.contains("20631 rows"), "{out}");
    let bytes = std::fs::read(&data).expect("read data");
    let rows = reference::plain_rows(&bytes, &schema, "fleet-1").expect("rows");

    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT COUNT(*) FILTER (WHERE s2 > 643.5) AS alarms, COUNT(*) FILTER (WHERE s2 <= 642.5), \
         HISTOGRAM(s2), APPROX_PERCENTILE(s2, 0.9), APPROX_PERCENTILE(s2, 0.5) FROM engines",
    );
    // Late life versus early life: the alarms concentrate near failure.
    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT unit, COUNT(*) FILTER (WHERE s2 > 643.5) AS alarms, HISTOGRAM(s2) FROM engines \
         WHERE unit <= 5 AND cycle > 100 GROUP BY unit ORDER BY unit",
    );
    let e = fails_with(
        4,
        query_args(
            &dir,
            "SELECT COUNT(*) FILTER (WHERE s2 > 643.2) FROM engines",
        ),
    );
    assert!(e.contains("642.50, 643.00, 643.50"), "{e}");
}
