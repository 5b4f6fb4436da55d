//! Encryption at the source: one chunk of one column (up to N centred fixed-point values)
//! becomes one SIMD ciphertext; unused slots hold 0 so they add nothing to any sum.

use crate::error::CryptoError;
use crate::params::Params;
use fhe::bfv::{Ciphertext, Encoding, Plaintext, PublicKey};
use fhe_traits::{FheEncoder, FheEncrypter};
use rand::{CryptoRng, RngCore};

/// Map signed values into Z_t (negative v ↦ t + v).
pub fn to_zt(params: &Params, values: &[i64]) -> Result<Vec<u64>, CryptoError> {
    let t = params.t();
    let half = (t / 2) as i128;
    values
        .iter()
        .map(|&v| {
            let v = v as i128;
            if v.abs() > half {
                return Err(CryptoError::OutOfRange(format!(
                    "a value exceeds ±t/2 = {half}"
                )));
            }
            Ok(if v < 0 {
                (t as i128 + v) as u64
            } else {
                v as u64
            })
        })
        .collect()
}

/// Encrypt up to N values under the collective public key, then switch the ciphertext down
/// to `level` (0 keeps every modulus; columns used only in sums are stored lower, smaller).
pub fn encrypt<R: RngCore + CryptoRng>(
    params: &Params,
    pk: &PublicKey,
    values: &[i64],
    level: usize,
    rng: &mut R,
) -> Result<Ciphertext, CryptoError> {
    if values.len() > params.slots() {
        return Err(CryptoError::OutOfRange(format!(
            "{} values exceed the {} slots of a chunk",
            values.len(),
            params.slots()
        )));
    }
    let slots = to_zt(params, values)?;
    let pt = Plaintext::try_encode(&slots, Encoding::simd(), &params.bfv)?;
    let mut ct = pk.try_encrypt(&pt, rng)?;
    if level > 0 {
        ct.switch_to_level(level)?;
    }
    Ok(ct)
}

/// The level of a ciphertext (0 = all moduli).
pub fn level_of(params: &Params, ct: &Ciphertext) -> Result<usize, CryptoError> {
    Ok(params.bfv.level_of_context(ct[0].ctx())?)
}

/// A public 0/1 row-selection mask as a plaintext at `level`, for pt × ct.
pub fn mask_plaintext(
    params: &Params,
    mask: &[bool],
    level: usize,
) -> Result<Plaintext, CryptoError> {
    if mask.len() > params.slots() {
        return Err(CryptoError::OutOfRange("mask longer than a chunk".into()));
    }
    let slots: Vec<u64> = mask.iter().map(|&m| m as u64).collect();
    Ok(Plaintext::try_encode(
        &slots,
        Encoding::simd_at_level(level),
        &params.bfv,
    )?)
}
