//! The source side of the thread: a factory's edge agent reads its CSV export, checks it
//! against the dataset schema, encodes every value as fixed point and encrypts it under the
//! collective public key *before* anything leaves the source. Output: chunks of up to N rows,
//! one SIMD ciphertext per encrypted column (plus encrypted presence flags and squares when the
//! schema needs them), the public columns in clear beside them.
#![forbid(unsafe_code)]

pub mod features;
pub mod mes;
pub mod source_key;

use dtfhe_crypto::{codec, column, CryptoError, Params};
use dtfhe_store::{ChunkOrigin, NewChunk, NewPart};
use dtfhe_thread::{encode_public_columns, PublicColumn, Schema, Table, Usage};
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
    mut sink: impl FnMut(usize, NewChunk) -> Result<(), E>,
) -> Result<(), PipelineError<E>> {
    let n = params.slots();
    for col in &table.encrypted {
        if col.values.len() != table.rows || col.present.len() != table.rows {
            return Err(PipelineError::Agent(AgentError::Shape {
                dataset: schema.dataset.clone(),
                reason: format!("column `{}` has the wrong length", col.name),
            }));
        }
    }
    let total = chunk_count(table.rows, n);
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
        let start = index * n;
        let end = (start + n).min(table.rows);
        let mut chunk = encrypt_rows(params, pk, schema, table, start, end)?;
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

/// Encrypt a validated table into chunks of at most N rows, all in memory, signed as
/// `signer` describes (chunk k with seq `base_seq + k`). Prefer [`encrypt_ordered`], which
/// streams chunks to the store while encrypting.
pub fn encrypt_table(
    params: &Params,
    pk: &PublicKey,
    schema: &Schema,
    table: &Table,
    signer: &ChunkSigner<'_>,
) -> Result<Vec<NewChunk>, AgentError> {
    let indices: Vec<usize> = (0..chunk_count(table.rows, params.slots())).collect();
    let mut out = Vec::with_capacity(indices.len());
    encrypt_ordered::<std::convert::Infallible>(
        params,
        pk,
        schema,
        table,
        &indices,
        signer,
        |_, c| {
            out.push(c);
            Ok(())
        },
    )
    .map_err(|e| match e {
        PipelineError::Agent(a) => a,
        PipelineError::Sink(never) => match never {},
    })?;
    Ok(out)
}

fn encrypt_rows(
    params: &Params,
    pk: &PublicKey,
    schema: &Schema,
    table: &Table,
    start: usize,
    end: usize,
) -> Result<NewChunk, AgentError> {
    let mut rng = rand::rng();
    let public: Vec<PublicColumn> = table
        .public
        .iter()
        .map(|c| PublicColumn {
            name: c.name.clone(),
            values: c.values[start..end].to_vec(),
        })
        .collect();
    let mut parts = Vec::new();
    for col in &table.encrypted {
        let level = storage_level(params, schema, &col.name);
        let values = &col.values[start..end];
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
        push(PART_VALUE, values, level)?;
        if schema.stores_presence(&col.name) {
            let flags: Vec<i64> = col.present[start..end].iter().map(|&p| p as i64).collect();
            push(PART_PRESENCE, &flags, level)?;
        }
        if schema.stores_square(&col.name) {
            let squares: Vec<i64> = values.iter().map(|&v| v.saturating_mul(v)).collect();
            push(PART_SQUARE, &squares, 0)?;
        }
    }
    Ok(NewChunk {
        seq: 0,
        rows: (end - start) as u32,
        public: encode_public_columns(&public, end - start),
        parts,
        signature: [0; 64],
        origin: None,
    })
}
