//! The public commitment to a dealer's Shamir polynomial, against which every recipient
//! checks the share it was dealt.
//!
//! For each coefficient c_k of f_i (k = 0..t−1) the dealer publishes two RLWE samples
//! C_{k,b} = −a_b·c_k + e_{k,b} (b = 1, 2), with public uniform a_1, a_2 derived from the
//! ceremony seed and small errors ‖e‖∞ ≤ [`ERROR_BOUND`]. Recipient j, holding x = f_i(j),
//! checks for both b that
//!
//! ```text
//!     r_b = Σ_k j^k·C_{k,b} + a_b·x = Σ_k j^k·e_{k,b}      (‖r_b‖∞ ≤ β_j = B·Σ_k j^k)
//! ```
//!
//! is small (the same small integer modulo every prime). Why this is sound enough here:
//!
//! * **Hiding**: each C_{k,·} is a pair of RLWE samples of c_k (uniform for k ≥ 1, the
//!   ternary s_i for k = 0, whose ceremony public-key share is a third sample): RLWE with a
//!   few samples, the same assumption the collective public key rests on.
//! * **A replaced or altered share is caught**: to pass, a share x' must satisfy both
//!   −a_b·x' ≈ Σ_k j^k C_{k,b}; that pair is an RLWE instance with secret f_i(j), so finding
//!   any passing x' without f_i(j) is search-RLWE. This is why there are two samples: with one
//!   (invertible) a, x' = −a⁻¹·(Σ_k j^k C_k − e) passes for any small e, and the relaying
//!   platform — HPKE base mode does not authenticate the sender — could substitute a share.
//!   Two passing shares x ≠ x' for the same j would need a_b·(x − x') short for both b, a
//!   short vector of norm ≤ 2β_j·√(2N) ≪ √Q in a random 2N-dimensional lattice of
//!   determinant Q^N: with overwhelming probability none exists, so a passing share is the
//!   committed one.
//! * **Not proven**: that a *malicious dealer's* errors are small (a zero-knowledge proof of
//!   well-formedness, which Mouchet et al. leave out too). A dealer that publishes malformed
//!   commitments can make its dealt shares inconsistent, which makes releases by some sets
//!   fail — an availability attack a trustee already has (it can refuse to answer) — but it
//!   learns nothing it did not know, and the flooding is unaffected.
//!
//! The check needs β_j < 2^[`MAX_CHECK_BITS`] so that "small" stays far below every prime;
//! [`check_supported`] refuses larger (t, n).

use super::{check_threshold, Dealing, RnsSecret};
use crate::error::CryptoError;
use crate::params::Params;
use fhe_math::rq::traits::TryConvertFrom;
use fhe_math::rq::{Context, Poly, Representation};
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Arc;

/// ‖e‖∞ of every commitment error (uniform in [−B, B]).
pub const ERROR_BOUND: u64 = 16;
/// log2 of the largest check bound β_j = B·Σ_k j^k allowed.
pub const MAX_CHECK_BITS: u32 = 32;
/// Key-derivation context of the commitment CRPs a_1, a_2.
pub const CRP_CONTEXT: &str = "DigitalThreadFHE 2026 threshold dealing commitment CRP v1";
/// Format version byte of [`Commitment::to_bytes`].
pub const COMMITMENT_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + 2 + 2 + 2 + 1 + 4;

/// β_j = B·Σ_{k<t} j^k, or `None` past 2^[`MAX_CHECK_BITS`].
fn check_bound(threshold: usize, point: u32) -> Option<u64> {
    let mut sum: u128 = 0;
    let mut pow: u128 = 1;
    for _ in 0..threshold {
        sum = sum.checked_add(pow)?;
        pow = pow.checked_mul(point as u128)?;
        if sum.checked_mul(ERROR_BOUND as u128)? >= 1u128 << MAX_CHECK_BITS {
            return None;
        }
    }
    Some((sum * ERROR_BOUND as u128) as u64)
}

/// Refuse a (t, n) whose largest check bound (at point n) is past 2^[`MAX_CHECK_BITS`].
pub fn check_supported(threshold: usize, trustees: usize) -> Result<(), CryptoError> {
    check_threshold(threshold, trustees)?;
    if check_bound(threshold, trustees as u32).is_none() {
        return Err(CryptoError::InvalidParameters(format!(
            "a {threshold}-of-{trustees} dealing is past the commitment's check bound (B·Σ n^k must stay below 2^{MAX_CHECK_BITS}); use fewer trustees or a lower threshold"
        )));
    }
    Ok(())
}

fn ctx0(params: &Params) -> Result<&Arc<Context>, CryptoError> {
    Ok(params.bfv.context_at_level(0)?)
}

/// The two public CRPs (NTT form), derived from the ceremony seed and the parameters.
fn crps(params: &Params, seed: &[u8; 32]) -> Result<[Poly; 2], CryptoError> {
    let mut material = [0u8; 40];
    material[..8].copy_from_slice(&params.spec.fingerprint());
    material[8..].copy_from_slice(seed);
    let mut rng = ChaCha20Rng::from_seed(blake3::derive_key(CRP_CONTEXT, &material));
    let ctx = ctx0(params)?;
    Ok([
        Poly::random(ctx, Representation::Ntt, &mut rng),
        Poly::random(ctx, Representation::Ntt, &mut rng),
    ])
}

fn to_poly(params: &Params, s: &RnsSecret) -> Result<Poly, CryptoError> {
    let ctx = ctx0(params)?;
    let arr = ndarray::Array2::from_shape_vec(
        (ctx.moduli().len(), params.slots()),
        s.residues().to_vec(),
    )
    .map_err(|e| CryptoError::Fhe(e.to_string()))?;
    let mut p = Poly::try_convert_from(arr, ctx, false, Representation::PowerBasis)?;
    p.change_representation(Representation::Ntt);
    Ok(p)
}

fn small_error<R: RngCore + CryptoRng>(params: &Params, rng: &mut R) -> Result<Poly, CryptoError> {
    let width = 2 * ERROR_BOUND + 1;
    let zone = u64::MAX - u64::MAX % width;
    let coeffs: Vec<i64> = (0..params.slots())
        .map(|_| loop {
            let x = rng.next_u64();
            if x < zone {
                break (x % width) as i64 - ERROR_BOUND as i64;
            }
        })
        .collect();
    let mut p = Poly::try_convert_from(
        coeffs.as_slice(),
        ctx0(params)?,
        false,
        Representation::PowerBasis,
    )?;
    p.change_representation(Representation::Ntt);
    Ok(p)
}

/// A dealer's public commitment: for each of its t coefficients, two RLWE samples.
#[derive(Clone, PartialEq, Eq)]
pub struct Commitment {
    fingerprint: [u8; 8],
    /// The dealer's point (1-based).
    pub dealer: u32,
    /// t.
    pub threshold: usize,
    /// n.
    pub trustees: usize,
    moduli: usize,
    degree: usize,
    /// `2·t` polynomials in power basis, each `moduli × N` residues row by row:
    /// C_{0,1}, C_{0,2}, C_{1,1}, …
    polys: Vec<Vec<u64>>,
}

impl std::fmt::Debug for Commitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Commitment(dealer {}, {}-of-{})",
            self.dealer, self.threshold, self.trustees
        )
    }
}

impl Commitment {
    /// Commit to `dealing` (dealer at `dealer`), with CRPs from the ceremony `seed`.
    pub fn new<R: RngCore + CryptoRng>(
        params: &Params,
        seed: &[u8; 32],
        dealer: u32,
        dealing: &Dealing,
        rng: &mut R,
    ) -> Result<Commitment, CryptoError> {
        check_supported(dealing.threshold, dealing.trustees)?;
        super::check_point(dealer, dealing.trustees)?;
        let a = crps(params, seed)?;
        let mut polys = Vec::with_capacity(2 * dealing.threshold);
        for c in dealing.coefficients() {
            let c = zeroize::Zeroizing::new(to_poly(params, c)?);
            for a_b in &a {
                let mut p = small_error(params, rng)?;
                p -= &(a_b * c.as_ref());
                p.change_representation(Representation::PowerBasis);
                polys.push(p.coefficients().iter().copied().collect());
            }
        }
        Ok(Commitment {
            fingerprint: params.spec.fingerprint(),
            dealer,
            threshold: dealing.threshold,
            trustees: dealing.trustees,
            moduli: params.spec.moduli.len(),
            degree: params.slots(),
            polys,
        })
    }

    /// Check the share dealt to `point` against this commitment (see the module doc).
    pub fn verify(
        &self,
        params: &Params,
        seed: &[u8; 32],
        point: u32,
        share: &RnsSecret,
    ) -> Result<(), CryptoError> {
        if self.fingerprint != params.spec.fingerprint() {
            return Err(CryptoError::Mismatch {
                what: "dealing commitment",
                reason: "made under other parameters".into(),
            });
        }
        super::check_point(point, self.trustees)?;
        let bound = check_bound(self.threshold, point).ok_or_else(|| {
            CryptoError::InvalidParameters("threshold past the commitment's check bound".into())
        })?;
        let a = crps(params, seed)?;
        let x = zeroize::Zeroizing::new(to_poly(params, share)?);
        let ctx = ctx0(params)?;
        for (b, a_b) in a.iter().enumerate() {
            // r = Σ_k j^k·C_{k,b} + a_b·x, Horner from the top coefficient.
            let mut r = Poly::zero(ctx, Representation::Ntt);
            for k in (0..self.threshold).rev() {
                r *= &num_bigint::BigUint::from(point);
                let arr = ndarray::Array2::from_shape_vec(
                    (ctx.moduli().len(), params.slots()),
                    self.polys[2 * k + b].clone(),
                )
                .map_err(|e| CryptoError::Fhe(e.to_string()))?;
                let mut c = Poly::try_convert_from(arr, ctx, true, Representation::PowerBasis)?;
                c.change_representation(Representation::Ntt);
                r += &c;
            }
            r += &(a_b * x.as_ref());
            r.change_representation(Representation::PowerBasis);
            if !small_everywhere(&r, ctx.moduli(), bound) {
                return Err(CryptoError::Ceremony(format!(
                    "the share dealt by trustee {} to trustee {point} does not match the dealer's commitment",
                    self.dealer
                )));
            }
        }
        Ok(())
    }

    /// Versioned wire form: `[1][params fingerprint 8][dealer u16][t u16][n u16][moduli u8]
    /// [N u32][2t × moduli × N × u64 LE]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER_LEN + self.polys.len() * self.moduli * self.degree * 8);
        out.push(COMMITMENT_VERSION);
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(&(self.dealer as u16).to_le_bytes());
        out.extend_from_slice(&(self.threshold as u16).to_le_bytes());
        out.extend_from_slice(&(self.trustees as u16).to_le_bytes());
        out.push(self.moduli as u8);
        out.extend_from_slice(&(self.degree as u32).to_le_bytes());
        for p in &self.polys {
            for r in p {
                out.extend_from_slice(&r.to_le_bytes());
            }
        }
        out
    }

    /// Decode and check against the parameters and the expected deployment shape.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<Commitment, CryptoError> {
        const WHAT: &str = "dealing commitment";
        let mal = super::malformed(WHAT);
        super::check_header(params, bytes, WHAT, COMMITMENT_VERSION, HEADER_LEN)?;
        let fingerprint = params.spec.fingerprint();
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
        let (dealer, threshold, trustees) = (u16_at(9), u16_at(11), u16_at(13));
        check_supported(threshold, trustees).map_err(|e| mal(e.to_string()))?;
        super::check_point(dealer as u32, trustees).map_err(|e| mal(e.to_string()))?;
        let (k, n) = super::check_layout(params, bytes, 15, WHAT)?;
        let moduli = &params.spec.moduli;
        let body = &bytes[HEADER_LEN..];
        let per_poly = k * n;
        if body.len() != 2 * threshold * per_poly * 8 {
            return Err(mal(format!(
                "expected {} body bytes, found {}",
                2 * threshold * per_poly * 8,
                body.len()
            )));
        }
        let mut polys = Vec::with_capacity(2 * threshold);
        for chunk in body.chunks_exact(per_poly * 8) {
            let p = super::residues_of(chunk);
            for (row, &q) in p.chunks_exact(n).zip(moduli) {
                if row.iter().any(|&r| r >= q) {
                    return Err(mal("residue not reduced modulo its prime".into()));
                }
            }
            polys.push(p);
        }
        Ok(Commitment {
            fingerprint,
            dealer: dealer as u32,
            threshold,
            trustees,
            moduli: k,
            degree: n,
            polys,
        })
    }

    /// BLAKE3 of the wire form: bound into the sealed shares' associated data, so a share
    /// is only accepted next to the commitment its dealer made.
    pub fn digest(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }
}

/// Checks that a re-sharing carries the secret of the sharing before it (see
/// [`super::reshare`]). The constant-term commitments of the dealers of one sharing sum to
/// −a_b·s + Σe for its secret s; so for the same s, the difference of the two sums is the
/// small Σe − Σe' (‖·‖∞ ≤ B·(|before| + |after|)) for both b, and for any other secret s' it
/// is −a_b·(s' − s) + small, which is not small (the argument of the module doc: a_b·δ short
/// for both b has no solution δ ≠ 0 but with negligible probability).
pub fn same_secret(
    params: &Params,
    before: &[Commitment],
    after: &[Commitment],
) -> Result<(), CryptoError> {
    let moduli = &params.spec.moduli;
    let n = params.slots();
    if before.is_empty() || after.is_empty() {
        return Err(CryptoError::Ceremony(
            "a re-sharing is checked against the commitments of a whole sharing".into(),
        ));
    }
    for c in before.iter().chain(after) {
        if c.fingerprint != params.spec.fingerprint() || c.polys.len() < 2 {
            return Err(CryptoError::Mismatch {
                what: "dealing commitment",
                reason: "made under other parameters".into(),
            });
        }
    }
    let bound = ERROR_BOUND * (before.len() + after.len()) as u64;
    for b in 0..2 {
        let mut diff = vec![0u64; moduli.len() * n];
        for (sign_after, c) in before
            .iter()
            .map(|c| (false, c))
            .chain(after.iter().map(|c| (true, c)))
        {
            for (m, &q) in moduli.iter().enumerate() {
                let row = &c.polys[b][m * n..(m + 1) * n];
                for (d, &v) in diff[m * n..(m + 1) * n].iter_mut().zip(row) {
                    let v = if sign_after { v } else { (q - v) % q };
                    *d = ((*d as u128 + v as u128) % q as u128) as u64;
                }
            }
        }
        let rows: Vec<&[u64]> = diff.chunks_exact(n).collect();
        if !small_rows(&rows, moduli, bound) {
            return Err(CryptoError::Ceremony(
                "the re-sharing does not carry the deployment's secret: its re-dealers' \
                 constant terms do not sum to the secret of the sharing before"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Every coefficient of `r` is the same integer of absolute value ≤ `bound` modulo every
/// prime.
fn small_everywhere(r: &Poly, moduli: &[u64], bound: u64) -> bool {
    let coeffs = r.coefficients();
    match coeffs.as_slice() {
        Some(all) => small_rows(
            &all.chunks_exact(coeffs.ncols()).collect::<Vec<_>>(),
            moduli,
            bound,
        ),
        None => false,
    }
}

/// [`small_everywhere`] on residue rows (row m modulo the m-th prime).
fn small_rows(rows: &[&[u64]], moduli: &[u64], bound: u64) -> bool {
    let centred = |v: u64, q: u64| -> i128 {
        if v > q / 2 {
            v as i128 - q as i128
        } else {
            v as i128
        }
    };
    for (j, &v) in rows[0].iter().enumerate() {
        let first = centred(v, moduli[0]);
        if first.unsigned_abs() > bound as u128 {
            return false;
        }
        if rows
            .iter()
            .zip(moduli)
            .skip(1)
            .any(|(row, &q)| centred(row[j], q) != first)
        {
            return false;
        }
    }
    true
}
