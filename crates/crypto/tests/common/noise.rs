//! Exact noise measurement with a known collective secret key (tests only).
//!
//! For a ciphertext (c0, c1[, c2]) under s, v = c0 + c1·s (+ c2·s²) mod Q in power basis.
//! fhe.rs encodes a plaintext m (coefficients in [0, t)) as ⌊Q·m/t⌋, so the noise is
//! e = [v − ⌊Q·m/t⌋]_Q (centred), with m = round(t·v/Q) mod t the decrypted plaintext.
//! The caller checks that m decodes to the expected slots, so a noise that wrapped past
//! Q/(2t) cannot pass for a small one.

use dtfhe_crypto::release::{decode_slots, secret_coefficients};
use dtfhe_crypto::Params;
use fhe::bfv::{Ciphertext, SecretKey};
use fhe_math::rq::traits::TryConvertFrom;
use fhe_math::rq::{Poly, Representation};
use num_bigint::BigUint;

/// The collective secret key: the coefficient-wise sum of every trustee's share.
pub fn collective_secret(shares: &[SecretKey]) -> Vec<i64> {
    let mut s: Vec<i64> = Vec::new();
    for sk in shares {
        let c = secret_coefficients(sk).expect("share coefficients");
        if s.is_empty() {
            s = vec![0; c.len()];
        }
        for (a, b) in s.iter_mut().zip(c.iter()) {
            *a += *b;
        }
    }
    s
}

/// One measurement: log2 of the noise's infinity norm, and the decrypted slots.
pub struct Measured {
    /// log2 ‖e‖∞ (0 when the noise is 0).
    pub bits: f64,
    /// The plaintext's SIMD slots, in Z_t.
    pub slots: Vec<u64>,
}

/// log2 of a big integer, to double precision.
pub fn log2_big(x: &BigUint) -> f64 {
    let bits = x.bits();
    if bits == 0 {
        return f64::NEG_INFINITY;
    }
    let shift = bits.saturating_sub(60);
    let top = (x >> shift).iter_u64_digits().next().unwrap_or(0);
    (top as f64).log2() + shift as f64
}

/// Measure the noise of `ct` (2 or 3 parts) under the collective secret `s`.
pub fn measure(params: &Params, s: &[i64], ct: &Ciphertext) -> Measured {
    let ctx = ct[0].ctx().clone();
    let mut sp = Poly::try_convert_from(s, &ctx, false, Representation::PowerBasis)
        .expect("secret into the ciphertext's context");
    sp.change_representation(Representation::Ntt);
    let mut v = ct[0].clone();
    v.change_representation(Representation::Ntt);
    let mut si = sp.clone();
    for i in 1..ct.len() {
        let mut ci = ct[i].clone();
        ci.change_representation(Representation::Ntt);
        v += &(&ci * &si);
        si = &si * &sp;
    }
    v.change_representation(Representation::PowerBasis);
    let q = ctx.modulus().clone();
    let t = BigUint::from(params.t());
    let half_q = &q >> 1;
    let mut worst = BigUint::from(0u8);
    let mut plain = Vec::with_capacity(params.slots());
    for c in Vec::<BigUint>::from(&v) {
        let m = ((&t * &c + &half_q) / &q) % &t;
        let encoded = (&q * &m) / &t;
        let e = (&c + &q - encoded) % &q;
        let mag = if e > half_q { &q - &e } else { e };
        if mag > worst {
            worst = mag;
        }
        plain.push(m.iter_u64_digits().next().unwrap_or(0));
    }
    Measured {
        bits: log2_big(&worst).max(0.0),
        slots: decode_slots(params, plain).expect("decode slots"),
    }
}
