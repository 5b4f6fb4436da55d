//! Per-product lanes: the text form of a lane key (the product id) that lane maps are keyed
//! by, and the check that a set of placed rows is consistent — one lane per product and one
//! product per lane — which every role runs before it joins two datasets slot by slot.
//!
//! A lane is assigned by whoever keeps the lane map (the embedded store, or the platform
//! over `POST /v1/lanes`); the source signs each row's lane in its chunk ([`LANE_COLUMN`]
//! beside the key column). Neither the platform nor a source is trusted for the join:
//! [`LanePlacement`] checks the signed rows themselves, so a platform handing two sources
//! different lanes for one product, or a source placing a row in another product's lane,
//! is caught before any ciphertext is combined.
//!
//! [`LANE_COLUMN`]: crate::LANE_COLUMN

use std::collections::HashMap;

use crate::{Table, Value};

/// Longest lane key (bytes) the platform accepts.
pub const MAX_LANE_KEY_LEN: usize = 256;

/// The text a lane map is keyed by: the key column's value as written in the CSV.
pub fn lane_key_text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Int(i) => i.to_string(),
        Value::Dec(f) => f.to_string(),
        Value::Null => String::new(),
    }
}

/// Why a table's rows cannot be given lanes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LaneKeyError {
    /// The schema's lane key column is not among the table's public columns.
    #[error("lane key `{key}` missing from the table")]
    MissingColumn {
        /// The key column.
        key: String,
    },
    /// A row has no product id (an empty key cannot name a lane).
    #[error("row {row}: the lane key `{key}` is empty")]
    Empty {
        /// The key column.
        key: String,
        /// 1-based data row.
        row: usize,
    },
    /// A product id longer than [`MAX_LANE_KEY_LEN`].
    #[error("row {row}: the lane key `{key}` is longer than {MAX_LANE_KEY_LEN} bytes")]
    TooLong {
        /// The key column.
        key: String,
        /// 1-based data row.
        row: usize,
    },
}

/// Each row's lane key, in row order.
pub fn lane_keys(table: &Table, key: &str) -> Result<Vec<String>, LaneKeyError> {
    let col = table
        .public
        .iter()
        .find(|c| c.name == key)
        .ok_or_else(|| LaneKeyError::MissingColumn { key: key.into() })?;
    col.values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let k = lane_key_text(v);
            if k.is_empty() {
                Err(LaneKeyError::Empty {
                    key: key.into(),
                    row: i + 1,
                })
            } else if k.len() > MAX_LANE_KEY_LEN {
                Err(LaneKeyError::TooLong {
                    key: key.into(),
                    row: i + 1,
                })
            } else {
                Ok(k)
            }
        })
        .collect()
}

/// Where a placed row came from, for the error naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedAt {
    /// Stored chunk id.
    pub chunk: i64,
    /// Source that signed the chunk.
    pub source: String,
}

impl std::fmt::Display for PlacedAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chunk {} of source `{}`", self.chunk, self.source)
    }
}

/// Two placed rows that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementConflict {
    /// One product in two lanes.
    #[error("product `{key}` is in lane {lane_a} in {at_a} but in lane {lane_b} in {at_b}")]
    TwoLanes {
        /// The product id (a public column).
        key: String,
        /// First lane.
        lane_a: u64,
        /// Where.
        at_a: PlacedAt,
        /// Second lane.
        lane_b: u64,
        /// Where.
        at_b: PlacedAt,
    },
    /// Two products in one lane.
    #[error("lane {lane} holds product `{key_a}` in {at_a} but product `{key_b}` in {at_b}")]
    SharedLane {
        /// The lane.
        lane: u64,
        /// First product id.
        key_a: String,
        /// Where.
        at_a: PlacedAt,
        /// Second product id.
        key_b: String,
        /// Where.
        at_b: PlacedAt,
    },
}

/// Collects (product, lane) placements and refuses the first contradiction.
#[derive(Debug, Default)]
pub struct LanePlacement {
    by_key: HashMap<String, (u64, PlacedAt)>,
    by_lane: HashMap<u64, (String, PlacedAt)>,
}

impl LanePlacement {
    /// An empty placement.
    pub fn new() -> LanePlacement {
        LanePlacement::default()
    }

    /// Records that `at` places product `key` in `lane`.
    pub fn add(&mut self, key: &str, lane: u64, at: &PlacedAt) -> Result<(), PlacementConflict> {
        if let Some((l, first)) = self.by_key.get(key) {
            if *l != lane {
                return Err(PlacementConflict::TwoLanes {
                    key: key.into(),
                    lane_a: *l,
                    at_a: first.clone(),
                    lane_b: lane,
                    at_b: at.clone(),
                });
            }
        } else {
            self.by_key.insert(key.into(), (lane, at.clone()));
        }
        if let Some((k, first)) = self.by_lane.get(&lane) {
            if k != key {
                return Err(PlacementConflict::SharedLane {
                    lane,
                    key_a: k.clone(),
                    at_a: first.clone(),
                    key_b: key.into(),
                    at_b: at.clone(),
                });
            }
        } else {
            self.by_lane.insert(lane, (key.into(), at.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(chunk: i64, source: &str) -> PlacedAt {
        PlacedAt {
            chunk,
            source: source.into(),
        }
    }

    #[test]
    fn consistent_placements_pass_and_repeats_are_fine() {
        let mut p = LanePlacement::new();
        p.add("P1", 0, &at(1, "a")).expect("accepted");
        p.add("P2", 1, &at(1, "a")).expect("accepted");
        p.add("P1", 0, &at(2, "b")).expect("accepted");
        p.add("P2", 1, &at(2, "b")).expect("accepted");
    }

    #[test]
    fn one_product_in_two_lanes_is_refused_naming_both_chunks() {
        let mut p = LanePlacement::new();
        p.add("P1", 0, &at(1, "maker")).expect("accepted");
        let e = p.add("P1", 7, &at(9, "service")).expect_err("refused");
        let text = e.to_string();
        assert!(matches!(e, PlacementConflict::TwoLanes { .. }), "{text}");
        assert!(text.contains("chunk 1 of source `maker`"), "{text}");
        assert!(text.contains("chunk 9 of source `service`"), "{text}");
    }

    #[test]
    fn two_products_in_one_lane_are_refused() {
        let mut p = LanePlacement::new();
        p.add("P1", 3, &at(1, "maker")).expect("accepted");
        let e = p.add("P2", 3, &at(4, "service")).expect_err("refused");
        assert!(
            matches!(e, PlacementConflict::SharedLane { lane: 3, .. }),
            "{e}"
        );
    }

    #[test]
    fn lane_keys_refuse_empty_and_long_keys_naming_the_row() {
        let table = |vals: Vec<Value>| Table {
            rows: vals.len(),
            public: vec![crate::PublicColumn {
                name: "product_id".into(),
                values: vals,
            }],
            encrypted: vec![],
        };
        assert_eq!(
            lane_keys(
                &table(vec![Value::Text("A".into()), Value::Int(7)]),
                "product_id"
            )
            .expect("accepted"),
            vec!["A".to_string(), "7".to_string()]
        );
        assert_eq!(
            lane_keys(&table(vec![Value::Int(1), Value::Null]), "product_id").expect_err("refused"),
            LaneKeyError::Empty {
                key: "product_id".into(),
                row: 2
            }
        );
        let long = Value::Text("x".repeat(MAX_LANE_KEY_LEN + 1));
        assert!(matches!(
            lane_keys(&table(vec![long]), "product_id").expect_err("refused"),
            LaneKeyError::TooLong { row: 1, .. }
        ));
        assert!(matches!(
            lane_keys(&table(vec![]), "serial").expect_err("refused"),
            LaneKeyError::MissingColumn { .. }
        ));
    }
}
