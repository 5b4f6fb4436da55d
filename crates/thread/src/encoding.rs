//! Fixed-point encoding: a decimal value `x` with declared `scale` s and range [min, max]
//! becomes the integer `v = round(x · 10^s) − offset`, where `offset = round(mid · 10^s)` is
//! the declared mid-range. Centring keeps sums of products small; the engine undoes the
//! shift algebraically (Σx = (Σv + n·offset) / 10^s).

use crate::error::ThreadError;

/// Codec for one encrypted column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedPoint {
    /// Decimal digits kept exactly.
    pub scale: u32,
    /// Declared minimum, already multiplied by 10^scale.
    pub min_scaled: i64,
    /// Declared maximum, already multiplied by 10^scale.
    pub max_scaled: i64,
    /// Mid-range, multiplied by 10^scale; subtracted before encryption.
    pub offset: i64,
}

impl FixedPoint {
    /// Build a codec from the declared scale and range (as written in the schema).
    pub fn new(scale: u32, min: f64, max: f64) -> Result<FixedPoint, ThreadError> {
        let _ = (scale, min, max);
        todo!("helper")
    }

    /// Encode one decimal text field (e.g. `"642.15"`, `"-1.5e-3"`) into a centred integer.
    /// Values with more digits than `scale` are rounded half away from zero; values outside
    /// [min, max] are refused.
    pub fn encode(&self, field: &str) -> Result<i64, EncodeError> {
        let _ = field;
        todo!("helper")
    }

    /// Largest |v| any in-range value can encode to: the bound used for overflow proofs.
    pub fn max_abs(&self) -> u64 {
        todo!("helper")
    }

    /// Turn an exact sum of `n` encoded values back into the real sum: (Σv + n·offset)/10^s.
    pub fn decode_sum(&self, sum_v: i128, n: i128) -> f64 {
        let _ = (sum_v, n);
        todo!("helper")
    }
}

/// Why a single field could not be encoded (the caller adds file/line/column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Not a decimal number.
    #[error("not a decimal number")]
    NotANumber,
    /// Outside the declared range (the value itself is not repeated: it may be confidential).
    #[error("value outside the declared range [{min}, {max}]")]
    OutOfRange {
        /// Declared minimum as written.
        min: String,
        /// Declared maximum as written.
        max: String,
    },
}
