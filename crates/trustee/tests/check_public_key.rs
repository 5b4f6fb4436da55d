//! A trustee refuses to serve a deployment whose public key is not the aggregate of the
//! trustees' published public-key shares, its own among them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use dtfhe_api::ceremony::CeremonyState;
use dtfhe_api::types::b64;
use dtfhe_crypto::ceremony::net::{aggregate_public_key, pk_share, CeremonySeed, PkShareMsg};
use dtfhe_crypto::{ceremony, codec, Params};
use dtfhe_trustee::daemon::{check_public_key, KeyCheckError};
use rand::rngs::ThreadRng;

/// The bfv-8192 parameters, a generator, a fresh ceremony seed and three trustees' names.
fn setup() -> (Params, ThreadRng, CeremonySeed, Vec<String>) {
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    let mut rng = rand::rng();
    let seed = CeremonySeed::random(&mut rng);
    (
        params,
        rng,
        seed,
        ["a", "b", "c"].map(String::from).to_vec(),
    )
}

#[test]
fn the_deployment_key_must_aggregate_every_trustees_share() {
    let (params, mut rng, seed, names) = setup();
    let msgs: Vec<PkShareMsg> = names
        .iter()
        .map(|_| {
            let sk = ceremony::new_share(&params, &mut rng);
            pk_share(&params, &sk, &seed, &mut rng).unwrap()
        })
        .collect();
    let pk = codec::encode_public_key(
        &params,
        &aggregate_public_key(&params, &seed, &msgs).unwrap(),
    );
    let state = |msgs: &[PkShareMsg], names: &[String]| CeremonyState {
        seed: seed.to_hex(),
        preset: "bfv-8192".into(),
        trustees: names.to_vec(),
        min_group_size: 2,
        pk_shares: names.to_vec(),
        rlk1: names.to_vec(),
        rlk2: names.to_vec(),
        round1_aggregate: None,
        complete: true,
        pk_share_messages: names
            .iter()
            .zip(msgs)
            .map(|(n, m)| (n.clone(), b64(&m.to_bytes())))
            .collect::<BTreeMap<_, _>>(),
    };
    let own = msgs[1].to_bytes();
    let good = state(&msgs, &names);
    check_public_key(&params, &good, &names, "b", &own, &pk).unwrap();

    // A key of the platform's own (here: the aggregate of two of the three shares).
    let partial = codec::encode_public_key(
        &params,
        &aggregate_public_key(&params, &seed, &msgs[..2]).unwrap(),
    );
    let e = check_public_key(&params, &good, &names, "b", &own, &partial).unwrap_err();
    assert!(matches!(e, KeyCheckError::PublicKeyMismatch), "{e}");
    // A share list that leaves a trustee out.
    let two = state(&msgs[..2], &names[..2]);
    let e = check_public_key(&params, &two, &names, "b", &own, &pk).unwrap_err();
    assert!(matches!(e, KeyCheckError::PkShareSet { .. }), "{e}");
    // This trustee's share replaced by another one.
    let e = check_public_key(&params, &good, &names, "b", &msgs[0].to_bytes(), &pk).unwrap_err();
    assert!(matches!(e, KeyCheckError::OwnPkShare { .. }), "{e}");
}

#[test]
fn the_deployment_relin_key_must_come_from_every_trustees_messages() {
    use dtfhe_api::ceremony::CeremonyTranscript;
    use dtfhe_crypto::ceremony::net::{aggregate_relin_key, aggregate_round1, RelinParty};
    use dtfhe_trustee::daemon::{check_relin_key, KeyCheckError};

    let (params, mut rng, seed, names) = setup();
    let run = |rng: &mut ThreadRng| {
        let mut parties: Vec<RelinParty> = names
            .iter()
            .map(|_| {
                let sk = ceremony::new_share(&params, rng);
                RelinParty::new(&params, &sk, &seed, rng).unwrap()
            })
            .collect();
        let r1: Vec<_> = parties.iter_mut().map(|p| p.round1(rng).unwrap()).collect();
        let agg = aggregate_round1(&params, &seed, &r1).unwrap();
        let r2: Vec<_> = parties
            .iter_mut()
            .map(|p| p.round2(&agg, rng).unwrap())
            .collect();
        let rk = aggregate_relin_key(&params, &seed, &agg, &r2).unwrap();
        (
            r1.iter().map(|m| m.to_bytes()).collect::<Vec<_>>(),
            r2.iter().map(|m| m.to_bytes()).collect::<Vec<_>>(),
            codec::encode_relin_key(&params, &rk),
        )
    };
    let (r1, r2, rk) = run(&mut rng);
    let map = |msgs: &[Vec<u8>]| -> BTreeMap<String, String> {
        names
            .iter()
            .cloned()
            .zip(msgs.iter().map(|b| b64(b)))
            .collect()
    };
    let transcript = CeremonyTranscript {
        seed: seed.to_hex(),
        pk: BTreeMap::new(),
        rlk1: map(&r1),
        rlk2: map(&r2),
    };
    let own = (r1[2].as_slice(), r2[2].as_slice());
    check_relin_key(&params, &transcript, &names, "c", own, &rk).unwrap();
    // A key of another ceremony run (other secrets): refused.
    let (_, _, other) = run(&mut rng);
    let e = check_relin_key(&params, &transcript, &names, "c", own, &other).unwrap_err();
    assert!(matches!(e, KeyCheckError::RelinKeyMismatch), "{e}");
    // This trustee's message replaced: refused.
    let e = check_relin_key(&params, &transcript, &names, "c", (&r1[0], &r2[2]), &rk).unwrap_err();
    assert!(matches!(e, KeyCheckError::OwnRlk { round: 1, .. }), "{e}");
}
