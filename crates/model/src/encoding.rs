//! Fixed-point encoding: a decimal value `x` with declared `scale` s and range [min, max]
//! becomes the integer `v = round(x · 10^s) − offset`, where `offset = round(mid · 10^s)` is
//! the declared mid-range. Centring keeps sums of products small; the engine undoes the
//! shift algebraically (Σx = (Σv + n·offset) / 10^s).
//!
//! Values are parsed from their decimal text *exactly* (never through `f64`), and rounded
//! half away from zero to `scale` digits, so the integer that gets encrypted is exactly the
//! integer a human would compute from the CSV text.

use crate::error::ThreadError;

/// Largest scale (decimal digits kept) a column may declare.
pub const MAX_SCALE: u32 = 9;

/// Largest magnitude a declared bound may have once multiplied by 10^scale: 2^40.
///
/// Every schema satisfies |min·10^s| ≤ 2^40 and |max·10^s| ≤ 2^40, so every centred value
/// has |v| ≤ 2^40 ([`FixedPoint::max_abs`]), a product of two values stays below 2^80, and
/// all intermediate arithmetic in this crate is exact in `i64`/`i128`. Whether a given
/// aggregate fits the plaintext modulus is still proved by the engine from the declared
/// ranges; this constant only keeps single values "comfortably" small.
pub const MAX_SCALED_MAGNITUDE: i64 = 1 << 40;

/// Longest text accepted as one encrypted value (anything longer is garbage, not a number).
pub const MAX_FIELD_LEN: usize = 40;

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
    ///
    /// `min_scaled = round(min · 10^scale)` and `max_scaled = round(max · 10^scale)` are
    /// computed exactly from the shortest decimal representation of the `f64`s (so `0.1`
    /// means one tenth, not 0.1000000000000000055…), rounding half away from zero;
    /// `offset = (min_scaled + max_scaled) / 2` rounded toward zero.
    ///
    /// Fails ([`ThreadError::Codec`]) if `scale > 9` ([`MAX_SCALE`]), a bound is NaN or
    /// infinite, `min > max`, or a scaled bound exceeds [`MAX_SCALED_MAGNITUDE`] in magnitude.
    pub fn new(scale: u32, min: f64, max: f64) -> Result<FixedPoint, ThreadError> {
        build(scale, min, max).map_err(|e| ThreadError::Codec {
            reason: e.to_string(),
        })
    }

    /// Encode one decimal text field (e.g. `"642.15"`, `"-1.5e-3"`) into a centred integer.
    /// Values with more digits than `scale` are rounded half away from zero; values outside
    /// [min, max] are refused.
    ///
    /// Accepted syntax (after trimming surrounding whitespace): an optional sign, digits with
    /// an optional decimal point (`5`, `5.`, `.5`, `5.25`), and an optional exponent
    /// (`1e-3`, `2.5E+2`). At most [`MAX_FIELD_LEN`] characters. NaN, infinities, empty text,
    /// thousands separators and anything else give [`EncodeError::NotANumber`].
    pub fn encode(&self, field: &str) -> Result<i64, EncodeError> {
        self.encode_with(field, true)
    }

    /// [`FixedPoint::encode`], but a value with more fractional digits than `scale` (other
    /// than trailing zeros: `42.80` is exact at scale 1, `42.85` is not) is
    /// [`EncodeError::TooManyDecimals`] unless `round` is true. Ingest uses this with the
    /// column's `round` setting.
    pub fn encode_with(&self, field: &str, round: bool) -> Result<i64, EncodeError> {
        let field = field.trim();
        if field.len() > MAX_FIELD_LEN {
            return Err(EncodeError::NotANumber);
        }
        let dec = Decimal::parse(field).ok_or(EncodeError::NotANumber)?;
        if !round && !dec.is_exact_at(self.scale) {
            return Err(EncodeError::TooManyDecimals { scale: self.scale });
        }
        let x = dec.scaled(self.scale);
        match x {
            Some(x) if x >= i128::from(self.min_scaled) && x <= i128::from(self.max_scaled) => {
                // In range, so |x| ≤ 2^40 and the subtraction cannot overflow.
                Ok(x as i64 - self.offset)
            }
            _ => Err(self.out_of_range()),
        }
    }

    /// Largest |v| any in-range value can encode to: the bound used for overflow proofs.
    pub fn max_abs(&self) -> u64 {
        let lo = (i128::from(self.min_scaled) - i128::from(self.offset)).unsigned_abs();
        let hi = (i128::from(self.max_scaled) - i128::from(self.offset)).unsigned_abs();
        // Both are ≤ 2^41 for codecs built by `new`; saturate for hand-built ones.
        u64::try_from(lo.max(hi)).unwrap_or(u64::MAX)
    }

    /// Turn an exact sum of `n` encoded values back into the real sum: (Σv + n·offset)/10^s.
    ///
    /// The numerator is computed exactly in `i128`; the division by 10^s is then correctly
    /// rounded to the nearest `f64` (the result is the `f64` closest to the exact decimal).
    /// Only if the numerator itself overflows `i128` (impossible for sums of in-range values)
    /// does it fall back to floating-point arithmetic.
    pub fn decode_sum(&self, sum_v: i128, n: i128) -> f64 {
        let total = n
            .checked_mul(i128::from(self.offset))
            .and_then(|shift| sum_v.checked_add(shift));
        match total {
            Some(total) => scaled_to_f64(total, self.scale),
            None => (sum_v as f64 + n as f64 * self.offset as f64) / 10f64.powi(self.scale as i32),
        }
    }

    /// Decode one centred value back to its decimal value: (v + offset)/10^s, correctly
    /// rounded to the nearest `f64`.
    pub fn decode(&self, v: i64) -> f64 {
        self.decode_sum(i128::from(v), 1)
    }

    /// `round(x · 10^scale)` of a decimal text, but only when that is exact (no digit beyond
    /// `scale` is dropped) and within [`MAX_SCALED_MAGNITUDE`]; `None` otherwise. Used for
    /// declared thresholds and the literals compared with them, so `643.5` matches an edge
    /// declared as `643.50` and `643.54` matches nothing at scale 1.
    pub fn scaled_exact(&self, text: &str) -> Option<i64> {
        let dec = Decimal::parse(text.trim())?;
        let v = dec.scaled(self.scale)?;
        if v.unsigned_abs() > MAX_SCALED_MAGNITUDE as u128 {
            return None;
        }
        dec.is_exact_at(self.scale).then_some(v as i64)
    }

    /// A scaled integer (`x · 10^scale`) as exact decimal text with `scale` digits.
    pub fn scaled_text(&self, scaled: i64) -> String {
        format_scaled(i128::from(scaled), self.scale)
    }

    /// A scaled integer (`x · 10^scale`, not centred) as the nearest `f64`.
    pub fn scaled_to_f64(&self, scaled: i64) -> f64 {
        scaled_to_f64(i128::from(scaled), self.scale)
    }

    /// The declared minimum as exact decimal text with `scale` digits (e.g. `"640.00"`).
    pub fn min_text(&self) -> String {
        format_scaled(i128::from(self.min_scaled), self.scale)
    }

    /// The declared maximum as exact decimal text with `scale` digits (e.g. `"645.00"`).
    pub fn max_text(&self) -> String {
        format_scaled(i128::from(self.max_scaled), self.scale)
    }

    fn out_of_range(&self) -> EncodeError {
        EncodeError::OutOfRange {
            min: self.min_text(),
            max: self.max_text(),
        }
    }
}

/// Why a single field could not be encoded (the caller adds file/line/column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Not a decimal number.
    #[error("not a decimal number")]
    NotANumber,
    /// More fractional digits than the column's scale, and the column does not opt in to
    /// rounding (the value itself is not repeated).
    #[error("more decimals than the column's scale of {scale} (declare `round = true` on the column to round instead)")]
    TooManyDecimals {
        /// The column's scale.
        scale: u32,
    },
    /// Outside the declared range (the value itself is not repeated: it may be confidential).
    #[error("value outside the declared range [{min}, {max}]")]
    OutOfRange {
        /// Declared minimum as written.
        min: String,
        /// Declared maximum as written.
        max: String,
    },
}

fn build(scale: u32, min: f64, max: f64) -> Result<FixedPoint, RangeError> {
    if scale > MAX_SCALE {
        return Err(RangeError::Scale(scale));
    }
    if !min.is_finite() || !max.is_finite() {
        return Err(RangeError::NotFinite);
    }
    if min > max {
        return Err(RangeError::Inverted { min, max });
    }
    let scaled = |x: f64, what: &'static str| -> Result<i64, RangeError> {
        let too_large = || RangeError::TooLarge { what, x, scale };
        // `{}` on f64 prints the shortest text that round-trips, never in exponent form.
        let dec = Decimal::parse(&format!("{x}")).ok_or(RangeError::NotANumber(what))?;
        let v = dec.scaled(scale).ok_or_else(too_large)?;
        if v.unsigned_abs() > MAX_SCALED_MAGNITUDE as u128 {
            return Err(too_large());
        }
        Ok(v as i64)
    };
    let min_scaled = scaled(min, "min")?;
    let max_scaled = scaled(max, "max")?;
    Ok(FixedPoint {
        scale,
        min_scaled,
        max_scaled,
        offset: (min_scaled + max_scaled) / 2,
    })
}

/// Why a declared scale and range make no codec (reported as [`ThreadError::Codec`]).
#[derive(Debug, thiserror::Error)]
enum RangeError {
    #[error("scale {0} is above the maximum of {MAX_SCALE}")]
    Scale(u32),
    #[error("min and max must be finite numbers")]
    NotFinite,
    #[error("min ({min}) is greater than max ({max})")]
    Inverted { min: f64, max: f64 },
    #[error("{0} is not a number")]
    NotANumber(&'static str),
    #[error("{what} ({x}) times 10^{scale} exceeds the supported magnitude 2^40 ({MAX_SCALED_MAGNITUDE}); reduce the range or the scale")]
    TooLarge {
        what: &'static str,
        x: f64,
        scale: u32,
    },
}

/// An exactly parsed decimal: `(-1)^neg · digits · 10^exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    neg: bool,
    /// ASCII digits without leading zeros; empty means zero.
    digits: Vec<u8>,
    exp: i64,
}

/// Magnitudes with more digits than this are certainly outside every supported range.
const MAX_SIGNIFICANT: usize = 30;

impl Decimal {
    /// Parse `[+-]? (D+ ('.' D*)? | '.' D+) ([eE] [+-]? D+)?`.
    fn parse(s: &str) -> Option<Decimal> {
        let b = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if let Some(&c) = b.first() {
            if c == b'+' || c == b'-' {
                neg = c == b'-';
                i = 1;
            }
        }
        let mut mantissa: Vec<u8> = Vec::new();
        let mut frac_digits: i64 = 0;
        let mut seen_digit = false;
        while i < b.len() && b[i].is_ascii_digit() {
            mantissa.push(b[i]);
            seen_digit = true;
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                mantissa.push(b[i]);
                frac_digits += 1;
                seen_digit = true;
                i += 1;
            }
        }
        if !seen_digit {
            return None;
        }
        let mut exp: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let mut eneg = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                eneg = b[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Saturate: anything beyond ±10^6 is far outside every range anyway.
                exp = (exp * 10 + i64::from(b[i] - b'0')).min(1_000_000);
                i += 1;
            }
            if i == start {
                return None;
            }
            if eneg {
                exp = -exp;
            }
        }
        if i != b.len() {
            return None;
        }
        let first_nonzero = mantissa.iter().position(|&d| d != b'0');
        let digits = match first_nonzero {
            Some(p) => mantissa[p..].to_vec(),
            None => Vec::new(),
        };
        Some(Decimal {
            neg,
            digits,
            exp: exp - frac_digits,
        })
    }

    /// Whether no nonzero digit lies beyond `scale` decimal places.
    fn is_exact_at(&self, scale: u32) -> bool {
        let k = self.exp + i64::from(scale);
        if k >= 0 || self.digits.is_empty() {
            return true;
        }
        let drop = (-k).min(self.digits.len() as i64) as usize;
        self.digits[self.digits.len() - drop..]
            .iter()
            .all(|&d| d == b'0')
    }

    /// `round(value · 10^scale)`, half away from zero; `None` if the magnitude is beyond
    /// 10^30 (certainly out of every supported range).
    fn scaled(&self, scale: u32) -> Option<i128> {
        if self.digits.is_empty() {
            return Some(0);
        }
        let k = self.exp + i64::from(scale);
        let len = self.digits.len() as i64;
        let magnitude: i128 = if k >= 0 {
            if len + k > MAX_SIGNIFICANT as i64 {
                return None;
            }
            let mut m = digits_value(&self.digits);
            for _ in 0..k {
                m *= 10;
            }
            m
        } else {
            let drop = -k;
            if drop > len {
                0
            } else {
                let keep = (len - drop) as usize;
                if keep > MAX_SIGNIFICANT {
                    return None;
                }
                let mut m = digits_value(&self.digits[..keep]);
                if self.digits[keep] >= b'5' {
                    m += 1;
                }
                m
            }
        };
        Some(if self.neg { -magnitude } else { magnitude })
    }
}

/// Value of at most `MAX_SIGNIFICANT` ASCII digits (fits i128 comfortably).
fn digits_value(d: &[u8]) -> i128 {
    d.iter()
        .fold(0i128, |acc, &c| acc * 10 + i128::from(c - b'0'))
}

/// `v / 10^scale` as exact decimal text with exactly `scale` fraction digits.
fn format_scaled(v: i128, scale: u32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let abs = v.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{abs}");
    }
    let p = 10u128.pow(scale);
    format!(
        "{sign}{}.{:0width$}",
        abs / p,
        abs % p,
        width = scale as usize
    )
}

/// `v / 10^scale` correctly rounded to the nearest f64 (via the standard library's
/// correctly rounded decimal parser).
fn scaled_to_f64(v: i128, scale: u32) -> f64 {
    format_scaled(v, scale)
        .parse::<f64>()
        .unwrap_or_else(|_| v as f64 / 10f64.powi(scale as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(scale: u32, min: f64, max: f64) -> FixedPoint {
        FixedPoint::new(scale, min, max).expect("valid codec")
    }

    #[test]
    fn new_is_exact() {
        let c = fp(2, 640.0, 645.0);
        assert_eq!(
            (c.min_scaled, c.max_scaled, c.offset),
            (64000, 64500, 64250)
        );
        // 0.1·10 drifts in floating point for many values; here it must be exact.
        let c = fp(9, 0.1, 0.3);
        assert_eq!((c.min_scaled, c.max_scaled), (100_000_000, 300_000_000));
        let c = fp(4, -0.0023, 1.0005);
        assert_eq!((c.min_scaled, c.max_scaled, c.offset), (-23, 10005, 4991));
        // Midpoint rounds toward zero.
        let c = fp(0, -5.0, 0.0);
        assert_eq!(c.offset, -2);
        let c = fp(0, 0.0, 5.0);
        assert_eq!(c.offset, 2);
        // Declared bounds with more digits than the scale round half away from zero.
        let c = fp(1, -0.25, 0.25);
        assert_eq!((c.min_scaled, c.max_scaled), (-3, 3));
    }

    #[test]
    fn new_rejects_bad_declarations() {
        for (s, lo, hi) in [
            (10, 0.0, 1.0),
            (0, f64::NAN, 1.0),
            (0, 0.0, f64::INFINITY),
            (2, 5.0, 4.0),
            (0, 0.0, 2f64.powi(40) + 1.0),
            (9, -1100.0, 0.0),
            (0, -1e300, 0.0),
        ] {
            assert!(
                matches!(FixedPoint::new(s, lo, hi), Err(ThreadError::Codec { .. })),
                "{s} {lo} {hi}"
            );
        }
        assert!(FixedPoint::new(0, -(2f64.powi(40)), 2f64.powi(40)).is_ok());
    }

    #[test]
    fn encode_syntax() {
        let c = fp(4, -1000.0, 1000.0);
        let off = c.offset;
        assert_eq!(off, 0);
        for (text, want) in [
            ("642.15", 6_421_500),
            ("  642.15\t", 6_421_500),
            ("-0.0023", -23),
            ("+5", 50_000),
            (".5", 5_000),
            ("5.", 50_000),
            ("1e-3", 10),
            ("1E+2", 1_000_000),
            ("2.5e2", 2_500_000),
            ("-0", 0),
            ("-0.0", 0),
            ("000012.5000", 125_000),
            ("0.00005", 1),
            ("-0.00005", -1),
            ("0.000049999", 0),
            ("-0.000049999", 0),
            ("0.00015", 2),
            ("1e-100", 0),
            ("0e999999999999999999999999", 0),
        ] {
            assert_eq!(c.encode(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            " ",
            "-",
            "+",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "1,5",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "0x10",
            "1_000",
            "--1",
            "+-1",
            "1 2",
            "١٢",
            "12abc",
            "00000000000000000000000000000000000000001",
        ] {
            assert_eq!(c.encode(bad), Err(EncodeError::NotANumber), "{bad:?}");
        }
        let oor = c.encode("1000.00005").expect_err("above max");
        assert_eq!(
            oor,
            EncodeError::OutOfRange {
                min: "-1000.0000".into(),
                max: "1000.0000".into()
            }
        );
        assert!(c.encode("1000.00004").is_ok());
        assert!(c.encode("1e999999").is_err());
        assert!(c.encode("-1e30").is_err());
        assert!(c.encode("123456789012345678901234567890123").is_err());
    }

    #[test]
    fn decode_is_exact() {
        let c = fp(2, 640.0, 645.0);
        let v = c.encode("642.15").expect("in range");
        assert_eq!(c.decode(v), 642.15);
        assert_eq!(c.decode_sum(0, 3), 3.0 * 642.5);
        assert_eq!(c.max_abs(), 250);
        let c = fp(1, 0.1, 0.4);
        // 0.1 + 0.2 as decimals is exactly 0.3, unlike in floating point.
        let s = i128::from(c.encode("0.1").unwrap_or(0)) + i128::from(c.encode("0.2").unwrap_or(0));
        assert_eq!(c.decode_sum(s, 2), 0.3);
        // Overflowing numerator falls back to floating point instead of panicking.
        assert!(c.decode_sum(i128::MAX, i128::MAX).is_finite());
    }

    #[test]
    fn format_scaled_works() {
        assert_eq!(format_scaled(-5, 2), "-0.05");
        assert_eq!(format_scaled(64000, 2), "640.00");
        assert_eq!(format_scaled(7, 0), "7");
    }
}
