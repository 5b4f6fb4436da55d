//! Fault detection on declared thresholds: planning of `COUNT(*) FILTER (WHERE x > edge)`,
//! `HISTOGRAM(x)` and `APPROX_PERCENTILE(x, p)`, refusals naming the declared edges, and the
//! finalized values from brute-force indicator sums against the plaintext reference.
mod common;

use common::{engine_eval, machining, row, with_thresholds};
use dtfhe_engine::plaintext::{compare, evaluate, PlainRow};
use dtfhe_engine::*;
use dtfhe_model::{Schema, Value};

/// torque (scale 2, 0..1000): edges 250, 500, 750; wear (scale 3, nullable, −5..5): −1, 0, 2.5.
fn schema() -> Schema {
    let s = with_thresholds(machining(), "torque", &[25_000, 50_000, 75_000]);
    with_thresholds(s, "wear", &[-1_000, 0, 2_500])
}

fn q(sql: &str) -> Result<Query, EngineError> {
    let s = schema();
    plan(sql, &Catalog::new(&[&s]))
}

fn moments(sql: &str) -> Vec<String> {
    q(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .moments()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn planning_maps_edges_to_indicator_parts() {
    let query = q("SELECT COUNT(*) FILTER (WHERE torque > 500) AS hot, \
                   COUNT(*) FILTER (WHERE 750.00 < torque), \
                   count(*) filter (where (torque <= 250.0)), HISTOGRAM(torque), \
                   APPROX_PERCENTILE(torque, 0.9) FROM machining")
    .expect("plans");
    assert_eq!(
        query.column_names(),
        vec![
            "hot",
            "count(*) filter (where torque > 750.00)",
            "count(*) filter (where torque <= 250.00)",
            "histogram(torque)",
            "approx_percentile(torque, 0.9) ±250.00",
        ]
    );
    match &query.outputs[0].expr {
        OutputExpr::Aggregate(a) => {
            assert_eq!(a.func, AggFunc::CountAbove(1));
            assert_eq!(a.args, vec!["torque".to_string()]);
            assert_eq!(a.domain, Domain::Encrypted);
        }
        other => panic!("{other:?}"),
    }
    // Non-nullable: COUNT(torque) is the clear row count; only indicator sums are encrypted.
    assert_eq!(
        query.moments(),
        (0..3)
            .map(|k| Moment {
                factors: vec![Factor::new("torque", Part::Above(k))]
            })
            .collect::<Vec<_>>()
    );
    for m in query.moments() {
        assert_eq!(m.bound(&query.schema), 1, "{m}");
    }
    assert_eq!(exec::part_name(Part::Above(2)), "gt2");
    // Nullable: COUNT(wear) needs the presence part.
    assert_eq!(
        moments("SELECT line, HISTOGRAM(wear) FROM machining WHERE shift = 1 GROUP BY line"),
        vec!["Σ P(wear)", "Σ Gt0(wear)", "Σ Gt1(wear)", "Σ Gt2(wear)"]
    );
    assert_eq!(
        moments("SELECT COUNT(wear) FILTER (WHERE wear <= -1) FROM machining"),
        vec!["Σ P(wear)", "Σ Gt0(wear)"]
    );
    let p = q("SELECT APPROX_PERCENTILE(wear, 0.25) FROM machining").expect("plans");
    assert_eq!(
        p.column_names(),
        vec!["approx_percentile(wear, 0.25) ±4.000"]
    );
}

fn refused(sql: &str) -> String {
    let e = q(sql).expect_err(sql);
    assert!(
        matches!(e, EngineError::UndeclaredThreshold { .. }),
        "{sql}: {e:?}"
    );
    assert!(e.is_policy_refusal(), "{sql}");
    e.to_string()
}

#[test]
fn undeclared_edges_and_other_comparisons_are_refused() {
    // Each query is refused with a message that says all of `says`.
    let refused_saying = |sqls: &[&str], says: [&str; 2]| {
        for sql in sqls {
            let e = refused(sql);
            assert!(says.iter().all(|s| e.contains(s)), "{sql}: {e}");
        }
    };
    refused_saying(
        &[
            "SELECT COUNT(*) FILTER (WHERE torque > 600) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque > 500.001) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque >= 500) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque = 500) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque < 500) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque > 250 AND torque <= 500) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque BETWEEN 250 AND 500) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE torque > speed) FROM machining",
            "SELECT COUNT(*) FILTER (WHERE line = 'A' OR torque > 500) FROM machining",
        ],
        ["`torque`", "250.00, 500.00, 750.00"],
    );
    // A column without thresholds says how to declare them.
    refused_saying(
        &[
            "SELECT COUNT(*) FILTER (WHERE speed > 1000) FROM machining",
            "SELECT HISTOGRAM(speed) FROM machining",
            "SELECT APPROX_PERCENTILE(speed, 0.5) FROM machining",
        ],
        ["`speed`", "thresholds = ["],
    );
}

#[test]
fn other_misuses_are_errors() {
    for (sql, needle) in [
        (
            "SELECT COUNT(*) FILTER (WHERE line = 'A') FROM machining",
            "FILTER on public",
        ),
        (
            "SELECT SUM(torque) FILTER (WHERE torque > 500) FROM machining",
            "FILTER on sum",
        ),
        (
            "SELECT COUNT(wear) FILTER (WHERE torque > 500) FROM machining",
            "COUNT(*)",
        ),
        ("SELECT HISTOGRAM(temp) FROM machining", "public column"),
        (
            "SELECT APPROX_PERCENTILE(torque, 1.5) FROM machining",
            "0 < p < 1",
        ),
        (
            "SELECT APPROX_PERCENTILE(torque, 0) FROM machining",
            "0 < p < 1",
        ),
        (
            "SELECT APPROX_PERCENTILE(torque) FROM machining",
            "fraction p",
        ),
        (
            "SELECT HISTOGRAM(torque, wear) FROM machining",
            "one column",
        ),
        (
            "SELECT torque FROM machining WHERE torque > 500",
            "encrypted",
        ),
    ] {
        let e = q(sql).expect_err(sql).to_string();
        assert!(e.contains(needle), "{sql}: {e}");
    }
}

fn rows() -> Vec<PlainRow> {
    let mut out = Vec::new();
    for i in 0..200i64 {
        let line = ["A", "B", "C"][(i % 3) as usize];
        // Torque spread over 0..1000 with values exactly on the edges too.
        let torque = ((i * 37) % 1001) as f64 + if i % 7 == 0 { 0.0 } else { 0.25 };
        let torque = if i % 50 == 0 {
            500.0
        } else {
            torque.min(1000.0)
        };
        let wear = if i % 5 == 0 {
            Value::Null
        } else {
            Value::Dec(((i * 13) % 10_001 - 5_000) as f64 / 1000.0)
        };
        out.push(row(&[
            ("line", Value::Text(line.into())),
            ("shift", Value::Int(i % 2)),
            ("temp", Value::Dec(20.0 + (i % 4) as f64)),
            ("torque", Value::Dec(torque)),
            ("wear", wear),
            ("energy", Value::Null),
            ("speed", Value::Int(500 + (i * 11) % 2500)),
            ("source", Value::Text("p".into())),
        ]));
    }
    out
}

#[test]
fn finalized_from_indicator_sums_equals_plaintext() {
    let s = schema();
    let data = rows();
    for sql in [
        "SELECT COUNT(*) FILTER (WHERE torque > 500), COUNT(*) FILTER (WHERE torque <= 500), \
         COUNT(*) FILTER (WHERE torque > 250), HISTOGRAM(torque), APPROX_PERCENTILE(torque, 0.9), \
         APPROX_PERCENTILE(torque, 0.5), APPROX_PERCENTILE(torque, 0.01) FROM machining",
        "SELECT line, COUNT(*), COUNT(wear) FILTER (WHERE wear > 0), \
         COUNT(*) FILTER (WHERE wear <= 2.5), HISTOGRAM(wear), APPROX_PERCENTILE(wear, 0.75), \
         AVG(torque) FROM machining WHERE shift = 1 GROUP BY line ORDER BY line DESC",
        "SELECT HISTOGRAM(wear), APPROX_PERCENTILE(wear, 0.5) FROM machining WHERE line = 'none'",
        "SELECT 100 * COUNT(*) FILTER (WHERE torque > 750) / COUNT(*) AS pct_hot FROM machining",
    ] {
        let query = plan(sql, &Catalog::new(&[&s])).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got = engine_eval(&query, &s, &data);
        let want = evaluate(&query, &data);
        compare(&got, &want, 1e-12, 1e-9).unwrap_or_else(|e| {
            panic!("{sql}: {e}\nengine: {:?}\nplain: {:?}", got.rows, want.rows)
        });
    }
    // Spot-check the structured histogram against a hand count, its text and its JSON.
    let query = plan(
        "SELECT COUNT(*) FILTER (WHERE torque > 500), HISTOGRAM(torque), \
         APPROX_PERCENTILE(torque, 0.9) FROM machining",
        &Catalog::new(&[&s]),
    )
    .expect("plans");
    let got = engine_eval(&query, &s, &data);
    let torques: Vec<f64> = data
        .iter()
        .filter_map(|r| match r["torque"] {
            Value::Dec(x) => Some(x),
            _ => None,
        })
        .collect();
    let above = torques.iter().filter(|&&x| x > 500.0).count();
    assert_eq!(got.rows[0][0], Cell::Int(above as i64));
    let Cell::Histogram(h) = &got.rows[0][1] else {
        panic!("{:?}", got.rows[0][1])
    };
    assert_eq!(h.column, "torque");
    let edges = [0, 25_000, 50_000, 75_000, 100_000];
    assert_eq!(h.buckets.len(), 4);
    for (j, b) in h.buckets.iter().enumerate() {
        assert_eq!(
            (b.lo, b.hi),
            (Decimal::new(edges[j], 2), Decimal::new(edges[j + 1], 2))
        );
        let (lo, hi) = (edges[j] as f64 / 100.0, edges[j + 1] as f64 / 100.0);
        let hand = torques
            .iter()
            .filter(|&&x| (x > lo || j == 0) && x <= hi)
            .count();
        assert_eq!(b.count, hand as i64, "bucket {j}");
    }
    let text = h.text();
    assert!(
        text.starts_with("≤250.00: ") && text.contains(" | 250.00–500.00: "),
        "{text}"
    );
    assert!(text.contains(" | >750.00: "), "{text}");
    assert!(got.to_table().contains(&text), "{}", got.to_table());
    assert!(got.to_csv().contains(&text), "{}", got.to_csv());
    // The percentile: the nearest-rank quantile lies within the error bound of the value,
    // and the bound is the width of the bucket holding it.
    let Cell::Percentile(p) = &got.rows[0][2] else {
        panic!("{:?}", got.rows[0][2])
    };
    let mut sorted = torques.clone();
    sorted.sort_by(f64::total_cmp);
    let rank = (0.9 * sorted.len() as f64).ceil() as usize;
    let quantile = sorted[rank - 1];
    assert!(
        (p.value - quantile).abs() <= p.error_bound().to_f64(),
        "{p:?} vs {quantile}"
    );
    assert!(
        p.lo.to_f64() <= quantile && quantile <= p.hi.to_f64(),
        "{p:?}"
    );
    assert_eq!(p.error_bound(), Decimal::new(25_000, 2));
    let json: serde_json::Value = serde_json::from_str(&got.to_json()).expect("json");
    let cell = &json["rows"][0][1];
    assert_eq!(cell["type"], "histogram");
    assert_eq!(cell["column"], "torque");
    assert_eq!(cell["scale"], 2);
    assert_eq!(cell["buckets"][0]["lo"], 0.0);
    assert_eq!(cell["buckets"][0]["hi"], 250.0);
    assert_eq!(cell["buckets"][3]["hi"], 1000.0);
    let total: i64 = (0..4)
        .map(|j| cell["buckets"][j]["count"].as_i64().expect("integer count"))
        .sum();
    assert_eq!(total, torques.len() as i64);
    let cell = &json["rows"][0][2];
    assert_eq!(cell["type"], "percentile");
    assert_eq!(cell["p"], 0.9);
    assert_eq!(cell["value"], p.value);
    assert_eq!(cell["error_bound"], 250.0);
}

/// Noisy indicator sums (a differentially private release) can make a bucket count
/// negative: the histogram clamps it at 0, keeps its edges, and the percentile still lies in
/// a bucket of the column.
#[test]
fn noisy_sums_still_give_a_valid_structure() {
    let s = schema();
    let data = rows();
    let query = plan(
        "SELECT HISTOGRAM(torque), APPROX_PERCENTILE(torque, 0.5) FROM machining",
        &Catalog::new(&[&s]),
    )
    .expect("plans");
    // Noise on Σ gt_k that breaks their order (more rows above 500 than above 250).
    let noise = [-30i128, 45, -7];
    let got = engine_eval(&query, &s, &data);
    let exact = match &got.rows[0][0] {
        Cell::Histogram(h) => (**h).clone(),
        other => panic!("{other:?}"),
    };
    let n: i128 = exact.buckets.iter().map(|b| i128::from(b.count)).sum();
    let mut above: Vec<i128> = Vec::new();
    let mut rest = n;
    for b in &exact.buckets[..3] {
        rest -= i128::from(b.count);
        above.push(rest);
    }
    let noisy: Vec<i128> = above.iter().zip(noise).map(|(a, e)| a + e).collect();
    let mut moments = std::collections::HashMap::new();
    for (k, v) in noisy.iter().enumerate() {
        moments.insert(
            Moment {
                factors: vec![Factor::new("torque", Part::Above(k as u8))],
            },
            *v,
        );
    }
    let mut g = query.new_group(Vec::new());
    for r in &data {
        g.add_row(r);
    }
    let cells = finalize(&query, &s, &g, &moments).expect("finalize");
    let Cell::Histogram(h) = &cells[0] else {
        panic!("{:?}", cells[0])
    };
    assert_eq!(h.buckets.len(), exact.buckets.len());
    for (b, e) in h.buckets.iter().zip(&exact.buckets) {
        assert_eq!((b.lo, b.hi), (e.lo, e.hi));
        assert!(b.count >= 0, "{h:?}");
    }
    let raw = dtfhe_engine::threshold::bucket_counts(n, &noisy);
    assert!(
        raw.iter().any(|c| *c < 0),
        "the noise makes a raw count negative: {raw:?}"
    );
    for (b, r) in h.buckets.iter().zip(&raw) {
        assert_eq!(i128::from(b.count), (*r).max(0));
    }
    let Cell::Percentile(p) = &cells[1] else {
        panic!("{:?}", cells[1])
    };
    assert!(
        p.lo.to_f64() <= p.value && p.value <= p.hi.to_f64(),
        "{p:?}"
    );
    assert!(h.buckets.iter().any(|b| (b.lo, b.hi) == (p.lo, p.hi)));
}

proptest::proptest! {
    /// For any values inside the declared range and any edges: the histogram from the
    /// indicator sums has the direct bucket counts, and the percentile lies within its error
    /// bound (the width of its bucket) of the nearest-rank p-quantile, inside that bucket.
    #[test]
    fn percentile_within_its_bound_of_the_nearest_rank_quantile(
        values in proptest::collection::vec(0i64..=2_000, 1..200),
        cuts in proptest::collection::btree_set(1i64..2_000, 1..8),
        p in 0.001f64..0.999,
    ) {
        // Scale 1, declared range [0.0, 200.0]; edges strictly inside it.
        let codec = dtfhe_model::FixedPoint::new(1, 0.0, 200.0).expect("codec");
        let edges: Vec<i64> = cuts.into_iter().collect();
        let above: Vec<i128> = edges
            .iter()
            .map(|e| values.iter().filter(|v| *v > e).count() as i128)
            .collect();
        let counts = threshold::bucket_counts(values.len() as i128, &above);
        let h = threshold::histogram("x", &codec, &edges, &counts).expect("histogram");
        let bounds = threshold::bucket_edges(&codec, &edges);
        for (j, b) in h.buckets.iter().enumerate() {
            let direct = values
                .iter()
                .filter(|&&v| (v > bounds[j] || j == 0) && v <= bounds[j + 1])
                .count() as i64;
            proptest::prop_assert_eq!(b.count, direct);
            proptest::prop_assert_eq!((b.lo.units, b.hi.units), (bounds[j], bounds[j + 1]));
        }
        let pc = threshold::percentile_cell("x", p, &codec, &edges, &counts).expect("values");
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let rank = ((p * sorted.len() as f64).ceil() as usize).max(1);
        let q = sorted[rank - 1] as f64 / 10.0;
        proptest::prop_assert!((pc.value - q).abs() <= pc.error_bound().to_f64() + 1e-9, "{:?} vs {}", pc, q);
        proptest::prop_assert!(pc.lo.to_f64() <= q && q <= pc.hi.to_f64(), "{:?} vs {}", pc, q);
    }
}
