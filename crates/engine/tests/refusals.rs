//! Every refusal of the release policy, with a clear message.
mod common;

use dtfhe_engine::*;

fn err(sql: &str) -> EngineError {
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    match plan(sql, &cat) {
        Ok(q) => panic!("{sql} should be refused, got {q:?}"),
        Err(e) => e,
    }
}

fn msg(sql: &str) -> String {
    err(sql).to_string()
}

/// Asserts that each SQL text (after `=>`) is refused with an error matching the pattern.
macro_rules! assert_refused {
    ($pattern:pat $(if $guard:expr)? => $($sql:expr),+ $(,)?) => {
        for sql in [$($sql),+] {
            let e = err(sql);
            assert!(matches!(&e, $pattern $(if $guard)?), "{sql}: {e:?}");
        }
    };
}

#[test]
fn encrypted_column_selected() {
    assert_refused!(
        EngineError::EncryptedColumnSelected { column } if column == "torque" =>
        "SELECT torque FROM machining",
    );
    assert!(msg("SELECT TORQUE FROM machining").contains("`torque` is encrypted"));
    assert_refused!(
        EngineError::EncryptedColumnSelected { .. } =>
        "SELECT * FROM machining",
    );
    assert_refused!(
        EngineError::EncryptedColumnSelected { column } if column == "wear" =>
        "SELECT line, wear FROM machining GROUP BY line",
    );
}

#[test]
fn encrypted_in_clauses() {
    for (sql, clause) in [
        ("SELECT count(*) FROM machining WHERE torque > 5", "WHERE"),
        ("SELECT count(*) FROM machining WHERE wear IS NULL", "WHERE"),
        (
            "SELECT count(*) FROM machining WHERE line = 'A' AND speed IN (1, 2)",
            "WHERE",
        ),
        ("SELECT count(*) FROM machining GROUP BY torque", "GROUP BY"),
        (
            "SELECT line, count(*) FROM machining GROUP BY line ORDER BY torque",
            "ORDER BY",
        ),
    ] {
        match err(sql) {
            EngineError::EncryptedColumnInClause { clause: c, .. } => {
                assert_eq!(c, clause, "{sql}")
            }
            e => panic!("{sql}: {e}"),
        }
        assert!(msg(sql).contains("is encrypted"), "{sql}");
    }
}

#[test]
fn product_statistic_on_sum_column() {
    for f in [
        "var_pop",
        "var_samp",
        "variance",
        "stddev_pop",
        "stddev_samp",
        "stddev",
    ] {
        let e = err(&format!("SELECT {f}(energy) FROM machining"));
        assert!(
            matches!(&e, EngineError::SumOnlyColumn { column, .. } if column == "energy"),
            "{e}"
        );
        assert!(e.to_string().contains("usage = \"sum\""));
    }
    for f in [
        "covar_pop",
        "covar_samp",
        "corr",
        "regr_slope",
        "regr_intercept",
        "regr_r2",
    ] {
        let e = err(&format!("SELECT {f}(wear, energy) FROM machining"));
        assert!(matches!(e, EngineError::SumOnlyColumn { .. }), "{f}: {e}");
    }
    // sums are fine
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    assert!(plan(
        "SELECT count(energy), sum(energy), avg(energy) FROM machining",
        &cat
    )
    .is_ok());
}

#[test]
fn unknown_things() {
    assert_refused!(
        EngineError::UnknownDataset(d) if d == "nowhere" =>
        "SELECT count(*) FROM nowhere",
    );
    assert_refused!(
        EngineError::UnknownColumn { column, .. } if column == "nope" =>
        "SELECT avg(nope) FROM machining",
    );
    assert_refused!(
        EngineError::UnknownColumn { .. } =>
        "SELECT count(*) FROM machining WHERE nope = 1",
        "SELECT count(*) FROM machining GROUP BY nope",
    );
    assert_refused!(
        EngineError::UnknownFunction(f) if f == "median" =>
        "SELECT median(torque) FROM machining",
    );
    assert_refused!(
        EngineError::BadArguments { .. } =>
        "SELECT avg(torque, wear) FROM machining",
        "SELECT corr(torque) FROM machining",
        "SELECT sum(*) FROM machining",
    );
}

#[test]
fn non_aggregate_items() {
    assert_refused!(
        EngineError::NotAggregated { .. } =>
        "SELECT line FROM machining",
        "SELECT line, count(*) FROM machining GROUP BY shift",
    );
    assert!(msg("SELECT shift FROM machining").contains("GROUP BY"));
}

#[test]
fn unsupported_sql() {
    for sql in [
        "SELECT count(*) FROM machining a JOIN machining b ON a.line = b.line",
        "SELECT count(*) FROM machining, machining",
        "SELECT count(*) FROM (SELECT * FROM machining)",
        "SELECT count(*) FROM machining WHERE line IN (SELECT line FROM machining)",
        "SELECT line, count(*) FROM machining GROUP BY line HAVING count(*) > 3",
        "SELECT DISTINCT line FROM machining",
        "SELECT count(DISTINCT line) FROM machining",
        "SELECT avg(torque) OVER (PARTITION BY line) FROM machining",
        "SELECT sum(torque * 2) FROM machining",
        "SELECT count(*) FROM machining UNION SELECT count(*) FROM machining",
        "WITH t AS (SELECT * FROM machining) SELECT count(*) FROM t",
        "SELECT count(*) FROM machining LIMIT 3 OFFSET 2",
        "SELECT count(*) FROM machining WHERE line LIKE 'A%'",
    ] {
        let e = err(sql);
        assert!(matches!(e, EngineError::Unsupported(_)), "{sql}: {e:?}");
        assert!(e.to_string().contains("not supported yet"), "{sql}: {e}");
    }
}

#[test]
fn mixed_pairs() {
    let e = err("SELECT corr(torque, temp) FROM machining");
    assert!(matches!(e, EngineError::MixedPair { .. }), "{e}");
    assert!(e.to_string().contains("not supported yet"));
    assert_refused!(
        EngineError::MixedPair { .. } =>
        "SELECT covar_pop(shift, wear) FROM machining",
    );
}

#[test]
fn mixed_nullability_pairs_use_stored_squares() {
    // x non-nullable, y nullable: Σ V(x)²·P(y) is Sq(x)·P(y), two stored parts.
    let s = common::machining();
    let c = Catalog::new(&[&s]);
    for sql in [
        "SELECT corr(wear, torque) FROM machining",
        "SELECT regr_slope(wear, torque) FROM machining",
    ] {
        let q = plan(sql, &c).expect(sql);
        assert!(q.moments().iter().all(|m| m.factors.len() <= 2), "{sql}");
    }
}

#[test]
fn order_by_not_group_key() {
    assert_refused!(
        EngineError::OrderByNotGroupKey { .. } =>
        "SELECT line, count(*) AS n FROM machining GROUP BY line ORDER BY n",
        "SELECT line, count(*) FROM machining GROUP BY line ORDER BY count(*)",
        "SELECT line, count(*) FROM machining GROUP BY line ORDER BY shift",
        "SELECT line, count(*) FROM machining GROUP BY line ORDER BY 2",
    );
}

#[test]
fn type_mismatches() {
    assert_refused!(
        EngineError::TypeMismatch(_) =>
        "SELECT count(*) FROM machining WHERE line = 3",
        "SELECT count(*) FROM machining WHERE shift = 'a'",
        "SELECT avg(line) FROM machining",
    );
}

#[test]
fn syntax_error() {
    assert_refused!(EngineError::Parse(_) => "SELEC count(*) FROM machining");
    assert_refused!(EngineError::Unsupported(_) => "DELETE FROM machining");
}

#[test]
fn arithmetic_needs_aggregates() {
    // An encrypted column inside arithmetic is still a raw value: refused.
    assert_refused!(
        EngineError::EncryptedColumnSelected { .. } =>
        "SELECT torque * 2 FROM machining",
        "SELECT sum(torque) + torque FROM machining",
    );
    for (sql, says) in [
        ("SELECT 1 + 2 FROM machining", "without an aggregate"),
        ("SELECT sum(torque) % 2 FROM machining", "not supported yet"),
    ] {
        assert!(msg(sql).contains(says), "{sql}");
    }
}
