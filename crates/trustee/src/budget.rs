//! The trustee's own differential-privacy budget: a per-dataset ε cap from its `policy.toml`
//! and an append-only local log of every ε it agreed to spend. Each trustee enforces the cap
//! by itself, so the platform cannot overspend by asking only some trustees.

use crate::TrusteeError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File holding the trustee's policy settings.
pub const POLICY_FILE: &str = "policy.toml";
/// Append-only log of ε spent, one `dataset<TAB>epsilon` line per approved DP query.
pub const SPENT_FILE: &str = "dp_spent.log";

/// The trustee's DP settings and log.
#[derive(Debug, Clone)]
pub struct Budget {
    dir: PathBuf,
    /// Per-dataset ε cap, if the deployment set one.
    pub cap: Option<f64>,
}

fn err(path: &Path, reason: impl ToString) -> TrusteeError {
    TrusteeError::KeyStore {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl Budget {
    /// Write the policy file of a new trustee.
    pub fn create(dir: &Path, cap: Option<f64>) -> Result<(), TrusteeError> {
        let path = dir.join(POLICY_FILE);
        let mut text = String::from("# This trustee's release policy.\n");
        if let Some(c) = cap {
            if !(c.is_finite() && c > 0.0) {
                return Err(err(
                    &path,
                    format!("the DP budget must be a positive number, got {c}"),
                ));
            }
            text.push_str(&format!(
                "dp_budget = {c:?}   # ε each dataset may spend in total\n"
            ));
        }
        fs::write(&path, text).map_err(|e| err(&path, e))
    }

    /// Read the policy file (a missing file means no cap).
    pub fn open(dir: &Path) -> Result<Budget, TrusteeError> {
        let path = dir.join(POLICY_FILE);
        let cap = match fs::read_to_string(&path) {
            Ok(text) => {
                let table: toml::Table = text.parse().map_err(|e| err(&path, e))?;
                match table.get("dp_budget") {
                    None => None,
                    Some(toml::Value::Float(f)) => Some(*f),
                    Some(toml::Value::Integer(i)) => Some(*i as f64),
                    Some(_) => return Err(err(&path, "dp_budget must be a number")),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(&path, e)),
        };
        Ok(Budget {
            dir: dir.to_path_buf(),
            cap,
        })
    }

    /// ε already spent on `dataset`, from the local log.
    pub fn spent(&self, dataset: &str) -> Result<f64, TrusteeError> {
        let path = self.dir.join(SPENT_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0.0),
            Err(e) => return Err(err(&path, e)),
        };
        let mut total = 0.0;
        for (i, line) in text.lines().enumerate() {
            let mut fields = line.split('\t');
            let (Some(d), Some(e)) = (fields.next(), fields.next()) else {
                return Err(err(&path, format!("line {} is malformed", i + 1)));
            };
            if d == dataset {
                total += e
                    .parse::<f64>()
                    .map_err(|_| err(&path, format!("line {} has a bad ε", i + 1)))?;
            }
        }
        Ok(total)
    }

    /// Record `epsilon` against `dataset` if the cap allows it (durably, before any share
    /// is computed); otherwise refuse with the figures.
    pub fn spend(&self, dataset: &str, epsilon: f64) -> Result<(), String> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(format!("epsilon must be a positive number, got {epsilon}"));
        }
        let spent = self.spent(dataset).map_err(|e| e.to_string())?;
        if let Some(cap) = self.cap {
            if spent + epsilon > cap + 1e-12 {
                return Err(format!(
                    "the differential-privacy budget of dataset `{dataset}` is exhausted: {spent} of {cap} spent, this query asks for {epsilon}"
                ));
            }
        }
        let path = self.dir.join(SPENT_FILE);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| e.to_string())?;
        writeln!(f, "{dataset}\t{epsilon:?}")
            .and_then(|_| f.sync_all())
            .map_err(|e| e.to_string())
    }
}
