//! The release trail of a ledger, checked the same way by the embedded audit and the
//! analyst's remote audit: every trustee decision and delivery belongs to an earlier
//! release request, and nothing is delivered without every trustee's approval.

use std::collections::HashMap;

use crate::wording::parse_release_subject;
use crate::{Entry, EntryKind};

/// The first entry of a ledger's release trail that breaks a rule (named, with why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReleaseTrailError(pub String);

fn tampered(what: String) -> ReleaseTrailError {
    ReleaseTrailError(what)
}

/// Every `trustee_approved`, `trustee_refused` and `result_delivered` entry belongs to an
/// earlier `release_requested` entry; every delivery is preceded by the approval of every
/// trustee of the deployment (one share hash per ciphertext), by no refusal, and delivers
/// the ciphertexts requested. Returns the number of deliveries.
pub fn check_releases(entries: &[Entry], trustees: &[String]) -> Result<u64, ReleaseTrailError> {
    // (release, trustee) -> seq of its first approval / refusal.
    let mut approved: HashMap<(u64, &str), u64> = HashMap::new();
    let mut refused: HashMap<u64, (u64, &str)> = HashMap::new();
    let mut delivered = 0u64;
    for e in entries {
        let kind = e.kind;
        if !matches!(
            kind,
            EntryKind::TrusteeApproved | EntryKind::TrusteeRefused | EntryKind::ResultDelivered
        ) {
            continue;
        }
        let at = format!("ledger entry {} ({kind})", e.seq);
        let r = parse_release_subject(&e.subject).ok_or_else(|| {
            tampered(format!(
                "{at}: subject `{}` names no release (expected `release <entry>`)",
                e.subject
            ))
        })?;
        let request = entries
            .get(usize::try_from(r).unwrap_or(usize::MAX))
            .filter(|q| q.kind == EntryKind::ReleaseRequested && q.seq < e.seq)
            .ok_or_else(|| {
                tampered(format!(
                    "{at}: refers to entry {r}, which is not an earlier release request"
                ))
            })?;
        match kind {
            EntryKind::TrusteeApproved | EntryKind::TrusteeRefused => {
                if !trustees.contains(&e.actor) {
                    return Err(tampered(format!(
                        "{at}: `{}` is not a trustee of this deployment",
                        e.actor
                    )));
                }
                if kind == EntryKind::TrusteeApproved {
                    if e.hashes.len() != request.hashes.len() {
                        return Err(tampered(format!(
                            "{at}: {} share hashes for the {} ciphertexts of release {r}",
                            e.hashes.len(),
                            request.hashes.len()
                        )));
                    }
                    approved.entry((r, e.actor.as_str())).or_insert(e.seq);
                } else {
                    refused.entry(r).or_insert((e.seq, e.actor.as_str()));
                }
            }
            _ => {
                if let Some((seq, who)) = refused.get(&r) {
                    return Err(tampered(format!(
                        "{at}: delivers release {r}, which trustee `{who}` refused (entry {seq})"
                    )));
                }
                for t in trustees {
                    if !approved.contains_key(&(r, t.as_str())) {
                        return Err(tampered(format!(
                            "{at}: delivers release {r} without the approval of trustee `{t}`"
                        )));
                    }
                }
                if e.hashes != request.hashes {
                    return Err(tampered(format!(
                        "{at}: delivers other ciphertexts than release {r} requested"
                    )));
                }
                delivered += 1;
            }
        }
    }
    Ok(delivered)
}
