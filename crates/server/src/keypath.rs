//! The server's key-path state: the deployment's parameters (loaded once), the release
//! requests awaiting the trustees, and the key ceremony in progress.
//!
//! Release requests are kept in memory and, so a restart loses none, each is also written to
//! `D/releases/<id>.json` (written through a temporary file and renamed) when it is created,
//! answered or delivered; the ledger stays the authoritative record. The server holds no
//! secret here: the files hold the public statement, group facts, ciphertexts and sealed
//! shares, bytes only the analyst's ephemeral key opens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use dtfhe_api::release::GroupInfo;
use dtfhe_api::Problem;
use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::{codec, Params};
use dtfhe_model::{ChunkMeta, ChunkReadError, ChunkReader, PartRead};
use dtfhe_store::{Deployment, Hash, Store};

use crate::error::ApiProblem;

/// The deployment record with its parameters and multiplier, loaded once the ceremony is
/// done.
pub struct Deployed {
    /// The stored record.
    pub deployment: Deployment,
    /// Its parameters.
    pub params: Params,
    /// Relinearising multiplier for products (built once: it holds the relin key).
    pub multiplier: Multiplier,
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
    /// Sealed shares (base64), one per ciphertext.
    pub sealed: Vec<String>,
    /// The ε the trustee's noise share was drawn for (dp mode), relayed to the analyst.
    #[serde(default)]
    pub epsilon: Option<f64>,
}

/// A release request awaiting (or having) the trustees' answers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
    /// Encoded ciphertexts, in release order.
    #[serde(with = "b64_list")]
    pub ciphertexts: Vec<Vec<u8>>,
    /// Their blake3 hashes.
    pub hashes: Vec<Hash>,
    /// Answers by trustee.
    pub answers: BTreeMap<String, Answer>,
    /// Trustees whose answer is being recorded right now (so two concurrent answers of one
    /// trustee cannot both be written to the ledger).
    #[serde(skip)]
    pub answering: BTreeSet<String>,
    /// Whether `result_delivered` was recorded.
    pub delivered: bool,
    /// For a per-row scoring: the model's hash (hex); `analyst` is then the source.
    #[serde(default)]
    pub score_model: Option<String>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct KeyPath {
    deployed: OnceLock<Arc<Deployed>>,
    /// Release requests by id.
    pub releases: Mutex<BTreeMap<u64, PendingRelease>>,
    /// The key ceremony, if this server runs one (see [`crate::routes::ceremony`]).
    pub ceremony: Mutex<Option<crate::routes::ceremony::Ceremony>>,
}

impl KeyPath {
    /// The deployment, loading it from `store` the first time (503 before the ceremony
    /// finished).
    pub fn deployed(&self, store: &Store) -> Result<Arc<Deployed>, ApiProblem> {
        if let Some(d) = self.deployed.get() {
            return Ok(d.clone());
        }
        let deployment = store.deployment()?;
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
            multiplier,
        });
        Ok(self.deployed.get_or_init(|| d).clone())
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
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let r: PendingRelease = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|e| {
                    crate::error::ServerError::Config(format!("{}: {e}", path.display()))
                })?;
            releases.insert(r.id, r);
        }
        Ok(KeyPath {
            ceremony: Mutex::new(ceremony),
            releases: Mutex::new(releases),
            deployed: OnceLock::new(),
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

    /// Locks the release table.
    pub fn releases(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<u64, PendingRelease>>, ApiProblem> {
        self.releases
            .lock()
            .map_err(|_| ApiProblem(Problem::internal("release table lock poisoned")))
    }
}

/// Persists release `id` as it is now (see [`persist`]), off the async threads.
pub async fn save(state: &Arc<crate::state::AppState>, id: u64) -> Result<(), ApiProblem> {
    let snapshot = state.keypath.releases()?.get(&id).cloned();
    let Some(r) = snapshot else {
        return Ok(());
    };
    let dir = state.opts.dir.clone();
    tokio::task::spawn_blocking(move || persist(&dir, &r))
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("saving release {id}: {e}"))))?
}

/// How long a finished (delivered or refused) release request is kept after its statement
/// was signed: long enough to fetch the answer again, bounded so memory and `D/releases` do
/// not grow without end. Its ledger entries stay forever.
pub const RETAIN_FINISHED_SECS: u64 = 24 * 3600;

/// Drops the finished release requests older than [`RETAIN_FINISHED_SECS`] (memory and
/// files); returns how many.
pub fn prune(state: &crate::state::AppState, now: u64) -> Result<usize, ApiProblem> {
    let gone: Vec<u64> = {
        let mut releases = state.keypath.releases()?;
        let old: Vec<u64> = releases
            .values()
            .filter(|r| {
                let finished = r.delivered || r.answers.values().any(|a| !a.approve);
                finished && now.saturating_sub(r.timestamp) > RETAIN_FINISHED_SECS
            })
            .map(|r| r.id)
            .collect();
        for id in &old {
            releases.remove(id);
        }
        old
    };
    for id in &gone {
        let _ = std::fs::remove_file(state.opts.dir.join(RELEASES_DIR).join(format!("{id}.json")));
    }
    Ok(gone.len())
}

/// Writes `r` to `dir/releases/<id>.json` (temporary file, fsync, rename).
pub fn persist(dir: &Path, r: &PendingRelease) -> Result<(), ApiProblem> {
    let fail = |e: String| ApiProblem(Problem::internal(format!("saving release {}: {e}", r.id)));
    let rdir = dir.join(RELEASES_DIR);
    std::fs::create_dir_all(&rdir).map_err(|e| fail(e.to_string()))?;
    let bytes = serde_json::to_vec(r).map_err(|e| fail(e.to_string()))?;
    let tmp = rdir.join(format!(".{}.json.tmp", r.id));
    let path = rdir.join(format!("{}.json", r.id));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| fail(e.to_string()))
}

/// Ciphertexts as base64 strings in the persisted JSON.
mod b64_list {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        )
    }

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
