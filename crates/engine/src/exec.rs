//! The homomorphic executor: from a planned [`Query`] and the stored chunks to one sum
//! ciphertext per (output group, moment), ready for release.
//!
//! Pass 1 (clear): decode each chunk's public columns, apply WHERE, assign rows to groups,
//! count rows and build each group's 0/1 row mask per chunk. Pass 2 (encrypted, parallel over
//! chunks): Σ of stored parts (masked where a chunk is split between groups) and Σ of products
//! accumulated in the extended basis, relinearised once per sum.

use crate::error::EngineError;
use crate::group::{GroupKey, GroupState, PublicRow};
use crate::moments::{Factor, Moment, Part};
use crate::plan::{Query, SOURCE_COLUMN};
use dtfhe_crypto::accumulate::{apply_mask, LinearSum, Multiplier, NoiseEstimate, ProductSum};
use dtfhe_crypto::{codec, column, Params};
use dtfhe_store::{ChunkMeta, Store};
use dtfhe_thread::{decode_public_columns, Value};
use fhe::bfv::Ciphertext;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// Stored part name of a moment factor.
pub fn part_name(part: Part) -> &'static str {
    match part {
        Part::Value => "value",
        Part::Presence => "presence",
        Part::Square => "square",
    }
}

/// One output group after pass 1.
#[derive(Debug, Clone)]
pub struct SelectedGroup {
    /// Clear state (key, row count, public aggregates).
    pub state: GroupState,
    /// Human-readable key for messages, e.g. `type = 'H'`.
    pub label: String,
    /// Per chunk index: `None` if every row of the chunk is in the group, else the row mask.
    pub chunks: BTreeMap<usize, Option<Vec<bool>>>,
}

/// Result of pass 1: which rows of which chunks feed which group.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The stored chunks of the dataset.
    pub chunks: Vec<ChunkMeta>,
    /// Output groups in key order.
    pub groups: Vec<SelectedGroup>,
    /// Encrypted sums the query needs.
    pub moments: Vec<Moment>,
}

/// One computed sum, ready for release.
#[derive(Debug, Clone)]
pub struct ComputedSum {
    /// Index into [`Selection::groups`].
    pub group: usize,
    /// Which sum.
    pub moment: Moment,
    /// The sum ciphertext (2 parts).
    pub ciphertext: Ciphertext,
    /// Largest |term| per row (declared ranges).
    pub per_row_bound: u128,
    /// Worst-case noise estimate.
    pub noise: NoiseEstimate,
}

struct ChunkRow<'a> {
    names: &'a HashMap<String, usize>,
    cols: &'a [Vec<Value>],
    source: &'a Value,
    row: usize,
}

static NULL: Value = Value::Null;

impl PublicRow for ChunkRow<'_> {
    fn get(&self, column: &str) -> &Value {
        if column == SOURCE_COLUMN {
            return self.source;
        }
        match self.names.get(column) {
            Some(&i) => self.cols[i].get(self.row).unwrap_or(&NULL),
            None => &NULL,
        }
    }
}

fn label_of(query: &Query, key: &[Value]) -> String {
    if key.is_empty() {
        return "(all rows)".to_string();
    }
    query
        .group_by
        .iter()
        .zip(key)
        .map(|(c, v)| match v {
            Value::Null => format!("{c} IS NULL"),
            Value::Int(i) => format!("{c} = {i}"),
            Value::Dec(d) => format!("{c} = {d}"),
            Value::Text(t) => format!("{c} = '{t}'"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pass 1: select rows and form groups, in clear. Reads no ciphertext.
pub fn select(store: &Store, query: &Query) -> Result<Selection, EngineError> {
    let chunks = store
        .chunks(&query.dataset)
        .map_err(|e| EngineError::Execution(e.to_string()))?;
    let mut groups: BTreeMap<GroupKey, SelectedGroup> = BTreeMap::new();
    for (ci, chunk) in chunks.iter().enumerate() {
        let cols = decode_public_columns(&chunk.public)
            .map_err(|e| EngineError::Execution(format!("chunk {}: {e}", chunk.id)))?;
        let names: HashMap<String, usize> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let values: Vec<Vec<Value>> = cols.into_iter().map(|c| c.values).collect();
        let source = Value::Text(chunk.source.clone());
        let rows = chunk.rows as usize;
        let mut touched: Vec<GroupKey> = Vec::new();
        for row in 0..rows {
            let r = ChunkRow {
                names: &names,
                cols: &values,
                source: &source,
                row,
            };
            if !query.selects(&r) {
                continue;
            }
            let key = query.group_key(&r);
            let gk = GroupKey(key.clone());
            let g = groups.entry(gk.clone()).or_insert_with(|| SelectedGroup {
                label: label_of(query, &key),
                state: query.new_group(key),
                chunks: BTreeMap::new(),
            });
            g.state.add_row(&r);
            let mask = g.chunks.entry(ci).or_insert_with(|| {
                touched.push(gk.clone());
                Some(vec![false; rows])
            });
            if let Some(m) = mask {
                m[row] = true;
            }
        }
        // A chunk wholly inside one group needs no mask.
        for gk in touched {
            if let Some(g) = groups.get_mut(&gk) {
                if let Some(slot) = g.chunks.get_mut(&ci) {
                    if slot.as_ref().is_some_and(|m| m.iter().all(|&b| b)) {
                        *slot = None;
                    }
                }
            }
        }
    }
    let mut groups: Vec<SelectedGroup> = groups.into_values().collect();
    if groups.is_empty() && query.group_by.is_empty() {
        groups.push(SelectedGroup {
            label: label_of(query, &[]),
            state: query.new_group(Vec::new()),
            chunks: BTreeMap::new(),
        });
    }
    Ok(Selection {
        chunks,
        groups,
        moments: query.moments(),
    })
}

enum Acc {
    Linear(LinearSum, bool),
    Product(Box<ProductSum>, bool),
}

/// Pass 2: compute every (group, moment) sum on ciphertexts. Refuses, before any work, a
/// compact (`usage = "sum"`) column whose chunks a query splits.
pub fn compute(
    store: &Store,
    query: &Query,
    params: &Params,
    multiplier: &Multiplier,
    selection: &Selection,
) -> Result<Vec<ComputedSum>, EngineError> {
    let schema = &query.schema;
    let compact = params.compact_level();
    let level_of_factor = |f: &Factor| -> usize {
        let sum_only = schema
            .column(&f.column)
            .and_then(|c| c.encrypted())
            .is_some_and(|e| e.usage == dtfhe_thread::Usage::Sum);
        if sum_only && f.part != Part::Square {
            compact
        } else {
            0
        }
    };
    for g in &selection.groups {
        if g.chunks.values().any(|m| m.is_some()) {
            for m in &selection.moments {
                if let Some(f) = m.factors.iter().find(|f| level_of_factor(f) != 0) {
                    return Err(EngineError::Refused(format!(
                        "column `{}` is declared usage = \"sum\" (stored compact): it can only be summed over whole chunks, but group {} takes part of a chunk; filter or group only by `source`, or declare the column usage = \"product\"",
                        f.column, g.label
                    )));
                }
            }
        }
    }

    // Load every needed part of every chunk that any group uses, decoding in parallel.
    let mut needed: Vec<(usize, Factor)> = Vec::new();
    let used: std::collections::BTreeSet<usize> = selection
        .groups
        .iter()
        .flat_map(|g| g.chunks.keys().copied())
        .collect();
    for &ci in &used {
        for m in &selection.moments {
            for f in &m.factors {
                if !needed.contains(&(ci, f.clone())) {
                    needed.push((ci, f.clone()));
                }
            }
        }
    }
    let mut raw = Vec::with_capacity(needed.len());
    for (ci, f) in &needed {
        let chunk = &selection.chunks[*ci];
        let bytes = store
            .part(chunk.id, &f.column, part_name(f.part))
            .map_err(|e| EngineError::Execution(e.to_string()))?
            .ok_or_else(|| {
                EngineError::Execution(format!(
                    "chunk {} has no {} part for column `{}`",
                    chunk.id,
                    part_name(f.part),
                    f.column
                ))
            })?;
        raw.push(bytes);
    }
    let decoded: Vec<Ciphertext> = raw
        .par_iter()
        .zip(&needed)
        .map(|(b, (ci, f))| {
            codec::decode_ciphertext(params, b).map_err(|e| {
                EngineError::Execution(format!(
                    "chunk {} column `{}`: {e}",
                    selection.chunks[*ci].id, f.column
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let parts: HashMap<(usize, Factor), Ciphertext> = needed.into_iter().zip(decoded).collect();

    // Accumulate per chunk in parallel; each worker folds into its own accumulators.
    let chunk_list: Vec<usize> = used.into_iter().collect();
    let new_accs = || -> Vec<Vec<Acc>> {
        selection
            .groups
            .iter()
            .map(|_| {
                selection
                    .moments
                    .iter()
                    .map(|m| {
                        if m.factors.len() == 1 {
                            Acc::Linear(LinearSum::default(), false)
                        } else {
                            Acc::Product(Box::new(multiplier.product_sum()), false)
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let work = |mut accs: Vec<Vec<Acc>>, ci: &usize| -> Result<Vec<Vec<Acc>>, EngineError> {
        let ci = *ci;
        let mut extended: HashMap<Factor, dtfhe_crypto::accumulate::Extended> = HashMap::new();
        let exec = |e: dtfhe_crypto::CryptoError| EngineError::Execution(e.to_string());
        for (gi, g) in selection.groups.iter().enumerate() {
            let Some(mask) = g.chunks.get(&ci) else {
                continue;
            };
            let mut masks: HashMap<usize, fhe::bfv::Plaintext> = HashMap::new();
            for (mi, m) in selection.moments.iter().enumerate() {
                let first = &parts[&(ci, m.factors[0].clone())];
                let masked_first = match mask {
                    None => None,
                    Some(bits) => {
                        let level = column::level_of(params, first).map_err(exec)?;
                        if let std::collections::hash_map::Entry::Vacant(v) = masks.entry(level) {
                            v.insert(column::mask_plaintext(params, bits, level).map_err(exec)?);
                        }
                        Some(apply_mask(first, &masks[&level]))
                    }
                };
                match &mut accs[gi][mi] {
                    Acc::Linear(sum, was_masked) => {
                        sum.add(masked_first.as_ref().unwrap_or(first))
                            .map_err(exec)?;
                        *was_masked |= masked_first.is_some();
                    }
                    Acc::Product(sum, was_masked) => {
                        let second = &m.factors[1];
                        if !extended.contains_key(second) {
                            extended.insert(
                                second.clone(),
                                multiplier
                                    .extend(&parts[&(ci, second.clone())])
                                    .map_err(exec)?,
                            );
                        }
                        let a = match &masked_first {
                            Some(ct) => multiplier.extend(ct).map_err(exec)?,
                            None => {
                                if !extended.contains_key(&m.factors[0]) {
                                    extended.insert(
                                        m.factors[0].clone(),
                                        multiplier.extend(first).map_err(exec)?,
                                    );
                                }
                                extended[&m.factors[0]].clone()
                            }
                        };
                        sum.add(&a, &extended[second]);
                        *was_masked |= masked_first.is_some();
                    }
                }
            }
        }
        Ok(accs)
    };
    // At most one accumulator set per worker thread: each holds extended-basis polynomials.
    let per_worker = chunk_list
        .len()
        .div_ceil(rayon::current_num_threads())
        .max(1);
    let merged = chunk_list
        .par_iter()
        .with_min_len(per_worker)
        .try_fold(new_accs, work)
        .try_reduce(new_accs, |mut a, b| {
            for (ga, gb) in a.iter_mut().zip(b) {
                for (x, y) in ga.iter_mut().zip(gb) {
                    match (x, y) {
                        (Acc::Linear(s, m), Acc::Linear(s2, m2)) => {
                            s.merge(s2)
                                .map_err(|e| EngineError::Execution(e.to_string()))?;
                            *m |= m2;
                        }
                        (Acc::Product(s, m), Acc::Product(s2, m2)) => {
                            s.merge(&s2);
                            *m |= m2;
                        }
                        _ => return Err(EngineError::Execution("accumulator kinds differ".into())),
                    }
                }
            }
            Ok(a)
        })?;

    // Finish each sum, in parallel (relinearisation is the costly step).
    let jobs: Vec<(usize, usize, Acc)> = merged
        .into_iter()
        .enumerate()
        .flat_map(|(gi, accs)| accs.into_iter().enumerate().map(move |(mi, a)| (gi, mi, a)))
        .filter(|(gi, _, _)| selection.groups[*gi].state.rows() > 0)
        .collect();
    jobs.into_par_iter()
        .map(|(gi, mi, acc)| {
            let m = &selection.moments[mi];
            let per_row_bound = m.bound(schema);
            let level = level_of_factor(&m.factors[0]);
            let (ciphertext, noise) = match acc {
                Acc::Linear(sum, masked) => {
                    let terms = sum.terms();
                    let ct = sum
                        .finish()
                        .ok_or_else(|| EngineError::Execution(format!("no data for {m}")))?;
                    let base = NoiseEstimate::fresh(level);
                    let base = if masked { base.masked(params) } else { base };
                    (ct, base.summed(terms))
                }
                Acc::Product(sum, masked) => {
                    let terms = sum.terms();
                    let ct = multiplier
                        .finish(*sum)
                        .map_err(|e| EngineError::Execution(e.to_string()))?;
                    let a = NoiseEstimate::fresh(0);
                    let a = if masked { a.masked(params) } else { a };
                    (ct, a.product(NoiseEstimate::fresh(0), params).summed(terms))
                }
            };
            Ok(ComputedSum {
                group: gi,
                moment: m.clone(),
                ciphertext,
                per_row_bound,
                noise,
            })
        })
        .collect()
}

/// One chunk's encrypted predictions, for the per-row release to the chunk's owner.
#[derive(Debug, Clone)]
pub struct ScoredChunk {
    /// The chunk (its public columns go beside the predictions).
    pub chunk: ChunkMeta,
    /// Σ_j W_j · x_j + C, slot by slot.
    pub ciphertext: Ciphertext,
    /// Worst-case noise estimate.
    pub noise: NoiseEstimate,
}

/// Homomorphic scoring: for every chunk of `source` in the dataset, plaintext weights ×
/// ciphertexts, summed slot by slot (no ct × ct, no relinearisation).
pub fn score_chunks(
    store: &Store,
    params: &Params,
    dataset: &str,
    source: &str,
    plan: &crate::model::ScorePlan,
) -> Result<Vec<ScoredChunk>, EngineError> {
    use fhe::bfv::{Encoding, Plaintext};
    use fhe_traits::FheEncoder;
    let exec = |e: dtfhe_crypto::CryptoError| EngineError::Execution(e.to_string());
    let chunks: Vec<ChunkMeta> = store
        .chunks(dataset)
        .map_err(|e| EngineError::Execution(e.to_string()))?
        .into_iter()
        .filter(|c| c.source == source)
        .collect();
    if chunks.is_empty() {
        return Err(EngineError::Refused(format!(
            "dataset `{dataset}` has no rows of source `{source}`"
        )));
    }
    let scalar = |w: i64| -> Result<Plaintext, EngineError> {
        let zt = column::to_zt(params, &[w]).map_err(exec)?;
        Plaintext::try_encode(&zt, Encoding::poly(), &params.bfv)
            .map_err(|e| EngineError::Execution(e.to_string()))
    };
    let weights = plan
        .weights
        .iter()
        .map(|&w| scalar(w))
        .collect::<Result<Vec<_>, _>>()?;
    let constant = {
        let zt = column::to_zt(params, &vec![plan.constant; params.slots()]).map_err(exec)?;
        Plaintext::try_encode(&zt, Encoding::simd(), &params.bfv)
            .map_err(|e| EngineError::Execution(e.to_string()))?
    };
    let weight_sum: u128 = plan.weights.iter().map(|w| w.unsigned_abs() as u128).sum();
    let mut raw = Vec::with_capacity(chunks.len());
    for chunk in &chunks {
        let mut parts = Vec::with_capacity(plan.features.len());
        for f in &plan.features {
            parts.push(
                store
                    .part(chunk.id, f, "value")
                    .map_err(|e| EngineError::Execution(e.to_string()))?
                    .ok_or_else(|| {
                        EngineError::Execution(format!(
                            "chunk {} has no value part for `{f}`",
                            chunk.id
                        ))
                    })?,
            );
        }
        raw.push(parts);
    }
    chunks
        .into_par_iter()
        .zip(raw)
        .map(|(chunk, parts)| {
            let mut acc: Option<Ciphertext> = None;
            for (bytes, w) in parts.iter().zip(&weights) {
                let ct = codec::decode_ciphertext(params, bytes).map_err(exec)?;
                if column::level_of(params, &ct).map_err(exec)? != 0 {
                    return Err(EngineError::Refused(
                        "scoring needs features stored at full level (usage = \"product\")".into(),
                    ));
                }
                let term = &ct * w;
                acc = Some(match acc {
                    None => term,
                    Some(a) => &a + &term,
                });
            }
            let ciphertext = acc.ok_or_else(|| {
                EngineError::Execution("a model needs at least one feature".into())
            })? + &constant;
            let noise = NoiseEstimate(
                NoiseEstimate::fresh(0).0
                    + dtfhe_crypto::accumulate::log2_ceil(weight_sum.max(1))
                    + 1,
            );
            Ok(ScoredChunk {
                chunk,
                ciphertext,
                noise,
            })
        })
        .collect()
}
