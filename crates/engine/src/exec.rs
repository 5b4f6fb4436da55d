//! The homomorphic executor: from a planned [`Query`] and the stored chunks to one sum
//! ciphertext per (output group, moment), ready for release.
//!
//! Pass 1 (clear): decode each chunk's public columns, apply WHERE, assign rows to groups,
//! count rows and build each group's 0/1 row mask per chunk. Pass 2 (encrypted, parallel over
//! chunks): Σ of stored parts (masked where a chunk is split between groups) and Σ of products
//! accumulated in the extended basis, relinearised once per sum.

use crate::cache::{Cached, ComputationKey, SumCache, UnitKey};
use crate::error::EngineError;
use crate::group::{GroupKey, GroupState, PublicRow};
use crate::moments::{Factor, Moment, Part};
use crate::plan::{Query, SOURCE_COLUMN};
use dtfhe_crypto::accumulate::{
    apply_mask, Extended, ExtendedMask, LinearSum, Multiplier, NoiseEstimate, ProductSum, Tensor,
};
use dtfhe_crypto::{codec, column, Params};
use dtfhe_model::lanes::{lane_key_text, LanePlacement, PlacedAt};
use dtfhe_model::{decode_public_columns, Value};
use dtfhe_model::{ChunkMeta, ChunkReader};
use fhe::bfv::Ciphertext;
use rayon::prelude::*;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Stored part name of a moment factor (`gt{k}` for the threshold indicators).
pub fn part_name(part: Part) -> &'static str {
    match part {
        Part::Value => "value",
        Part::Presence => "presence",
        Part::Square => "square",
        Part::Above(k) => dtfhe_model::indicator_part(usize::from(k)).unwrap_or("gt?"),
    }
}

pub use dtfhe_model::LANE_COLUMN;

/// One output group after pass 1.
#[derive(Debug, Clone)]
pub struct SelectedGroup {
    /// Clear state (key, row count, public aggregates).
    pub state: GroupState,
    /// Human-readable key for messages, e.g. `type = 'H'`.
    pub label: String,
    /// Per unit index: `None` if every stored row of the unit's chunks is in the group, else
    /// the slot mask (length N).
    pub units: BTreeMap<usize, Option<Vec<bool>>>,
    /// The rows the group covers: per index into [`Selection::chunks`], the chunk's row
    /// indices (sorted, distinct). A join lists the rows of each side's chunks. This is what
    /// the disclosure audit keeps of every release.
    pub rows: BTreeMap<usize, Vec<u32>>,
}

/// A unit of work: one chunk, or for a join one chunk of each side in the same lane block.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Indices into [`Selection::chunks`], one per side.
    pub chunks: Vec<usize>,
}

/// Result of pass 1: which rows of which chunks feed which group.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The stored chunks read, with the join side each belongs to (0 without a join).
    pub chunks: Vec<(usize, ChunkMeta)>,
    /// Units of work.
    pub units: Vec<Unit>,
    /// Output groups in key order.
    pub groups: Vec<SelectedGroup>,
    /// Encrypted sums the query needs.
    pub moments: Vec<Moment>,
    /// Column-name prefix of each side (`alias.`), empty without a join.
    pub prefixes: Vec<String>,
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

/// A chunk's public columns, decoded, with each row's slot.
struct Decoded {
    names: HashMap<String, usize>,
    cols: Vec<Vec<Value>>,
    source: Value,
    slots: Vec<usize>,
    block: Option<u64>,
}

fn decode(chunk: &ChunkMeta, n: usize) -> Result<Decoded, EngineError> {
    let cols = decode_public_columns(&chunk.public)
        .map_err(|e| EngineError::Execution(format!("chunk {}: {e}", chunk.id)))?;
    let names: HashMap<String, usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let cols: Vec<Vec<Value>> = cols.into_iter().map(|c| c.values).collect();
    let (slots, block) = match names.get(LANE_COLUMN) {
        Some(&i) => {
            let lanes = cols[i]
                .iter()
                .map(|v| match v {
                    Value::Int(l) if *l >= 0 => Ok(*l as u64),
                    _ => Err(EngineError::Execution(format!(
                        "chunk {}: bad lane number",
                        chunk.id
                    ))),
                })
                .collect::<Result<Vec<u64>, _>>()?;
            let block = lanes.first().map(|l| l / n as u64);
            if lanes.iter().any(|l| Some(l / n as u64) != block) {
                return Err(EngineError::Execution(format!(
                    "chunk {} spans two lane blocks",
                    chunk.id
                )));
            }
            (
                lanes.iter().map(|l| (l % n as u64) as usize).collect(),
                block,
            )
        }
        None => ((0..chunk.rows as usize).collect(), None),
    };
    Ok(Decoded {
        names,
        cols,
        source: Value::Text(chunk.source.clone()),
        slots,
        block,
    })
}

/// The SIMD slot of each row of `chunk`: row i in slot i, except for a per-product chunk,
/// whose rows sit in their lanes' slots (lane mod N). What a per-row release reads back.
pub fn row_slots(chunk: &ChunkMeta, n: usize) -> Result<Vec<usize>, EngineError> {
    Ok(decode(chunk, n)?.slots)
}

/// Refuses a join whose signed rows contradict each other: one product in two lanes, or two
/// products in one lane (see [`dtfhe_model::lanes`]). Joining is slot by slot, so this is what
/// makes "same slot" mean "same product" whatever the platform or a source claimed.
fn check_placement(
    chunks: &[(usize, ChunkMeta)],
    decoded: &[Decoded],
    key: &str,
    n: usize,
) -> Result<(), EngineError> {
    let mut placement = LanePlacement::new();
    for ((_, c), d) in chunks.iter().zip(decoded) {
        let (Some(&k), Some(block)) = (d.names.get(key), d.block) else {
            return Err(EngineError::Execution(format!(
                "chunk {} of a lane dataset has no lane numbers or no `{key}` column",
                c.id
            )));
        };
        let at = PlacedAt {
            chunk: c.id,
            source: c.source.clone(),
        };
        for (row, &slot) in d.slots.iter().enumerate() {
            let product = d.cols[k].get(row).map(lane_key_text).unwrap_or_default();
            placement
                .add(&product, block * n as u64 + slot as u64, &at)
                .map_err(|c| EngineError::LanePlacement(Box::new(c)))?;
        }
    }
    Ok(())
}

/// Row access across the sides of a unit: `prefix + column` → that side's value.
struct UnitRow<'a> {
    prefixes: &'a [String],
    sides: Vec<(&'a Decoded, usize)>,
}

static NULL: Value = Value::Null;

impl PublicRow for UnitRow<'_> {
    fn get(&self, column: &str) -> &Value {
        for (prefix, (d, row)) in self.prefixes.iter().zip(&self.sides) {
            let Some(name) = column.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if name == SOURCE_COLUMN {
                return &d.source;
            }
            return match d.names.get(name) {
                Some(&i) => d.cols[i].get(*row).unwrap_or(&NULL),
                None => &NULL,
            };
        }
        &NULL
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
pub fn select(
    store: &dyn ChunkReader,
    params: &Params,
    query: &Query,
) -> Result<Selection, EngineError> {
    let n = params.slots();
    let load = |dataset: &str| store.chunks(dataset).map_err(EngineError::Read);
    let mut chunks: Vec<(usize, ChunkMeta)> = Vec::new();
    let mut decoded: Vec<Decoded> = Vec::new();
    // Each unit with its rows (slot, row index on each side) and, per side, whether its rows
    // are all of that side's chunk.
    type UnitRows = (Unit, Vec<(usize, Vec<usize>)>, Vec<bool>);
    let mut units: Vec<UnitRows> = Vec::new();
    let prefixes: Vec<String> = match &query.join {
        None => {
            for c in load(&query.dataset)? {
                decoded.push(decode(&c, n)?);
                chunks.push((0, c));
            }
            for (i, d) in decoded.iter().enumerate() {
                let rows = d
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(r, &s)| (s, vec![r]))
                    .collect();
                units.push((Unit { chunks: vec![i] }, rows, vec![true]));
            }
            vec![String::new()]
        }
        Some(join) => {
            for (side, s) in join.sides.iter().enumerate() {
                for c in load(&s.dataset)? {
                    decoded.push(decode(&c, n)?);
                    chunks.push((side, c));
                }
            }
            check_placement(&chunks, &decoded, &join.key, n)?;
            let mut by_block: BTreeMap<u64, [Vec<usize>; 2]> = BTreeMap::new();
            for (i, (side, c)) in chunks.iter().enumerate() {
                let block = decoded[i].block.ok_or_else(|| {
                    EngineError::Execution(format!(
                        "chunk {} of a lane dataset has no lane numbers",
                        c.id
                    ))
                })?;
                by_block.entry(block).or_default()[*side].push(i);
            }
            for [left, right] in by_block.values() {
                for &a in left {
                    for &b in right {
                        let rows_b: HashMap<usize, usize> = decoded[b]
                            .slots
                            .iter()
                            .enumerate()
                            .map(|(r, &s)| (s, r))
                            .collect();
                        let rows: Vec<(usize, Vec<usize>)> = decoded[a]
                            .slots
                            .iter()
                            .enumerate()
                            .filter_map(|(ra, s)| rows_b.get(s).map(|&rb| (*s, vec![ra, rb])))
                            .collect();
                        if rows.is_empty() {
                            continue;
                        }
                        let covers = vec![
                            rows.len() == decoded[a].slots.len(),
                            rows.len() == decoded[b].slots.len(),
                        ];
                        units.push((Unit { chunks: vec![a, b] }, rows, covers));
                    }
                }
            }
            join.sides.iter().map(|s| format!("{}.", s.alias)).collect()
        }
    };

    let mut groups: BTreeMap<GroupKey, SelectedGroup> = BTreeMap::new();
    for (ui, (unit, rows, covers)) in units.iter().enumerate() {
        let mut touched: Vec<GroupKey> = Vec::new();
        let mut selected: HashMap<GroupKey, usize> = HashMap::new();
        for (slot, side_rows) in rows {
            let r = UnitRow {
                prefixes: &prefixes,
                sides: unit
                    .chunks
                    .iter()
                    .zip(side_rows)
                    .map(|(&c, &row)| (&decoded[c], row))
                    .collect(),
            };
            if !query.selects(&r) {
                continue;
            }
            let key = query.group_key(&r);
            let gk = GroupKey(key.clone());
            let g = groups.entry(gk.clone()).or_insert_with(|| SelectedGroup {
                label: label_of(query, &key),
                state: query.new_group(key),
                units: BTreeMap::new(),
                rows: BTreeMap::new(),
            });
            g.state.add_row(&r);
            for (&c, &row) in unit.chunks.iter().zip(side_rows) {
                g.rows.entry(c).or_default().push(row as u32);
            }
            let mask = g.units.entry(ui).or_insert_with(|| {
                touched.push(gk.clone());
                Some(vec![false; n])
            });
            if let Some(m) = mask {
                m[*slot] = true;
            }
            *selected.entry(gk).or_default() += 1;
        }
        // A unit wholly inside one group, covering every stored row of its chunks, needs no mask.
        for gk in touched {
            if selected.get(&gk) == Some(&rows.len()) && covers.iter().all(|&c| c) {
                if let Some(g) = groups.get_mut(&gk) {
                    g.units.insert(ui, None);
                }
            }
        }
    }
    let mut groups: Vec<SelectedGroup> = groups.into_values().collect();
    for g in &mut groups {
        for rows in g.rows.values_mut() {
            rows.sort_unstable();
            rows.dedup();
        }
    }
    if groups.is_empty() && query.group_by.is_empty() {
        groups.push(SelectedGroup {
            label: label_of(query, &[]),
            state: query.new_group(Vec::new()),
            units: BTreeMap::new(),
            rows: BTreeMap::new(),
        });
    }
    Ok(Selection {
        chunks,
        units: units.into_iter().map(|(u, _, _)| u).collect(),
        groups,
        moments: query.moments(),
        prefixes,
    })
}

#[derive(Clone)]
pub(crate) enum Acc {
    Linear(LinearSum, bool),
    Product(Box<ProductSum>, bool),
}

impl Acc {
    /// Terms added so far.
    fn terms(&self) -> u64 {
        match self {
            Acc::Linear(s, _) => s.terms(),
            Acc::Product(s, _) => s.terms(),
        }
    }

    /// Memory held, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Acc::Linear(s, _) => s.bytes(),
            Acc::Product(s, _) => s.bytes(),
        }
    }
}

/// What a group's per-chunk terms depend on, hashed (see [`crate::cache`]): two queries with
/// the same key add the same term for the same group and unit.
fn computation_key(query: &Query, params: &Params, selection: &Selection) -> ComputationKey {
    let text = format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{:?}",
        query.dataset,
        query.filter,
        query.group_by,
        query.join,
        query.schema,
        selection.moments,
        selection.prefixes,
        params.name,
        params.spec,
    );
    *blake3::hash(text.as_bytes()).as_bytes()
}

/// A unit's identity: its chunks' ids and what their sources signed of them.
fn unit_key(selection: &Selection, unit: &Unit) -> UnitKey {
    let mut h = blake3::Hasher::new();
    for &ci in &unit.chunks {
        let c = &selection.chunks[ci].1;
        h.update(&c.id.to_le_bytes());
        h.update(&(c.source.len() as u64).to_le_bytes());
        h.update(c.source.as_bytes());
        h.update(&c.seq.to_le_bytes());
        h.update(&c.rows.to_le_bytes());
        h.update(blake3::hash(&c.public).as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Pass 2: compute every (group, moment) sum on ciphertexts. Refuses, before any work, a
/// compact (`usage = "sum"`) column whose chunks a query splits.
pub fn compute(
    store: &dyn ChunkReader,
    query: &Query,
    params: &Params,
    multiplier: &Multiplier,
    selection: &Selection,
) -> Result<Vec<ComputedSum>, EngineError> {
    compute_with(store, query, params, multiplier, selection, None)
}

/// [`compute`], starting from the sums `cache` holds for this computation (only the units
/// they do not cover are read and added) and leaving the new sums there. The ciphertexts are
/// the same as without the cache.
pub fn compute_with(
    store: &dyn ChunkReader,
    query: &Query,
    params: &Params,
    multiplier: &Multiplier,
    selection: &Selection,
    cache: Option<&SumCache>,
) -> Result<Vec<ComputedSum>, EngineError> {
    let schema = &query.schema;
    let compact = params.compact_level();
    let level_of_factor = |f: &Factor| -> usize {
        let sum_only = schema
            .column(&f.column)
            .and_then(|c| c.encrypted())
            .is_some_and(|e| e.usage == dtfhe_model::Usage::Sum);
        if sum_only && f.part != Part::Square {
            compact
        } else {
            0
        }
    };
    // Which side a factor's column belongs to, and its name in that side's dataset.
    let side_of = |f: &Factor| -> (usize, String) {
        for (i, p) in selection.prefixes.iter().enumerate() {
            if let Some(rest) = f.column.strip_prefix(p.as_str()) {
                if !p.is_empty() {
                    return (i, rest.to_string());
                }
            }
        }
        (0, f.column.clone())
    };
    for g in &selection.groups {
        if g.units.values().any(|m| m.is_some()) {
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

    // The chunks any group uses, streamed in batches: each batch's parts are read (one at a
    // time: the store is not shared across threads), decoded and accumulated in parallel,
    // then dropped, so a query holds one batch of ciphertexts, not all of them.
    let used: std::collections::BTreeSet<usize> = selection
        .groups
        .iter()
        .flat_map(|g| g.units.keys().copied())
        .collect();
    // What the cache already summed: a group it holds skips the units it covers. Labels
    // name the groups; a selection with two groups of one label is not cached.
    let labels: std::collections::HashSet<&str> =
        selection.groups.iter().map(|g| g.label.as_str()).collect();
    let cache = cache.filter(|_| labels.len() == selection.groups.len());
    let key = computation_key(query, params, selection);
    let unit_keys: Vec<UnitKey> = selection
        .units
        .iter()
        .map(|u| unit_key(selection, u))
        .collect();
    let all_units: std::collections::BTreeSet<UnitKey> = unit_keys.iter().copied().collect();
    let mut cached = cache
        .and_then(|c| c.get(&key, params, &all_units))
        .unwrap_or_default();
    let from_cache: Vec<Option<Arc<Vec<Acc>>>> = selection
        .groups
        .iter()
        .map(|g| cached.groups.remove(&g.label))
        .collect();
    let summed = |gi: usize, ui: usize| -> bool {
        from_cache[gi].is_some() && cached.units.contains(&unit_keys[ui])
    };
    let unit_list: Vec<usize> = used
        .into_iter()
        .filter(|&ui| {
            selection
                .groups
                .iter()
                .enumerate()
                .any(|(gi, g)| g.units.contains_key(&ui) && !summed(gi, ui))
        })
        .collect();
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
    let merge = |mut a: Vec<Vec<Acc>>, b: Vec<Vec<Acc>>| -> Result<Vec<Vec<Acc>>, EngineError> {
        for (ga, gb) in a.iter_mut().zip(b) {
            for (x, y) in ga.iter_mut().zip(gb) {
                match (x, y) {
                    (Acc::Linear(s, m), Acc::Linear(s2, m2)) => {
                        s.merge(s2)
                            .map_err(|e| EngineError::Execution(e.to_string()))?;
                        *m |= m2;
                    }
                    (Acc::Product(s, m), Acc::Product(s2, m2)) => {
                        if s.terms() == 0 {
                            *s = s2;
                        } else {
                            s.merge(&s2);
                        }
                        *m |= m2;
                    }
                    _ => return Err(EngineError::Execution("accumulator kinds differ".into())),
                }
            }
        }
        Ok(a)
    };
    let threads = rayon::current_num_threads().max(1);
    let mut merged: Option<Vec<Vec<Acc>>> = None;
    for units in unit_list.chunks(UNITS_PER_THREAD_IN_BATCH * threads) {
        let parts = load_parts(store, params, selection, units, &side_of)?;
        let part_of = |ui: usize, f: &Factor| -> &Ciphertext {
            let (side, col) = side_of(f);
            &parts[&(selection.units[ui].chunks[side], col, f.part)]
        };
        let work = |mut accs: Vec<Vec<Acc>>, ui: &usize| -> Result<Vec<Vec<Acc>>, EngineError> {
            let ui = *ui;
            let exec = |e: dtfhe_crypto::CryptoError| EngineError::Execution(e.to_string());
            // Per unit, each operand is extended once and each product tensored once; every
            // group then adds the tensor whole or through its row mask (m·(a·b) = (m·a)·b), so
            // a GROUP BY costs one product per chunk, not one per group.
            let mut extended: HashMap<Factor, Extended> = HashMap::new();
            let mut tensors: HashMap<usize, Tensor> = HashMap::new();
            for (gi, g) in selection.groups.iter().enumerate() {
                let Some(mask) = g.units.get(&ui) else {
                    continue;
                };
                if summed(gi, ui) {
                    continue;
                }
                let mut masks: HashMap<usize, fhe::bfv::Plaintext> = HashMap::new();
                let mut product_mask: Option<ExtendedMask> = None;
                for (mi, m) in selection.moments.iter().enumerate() {
                    let first = part_of(ui, &m.factors[0]);
                    match &mut accs[gi][mi] {
                        Acc::Linear(sum, was_masked) => {
                            match mask {
                                None => sum.add(first),
                                Some(bits) => {
                                    let level = column::level_of(params, first).map_err(exec)?;
                                    if let Entry::Vacant(v) = masks.entry(level) {
                                        v.insert(
                                            column::mask_plaintext(params, bits, level)
                                                .map_err(exec)?,
                                        );
                                    }
                                    sum.add(&apply_mask(first, &masks[&level]))
                                }
                            }
                            .map_err(exec)?;
                            *was_masked |= mask.is_some();
                        }
                        Acc::Product(sum, was_masked) => {
                            if let Entry::Vacant(v) = tensors.entry(mi) {
                                for f in &m.factors[..2] {
                                    if !extended.contains_key(f) {
                                        let e = multiplier.extend(part_of(ui, f)).map_err(exec)?;
                                        extended.insert(f.clone(), e);
                                    }
                                }
                                v.insert(Tensor::of(
                                    &extended[&m.factors[0]],
                                    &extended[&m.factors[1]],
                                ));
                            }
                            let tensor = &tensors[&mi];
                            match mask {
                                None => sum.add_tensor(tensor),
                                Some(bits) => {
                                    let pm = match product_mask.take() {
                                        Some(pm) => pm,
                                        None => {
                                            // The level-0 mask the linear sums share.
                                            if let Entry::Vacant(v) = masks.entry(0) {
                                                v.insert(
                                                    column::mask_plaintext(params, bits, 0)
                                                        .map_err(exec)?,
                                                );
                                            }
                                            multiplier.extend_mask(&masks[&0]).map_err(exec)?
                                        }
                                    };
                                    sum.add_masked(tensor, &pm);
                                    product_mask = Some(pm);
                                }
                            }
                            *was_masked |= mask.is_some();
                        }
                    }
                }
            }
            Ok(accs)
        };
        // At most one accumulator set per worker thread: each holds extended-basis
        // polynomials.
        let batch = units
            .par_iter()
            .with_min_len(units.len().div_ceil(threads).max(1))
            .try_fold(new_accs, work)
            .try_reduce(new_accs, merge)?;
        merged = Some(match merged {
            None => batch,
            Some(total) => merge(total, batch)?,
        });
    }
    // Each group's accumulators: the cached ones as they are when no chunk was added to
    // the group, else a copy of them with the new chunks' terms merged in.
    let merged = merged
        .unwrap_or_else(new_accs)
        .into_iter()
        .zip(from_cache)
        .map(|(fresh, cached)| {
            Ok(Arc::new(match cached {
                None => fresh,
                Some(cached) if fresh.iter().all(|a| a.terms() == 0) => return Ok(cached),
                Some(cached) => merge(vec![Arc::unwrap_or_clone(cached)], vec![fresh])?
                    .pop()
                    .unwrap_or_default(),
            }))
        })
        .collect::<Result<Vec<Arc<Vec<Acc>>>, EngineError>>()?;
    if let Some(cache) = cache {
        let groups = selection
            .groups
            .iter()
            .zip(&merged)
            .map(|(g, accs)| (g.label.clone(), accs.clone()))
            .collect();
        cache.put(
            key,
            params,
            Cached {
                units: all_units,
                groups,
            },
        );
    }

    // Finish each sum, in parallel (relinearisation is the costly step).
    let jobs: Vec<(usize, usize, &Acc)> = merged
        .iter()
        .enumerate()
        .flat_map(|(gi, accs)| accs.iter().enumerate().map(move |(mi, a)| (gi, mi, a)))
        .filter(|(gi, _, _)| selection.groups[*gi].state.rows() > 0)
        .collect();
    jobs.into_par_iter()
        .map(|(gi, mi, acc)| {
            let m = &selection.moments[mi];
            let per_row_bound = m.bound(schema);
            let level = level_of_factor(&m.factors[0]);
            let (ciphertext, noise) = match acc {
                Acc::Linear(sum, masked) => {
                    let (terms, masked) = (sum.terms(), *masked);
                    let ct = sum
                        .clone()
                        .finish()
                        .ok_or_else(|| EngineError::Execution(format!("no data for {m}")))?;
                    (ct, NoiseEstimate::linear_sum(params, level, masked, terms))
                }
                Acc::Product(sum, masked) => {
                    let (terms, masked) = (sum.terms(), *masked);
                    let ct = multiplier
                        .finish(sum)
                        .map_err(|e| EngineError::Execution(e.to_string()))?;
                    (ct, NoiseEstimate::product_sum(params, masked, terms))
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

/// Units per worker thread in one batch of [`compute`]: enough to keep every thread busy
/// while a batch's ciphertexts (a few per unit) stay a small, fixed amount of memory.
const UNITS_PER_THREAD_IN_BATCH: usize = 4;

/// A stored part of a chunk: (chunk index in the selection, column, part).
type PartKey = (usize, String, Part);

/// Read and decode every part that `units` need.
fn load_parts(
    store: &dyn ChunkReader,
    params: &Params,
    selection: &Selection,
    units: &[usize],
    side_of: &dyn Fn(&Factor) -> (usize, String),
) -> Result<HashMap<PartKey, Ciphertext>, EngineError> {
    let mut needed: Vec<PartKey> = Vec::new();
    for &ui in units {
        for m in &selection.moments {
            for f in &m.factors {
                let (side, col) = side_of(f);
                let key = (selection.units[ui].chunks[side], col, f.part);
                if !needed.contains(&key) {
                    needed.push(key);
                }
            }
        }
    }
    let mut raw = Vec::with_capacity(needed.len());
    for (ci, col, part) in &needed {
        let chunk = &selection.chunks[*ci].1;
        let bytes = store
            .part(chunk.id, col, part_name(*part))
            .map_err(EngineError::Read)?
            .ok_or_else(|| {
                EngineError::Execution(format!(
                    "chunk {} has no {} part for column `{col}`",
                    chunk.id,
                    part_name(*part)
                ))
            })?;
        raw.push(bytes);
    }
    let decoded: Vec<Ciphertext> = raw
        .par_iter()
        .zip(&needed)
        .map(|(b, (ci, col, _))| {
            codec::decode_ciphertext(params, b).map_err(|e| {
                EngineError::Execution(format!(
                    "chunk {} column `{col}`: {e}",
                    selection.chunks[*ci].1.id
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(needed.into_iter().zip(decoded).collect())
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
    store: &dyn ChunkReader,
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
        .map_err(EngineError::Read)?
        .into_iter()
        .filter(|c| c.source == source)
        .collect();
    if chunks.is_empty() {
        return Err(EngineError::Refused(format!(
            "dataset `{dataset}` has no rows of source `{source}`"
        )));
    }
    let weights = &plan.weights;
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
                    .map_err(EngineError::Read)?
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
            for (bytes, w) in parts.iter().zip(weights) {
                let ct = codec::decode_ciphertext(params, bytes).map_err(exec)?;
                if column::level_of(params, &ct).map_err(exec)? != 0 {
                    return Err(EngineError::Refused(
                        "scoring needs features stored at full level (usage = \"product\")".into(),
                    ));
                }
                // |w| times the noise, never (t − |w|) times: see `accumulate::scale`.
                let term = dtfhe_crypto::accumulate::scale(params, &ct, *w).map_err(exec)?;
                acc = Some(match acc {
                    None => term,
                    Some(a) => &a + &term,
                });
            }
            let ciphertext = acc.ok_or_else(|| {
                EngineError::Execution("a model needs at least one feature".into())
            })? + &constant;
            let noise = NoiseEstimate::weighted(weight_sum);
            Ok(ScoredChunk {
                chunk,
                ciphertext,
                noise,
            })
        })
        .collect()
}
