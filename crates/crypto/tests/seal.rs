//! Decryption shares sealed to the analyst (RFC 9180 HPKE, base mode, X25519 / HKDF-SHA256 /
//! ChaCha20-Poly1305): only the right key pair with the same info and aad opens a box, any
//! altered byte is refused, and hostile bytes never panic.

use dtfhe_crypto::seal::{
    open, seal, RecipientKeyPair, RecipientPublicKey, KEY_LEN, MAX_INFO_LEN, OVERHEAD, SEAL_VERSION,
};
use dtfhe_crypto::CryptoError;
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

const INFO: &[u8] = b"dtfhe release request 42";
const AAD: &[u8] = b"trustee plant-a";

fn keypair(seed: u64) -> RecipientKeyPair {
    RecipientKeyPair::generate(&mut StdRng::seed_from_u64(seed))
}

/// `plaintext` sealed to `kp` with [`INFO`] and [`AAD`], the ephemeral key drawn from `seed`.
fn sealed_to(kp: &RecipientKeyPair, plaintext: &[u8], seed: u64) -> Vec<u8> {
    seal(
        kp.public_key(),
        INFO,
        AAD,
        plaintext,
        &mut StdRng::seed_from_u64(seed),
    )
    .expect("seal")
}

fn unsealed(r: Result<Vec<u8>, CryptoError>) -> String {
    match r {
        Err(e @ CryptoError::Unseal(_)) => e.to_string(),
        other => panic!("expected an Unseal error, got {other:?}"),
    }
}

#[test]
fn round_trip() {
    let kp = keypair(1);
    let mut rng = StdRng::seed_from_u64(2);
    for len in [0usize, 1, 17, 4096, 100_000] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let b = seal(kp.public_key(), INFO, AAD, &pt, &mut rng).expect("seal");
        assert_eq!(b.len(), pt.len() + OVERHEAD);
        assert_eq!(b[0], SEAL_VERSION);
        assert_eq!(open(&kp, INFO, AAD, &b).expect("open"), pt, "{len} bytes");
    }
    // Two seals of the same plaintext differ (fresh ephemeral key each time).
    let a = seal(kp.public_key(), INFO, AAD, b"x", &mut rng).expect("seal");
    let b = seal(kp.public_key(), INFO, AAD, b"x", &mut rng).expect("seal");
    assert_ne!(a, b);
}

#[test]
fn wrong_recipient_info_or_aad_fails() {
    let kp = keypair(1);
    let other = keypair(2);
    let b = sealed_to(&kp, b"share", 3);
    let e = unsealed(open(&other, INFO, AAD, &b));
    assert!(e.contains("authentication failed"), "{e}");
    unsealed(open(&kp, b"dtfhe release request 43", AAD, &b));
    unsealed(open(&kp, INFO, b"trustee plant-b", &b));
    unsealed(open(&kp, b"", AAD, &b));
    unsealed(open(&kp, INFO, b"", &b));
    assert_eq!(open(&kp, INFO, AAD, &b).expect("still opens"), b"share");
}

#[test]
fn every_flipped_byte_fails() {
    let kp = keypair(4);
    let b = sealed_to(&kp, b"coefficient-0 share", 5);
    for i in 0..b.len() {
        for bit in [0x01u8, 0x80] {
            let mut c = b.clone();
            c[i] ^= bit;
            let e = unsealed(open(&kp, INFO, AAD, &c));
            if i == 0 {
                assert!(e.contains("format version"), "{e}");
            }
        }
    }
    unsealed(open(&kp, INFO, AAD, &b[..b.len() - 1]));
    let mut longer = b.clone();
    longer.push(0);
    unsealed(open(&kp, INFO, AAD, &longer));
    let e = unsealed(open(&kp, INFO, AAD, &b[..OVERHEAD - 1]));
    assert!(e.contains("shorter"), "{e}");
    let e = unsealed(open(&kp, &vec![0u8; MAX_INFO_LEN + 1], AAD, &b));
    assert!(e.contains("info"), "{e}");
}

#[test]
fn keys_encode_and_secrets_stay_hidden() {
    let kp = keypair(6);
    let pk = kp.public_key();
    assert_eq!(
        &RecipientPublicKey::from_bytes(&pk.to_bytes()).expect("bytes"),
        pk
    );
    assert_eq!(
        &RecipientPublicKey::from_hex(&pk.to_hex()).expect("hex"),
        pk
    );
    let b64 = pk.to_base64();
    assert_eq!(b64.len(), 43);
    assert_eq!(&RecipientPublicKey::from_base64(&b64).expect("base64"), pk);
    assert!(RecipientPublicKey::from_bytes(&[1u8; 31]).is_err());
    assert!(RecipientPublicKey::from_hex("zz").is_err());
    assert!(RecipientPublicKey::from_base64("not base64!").is_err());

    // The secret round-trips for an analyst whose query outlives its process.
    let secret = kp.secret_bytes();
    let again = RecipientKeyPair::from_secret_bytes(secret.as_ref()).expect("secret");
    assert_eq!(again.public_key(), pk);
    let b = seal(pk, INFO, AAD, b"later", &mut StdRng::seed_from_u64(7)).expect("seal");
    assert_eq!(open(&again, INFO, AAD, &b).expect("open"), b"later");
    assert!(RecipientKeyPair::from_secret_bytes(&[0u8; 16]).is_err());

    // Debug shows the public key only.
    let shown = format!("{kp:?}");
    assert!(shown.contains(&pk.to_hex()), "{shown}");
    assert!(!shown.contains(&hex::encode(secret.as_ref())), "{shown}");
}

#[test]
fn degenerate_recipient_and_oversized_info_are_refused() {
    let mut rng = StdRng::seed_from_u64(8);
    // The all-zero point has low order: the X25519 shared secret would be zero.
    let zero = RecipientPublicKey::from_bytes(&[0u8; KEY_LEN]).expect("parses");
    match seal(&zero, INFO, AAD, b"x", &mut rng) {
        Err(CryptoError::Seal(_)) => {}
        other => panic!("expected a Seal error, got {other:?}"),
    }
    let kp = keypair(9);
    assert!(matches!(
        seal(
            kp.public_key(),
            &vec![0u8; MAX_INFO_LEN + 1],
            AAD,
            b"x",
            &mut rng
        ),
        Err(CryptoError::Seal(_))
    ));
}

/// RFC 9180 appendix A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base
/// mode): the recipient's key and the first encryption of the test vector, behind our
/// version byte, open to the published plaintext.
#[test]
fn opens_the_rfc_9180_test_vector() {
    let hex = |s: &str| hex::decode(s).expect("hex");
    let kp = RecipientKeyPair::from_secret_bytes(&hex(
        "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    ))
    .expect("skRm");
    assert_eq!(
        kp.public_key().to_hex(),
        "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
        "pkRm"
    );
    let mut sealed = vec![SEAL_VERSION];
    sealed.extend(hex(
        "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    ));
    sealed.extend(hex(
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
    ));
    let info = hex("4f6465206f6e2061204772656369616e2055726e"); // "Ode on a Grecian Urn"
    let pt = open(&kp, &info, b"Count-0", &sealed).expect("open the RFC vector");
    assert_eq!(pt, b"Beauty is truth, truth beauty");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hostile_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        info in proptest::collection::vec(any::<u8>(), 0..40),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let kp = keypair(10);
        prop_assert!(open(&kp, &info, &aad, &bytes).is_err());
        let _ = RecipientPublicKey::from_bytes(&bytes);
        let _ = RecipientPublicKey::from_base64(&String::from_utf8_lossy(&bytes));
        let _ = RecipientPublicKey::from_hex(&String::from_utf8_lossy(&bytes));
        let _ = RecipientKeyPair::from_secret_bytes(&bytes);
    }

    #[test]
    fn altered_boxes_never_open(
        pt in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let kp = keypair(11);
        let mut b = seal(kp.public_key(), INFO, AAD, &pt, &mut StdRng::seed_from_u64(12)).expect("seal");
        let i = at.index(b.len());
        b[i] ^= flip;
        prop_assert!(open(&kp, INFO, AAD, &b).is_err());
    }
}
