//! Exact integer arithmetic for finalizing: i128 with checked operations, promoted to a
//! big integer on overflow (never wraps). Converted to f64 only for the final division.

use num_bigint::BigInt;

/// An exact integer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    Small(i128),
    Big(BigInt),
}

impl From<i128> for Num {
    fn from(v: i128) -> Num {
        Num::Small(v)
    }
}

impl Num {
    fn big(&self) -> BigInt {
        match self {
            Num::Small(v) => BigInt::from(*v),
            Num::Big(b) => b.clone(),
        }
    }

    pub(crate) fn add(&self, o: &Num) -> Num {
        if let (Num::Small(a), Num::Small(b)) = (self, o) {
            if let Some(r) = a.checked_add(*b) {
                return Num::Small(r);
            }
        }
        Num::Big(self.big() + o.big())
    }

    pub(crate) fn sub(&self, o: &Num) -> Num {
        if let (Num::Small(a), Num::Small(b)) = (self, o) {
            if let Some(r) = a.checked_sub(*b) {
                return Num::Small(r);
            }
        }
        Num::Big(self.big() - o.big())
    }

    pub(crate) fn mul(&self, o: &Num) -> Num {
        if let (Num::Small(a), Num::Small(b)) = (self, o) {
            if let Some(r) = a.checked_mul(*b) {
                return Num::Small(r);
            }
        }
        Num::Big(self.big() * o.big())
    }

    pub(crate) fn is_zero(&self) -> bool {
        match self {
            Num::Small(v) => *v == 0,
            Num::Big(b) => b.sign() == num_bigint::Sign::NoSign,
        }
    }

    /// Correctly rounded conversion.
    pub(crate) fn to_f64(&self) -> f64 {
        match self {
            Num::Small(v) => *v as f64,
            Num::Big(b) => b.to_string().parse().unwrap_or(f64::NAN),
        }
    }

    /// 10^e exactly.
    pub(crate) fn pow10(e: u32) -> Num {
        match 10i128.checked_pow(e) {
            Some(v) => Num::Small(v),
            None => Num::Big(BigInt::from(10).pow(e)),
        }
    }
}

/// num / den as f64 (den ≠ 0).
pub(crate) fn ratio(num: &Num, den: &Num) -> f64 {
    num.to_f64() / den.to_f64()
}
