//! End-to-end results over small hand-made tables: GROUP BY / WHERE / ORDER BY / LIMIT, NULL
//! semantics, exactness, and table / JSON / CSV output.
mod common;

use common::{engine_eval, row};
use dtfhe_engine::plaintext::{compare, evaluate, PlainRow};
use dtfhe_engine::*;
use dtfhe_model::Value;
use std::collections::HashMap;

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

/// The columns of [`rows`], in the order each row lists its values.
const COLUMNS: [&str; 8] = [
    "line", "shift", "temp", "torque", "wear", "energy", "speed", "source",
];

#[rustfmt::skip] // one row a line, its values aligned in COLUMNS order
fn rows() -> Vec<PlainRow> {
    use Value::{Dec, Int, Null};
    let two = || t("Plant, \"Two\"");
    [
        [t("A"), Int(1), Dec(20.5), Dec(10.0), Dec(0.5),  Dec(1.5), Int(1000), t("p1")],
        [t("A"), Int(2), Null,      Dec(20.0), Null,      Null,     Int(1200), t("p1")],
        [t("B"), Int(1), Dec(22.0), Dec(30.0), Dec(1.5),  Dec(2.5), Int(1500), two()],
        [t("B"), Null,   Dec(19.0), Dec(50.0), Dec(-0.5), Null,     Int(2000), two()],
        [t("C"), Int(3), Dec(25.0), Dec(5.0),  Null,      Null,     Int(800),  t("p1")],
    ]
    .into_iter()
    .map(|values| row(&COLUMNS.into_iter().zip(values).collect::<Vec<_>>()))
    .collect()
}

fn run(sql: &str) -> ResultSet {
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    let q = plan(sql, &cat).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let got = engine_eval(&q, &s, &rows());
    let want = evaluate(&q, &rows());
    compare(&got, &want, 1e-12, 1e-12).unwrap_or_else(|e| panic!("{sql}: {e}"));
    got
}

#[test]
fn group_where_order_limit_and_formats() {
    let r = run(
        "SELECT line, count(*) AS n, sum(torque), avg(wear), count(wear) FROM machining \
                 WHERE shift IS NOT NULL OR line = 'B' GROUP BY line ORDER BY line DESC LIMIT 2",
    );
    assert_eq!(
        r.columns,
        vec!["line", "n", "sum(torque)", "avg(wear)", "count(wear)"]
    );
    assert_eq!(
        r.rows,
        vec![
            vec![
                Cell::Text("C".into()),
                Cell::Int(1),
                Cell::Float(5.0),
                Cell::Null,
                Cell::Int(0)
            ],
            vec![
                Cell::Text("B".into()),
                Cell::Int(2),
                Cell::Float(80.0),
                Cell::Float(0.5),
                Cell::Int(2)
            ],
        ]
    );
    assert_eq!(
        r.to_json(),
        r#"{"columns":["line","n","sum(torque)","avg(wear)","count(wear)"],"rows":[["C",1,5.0,null,0],["B",2,80.0,0.5,2]]}"#
    );
    assert_eq!(
        r.to_csv(),
        "line,n,sum(torque),avg(wear),count(wear)\nC,1,5.00,,0\nB,2,80.00,0.5,2\n"
    );
    assert_eq!(
        r.to_table(),
        "line | n | sum(torque) | avg(wear) | count(wear)\n\
         -----+---+-------------+-----------+------------\n\
         C    | 1 |        5.00 |      NULL |           0\n\
         B    | 2 |       80.00 |       0.5 |           2\n\
         (2 rows)\n"
    );
}

#[test]
fn where_filters_rows() {
    let r = run("SELECT count(*), sum(speed), avg(torque) FROM machining WHERE temp > 20 AND line IN ('A', 'B')");
    // rows 0 (20.5) and 2 (22.0)
    assert_eq!(
        r.rows,
        vec![vec![Cell::Int(2), Cell::Float(2500.0), Cell::Float(20.0)]]
    );
    let r = run("SELECT count(*) FROM machining WHERE NOT shift BETWEEN 2 AND 3");
    assert_eq!(r.rows, vec![vec![Cell::Int(2)]]); // shifts 1, 1 (NULL is unknown)
}

#[test]
fn default_order_is_ascending_with_null_last() {
    let r = run("SELECT shift, count(*) FROM machining GROUP BY shift");
    let keys: Vec<Cell> = r.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        keys,
        vec![Cell::Int(1), Cell::Int(2), Cell::Int(3), Cell::Null]
    );
    let r = run("SELECT shift, count(*) FROM machining GROUP BY shift ORDER BY shift DESC");
    let keys: Vec<Cell> = r.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(
        keys,
        vec![Cell::Null, Cell::Int(3), Cell::Int(2), Cell::Int(1)]
    );
}

#[test]
fn order_by_unselected_group_key() {
    let r = run(
        "SELECT count(*) AS n, sum(torque) FROM machining GROUP BY line ORDER BY line DESC LIMIT 1",
    );
    assert_eq!(r.rows, vec![vec![Cell::Int(1), Cell::Float(5.0)]]);
}

#[test]
fn null_semantics() {
    // no GROUP BY, zero rows selected: one row, COUNT = 0, everything else NULL
    let r = run(
        "SELECT count(*), count(wear), count(torque), sum(torque), avg(wear), var_pop(torque), \
                 var_samp(wear), stddev_samp(speed), covar_pop(torque, speed), corr(wear, wear), \
                 regr_slope(torque, speed), regr_intercept(torque, speed), regr_r2(torque, speed), \
                 sum(shift), avg(temp) FROM machining WHERE line = 'none'",
    );
    assert_eq!(r.rows.len(), 1);
    let row = &r.rows[0];
    assert_eq!(&row[..3], &[Cell::Int(0), Cell::Int(0), Cell::Int(0)]);
    assert!(row[3..].iter().all(|c| *c == Cell::Null), "{row:?}");
    // a group where the column is all NULL
    let r = run(
        "SELECT line, count(wear), sum(wear), avg(energy), var_pop(wear), covar_pop(wear, speed) \
                 FROM machining GROUP BY line",
    );
    assert_eq!(
        r.rows[2],
        vec![
            Cell::Text("C".into()),
            Cell::Int(0),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null
        ]
    );
    // samples of one: *_samp NULL, *_pop 0
    let r = run(
        "SELECT var_samp(torque), var_pop(torque), stddev(torque), covar_samp(torque, speed), \
                 covar_pop(torque, speed), corr(torque, speed), regr_slope(torque, speed) \
                 FROM machining WHERE line = 'C'",
    );
    assert_eq!(
        r.rows[0],
        vec![
            Cell::Null,
            Cell::Float(0.0),
            Cell::Null,
            Cell::Null,
            Cell::Float(0.0),
            Cell::Null,
            Cell::Null
        ]
    );
    // constant y: regr_r2 = 1, corr NULL, slope 0; constant x: slope, intercept, r2 NULL
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    let q = plan(
        "SELECT regr_r2(speed, torque), corr(speed, torque), regr_slope(speed, torque), \
         regr_r2(torque, speed), regr_slope(torque, speed), regr_intercept(torque, speed) FROM machining",
        &cat,
    )
    .expect("plan");
    let data: Vec<PlainRow> = [10.0, 20.0, 30.0]
        .iter()
        .map(|v| common::row(&[("speed", Value::Int(1000)), ("torque", Value::Dec(*v))]))
        .collect();
    let got = engine_eval(&q, &s, &data);
    compare(&got, &evaluate(&q, &data), 1e-12, 0.0).expect("same");
    assert_eq!(
        got.rows[0],
        vec![
            Cell::Float(1.0),
            Cell::Null,
            Cell::Float(0.0),
            Cell::Null,
            Cell::Null,
            Cell::Null
        ]
    );
}

#[test]
fn regr_values_exact() {
    // torque = 10,20,30,50,5 ; speed = 1000,1200,1500,2000,800 — compare against closed form.
    let r = run(
        "SELECT regr_slope(torque, speed), regr_intercept(torque, speed), regr_r2(torque, speed), \
                 corr(torque, speed), covar_samp(torque, speed), avg(speed) FROM machining",
    );
    let x = [1000.0, 1200.0, 1500.0, 2000.0, 800.0];
    let y = [10.0, 20.0, 30.0, 50.0, 5.0];
    let mx = x.iter().sum::<f64>() / 5.0;
    let my = y.iter().sum::<f64>() / 5.0;
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let syy: f64 = y.iter().map(|b| (b - my) * (b - my)).sum();
    let expect = [
        sxy / sxx,
        my - sxy / sxx * mx,
        sxy * sxy / (sxx * syy),
        sxy / (sxx * syy).sqrt(),
        sxy / 4.0,
        mx,
    ];
    for (c, e) in r.rows[0].iter().zip(expect) {
        let v = c.as_f64().expect("number");
        assert!((v - e).abs() <= 1e-12 * e.abs().max(1.0), "{v} vs {e}");
    }
}

/// Table `m` with one encrypted column `x` (products allowed) of `codec`, and `sql`
/// planned over it.
fn plan_over_x(
    sql: &str,
    codec: dtfhe_model::FixedPoint,
    nullable: bool,
) -> (dtfhe_model::Schema, Query) {
    let x = common::enc("x", codec, dtfhe_model::Usage::Product, nullable);
    let s = common::schema("m", vec![x]);
    let q = plan(sql, &Catalog::new(&[&s])).expect("plan");
    (s, q)
}

#[test]
fn variance_is_exact_with_large_offset() {
    // Values near the top of a wide range: naive Σx² − (Σx)²/n in f64 would lose digits.
    let (s, q) = plan_over_x(
        "SELECT var_pop(x), var_samp(x), stddev_pop(x), avg(x), sum(x) FROM m",
        common::codec(3, -1_000_000_000_000, 1_000_000_000_000),
        false,
    );
    let vals = [999_999_999.998, 999_999_999.999, 1_000_000_000.0];
    let rows: Vec<PlainRow> = vals.iter().map(|v| row(&[("x", Value::Dec(*v))])).collect();
    let r = engine_eval(&q, &s, &rows);
    let var_pop = 2e-6 / 3.0;
    let got = r.rows[0][0].as_f64().expect("var_pop");
    assert!(
        (got - var_pop).abs() <= 1e-15 * var_pop,
        "{got} vs {var_pop}"
    );
    assert_eq!(r.rows[0][1], Cell::Float(1e-6));
    assert_eq!(r.rows[0][3], Cell::Float(999_999_999.999));
    assert_eq!(r.rows[0][4], Cell::Float(2_999_999_999.997));
    assert_eq!(
        r.to_csv().lines().nth(1),
        Some(
            "0.0000006666666666666667,0.000001,0.0008164965809277261,999999999.999,2999999999.997"
        )
    );
}

#[test]
fn big_integer_fallback_is_exact() {
    // n·S2 overflows i128: the numerators are promoted, not wrapped.
    let (s, q) = plan_over_x(
        "SELECT var_pop(x), count(x), avg(x) FROM m",
        common::codec(0, -20_000_000_000_000_000, 20_000_000_000_000_000),
        true,
    );
    let m = q.moments();
    assert_eq!(m.len(), 3);
    let find = |p: Part| {
        m.iter()
            .find(|m| m.factors[0].part == p)
            .expect("moment")
            .clone()
    };
    let mut g = q.new_group(vec![]);
    g.add_row(&HashMap::<String, Value>::new());
    let n: i128 = 1_000_000;
    // half the rows at +1e16, half at −1e16 (offset 0)
    let sums: HashMap<Moment, i128> = [
        (find(Part::Presence), n),
        (find(Part::Value), 0),
        (find(Part::Square), n * 10i128.pow(32)),
    ]
    .into_iter()
    .collect();
    let cells = finalize(&q, &s, &g, &sums).expect("finalize");
    assert_eq!(
        cells,
        vec![Cell::Float(1e32), Cell::Int(1_000_000), Cell::Float(0.0)]
    );
    // constant column at 1e16: exact zero variance despite overflow
    let sums: HashMap<Moment, i128> = [
        (find(Part::Presence), n),
        (find(Part::Value), n * 10i128.pow(16)),
        (find(Part::Square), n * 10i128.pow(32)),
    ]
    .into_iter()
    .collect();
    let cells = finalize(&q, &s, &g, &sums).expect("finalize");
    assert_eq!(cells[0], Cell::Float(0.0));
}

#[test]
fn missing_moment_is_an_error() {
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    let q = plan("SELECT avg(wear) FROM machining", &cat).expect("plan");
    let mut g = q.new_group(vec![]);
    g.add_row(&HashMap::<String, Value>::new());
    let e = finalize(&q, &s, &g, &HashMap::new()).expect_err("missing");
    assert!(matches!(e, EngineError::MissingMoment(_)), "{e}");
    // but an empty group needs none
    let g = q.new_group(vec![]);
    assert_eq!(
        finalize(&q, &s, &g, &HashMap::new()).expect("empty"),
        vec![Cell::Null]
    );
}

#[test]
fn csv_quoting_and_source_column() {
    let r =
        run("SELECT source, count(*), sum(energy) FROM machining GROUP BY source ORDER BY source");
    assert_eq!(
        r.to_csv(),
        "source,count(*),sum(energy)\n\"Plant, \"\"Two\"\"\",2,2.5\np1,3,1.5\n"
    );
    assert_eq!(
        r.to_json(),
        r#"{"columns":["source","count(*)","sum(energy)"],"rows":[["Plant, \"Two\"",2,2.5],["p1",3,1.5]]}"#
    );
}

#[test]
fn public_aggregates() {
    let r = run("SELECT sum(shift), avg(temp), count(temp), var_samp(temp), corr(temp, shift) FROM machining");
    assert_eq!(r.rows[0][0], Cell::Int(7));
    assert_eq!(r.rows[0][2], Cell::Int(4));
    let avg = r.rows[0][1].as_f64().expect("avg");
    assert!((avg - 21.625).abs() < 1e-12);
}

#[test]
fn group_state_merge() {
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    let q = plan(
        "SELECT count(*), avg(temp), sum(shift) FROM machining",
        &cat,
    )
    .expect("plan");
    let rs = rows();
    let mut a = q.new_group(vec![]);
    let mut b = q.new_group(vec![]);
    for (i, r) in rs.iter().enumerate() {
        if i % 2 == 0 {
            a.add_row(r)
        } else {
            b.add_row(r)
        }
    }
    a.merge(b);
    let cells = finalize(&q, &s, &a, &HashMap::new()).expect("finalize");
    assert_eq!(cells[0], Cell::Int(5));
    assert_eq!(cells[2], Cell::Int(7));
}
