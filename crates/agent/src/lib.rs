//! The source side of the thread: a factory's edge agent reads its CSV export, checks it
//! against the dataset schema, encodes every value as fixed point and encrypts it under the
//! collective public key *before* anything leaves the source. Output: chunks of up to N rows,
//! one SIMD ciphertext per encrypted column (plus encrypted presence flags and squares when the
//! schema needs them), the public columns in clear beside them.
#![forbid(unsafe_code)]

pub mod features;
pub mod mes;

use dtfhe_crypto::{codec, column, CryptoError, Params};
use dtfhe_store::{NewChunk, NewPart};
use dtfhe_thread::{encode_public_columns, PublicColumn, Schema, Table, Usage};
use fhe::bfv::PublicKey;
use rayon::prelude::*;

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

/// Encrypt a validated table into chunks of at most N rows. `on_chunk` is called once per
/// finished chunk (progress reporting); chunks are encrypted in parallel.
pub fn encrypt_table(
    params: &Params,
    pk: &PublicKey,
    schema: &Schema,
    table: &Table,
    on_chunk: &(dyn Fn() + Sync),
) -> Result<Vec<NewChunk>, AgentError> {
    let n = params.slots();
    for col in &table.encrypted {
        if col.values.len() != table.rows || col.present.len() != table.rows {
            return Err(AgentError::Shape {
                dataset: schema.dataset.clone(),
                reason: format!("column `{}` has the wrong length", col.name),
            });
        }
    }
    let starts: Vec<usize> = (0..table.rows).step_by(n).collect();
    starts
        .par_iter()
        .map(|&start| {
            let end = (start + n).min(table.rows);
            let chunk = encrypt_rows(params, pk, schema, table, start, end)?;
            on_chunk();
            Ok(chunk)
        })
        .collect()
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
        rows: (end - start) as u32,
        public: encode_public_columns(&public, end - start),
        parts,
    })
}
