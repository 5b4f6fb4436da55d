//! Sparse reduced row-echelon form over GF(p) on cell-indicator coordinates.
//!
//! Invariants (checked again when a state file is decoded):
//! - every row's first (smallest) column is its pivot, with coefficient 1;
//! - no row has a nonzero coefficient at another row's pivot column;
//! - columns are strictly increasing and coefficients nonzero.
//!
//! With these, a vector's membership in the row space is decided by one pass (subtract, for each
//! pivot column where it is nonzero, that row), and a cell's total is derivable exactly when some
//! row equals the cell's unit vector.
//!
//! **Splitting a cell keeps the form valid.** When a release splits cell `c` into `c` and a new
//! cell `c'`, every earlier released set either contains all of old `c` or none of it, so in the new
//! coordinates each earlier set vector has the same coefficient at `c'` as at `c`; the map
//! "copy coordinate `c` to `c'`" is linear, so applying it to every basis row yields a basis of the
//! earlier releases in the new coordinates. It stays reduced row-echelon: new ids are larger than
//! every existing id, so `c'` lies right of every pivot (a row's pivot is at most `c`, its nonzero
//! column), hence no row's leading entry changes; `c'` is not a pivot column, so the condition
//! "zero at other rows' pivots" is untouched; pivots stay 1.

use super::field;

/// Marks "no row" in the pivot index.
const NONE: u32 = u32::MAX;

/// One sparse row: strictly increasing columns with their nonzero coefficients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SparseRow {
    pub(crate) cols: Vec<u32>,
    pub(crate) vals: Vec<u64>,
}

impl SparseRow {
    /// Whether the row is zero.
    pub(crate) fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    /// The pivot (first) column; None for the zero row.
    pub(crate) fn pivot(&self) -> Option<u32> {
        self.cols.first().copied()
    }

    /// self - c * other.
    pub(crate) fn sub_scaled(&self, c: u64, other: &SparseRow) -> SparseRow {
        let mut out = SparseRow {
            cols: Vec::with_capacity(self.cols.len() + other.cols.len()),
            vals: Vec::with_capacity(self.cols.len() + other.cols.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < self.cols.len() || j < other.cols.len() {
            let a = self.cols.get(i).copied().unwrap_or(u32::MAX);
            let b = other.cols.get(j).copied().unwrap_or(u32::MAX);
            let (col, v) = if a < b {
                i += 1;
                (a, self.vals[i - 1])
            } else if b < a {
                j += 1;
                (b, field::sub(0, field::mul(c, other.vals[j - 1])))
            } else {
                i += 1;
                j += 1;
                (
                    a,
                    field::sub(self.vals[i - 1], field::mul(c, other.vals[j - 1])),
                )
            };
            if v != 0 {
                out.cols.push(col);
                out.vals.push(v);
            }
        }
        out
    }

    /// Scales the row so that its pivot coefficient is 1.
    fn normalize(&mut self) {
        if let Some(&lead) = self.vals.first() {
            if lead != 1 {
                let inv = field::inv(lead);
                for v in &mut self.vals {
                    *v = field::mul(*v, inv);
                }
            }
        }
    }
}

/// The new rows of one release, kept in row-echelon form keyed by pivot while they are added
/// (no back-substitution, so adding m rows costs no O(m^2) pass), reduced once at the end.
#[derive(Clone, Debug, Default)]
pub(crate) struct Echelon {
    rows: std::collections::BTreeMap<u32, SparseRow>,
}

impl Echelon {
    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in pivot order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &SparseRow> {
        self.rows.values()
    }

    /// Reduces `v`: scanning its columns left to right, subtracts the row pivoting at each
    /// nonzero column that has one (a row only has columns at or right of its pivot, so columns
    /// already passed stay settled). The result is zero iff `v` is in the span.
    pub(crate) fn reduce(&self, mut v: SparseRow) -> SparseRow {
        let mut i = 0;
        while i < v.cols.len() {
            let c = v.cols[i];
            match self.rows.get(&c) {
                Some(r) => {
                    let coef = v.vals[i];
                    v = v.sub_scaled(coef, r);
                    i = v.cols.partition_point(|&x| x <= c);
                }
                None => i += 1,
            }
        }
        v
    }

    /// Adds `v`; returns whether the rank grew.
    pub(crate) fn insert(&mut self, v: SparseRow) -> bool {
        let mut v = self.reduce(v);
        let Some(p) = v.pivot() else {
            return false;
        };
        v.normalize();
        self.rows.insert(p, v);
        true
    }

    /// The rows in reduced row-echelon form: back-substitution from the last pivot down.
    pub(crate) fn into_reduced(self) -> Vec<SparseRow> {
        let mut done: std::collections::BTreeMap<u32, SparseRow> =
            std::collections::BTreeMap::new();
        for (p, row) in self.rows.into_iter().rev() {
            // Clear the entries right of the pivot that sit at later pivots (already reduced).
            let mut row = row;
            let mut i = 1;
            while i < row.cols.len() {
                let c = row.cols[i];
                match done.get(&c) {
                    Some(r) => {
                        let coef = row.vals[i];
                        row = row.sub_scaled(coef, r);
                        i = row.cols.partition_point(|&x| x <= c);
                    }
                    None => i += 1,
                }
            }
            done.insert(p, row);
        }
        done.into_values().collect()
    }
}

/// The reduced row-echelon basis of everything released on one dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Basis {
    rows: Vec<SparseRow>,
    /// Per cell id, the index of the row pivoting there, or NONE.
    pivot_row: Vec<u32>,
}

impl Basis {
    /// Builds a basis from rows already checked to be in reduced row-echelon form.
    pub(crate) fn from_rows(rows: Vec<SparseRow>, cells: u32) -> Basis {
        let mut pivot_row = vec![NONE; cells as usize];
        for (i, r) in rows.iter().enumerate() {
            if let Some(p) = r.pivot() {
                if let Some(slot) = pivot_row.get_mut(p as usize) {
                    *slot = i as u32;
                }
            }
        }
        Basis { rows, pivot_row }
    }

    /// The rows, in insertion order.
    pub(crate) fn rows(&self) -> &[SparseRow] {
        &self.rows
    }

    /// The row pivoting at `cell`, if any.
    #[inline]
    pub(crate) fn row_at(&self, cell: u32) -> Option<&SparseRow> {
        match self.pivot_row.get(cell as usize) {
            Some(&i) if i != NONE => self.rows.get(i as usize),
            _ => None,
        }
    }

    /// Whether cell `cell`'s unit vector is a row (its total is derivable).
    pub(crate) fn is_unit(&self, cell: u32) -> bool {
        self.row_at(cell).is_some_and(|r| r.cols.len() == 1)
    }

    /// Number of stored coefficients.
    pub(crate) fn nnz(&self) -> usize {
        self.rows.iter().map(|r| r.cols.len()).sum()
    }

    /// Re-expresses the rows after cells were split: `first_new` is the first new cell id and
    /// `roots[i]` the pre-existing cell that new cell `first_new + i` was split from (0: from the
    /// implicit cell, which no row touches). See the module comment for why the form stays valid.
    pub(crate) fn split(&mut self, first_new: u32, roots: &[u32]) {
        let mut head = vec![NONE; first_new as usize];
        let mut next = vec![NONE; roots.len()];
        let mut any = false;
        // Link children in decreasing id order so each list comes out increasing.
        for (i, &r) in roots.iter().enumerate().rev() {
            if r != 0 {
                if let Some(h) = head.get_mut(r as usize) {
                    next[i] = *h;
                    *h = first_new + i as u32;
                    any = true;
                }
            }
        }
        if !any {
            self.pivot_row
                .resize(first_new as usize + roots.len(), NONE);
            return;
        }
        let mut extra: Vec<(u32, u64)> = Vec::new();
        for row in &mut self.rows {
            extra.clear();
            for (&col, &val) in row.cols.iter().zip(&row.vals) {
                let mut ch = head.get(col as usize).copied().unwrap_or(NONE);
                while ch != NONE {
                    extra.push((ch, val));
                    ch = next[(ch - first_new) as usize];
                }
            }
            if !extra.is_empty() {
                // All new ids exceed all existing columns: append in sorted order.
                extra.sort_unstable_by_key(|e| e.0);
                for &(c, v) in &extra {
                    row.cols.push(c);
                    row.vals.push(v);
                }
            }
        }
        self.pivot_row
            .resize(first_new as usize + roots.len(), NONE);
    }

    /// Adds rows that are zero at every existing pivot and already in reduced row-echelon form
    /// among themselves; back-substitutes them into the existing rows.
    pub(crate) fn insert_reduced(&mut self, new_rows: Vec<SparseRow>) {
        if new_rows.is_empty() {
            return;
        }
        let width = new_rows
            .iter()
            .filter_map(SparseRow::pivot)
            .max()
            .map_or(0, |p| p as usize + 1)
            .max(self.pivot_row.len());
        let mut which = vec![NONE; width];
        for (i, r) in new_rows.iter().enumerate() {
            if let Some(p) = r.pivot() {
                which[p as usize] = i as u32;
            }
        }
        let hit = |c: u32| which.get(c as usize).copied().unwrap_or(NONE);
        let mut hits: Vec<(u32, u64)> = Vec::new();
        for row in &mut self.rows {
            hits.clear();
            for (&c, &v) in row.cols.iter().zip(&row.vals) {
                let i = hit(c);
                if i != NONE {
                    hits.push((i, v));
                }
            }
            for &(i, v) in &hits {
                *row = row.sub_scaled(v, &new_rows[i as usize]);
            }
        }
        for r in new_rows {
            if let Some(p) = r.pivot() {
                let idx = self.rows.len() as u32;
                if p as usize >= self.pivot_row.len() {
                    self.pivot_row.resize(p as usize + 1, NONE);
                }
                self.pivot_row[p as usize] = idx;
                self.rows.push(r);
            }
        }
    }
}
