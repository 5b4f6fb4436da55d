//! The steps between the engine and the trustees that every path shares: the clear checks
//! after row selection (fail fast, before any homomorphic work), the order of released sums,
//! and the release request built from a selection and its computed sums.

use crate::audit::{ChunkKey, ChunkRows, RowSet};
use crate::rules::{
    check_groups, check_key_columns, check_noise, check_overflow, DatasetRows, GroupFacts, Policy,
    ReleaseItem, ReleaseRequest,
};
use crate::Refusal;
use dtfhe_crypto::Params;
use dtfhe_engine::exec::{ComputedSum, Selection};
use dtfhe_engine::{Moment, Query, ResultSet};
use std::collections::{BTreeMap, HashMap};

/// The clear facts of each selected group.
pub fn group_facts(selection: &Selection) -> Vec<GroupFacts> {
    selection
        .groups
        .iter()
        .map(|g| GroupFacts {
            label: g.label.clone(),
            rows: g.state.rows(),
        })
        .collect()
}

/// The rules that need no ciphertext, checked right after row selection: identifier
/// columns, k rows per group, and the overflow bound of every sum.
pub fn precheck(
    params: &Params,
    policy: &Policy,
    query: &Query,
    selection: &Selection,
) -> Result<(), Refusal> {
    check_key_columns(policy, &query.key_columns_used())?;
    let groups = group_facts(selection);
    check_groups(policy, &groups)?;
    for g in &groups {
        for m in &selection.moments {
            check_overflow(params, &m.to_string(), g.rows, m.bound(&query.schema))?;
        }
    }
    Ok(())
}

/// The noise rule over computed sums (the platform checks it before asking the trustees).
pub fn check_computed_noise(
    params: &Params,
    policy: &Policy,
    selection: &Selection,
    computed: &[ComputedSum],
) -> Result<(), Refusal> {
    for c in computed {
        let what = item_label(selection, c);
        check_noise(params, policy, &what, &c.ciphertext, c.noise.0)?;
    }
    Ok(())
}

fn item_label(selection: &Selection, c: &ComputedSum) -> String {
    let group = selection
        .groups
        .get(c.group)
        .map_or("?", |g| g.label.as_str());
    format!("{} for group {group}", c.moment)
}

/// The (group, moment) of each released ciphertext, in release order: the order
/// `exec::compute` returns (groups in key order, skipping empty ones; moments in plan order).
pub fn release_order(selection: &Selection) -> Vec<(usize, Moment)> {
    let mut out = Vec::new();
    for (gi, g) in selection.groups.iter().enumerate() {
        if g.state.rows() == 0 {
            continue;
        }
        for m in &selection.moments {
            out.push((gi, m.clone()));
        }
    }
    out
}

/// The released totals, in [`release_order`], sorted back into each group's moments and
/// finalized into the result table, with each group's key and row count (the release facts
/// shown next to the numbers). One place for the embedded query and the networked analyst.
pub fn finalize_released(
    query: &Query,
    selection: Selection,
    order: Vec<(usize, Moment)>,
    totals: Vec<i128>,
) -> Result<(ResultSet, GroupRows), dtfhe_engine::EngineError> {
    let mut sums = vec![HashMap::new(); selection.groups.len()];
    for ((g, m), total) in order.into_iter().zip(totals) {
        sums[g].insert(m, total);
    }
    let group_rows = selection
        .groups
        .iter()
        .map(|g| (g.state.key().to_vec(), g.state.rows()))
        .collect();
    let result = dtfhe_engine::finalize_all(
        query,
        &query.schema,
        selection.groups.into_iter().map(|g| g.state).zip(sums),
    )?;
    Ok((result, group_rows))
}

/// Each released group's key values and row count.
pub type GroupRows = Vec<(Vec<dtfhe_model::Value>, u64)>;

/// The rows each group covers, per base dataset, keyed by what the platform cannot choose:
/// each chunk's source and signed sequence number. A self-join merges both sides.
pub fn row_sets(query: &Query, selection: &Selection) -> Vec<DatasetRows> {
    let datasets = query.base_datasets();
    let side_dataset = |side: usize| -> usize {
        let name = match &query.join {
            None => &query.dataset,
            Some(j) => &j.sides[side.min(1)].dataset,
        };
        datasets
            .iter()
            .position(|d| d.eq_ignore_ascii_case(name))
            .unwrap_or(0)
    };
    let mut out: Vec<DatasetRows> = datasets
        .iter()
        .map(|d| DatasetRows {
            dataset: d.clone(),
            groups: Vec::with_capacity(selection.groups.len()),
        })
        .collect();
    let chunk_rows: BTreeMap<(usize, ChunkKey), u32> = selection
        .chunks
        .iter()
        .map(|(side, c)| {
            let key = ChunkKey {
                source: c.source.clone(),
                seq: c.seq,
            };
            ((side_dataset(*side), key), c.rows)
        })
        .collect();
    for g in &selection.groups {
        let mut per: Vec<BTreeMap<ChunkKey, Vec<u32>>> = vec![BTreeMap::new(); datasets.len()];
        for (&ci, rows) in &g.rows {
            let Some((side, chunk)) = selection.chunks.get(ci) else {
                continue;
            };
            let key = ChunkKey {
                source: chunk.source.clone(),
                seq: chunk.seq,
            };
            per[side_dataset(*side)]
                .entry(key)
                .or_default()
                .extend_from_slice(rows);
        }
        for (d, chunks) in per.into_iter().enumerate() {
            let mut set = RowSet::default();
            for (key, mut rows) in chunks {
                rows.sort_unstable();
                rows.dedup();
                let total = chunk_rows.get(&(d, key.clone())).copied().unwrap_or(0);
                set.chunks.insert(key, ChunkRows::of(total, rows));
            }
            out[d].groups.push(set);
        }
    }
    out
}

/// The release request for a query's computed sums.
pub fn build_request(
    release_id: String,
    sql: &str,
    query: &Query,
    selection: &Selection,
    computed: &[ComputedSum],
    epsilon: Option<f64>,
) -> ReleaseRequest {
    ReleaseRequest {
        release_id,
        dataset: query.dataset.clone(),
        query: sql.to_string(),
        groups: group_facts(selection),
        items: computed
            .iter()
            .map(|c| ReleaseItem {
                group: c.group,
                what: item_label(selection, c),
                per_row_bound: c.per_row_bound,
                noise_bits: c.noise.0,
                ciphertext: c.ciphertext.clone(),
            })
            .collect(),
        rows: row_sets(query, selection),
        key_columns: query.key_columns_used(),
        epsilon,
    }
}

/// A released sum that no honest set of decryption shares can give: the trustees' shares do
/// not fit together (one of them was computed from a damaged or wrong key share, or is not
/// a share of this ciphertext). The result is not reported. Names the sum, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "inconsistent shares: the released {what} is outside what its {rows} selected rows can \
     add up to, so a trustee's decryption share is wrong (a damaged key share?); nothing was \
     reported"
)]
pub struct InconsistentShares {
    /// Which sum, e.g. `Σ P(torque) for group (all rows)`.
    pub what: String,
    /// Rows of its group.
    pub rows: u64,
}

/// Whether every term of `m` is ≥ 0 for every row: presence flags, indicators, squares, and
/// the square of one part.
fn non_negative(m: &Moment) -> bool {
    use dtfhe_engine::Part;
    let each = m
        .factors
        .iter()
        .all(|f| matches!(f.part, Part::Presence | Part::Above(_) | Part::Square));
    each || (m.factors.len() == 2 && m.factors[0] == m.factors[1])
}

/// What one released sum can be: the facts [`check_totals`] checks it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalBounds {
    /// Which sum, e.g. `Σ P(torque) for group (all rows)`.
    pub what: String,
    /// Rows of its group.
    pub rows: u64,
    /// Largest |total|: rows × the moment's per-row bound.
    pub bound: u128,
    /// Whether no term can be negative (presence flags, indicators, squares).
    pub non_negative: bool,
}

/// The bounds of each released sum, in release order ([`release_order`]).
pub fn total_bounds(
    query: &Query,
    selection: &Selection,
    order: &[(usize, Moment)],
) -> Vec<TotalBounds> {
    order
        .iter()
        .map(|(g, m)| {
            let group = selection.groups.get(*g);
            let rows = group.map_or(0, |g| g.state.rows());
            TotalBounds {
                what: format!("{m} for group {}", group.map_or("?", |g| g.label.as_str())),
                rows,
                bound: m.bound(&query.schema).saturating_mul(u128::from(rows)),
                non_negative: non_negative(m),
            }
        })
        .collect()
}

/// Checks each total against its bounds (see [`check_totals`]).
pub fn check_within(bounds: &[TotalBounds], totals: &[i128]) -> Result<(), InconsistentShares> {
    for (b, &total) in bounds.iter().zip(totals) {
        if total.unsigned_abs() > b.bound || (total < 0 && b.non_negative) {
            return Err(InconsistentShares {
                what: b.what.clone(),
                rows: b.rows,
            });
        }
    }
    Ok(())
}

/// Checks exact (not noised) released totals against what the selection allows before they
/// are reported: |total| ≤ rows × the moment's per-row bound, and ≥ 0 for a moment whose
/// terms cannot be negative (so a COUNT(col) lies in [0, rows]). Shares from a wrong key
/// combine to a value uniformly spread over the plaintext space, which these bounds refuse
/// with overwhelming probability. `order` and `totals` are in release order
/// ([`release_order`]). Not for dp releases: their noise may legitimately cross the bounds.
pub fn check_totals(
    query: &Query,
    selection: &Selection,
    order: &[(usize, Moment)],
    totals: &[i128],
) -> Result<(), InconsistentShares> {
    check_within(&total_bounds(query, selection, order), totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtfhe_engine::{Factor, Part};

    fn moment(parts: &[(&str, Part)]) -> Moment {
        Moment {
            factors: parts.iter().map(|(c, p)| Factor::new(c, *p)).collect(),
        }
    }

    #[test]
    fn which_moments_cannot_be_negative() {
        assert!(non_negative(&moment(&[("x", Part::Presence)])));
        assert!(non_negative(&moment(&[("x", Part::Above(1))])));
        assert!(non_negative(&moment(&[("x", Part::Square)])));
        assert!(non_negative(&moment(&[
            ("x", Part::Value),
            ("x", Part::Value)
        ])));
        assert!(!non_negative(&moment(&[("x", Part::Value)])));
        assert!(!non_negative(&moment(&[
            ("x", Part::Value),
            ("y", Part::Value)
        ])));
    }

    #[test]
    fn totals_outside_what_the_rows_allow_are_inconsistent_shares() {
        let count = TotalBounds {
            what: "Σ P(x) for group (all rows)".into(),
            rows: 10,
            bound: 10,
            non_negative: true,
        };
        let sum = TotalBounds {
            what: "Σ V(x) for group (all rows)".into(),
            rows: 10,
            bound: 1000,
            non_negative: false,
        };
        let b = [count, sum];
        for ok in [[0, -1000], [10, 1000], [3, 0]] {
            assert_eq!(check_within(&b, &ok), Ok(()), "{ok:?}");
        }
        for bad in [[-1, 0], [11, 0], [5, 1001], [5, -1001], [1 << 40, 0]] {
            let e = check_within(&b, &bad).expect_err("accepted");
            assert!(e.to_string().contains("inconsistent shares"), "{e}");
        }
        // Shares from a wrong key combine to values spread over the plaintext space: almost
        // none of them passes.
        let t: i128 = 1 << 40;
        let passing = (0..1000i128)
            .map(|i| (i * 7_919_000_003) % t - t / 2)
            .filter(|&v| check_within(&b[1..], &[v]).is_ok())
            .count();
        assert!(passing <= 1, "{passing} of 1000 spread values passed");
    }
}
