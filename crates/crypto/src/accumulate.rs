//! Exact homomorphic sums over many chunks.
//!
//! * [`LinearSum`]: Σ over chunks of a (possibly masked) ciphertext: slot-wise sums.
//! * [`ProductSum`]: Σ over chunks of a ⊙ b. Each product is tensored in the extended RNS
//!   basis and the tensors are *summed there*; scaling by t/Q and relinearisation happen once
//!   per sum instead of once per chunk, and an operand extended once serves every product it
//!   enters (x² , x·y, x·z …).
//!
//! The caller tracks noise with [`NoiseEstimate`] and must not ask for a release whose noise
//! the flooding cannot hide.

use crate::error::CryptoError;
use crate::params::Params;
use fhe::bfv::{Ciphertext, Plaintext, RelinearizationKey};
use fhe_math::rns::ScalingFactor;
use fhe_math::rq::{scaler::Scaler, Context, Poly, Representation};
use fhe_math::zq::primes::generate_prime;
use num_bigint::BigUint;
use std::sync::Arc;

/// Everything needed to multiply at level 0: the extended basis and its two scalers.
#[derive(Debug)]
pub struct Multiplier {
    params: Params,
    relin: RelinearizationKey,
    base: Arc<Context>,
    extended: Arc<Context>,
    extender: Scaler,
    down: Scaler,
}

/// A level-0 ciphertext lifted into the extended basis, ready to enter products.
#[derive(Debug, Clone)]
pub struct Extended {
    c0: Poly,
    c1: Poly,
}

impl Multiplier {
    /// Prepare products for `params`, relinearising with the collective key `relin`.
    pub fn new(params: &Params, relin: RelinearizationKey) -> Result<Multiplier, CryptoError> {
        let base = params.bfv.context_at_level(0)?.clone();
        let log_q: usize = params
            .spec
            .moduli
            .iter()
            .map(|q| 64 - q.leading_zeros() as usize)
            .sum();
        // Room for N·(Q/2)² times 2^40 accumulated products, plus one spare prime.
        let n_extra = (log_q + 60).div_ceil(62) + 1;
        let mut moduli = params.spec.moduli.clone();
        let mut upper = 1u64 << 62;
        while moduli.len() < params.spec.moduli.len() + n_extra {
            upper = generate_prime(62, 2 * params.slots() as u64, upper)
                .ok_or_else(|| CryptoError::InvalidParameters("no extension prime found".into()))?;
            if !moduli.contains(&upper) {
                moduli.push(upper);
            }
        }
        let extended = Context::new_arc(&moduli, params.slots())?;
        let extender = Scaler::new(&base, &extended, ScalingFactor::one())?;
        let down = Scaler::new(
            &extended,
            &base,
            ScalingFactor::new(&BigUint::from(params.t()), base.modulus()),
        )?;
        Ok(Multiplier {
            params: params.clone(),
            relin,
            base,
            extended,
            extender,
            down,
        })
    }

    /// Lift a level-0 ciphertext into the extended basis.
    pub fn extend(&self, ct: &Ciphertext) -> Result<Extended, CryptoError> {
        if ct.len() != 2 || ct[0].ctx() != &self.base {
            return Err(CryptoError::Mismatch {
                what: "ciphertext",
                reason: "products need fresh full-level ciphertexts".into(),
            });
        }
        Ok(Extended {
            c0: ct[0].scale(&self.extender)?,
            c1: ct[1].scale(&self.extender)?,
        })
    }

    /// Start an empty Σ a⊙b.
    pub fn product_sum(&self) -> ProductSum {
        let z = Poly::zero(&self.extended, Representation::Ntt);
        ProductSum {
            c: [z.clone(), z.clone(), z],
            terms: 0,
        }
    }

    /// Scale the accumulated tensor back by t/Q and relinearise: one 2-part ciphertext.
    pub fn finish(&self, sum: ProductSum) -> Result<Ciphertext, CryptoError> {
        let parts = sum
            .c
            .into_iter()
            .map(|mut p| {
                p.change_representation(Representation::PowerBasis);
                let mut d = p.scale(&self.down)?;
                d.change_representation(Representation::Ntt);
                Ok(d)
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        let mut ct = Ciphertext::new(parts, &self.params.bfv)?;
        self.relin.relinearizes(&mut ct)?;
        Ok(ct)
    }
}

/// An accumulating Σ a⊙b in the extended basis.
#[derive(Debug, Clone)]
pub struct ProductSum {
    c: [Poly; 3],
    terms: u64,
}

impl ProductSum {
    /// Add a ⊙ b.
    pub fn add(&mut self, a: &Extended, b: &Extended) {
        self.c[0] += &(&a.c0 * &b.c0);
        let mut mid = &a.c0 * &b.c1;
        mid += &(&a.c1 * &b.c0);
        self.c[1] += &mid;
        self.c[2] += &(&a.c1 * &b.c1);
        self.terms += 1;
    }

    /// Number of products added.
    pub fn terms(&self) -> u64 {
        self.terms
    }

    /// Fold another partial sum (e.g. from another thread) into this one.
    pub fn merge(&mut self, other: &ProductSum) {
        for (a, b) in self.c.iter_mut().zip(&other.c) {
            *a += b;
        }
        self.terms += other.terms;
    }
}

/// An accumulating slot-wise Σ of ciphertexts (all at one level).
#[derive(Debug, Clone, Default)]
pub struct LinearSum {
    acc: Option<Ciphertext>,
    terms: u64,
}

impl LinearSum {
    /// Add a ciphertext.
    pub fn add(&mut self, ct: &Ciphertext) -> Result<(), CryptoError> {
        match &mut self.acc {
            None => self.acc = Some(ct.clone()),
            Some(acc) => {
                if acc[0].ctx() != ct[0].ctx() {
                    return Err(CryptoError::Mismatch {
                        what: "ciphertext",
                        reason: "summands at different levels".into(),
                    });
                }
                *acc += ct;
            }
        }
        self.terms += 1;
        Ok(())
    }

    /// Number of ciphertexts added.
    pub fn terms(&self) -> u64 {
        self.terms
    }

    /// Fold another partial sum (e.g. from another thread) into this one.
    pub fn merge(&mut self, other: LinearSum) -> Result<(), CryptoError> {
        if let Some(ct) = other.acc {
            self.add(&ct)?;
            self.terms += other.terms - 1;
        }
        Ok(())
    }

    /// The sum, or `None` if nothing was added (the total is then exactly 0).
    pub fn finish(self) -> Option<Ciphertext> {
        self.acc
    }
}

/// Multiply a ciphertext by a public 0/1 row mask (pt × ct).
pub fn apply_mask(ct: &Ciphertext, mask: &Plaintext) -> Ciphertext {
    ct * mask
}

/// Worst-case noise of a ciphertext, in bits, from a simple conservative model.
/// The release floods with `flood_bits`; it is only safe while noise ≤ flood − 40.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NoiseEstimate(pub u32);

impl NoiseEstimate {
    /// A fresh public-key encryption, after switching down to `level` if any.
    pub fn fresh(level: usize) -> NoiseEstimate {
        NoiseEstimate(if level == 0 { 24 } else { 14 })
    }
    /// After multiplying by a public mask (coefficients up to t): × t·N.
    pub fn masked(self, params: &Params) -> NoiseEstimate {
        NoiseEstimate(self.0 + log2_ceil(params.t() as u128) + log2_ceil(params.slots() as u128))
    }
    /// After a ct × ct product (and relinearisation).
    pub fn product(self, other: NoiseEstimate, params: &Params) -> NoiseEstimate {
        NoiseEstimate(
            self.0.max(other.0)
                + log2_ceil(params.t() as u128)
                + log2_ceil(params.slots() as u128)
                + 4,
        )
    }
    /// A sum of `terms` stored parts at `level`, each multiplied by a row mask if `masked`:
    /// the estimate the engine attaches to a linear moment.
    pub fn linear_sum(params: &Params, level: usize, masked: bool, terms: u64) -> NoiseEstimate {
        let base = NoiseEstimate::fresh(level);
        let base = if masked { base.masked(params) } else { base };
        base.summed(terms)
    }
    /// A sum of `terms` products of two full-level stored parts, the first multiplied by a
    /// row mask if `masked`, tensored, summed and relinearised once: the estimate the engine
    /// attaches to a product moment (joins included: one chunk of each side per term).
    pub fn product_sum(params: &Params, masked: bool, terms: u64) -> NoiseEstimate {
        let a = NoiseEstimate::fresh(0);
        let a = if masked { a.masked(params) } else { a };
        a.product(NoiseEstimate::fresh(0), params).summed(terms)
    }
    /// After summing `terms` such ciphertexts.
    pub fn summed(self, terms: u64) -> NoiseEstimate {
        NoiseEstimate(self.0 + log2_ceil(terms.max(1) as u128))
    }
}

/// ⌈log2 x⌉ for x ≥ 1.
pub fn log2_ceil(x: u128) -> u32 {
    128 - (x.max(1) - 1).leading_zeros()
}
