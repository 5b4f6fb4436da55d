//! A trustee's progress record in the relinearisation-key protocol: a party rebuilt from its
//! record after round 1 produces bit for bit the round-2 message the original party would
//! have (same `u`, same share), so the ceremony finishes with the same keys; the record
//! round-trips; a record of another ceremony, another share, a changed secret, or damaged
//! fields is refused by name, never quoting a coefficient.

use dtfhe_crypto::ceremony::net::{
    aggregate_round1, CeremonySeed, ProgressStage, RelinParty, RelinProgress, Resumed, Rlk1Msg,
};
use dtfhe_crypto::codec::{self, Kind};
use dtfhe_crypto::{ceremony, codec::FORMAT_VERSION, CryptoError, Params, Preset};
use fhe::bfv::SecretKey;
use rand::{rngs::StdRng, SeedableRng};
use std::sync::OnceLock;

fn params() -> &'static Params {
    static P: OnceLock<Params> = OnceLock::new();
    P.get_or_init(|| Preset::Bfv8192.params().expect("preset"))
}

fn rng(n: u64) -> StdRng {
    StdRng::seed_from_u64(n)
}

/// Two trustees' shares, a seed, and trustee 0's party after round 1 with its record.
struct Setup {
    shares: Vec<SecretKey>,
    seed: CeremonySeed,
    parties: Vec<RelinParty>,
    round1: Vec<Rlk1Msg>,
}

fn setup() -> Setup {
    let p = params();
    let shares: Vec<SecretKey> = (0..2)
        .map(|i| ceremony::new_share(p, &mut rng(i)))
        .collect();
    let seed = CeremonySeed::random(&mut rng(7));
    let mut parties: Vec<RelinParty> = shares
        .iter()
        .enumerate()
        .map(|(i, sk)| RelinParty::new(p, sk, &seed, &mut rng(100 + i as u64)).expect("party"))
        .collect();
    let round1 = parties
        .iter_mut()
        .enumerate()
        .map(|(i, party)| party.round1(&mut rng(200 + i as u64)).expect("round 1"))
        .collect();
    Setup {
        shares,
        seed,
        parties,
        round1,
    }
}

fn stage1_bytes(s: &Setup) -> Vec<u8> {
    s.parties[0]
        .progress(&s.round1[0])
        .expect("record")
        .to_bytes()
        .to_vec()
}

fn msg<T: std::fmt::Debug>(r: Result<T, CryptoError>) -> String {
    r.expect_err("refused").to_string()
}

#[test]
fn a_resumed_party_gives_the_same_round_2_and_the_same_key() {
    let p = params();
    let mut s = setup();
    let bytes = stage1_bytes(&s);
    // The process dies here; a new one reads the record back with the share from disk.
    let record = RelinProgress::from_bytes(p, &bytes).expect("decodes");
    assert_eq!(record.stage(), ProgressStage::Round1Given);
    assert_eq!(record.ceremony_id(), s.seed.id());
    assert_eq!(
        record.round1(),
        &s.round1[0],
        "the very same round-1 message"
    );
    assert!(record.round2().is_none());
    assert_eq!(&record.to_bytes()[..], &bytes[..], "canonical");
    let Resumed::AwaitingAggregate {
        party: mut resumed,
        round1,
    } = record
        .resume(p, &s.shares[0], &s.seed)
        .expect("the record of this share")
    else {
        panic!("stage 1 resumes at round 2");
    };
    assert_eq!(round1.to_bytes(), s.round1[0].to_bytes());

    let agg = aggregate_round1(p, &s.seed, &s.round1).expect("aggregate");
    // Same randomness for round 2: the original and the resumed party agree bit for bit.
    let original = s.parties[0].round2(&agg, &mut rng(300)).expect("original");
    let again = resumed.round2(&agg, &mut rng(300)).expect("resumed");
    assert_eq!(original.to_bytes(), again.to_bytes());
    // Stage 2: only the messages; they round-trip and resume as finished.
    let done = RelinProgress::round2_given(round1, again.clone()).expect("stage 2");
    let bytes2 = done.to_bytes().to_vec();
    // No secret in it: the header, the id, the stage and the two length-prefixed messages.
    let r1_len = s.round1[0].to_bytes().len();
    let r2_len = again.to_bytes().len();
    assert_eq!(bytes2.len(), 18 + 16 + 1 + 4 + r1_len + 4 + r2_len);
    let back = RelinProgress::from_bytes(p, &bytes2).expect("stage 2 decodes");
    assert_eq!(back.stage(), ProgressStage::Round2Given);
    assert_eq!(&back.to_bytes()[..], &bytes2[..]);
    match back.resume(p, &s.shares[0], &s.seed).expect("resumes") {
        Resumed::Finished { round1, round2 } => {
            assert_eq!(round1, s.round1[0]);
            assert_eq!(round2, again);
        }
        other => panic!("{other:?}"),
    }
    // The record's debug form names the ceremony and the stage, nothing else.
    let shown = format!("{:?}", RelinProgress::from_bytes(p, &bytes).expect("again"));
    assert!(
        shown.contains("Round1Given") && shown.len() < 120,
        "{shown}"
    );
}

#[test]
fn a_record_of_another_share_ceremony_or_secret_is_refused() {
    let p = params();
    let s = setup();
    let bytes = stage1_bytes(&s);
    let load = || RelinProgress::from_bytes(p, &bytes).expect("decodes");
    // Another trustee's share (share.key replaced): h1 does not match.
    let e = msg(load().resume(p, &s.shares[1], &s.seed));
    assert!(e.contains("not made from this trustee's key share"), "{e}");
    assert!(e.contains("h1"), "{e}");
    // Another ceremony (the platform runs a new one).
    let other = CeremonySeed::random(&mut rng(8));
    let e = msg(load().resume(p, &s.shares[0], &other));
    assert!(e.contains("belongs to ceremony"), "{e}");
    assert!(e.contains(&s.seed.id().to_string()), "{e}");
    // The recorded secret changed (still small, envelope re-made as a careful attacker
    // would): h0 no longer matches, and the error quotes no coefficient.
    let mut changed = bytes.clone();
    let u_at = 18 + 16 + 1;
    let j = (0..p.slots())
        .find(|&j| (changed[u_at + j] as i8).abs() < 5)
        .expect("a small coefficient");
    changed[u_at + j] = changed[u_at + j].wrapping_add(1);
    let e = msg(
        RelinProgress::from_bytes(p, &changed).and_then(|r| r.resume(p, &s.shares[0], &s.seed))
    );
    assert!(e.contains("h0") && e.contains("ephemeral secret"), "{e}");
    // A record of trustee 1 under trustee 0's share.
    let theirs = s.parties[1]
        .progress(&s.round1[1])
        .expect("record")
        .to_bytes();
    let e = msg(RelinProgress::from_bytes(p, &theirs)
        .expect("decodes")
        .resume(p, &s.shares[0], &s.seed));
    assert!(e.contains("not made from this trustee's key share"), "{e}");
    // A party records only between the rounds, and only its own ceremony's message.
    let fresh = RelinParty::new(p, &s.shares[0], &s.seed, &mut rng(1)).expect("party");
    assert!(msg(fresh.progress(&s.round1[0])).contains("between round 1 and round 2"));
    let mut elsewhere = RelinParty::new(p, &s.shares[0], &other, &mut rng(2)).expect("party");
    let _ = elsewhere.round1(&mut rng(3)).expect("round 1");
    assert!(msg(elsewhere.progress(&s.round1[0])).contains("belongs to ceremony"));
}

/// Replaces the payload of an envelope and fixes its length, as a careful attacker would.
fn reseal(p: &Params, payload: &[u8]) -> Vec<u8> {
    codec::seal(Kind::CeremonyProgress, p, payload)
}

#[test]
fn damaged_fields_are_refused_by_name() {
    let p = params();
    let s = setup();
    let good = stage1_bytes(&s);
    const HEADER: usize = 18;
    let n = p.slots();
    let payload = &good[HEADER..];
    let refused = |bytes: &[u8], needle: &str, case: &str| {
        let e = msg(RelinProgress::from_bytes(p, bytes));
        assert!(e.contains(needle), "{case}: {e:?} lacks {needle:?}");
        assert!(e.contains("ceremony progress record"), "{case}: {e:?}");
    };
    // Envelope: version, kind, parameters, length.
    let mut b = good.clone();
    b[4] = FORMAT_VERSION + 1;
    refused(
        &b,
        &format!("format version {}", FORMAT_VERSION + 1),
        "version",
    );
    let mut b = good.clone();
    b[5] = Kind::CeremonyRlkRound1 as u8;
    refused(
        &b,
        "envelope holds a ceremony relinearization round-1 share",
        "kind",
    );
    let big = Preset::Bfv16384.params().expect("preset");
    let e = msg(RelinProgress::from_bytes(&big, &good));
    assert!(e.contains("other parameters"), "{e}");
    refused(&good[..good.len() - 1], "payload bytes", "truncated");
    refused(&good[..10], "shorter than", "header only");
    // Stage.
    let mut b = payload.to_vec();
    b[16] = 3;
    refused(&reseal(p, &b), "stage: 3, expected 1", "stage");
    // A coefficient of the secret out of range (index named, value not).
    let mut b = payload.to_vec();
    b[17 + 9] = 100;
    let e = msg(RelinProgress::from_bytes(p, &reseal(p, &b)));
    assert!(
        e.contains("ephemeral secret: coefficient 9 is out of the range"),
        "{e}"
    );
    assert!(!e.contains("100"), "{e}");
    // The round-1 message damaged (its own checksum), cut, or followed by junk.
    let mut b = payload.to_vec();
    let last = b.len() - 40;
    b[last] ^= 1;
    refused(&reseal(p, &b), "round-1 message: malformed", "message byte");
    refused(
        &reseal(p, &payload[..17 + n + 10]),
        "round-1 message: truncated",
        "cut",
    );
    let mut b = payload.to_vec();
    b.push(0);
    refused(&reseal(p, &b), "trailing bytes", "trailing");
    // A stage-1 record claiming stage 2 reads the secret as a length: refused.
    let mut b = payload.to_vec();
    b[16] = 2;
    refused(&reseal(p, &b), "round-", "stage 1 body read as stage 2");
    // The record's ceremony id changed: its message is of another ceremony.
    let mut b = payload.to_vec();
    b[0] ^= 1;
    refused(&reseal(p, &b), "holds a message of ceremony", "ceremony id");
    // Nothing readable as a record at all.
    refused(&reseal(p, &[]), "ceremony id", "empty");
}
