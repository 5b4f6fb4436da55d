//! One dataset's audit state (cells, chunk-to-cell map, basis) and the two steps on it: plan a
//! release without changing anything, and apply an approved plan.
//!
//! Cells: rows that every released set treats alike. Cell 0 is the implicit cell of rows in no
//! released set (never derivable, never a column); real cells are numbered from 1 in creation
//! order. A new release refines cells group by group: the part of cell `x` inside the group gets a
//! fresh id unless the group holds all of `x`, so cells never become empty and new ids are larger
//! than old ones (which the basis relies on; see `basis`).

use std::collections::BTreeMap;

use super::basis::{Basis, Echelon, SparseRow};
use super::error::InputError;
use super::field;
use super::rowset::{ChunkKey, RowSet};

/// How many earlier releases a cell remembers (most recent), and a refusal names.
pub(crate) const MAX_NAMED: usize = 5;

/// Largest cell id (exclusive) a dataset may reach.
pub(crate) const MAX_CELLS: u32 = u32::MAX - 1;

/// The audit state of one base dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DatasetState {
    /// Per chunk, the cell of each row (0: in no released set).
    pub(crate) chunks: BTreeMap<ChunkKey, Vec<u32>>,
    /// Per cell id, its number of rows (`counts[0]` is unused and 0).
    pub(crate) counts: Vec<u64>,
    /// Per cell id, indices of the most recent releases whose sets contain it (oldest first).
    pub(crate) touchers: Vec<Vec<u32>>,
    /// Reduced row-echelon basis of the released set vectors over cells.
    pub(crate) basis: Basis,
}

impl Default for DatasetState {
    fn default() -> Self {
        DatasetState::new()
    }
}

impl DatasetState {
    /// An empty state (only the implicit cell).
    pub(crate) fn new() -> DatasetState {
        DatasetState {
            chunks: BTreeMap::new(),
            counts: vec![0],
            touchers: vec![Vec::new()],
            basis: Basis::from_rows(Vec::new(), 1),
        }
    }

    /// The id the next new cell gets.
    pub(crate) fn next_cell(&self) -> u32 {
        self.counts.len() as u32
    }
}

/// What one approved release changes in one dataset, computed by `plan` and applied by `apply`.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) dataset: String,
    /// New cell arrays of the chunks the release touches.
    chunks: Vec<(ChunkKey, Vec<u32>)>,
    /// Cell counts after the release.
    counts: Vec<u64>,
    /// For each new cell (id `old_next + i`), the pre-existing cell it was split from (0: implicit).
    roots: Vec<u32>,
    /// The release's set vectors reduced against the basis, in reduced row-echelon form.
    new_rows: Vec<SparseRow>,
    /// Per group, the cells it contains (to remember which releases touch which cell).
    group_cells: Vec<Vec<u32>>,
}

/// The outcome of planning: either an applicable plan, or the cell the release would expose.
pub(crate) enum Planned {
    Safe(Plan),
    /// Indices (into the release table) of earlier releases to name, most relevant first.
    Exposes(Vec<u32>),
}

/// Refines the cells by `groups` and decides whether the release exposes a total of fewer than `k`
/// rows: a group that small, or a cell that small becoming derivable. Cells that were derivable
/// before are not judged again (they can only be small if k was raised since). Changes nothing in
/// `st`.
pub(crate) fn plan(
    st: &DatasetState,
    dataset: &str,
    groups: &[&RowSet],
    k: u64,
    row_budget: &mut u64,
) -> Result<Planned, InputError> {
    super::rowset::validate_sets(groups, |key| st.chunks.get(key).map(|a| a.len() as u32))?;
    let mut fresh: BTreeMap<&ChunkKey, u64> = BTreeMap::new();
    for g in groups {
        for (key, cr) in &g.chunks {
            if !st.chunks.contains_key(key) {
                fresh.insert(key, u64::from(cr.rows()));
            }
        }
    }
    // A released group of fewer than k rows is itself a derivable small total.
    if groups.iter().any(|g| (1..k).contains(&g.len())) {
        return Ok(Planned::Exposes(Vec::new()));
    }
    let fresh_rows: u64 = fresh.values().sum();
    if fresh_rows > *row_budget {
        return Err(InputError::TooManyRows(dataset.to_owned()));
    }
    *row_budget -= fresh_rows;
    let old_next = st.next_cell();
    let mut counts = st.counts.clone();
    let mut roots: Vec<u32> = Vec::new();
    let mut arrays: BTreeMap<&ChunkKey, Vec<u32>> = BTreeMap::new();
    let mut in_count: Vec<u32> = Vec::new();
    let mut map: Vec<u32> = Vec::new();
    let mut touched: Vec<u32> = Vec::new();

    // 1. Refine: each group splits every cell it cuts. O(rows in the groups).
    for g in groups {
        for (key, cr) in &g.chunks {
            if !arrays.contains_key(key) {
                let a = match st.chunks.get(key) {
                    Some(a) => a.clone(),
                    None => vec![0; cr.rows() as usize],
                };
                arrays.insert(key, a);
            }
        }
        in_count.resize(counts.len(), 0);
        map.resize(counts.len(), 0);
        touched.clear();
        for (key, cr) in &g.chunks {
            let Some(a) = arrays.get(key) else { continue };
            cr.for_each(|r| {
                let x = a[r as usize] as usize;
                if in_count[x] == 0 {
                    touched.push(x as u32);
                }
                in_count[x] += 1;
            });
        }
        for &x in &touched {
            let n = in_count[x as usize];
            in_count[x as usize] = 0;
            let y = if x == 0 || u64::from(n) < counts[x as usize] {
                let y = counts.len() as u32;
                if y >= MAX_CELLS {
                    return Err(InputError::TooManyCells(dataset.to_owned()));
                }
                counts.push(u64::from(n));
                if x != 0 {
                    counts[x as usize] -= u64::from(n);
                }
                roots.push(if x < old_next {
                    x
                } else {
                    roots[(x - old_next) as usize]
                });
                y
            } else {
                x
            };
            map[x as usize] = y;
        }
        for (key, cr) in &g.chunks {
            let Some(a) = arrays.get_mut(key) else {
                continue;
            };
            cr.for_each(|r| {
                let slot = &mut a[r as usize];
                *slot = map[*slot as usize];
            });
        }
    }
    let new_next = counts.len() as u32;

    // 2. Each group's vector: the (final) cells of its rows, each wholly inside the group.
    let mut stamp: Vec<u32> = vec![0; new_next as usize];
    let mut group_cells: Vec<Vec<u32>> = Vec::with_capacity(groups.len());
    for (gi, g) in groups.iter().enumerate() {
        let mark = gi as u32 + 1;
        let mut cells = Vec::new();
        for (key, cr) in &g.chunks {
            let Some(a) = arrays.get(key) else { continue };
            cr.for_each(|r| {
                let c = a[r as usize];
                if stamp[c as usize] != mark {
                    stamp[c as usize] = mark;
                    cells.push(c);
                }
            });
        }
        cells.sort_unstable();
        group_cells.push(cells);
    }

    // 3. Reduce each vector against the old basis, read in the new coordinates (an old row's
    //    coefficient at a split-off cell is its coefficient at the root).
    let mut head = vec![u32::MAX; old_next as usize];
    let mut sib = vec![u32::MAX; roots.len()];
    for (i, &r) in roots.iter().enumerate().rev() {
        if r != 0 {
            sib[i] = head[r as usize];
            head[r as usize] = old_next + i as u32;
        }
    }
    let extended = |row: &SparseRow, f: &mut dyn FnMut(u32, u64)| {
        for (&col, &val) in row.cols.iter().zip(&row.vals) {
            f(col, val);
            let mut ch = head[col as usize];
            while ch != u32::MAX {
                f(ch, val);
                ch = sib[(ch - old_next) as usize];
            }
        }
    };
    let mut acc: Vec<u64> = vec![0; new_next as usize];
    let mut seen: Vec<bool> = vec![false; new_next as usize];
    let mut nz: Vec<u32> = Vec::new();
    let mut w_rows = Echelon::default();
    for cells in &group_cells {
        nz.clear();
        for &c in cells {
            acc[c as usize] = 1;
            seen[c as usize] = true;
            nz.push(c);
        }
        for &c in cells {
            if c >= old_next {
                continue;
            }
            if let Some(row) = st.basis.row_at(c) {
                // The vector's coefficient at pivot c is 1 (other rows are zero there).
                extended(row, &mut |col, val| {
                    let slot = &mut acc[col as usize];
                    *slot = field::sub(*slot, val);
                    if !seen[col as usize] {
                        seen[col as usize] = true;
                        nz.push(col);
                    }
                });
            }
        }
        nz.sort_unstable();
        let mut w = SparseRow::default();
        for &c in &nz {
            let v = acc[c as usize];
            if v != 0 {
                w.cols.push(c);
                w.vals.push(v);
            }
            acc[c as usize] = 0;
            seen[c as usize] = false;
        }
        if !w.is_empty() {
            w_rows.insert(w);
        }
    }

    // 4. A cell becomes derivable iff its unit vector, reduced against the old basis, lies in
    //    the span of the new rows. Only cells of fewer than k rows matter; cells derivable
    //    before (reduced vector zero) were already judged.
    if !w_rows.is_empty() {
        let mut support = vec![false; new_next as usize];
        for r in w_rows.rows() {
            for &c in &r.cols {
                support[c as usize] = true;
            }
        }
        for c in 1..new_next {
            if counts[c as usize] >= k {
                continue;
            }
            let r_c = match st.basis.row_at(c).filter(|_| c < old_next) {
                None => SparseRow {
                    cols: vec![c],
                    vals: vec![1],
                },
                Some(row) => {
                    let mut entries: Vec<(u32, u64)> = Vec::new();
                    extended(row, &mut |col, val| {
                        if col != c {
                            entries.push((col, field::sub(0, val)));
                        }
                    });
                    entries.sort_unstable_by_key(|e| e.0);
                    SparseRow {
                        cols: entries.iter().map(|e| e.0).collect(),
                        vals: entries.iter().map(|e| e.1).collect(),
                    }
                }
            };
            if r_c.is_empty() || r_c.cols.iter().any(|&col| !support[col as usize]) {
                continue;
            }
            if w_rows.reduce(r_c.clone()).is_empty() {
                return Ok(Planned::Exposes(name_releases(
                    st,
                    c,
                    &r_c,
                    &group_cells,
                    old_next,
                    &roots,
                )));
            }
        }
    }

    Ok(Planned::Safe(Plan {
        dataset: dataset.to_owned(),
        chunks: arrays.into_iter().map(|(k, a)| (k.clone(), a)).collect(),
        counts,
        roots,
        new_rows: w_rows.into_reduced(),
        group_cells,
    }))
}

/// Earlier releases to name for exposed cell `c`: those containing it, then those containing the
/// cells its derivation uses, then those sharing cells with the new groups holding it.
fn name_releases(
    st: &DatasetState,
    c: u32,
    r_c: &SparseRow,
    group_cells: &[Vec<u32>],
    old_next: u32,
    roots: &[u32],
) -> Vec<u32> {
    let old_id = |x: u32| {
        if x < old_next {
            x
        } else {
            roots.get((x - old_next) as usize).copied().unwrap_or(0)
        }
    };
    let mut cells: Vec<u32> = vec![c];
    cells.extend(r_c.cols.iter().copied());
    for g in group_cells {
        if g.binary_search(&c).is_ok() {
            cells.extend(g.iter().copied());
        }
    }
    let mut out: Vec<u32> = Vec::new();
    for x in cells {
        let o = old_id(x);
        if o == 0 {
            continue;
        }
        if let Some(t) = st.touchers.get(o as usize) {
            for &rel in t.iter().rev() {
                if !out.contains(&rel) {
                    out.push(rel);
                    if out.len() == MAX_NAMED {
                        return out;
                    }
                }
            }
        }
    }
    out
}

/// Applies an approved plan; `release` is the release's index in the release table.
pub(crate) fn apply(st: &mut DatasetState, plan: Plan, release: u32) {
    let old_next = st.next_cell();
    for (key, a) in plan.chunks {
        st.chunks.insert(key, a);
    }
    st.counts = plan.counts;
    for &r in &plan.roots {
        let inherited = st.touchers.get(r as usize).cloned().unwrap_or_default();
        st.touchers.push(inherited);
    }
    st.basis.split(old_next, &plan.roots);
    st.basis.insert_reduced(plan.new_rows);
    for cells in &plan.group_cells {
        for &c in cells {
            if let Some(t) = st.touchers.get_mut(c as usize) {
                if t.last() != Some(&release) {
                    if t.len() == MAX_NAMED {
                        t.remove(0);
                    }
                    t.push(release);
                }
            }
        }
    }
}
