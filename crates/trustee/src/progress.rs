//! The trustee's ceremony progress file: `ceremony-progress-<ceremony id>.key` in its own
//! directory, mode 0600, holding a [`RelinProgress`] record (its ephemeral round secret and
//! the relinearisation messages it gave) inside the checksummed secret-file envelope
//! (`dtfhe_model::secret_file`).
//!
//! **Why.** Once the platform accepted a trustee's round-1 share, round 2 needs the ephemeral
//! secret drawn for it; a trustee restarted without it could never finish the ceremony (the
//! platform refuses a second, different round-1 share). So the daemon writes the record
//! *before* each relinearisation message is sent, and a restarted daemon reads it back
//! ([`load`]), checks it against its key share and sends the very same messages again. Once
//! the deployment's keys are checked, every progress file is removed ([`remove_all`]).
//!
//! The file is named after its ceremony, so the file of an abandoned ceremony never stands
//! in the way of a new one (it is ignored, and removed once a ceremony completes); a file
//! whose content is of another ceremony than its name says is refused. A damaged file is an
//! error naming the file and what is wrong, never its content.

use crate::TrusteeError;
use dtfhe_crypto::ceremony::net::{CeremonyId, CeremonySeed, RelinProgress, Resumed};
use dtfhe_crypto::Params;
use dtfhe_model::secret_file::{self, SecretFileError};
use fhe::bfv::SecretKey;
use std::fs;
use std::path::{Path, PathBuf};

/// Start of the name of every progress file (then the ceremony id in hex, then `.key`).
pub const PROGRESS_PREFIX: &str = "ceremony-progress-";
const PROGRESS_SUFFIX: &str = ".key";

/// Why a progress file cannot be used. Never quotes the file's bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressProblem {
    /// The file cannot be read or written, or its envelope or checksum does not check out.
    #[error("{0}")]
    File(SecretFileError),
    /// Others may read it.
    #[error("has mode {0:o}, which lets others read this trustee's round secret; expected 600")]
    Mode(u32),
    /// Its content does not decode as a progress record of these parameters.
    #[error("does not decode: {0}")]
    Malformed(dtfhe_crypto::CryptoError),
    /// Its content is a record of another ceremony than the file's name says.
    #[error(
        "holds the record of ceremony {found}, not of ceremony {expected} which the platform runs"
    )]
    OtherCeremony {
        /// The ceremony of the record.
        found: CeremonyId,
        /// The ceremony its name (and the platform) says.
        expected: CeremonyId,
    },
    /// The record was not made with this trustee's key share (or its secret was changed).
    #[error("does not match this trustee's key share: {0}")]
    Mismatch(dtfhe_crypto::CryptoError),
}

/// The progress file of ceremony `id` in the trustee directory `dir`.
pub fn progress_file(dir: &Path, id: CeremonyId) -> PathBuf {
    dir.join(format!("{PROGRESS_PREFIX}{id}{PROGRESS_SUFFIX}"))
}

fn problem(trustee: &str, path: &Path, problem: ProgressProblem) -> TrusteeError {
    TrusteeError::CeremonyProgress {
        trustee: trustee.to_string(),
        path: path.display().to_string(),
        problem: Box::new(problem),
    }
}

/// Writes `record` as the progress file of its ceremony, replacing an earlier one
/// atomically: a new 0600 file beside it (synced), renamed over it, the directory synced.
/// A crash at any point leaves either the old record or the new one.
pub fn save(dir: &Path, trustee: &str, record: &RelinProgress) -> Result<(), TrusteeError> {
    let path = progress_file(dir, record.ceremony_id());
    let tmp = path.with_extension("key.tmp");
    let fail = |e: SecretFileError| problem(trustee, &path, ProgressProblem::File(e));
    // A temporary file left by a crash mid-write holds nothing that was ever used.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(fail(SecretFileError::Create(e)))
        }
        _ => {}
    }
    secret_file::write_new_secret(&tmp, &record.to_bytes()).map_err(fail)?;
    fs::rename(&tmp, &path).map_err(|e| fail(SecretFileError::Write(e)))?;
    sync_dir(dir).map_err(|e| fail(SecretFileError::Write(e)))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Reads the progress file of the ceremony `seed`, if there is one, and rebuilds this
/// trustee's side of the relinearisation protocol from it, after checking it: mode 0600,
/// envelope and checksum, a record of these parameters and of this ceremony, made with
/// `share`. `Ok(None)` when the trustee has no record of this ceremony.
pub fn load(
    dir: &Path,
    trustee: &str,
    params: &Params,
    share: &SecretKey,
    seed: &CeremonySeed,
) -> Result<Option<Resumed>, TrusteeError> {
    let path = progress_file(dir, seed.id());
    let fail = |p: ProgressProblem| problem(trustee, &path, p);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match fs::metadata(&path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(fail(ProgressProblem::Mode(mode)));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail(ProgressProblem::File(SecretFileError::Read(e)))),
        }
    }
    let bytes = match secret_file::read_secret(&path) {
        Ok(b) => b,
        Err(SecretFileError::Read(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(fail(ProgressProblem::File(e))),
    };
    let record = decode(params, &bytes).map_err(&fail)?;
    if record.ceremony_id() != seed.id() {
        return Err(fail(ProgressProblem::OtherCeremony {
            found: record.ceremony_id(),
            expected: seed.id(),
        }));
    }
    record
        .resume(params, share, seed)
        .map(Some)
        .map_err(|e| fail(ProgressProblem::Mismatch(e)))
}

/// Decodes the payload of a progress file (after its secret-file envelope): the decoder the
/// fuzz target exercises.
pub fn decode(params: &Params, payload: &[u8]) -> Result<RelinProgress, ProgressProblem> {
    RelinProgress::from_bytes(params, payload).map_err(ProgressProblem::Malformed)
}

/// The progress files in `dir` (of any ceremony).
pub fn progress_files(dir: &Path) -> Result<Vec<PathBuf>, TrusteeError> {
    let listing = fs::read_dir(dir).map_err(|e| TrusteeError::KeyStore {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| TrusteeError::KeyStore {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PROGRESS_PREFIX)
            && (name.ends_with(PROGRESS_SUFFIX) || name.ends_with(".key.tmp"))
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Removes every progress file in `dir` (once the deployment's keys are checked, no message
/// will ever be sent again; a file of an abandoned ceremony is of no use either). Returns
/// how many were removed.
pub fn remove_all(dir: &Path, trustee: &str) -> Result<usize, TrusteeError> {
    let files = progress_files(dir)?;
    for f in &files {
        match fs::remove_file(f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(problem(
                    trustee,
                    f,
                    ProgressProblem::File(SecretFileError::Write(e)),
                ))
            }
            _ => {}
        }
    }
    if !files.is_empty() {
        sync_dir(dir).map_err(|e| TrusteeError::KeyStore {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(files.len())
}
