//! The server's key-path state: the deployment's parameters (loaded once), the release
//! requests awaiting the trustees, and the key ceremony in progress.
//!
//! Release requests live in memory: their ledger entries are the durable record, and a
//! request lost in a restart is simply asked again by the analyst (the trustees' share logs
//! guarantee that the same ciphertext always gets the same share). The server holds no
//! secret here: sealed shares are bytes only the analyst's ephemeral key opens.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use dtfhe_api::release::GroupInfo;
use dtfhe_api::Problem;
use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::{codec, Params};
use dtfhe_store::{ChunkMeta, ChunkReader, Deployment, Hash, Store, StoreError};

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

impl std::fmt::Debug for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployed")
            .field("preset", &self.deployment.preset)
            .field("trustees", &self.deployment.trustees)
            .finish_non_exhaustive()
    }
}

/// One trustee's recorded answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Approved?
    pub approve: bool,
    /// Refusal reason.
    pub reason: Option<String>,
    /// Sealed shares (base64), one per ciphertext.
    pub sealed: Vec<String>,
}

/// A release request awaiting (or having) the trustees' answers.
#[derive(Debug, Clone)]
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
    pub ciphertexts: Vec<Vec<u8>>,
    /// Their blake3 hashes.
    pub hashes: Vec<Hash>,
    /// Answers by trustee.
    pub answers: BTreeMap<String, Answer>,
    /// Trustees whose answer is being recorded right now (so two concurrent answers of one
    /// trustee cannot both be written to the ledger).
    pub answering: BTreeSet<String>,
    /// Whether `result_delivered` was recorded.
    pub delivered: bool,
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

    /// The key path with the ceremony this start runs, if any.
    pub fn new(ceremony: Option<crate::routes::ceremony::Ceremony>) -> KeyPath {
        KeyPath {
            ceremony: Mutex::new(ceremony),
            ..KeyPath::default()
        }
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

/// A [`ChunkReader`] over the shared store that takes the store lock per call, so a long
/// homomorphic computation does not block ingest and other requests (the engine reads every
/// part before it computes).
pub struct LockedStore<'a>(pub &'a Mutex<Store>);

impl LockedStore<'_> {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Store>, StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError::Invalid("store lock poisoned".into()))
    }
}

impl ChunkReader for LockedStore<'_> {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, StoreError> {
        self.lock()?.chunks(dataset)
    }
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.lock()?.part(chunk_id, column, part)
    }
}
