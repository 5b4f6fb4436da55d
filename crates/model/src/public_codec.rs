//! Storage format for the public (clear) columns of a chunk: versioned, explicit, little
//! endian, and decoded with a bounds-checked cursor that never panics.
//!
//! Format version 1:
//!
//! ```text
//! u8   version = 1
//! u32  rows
//! u16  column count
//! per column:
//!   u16  name length, then the name (UTF-8, 1..=256 bytes)
//!   u8   column type tag: 0 = no non-null value, 1 = integer, 2 = decimal, 3 = text,
//!        4 = mixed (non-null values of more than one type)
//!   u32  number of values (must equal `rows`)
//!   per value: u8 tag, then
//!        0 = NULL      (nothing)
//!        1 = integer   (i64, 8 bytes)
//!        2 = decimal   (f64 bits, 8 bytes; finite)
//!        3 = text      (u32 length ≤ 64 KiB, then UTF-8 bytes)
//! ```
//!
//! The encoding is canonical: the decoder accepts exactly the byte strings the encoder can
//! produce from values within the limits, so `encode(decode(b)) == b` for every accepted `b`.
//! It rejects unknown versions, bad tags, a column tag that does not match its values,
//! invalid UTF-8, non-finite decimals, oversized counts, row-count mismatches and trailing
//! bytes.

use crate::cursor::{ByteCursor, Truncated};
use crate::error::ThreadError;
use crate::table::{PublicColumn, Value, MAX_TEXT_LEN};

/// Current format version (the first byte).
pub const PUBLIC_FORMAT_VERSION: u8 = 1;
/// Most rows the decoder accepts.
pub const MAX_CODEC_ROWS: usize = 1_000_000;
/// Most columns the decoder accepts.
pub const MAX_CODEC_COLUMNS: usize = 1024;
/// Longest column name the decoder accepts, in bytes.
pub const MAX_CODEC_NAME_LEN: usize = 256;

const V_NULL: u8 = 0;
const V_INT: u8 = 1;
const V_DEC: u8 = 2;
const V_TEXT: u8 = 3;
const C_MIXED: u8 = 4;

/// Encode public columns of `rows` rows.
///
/// Each column is written with its actual number of values; a column whose length differs
/// from `rows` (a caller bug) is written as is and refused by [`decode_public_columns`].
/// Likewise, values beyond the decoder's limits (text over 64 KiB, non-finite decimals,
/// names over 256 bytes, more than 1 000 000 rows or 1024 columns) are written but refused on
/// decoding; tables from [`read_csv_bytes`](crate::read_csv_bytes) and schemas from
/// [`Schema::from_toml_str`](crate::Schema::from_toml_str) always stay within them, except
/// for the row count: store large tables in chunks.
pub fn encode_public_columns(cols: &[PublicColumn], rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + cols.len() * (16 + rows * 9));
    out.push(PUBLIC_FORMAT_VERSION);
    out.extend_from_slice(&(rows as u32).to_le_bytes());
    out.extend_from_slice(&(cols.len() as u16).to_le_bytes());
    for col in cols {
        out.extend_from_slice(&(col.name.len() as u16).to_le_bytes());
        out.extend_from_slice(col.name.as_bytes());
        out.push(column_tag(&col.values));
        out.extend_from_slice(&(col.values.len() as u32).to_le_bytes());
        for v in &col.values {
            match v {
                Value::Null => out.push(V_NULL),
                Value::Int(i) => {
                    out.push(V_INT);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                Value::Dec(d) => {
                    out.push(V_DEC);
                    out.extend_from_slice(&d.to_bits().to_le_bytes());
                }
                Value::Text(t) => {
                    out.push(V_TEXT);
                    out.extend_from_slice(&(t.len() as u32).to_le_bytes());
                    out.extend_from_slice(t.as_bytes());
                }
            }
        }
    }
    out
}

/// Decode bytes written by [`encode_public_columns`]. Never panics; any malformed input is
/// a [`ThreadError::Decode`] naming the byte offset.
pub fn decode_public_columns(bytes: &[u8]) -> Result<Vec<PublicColumn>, ThreadError> {
    let mut c = ByteCursor::new(bytes);
    let version = c.u8("version")?;
    if version != PUBLIC_FORMAT_VERSION {
        return Err(fail_at(
            0,
            format!("unknown format version {version} (this build reads version {PUBLIC_FORMAT_VERSION})"),
        ));
    }
    let rows = c.u32_le("rows")? as usize;
    if rows > MAX_CODEC_ROWS {
        return Err(fail_at(
            1,
            format!("{rows} rows is above the limit of {MAX_CODEC_ROWS}"),
        ));
    }
    let ncols = usize::from(c.u16_le("column count")?);
    if ncols > MAX_CODEC_COLUMNS {
        return Err(fail_at(
            5,
            format!("{ncols} columns is above the limit of {MAX_CODEC_COLUMNS}"),
        ));
    }
    let mut cols = Vec::with_capacity(ncols.min(c.remaining()));
    for _ in 0..ncols {
        let name_at = c.pos();
        let name_len = usize::from(c.u16_le("column name length")?);
        if name_len == 0 || name_len > MAX_CODEC_NAME_LEN {
            return Err(fail_at(
                name_at,
                format!("column name length {name_len} is not within 1..={MAX_CODEC_NAME_LEN}"),
            ));
        }
        let name = utf8(&mut c, name_len, "column name")?;
        let tag_at = c.pos();
        let col_tag = c.u8("column type tag")?;
        if col_tag > C_MIXED {
            return Err(fail_at(
                tag_at,
                format!("unknown column type tag {col_tag}"),
            ));
        }
        let count_at = c.pos();
        let count = c.u32_le("value count")? as usize;
        if count != rows {
            return Err(fail_at(
                count_at,
                format!("column \"{name}\" has {count} values but the table has {rows} rows"),
            ));
        }
        // Every value takes at least one byte: refuse counts the input cannot hold before
        // allocating for them.
        if count > c.remaining() {
            return Err(fail_at(
                count_at,
                "value count exceeds the remaining bytes".into(),
            ));
        }
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let at = c.pos();
            let v = match c.u8("value tag")? {
                V_NULL => Value::Null,
                V_INT => Value::Int(i64::from_le_bytes(c.array("integer")?)),
                V_DEC => {
                    let d = f64::from_bits(c.u64_le("decimal")?);
                    if !d.is_finite() {
                        return Err(fail_at(at, "non-finite decimal".into()));
                    }
                    Value::Dec(d)
                }
                V_TEXT => {
                    let len = c.u32_le("text length")? as usize;
                    if len > MAX_TEXT_LEN {
                        return Err(fail_at(
                            at,
                            format!("text of {len} bytes is above the limit of {MAX_TEXT_LEN}"),
                        ));
                    }
                    Value::Text(utf8(&mut c, len, "text value")?)
                }
                other => return Err(fail_at(at, format!("unknown value tag {other}"))),
            };
            values.push(v);
        }
        if column_tag(&values) != col_tag {
            return Err(fail_at(
                tag_at,
                format!("column \"{name}\": type tag {col_tag} does not match its values"),
            ));
        }
        cols.push(PublicColumn { name, values });
    }
    if c.remaining() != 0 {
        return Err(fail_at(
            c.pos(),
            format!("{} trailing bytes", c.remaining()),
        ));
    }
    Ok(cols)
}

/// Column type tag: the common tag of its non-null values, 0 if none, 4 if they differ.
fn column_tag(values: &[Value]) -> u8 {
    let mut tag = V_NULL;
    for v in values {
        let t = match v {
            Value::Null => continue,
            Value::Int(_) => V_INT,
            Value::Dec(_) => V_DEC,
            Value::Text(_) => V_TEXT,
        };
        if tag == V_NULL {
            tag = t;
        } else if tag != t {
            return C_MIXED;
        }
    }
    tag
}

fn fail_at(offset: usize, reason: String) -> ThreadError {
    ThreadError::Decode { offset, reason }
}

fn utf8(c: &mut ByteCursor<'_>, n: usize, what: &str) -> Result<String, ThreadError> {
    let at = c.pos();
    match std::str::from_utf8(c.take(what, n)?) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => Err(fail_at(at, format!("{what} is not valid UTF-8"))),
    }
}

impl From<Truncated> for ThreadError {
    /// A public-columns input that ends inside a field.
    fn from(t: Truncated) -> ThreadError {
        fail_at(
            t.offset,
            format!("truncated: needs {} more bytes, {} left", t.need, t.left),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_as_documented() {
        let cols = vec![PublicColumn {
            name: "a".into(),
            values: vec![Value::Int(1), Value::Null],
        }];
        let b = encode_public_columns(&cols, 2);
        let mut want = vec![1u8, 2, 0, 0, 0, 1, 0, 1, 0, b'a', 1, 2, 0, 0, 0, 1];
        want.extend_from_slice(&1i64.to_le_bytes());
        want.push(0);
        assert_eq!(b, want);
        assert_eq!(decode_public_columns(&b).ok(), Some(cols));
    }

    #[test]
    fn rejects_malformed() {
        let cols = vec![PublicColumn {
            name: "a".into(),
            values: vec![Value::Int(1)],
        }];
        let good = encode_public_columns(&cols, 1);
        let mut v2 = good.clone();
        v2[0] = 2;
        assert!(decode_public_columns(&v2).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_public_columns(&trailing).is_err());
        // Declared 2 rows, column has 1 value.
        assert!(decode_public_columns(&encode_public_columns(&cols, 2)).is_err());
        assert!(decode_public_columns(&[]).is_err());
        let nan = vec![PublicColumn {
            name: "d".into(),
            values: vec![Value::Dec(f64::NAN)],
        }];
        assert!(decode_public_columns(&encode_public_columns(&nan, 1)).is_err());
        let mut bad_utf8 = good.clone();
        bad_utf8[9] = 0xFF;
        assert!(decode_public_columns(&bad_utf8).is_err());
    }
}
