//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod noise;

use dtfhe_crypto::{ceremony, Params, Preset};
use fhe::bfv::SecretKey;
use rand::{rngs::StdRng, SeedableRng};

/// The parameters of `preset`, a seeded generator, and `n` trustees' secret-key shares drawn
/// from it: the start of every test that runs a ceremony.
pub fn trustee_shares(preset: Preset, seed: u64, n: usize) -> (Params, StdRng, Vec<SecretKey>) {
    let params = preset.params().expect("preset");
    let mut rng = StdRng::seed_from_u64(seed);
    let shares = (0..n)
        .map(|_| ceremony::new_share(&params, &mut rng))
        .collect();
    (params, rng, shares)
}
