//! The source side of the thread: a factory's edge agent reads its CSV export, checks it
//! against the dataset schema, encodes every value as fixed point and encrypts it under the
//! collective public key *before* anything leaves the source. Output: chunks of up to N rows,
//! one SIMD ciphertext per encrypted column (plus encrypted presence flags and squares when the
//! schema needs them), the public columns in clear beside them.
#![forbid(unsafe_code)]

pub mod artifact;
pub mod features;
pub mod formats;
pub mod live;
pub mod mes;
pub mod mqtt;
pub mod opcua;
pub mod source_key;
pub mod spool;
pub mod upload;

use dtfhe_crypto::{codec, column, CryptoError, Params};
use dtfhe_model::{
    encode_public_columns, indicator_part, EncryptedSpec, PublicColumn, Schema, Table, Usage,
    Value, LANE_COLUMN,
};
use dtfhe_model::{ChunkOrigin, NewChunk, NewPart};
use ed25519_dalek::SigningKey;
use fhe::bfv::PublicKey;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Why a table could not be encrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The encryption itself failed (e.g. a value outside the plaintext space).
    #[error("column `{column}`: {source}")]
    Encrypt {
        /// Column being encrypted.
        column: String,
        /// Cause.
        source: CryptoError,
    },
    /// The table does not match its schema.
    #[error("table does not match schema `{dataset}`: {reason}")]
    Shape {
        /// Dataset.
        dataset: String,
        /// What is wrong.
        reason: String,
    },
}

/// Name of the stored part holding the values of a column.
pub const PART_VALUE: &str = "value";
/// Name of the stored part holding the presence flags (nullable columns).
pub const PART_PRESENCE: &str = "presence";
/// Name of the stored part holding the squared values.
pub const PART_SQUARE: &str = "square";

/// The indicator `x > thresholds[k]` of one value (`value` centred, as encrypted): compared
/// exactly on fixed-point integers; false where NULL or when `k` is not a declared edge.
pub fn above_threshold(spec: &EncryptedSpec, k: usize, value: i64, present: bool) -> bool {
    spec.thresholds.get(k).is_some_and(|&edge| {
        present && i128::from(value) > i128::from(edge) - i128::from(spec.codec.offset)
    })
}

/// Level at which a column's parts are stored.
pub fn storage_level(params: &Params, schema: &Schema, column: &str) -> usize {
    match schema
        .column(column)
        .and_then(|c| c.encrypted())
        .map(|e| e.usage)
    {
        Some(Usage::Sum) => params.compact_level(),
        _ => 0,
    }
}

/// Who signs the chunks of an ingest, and where they come from.
pub struct ChunkSigner<'a> {
    /// The source's signing key (see [`source_key`]).
    pub key: &'a SigningKey,
    /// Dataset the chunks are for.
    pub dataset: &'a str,
    /// The source's name.
    pub source: &'a str,
    /// Seq of chunk 0 of the file; chunk k is signed with `base_seq + k`.
    pub base_seq: u64,
    /// blake3 hash of the input file's bytes, recorded as each chunk's origin.
    pub file_hash: [u8; 32],
}

/// Number of chunks of at most `slots` rows a table of `rows` rows makes.
pub fn chunk_count(rows: usize, slots: usize) -> usize {
    rows.div_ceil(slots.max(1))
}

/// Where each row of a table goes: chunk by chunk, the (row, slot) pairs it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    chunks: Vec<Vec<(usize, usize)>>,
    /// Lane of every row, for per-product datasets (stored beside the rows).
    lanes: Option<Vec<u64>>,
}

impl Layout {
    /// Rows packed in file order, N per chunk.
    pub fn packed(rows: usize, slots: usize) -> Layout {
        let chunks = (0..chunk_count(rows, slots))
            .map(|k| {
                (k * slots..((k + 1) * slots).min(rows))
                    .map(|r| (r, r - k * slots))
                    .collect()
            })
            .collect();
        Layout {
            chunks,
            lanes: None,
        }
    }

    /// Per-product lanes: row i goes to block `lanes[i] / N`, slot `lanes[i] mod N`; one chunk per
    /// block, in block order. Two rows with the same lane are refused.
    pub fn lanes(lanes: Vec<u64>, slots: usize) -> Result<Layout, RepeatedLane> {
        let mut blocks: BTreeMap<u64, Vec<(usize, usize)>> = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for (row, &lane) in lanes.iter().enumerate() {
            if !seen.insert(lane) {
                return Err(RepeatedLane { row: row + 1 });
            }
            blocks
                .entry(lane / slots as u64)
                .or_default()
                .push((row, (lane % slots as u64) as usize));
        }
        Ok(Layout {
            chunks: blocks.into_values().collect(),
            lanes: Some(lanes),
        })
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether there is no chunk at all.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

/// Why [`Layout::lanes`] refuses a file: two rows name the same product (lane).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row} repeats a product already in this file")]
pub struct RepeatedLane {
    /// The repeating row, 1-based.
    pub row: usize,
}

/// Why [`encrypt_ordered`] stopped.
#[derive(Debug)]
pub enum PipelineError<E> {
    /// Encrypting a chunk failed.
    Agent(AgentError),
    /// The sink refused a chunk.
    Sink(E),
}

/// Encrypt and sign chunks `indices` (ascending chunk positions of the
/// validated `table`, at most N rows each) in parallel, and hand each
/// finished chunk to `sink` **in order**, on the calling thread, while the
/// next ones are still being encrypted.
///
/// Workers (as many as rayon's thread count) take chunk positions in order,
/// so finished chunks arrive nearly in order; they pass through a bounded
/// channel and the few that arrive early wait in a small buffer, so memory
/// stays bounded by a few chunks whatever the table size. The first error
/// (encryption or sink) stops the workers and is returned; every chunk given
/// to `sink` before it was complete.
///
/// Chunk k gets seq `signer.base_seq + k`, its origin (file hash, k, total
/// chunks), and the source's signature.
pub fn encrypt_ordered<E: Send>(
    params: &Params,
    pk: &PublicKey,
    schema: &Schema,
    table: &Table,
    indices: &[usize],
    signer: &ChunkSigner<'_>,
    sink: impl FnMut(usize, NewChunk) -> Result<(), E>,
) -> Result<(), PipelineError<E>> {
    let layout = Layout::packed(table.rows, params.slots());
    encrypt_ordered_with(params, pk, schema, table, &layout, indices, signer, sink)
}

/// [`encrypt_ordered`] with an explicit [`Layout`] (per-product lanes).
#[allow(clippy::too_many_arguments)]
pub fn encrypt_ordered_with<E: Send>(
    params: &Params,
    pk: &PublicKey,
    schema: &Schema,
    table: &Table,
    layout: &Layout,
    indices: &[usize],
    signer: &ChunkSigner<'_>,
    mut sink: impl FnMut(usize, NewChunk) -> Result<(), E>,
) -> Result<(), PipelineError<E>> {
    for col in &table.encrypted {
        if col.values.len() != table.rows || col.present.len() != table.rows {
            return Err(PipelineError::Agent(AgentError::Shape {
                dataset: schema.dataset.clone(),
                reason: format!("column `{}` has the wrong length", col.name),
            }));
        }
    }
    let total = layout.len();
    let count = u32::try_from(total).map_err(|_| {
        PipelineError::Agent(AgentError::Shape {
            dataset: schema.dataset.clone(),
            reason: "too many chunks".into(),
        })
    })?;
    if let Some(&bad) = indices.iter().find(|&&i| i >= total) {
        return Err(PipelineError::Agent(AgentError::Shape {
            dataset: schema.dataset.clone(),
            reason: format!("chunk #{bad} does not exist ({total} chunks)"),
        }));
    }
    if indices.is_empty() {
        return Ok(());
    }
    let workers = rayon::current_num_threads().clamp(1, indices.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let make = |index: usize| -> Result<NewChunk, AgentError> {
        let mut chunk = encrypt_rows(
            params,
            pk,
            schema,
            table,
            &layout.chunks[index],
            layout.lanes.as_deref(),
        )?;
        chunk.seq = signer.base_seq + index as u64;
        chunk.origin = Some(ChunkOrigin {
            file_hash: signer.file_hash,
            index: index as u32,
            count,
        });
        chunk.sign(signer.dataset, signer.source, signer.key);
        Ok(chunk)
    };
    std::thread::scope(|scope| {
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<(usize, Result<NewChunk, AgentError>)>(workers * 2);
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, make) = (&next, &stop, &make);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let pos = next.fetch_add(1, Ordering::Relaxed);
                let Some(&index) = indices.get(pos) else {
                    break;
                };
                let out = make(index);
                let failed = out.is_err();
                // The receiver is gone only after an error: stop quietly.
                if tx.send((pos, out)).is_err() || failed {
                    break;
                }
            });
        }
        drop(tx);
        let mut early: BTreeMap<usize, NewChunk> = BTreeMap::new();
        let mut want = 0usize;
        let result = (|| {
            while want < indices.len() {
                let chunk = match early.remove(&want) {
                    Some(c) => c,
                    None => {
                        let Ok((pos, out)) = rx.recv() else {
                            // Every worker ended without the wanted chunk.
                            return Err(PipelineError::Agent(AgentError::Shape {
                                dataset: schema.dataset.clone(),
                                reason: "encryption workers stopped early".into(),
                            }));
                        };
                        let c = out.map_err(PipelineError::Agent)?;
                        if pos != want {
                            early.insert(pos, c);
                            continue;
                        }
                        c
                    }
                };
                sink(indices[want], chunk).map_err(PipelineError::Sink)?;
                want += 1;
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        // Unblock workers waiting to send, then let the scope join them.
        drop(rx);
        result
    })
}

fn encrypt_rows(
    params: &Params,
    pk: &PublicKey,
    schema: &Schema,
    table: &Table,
    rows: &[(usize, usize)],
    lanes: Option<&[u64]>,
) -> Result<NewChunk, AgentError> {
    let mut rng = rand::rng();
    let mut public: Vec<PublicColumn> = table
        .public
        .iter()
        .map(|c| PublicColumn {
            name: c.name.clone(),
            values: rows.iter().map(|&(r, _)| c.values[r].clone()).collect(),
        })
        .collect();
    if let Some(lanes) = lanes {
        public.push(PublicColumn {
            name: LANE_COLUMN.into(),
            values: rows
                .iter()
                .map(|&(r, _)| Value::Int(lanes[r] as i64))
                .collect(),
        });
    }
    // Slot vector: each row's value at its slot, 0 in unused slots.
    let width = rows.iter().map(|&(_, s)| s + 1).max().unwrap_or(0);
    let place = |f: &dyn Fn(usize) -> i64| -> Vec<i64> {
        let mut v = vec![0i64; width];
        for &(r, s) in rows {
            v[s] = f(r);
        }
        v
    };
    let mut parts = Vec::new();
    for col in &table.encrypted {
        let level = storage_level(params, schema, &col.name);
        let mut push = |part: &str, vals: &[i64], level: usize| -> Result<(), AgentError> {
            let ct = column::encrypt(params, pk, vals, level, &mut rng).map_err(|source| {
                AgentError::Encrypt {
                    column: col.name.clone(),
                    source,
                }
            })?;
            parts.push(NewPart {
                column: col.name.clone(),
                part: part.to_string(),
                bytes: codec::encode_ciphertext(params, &ct),
            });
            Ok(())
        };
        let values = place(&|r| col.values[r]);
        push(PART_VALUE, &values, level)?;
        if schema.stores_presence(&col.name) {
            push(PART_PRESENCE, &place(&|r| col.present[r] as i64), level)?;
        }
        if schema.stores_square(&col.name) {
            push(
                PART_SQUARE,
                &place(&|r| col.values[r].saturating_mul(col.values[r])),
                0,
            )?;
        }
        // Fault detection: one indicator part `gt{k}` per declared threshold, at the level
        // of the value part.
        if let Some(spec) = schema.column(&col.name).and_then(|c| c.encrypted()) {
            for k in 0..spec.thresholds.len() {
                let name = indicator_part(k).ok_or_else(|| AgentError::Shape {
                    dataset: schema.dataset.clone(),
                    reason: format!("column `{}` declares too many thresholds", col.name),
                })?;
                let flags =
                    place(&|r| above_threshold(spec, k, col.values[r], col.present[r]) as i64);
                push(name, &flags, level)?;
            }
        }
    }
    Ok(NewChunk {
        seq: 0,
        rows: rows.len() as u32,
        public: encode_public_columns(&public, rows.len()),
        parts,
        signature: [0; 64],
        origin: None,
    })
}

#[cfg(test)]
mod threshold_tests {
    use super::*;

    #[test]
    fn indicators_compare_fixed_point_exactly() {
        let schema = Schema::from_toml_str(
            "dataset = \"d\"\nstage = \"maintenance\"\n[[columns]]\nname = \"s2\"\n\
             kind = \"encrypted\"\nscale = 2\nmin = 640\nmax = 646\nnullable = true\n\
             thresholds = [642.5, 643.0, 643.5]\n",
            "d.toml",
        )
        .expect("schema");
        let spec = schema.columns[0].encrypted().expect("encrypted");
        let v = |text: &str| spec.codec.encode(text).expect("in range");
        // 643.00 is not above 643.0; 643.01 is; NULL never is.
        let cases = [
            ("642.50", [false, false, false]),
            ("642.51", [true, false, false]),
            ("643.00", [true, false, false]),
            ("643.01", [true, true, false]),
            ("645.99", [true, true, true]),
            ("640", [false, false, false]),
        ];
        for (text, want) in cases {
            for (k, w) in want.iter().enumerate() {
                assert_eq!(above_threshold(spec, k, v(text), true), *w, "{text} > e{k}");
                assert!(!above_threshold(spec, k, v(text), false), "NULL {text}");
            }
            assert!(!above_threshold(spec, 3, v(text), true), "no edge 3");
        }
    }
}
