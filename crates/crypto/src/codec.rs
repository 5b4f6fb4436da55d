//! The envelope for every crypto object that is stored or sent:
//!
//! ```text
//! "DTFH" | format version (1) | kind (1 byte) | parameter fingerprint (8) | length u32 LE | payload
//! ```
//!
//! Decoding checks the magic, the version, the kind, that the object was made under this
//! deployment's parameters, the exact length (no trailing bytes) and a size limit, before the
//! payload (fhe.rs protobuf) is parsed with this deployment's parameters.

use crate::error::CryptoError;
use crate::params::Params;
use fhe::bfv::{Ciphertext, PublicKey, RelinearizationKey, SecretKey};
use fhe_traits::{DeserializeParametrized, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};

const MAGIC: &[u8; 4] = b"DTFH";
/// Current envelope format version.
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 1 + 8 + 4;
/// Largest payload accepted (a relinearisation key at N = 16384 is ~10 MB).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// What an envelope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Collective public key.
    PublicKey = 1,
    /// Collective relinearisation key.
    RelinKey = 2,
    /// A ciphertext.
    Ciphertext = 3,
    /// One trustee's secret-key share (only ever in that trustee's directory).
    SecretShare = 4,
    /// A trustee's public-key share in the networked ceremony.
    CeremonyPkShare = 5,
    /// A trustee's round-1 relinearisation-key share in the networked ceremony.
    CeremonyRlkRound1 = 6,
    /// The platform's aggregate of all round-1 shares, sent back to every trustee.
    CeremonyRlkRound1Aggregate = 7,
    /// A trustee's round-2 relinearisation-key share in the networked ceremony.
    CeremonyRlkRound2 = 8,
    /// A trustee's own record of its progress in the networked ceremony (its ephemeral
    /// round secret and the messages it gave), kept only in that trustee's 0600 file so a
    /// restart can finish the ceremony.
    CeremonyProgress = 9,
}

impl Kind {
    /// Every kind, in byte order.
    pub const ALL: [Kind; 9] = [
        Kind::PublicKey,
        Kind::RelinKey,
        Kind::Ciphertext,
        Kind::SecretShare,
        Kind::CeremonyPkShare,
        Kind::CeremonyRlkRound1,
        Kind::CeremonyRlkRound1Aggregate,
        Kind::CeremonyRlkRound2,
        Kind::CeremonyProgress,
    ];

    /// The name errors use for objects of this kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PublicKey => "public key",
            Kind::RelinKey => "relinearization key",
            Kind::Ciphertext => "ciphertext",
            Kind::SecretShare => "secret-key share",
            Kind::CeremonyPkShare => "ceremony public-key share",
            Kind::CeremonyRlkRound1 => "ceremony relinearization round-1 share",
            Kind::CeremonyRlkRound1Aggregate => "ceremony relinearization round-1 aggregate",
            Kind::CeremonyRlkRound2 => "ceremony relinearization round-2 share",
            Kind::CeremonyProgress => "ceremony progress record",
        }
    }

    /// The kind stored as `byte` in an envelope, if any.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == byte)
    }
}

/// Wrap `payload` in an envelope of `kind` bound to `params`.
pub fn seal(kind: Kind, params: &Params, payload: &[u8]) -> Vec<u8> {
    seal_with_fingerprint(kind, params.spec.fingerprint(), payload)
}

/// Like [`seal`], for an object that carries the fingerprint of the parameters it was made
/// under rather than the parameters themselves.
pub(crate) fn seal_with_fingerprint(kind: Kind, fingerprint: [u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&fingerprint);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Check an envelope and return its payload.
pub fn open<'a>(kind: Kind, params: &Params, bytes: &'a [u8]) -> Result<&'a [u8], CryptoError> {
    let what = kind.name();
    let mal = |reason: String| CryptoError::Malformed { what, reason };
    if bytes.len() < HEADER_LEN {
        return Err(mal(format!(
            "{} bytes is shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    if &bytes[..4] != MAGIC {
        return Err(mal("missing DTFH magic".into()));
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(mal(format!(
            "format version {} (this build reads {FORMAT_VERSION})",
            bytes[4]
        )));
    }
    if bytes[5] != kind as u8 {
        return Err(CryptoError::Mismatch {
            what,
            reason: match Kind::from_byte(bytes[5]) {
                Some(k) => format!("envelope holds a {}", k.name()),
                None => format!("envelope holds unknown object kind {}", bytes[5]),
            },
        });
    }
    if bytes[6..14] != params.spec.fingerprint() {
        return Err(CryptoError::Mismatch {
            what,
            reason: format!("made under other parameters than {}", params.name),
        });
    }
    let len = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(mal(format!(
            "payload of {len} bytes exceeds the {MAX_PAYLOAD}-byte limit"
        )));
    }
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != len {
        return Err(mal(format!(
            "header says {len} payload bytes, found {}",
            payload.len()
        )));
    }
    Ok(payload)
}

/// Parse a payload with fhe.rs; a panic inside the library on hostile bytes becomes an error.
fn parse<T: DeserializeParametrized<Parameters = fhe::bfv::BfvParameters, Error = fhe::Error>>(
    what: &'static str,
    params: &Params,
    payload: &[u8],
) -> Result<T, CryptoError> {
    match catch_unwind(AssertUnwindSafe(|| T::from_bytes(payload, &params.bfv))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CryptoError::Malformed {
            what,
            reason: e.to_string(),
        }),
        Err(_) => Err(CryptoError::Malformed {
            what,
            reason: "payload rejected by the fhe library".into(),
        }),
    }
}

/// Encode a ciphertext (fhe.rs's bytes; the ciphertexts this crate makes are written by
/// [`crate::rq::ciphertext_payload`], several times faster, to the same bytes).
pub fn encode_ciphertext(params: &Params, ct: &Ciphertext) -> Vec<u8> {
    let payload = crate::rq::ciphertext_payload(params, ct).unwrap_or_else(|| ct.to_bytes());
    seal(Kind::Ciphertext, params, &payload)
}

/// Decode a ciphertext and check its shape (2 parts, a level these parameters have).
pub fn decode_ciphertext(params: &Params, bytes: &[u8]) -> Result<Ciphertext, CryptoError> {
    let payload = open(Kind::Ciphertext, params, bytes)?;
    // The shape this crate writes decodes on the fast path; anything else goes to fhe.rs's
    // parser, which decides (the fast path gives the very ciphertext it would).
    let ct: Ciphertext = match crate::rq::canonical_ciphertext(params, payload) {
        Some(ct) => ct,
        None => parse("ciphertext", params, payload)?,
    };
    if ct.len() != 2 {
        return Err(CryptoError::Malformed {
            what: "ciphertext",
            reason: format!("{} polynomials, expected 2", ct.len()),
        });
    }
    Ok(ct)
}

/// Encode the collective public key.
pub fn encode_public_key(params: &Params, pk: &PublicKey) -> Vec<u8> {
    seal(Kind::PublicKey, params, &pk.to_bytes())
}

/// Decode the collective public key.
pub fn decode_public_key(params: &Params, bytes: &[u8]) -> Result<PublicKey, CryptoError> {
    parse("public key", params, open(Kind::PublicKey, params, bytes)?)
}

/// Encode the collective relinearisation key.
pub fn encode_relin_key(params: &Params, rk: &RelinearizationKey) -> Vec<u8> {
    seal(Kind::RelinKey, params, &rk.to_bytes())
}

/// Decode the collective relinearisation key.
pub fn decode_relin_key(params: &Params, bytes: &[u8]) -> Result<RelinearizationKey, CryptoError> {
    parse(
        "relinearization key",
        params,
        open(Kind::RelinKey, params, bytes)?,
    )
}

/// Encode a trustee's secret-key share (for that trustee's own 0600 file, never the store).
pub fn encode_secret_share(params: &Params, sk: &SecretKey) -> zeroize::Zeroizing<Vec<u8>> {
    let payload = zeroize::Zeroizing::new(sk.to_bytes());
    zeroize::Zeroizing::new(seal(Kind::SecretShare, params, &payload))
}

/// Decode a trustee's secret-key share and check its coefficients are small.
pub fn decode_secret_share(params: &Params, bytes: &[u8]) -> Result<SecretKey, CryptoError> {
    let payload = open(Kind::SecretShare, params, bytes)?;
    let sk: SecretKey = parse("secret-key share", params, payload)?;
    let coeffs = crate::release::secret_coefficients(&sk)?;
    if coeffs.iter().any(|c| c.unsigned_abs() > 64) {
        return Err(CryptoError::Malformed {
            what: "secret-key share",
            reason: "coefficients are not small".into(),
        });
    }
    Ok(sk)
}
