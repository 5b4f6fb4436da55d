//! What a released query gives its analyst, embedded or networked: the one result type of
//! both deployments' query paths.

use dtfhe_engine::ResultSet;
use dtfhe_model::Value;

/// A released query result with its timings.
#[derive(Debug, Clone)]
pub struct QueryReport {
    /// The result table.
    pub result: ResultSet,
    /// Seconds computing on ciphertexts (engine).
    pub compute_seconds: f64,
    /// Seconds for the trustees' review, shares and combination.
    pub release_seconds: f64,
    /// Number of ciphertexts released.
    pub released_ciphertexts: usize,
    /// ε of the trustees' noise, or `None` for an exact (audited) release.
    pub epsilon: Option<f64>,
    /// Each released group's key (GROUP BY values) and its number of rows (public metadata,
    /// the group sizes the trustees checked against k), in selection order; shown next to
    /// released numbers (the dashboard's release facts).
    pub group_rows: Vec<(Vec<Value>, u64)>,
    /// Each trustee whose shares were combined, with when its approval was recorded (Unix
    /// seconds): in-process when the embedded deployment ran it, on the platform when it
    /// received the answer (networked). Shown next to released numbers.
    pub approvals: Vec<(String, u64)>,
}
