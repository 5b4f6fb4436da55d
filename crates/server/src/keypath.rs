//! The server's key-path state: the deployment's parameters (loaded once), the release
//! requests awaiting the trustees, and the key ceremony in progress.
//!
//! Release requests are kept in memory and, so a restart loses none, each is also written to
//! `D/releases/<id>.json` (written through a temporary file and renamed) when it is created,
//! answered or delivered; the ledger stays the authoritative record. Their ciphertexts and
//! sealed shares are not kept in memory: they are written once, beside that file
//! ([`crate::release_payload`]), and read when the analyst fetches the result. The server holds no
//! secret here: the files hold the public statement, group facts, ciphertexts and sealed
//! shares, bytes only the analyst's ephemeral key opens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use dtfhe_api::release::GroupInfo;
use dtfhe_api::Problem;
use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::{codec, Params};
use dtfhe_model::{ChunkMeta, ChunkReadError, ChunkReader, PartRead};
use dtfhe_store::{Deployment, Hash, Store};

use crate::error::ApiProblem;

/// The deployment record with its parameters and multiplier, loaded once the ceremony is
/// done. Its trustee list is the ledger's: the stored record's list with every
/// `trustee_replaced` entry applied ([`dtfhe_ledger::membership`]).
pub struct Deployed {
    /// The stored record (trustees: as of the latest replacement).
    pub deployment: Deployment,
    /// Its parameters.
    pub params: Params,
    /// Relinearising multiplier for products (built once: it holds the relin key).
    pub multiplier: Arc<Multiplier>,
}

dtfhe_model::debug_public_fields!(Deployed, |v| {
    preset: v.deployment.preset,
    trustees: v.deployment.trustees,
});

/// Directory (in the platform directory) of the persisted release requests.
pub const RELEASES_DIR: &str = "releases";

/// One trustee's recorded answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    /// Approved?
    pub approve: bool,
    /// Refusal reason.
    pub reason: Option<String>,
    /// The blake3 hash of each sealed share, one per ciphertext (the hashes of its ledger
    /// entry); the shares themselves are on disk ([`crate::release_payload`]).
    #[serde(default)]
    pub sealed_hashes: Vec<Hash>,
    /// Sealed shares (base64) as files written before the shares moved out of them held
    /// them: read once at start, moved to their payload file, never written.
    #[serde(default, rename = "sealed", skip_serializing)]
    pub legacy_sealed: Vec<String>,
    /// The ε the trustee's noise share was drawn for (dp mode), relayed to the analyst.
    #[serde(default)]
    pub epsilon: Option<f64>,
    /// When the platform recorded the answer (Unix seconds; 0 in files written before it
    /// was recorded).
    #[serde(default)]
    pub answered_unix: u64,
}

impl Answer {
    /// An approval that gave the shares with these hashes, with no ε and no time recorded
    /// (what tests of the release table start from; the answer route records its own).
    pub fn approval(sealed_hashes: Vec<Hash>) -> Answer {
        Answer {
            approve: true,
            reason: None,
            sealed_hashes,
            legacy_sealed: Vec::new(),
            epsilon: None,
            answered_unix: 0,
        }
    }
}

/// A release request awaiting (or having) the trustees' answers. The default is a request
/// with nothing in it, no answers and not delivered: what a new request starts from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PendingRelease {
    /// Release id: seq of its `release_requested` entry.
    pub id: u64,
    /// The analyst who asked.
    pub analyst: String,
    /// Dataset planned.
    pub dataset: String,
    /// SQL as signed.
    pub sql: String,
    /// ε as signed.
    pub epsilon: Option<f64>,
    /// Recipient key (base64) as signed.
    pub recipient: String,
    /// Statement timestamp.
    pub timestamp: u64,
    /// Statement signature (base64).
    pub statement_signature: String,
    /// The platform's group facts.
    pub groups: Vec<GroupInfo>,
    /// Encoded ciphertexts as files written before the ciphertexts moved out of them held
    /// them: read once at start, moved to their payload file
    /// ([`crate::release_payload::ciphertexts_path`]), never written.
    #[serde(
        default,
        rename = "ciphertexts",
        deserialize_with = "b64_list::deserialize",
        skip_serializing
    )]
    pub legacy_ciphertexts: Vec<Vec<u8>>,
    /// The blake3 hashes of its encoded ciphertexts, in release order (the ciphertexts
    /// themselves are on disk, [`crate::release_payload`]).
    pub hashes: Vec<Hash>,
    /// The chunks they were computed over (see [`dtfhe_api::release::ReleaseInfo`]).
    #[serde(default)]
    pub chunks_upto: dtfhe_model::ChunkPin,
    /// Answers by trustee.
    pub answers: BTreeMap<String, Answer>,
    /// Trustees whose answer is being recorded right now (so two concurrent answers of one
    /// trustee cannot both be written to the ledger).
    #[serde(skip)]
    pub answering: BTreeSet<String>,
    /// Whether `result_delivered` was recorded.
    pub delivered: bool,
    /// The seq of that `result_delivered` entry, once recorded.
    #[serde(default)]
    pub delivery_entry: Option<u64>,
    /// For a per-row scoring: the model's hash (hex); `analyst` is then the source.
    #[serde(default)]
    pub score_model: Option<String>,
    /// On a t-of-n deployment (aggregate releases): who claimed, and the release set once
    /// the first t claimed (never changed after).
    #[serde(default)]
    pub quorum: Option<dtfhe_api::dealing::Quorum>,
    /// On a t-of-n deployment: the trustees outside the release set that recorded this
    /// release in their disclosure state (`POST /v1/releases/{id}/observed`). It is kept
    /// until every trustee did, so one offline for longer than [`RETAIN_FINISHED_SECS`]
    /// still catches up.
    #[serde(default)]
    pub observed: BTreeSet<String>,
}

impl PendingRelease {
    /// The trustees whose approval completes the release: the quorum's set once fixed
    /// (none before), else every trustee.
    pub fn members(&self, trustees: &[String]) -> Vec<String> {
        match &self.quorum {
            Some(q) => q.set.clone().unwrap_or_default(),
            None => trustees.to_vec(),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct KeyPath {
    deployed: RwLock<Option<Arc<Deployed>>>,
    /// Release requests by id.
    pub releases: Mutex<BTreeMap<u64, PendingRelease>>,
    /// The key ceremony, if this server runs one (see [`crate::routes::ceremony`]).
    pub ceremony: Mutex<Option<crate::routes::ceremony::Ceremony>>,
    /// t of a t-of-n deployment (see [`crate::routes::dealing`]); `None`: n-of-n.
    pub threshold: Option<usize>,
    /// The sets that released ciphertexts of releases pruned since (see
    /// [`crate::quorum_sets`]).
    pub retired: Mutex<crate::quorum_sets::RetiredSets>,
    /// Taken while a release file is written ([`save`]): concurrent saves (answers and
    /// claims of several trustees at once) write one at a time, each the state as it is
    /// when its turn comes.
    persisting: Mutex<()>,
}

impl KeyPath {
    /// The deployment, loading it from `store` the first time (503 before the ceremony
    /// finished).
    pub fn deployed(&self, store: &Store) -> Result<Arc<Deployed>, ApiProblem> {
        if let Some(d) = self.loaded() {
            return Ok(d);
        }
        let mut deployment = store.deployment()?;
        let replaced = store.entries_of(dtfhe_ledger::EntryKind::TrusteeReplaced)?;
        deployment.trustees = dtfhe_ledger::membership::current(&deployment.trustees, &replaced)
            .map_err(|e| ApiProblem(Problem::internal(format!("trustee list: {e}"))))?;
        let params = dtfhe_crypto::params_by_name(&deployment.preset).map_err(|e| {
            ApiProblem(Problem::internal(format!(
                "stored preset `{}`: {e}",
                deployment.preset
            )))
        })?;
        let relin = codec::decode_relin_key(&params, &deployment.relin_key)
            .map_err(|e| ApiProblem(Problem::internal(format!("stored relin key: {e}"))))?;
        let multiplier = Multiplier::new(&params, relin)
            .map_err(|e| ApiProblem(Problem::internal(format!("multiplier: {e}"))))?;
        let d = Arc::new(Deployed {
            deployment,
            params,
            multiplier: Arc::new(multiplier),
        });
        let mut slot = self
            .deployed
            .write()
            .map_err(|_| ApiProblem(Problem::internal("deployment lock poisoned")))?;
        Ok(slot.get_or_insert(d).clone())
    }

    /// The deployment with the trustee list `trustees` (after a `trustee_replaced` entry was
    /// appended): every later request sees the new list.
    pub fn set_trustees(&self, store: &Store, trustees: Vec<String>) -> Result<(), ApiProblem> {
        let now = self.deployed(store)?;
        let mut deployment = now.deployment.clone();
        deployment.trustees = trustees;
        let next = Arc::new(Deployed {
            deployment,
            params: now.params.clone(),
            multiplier: now.multiplier.clone(),
        });
        *self
            .deployed
            .write()
            .map_err(|_| ApiProblem(Problem::internal("deployment lock poisoned")))? = Some(next);
        Ok(())
    }

    /// The key path with the ceremony this start runs, if any, and the release requests
    /// persisted in `dir/releases` by earlier runs.
    pub fn new(
        ceremony: Option<crate::routes::ceremony::Ceremony>,
        dir: &Path,
    ) -> Result<KeyPath, crate::error::ServerError> {
        let mut releases = BTreeMap::new();
        let rdir = dir.join(RELEASES_DIR);
        let listing = match std::fs::read_dir(&rdir) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(crate::error::ServerError::Config(format!(
                    "{}: {e}",
                    rdir.display()
                )))
            }
        };
        for entry in listing.into_iter().flatten() {
            let path = entry
                .map_err(|e| crate::error::ServerError::Config(format!("{}: {e}", rdir.display())))?
                .path();
            // A payload a crash left half written (never renamed into place) is dropped.
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with(crate::release_payload::INCOMING_PREFIX) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let mut r: PendingRelease = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|e| {
                    crate::error::ServerError::Config(format!("{}: {e}", path.display()))
                })?;
            if move_out_legacy_payload(&rdir, &mut r).map_err(|e| {
                crate::error::ServerError::Config(format!("{}: {e}", path.display()))
            })? {
                persist(dir, &r).map_err(|e| {
                    crate::error::ServerError::Config(format!("{}: {}", path.display(), e.0))
                })?;
            }
            releases.insert(r.id, r);
        }
        Ok(KeyPath {
            ceremony: Mutex::new(ceremony),
            releases: Mutex::new(releases),
            deployed: RwLock::new(None),
            threshold: None,
            retired: Mutex::new(crate::quorum_sets::RetiredSets::load(&rdir)?),
            persisting: Mutex::new(()),
        })
    }

    /// Locks the ceremony.
    pub fn ceremony(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<crate::routes::ceremony::Ceremony>>, ApiProblem>
    {
        self.ceremony
            .lock()
            .map_err(|_| ApiProblem(Problem::internal("ceremony lock poisoned")))
    }

    /// The deployment, if it was loaded already (no store access).
    pub fn loaded(&self) -> Option<Arc<Deployed>> {
        self.deployed.read().ok().and_then(|d| d.clone())
    }

    /// Locks the retired sets.
    pub fn retired(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, crate::quorum_sets::RetiredSets>, ApiProblem> {
        self.retired
            .lock()
            .map_err(|_| ApiProblem(Problem::internal("retired sets lock poisoned")))
    }

    /// Locks the release table.
    pub fn releases(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<u64, PendingRelease>>, ApiProblem> {
        self.releases
            .lock()
            .map_err(|_| ApiProblem(Problem::internal("release table lock poisoned")))
    }
}

/// Moves the ciphertexts and sealed shares a release file of an earlier version held into
/// their payload files (the ciphertexts are checked against the hashes the ledger names;
/// the shares' hashes are computed, as the answer route does). Whether anything moved.
fn move_out_legacy_payload(rdir: &Path, r: &mut PendingRelease) -> Result<bool, String> {
    use crate::release_payload as payload;
    let mut moved = false;
    if !r.legacy_ciphertexts.is_empty() {
        let cts = std::mem::take(&mut r.legacy_ciphertexts);
        let hashes: Vec<Hash> = cts.iter().map(|b| *blake3::hash(b).as_bytes()).collect();
        if hashes != r.hashes {
            return Err("its ciphertexts are not the ones its hashes name".into());
        }
        payload::write(&payload::ciphertexts_path(rdir, r.id), &cts).map_err(|e| e.to_string())?;
        moved = true;
    }
    for (trustee, a) in &mut r.answers {
        if a.legacy_sealed.is_empty() {
            continue;
        }
        let shares = std::mem::take(&mut a.legacy_sealed)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                dtfhe_api::types::unb64(&format!("answers.{trustee}.sealed[{i}]"), s)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        a.sealed_hashes = shares.iter().map(|b| *blake3::hash(b).as_bytes()).collect();
        payload::write(&payload::shares_path(rdir, r.id, trustee), &shares)
            .map_err(|e| e.to_string())?;
        moved = true;
    }
    Ok(moved)
}

/// Persists release `id` as it is when its turn comes (see [`persist`]; one save at a time,
/// so two concurrent saves neither share a temporary file nor leave the older state last),
/// off the async threads.
pub async fn save(state: &Arc<crate::state::AppState>, id: u64) -> Result<(), ApiProblem> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = st
            .keypath
            .persisting
            .lock()
            .map_err(|_| ApiProblem(Problem::internal("release file lock poisoned")))?;
        let snapshot = st.keypath.releases()?.get(&id).cloned();
        match snapshot {
            Some(r) => persist(&st.opts.dir, &r),
            None => Ok(()),
        }
    })
    .await
    .map_err(|e| ApiProblem(Problem::internal(format!("saving release {id}: {e}"))))?
}

/// Takes a revoked trustee out of every release not delivered yet, so none of its shares
/// is counted or relayed: its approval is dropped (a refusal stands: refusing is safe); on a
/// t-of-n release it is no longer a claimant, and a release set that named it is opened
/// again while no other member has answered for it (the next claims fix a set of trustees
/// in good standing). A set another member already answered for stays fixed (a trustee
/// answers one set per ciphertext) and that release cannot complete: the analyst's wait
/// ends in its timeout and the query is asked again. Returns the ids changed (to save).
pub fn drop_revoked_trustee(
    releases: &mut BTreeMap<u64, PendingRelease>,
    trustee: &str,
) -> Vec<u64> {
    let mut changed = Vec::new();
    for r in releases.values_mut().filter(|r| !r.delivered) {
        let mut touched = false;
        if r.answers.get(trustee).is_some_and(|a| a.approve) {
            r.answers.remove(trustee);
            touched = true;
        }
        if let Some(q) = r.quorum.as_mut() {
            let others_answered = q.set.as_ref().is_some_and(|set| {
                set.iter()
                    .any(|m| m != trustee && (r.answers.contains_key(m) || r.answering.contains(m)))
            });
            if !others_answered && q.claimed.iter().any(|c| c == trustee) {
                q.claimed.retain(|c| c != trustee);
                q.set = q.possible_set();
                touched = true;
            }
        }
        if touched {
            changed.push(r.id);
        }
    }
    changed
}

/// How long a finished (delivered or refused) release request is kept after its statement
/// was signed: long enough to fetch the answer again, bounded so memory and `D/releases` do
/// not grow without end. Its ledger entries stay forever.
pub const RETAIN_FINISHED_SECS: u64 = 24 * 3600;

/// Drops the finished release requests older than [`RETAIN_FINISHED_SECS`] (memory and
/// files), keeping the sets that gave shares for them ([`crate::quorum_sets::RetiredSets`]);
/// returns how many.
pub fn prune(state: &crate::state::AppState, now: u64) -> Result<usize, ApiProblem> {
    // The trustees in good standing: each must have answered or observed a t-of-n release
    // before it goes (a revoked one is not waited for).
    let trustees: Vec<String> = match state.keypath.loaded() {
        Some(d) => d.deployment.trustees.clone(),
        None => Vec::new(),
    };
    let standing: Vec<String> = trustees
        .into_iter()
        .filter(|t| state.identity(t).is_some_and(|r| !r.is_revoked()))
        .collect();
    let gone = {
        let mut releases = state.keypath.releases()?;
        let old: Vec<u64> = releases
            .values()
            .filter(|r| prunable(r, &standing, now))
            .map(|r| r.id)
            .collect();
        // Their sets still bind the trustees' share logs: kept (on disk first) before the
        // releases go. If that cannot be written, nothing is pruned this time (housekeeping
        // must not fail the request that triggered it); the next request tries again.
        let mut retired = state.keypath.retired()?;
        let mut kept = retired.clone();
        if kept.retire(old.iter().filter_map(|id| releases.get(id))) {
            if kept.persist(&state.releases_dir()).is_err() {
                return Ok(0);
            }
            *retired = kept;
        }
        old.iter()
            .filter_map(|id| releases.remove(id))
            .map(|r| (r.id, r.answers.into_keys().collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    let rdir = state.releases_dir();
    for (id, answered) in &gone {
        let _ = std::fs::remove_file(rdir.join(format!("{id}.json")));
        crate::release_payload::remove(&rdir, *id, answered.iter());
    }
    Ok(gone.len())
}

/// Whether release `r` may be pruned at `now`: finished (delivered or refused) longer than
/// [`RETAIN_FINISHED_SECS`] ago and, for a delivered t-of-n release, answered or observed by
/// every trustee of `standing` (so a trustee offline for longer still catches up on it).
pub fn prunable(r: &PendingRelease, standing: &[String], now: u64) -> bool {
    let refused = r.answers.values().any(|a| !a.approve);
    let old = now.saturating_sub(r.timestamp) > RETAIN_FINISHED_SECS;
    let seen_by_all = r.quorum.is_none()
        || refused
        || standing
            .iter()
            .all(|t| r.answers.contains_key(t) || r.observed.contains(t));
    (r.delivered || refused) && old && seen_by_all
}

/// Writes `r` to `dir/releases/<id>.json` (temporary file, fsync, rename).
pub fn persist(dir: &Path, r: &PendingRelease) -> Result<(), ApiProblem> {
    let fail = |e: String| ApiProblem(Problem::internal(format!("saving release {}: {e}", r.id)));
    let rdir = dir.join(RELEASES_DIR);
    std::fs::create_dir_all(&rdir).map_err(|e| fail(e.to_string()))?;
    let bytes = serde_json::to_vec(r).map_err(|e| fail(e.to_string()))?;
    let tmp = rdir.join(format!(".{}.json.tmp", r.id));
    let path = rdir.join(format!("{}.json", r.id));
    write_durably(&tmp, &path, &bytes).map_err(|e| fail(e.to_string()))
}

/// Writes `bytes` to `tmp`, syncs it and renames it to `path`: a reader sees the old file or
/// the whole new one.
pub(crate) fn write_durably(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(tmp)?;
    std::io::Write::write_all(&mut f, bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// Ciphertexts as base64 strings in release files of an earlier version.
mod b64_list {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|t| {
                base64::engine::general_purpose::STANDARD
                    .decode(t)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// A [`ChunkReader`] over the shared store that takes the store lock per call, so a long
/// homomorphic computation does not block ingest and other requests (the engine reads every
/// part before it computes).
pub struct LockedStore<'a>(pub &'a Mutex<Store>);

impl LockedStore<'_> {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Store>, ChunkReadError> {
        self.0.lock().map_err(|_| ChunkReadError::Invalid {
            reason: "store lock poisoned".into(),
        })
    }
}

impl ChunkReader for LockedStore<'_> {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
        ChunkReader::chunks(&*self.lock()?, dataset)
    }
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead {
        ChunkReader::part(&*self.lock()?, chunk_id, column, part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtfhe_api::dealing::Quorum;

    fn release(id: u64, quorum: Option<Quorum>, approved: &[&str]) -> PendingRelease {
        let approval = Answer::approval(vec![[7; 32]]);
        PendingRelease {
            id,
            answers: approved
                .iter()
                .map(|t| (t.to_string(), approval.clone()))
                .collect(),
            quorum,
            ..PendingRelease::default()
        }
    }

    fn quorum(claimed: &[&str]) -> Quorum {
        let mut q = Quorum::new(2, Vec::new());
        for c in claimed {
            q.claim(c);
        }
        q
    }

    /// A revoked trustee's approval is dropped everywhere it is not delivered yet; a set
    /// naming it opens again while no other member answered; the rest is left alone.
    #[test]
    fn a_revoked_trustee_is_taken_out_of_undelivered_releases() {
        let mut releases = BTreeMap::new();
        // n-of-n, answered by c: its approval goes.
        releases.insert(1, release(1, None, &["a", "c"]));
        // t-of-n set {c, b}, nobody else answered: opened, b stays a claimant.
        releases.insert(2, release(2, Some(quorum(&["c", "b"])), &["c"]));
        // Set {c, b}, b answered: stays fixed (b answered for that set), c's approval goes.
        releases.insert(3, release(3, Some(quorum(&["c", "b"])), &["b", "c"]));
        // Set {a, b} without c: untouched.
        releases.insert(4, release(4, Some(quorum(&["a", "b"])), &["a"]));
        // Delivered: history, untouched.
        let mut done = release(5, None, &["a", "b", "c"]);
        done.delivered = true;
        releases.insert(5, done);
        // Open set, c claimed with a: c is no longer a claimant.
        releases.insert(6, release(6, Some(quorum(&["c"])), &[]));
        let changed = drop_revoked_trustee(&mut releases, "c");
        assert_eq!(changed, vec![1, 2, 3, 6]);
        assert!(!releases[&1].answers.contains_key("c"));
        assert!(releases[&1].answers.contains_key("a"));
        let q2 = releases[&2].quorum.clone().expect("quorum");
        assert_eq!((q2.claimed, q2.set), (vec!["b".to_string()], None));
        assert!(releases[&2].answers.is_empty());
        let q3 = releases[&3].quorum.clone().expect("quorum");
        assert_eq!(q3.set, Some(vec!["c".to_string(), "b".to_string()]));
        assert_eq!(releases[&3].answers.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(releases[&4].answers.len(), 1);
        assert_eq!(releases[&5].answers.len(), 3);
        let q6 = releases[&6].quorum.clone().expect("quorum");
        assert!(q6.claimed.is_empty() && q6.set.is_none());
        // The next claim with b fixes a set without c.
        let r2 = releases.get_mut(&2).expect("release 2");
        let q = r2.quorum.as_mut().expect("quorum");
        assert!(q.claim("a"));
        assert_eq!(q.set, Some(vec!["b".to_string(), "a".to_string()]));
        // Again: nothing left to change.
        assert!(drop_revoked_trustee(&mut releases, "c").is_empty());
    }

    /// A delivered t-of-n release stays until every trustee in good standing answered or
    /// observed it; an n-of-n or refused one goes after the retention time as before.
    #[test]
    fn a_released_quorum_stays_until_every_trustee_recorded_it() {
        let standing: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let now = 10 * RETAIN_FINISHED_SECS;
        let old = now - RETAIN_FINISHED_SECS - 1;
        let mut r = release(1, Some(quorum(&["a", "b"])), &["a", "b"]);
        r.delivered = true;
        r.timestamp = old;
        assert!(!prunable(&r, &standing, now), "c has not observed it");
        r.observed.insert("c".into());
        assert!(prunable(&r, &standing, now));
        r.timestamp = now - 10;
        assert!(!prunable(&r, &standing, now), "recent");
        // n-of-n: as before.
        let mut n = release(2, None, &["a", "b", "c"]);
        n.delivered = true;
        n.timestamp = old;
        assert!(prunable(&n, &standing, now));
        // A revoked c is not in good standing, so not waited for.
        let mut q = release(3, Some(quorum(&["a", "b"])), &["a", "b"]);
        q.delivered = true;
        q.timestamp = old;
        assert!(prunable(&q, &standing[..2], now));
    }
}
