//! `dtfhe audit verify --server URL --identity F [--store-key store.pub]`: an auditor checks
//! a remote platform's ledger and chunks without trusting the platform.
//!
//! It fetches every ledger entry with its canonical encoding, checks that each decodes to
//! the fields served and sits at its position, recomputes the RFC 6962 root from the leaf
//! hashes, and verifies the latest signed checkpoint against that root with the store's key
//! pinned by the auditor (`store.pub`). Then every chunk of every dataset: its source
//! signature (source keys taken from the ledger's `identity_registered` and
//! `source_key_registered` entries, not from the platform's word) and its `chunk_appended`
//! entry's hashes (public columns and every ciphertext's blob address); and every delivered
//! result against the approvals of every trustee (`audit::check_releases`). One line on
//! success; exit 8 naming the first bad entry or chunk.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use dtfhe_api::types::{unb64, unhex32, ChunkInfo, DatasetInfo, IdentityRecord, LedgerPage};
use dtfhe_api::{Client, Role};
use dtfhe_ledger::{Entry, EntryKind};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

use crate::error::AnalystError;

/// An API failure during an audit: the platform's own integrity check failing (problem kind
/// `tampered`) is tampering (exit 8); anything else as for every command.
fn api_error(e: dtfhe_api::ApiError) -> AnalystError {
    match &e {
        dtfhe_api::ApiError::Problem { problem, .. } if problem.short_kind() == "tampered" => {
            AnalystError::Tampered(e.to_string())
        }
        _ => crate::error::api_error(e),
    }
}

/// Entries fetched per request.
const PAGE: u64 = 1000;

/// What a remote audit checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAuditReport {
    /// Ledger entries replayed.
    pub entries: u64,
    /// Chunks whose signature and ledger entry were checked.
    pub chunks: u64,
    /// Datasets.
    pub datasets: u64,
    /// Whether the checkpoint key was pinned (`--store-key`) rather than taken from the
    /// platform's answer.
    pub pinned: bool,
    /// The tree root, hex.
    pub root: String,
    /// Ciphertexts downloaded and re-hashed (0 unless asked).
    pub ciphertexts: u64,
    /// Delivered results checked against every trustee's approval.
    pub releases: u64,
    /// Identities revoked, as the ledger records them: (name, seq of its `identity_revoked`
    /// entry), in ledger order. Their earlier entries were verified like any other.
    pub revoked: Vec<(String, u64)>,
}

impl std::fmt::Display for RemoteAuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified {} entries (root {}), the signed checkpoint ({}), {} chunks of {} datasets \
             with their source signatures and ledger entries, {} releases{}{}: OK",
            self.entries,
            &self.root[..16.min(self.root.len())],
            if self.pinned {
                "pinned key"
            } else {
                "key NOT pinned: pass --store-key store.pub"
            },
            self.chunks,
            self.datasets,
            self.releases,
            dtfhe_model::report::if_any(self.ciphertexts, "ciphertexts re-hashed"),
            if self.revoked.is_empty() {
                String::new()
            } else {
                let named: Vec<String> = self
                    .revoked
                    .iter()
                    .map(|(n, seq)| format!("{n} (entry {seq})"))
                    .collect();
                format!(", revoked: {}", named.join(", "))
            }
        )
    }
}

fn bad(what: String) -> AnalystError {
    AnalystError::Tampered(what)
}

/// Every ledger entry, decoded from its canonical encoding and checked against the fields
/// served, with the last page (its checkpoint covers all of them).
fn fetch_entries(client: &Client) -> Result<(Vec<Entry>, LedgerPage), AnalystError> {
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        let page: LedgerPage = client
            .get_json(&format!("/v1/ledger?from={}&limit={PAGE}", entries.len()))
            .map_err(api_error)?;
        let got = page.entries.len();
        for info in &page.entries {
            let at = entries.len() as u64;
            let bytes = unb64("encoded", &info.encoded)
                .map_err(|e| bad(format!("ledger entry {at}: {e}")))?;
            let e = Entry::decode(&bytes).map_err(|e| bad(format!("ledger entry {at}: {e}")))?;
            let hashes: Vec<String> = e.hashes.iter().map(hex::encode).collect();
            if e.seq != at
                || info.seq != at
                || e.kind.name() != info.kind
                || e.actor != info.actor
                || e.subject != info.subject
                || e.detail != info.detail
                || e.time_unix != info.time_unix
                || hashes != info.hashes
            {
                return Err(bad(format!(
                    "ledger entry {at}: the fields served differ from its signed encoding"
                )));
            }
            entries.push(e);
        }
        if entries.len() as u64 >= page.size {
            return Ok((entries, page));
        }
        if got == 0 {
            return Err(bad(format!(
                "ledger: the platform reports {} entries but serves only {}",
                page.size,
                entries.len()
            )));
        }
    }
}

/// Source keys as the ledger records them.
fn source_keys(entries: &[Entry]) -> Result<HashMap<String, VerifyingKey>, AnalystError> {
    let mut keys = HashMap::new();
    for e in entries {
        let key = match e.kind {
            EntryKind::IdentityRegistered => {
                let r: IdentityRecord = serde_json::from_str(&e.detail).map_err(|err| {
                    bad(format!("ledger entry {}: identity record: {err}", e.seq))
                })?;
                if r.role != Role::Source {
                    continue;
                }
                let k = dtfhe_api::identity::parse_public_key(&r.public_key)
                    .map_err(|err| bad(format!("ledger entry {}: {err}", e.seq)))?;
                (r.name, k)
            }
            EntryKind::SourceKeyRegistered => {
                let k = e
                    .hashes
                    .get(1)
                    .and_then(|b| VerifyingKey::from_bytes(b).ok())
                    .ok_or_else(|| bad(format!("ledger entry {}: no source key", e.seq)))?;
                (e.actor.clone(), k)
            }
            _ => continue,
        };
        if let Some(old) = keys.insert(key.0.clone(), key.1) {
            if old != key.1 {
                return Err(bad(format!(
                    "ledger entry {}: source `{}` registered with a second key",
                    e.seq, key.0
                )));
            }
        }
    }
    Ok(keys)
}

/// Checks one served chunk: source signature, and its `chunk_appended` entry's hashes.
fn check_chunk(
    dataset: &str,
    c: &ChunkInfo,
    keys: &HashMap<String, VerifyingKey>,
    appended: &HashMap<String, &Entry>,
) -> Result<(), AnalystError> {
    let at = format!("chunk {} of `{dataset}` (source `{}`)", c.id, c.source);
    let public = unb64("public", &c.public).map_err(|e| bad(format!("{at}: {e}")))?;
    let public_hash = *blake3::hash(&public).as_bytes();
    let mut parts = Vec::with_capacity(c.parts.len());
    for p in &c.parts {
        parts.push((
            p.column.as_str(),
            p.part.as_str(),
            unhex32("part hash", &p.hash).map_err(|e| bad(format!("{at}: {e}")))?,
        ));
    }
    let key = keys
        .get(&c.source)
        .ok_or_else(|| bad(format!("{at}: no key of `{}` in the ledger", c.source)))?;
    let sig: [u8; 64] = unb64("signature", &c.signature)
        .map_err(|e| bad(format!("{at}: {e}")))?
        .try_into()
        .map_err(|_| bad(format!("{at}: signature is not 64 bytes")))?;
    let msg = dtfhe_model::chunk_message(dataset, &c.source, c.seq, c.rows, &public_hash, &parts);
    key.verify(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| bad(format!("{at}: the source's signature does not verify")))?;
    let entry = appended
        .get(&c.id.to_string())
        .ok_or_else(|| bad(format!("{at}: no chunk_appended entry in the ledger")))?;
    let mut sorted = parts.clone();
    sorted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let want: Vec<[u8; 32]> = std::iter::once(public_hash)
        .chain(sorted.iter().map(|p| p.2))
        .collect();
    if entry.actor != c.source || entry.hashes.get(1..) != Some(&want[..]) {
        return Err(bad(format!(
            "ledger entry {}: does not match {at} (source, public columns or ciphertext hashes)",
            entry.seq
        )));
    }
    Ok(())
}

/// Every ledger entry the platform serves (each checked against its signed encoding) and
/// the latest signed checkpoint, as an auditor's identity reads them: what the networked
/// dashboard's audit view lists (its "verify now" is [`verify`]).
pub fn ledger(server: &str, identity: &Path) -> Result<(Vec<Entry>, String), AnalystError> {
    let (client, _) = crate::net::connect(server, identity, Duration::from_secs(300))?;
    let (entries, page) = fetch_entries(&client)?;
    Ok((entries, page.checkpoint))
}

/// `dtfhe audit verify --server`: see the module docs. With `ciphertexts`, every part's
/// bytes are also downloaded and re-hashed against the hash the source signed.
pub fn verify(
    server: &str,
    identity: &Path,
    store_key: Option<&Path>,
    ciphertexts: bool,
) -> Result<RemoteAuditReport, AnalystError> {
    let (client, _) = crate::net::connect(server, identity, Duration::from_secs(300))?;
    let (entries, page) = fetch_entries(&client)?;
    let leaves = entries
        .iter()
        .map(|e| e.leaf_hash())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("ledger: {e}")))?;
    let root = dtfhe_ledger::root(&leaves);
    let (key_line, pinned) = match store_key {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| AnalystError::io(p, e))?,
            true,
        ),
        None => (page.verifier_key.clone(), false),
    };
    let (name, key) = dtfhe_ledger::parse_verifier_key(key_line.trim_end())
        .map_err(|e| AnalystError::Usage(format!("store key: {e}")))?;
    let cp = dtfhe_ledger::verify_checkpoint(&page.checkpoint, &key, &name, &name)
        .map_err(|e| bad(format!("latest checkpoint: {e}")))?;
    if cp.size != leaves.len() as u64 || !dtfhe_ledger::root_eq(&cp.root, &root) {
        return Err(bad(format!(
            "latest checkpoint: signs size {} and another root than the {} entries served",
            cp.size,
            leaves.len()
        )));
    }
    // Every delivered result approved by every trustee of the deployment (same rules as the
    // embedded audit); no deployment yet means no trustee and no release.
    let trustees = match client.get_json::<dtfhe_api::types::DeploymentInfo>("/v1/deployment") {
        Ok(d) => d.trustees,
        Err(e) if e.status() == Some(503) => Vec::new(),
        Err(e) => return Err(api_error(e)),
    };
    // A t-of-n deployment: a delivery needs the approvals of its quorum.
    let threshold = match client.get_json::<dtfhe_api::dealing::DealingState>("/v1/dealing") {
        Ok(d) => Some(d.threshold),
        Err(e) if matches!(e.status(), Some(404 | 503)) => None,
        Err(e) => return Err(api_error(e)),
    };
    let releases = dtfhe_ledger::releases::check_releases_quorum(&entries, &trustees, threshold)
        .map_err(|e| AnalystError::Tampered(e.0))?;
    let keys = source_keys(&entries)?;
    let appended: HashMap<String, &Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::ChunkAppended)
        .map(|e| (e.subject.clone(), e))
        .collect();
    let datasets: Vec<DatasetInfo> = client.get_json("/v1/datasets").map_err(api_error)?;
    let mut chunks = 0u64;
    let mut parts = 0u64;
    for d in &datasets {
        let listed: Vec<ChunkInfo> = client
            .get_json(&format!("/v1/datasets/{}/chunks", d.name))
            .map_err(api_error)?;
        for c in &listed {
            check_chunk(&d.name, c, &keys, &appended)?;
            if ciphertexts {
                for p in &c.parts {
                    let bytes = client
                        .get_bytes(&format!(
                            "/v1/chunks/{}/parts/{}/{}",
                            c.id, p.column, p.part
                        ))
                        .map_err(api_error)?;
                    if blake3::hash(&bytes).to_hex().as_str() != p.hash {
                        return Err(bad(format!(
                            "chunk {} of `{}`: part {}/{} does not hash to what its source \
                             signed",
                            c.id, d.name, p.column, p.part
                        )));
                    }
                    parts += 1;
                }
            }
        }
        chunks += listed.len() as u64;
    }
    if chunks != appended.len() as u64 {
        return Err(bad(format!(
            "the ledger records {} appended chunks, the platform serves {chunks}",
            appended.len()
        )));
    }
    let revoked = revocations(&entries)?;
    Ok(RemoteAuditReport {
        entries: entries.len() as u64,
        chunks,
        datasets: datasets.len() as u64,
        pinned,
        root: hex::encode(root),
        ciphertexts: parts,
        releases,
        revoked,
    })
}

/// The `identity_revoked` entries: each names an identity registered before it, once.
fn revocations(entries: &[Entry]) -> Result<Vec<(String, u64)>, AnalystError> {
    let mut registered = std::collections::HashSet::new();
    let mut revoked: Vec<(String, u64)> = Vec::new();
    for e in entries {
        match e.kind {
            EntryKind::IdentityRegistered => {
                registered.insert(e.subject.as_str());
            }
            EntryKind::IdentityRevoked => {
                if !registered.contains(e.subject.as_str()) {
                    return Err(bad(format!(
                        "ledger entry {}: revokes `{}`, which no earlier entry registered",
                        e.seq, e.subject
                    )));
                }
                if let Some((_, first)) = revoked.iter().find(|(n, _)| *n == e.subject) {
                    return Err(bad(format!(
                        "ledger entry {}: revokes `{}` again (revoked at entry {first})",
                        e.seq, e.subject
                    )));
                }
                revoked.push((e.subject.clone(), e.seq));
            }
            _ => {}
        }
    }
    Ok(revoked)
}
