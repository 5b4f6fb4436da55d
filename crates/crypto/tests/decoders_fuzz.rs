//! Every decoder of outside bytes in the crypto layer returns an error on garbage and never
//! panics: the envelope, ciphertexts, keys, key shares, decryption shares, parameter blobs.

use dtfhe_crypto::release::Coeff0Share;
use dtfhe_crypto::{codec, ParamSpec, Preset};
use proptest::prelude::*;
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

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
