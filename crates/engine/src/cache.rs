//! A bounded cache of a query's accumulated encrypted sums, per group, so that a repeated or
//! growing query adds only the chunks it has not summed yet.
//!
//! Who gains: a live view or `dtfhe query --follow` re-runs the same query each time chunks
//! land; an analyst asks again; the platform and every trustee each re-derive the same sums.
//! Each of them keeps one [`SumCache`] (one per deployment: the accumulators belong to its
//! parameters and keys) and passes it to [`crate::exec::compute_with`].
//!
//! Why it is exact: the accumulators are sums modulo the ciphertext (or extended) modulus,
//! so adding the new chunks' terms to a cached sum gives the very ciphertext that summing
//! every chunk afresh gives; the platform's and the trustees' hashes still agree (tested
//! against the uncached computation and the plaintext). A cached sum is used only when every
//! chunk it covers is still in the selection (a query over an earlier pin computes afresh),
//! and only for a group it already held: a new group is summed over all its chunks. The
//! cache holds ciphertext sums, never decryption shares, so the one-share-per-ciphertext rule
//! of the trustees is unaffected.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use dtfhe_crypto::Params;
use fhe::bfv::BfvParameters;

use crate::exec::Acc;

/// What identifies one unit of work: a hash of its chunks' ids and signed metadata.
pub(crate) type UnitKey = [u8; 32];

/// What identifies a computation: a hash of everything a group's per-chunk terms depend on
/// (datasets, filter, grouping, join, schema, moments, parameters).
pub(crate) type ComputationKey = [u8; 32];

/// The per-group accumulators of one computation and the units they cover.
#[derive(Clone, Default)]
pub(crate) struct Cached {
    /// The units summed into every group below.
    pub(crate) units: BTreeSet<UnitKey>,
    /// Group label → its accumulators, in moment order: shared with the computations that
    /// read them (a hit copies nothing; a computation that adds chunks copies the group's
    /// accumulators first).
    pub(crate) groups: HashMap<String, Arc<Vec<Acc>>>,
}

struct Entry {
    key: ComputationKey,
    /// The parameters the sums were computed under: fhe.rs adds only ciphertexts of the
    /// same parameter object, so an entry serves that object alone (held, so its address
    /// cannot be reused by another).
    par: Arc<BfvParameters>,
    cached: Cached,
    bytes: usize,
}

/// A bounded, least-recently-used cache of accumulated sums (see the module documentation).
pub struct SumCache {
    max_bytes: usize,
    /// Computations that started from a cached entry.
    hits: std::sync::atomic::AtomicU64,
    /// Most recently used last.
    entries: Mutex<Vec<Entry>>,
}

impl std::fmt::Debug for SumCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (entries, bytes) = self.usage();
        f.debug_struct("SumCache")
            .field("max_bytes", &self.max_bytes)
            .field("hits", &self.hits())
            .field("entries", &entries)
            .field("bytes", &bytes)
            .finish()
    }
}

/// The default bound: room for the sums of a few grouped queries at bfv-16384 while the
/// platform stays well inside its memory target.
pub const DEFAULT_SUM_CACHE_BYTES: usize = 128 << 20;

impl Default for SumCache {
    fn default() -> Self {
        SumCache::new(DEFAULT_SUM_CACHE_BYTES)
    }
}

impl SumCache {
    /// A cache holding at most `max_bytes` of accumulators (0 disables it).
    pub fn new(max_bytes: usize) -> SumCache {
        SumCache {
            max_bytes,
            hits: Default::default(),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// How many computations started from a cached entry so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// (entries, bytes) held now.
    pub fn usage(&self) -> (usize, usize) {
        self.entries
            .lock()
            .map(|e| (e.len(), e.iter().map(|x| x.bytes).sum()))
            .unwrap_or((0, 0))
    }

    /// The entry for `key` under `params` (its accumulators shared, not copied) if every
    /// unit it covers is among `units`.
    pub(crate) fn get(
        &self,
        key: &ComputationKey,
        params: &Params,
        units: &BTreeSet<UnitKey>,
    ) -> Option<Cached> {
        let mut entries = self.entries.lock().ok()?;
        let at = entries
            .iter()
            .position(|e| &e.key == key && Arc::ptr_eq(&e.par, &params.bfv))?;
        if !entries[at].cached.units.is_subset(units) {
            return None;
        }
        let entry = entries.remove(at);
        let copy = entry.cached.clone();
        entries.push(entry);
        self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(copy)
    }

    /// Keeps `cached` for `key` (replacing an older entry), evicting the least recently used
    /// entries beyond the bound; an entry larger than the whole bound is not kept.
    pub(crate) fn put(&self, key: ComputationKey, params: &Params, cached: Cached) {
        let bytes: usize = cached
            .groups
            .values()
            .flat_map(|g| g.iter())
            .map(Acc::bytes)
            .sum();
        if bytes > self.max_bytes {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|e| e.key != key || !Arc::ptr_eq(&e.par, &params.bfv));
        entries.push(Entry {
            key,
            par: params.bfv.clone(),
            cached,
            bytes,
        });
        let mut total: usize = entries.iter().map(|e| e.bytes).sum();
        while total > self.max_bytes {
            total -= entries.remove(0).bytes;
        }
    }
}
