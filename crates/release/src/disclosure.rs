//! The trustee's stateful half of the release rules: which disclosure mode each dataset is
//! under, the durable record of what was already released (audit mode) and of the ε spent
//! (dp mode). Every trustee keeps its own, in its own directory, and decides by itself.
//!
//! There is no third mode: a release is either audited (exact) or noised (dp).

use crate::audit::{Approval, Auditor, CheckError};
use crate::rules::ReleaseRequest;
use crate::Refusal;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File holding the trustee's policy settings.
pub const POLICY_FILE: &str = "policy.toml";
/// Append-only log of ε spent, one `dataset<TAB>epsilon` line per charge.
pub const SPENT_FILE: &str = "dp_spent.log";
/// The audit state: every released row set, per dataset.
pub const AUDIT_FILE: &str = "disclosure.audit";
/// Held (an exclusive file lock) from a decision until it is recorded, so two processes of
/// one trustee cannot both pass a check that only one of them may pass.
pub const LOCK_FILE: &str = "disclosure.lock";

/// Why the disclosure state could not be read or written (no share is given then).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DisclosureError {
    /// A file of the trustee's policy or records.
    #[error("{path}: {reason}; no share was given")]
    File {
        /// The file.
        path: String,
        /// What went wrong (names the line or field).
        reason: String,
    },
    /// The audit state.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

fn file_err(path: &Path, reason: impl ToString) -> DisclosureError {
    DisclosureError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// How a dataset's aggregates are released.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Exact results; a release that would make fewer than k rows derivable is refused.
    Audit,
    /// Every release noised by the trustees; ε charged to each base dataset.
    Dp {
        /// Total ε each dataset may spend.
        budget: f64,
        /// ε of a query that names none.
        default_epsilon: f64,
    },
}

impl Mode {
    /// `dp` mode from `--dp-budget` and `--dp-epsilon` (default: a tenth of the budget).
    pub fn dp(budget: f64, epsilon: Option<f64>) -> Result<Mode, Refusal> {
        for e in [Some(budget), epsilon].into_iter().flatten() {
            if !(e.is_finite() && e > 0.0) {
                return Err(Refusal::BadEpsilon { epsilon: e });
            }
        }
        Ok(Mode::Dp {
            budget,
            default_epsilon: epsilon.unwrap_or(budget / 10.0),
        })
    }

    /// Words for the ledger and the README: `audit` or `dp (budget 2, 0.2 per query)`.
    pub fn describe(&self) -> String {
        match self {
            Mode::Audit => "audit (exact releases, differencing refused)".into(),
            Mode::Dp {
                budget,
                default_epsilon,
            } => format!(
                "dp (ε budget {budget} per dataset, ε {default_epsilon} per query by default)"
            ),
        }
    }
}

/// A trustee's own policy (its `policy.toml`): the deployment's, or stricter.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPolicy {
    /// Disclosure mode of every dataset.
    pub mode: Mode,
    /// A k larger than the deployment's, if this trustee wants one.
    pub min_group_size: Option<u32>,
    /// Whether identifier columns may filter or group a release.
    pub allow_key_filters: bool,
}

impl Default for LocalPolicy {
    /// Audit mode, the deployment's k, no identifier filters.
    fn default() -> Self {
        LocalPolicy {
            mode: Mode::Audit,
            min_group_size: None,
            allow_key_filters: false,
        }
    }
}

impl LocalPolicy {
    /// The file's text.
    pub fn to_toml(&self) -> String {
        let mut text = String::from("# This trustee's release policy.\n");
        match self.mode {
            Mode::Audit => text.push_str(
                "disclosure = \"audit\"   # exact releases; differencing that exposes fewer than k rows is refused\n",
            ),
            Mode::Dp {
                budget,
                default_epsilon,
            } => {
                text.push_str("disclosure = \"dp\"      # every release noised\n");
                text.push_str(&format!(
                    "dp_budget = {budget:?}   # ε each dataset may spend in total\n"
                ));
                text.push_str(&format!(
                    "dp_epsilon = {default_epsilon:?}   # ε of a query that names none\n"
                ));
            }
        }
        if let Some(k) = self.min_group_size {
            text.push_str(&format!("min_group_size = {k}\n"));
        }
        if self.allow_key_filters {
            text.push_str("allow_key_filters = true\n");
        }
        text
    }

    /// Parse the file's text; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str, path: &Path) -> Result<LocalPolicy, DisclosureError> {
        let table: toml::Table = text.parse().map_err(|e| file_err(path, e))?;
        let number = |key: &str| -> Result<Option<f64>, DisclosureError> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::Float(f)) => Ok(Some(*f)),
                Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
                Some(_) => Err(file_err(path, format!("{key} must be a number"))),
            }
        };
        for key in table.keys() {
            if ![
                "disclosure",
                "dp_budget",
                "dp_epsilon",
                "min_group_size",
                "allow_key_filters",
            ]
            .contains(&key.as_str())
            {
                return Err(file_err(path, format!("unknown key `{key}`")));
            }
        }
        let budget = number("dp_budget")?;
        let epsilon = number("dp_epsilon")?;
        let mode = match (table.get("disclosure"), budget) {
            (Some(toml::Value::String(s)), None) if s == "audit" => Mode::Audit,
            // A budget alone (files written before the modes existed) means dp.
            (Some(toml::Value::String(s)), Some(b)) if s == "dp" => {
                Mode::dp(b, epsilon).map_err(|e| file_err(path, e))?
            }
            (None, Some(b)) => Mode::dp(b, epsilon).map_err(|e| file_err(path, e))?,
            (None, None) => Mode::Audit,
            (Some(toml::Value::String(s)), _) if s == "dp" => {
                return Err(file_err(path, "disclosure = \"dp\" needs dp_budget"))
            }
            (Some(toml::Value::String(s)), _) if s == "audit" => {
                return Err(file_err(
                    path,
                    "dp_budget applies only to disclosure = \"dp\"",
                ))
            }
            (Some(_), _) => return Err(file_err(path, "disclosure must be \"audit\" or \"dp\"")),
        };
        let min_group_size = match table.get("min_group_size") {
            None => None,
            Some(toml::Value::Integer(k)) if *k >= 1 && *k <= i64::from(u32::MAX) => {
                Some(*k as u32)
            }
            Some(_) => return Err(file_err(path, "min_group_size must be a positive integer")),
        };
        let allow_key_filters = match table.get("allow_key_filters") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(file_err(path, "allow_key_filters must be true or false")),
        };
        Ok(LocalPolicy {
            mode,
            min_group_size,
            allow_key_filters,
        })
    }
}

/// What a release will be, once every rule passed: exact (audited) or noised. Holds the
/// trustee's disclosure lock until it is recorded or dropped.
#[derive(Debug)]
pub struct Decision {
    /// Total ε of the noise the trustees add, or `None` for an exact release.
    pub epsilon: Option<f64>,
    /// Base datasets charged ε.
    charge: Vec<String>,
    /// The audit's approval of the exact row sets, to record before any share.
    approval: Option<(Auditor, Approval)>,
    _lock: fs::File,
}

/// A trustee's disclosure state in its directory.
#[derive(Debug, Clone)]
pub struct Disclosure {
    dir: PathBuf,
    /// The trustee's own policy.
    pub policy: LocalPolicy,
}

impl Disclosure {
    /// Write a new trustee's policy file (refuses to overwrite one).
    pub fn create(dir: &Path, policy: &LocalPolicy) -> Result<Disclosure, DisclosureError> {
        let path = dir.join(POLICY_FILE);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| file_err(&path, e))?;
        f.write_all(policy.to_toml().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| file_err(&path, e))?;
        Ok(Disclosure {
            dir: dir.to_path_buf(),
            policy: policy.clone(),
        })
    }

    /// Read the trustee's policy (a missing file means the defaults: audit mode).
    pub fn open(dir: &Path) -> Result<Disclosure, DisclosureError> {
        let path = dir.join(POLICY_FILE);
        let policy = match fs::read_to_string(&path) {
            Ok(text) => LocalPolicy::from_toml(&text, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LocalPolicy::default(),
            Err(e) => return Err(file_err(&path, e)),
        };
        Ok(Disclosure {
            dir: dir.to_path_buf(),
            policy,
        })
    }

    /// ε already spent on `dataset`, from the local log.
    pub fn spent(&self, dataset: &str) -> Result<f64, DisclosureError> {
        let path = self.dir.join(SPENT_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0.0),
            Err(e) => return Err(file_err(&path, e)),
        };
        let mut total = 0.0;
        for (i, line) in text.lines().enumerate() {
            let mut fields = line.split('\t');
            let (Some(d), Some(e), None) = (fields.next(), fields.next(), fields.next()) else {
                return Err(file_err(&path, format!("line {} is malformed", i + 1)));
            };
            let e = e
                .parse::<f64>()
                .ok()
                .filter(|e| e.is_finite() && *e >= 0.0)
                .ok_or_else(|| file_err(&path, format!("line {} has a bad ε", i + 1)))?;
            if d.eq_ignore_ascii_case(dataset) {
                total += e;
            }
        }
        Ok(total)
    }

    /// The ε of the noise this trustee adds to `request`: the analyst's, or in dp mode the
    /// policy's default; `None` for an exact release.
    pub fn epsilon_for(&self, request: &ReleaseRequest) -> Option<f64> {
        match self.policy.mode {
            Mode::Dp {
                default_epsilon, ..
            } if !request.rows.is_empty() => Some(request.epsilon.unwrap_or(default_epsilon)),
            _ => request.epsilon,
        }
    }

    /// Decide how `request` may be released under this trustee's policy and records, or
    /// refuse. Changes nothing: [`Disclosure::record`] makes the decision durable.
    ///
    /// dp mode: ε is the analyst's or the policy's default, charged to every base dataset
    /// (a join pays on both; a self-join once) within the budget. audit mode: every base
    /// dataset's row sets must pass the audit, also when the analyst asked for noise (a
    /// noised release is audited as if exact); the ε asked for is logged, without a cap.
    pub fn decide(&self, request: &ReleaseRequest, k: u32) -> Result<Decision, Refusal> {
        let lock = self.lock().map_err(|e| Refusal::Policy {
            reason: e.to_string(),
        })?;
        let mut epsilon = request.epsilon;
        if let Some(e) = epsilon {
            if !(e.is_finite() && e > 0.0) {
                return Err(Refusal::BadEpsilon { epsilon: e });
            }
        }
        let mut charge: Vec<String> = Vec::new();
        let mut audited = Vec::new();
        for d in &request.rows {
            match self.policy.mode {
                Mode::Audit => audited.push((d.dataset.as_str(), d.groups.as_slice())),
                Mode::Dp {
                    default_epsilon, ..
                } => {
                    epsilon.get_or_insert(default_epsilon);
                }
            }
            // Noise asked for in audit mode is logged too (no cap applies there).
            if !charge.iter().any(|c| c.eq_ignore_ascii_case(&d.dataset)) {
                charge.push(d.dataset.clone());
            }
        }
        if epsilon.is_none() {
            charge.clear();
        }
        if let (Mode::Dp { budget, .. }, Some(asked)) = (self.policy.mode, epsilon) {
            for dataset in &charge {
                let spent = self.spent(dataset).map_err(|e| Refusal::Policy {
                    reason: e.to_string(),
                })?;
                if spent + asked > budget + 1e-12 {
                    return Err(Refusal::BudgetExhausted {
                        dataset: dataset.clone(),
                        spent,
                        cap: budget,
                        asked,
                    });
                }
            }
        }
        let approval = if audited.is_empty() {
            None
        } else {
            let auditor =
                Auditor::open(&self.dir.join(AUDIT_FILE)).map_err(|e| Refusal::Policy {
                    reason: format!("the trustee's audit record cannot be read: {e}"),
                })?;
            let approval = auditor
                .check_many(&audited, u64::from(k))
                .map_err(|e| match e {
                    CheckError::Refused(r) => Refusal::WouldDisclose {
                        dataset: r.dataset,
                        combines_with: r.combines_with,
                        k,
                    },
                    other => Refusal::Policy {
                        reason: format!("the disclosure audit cannot check this release: {other}"),
                    },
                })?;
            Some((auditor, approval))
        };
        Ok(Decision {
            epsilon,
            charge,
            approval,
            _lock: lock,
        })
    }

    fn lock(&self) -> Result<fs::File, DisclosureError> {
        let path = self.dir.join(LOCK_FILE);
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| file_err(&path, e))?;
        f.lock().map_err(|e| file_err(&path, e))?;
        Ok(f)
    }

    /// Make a decision durable before any share is given: the ε charged (one fsync'd
    /// append for every dataset) and the audited row sets.
    pub fn record(&self, decision: Decision, release_id: &str) -> Result<(), DisclosureError> {
        if let (Some(e), false) = (decision.epsilon, decision.charge.is_empty()) {
            let path = self.dir.join(SPENT_FILE);
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|err| file_err(&path, err))?;
            let lines: String = decision
                .charge
                .iter()
                .map(|d| format!("{d}\t{e:?}\n"))
                .collect();
            f.write_all(lines.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|err| file_err(&path, err))?;
        }
        if let Some((mut auditor, approval)) = decision.approval {
            auditor.commit(approval, release_id)?;
        }
        Ok(())
    }
}
