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

#[test]
fn encrypted_column_selected() {
    assert!(matches!(
        err("SELECT torque FROM machining"),
        EngineError::EncryptedColumnSelected { column } if column == "torque"
    ));
    assert!(msg("SELECT TORQUE FROM machining").contains("`torque` is encrypted"));
    assert!(matches!(
        err("SELECT * FROM machining"),
        EngineError::EncryptedColumnSelected { .. }
    ));
    assert!(matches!(
        err("SELECT line, wear FROM machining GROUP BY line"),
        EngineError::EncryptedColumnSelected { column } if column == "wear"
    ));
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
    assert!(
        matches!(err("SELECT count(*) FROM nowhere"), EngineError::UnknownDataset(d) if d == "nowhere")
    );
    assert!(
        matches!(err("SELECT avg(nope) FROM machining"), EngineError::UnknownColumn { column, .. } if column == "nope")
    );
    assert!(matches!(
        err("SELECT count(*) FROM machining WHERE nope = 1"),
        EngineError::UnknownColumn { .. }
    ));
    assert!(matches!(
        err("SELECT count(*) FROM machining GROUP BY nope"),
        EngineError::UnknownColumn { .. }
    ));
    assert!(
        matches!(err("SELECT median(torque) FROM machining"), EngineError::UnknownFunction(f) if f == "median")
    );
    assert!(matches!(
        err("SELECT avg(torque, wear) FROM machining"),
        EngineError::BadArguments { .. }
    ));
    assert!(matches!(
        err("SELECT corr(torque) FROM machining"),
        EngineError::BadArguments { .. }
    ));
    assert!(matches!(
        err("SELECT sum(*) FROM machining"),
        EngineError::BadArguments { .. }
    ));
}

#[test]
fn non_aggregate_items() {
    assert!(matches!(
        err("SELECT line FROM machining"),
        EngineError::NotAggregated { .. }
    ));
    assert!(matches!(
        err("SELECT line, count(*) FROM machining GROUP BY shift"),
        EngineError::NotAggregated { .. }
    ));
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
    assert!(matches!(
        err("SELECT covar_pop(shift, wear) FROM machining"),
        EngineError::MixedPair { .. }
    ));
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
    assert!(matches!(
        err("SELECT line, count(*) AS n FROM machining GROUP BY line ORDER BY n"),
        EngineError::OrderByNotGroupKey { .. }
    ));
    assert!(matches!(
        err("SELECT line, count(*) FROM machining GROUP BY line ORDER BY count(*)"),
        EngineError::OrderByNotGroupKey { .. }
    ));
    assert!(matches!(
        err("SELECT line, count(*) FROM machining GROUP BY line ORDER BY shift"),
        EngineError::OrderByNotGroupKey { .. }
    ));
    assert!(matches!(
        err("SELECT line, count(*) FROM machining GROUP BY line ORDER BY 2"),
        EngineError::OrderByNotGroupKey { .. }
    ));
}

#[test]
fn type_mismatches() {
    assert!(matches!(
        err("SELECT count(*) FROM machining WHERE line = 3"),
        EngineError::TypeMismatch(_)
    ));
    assert!(matches!(
        err("SELECT count(*) FROM machining WHERE shift = 'a'"),
        EngineError::TypeMismatch(_)
    ));
    assert!(matches!(
        err("SELECT avg(line) FROM machining"),
        EngineError::TypeMismatch(_)
    ));
}

#[test]
fn syntax_error() {
    assert!(matches!(
        err("SELEC count(*) FROM machining"),
        EngineError::Parse(_)
    ));
    assert!(matches!(
        err("DELETE FROM machining"),
        EngineError::Unsupported(_)
    ));
}

#[test]
fn arithmetic_needs_aggregates() {
    // An encrypted column inside arithmetic is still a raw value: refused.
    assert!(matches!(
        err("SELECT torque * 2 FROM machining"),
        EngineError::EncryptedColumnSelected { .. }
    ));
    assert!(matches!(
        err("SELECT sum(torque) + torque FROM machining"),
        EngineError::EncryptedColumnSelected { .. }
    ));
    assert!(err("SELECT 1 + 2 FROM machining")
        .to_string()
        .contains("without an aggregate"));
    assert!(err("SELECT sum(torque) % 2 FROM machining")
        .to_string()
        .contains("not supported yet"));
}
