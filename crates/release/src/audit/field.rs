//! Arithmetic in the prime field GF(p), p = 2^61 - 1 (a Mersenne prime): cell-indicator vectors
//! have 0/1 entries, and elimination over a large prime field is exact (no rounding, no growth)
//! while a false "independent" verdict would need a coefficient collision modulo p.

/// The field modulus, 2^61 - 1.
pub(crate) const P: u64 = (1u64 << 61) - 1;

/// Reduces a value below 2^122 modulo `P` (Mersenne folding).
#[inline]
fn reduce128(x: u128) -> u64 {
    let lo = (x as u64) & P;
    let hi = (x >> 61) as u64;
    // lo < 2^61, hi < 2^61 (x < 2^122): the sum is below 2^62 and one fold plus one
    // conditional subtraction finishes the reduction.
    let s = lo + (hi & P) + (hi >> 61);
    let s = (s & P) + (s >> 61);
    if s >= P {
        s - P
    } else {
        s
    }
}

/// a * b mod P, for a, b < P.
#[inline]
pub(crate) fn mul(a: u64, b: u64) -> u64 {
    reduce128(u128::from(a) * u128::from(b))
}

/// a - b mod P, for a, b < P.
#[inline]
pub(crate) fn sub(a: u64, b: u64) -> u64 {
    if a >= b {
        a - b
    } else {
        a + P - b
    }
}

/// The multiplicative inverse of a nonzero a < P (Fermat: a^(P-2)).
pub(crate) fn inv(a: u64) -> u64 {
    let mut base = a;
    let mut e = P - 2;
    let mut acc = 1u64;
    while e > 0 {
        if e & 1 == 1 {
            acc = mul(acc, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_wraparound() {
        for a in [1u64, 2, 3, 12345, P - 1, P - 2, 1 << 60] {
            assert_eq!(mul(a, inv(a)), 1, "a = {a}");
        }
        assert_eq!(sub(0, 1), P - 1);
        assert_eq!(mul(P - 1, P - 1), 1);
        // Compare with plain u128 arithmetic on large operands.
        let (a, b) = (P - 12345, P - 987654321);
        assert_eq!(
            u128::from(mul(a, b)),
            (u128::from(a) * u128::from(b)) % u128::from(P)
        );
    }
}
