//! The SQL limits of `dtfhe_engine::limits` against hostile text: the deepest and widest
//! queries still accepted plan and evaluate correctly on a small stack, and anything past a
//! limit is refused as "query too complex" before planning.
#![allow(clippy::unwrap_used)]
mod common;

use dtfhe_engine::limits::{MAX_EXPR_DEPTH, MAX_NESTING, MAX_SQL_BYTES};
use dtfhe_engine::*;
use dtfhe_model::Value;

/// `SELECT COUNT(*) ... WHERE line = 'L0' OR line = 'L1' ...` with `n` terms: `n + 1` deep.
fn or_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("line = 'L{i}'")).collect();
    format!(
        "SELECT COUNT(*) FROM machining WHERE {}",
        terms.join(" OR ")
    )
}

fn rows() -> Vec<dtfhe_engine::plaintext::PlainRow> {
    (0..200)
        .map(|i| {
            common::row(&[
                ("line", Value::Text(format!("L{}", i % 100))),
                ("torque", Value::Dec(i as f64)),
                ("speed", Value::Dec(1000.0)),
            ])
        })
        .collect()
}

/// On a 256 KiB stack (an eighth of a tokio worker's): plan the deepest accepted filter,
/// the deepest accepted arithmetic and the deepest accepted parentheses, and evaluate the
/// filter on rows; refuse the next size up of each.
#[test]
fn deepest_accepted_queries_plan_and_evaluate_on_a_small_stack() {
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let s = common::machining();
            let cat = Catalog::new(&[&s]);
            let n = MAX_EXPR_DEPTH - 1;
            let query = plan(&or_chain(n), &cat).unwrap();
            let selected: Vec<bool> = rows().iter().map(|r| query.selects(r)).collect();
            let too_deep = plan(&or_chain(n + 1), &cat).unwrap_err();

            // SUM(torque) + 1 + 1 ...: the Function node sits at the bottom of the chain.
            let arith = |n: usize| format!("SELECT SUM(torque){} FROM machining", " + 1".repeat(n));
            let arith_ok = plan(&arith(MAX_EXPR_DEPTH - 2), &cat).map(|_| ());
            let arith_deep = plan(&arith(MAX_EXPR_DEPTH - 1), &cat).map(|_| ());

            let parens = |k: usize| {
                format!(
                    "SELECT COUNT(*) FROM machining WHERE {}line = 'L1'{}",
                    "(".repeat(k),
                    ")".repeat(k)
                )
            };
            let parens_ok = plan(&parens(MAX_NESTING / 2), &cat).map(|_| ());
            let parens_deep = plan(&parens(MAX_NESTING + 1), &cat).map(|_| ());
            (
                selected,
                too_deep,
                arith_ok,
                arith_deep,
                parens_ok,
                parens_deep,
            )
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    let (selected, too_deep, arith_ok, arith_deep, parens_ok, parens_deep) = outcome;
    let expected: Vec<bool> = (0..200).map(|i| i % 100 < MAX_EXPR_DEPTH - 1).collect();
    assert_eq!(selected, expected);
    assert!(matches!(too_deep, EngineError::TooComplex { limit, .. } if limit == MAX_EXPR_DEPTH));
    assert!(arith_ok.is_ok(), "{arith_ok:?}");
    assert!(
        matches!(arith_deep, Err(EngineError::TooComplex { limit, .. }) if limit == MAX_EXPR_DEPTH),
        "{arith_deep:?}"
    );
    assert!(parens_ok.is_ok(), "{parens_ok:?}");
    assert!(
        matches!(parens_deep, Err(EngineError::TooComplex { limit, .. }) if limit == MAX_NESTING)
    );
}

/// The reported attacks: 2,000 ORs, 3,000 ANDs, 7,000 ORs (~27 KB and more) and 60 nested
/// parentheses are refused with the limit named, not a crash.
#[test]
fn reported_attacks_are_refused_with_the_limit_named() {
    let s = common::machining();
    let cat = Catalog::new(&[&s]);
    let ands = {
        let terms: Vec<String> = (0..3000).map(|_| "shift = 1".to_string()).collect();
        format!(
            "SELECT COUNT(*) FROM machining WHERE {}",
            terms.join(" AND ")
        )
    };
    for (sql, limit) in [
        (or_chain(2000), MAX_SQL_BYTES),
        (or_chain(7000), MAX_SQL_BYTES),
        (ands, MAX_SQL_BYTES),
        (or_chain(300), MAX_EXPR_DEPTH),
        (
            format!(
                "SELECT COUNT(*) FROM machining WHERE {}shift = 1{}",
                "(".repeat(60),
                ")".repeat(60)
            ),
            MAX_NESTING,
        ),
    ] {
        let e = plan(&sql, &cat).unwrap_err();
        assert!(
            matches!(e, EngineError::TooComplex { limit: l, .. } if l == limit),
            "{e}"
        );
        let text = e.to_string();
        assert!(text.starts_with("query too complex: "), "{text}");
        assert!(text.ends_with(&format!("(limit {limit})")), "{text}");
    }
}
