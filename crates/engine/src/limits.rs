//! Size and depth limits on SQL text, checked before any planning (issue 16).
//!
//! SQL comes from outside (an analyst, possibly hostile, and the platform relaying it to the
//! trustees). The planner and the evaluation of a plan recurse over the expression tree, so
//! an unbounded tree could overflow a thread's stack and kill the process: a flat chain of
//! 2,000 `OR` terms did so on a server worker. [`parse`] therefore refuses, in this order and
//! before any recursive code of ours runs:
//!
//! 1. text longer than [`MAX_SQL_BYTES`], or of more than [`MAX_TOKENS`] tokens (this bounds
//!    the depth of any tree the parser can build, and then drop recursively, even on a parse
//!    error: every level of a flat chain costs at least two tokens);
//! 2. parser nesting (parentheses, subqueries, unary operators) deeper than [`MAX_NESTING`]
//!    (sqlparser's recursion limit);
//! 3. an expression deeper than [`MAX_EXPR_DEPTH`] (flat `AND`/`OR`/arithmetic chains
//!    count one level per operator) or with more than [`MAX_EXPR_NODES`] nodes in total,
//!    measured with an explicit stack, never by recursion.
//!
//! Every expression variant the planner recurses through is walked here, so the planner's
//! recursion depth is bounded by [`MAX_EXPR_DEPTH`]. The test `worst_case_fits_a_small_stack`
//! parses, refuses and drops the deepest trees the token limit allows (also when the parser
//! fails after building one) on a 512 KiB stack, a quarter of a tokio worker's, and
//! `tests/limits.rs` plans the deepest accepted queries on 256 KiB.

use sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem, SetExpr,
    Statement,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::EngineError;

/// Longest SQL text accepted, in bytes (16 KiB: a long legitimate query is a few hundred).
pub const MAX_SQL_BYTES: usize = 16 * 1024;
/// Most tokens accepted (words, literals, operators, punctuation; not whitespace or
/// comments). Every level of a tree the parser builds consumes at least one token, so this
/// bounds the depth of any tree, even one refused later, that is dropped (recursively).
pub const MAX_TOKENS: usize = 4_096;
/// Deepest parser nesting accepted (parentheses, subqueries, prefix operators).
pub const MAX_NESTING: usize = 32;
/// Deepest expression accepted; a flat `a OR b OR c` chain is as deep as it has operators.
pub const MAX_EXPR_DEPTH: usize = 64;
/// Most expression nodes accepted in one query (every column, literal, operator, call).
pub const MAX_EXPR_NODES: usize = 1_024;

/// One parsed SELECT statement that passed every limit: safe to hand to the planner.
#[derive(Debug, Clone)]
pub struct ParsedQuery {
    pub(crate) statement: Statement,
}

impl ParsedQuery {
    /// The dataset names in the FROM clause (and its joins), as written, so a caller can check
    /// the analyst's grants before planning. Empty for a statement the planner will refuse.
    pub fn datasets(&self) -> Vec<String> {
        let Statement::Query(q) = &self.statement else {
            return Vec::new();
        };
        let SetExpr::Select(select) = q.body.as_ref() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for t in &select.from {
            let relations = std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation));
            for r in relations {
                if let ast::TableFactor::Table { name, .. } = r {
                    let dataset = name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(|i| i.value.clone())
                        .unwrap_or_else(|| name.to_string());
                    if !out.contains(&dataset) {
                        out.push(dataset);
                    }
                }
            }
        }
        out
    }
}

fn too_complex(what: String, limit: usize) -> EngineError {
    EngineError::TooComplex { what, limit }
}

/// Parses one statement under the limits of this module; the only entry from SQL text to
/// the planner.
pub fn parse(sql: &str) -> Result<ParsedQuery, EngineError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(too_complex(
            format!("the SQL text is {} bytes", sql.len()),
            MAX_SQL_BYTES,
        ));
    }
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| EngineError::Parse(e.to_string()))?;
    let words = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .count();
    if words > MAX_TOKENS {
        return Err(too_complex(
            format!("the SQL text has {words} tokens"),
            MAX_TOKENS,
        ));
    }
    let mut statements = Parser::new(&dialect)
        .with_recursion_limit(MAX_NESTING)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| match e {
            ParserError::RecursionLimitExceeded => too_complex(
                "parentheses, subqueries or prefix operators nest too deep".into(),
                MAX_NESTING,
            ),
            other => EngineError::Parse(other.to_string()),
        })?;
    let statement = match statements.len() {
        1 => statements.remove(0),
        0 => return Err(EngineError::Parse("empty query".into())),
        _ => return Err(EngineError::Unsupported("more than one statement".into())),
    };
    check_statement(&statement)?;
    Ok(ParsedQuery { statement })
}

/// The expressions the planner looks at, with their depth and node count checked.
fn check_statement(statement: &Statement) -> Result<(), EngineError> {
    let Statement::Query(q) = statement else {
        // Refused by the planner without looking inside.
        return Ok(());
    };
    let mut roots: Vec<&Expr> = Vec::new();
    if let SetExpr::Select(s) = q.body.as_ref() {
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    roots.push(e)
                }
                SelectItem::ExprWithAliases { expr, .. } => roots.push(expr),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {}
            }
        }
        roots.extend(s.selection.iter());
        roots.extend(s.having.iter());
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            roots.extend(exprs.iter());
        }
        for t in &s.from {
            for j in &t.joins {
                if let ast::JoinOperator::Join(ast::JoinConstraint::On(e))
                | ast::JoinOperator::Inner(ast::JoinConstraint::On(e)) = &j.join_operator
                {
                    roots.push(e);
                }
            }
        }
    }
    if let Some(ob) = &q.order_by {
        if let ast::OrderByKind::Expressions(v) = &ob.kind {
            roots.extend(v.iter().map(|o| &o.expr));
        }
    }
    if let Some(ast::LimitClause::LimitOffset { limit: Some(e), .. }) = &q.limit_clause {
        roots.push(e);
    }
    check_exprs(&roots)
}

/// Depth and node count of the expressions, walked with an explicit stack.
fn check_exprs(roots: &[&Expr]) -> Result<(), EngineError> {
    let mut nodes = 0usize;
    let mut stack: Vec<(&Expr, usize)> = roots.iter().map(|e| (*e, 1)).collect();
    let mut kids: Vec<&Expr> = Vec::new();
    while let Some((e, depth)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_EXPR_NODES {
            return Err(too_complex(
                format!("more than {MAX_EXPR_NODES} expression nodes"),
                MAX_EXPR_NODES,
            ));
        }
        if depth > MAX_EXPR_DEPTH {
            return Err(too_complex(
                format!(
                    "an expression nests deeper than {MAX_EXPR_DEPTH} levels (a chain of \
                     AND/OR/arithmetic counts one level per operator; write long OR chains \
                     of equalities as IN (...))"
                ),
                MAX_EXPR_DEPTH,
            ));
        }
        kids.clear();
        children(e, &mut kids);
        stack.extend(kids.iter().map(|k| (*k, depth + 1)));
    }
    Ok(())
}

/// The direct sub-expressions of `e` that the planner may recurse into (and the common
/// others); any variant not listed is a leaf here and refused by the planner as a whole.
fn children<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp { left, right, .. }
        | Expr::IsDistinctFrom(left, right)
        | Expr::IsNotDistinctFrom(left, right) => {
            out.push(left);
            out.push(right);
        }
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotFalse(expr)
        | Expr::IsUnknown(expr)
        | Expr::IsNotUnknown(expr)
        | Expr::Cast { expr, .. }
        | Expr::Collate { expr, .. } => out.push(expr),
        Expr::Between {
            expr, low, high, ..
        } => {
            out.push(expr);
            out.push(low);
            out.push(high);
        }
        Expr::In { expr, target, .. } => {
            out.push(expr);
            if let ast::InTarget::List(list) = target {
                out.extend(list.iter());
            }
        }
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            out.push(expr);
            out.push(pattern);
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            out.extend(operand.as_deref());
            for c in conditions {
                out.push(&c.condition);
                out.push(&c.result);
            }
            out.extend(else_result.as_deref());
        }
        Expr::Tuple(list) => out.extend(list.iter()),
        Expr::Function(f) => {
            if let FunctionArguments::List(list) = &f.args {
                for a in &list.args {
                    let arg = match a {
                        FunctionArg::Named { arg, .. }
                        | FunctionArg::ExprNamed { arg, .. }
                        | FunctionArg::Unnamed(arg) => arg,
                    };
                    if let FunctionArgExpr::Expr(x) = arg {
                        out.push(x);
                    }
                }
            }
            out.extend(f.filter.as_deref());
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chain(op: &str, n: usize) -> String {
        let terms: Vec<String> = (0..n).map(|i| format!("line = 'L{i}'")).collect();
        format!("SELECT COUNT(*) FROM runs WHERE {}", terms.join(op))
    }

    fn limit_of(r: Result<ParsedQuery, EngineError>) -> usize {
        match r {
            Err(EngineError::TooComplex { limit, .. }) => limit,
            other => panic!("expected too complex, got {other:?}"),
        }
    }

    #[test]
    fn flat_chains_are_refused_past_the_depth_limit() {
        assert!(parse(&chain(" OR ", MAX_EXPR_DEPTH / 2)).is_ok());
        assert_eq!(limit_of(parse(&chain(" OR ", 300))), MAX_EXPR_DEPTH);
        assert_eq!(limit_of(parse(&chain(" AND ", 300))), MAX_EXPR_DEPTH);
    }

    #[test]
    fn nesting_text_and_node_limits_name_their_limit() {
        let deep = format!(
            "SELECT COUNT(*) FROM runs WHERE {}x = 1{}",
            "(".repeat(60),
            ")".repeat(60)
        );
        assert_eq!(limit_of(parse(&deep)), MAX_NESTING);
        let long = format!("SELECT COUNT(*) FROM runs -- {}", "x".repeat(MAX_SQL_BYTES));
        assert_eq!(limit_of(parse(&long)), MAX_SQL_BYTES);
        // Wide but shallow: many IN items.
        let items: Vec<String> = (0..MAX_EXPR_NODES).map(|i| i.to_string()).collect();
        let wide = format!("SELECT COUNT(*) FROM runs WHERE x IN ({})", items.join(","));
        assert_eq!(limit_of(parse(&wide)), MAX_EXPR_NODES);
        let e = parse(&wide).unwrap_err().to_string();
        assert!(e.starts_with("query too complex: "), "{e}");
        assert!(e.ends_with(&format!("(limit {MAX_EXPR_NODES})")), "{e}");
    }

    #[test]
    fn datasets_lists_from_and_join_tables() {
        let p = parse("SELECT COUNT(*) FROM a AS x JOIN b AS y ON x.k = y.k").unwrap();
        assert_eq!(p.datasets(), vec!["a".to_string(), "b".to_string()]);
        assert!(parse("SELECT 1").unwrap().datasets().is_empty());
    }

    /// The deepest trees the parser can build within [`MAX_TOKENS`] (two tokens per level),
    /// parsed, checked, refused and dropped on a 512 KiB stack, also when the parser fails
    /// after building the tree (it drops it itself).
    #[test]
    fn worst_case_fits_a_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(|| {
                let head = "SELECT COUNT(*) FROM runs WHERE x = 1";
                let levels = (MAX_TOKENS - 12) / 2;
                let mut results = Vec::new();
                for op in ["+", "*", "-", "OR", "||", "::"] {
                    let unit = if op == "::" {
                        "::int".to_string()
                    } else {
                        format!(" {op} 1")
                    };
                    let sql = format!("{head}{}", unit.repeat(levels));
                    results.push(limit_of(parse(&sql)));
                    // The same chain in the SELECT list, then a syntax error.
                    let broken = format!("SELECT 1{} FROM runs WHERE (", unit.repeat(levels));
                    results.push(usize::from(matches!(
                        parse(&broken),
                        Err(EngineError::Parse(_))
                    )));
                }
                let accepted = chain(" OR ", MAX_EXPR_DEPTH / 2);
                results.push(usize::from(parse(&accepted).is_ok()));
                results
            })
            .expect("spawn");
        let results = handle.join().expect("no stack overflow");
        let mut expected = [MAX_EXPR_DEPTH, 1].repeat(6);
        expected.push(1);
        assert_eq!(results, expected);
    }

    #[test]
    fn token_limit_counts_tokens_not_whitespace() {
        let spaced = format!(
            "SELECT COUNT(*) FROM runs{}",
            " ".repeat(MAX_SQL_BYTES - 100)
        );
        assert!(parse(&spaced).is_ok());
        let items: Vec<&str> = vec!["1"; MAX_TOKENS];
        let many = format!("SELECT COUNT(*) FROM runs WHERE x IN ({})", items.join(","));
        assert_eq!(limit_of(parse(&many)), MAX_TOKENS);
    }
}
