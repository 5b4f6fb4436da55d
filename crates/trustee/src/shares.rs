//! One share per ciphertext: the trustee's own append-only log of every decryption share it
//! has given, keyed by the blake3 hash of the ciphertext's bytes.
//!
//! A flooded share hides the secret-key share only once: two independently flooded shares
//! of the same ciphertext can be averaged to shrink the flood. So before answering, a
//! trustee looks the ciphertext up here; a repeated request gets the identical logged share
//! (with DP noise on, the same noised share), never a fresh one. A new share is written and
//! fsync'd here *before* it is returned.
//!
//! `shares.log` is a text file, one line per share:
//!
//! ```text
//! v1 <TAB> kind <TAB> ciphertext-blake3-hex <TAB> payload <TAB> line-blake3-hex
//! ```
//!
//! - kind `coeff0`: the payload is the hex of [`Coeff0Share::to_bytes`];
//! - kind `coeff0set` (t-of-n release): the payload is `<label>:<hex>`, the release set the
//!   share was computed for and the hex of the share. The label is the set's points,
//!   ascending, comma-separated (`1,2,4`), prefixed after a proactive re-sharing with the
//!   sharing's epoch (`e1/1,2,4`): shares of two epochs are points of unrelated
//!   polynomials and never combine, so a ciphertext answered before a re-sharing is never
//!   answered again with the new epoch's secret (another label: refused). A trustee answers one set per ciphertext: a request naming another set is
//!   refused ([`crate::TrusteeError::OtherSet`]). Two shares of one trustee for two sets
//!   carry its secret under two different Lagrange weights and independent floods, and
//!   shares of two sets never combine to the total anyway, so nothing is lost by refusing;
//! - kind `full` (per-row release): the payload is the blake3 hex of the full share's bytes
//!   ([`full_share_to_bytes`]), stored in `shares/<that hash>.bin` (written and fsync'd
//!   before the line), so the log stays small;
//! - the last field is the blake3 hash of the line's first four fields (tab-joined), so a
//!   corrupted line is detected and refused instead of being returned as a share.
//!
//! Concurrent writers append whole lines with one `write` on an `O_APPEND` file and then
//! re-read the log: the first line logged for a ciphertext wins, for every process.

use crate::TrusteeError;
use dtfhe_crypto::release::{Coeff0Share, FullShare};
use dtfhe_crypto::{codec, Params};
use fhe::bfv::Ciphertext;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the share log inside a trustee directory.
pub const SHARES_FILE: &str = "shares.log";
/// Directory (inside a trustee directory) holding the full shares the log points at.
pub const SHARES_DIR: &str = "shares";

const LINE_VERSION: &str = "v1";

/// A blake3 hash.
pub type Hash = [u8; 32];

/// The content address of a ciphertext: blake3 of its canonical encoding
/// ([`codec::encode_ciphertext`]). The ledger records the same hash.
pub fn ciphertext_hash(params: &Params, ct: &Ciphertext) -> Hash {
    *blake3::hash(&codec::encode_ciphertext(params, ct)).as_bytes()
}

/// [`ciphertext_hash`] of each ciphertext, in order: what the share log is keyed by.
pub fn ciphertext_hashes<'a>(
    params: &Params,
    cts: impl Iterator<Item = &'a Ciphertext>,
) -> Vec<Hash> {
    cts.map(|ct| ciphertext_hash(params, ct)).collect()
}

/// Which kind of share a line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareKind {
    /// A coefficient-0 share (aggregate release).
    Coeff0,
    /// A full share (per-row release to the rows' owner).
    Full,
    /// A coefficient-0 share for one t-of-n release set.
    Coeff0Set,
}

impl ShareKind {
    fn name(self) -> &'static str {
        match self {
            ShareKind::Coeff0 => "coeff0",
            ShareKind::Full => "full",
            ShareKind::Coeff0Set => "coeff0set",
        }
    }

    fn from_name(s: &str) -> Option<ShareKind> {
        match s {
            "coeff0" => Some(ShareKind::Coeff0),
            "full" => Some(ShareKind::Full),
            "coeff0set" => Some(ShareKind::Coeff0Set),
            _ => None,
        }
    }
}

pub use dtfhe_crypto::release::{full_share_from_bytes, full_share_to_bytes, ShareFormatError};

/// The trustee's share log (see the module documentation).
#[derive(Debug, Clone)]
pub struct ShareLog {
    dir: PathBuf,
}

/// The logged payload of each `(kind, ciphertext)`, first line wins.
type Index = HashMap<(ShareKind, Hash), String>;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 != 0 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hash32(s: &str) -> Option<Hash> {
    unhex(s)?.try_into().ok()
}

/// The positions of the ciphertexts of `cts` with no share of `kind` in the log yet.
fn unlogged(index: &Index, kind: ShareKind, cts: &[Hash]) -> Vec<usize> {
    (0..cts.len())
        .filter(|&i| !index.contains_key(&(kind, cts[i])))
        .collect()
}

fn line_checksum(body: &str) -> String {
    hex(blake3::hash(body.as_bytes()).as_bytes())
}

impl ShareLog {
    /// The log of the trustee whose directory is `dir` (created on first write).
    pub fn new(dir: &Path) -> ShareLog {
        ShareLog {
            dir: dir.to_path_buf(),
        }
    }

    /// Path of `shares.log`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(SHARES_FILE)
    }

    fn err(&self, reason: impl Into<String>) -> TrusteeError {
        TrusteeError::ShareLog {
            path: self.path().display().to_string(),
            reason: reason.into(),
        }
    }

    /// Reads and checks every line; any malformed or corrupted line is an error naming it
    /// (the trustee then answers nothing until the log is repaired).
    fn index(&self) -> Result<Index, TrusteeError> {
        let text = match fs::read(self.path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::new()),
            Err(e) => return Err(self.err(format!("cannot read: {e}"))),
        };
        let text = String::from_utf8(text).map_err(|_| self.err("not UTF-8 text (corrupted)"))?;
        let mut index = Index::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let n = i + 1;
            let Some(line) = line.strip_suffix('\n') else {
                return Err(self.err(format!(
                    "line {n} is incomplete (no newline; interrupted write or corruption)"
                )));
            };
            let bad = |why: &str| self.err(format!("line {n} is corrupted: {why}"));
            let fields: Vec<&str> = line.split('\t').collect();
            let [version, kind, ct, payload, sum] = fields.as_slice() else {
                return Err(bad("expected 5 tab-separated fields"));
            };
            if *version != LINE_VERSION {
                return Err(bad("unknown line version"));
            }
            let body = format!("{version}\t{kind}\t{ct}\t{payload}");
            if line_checksum(&body) != *sum {
                return Err(bad("checksum does not match the line"));
            }
            let kind = ShareKind::from_name(kind).ok_or_else(|| bad("unknown share kind"))?;
            let ct = hash32(ct).ok_or_else(|| bad("ciphertext hash is not 64 hex digits"))?;
            index
                .entry((kind, ct))
                .or_insert_with(|| payload.to_string());
        }
        Ok(index)
    }

    /// Appends lines in one write and fsyncs the file (and, on first creation, the directory).
    fn append_lines(&self, lines: &str) -> Result<(), TrusteeError> {
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.path();
        let existed = path.exists();
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| self.err(format!("cannot open for append: {e}")))?;
        f.write_all(lines.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| self.err(format!("cannot append: {e}")))?;
        if !existed {
            sync_dir(&self.dir);
        }
        Ok(())
    }

    fn line(kind: ShareKind, ct: &Hash, payload: &str) -> String {
        let body = format!("{LINE_VERSION}\t{}\t{}\t{payload}", kind.name(), hex(ct));
        let sum = line_checksum(&body);
        format!("{body}\t{sum}\n")
    }

    /// The logged coefficient-0 shares for `cts`, computing (with `fresh`) and logging first
    /// the ones never given before. Returns the logged shares, in order, and how many were
    /// repeated from the log. `before_new` runs once, before any new share is computed, if
    /// there is one (the DP budget spend).
    pub fn coeff0_shares(
        &self,
        params: &Params,
        cts: &[Hash],
        before_new: impl FnOnce() -> Result<(), TrusteeError>,
        fresh: impl FnMut(usize) -> Result<Coeff0Share, TrusteeError>,
    ) -> Result<(Vec<Coeff0Share>, usize), TrusteeError> {
        self.logged_coeff0(params, cts, None, before_new, fresh)
    }

    /// [`ShareLog::coeff0_shares`] for a t-of-n release by `set` (the points of its
    /// trustees) with the threshold secret of sharing `epoch`. A ciphertext this trustee already answered for another set is refused
    /// before anything is computed, recorded or logged; one answered for the same set gets
    /// the logged share back. Concurrent writers: the first line for a ciphertext wins, and
    /// a share whose winning line names another set is not returned.
    pub fn coeff0_set_shares(
        &self,
        params: &Params,
        cts: &[Hash],
        set: &[u32],
        epoch: u32,
        before_new: impl FnOnce() -> Result<(), TrusteeError>,
        fresh: impl FnMut(usize) -> Result<Coeff0Share, TrusteeError>,
    ) -> Result<(Vec<Coeff0Share>, usize), TrusteeError> {
        let wanted = set_label(set, epoch);
        self.logged_coeff0(params, cts, Some(&wanted), before_new, fresh)
    }

    /// [`ShareLog::coeff0_shares`] (`set` `None`, lines of kind `coeff0`) and
    /// [`ShareLog::coeff0_set_shares`] (`set` the release set's label, lines of kind
    /// `coeff0set` whose payload names it, checked before and after logging).
    fn logged_coeff0(
        &self,
        params: &Params,
        cts: &[Hash],
        set: Option<&str>,
        before_new: impl FnOnce() -> Result<(), TrusteeError>,
        mut fresh: impl FnMut(usize) -> Result<Coeff0Share, TrusteeError>,
    ) -> Result<(Vec<Coeff0Share>, usize), TrusteeError> {
        let kind = match set {
            None => ShareKind::Coeff0,
            Some(_) => ShareKind::Coeff0Set,
        };
        let same_set = |index: &Index| match set {
            None => Ok(()),
            Some(wanted) => self.same_set(index, cts, wanted),
        };
        let index = self.index()?;
        same_set(&index)?;
        let new = unlogged(&index, kind, cts);
        let repeated = cts.len() - new.len();
        let index = if new.is_empty() {
            index
        } else {
            before_new()?;
            let mut lines = String::new();
            for &i in &new {
                let share = hex(&fresh(i)?.to_bytes());
                let payload = match set {
                    None => share,
                    Some(wanted) => format!("{wanted}:{share}"),
                };
                lines.push_str(&Self::line(kind, &cts[i], &payload));
            }
            self.append_lines(&lines)?;
            // Re-read: if another process logged a share for one of these first, its wins.
            let index = self.index()?;
            same_set(&index)?;
            index
        };
        let shares = cts
            .iter()
            .map(|ct| {
                let payload = index
                    .get(&(kind, *ct))
                    .ok_or_else(|| self.err("a share just logged is missing"))?;
                let share = match set {
                    None => payload.as_str(),
                    Some(_) => {
                        payload
                            .split_once(':')
                            .ok_or_else(|| self.err(format!("share of {} has no set", hex(ct))))?
                            .1
                    }
                };
                let bytes = unhex(share)
                    .ok_or_else(|| self.err(format!("share of {} is not hex", hex(ct))))?;
                Coeff0Share::from_bytes(params, &bytes)
                    .map_err(|e| self.err(format!("share of ciphertext {}: {e}", hex(ct))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((shares, repeated))
    }

    /// Whether this trustee gave a share (of any kind) for every one of `cts`: it took part
    /// in the release of those ciphertexts (the ledger catch-up asks, [`crate::catchup`]).
    pub fn answered_all(&self, cts: &[Hash]) -> Result<bool, TrusteeError> {
        let index = self.index()?;
        Ok(cts.iter().all(|ct| {
            [ShareKind::Coeff0, ShareKind::Coeff0Set, ShareKind::Full]
                .iter()
                .any(|&k| index.contains_key(&(k, *ct)))
        }))
    }

    /// Refuses (before anything is decided or computed) if any of `cts` was answered for a
    /// set other than `set` of sharing `epoch` (another set, or the same points before or
    /// after a re-sharing).
    pub fn check_set(&self, cts: &[Hash], set: &[u32], epoch: u32) -> Result<(), TrusteeError> {
        self.same_set(&self.index()?, cts, &set_label(set, epoch))
    }

    /// Refuses if any of `cts` was answered for a set other than `wanted`.
    fn same_set(&self, index: &Index, cts: &[Hash], wanted: &str) -> Result<(), TrusteeError> {
        for ct in cts {
            if let Some(payload) = index.get(&(ShareKind::Coeff0Set, *ct)) {
                let earlier = payload.split_once(':').map_or("?", |(s, _)| s);
                if earlier != wanted {
                    return Err(TrusteeError::OtherSet {
                        ciphertext: hex(ct),
                        answered: earlier.to_string(),
                        requested: wanted.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// [`ShareLog::coeff0_shares`] for full (per-row) shares, each kept in
    /// `shares/<blake3>.bin` and re-hashed when read back.
    pub fn full_shares(
        &self,
        params: &Params,
        cts: &[Hash],
        mut fresh: impl FnMut(usize) -> Result<FullShare, TrusteeError>,
    ) -> Result<(Vec<FullShare>, usize), TrusteeError> {
        let index = self.index()?;
        let new = unlogged(&index, ShareKind::Full, cts);
        let repeated = cts.len() - new.len();
        let index = if new.is_empty() {
            index
        } else {
            let blobs = self.dir.join(SHARES_DIR);
            fs::create_dir_all(&blobs)
                .map_err(|e| self.err(format!("cannot create {}: {e}", blobs.display())))?;
            let mut lines = String::new();
            for &i in &new {
                let bytes = full_share_to_bytes(&fresh(i)?);
                let h = hex(blake3::hash(&bytes).as_bytes());
                write_durably(&blobs, &format!("{h}.bin"), &bytes)
                    .map_err(|e| self.err(e.to_string()))?;
                lines.push_str(&Self::line(ShareKind::Full, &cts[i], &h));
            }
            sync_dir(&blobs);
            self.append_lines(&lines)?;
            self.index()?
        };
        let shares = cts
            .iter()
            .map(|ct| {
                let h = index
                    .get(&(ShareKind::Full, *ct))
                    .ok_or_else(|| self.err("a share just logged is missing"))?;
                let file = self.dir.join(SHARES_DIR).join(format!("{h}.bin"));
                let bytes = fs::read(&file)
                    .map_err(|e| self.err(format!("{}: cannot read: {e}", file.display())))?;
                if hex(blake3::hash(&bytes).as_bytes()) != *h {
                    return Err(self.err(format!(
                        "{} is corrupted: its content does not match its logged hash",
                        file.display()
                    )));
                }
                full_share_from_bytes(params, &bytes)
                    .map_err(|e| self.err(format!("{}: {e}", file.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((shares, repeated))
    }
}

/// The log's form of a release set: ascending points, comma-separated, after the first
/// sharing prefixed with its epoch (`e<epoch>/`).
fn set_label(set: &[u32], epoch: u32) -> String {
    let mut sorted = set.to_vec();
    sorted.sort_unstable();
    let points = sorted
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    match epoch {
        0 => points,
        e => format!("e{e}/{points}"),
    }
}

/// Writes `name` in `dir` through a temporary file, fsync'd, then renamed into place.
/// The error names the file the I/O failed on.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), FileError> {
    let path = dir.join(name);
    if path.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |source| FileError { path: p, source }
    };
    let mut f = fs::File::create(&tmp).map_err(at(&tmp))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(at(&tmp))?;
    fs::rename(&tmp, &path).map_err(at(&path))
}

/// An I/O failure on one file of the trustee's directory.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
struct FileError {
    path: std::path::PathBuf,
    source: std::io::Error,
}

/// Best-effort fsync of a directory, so a new file's entry survives power loss.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
