//! Why a release is refused: one typed reason per rule, each carrying its facts. Every path
//! maps a [`Refusal`] to exit code 4 (CLI) and to the one `refused` HTTP problem type.
//!
//! No variant carries a decrypted value, a row's value or the exact size of a group below k.

/// A release rule that does not hold; nothing was decrypted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// An output group has fewer than k rows.
    #[error("group {group} has fewer than k = {k} rows; the whole query is refused")]
    GroupTooSmall {
        /// The group's key, e.g. `type = 'H'`.
        group: String,
        /// The deployment's (or this trustee's stricter) k.
        k: u32,
    },
    /// A sum could leave the plaintext range and wrap around.
    #[error(
        "{what} over {rows} rows could reach {total} in fixed point, beyond the plaintext bound \
         t/2 = {limit}; narrow the declared ranges or scales, or split the query"
    )]
    Overflow {
        /// Which sum.
        what: String,
        /// Rows summed.
        rows: u64,
        /// Worst-case total from the declared ranges.
        total: u128,
        /// t/2.
        limit: u128,
    },
    /// The ciphertext noise is too large for the flooding to hide.
    #[error(
        "{what}: ciphertext noise up to 2^{noise_bits} exceeds what flooding hides at these \
         parameters (2^{allowed}); use preset bfv-16384 or fewer chunks per group"
    )]
    Noise {
        /// Which sum.
        what: String,
        /// Estimated noise, in bits.
        noise_bits: u32,
        /// Largest noise the release hides, in bits.
        allowed: u32,
    },
    /// The ciphertext is not of the shape a release takes.
    #[error("{what}: {problem}")]
    Malformed {
        /// Which sum.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The query filters or groups on an identifier column.
    #[error(
        "column `{column}` identifies rows (role = \"key\"): it joins datasets and finds a \
         product's thread, but may not filter or group a released aggregate (the trustees' \
         policy does not allow it)"
    )]
    KeyColumn {
        /// The identifier column.
        column: String,
    },
    /// Together with earlier releases, this one would make a small set of rows derivable.
    #[error(
        "together with earlier release{} {} of dataset `{dataset}`, this release would let \
         anyone derive the total of fewer than k = {k} rows by subtraction",
        if combines_with.len() == 1 { "" } else { "s" },
        combines_with.join(", ")
    )]
    WouldDisclose {
        /// The base dataset whose rows would be exposed.
        dataset: String,
        /// Earlier releases (ids) it would combine with.
        combines_with: Vec<String>,
        /// The k in force.
        k: u32,
    },
    /// The dataset's differential-privacy budget cannot pay for this query.
    #[error(
        "the differential-privacy budget of dataset `{dataset}` is exhausted: {spent} of \
         {cap} spent, this query asks for {asked}"
    )]
    BudgetExhausted {
        /// Base dataset charged.
        dataset: String,
        /// ε already spent.
        spent: f64,
        /// The cap.
        cap: f64,
        /// ε this query asks for.
        asked: f64,
    },
    /// ε is not a positive finite number.
    #[error("epsilon must be a positive number, got {epsilon}")]
    BadEpsilon {
        /// The value given.
        epsilon: f64,
    },
    /// Per-row results asked for by someone other than the rows' owner.
    #[error(
        "per-row results of rows owned by `{owner}` are only released to `{owner}`; this \
         request is for `{recipient}`"
    )]
    NotOwner {
        /// The source that owns the rows.
        owner: String,
        /// Who asked.
        recipient: String,
    },
    /// A per-row scoring request names a model no fit in the ledger produced.
    #[error("the model is not one fitted on released aggregates: {reason}")]
    UnfittedModel {
        /// What does not match.
        reason: String,
    },
    /// A refusal decided elsewhere in the pipeline (the planner, the analyst's grants, a
    /// trustee's local dataset list), carried with its reason.
    #[error("{reason}")]
    Policy {
        /// The rule and what broke it.
        reason: String,
    },
}
