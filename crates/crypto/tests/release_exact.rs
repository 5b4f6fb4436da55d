//! Every homomorphic sum, released through the coefficient-0 protocol by 3 trustees, equals
//! the plaintext computation; fewer shares reveal nothing useful.

mod common;

use dtfhe_crypto::accumulate::{apply_mask, LinearSum, Multiplier, Tensor};
use dtfhe_crypto::column::{encrypt, mask_plaintext};
use dtfhe_crypto::release::{centred, combine, trustee_share, Coeff0Share};
use dtfhe_crypto::{ceremony, codec, Preset};
use fhe::bfv::{Ciphertext, SecretKey};
use rand::{rngs::StdRng, Rng};

struct Fixture {
    params: dtfhe_crypto::Params,
    shares: Vec<SecretKey>,
    keys: ceremony::CollectiveKeys,
    rng: StdRng,
}

fn fixture(preset: Preset, seed: u64) -> Fixture {
    let (params, mut rng, shares) = common::trustee_shares(preset, seed, 3);
    let keys = ceremony::run(&params, &shares, &mut rng).expect("ceremony");
    Fixture {
        params,
        shares,
        keys,
        rng,
    }
}

fn release(f: &mut Fixture, ct: &Ciphertext, parties: usize) -> i128 {
    let shares: Vec<Coeff0Share> = f.shares[..parties]
        .iter()
        .map(|sk| trustee_share(&f.params, sk, ct, 3, &mut f.rng).expect("share"))
        .collect();
    centred(&f.params, combine(&f.params, ct, &shares).expect("combine"))
}

fn random_column(rng: &mut StdRng, len: usize, bound: i64) -> Vec<i64> {
    (0..len).map(|_| rng.random_range(-bound..=bound)).collect()
}

fn check_all_sums(preset: Preset, masked_products: bool) {
    let mut f = fixture(preset, 7);
    let n = f.params.slots();
    let chunks = 3;
    let lens = [n, n, n / 3 + 5];
    let xs: Vec<Vec<i64>> = lens
        .iter()
        .map(|&l| random_column(&mut f.rng, l, 5000))
        .collect();
    let ys: Vec<Vec<i64>> = lens
        .iter()
        .map(|&l| random_column(&mut f.rng, l, 3000))
        .collect();
    let masks: Vec<Vec<bool>> = lens
        .iter()
        .map(|&l| (0..l).map(|_| f.rng.random_bool(0.4)).collect())
        .collect();
    let enc = |f: &mut Fixture, v: &[i64], level: usize| {
        encrypt(&f.params, &f.keys.public, v, level, &mut f.rng).expect("encrypt")
    };
    let cx: Vec<Ciphertext> = xs.iter().map(|v| enc(&mut f, v, 0)).collect();
    let cy: Vec<Ciphertext> = ys.iter().map(|v| enc(&mut f, v, 0)).collect();
    let low = f.params.spec.moduli.len() - 2;
    let cx_low: Vec<Ciphertext> = xs.iter().map(|v| enc(&mut f, v, low)).collect();

    let mul = Multiplier::new(&f.params, f.keys.relin.clone()).expect("multiplier");
    let (mut sx, mut sx_low, mut sx_masked) = (
        LinearSum::default(),
        LinearSum::default(),
        LinearSum::default(),
    );
    let (mut sxy, mut sxx, mut sxy_masked) =
        (mul.product_sum(), mul.product_sum(), mul.product_sum());
    let (mut want_x, mut want_xy, mut want_xx, mut want_mx, mut want_mxy) =
        (0i128, 0i128, 0i128, 0i128, 0i128);
    for c in 0..chunks {
        sx.add(&cx[c]).expect("add");
        sx_low.add(&cx_low[c]).expect("add");
        let m = mask_plaintext(&f.params, &masks[c], 0).expect("mask");
        let mx = apply_mask(&cx[c], &m);
        sx_masked.add(&mx).expect("add");
        let (ex, ey) = (
            mul.extend(&cx[c]).expect("ext"),
            mul.extend(&cy[c]).expect("ext"),
        );
        sxy.add(&ex, &ey);
        sxx.add(&ex, &ex);
        if masked_products {
            // As the engine computes a group's product: the tensor once, then the mask.
            let mask = mul.extend_mask(&m).expect("mask");
            sxy_masked.add_masked(&Tensor::of(&ex, &ey), &mask);
        }
        for i in 0..lens[c] {
            let (x, y) = (xs[c][i] as i128, ys[c][i] as i128);
            want_x += x;
            want_xy += x * y;
            want_xx += x * x;
            if masks[c][i] {
                want_mx += x;
                want_mxy += x * y;
            }
        }
    }
    let sx = sx.finish().expect("sum");
    assert_eq!(release(&mut f, &sx, 3), want_x, "Σx");
    assert_eq!(
        release(&mut f, &sx_low.finish().expect("sum"), 3),
        want_x,
        "Σx stored switched down"
    );
    assert_eq!(
        release(&mut f, &sx_masked.finish().expect("sum"), 3),
        want_mx,
        "masked Σx"
    );
    assert_eq!(
        release(&mut f, &mul.finish(&sxy).expect("finish"), 3),
        want_xy,
        "Σxy"
    );
    assert_eq!(
        release(&mut f, &mul.finish(&sxx).expect("finish"), 3),
        want_xx,
        "Σx²"
    );
    if masked_products {
        assert_eq!(
            release(&mut f, &mul.finish(&sxy_masked).expect("finish"), 3),
            want_mxy,
            "masked Σxy"
        );
    }
    // n−1 shares: the "result" is unrelated to the truth.
    for p in [release(&mut f, &sx, 2), release(&mut f, &sx, 1)] {
        assert_ne!(p, want_x, "fewer than all shares revealed the total");
        assert!(
            p.unsigned_abs() > 1 << 30,
            "a partial release should look like a random element of Z_t"
        );
    }
}

#[test]
fn default_preset_every_sum_is_exact() {
    check_all_sums(Preset::Bfv16384, true);
}

#[test]
fn small_preset_unmasked_sums_are_exact() {
    check_all_sums(Preset::Bfv8192, false);
}

#[test]
fn what_the_analyst_receives_decodes_to_no_row() {
    // With the library's plain multiparty decryption, the combined shares are the whole
    // plaintext polynomial, which decodes to every row: the threat. With the coefficient-0
    // release the analyst receives c0[0] and one residue per modulus per trustee — a few
    // hundred bits, not N rows — and the one derivable value matches no input row.
    use fhe::bfv::{Encoding, Plaintext};
    use fhe::mbfv::{AggregateIter, DecryptionShare};
    use fhe_traits::FheDecoder;
    use std::sync::Arc;
    let mut f = fixture(Preset::Bfv8192, 11);
    let n = f.params.slots();
    let rows: Vec<i64> = (0..n as i64).map(|i| 1000 + (i % 97)).collect();
    let ct = encrypt(&f.params, &f.keys.public, &rows, 0, &mut f.rng).expect("encrypt");

    let act = Arc::new(ct.clone());
    let full: Plaintext = f
        .shares
        .iter()
        .map(|sk| DecryptionShare::new(sk, &act, &mut f.rng).expect("share"))
        .aggregate()
        .expect("aggregate");
    let leaked = Vec::<u64>::try_decode(&full, Encoding::simd()).expect("decode");
    assert_eq!(
        leaked[..5],
        [1000, 1001, 1002, 1003, 1004],
        "full decryption exposes rows (the threat)"
    );

    let shares: Vec<Coeff0Share> = f
        .shares
        .iter()
        .map(|sk| trustee_share(&f.params, sk, &ct, 3, &mut f.rng).expect("share"))
        .collect();
    let received: usize =
        shares.iter().map(|s| s.to_bytes().len()).sum::<usize>() + 8 * f.params.spec.moduli.len();
    assert!(
        received * 8 < n,
        "the analyst receives {received} bytes, less than one bit per row"
    );
    let total = centred(
        &f.params,
        combine(&f.params, &ct, &shares).expect("combine"),
    );
    assert_eq!(total, rows.iter().map(|&v| v as i128).sum::<i128>());
    assert!(
        !rows.iter().any(|&r| r as i128 == total),
        "the released total equals a row"
    );
}

/// Flipping the bits of `mask` in any one of the first `n` bytes of `bytes` is refused
/// (`refused` holds): every byte of the header (`what`) is checked.
fn assert_header_checked(
    bytes: &[u8],
    n: usize,
    mask: u8,
    what: &str,
    refused: impl Fn(&[u8]) -> bool,
) {
    for i in 0..n {
        let mut b = bytes.to_vec();
        b[i] ^= mask;
        assert!(refused(&b), "{what} byte {i}");
    }
}

#[test]
fn envelopes_round_trip_and_refuse_corruption() {
    let mut f = fixture(Preset::Bfv8192, 3);
    let ct = encrypt(&f.params, &f.keys.public, &[1, -2, 3], 0, &mut f.rng).expect("encrypt");
    let bytes = codec::encode_ciphertext(&f.params, &ct);
    assert_eq!(
        codec::decode_ciphertext(&f.params, &bytes).expect("decode"),
        ct
    );
    // Every header byte matters; truncation and trailing bytes are refused.
    assert_header_checked(&bytes, 18, 0x01, "header", |b| {
        codec::decode_ciphertext(&f.params, b).is_err()
    });
    assert!(codec::decode_ciphertext(&f.params, &bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(codec::decode_ciphertext(&f.params, &longer).is_err());
    // A ciphertext made under the other preset is refused up front.
    let other = Preset::Bfv16384.params().expect("preset");
    assert!(matches!(
        codec::decode_ciphertext(&other, &bytes),
        Err(dtfhe_crypto::CryptoError::Mismatch { .. })
    ));
    // Keys and shares round-trip.
    let pk = codec::encode_public_key(&f.params, &f.keys.public);
    let pk2 = codec::decode_public_key(&f.params, &pk).expect("pk");
    let ct2 = encrypt(&f.params, &pk2, &[40, 2], 0, &mut f.rng).expect("encrypt with decoded key");
    assert_eq!(
        release(&mut f, &ct2, 3),
        42,
        "decoded public key encrypts for the same trustees"
    );
    let sk = codec::encode_secret_share(&f.params, &f.shares[0]);
    assert_eq!(
        codec::decode_secret_share(&f.params, &sk).expect("sk"),
        f.shares[0]
    );
    assert!(
        codec::decode_public_key(&f.params, &sk).is_err(),
        "kind confusion"
    );
    let share = trustee_share(&f.params, &f.shares[0], &ct, 3, &mut f.rng).expect("share");
    let sb = share.to_bytes();
    assert_eq!(
        Coeff0Share::from_bytes(&f.params, &sb).expect("share"),
        share
    );
    assert_header_checked(&sb, 3, 0x40, "share header", |b| {
        Coeff0Share::from_bytes(&f.params, b).is_err()
    });
}

#[test]
fn noised_shares_move_the_total_by_exactly_the_noise() {
    use dtfhe_crypto::release::trustee_share_noised;
    let mut f = fixture(Preset::Bfv8192, 21);
    let rows: Vec<i64> = (0..500).map(|i| i - 200).collect();
    let ct = encrypt(&f.params, &f.keys.public, &rows, 0, &mut f.rng).expect("encrypt");
    let truth: i128 = rows.iter().map(|&v| v as i128).sum();
    for noises in [[0i128, 0, 0], [5, -3, 11], [-1_000_000, 7, 0]] {
        let shares: Vec<Coeff0Share> = f
            .shares
            .iter()
            .zip(noises)
            .map(|(sk, e)| {
                trustee_share_noised(&f.params, sk, &ct, 3, e, &mut f.rng).expect("share")
            })
            .collect();
        let got = centred(
            &f.params,
            combine(&f.params, &ct, &shares).expect("combine"),
        );
        assert_eq!(got, truth + noises.iter().sum::<i128>());
    }
}

#[test]
fn full_release_decodes_every_slot_and_needs_every_share() {
    use dtfhe_crypto::release::{combine_full, trustee_full_share};
    for preset in [Preset::Bfv8192, Preset::Bfv16384] {
        let mut f = fixture(preset, 31);
        let n = f.params.slots();
        let rows: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 20001 - 10000).collect();
        let ct = encrypt(&f.params, &f.keys.public, &rows, 0, &mut f.rng).expect("encrypt");
        let shares: Vec<_> = f
            .shares
            .iter()
            .map(|sk| trustee_full_share(&f.params, sk, &ct, 3, &mut f.rng).expect("share"))
            .collect();
        let slots = combine_full(&f.params, &ct, &shares).expect("combine");
        let got: Vec<i64> = slots
            .iter()
            .map(|&v| centred(&f.params, v) as i64)
            .collect();
        assert_eq!(got, rows, "{}", f.params.name);
        let partial = combine_full(&f.params, &ct, &shares[..2]).expect("combine");
        let hits = partial
            .iter()
            .zip(&rows)
            .filter(|(p, r)| centred(&f.params, **p) as i64 == **r)
            .count();
        assert!(hits < 5, "two of three shares decoded {hits} rows");
    }
}
