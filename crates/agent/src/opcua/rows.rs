//! From monitored-item notifications to rows. A row is one *sample instant*: the values of
//! the mapped nodes that carry the same source timestamp (a machine or PLC stamps the
//! variables of one scan cycle alike). A row is formed as soon as every mapped node has
//! reported for that instant, or, for a server that stamps nodes apart, once the instant is
//! older than the hold time; a non-nullable column with no good value then refuses the row
//! (counted, never stored). Instants at or before the last one taken are duplicates (the
//! initial values a server sends again after a reconnect) and are dropped, so a value is taken
//! at most once across reconnects and agent restarts (the last instant is kept on disk).
//!
//! A value with a status that is not Good is never stored: it is reported with its node id
//! and status, and its column is NULL in that row (or the row refused, when not nullable).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::map::{ColumnSource, Mapping};
use crate::mqtt::decode::RawRow;

/// One node's notification, reduced to what rows need (no value is kept for a bad one).
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A good value, as the text the schema checker reads.
    Good(String),
    /// A value whose status is not Good: the status name only.
    Bad(String),
}

/// What offering a notification gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A row, with its source timestamp (100 ns ticks since 1601, the journal's tag).
    Row {
        /// The instant.
        ticks: i64,
        /// Each schema column's text.
        row: RawRow,
    },
    /// A bad-quality value: not stored.
    Bad {
        /// The node id.
        node: String,
        /// Its status.
        status: String,
    },
    /// A value of an instant already taken (or older): dropped.
    Duplicate {
        /// The node id.
        node: String,
    },
    /// A row refused: a non-nullable column has no good value.
    Incomplete {
        /// The columns without a value.
        missing: Vec<String>,
    },
}

struct Group {
    values: Vec<Option<String>>,
    seen: Vec<bool>,
    first: Instant,
}

/// Gathers notifications into rows.
pub struct Assembler {
    mapping: Mapping,
    names: Vec<String>,
    nullable: Vec<bool>,
    pending: BTreeMap<i64, Group>,
    last: i64,
    hold: Duration,
}

/// 100 ns ticks between 1601-01-01 and 1970-01-01.
const EPOCH_TICKS: i64 = 116_444_736_000_000_000;

impl Assembler {
    /// An assembler for `mapping` over `schema`; instants at or before `last` are taken
    /// already; an incomplete instant is closed `hold` after its first value.
    pub fn new(
        mapping: &Mapping,
        schema: &dtfhe_model::Schema,
        last: i64,
        hold: Duration,
    ) -> Assembler {
        Assembler {
            mapping: mapping.clone(),
            names: schema.columns.iter().map(|c| c.name.clone()).collect(),
            nullable: schema.columns.iter().map(|c| c.nullable).collect(),
            pending: BTreeMap::new(),
            last,
            hold,
        }
    }

    /// The last instant taken (ticks).
    pub fn last(&self) -> i64 {
        self.last
    }

    /// Node `node`'s sample at source timestamp `ticks`.
    pub fn offer(&mut self, node: usize, ticks: i64, sample: Sample, out: &mut Vec<Outcome>) {
        let Some(nm) = self.mapping.nodes.get(node) else {
            return;
        };
        if ticks <= self.last {
            out.push(Outcome::Duplicate {
                node: nm.text.clone(),
            });
            return;
        }
        let n = self.mapping.nodes.len();
        let g = self.pending.entry(ticks).or_insert_with(|| Group {
            values: vec![None; n],
            seen: vec![false; n],
            first: Instant::now(),
        });
        match sample {
            Sample::Good(v) => g.values[node] = Some(v),
            Sample::Bad(status) => {
                g.values[node] = None;
                out.push(Outcome::Bad {
                    node: nm.text.clone(),
                    status,
                });
            }
        }
        g.seen[node] = true;
        if g.seen.iter().all(|s| *s) {
            self.close_through(ticks, out);
        }
    }

    /// Closes the instants older than the hold time (and every earlier one).
    pub fn flush(&mut self, out: &mut Vec<Outcome>) {
        let due = self
            .pending
            .iter()
            .filter(|(_, g)| g.first.elapsed() >= self.hold)
            .map(|(t, _)| *t)
            .next_back();
        if let Some(t) = due {
            self.close_through(t, out);
        }
    }

    /// Closes every pending instant (stopping).
    pub fn flush_all(&mut self, out: &mut Vec<Outcome>) {
        if let Some(t) = self.pending.keys().next_back().copied() {
            self.close_through(t, out);
        }
    }

    fn close_through(&mut self, ticks: i64, out: &mut Vec<Outcome>) {
        let later = self.pending.split_off(&(ticks + 1));
        let due = std::mem::replace(&mut self.pending, later);
        for (t, g) in due {
            self.last = self.last.max(t);
            let mut row: RawRow = Vec::with_capacity(self.names.len());
            let mut missing = Vec::new();
            for (i, src) in self.mapping.columns.iter().enumerate() {
                let v = match src {
                    None => None,
                    Some(ColumnSource::Value(v)) => Some(v.clone()),
                    Some(ColumnSource::SourceTimestamp) => {
                        Some(((t - EPOCH_TICKS).div_euclid(10_000)).to_string())
                    }
                    Some(ColumnSource::Node(k)) => g.values[*k].clone(),
                };
                if v.is_none() && !self.nullable[i] {
                    missing.push(self.names[i].clone());
                }
                row.push(v);
            }
            if missing.is_empty() {
                out.push(Outcome::Row { ticks: t, row });
            } else {
                out.push(Outcome::Incomplete { missing });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn setup() -> (Mapping, dtfhe_model::Schema) {
        let schema = dtfhe_model::Schema::from_toml_str(
            "dataset = \"s\"\nstage = \"manufacturing\"\n\
             [[columns]]\nname = \"ts\"\nkind = \"public\"\ntype = \"integer\"\n\
             [[columns]]\nname = \"a\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n\
             [[columns]]\nname = \"b\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\nnullable = true\n",
            "s.toml",
        )
        .unwrap();
        let m = Mapping::from_toml_str(
            "version = 1\ndataset = \"s\"\n[columns]\nts = { source_timestamp = true }\n\
             a = { node = \"ns=2;s=A\" }\nb = { node = \"ns=2;s=B\" }\n",
            "m.toml",
            &schema,
        )
        .unwrap();
        (m, schema)
    }

    #[test]
    fn one_row_per_instant_bad_values_null_duplicates_dropped() {
        let (m, s) = setup();
        let mut a = Assembler::new(&m, &s, 0, Duration::from_secs(3600));
        let t0 = EPOCH_TICKS + 10_000 * 1_000;
        let mut out = Vec::new();
        a.offer(0, t0, Sample::Good("1.5".into()), &mut out);
        assert!(out.is_empty());
        a.offer(1, t0, Sample::Bad("BadSensorFailure".into()), &mut out);
        assert_eq!(
            out,
            vec![
                Outcome::Bad {
                    node: "ns=2;s=B".into(),
                    status: "BadSensorFailure".into()
                },
                Outcome::Row {
                    ticks: t0,
                    row: vec![Some("1000".into()), Some("1.5".into()), None]
                }
            ]
        );
        out.clear();
        // The same instant again (a reconnect's initial values): dropped.
        a.offer(0, t0, Sample::Good("1.5".into()), &mut out);
        assert_eq!(
            out,
            vec![Outcome::Duplicate {
                node: "ns=2;s=A".into()
            }]
        );
        out.clear();
        // An instant whose non-nullable column never comes: refused when a later one closes.
        a.offer(1, t0 + 1, Sample::Good("2".into()), &mut out);
        a.offer(0, t0 + 2, Sample::Good("3".into()), &mut out);
        a.offer(1, t0 + 2, Sample::Good("4".into()), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0],
            Outcome::Incomplete {
                missing: vec!["a".into()]
            }
        );
        assert_eq!(a.last(), t0 + 2);
    }
}
