//! The crypto glue of DigitalThreadFHE, on top of the `fhe` crate (BFV, multiparty BFV):
//!
//! * [`params`]: named parameter presets inside the HE-standard 128-bit bounds, validated
//!   when loaded (fhe.rs itself does not check the plaintext modulus against the moduli);
//! * [`ceremony`]: the n-of-n key ceremony (collective public and relinearisation keys);
//! * [`column`]: encryption of one chunk of fixed-point values at the source;
//! * [`accumulate`]: exact homomorphic sums Σx and Σx·y over many chunks, with public
//!   row-selection masks, relinearised once per sum;
//! * [`release`]: the coefficient-0 threshold release: each trustee reveals only a flooded
//!   share of coefficient 0, which combines into N·Σslots = the exact total, nothing else;
//! * [`dp`]: distributed discrete-Laplace noise for differentially private releases;
//! * [`codec`]: the versioned envelope every stored or sent crypto object travels in;
//! * [`ceremony::net`]: the same ceremony as messages between trustee processes and a server;
//! * [`seal`]: HPKE sealing of decryption shares to the analyst, past the relaying server;
//! * [`threshold`]: t-of-n release: Shamir dealing of each trustee's share, its public
//!   commitment, Lagrange-weighted release shares.
#![forbid(unsafe_code)]

pub mod accumulate;
pub mod ceremony;
pub mod codec;
pub mod column;
pub mod dp;
pub mod error;
pub mod params;
pub mod release;
mod rq;
pub mod seal;
pub mod threshold;

pub use error::CryptoError;
pub use params::{params_by_name, ParamSpec, Params, Preset};
