//! The `sql_query` target: the engine's SQL limits and planner (`dtfhe_engine::plan`) on
//! hostile text (issue 16). A query comes from an analyst, and the platform and every
//! trustee plan it; a panic or a stack overflow there takes the process down.
//!
//! Byte mutations of SQL text rarely produce new structure, so the first byte of an input
//! picks how the rest is read:
//!
//! - `0`: the rest is SQL text as it is;
//! - `1`: a token soup: each byte picks a token of [`TOKENS`] (keywords, the fixture's
//!   columns, operators, literals, parentheses);
//! - `2`: a repetition: `count` (two bytes, big-endian, at most [`MAX_REPEAT`]), then a
//!   prefix, a unit and a suffix, each a token soup of length byte + tokens; the unit is
//!   repeated `count` times, so short inputs make deep nesting and long flat chains.
//!
//! An accepted plan must also evaluate its filter and group key on a few rows and list its
//! moments without panicking.

use crate::targets::{Finding, Outcome};
use dtfhe_engine::plaintext::PlainRow;
use dtfhe_engine::Catalog;
use dtfhe_model::{Schema, Value};
use std::sync::OnceLock;

/// The tokens of a soup: the fixture's dataset and columns, SQL keywords, operators and
/// literals (each with its own spacing).
pub const TOKENS: &[&str] = &[
    "SELECT ",
    "FROM ",
    "runs ",
    "WHERE ",
    "GROUP BY ",
    "ORDER BY ",
    "LIMIT ",
    "AND ",
    "OR ",
    "NOT ",
    "(",
    ")",
    ", ",
    "= ",
    "<> ",
    "< ",
    "<= ",
    "> ",
    ">= ",
    "+ ",
    "- ",
    "* ",
    "/ ",
    "line ",
    "shift ",
    "torque ",
    "rpm ",
    "source ",
    "COUNT(",
    "SUM(",
    "AVG(",
    "VAR_POP(",
    "CORR(",
    "HISTOGRAM(",
    "APPROX_PERCENTILE(",
    "* ",
    "1 ",
    "2.5 ",
    "-3 ",
    "'L1' ",
    "NULL ",
    "IN ",
    "BETWEEN ",
    "IS ",
    "DESC ",
    "AS ",
    "x ",
    "JOIN ",
    "ON ",
    "FILTER ",
    "CASE ",
    "WHEN ",
    "THEN ",
    "END ",
    "CAST(",
    "INT ",
    "::",
    "|| ",
    "; ",
    "r.",
    "runs.",
    "DISTINCT ",
    "HAVING ",
    "UNION ",
    "EXISTS ",
    "LIKE ",
];

/// Largest repetition count of mode `2` (a unit of two bytes repeated this often is past
/// every limit of `dtfhe_engine::limits`).
pub const MAX_REPEAT: usize = 20_000;

/// The fixture schema (built once): one public text, one public integer, two encrypted
/// columns (one with declared thresholds).
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(build_schema)
}

fn build_schema() -> Schema {
    let text = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n\
        [[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n\
        [[columns]]\nname = \"shift\"\nkind = \"public\"\ntype = \"integer\"\nnullable = true\n\n\
        [[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 2\nmin = 0\nmax = 1000\nthresholds = [100.5, 500.25]\n\n\
        [[columns]]\nname = \"rpm\"\nkind = \"encrypted\"\nscale = 0\nmin = 0\nmax = 3000\n";
    Schema::from_toml_str(text, "fuzz fixture").unwrap_or_else(|e| panic!("fixture schema: {e}"))
}

fn soup(bytes: &[u8], out: &mut String) {
    for b in bytes {
        out.push_str(TOKENS[usize::from(*b) % TOKENS.len()]);
    }
}

/// The SQL text an input stands for (see the module documentation).
pub fn sql_of(input: &[u8]) -> String {
    let Some((&mode, rest)) = input.split_first() else {
        return String::new();
    };
    match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => {
            let mut s = String::new();
            soup(rest, &mut s);
            s
        }
        _ => {
            let (count, mut rest) = match rest {
                [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
                _ => (0, rest),
            };
            let mut part = || {
                let (&n, tail) = rest.split_first().unwrap_or((&0, &[]));
                let (p, tail) = tail.split_at(usize::from(n).min(tail.len()));
                rest = tail;
                p
            };
            let (prefix, unit, suffix) = (part(), part(), part());
            let mut s = String::new();
            soup(prefix, &mut s);
            let mut one = String::new();
            soup(unit, &mut one);
            s.push_str(&one.repeat(count.min(MAX_REPEAT)));
            soup(suffix, &mut s);
            s
        }
    }
}

fn rows() -> Vec<PlainRow> {
    (0..4)
        .map(|i| {
            PlainRow::from([
                ("source".to_string(), Value::Text("edge-1".into())),
                ("line".to_string(), Value::Text(format!("L{i}"))),
                ("shift".to_string(), Value::Int(i)),
                ("torque".to_string(), Value::Dec(100.0 * i as f64)),
                ("rpm".to_string(), Value::Dec(1500.0)),
            ])
        })
        .collect()
}

/// The target: limits and planning must refuse or accept, never panic; an accepted plan
/// evaluates on rows.
pub fn sql_query(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    let sql = sql_of(input);
    let catalog = Catalog::new(&[schema()]);
    let Ok(query) = dtfhe_engine::plan(&sql, &catalog) else {
        return Ok(());
    };
    if sql.len() > dtfhe_engine::limits::MAX_SQL_BYTES {
        return Err(Finding(format!(
            "sql: a {}-byte query past the size limit was planned",
            sql.len()
        )));
    }
    let _ = query.moments();
    for row in rows() {
        if query.selects(&row) {
            let _ = query.group_key(&row);
        }
    }
    Ok(())
}

/// The bytes of a token soup spelling `tokens` (each must be one of [`TOKENS`]).
fn soup_bytes(tokens: &[&str]) -> Vec<u8> {
    tokens
        .iter()
        .map(|t| {
            let i = TOKENS.iter().position(|x| x == t);
            u8::try_from(i.unwrap_or(0)).unwrap_or(0)
        })
        .collect()
}

/// A mode-2 input: `count` times `unit` between `prefix` and `suffix` (token soups).
fn repeat_bytes(count: u16, prefix: &[&str], unit: &[&str], suffix: &[&str]) -> Vec<u8> {
    let mut out = vec![2];
    out.extend_from_slice(&count.to_be_bytes());
    for part in [prefix, unit, suffix] {
        let b = soup_bytes(part);
        out.push(u8::try_from(b.len()).unwrap_or(u8::MAX));
        out.extend(b);
    }
    out
}

/// The seed corpus: valid queries as text and as token soups, a flat OR chain just under
/// the depth limit, and nesting and chains past the limits.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let text = |name: &str, sql: &str| {
        let mut b = vec![0];
        b.extend_from_slice(sql.as_bytes());
        (name.to_string(), b)
    };
    let mut soup_seed = vec![1];
    soup_seed.extend(soup_bytes(&[
        "SELECT ",
        "line ",
        ", ",
        "COUNT(",
        "* ",
        ")",
        ", ",
        "SUM(",
        "torque ",
        ")",
        "FROM ",
        "runs ",
        "WHERE ",
        "NOT ",
        "(",
        "line ",
        "= ",
        "'L1' ",
        "OR ",
        "shift ",
        "IS ",
        "NULL ",
        ")",
        "GROUP BY ",
        "line ",
        "ORDER BY ",
        "line ",
        "DESC ",
        "LIMIT ",
        "1 ",
    ]));
    let where_head = [
        "SELECT ", "COUNT(", "* ", ")", "FROM ", "runs ", "WHERE ", "line ", "= ", "'L1' ",
    ];
    let or_unit = ["OR ", "line ", "= ", "'L1' "];
    vec![
        text(
            "grouped",
            "SELECT line, COUNT(*), SUM(torque), AVG(rpm) FROM runs WHERE shift >= 1 AND              line IN ('L1', 'L2') GROUP BY line ORDER BY line LIMIT 5",
        ),
        text(
            "pairs",
            "SELECT CORR(torque, rpm), VAR_POP(torque) FROM runs WHERE NOT (line = 'L1' OR shift IS NULL)",
        ),
        text(
            "threshold",
            "SELECT COUNT(*) FILTER (WHERE torque > 100.5), HISTOGRAM(torque) FROM runs",
        ),
        text(
            "arithmetic",
            "SELECT line, SUM(torque) / COUNT(*) + 1 FROM runs WHERE shift BETWEEN 1 AND 3 GROUP BY line",
        ),
        ("soup".to_string(), soup_seed),
        ("or_chain_30".to_string(), repeat_bytes(30, &where_head, &or_unit, &[])),
        ("or_chain_5000".to_string(), repeat_bytes(5000, &where_head, &or_unit, &[])),
        (
            "parens_40".to_string(),
            repeat_bytes(40, &["SELECT ", "COUNT(", "* ", ")", "FROM ", "runs ", "WHERE "], &["("], &["line ", "= ", "1 "]),
        ),
        (
            "plus_chain".to_string(),
            repeat_bytes(3000, &["SELECT ", "SUM(", "torque ", ")"], &["+ ", "1 "], &["FROM ", "runs "]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_modes_build_the_text_they_describe() {
        assert_eq!(sql_of(b"\x00SELECT 1"), "SELECT 1");
        assert_eq!(sql_of(&[1, 0, 1, 2]), "SELECT FROM runs ");
        // 3 repetitions of "(" between "SELECT " and ")".
        assert_eq!(sql_of(&[2, 0, 3, 1, 0, 1, 10, 1, 11]), "SELECT ((()");
        assert_eq!(sql_of(&[2, 0xff, 0xff, 0, 1, 10, 0]).len(), MAX_REPEAT);
    }
}
