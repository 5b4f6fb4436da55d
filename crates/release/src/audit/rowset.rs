//! What a released group covers: per chunk of one base dataset, all of its rows or a sorted
//! selection. Row membership is decided by public columns only, so every trustee derives the
//! same row sets independently of the platform.

use std::collections::BTreeMap;

use super::error::InputError;

/// Largest number of rows one chunk may hold (bounds memory on hostile input).
pub const MAX_CHUNK_ROWS: u32 = 1 << 24;

/// A chunk's identity the platform cannot choose: the source's name and its signed sequence
/// number. The auditor remembers each row of a chunk by (chunk, row index).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkKey {
    /// The source that signed the chunk.
    pub source: String,
    /// The chunk's signed sequence number at that source.
    pub seq: u64,
}

/// Which rows of one chunk a group covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkRows {
    /// Every row of the chunk (`rows` is the chunk's row count).
    All {
        /// The chunk's row count.
        rows: u32,
    },
    /// Only the listed rows.
    Some {
        /// The chunk's row count (must be the same in every release naming this chunk).
        rows: u32,
        /// Strictly increasing row indices, each below `rows`.
        selected: Vec<u32>,
    },
}

impl ChunkRows {
    /// The rows `selected` (strictly increasing) of a chunk of `rows` rows, in the compact
    /// form when they are all of them.
    pub fn of(rows: u32, selected: Vec<u32>) -> ChunkRows {
        if selected.len() as u64 == u64::from(rows) {
            ChunkRows::All { rows }
        } else {
            ChunkRows::Some { rows, selected }
        }
    }

    /// The chunk's total row count.
    pub fn rows(&self) -> u32 {
        match self {
            ChunkRows::All { rows } | ChunkRows::Some { rows, .. } => *rows,
        }
    }

    /// Calls `f` on every covered row index, in increasing order.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        match self {
            ChunkRows::All { rows } => (0..*rows).for_each(f),
            ChunkRows::Some { selected, .. } => selected.iter().for_each(|&r| f(r)),
        }
    }

    fn validate(&self, chunk: &ChunkKey) -> Result<(), InputError> {
        let rows = self.rows();
        if rows > MAX_CHUNK_ROWS {
            return Err(InputError::ChunkTooLarge {
                source_name: chunk.source.clone(),
                seq: chunk.seq,
                rows,
            });
        }
        if let ChunkRows::Some { selected, .. } = self {
            let mut prev: Option<u32> = None;
            for &r in selected {
                if r >= rows || prev.is_some_and(|p| p >= r) {
                    return Err(InputError::BadSelection {
                        source_name: chunk.source.clone(),
                        seq: chunk.seq,
                    });
                }
                prev = Some(r);
            }
        }
        Ok(())
    }
}

/// One released group's row set in one base dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowSet {
    /// The rows covered, chunk by chunk; chunks not listed contribute no row.
    pub chunks: BTreeMap<ChunkKey, ChunkRows>,
}

impl RowSet {
    /// The number of rows the set covers.
    pub fn len(&self) -> u64 {
        self.chunks
            .values()
            .map(|c| match c {
                ChunkRows::All { rows } => u64::from(*rows),
                ChunkRows::Some { selected, .. } => selected.len() as u64,
            })
            .sum()
    }

    /// Whether the set covers no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks every set's selections, and that a chunk has the same row count everywhere it is
/// named (in these sets and, through `known`, in the stored state).
pub(crate) fn validate_sets(
    groups: &[&RowSet],
    known: impl Fn(&ChunkKey) -> Option<u32>,
) -> Result<(), InputError> {
    let mut seen: BTreeMap<&ChunkKey, u32> = BTreeMap::new();
    for g in groups {
        for (key, rows) in &g.chunks {
            rows.validate(key)?;
            let expected = seen.get(key).copied().or_else(|| known(key));
            if let Some(e) = expected {
                if e != rows.rows() {
                    return Err(InputError::ChunkSizeMismatch {
                        source_name: key.source.clone(),
                        seq: key.seq,
                        stored: e,
                        given: rows.rows(),
                    });
                }
            }
            seen.insert(key, rows.rows());
        }
    }
    Ok(())
}
