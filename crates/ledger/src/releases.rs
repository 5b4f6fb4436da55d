//! The release trail of a ledger, checked the same way by the embedded audit and the
//! analyst's remote audit: every trustee decision and delivery belongs to an earlier
//! release request, and nothing is delivered without every trustee's approval. A trustee
//! revoked (`identity_revoked`) answers nothing after its revocation, and its earlier
//! approvals count for no delivery made after it. A trustee replaced (`trustee_replaced`)
//! is a trustee up to its replacement and none after: the list is read as of each entry.

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
    check_releases_quorum(entries, trustees, None)
}

/// [`check_releases`] for a deployment whose releases need `threshold` trustees (t-of-n;
/// `None`: all of them): every delivery is preceded by the approvals of at least t distinct
/// trustees of the deployment. A trustee revoked by an `identity_revoked` entry decides
/// nothing after it (an approval or refusal of its later is tampering: the platform refuses
/// its requests), and a delivery after its revocation does not count its approval.
///
/// `trustees` is the list as it stands after every entry (the platform's list now); the
/// `trustee_replaced` entries are undone to find the list the deployment was created with,
/// then replayed in order, so each decision is checked against the list as of its entry: a
/// departed trustee's approvals before its replacement count for the deliveries made before
/// it, and its answers after it are tampering.
pub fn check_releases_quorum(
    entries: &[Entry],
    trustees: &[String],
    threshold: Option<usize>,
) -> Result<u64, ReleaseTrailError> {
    let needed = threshold.unwrap_or(trustees.len()).min(trustees.len());
    let mut members = crate::membership::created(trustees, entries)
        .map_err(|e| tampered(format!("trustee list: {e}")))?;
    // Departed trustee -> seq of its replacement.
    let mut departed: HashMap<String, u64> = HashMap::new();
    // (release, trustee) -> seq of its first approval / refusal.
    let mut approved: HashMap<(u64, &str), u64> = HashMap::new();
    let mut refused: HashMap<u64, (u64, &str)> = HashMap::new();
    let mut delivered = 0u64;
    // Trustee -> seq of its revocation.
    let mut revoked: HashMap<&str, u64> = HashMap::new();
    for e in entries {
        let kind = e.kind;
        if kind == EntryKind::TrusteeReplaced {
            let r = crate::membership::parse_replacement_subject(&e.subject)
                .ok_or_else(|| tampered(format!("ledger entry {}: names no replacement", e.seq)))?;
            crate::membership::apply(&mut members, e.seq, &r)
                .map_err(|e| tampered(format!("trustee list: {e}")))?;
            departed.insert(r.old, e.seq);
            continue;
        }
        if kind == EntryKind::IdentityRevoked {
            revoked.entry(e.subject.as_str()).or_insert(e.seq);
            continue;
        }
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
                if let (false, Some(seq)) = (members.contains(&e.actor), departed.get(&e.actor)) {
                    return Err(tampered(format!(
                        "{at}: trustee `{}` answers after its replacement (entry {seq})",
                        e.actor
                    )));
                }
                if !members.contains(&e.actor) {
                    return Err(tampered(format!(
                        "{at}: `{}` is not a trustee of this deployment",
                        e.actor
                    )));
                }
                if let Some(seq) = revoked.get(e.actor.as_str()) {
                    return Err(tampered(format!(
                        "{at}: trustee `{}` answers after its revocation (entry {seq})",
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
                let missing: Vec<&str> = members
                    .iter()
                    .map(String::as_str)
                    .filter(|t| !approved.contains_key(&(r, *t)) || revoked.contains_key(t))
                    .collect();
                if members.len() - missing.len() < needed {
                    let who = if needed == members.len() {
                        format!("trustee `{}`", missing.first().copied().unwrap_or_default())
                    } else {
                        format!(
                            "{needed} of the trustees (approved by {} only)",
                            members.len() - missing.len()
                        )
                    };
                    return Err(tampered(format!(
                        "{at}: delivers release {r} without the approval of {who}"
                    )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wording::release_subject;

    fn entry(seq: u64, kind: EntryKind, actor: &str, subject: &str, hashes: usize) -> Entry {
        Entry {
            seq,
            time_unix: 0,
            kind,
            actor: actor.into(),
            subject: subject.into(),
            detail: String::new(),
            hashes: vec![[seq as u8; 32]; hashes],
        }
    }

    /// A release request (entry 0) approved by `approvers`, then delivered.
    fn trail(approvers: &[&str]) -> Vec<Entry> {
        let subject = release_subject(0);
        let mut entries = vec![entry(0, EntryKind::ReleaseRequested, "ana", "ai4i", 2)];
        for a in approvers {
            let seq = entries.len() as u64;
            entries.push(entry(seq, EntryKind::TrusteeApproved, a, &subject, 2));
        }
        let seq = entries.len() as u64;
        let mut delivered = entry(seq, EntryKind::ResultDelivered, "ana", &subject, 0);
        delivered.hashes = entries[0].hashes.clone();
        entries.push(delivered);
        entries
    }

    #[test]
    fn a_quorum_delivery_needs_t_distinct_approvals() {
        let trustees: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let three = trail(&["b", "d", "e"]);
        assert_eq!(check_releases_quorum(&three, &trustees, Some(3)), Ok(1));
        // n-of-n: the same trail lacks a's approval.
        let e = check_releases(&three, &trustees).expect_err("n-of-n");
        assert!(e.0.contains("trustee `a`"), "{e}");
        // Two distinct approvers (one twice) are not a quorum of three.
        let two = trail(&["b", "d", "d"]);
        let e = check_releases_quorum(&two, &trustees, Some(3)).expect_err("two");
        assert!(
            e.0.contains("3 of the trustees (approved by 2 only)"),
            "{e}"
        );
        // An approval of a party that is no trustee is refused outright.
        let stranger = trail(&["b", "d", "x"]);
        assert!(check_releases_quorum(&stranger, &trustees, Some(3)).is_err());
    }

    /// `entries` with `new` inserted at `at`, every entry renumbered by its place.
    fn inserted(mut entries: Vec<Entry>, at: usize, new: Entry) -> Vec<Entry> {
        entries.insert(at, new);
        for (i, e) in entries.iter_mut().enumerate() {
            e.seq = i as u64;
        }
        entries
    }

    /// `trail` with trustee `who` revoked just before the entry at `at`.
    fn revoked_at(entries: Vec<Entry>, who: &str, at: usize) -> Vec<Entry> {
        inserted(
            entries,
            at,
            entry(0, EntryKind::IdentityRevoked, "root", who, 1),
        )
    }

    #[test]
    fn a_revoked_trustee_is_not_counted_and_answers_nothing_after() {
        let trustees: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let subject = release_subject(0);
        // Revoked after the delivery: its history stays valid.
        let before = revoked_at(trail(&["a", "b"]), "a", 4);
        assert_eq!(check_releases_quorum(&before, &trustees, Some(2)), Ok(1));
        // Revoked between its approval and the delivery: the delivery lacks a quorum.
        let between = revoked_at(trail(&["a", "b"]), "a", 3);
        let e = check_releases_quorum(&between, &trustees, Some(2)).expect_err("not counted");
        assert!(e.0.contains("approved by 1 only"), "{e}");
        // Delivered by the two left: valid.
        let revoked = revoked_at(trail(&["a", "b"]), "a", 3);
        let last = revoked.len() - 1;
        let quorum = inserted(
            revoked,
            last,
            entry(0, EntryKind::TrusteeApproved, "c", &subject, 2),
        );
        assert_eq!(check_releases_quorum(&quorum, &trustees, Some(2)), Ok(1));
        // An answer after the revocation is tampering.
        let after = revoked_at(trail(&["b", "a"]), "a", 2);
        let e = check_releases_quorum(&after, &trustees, Some(2)).expect_err("after");
        assert!(e.0.contains("after its revocation"), "{e}");
    }

    /// `trail` with `old` replaced by `new` at `position` just before the entry at `at`.
    fn replaced_at(entries: Vec<Entry>, old: &str, new: &str, at: usize) -> Vec<Entry> {
        let r = crate::membership::Replacement {
            old: old.into(),
            new: new.into(),
            position: 3,
        };
        let subject = crate::membership::replacement_subject(&r);
        inserted(
            entries,
            at,
            entry(0, EntryKind::TrusteeReplaced, "root", &subject, 0),
        )
    }

    #[test]
    fn a_replaced_trustee_counts_before_its_replacement_and_never_after() {
        // The list now: c (position 3) was replaced by f.
        let now: Vec<String> = ["a", "b", "f"].map(String::from).to_vec();
        // c approved and the release was delivered before the replacement: valid.
        let before = replaced_at(trail(&["a", "c"]), "c", "f", 4);
        assert_eq!(check_releases_quorum(&before, &now, Some(2)), Ok(1));
        // c answers after it: tampering, naming the replacement.
        let after = replaced_at(trail(&["a", "c"]), "c", "f", 2);
        let e = check_releases_quorum(&after, &now, Some(2)).expect_err("after");
        assert!(
            e.0.contains("`c` answers after its replacement (entry 2)"),
            "{e}"
        );
        // f answers after it: counted.
        let joined = replaced_at(trail(&["a", "f"]), "c", "f", 1);
        assert_eq!(check_releases_quorum(&joined, &now, Some(2)), Ok(1));
        // f before it: not yet a trustee.
        let early = replaced_at(trail(&["a", "f"]), "c", "f", 3);
        assert!(check_releases_quorum(&early, &now, Some(2)).is_err());
        // A list that does not follow the replacement (f not at position 3) is refused.
        let other: Vec<String> = ["a", "f", "b"].map(String::from).to_vec();
        assert!(check_releases_quorum(&before, &other, Some(2)).is_err());
    }
}
