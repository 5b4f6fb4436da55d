//! t-of-n threshold decryption on top of the n-of-n ceremony (Mouchet, Bertrand, Hubaux,
//! "An Efficient Threshold Access-Structure for RLWE-Based Multiparty Homomorphic
//! Encryption", 2022; Lattigo's `multiparty` Thresholdizer/Combiner do the same steps).
//!
//! After the ceremony every trustee i holds its share s_i of the collective secret
//! s = Σ s_i. To thresholdize, trustee i draws a polynomial f_i(X) = s_i + Σ_{k=1}^{t−1}
//! c_{i,k}·X^k of degree t−1 whose coefficients are ring elements of R_Q, i.e. an independent
//! Shamir sharing over every RNS prime q_m and every ring coefficient, and gives trustee j
//! (public point j, its 1-based position in the deployment's trustee list) the value f_i(j)
//! ([`Dealing`]). Trustee j adds what it received from all n dealers (its own included):
//! S_j = Σ_i f_i(j) = F(j) with F = Σ f_i and F(0) = s ([`ThresholdSecret`]).
//!
//! For a release by a set T of exactly t trustees, trustee j uses λ_j^T · S_j in place of its
//! own s_j, where λ_j^T = Π_{m∈T, m≠j} m / (m − j) (mod each q_m): Σ_{j∈T} λ_j^T S_j = s
//! exactly mod Q, so the combined decryption has exactly the noise of today's n-of-n
//! decryption, plus the t flooding terms ([`crate::release::trustee_share_threshold`]).
//!
//! Fewer than t trustees learn nothing about s: the values they hold of each honest dealer's
//! f_h are t−1 evaluations of a polynomial with t−1 uniform coefficients besides f_h(0), so
//! they are uniform and independent of s_h.
//!
//! [`commit`] adds the public commitment every recipient checks its dealt share against,
//! [`wire`] the versioned byte formats and the HPKE sealing of dealt shares, [`reshare`] the
//! proactive re-sharing that hands a position to a new trustee.

pub mod commit;
pub mod reshare;
pub mod wire;

use crate::error::CryptoError;
use crate::params::{pow_mod, Params};
use crate::release::secret_coefficients;
use fhe::bfv::SecretKey;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Largest number of trustees a threshold deployment supports (points fit in a `u16`, and
/// Lagrange denominators m − j stay far below every prime).
pub const MAX_TRUSTEES: usize = 64;

/// A secret ring element of R_Q in power basis, as residues: `k` rows of `N`, row m reduced
/// modulo the m-th prime of the parameters (level 0). Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RnsSecret {
    degree: usize,
    residues: Zeroizing<Vec<u64>>,
}

impl std::fmt::Debug for RnsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RnsSecret(degree {}, redacted)", self.degree)
    }
}

impl RnsSecret {
    /// Build from residues laid out row by row (`moduli × degree`), checking the shape and
    /// that every residue is reduced: the decoder of dealt shares goes through here.
    pub fn from_residues(params: &Params, residues: Vec<u64>) -> Result<RnsSecret, CryptoError> {
        let residues = Zeroizing::new(residues);
        let n = params.slots();
        let moduli = &params.spec.moduli;
        if residues.len() != n * moduli.len() {
            return Err(CryptoError::Mismatch {
                what: "threshold secret",
                reason: format!(
                    "{} residues, these parameters need {} × {}",
                    residues.len(),
                    moduli.len(),
                    n
                ),
            });
        }
        for (row, &q) in residues.chunks_exact(n).zip(moduli) {
            if row.iter().any(|&r| r >= q) {
                return Err(CryptoError::Malformed {
                    what: "threshold secret",
                    reason: "residue not reduced modulo its prime".into(),
                });
            }
        }
        Ok(RnsSecret {
            degree: n,
            residues,
        })
    }

    /// A trustee's n-of-n share (small signed coefficients) lifted to residues.
    pub fn from_secret_key(params: &Params, sk: &SecretKey) -> Result<RnsSecret, CryptoError> {
        let s = secret_coefficients(sk)?;
        let n = params.slots();
        if s.len() != n {
            return Err(CryptoError::Mismatch {
                what: "secret-key share",
                reason: "wrong degree".into(),
            });
        }
        let mut residues = Zeroizing::new(Vec::with_capacity(n * params.spec.moduli.len()));
        for &q in &params.spec.moduli {
            residues.extend(s.iter().map(|&v| (v as i128).rem_euclid(q as i128) as u64));
        }
        Ok(RnsSecret {
            degree: n,
            residues,
        })
    }

    fn zero(params: &Params) -> RnsSecret {
        RnsSecret {
            degree: params.slots(),
            residues: Zeroizing::new(vec![0; params.slots() * params.spec.moduli.len()]),
        }
    }

    fn uniform<R: RngCore + CryptoRng>(params: &Params, rng: &mut R) -> RnsSecret {
        let n = params.slots();
        let mut residues = Zeroizing::new(Vec::with_capacity(n * params.spec.moduli.len()));
        for &q in &params.spec.moduli {
            // Rejection sampling below the largest multiple of q: exactly uniform.
            let zone = u64::MAX - u64::MAX % q;
            for _ in 0..n {
                let v = loop {
                    let x = rng.next_u64();
                    if x < zone {
                        break x % q;
                    }
                };
                residues.push(v);
            }
        }
        RnsSecret {
            degree: n,
            residues,
        }
    }

    /// Row `m` (residues modulo the m-th prime).
    pub fn row(&self, m: usize) -> &[u64] {
        &self.residues[m * self.degree..(m + 1) * self.degree]
    }

    /// All residues, row by row (for the sealed wire form only).
    pub fn residues(&self) -> &[u64] {
        &self.residues
    }

    /// self += other (mod each prime).
    fn add_assign(&mut self, params: &Params, other: &RnsSecret) {
        let n = self.degree;
        for (m, &q) in params.spec.moduli.iter().enumerate() {
            for (a, b) in self.residues[m * n..(m + 1) * n]
                .iter_mut()
                .zip(&other.residues[m * n..(m + 1) * n])
            {
                *a = ((*a as u128 + *b as u128) % q as u128) as u64;
            }
        }
    }

    /// self = self·x + other, with one scalar per prime (Horner step).
    fn mul_add(&mut self, params: &Params, scalars: &[u64], other: &RnsSecret) {
        let n = self.degree;
        for (m, &q) in params.spec.moduli.iter().enumerate() {
            let x = scalars[m] as u128;
            for (a, b) in self.residues[m * n..(m + 1) * n]
                .iter_mut()
                .zip(&other.residues[m * n..(m + 1) * n])
            {
                *a = ((*a as u128 * x % q as u128 + *b as u128) % q as u128) as u64;
            }
        }
    }

    /// self · scalar, one scalar per prime.
    fn scaled(&self, params: &Params, scalars: &[u64]) -> RnsSecret {
        let mut out = self.clone();
        let n = self.degree;
        for (m, &q) in params.spec.moduli.iter().enumerate() {
            let x = scalars[m] as u128;
            for a in out.residues[m * n..(m + 1) * n].iter_mut() {
                *a = (*a as u128 * x % q as u128) as u64;
            }
        }
        out
    }
}

/// Check a threshold configuration: 1 ≤ t ≤ n ≤ [`MAX_TRUSTEES`].
pub fn check_threshold(threshold: usize, trustees: usize) -> Result<(), CryptoError> {
    if trustees == 0 || trustees > MAX_TRUSTEES {
        return Err(CryptoError::InvalidParameters(format!(
            "{trustees} trustees; a threshold deployment has 1..={MAX_TRUSTEES}"
        )));
    }
    if threshold == 0 || threshold > trustees {
        return Err(CryptoError::InvalidParameters(format!(
            "threshold {threshold} must be between 1 and the number of trustees ({trustees})"
        )));
    }
    Ok(())
}

/// Check a participant point: 1 ≤ point ≤ n (0 would be the secret itself).
fn check_point(point: u32, trustees: usize) -> Result<(), CryptoError> {
    if point == 0 || point as usize > trustees {
        return Err(CryptoError::Mismatch {
            what: "Shamir point",
            reason: format!("point {point} is not a trustee position in 1..={trustees}"),
        });
    }
    Ok(())
}

/// The `Malformed` error of one kind of threshold message.
fn malformed(what: &'static str) -> impl Fn(String) -> CryptoError {
    move |reason| CryptoError::Malformed { what, reason }
}

/// The start every threshold message (commitment, dealt share, threshold secret) shares,
/// checked in one place: at least `header_len` bytes, the `version` byte, then the
/// fingerprint (8 bytes) of the parameters it was made under.
fn check_header(
    params: &Params,
    bytes: &[u8],
    what: &'static str,
    version: u8,
    header_len: usize,
) -> Result<(), CryptoError> {
    let mal = malformed(what);
    if bytes.len() < header_len {
        return Err(mal(format!("shorter than its {header_len}-byte header")));
    }
    if bytes[0] != version {
        return Err(mal(format!(
            "format version {} (this build reads {version})",
            bytes[0]
        )));
    }
    if bytes[1..9] != params.spec.fingerprint() {
        return Err(CryptoError::Mismatch {
            what,
            reason: "made under other parameters".into(),
        });
    }
    Ok(())
}

/// Writes the rest of a threshold message's header, the `u16` fields (points, t, n) and the
/// body's layout under `params` (`[moduli u8][N u32 LE]`, read back by [`check_layout`]),
/// then the body's residues (u64 LE).
fn put_fields_and_residues(out: &mut Vec<u8>, params: &Params, fields: &[usize], residues: &[u64]) {
    for &v in fields {
        out.extend_from_slice(&(v as u16).to_le_bytes());
    }
    out.push(params.spec.moduli.len() as u8);
    out.extend_from_slice(&(params.slots() as u32).to_le_bytes());
    for r in residues {
        out.extend_from_slice(&r.to_le_bytes());
    }
}

/// The `[moduli u8][N u32 LE]` at `at` of a threshold message's header, checked to fit the
/// parameters. Returns (moduli, N).
fn check_layout(
    params: &Params,
    bytes: &[u8],
    at: usize,
    what: &'static str,
) -> Result<(usize, usize), CryptoError> {
    let k = bytes[at] as usize;
    let n =
        u32::from_le_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]]) as usize;
    if k != params.spec.moduli.len() || n != params.slots() {
        return Err(malformed(what)(format!(
            "{k} moduli of degree {n} do not fit these parameters"
        )));
    }
    Ok((k, n))
}

/// Little-endian u64 residues of a threshold message's body (a multiple of 8 bytes).
fn residues_of(body: &[u8]) -> Vec<u64> {
    body.chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

/// One trustee's Shamir polynomial f_i (degree t−1, f_i(0) = s_i). Held only in the dealer's
/// memory while it deals; zeroized on drop.
pub struct Dealing {
    threshold: usize,
    trustees: usize,
    /// coeffs[0] = s_i, coeffs[1..t] uniform.
    coeffs: Vec<RnsSecret>,
}

impl Dealing {
    /// Draw f_i for the dealer's share `sk`, for a `threshold`-of-`trustees` deployment.
    pub fn new<R: RngCore + CryptoRng>(
        params: &Params,
        sk: &SecretKey,
        threshold: usize,
        trustees: usize,
        rng: &mut R,
    ) -> Result<Dealing, CryptoError> {
        check_threshold(threshold, trustees)?;
        let mut coeffs = vec![RnsSecret::from_secret_key(params, sk)?];
        for _ in 1..threshold {
            coeffs.push(RnsSecret::uniform(params, rng));
        }
        Ok(Dealing {
            threshold,
            trustees,
            coeffs,
        })
    }

    /// The threshold t (the polynomial has t coefficients).
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The coefficients, constant term first (for the commitment).
    pub(crate) fn coefficients(&self) -> &[RnsSecret] {
        &self.coeffs
    }

    /// f_i(point), the share dealt to the trustee at `point` (1-based).
    pub fn share_for(&self, params: &Params, point: u32) -> Result<RnsSecret, CryptoError> {
        check_point(point, self.trustees)?;
        let x: Vec<u64> = params
            .spec
            .moduli
            .iter()
            .map(|&q| point as u64 % q)
            .collect();
        let mut acc = RnsSecret::zero(params);
        for c in self.coeffs.iter().rev() {
            acc.mul_add(params, &x, c);
        }
        Ok(acc)
    }
}

/// A trustee's threshold secret S_j = Σ_i f_i(j), at its public point j.
#[derive(Debug, Clone)]
pub struct ThresholdSecret {
    /// This trustee's point (1-based position in the trustee list).
    pub point: u32,
    /// t.
    pub threshold: usize,
    /// n.
    pub trustees: usize,
    /// The sharing this secret belongs to: 0 for the first dealing, k after the k-th
    /// proactive re-sharing. Shares of different epochs never combine (they are points of
    /// unrelated polynomials), so a trustee labels every share it gives with it.
    pub epoch: u32,
    secret: RnsSecret,
}

impl ThresholdSecret {
    /// The same secret, labelled as belonging to the sharing `epoch` (a re-sharing's
    /// recipients keep their new secret under the re-sharing's epoch).
    pub fn at_epoch(mut self, epoch: u32) -> ThresholdSecret {
        self.epoch = epoch;
        self
    }

    /// Add the shares dealt to `point` by every one of the `trustees` dealers (its own
    /// included). All n are needed: a missing dealer's s_i would be missing from F(0).
    pub fn aggregate(
        params: &Params,
        point: u32,
        threshold: usize,
        trustees: usize,
        dealt: &[RnsSecret],
    ) -> Result<ThresholdSecret, CryptoError> {
        check_threshold(threshold, trustees)?;
        check_point(point, trustees)?;
        if dealt.len() != trustees {
            return Err(CryptoError::Ceremony(format!(
                "threshold secret needs a dealt share from each of the {trustees} trustees, {} given",
                dealt.len()
            )));
        }
        Ok(ThresholdSecret {
            point,
            threshold,
            trustees,
            epoch: 0,
            secret: sum_of_dealt(params, dealt)?,
        })
    }

    /// Rebuild from stored parts (the trustee's key store).
    pub fn from_parts(
        point: u32,
        threshold: usize,
        trustees: usize,
        secret: RnsSecret,
    ) -> Result<ThresholdSecret, CryptoError> {
        check_threshold(threshold, trustees)?;
        check_point(point, trustees)?;
        Ok(ThresholdSecret {
            point,
            threshold,
            trustees,
            epoch: 0,
            secret,
        })
    }

    /// S_j itself (for storage).
    pub fn secret(&self) -> &RnsSecret {
        &self.secret
    }

    /// λ_j^T · S_j for the release set `set` (exactly t distinct points, containing this
    /// trustee's): what this trustee uses in place of its n-of-n share for that set.
    pub fn weighted_for(&self, params: &Params, set: &[u32]) -> Result<RnsSecret, CryptoError> {
        check_set(set, self.threshold, self.trustees)?;
        let lambda = lagrange_at_zero(params, set, self.point)?;
        Ok(self.secret.scaled(params, &lambda))
    }
}

/// The sum of the shares dealt to one trustee (first dealing or re-sharing), each checked to
/// be made under `params`.
fn sum_of_dealt(params: &Params, dealt: &[RnsSecret]) -> Result<RnsSecret, CryptoError> {
    let mut secret = RnsSecret::zero(params);
    for d in dealt {
        if d.degree != params.slots() || d.residues.len() != secret.residues.len() {
            return Err(CryptoError::Mismatch {
                what: "dealt share",
                reason: "made under other parameters".into(),
            });
        }
        secret.add_assign(params, d);
    }
    Ok(secret)
}

/// A release set must have exactly t distinct points of 1..=n.
pub fn check_set(set: &[u32], threshold: usize, trustees: usize) -> Result<(), CryptoError> {
    if set.len() != threshold {
        return Err(CryptoError::Mismatch {
            what: "release set",
            reason: format!("{} trustees named, the threshold is {threshold}", set.len()),
        });
    }
    for (i, &p) in set.iter().enumerate() {
        check_point(p, trustees)?;
        if set[..i].contains(&p) {
            return Err(CryptoError::Mismatch {
                what: "release set",
                reason: format!("trustee point {p} named twice"),
            });
        }
    }
    Ok(())
}

/// λ_me^set = Π_{m∈set, m≠me} m / (m − me), one value per prime of the parameters.
pub fn lagrange_at_zero(params: &Params, set: &[u32], me: u32) -> Result<Vec<u64>, CryptoError> {
    if !set.contains(&me) {
        return Err(CryptoError::Mismatch {
            what: "release set",
            reason: format!("trustee point {me} is not in the set"),
        });
    }
    Ok(params
        .spec
        .moduli
        .iter()
        .map(|&q| {
            let mul = |a: u64, b: u64| ((a as u128 * b as u128) % q as u128) as u64;
            let (mut num, mut den) = (1u64, 1u64);
            for &m in set.iter().filter(|&&m| m != me) {
                num = mul(num, m as u64 % q);
                let diff = (m as i128 - me as i128).rem_euclid(q as i128) as u64;
                den = mul(den, diff);
            }
            mul(num, pow_mod(den, q - 2, q))
        })
        .collect())
}

/// Lagrange interpolation at 0 of the given (point, value) pairs: what a set of parties
/// pooling their threshold secrets computes. With t or more pairs it is the collective secret;
/// with fewer it is an unrelated ring element (the tests show it). Used by the tests and the
/// attack tests; no daemon ever pools secrets.
pub fn reconstruct(params: &Params, pairs: &[(u32, &RnsSecret)]) -> Result<RnsSecret, CryptoError> {
    let points: Vec<u32> = pairs.iter().map(|(p, _)| *p).collect();
    let mut acc = RnsSecret::zero(params);
    for (i, &(p, v)) in pairs.iter().enumerate() {
        if p == 0 || points[..i].contains(&p) {
            return Err(CryptoError::Mismatch {
                what: "Shamir point",
                reason: format!("point {p} is zero or repeated"),
            });
        }
        acc.add_assign(
            params,
            &v.scaled(params, &lagrange_at_zero(params, &points, p)?),
        );
    }
    Ok(acc)
}

/// The whole dealing among shares held in this process (`init` of a single-directory
/// deployment, where every trustee directory is on one machine, like [`crate::ceremony::run`]):
/// trustee i (point i+1) deals to every trustee; returns each trustee's threshold secret, in
/// order. The networked dealing runs the same steps with commitments and sealed shares.
pub fn deal_locally<R: RngCore + CryptoRng>(
    params: &Params,
    shares: &[SecretKey],
    threshold: usize,
    rng: &mut R,
) -> Result<Vec<ThresholdSecret>, CryptoError> {
    let n = shares.len();
    commit::check_supported(threshold, n)?;
    let dealings = shares
        .iter()
        .map(|sk| Dealing::new(params, sk, threshold, n, rng))
        .collect::<Result<Vec<_>, _>>()?;
    (1..=n as u32)
        .map(|j| {
            let dealt = dealings
                .iter()
                .map(|d| d.share_for(params, j))
                .collect::<Result<Vec<_>, _>>()?;
            ThresholdSecret::aggregate(params, j, threshold, n, &dealt)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn lagrange_weights_sum_to_one() {
        let p = Preset::Bfv8192.params().expect("preset");
        let set = [2u32, 4, 5];
        let mut sum = vec![0u64; p.spec.moduli.len()];
        for &j in &set {
            let l = lagrange_at_zero(&p, &set, j).expect("lambda");
            for ((s, v), &q) in sum.iter_mut().zip(&l).zip(&p.spec.moduli) {
                *s = ((*s as u128 + *v as u128) % q as u128) as u64;
            }
        }
        assert!(
            sum.iter().all(|&s| s == 1),
            "Σ λ_j = 1 (interpolating a constant)"
        );
    }

    #[test]
    fn interpolation_recovers_the_constant_term() {
        let p = Preset::Bfv8192.params().expect("preset");
        let mut rng = StdRng::seed_from_u64(3);
        let sk = crate::ceremony::new_share(&p, &mut rng);
        let d = Dealing::new(&p, &sk, 3, 5, &mut rng).expect("dealing");
        let set = [1u32, 3, 5];
        let mut acc = RnsSecret::zero(&p);
        for &j in &set {
            let share = d.share_for(&p, j).expect("share");
            let l = lagrange_at_zero(&p, &set, j).expect("lambda");
            acc.add_assign(&p, &share.scaled(&p, &l));
        }
        assert_eq!(acc, RnsSecret::from_secret_key(&p, &sk).expect("lift"));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(check_threshold(0, 3).is_err());
        assert!(check_threshold(4, 3).is_err());
        assert!(check_threshold(2, MAX_TRUSTEES + 1).is_err());
        assert!(check_set(&[1, 1, 2], 3, 5).is_err());
        assert!(check_set(&[1, 2], 3, 5).is_err());
        assert!(check_set(&[1, 2, 6], 3, 5).is_err());
        assert!(check_set(&[0, 2, 3], 3, 5).is_err());
        assert!(check_set(&[5, 2, 3], 3, 5).is_ok());
    }
}
