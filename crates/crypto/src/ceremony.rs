//! The n-of-n key ceremony (multiparty BFV, Mouchet et al.): every trustee draws its own
//! secret-key share; the collective public key needs one round of public-key shares and the
//! collective relinearisation key two rounds. No party ever sees another's share, and the
//! collective secret key (the sum of the shares) exists nowhere.

pub mod net;

use crate::error::CryptoError;
use crate::params::Params;
use fhe::bfv::{PublicKey, RelinearizationKey, SecretKey};
use fhe::mbfv::{AggregateIter, CommonRandomPoly, PublicKeyShare, RelinKeyGenerator};
use rand::{CryptoRng, RngCore};
use std::sync::Arc;

/// The public outcome of a ceremony: what the platform and the sources hold.
#[derive(Debug, Clone)]
pub struct CollectiveKeys {
    /// Encrypts at the sources.
    pub public: PublicKey,
    /// Relinearises products in the engine.
    pub relin: RelinearizationKey,
}

/// Draw a fresh secret-key share for one trustee.
pub fn new_share<R: RngCore + CryptoRng>(params: &Params, rng: &mut R) -> SecretKey {
    SecretKey::random(&params.bfv, rng)
}

/// Run the whole ceremony for shares held in this process (each trustee's share is only
/// read by its own steps). Used by `init` on one machine; [`net`] runs the same arithmetic
/// as messages between separate trustee processes and a server.
pub fn run<R: RngCore + CryptoRng>(
    params: &Params,
    shares: &[SecretKey],
    rng: &mut R,
) -> Result<CollectiveKeys, CryptoError> {
    at_least_one(shares)?;
    let crp = CommonRandomPoly::new(&params.bfv, rng)?;
    let pk_shares = shares
        .iter()
        .map(|sk| PublicKeyShare::new(sk, crp.clone(), rng))
        .collect::<Result<Vec<_>, _>>()?;
    let public: PublicKey = pk_shares.into_iter().aggregate()?;
    let crps = CommonRandomPoly::new_vec(&params.bfv, rng)?;
    let relin = relin_key(shares, &crps, rng)?;
    Ok(CollectiveKeys { public, relin })
}

/// The outcome of [`run_recorded`]: the collective keys and the public record every trustee
/// keeps of its part (the seed and its public-key share), against which it later checks its
/// own secret share ([`net::pk_share_matches`]).
pub struct RecordedCeremony {
    /// The collective keys.
    pub keys: CollectiveKeys,
    /// The ceremony's public seed (the common random polynomials derive from it).
    pub seed: net::CeremonySeed,
    /// Each trustee's public-key share, in the order of the shares given.
    pub pk_shares: Vec<net::PkShareMsg>,
}

/// [`run`] with the public key made from recorded public-key shares ([`net::pk_share`] under
/// a fresh seed, aggregated by [`net::aggregate_public_key`]: the same arithmetic as the
/// networked ceremony), so each trustee can keep its own share of the transcript.
pub fn run_recorded<R: RngCore + CryptoRng>(
    params: &Params,
    shares: &[SecretKey],
    rng: &mut R,
) -> Result<RecordedCeremony, CryptoError> {
    at_least_one(shares)?;
    let seed = net::CeremonySeed::random(rng);
    let pk_shares = shares
        .iter()
        .map(|sk| net::pk_share(params, sk, &seed, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let public = net::aggregate_public_key(params, &seed, &pk_shares)?;
    let relin = relin_key(shares, &seed.relin_crps(params)?, rng)?;
    Ok(RecordedCeremony {
        keys: CollectiveKeys { public, relin },
        seed,
        pk_shares,
    })
}

fn at_least_one(shares: &[SecretKey]) -> Result<(), CryptoError> {
    if shares.is_empty() {
        return Err(CryptoError::InvalidParameters(
            "a ceremony needs at least one trustee".into(),
        ));
    }
    Ok(())
}

/// The two-round relinearisation-key protocol among shares held in this process.
fn relin_key<R: RngCore + CryptoRng>(
    shares: &[SecretKey],
    crps: &[CommonRandomPoly],
    rng: &mut R,
) -> Result<RelinearizationKey, CryptoError> {
    let generators = shares
        .iter()
        .map(|sk| RelinKeyGenerator::new(sk, crps, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let round1 = generators
        .iter()
        .map(|g| g.round_1(rng))
        .collect::<Result<Vec<_>, _>>()?;
    let round1_agg = Arc::new(round1.into_iter().aggregate()?);
    let round2 = generators
        .iter()
        .map(|g| g.round_2(&round1_agg, rng))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(round2.into_iter().aggregate()?)
}
