//! Disclosure audit (exact mode): refuses a release that, with everything already released on
//! a dataset, would make the total of fewer than k rows derivable.
//!
//! Every released statistic of a group is a linear combination of per-row terms over the
//! group's row set, so what an analyst can compute from all releases of a dataset is the span of
//! the released set-indicator vectors. Rows that every released set treats alike form one *cell*;
//! a cell's total is derivable exactly when its unit vector lies in that span (Chin and
//! Özsoyoğlu 1982). The auditor keeps the cells and a reduced row-echelon basis over GF(2^61 - 1)
//! of the released vectors, and refuses a release (all its groups at once) that would newly make
//! derivable a cell of fewer than k rows. A single row is derivable only if it is a cell on its
//! own, so with k >= 2 no row's term can be solved for.
//!
//! Not covered (stated in the threat model): side knowledge about rows, and unions of several
//! small cells that are not a cell themselves.
//!
//! Use: [`Auditor::check_many`] (or [`Auditor::check`]) computes an [`Approval`] without changing
//! anything; [`Auditor::commit`] records it durably before the caller releases anything.

mod basis;
mod codec;
mod dataset;
mod error;
mod field;
mod rowset;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use codec::{MAGIC, MAX_NAME, MAX_STATE_ROWS, VERSION};
pub use error::{AuditError, CheckError, DecodeError, InputError, Refusal};
pub use rowset::{ChunkKey, ChunkRows, RowSet, MAX_CHUNK_ROWS};

use dataset::{DatasetState, Plan, Planned};

/// Everything the auditor remembers, over all datasets: what [`decode_state`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditState {
    /// Committed release ids, in commit order (refusals name them).
    releases: Vec<String>,
    /// Per base dataset, its cells and basis.
    datasets: BTreeMap<String, DatasetState>,
}

impl AuditState {
    /// Number of committed releases.
    pub fn release_count(&self) -> usize {
        self.releases.len()
    }

    /// Names of the datasets with at least one release.
    pub fn datasets(&self) -> impl Iterator<Item = &str> {
        self.datasets.keys().map(String::as_str)
    }

    /// Size figures of one dataset's state (for benchmarks and operators), None if unknown.
    pub fn stats(&self, dataset: &str) -> Option<DatasetStats> {
        self.datasets.get(dataset).map(|d| DatasetStats {
            rows: d.chunks.values().map(|a| a.len() as u64).sum(),
            cells: u64::from(d.next_cell()) - 1,
            rank: d.basis.rows().len() as u64,
            basis_entries: d.basis.nnz() as u64,
            derivable_cells: (1..d.next_cell()).filter(|&c| d.basis.is_unit(c)).count() as u64,
        })
    }

    /// The state file's bytes (magic, version, body, checksum).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    fn total_rows(&self) -> u64 {
        self.datasets
            .values()
            .flat_map(|d| d.chunks.values())
            .map(|a| a.len() as u64)
            .sum()
    }
}

/// Size figures of one dataset's audit state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetStats {
    /// Rows remembered (in chunks some release touched).
    pub rows: u64,
    /// Cells (excluding the implicit cell of rows in no release).
    pub cells: u64,
    /// Rank of the released vectors.
    pub rank: u64,
    /// Coefficients stored in the basis.
    pub basis_entries: u64,
    /// Cells whose total is derivable from the releases.
    pub derivable_cells: u64,
}

/// Decodes a state file's bytes (magic, version, body, checksum); never panics on hostile bytes.
pub fn decode_state(bytes: &[u8]) -> Result<AuditState, AuditError> {
    Ok(codec::decode(bytes)?)
}

/// Decodes a state file's magic, version and body without the trailing checksum, so fuzzers reach
/// the field checks; never panics on hostile bytes.
pub fn decode_state_unchecked(bytes: &[u8]) -> Result<AuditState, AuditError> {
    Ok(codec::decode_body(bytes)?)
}

/// A check's verdict that the release may go out: what [`Auditor::commit`] will record. Valid only
/// for the auditor and state it was computed on.
#[derive(Debug)]
pub struct Approval {
    auditor: u64,
    generation: u64,
    plans: Vec<Plan>,
}

impl Approval {
    /// The datasets this approval covers.
    pub fn datasets(&self) -> impl Iterator<Item = &str> {
        self.plans.iter().map(|p| p.dataset.as_str())
    }
}

static NEXT_AUDITOR: AtomicU64 = AtomicU64::new(1);

/// Durable per-trustee audit state over all datasets, with the check and commit operations.
#[derive(Debug)]
pub struct Auditor {
    path: Option<PathBuf>,
    state: AuditState,
    id: u64,
    generation: u64,
    poisoned: bool,
}

impl Auditor {
    /// Opens the state file at `path` (a missing file is the empty state).
    pub fn open(path: &Path) -> Result<Auditor, AuditError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => decode_state(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AuditState::default(),
            Err(e) => {
                return Err(AuditError::Io {
                    path: path.to_owned(),
                    source: e,
                })
            }
        };
        Ok(Auditor::with_state(Some(path.to_owned()), state))
    }

    /// An auditor that keeps its state in memory only (tests, benchmarks, dry runs): a process
    /// restart forgets every release, so never use it to guard real releases.
    pub fn in_memory() -> Auditor {
        Auditor::with_state(None, AuditState::default())
    }

    fn with_state(path: Option<PathBuf>, state: AuditState) -> Auditor {
        Auditor {
            path,
            state,
            id: NEXT_AUDITOR.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            poisoned: false,
        }
    }

    /// The remembered state.
    pub fn state(&self) -> &AuditState {
        &self.state
    }

    /// Checks one release on one dataset: `groups` holds one row set per released group.
    /// Changes nothing.
    pub fn check(&self, dataset: &str, groups: &[RowSet], k: u64) -> Result<Approval, CheckError> {
        self.check_many(&[(dataset, groups)], k)
    }

    /// Checks one release touching several base datasets (a join: one row set per group per
    /// dataset); approves only if every dataset passes. Entries naming the same dataset are
    /// audited together. Changes nothing.
    pub fn check_many(&self, items: &[(&str, &[RowSet])], k: u64) -> Result<Approval, CheckError> {
        if self.poisoned {
            return Err(CheckError::Poisoned);
        }
        let mut by_dataset: BTreeMap<&str, Vec<&RowSet>> = BTreeMap::new();
        for (name, groups) in items {
            if name.is_empty() || name.len() > MAX_NAME {
                return Err(InputError::BadDatasetName.into());
            }
            by_dataset.entry(name).or_default().extend(groups.iter());
        }
        let mut budget = MAX_STATE_ROWS.saturating_sub(self.state.total_rows());
        let empty = DatasetState::new();
        let mut plans = Vec::with_capacity(by_dataset.len());
        for (name, groups) in by_dataset {
            let st = self.state.datasets.get(name).unwrap_or(&empty);
            match dataset::plan(st, name, &groups, k, &mut budget)? {
                Planned::Safe(plan) => plans.push(plan),
                Planned::Exposes(named) => {
                    return Err(CheckError::Refused(Refusal {
                        dataset: name.to_owned(),
                        combines_with: named
                            .iter()
                            .filter_map(|&i| self.state.releases.get(i as usize).cloned())
                            .collect(),
                        k,
                    }))
                }
            }
        }
        Ok(Approval {
            auditor: self.id,
            generation: self.generation,
            plans,
        })
    }

    /// Records an approved release under `release_id`; when it returns Ok the record is on disk
    /// (temporary file, fsync, rename, directory fsync), and only then may the release go out.
    /// If saving fails the auditor refuses everything until reopened from its file.
    pub fn commit(&mut self, approval: Approval, release_id: &str) -> Result<(), AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned);
        }
        if approval.auditor != self.id {
            return Err(AuditError::ForeignApproval);
        }
        if approval.generation != self.generation {
            return Err(AuditError::StaleApproval);
        }
        if release_id.is_empty() || release_id.len() > MAX_NAME {
            return Err(InputError::BadReleaseId.into());
        }
        let index = self.state.releases.len() as u32;
        self.state.releases.push(release_id.to_owned());
        for plan in approval.plans {
            let st = self.state.datasets.entry(plan.dataset.clone()).or_default();
            dataset::apply(st, plan, index);
        }
        self.generation += 1;
        if let Some(path) = &self.path {
            if let Err(e) = write_durably(path, &codec::encode(&self.state)) {
                // Memory now holds a release the file lacks: stop until reopened.
                self.poisoned = true;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` crash-safely: temporary file, fsync, rename, directory fsync.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| AuditError::Io { path: p, source }
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}
