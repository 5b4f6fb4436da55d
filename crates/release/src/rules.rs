//! The stateless release rules every trustee enforces on its own facts before any share (and
//! the platform and the embedded query check first, to fail fast): k rows per group, no
//! identifier filters, no overflow, noise the flooding hides, ciphertexts of the right shape.

use crate::audit::RowSet;
use crate::Refusal;
use dtfhe_crypto::release::max_noise_bits;
use dtfhe_crypto::Params;
use fhe::bfv::Ciphertext;

/// Deployment-wide rules, with this trustee's stricter settings applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// k: smallest number of rows a released group (and a derivable set of rows) may have.
    pub min_group_size: u32,
    /// Number of trustees (all must answer: n-of-n).
    pub trustees: usize,
    /// Whether identifier columns (`role = "key"`) may filter or group a release.
    pub allow_key_filters: bool,
}

/// Clear facts about one output group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFacts {
    /// Human-readable group key, e.g. `type = 'H'` or `(all rows)`.
    pub label: String,
    /// Rows in the group (clear metadata).
    pub rows: u64,
}

/// One sum to release.
#[derive(Debug, Clone)]
pub struct ReleaseItem {
    /// Index into [`ReleaseRequest::groups`].
    pub group: usize,
    /// What the sum is, e.g. `Σ V(torque)·V(rpm) for group type = 'H'`.
    pub what: String,
    /// Largest |term| one row can contribute (from the declared ranges).
    pub per_row_bound: u128,
    /// Worst-case noise of the ciphertext, in bits.
    pub noise_bits: u32,
    /// The sum ciphertext.
    pub ciphertext: Ciphertext,
}

/// The rows one release covers in one stored dataset: one row set per output group.
#[derive(Debug, Clone)]
pub struct DatasetRows {
    /// The base dataset.
    pub dataset: String,
    /// Per output group (same order as [`ReleaseRequest::groups`]).
    pub groups: Vec<RowSet>,
}

/// Everything a trustee is asked to approve at once: all sums of one query.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// Who names this release in refusals and in the audit record (the ledger entry of the
    /// request, or the platform's query id).
    pub release_id: String,
    /// Dataset queried (for a join, the combined name).
    pub dataset: String,
    /// The SQL, for the record.
    pub query: String,
    /// Output groups.
    pub groups: Vec<GroupFacts>,
    /// Sums to release.
    pub items: Vec<ReleaseItem>,
    /// The rows each group covers, per base dataset (what the audit keeps and the DP budget
    /// is charged to).
    pub rows: Vec<DatasetRows>,
    /// Identifier columns the WHERE / GROUP BY reads.
    pub key_columns: Vec<String>,
    /// Differential privacy asked for by the analyst: total ε over the released sums.
    /// Under a dataset in dp mode the policy's default applies when this is `None`.
    pub epsilon: Option<f64>,
}

/// k-minimum: every output group has at least k rows. The message names the group but not
/// its exact size below k.
pub fn check_groups(policy: &Policy, groups: &[GroupFacts]) -> Result<(), Refusal> {
    match groups
        .iter()
        .find(|g| g.rows < u64::from(policy.min_group_size))
    {
        Some(g) => Err(Refusal::GroupTooSmall {
            group: g.label.clone(),
            k: policy.min_group_size,
        }),
        None => Ok(()),
    }
}

/// Identifier columns may not filter or group a release unless the policy allows it.
pub fn check_key_columns(policy: &Policy, key_columns: &[String]) -> Result<(), Refusal> {
    match key_columns.first() {
        Some(c) if !policy.allow_key_filters => Err(Refusal::KeyColumn { column: c.clone() }),
        _ => Ok(()),
    }
}

/// The overflow rule for one sum of `rows` rows: |total| < t/2 from the declared ranges.
pub fn check_overflow(
    params: &Params,
    what: &str,
    rows: u64,
    per_row_bound: u128,
) -> Result<(), Refusal> {
    let total = per_row_bound.saturating_mul(u128::from(rows));
    if total > params.max_abs_total() {
        return Err(Refusal::Overflow {
            what: what.to_string(),
            rows,
            total,
            limit: params.max_abs_total(),
        });
    }
    Ok(())
}

/// The noise rule: the ciphertext's noise is at most what the flooding hides at its level.
pub fn check_noise(
    params: &Params,
    policy: &Policy,
    what: &str,
    ciphertext: &Ciphertext,
    noise_bits: u32,
) -> Result<(), Refusal> {
    if ciphertext.len() != 2 {
        return Err(Refusal::Malformed {
            what: what.to_string(),
            problem: "not a relinearised 2-part ciphertext".into(),
        });
    }
    let level = params
        .bfv
        .level_of_context(ciphertext[0].ctx())
        .map_err(|e| Refusal::Malformed {
            what: what.to_string(),
            problem: format!("unknown ciphertext level: {e}"),
        })?;
    let allowed = max_noise_bits(params, level, policy.trustees);
    if noise_bits > allowed {
        return Err(Refusal::Noise {
            what: what.to_string(),
            noise_bits,
            allowed,
        });
    }
    Ok(())
}

/// Every stateless rule for a full request (the audit and the DP budget come after, in
/// [`crate::Disclosure`]).
pub fn check_request(
    params: &Params,
    policy: &Policy,
    request: &ReleaseRequest,
) -> Result<(), Refusal> {
    check_key_columns(policy, &request.key_columns)?;
    check_groups(policy, &request.groups)?;
    for item in &request.items {
        let group = request
            .groups
            .get(item.group)
            .ok_or_else(|| Refusal::Malformed {
                what: item.what.clone(),
                problem: "refers to no group".into(),
            })?;
        check_overflow(params, &item.what, group.rows, item.per_row_bound)?;
        check_noise(
            params,
            policy,
            &item.what,
            &item.ciphertext,
            item.noise_bits,
        )?;
    }
    for d in &request.rows {
        if d.groups.len() != request.groups.len() {
            return Err(Refusal::Malformed {
                what: format!("rows of dataset `{}`", d.dataset),
                problem: format!(
                    "{} row sets for {} groups",
                    d.groups.len(),
                    request.groups.len()
                ),
            });
        }
    }
    Ok(())
}

/// One chunk's per-row results to release to their owner.
#[derive(Debug, Clone)]
pub struct RowReleaseItem {
    /// The source (owner) of the chunk's rows, from the store's chunk record.
    pub chunk_source: String,
    /// Worst-case noise of the ciphertext, in bits.
    pub noise_bits: u32,
    /// The per-row results (e.g. predictions), one slot per row.
    pub ciphertext: Ciphertext,
}

/// A request to release per-row results: allowed only to the owner of every row involved.
#[derive(Debug, Clone)]
pub struct RowReleaseRequest {
    /// Dataset.
    pub dataset: String,
    /// Who receives the rows: an authenticated identity (the signed request's analyst, or
    /// the source whose key signed its chunks), never a free-text argument.
    pub recipient: String,
    /// What is computed (for the record), e.g. the model and its fit's ledger entry.
    pub purpose: String,
    /// Chunks.
    pub items: Vec<RowReleaseItem>,
}

impl RowReleaseRequest {
    /// The request for scored chunks ([`dtfhe_engine::exec::score_chunks`]): one item per
    /// chunk, with its source and noise bound.
    pub fn of_scores(
        dataset: &str,
        recipient: &str,
        purpose: String,
        scored: &[dtfhe_engine::exec::ScoredChunk],
    ) -> RowReleaseRequest {
        RowReleaseRequest {
            dataset: dataset.to_string(),
            recipient: recipient.to_string(),
            purpose,
            items: scored
                .iter()
                .map(|s| RowReleaseItem {
                    chunk_source: s.chunk.source.clone(),
                    noise_bits: s.noise.0,
                    ciphertext: s.ciphertext.clone(),
                })
                .collect(),
        }
    }
}

/// Per-row results go only to the source that owns the rows, and the noise must be hidden.
pub fn check_row_request(
    params: &Params,
    policy: &Policy,
    request: &RowReleaseRequest,
) -> Result<(), Refusal> {
    for item in &request.items {
        if item.chunk_source != request.recipient {
            return Err(Refusal::NotOwner {
                owner: item.chunk_source.clone(),
                recipient: request.recipient.clone(),
            });
        }
        check_noise(
            params,
            policy,
            "per-row results",
            &item.ciphertext,
            item.noise_bits,
        )?;
    }
    Ok(())
}
