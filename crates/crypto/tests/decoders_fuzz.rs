//! Every decoder of outside bytes in the crypto layer returns an error on garbage and never
//! panics: the envelope, ciphertexts, keys, key shares, decryption shares, parameter blobs,
//! the networked ceremony's messages, sealed boxes.

use dtfhe_crypto::ceremony::net::{
    self, CeremonySeed, PkShareMsg, Rlk1Aggregate, Rlk1Msg, Rlk2Msg, CHECKSUM_LEN,
};
use dtfhe_crypto::release::Coeff0Share;
use dtfhe_crypto::seal::{self, RecipientKeyPair};
use dtfhe_crypto::{ceremony, codec, ParamSpec, Preset};
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use std::sync::OnceLock;

fn params() -> &'static dtfhe_crypto::Params {
    static P: OnceLock<dtfhe_crypto::Params> = OnceLock::new();
    P.get_or_init(|| Preset::Bfv8192.params().expect("preset"))
}

fn envelope(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = b"DTFH".to_vec();
    out.push(codec::FORMAT_VERSION);
    out.push(kind);
    out.extend_from_slice(&params().spec.fingerprint());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// An envelope whose ceremony checksum is valid, so the payload parsers behind it run.
fn checksummed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut b = envelope(kind, &[body, &[0u8; CHECKSUM_LEN][..]].concat());
    let n = b.len() - CHECKSUM_LEN;
    let mut h = blake3::Hasher::new_derive_key(net::CHECKSUM_CONTEXT);
    h.update(&b[..n]);
    b[n..].copy_from_slice(h.finalize().as_bytes());
    b
}

fn ceremony_decoders(b: &[u8]) -> [bool; 4] {
    let p = params();
    [
        PkShareMsg::from_bytes(p, b).is_ok(),
        Rlk1Msg::from_bytes(p, b).is_ok(),
        Rlk1Aggregate::from_bytes(p, b).is_ok(),
        Rlk2Msg::from_bytes(p, b).is_ok(),
    ]
}

/// A genuine public-key share's payload body (without envelope and checksum).
fn pk_share_body() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let p = params();
        let mut rng = StdRng::seed_from_u64(1);
        let sk = ceremony::new_share(p, &mut rng);
        let seed = CeremonySeed::random(&mut rng);
        let b = net::pk_share(p, &sk, &seed, &mut rng)
            .expect("share")
            .to_bytes();
        b[18..b.len() - CHECKSUM_LEN].to_vec()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ceremony_and_sealed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(ceremony_decoders(&bytes), [false; 4]);
        let kp = RecipientKeyPair::generate(&mut StdRng::seed_from_u64(2));
        prop_assert!(seal::open(&kp, b"info", b"aad", &bytes).is_err());
        let _ = CeremonySeed::from_hex(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn checksummed_garbage_never_panics(kind in 5u8..=8, body in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(ceremony_decoders(&checksummed(kind, &body)), [false; 4]);
    }

    #[test]
    fn raw_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = params();
        prop_assert!(codec::decode_ciphertext(p, &bytes).is_err());
        prop_assert!(codec::decode_public_key(p, &bytes).is_err());
        prop_assert!(codec::decode_relin_key(p, &bytes).is_err());
        prop_assert!(codec::decode_secret_share(p, &bytes).is_err());
        let _ = Coeff0Share::from_bytes(p, &bytes);
        if let Ok(spec) = ParamSpec::from_bytes(&bytes) {
            let _ = spec.validate(false);
        }
    }

    #[test]
    fn valid_envelope_with_garbage_payload_never_panics(kind in 1u8..=4, payload in proptest::collection::vec(any::<u8>(), 0..400)) {
        let p = params();
        let b = envelope(kind, &payload);
        let _ = codec::decode_ciphertext(p, &b);
        let _ = codec::decode_public_key(p, &b);
        let _ = codec::decode_relin_key(p, &b);
        let _ = codec::decode_secret_share(p, &b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Byte edits inside a genuine share, behind a valid checksum: the polynomial parser sees
    /// plausible lengths and tags with wrong contents. It may accept (a coefficient still below
    /// its modulus is undetectable) but never panics.
    #[test]
    fn mutated_genuine_share_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut body = pk_share_body().to_vec();
        for (at, v) in edits {
            // Bias towards the header fields (ceremony id, length prefix, Rq tags).
            let i = if v % 2 == 0 { at.index(40) } else { at.index(body.len()) };
            body[i] = v;
        }
        if let Some(c) = cut {
            body.truncate(c.index(body.len()));
        }
        let _ = ceremony_decoders(&checksummed(5, &body));
    }
}

/// A genuine stored threshold secret (version 2) of epoch `epoch`, all residues `fill`.
fn threshold_secret_bytes(epoch: u32, fill: u64) -> Vec<u8> {
    use dtfhe_crypto::threshold::{wire, RnsSecret, ThresholdSecret};
    let p = params();
    let residues = vec![fill; p.slots() * p.spec.moduli.len()];
    let secret = RnsSecret::from_residues(p, residues).expect("reduced");
    let held = ThresholdSecret::from_parts(4, 3, 5, secret)
        .expect("parts")
        .at_epoch(epoch);
    wire::threshold_secret_to_bytes(p, &held).to_vec()
}

#[test]
fn a_stored_threshold_secret_keeps_its_epoch_and_version_1_reads_as_epoch_0() {
    use dtfhe_crypto::threshold::wire::threshold_secret_from_bytes;
    let p = params();
    let v2 = threshold_secret_bytes(7, 3);
    let back = threshold_secret_from_bytes(p, &v2).expect("round trip");
    assert_eq!(
        (back.epoch, back.point, back.threshold, back.trustees),
        (7, 4, 3, 5)
    );
    // Version 1 (no epoch field), as written before re-sharing existed.
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&v2[1..9]);
    v1.extend_from_slice(&v2[13..]);
    let old = threshold_secret_from_bytes(p, &v1).expect("version 1");
    assert_eq!((old.epoch, old.point), (0, 4));
    assert_eq!(old.secret(), back.secret());
    // Corrupted fields: version, fingerprint, layout, length.
    for (at, v) in [(0usize, 2u8), (2, 0xff), (19, 9), (20, 0x7f)] {
        let mut bad = v2.clone();
        bad[at] ^= v;
        assert!(threshold_secret_from_bytes(p, &bad).is_err(), "byte {at}");
    }
    assert!(threshold_secret_from_bytes(p, &v2[..v2.len() - 8]).is_err());
    // An unreduced residue.
    let big = threshold_secret_bytes(1, 0);
    let mut bad = big.clone();
    let n = bad.len();
    bad[n - 8..].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(threshold_secret_from_bytes(p, &bad).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Stored threshold secrets with edited header bytes or garbage: an error or a secret,
    /// never a panic.
    #[test]
    fn threshold_secret_decoder_never_panics(
        edits in proptest::collection::vec((0usize..24, any::<u8>()), 1..4),
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        use dtfhe_crypto::threshold::wire::threshold_secret_from_bytes;
        let p = params();
        let mut bytes = threshold_secret_bytes(1, 2);
        for (at, v) in edits {
            bytes[at] = v;
        }
        let _ = threshold_secret_from_bytes(p, &bytes);
        prop_assert!(threshold_secret_from_bytes(p, &garbage).is_err());
    }
}
