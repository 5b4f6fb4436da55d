//! Which trustee sets a t-of-n release may be given (see docs/THRESHOLD.md).
//!
//! A trustee answers one set per ciphertext (its share log refuses another), and ciphertexts
//! are deterministic: the same query over the same chunks has the same sums. So when the
//! platform fixes a release's set it must know which sets already gave, or may still give,
//! shares for any of its ciphertexts: the sets of the releases it keeps
//! ([`earlier_sets`]) and, after those are pruned, the [`RetiredSets`] it keeps on disk.
//! [`dtfhe_api::dealing::Quorum::claim`] then prefers such a set and never forms one that
//! mixes a member of it with others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ServerError;
use crate::keypath::{write_durably, PendingRelease};
use dtfhe_store::Hash;

/// File (in `D/releases`) of the retired sets. Not `*.json`: the release loader skips it.
pub const RETIRED_SETS_FILE: &str = "retired-sets.v1";

/// Format version of [`RETIRED_SETS_FILE`].
const FORMAT_VERSION: u8 = 1;

/// The release sets of releases pruned from memory and disk, each with the ciphertexts
/// (hashes) its members gave shares for: the trustees' share logs keep these forever, so
/// the platform must too.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetiredSets {
    by_set: BTreeMap<Vec<String>, BTreeSet<Hash>>,
}

/// [`RetiredSets`] as stored: a format version and one record per set.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    version: u8,
    sets: Vec<StoredSet>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSet {
    /// Members, sorted.
    set: Vec<String>,
    /// blake3 of each ciphertext (hex).
    hashes: Vec<String>,
}

impl RetiredSets {
    /// Reads `dir/`[`RETIRED_SETS_FILE`] (none yet: empty); a damaged file is an error
    /// naming it, so the server does not start forgetting which sets answered.
    pub fn load(dir: &Path) -> Result<RetiredSets, ServerError> {
        let path = dir.join(RETIRED_SETS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(ServerError::Config(format!("{}: {e}", path.display()))),
        };
        Self::decode(&bytes, &path)
    }

    /// Parses the stored form; every error names `path` and the field.
    fn decode(bytes: &[u8], path: &Path) -> Result<RetiredSets, ServerError> {
        let bad = |why: String| ServerError::Config(format!("{}: {why}", path.display()));
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if stored.version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} (this server reads {FORMAT_VERSION})",
                stored.version
            )));
        }
        let mut out = RetiredSets::default();
        for s in stored.sets {
            let mut hashes = BTreeSet::new();
            for h in &s.hashes {
                let bytes: Hash = hex::decode(h)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "set {{{}}}: a hash is not 32 bytes of hex",
                            s.set.join(", ")
                        ))
                    })?;
                hashes.insert(bytes);
            }
            out.by_set.entry(sorted(&s.set)).or_default().extend(hashes);
        }
        Ok(out)
    }

    fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            version: FORMAT_VERSION,
            sets: self
                .by_set
                .iter()
                .map(|(set, hashes)| StoredSet {
                    set: set.clone(),
                    hashes: hashes.iter().map(hex::encode).collect(),
                })
                .collect(),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Writes `dir/`[`RETIRED_SETS_FILE`] durably (temporary file, fsync, rename).
    pub fn persist(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{RETIRED_SETS_FILE}.tmp"));
        write_durably(&tmp, &dir.join(RETIRED_SETS_FILE), &self.encode())
    }

    /// Keeps the set of each release in `gone` whose members gave shares (one approved);
    /// returns whether anything was added (then the file is to be written).
    pub fn retire<'a>(&mut self, gone: impl Iterator<Item = &'a PendingRelease>) -> bool {
        let mut added = false;
        for r in gone {
            let Some(set) = r.quorum.as_ref().and_then(|q| q.set.as_ref()) else {
                continue;
            };
            if !set
                .iter()
                .any(|m| r.answers.get(m).is_some_and(|a| a.approve))
            {
                continue;
            }
            let hashes = self.by_set.entry(sorted(set)).or_default();
            for h in &r.hashes {
                added |= hashes.insert(*h);
            }
        }
        added
    }
}

/// The sets release `id` must respect: those of the other kept releases that share a
/// ciphertext with it and whose members gave (a member approved) or may still give (the
/// release is open: not delivered, nobody refused) shares, and the retired sets that
/// released one of its ciphertexts. Each set once, its members sorted.
pub fn earlier_sets(
    releases: &BTreeMap<u64, PendingRelease>,
    retired: &RetiredSets,
    id: u64,
) -> Vec<Vec<String>> {
    let Some(this) = releases.get(&id) else {
        return Vec::new();
    };
    let mut sets: Vec<Vec<String>> = Vec::new();
    let mut add = |set: Vec<String>| {
        if !sets.contains(&set) {
            sets.push(set);
        }
    };
    for other in releases.values().filter(|o| o.id != id) {
        let Some(set) = other.quorum.as_ref().and_then(|q| q.set.as_ref()) else {
            continue;
        };
        if !other.hashes.iter().any(|h| this.hashes.contains(h)) {
            continue;
        }
        let approved = set
            .iter()
            .any(|m| other.answers.get(m).is_some_and(|a| a.approve));
        let open = !other.delivered && other.answers.values().all(|a| a.approve);
        if approved || open {
            add(sorted(set));
        }
    }
    for (set, hashes) in &retired.by_set {
        if this.hashes.iter().any(|h| hashes.contains(h)) {
            add(set.clone());
        }
    }
    sets
}

fn sorted(set: &[String]) -> Vec<String> {
    let mut s = set.to_vec();
    s.sort();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypath::Answer;
    use dtfhe_api::dealing::Quorum;

    fn answer(approve: bool) -> Answer {
        Answer {
            approve,
            reason: (!approve).then(|| "policy".to_string()),
            sealed_hashes: Vec::new(),
            legacy_sealed: Vec::new(),
            epsilon: None,
            answered_unix: 0,
        }
    }

    /// Release `id` over the ciphertexts `hashes` (each byte a hash), its set fixed by
    /// `claimed` (t = 2), with the approvals given.
    fn release(id: u64, claimed: &[&str], approved: &[&str], hashes: &[u8]) -> PendingRelease {
        let mut q = Quorum::new(2, Vec::new());
        for c in claimed {
            q.claim(c);
        }
        PendingRelease {
            id,
            hashes: hashes.iter().map(|b| [*b; 32]).collect(),
            answers: approved
                .iter()
                .map(|t| (t.to_string(), answer(true)))
                .collect(),
            quorum: Some(q),
            ..PendingRelease::default()
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The sets that constrain a release: other releases sharing a ciphertext whose set
    /// approved (or may still), each set once; a refused or disjoint release does not count.
    #[test]
    fn earlier_sets_are_those_that_gave_or_may_give_shares() {
        let mut releases = BTreeMap::new();
        // Approved by a (set {a, b}) on ciphertext 1.
        releases.insert(1, release(1, &["a", "b"], &["a"], &[1]));
        // The same set again on ciphertext 1: counted once.
        releases.insert(2, release(2, &["b", "a"], &["a", "b"], &[1, 9]));
        // Open (no answer yet) set {c, d} on ciphertext 2: its members may still answer.
        releases.insert(3, release(3, &["d", "c"], &[], &[2]));
        // Refused by d before anyone approved, on ciphertext 2: no share was given.
        let mut refused = release(4, &["d", "e"], &[], &[2]);
        refused.answers.insert("d".into(), answer(false));
        releases.insert(4, refused);
        // Set {e, a} on an unrelated ciphertext.
        releases.insert(5, release(5, &["e", "a"], &["e"], &[7]));
        // No set fixed yet, ciphertext 1.
        releases.insert(6, release(6, &["e"], &[], &[1]));
        // The release asking: ciphertexts 1 and 2.
        releases.insert(7, release(7, &[], &[], &[1, 2]));
        let none = RetiredSets::default();
        assert_eq!(
            earlier_sets(&releases, &none, 7),
            vec![names(&["a", "b"]), names(&["c", "d"])]
        );
        assert_eq!(
            earlier_sets(&releases, &none, 99),
            Vec::<Vec<String>>::new()
        );
    }

    /// Pruned releases keep binding: their sets are retired, written, read back after a
    /// restart, and still constrain a release of the same ciphertexts.
    #[test]
    fn retired_sets_outlive_the_releases_and_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = [
            release(1, &["b", "a"], &["a"], &[1, 2]),
            // Nobody approved: nothing to keep.
            release(2, &["c", "d"], &[], &[3]),
            // No set.
            release(3, &["e"], &[], &[4]),
        ];
        let mut retired = RetiredSets::default();
        assert!(retired.retire(gone.iter()));
        assert!(!retired.retire(gone.iter()), "retiring again adds nothing");
        retired.persist(dir.path()).expect("persist");
        let back = RetiredSets::load(dir.path()).expect("load");
        assert_eq!(back, retired);
        let mut releases = BTreeMap::new();
        releases.insert(9, release(9, &[], &[], &[2, 3, 4]));
        assert_eq!(earlier_sets(&releases, &back, 9), vec![names(&["a", "b"])]);
        // None yet: empty.
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            RetiredSets::load(empty.path()).expect("load"),
            RetiredSets::default()
        );
    }

    /// A damaged file stops the server naming the file, for every field.
    #[test]
    fn a_damaged_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = hex::encode([7u8; 32]);
        for (what, text) in [
            ("not JSON", "{".to_string()),
            (
                "version",
                format!(r#"{{"version":2,"sets":[{{"set":["a"],"hashes":["{hash}"]}}]}}"#),
            ),
            (
                "short hash",
                r#"{"version":1,"sets":[{"set":["a"],"hashes":["0707"]}]}"#.to_string(),
            ),
            (
                "hash not hex",
                format!(
                    r#"{{"version":1,"sets":[{{"set":["a"],"hashes":["{}"]}}]}}"#,
                    "zz".repeat(32)
                ),
            ),
            (
                "set not a list",
                format!(r#"{{"version":1,"sets":[{{"set":"a","hashes":["{hash}"]}}]}}"#),
            ),
            (
                "unknown field",
                r#"{"version":1,"sets":[],"extra":1}"#.to_string(),
            ),
            ("no sets", r#"{"version":1}"#.to_string()),
        ] {
            std::fs::write(dir.path().join(RETIRED_SETS_FILE), text).expect("write");
            let e = RetiredSets::load(dir.path()).expect_err(what);
            assert!(e.to_string().contains(RETIRED_SETS_FILE), "{what}: {e}");
        }
    }

    proptest::proptest! {
        /// Any bytes: refused or read, never a panic; what is read writes back to itself.
        #[test]
        fn any_bytes_are_refused_or_read_back(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            if let Ok(sets) = RetiredSets::decode(&bytes, Path::new("x")) {
                let again = RetiredSets::decode(&sets.encode(), Path::new("x")).expect("re-read");
                proptest::prop_assert_eq!(again, sets);
            }
        }

        /// Mutated valid files: refused or read, never a panic.
        #[test]
        fn mutated_files_are_refused_or_read(at in 0usize..200, byte in proptest::num::u8::ANY) {
            let mut sets = RetiredSets::default();
            sets.retire([release(1, &["b", "a"], &["a"], &[1, 2])].iter());
            let mut bytes = sets.encode();
            let i = at % bytes.len();
            bytes[i] = byte;
            let _ = RetiredSets::decode(&bytes, Path::new("x"));
        }
    }
}
