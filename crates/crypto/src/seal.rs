//! Sealing a trustee's decryption shares to the analyst who asked, so that the platform
//! server that relays them cannot read them (with every share, the server could decrypt the
//! released aggregate — or, worse, combine shares of different requests).
//!
//! RFC 9180 HPKE in base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! ChaCha20-Poly1305 (the `hpke` crate). The analyst draws a fresh [`RecipientKeyPair`] per
//! query and sends only its public key with the request; each trustee [`seal`]s its shares to
//! that key; only the analyst can [`open`] them. Base mode does not authenticate the sender:
//! which trustee produced a sealed box is established by the trustee's signature over it
//! (outside this module), and `info` / `aad` should bind the box to its context (e.g. the
//! request id and the trustee name) so it cannot be replayed into another request.
//!
//! Wire format: `version (1) | encapsulated key (32) | ChaCha20-Poly1305 ciphertext (n + 16)`.

use crate::error::CryptoError;
use base64::Engine;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand::{CryptoRng, RngCore};
use std::convert::Infallible;
use std::fmt;
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = ChaCha20Poly1305;

/// Format version of a sealed box (its first byte).
pub const SEAL_VERSION: u8 = 1;
/// Length of a recipient public key and of the encapsulated key (X25519).
pub const KEY_LEN: usize = 32;
/// Length of the authentication tag (ChaCha20-Poly1305).
pub const TAG_LEN: usize = 16;
/// Bytes a sealed box adds to its plaintext.
pub const OVERHEAD: usize = 1 + KEY_LEN + TAG_LEN;
/// Longest `info` accepted (HPKE's own bound is just under 64 KiB, beyond which the `hpke`
/// crate panics; context strings are far shorter).
pub const MAX_INFO_LEN: usize = 4096;

/// Parses the [`KEY_LEN`]-byte encoding of a key (`what`, named in the error).
fn key_from_bytes<K: Deserializable>(bytes: &[u8], what: &'static str) -> Result<K, CryptoError> {
    if bytes.len() != KEY_LEN {
        return Err(CryptoError::Malformed {
            what,
            reason: format!("{} bytes, expected {KEY_LEN}", bytes.len()),
        });
    }
    K::from_bytes(bytes).map_err(|e| CryptoError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// The analyst's public key for one query: what a trustee seals to. Any 32 bytes parse;
/// a degenerate (low-order) point is refused when sealing.
#[derive(Clone, PartialEq, Eq)]
pub struct RecipientPublicKey(<Kem as hpke::Kem>::PublicKey);

impl fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientPublicKey({})", self.to_hex())
    }
}

impl RecipientPublicKey {
    /// The 32-byte X25519 encoding (RFC 9180 SerializePublicKey).
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        let mut out = [0u8; KEY_LEN];
        self.0.write_exact(&mut out);
        out
    }

    /// Parse the 32-byte encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<RecipientPublicKey, CryptoError> {
        key_from_bytes(bytes, "recipient public key").map(RecipientPublicKey)
    }

    /// Lower-case hex (64 characters), for logs and text files.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Parse the hex form.
    pub fn from_hex(text: &str) -> Result<RecipientPublicKey, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|e| CryptoError::Malformed {
            what: "recipient public key",
            reason: format!("not hexadecimal: {e}"),
        })?;
        RecipientPublicKey::from_bytes(&bytes)
    }

    /// URL-safe base64 without padding (43 characters), for JSON bodies and URLs.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parse the URL-safe, unpadded base64 form.
    pub fn from_base64(text: &str) -> Result<RecipientPublicKey, CryptoError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| CryptoError::Malformed {
                what: "recipient public key",
                reason: format!("not unpadded URL-safe base64: {e}"),
            })?;
        RecipientPublicKey::from_bytes(&bytes)
    }
}

/// The analyst's key pair for one query. The secret never leaves it except through
/// [`RecipientKeyPair::secret_bytes`]; it is zeroized on drop (x25519-dalek's `StaticSecret`
/// zeroizes itself) and `Debug` prints only the public key.
pub struct RecipientKeyPair {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: RecipientPublicKey,
}

impl fmt::Debug for RecipientKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl RecipientKeyPair {
    /// A fresh key pair: 32 bytes of `rng` through RFC 9180 DeriveKeyPair.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> RecipientKeyPair {
        let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(ikm.as_mut());
        let (secret, public) = Kem::derive_keypair(ikm.as_ref());
        RecipientKeyPair {
            secret,
            public: RecipientPublicKey(public),
        }
    }

    /// The public half, to send with the request.
    pub fn public_key(&self) -> &RecipientPublicKey {
        &self.public
    }

    /// The secret scalar (RFC 9180 SerializePrivateKey), only for an analyst whose query
    /// outlives its process: keep it in a 0600 file and delete it once the answer is open.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        self.secret.write_exact(out.as_mut());
        out
    }

    /// Rebuild a key pair from [`RecipientKeyPair::secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<RecipientKeyPair, CryptoError> {
        let secret: <Kem as hpke::Kem>::PrivateKey = key_from_bytes(bytes, "recipient secret key")?;
        let public = RecipientPublicKey(Kem::sk_to_pk(&secret));
        Ok(RecipientKeyPair { secret, public })
    }
}

/// Our `rand` 0.9 generators seen through the `rand_core` 0.10 traits `hpke` asks for.
struct HpkeRng<'a, R>(&'a mut R);

impl<R: RngCore> hpke::rand_core::TryRng for HpkeRng<'_, R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: RngCore + CryptoRng> hpke::rand_core::TryCryptoRng for HpkeRng<'_, R> {}

/// Seal `plaintext` to `recipient`. `info` binds the box to its context (HPKE key schedule)
/// and `aad` is authenticated but not encrypted; the recipient must present both unchanged.
/// `rng` draws the ephemeral key (never reuse an rng state: a repeated ephemeral key under
/// the same recipient key repeats the AEAD key and nonce).
pub fn seal<R: RngCore + CryptoRng>(
    recipient: &RecipientPublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    if info.len() > MAX_INFO_LEN {
        return Err(CryptoError::Seal(format!(
            "info of {} bytes exceeds {MAX_INFO_LEN}",
            info.len()
        )));
    }
    let (encapped, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &recipient.0,
        info,
        plaintext,
        aad,
        &mut HpkeRng(rng),
    )
    .map_err(|e| CryptoError::Seal(e.to_string()))?;
    let mut out = Vec::with_capacity(1 + KEY_LEN + ciphertext.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&encapped.to_bytes());
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Open a box [`seal`]ed to `keypair` with the same `info` and `aad`. Any altered byte, a
/// wrong recipient, `info` or `aad` all give the same error (authenticated encryption
/// cannot tell them apart, and saying which would help an attacker).
pub fn open(
    keypair: &RecipientKeyPair,
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::Unseal(format!(
            "{} bytes is shorter than the {OVERHEAD} bytes every sealed message has",
            sealed.len()
        )));
    }
    if sealed[0] != SEAL_VERSION {
        return Err(CryptoError::Unseal(format!(
            "format version {} (this build reads {SEAL_VERSION})",
            sealed[0]
        )));
    }
    if info.len() > MAX_INFO_LEN {
        return Err(CryptoError::Unseal(format!(
            "info of {} bytes exceeds {MAX_INFO_LEN}",
            info.len()
        )));
    }
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed[1..1 + KEY_LEN])
        .map_err(|e| CryptoError::Unseal(format!("encapsulated key: {e}")))?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &keypair.secret,
        &encapped,
        info,
        &sealed[1 + KEY_LEN..],
        aad,
    )
    .map_err(|_| {
        CryptoError::Unseal(
            "authentication failed: altered message, another recipient, or other info/aad".into(),
        )
    })
}
