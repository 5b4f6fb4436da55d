//! Proactive re-sharing: a quorum of the current trustees hands the collective secret to a
//! fresh Shamir sharing — one position held by a new trustee when a plant leaves, or the same
//! trustees with new shares to make leaked old ones useless — without anyone learning the
//! secret and without decrypting any data (Herzberg et al., "Proactive Secret Sharing",
//! 1995; the re-sharing of Mouchet et al. and Lattigo's `multiparty` package is this step).
//!
//! Each member i of a set T of t current trustees draws a fresh polynomial
//! g_i(X) = λ_i^T·S_i + Σ_{k=1}^{t−1} c'_{i,k}·X^k (uniform c') and deals g_i(j) to the
//! trustee at every position j of the new committee ([`Dealing::reshare`]). The trustee at j
//! keeps S'_j = Σ_{i∈T} g_i(j) ([`ThresholdSecret::from_resharing`]). Since
//! Σ_{i∈T} λ_i^T·S_i = s, the new shares are a degree-(t−1) sharing of the same s: any t of
//! them release exactly as before, and nothing encrypted changes.
//!
//! What it protects: the new polynomial G = Σ g_i is independent of the old F beyond
//! G(0) = F(0) = s, so old and new shares do not mix. A departed trustee's old S_r together
//! with t−1 new shares interpolates to nothing (the tests show it), provided the trustees that
//! stay delete their old S_j once they keep S'_j — the usual proactive assumption, which the
//! trustee's key store does by replacing its threshold secret.
//!
//! Checks: every dealt share against its dealer's commitment, as in the first dealing
//! ([`super::commit::Commitment::verify`]); and the re-sharing as a whole against the secret
//! it must carry ([`super::commit::same_secret`]): the constant-term commitments of the
//! re-dealers sum to −a_b·s + small, exactly like those of the dealing before, so a re-sharing
//! of any other secret — a member that deals a wrong or shifted constant, or a set that leaves
//! someone out — is refused before anyone replaces its share.

use super::{check_set, Dealing, RnsSecret, ThresholdSecret};
use crate::error::CryptoError;
use crate::params::Params;
use rand::{CryptoRng, RngCore};

impl Dealing {
    /// Member `held.point` of the re-sharing set `set` (t distinct positions, its own
    /// included) draws its re-sharing polynomial: constant term λ^set·S, fresh uniform
    /// coefficients, same t and n.
    pub fn reshare<R: RngCore + CryptoRng>(
        params: &Params,
        held: &ThresholdSecret,
        set: &[u32],
        rng: &mut R,
    ) -> Result<Dealing, CryptoError> {
        let mut coeffs = vec![held.weighted_for(params, set)?];
        for _ in 1..held.threshold {
            coeffs.push(RnsSecret::uniform(params, rng));
        }
        Ok(Dealing {
            threshold: held.threshold,
            trustees: held.trustees,
            coeffs,
        })
    }
}

impl ThresholdSecret {
    /// The new threshold secret of the trustee at `point`: the sum of the shares the `t`
    /// members of the re-sharing set `set` dealt it, in the order of `set`.
    pub fn from_resharing(
        params: &Params,
        point: u32,
        threshold: usize,
        trustees: usize,
        set: &[u32],
        dealt: &[RnsSecret],
    ) -> Result<ThresholdSecret, CryptoError> {
        check_set(set, threshold, trustees)?;
        if dealt.len() != set.len() {
            return Err(CryptoError::Ceremony(format!(
                "a re-shared secret needs a share from each of the {} re-dealers, {} given",
                set.len(),
                dealt.len()
            )));
        }
        let s = super::sum_of_dealt(params, dealt)?;
        ThresholdSecret::from_parts(point, threshold, trustees, s)
    }
}
