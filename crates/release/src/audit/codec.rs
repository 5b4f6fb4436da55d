//! The state file: a versioned, checksummed binary format.
//!
//! ```text
//! magic "DTFAUDIT" | version u8 (= 1) | body | blake3(magic..body) (32 bytes)
//! body     = releases datasets
//! releases = n:varint, n x str                       (release ids, index = position)
//! datasets = n:varint, n x dataset                   (names strictly increasing)
//! dataset  = name:str cells:varint (ids 1..=cells)
//!            cells x (t:varint (<= 5), t x release index:varint)      touchers, oldest first
//!            chunks:varint, chunks x chunk            (keys strictly increasing)
//!            rows:varint, rows x basis-row
//! chunk    = source:str seq:varint rows:varint d:varint d x cell:varint (dictionary)
//!            runs:varint, runs x v:varint             (run of len = v / d + 1 rows of dictionary
//!                                                      entry v % d; runs sum to rows)
//! basis-row= nnz:varint pivot:varint (nnz-1) x (col delta:varint >= 1, coef:varint)
//!            (coef zigzag-coded around 0 mod p: 2v, or 2(p - v) - 1; must be in 1..p)
//! str      = len:varint (1..=1024) utf-8 bytes
//! ```
//! Cell row counts are not stored: they are recounted from the chunks, and every cell must hold
//! a row. The basis is re-checked to be in reduced row-echelon form.

use std::collections::BTreeMap;

use super::basis::{Basis, SparseRow};
use super::dataset::{DatasetState, MAX_CELLS, MAX_NAMED};
use super::error::DecodeError;
use super::field::P;
use super::rowset::{ChunkKey, MAX_CHUNK_ROWS};
use super::AuditState;

/// The first bytes of every state file.
pub const MAGIC: &[u8; 8] = b"DTFAUDIT";
/// The only format version this build reads and writes.
pub const VERSION: u8 = 1;
/// Longest stored name (release id, dataset, source), in bytes.
pub const MAX_NAME: usize = 1024;
const HASH_LEN: usize = 32;
/// Most rows the whole state may remember (bounds memory: 4 bytes per row).
pub const MAX_STATE_ROWS: u64 = 1 << 28;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Encodes the whole state (with magic, version and checksum).
pub(crate) fn encode(st: &AuditState) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_varint(&mut out, st.releases.len() as u64);
    for r in &st.releases {
        put_str(&mut out, r);
    }
    put_varint(&mut out, st.datasets.len() as u64);
    for (name, ds) in &st.datasets {
        put_str(&mut out, name);
        let cells = ds.next_cell() - 1;
        put_varint(&mut out, u64::from(cells));
        for t in ds.touchers.iter().skip(1) {
            put_varint(&mut out, t.len() as u64);
            for &r in t {
                put_varint(&mut out, u64::from(r));
            }
        }
        put_varint(&mut out, ds.chunks.len() as u64);
        for (key, a) in &ds.chunks {
            put_str(&mut out, &key.source);
            put_varint(&mut out, key.seq);
            put_varint(&mut out, a.len() as u64);
            // Runs first (one pass), then the dictionary of the cells the runs use.
            let mut runs: Vec<(u32, u64)> = Vec::new();
            for &c in a {
                match runs.last_mut() {
                    Some((cell, len)) if *cell == c => *len += 1,
                    _ => runs.push((c, 1)),
                }
            }
            let mut dict: Vec<u32> = runs.iter().map(|r| r.0).collect();
            dict.sort_unstable();
            dict.dedup();
            put_varint(&mut out, dict.len() as u64);
            for &c in &dict {
                put_varint(&mut out, u64::from(c));
            }
            let d = dict.len() as u64;
            let runs: Vec<u64> = runs
                .iter()
                .map(|&(c, len)| (len - 1) * d + dict.binary_search(&c).unwrap_or(0) as u64)
                .collect();
            put_varint(&mut out, runs.len() as u64);
            for v in runs {
                put_varint(&mut out, v);
            }
        }
        let rows = ds.basis.rows();
        put_varint(&mut out, rows.len() as u64);
        for r in rows {
            put_varint(&mut out, r.cols.len() as u64);
            let mut prev = 0u32;
            for (i, (&c, &v)) in r.cols.iter().zip(&r.vals).enumerate() {
                if i == 0 {
                    put_varint(&mut out, u64::from(c));
                } else {
                    put_varint(&mut out, u64::from(c - prev));
                    put_varint(&mut out, zigzag(v));
                }
                prev = c;
            }
        }
    }
    let hash = blake3::hash(&out);
    out.extend_from_slice(hash.as_bytes());
    out
}

/// Coefficients near 0 or near P (small negatives, common in echelon rows of 0/1 vectors) get
/// short varints: v <= P/2 maps to 2v, larger v (i.e. -(P - v)) to 2(P - v) - 1.
fn zigzag(v: u64) -> u64 {
    if v <= P / 2 {
        2 * v
    } else {
        2 * (P - v) - 1
    }
}

/// Inverse of [`zigzag`] on 1..=P-1 (the range the reader enforces first), landing in 1..=P-1.
fn unzigzag(s: u64) -> u64 {
    if s.is_multiple_of(2) {
        s / 2
    } else {
        P - s.div_ceil(2)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(DecodeError::Truncated(field));
            };
            self.pos += 1;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(DecodeError::BadVarint(field));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    // Non-canonical (trailing zero group): one value, one encoding.
                    return Err(DecodeError::BadVarint(field));
                }
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint(field))
    }

    /// A count of items each taking at least `min_bytes`, bounded by what is left and `max`.
    fn count(
        &mut self,
        field: &'static str,
        min_bytes: usize,
        max: u64,
    ) -> Result<usize, DecodeError> {
        let n = self.varint(field)?;
        let fits = (self.remaining() / min_bytes.max(1)) as u64;
        if n > max || n > fits {
            return Err(DecodeError::AbsurdLength { field, len: n });
        }
        Ok(n as usize)
    }

    fn bounded(&mut self, field: &'static str, lo: u64, hi: u64) -> Result<u64, DecodeError> {
        let v = self.varint(field)?;
        if v < lo || v > hi {
            return Err(DecodeError::OutOfRange(field));
        }
        Ok(v)
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let n = self.varint(field)?;
        if n == 0 || n > MAX_NAME as u64 {
            return Err(DecodeError::AbsurdLength { field, len: n });
        }
        let n = n as usize;
        let Some(bytes) = self.buf.get(self.pos..self.pos + n) else {
            return Err(DecodeError::Truncated(field));
        };
        self.pos += n;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::BadUtf8(field))
    }
}

/// Decodes a state file's bytes, checking every limit and invariant; never panics.
pub(crate) fn decode(bytes: &[u8]) -> Result<AuditState, DecodeError> {
    let Some(magic) = bytes.get(..MAGIC.len()) else {
        return Err(DecodeError::Truncated("magic"));
    };
    if magic != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let Some(&version) = bytes.get(MAGIC.len()) else {
        return Err(DecodeError::Truncated("version"));
    };
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    if bytes.len() < MAGIC.len() + 1 + HASH_LEN {
        return Err(DecodeError::Truncated("checksum"));
    }
    let (content, hash) = bytes.split_at(bytes.len() - HASH_LEN);
    if blake3::hash(content).as_bytes() != hash {
        return Err(DecodeError::Checksum);
    }
    decode_body(content)
}

/// Decodes magic, version and body (no checksum), checking every limit and invariant.
pub(crate) fn decode_body(content: &[u8]) -> Result<AuditState, DecodeError> {
    let mut r = Reader {
        buf: content,
        pos: 0,
    };
    match content.get(..MAGIC.len()) {
        Some(m) if m == MAGIC => {}
        Some(_) => return Err(DecodeError::BadMagic),
        None => return Err(DecodeError::Truncated("magic")),
    }
    r.pos = MAGIC.len();
    match content.get(r.pos) {
        Some(&VERSION) => r.pos += 1,
        Some(&v) => return Err(DecodeError::UnsupportedVersion(v)),
        None => return Err(DecodeError::Truncated("version")),
    }
    let n_rel = r.count("releases.count", 2, u64::from(u32::MAX))?;
    let mut releases = Vec::with_capacity(n_rel);
    for _ in 0..n_rel {
        releases.push(r.string("releases.id")?);
    }
    let n_ds = r.count("datasets.count", 3, 1 << 20)?;
    let mut datasets = BTreeMap::new();
    let mut prev_name: Option<String> = None;
    let mut total_rows = 0u64;
    for _ in 0..n_ds {
        let name = r.string("dataset.name")?;
        if prev_name.as_ref().is_some_and(|p| *p >= name) {
            return Err(DecodeError::Order("dataset.name"));
        }
        prev_name = Some(name.clone());
        let ds = decode_dataset(&mut r, releases.len() as u64, &mut total_rows)?;
        datasets.insert(name, ds);
    }
    if r.remaining() != 0 {
        return Err(DecodeError::TrailingBytes(r.remaining()));
    }
    Ok(AuditState { releases, datasets })
}

fn decode_dataset(
    r: &mut Reader<'_>,
    n_releases: u64,
    total_rows: &mut u64,
) -> Result<DatasetState, DecodeError> {
    let cells = r.count("dataset.cells", 1, u64::from(MAX_CELLS) - 1)?;
    let next = cells + 1;
    let mut touchers: Vec<Vec<u32>> = Vec::with_capacity(next);
    touchers.push(Vec::new());
    for _ in 0..cells {
        let t = r.count("cell.touchers.count", 1, MAX_NAMED as u64)?;
        let mut list = Vec::with_capacity(t);
        for _ in 0..t {
            let idx = r.varint("cell.touchers.release")?;
            if idx >= n_releases {
                return Err(DecodeError::OutOfRange("cell.touchers.release"));
            }
            list.push(idx as u32);
        }
        touchers.push(list);
    }
    let n_chunks = r.count("chunks.count", 5, u64::MAX)?;
    let mut counts: Vec<u64> = vec![0; next];
    let mut chunks = BTreeMap::new();
    let mut prev_key: Option<ChunkKey> = None;
    for _ in 0..n_chunks {
        let source = r.string("chunk.source")?;
        let seq = r.varint("chunk.seq")?;
        let key = ChunkKey { source, seq };
        if prev_key.as_ref().is_some_and(|p| *p >= key) {
            return Err(DecodeError::Order("chunk.key"));
        }
        prev_key = Some(key.clone());
        let rows = r.bounded("chunk.rows", 0, u64::from(MAX_CHUNK_ROWS))? as usize;
        *total_rows += rows as u64;
        if *total_rows > MAX_STATE_ROWS {
            return Err(DecodeError::AbsurdLength {
                field: "chunk.rows",
                len: *total_rows,
            });
        }
        let d = r.count("chunk.dict.count", 1, rows as u64)?;
        let mut dict: Vec<u32> = Vec::with_capacity(d);
        for _ in 0..d {
            let c = r.bounded("chunk.dict.cell", 0, cells as u64)? as u32;
            if dict.last().is_some_and(|&p| p >= c) {
                return Err(DecodeError::Order("chunk.dict.cell"));
            }
            dict.push(c);
        }
        let n_runs = r.count("chunk.runs.count", 1, rows as u64)?;
        if (rows > 0) != (n_runs > 0) || (n_runs > 0 && d == 0) {
            return Err(DecodeError::Inconsistent("chunk.runs.count"));
        }
        let mut a: Vec<u32> = Vec::with_capacity(rows);
        for _ in 0..n_runs {
            let v = r.varint("chunk.runs.run")?;
            let d64 = d as u64;
            let cell = dict[(v % d64) as usize];
            let extra = v / d64;
            if extra >= (rows - a.len()) as u64 {
                return Err(DecodeError::Inconsistent("chunk.runs.run"));
            }
            let len = extra + 1;
            a.extend(std::iter::repeat_n(cell, len as usize));
            counts[cell as usize] += len;
        }
        if a.len() != rows {
            return Err(DecodeError::Inconsistent("chunk.runs.run"));
        }
        chunks.insert(key, a);
    }
    counts[0] = 0;
    if counts.iter().skip(1).any(|&n| n == 0) {
        return Err(DecodeError::Inconsistent("dataset.cells"));
    }
    let n_rows = r.count("basis.count", 2, cells as u64)?;
    let mut rows: Vec<SparseRow> = Vec::with_capacity(n_rows);
    let mut is_pivot = vec![false; next];
    for _ in 0..n_rows {
        let nnz = r.count("basis.row.nnz", 1, cells as u64)?;
        if nnz == 0 {
            return Err(DecodeError::OutOfRange("basis.row.nnz"));
        }
        let mut row = SparseRow {
            cols: Vec::with_capacity(nnz),
            vals: Vec::with_capacity(nnz),
        };
        let pivot = r.bounded("basis.row.pivot", 1, cells as u64)? as u32;
        if is_pivot[pivot as usize] {
            return Err(DecodeError::Order("basis.row.pivot"));
        }
        is_pivot[pivot as usize] = true;
        row.cols.push(pivot);
        row.vals.push(1);
        let mut prev = u64::from(pivot);
        for _ in 1..nnz {
            let delta = r.bounded("basis.row.col", 1, cells as u64)?;
            let col = prev + delta;
            if col > cells as u64 {
                return Err(DecodeError::OutOfRange("basis.row.col"));
            }
            let v = unzigzag(r.bounded("basis.row.coef", 1, P - 1)?);
            row.cols.push(col as u32);
            row.vals.push(v);
            prev = col;
        }
        rows.push(row);
    }
    // Reduced form: no row is nonzero at another row's pivot.
    for row in &rows {
        if row.cols.iter().skip(1).any(|&c| is_pivot[c as usize]) {
            return Err(DecodeError::Inconsistent("basis.row.col"));
        }
    }
    Ok(DatasetState {
        chunks,
        counts,
        touchers,
        basis: Basis::from_rows(rows, next as u32),
    })
}
