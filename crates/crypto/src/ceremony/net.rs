//! The n-of-n key ceremony as message exchanges, for trustees that run as separate processes
//! and talk only to the platform server (which relays and aggregates, and holds no secret).
//!
//! ```text
//! server                               trustee i (secret share s_i)
//! ------                               ----------------------------
//! publish CeremonySeed            ──►  pk_share(s_i, seed)            ──► PkShareMsg
//! aggregate_public_key(shares)         RelinParty::new(s_i, seed)        (draws ephemeral u_i)
//!                                      party.round1()                  ──► Rlk1Msg
//! aggregate_round1(shares)        ──►  Rlk1Aggregate (to every trustee)
//!                                      party.round2(&aggregate)        ──► Rlk2Msg
//! aggregate_relin_key(aggregate, shares)
//! ```
//!
//! Between its rounds a trustee keeps a [`RelinProgress`] record (its ephemeral `u_i` and the
//! messages it gave, in its own 0600 file, written before each message is sent), so a
//! restart at any round sends the very same messages again and finishes the ceremony with
//! the same keys ([`progress`]).
//!
//! The arithmetic is exactly that of fhe.rs' `mbfv` module (`PublicKeyShare`,
//! `RelinKeyGenerator`, the `Aggregate` impls), rewritten on `fhe_math` polynomials because
//! fhe.rs 0.1.1 keeps the share polynomials private and so offers no way to send them. Given
//! the same secret shares, the same common random polynomials and the same randomness, this
//! module produces bit-for-bit the same collective keys as fhe.rs in one process (the
//! `ceremony_net` tests check this against fhe.rs itself).
//!
//! Every party derives the common random polynomials (CRPs) from the public [`CeremonySeed`]
//! the server publishes, so no CRP ever travels. Every message is bound to the parameters
//! (envelope fingerprint) and to the ceremony (an id derived from the seed), and ends with a
//! checksum that catches damage in transit. The checksum is not a signature: authenticity of
//! a share (which trustee sent it) is the job of the signed request that carries it.
//!
//! **What the aggregator cannot check.** In plain multiparty BFV a share is indistinguishable
//! from random: a share that decodes fine but was computed wrongly (from another secret, with
//! too much noise, or maliciously) is aggregated like any other and silently yields a
//! collective key that does not match the trustees' secret shares. Such a key is only
//! detected later, e.g. by a test encryption that fails to decrypt. Detecting it up front
//! would need zero-knowledge proofs of correct share generation, which mbfv does not have.

pub mod progress;

pub use progress::{ProgressStage, RelinProgress, Resumed};

use crate::codec::{self, Kind};
use crate::error::CryptoError;
use crate::params::Params;
use crate::release::secret_coefficients;
use crate::rq::{representation_name, to_rq, unpack, Rq, RqRepresentation};
use dtfhe_model::cursor::{ByteCursor, Truncated};
use fhe::bfv::{PublicKey, RelinearizationKey, SecretKey};
use fhe::mbfv::CommonRandomPoly;
use fhe_math::rns::RnsContext;
use fhe_math::rq::{traits::TryConvertFrom, Context, Poly, Representation};
use fhe_traits::{DeserializeParametrized, Serialize};
use prost::Message;
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

// blake3 `derive_key` contexts, one per purpose so no two derivations can collide. They are
// part of the wire protocol (public so other implementations can follow it).

/// Derives the ChaCha20 key of the public-key CRP from (parameter fingerprint ‖ seed).
pub const CRP_PUBLIC_KEY_CONTEXT: &str = "DigitalThreadFHE 2025 ceremony CRP public key v1";
/// Derives the ChaCha20 key of the relinearisation CRPs from (parameter fingerprint ‖ seed).
pub const CRP_RELIN_CONTEXT: &str = "DigitalThreadFHE 2025 ceremony CRP relinearization v1";
/// Derives the ceremony id (first 16 bytes) from the seed.
pub const CEREMONY_ID_CONTEXT: &str = "DigitalThreadFHE 2025 ceremony id v1";
/// Keys the checksum that ends every ceremony message (over the whole envelope before it).
pub const CHECKSUM_CONTEXT: &str = "DigitalThreadFHE 2025 ceremony message checksum v1";
/// Keys the digest of a round-1 aggregate's content, repeated in every round-2 share.
pub const ROUND1_DIGEST_CONTEXT: &str =
    "DigitalThreadFHE 2025 ceremony round-1 aggregate digest v1";
/// Keys the per-share digest the aggregator uses to spot a share submitted twice.
const SHARE_DIGEST_CONTEXT: &str = "DigitalThreadFHE 2025 ceremony share digest v1";

/// Length of the checksum that ends every ceremony message.
pub const CHECKSUM_LEN: usize = 32;

/// Identifies one ceremony (derived from its seed); every message carries it, so shares of
/// an earlier or parallel ceremony are refused instead of silently producing a wrong key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CeremonyId(pub [u8; 16]);

impl fmt::Debug for CeremonyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CeremonyId({self})")
    }
}

impl fmt::Display for CeremonyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The public 32-byte seed the server publishes to start a ceremony. Every party derives the
/// common random polynomials from it (ChaCha20, with a separate derived key for the
/// public-key CRP and for the relinearisation CRPs), so all trustees and the server use the
/// same CRPs without sending them. It must be fresh per ceremony and unpredictable before it
/// is published (draw it with [`CeremonySeed::random`]); it is not secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CeremonySeed(pub [u8; 32]);

impl fmt::Debug for CeremonySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CeremonySeed({})", self.to_hex())
    }
}

impl CeremonySeed {
    /// A fresh seed (server side, once per ceremony).
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> CeremonySeed {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        CeremonySeed(seed)
    }

    /// Lower-case hex, for JSON bodies and logs (the seed is public).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse the 64-character hex form.
    pub fn from_hex(text: &str) -> Result<CeremonySeed, CryptoError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text, &mut seed).map_err(|e| CryptoError::Malformed {
            what: "ceremony seed",
            reason: format!("expected 64 hexadecimal characters: {e}"),
        })?;
        Ok(CeremonySeed(seed))
    }

    /// The ceremony id every message of this ceremony carries.
    pub fn id(&self) -> CeremonyId {
        let key = blake3::derive_key(CEREMONY_ID_CONTEXT, &self.0);
        let mut id = [0u8; 16];
        id.copy_from_slice(&key[..16]);
        CeremonyId(id)
    }

    /// The deterministic generator for one purpose, bound to the parameters as well, so the
    /// same seed under other parameters gives unrelated polynomials.
    fn rng(&self, context: &str, params: &Params) -> ChaCha20Rng {
        let mut material = [0u8; 40];
        material[..8].copy_from_slice(&params.spec.fingerprint());
        material[8..].copy_from_slice(&self.0);
        ChaCha20Rng::from_seed(blake3::derive_key(context, &material))
    }

    /// The public-key CRP as an fhe.rs object, for the in-process ceremony: the same
    /// polynomial [`aggregate_public_key`] and [`pk_share`] use.
    pub fn public_key_crp(&self, params: &Params) -> Result<CommonRandomPoly, CryptoError> {
        let mut rng = self.rng(CRP_PUBLIC_KEY_CONTEXT, params);
        Ok(CommonRandomPoly::new(&params.bfv, &mut rng)?)
    }

    /// The relinearisation CRPs (one per ciphertext modulus) as fhe.rs objects, for the
    /// in-process ceremony: the same polynomials [`RelinParty`] uses.
    pub fn relin_crps(&self, params: &Params) -> Result<Vec<CommonRandomPoly>, CryptoError> {
        let mut rng = self.rng(CRP_RELIN_CONTEXT, params);
        Ok(CommonRandomPoly::new_vec(&params.bfv, &mut rng)?)
    }

    /// The public-key CRP polynomial (exactly what `CommonRandomPoly::new` draws).
    fn public_key_crp_poly(&self, params: &Params) -> Result<Poly, CryptoError> {
        let mut rng = self.rng(CRP_PUBLIC_KEY_CONTEXT, params);
        Ok(Poly::random(ctx0(params)?, Representation::Ntt, &mut rng))
    }

    /// The relinearisation CRP polynomials (exactly what `CommonRandomPoly::new_vec` draws).
    fn relin_crp_polys(&self, params: &Params) -> Result<Vec<Poly>, CryptoError> {
        let mut rng = self.rng(CRP_RELIN_CONTEXT, params);
        let ctx = ctx0(params)?;
        Ok((0..ctx.moduli().len())
            .map(|_| Poly::random(ctx, Representation::Ntt, &mut rng))
            .collect())
    }
}

fn ctx0(params: &Params) -> Result<&Arc<Context>, CryptoError> {
    Ok(params.bfv.context_at_level(0)?)
}

/// The error variance of the parameters (fhe.rs keeps it private; its protobuf form has it).
fn variance(params: &Params) -> Result<usize, CryptoError> {
    let proto = fhe::proto::bfv::Parameters::decode(params.bfv.to_bytes().as_slice())
        .map_err(|e| CryptoError::Fhe(format!("parameters: {e}")))?;
    Ok(proto.variance as usize)
}

/// The secret share as a polynomial in power basis (zeroized on drop).
fn secret_poly(params: &Params, sk: &SecretKey) -> Result<Zeroizing<Poly>, CryptoError> {
    let coeffs = secret_coefficients(sk)?;
    if coeffs.len() != params.slots() {
        return Err(CryptoError::Mismatch {
            what: "secret-key share",
            reason: format!(
                "{} coefficients, these parameters have degree {}",
                coeffs.len(),
                params.slots()
            ),
        });
    }
    Ok(Zeroizing::new(Poly::try_convert_from(
        coeffs.as_slice(),
        ctx0(params)?,
        false,
        Representation::PowerBasis,
    )?))
}

fn in_ntt(p: &Poly) -> Zeroizing<Poly> {
    let mut q = Zeroizing::new(p.clone());
    q.change_representation(Representation::Ntt);
    q
}

fn small(
    params: &Params,
    variance: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<Poly, CryptoError> {
    Ok(Poly::small(
        ctx0(params)?,
        Representation::Ntt,
        variance,
        rng,
    )?)
}

/// `RngCore + CryptoRng` in one bound, for helper signatures.
trait CryptoRngCore: RngCore + CryptoRng {}
impl<R: RngCore + CryptoRng + ?Sized> CryptoRngCore for R {}

fn polys_equal(a: &[Poly], b: &[Poly]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.representation() == y.representation() && x.coefficients() == y.coefficients()
        })
}

fn hash_polys(hasher: &mut blake3::Hasher, polys: &[Poly]) {
    let mut buf = Vec::new();
    for p in polys {
        for row in p.coefficients().outer_iter() {
            buf.clear();
            buf.extend(row.iter().flat_map(|c| c.to_le_bytes()));
            hasher.update(&buf);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/// A trustee's share of the collective public key: `p0_i = −a·s_i + e_i` (NTT form), for the
/// public-key CRP `a` of the ceremony. ~1 polynomial.
#[derive(Clone)]
pub struct PkShareMsg {
    fingerprint: [u8; 8],
    ceremony: CeremonyId,
    p0: Poly,
}

/// A trustee's round-1 share of the relinearisation key: per ciphertext modulus i,
/// `h0_i = −a_i·u + w_i·s + e` and `h1_i = a_i·s + e'` (u: the trustee's ephemeral secret,
/// w_i: the Garner/CRT coefficient).
#[derive(Clone)]
pub struct Rlk1Msg {
    fingerprint: [u8; 8],
    ceremony: CeremonyId,
    h0: Vec<Poly>,
    h1: Vec<Poly>,
}

/// The sum of every trustee's round-1 share. The server keeps it (its `h1` becomes the
/// relinearisation key's second half) and sends it to every trustee for round 2. Its
/// [`digest`](Rlk1Aggregate::digest) lets the server check that every round-2 share was
/// computed from this very aggregate.
#[derive(Clone)]
pub struct Rlk1Aggregate {
    fingerprint: [u8; 8],
    ceremony: CeremonyId,
    parties: u32,
    h0: Vec<Poly>,
    h1: Vec<Poly>,
    digest: [u8; 32],
}

/// A trustee's round-2 share: per modulus i, `h0'_i + h1'_i` where `h0'_i = Σh0_i·s + e` and
/// `h1'_i = Σh1_i·(u − s) + e'`. fhe.rs sends the two halves separately, but the aggregator
/// only ever uses their sum, so a trustee sends the sum: half the bytes, strictly less
/// revealed, the same key.
#[derive(Clone)]
pub struct Rlk2Msg {
    fingerprint: [u8; 8],
    ceremony: CeremonyId,
    round1: [u8; 32],
    h: Vec<Poly>,
}

macro_rules! common_accessors {
    ($t:ty) => {
        impl $t {
            /// The ceremony this message belongs to.
            pub fn ceremony_id(&self) -> CeremonyId {
                self.ceremony
            }

            /// Fingerprint of the parameters it was made under.
            pub fn fingerprint(&self) -> [u8; 8] {
                self.fingerprint
            }
        }
    };
}
common_accessors!(PkShareMsg);
common_accessors!(Rlk1Msg);
common_accessors!(Rlk1Aggregate);
common_accessors!(Rlk2Msg);

impl fmt::Debug for PkShareMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PkShareMsg")
            .field("ceremony", &self.ceremony)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Rlk1Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rlk1Msg")
            .field("ceremony", &self.ceremony)
            .field("moduli", &self.h0.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Rlk1Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rlk1Aggregate")
            .field("ceremony", &self.ceremony)
            .field("parties", &self.parties)
            .field("digest", &hex::encode(self.digest))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Rlk2Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rlk2Msg")
            .field("ceremony", &self.ceremony)
            .field("round1", &hex::encode(self.round1))
            .finish_non_exhaustive()
    }
}

/// One polynomial or several, as a slice (what [`polys_equal`] compares).
trait AsPolys {
    fn as_polys(&self) -> &[Poly];
}

impl AsPolys for Poly {
    fn as_polys(&self) -> &[Poly] {
        std::slice::from_ref(self)
    }
}

impl AsPolys for Vec<Poly> {
    fn as_polys(&self) -> &[Poly] {
        self
    }
}

/// `PartialEq` of a ceremony message: its plain fields compared as they are, its
/// polynomial fields by value ([`polys_equal`]).
macro_rules! ceremony_eq {
    ($t:ty: $($field:ident),* ; polys $($poly:ident),*) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$field == other.$field)*
                    $(&& polys_equal(self.$poly.as_polys(), other.$poly.as_polys()))*
            }
        }
    };
}

ceremony_eq!(PkShareMsg: fingerprint, ceremony; polys p0);
ceremony_eq!(Rlk1Msg: fingerprint, ceremony; polys h0, h1);
ceremony_eq!(Rlk1Aggregate: fingerprint, ceremony, parties, digest; polys h0, h1);
ceremony_eq!(Rlk2Msg: fingerprint, ceremony, round1; polys h);

// ---------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------

//
// Every message is a codec envelope ("DTFH" | version | kind | parameter fingerprint |
// payload length) whose payload is
//
//   PkShareMsg     ceremony id (16) | p0
//   Rlk1Msg        ceremony id (16) | k (u8) | h0[0..k] | h1[0..k]
//   Rlk1Aggregate  ceremony id (16) | parties (u32 LE) | k (u8) | h0[0..k] | h1[0..k]
//   Rlk2Msg        ceremony id (16) | round-1 digest (32) | k (u8) | h[0..k]
//
// followed by a 32-byte blake3 checksum (derive_key context CHECKSUM_CONTEXT) over the whole
// envelope before it. Each polynomial is a u32 LE length and fhe-math's `Rq` protobuf (NTT
// representation, full ring degree, every RNS modulus of level 0, reduced coefficients,
// variable-time flag off, canonical encoding). k is the number of ciphertext moduli.

fn encode_poly(out: &mut Vec<u8>, p: &Poly) {
    let bytes = to_rq(p).encode_to_vec();
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = blake3::Hasher::new_derive_key(CHECKSUM_CONTEXT);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// Seal a payload body into an envelope and append the checksum.
fn finish_message(kind: Kind, fingerprint: [u8; 8], mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&[0u8; CHECKSUM_LEN]);
    let mut out = codec::seal_with_fingerprint(kind, fingerprint, &body);
    let n = out.len() - CHECKSUM_LEN;
    let sum = checksum(&out[..n]);
    out[n..].copy_from_slice(&sum);
    out
}

/// Open the envelope, check the checksum, and return a reader over the payload body.
fn open_message<'a>(
    kind: Kind,
    params: &Params,
    bytes: &'a [u8],
) -> Result<Reader<'a>, CryptoError> {
    let what = kind.name();
    let payload = codec::open(kind, params, bytes)?;
    if payload.len() < CHECKSUM_LEN {
        return Err(CryptoError::Malformed {
            what,
            reason: format!(
                "payload of {} bytes is shorter than its {CHECKSUM_LEN}-byte checksum",
                payload.len()
            ),
        });
    }
    let n = bytes.len() - CHECKSUM_LEN;
    if checksum(&bytes[..n]) != bytes[n..] {
        return Err(CryptoError::Malformed {
            what,
            reason: "checksum mismatch: the message was altered or damaged in transit".into(),
        });
    }
    Ok(Reader {
        what,
        cur: ByteCursor::new(&payload[..payload.len() - CHECKSUM_LEN]),
    })
}

/// Bounds-checked reading of a payload body; every error names the message and the field.
struct Reader<'a> {
    what: &'static str,
    cur: ByteCursor<'a>,
}

impl<'a> Reader<'a> {
    fn malformed(&self, field: &str, reason: impl fmt::Display) -> CryptoError {
        CryptoError::Malformed {
            what: self.what,
            reason: format!("{field}: {reason}"),
        }
    }

    fn truncated(&self, t: Truncated) -> CryptoError {
        self.malformed(
            &t.field,
            format!("truncated ({} bytes needed, {} left)", t.need, t.left),
        )
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], CryptoError> {
        let r = self.cur.take(field, n);
        r.map_err(|t| self.truncated(t))
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], CryptoError> {
        let r = self.cur.array(field);
        r.map_err(|t| self.truncated(t))
    }

    fn u32(&mut self, field: &str) -> Result<u32, CryptoError> {
        let r = self.cur.u32_le(field);
        r.map_err(|t| self.truncated(t))
    }

    fn ceremony(&mut self) -> Result<CeremonyId, CryptoError> {
        Ok(CeremonyId(self.array("ceremony id")?))
    }

    /// The polynomial count, which must be the number of ciphertext moduli.
    fn count(&mut self, params: &Params) -> Result<usize, CryptoError> {
        let k = self.array::<1>("polynomial count")?[0] as usize;
        let want = params.spec.moduli.len();
        if k != want {
            return Err(self.malformed(
                "polynomial count",
                format!("{k} polynomials per half, expected {want} (one per ciphertext modulus)"),
            ));
        }
        Ok(k)
    }

    fn poly(&mut self, field: &str, params: &Params) -> Result<Poly, CryptoError> {
        let len = self.u32(field)? as usize;
        let body = self.take(len, field)?;
        let rq = Rq::decode(body)
            .map_err(|e| self.malformed(field, format!("not an Rq protobuf ({e})")))?;
        if rq.encoded_len() != body.len() || rq.encode_to_vec() != body {
            return Err(self.malformed(field, "non-canonical Rq protobuf encoding"));
        }
        if rq.representation != RqRepresentation::Ntt as i32 {
            let name = representation_name(rq.representation);
            return Err(self.malformed(field, format!("representation {name}, expected NTT")));
        }
        let n = params.slots();
        if rq.degree as usize != n {
            return Err(self.malformed(field, format!("degree {}, expected {n}", rq.degree)));
        }
        if rq.allow_variable_time {
            return Err(self.malformed(field, "variable-time flag set"));
        }
        let ctx = ctx0(params)?;
        let ops = ctx.moduli_operators();
        let sizes: Vec<usize> = ops.iter().map(|q| q.serialization_length(n)).collect();
        let expected: usize = sizes.iter().sum();
        if rq.coefficients.len() != expected {
            let per = sizes.first().copied().unwrap_or(1).max(1);
            let hint = if rq.coefficients.len() % per == 0 && sizes.iter().all(|&s| s == per) {
                format!(" ({} moduli)", rq.coefficients.len() / per)
            } else {
                String::new()
            };
            return Err(self.malformed(
                field,
                format!(
                    "{} coefficient bytes{hint}, expected {expected} ({} moduli × {n} coefficients)",
                    rq.coefficients.len(),
                    ops.len()
                ),
            ));
        }
        let mut coeffs = Vec::with_capacity(ops.len() * n);
        let mut at = 0;
        for (i, (q, size)) in ops.iter().zip(&sizes).enumerate() {
            let row = unpack(&rq.coefficients[at..at + size], crate::rq::bits(**q), n);
            at += size;
            if row.len() != n {
                return Err(
                    self.malformed(field, format!("RNS component {i} has the wrong length"))
                );
            }
            if let Some(j) = row.iter().position(|&c| c >= **q) {
                return Err(self.malformed(
                    field,
                    format!("coefficient {j} of RNS component {i} is not reduced modulo q{i}"),
                ));
            }
            coeffs.extend_from_slice(&row);
        }
        let mut p = Poly::try_convert_from(coeffs, ctx, false, Representation::PowerBasis)?;
        p.change_representation(Representation::Ntt);
        Ok(p)
    }

    fn polys(&mut self, half: &str, k: usize, params: &Params) -> Result<Vec<Poly>, CryptoError> {
        (0..k)
            .map(|i| self.poly(&format!("{half}[{i}]"), params))
            .collect()
    }

    fn finish(self) -> Result<(), CryptoError> {
        let left = self.cur.remaining();
        if left != 0 {
            return Err(self.malformed("end", format!("{left} trailing bytes")));
        }
        Ok(())
    }
}

impl PkShareMsg {
    /// The wire form (see the module's wire-format notes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = self.ceremony.0.to_vec();
        encode_poly(&mut body, &self.p0);
        finish_message(Kind::CeremonyPkShare, self.fingerprint, body)
    }

    /// Decode and check against `params`; any damage or inconsistency is an error.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<PkShareMsg, CryptoError> {
        let mut r = open_message(Kind::CeremonyPkShare, params, bytes)?;
        let ceremony = r.ceremony()?;
        let p0 = r.poly("p0", params)?;
        r.finish()?;
        Ok(PkShareMsg {
            fingerprint: params.spec.fingerprint(),
            ceremony,
            p0,
        })
    }
}

impl Rlk1Msg {
    /// The wire form (see the module's wire-format notes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = self.ceremony.0.to_vec();
        body.push(self.h0.len() as u8);
        for p in self.h0.iter().chain(&self.h1) {
            encode_poly(&mut body, p);
        }
        finish_message(Kind::CeremonyRlkRound1, self.fingerprint, body)
    }

    /// Decode and check against `params`; any damage or inconsistency is an error.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<Rlk1Msg, CryptoError> {
        let mut r = open_message(Kind::CeremonyRlkRound1, params, bytes)?;
        let ceremony = r.ceremony()?;
        let k = r.count(params)?;
        let h0 = r.polys("h0", k, params)?;
        let h1 = r.polys("h1", k, params)?;
        r.finish()?;
        Ok(Rlk1Msg {
            fingerprint: params.spec.fingerprint(),
            ceremony,
            h0,
            h1,
        })
    }
}

impl Rlk1Aggregate {
    fn new(
        fingerprint: [u8; 8],
        ceremony: CeremonyId,
        parties: u32,
        h0: Vec<Poly>,
        h1: Vec<Poly>,
    ) -> Rlk1Aggregate {
        let mut hasher = blake3::Hasher::new_derive_key(ROUND1_DIGEST_CONTEXT);
        hasher.update(&fingerprint);
        hasher.update(&ceremony.0);
        hasher.update(&parties.to_le_bytes());
        hasher.update(&[h0.len() as u8]);
        hash_polys(&mut hasher, &h0);
        hash_polys(&mut hasher, &h1);
        Rlk1Aggregate {
            fingerprint,
            ceremony,
            parties,
            h0,
            h1,
            digest: *hasher.finalize().as_bytes(),
        }
    }

    /// Number of trustees whose round-1 shares were summed: round 2 needs exactly as many.
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// blake3 digest of the aggregate's content (not of its encoding), which every round-2
    /// share repeats so the server can tell that all trustees answered the same aggregate.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The wire form (see the module's wire-format notes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = self.ceremony.0.to_vec();
        body.extend_from_slice(&self.parties.to_le_bytes());
        body.push(self.h0.len() as u8);
        for p in self.h0.iter().chain(&self.h1) {
            encode_poly(&mut body, p);
        }
        finish_message(Kind::CeremonyRlkRound1Aggregate, self.fingerprint, body)
    }

    /// Decode and check against `params`; any damage or inconsistency is an error.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<Rlk1Aggregate, CryptoError> {
        let mut r = open_message(Kind::CeremonyRlkRound1Aggregate, params, bytes)?;
        let ceremony = r.ceremony()?;
        let parties = r.u32("parties")?;
        if parties == 0 {
            return Err(r.malformed("parties", "zero trustees"));
        }
        let k = r.count(params)?;
        let h0 = r.polys("h0", k, params)?;
        let h1 = r.polys("h1", k, params)?;
        r.finish()?;
        Ok(Rlk1Aggregate::new(
            params.spec.fingerprint(),
            ceremony,
            parties,
            h0,
            h1,
        ))
    }
}

impl Rlk2Msg {
    /// The digest of the round-1 aggregate this share was computed from.
    pub fn round1_digest(&self) -> [u8; 32] {
        self.round1
    }

    /// The wire form (see the module's wire-format notes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = self.ceremony.0.to_vec();
        body.extend_from_slice(&self.round1);
        body.push(self.h.len() as u8);
        for p in &self.h {
            encode_poly(&mut body, p);
        }
        finish_message(Kind::CeremonyRlkRound2, self.fingerprint, body)
    }

    /// Decode and check against `params`; any damage or inconsistency is an error.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<Rlk2Msg, CryptoError> {
        let mut r = open_message(Kind::CeremonyRlkRound2, params, bytes)?;
        let ceremony = r.ceremony()?;
        let round1 = r.array("round-1 digest")?;
        let k = r.count(params)?;
        let h = r.polys("h", k, params)?;
        r.finish()?;
        Ok(Rlk2Msg {
            fingerprint: params.spec.fingerprint(),
            ceremony,
            round1,
            h,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Trustee side
// ---------------------------------------------------------------------------------------

/// A trustee's public-key share for the ceremony `seed` (trustee side, one round).
///
/// Same arithmetic and the same draws from `rng` as fhe.rs' `PublicKeyShare::new` with the
/// CRP [`CeremonySeed::public_key_crp`].
pub fn pk_share<R: RngCore + CryptoRng>(
    params: &Params,
    sk_share: &SecretKey,
    seed: &CeremonySeed,
    rng: &mut R,
) -> Result<PkShareMsg, CryptoError> {
    let s = in_ntt(&*secret_poly(params, sk_share)?);
    let e = Zeroizing::new(small(params, variance(params)?, rng)?);
    let mut p0 = -seed.public_key_crp_poly(params)?;
    p0.disallow_variable_time_computations();
    p0.change_representation(Representation::Ntt);
    p0 *= s.as_ref();
    p0 += e.as_ref();
    Ok(PkShareMsg {
        fingerprint: params.spec.fingerprint(),
        ceremony: seed.id(),
        p0,
    })
}

/// Largest error coefficient an honest public-key share may carry, as a multiple of the
/// parameters' error variance. fhe.rs draws the error from a centred binomial distribution,
/// whose coefficients never exceed 2 × variance; the margin keeps the check independent of
/// that detail. A share that is not the secret behind the message leaves `a·δ` (δ ≠ 0, `a`
/// uniform) in place of the error: every residue uniform modulo a prime above 2^30, so the
/// chance that all N of them fall within the bound is negligible.
const PK_SHARE_ERROR_FACTOR: u64 = 16;

/// Whether `sk_share` is the secret-key share behind the public-key share `msg` of the
/// ceremony `seed` (`p0 + a·s` must be a small error polynomial). A trustee runs this on
/// its own share against the public-key share it gave in the ceremony: a share damaged on
/// disk (or in memory) since then fails it, so it is never used to decrypt. Cheap: one
/// polynomial product. `false` also for a message of another ceremony or parameters.
pub fn pk_share_matches(
    params: &Params,
    seed: &CeremonySeed,
    sk_share: &SecretKey,
    msg: &PkShareMsg,
) -> Result<bool, CryptoError> {
    if msg.ceremony != seed.id() || msg.fingerprint != params.spec.fingerprint() {
        return Ok(false);
    }
    let s = in_ntt(&*secret_poly(params, sk_share)?);
    let mut e = Zeroizing::new(seed.public_key_crp_poly(params)?);
    e.disallow_variable_time_computations();
    *e *= s.as_ref();
    *e += &msg.p0;
    let bound = PK_SHARE_ERROR_FACTOR * (variance(params)? as u64).max(1);
    small_everywhere(params, &e, bound)
}

/// Whether every coefficient of `p` (any representation) is at most `bound` in absolute
/// value, in every RNS component: `p` is an error polynomial rather than a uniform one.
fn small_everywhere(params: &Params, p: &Poly, bound: u64) -> Result<bool, CryptoError> {
    let mut e = Zeroizing::new(p.clone());
    e.change_representation(Representation::PowerBasis);
    let moduli = ctx0(params)?.moduli();
    Ok(e.coefficients()
        .outer_iter()
        .zip(moduli)
        .all(|(row, &q)| row.iter().all(|&c| c.min(q - c) <= bound)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Round1,
    Round2,
    Done,
}

/// One trustee's side of the two-round relinearisation-key protocol. It holds, between the
/// rounds, the trustee's secret share and the ephemeral secret `u` drawn for this ceremony
/// only (both zeroized on drop, and wiped as soon as round 2 is produced). Each round can be
/// produced once: resend the cached message on a retry rather than recomputing it, since
/// fresh noise on the same secrets would only give the server more samples.
///
/// Same arithmetic and the same draws from the rngs as fhe.rs' `RelinKeyGenerator` with the
/// CRPs [`CeremonySeed::relin_crps`].
pub struct RelinParty {
    params: Params,
    ceremony: CeremonyId,
    variance: usize,
    s: Zeroizing<Poly>,
    s_ntt: Zeroizing<Poly>,
    u: Zeroizing<Poly>,
    crps: Vec<Poly>,
    stage: Stage,
}

impl fmt::Debug for RelinParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelinParty")
            .field("ceremony", &self.ceremony)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl RelinParty {
    /// Start the protocol for the ceremony `seed`: derive the CRPs, draw the ephemeral `u`.
    pub fn new<R: RngCore + CryptoRng>(
        params: &Params,
        sk_share: &SecretKey,
        seed: &CeremonySeed,
        rng: &mut R,
    ) -> Result<RelinParty, CryptoError> {
        if params.spec.moduli.len() < 2 {
            return Err(CryptoError::InvalidParameters(
                "relinearisation keys need at least two ciphertext moduli".into(),
            ));
        }
        let variance = variance(params)?;
        let s = secret_poly(params, sk_share)?;
        let s_ntt = in_ntt(&s);
        let crps = seed.relin_crp_polys(params)?;
        let u = Zeroizing::new(small(params, variance, rng)?);
        Ok(RelinParty {
            params: params.clone(),
            ceremony: seed.id(),
            variance,
            s,
            s_ntt,
            u,
            crps,
            stage: Stage::Round1,
        })
    }

    /// The round-1 share (once).
    pub fn round1<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Result<Rlk1Msg, CryptoError> {
        if self.stage != Stage::Round1 {
            return Err(CryptoError::Ceremony(
                "round 1 was already produced by this party; resend the cached message".into(),
            ));
        }
        let params = &self.params;
        let rns = RnsContext::new(&params.spec.moduli)?;
        let mut h0 = Vec::with_capacity(self.crps.len());
        for (i, a) in self.crps.iter().enumerate() {
            let w = rns
                .get_garner(i)
                .ok_or_else(|| CryptoError::Fhe(format!("no CRT coefficient for modulus {i}")))?;
            let mut w_s = Zeroizing::new(w * self.s.as_ref());
            w_s.change_representation(Representation::Ntt);
            let e = Zeroizing::new(small(params, self.variance, rng)?);
            let mut h = -a;
            h.disallow_variable_time_computations();
            h.change_representation(Representation::Ntt);
            h *= self.u.as_ref();
            h += w_s.as_ref();
            h += e.as_ref();
            h0.push(h);
        }
        let mut h1 = Vec::with_capacity(self.crps.len());
        for a in &self.crps {
            let mut h = a.clone();
            h.disallow_variable_time_computations();
            h.change_representation(Representation::Ntt);
            let e = Zeroizing::new(small(params, self.variance, rng)?);
            h *= self.s_ntt.as_ref();
            h += e.as_ref();
            h1.push(h);
        }
        self.stage = Stage::Round2;
        Ok(Rlk1Msg {
            fingerprint: params.spec.fingerprint(),
            ceremony: self.ceremony,
            h0,
            h1,
        })
    }

    /// The round-2 share from the server's round-1 aggregate (once, after round 1). Wipes
    /// the secrets this party holds.
    pub fn round2<R: RngCore + CryptoRng>(
        &mut self,
        aggregate: &Rlk1Aggregate,
        rng: &mut R,
    ) -> Result<Rlk2Msg, CryptoError> {
        match self.stage {
            Stage::Round1 => {
                return Err(CryptoError::Ceremony(
                    "round 2 requested before this party produced round 1".into(),
                ))
            }
            Stage::Done => {
                return Err(CryptoError::Ceremony(
                    "round 2 was already produced by this party; resend the cached message".into(),
                ))
            }
            Stage::Round2 => {}
        }
        let what = Kind::CeremonyRlkRound1Aggregate.name();
        check_binding(
            what,
            &self.params,
            &self.ceremony,
            aggregate.fingerprint,
            aggregate.ceremony,
        )?;
        let k = self.crps.len();
        if aggregate.h0.len() != k || aggregate.h1.len() != k {
            return Err(CryptoError::Malformed {
                what,
                reason: format!(
                    "{} + {} polynomials, expected {k} + {k}",
                    aggregate.h0.len(),
                    aggregate.h1.len()
                ),
            });
        }
        let params = &self.params;
        let mut h = Vec::with_capacity(k);
        for r1 in &aggregate.h0 {
            let e = Zeroizing::new(small(params, self.variance, rng)?);
            let mut hp = r1.clone();
            hp.disallow_variable_time_computations();
            hp.change_representation(Representation::Ntt);
            hp *= self.s_ntt.as_ref();
            hp += e.as_ref();
            h.push(hp);
        }
        let u_s = Zeroizing::new(self.u.as_ref() - self.s_ntt.as_ref());
        for (r1, out) in aggregate.h1.iter().zip(h.iter_mut()) {
            let mut hp = r1.clone();
            hp.disallow_variable_time_computations();
            hp.change_representation(Representation::Ntt);
            let e = Zeroizing::new(small(params, self.variance, rng)?);
            hp *= u_s.as_ref();
            hp += e.as_ref();
            *out += &hp;
        }
        let fingerprint = self.params.spec.fingerprint();
        self.wipe()?;
        Ok(Rlk2Msg {
            fingerprint,
            ceremony: self.ceremony,
            round1: aggregate.digest,
            h,
        })
    }

    /// Replace the secrets by zero polynomials (the old ones are zeroized as they drop).
    fn wipe(&mut self) -> Result<(), CryptoError> {
        let ctx = ctx0(&self.params)?;
        self.s = Zeroizing::new(Poly::zero(ctx, Representation::PowerBasis));
        self.s_ntt = Zeroizing::new(Poly::zero(ctx, Representation::Ntt));
        self.u = Zeroizing::new(Poly::zero(ctx, Representation::Ntt));
        self.stage = Stage::Done;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Server side (no secret anywhere)
// ---------------------------------------------------------------------------------------

fn check_binding(
    what: &'static str,
    params: &Params,
    ceremony: &CeremonyId,
    fingerprint: [u8; 8],
    got: CeremonyId,
) -> Result<(), CryptoError> {
    if fingerprint != params.spec.fingerprint() {
        return Err(CryptoError::Mismatch {
            what,
            reason: format!("made under other parameters than {}", params.name),
        });
    }
    if got != *ceremony {
        return Err(CryptoError::Mismatch {
            what,
            reason: format!("belongs to ceremony {got}, not to this ceremony {ceremony}"),
        });
    }
    Ok(())
}

/// Check a set of shares: at least one, bound to these parameters and this ceremony, the
/// expected shape, and no share submitted twice (which would silently double a secret).
fn check_shares<'a, T: 'a>(
    kind: Kind,
    params: &Params,
    seed: &CeremonySeed,
    shares: &'a [T],
    parts: impl Fn(&'a T) -> ([u8; 8], CeremonyId, Vec<&'a [Poly]>),
) -> Result<(), CryptoError> {
    let what = kind.name();
    if shares.is_empty() {
        return Err(CryptoError::Ceremony(format!("no {what} to aggregate")));
    }
    let ceremony = seed.id();
    let k = params.spec.moduli.len();
    let mut seen = std::collections::HashMap::new();
    for (i, share) in shares.iter().enumerate() {
        let (fingerprint, got, halves) = parts(share);
        check_binding(what, params, &ceremony, fingerprint, got).map_err(|e| match e {
            CryptoError::Mismatch { what, reason } => CryptoError::Mismatch {
                what,
                reason: format!("share {i} {reason}"),
            },
            e => e,
        })?;
        let mut hasher = blake3::Hasher::new_derive_key(SHARE_DIGEST_CONTEXT);
        for half in &halves {
            let want = if kind == Kind::CeremonyPkShare { 1 } else { k };
            if half.len() != want {
                return Err(CryptoError::Malformed {
                    what,
                    reason: format!("share {i} has {} polynomials, expected {want}", half.len()),
                });
            }
            hash_polys(&mut hasher, half);
        }
        if let Some(j) = seen.insert(*hasher.finalize().as_bytes(), i) {
            return Err(CryptoError::Ceremony(format!(
                "{what} {i} is identical to share {j}: a trustee's share was submitted twice"
            )));
        }
    }
    Ok(())
}

/// The collective public key from every trustee's share (server side). Fails on an empty
/// set, a share of another ceremony or parameters, or a duplicated share; a well-formed
/// share computed wrongly cannot be detected (see the module documentation).
pub fn aggregate_public_key(
    params: &Params,
    seed: &CeremonySeed,
    shares: &[PkShareMsg],
) -> Result<PublicKey, CryptoError> {
    check_shares(Kind::CeremonyPkShare, params, seed, shares, |s| {
        (s.fingerprint, s.ceremony, vec![std::slice::from_ref(&s.p0)])
    })?;
    let mut p0 = shares[0].p0.clone();
    for s in &shares[1..] {
        p0 += &s.p0;
    }
    let crp = seed.public_key_crp_poly(params)?;
    let proto = fhe::proto::bfv::PublicKey {
        c: Some(fhe::proto::bfv::Ciphertext {
            c: vec![
                rq_bytes(&p0, RqRepresentation::Ntt),
                rq_bytes(&crp, RqRepresentation::Ntt),
            ],
            seed: Vec::new(),
            level: 0,
        }),
    };
    Ok(PublicKey::from_bytes(&proto.encode_to_vec(), &params.bfv)?)
}

/// The sum of every trustee's round-1 share (server side), to keep and to send back to every
/// trustee. Same checks as [`aggregate_public_key`].
pub fn aggregate_round1(
    params: &Params,
    seed: &CeremonySeed,
    shares: &[Rlk1Msg],
) -> Result<Rlk1Aggregate, CryptoError> {
    check_shares(Kind::CeremonyRlkRound1, params, seed, shares, |s| {
        (s.fingerprint, s.ceremony, vec![&s.h0[..], &s.h1[..]])
    })?;
    let mut h0 = shares[0].h0.clone();
    let mut h1 = shares[0].h1.clone();
    for s in &shares[1..] {
        for (acc, p) in h0.iter_mut().zip(&s.h0) {
            *acc += p;
        }
        for (acc, p) in h1.iter_mut().zip(&s.h1) {
            *acc += p;
        }
    }
    let parties = u32::try_from(shares.len())
        .map_err(|_| CryptoError::Ceremony("too many trustees".into()))?;
    Ok(Rlk1Aggregate::new(
        params.spec.fingerprint(),
        seed.id(),
        parties,
        h0,
        h1,
    ))
}

/// The collective relinearisation key from the round-1 aggregate and every trustee's
/// round-2 share (server side). Besides the checks of [`aggregate_public_key`], every
/// trustee of round 1 must have answered, each from this very aggregate.
pub fn aggregate_relin_key(
    params: &Params,
    seed: &CeremonySeed,
    round1: &Rlk1Aggregate,
    shares: &[Rlk2Msg],
) -> Result<RelinearizationKey, CryptoError> {
    check_binding(
        Kind::CeremonyRlkRound1Aggregate.name(),
        params,
        &seed.id(),
        round1.fingerprint,
        round1.ceremony,
    )?;
    check_shares(Kind::CeremonyRlkRound2, params, seed, shares, |s| {
        (s.fingerprint, s.ceremony, vec![&s.h[..]])
    })?;
    if shares.len() != round1.parties as usize {
        return Err(CryptoError::Ceremony(format!(
            "{} round-2 shares for {} round-1 shares: every trustee of round 1 must answer round 2",
            shares.len(),
            round1.parties
        )));
    }
    if let Some(i) = shares.iter().position(|s| s.round1 != round1.digest) {
        return Err(CryptoError::Mismatch {
            what: Kind::CeremonyRlkRound2.name(),
            reason: format!("share {i} was computed from another round-1 aggregate"),
        });
    }
    let mut c0 = shares[0].h.clone();
    for s in &shares[1..] {
        for (acc, p) in c0.iter_mut().zip(&s.h) {
            *acc += p;
        }
    }
    let proto = fhe::proto::bfv::RelinearizationKey {
        ksk: Some(fhe::proto::bfv::KeySwitchingKey {
            c0: c0
                .iter()
                .map(|p| rq_bytes(p, RqRepresentation::Nttshoup))
                .collect(),
            c1: round1
                .h1
                .iter()
                .map(|p| rq_bytes(p, RqRepresentation::Nttshoup))
                .collect(),
            seed: Vec::new(),
            ciphertext_level: 0,
            ksk_level: 0,
            log_base: 0,
        }),
    };
    Ok(RelinearizationKey::from_bytes(
        &proto.encode_to_vec(),
        &params.bfv,
    )?)
}

/// fhe-math's serialization of `p`, labelled with the representation the key wants
/// (the coefficients are stored in power basis whatever the label).
fn rq_bytes(p: &Poly, representation: RqRepresentation) -> Vec<u8> {
    let mut rq = to_rq(p);
    rq.representation = representation as i32;
    rq.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;
    use fhe_traits::DeserializeWithContext;
    use rand::rngs::StdRng;

    #[test]
    fn rq_mirror_matches_fhe_math() {
        let params = Preset::Bfv8192.params().expect("preset");
        let ctx = ctx0(&params).expect("ctx");
        let mut rng = StdRng::seed_from_u64(3);
        let p = Poly::random(ctx, Representation::Ntt, &mut rng);
        let ours = to_rq(&p).encode_to_vec();
        assert_eq!(
            ours,
            p.to_bytes(),
            "same bytes as fhe-math's Poly::to_bytes"
        );
        let back = Poly::from_bytes(&ours, ctx).expect("fhe-math reads it");
        assert!(polys_equal(std::slice::from_ref(&p), &[back]));
        let mut out = Vec::new();
        encode_poly(&mut out, &p);
        let mut r = Reader {
            what: "test",
            cur: ByteCursor::new(&out),
        };
        let mine = r.poly("p", &params).expect("our reader reads it");
        r.finish().expect("nothing left");
        assert!(polys_equal(&[p], &[mine]));
    }
}
