//! Disclosure audit (exact mode): refuses a release that, with everything already released on
//! a dataset, would make the total of fewer than k rows derivable.
//!
//! TEMPORARY INTERFACE STUB (replaced by the real auditor).
#![allow(missing_docs, dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkKey {
    pub source: String,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkRows {
    All { rows: u32 },
    Some { rows: u32, selected: Vec<u32> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowSet {
    pub chunks: BTreeMap<ChunkKey, ChunkRows>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit state")]
pub struct AuditError;

#[derive(Debug)]
pub struct Approval;

#[derive(Debug, Clone)]
pub struct Refusal {
    pub dataset: String,
    pub combines_with: Vec<String>,
    pub k: u64,
}

#[derive(Debug)]
pub struct Auditor;

impl Auditor {
    pub fn open(_path: &Path) -> Result<Auditor, AuditError> {
        Ok(Auditor)
    }
    pub fn check_many(&self, _d: &[(&str, &[RowSet])], _k: u64) -> Result<Approval, Refusal> {
        Ok(Approval)
    }
    pub fn commit(&mut self, _a: Approval, _id: &str) -> Result<(), AuditError> {
        Ok(())
    }
}
