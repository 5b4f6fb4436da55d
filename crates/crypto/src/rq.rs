//! fhe-math's `Rq` polynomial message (private in fhe-math 0.1.1), mirrored so this crate can
//! check every field before a polynomial is built, a word-at-a-time unpacker of its packed
//! coefficients, and the decoding of a stored ciphertext through both.
//!
//! fhe-util's unpacker moves one byte per step through a 128-bit accumulator; decoding one
//! bfv-16384 ciphertext (1.2 MB) spent most of its time there. [`unpack`] reads each value
//! with one unaligned 128-bit load instead. The bytes and the decoded values are the same:
//! the stored format does not change, so hashes, share logs and stored chunks do not either.

use std::sync::Arc;

use fhe::bfv::Ciphertext;
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use prost::Message;

use crate::params::Params;

/// Wire-compatible mirror of fhe-math's `Rq` protobuf message (`fhers.rq.Rq`), which
/// fhe-math 0.1.1 keeps private: `Poly::to_bytes` produces exactly this message. Decoding it
/// ourselves lets every field be checked before a polynomial is built.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Rq {
    /// `fhers.rq.Representation`: 1 power basis, 2 NTT, 3 NTT with Shoup precomputation.
    #[prost(int32, tag = "1")]
    pub(crate) representation: i32,
    #[prost(uint32, tag = "2")]
    pub(crate) degree: u32,
    /// Per RNS modulus q_i, the N power-basis coefficients packed in ⌈log2 q_i⌉ bits each.
    #[prost(bytes = "vec", tag = "3")]
    pub(crate) coefficients: Vec<u8>,
    #[prost(bool, tag = "4")]
    pub(crate) allow_variable_time: bool,
}

/// Values of `fhers.rq.Representation`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RqRepresentation {
    Ntt = 2,
    Nttshoup = 3,
}

pub(crate) fn representation_name(value: i32) -> &'static str {
    match value {
        0 => "UNKNOWN",
        1 => "POWERBASIS",
        2 => "NTT",
        3 => "NTTSHOUP",
        _ => "out of range",
    }
}

/// An NTT-form polynomial as the `Rq` message fhe-math's `Poly::to_bytes` writes (with the
/// variable-time flag off): the coefficients in power basis, packed per modulus.
pub(crate) fn to_rq(p: &Poly) -> Rq {
    let mut pb = p.clone();
    pb.change_representation(Representation::PowerBasis);
    let coefficients = pb
        .coefficients()
        .outer_iter()
        .zip(p.ctx().moduli())
        .flat_map(|(row, q)| pack(&row.to_vec(), bits(*q)))
        .collect();
    Rq {
        representation: RqRepresentation::Ntt as i32,
        degree: pb.coefficients().ncols() as u32,
        coefficients,
        allow_variable_time: false,
    }
}

/// Bits per packed coefficient for modulus `q` (as fhe-math packs them: the bit length of
/// q − 1).
pub(crate) fn bits(q: u64) -> usize {
    64 - (q - 1).leading_zeros() as usize
}

/// The first `n` values of `nbits` bits each packed in `bytes`, least significant bit first
/// (fhe-util's `transcode_to_bytes` order). `bytes` must hold at least ⌈n·nbits/8⌉ bytes;
/// `nbits` is 1..=64.
pub(crate) fn unpack(bytes: &[u8], nbits: usize, n: usize) -> Vec<u64> {
    debug_assert!((1..=64).contains(&nbits) && bytes.len() * 8 >= n * nbits);
    let mask = u128::from(u64::MAX >> (64 - nbits));
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let bit = i * nbits;
        let at = bit / 8;
        let word = match bytes.get(at..at + 16) {
            Some(w) => u128::from_le_bytes(w.try_into().unwrap_or([0; 16])),
            None => {
                let mut w = [0u8; 16];
                let tail = &bytes[at.min(bytes.len())..];
                w[..tail.len().min(16)].copy_from_slice(&tail[..tail.len().min(16)]);
                u128::from_le_bytes(w)
            }
        };
        out.push(((word >> (bit % 8)) & mask) as u64);
    }
    out
}

/// `values` packed in `nbits` bits each, least significant bit first, in
/// ⌈len·nbits/8⌉ bytes: what fhe-util's `transcode_to_bytes` writes, a 64-bit word at a
/// time instead of a bit at a time. Every value must be below 2^nbits; `nbits` is 1..=64.
pub(crate) fn pack(values: &[u64], nbits: usize) -> Vec<u8> {
    debug_assert!((1..=64).contains(&nbits));
    let mut out = Vec::with_capacity((values.len() * nbits).div_ceil(8) + 8);
    let mut acc: u128 = 0;
    let mut filled = 0usize;
    for &v in values {
        acc |= u128::from(v) << filled;
        filled += nbits;
        if filled >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            filled -= 64;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..filled.div_ceil(8)]);
    out
}

/// fhe.rs's `Ciphertext::to_bytes`, byte for byte, with [`pack`] in place of fhe-util's
/// bit-at-a-time transcoder, for the ciphertexts this crate computes and stores: no seed,
/// every part in NTT form. `None` for anything else (the caller uses fhe.rs's encoder).
///
/// fhe.rs writes two facts it offers no getter for, found here without changing anything:
/// whether a seed stands in for the last part (the ciphertext rebuilt from its parts, with no
/// seed, equals it exactly when it has none) and each part's variable-time flag (a copy with
/// the flag off equals the part exactly when the flag is off).
pub(crate) fn ciphertext_payload(params: &Params, ct: &Ciphertext) -> Option<Vec<u8>> {
    if ct.len() != 2 {
        return None;
    }
    let unseeded = Ciphertext::new(ct.to_vec(), &params.bfv).ok()?;
    if &unseeded != ct {
        return None;
    }
    let level = params.bfv.level_of_context(ct[0].ctx()).ok()?;
    let n = params.slots();
    let mut parts = Vec::with_capacity(2);
    for p in ct.iter() {
        if *p.representation() != Representation::Ntt {
            return None;
        }
        let mut pb = p.clone();
        pb.disallow_variable_time_computations();
        let allow_variable_time = pb != *p;
        pb.change_representation(Representation::PowerBasis);
        let mut coefficients = Vec::new();
        for (row, q) in pb.coefficients().outer_iter().zip(p.ctx().moduli()) {
            coefficients.extend_from_slice(&pack(row.as_slice()?, bits(*q)));
        }
        parts.push(
            Rq {
                representation: RqRepresentation::Ntt as i32,
                degree: u32::try_from(n).ok()?,
                coefficients,
                allow_variable_time,
            }
            .encode_to_vec(),
        );
    }
    let proto = fhe::proto::bfv::Ciphertext {
        c: parts,
        seed: Vec::new(),
        level: u32::try_from(level).ok()?,
    };
    Some(proto.encode_to_vec())
}

/// A stored ciphertext's payload (fhe.rs's `Ciphertext` protobuf) decoded with [`unpack`],
/// when it has the shape this crate writes: no seed, two polynomials in NTT form at the ring
/// degree, every coefficient reduced. `None` for anything else, which the caller hands to
/// fhe.rs's own parser (so both accept and refuse the same bytes).
pub(crate) fn canonical_ciphertext(params: &Params, payload: &[u8]) -> Option<Ciphertext> {
    let proto = fhe::proto::bfv::Ciphertext::decode(payload).ok()?;
    if !proto.seed.is_empty() || proto.c.len() != 2 {
        return None;
    }
    let level = usize::try_from(proto.level).ok()?;
    if level > params.bfv.max_level() {
        return None;
    }
    let ctx = params.bfv.context_at_level(level).ok()?;
    let n = params.slots();
    let ops = ctx.moduli_operators();
    let mut polys = Vec::with_capacity(2);
    for c in &proto.c {
        let rq = Rq::decode(c.as_slice()).ok()?;
        if rq.representation != RqRepresentation::Ntt as i32
            || rq.degree as usize != n
            || !n.is_multiple_of(8)
        {
            return None;
        }
        let sizes: Vec<usize> = ops.iter().map(|q| q.serialization_length(n)).collect();
        if rq.coefficients.len() != sizes.iter().sum::<usize>() {
            return None;
        }
        let mut coeffs = Vec::with_capacity(ops.len() * n);
        let mut at = 0;
        for (q, size) in ops.iter().zip(&sizes) {
            let row = unpack(&rq.coefficients[at..at + size], bits(**q), n);
            at += size;
            if row.iter().any(|&c| c >= **q) {
                return None;
            }
            coeffs.extend_from_slice(&row);
        }
        // fhe.rs keeps the flag the writer had (fresh encryptions allow variable time).
        let mut p = Poly::try_convert_from(
            coeffs,
            &Arc::clone(ctx),
            rq.allow_variable_time,
            Representation::PowerBasis,
        )
        .ok()?;
        p.change_representation(Representation::Ntt);
        polys.push(p);
    }
    Ciphertext::new(polys, &params.bfv).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::codec;
    use crate::params::Preset;
    use fhe::bfv::{PublicKey, SecretKey};
    use fhe_traits::{DeserializeParametrized, Serialize};
    use proptest::prelude::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn params() -> &'static Params {
        static P: std::sync::OnceLock<Params> = std::sync::OnceLock::new();
        P.get_or_init(|| Preset::Bfv8192.params().unwrap())
    }

    /// fhe.rs's own parse of a payload (the reference the fast path must equal).
    fn reference(payload: &[u8]) -> Option<Ciphertext> {
        std::panic::catch_unwind(|| Ciphertext::from_bytes(payload, &params().bfv).ok())
            .ok()
            .flatten()
    }

    /// A fresh ciphertext of random values at `level`, and its stored payload.
    fn stored(level: usize, seed: u64) -> (Ciphertext, Vec<u8>) {
        let p = params();
        let mut rng = StdRng::seed_from_u64(seed);
        let sk = SecretKey::random(&p.bfv, &mut rng);
        let pk = PublicKey::new(&sk, &mut rng);
        let values: Vec<i64> = (0..p.slots() as i64).map(|i| i * 7 - 1000).collect();
        let ct = crate::column::encrypt(p, &pk, &values, level, &mut rng).unwrap();
        let payload = ct.to_bytes();
        (ct, payload)
    }

    #[test]
    fn stored_ciphertexts_decode_to_what_fhe_rs_decodes_at_every_level() {
        let p = params();
        for level in 0..=p.bfv.max_level() {
            let (ct, payload) = stored(level, level as u64);
            let fast = canonical_ciphertext(p, &payload).expect("canonical shape");
            assert_eq!(fast, ct, "level {level}");
            assert_eq!(Some(fast), reference(&payload), "level {level}");
            let enveloped = codec::encode_ciphertext(p, &ct);
            assert_eq!(codec::decode_ciphertext(p, &enveloped).unwrap(), ct);
        }
    }

    /// `ct` with both parts' variable-time flag set to `flag` (everything else unchanged).
    fn with_flag(ct: &Ciphertext, flag: bool) -> Ciphertext {
        let parts = ct
            .iter()
            .map(|p| {
                let mut pb = p.clone();
                pb.change_representation(Representation::PowerBasis);
                let coeffs = pb.coefficients().as_slice().unwrap().to_vec();
                let mut q =
                    Poly::try_convert_from(coeffs, p.ctx(), flag, Representation::PowerBasis)
                        .unwrap();
                q.change_representation(Representation::Ntt);
                q
            })
            .collect();
        Ciphertext::new(parts, &params().bfv).unwrap()
    }

    /// The fast encoder writes fhe.rs's very bytes for every ciphertext this crate makes:
    /// fresh encryptions at every level, sums, a relinearised product, either variable-time
    /// flag; and declines a seeded ciphertext, which fhe.rs then encodes.
    #[test]
    fn ciphertexts_encode_to_the_bytes_fhe_rs_writes() {
        use fhe::bfv::{Encoding, Plaintext, RelinearizationKey};
        use fhe_traits::{FheEncoder, FheEncrypter};
        let p = params();
        let same = |ct: &Ciphertext, what: &str| {
            assert_eq!(ciphertext_payload(p, ct), Some(ct.to_bytes()), "{what}");
            let enveloped = codec::encode_ciphertext(p, ct);
            assert_eq!(
                &codec::decode_ciphertext(p, &enveloped).unwrap(),
                ct,
                "{what}"
            );
        };
        for level in 0..=p.bfv.max_level() {
            let (ct, payload) = stored(level, 20 + level as u64);
            assert_eq!(ciphertext_payload(p, &ct), Some(payload), "level {level}");
            same(&(&ct + &ct), &format!("sum at level {level}"));
            same(&with_flag(&ct, true), &format!("flag on, level {level}"));
            same(&with_flag(&ct, false), &format!("flag off, level {level}"));
            let decoded = canonical_ciphertext(p, &ct.to_bytes()).unwrap();
            same(&decoded, &format!("decoded, level {level}"));
        }
        let mut rng = StdRng::seed_from_u64(3);
        let sk = SecretKey::random(&p.bfv, &mut rng);
        let rk = RelinearizationKey::new(&sk, &mut rng).unwrap();
        let mul = crate::accumulate::Multiplier::new(p, rk).unwrap();
        let (a, _) = stored(0, 31);
        let (b, _) = stored(0, 32);
        let mut sum = mul.product_sum();
        sum.add(&mul.extend(&a).unwrap(), &mul.extend(&b).unwrap());
        same(&mul.finish(&sum).unwrap(), "relinearised product");

        let pt = Plaintext::try_encode(&[1u64, 2, 3], Encoding::simd(), &p.bfv).unwrap();
        let seeded: Ciphertext = sk.try_encrypt(&pt, &mut rng).unwrap();
        assert_eq!(
            ciphertext_payload(p, &seeded),
            None,
            "a seed stands in for c1"
        );
        assert_eq!(
            codec::encode_ciphertext(p, &seeded),
            codec::seal(codec::Kind::Ciphertext, p, &seeded.to_bytes())
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// `pack` writes exactly what fhe-math's packer writes, for every modulus of both
        /// presets, the plaintext modulus and every bit width, at every length.
        #[test]
        fn pack_agrees_with_fhe_math(
            values in proptest::collection::vec(any::<u64>(), 0..80),
            pick in 0usize..12,
            width in 1usize..=64,
            by_modulus in any::<bool>(),
        ) {
            let mut qs: Vec<u64> = Vec::new();
            for preset in [Preset::Bfv8192, Preset::Bfv16384] {
                let p = preset.params().unwrap();
                qs.extend(&p.spec.moduli);
                qs.push(p.t());
            }
            let nbits = if by_modulus { bits(qs[pick % qs.len()]) } else { width };
            let reduced: Vec<u64> = values
                .iter()
                .map(|v| if nbits == 64 { *v } else { v & ((1u64 << nbits) - 1) })
                .collect();
            prop_assert_eq!(pack(&reduced, nbits), fhe_util::transcode_to_bytes(&reduced, nbits));
        }

        /// `unpack` reads exactly what fhe-math's packer wrote, and what its unpacker reads
        /// from any bytes, for every modulus of both presets and the plaintext modulus.
        #[test]
        fn unpack_agrees_with_fhe_math(
            values in proptest::collection::vec(any::<u64>(), 64),
            bytes in proptest::collection::vec(any::<u8>(), 512),
            pick in 0usize..12,
        ) {
            let mut qs: Vec<u64> = Vec::new();
            for preset in [Preset::Bfv8192, Preset::Bfv16384] {
                let p = preset.params().unwrap();
                qs.extend(&p.spec.moduli);
                qs.push(p.t());
            }
            let q = fhe_math::zq::Modulus::new(qs[pick % qs.len()]).unwrap();
            let reduced: Vec<u64> = values.iter().map(|v| v % *q).collect();
            let packed = q.serialize_vec(&reduced);
            prop_assert_eq!(unpack(&packed, bits(*q), reduced.len()), reduced);
            let n = bytes.len() * 8 / bits(*q) / 8 * 8;
            let theirs = q.deserialize_vec(&bytes[..q.serialization_length(n)]);
            prop_assert_eq!(unpack(&bytes, bits(*q), n), theirs[..n].to_vec());
        }

        /// Damaged payloads: whenever the fast path accepts one, fhe.rs's parser gives the very
        /// same ciphertext (and where it declines, the caller asks fhe.rs).
        #[test]
        fn damaged_payloads_decode_as_fhe_rs_decodes_them(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            static STORED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
            let mut payload = STORED.get_or_init(|| stored(0, 99).1).clone();
            for (at, b) in edits {
                let i = at.index(payload.len());
                payload[i] = b;
            }
            if let Some(c) = cut {
                payload.truncate(c.index(payload.len()));
            }
            if let Some(fast) = canonical_ciphertext(params(), &payload) {
                prop_assert_eq!(Some(fast), reference(&payload));
            }
        }
    }
}
