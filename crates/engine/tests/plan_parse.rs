//! Parsing and planning of every supported construct.
mod common;

use dtfhe_engine::*;
use dtfhe_model::Value;

fn q(sql: &str) -> Query {
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    plan(sql, &cat).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn agg(query: &Query, i: usize) -> &Aggregate {
    match &query.outputs[i].expr {
        OutputExpr::Aggregate(a) => a,
        other => panic!("not an aggregate: {other:?}"),
    }
}

#[test]
fn all_aggregates_and_default_names() {
    let query = q("SELECT COUNT(*), count(wear), SUM(torque), avg(Torque), VAR_POP(torque), var_samp(torque), \
         variance(wear), stddev_pop(wear), stddev_samp(wear), stddev(speed), covar_pop(wear, torque), \
         covar_samp(torque, speed), corr(torque, speed), regr_slope(torque, speed), \
         regr_intercept(torque, speed), regr_r2(speed, torque) FROM Machining");
    assert_eq!(query.dataset, "machining");
    assert_eq!(
        query.column_names(),
        vec![
            "count(*)",
            "count(wear)",
            "sum(torque)",
            "avg(torque)",
            "var_pop(torque)",
            "var_samp(torque)",
            "variance(wear)",
            "stddev_pop(wear)",
            "stddev_samp(wear)",
            "stddev(speed)",
            "covar_pop(wear, torque)",
            "covar_samp(torque, speed)",
            "corr(torque, speed)",
            "regr_slope(torque, speed)",
            "regr_intercept(torque, speed)",
            "regr_r2(speed, torque)"
        ]
    );
    assert_eq!(agg(&query, 0).domain, Domain::Clear);
    assert_eq!(agg(&query, 1).domain, Domain::Encrypted);
    assert_eq!(agg(&query, 6).func, AggFunc::VarSamp);
    assert_eq!(agg(&query, 9).func, AggFunc::StddevSamp);
    assert_eq!(agg(&query, 10).args, vec!["wear", "torque"]);
    // moments are deduplicated and sorted, each 1 or 2 factors
    let m = query.moments();
    assert!(m.windows(2).all(|w| w[0] < w[1]));
    assert!(m.iter().all(|m| (1..=2).contains(&m.factors.len())));
}

#[test]
fn moment_normalization() {
    let s = common::machining();
    let f = |c: &str, p: Part| Factor::new(c, p);
    let mom = |v: Vec<Factor>| Moment { factors: v };
    // count(torque): non-nullable → clear row count, no moment
    assert!(q("SELECT count(torque) FROM machining")
        .moments()
        .is_empty());
    // count(wear): Σ P(wear)
    assert_eq!(
        q("SELECT count(wear) FROM machining").moments(),
        vec![mom(vec![f("wear", Part::Presence)])]
    );
    // var_pop(torque): V, and Sq — the dataset has a nullable encrypted column, so every
    // product column also carries its stored square
    assert_eq!(
        q("SELECT var_pop(torque) FROM machining").moments(),
        vec![
            mom(vec![f("torque", Part::Value)]),
            mom(vec![f("torque", Part::Square)])
        ]
    );
    // var_pop(wear): P, V, Sq
    let m = q("SELECT var_pop(wear) FROM machining").moments();
    assert_eq!(
        m,
        vec![
            mom(vec![f("wear", Part::Value)]),
            mom(vec![f("wear", Part::Presence)]),
            mom(vec![f("wear", Part::Square)])
        ]
    );
    // regr_slope(torque, wear): x = wear nullable, y = torque non-null: Sxx = Sq(wear)
    let m = q("SELECT regr_slope(torque, wear) FROM machining").moments();
    assert!(m.contains(&mom(vec![f("wear", Part::Square)])));
    assert!(m.contains(&mom(vec![
        f("torque", Part::Value),
        f("wear", Part::Presence)
    ])));
    assert!(m.contains(&mom(vec![f("torque", Part::Value), f("wear", Part::Value)])));
    // corr(wear, wear): same column pair collapses
    let m = q("SELECT corr(wear, wear) FROM machining").moments();
    assert_eq!(m.len(), 3);
    // bounds
    assert_eq!(mom(vec![f("wear", Part::Presence)]).bound(&s), 1);
    assert_eq!(mom(vec![f("wear", Part::Value)]).bound(&s), 5_000);
    assert_eq!(mom(vec![f("wear", Part::Square)]).bound(&s), 25_000_000);
    assert_eq!(
        mom(vec![f("torque", Part::Value), f("wear", Part::Value)]).bound(&s),
        50_000 * 5_000
    );
    assert_eq!(mom(vec![f("speed", Part::Value)]).bound(&s), 1_250);
}

#[test]
fn where_group_order_limit() {
    let query = q("SELECT line AS l, source, COUNT(*) AS n, avg(torque) FROM machining \
         WHERE (shift IN (1, 2) OR NOT temp BETWEEN 10 AND 20.5) AND line <> 'X' AND temp IS NOT NULL \
         AND shift NOT IN (3) AND source = 'plant-a' AND temp >= -3.5 AND temp IS NULL OR shift != 2 \
         GROUP BY line, SOURCE ORDER BY l DESC, source ASC LIMIT 5");
    assert_eq!(query.group_by, vec!["line", "source"]);
    assert_eq!(
        query.column_names(),
        vec!["l", "source", "n", "avg(torque)"]
    );
    assert_eq!(query.order_by, vec![(0, true), (1, false)]);
    assert_eq!(query.limit, Some(5));
    assert!(query.filter.is_some());
    let mut cols = query.public_columns_needed();
    cols.sort();
    assert_eq!(cols, vec!["line", "shift", "source", "temp"]);
    // ordering by column name and by ordinal
    let query = q("SELECT line, count(*) FROM machining GROUP BY line ORDER BY 1 DESC");
    assert_eq!(query.order_by, vec![(0, true)]);
    let query = q("SELECT count(*) FROM machining GROUP BY shift, line ORDER BY line");
    assert_eq!(query.order_by, vec![(1, false)]);
    let query = q("SELECT m.line, sum(m.torque) FROM machining m GROUP BY m.line");
    assert_eq!(query.group_by, vec!["line"]);
}

fn row(pairs: &[(&str, Value)]) -> plaintext::PlainRow {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn predicate_three_valued_logic() {
    let p = |w: &str| {
        q(&format!("SELECT count(*) FROM machining WHERE {w}"))
            .filter
            .expect("filter")
    };
    let r = row(&[
        ("line", Value::Text("A".into())),
        ("shift", Value::Null),
        ("temp", Value::Dec(20.0)),
        ("source", Value::Text("plant-a".into())),
    ]);
    let yes = |w: &str| assert!(p(w).matches(&r), "{w} should match");
    let no = |w: &str| assert!(!p(w).matches(&r), "{w} should not match");
    yes("line = 'A'");
    no("line = 'a'");
    yes("line < 'B'");
    yes("temp = 20");
    yes("temp = 20.0");
    yes("temp > 19.5 AND temp <= 20");
    yes("temp BETWEEN 20 AND 21");
    no("temp NOT BETWEEN 20 AND 21");
    yes("temp IN (1, 20)");
    no("temp NOT IN (1, 20)");
    no("temp NOT IN (1, NULL)"); // unknown
    no("temp IN (1, NULL)"); // unknown
    yes("temp IN (20, NULL)");
    no("shift = 1");
    no("shift <> 1"); // NULL compare → unknown
    no("NOT (shift = 1)");
    yes("shift IS NULL");
    no("shift IS NOT NULL");
    yes("shift = 1 OR line = 'A'");
    no("shift = 1 AND line = 'A'");
    no("shift = NULL");
    yes("source = 'plant-a'");
    yes("temp > -1");
    yes("NOT (shift = 1 AND line = 'B')"); // unknown AND false = false → NOT = true
}

#[test]
fn count_star_only_query_has_no_moments() {
    let query = q("SELECT count(*) FROM machining WHERE line = 'A'");
    assert!(query.moments().is_empty());
    assert_eq!(query.public_columns_needed(), vec!["line"]);
}

#[test]
fn public_aggregates_are_clear() {
    let query = q("SELECT avg(temp), sum(shift), corr(temp, shift), count(line) FROM machining");
    assert!(query.moments().is_empty());
    assert!(query.aggregates().all(|a| a.domain == Domain::Clear));
}

#[test]
fn arithmetic_over_aggregates_plans_hidden_operands() {
    let q = q("SELECT line, sum(torque) / count(*) AS per_row, 100 * avg(torque) FROM machining GROUP BY line");
    assert_eq!(
        q.column_names(),
        vec!["line", "per_row", "100 * avg(torque)"]
    );
    // sum(torque), count(*) and avg(torque) are hidden operands after the visible columns.
    assert_eq!(q.outputs.len(), 6);
    assert!(q.outputs[3..].iter().all(|o| o.hidden));
    assert!(!q.moments().is_empty());
}
