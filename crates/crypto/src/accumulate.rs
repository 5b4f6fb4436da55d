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
use fhe_math::rq::{scaler::Scaler, traits::TryConvertFrom, Context, Poly, Representation};
use fhe_math::zq::primes::generate_prime;
use num_bigint::BigUint;
use std::sync::Arc;

/// Everything needed to multiply at level 0: the extended basis and its two scalers.
#[derive(Debug)]
pub struct Multiplier {
    params: Params,
    relin: RelinearizationKey,
    base: Arc<Context>,
    extension: Arc<Extension>,
}

/// The extended basis of a parameter set and its two scalers: NTT tables for a dozen primes,
/// built once per process and parameter set ([`extension_of`]), not once per query.
#[derive(Debug)]
struct Extension {
    extended: Arc<Context>,
    extender: Scaler,
    down: Scaler,
}

/// How many parameter sets' extensions [`extension_of`] keeps.
const EXTENSIONS_KEPT: usize = 8;

/// The [`Extension`] of `params`, built on first use.
fn extension_of(params: &Params) -> Result<Arc<Extension>, CryptoError> {
    use std::sync::{Mutex, OnceLock};
    type Kept = Vec<(crate::params::ParamSpec, Arc<Extension>)>;
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    let kept = KEPT.get_or_init(|| Mutex::new(Vec::new()));
    let found = kept
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(s, _)| *s == params.spec)
        .map(|(_, e)| e.clone());
    if let Some(e) = found {
        return Ok(e);
    }
    let e = Arc::new(Extension::new(params)?);
    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
    if !kept.iter().any(|(s, _)| *s == params.spec) {
        if kept.len() >= EXTENSIONS_KEPT {
            kept.remove(0);
        }
        kept.push((params.spec.clone(), e.clone()));
    }
    Ok(e)
}

/// A level-0 ciphertext lifted into the extended basis, ready to enter products.
#[derive(Debug, Clone)]
pub struct Extended {
    c0: Poly,
    c1: Poly,
}

impl Extension {
    fn new(params: &Params) -> Result<Extension, CryptoError> {
        let base = params.bfv.context_at_level(0)?.clone();
        let log_q: usize = params
            .spec
            .moduli
            .iter()
            .map(|q| 64 - q.leading_zeros() as usize)
            .sum();
        // Room for one tensor coefficient, N·Q², times a row mask's N·t (a group's rows
        // selected after the product, [`ProductSum::add_masked`]), times 2^40 accumulated
        // terms, with a sign bit and a spare: every extension prime is above 2^61.
        let log_n = params.slots().trailing_zeros() as usize;
        let log_t = 64 - params.t().leading_zeros() as usize;
        let needed = 2 * log_q + log_n + (log_n + log_t) + 40 + 2;
        let n_extra = (needed - log_q).div_ceil(61);
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
        Ok(Extension {
            extended,
            extender,
            down,
        })
    }
}

impl Multiplier {
    /// Prepare products for `params`, relinearising with the collective key `relin`.
    pub fn new(params: &Params, relin: RelinearizationKey) -> Result<Multiplier, CryptoError> {
        Ok(Multiplier {
            params: params.clone(),
            relin,
            base: params.bfv.context_at_level(0)?.clone(),
            extension: extension_of(params)?,
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
            c0: ct[0].scale(&self.extension.extender)?,
            c1: ct[1].scale(&self.extension.extender)?,
        })
    }

    /// Lift a public 0/1 row mask (a level-0 plaintext from
    /// [`crate::column::mask_plaintext`]) into the extended basis, where it selects the rows
    /// of a [`Tensor`]: a group's masked product costs three ring multiplications instead of
    /// a masked copy of the first operand, its extension and a new tensor.
    pub fn extend_mask(&self, mask: &Plaintext) -> Result<ExtendedMask, CryptoError> {
        // fhe.rs keeps a plaintext's polynomial private: multiplying the trivial
        // ciphertext (1, 0) by it yields (p, 0), p with coefficients in [0, t) at level 0.
        if mask.level() != 0 {
            return Err(CryptoError::Mismatch {
                what: "row mask",
                reason: "products are masked at full level".into(),
            });
        }
        let mut one =
            Poly::try_convert_from(&[1u64][..], &self.base, false, Representation::PowerBasis)?;
        one.change_representation(Representation::Ntt);
        let zero = Poly::zero(&self.base, Representation::Ntt);
        let trivial = Ciphertext::new(vec![one, zero], &self.params.bfv)?;
        let selected = &trivial * mask;
        // Every coefficient of p is an integer below t, below every prime of the extended
        // basis: its residues there are the integers themselves (row 0 holds them), so the
        // lift needs no basis extension, only the forward NTTs.
        let mut p = selected[0].clone();
        p.change_representation(Representation::PowerBasis);
        let small = p.coefficients().row(0).to_vec();
        if small.iter().any(|&c| c >= self.params.t()) {
            return Err(CryptoError::Mismatch {
                what: "row mask",
                reason: "a coefficient is not below t".into(),
            });
        }
        let mut lifted = Poly::try_convert_from(
            small,
            &self.extension.extended,
            false,
            Representation::PowerBasis,
        )?;
        lifted.change_representation(Representation::Ntt);
        Ok(ExtendedMask(lifted))
    }

    /// Start an empty Σ a⊙b (it holds no polynomial until its first term: a GROUP BY starts
    /// one per group and moment on every worker, and most stay empty in a batch).
    pub fn product_sum(&self) -> ProductSum {
        ProductSum { c: None, terms: 0 }
    }

    /// Scale the accumulated tensor back by t/Q and relinearise: one 2-part ciphertext. The
    /// sum is only read (a cached sum goes on accumulating after it is finished).
    pub fn finish(&self, sum: &ProductSum) -> Result<Ciphertext, CryptoError> {
        let zero = || Poly::zero(&self.extension.extended, Representation::Ntt);
        let empty;
        let c = match &sum.c {
            Some(c) => c,
            None => {
                empty = [zero(), zero(), zero()];
                &empty
            }
        };
        let parts = c
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.change_representation(Representation::PowerBasis);
                let mut d = p.scale(&self.extension.down)?;
                d.change_representation(Representation::Ntt);
                Ok(d)
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        let mut ct = Ciphertext::new(parts, &self.params.bfv)?;
        self.relin.relinearizes(&mut ct)?;
        Ok(ct)
    }
}

/// A public 0/1 row mask lifted into the extended basis ([`Multiplier::extend_mask`]).
#[derive(Debug, Clone)]
pub struct ExtendedMask(Poly);

/// One product a ⊗ b in the extended basis, before scaling and relinearisation: computed
/// once per chunk and then added whole ([`ProductSum::add_tensor`]) or with each group's
/// row mask ([`ProductSum::add_masked`]), since m·(a·b) = (m·a)·b slot by slot.
#[derive(Debug, Clone)]
pub struct Tensor {
    c: [Poly; 3],
}

impl Tensor {
    /// a ⊗ b.
    pub fn of(a: &Extended, b: &Extended) -> Tensor {
        let mut mid = &a.c0 * &b.c1;
        mid += &(&a.c1 * &b.c0);
        Tensor {
            c: [&a.c0 * &b.c0, mid, &a.c1 * &b.c1],
        }
    }
}

/// An accumulating Σ a⊙b in the extended basis (no polynomial until the first term).
#[derive(Debug, Clone)]
pub struct ProductSum {
    c: Option<[Poly; 3]>,
    terms: u64,
}

impl ProductSum {
    /// Add a ⊙ b.
    pub fn add(&mut self, a: &Extended, b: &Extended) {
        self.add_tensor(&Tensor::of(a, b));
    }

    /// Add a product computed once for several sums.
    pub fn add_tensor(&mut self, t: &Tensor) {
        match &mut self.c {
            None => self.c = Some(t.c.clone()),
            Some(c) => {
                for (acc, part) in c.iter_mut().zip(&t.c) {
                    *acc += part;
                }
            }
        }
        self.terms += 1;
    }

    /// Add the rows of a product that a group's mask selects: m·(a ⊗ b) decrypts, after
    /// scaling, to the slot-wise m·a·b, with noise m·e where e is the product's noise (the
    /// same bound as masking the first operand before the product:
    /// [`NoiseEstimate::product_sum`] with `masked`).
    pub fn add_masked(&mut self, t: &Tensor, mask: &ExtendedMask) {
        let masked = |part: &Poly| part * &mask.0;
        match &mut self.c {
            None => self.c = Some([masked(&t.c[0]), masked(&t.c[1]), masked(&t.c[2])]),
            Some(c) => {
                for (acc, part) in c.iter_mut().zip(&t.c) {
                    *acc += &masked(part);
                }
            }
        }
        self.terms += 1;
    }

    /// Number of products added.
    pub fn terms(&self) -> u64 {
        self.terms
    }

    /// Memory it holds, in bytes (for bounded caches).
    pub fn bytes(&self) -> usize {
        self.c.iter().flatten().map(poly_bytes).sum()
    }

    /// Fold another partial sum (e.g. from another thread) into this one.
    pub fn merge(&mut self, other: &ProductSum) {
        match (&mut self.c, &other.c) {
            (_, None) => {}
            (None, Some(c)) => self.c = Some(c.clone()),
            (Some(a), Some(b)) => {
                for (a, b) in a.iter_mut().zip(b) {
                    *a += b;
                }
            }
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

    /// Memory it holds, in bytes (for bounded caches).
    pub fn bytes(&self) -> usize {
        self.acc
            .as_ref()
            .map_or(0, |ct| ct.iter().map(poly_bytes).sum())
    }

    /// Fold another partial sum (e.g. from another thread) into this one.
    pub fn merge(&mut self, other: LinearSum) -> Result<(), CryptoError> {
        match (&self.acc, other.acc) {
            (_, None) => {}
            (None, Some(ct)) => {
                self.acc = Some(ct);
                self.terms = other.terms;
            }
            (Some(_), Some(ct)) => {
                self.add(&ct)?;
                self.terms += other.terms - 1;
            }
        }
        Ok(())
    }

    /// The sum, or `None` if nothing was added (the total is then exactly 0).
    pub fn finish(self) -> Option<Ciphertext> {
        self.acc
    }
}

/// The bytes of a polynomial's coefficients (one residue per modulus and coefficient).
fn poly_bytes(p: &Poly) -> usize {
    p.coefficients().len() * std::mem::size_of::<u64>()
}

/// Multiply a ciphertext by a public 0/1 row mask (pt × ct).
pub fn apply_mask(ct: &Ciphertext, mask: &Plaintext) -> Ciphertext {
    ct * mask
}

/// Multiply a ciphertext by a public integer weight (a model coefficient), so that its noise
/// grows by |w| only: fhe.rs keeps a plaintext's coefficients in [0, t), so encoding a
/// negative w as t + w would multiply the noise by t − |w| ≈ t; a negative weight is applied
/// as −(ct × |w|) instead.
pub fn scale(params: &Params, ct: &Ciphertext, w: i64) -> Result<Ciphertext, CryptoError> {
    use fhe::bfv::Encoding;
    use fhe_traits::FheEncoder;
    if u128::from(w.unsigned_abs()) > params.max_abs_total() {
        return Err(CryptoError::OutOfRange(format!(
            "a weight exceeds ±t/2 = {}",
            params.max_abs_total()
        )));
    }
    let level = params.bfv.level_of_context(ct[0].ctx())?;
    let magnitude = Plaintext::try_encode(
        &[w.unsigned_abs()],
        Encoding::poly_at_level(level),
        &params.bfv,
    )?;
    let term = ct * &magnitude;
    Ok(if w < 0 { -&term } else { term })
}

/// Number of trustees whose summed secret shares the estimate's key-norm bound assumes.
/// Every noise term grows at most like ‖s‖² ∝ n², so [`crate::release::max_noise_bits`]
/// allows 2·⌈log2 ⌈n / 4⌉⌉ bits less for a larger ceremony instead of changing the estimate.
pub const REFERENCE_TRUSTEES: usize = 4;

/// Largest |coefficient| of every error, mask and secret-share polynomial fhe.rs samples:
/// a centred binomial of variance 10, i.e. a difference of two sums of 20 bits.
const SAMPLE_BOUND: f64 = 20.0;

/// Upper bound on the noise of a ciphertext, in bits: ‖e‖∞ ≤ 2^bits, where a ciphertext
/// (c0, c1) under the collective secret s decrypts as c0 + c1·s = ⌊Q·m/t⌋ + e (mod Q).
/// The release floods with `flood_bits`; it is only safe while noise ≤ flood − 40.
///
/// The model, for a collective secret of at most [`REFERENCE_TRUSTEES`] shares
/// (‖s‖∞ ≤ S = 4·20 = 80), uses the usual expansion factor δ = 2√N for a product of two
/// ring elements (‖a·b‖∞ ≤ δ·‖a‖∞·‖b‖∞ with overwhelming probability when one factor is
/// random), except for row masks, whose structured polynomials get the worst case N.
/// `tests/noise_measured.rs` measures every shape the engine emits with the secret key
/// known; the estimate is 15–25 bits above every measurement at both presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NoiseEstimate(pub u32);

impl NoiseEstimate {
    /// A fresh public-key encryption, after switching down to `level` if any.
    ///
    /// Level 0: c0 + c1·s = Δm + u·e_pk + e1 + e2·s with u, e1, e2 fresh samples and e_pk the
    /// sum of the trustees' public-key errors (‖e_pk‖ ≤ S), so ‖e‖ ≤ 2·δ·20·S + 20 < 2^19.6
    /// for N ≤ 16384: 24 bits leave room. Switching down divides that by the dropped modulus
    /// and adds the rounding of c0 and c1, (1 + δ·S)/2, and 1 for the new ⌊Q'm/t⌋:
    /// < 2^13.4 for N ≤ 16384, under 14 bits.
    pub fn fresh(level: usize) -> NoiseEstimate {
        NoiseEstimate(if level == 0 { 24 } else { 14 })
    }
    /// After multiplying by a public mask (coefficients up to t): × t·N.
    ///
    /// fhe.rs multiplies by the mask polynomial p with coefficients in [0, t), so the noise
    /// becomes p·e (≤ N·t·‖e‖ in the worst case a structured mask allows) plus the
    /// re-rounding of ⌊Q·m/t⌋·p to ⌊Q·[m·p]_t/t⌋ (≤ N·t, within the same bound as ‖e‖ ≥ 1).
    pub fn masked(self, params: &Params) -> NoiseEstimate {
        NoiseEstimate(self.0 + log2_ceil(params.t() as u128) + log2_ceil(params.slots() as u128))
    }
    /// After one ct × ct product, scaled by t/Q and relinearised.
    pub fn product(self, other: NoiseEstimate, params: &Params) -> NoiseEstimate {
        NoiseEstimate::from_f64(product_term(self, other, params) + once_per_product(params))
    }
    /// After summing `terms` such ciphertexts.
    pub fn summed(self, terms: u64) -> NoiseEstimate {
        NoiseEstimate(self.0 + log2_ceil(terms.max(1) as u128))
    }
    /// A sum of `terms` stored parts at `level`, each multiplied by a row mask if `masked`:
    /// the estimate the engine attaches to a linear moment. Each addition adds at most 1 to
    /// the noise (the re-rounding of ⌊Q·m/t⌋), which the fresh bound's slack covers.
    pub fn linear_sum(params: &Params, level: usize, masked: bool, terms: u64) -> NoiseEstimate {
        let base = NoiseEstimate::fresh(level);
        let base = if masked { base.masked(params) } else { base };
        base.summed(terms)
    }
    /// A sum of `terms` products of two full-level stored parts, tensored and summed in the
    /// extended basis, each tensor multiplied by its chunk's row mask if `masked` (a group
    /// of a GROUP BY), then scaled and relinearised once: the estimate the engine attaches
    /// to a product moment (joins included: one chunk of each side per term). The
    /// per-product noise adds up over the terms; the scaling rounding and the
    /// relinearisation noise come once.
    ///
    /// A mask p (coefficients in [0, t)) multiplies the scaled tensor, (t/Q)·p·A·B =
    /// Q·[p·m_a·m_b]_t/t + p·E mod Q, so a masked term's noise is ‖p·E‖ + 1 ≤ N·t·‖E‖ + 1
    /// for the product noise E of [`product_term`].
    pub fn product_sum(params: &Params, masked: bool, terms: u64) -> NoiseEstimate {
        let fresh = NoiseEstimate::fresh(0);
        let mut term = product_term(fresh, fresh, params);
        if masked {
            term = params.slots() as f64 * params.t() as f64 * term + 1.0;
        }
        NoiseEstimate::from_f64(terms.max(1) as f64 * term + once_per_product(params))
    }

    /// Σ_j w_j · x_j + C over fresh full-level ciphertexts x_j, each weight applied with
    /// [`scale`], where `weight_abs_sum` = Σ|w_j|: noise ≤ Σ|w_j|·(‖e_j‖ + 1) + 1 (the +1s are
    /// the re-roundings of ⌊Q·m/t⌋ after each product and the plaintext addition).
    pub fn weighted(weight_abs_sum: u128) -> NoiseEstimate {
        NoiseEstimate(NoiseEstimate::fresh(0).0 + log2_ceil(weight_abs_sum.max(1)) + 1)
    }

    fn from_f64(bound: f64) -> NoiseEstimate {
        NoiseEstimate(bound.max(1.0).log2().ceil() as u32)
    }
}

/// δ = 2√N, the expansion factor of a ring product.
fn expansion(params: &Params) -> f64 {
    2.0 * (params.slots() as f64).sqrt()
}

/// ‖s‖∞ of the collective secret for [`REFERENCE_TRUSTEES`] shares.
fn key_norm() -> f64 {
    REFERENCE_TRUSTEES as f64 * SAMPLE_BOUND
}

/// The noise one product a ⊙ b contributes before relinearisation.
///
/// Over the integers, with c_a = (a0, a1) lifted to the extended basis,
/// A = a0 + a1·s = ⌊Q·m_a/t⌋ + e_a + Q·k_a = Q·(m_a/t + k_a) + ε_a, where ‖ε_a‖ ≤ ‖e_a‖ + 1
/// and ‖k_a‖ ≤ δ·‖s‖ + 2 (a0, a1 lifted into [0, Q) or centred alike). The tensor sums to
/// A·B, and (t/Q)·A·B is, mod Q, the sum of Q·(m_a·m_b)/t (that is ⌊Q·[m_a·m_b]_t/t⌋ up to
/// a rounding of 1), m_a·ε_b + m_b·ε_a, t·(k_a·ε_b + k_b·ε_a) and t·ε_a·ε_b/Q. So the
/// noise is at most δ·(t/2)·(‖e_a‖ + ‖e_b‖ + 2) for the plaintext-times-noise term (m
/// centred, coefficients ≤ t/2) plus t·δ·(δ·‖s‖ + 2)·(‖e_a‖ + ‖e_b‖ + 2), the
/// t·N·‖s‖·e term (δ² = 4N): by far the largest, it makes a product cost
/// log2(8·t·N·‖s‖) ≈ 72–73 bits over the operands' noise.
fn product_term(a: NoiseEstimate, b: NoiseEstimate, params: &Params) -> f64 {
    let d = expansion(params);
    let t = params.t() as f64;
    let e = 2f64.powi(a.0 as i32) + 2f64.powi(b.0 as i32) + 2.0;
    t * d * (d * key_norm() + 2.5) * e + 1.0
}

/// What a product sum gets once: the rounding of the scaling by t/Q of (c0, c1, c2),
/// (1 + δ‖s‖ + δ²‖s‖²)/2, and the relinearisation, Σ_i [c2]_{q_i}·e_rlk,i ≤ L·δ·q·‖e_rlk‖
/// (RNS digits below the largest modulus q), where the 2-round multiparty key's error is
/// s·e0 + u·e1 + e2 + e3 with sums of n fresh errors: ‖e_rlk‖ ≤ 2·δ·S² + 2·S.
fn once_per_product(params: &Params) -> f64 {
    let d = expansion(params);
    let s = key_norm();
    let rounding = (1.0 + d * s + d * d * s * s) / 2.0;
    let q = params.spec.moduli.iter().copied().max().unwrap_or(0) as f64;
    let e_rlk = 2.0 * d * s * s + 2.0 * s;
    rounding + params.spec.moduli.len() as f64 * d * q * e_rlk
}

/// ⌈log2 x⌉ for x ≥ 1.
pub fn log2_ceil(x: u128) -> u32 {
    128 - (x.max(1) - 1).leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;

    #[test]
    fn product_estimate_holds_the_plaintext_times_noise_term() {
        // t·N·‖s‖·e with the model's own ‖s‖ and fresh noise: an estimate of only
        // e + log t + log N (+ a few bits) would fall below it.
        for preset in Preset::ALL {
            let p = preset.params().expect("preset");
            let fresh = NoiseEstimate::fresh(0);
            let term = (p.t() as f64).log2()
                + (p.slots() as f64).log2()
                + key_norm().log2()
                + f64::from(fresh.0);
            let one = NoiseEstimate::product_sum(&p, false, 1);
            assert!(f64::from(one.0) >= term, "{}: {} < {term}", p.name, one.0);
            assert_eq!(one, fresh.product(fresh, &p));
            // Terms add: doubling the count costs one bit, no more.
            let many = NoiseEstimate::product_sum(&p, false, 1 << 10);
            assert!(many.0 <= one.0 + 10 && many.0 >= one.0 + 9);
            // A masked operand's noise enters the same term.
            let masked = NoiseEstimate::product_sum(&p, true, 1);
            assert!(masked.0 >= fresh.masked(&p).0 + term as u32 - fresh.0);
        }
    }
}
