//! t-of-n release against the plaintext: every set of t of n trustees decrypts exactly; any
//! t−1 trustees' whole material (own shares, dealt shares, threshold secrets) does not; shares
//! computed for two different sets do not combine; dealt shares are sealed and checked
//! against the dealer's commitment, so a substituted or altered share is refused.

mod common;

use dtfhe_crypto::ceremony::{self, net::CeremonySeed};
use dtfhe_crypto::column::encrypt;
use dtfhe_crypto::release::{centred, combine, trustee_share_threshold, Coeff0Share};
use dtfhe_crypto::seal::RecipientKeyPair;
use dtfhe_crypto::threshold::commit::{self, Commitment};
use dtfhe_crypto::threshold::wire::{open_share, seal_share, DealtShare, Expect};
use dtfhe_crypto::threshold::{reconstruct, Dealing, RnsSecret, ThresholdSecret};
use dtfhe_crypto::{CryptoError, Params, Preset};
use fhe::bfv::{Ciphertext, SecretKey};
use rand::{rngs::StdRng, Rng, SeedableRng};

const N: usize = 5;
const T: usize = 3;

struct Fixture {
    params: Params,
    shares: Vec<SecretKey>,
    public: fhe::bfv::PublicKey,
    seed: CeremonySeed,
    hpke: Vec<RecipientKeyPair>,
    commitments: Vec<Commitment>,
    /// sealed[dealer][recipient], 0-based.
    sealed: Vec<Vec<Vec<u8>>>,
    secrets: Vec<ThresholdSecret>,
    rng: StdRng,
}

fn expect(f: &Fixture, dealer: u32, recipient: u32) -> Expect<'_> {
    Expect {
        seed: &f.seed,
        dealer,
        recipient,
        threshold: T,
        trustees: N,
    }
}

/// Trustee 2 opens `sealed` as the share trustee 1 dealt it under `commitment`.
fn open_1_to_2(
    f: &Fixture,
    commitment: &Commitment,
    sealed: &[u8],
) -> Result<RnsSecret, CryptoError> {
    open_share(&f.params, &f.hpke[1], expect(f, 1, 2), commitment, sealed)
}

/// The whole dealing as the network runs it: each dealer commits and seals one share per
/// recipient; each recipient opens and checks all n, then aggregates.
fn fixture(preset: Preset, seed: u64) -> Fixture {
    let (params, mut rng, shares) = common::trustee_shares(preset, seed, N);
    let rec = ceremony::run_recorded(&params, &shares, &mut rng).expect("ceremony");
    let hpke: Vec<RecipientKeyPair> = (0..N)
        .map(|_| RecipientKeyPair::generate(&mut rng))
        .collect();
    let mut commitments = Vec::new();
    let mut sealed = Vec::new();
    for (i, sk) in shares.iter().enumerate() {
        let dealer = i as u32 + 1;
        let dealing = Dealing::new(&params, sk, T, N, &mut rng).expect("dealing");
        let c = Commitment::new(&params, &rec.seed.0, dealer, &dealing, &mut rng).expect("commit");
        let row = (1..=N as u32)
            .map(|j| {
                let msg = DealtShare {
                    ceremony: rec.seed.id().0,
                    dealer,
                    recipient: j,
                    threshold: T,
                    trustees: N,
                    share: dealing.share_for(&params, j).expect("share"),
                };
                seal_share(
                    &params,
                    hpke[j as usize - 1].public_key(),
                    &msg,
                    &c,
                    &mut rng,
                )
                .expect("seal")
            })
            .collect();
        commitments.push(c);
        sealed.push(row);
    }
    let mut f = Fixture {
        params,
        shares,
        public: rec.keys.public,
        seed: rec.seed,
        hpke,
        commitments,
        sealed,
        secrets: Vec::new(),
        rng,
    };
    for j in 1..=N as u32 {
        let dealt: Vec<RnsSecret> = (1..=N as u32)
            .map(|i| {
                open_share(
                    &f.params,
                    &f.hpke[j as usize - 1],
                    expect(&f, i, j),
                    &f.commitments[i as usize - 1],
                    &f.sealed[i as usize - 1][j as usize - 1],
                )
                .expect("open and check")
            })
            .collect();
        f.secrets
            .push(ThresholdSecret::aggregate(&f.params, j, T, N, &dealt).expect("aggregate"));
    }
    f
}

fn column(f: &mut Fixture) -> (Ciphertext, i128) {
    let values: Vec<i64> = (0..f.params.slots())
        .map(|_| f.rng.random_range(-40_000..=40_000))
        .collect();
    let ct = encrypt(&f.params, &f.public, &values, 0, &mut f.rng).expect("encrypt");
    (ct, values.iter().map(|&v| v as i128).sum())
}

/// The shares the trustees `members` give for `ct` as members of the release set `set`.
fn shares_of(f: &mut Fixture, members: &[u32], set: &[u32], ct: &Ciphertext) -> Vec<Coeff0Share> {
    members
        .iter()
        .map(|&j| {
            let secret = &f.secrets[j as usize - 1];
            trustee_share_threshold(&f.params, secret, set, ct, 0, &mut f.rng).expect("share")
        })
        .collect()
}

fn release_by(f: &mut Fixture, set: &[u32], ct: &Ciphertext) -> i128 {
    let shares = shares_of(f, set, set, ct);
    centred(&f.params, combine(&f.params, ct, &shares).expect("combine"))
}

fn subsets(n: u32, k: usize) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == k {
            out.push((1..=n).filter(|j| mask & (1 << (j - 1)) != 0).collect());
        }
    }
    out
}

fn collective(f: &Fixture) -> RnsSecret {
    // Σ s_i lifted: what F(0) must be.
    let lifted: Vec<RnsSecret> = f
        .shares
        .iter()
        .map(|sk| RnsSecret::from_secret_key(&f.params, sk).expect("lift"))
        .collect();
    let mut sum = lifted[0].residues().to_vec();
    for l in &lifted[1..] {
        let n = f.params.slots();
        for (m, &q) in f.params.spec.moduli.iter().enumerate() {
            for i in 0..n {
                let k = m * n + i;
                sum[k] = ((sum[k] as u128 + l.residues()[k] as u128) % q as u128) as u64;
            }
        }
    }
    RnsSecret::from_residues(&f.params, sum).expect("sum")
}

/// How many coefficients (modulo the first prime) a guessed key gets right.
fn right_coefficients(guess: &RnsSecret, truth: &RnsSecret) -> usize {
    guess
        .row(0)
        .iter()
        .zip(truth.row(0))
        .filter(|(a, b)| a == b)
        .count()
}

fn every_set_of_t_releases_exactly(preset: Preset) {
    let mut f = fixture(preset, 11);
    let (ct, want) = column(&mut f);
    let sets = subsets(N as u32, T);
    assert_eq!(sets.len(), 10);
    for set in &sets {
        assert_eq!(release_by(&mut f, set, &ct), want, "set {set:?}");
        let pairs: Vec<(u32, &RnsSecret)> = set
            .iter()
            .map(|&j| (j, f.secrets[j as usize - 1].secret()))
            .collect();
        assert!(
            reconstruct(&f.params, &pairs).expect("interpolate") == collective(&f),
            "t threshold secrets interpolate to the collective secret"
        );
    }
}

#[test]
fn every_set_of_3_of_5_releases_exactly_bfv8192() {
    every_set_of_t_releases_exactly(Preset::Bfv8192);
}

#[test]
fn every_set_of_3_of_5_releases_exactly_bfv16384() {
    every_set_of_t_releases_exactly(Preset::Bfv16384);
}

/// The attack: t−1 trustees pool everything they hold. Their threshold secrets interpolate
/// to a wrong key (almost every coefficient differs), and the release they can make with it
/// is unrelated to the truth.
#[test]
fn any_t_minus_1_trustees_learn_nothing() {
    let mut f = fixture(Preset::Bfv8192, 12);
    let (ct, want) = column(&mut f);
    let truth = collective(&f);
    let n = f.params.slots();
    for pair in subsets(N as u32, T - 1) {
        let pairs: Vec<(u32, &RnsSecret)> = pair
            .iter()
            .map(|&j| (j, f.secrets[j as usize - 1].secret()))
            .collect();
        let guess = reconstruct(&f.params, &pairs).expect("interpolate");
        let same = right_coefficients(&guess, &truth);
        assert!(
            same < n / 100,
            "{pair:?}: {same} of {n} key coefficients right"
        );
        // Decrypting coefficient 0 with that key: c0 + c1·guess, no flooding needed.
        let fake = ThresholdSecret::from_parts(1, 1, 1, guess).expect("as a 1-of-1 secret");
        let s = trustee_share_threshold(&f.params, &fake, &[1], &ct, 0, &mut f.rng).expect("share");
        let got = centred(&f.params, combine(&f.params, &ct, &[s]).expect("combine"));
        assert_ne!(got, want, "{pair:?} decrypted");
        assert!(
            got.unsigned_abs() > 1 << 30,
            "{pair:?}: looks like a random element of Z_t"
        );
        // And the shares the pair can produce as members of any full set do not combine.
        for set in subsets(N as u32, T)
            .into_iter()
            .filter(|s| pair.iter().all(|p| s.contains(p)))
        {
            let partial = shares_of(&mut f, &pair, &set, &ct);
            let got = centred(
                &f.params,
                combine(&f.params, &ct, &partial).expect("combine"),
            );
            assert_ne!(got, want, "{pair:?} alone released for {set:?}");
        }
    }
}

/// Why a trustee must never answer two sets for one ciphertext: shares for different sets do
/// not combine to the total (and two answers of one trustee for two sets would let the
/// difference of its Lagrange weights act on its secret under independent floods).
#[test]
fn shares_of_two_sets_do_not_combine() {
    let mut f = fixture(Preset::Bfv8192, 13);
    let (ct, want) = column(&mut f);
    let a = [1u32, 2, 3];
    let b = [1u32, 4, 5];
    let mut mixed = shares_of(&mut f, &a[..2], &a, &ct);
    mixed.extend(shares_of(&mut f, &[5], &b, &ct));
    let got = centred(&f.params, combine(&f.params, &ct, &mixed).expect("combine"));
    assert_ne!(got, want);
}

#[test]
fn a_share_not_in_the_named_set_is_refused() {
    let mut f = fixture(Preset::Bfv8192, 14);
    let (ct, _) = column(&mut f);
    let err = trustee_share_threshold(&f.params, &f.secrets[3], &[1, 2, 3], &ct, 0, &mut f.rng)
        .expect_err("trustee 4 is not in {1,2,3}");
    assert!(err.to_string().contains("not in the set"), "{err}");
    assert!(
        trustee_share_threshold(&f.params, &f.secrets[0], &[1, 2], &ct, 0, &mut f.rng).is_err()
    );
}

/// The platform relays the sealed shares; whatever it does to them is caught.
#[test]
fn altered_substituted_or_misdirected_shares_are_refused() {
    let mut f = fixture(Preset::Bfv8192, 15);
    // 1. A flipped byte: the seal does not open.
    let mut bad = f.sealed[0][1].clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let e = open_1_to_2(&f, &f.commitments[0], &bad).expect_err("altered");
    assert!(matches!(e, CryptoError::Unseal(_)), "{e}");
    // 2. The platform seals a share of its own making to trustee 2 (base-mode HPKE does not
    //    authenticate the sender): the commitment check refuses it.
    let forged = DealtShare {
        ceremony: f.seed.id().0,
        dealer: 1,
        recipient: 2,
        threshold: T,
        trustees: N,
        share: {
            let sk = ceremony::new_share(&f.params, &mut f.rng);
            RnsSecret::from_secret_key(&f.params, &sk).expect("lift")
        },
    };
    let sealed = seal_share(
        &f.params,
        f.hpke[1].public_key(),
        &forged,
        &f.commitments[0],
        &mut f.rng,
    )
    .expect("seal");
    let e = open_1_to_2(&f, &f.commitments[0], &sealed).expect_err("forged");
    assert!(
        e.to_string()
            .contains("does not match the dealer's commitment"),
        "{e}"
    );
    // 3. The right share shown next to another dealer's commitment: the AAD differs.
    assert!(open_1_to_2(&f, &f.commitments[2], &f.sealed[0][1]).is_err());
    // 4. Trustee 3's share relayed to trustee 2: another recipient key and info.
    assert!(open_1_to_2(&f, &f.commitments[0], &f.sealed[0][2]).is_err());
    // 5. A commitment that went through its wire form still checks the honest share.
    let c = Commitment::from_bytes(&f.params, &f.commitments[0].to_bytes()).expect("decode");
    assert!(c == f.commitments[0]);
    open_1_to_2(&f, &c, &f.sealed[0][1]).expect("honest share");
}

#[test]
fn t_equal_n_and_1_of_n_work_too() {
    let params = Preset::Bfv8192.params().expect("preset");
    let mut rng = StdRng::seed_from_u64(16);
    for (t, n) in [(3usize, 3usize), (1, 3), (2, 2)] {
        let shares: Vec<SecretKey> = (0..n)
            .map(|_| ceremony::new_share(&params, &mut rng))
            .collect();
        let keys = ceremony::run(&params, &shares, &mut rng).expect("ceremony");
        let dealings: Vec<Dealing> = shares
            .iter()
            .map(|sk| Dealing::new(&params, sk, t, n, &mut rng).expect("dealing"))
            .collect();
        let secrets: Vec<ThresholdSecret> = (1..=n as u32)
            .map(|j| {
                let dealt: Vec<RnsSecret> = dealings
                    .iter()
                    .map(|d| d.share_for(&params, j).expect("share"))
                    .collect();
                ThresholdSecret::aggregate(&params, j, t, n, &dealt).expect("aggregate")
            })
            .collect();
        let values: Vec<i64> = (0..params.slots()).map(|i| (i as i64 % 97) - 48).collect();
        let want: i128 = values.iter().map(|&v| v as i128).sum();
        let ct = encrypt(&params, &keys.public, &values, 0, &mut rng).expect("encrypt");
        let set: Vec<u32> = (1..=t as u32).rev().collect();
        let parts: Vec<Coeff0Share> = set
            .iter()
            .map(|&j| {
                trustee_share_threshold(&params, &secrets[j as usize - 1], &set, &ct, 0, &mut rng)
                    .expect("share")
            })
            .collect();
        let got = centred(&params, combine(&params, &ct, &parts).expect("combine"));
        assert_eq!(got, want, "{t}-of-{n}");
    }
}

/// A re-sharing as the network would run it: the members of `set` (current positions) each
/// re-deal their Lagrange-weighted secret with a commitment; every position j of the new
/// committee checks each share against its re-dealer's commitment and keeps the sum.
fn reshare(f: &mut Fixture, set: &[u32]) -> (Vec<Commitment>, Vec<ThresholdSecret>) {
    let dealings: Vec<(u32, Dealing)> = set
        .iter()
        .map(|&i| {
            let d = Dealing::reshare(&f.params, &f.secrets[i as usize - 1], set, &mut f.rng)
                .expect("re-deal");
            (i, d)
        })
        .collect();
    let commitments: Vec<Commitment> = dealings
        .iter()
        .map(|(i, d)| Commitment::new(&f.params, &f.seed.0, *i, d, &mut f.rng).expect("commit"))
        .collect();
    let secrets = (1..=N as u32)
        .map(|j| {
            let dealt: Vec<RnsSecret> = dealings
                .iter()
                .zip(&commitments)
                .map(|((_, d), c)| {
                    let share = d.share_for(&f.params, j).expect("share");
                    c.verify(&f.params, &f.seed.0, j, &share).expect("checked");
                    share
                })
                .collect();
            ThresholdSecret::from_resharing(&f.params, j, T, N, set, &dealt).expect("new secret")
        })
        .collect();
    (commitments, secrets)
}

/// Proactive re-sharing (trustee 3 leaves, a new trustee takes position 3): any t of the new
/// committee release exactly, the re-sharing is checked to carry the deployment's secret,
/// and the departed trustee's old share does not combine with the new ones.
#[test]
fn a_reshared_committee_releases_exactly_and_old_shares_do_not_mix() {
    let mut f = fixture(Preset::Bfv8192, 17);
    let (ct, want) = column(&mut f);
    let old = f.secrets.clone();
    let (commitments, fresh) = reshare(&mut f, &[1, 2, 4]);
    commit::same_secret(&f.params, &f.commitments, &commitments)
        .expect("the re-sharing carries the collective secret");
    f.secrets = fresh;
    for set in subsets(N as u32, T) {
        assert_eq!(
            release_by(&mut f, &set, &ct),
            want,
            "new committee, set {set:?}"
        );
    }
    // A second re-sharing, by a set holding the new position 3, checked against the first.
    let (again, fresher) = reshare(&mut f, &[3, 4, 5]);
    commit::same_secret(&f.params, &commitments, &again).expect("second re-sharing");
    commit::same_secret(&f.params, &f.commitments, &again).expect("against the first dealing");
    f.secrets = fresher;
    assert_eq!(release_by(&mut f, &[1, 3, 5], &ct), want);
    // The departed trustee 3 keeps its old S_3 and colludes with two new shares.
    let truth = collective(&f);
    for pair in subsets(N as u32, 2).into_iter().filter(|p| !p.contains(&3)) {
        let mut pairs: Vec<(u32, &RnsSecret)> = vec![(3, old[2].secret())];
        pairs.extend(
            pair.iter()
                .map(|&j| (j, f.secrets[j as usize - 1].secret())),
        );
        let guess = reconstruct(&f.params, &pairs).expect("interpolate");
        assert!(
            guess != truth,
            "old share 3 with new {pair:?} found the key"
        );
        let same = guess
            .row(0)
            .iter()
            .zip(truth.row(0))
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            same < f.params.slots() / 100,
            "{pair:?}: {same} coefficients right"
        );
    }
    // The old shares alone still interpolate to the key: deleting them is the proactive
    // assumption (the key store replaces them), not something the new sharing undoes.
    let pairs: Vec<(u32, &RnsSecret)> = [1u32, 2, 4]
        .iter()
        .map(|&j| (j, old[j as usize - 1].secret()))
        .collect();
    assert!(reconstruct(&f.params, &pairs).expect("interpolate") == truth);
}

/// A re-dealer that shifts its constant term, deals for another set, or a re-sharing with a
/// member left out: every recipient's shares still match their commitments, but the whole
/// is refused because it does not carry the deployment's secret.
#[test]
fn a_resharing_of_another_secret_is_refused() {
    let mut f = fixture(Preset::Bfv8192, 18);
    let set = [1u32, 2, 4];
    // 1. Member 2 weights its secret for another set.
    let mut dealings: Vec<(u32, Dealing)> = Vec::new();
    for &i in &set {
        let weights_for: &[u32] = if i == 2 { &[1, 2, 5] } else { &set };
        let held = &f.secrets[i as usize - 1];
        dealings.push((
            i,
            Dealing::reshare(&f.params, held, weights_for, &mut f.rng).expect("re-deal"),
        ));
    }
    let commitments: Vec<Commitment> = dealings
        .iter()
        .map(|(i, d)| Commitment::new(&f.params, &f.seed.0, *i, d, &mut f.rng).expect("commit"))
        .collect();
    let e = commit::same_secret(&f.params, &f.commitments, &commitments).expect_err("wrong set");
    assert!(e.to_string().contains("does not carry"), "{e}");
    // 2. Only two of the three re-deal.
    let (honest, _) = reshare(&mut f, &set);
    assert!(commit::same_secret(&f.params, &f.commitments, &honest[..2]).is_err());
    // 3. The honest re-sharing passes; against commitments under another seed it does not.
    commit::same_secret(&f.params, &f.commitments, &honest).expect("honest");
    let other_seed = [7u8; 32];
    let shifted: Vec<Commitment> = set
        .iter()
        .map(|&i| {
            let d = Dealing::reshare(&f.params, &f.secrets[i as usize - 1], &set, &mut f.rng)
                .expect("re-deal");
            Commitment::new(&f.params, &other_seed, i, &d, &mut f.rng).expect("commit")
        })
        .collect();
    assert!(commit::same_secret(&f.params, &f.commitments, &shifted).is_err());
    // 4. A re-dealt secret with a share missing is refused outright.
    let share = Dealing::reshare(&f.params, &f.secrets[0], &set, &mut f.rng)
        .expect("re-deal")
        .share_for(&f.params, 3)
        .expect("share");
    assert!(ThresholdSecret::from_resharing(&f.params, 3, T, N, &set, &[share]).is_err());
}
