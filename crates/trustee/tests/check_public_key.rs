//! A trustee refuses to serve a deployment whose public key is not the aggregate of the
//! trustees' published public-key shares, its own among them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use dtfhe_api::ceremony::CeremonyState;
use dtfhe_api::types::b64;
use dtfhe_crypto::ceremony::net::{aggregate_public_key, pk_share, CeremonySeed, PkShareMsg};
use dtfhe_crypto::{ceremony, codec};
use dtfhe_trustee::daemon::check_public_key;

#[test]
fn the_deployment_key_must_aggregate_every_trustees_share() {
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    let mut rng = rand::rng();
    let seed = CeremonySeed::random(&mut rng);
    let names = ["a", "b", "c"].map(String::from).to_vec();
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
    assert!(e.contains("not the aggregate"), "{e}");
    // A share list that leaves a trustee out.
    let two = state(&msgs[..2], &names[..2]);
    let e = check_public_key(&params, &two, &names, "b", &own, &pk).unwrap_err();
    assert!(e.contains("deployment's trustees"), "{e}");
    // This trustee's share replaced by another one.
    let e = check_public_key(&params, &good, &names, "b", &msgs[0].to_bytes(), &pk).unwrap_err();
    assert!(e.contains("not the one it gave"), "{e}");
}
