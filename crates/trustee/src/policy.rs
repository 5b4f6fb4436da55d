//! The release rules every trustee enforces on its own, before giving any share.

use dtfhe_crypto::release::max_noise_bits;
use dtfhe_crypto::Params;
use fhe::bfv::Ciphertext;

/// Deployment-wide policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// k: smallest number of rows a released group may have.
    pub min_group_size: u32,
    /// Number of trustees (all must answer: n-of-n).
    pub trustees: usize,
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
    /// What the sum is, e.g. `Σ V(torque)·V(rpm)`.
    pub what: String,
    /// Largest |term| one row can contribute (from the declared ranges).
    pub per_row_bound: u128,
    /// Worst-case noise of the ciphertext, in bits.
    pub noise_bits: u32,
    /// The sum ciphertext.
    pub ciphertext: Ciphertext,
}

/// Everything a trustee is asked to approve at once: all sums of one query.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// Dataset queried.
    pub dataset: String,
    /// The SQL, for the record.
    pub query: String,
    /// Output groups.
    pub groups: Vec<GroupFacts>,
    /// Sums to release.
    pub items: Vec<ReleaseItem>,
    /// Differential privacy: total ε this query spends on the dataset (split evenly over the
    /// released sums), or `None` for exact results.
    pub epsilon: Option<f64>,
}

/// k-minimum: every output group has at least k rows. The message names the group but not
/// its exact size below k.
pub fn check_groups(policy: &Policy, groups: &[GroupFacts]) -> Result<(), String> {
    for g in groups {
        if g.rows < policy.min_group_size as u64 {
            return Err(format!(
                "group {} has fewer than k = {} rows; the whole query is refused",
                g.label, policy.min_group_size
            ));
        }
    }
    Ok(())
}

/// Overflow and noise rules for one sum of `rows` rows at ciphertext `level`.
pub fn check_sum(
    params: &Params,
    policy: &Policy,
    what: &str,
    rows: u64,
    per_row_bound: u128,
    noise_bits: u32,
    level: usize,
) -> Result<(), String> {
    let total = per_row_bound.saturating_mul(rows as u128);
    if total > params.max_abs_total() {
        return Err(format!(
            "{what} over {rows} rows could reach {total} in fixed point, beyond the plaintext bound t/2 = {}; narrow the declared ranges or scales, or split the query",
            params.max_abs_total()
        ));
    }
    let allowed = max_noise_bits(params, level, policy.trustees);
    if noise_bits > allowed {
        return Err(format!(
            "{what}: ciphertext noise up to 2^{noise_bits} exceeds what flooding hides at these parameters (2^{allowed}); use preset bfv-16384 or fewer chunks per group"
        ));
    }
    Ok(())
}

/// All rules for a full request.
pub fn check_request(
    params: &Params,
    policy: &Policy,
    request: &ReleaseRequest,
) -> Result<(), String> {
    check_groups(policy, &request.groups)?;
    for item in &request.items {
        let group = request
            .groups
            .get(item.group)
            .ok_or_else(|| format!("{}: refers to no group", item.what))?;
        if item.ciphertext.len() != 2 {
            return Err(format!(
                "{}: not a relinearised 2-part ciphertext",
                item.what
            ));
        }
        let level = params
            .bfv
            .level_of_context(item.ciphertext[0].ctx())
            .map_err(|e| e.to_string())?;
        check_sum(
            params,
            policy,
            &item.what,
            group.rows,
            item.per_row_bound,
            item.noise_bits,
            level,
        )?;
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
    /// Who receives the rows.
    pub recipient: String,
    /// What is computed (for the record), e.g. the model.
    pub purpose: String,
    /// Chunks.
    pub items: Vec<RowReleaseItem>,
}

/// Per-row results go only to the source that owns the rows, and the noise must be hidden.
pub fn check_row_request(
    params: &Params,
    policy: &Policy,
    request: &RowReleaseRequest,
) -> Result<(), String> {
    for item in &request.items {
        if item.chunk_source != request.recipient {
            return Err(format!(
                "per-row results of rows owned by `{}` are only released to `{}`; this request is for `{}`",
                item.chunk_source, item.chunk_source, request.recipient
            ));
        }
        if item.ciphertext.len() != 2 {
            return Err("not a 2-part ciphertext".into());
        }
        let level = params
            .bfv
            .level_of_context(item.ciphertext[0].ctx())
            .map_err(|e| e.to_string())?;
        let allowed = max_noise_bits(params, level, policy.trustees);
        if item.noise_bits > allowed {
            return Err(format!(
                "per-row results: noise 2^{} exceeds what flooding hides (2^{allowed})",
                item.noise_bits
            ));
        }
    }
    Ok(())
}
