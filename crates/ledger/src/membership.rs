//! The trustee list of a t-of-n deployment as the ledger makes it: the deployment record's
//! list, then every `trustee_replaced` entry in order (the departed trustee's position is
//! held by its replacement from that entry on). The platform serves the list as of now; the
//! audit reads it as of each entry, so an approval by a departed trustee before its
//! replacement still counts and one after it never does.

use crate::entry::{Entry, EntryKind};

/// The ledger subject of the `ceremony_step` entries of the sharing of `epoch`: the first
/// dealing (epoch 0) or the re-sharing that made epoch k (the platform writes them, a
/// re-sharing's recipients read the sharing before from them).
pub fn sharing_subject(epoch: u32) -> String {
    match epoch {
        0 => "threshold dealing".to_string(),
        k => format!("threshold re-sharing epoch {k}"),
    }
}

/// What the detail of a trustee's acceptance entry of a sharing says (its hashes are the
/// commitments it checked its shares against).
pub const ACCEPTANCE_MARK: &str = "keeps its threshold secret";

/// One replacement, as a `trustee_replaced` entry's subject records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The trustee that leaves.
    pub old: String,
    /// The trustee that takes its position.
    pub new: String,
    /// The position (1-based: the Shamir point the new trustee answers at).
    pub position: usize,
}

/// The subject of a `trustee_replaced` entry: `trustee OLD replaced by NEW at position P`.
pub fn replacement_subject(r: &Replacement) -> String {
    format!(
        "trustee {} replaced by {} at position {}",
        r.old, r.new, r.position
    )
}

/// The replacement a subject written by [`replacement_subject`] names, if it is one.
pub fn parse_replacement_subject(subject: &str) -> Option<Replacement> {
    let rest = subject.strip_prefix("trustee ")?;
    let (old, rest) = rest.split_once(" replaced by ")?;
    let (new, position) = rest.split_once(" at position ")?;
    let position: usize = position.parse().ok()?;
    let plain = |s: &str| !s.is_empty() && !s.contains(' ');
    (plain(old) && plain(new) && position >= 1).then(|| Replacement {
        old: old.to_string(),
        new: new.to_string(),
        position,
    })
}

/// Why a replacement cannot be applied to the list it follows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger entry {seq}: {reason}")]
pub struct MembershipError {
    /// The `trustee_replaced` entry.
    pub seq: u64,
    /// What does not fit (names the trustees and the position).
    pub reason: String,
}

/// Applies one replacement (entry `seq`) to `trustees`: `old` must hold `position`, and
/// `new` must not be a trustee already.
pub fn apply(trustees: &mut [String], seq: u64, r: &Replacement) -> Result<(), MembershipError> {
    let fail = |reason: String| MembershipError { seq, reason };
    match trustees.get(r.position.wrapping_sub(1)) {
        Some(at) if *at == r.old => {}
        Some(at) => {
            return Err(fail(format!(
                "replaces `{}` at position {}, which `{at}` holds",
                r.old, r.position
            )))
        }
        None => {
            return Err(fail(format!(
                "position {} is not one of the {} trustees",
                r.position,
                trustees.len()
            )))
        }
    }
    if trustees.contains(&r.new) {
        return Err(fail(format!("`{}` is a trustee already", r.new)));
    }
    trustees[r.position - 1] = r.new.clone();
    Ok(())
}

/// The replacements `entries` record, in order, with their seq.
pub fn replacements(entries: &[Entry]) -> Result<Vec<(u64, Replacement)>, MembershipError> {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::TrusteeReplaced)
        .map(|e| {
            parse_replacement_subject(&e.subject)
                .map(|r| (e.seq, r))
                .ok_or_else(|| MembershipError {
                    seq: e.seq,
                    reason: format!("subject `{}` names no replacement", e.subject),
                })
        })
        .collect()
}

/// The trustee list after every replacement of `entries`, starting from the deployment
/// record's `created` list.
pub fn current(created: &[String], entries: &[Entry]) -> Result<Vec<String>, MembershipError> {
    let mut list = created.to_vec();
    for (seq, r) in replacements(entries)? {
        apply(&mut list, seq, &r)?;
    }
    Ok(list)
}

/// The list before every replacement of `entries`, given the list `now` after all of them
/// (what the platform serves): each replacement undone, last first.
pub fn created(now: &[String], entries: &[Entry]) -> Result<Vec<String>, MembershipError> {
    let mut list = now.to_vec();
    for (seq, r) in replacements(entries)?.into_iter().rev() {
        let undo = Replacement {
            old: r.new,
            new: r.old,
            position: r.position,
        };
        apply(&mut list, seq, &undo)?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn replaced(seq: u64, old: &str, new: &str, position: usize) -> Entry {
        Entry {
            seq,
            time_unix: 0,
            kind: EntryKind::TrusteeReplaced,
            actor: "root".into(),
            subject: replacement_subject(&Replacement {
                old: old.into(),
                new: new.into(),
                position,
            }),
            detail: String::new(),
            hashes: Vec::new(),
        }
    }

    #[test]
    fn the_list_follows_the_replacements_and_undoes_them() {
        let five = names(&["a", "b", "c", "d", "e"]);
        let entries = vec![replaced(3, "e", "f", 5), replaced(9, "b", "g", 2)];
        let now = current(&five, &entries).expect("applies");
        assert_eq!(now, names(&["a", "g", "c", "d", "f"]));
        assert_eq!(created(&now, &entries).expect("undoes"), five);
        // A replacement of a trustee that does not hold the position, or by a trustee.
        let wrong = vec![replaced(4, "d", "f", 5)];
        let e = current(&five, &wrong).expect_err("d is not at 5");
        assert!(e.to_string().contains("which `e` holds"), "{e}");
        let twice = vec![replaced(4, "e", "a", 5)];
        assert!(current(&five, &twice).is_err());
        let outside = vec![replaced(4, "e", "f", 6)];
        assert!(current(&five, &outside).is_err());
    }

    #[test]
    fn subjects_round_trip_and_others_are_refused() {
        let r = Replacement {
            old: "e".into(),
            new: "f".into(),
            position: 5,
        };
        assert_eq!(parse_replacement_subject(&replacement_subject(&r)), Some(r));
        for bad in [
            "trustee e replaced by f",
            "trustee e replaced by f at position 0",
            "trustee e replaced by f at position x",
            "trustee  replaced by f at position 1",
            "release 3",
        ] {
            assert_eq!(parse_replacement_subject(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Whatever a platform writes as a replacement's subject, reading it never panics,
        /// and a subject written here reads back as what was written.
        #[test]
        fn any_subject_never_panics_and_written_ones_round_trip(
            subject in ".{0,80}",
            old in "[a-z0-9_.-]{1,12}",
            new in "[a-z0-9_.-]{1,12}",
            position in 1usize..64,
        ) {
            let _ = parse_replacement_subject(&subject);
            let r = Replacement { old, new, position };
            proptest::prop_assert_eq!(parse_replacement_subject(&replacement_subject(&r)), Some(r));
        }
    }
}
