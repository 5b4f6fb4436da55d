//! The audit trail: how queries, releases and refusals are recorded in the store's ledger,
//! and `dtfhe audit verify | log | prove`, which check it from the outside.
//!
//! A release is recorded as a chain of entries linked by the sequence number of its
//! `release_requested` entry R:
//!
//! - `query_run` (actor: the analyst, subject: the dataset, detail: the SQL text and ε);
//! - `release_requested` (subject: the dataset, hashes: blake3 of every ciphertext to
//!   decrypt, as encoded by `dtfhe_crypto::codec::encode_ciphertext`);
//! - one `trustee_approved` per trustee (actor: the trustee, subject `release R`, hashes:
//!   blake3 of each share it gave) or a `trustee_refused` (detail: the reason);
//! - `result_delivered` (subject `release R`, detail: how many groups and values, never the
//!   values; hashes: the released ciphertexts again).
//!
//! Refusals by the engine or the clear policy checks are `access_denied` entries. No entry
//! ever holds a plaintext value of an encrypted column or key material.

use crate::error::EmbeddedError;
use crate::DeploymentDir;
use dtfhe_ledger::wording::{refusal_detail, release_subject};
use dtfhe_ledger::{verify_checkpoint, verify_consistency, verify_inclusion};
use dtfhe_store::{Entry, EntryKind, Hash, Store, StoreError};
use std::path::Path;

/// Who is running this command, for the ledger: the OS user (`$USER`, `$LOGNAME`) if it is
/// a plain name, else `analyst`.
pub fn actor() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| dtfhe_model::names::is_party_name(u))
        .unwrap_or_else(|| "analyst".to_string())
}

/// Appends one entry to the ledger.
pub fn record(
    store: &mut Store,
    kind: EntryKind,
    actor: &str,
    subject: &str,
    detail: &str,
    hashes: &[Hash],
) -> Result<u64, EmbeddedError> {
    Ok(store.append_entry(kind, actor, subject, detail, hashes)?)
}

/// Appends the `result_delivered` entry that closes release `release` (the sequence number
/// of its `release_requested` entry); `detail` says how much was delivered, never a value.
pub fn delivered(
    store: &mut Store,
    actor: &str,
    release: u64,
    detail: &str,
    hashes: &[Hash],
) -> Result<u64, EmbeddedError> {
    let subject = release_subject(release);
    record(
        store,
        EntryKind::ResultDelivered,
        actor,
        &subject,
        detail,
        hashes,
    )
}

/// If `err` is a policy refusal, records it as an `access_denied` entry (after the refusal
/// is known), then returns `err`; a failure to record wins, since an unrecorded refusal
/// must not pass silently.
pub fn denied(
    store: &mut Store,
    actor: &str,
    subject: &str,
    context: &str,
    err: EmbeddedError,
) -> EmbeddedError {
    let reason = match &err {
        EmbeddedError::Refused(reason) => Some(reason.clone()),
        EmbeddedError::Release(r) => Some(r.to_string()),
        _ => None,
    };
    if let Some(reason) = reason {
        let detail = refusal_detail(context, &reason);
        if let Err(e) = record(store, EntryKind::AccessDenied, actor, subject, &detail, &[]) {
            return e;
        }
    }
    err
}

/// Records a trustee's answer to release `release` and turns it into the command's result:
/// `trustee_approved` with the hashes of the shares given, or `trustee_refused` with the
/// reason (also when the trustee could not answer at all).
pub fn trustee_decision<T>(
    store: &mut Store,
    trustee: &str,
    release: u64,
    answer: Result<Vec<T>, dtfhe_trustee::TrusteeError>,
    share_bytes: impl Fn(&T) -> Vec<u8>,
) -> Result<Vec<T>, EmbeddedError> {
    let subject = release_subject(release);
    match answer {
        Ok(shares) => {
            let hashes: Vec<Hash> = shares
                .iter()
                .map(|s| *blake3::hash(&share_bytes(s)).as_bytes())
                .collect();
            record(
                store,
                EntryKind::TrusteeApproved,
                trustee,
                &subject,
                &format!("approved; {} decryption shares given", shares.len()),
                &hashes,
            )?;
            Ok(shares)
        }
        Err(e) => Err(trustee_failed(store, trustee, release, e)),
    }
}

/// Records that `trustee` did not answer release `release` (`trustee_refused`, with the
/// reason) and returns the command's error: a refusal (exit 4), a missing, damaged or
/// mismatching key share, share log or disclosure record (exit 8), or another failure.
pub fn trustee_failed(
    store: &mut Store,
    trustee: &str,
    release: u64,
    e: dtfhe_trustee::TrusteeError,
) -> EmbeddedError {
    use dtfhe_trustee::TrusteeError as T;
    let (detail, out) = match &e {
        T::Refused { reason, .. } => (reason.to_string(), EmbeddedError::Refused(e.to_string())),
        T::KeyShare { .. } | T::KeyStore { .. } | T::ShareLog { .. } | T::Disclosure { .. } => (
            format!("could not answer: {e}"),
            EmbeddedError::Damaged(e.to_string()),
        ),
        other => (
            format!("could not answer: {other}"),
            EmbeddedError::Usage(other.to_string()),
        ),
    };
    match record(
        store,
        EntryKind::TrusteeRefused,
        trustee,
        &release_subject(release),
        &detail,
        &[],
    ) {
        Ok(_) => out,
        Err(record_failed) => record_failed,
    }
}

fn tampered(what: String) -> EmbeddedError {
    EmbeddedError::Tampered(what)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// In an audit, data that does not match its ledger entry or its hash is tampering.
fn audit_error(e: StoreError) -> EmbeddedError {
    match e {
        StoreError::Tampered { what } => tampered(what),
        e @ (StoreError::Corrupt { .. } | StoreError::CorruptRecord { .. }) => {
            tampered(e.to_string())
        }
        other => other.into(),
    }
}

/// Every audit command only reads: the store is opened read-only, so an auditor can work on
/// a copy it cannot (or must not) write to.
fn open_store(dir: &DeploymentDir) -> Result<Store, EmbeddedError> {
    Ok(dir.open_store_read_only()?)
}

/// What `dtfhe audit verify` checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditReport {
    /// Ledger entries replayed.
    pub entries: u64,
    /// Chunks matched with their entries.
    pub chunks: u64,
    /// Released results checked against the trustees' approvals.
    pub releases: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Sealed artifacts checked (sealed hash, source signature, ledger entry).
    pub artifacts: u64,
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified {} entries, {} chunks, {} releases, {} checkpoints{}: OK",
            self.entries,
            self.chunks,
            self.releases,
            self.checkpoints,
            dtfhe_model::report::if_any(self.artifacts, "sealed artifacts")
        )
    }
}

/// `dtfhe audit verify`: [`Store::verify`] (the whole ledger replayed, the Merkle tree
/// recomputed, every checkpoint signature, every blob hash, every row bound to its entry),
/// then every delivered result checked against the approvals of all trustees.
pub fn verify(dir: impl Into<DeploymentDir>) -> Result<AuditReport, EmbeddedError> {
    let dir = &dir.into();
    let store = open_store(dir)?;
    let report = store.verify().map_err(audit_error)?;
    let trustees = match store.deployment() {
        Ok(d) => d.trustees,
        Err(StoreError::DeploymentMissing { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let entries = store.entries().map_err(audit_error)?;
    let threshold = crate::ops::threshold_of(&dir.dir, trustees.len())?;
    let releases = dtfhe_ledger::releases::check_releases_quorum(&entries, &trustees, threshold)
        .map_err(|e| tampered(e.0))?;
    Ok(AuditReport {
        entries: report.entries,
        chunks: report.chunks,
        releases,
        checkpoints: report.checkpoints,
        artifacts: report.artifacts,
    })
}

/// Every `trustee_approved`, `trustee_refused` and `result_delivered` entry belongs to an
/// earlier `release_requested` entry; every delivery is preceded by the approval of every
/// trustee of the deployment (one share hash per ciphertext), by no refusal, and delivers
/// the ciphertexts requested ([`dtfhe_ledger::releases::check_releases`]). Returns the
/// number of deliveries.
pub fn check_releases(entries: &[Entry], trustees: &[String]) -> Result<u64, EmbeddedError> {
    dtfhe_ledger::releases::check_releases(entries, trustees).map_err(|e| tampered(e.0))
}

/// Output format of `dtfhe audit log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One tab-separated line per entry.
    Text,
    /// A JSON array of objects.
    Json,
}

fn one_line(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t")
}

/// `dtfhe audit log`: every entry (seq, time, kind, actor, subject, detail, hashes in hex),
/// each checked against its stored leaf hash.
pub fn log(dir: impl Into<DeploymentDir>, format: LogFormat) -> Result<String, EmbeddedError> {
    let dir = &dir.into();
    let store = open_store(dir)?;
    let entries = store.entries().map_err(audit_error)?;
    Ok(match format {
        LogFormat::Json => {
            let list: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "seq": e.seq,
                        "time": e.time_unix,
                        "kind": e.kind.name(),
                        "actor": e.actor,
                        "subject": e.subject,
                        "detail": e.detail,
                        "hashes": e.hashes.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
            s.push('\n');
            s
        }
        LogFormat::Text => {
            let mut s = String::from("seq\ttime\tkind\tactor\tsubject\tdetail\thashes\n");
            for e in &entries {
                s.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    e.seq,
                    e.time_unix,
                    e.kind,
                    one_line(&e.actor),
                    one_line(&e.subject),
                    one_line(&e.detail),
                    e.hashes
                        .iter()
                        .map(|h| hex(h))
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            s
        }
    })
}

/// The key checkpoints must be signed with: the store's recorded identity, which must equal
/// the published `store.pub` when that file is present (an auditor pins it).
fn pinned_identity(store: &Store, dir: &Path) -> Result<dtfhe_store::LogIdentity, EmbeddedError> {
    let ident = store.identity()?;
    let pub_path = dir.join(dtfhe_store::PUB_FILE);
    if let Ok(text) = std::fs::read_to_string(&pub_path) {
        let (name, key) = dtfhe_ledger::parse_verifier_key(text.trim_end())
            .map_err(|e| tampered(format!("{}: {e}", dtfhe_store::PUB_FILE)))?;
        if name != ident.key_name || key != ident.verifying_key {
            return Err(tampered(format!(
                "table checkpoint_key: key does not match {}",
                dtfhe_store::PUB_FILE
            )));
        }
    }
    Ok(ident)
}

fn check_note(
    note: &str,
    ident: &dtfhe_store::LogIdentity,
    size: u64,
    root: &Hash,
) -> Result<(), EmbeddedError> {
    let cp = verify_checkpoint(note, &ident.verifying_key, &ident.key_name, &ident.origin)
        .map_err(|e| tampered(format!("checkpoint at size {size}: {e}")))?;
    if cp.size != size || !dtfhe_ledger::root_eq(&cp.root, root) {
        return Err(tampered(format!(
            "checkpoint at size {size}: signs size {} and another root",
            cp.size
        )));
    }
    Ok(())
}

/// `dtfhe audit prove --entry N`: the inclusion proof of entry N in the current tree,
/// verified locally (audit path to the root, checkpoint signature, root in the checkpoint).
pub fn prove_entry(dir: impl Into<DeploymentDir>, seq: u64) -> Result<String, EmbeddedError> {
    let dir = &dir.into();
    let store = open_store(dir)?;
    let ident = pinned_identity(&store, dir)?;
    let entries = store.entries()?;
    let entry = entries
        .get(usize::try_from(seq).unwrap_or(usize::MAX))
        .ok_or_else(|| {
            EmbeddedError::Usage(format!(
                "--entry {seq}: the ledger has {} entries (0 to {})",
                entries.len(),
                entries.len().saturating_sub(1)
            ))
        })?;
    let p = store.inclusion_proof(seq)?;
    let leaf = dtfhe_ledger::leaf_hash(&entry.encode().map_err(StoreError::from)?);
    if !dtfhe_ledger::root_eq(&leaf, &p.leaf_hash) {
        return Err(tampered(format!(
            "ledger entry {seq}: leaf hash does not match the entry"
        )));
    }
    if !verify_inclusion(&p.leaf_hash, p.seq, p.size, &p.proof, &p.root) {
        return Err(tampered(format!(
            "ledger entry {seq}: inclusion proof does not lead to the root"
        )));
    }
    check_note(&p.checkpoint, &ident, p.size, &p.root)?;
    let mut s = format!(
        "entry {seq}: {} by `{}` on `{}`: {}\n",
        entry.kind,
        one_line(&entry.actor),
        one_line(&entry.subject),
        one_line(&entry.detail)
    );
    s.push_str(&format!("leaf hash:  {}\n", hex(&p.leaf_hash)));
    s.push_str(&format!("tree size:  {}\n", p.size));
    s.push_str(&format!("root:       {}\n", hex(&p.root)));
    s.push_str(&format!("proof ({} hashes):\n", p.proof.len()));
    for h in &p.proof {
        s.push_str(&format!("  {}\n", hex(h)));
    }
    s.push_str("signed checkpoint:\n");
    for line in p.checkpoint.lines() {
        s.push_str(&format!("  {line}\n"));
    }
    s.push_str(&format!(
        "inclusion proof verified: entry {seq} is in the tree of size {} signed by {}\n",
        p.size, ident.key_name
    ));
    Ok(s)
}

/// `dtfhe audit prove --from M --to N`: the consistency proof that the ledger at size M is a
/// prefix of the ledger at size N (default: the current size), verified locally, with the
/// signed checkpoints at both sizes when stored.
pub fn prove_consistency(
    dir: impl Into<DeploymentDir>,
    from: u64,
    to: Option<u64>,
) -> Result<String, EmbeddedError> {
    let dir = &dir.into();
    let store = open_store(dir)?;
    let ident = pinned_identity(&store, dir)?;
    let size = store.entries()?.len() as u64;
    let to = to.unwrap_or(size);
    if from > to || to > size {
        return Err(EmbeddedError::Usage(format!(
            "need --from <= --to <= {size} (the ledger's size), got --from {from} --to {to}"
        )));
    }
    let p = store.consistency_proof(from, to)?;
    if !verify_consistency(p.old_size, p.new_size, &p.old_root, &p.new_root, &p.proof) {
        return Err(tampered(format!(
            "ledger: consistency proof from size {from} to {to} does not verify"
        )));
    }
    let mut s = format!(
        "old size:   {}\nold root:   {}\n",
        p.old_size,
        hex(&p.old_root)
    );
    s.push_str(&format!(
        "new size:   {}\nnew root:   {}\n",
        p.new_size,
        hex(&p.new_root)
    ));
    s.push_str(&format!("proof ({} hashes):\n", p.proof.len()));
    for h in &p.proof {
        s.push_str(&format!("  {}\n", hex(h)));
    }
    for (label, size, root, note) in [
        ("old", p.old_size, &p.old_root, &p.old_checkpoint),
        ("new", p.new_size, &p.new_root, &p.new_checkpoint),
    ] {
        match note {
            Some(n) => {
                check_note(n, &ident, size, root)?;
                s.push_str(&format!("{label} signed checkpoint (verified):\n"));
                for line in n.lines() {
                    s.push_str(&format!("  {line}\n"));
                }
            }
            None => s.push_str(&format!(
                "{label}: no signed checkpoint stored at size {size} (sizes inside one write are not checkpointed)\n"
            )),
        }
    }
    s.push_str(&format!(
        "consistency proof verified: the ledger at size {from} is a prefix of the ledger at size {to}\n"
    ));
    Ok(s)
}
