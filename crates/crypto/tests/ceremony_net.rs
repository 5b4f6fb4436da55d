//! The networked ceremony (trustee and server sides exchanging bytes) gives exactly the keys
//! of fhe.rs' in-process multiparty BFV for the same shares, CRPs and randomness; every
//! message round-trips; damaged, misplaced or repeated messages are refused by name.

use dtfhe_crypto::accumulate::{LinearSum, Multiplier};
use dtfhe_crypto::ceremony::net::{
    aggregate_public_key, aggregate_relin_key, aggregate_round1, pk_share, CeremonySeed,
    PkShareMsg, RelinParty, Rlk1Aggregate, Rlk1Msg, Rlk2Msg, CHECKSUM_LEN,
};
use dtfhe_crypto::codec::{self, Kind};
use dtfhe_crypto::column::encrypt;
use dtfhe_crypto::release::{centred, combine, trustee_share, Coeff0Share};
use dtfhe_crypto::{ceremony, CryptoError, Params, Preset};
use fhe::bfv::{PublicKey, RelinearizationKey, SecretKey};
use fhe::mbfv::round::R1Aggregated;
use fhe::mbfv::{AggregateIter, PublicKeyShare, RelinKeyGenerator, RelinKeyShare};
use fhe_math::rq::{Context, Poly, Representation};
use fhe_traits::Serialize;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::{Arc, OnceLock};

const TRUSTEES: usize = 3;

fn params() -> &'static Params {
    static P: OnceLock<Params> = OnceLock::new();
    P.get_or_init(|| Preset::Bfv8192.params().expect("preset"))
}

/// Per-trustee randomness, the same for the networked and the in-process runs.
fn party_rng(party: usize, purpose: u64) -> StdRng {
    StdRng::seed_from_u64(1000 * purpose + party as u64)
}

/// Everything one networked ceremony produced, as bytes on the wire and as keys.
struct NetRun {
    pk_msgs: Vec<Vec<u8>>,
    r1_msgs: Vec<Vec<u8>>,
    aggregate: Vec<u8>,
    r2_msgs: Vec<Vec<u8>>,
    public: PublicKey,
    relin: RelinearizationKey,
}

/// The ceremony as separate processes would run it: every message crosses as bytes.
fn networked(params: &Params, seed: &CeremonySeed, shares: &[SecretKey]) -> NetRun {
    // Trustees: public-key shares.
    let pk_msgs: Vec<Vec<u8>> = shares
        .iter()
        .enumerate()
        .map(|(i, sk)| {
            pk_share(params, sk, seed, &mut party_rng(i, 1))
                .expect("pk share")
                .to_bytes()
        })
        .collect();
    // Server.
    let received: Vec<PkShareMsg> = pk_msgs
        .iter()
        .map(|b| PkShareMsg::from_bytes(params, b).expect("decode pk share"))
        .collect();
    let public = aggregate_public_key(params, seed, &received).expect("aggregate pk");

    // Trustees: round 1 (each keeps its party between rounds).
    let mut rngs: Vec<StdRng> = (0..shares.len()).map(|i| party_rng(i, 2)).collect();
    let mut parties: Vec<RelinParty> = shares
        .iter()
        .zip(&mut rngs)
        .map(|(sk, rng)| RelinParty::new(params, sk, seed, rng).expect("relin party"))
        .collect();
    let r1_msgs: Vec<Vec<u8>> = parties
        .iter_mut()
        .zip(&mut rngs)
        .map(|(p, rng)| p.round1(rng).expect("round 1").to_bytes())
        .collect();
    // Server: aggregate round 1, keep it, send it to everyone.
    let received: Vec<Rlk1Msg> = r1_msgs
        .iter()
        .map(|b| Rlk1Msg::from_bytes(params, b).expect("decode round 1"))
        .collect();
    let aggregate = aggregate_round1(params, seed, &received)
        .expect("aggregate round 1")
        .to_bytes();
    // Trustees: round 2 from the aggregate they received.
    let r2_msgs: Vec<Vec<u8>> = parties
        .iter_mut()
        .zip(&mut rngs)
        .map(|(p, rng)| {
            let agg = Rlk1Aggregate::from_bytes(params, &aggregate).expect("decode aggregate");
            p.round2(&agg, rng).expect("round 2").to_bytes()
        })
        .collect();
    // Server: the relinearisation key from its stored aggregate.
    let kept = Rlk1Aggregate::from_bytes(params, &aggregate).expect("decode stored aggregate");
    let received: Vec<Rlk2Msg> = r2_msgs
        .iter()
        .map(|b| Rlk2Msg::from_bytes(params, b).expect("decode round 2"))
        .collect();
    let relin = aggregate_relin_key(params, seed, &kept, &received).expect("aggregate rlk");
    NetRun {
        pk_msgs,
        r1_msgs,
        aggregate,
        r2_msgs,
        public,
        relin,
    }
}

/// fhe.rs' own multiparty BFV in one process, with the seed's CRPs and the same randomness.
fn in_process(
    params: &Params,
    seed: &CeremonySeed,
    shares: &[SecretKey],
) -> (PublicKey, RelinearizationKey) {
    let crp = seed.public_key_crp(params).expect("crp");
    let public: PublicKey = shares
        .iter()
        .enumerate()
        .map(|(i, sk)| PublicKeyShare::new(sk, crp.clone(), &mut party_rng(i, 1)))
        .aggregate()
        .expect("fhe pk");
    let crps = seed.relin_crps(params).expect("crps");
    let mut rngs: Vec<StdRng> = (0..shares.len()).map(|i| party_rng(i, 2)).collect();
    let generators: Vec<RelinKeyGenerator> = shares
        .iter()
        .zip(&mut rngs)
        .map(|(sk, rng)| RelinKeyGenerator::new(sk, &crps, rng).expect("generator"))
        .collect();
    let round1: RelinKeyShare<R1Aggregated> = generators
        .iter()
        .zip(&mut rngs)
        .map(|(g, rng)| g.round_1(rng))
        .aggregate()
        .expect("fhe round 1");
    let round1 = Arc::new(round1);
    let relin: RelinearizationKey = generators
        .iter()
        .zip(&mut rngs)
        .map(|(g, rng)| g.round_2(&round1, rng))
        .aggregate()
        .expect("fhe rlk");
    (public, relin)
}

fn secret_shares(params: &Params, seed: u64) -> Vec<SecretKey> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..TRUSTEES)
        .map(|_| ceremony::new_share(params, &mut rng))
        .collect()
}

/// A whole run, shared by the tests that only need its messages.
fn fixture() -> &'static (Vec<SecretKey>, CeremonySeed, NetRun) {
    static F: OnceLock<(Vec<SecretKey>, CeremonySeed, NetRun)> = OnceLock::new();
    F.get_or_init(|| {
        let p = params();
        let shares = secret_shares(p, 11);
        let seed = CeremonySeed::random(&mut StdRng::seed_from_u64(12));
        let run = networked(p, &seed, &shares);
        (shares, seed, run)
    })
}

#[test]
fn networked_keys_equal_in_process_keys_and_work() {
    let p = params();
    let shares = secret_shares(p, 5);
    let seed = CeremonySeed::random(&mut StdRng::seed_from_u64(6));
    let net = networked(p, &seed, &shares);
    let (public, relin) = in_process(p, &seed, &shares);

    // The relinearisation key serializes to the very same bytes.
    assert_eq!(
        codec::encode_relin_key(p, &net.relin),
        codec::encode_relin_key(p, &relin),
        "relinearization key"
    );
    // The public key too, once fhe.rs' in-memory variable-time flag (which its serialization
    // records, and which its own decoder clears) is normalised as it is in every stored key.
    let stored = |pk: &PublicKey| {
        let bytes = codec::encode_public_key(p, pk);
        codec::encode_public_key(p, &codec::decode_public_key(p, &bytes).expect("decode"))
    };
    assert_eq!(
        codec::encode_public_key(p, &net.public),
        stored(&public),
        "public key"
    );
    assert_eq!(
        stored(&net.public),
        codec::encode_public_key(p, &net.public)
    );

    // Encrypt, multiply with relinearisation, release coefficient 0 with the three shares.
    let mut rng = StdRng::seed_from_u64(7);
    let n = 3000;
    let xs: Vec<i64> = (0..n).map(|_| rng.random_range(-5000..=5000)).collect();
    let ys: Vec<i64> = (0..n).map(|_| rng.random_range(-3000..=3000)).collect();
    let cx = encrypt(p, &net.public, &xs, 0, &mut rng).expect("encrypt x");
    let cy = encrypt(p, &net.public, &ys, 0, &mut rng).expect("encrypt y");
    let mul = Multiplier::new(p, net.relin.clone()).expect("multiplier");
    let mut sum = mul.product_sum();
    sum.add(
        &mul.extend(&cx).expect("extend"),
        &mul.extend(&cy).expect("extend"),
    );
    let product = mul.finish(&sum).expect("relinearised product");
    assert_eq!(product.len(), 2, "relinearised");
    let mut linear = LinearSum::default();
    linear.add(&cx).expect("add");
    let total = linear.finish().expect("sum");

    let mut release = |ct: &fhe::bfv::Ciphertext| {
        let parts: Vec<Coeff0Share> = shares
            .iter()
            .map(|sk| trustee_share(p, sk, ct, TRUSTEES, &mut rng).expect("share"))
            .collect();
        centred(p, combine(p, ct, &parts).expect("combine"))
    };
    let want_xy: i128 = xs
        .iter()
        .zip(&ys)
        .map(|(&x, &y)| x as i128 * y as i128)
        .sum();
    let want_x: i128 = xs.iter().map(|&x| x as i128).sum();
    assert_eq!(release(&product), want_xy, "Σ x·y");
    assert_eq!(release(&total), want_x, "Σ x");
}

#[test]
fn every_message_round_trips() {
    let p = params();
    let (_, seed, run) = fixture();
    let id = seed.id();
    for b in &run.pk_msgs {
        let m = PkShareMsg::from_bytes(p, b).expect("decode");
        assert_eq!(m.ceremony_id(), id);
        assert_eq!(&m.to_bytes(), b, "pk share re-encodes identically");
        assert_eq!(PkShareMsg::from_bytes(p, &m.to_bytes()).expect("again"), m);
    }
    for b in &run.r1_msgs {
        let m = Rlk1Msg::from_bytes(p, b).expect("decode");
        assert_eq!(m.ceremony_id(), id);
        assert_eq!(&m.to_bytes(), b, "round 1 re-encodes identically");
        assert_eq!(Rlk1Msg::from_bytes(p, &m.to_bytes()).expect("again"), m);
    }
    let agg = Rlk1Aggregate::from_bytes(p, &run.aggregate).expect("decode");
    assert_eq!(agg.parties(), TRUSTEES as u32);
    assert_eq!(
        agg.to_bytes(),
        run.aggregate,
        "aggregate re-encodes identically"
    );
    assert_eq!(
        Rlk1Aggregate::from_bytes(p, &agg.to_bytes()).expect("again"),
        agg
    );
    for b in &run.r2_msgs {
        let m = Rlk2Msg::from_bytes(p, b).expect("decode");
        assert_eq!(m.round1_digest(), agg.digest());
        assert_eq!(&m.to_bytes(), b, "round 2 re-encodes identically");
        assert_eq!(Rlk2Msg::from_bytes(p, &m.to_bytes()).expect("again"), m);
    }
    let seed2 = CeremonySeed::from_hex(&seed.to_hex()).expect("hex");
    assert_eq!(&seed2, seed);
    assert!(CeremonySeed::from_hex("00").is_err());
    assert!(!format!(
        "{:?}",
        RelinParty::new(p, &fixture().0[0], seed, &mut party_rng(0, 9)).expect("party")
    )
    .contains("coeff"));
}

/// Every decoder, by message kind.
fn decode(kind: Kind, p: &Params, b: &[u8]) -> Result<(), CryptoError> {
    match kind {
        Kind::CeremonyPkShare => PkShareMsg::from_bytes(p, b).map(|_| ()),
        Kind::CeremonyRlkRound1 => Rlk1Msg::from_bytes(p, b).map(|_| ()),
        Kind::CeremonyRlkRound1Aggregate => Rlk1Aggregate::from_bytes(p, b).map(|_| ()),
        Kind::CeremonyRlkRound2 => Rlk2Msg::from_bytes(p, b).map(|_| ()),
        _ => unreachable!(),
    }
}

fn refused(kind: Kind, p: &Params, b: &[u8], needle: &str, case: &str) {
    let err = decode(kind, p, b).expect_err(case).to_string();
    assert!(err.contains(needle), "{case}: {err:?} lacks {needle:?}");
    assert!(
        err.contains(kind.name()),
        "{case}: {err:?} does not name the message"
    );
}

/// The envelope header: magic 4, version 1, kind 1, fingerprint 8, length 4.
const HEADER: usize = 18;

/// Re-seal a payload body (without checksum) with a valid checksum, as a careful attacker or
/// a buggy peer would: the structural checks behind the checksum must still hold.
fn reseal(kind: Kind, p: &Params, body: &[u8]) -> Vec<u8> {
    let mut payload = body.to_vec();
    payload.extend_from_slice(&[0u8; CHECKSUM_LEN]);
    let mut out = codec::seal(kind, p, &payload);
    let n = out.len() - CHECKSUM_LEN;
    let mut h = blake3::Hasher::new_derive_key(dtfhe_crypto::ceremony::net::CHECKSUM_CONTEXT);
    h.update(&out[..n]);
    out[n..].copy_from_slice(h.finalize().as_bytes());
    out
}

fn body(b: &[u8]) -> &[u8] {
    &b[HEADER..b.len() - CHECKSUM_LEN]
}

#[test]
fn damaged_messages_are_refused_by_name() {
    let p = params();
    let (_, _, run) = fixture();
    let cases = [
        (Kind::CeremonyPkShare, &run.pk_msgs[0]),
        (Kind::CeremonyRlkRound1, &run.r1_msgs[1]),
        (Kind::CeremonyRlkRound1Aggregate, &run.aggregate),
        (Kind::CeremonyRlkRound2, &run.r2_msgs[2]),
    ];
    for (kind, good) in cases {
        decode(kind, p, good).expect("the original decodes");
        let len = good.len();
        // One flipped byte in each region: envelope fields, ceremony id, the polynomial
        // length prefix, the Rq header, the start / middle / end of the coefficients, and the
        // checksum itself.
        let regions: Vec<(usize, &str)> = vec![
            (0, "magic"),
            (4, "format version"),
            (5, "envelope holds"),
            (6, "other parameters"),
            (13, "other parameters"),
            (14, "payload bytes"),
            (17, "payload"),
            (HEADER, "checksum"),
            (HEADER + 15, "checksum"),
            (HEADER + 17, "checksum"),
            (HEADER + 30, "checksum"),
            (HEADER + 60, "checksum"),
            (len / 2, "checksum"),
            (len - CHECKSUM_LEN - 1, "checksum"),
            (len - CHECKSUM_LEN, "checksum"),
            (len - 1, "checksum"),
        ];
        for (at, needle) in regions {
            let mut b = good.clone();
            b[at] ^= 0x10;
            refused(kind, p, &b, needle, &format!("{kind:?} byte {at} flipped"));
        }
        refused(
            kind,
            p,
            &good[..len - 1],
            "payload bytes",
            "truncated by one",
        );
        refused(
            kind,
            p,
            &good[..len / 2],
            "payload bytes",
            "truncated by half",
        );
        refused(kind, p, &good[..10], "shorter than", "truncated header");
        let mut extended = good.clone();
        extended.push(0);
        refused(kind, p, &extended, "payload bytes", "extended");
        let mut version = good.clone();
        version[4] = 2;
        refused(kind, p, &version, "format version 2", "wrong version");
        // The same bytes presented as another message kind.
        for other in Kind::ALL {
            if other != kind && (5..=8).contains(&(other as u8)) {
                let err = decode(other, p, good).expect_err("wrong kind").to_string();
                assert!(
                    err.contains(kind.name()) && err.contains("envelope holds"),
                    "{err}"
                );
            }
        }
        // Another parameter set.
        let big = Preset::Bfv16384.params().expect("preset");
        refused(kind, &big, good, "other parameters", "wrong fingerprint");
        // Structural damage behind a valid checksum: trailing bytes, a lost byte.
        let mut trailing = body(good).to_vec();
        trailing.push(7);
        refused(
            kind,
            p,
            &reseal(kind, p, &trailing),
            "trailing bytes",
            "trailing",
        );
        let short = &body(good)[..body(good).len() - 1];
        refused(kind, p, &reseal(kind, p, short), "truncated", "short body");
        refused(kind, p, &reseal(kind, p, &[]), "ceremony id", "empty body");
    }
}

/// A body with one polynomial replaced, for the polynomial-level checks.
fn pk_body_with(poly_bytes: &[u8]) -> Vec<u8> {
    let (_, seed, _) = fixture();
    let mut out = seed.id().0.to_vec();
    out.extend_from_slice(&(poly_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(poly_bytes);
    out
}

#[test]
fn malformed_polynomials_are_refused_by_field() {
    let p = params();
    let kind = Kind::CeremonyPkShare;
    let moduli = &p.spec.moduli;
    let n = p.slots();
    let mut rng = StdRng::seed_from_u64(8);
    let ctx = Context::new_arc(moduli, n).expect("ctx");
    let good = Poly::random(&ctx, Representation::Ntt, &mut rng).to_bytes();
    decode(kind, p, &reseal(kind, p, &pk_body_with(&good))).expect("a valid polynomial");

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            Poly::random(&ctx, Representation::PowerBasis, &mut rng).to_bytes(),
            "p0: representation POWERBASIS, expected NTT",
        ),
        (
            Poly::random(&ctx, Representation::NttShoup, &mut rng).to_bytes(),
            "p0: representation NTTSHOUP, expected NTT",
        ),
        (
            Poly::random(
                &Context::new_arc(moduli, n / 2).expect("ctx"),
                Representation::Ntt,
                &mut rng,
            )
            .to_bytes(),
            "p0: degree 4096, expected 8192",
        ),
        (
            Poly::random(
                &Context::new_arc(&moduli[..3], n).expect("ctx"),
                Representation::Ntt,
                &mut rng,
            )
            .to_bytes(),
            "(3 moduli), expected",
        ),
        (
            {
                // The coefficients are the last field: make the first one all ones (≥ q0).
                let mut b = good.clone();
                let at = b.len() - 4 * 54 * n / 8;
                b[at..at + 8].fill(0xff);
                b
            },
            "p0: coefficient 0 of RNS component 0 is not reduced modulo q0",
        ),
        (
            {
                let mut b = good.clone();
                b.extend_from_slice(&[0x20, 0x01]); // allow_variable_time = true
                b
            },
            "p0: variable-time flag set",
        ),
        (
            {
                let mut b = good.clone();
                b.extend_from_slice(&[0x28, 0x00]); // an unknown field 5
                b
            },
            "p0: non-canonical",
        ),
        (vec![0xff; 40], "p0: not an Rq protobuf"),
        (Vec::new(), "p0: representation UNKNOWN, expected NTT"),
    ];
    for (poly, needle) in cases {
        refused(
            kind,
            p,
            &reseal(kind, p, &pk_body_with(&poly)),
            needle,
            needle,
        );
    }
    // A length prefix that runs past the end.
    let mut b = pk_body_with(&good);
    b[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    refused(
        kind,
        p,
        &reseal(kind, p, &b),
        "p0: truncated",
        "long prefix",
    );

    // Wrong number of polynomials in a round-1 share.
    let (_, _, run) = fixture();
    let mut r1 = body(&run.r1_msgs[0]).to_vec();
    r1[16] = 3;
    let k = Kind::CeremonyRlkRound1;
    refused(
        k,
        p,
        &reseal(k, p, &r1),
        "3 polynomials per half, expected 4",
        "count",
    );
}

fn msg<T: std::fmt::Debug>(r: Result<T, CryptoError>) -> String {
    r.expect_err("refused").to_string()
}

#[test]
fn misplaced_and_repeated_shares_are_refused() {
    let p = params();
    let (shares, seed, run) = fixture();
    let pk: Vec<PkShareMsg> = run
        .pk_msgs
        .iter()
        .map(|b| PkShareMsg::from_bytes(p, b).expect("decode"))
        .collect();
    let r1: Vec<Rlk1Msg> = run
        .r1_msgs
        .iter()
        .map(|b| Rlk1Msg::from_bytes(p, b).expect("decode"))
        .collect();
    let agg = Rlk1Aggregate::from_bytes(p, &run.aggregate).expect("decode");
    let r2: Vec<Rlk2Msg> = run
        .r2_msgs
        .iter()
        .map(|b| Rlk2Msg::from_bytes(p, b).expect("decode"))
        .collect();

    // A share of another ceremony.
    let other = CeremonySeed::random(&mut StdRng::seed_from_u64(99));
    let stray = pk_share(p, &shares[0], &other, &mut party_rng(0, 1)).expect("share");
    let mut mixed = pk.clone();
    mixed[1] = stray;
    let e = msg(aggregate_public_key(p, seed, &mixed));
    assert!(e.contains("share 1 belongs to ceremony"), "{e}");
    assert!(msg(aggregate_round1(p, &other, &r1)).contains("share 0 belongs to ceremony"));
    assert!(msg(aggregate_relin_key(p, &other, &agg, &r2)).contains("belongs to ceremony"));

    // The same share twice.
    let twice = vec![pk[0].clone(), pk[1].clone(), pk[0].clone()];
    let e = msg(aggregate_public_key(p, seed, &twice));
    assert!(
        e.contains("identical to share 0") && e.contains("submitted twice"),
        "{e}"
    );
    let twice = vec![r1[2].clone(), r1[2].clone()];
    assert!(msg(aggregate_round1(p, seed, &twice)).contains("submitted twice"));

    // Nothing to aggregate; a trustee missing in round 2.
    assert!(msg(aggregate_public_key(p, seed, &[])).contains("no ceremony public-key share"));
    let e = msg(aggregate_relin_key(p, seed, &agg, &r2[..2]));
    assert!(e.contains("2 round-2 shares for 3 round-1 shares"), "{e}");

    // A round-2 share computed from another aggregate.
    let other_agg = aggregate_round1(p, seed, &r1[..2]).expect("aggregate");
    let mut party = RelinParty::new(p, &shares[2], seed, &mut party_rng(2, 7)).expect("party");
    party.round1(&mut party_rng(2, 8)).expect("round 1");
    let mut wrong = r2.clone();
    wrong[2] = party
        .round2(&other_agg, &mut party_rng(2, 9))
        .expect("round 2");
    let e = msg(aggregate_relin_key(p, seed, &agg, &wrong));
    assert!(
        e.contains("share 2 was computed from another round-1 aggregate"),
        "{e}"
    );

    // Rounds out of order, or repeated.
    let mut party = RelinParty::new(p, &shares[0], seed, &mut party_rng(0, 7)).expect("party");
    assert!(msg(party.round2(&agg, &mut party_rng(0, 8))).contains("before"));
    party.round1(&mut party_rng(0, 8)).expect("round 1");
    assert!(msg(party.round1(&mut party_rng(0, 8))).contains("already produced"));
    let foreign = aggregate_round1(
        p,
        &other,
        &[{
            let mut q = RelinParty::new(p, &shares[0], &other, &mut party_rng(0, 1)).expect("p");
            q.round1(&mut party_rng(0, 1)).expect("r1")
        }],
    )
    .expect("aggregate");
    assert!(msg(party.round2(&foreign, &mut party_rng(0, 8))).contains("belongs to ceremony"));
    party.round2(&agg, &mut party_rng(0, 8)).expect("round 2");
    assert!(msg(party.round2(&agg, &mut party_rng(0, 8))).contains("already produced"));
}

/// Message sizes at the default preset (printed with `--nocapture`), and a full networked
/// ceremony there that still matches fhe.rs in process.
#[test]
fn bfv16384_message_sizes() {
    let p = Preset::Bfv16384.params().expect("preset");
    let shares = secret_shares(&p, 21);
    let seed = CeremonySeed::random(&mut StdRng::seed_from_u64(22));
    let run = networked(&p, &seed, &shares);
    let (public, relin) = in_process(&p, &seed, &shares);
    assert_eq!(
        codec::encode_relin_key(&p, &run.relin),
        codec::encode_relin_key(&p, &relin)
    );
    let pk_stored =
        codec::decode_public_key(&p, &codec::encode_public_key(&p, &public)).expect("decode");
    assert_eq!(
        codec::encode_public_key(&p, &run.public),
        codec::encode_public_key(&p, &pk_stored)
    );
    // One polynomial: 5 moduli × 16384 coefficients × 60 bits.
    let poly = 5 * 16384 * 60 / 8;
    let sizes = [
        ("pk share", run.pk_msgs[0].len(), 1),
        ("rlk round 1", run.r1_msgs[0].len(), 10),
        ("rlk round-1 aggregate", run.aggregate.len(), 10),
        ("rlk round 2", run.r2_msgs[0].len(), 5),
        (
            "collective public key",
            codec::encode_public_key(&p, &run.public).len(),
            2,
        ),
        (
            "collective relin key",
            codec::encode_relin_key(&p, &run.relin).len(),
            10,
        ),
    ];
    for (name, bytes, polys) in sizes {
        println!(
            "bfv-16384 {name}: {bytes} bytes ({polys} × {poly}-byte polynomials + {} bytes)",
            bytes - polys * poly
        );
        assert!(
            bytes >= polys * poly && bytes < polys * poly + 256,
            "{name}: {bytes}"
        );
    }
}
