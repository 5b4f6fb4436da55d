//! Reports: a ready-made view's released results rendered to HTML, stored sealed at rest
//! (XChaCha20-Poly1305 under the dashboard's own key, `report.key` in its state directory,
//! mode 0600, checksummed envelope), listed with the ledger entries of the releases they
//! show. A report is built only from released results ([`crate::backend::Released`]), so it
//! never holds a value that was not released.
//!
//! File format (`reports/<id>.report`, one per report, never rewritten):
//!
//! ```text
//! format version (1) | nonce (24) | XChaCha20-Poly1305(JSON of Report) with its tag (16)
//! ```
//!
//! with associated data `"dtfhe dashboard report v1" ‖ 0 ‖ id`, so a file renamed to
//! another report's id does not open.

use crate::error::DashboardError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The dashboard's report key file in its state directory.
pub const REPORT_KEY_FILE: &str = "report.key";
/// The directory of sealed reports in the state directory.
pub const REPORTS_DIR: &str = "reports";
/// Format version of a sealed report file.
pub const REPORT_FORMAT: u8 = 1;
const KEY_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Largest report file read.
const MAX_REPORT_BYTES: u64 = 16 << 20;

/// Why a report could not be sealed, stored or opened (names the report, never content).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The file is not a sealed report of a format this dashboard reads.
    #[error("report {id}: {reason}")]
    Format {
        /// The report id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The sealed bytes do not authenticate under this dashboard's key (changed, or sealed
    /// by another dashboard, or renamed).
    #[error(
        "report {id}: the sealed bytes do not authenticate (changed, or not this dashboard's)"
    )]
    Authentication {
        /// The report id.
        id: String,
    },
    /// No such report.
    #[error("no report {0}")]
    Missing(String),
    /// The key file or a report file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// The OS or envelope error.
        reason: String,
    },
}

impl From<ReportError> for DashboardError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::File { path, reason } => {
                DashboardError::Usage(format!("{path}: {reason}"))
            }
            other => DashboardError::Deployment(other.to_string()),
        }
    }
}

/// A rendered report (what is sealed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Random id (16 hex digits).
    pub id: String,
    /// Title.
    pub title: String,
    /// The view it renders.
    pub view: String,
    /// The first dataset the view reads (who may open the report, with
    /// [`Report::datasets`]).
    pub dataset: String,
    /// Every dataset the view reads; a user must see all of them to open the report.
    /// Empty in reports saved before views read several datasets ([`Report::dataset`] alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<String>,
    /// When it was made (unix seconds).
    pub created_unix: u64,
    /// Who made it.
    pub created_by: String,
    /// The ledger entries of the releases it shows (`release N, delivered in entry M`).
    pub ledger: Vec<String>,
    /// The body: tables, charts and release facts of released results only.
    pub html: String,
    /// The same results as data, for the PDF: per part its table as shown, its chart's
    /// bars and its release facts (or its refusal). Empty in reports saved before PDFs.
    #[serde(default)]
    pub tables: Vec<ReportTable>,
}

impl Report {
    /// Every dataset the report's numbers come from (a user must see all of them).
    pub fn datasets(&self) -> Vec<&str> {
        let mut out = vec![self.dataset.as_str()];
        out.extend(
            self.datasets
                .iter()
                .map(String::as_str)
                .filter(|d| *d != self.dataset),
        );
        out
    }
}

/// One part of a report as data: what its PDF prints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportTable {
    /// The part's title.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Cells as the page shows them (rounded as shown).
    pub rows: Vec<Vec<String>>,
    /// The chart's first series: (category, value).
    pub chart: Vec<(String, f64)>,
    /// The chart's unit.
    pub unit: String,
    /// The release facts in words.
    pub facts: Vec<String>,
    /// The refusal, when the part was not released.
    pub refusal: Option<String>,
}

/// Whether `id` is a report id (16 lowercase hex digits): nothing else reaches a path.
pub fn valid_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new random report id.
pub fn new_id() -> String {
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The dashboard's report key.
pub struct ReportKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportKey(..)")
    }
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> ReportError {
    ReportError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn aad(id: &str) -> Vec<u8> {
    let mut a = b"dtfhe dashboard report v1\0".to_vec();
    a.extend_from_slice(id.as_bytes());
    a
}

impl ReportKey {
    /// A key from its 32 bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> ReportKey {
        ReportKey(Zeroizing::new(bytes))
    }

    /// Reads `state/report.key`, creating it (a fresh random key, mode 0600) if missing.
    pub fn load_or_create(state: &Path) -> Result<ReportKey, ReportError> {
        let path = state.join(REPORT_KEY_FILE);
        if !path.exists() {
            std::fs::create_dir_all(state).map_err(|e| file_err(state, e))?;
            let mut payload = Zeroizing::new(vec![KEY_VERSION; 33]);
            rand::rng().fill_bytes(&mut payload[1..]);
            match dtfhe_model::secret_file::write_new_secret(&path, &payload) {
                Ok(()) => {}
                // Another process made it first: use that one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(file_err(&path, e)),
            }
        }
        let payload =
            dtfhe_model::secret_file::read_secret(&path).map_err(|e| file_err(&path, e))?;
        match payload.as_slice() {
            [KEY_VERSION, key @ ..] if key.len() == 32 => {
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(key);
                Ok(ReportKey(k))
            }
            _ => Err(file_err(
                &path,
                "not a report key (expected version byte 1 and 32 bytes)",
            )),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Seals `plain` as report `id`.
    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<Vec<u8>, ReportError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad(id),
                },
            )
            .map_err(|_| ReportError::Authentication { id: id.into() })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(REPORT_FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a file made by [`ReportKey::seal`] for the same id: the version first, then the
    /// length, then the tag.
    pub fn open(&self, id: &str, bytes: &[u8]) -> Result<Vec<u8>, ReportError> {
        let bad = |reason: String| ReportError::Format {
            id: id.into(),
            reason,
        };
        match bytes.first() {
            None => return Err(bad("empty file".into())),
            Some(&REPORT_FORMAT) => {}
            Some(v) => {
                return Err(bad(format!(
                    "format version {v}, this dashboard reads {REPORT_FORMAT}"
                )))
            }
        }
        if bytes.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(bad(format!(
                "{} bytes, too short for a sealed report",
                bytes.len()
            )));
        }
        let (nonce, ct) = bytes[1..].split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad(id),
                },
            )
            .map_err(|_| ReportError::Authentication { id: id.into() })
    }
}

/// The sealed reports of a state directory.
#[derive(Debug)]
pub struct Reports {
    dir: PathBuf,
    key: ReportKey,
}

impl Reports {
    /// The reports of `state` (creating the key on first use).
    pub fn open(state: &Path) -> Result<Reports, ReportError> {
        Ok(Reports {
            dir: state.join(REPORTS_DIR),
            key: ReportKey::load_or_create(state)?,
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.report"))
    }

    /// Seal and store a new report (never overwrites one).
    pub fn save(&self, r: &Report) -> Result<(), ReportError> {
        if !valid_id(&r.id) {
            return Err(ReportError::Format {
                id: r.id.clone(),
                reason: "not a report id".into(),
            });
        }
        let plain = Zeroizing::new(serde_json::to_vec(r).map_err(|e| ReportError::Format {
            id: r.id.clone(),
            reason: e.to_string(),
        })?);
        let sealed = self.key.seal(&r.id, &plain)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| file_err(&self.dir, e))?;
        let path = self.path(&r.id);
        dtfhe_model::secret_file::write_new_private(&path, &sealed).map_err(|e| file_err(&path, e))
    }

    /// Open report `id`.
    pub fn get(&self, id: &str) -> Result<Report, ReportError> {
        if !valid_id(id) {
            return Err(ReportError::Missing(id.escape_debug().to_string()));
        }
        let path = self.path(id);
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReportError::Missing(id.into()))
            }
            Err(e) => return Err(file_err(&path, e)),
            Ok(m) if m.len() > MAX_REPORT_BYTES => {
                return Err(ReportError::Format {
                    id: id.into(),
                    reason: format!("{} bytes, at most {MAX_REPORT_BYTES}", m.len()),
                })
            }
            Ok(_) => {}
        }
        let bytes = std::fs::read(&path).map_err(|e| file_err(&path, e))?;
        decode(&self.key, id, &bytes)
    }

    /// Every report, newest first; a damaged one is listed as its error.
    pub fn list(&self) -> Vec<Result<Report, ReportError>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".report"))
                    .filter(|id| valid_id(id))
                    .map(str::to_string)
            })
            .collect();
        ids.sort();
        let mut out: Vec<Result<Report, ReportError>> = ids.iter().map(|id| self.get(id)).collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.as_ref().map_or(u64::MAX, |r| r.created_unix)));
        out
    }
}

/// Open and decode one sealed report (the decoder of the file's bytes).
pub fn decode(key: &ReportKey, id: &str, bytes: &[u8]) -> Result<Report, ReportError> {
    let plain = Zeroizing::new(key.open(id, bytes)?);
    let r: Report = serde_json::from_slice(&plain).map_err(|e| ReportError::Format {
        id: id.into(),
        reason: format!("sealed content does not decode: {e}"),
    })?;
    if r.id != id {
        return Err(ReportError::Format {
            id: id.into(),
            reason: format!("sealed as report {}", r.id.escape_debug()),
        });
    }
    Ok(r)
}

/// A report of the OEE view with neither HTML nor tables, for this crate's tests.
#[cfg(test)]
pub(crate) fn sample(id: &str) -> Report {
    Report {
        id: id.into(),
        title: "OEE".into(),
        view: "oee".into(),
        dataset: "production_runs".into(),
        datasets: Vec::new(),
        created_unix: 1_800_000_000,
        created_by: "alice".into(),
        ledger: vec!["release 7, delivered in entry 12".into()],
        html: String::new(),
        tables: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn report(id: &str) -> Report {
        Report {
            html: "<table><tr><td>0.81234</td></tr></table>".into(),
            ..sample(id)
        }
    }

    #[test]
    fn sealed_at_rest_and_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let reports = Reports::open(dir.path()).unwrap();
        let r = report(&new_id());
        reports.save(&r).unwrap();
        assert_eq!(reports.get(&r.id).unwrap(), r);
        let on_disk = std::fs::read(
            dir.path()
                .join(REPORTS_DIR)
                .join(format!("{}.report", r.id)),
        )
        .unwrap();
        let text = String::from_utf8_lossy(&on_disk);
        for clear in ["0.81234", "production_runs", "alice", "OEE"] {
            assert!(!text.contains(clear), "`{clear}` is stored in clear");
        }
        assert!(reports.save(&r).is_err(), "a report was overwritten");
        // The same key after a restart; another dashboard's key does not open it.
        let again = Reports::open(dir.path()).unwrap();
        assert_eq!(again.list().len(), 1);
        let other = ReportKey::from_bytes([7; 32]);
        assert!(matches!(
            decode(&other, &r.id, &on_disk),
            Err(ReportError::Authentication { .. })
        ));
        dtfhe_testkit::assert_owner_only(&dir.path().join(REPORT_KEY_FILE));
    }

    #[test]
    fn every_corrupted_field_is_refused() {
        let key = ReportKey::from_bytes([3; 32]);
        let id = "0123456789abcdef";
        let plain = serde_json::to_vec(&report(id)).unwrap();
        let good = key.seal(id, &plain).unwrap();
        assert_eq!(decode(&key, id, &good).unwrap(), report(id));
        // Version byte.
        let mut v = good.clone();
        v[0] = 2;
        assert!(decode(&key, id, &v)
            .unwrap_err()
            .to_string()
            .contains("format version 2"));
        // Every other byte: nonce, ciphertext, tag.
        for i in [1, 12, 24, 25, good.len() / 2, good.len() - 1] {
            let mut b = good.clone();
            b[i] ^= 0x01;
            assert!(
                matches!(
                    decode(&key, id, &b),
                    Err(ReportError::Authentication { .. })
                ),
                "byte {i}"
            );
        }
        // Truncated, empty, renamed.
        assert!(decode(&key, id, &good[..20])
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(decode(&key, id, &[]).is_err());
        assert!(matches!(
            decode(&key, "fedcba9876543210", &good),
            Err(ReportError::Authentication { .. })
        ));
        // Sealed content of another id inside (a forged report sealed with the key).
        let forged = key
            .seal(
                id,
                &serde_json::to_vec(&report("fedcba9876543210")).unwrap(),
            )
            .unwrap();
        assert!(decode(&key, id, &forged)
            .unwrap_err()
            .to_string()
            .contains("sealed as report"));
    }

    #[test]
    fn ids_are_checked_before_any_path() {
        assert!(valid_id(&new_id()));
        for bad in [
            "",
            "../../etc/passwd",
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdef0",
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let reports = Reports::open(dir.path()).unwrap();
        assert!(matches!(
            reports.get("../report.key"),
            Err(ReportError::Missing(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Hostile bytes as a report file: an error, never a panic.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let key = ReportKey::from_bytes([9; 32]);
            let _ = decode(&key, "0123456789abcdef", &bytes);
        }
    }
}
