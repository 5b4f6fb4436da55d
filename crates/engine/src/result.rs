//! Result sets: ordering, LIMIT, and table / JSON / CSV output.

use crate::cell::Cell;
use crate::error::EngineError;
use crate::finalize::finalize;
use crate::group::{total_cmp_values, GroupState};
use crate::moments::{codec_of, Moment};
use crate::plan::{AggFunc, Domain, OutputExpr, Query};
use dtfhe_model::{Schema, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// The rows of a query result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    /// Output column names.
    pub columns: Vec<String>,
    /// Rows of cells, one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// Per column: fixed number of decimals for display (SUM of an encrypted column: its
    /// scale); `None` = shortest exact representation. May be shorter than `columns`.
    pub decimals: Vec<Option<u32>>,
    /// Group key of each row (parallel to `rows`), used for ordering even when the keys are
    /// not selected. May be empty; then `sort_and_limit` orders by the selected key columns.
    pub keys: Vec<Vec<Value>>,
}

impl ResultSet {
    /// An empty result with the query's column names and display decimals.
    pub fn new(query: &Query) -> ResultSet {
        let decimals = query
            .visible()
            .map(|o| match &o.expr {
                OutputExpr::Aggregate(a)
                    if a.domain == Domain::Encrypted && a.func == AggFunc::Sum =>
                {
                    a.args
                        .first()
                        .and_then(|c| codec_of(&query.schema, c))
                        .map(|c| c.scale)
                }
                _ => None,
            })
            .collect();
        ResultSet {
            columns: query.column_names(),
            rows: Vec::new(),
            decimals,
            keys: Vec::new(),
        }
    }

    /// Append one finalized group.
    pub fn push(&mut self, group: &GroupState, cells: Vec<Cell>) {
        if self.keys.len() == self.rows.len() {
            self.keys.push(group.key().to_vec());
        }
        self.rows.push(cells);
    }

    /// Order rows (ORDER BY keys, then every group key ascending, so output is
    /// deterministic) and apply LIMIT.
    pub fn sort_and_limit(&mut self, query: &Query) {
        let keys: Vec<Vec<Value>> = if self.keys.len() == self.rows.len() {
            std::mem::take(&mut self.keys)
        } else {
            // Rebuild keys from the selected group-key columns (others read as NULL).
            self.rows
                .iter()
                .map(|r| {
                    let mut k = vec![Value::Null; query.group_by.len()];
                    for (o, c) in query.outputs.iter().zip(r) {
                        if let OutputExpr::GroupKey(i) = o.expr {
                            k[i] = match c {
                                Cell::Null => Value::Null,
                                Cell::Int(v) => Value::Int(*v),
                                Cell::Float(v) => Value::Dec(*v),
                                Cell::Text(t) => Value::Text(t.clone()),
                                // Never a group key.
                                Cell::Histogram(_) | Cell::Percentile(_) => Value::Null,
                            };
                        }
                    }
                    k
                })
                .collect()
        };
        let mut order: Vec<(usize, bool)> = query.order_by.clone();
        for i in 0..query.group_by.len() {
            if !order.iter().any(|(j, _)| *j == i) {
                order.push((i, false));
            }
        }
        let mut idx: Vec<usize> = (0..self.rows.len()).collect();
        idx.sort_by(|&a, &b| {
            for &(k, desc) in &order {
                let (va, vb) = (keys[a].get(k), keys[b].get(k));
                let c = match (va, vb) {
                    (Some(x), Some(y)) => total_cmp_values(x, y),
                    _ => Ordering::Equal,
                };
                let c = if desc { c.reverse() } else { c };
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        });
        let mut rows: Vec<Option<Vec<Cell>>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        let limit = query.limit.map(|l| l as usize).unwrap_or(usize::MAX);
        for &i in idx.iter().take(limit) {
            if let Some(r) = rows[i].take() {
                self.rows.push(r);
            }
            self.keys.push(keys[i].clone());
        }
    }

    /// The text of cell `c` of column `col` as the table and CSV show it (NULL: `None`).
    pub fn cell_text(&self, col: usize, c: &Cell) -> Option<String> {
        c.text(self.decimals.get(col).copied().flatten())
    }

    /// Human-readable aligned table: numbers right-aligned, NULL shown as `NULL`, followed by
    /// a row-count line.
    pub fn to_table(&self) -> String {
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, c)| {
                        self.cell_text(i, c)
                            .map_or_else(|| "NULL".into(), |t| printable(&t))
                    })
                    .collect()
            })
            .collect();
        let columns: Vec<String> = self.columns.iter().map(|c| printable(c)).collect();
        let ncol = columns.len();
        let mut width: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
        let mut numeric = vec![false; ncol];
        for (r, row) in self.rows.iter().enumerate() {
            for (i, c) in row.iter().enumerate().take(ncol) {
                width[i] = width[i].max(texts[r][i].chars().count());
                if c.is_numeric() {
                    numeric[i] = true;
                }
            }
        }
        let pad = |s: &str, w: usize, right: bool| {
            let n = w.saturating_sub(s.chars().count());
            if right {
                format!("{}{s}", " ".repeat(n))
            } else {
                format!("{s}{}", " ".repeat(n))
            }
        };
        let line = |cells: Vec<String>| cells.join(" | ").trim_end().to_string() + "\n";
        let mut out = line(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| pad(c, width[i], numeric[i]))
                .collect(),
        );
        out += &(width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
            + "\n");
        for row in &texts {
            out += &line(
                row.iter()
                    .enumerate()
                    .take(ncol)
                    .map(|(i, t)| pad(t, width[i], numeric[i]))
                    .collect(),
            );
        }
        let n = self.rows.len();
        out += &format!("({n} row{})\n", if n == 1 { "" } else { "s" });
        out
    }

    /// `{"columns":[...],"rows":[[...]]}`: numbers as JSON numbers, NULL (and non-finite
    /// floats) as null, text as strings, `HISTOGRAM` and `APPROX_PERCENTILE` values as
    /// objects with a `type` (see [`Cell::to_json`]).
    pub fn to_json(&self) -> String {
        use serde_json::Value as J;
        let rows: Vec<J> = self
            .rows
            .iter()
            .map(|r| J::Array(r.iter().map(Cell::to_json).collect()))
            .collect();
        let mut obj = serde_json::Map::new();
        obj.insert(
            "columns".into(),
            J::Array(self.columns.iter().cloned().map(J::String).collect()),
        );
        obj.insert("rows".into(), J::Array(rows));
        J::Object(obj).to_string()
    }

    /// RFC 4180 CSV with a header line; NULL is an empty field; fields are quoted when needed.
    pub fn to_csv(&self) -> String {
        let mut out = self
            .columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for row in &self.rows {
            let fields: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    self.cell_text(i, c)
                        .map(|t| csv_field(&t))
                        .unwrap_or_default()
                })
                .collect();
            out += &fields.join(",");
            out.push('\n');
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Shortest representation that reads back to the same f64 (`-0` shown as `0`).
pub fn format_float(f: f64) -> String {
    if f == 0.0 {
        "0".into()
    } else {
        format!("{f}")
    }
}

/// Finalize every group and assemble the ordered, limited result. Without GROUP BY, an
/// empty `groups` yields the single row over zero rows (COUNT = 0, other aggregates NULL).
pub fn finalize_all(
    query: &Query,
    schema: &Schema,
    groups: impl IntoIterator<Item = (GroupState, HashMap<Moment, i128>)>,
) -> Result<ResultSet, EngineError> {
    let mut rs = ResultSet::new(query);
    for (g, m) in groups {
        let cells = finalize(query, schema, &g, &m)?;
        rs.push(&g, cells);
    }
    if query.group_by.is_empty() && rs.rows.is_empty() {
        let g = query.new_group(Vec::new());
        let cells = finalize(query, schema, &g, &HashMap::new())?;
        rs.push(&g, cells);
    }
    rs.sort_and_limit(query);
    Ok(rs)
}

/// Text made safe for a terminal: every control character (C0 including tab and newline,
/// DEL, C1) is shown escaped (`\u{1b}`), so a stored value or a column alias can neither
/// break the table's layout nor send escape sequences to the reader's terminal. Ingest
/// already refuses such text; this is defence in depth.
pub fn printable(s: &str) -> String {
    if !s.chars().any(is_unprintable) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if is_unprintable(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn is_unprintable(c: char) -> bool {
    // `is_control` is Unicode's Cc category: C0, DEL and C1.
    c.is_control()
}
