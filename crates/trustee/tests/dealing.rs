//! The trustee's side of the networked dealing (`dtfhe_trustee::dealing`), with the platform
//! played by the test: five trustees deal 3-of-5 to each other through sealed shares; every
//! recipient accepts honest dealings, and any two sets of three hold the same secret; a
//! share the relaying platform substituted (sealed to the recipient with the right labels
//! and the dealer's commitment as associated data: HPKE base mode does not authenticate the
//! sender), a share moved from another recipient, or a commitment swapped for another
//! dealer's is refused by its recipient, naming the dealer, and no threshold secret results.

use dtfhe_api::types::b64;
use dtfhe_crypto::ceremony;
use dtfhe_crypto::threshold::commit::Commitment;
use dtfhe_crypto::threshold::wire::{seal_share, DealtShare};
use dtfhe_crypto::threshold::{reconstruct, Dealing};
use dtfhe_crypto::Preset;
use dtfhe_trustee::TrusteeError;

mod common;

use common::world::{world, world_at, NAMES, T};

fn refused_naming(e: TrusteeError, dealer: &str) -> String {
    let msg = e.to_string();
    match e {
        TrusteeError::DealtShare { dealer: d, .. } => assert_eq!(d, dealer, "{msg}"),
        other => panic!("not a refused dealt share: {other}"),
    }
    assert!(msg.contains("no threshold secret was kept"), "{msg}");
    msg
}

#[test]
fn honest_dealings_are_accepted_and_any_three_hold_the_same_secret() {
    let w = world();
    let secrets: Vec<Vec<u64>> = (0..NAMES.len())
        .map(|r| w.accept(r, &w.inbox(r)).expect("honest dealing accepted"))
        .collect();
    let rns = |r: usize| {
        dtfhe_crypto::threshold::RnsSecret::from_residues(&w.params, secrets[r].clone())
            .expect("residues")
    };
    let pooled = |set: [usize; 3]| {
        let held: Vec<_> = set.iter().map(|&r| rns(r)).collect();
        let pairs: Vec<(u32, &dtfhe_crypto::threshold::RnsSecret)> = set
            .iter()
            .zip(&held)
            .map(|(&r, s)| (r as u32 + 1, s))
            .collect();
        reconstruct(&w.params, &pairs).expect("interpolate")
    };
    assert_eq!(pooled([0, 1, 2]), pooled([2, 3, 4]));
    assert_eq!(pooled([0, 1, 2]), pooled([4, 0, 3]));
    // Two trustees pool to something else.
    let two: Vec<_> = [0usize, 1].iter().map(|&r| rns(r)).collect();
    let pairs = [(1u32, &two[0]), (2u32, &two[1])];
    assert_ne!(
        reconstruct(&w.params, &pairs).expect("interpolate"),
        pooled([0, 1, 2])
    );
}

#[test]
fn a_dealt_share_that_does_not_match_its_commitment_is_refused_by_its_recipient() {
    let w = world();
    let mut rng = rand::rng();
    // The platform deals a share of its own in c's name to b, sealed with c's commitment.
    let c_commitment = Commitment::from_bytes(&w.params, &w.dealt[2].commitment).expect("c");
    let own = Dealing::new(
        &w.params,
        &ceremony::new_share(&w.params, &mut rng),
        T,
        NAMES.len(),
        &mut rng,
    )
    .expect("dealing");
    let forged = DealtShare {
        ceremony: w.seed.id().0,
        dealer: 3,
        recipient: 2,
        threshold: T,
        trustees: NAMES.len(),
        share: own.share_for(&w.params, 2).expect("share"),
    };
    let sealed = seal_share(
        &w.params,
        w.hpke[1].public_key(),
        &forged,
        &c_commitment,
        &mut rng,
    )
    .expect("seal");
    let mut inbox = w.inbox(1);
    inbox.items[2].sealed = b64(&sealed);
    let msg = refused_naming(w.accept(1, &inbox).expect_err("forged share"), "c");
    assert!(msg.contains("commitment"), "{msg}");

    // c's share for d moved into b's inbox: it does not open for b.
    let mut inbox = w.inbox(1);
    inbox.items[2].sealed = b64(&w.dealt[2].sealed[3]);
    refused_naming(w.accept(1, &inbox).expect_err("moved share"), "c");

    // c's commitment replaced by e's: the share is bound to c's commitment.
    let mut inbox = w.inbox(1);
    inbox.items[2].commitment = b64(&w.dealt[4].commitment);
    refused_naming(w.accept(1, &inbox).expect_err("swapped commitment"), "c");

    // A dealer left out: refused too (its key share would be missing from the secret).
    let mut inbox = w.inbox(1);
    inbox.items.remove(3);
    refused_naming(w.accept(1, &inbox).expect_err("missing dealer"), "d");

    // The honest inbox is still accepted.
    w.accept(1, &w.inbox(1)).expect("honest");
}

/// Figures (no assertion on time): per trustee, the compute of its 3-of-5 dealing
/// (polynomial, commitment, five seals), of checking the five shares dealt to it, and the
/// bytes it sends, at both presets. `cargo test -p dtfhe-trustee --test dealing --
/// --ignored --nocapture`.
#[test]
#[ignore = "figures only"]
fn dealing_figures_at_both_presets() {
    for preset in [Preset::Bfv8192, Preset::Bfv16384] {
        let started = std::time::Instant::now();
        let w = world_at(preset);
        let deal_each = started.elapsed().as_secs_f64() / NAMES.len() as f64;
        let started = std::time::Instant::now();
        for r in 0..NAMES.len() {
            w.accept(r, &w.inbox(r)).expect("accepted");
        }
        let check_each = started.elapsed().as_secs_f64() / NAMES.len() as f64;
        println!(
            "figure: {preset:?} 3-of-5 dealing per trustee: deal {deal_each:.3} s, check \
             {check_each:.3} s, {} bytes sent (commitment {} B)",
            w.dealt[0].bytes(),
            w.dealt[0].commitment.len()
        );
    }
}
