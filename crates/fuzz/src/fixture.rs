//! The fixed context every target decodes against: small BFV parameters, a recipient key
//! pair for sealed shares and a checkpoint signing key, all derived from constants so the
//! seed corpus and every run agree.

use dtfhe_crypto::params::is_prime;
use dtfhe_crypto::seal::RecipientKeyPair;
use dtfhe_crypto::{CryptoError, ParamSpec, Params};
use ed25519_dalek::{SigningKey, VerifyingKey};

/// Ring degree of the fuzzing parameters: the smallest the library accepts, so that a
/// ciphertext is 32 KiB instead of megabytes and a target runs millions of inputs. The
/// decoders' code paths do not depend on N beyond sizes.
pub const FUZZ_DEGREE: usize = 1024;
/// Plaintext modulus of the fuzzing parameters (prime, 1 mod 2N).
pub const FUZZ_PLAINTEXT: u64 = 12289;
/// `info` the sealed-share target opens with (as the analyst does, a fixed context string).
pub const SEAL_INFO: &[u8] = b"dtfhe-fuzz sealed share";
/// `aad` the sealed-share target opens with.
pub const SEAL_AAD: &[u8] = b"release 1 / trustee t1 / share 0";
/// Key name of the checkpoint signer.
pub const LOG_KEY_NAME: &str = "fuzz.example/log";
/// Origin line of the fuzzed checkpoints.
pub const LOG_ORIGIN: &str = "fuzz.example/log";

/// Everything a target needs besides its input.
pub struct Fixture {
    /// BFV parameters (N = 1024, two 50-bit moduli; below the 128-bit bound, for fuzzing only).
    pub params: Params,
    /// The analyst key pair sealed shares are opened with.
    pub recipient: RecipientKeyPair,
    /// The ledger's checkpoint signing key.
    pub log_key: SigningKey,
}

impl Fixture {
    /// Build the fixture (deterministic).
    pub fn new() -> Result<Fixture, CryptoError> {
        let params = Params::build("fuzz-n1024", fuzz_spec(), true)?;
        let recipient = RecipientKeyPair::from_secret_bytes(&[0x5a; 32])?;
        let log_key = SigningKey::from_bytes(&[0x42; 32]);
        Ok(Fixture {
            params,
            recipient,
            log_key,
        })
    }

    /// The checkpoint verifier key.
    pub fn log_verifier(&self) -> VerifyingKey {
        self.log_key.verifying_key()
    }
}

/// The fuzzing parameter set: N = 1024, t = 12289 and the two largest primes below 2^50
/// that are 1 mod 2N.
pub fn fuzz_spec() -> ParamSpec {
    let step = 2 * FUZZ_DEGREE as u64;
    let mut moduli = Vec::with_capacity(2);
    let mut q = (1u64 << 50) / step * step + 1;
    while moduli.len() < 2 {
        q -= step;
        if is_prime(q) {
            moduli.push(q);
        }
    }
    ParamSpec {
        degree: FUZZ_DEGREE,
        moduli,
        plaintext: FUZZ_PLAINTEXT,
    }
}
