//! `HISTOGRAM(x)` and `APPROX_PERCENTILE(x, p)` as structured values through the real `dtfhe`
//! binary (embedded deployment, MES production runs with thresholds on `downtime_min`):
//! the JSON objects' shape, their edges and counts against a histogram computed directly
//! from the CSV text (exact decimals, no engine code), the percentile within its error bound
//! of the nearest-rank percentile of the CSV, the table and CSV text forms, and a
//! differentially private release that still gives a valid structure.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// The declared edges of `downtime_min` at its scale 1 (min 0, thresholds 15, 30, 60, 120,
/// max 720), in tenths of a minute.
const EDGES: [i64; 6] = [0, 150, 300, 600, 1200, 7200];

/// A decimal field of the CSV in tenths, parsed from its text (never through f64).
fn tenths(field: &str) -> i64 {
    let (int, frac) = field.split_once('.').unwrap_or((field, ""));
    assert!(frac.len() <= 1, "scale 1: {field}");
    let frac = if frac.is_empty() { "0" } else { frac };
    int.parse::<i64>().expect("integer part") * 10 + frac.parse::<i64>().expect("tenths")
}

/// Downtime (tenths) per line, read from the generated CSV text.
fn downtime_by_line(csv: &str) -> BTreeMap<String, Vec<i64>> {
    let mut header = csv.lines().next().expect("header").split(',');
    let line_col = header.clone().position(|h| h == "line").expect("line");
    let down_col = header.position(|h| h == "downtime_min").expect("downtime");
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        out.entry(f[line_col].to_string())
            .or_default()
            .push(tenths(f[down_col]));
    }
    out
}

/// Bucket counts of `values` between `EDGES`: (lo, hi], the first bucket also holding lo.
fn plain_counts(values: &[i64]) -> Vec<i64> {
    (0..EDGES.len() - 1)
        .map(|j| {
            values
                .iter()
                .filter(|&&v| (v > EDGES[j] || j == 0) && v <= EDGES[j + 1])
                .count() as i64
        })
        .collect()
}

/// The nearest-rank p-quantile (the ⌈p·n⌉-th smallest value), in minutes.
fn nearest_rank(values: &[i64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.max(1) - 1] as f64 / 10.0
}

/// The text today's table shows for a histogram with these counts.
fn histogram_text(counts: &[i64]) -> String {
    let labels = ["≤15.0", "15.0–30.0", "30.0–60.0", "60.0–120.0", ">120.0"];
    labels
        .iter()
        .zip(counts)
        .map(|(l, c)| format!("{l}: {c}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn query(dir: &Path, format: &str, sql: &str, extra: &[&str]) -> String {
    let mut args: Vec<std::ffi::OsString> = vec![
        "query".into(),
        "--dir".into(),
        dir.into(),
        "--format".into(),
        format.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    args.push(sql.into());
    ok(args)
}

/// One deployment with 600 production runs of one plant; returns its directory and the
/// CSV text.
fn deployment(name: &str, init_extra: &[&str]) -> (std::path::PathBuf, String) {
    let root = fresh_dir(name);
    let dir = root.join("d");
    init_with(&dir, "north,south,east", 5, "bfv-8192", init_extra);
    let csv = dtfhe_agent::mes::production_runs(600, 17);
    let path = root.join("runs.csv");
    std::fs::write(&path, &csv).expect("write csv");
    let out = ingest_schema(&dir, "production_runs", &path, "plant-a");
    assert!(out.contains("600 rows"), "{out}");
    (dir, csv)
}

const SQL: &str = "SELECT line, HISTOGRAM(downtime_min) AS downtime, \
                   APPROX_PERCENTILE(downtime_min, 0.9) AS p90, \
                   APPROX_PERCENTILE(downtime_min, 0.5) FROM production_runs \
                   GROUP BY line ORDER BY line";

#[test]
fn histogram_and_percentile_are_structured_and_equal_the_csv() {
    let (dir, csv) = deployment("structured_results", &[]);
    let by_line = downtime_by_line(&csv);
    assert!(by_line.len() >= 2, "{:?}", by_line.keys());

    let out = query(&dir, "json", SQL, &[]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(
        v["columns"],
        serde_json::json!([
            "line",
            "downtime",
            "p90",
            "approx_percentile(downtime_min, 0.5) ±600.0"
        ])
    );
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), by_line.len());
    let mut texts = Vec::new();
    for (row, (line, values)) in rows.iter().zip(&by_line) {
        assert_eq!(row[0], serde_json::json!(line));
        // The histogram: an object with its column, scale and buckets.
        let h = &row[1];
        assert_eq!(h["type"], "histogram", "{h}");
        assert_eq!(h["column"], "downtime_min");
        assert_eq!(h["scale"], 1);
        let buckets = h["buckets"].as_array().expect("buckets");
        let want = plain_counts(values);
        assert_eq!(buckets.len(), want.len(), "{h}");
        for (j, b) in buckets.iter().enumerate() {
            assert_eq!(
                b.as_object().map(|o| o.len()),
                Some(3),
                "lo, hi, count only: {b}"
            );
            assert_eq!(b["lo"].as_f64(), Some(EDGES[j] as f64 / 10.0), "{b}");
            assert_eq!(b["hi"].as_f64(), Some(EDGES[j + 1] as f64 / 10.0), "{b}");
            assert!(b["count"].is_i64(), "an integer count: {b}");
            assert_eq!(b["count"].as_i64(), Some(want[j]), "{line} bucket {j}");
        }
        assert_eq!(want.iter().sum::<i64>(), values.len() as i64);
        texts.push(histogram_text(&want));
        // The percentiles: within their error bound of the CSV's nearest-rank percentile.
        for (cell, p) in [(&row[2], 0.9), (&row[3], 0.5)] {
            assert_eq!(cell["type"], "percentile", "{cell}");
            assert_eq!(cell["column"], "downtime_min");
            assert_eq!(cell["scale"], 1);
            assert_eq!(cell["p"].as_f64(), Some(p));
            let value = cell["value"].as_f64().expect("value");
            let bound = cell["error_bound"].as_f64().expect("error bound");
            let (lo, hi) = (
                cell["bucket"]["lo"].as_f64().expect("lo"),
                cell["bucket"]["hi"].as_f64().expect("hi"),
            );
            let q = nearest_rank(values, p);
            assert!(
                (value - q).abs() <= bound,
                "{line} p{p}: {value} ± {bound} vs {q}"
            );
            assert!(lo <= q && q <= hi && lo <= value && value <= hi, "{cell}");
            assert_eq!(bound, ((hi - lo) * 10.0).round() / 10.0, "{cell}");
            assert!(
                EDGES
                    .windows(2)
                    .any(|w| (w[0] as f64 / 10.0, w[1] as f64 / 10.0) == (lo, hi)),
                "{cell}"
            );
        }
    }
    // The same values as the plaintext reference, cell by cell (histograms exactly).
    let n = check_query(&dir, &reference_schema(), &reference_rows(&csv), SQL);
    assert_eq!(n, 4 * by_line.len());

    // Table output: the histogram's text as before; CSV output: the same text.
    let table = query(&dir, "table", SQL, &[]);
    for t in &texts {
        assert!(table.contains(t), "{t}\n{table}");
    }
    let csv_out = query(&dir, "csv", SQL, &[]);
    let lines: Vec<&str> = csv_out.lines().collect();
    assert_eq!(
        lines[0],
        "line,downtime,p90,\"approx_percentile(downtime_min, 0.5) ±600.0\""
    );
    for (l, t) in lines[1..].iter().zip(&texts) {
        let fields: Vec<&str> = l.split(',').collect();
        assert_eq!(fields.len(), 4, "{l}");
        assert_eq!(fields[1], t);
        fields[2].parse::<f64>().expect("the percentile's value");
    }
}

fn reference_schema() -> dtfhe_model::Schema {
    dtfhe_model::Schema::from_toml_file(&repo().join("schemas/production_runs.toml"))
        .expect("schema")
}

fn reference_rows(csv: &str) -> Vec<dtfhe_engine::plaintext::PlainRow> {
    dtfhe_embedded::reference::plain_rows(csv.as_bytes(), &reference_schema(), "plant-a")
        .expect("rows")
}

/// Under differential privacy each indicator sum is noised, so a bucket count can come out
/// negative: the user still gets the same buckets and edges, integer counts clamped at 0, and
/// a percentile inside one of the column's buckets.
#[test]
fn dp_release_still_gives_a_valid_structure() {
    let (dir, csv) = deployment("structured_results_dp", &["--dp-budget", "10"]);
    let by_line = downtime_by_line(&csv);
    let out = query(&dir, "json", SQL, &["--epsilon", "4"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), by_line.len());
    for (row, values) in rows.iter().zip(by_line.values()) {
        let buckets = row[1]["buckets"].as_array().expect("buckets");
        assert_eq!(buckets.len(), EDGES.len() - 1, "{}", row[1]);
        let want = plain_counts(values);
        for (j, b) in buckets.iter().enumerate() {
            assert_eq!(b["lo"].as_f64(), Some(EDGES[j] as f64 / 10.0), "{b}");
            assert_eq!(b["hi"].as_f64(), Some(EDGES[j + 1] as f64 / 10.0), "{b}");
            let c = b["count"].as_i64().expect("an integer count");
            assert!(c >= 0, "clamped at 0: {b}");
            // Noise of scale (items / ε) per sum, about 5 here: 200 away only with negligible odds.
            assert!((c - want[j]).abs() <= 200, "{c} vs {}", want[j]);
        }
        for cell in [&row[2], &row[3]] {
            assert_eq!(cell["type"], "percentile", "{cell}");
            let value = cell["value"].as_f64().expect("value");
            let (lo, hi) = (
                cell["bucket"]["lo"].as_f64().expect("lo"),
                cell["bucket"]["hi"].as_f64().expect("hi"),
            );
            assert!(lo <= value && value <= hi, "{cell}");
            assert!(
                EDGES
                    .windows(2)
                    .any(|w| (w[0] as f64 / 10.0, w[1] as f64 / 10.0) == (lo, hi)),
                "{cell}"
            );
        }
    }
}
