//! Coefficient-0 threshold release: the only way a number leaves the encrypted domain.
//!
//! The sum of all N SIMD slots of a plaintext m equals N · m[0] (mod t), so decrypting only
//! coefficient 0 of a sum ciphertext gives the exact total over every row, and nothing about
//! any single row (the other coefficients). Each trustee i computes only
//! `(c1 · s_i)[0] + e_i` per RNS modulus — a dot product — where e_i is a fresh flooding
//! integer of `flood_bits` bits that hides the ciphertext noise (and so its key share) with
//! 2^-40 statistical distance. The analyst adds c0[0] and all shares, lifts by CRT and
//! rounds t·x/Q: with one share missing the result is uniformly garbage.

use crate::error::CryptoError;
use crate::params::{pow_mod, Params};
use fhe::bfv::{Ciphertext, SecretKey};
use fhe_math::rns::RnsContext;
use fhe_math::rq::Representation;
use fhe_traits::Serialize;
use num_bigint::{BigInt, BigUint, Sign};
use prost::Message;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Statistical security of the flooding, in bits.
pub const FLOOD_MARGIN_BITS: u32 = 40;

/// One trustee's contribution for one ciphertext: flooded (c1·s_i)[0] per modulus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coeff0Share {
    /// Level of the ciphertext it was computed for.
    pub level: u8,
    /// One residue per ciphertext modulus at that level.
    pub residues: Vec<u64>,
}

const SHARE_VERSION: u8 = 1;

impl Coeff0Share {
    /// Versioned wire form: `[1][level][k][k × u64 LE]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![SHARE_VERSION, self.level, self.residues.len() as u8];
        for r in &self.residues {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out
    }

    /// Decode and check against the parameters (level exists, residues reduced).
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<Coeff0Share, CryptoError> {
        let mal = |r: String| CryptoError::Malformed {
            what: "decryption share",
            reason: r,
        };
        if bytes.len() < 3 {
            return Err(mal("shorter than its 3-byte header".into()));
        }
        if bytes[0] != SHARE_VERSION {
            return Err(mal(format!("format version {}", bytes[0])));
        }
        let (level, k) = (bytes[1] as usize, bytes[2] as usize);
        let moduli = params.spec.moduli.len();
        if level >= moduli || k != moduli - level {
            return Err(mal(format!(
                "level {level} with {k} residues does not fit {moduli} moduli"
            )));
        }
        let body = &bytes[3..];
        if body.len() != 8 * k {
            return Err(mal(format!(
                "expected {} residue bytes, found {}",
                8 * k,
                body.len()
            )));
        }
        let residues: Vec<u64> = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        for (r, q) in residues.iter().zip(&params.spec.moduli) {
            if r >= q {
                return Err(mal("residue not reduced modulo its prime".into()));
            }
        }
        Ok(Coeff0Share {
            level: level as u8,
            residues,
        })
    }
}

/// Flooding width for a ciphertext at `level` released by `trustees` parties: as wide as the
/// decryption bound Q/(2t) allows after summing all floods, with 3 bits to spare.
pub fn flood_bits(params: &Params, level: usize, trustees: usize) -> u32 {
    let log_q = params.log_q_at(level).floor() as u32;
    let log_t = crate::accumulate::log2_ceil(params.t() as u128);
    let log_n = crate::accumulate::log2_ceil(trustees.max(1) as u128);
    log_q.saturating_sub(log_t + log_n + 3)
}

/// Largest ciphertext noise estimate (bits) that the flooding at `level` still hides with
/// 2^-40. The estimate ([`crate::accumulate::NoiseEstimate`]) assumes a collective secret
/// of at most [`crate::accumulate::REFERENCE_TRUSTEES`] shares; every noise term grows at
/// most like ‖s‖², so a larger ceremony gets 2·⌈log2 ⌈n/4⌉⌉ bits less room instead.
pub fn max_noise_bits(params: &Params, level: usize, trustees: usize) -> u32 {
    let groups = trustees
        .max(1)
        .div_ceil(crate::accumulate::REFERENCE_TRUSTEES);
    let key_growth = 2 * crate::accumulate::log2_ceil(groups as u128);
    flood_bits(params, level, trustees).saturating_sub(FLOOD_MARGIN_BITS + key_growth)
}

/// The secret share's coefficients (small integers), read through its protobuf form.
pub fn secret_coefficients(sk: &SecretKey) -> Result<Zeroizing<Vec<i64>>, CryptoError> {
    let bytes = Zeroizing::new(sk.to_bytes());
    let proto = fhe::proto::bfv::SecretKey::decode(bytes.as_slice()).map_err(|e| {
        CryptoError::Malformed {
            what: "secret-key share",
            reason: e.to_string(),
        }
    })?;
    Ok(Zeroizing::new(proto.coeffs.clone()))
}

fn level_of(params: &Params, ct: &Ciphertext) -> Result<usize, CryptoError> {
    if ct.len() != 2 {
        return Err(CryptoError::Mismatch {
            what: "ciphertext",
            reason: format!("{} parts; relinearise before release", ct.len()),
        });
    }
    Ok(params.bfv.level_of_context(ct[0].ctx())?)
}

/// A trustee's flooded share of coefficient 0 of `ct`, for a release among `trustees` parties.
pub fn trustee_share<R: RngCore + CryptoRng>(
    params: &Params,
    sk: &SecretKey,
    ct: &Ciphertext,
    trustees: usize,
    rng: &mut R,
) -> Result<Coeff0Share, CryptoError> {
    trustee_share_noised(params, sk, ct, trustees, 0, rng)
}

/// Like [`trustee_share`], and the released total also gets `noise` added (this trustee's
/// share of differential-privacy noise; see [`crate::dp`]). Only this trustee knows it.
pub fn trustee_share_noised<R: RngCore + CryptoRng>(
    params: &Params,
    sk: &SecretKey,
    ct: &Ciphertext,
    trustees: usize,
    noise: i128,
    rng: &mut R,
) -> Result<Coeff0Share, CryptoError> {
    let s = secret_coefficients(sk)?;
    if s.len() != params.slots() {
        return Err(CryptoError::Mismatch {
            what: "secret-key share",
            reason: "wrong degree".into(),
        });
    }
    coeff0_share(
        params,
        |_, q, i| (s[i] as i128).rem_euclid(q as i128) as u128,
        ct,
        trustees,
        noise,
        rng,
    )
}

/// A t-of-n trustee's flooded coefficient-0 share: exactly [`trustee_share_noised`], with the
/// Lagrange-weighted threshold secret λ_j^T·S_j ([`crate::threshold::ThresholdSecret::weighted_for`])
/// in place of the n-of-n share and the flooding sized for the `set`'s t participants.
pub fn trustee_share_threshold<R: RngCore + CryptoRng>(
    params: &Params,
    secret: &crate::threshold::ThresholdSecret,
    set: &[u32],
    ct: &Ciphertext,
    noise: i128,
    rng: &mut R,
) -> Result<Coeff0Share, CryptoError> {
    let weighted = secret.weighted_for(params, set)?;
    // A ciphertext at level l has the first k − l primes of the parameters, in order.
    coeff0_share(
        params,
        |m, _, i| weighted.row(m)[i] as u128,
        ct,
        set.len(),
        noise,
        rng,
    )
}

/// The shared core: `secret_at(m, q, i)` is coefficient i of the secret reduced modulo q,
/// the m-th prime.
fn coeff0_share<R: RngCore + CryptoRng>(
    params: &Params,
    secret_at: impl Fn(usize, u64, usize) -> u128,
    ct: &Ciphertext,
    trustees: usize,
    noise: i128,
    rng: &mut R,
) -> Result<Coeff0Share, CryptoError> {
    let level = level_of(params, ct)?;
    let n = params.slots();
    let mut c1 = ct[1].clone();
    c1.change_representation(Representation::PowerBasis);
    let coeffs = c1.coefficients();
    let flood =
        sample_flood(flood_bits(params, level, trustees), rng) + message_shift(params, &c1, noise);
    let mut residues = Vec::with_capacity(coeffs.nrows());
    for (m, (row, &q)) in coeffs.outer_iter().zip(c1.ctx().moduli()).enumerate() {
        let q128 = q as u128;
        // (c1·s)[0] = c1[0]·s[0] − Σ_{j≥1} c1[j]·s[N−j]  (negacyclic convolution).
        let mut pos = row[0] as u128 * secret_at(m, q, 0) % q128;
        let mut neg = 0u128;
        for j in 1..n {
            neg = (neg + row[j] as u128 * secret_at(m, q, n - j)) % q128;
        }
        pos = (pos + q128 - neg) % q128;
        let e = bigint_mod(&flood, q);
        residues.push(((pos + e as u128) % q128) as u64);
    }
    Ok(Coeff0Share {
        level: level as u8,
        residues,
    })
}

/// round(Q·z/t) with z = noise·N⁻¹ mod t: added to the decryption, it moves coefficient 0 of
/// the plaintext by z, so the slot total N·m0 moves by exactly `noise`.
fn message_shift(params: &Params, c1: &fhe_math::rq::Poly, noise: i128) -> BigInt {
    if noise == 0 {
        return BigInt::from(0u8);
    }
    let t = params.t() as i128;
    let n_inv = pow_mod(params.slots() as u64, params.t() - 2, params.t()) as i128;
    let z = (noise.rem_euclid(t) * n_inv).rem_euclid(t);
    let q = c1.ctx().modulus();
    let shifted =
        (q * BigUint::from(z as u128) + BigUint::from(params.t() / 2)) / BigUint::from(params.t());
    BigInt::from_biguint(Sign::Plus, shifted)
}

/// Combine c0[0] with every trustee's share: the total of all slots of `ct`, in Z_t.
pub fn combine(
    params: &Params,
    ct: &Ciphertext,
    shares: &[Coeff0Share],
) -> Result<u64, CryptoError> {
    let level = level_of(params, ct)?;
    let mut c0 = ct[0].clone();
    c0.change_representation(Representation::PowerBasis);
    let moduli = c0.ctx().moduli().to_vec();
    let mut acc: Vec<u64> = c0.coefficients().outer_iter().map(|row| row[0]).collect();
    for share in shares {
        if share.level as usize != level || share.residues.len() != moduli.len() {
            return Err(CryptoError::Mismatch {
                what: "decryption share",
                reason: "computed for another ciphertext level".into(),
            });
        }
        for ((a, r), q) in acc.iter_mut().zip(&share.residues).zip(&moduli) {
            *a = ((*a as u128 + *r as u128) % *q as u128) as u64;
        }
    }
    let rns = RnsContext::new(&moduli)?;
    let x = rns.lift(ndarray_view(&acc));
    let q = rns.modulus();
    let t = BigUint::from(params.t());
    // m0 = round(t·x / Q) mod t
    let m0 = ((&t * &x + (q >> 1)) / q) % &t;
    let m0 = u64::try_from(m0).map_err(|_| CryptoError::Fhe("coefficient does not fit".into()))?;
    // Σ slots = N · m0 mod t
    Ok(((m0 as u128 * params.slots() as u128) % params.t() as u128) as u64)
}

/// Interpret a value of Z_t as a signed integer in (−t/2, t/2].
pub fn centred(params: &Params, v: u64) -> i128 {
    let t = params.t() as i128;
    let v = v as i128 % t;
    if v > t / 2 {
        v - t
    } else {
        v
    }
}

fn ndarray_view(v: &[u64]) -> ndarray::ArrayView1<'_, u64> {
    ndarray::ArrayView1::from(v)
}

/// Uniform integer in [−2^bits, 2^bits].
fn sample_flood<R: RngCore + CryptoRng>(bits: u32, rng: &mut R) -> BigInt {
    let nbytes = (bits as usize + 1).div_ceil(8) + 1;
    let mut buf = Zeroizing::new(vec![0u8; nbytes]);
    rng.fill_bytes(&mut buf);
    let raw = BigUint::from_bytes_le(&buf) % (BigUint::from(1u8) << (bits + 1));
    BigInt::from_biguint(Sign::Plus, raw) - (BigInt::from(1u8) << bits)
}

fn bigint_mod(v: &BigInt, q: u64) -> u64 {
    let r = v % BigInt::from(q);
    let r = if r.sign() == Sign::Minus {
        r + BigInt::from(q)
    } else {
        r
    };
    u64::try_from(r).unwrap_or(0)
}

/// One trustee's flooded share of *every* coefficient of a ciphertext: the per-row release,
/// used only to give a data owner the results for its own rows (e.g. model predictions).
/// Each coefficient is flooded exactly like the coefficient-0 share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullShare {
    /// Level of the ciphertext it was computed for.
    pub level: u8,
    /// Per RNS modulus, N residues.
    pub residues: Vec<Vec<u64>>,
}

/// A trustee's flooded share of c1·s_i, all coefficients.
pub fn trustee_full_share<R: RngCore + CryptoRng>(
    params: &Params,
    sk: &SecretKey,
    ct: &Ciphertext,
    trustees: usize,
    rng: &mut R,
) -> Result<FullShare, CryptoError> {
    use fhe_math::rq::traits::TryConvertFrom;
    let level = level_of(params, ct)?;
    let s = secret_coefficients(sk)?;
    let ctx = ct[1].ctx();
    let mut s_poly = Zeroizing::new(fhe_math::rq::Poly::try_convert_from(
        s.as_slice(),
        ctx,
        false,
        Representation::PowerBasis,
    )?);
    s_poly.change_representation(Representation::Ntt);
    let mut prod = &ct[1] * s_poly.as_ref();
    prod.change_representation(Representation::PowerBasis);
    let bits = flood_bits(params, level, trustees);
    let moduli = ctx.moduli().to_vec();
    let mut residues: Vec<Vec<u64>> = prod
        .coefficients()
        .outer_iter()
        .map(|r| r.to_vec())
        .collect();
    for j in 0..params.slots() {
        let e = sample_flood(bits, rng);
        for (row, &q) in residues.iter_mut().zip(&moduli) {
            row[j] = ((row[j] as u128 + bigint_mod(&e, q) as u128) % q as u128) as u64;
        }
    }
    Ok(FullShare {
        level: level as u8,
        residues,
    })
}

/// Combine c0 with every trustee's full share: the decrypted SIMD slots (in Z_t).
pub fn combine_full(
    params: &Params,
    ct: &Ciphertext,
    shares: &[FullShare],
) -> Result<Vec<u64>, CryptoError> {
    let level = level_of(params, ct)?;
    let mut c0 = ct[0].clone();
    c0.change_representation(Representation::PowerBasis);
    let moduli = c0.ctx().moduli().to_vec();
    let mut acc: Vec<Vec<u64>> = c0.coefficients().outer_iter().map(|r| r.to_vec()).collect();
    for share in shares {
        if share.level as usize != level
            || share.residues.len() != moduli.len()
            || share.residues.iter().any(|r| r.len() != params.slots())
        {
            return Err(CryptoError::Mismatch {
                what: "decryption share",
                reason: "computed for another ciphertext".into(),
            });
        }
        for ((a, r), &q) in acc.iter_mut().zip(&share.residues).zip(&moduli) {
            for (x, y) in a.iter_mut().zip(r) {
                *x = ((*x as u128 + *y as u128) % q as u128) as u64;
            }
        }
    }
    let rns = RnsContext::new(&moduli)?;
    let q = rns.modulus();
    let t = BigUint::from(params.t());
    let half = q >> 1;
    let mut poly = Vec::with_capacity(params.slots());
    let mut column = vec![0u64; moduli.len()];
    for j in 0..params.slots() {
        for (c, row) in column.iter_mut().zip(&acc) {
            *c = row[j];
        }
        let x = rns.lift(ndarray_view(&column));
        let m = ((&t * &x + &half) / q) % &t;
        poly.push(
            u64::try_from(m).map_err(|_| CryptoError::Fhe("coefficient does not fit".into()))?,
        );
    }
    decode_slots(params, poly)
}

/// SIMD decoding of a plaintext polynomial over Z_t: evaluate at the 2N-th roots of unity
/// (NTT mod t) and read the slots in the batching order (orbits of 3 and −3 mod 2N).
pub fn decode_slots(params: &Params, mut poly: Vec<u64>) -> Result<Vec<u64>, CryptoError> {
    let n = params.slots();
    let t = fhe_math::zq::Modulus::new(params.t())?;
    let ntt = fhe_math::ntt::NttOperator::new(&t, n).ok_or_else(|| {
        CryptoError::InvalidParameters("t does not support an NTT of size N".into())
    })?;
    ntt.forward(&mut poly);
    let log_n = n.trailing_zeros();
    let bitrev = |k: usize| k.reverse_bits() >> (usize::BITS - log_n);
    let two_n = 2 * n;
    let mut slots = vec![0u64; n];
    let mut g = 1usize; // 3^i mod 2N
    for i in 0..n / 2 {
        slots[i] = poly[bitrev((g - 1) / 2)];
        slots[n / 2 + i] = poly[bitrev((two_n - g - 1) / 2)];
        g = g * 3 % two_n;
    }
    Ok(slots)
}

/// Format version byte of [`full_share_to_bytes`].
const FULL_SHARE_VERSION: u8 = 1;

/// Versioned wire form of a full share: `[1][level][k][N as u32 LE][k × N × u64 LE]`.
pub fn full_share_to_bytes(share: &FullShare) -> Vec<u8> {
    let n = share.residues.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(7 + share.residues.len() * n * 8);
    out.push(FULL_SHARE_VERSION);
    out.push(share.level);
    out.push(share.residues.len() as u8);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    for row in &share.residues {
        for r in row {
            out.extend_from_slice(&r.to_le_bytes());
        }
    }
    out
}

/// Why stored full-share bytes do not decode (see [`full_share_from_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareFormatError {
    /// Fewer bytes than the header.
    #[error("full share shorter than its 7-byte header")]
    Short,
    /// An unknown format version byte.
    #[error("full share format version {0}")]
    Version(u8),
    /// Level, row count or row length do not fit the parameters.
    #[error(
        "full share with level {level}, {k} residue rows of {n} does not fit these parameters"
    )]
    Shape {
        /// Modulus level in the header.
        level: usize,
        /// Residue rows in the header.
        k: usize,
        /// Row length in the header.
        n: usize,
    },
    /// The body is not `8 * k * n` bytes.
    #[error("full share has the wrong length")]
    Length,
    /// A residue is not below its prime.
    #[error("full share residue not reduced modulo its prime")]
    Unreduced,
}

/// Decode a full share and check it against the parameters.
pub fn full_share_from_bytes(params: &Params, bytes: &[u8]) -> Result<FullShare, ShareFormatError> {
    if bytes.len() < 7 {
        return Err(ShareFormatError::Short);
    }
    if bytes[0] != FULL_SHARE_VERSION {
        return Err(ShareFormatError::Version(bytes[0]));
    }
    let (level, k) = (bytes[1] as usize, bytes[2] as usize);
    let n = u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]) as usize;
    let moduli = &params.spec.moduli;
    if level >= moduli.len() || k != moduli.len() - level || n != params.slots() {
        return Err(ShareFormatError::Shape { level, k, n });
    }
    let body = &bytes[7..];
    if body.len() != 8 * k * n {
        return Err(ShareFormatError::Length);
    }
    let mut residues = Vec::with_capacity(k);
    for (row, q) in body.chunks_exact(8 * n).zip(moduli) {
        let row: Vec<u64> = row
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        if row.iter().any(|r| r >= q) {
            return Err(ShareFormatError::Unreduced);
        }
        residues.push(row);
    }
    Ok(FullShare {
        level: level as u8,
        residues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;

    #[test]
    fn larger_ceremonies_get_less_noise_room() {
        let p = Preset::Bfv16384.params().expect("preset");
        let room = |n| flood_bits(&p, 0, n) - max_noise_bits(&p, 0, n);
        assert_eq!(room(3), FLOOD_MARGIN_BITS);
        assert_eq!(room(4), FLOOD_MARGIN_BITS);
        // ‖s‖ grows like n, every noise term at most like ‖s‖².
        assert_eq!(room(5), FLOOD_MARGIN_BITS + 2);
        assert_eq!(room(8), FLOOD_MARGIN_BITS + 2);
        assert_eq!(room(16), FLOOD_MARGIN_BITS + 4);
        assert_eq!(room(17), FLOOD_MARGIN_BITS + 6);
    }
}
