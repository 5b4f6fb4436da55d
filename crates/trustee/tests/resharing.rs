//! The trustee's side of a proactive re-sharing (`dtfhe_trustee::resharing`), the platform
//! played by the test: after a 3-of-5 first dealing among a..e, e is replaced by f at
//! position 5 and a, b, c re-deal to a, b, c, d, f through sealed shares.
//!
//! - honest: every recipient accepts a secret of epoch 1, any three of the new list hold the
//!   collective secret, and f's new secret is not e's old one;
//! - a re-dealer that weights its secret for another set: every recipient refuses the
//!   re-sharing as a whole (`same_secret`), so nobody replaces its secret;
//! - a relayed share tampered with, or moved to another recipient: refused, naming the
//!   re-dealer;
//! - the sharing before relayed with a commitment other than those its acceptance entries
//!   in the ledger name: refused.
//!
//! The figures test prints the time and bytes of a re-sharing per trustee at both presets.

mod common;

use common::world::{items, world, world_at, World, NAMES, T};
use dtfhe_api::dealing::ResharingInbox;
use dtfhe_api::types::b64;
use dtfhe_crypto::seal::RecipientKeyPair;
use dtfhe_crypto::threshold::{reconstruct, ThresholdSecret};
use dtfhe_crypto::Preset;
use dtfhe_trustee::dealing::Dealt;
use dtfhe_trustee::resharing::{accept_reshared, redeal, Resharing};
use dtfhe_trustee::TrusteeError;

/// The re-dealers' points (a, b, c).
const SET: [u32; 3] = [1, 2, 3];

/// One re-sharing as the platform relays it.
struct Round {
    names: Vec<String>,
    redealers: Vec<String>,
    hpke: Vec<RecipientKeyPair>,
    dealt: Vec<Dealt>,
}

/// a, b, c re-deal to a, b, c, d, f; re-dealer i weights for `weights_for(i)`.
fn round(w: &World, weights_for: impl Fn(usize) -> Vec<u32>) -> Round {
    let mut rng = rand::rng();
    let names: Vec<String> = ["a", "b", "c", "d", "f"].map(String::from).to_vec();
    let hpke: Vec<RecipientKeyPair> = names
        .iter()
        .map(|_| RecipientKeyPair::generate(&mut rng))
        .collect();
    let keys: Vec<_> = hpke.iter().map(|k| k.public_key().clone()).collect();
    let dealt = (0..SET.len())
        .map(|i| {
            let held = w.secret(i);
            redeal(&w.params, &held, &w.seed, &weights_for(i), &keys, &mut rng).expect("re-deal")
        })
        .collect();
    Round {
        redealers: names[..SET.len()].to_vec(),
        names,
        hpke,
        dealt,
    }
}

impl Round {
    fn inbox(&self, w: &World, r: usize) -> ResharingInbox {
        ResharingInbox {
            epoch: 1,
            items: items(&self.redealers, &self.dealt, r),
            previous: w.previous(),
        }
    }

    fn accept(
        &self,
        w: &World,
        r: usize,
        inbox: &ResharingInbox,
    ) -> Result<ThresholdSecret, TrusteeError> {
        let previous = w.previous_hashes();
        let check = Resharing {
            seed: &w.seed,
            trustees: &self.names,
            redealers: &self.redealers,
            threshold: T,
            epoch: 1,
            previous: &previous,
        };
        accept_reshared(&w.params, &self.hpke[r], check, &self.names[r], inbox).map(
            |(s, hashes)| {
                assert_eq!(hashes.len(), SET.len());
                s
            },
        )
    }
}

/// The refusal of a re-sharing, naming `dealer` (or the re-sharing as a whole: `None`).
fn refused(e: TrusteeError, dealer: Option<&str>) -> String {
    let msg = e.to_string();
    match e {
        TrusteeError::Reshared {
            dealer: d, epoch, ..
        } => {
            assert_eq!(d.as_deref(), dealer, "{msg}");
            assert_eq!(epoch, 1);
        }
        other => panic!("not a refused re-sharing: {other}"),
    }
    assert!(
        msg.contains("its threshold secret was not replaced"),
        "{msg}"
    );
    msg
}

#[test]
fn an_honest_re_sharing_hands_position_5_to_f_and_keeps_the_secret() {
    let w = world();
    let old: Vec<ThresholdSecret> = (0..NAMES.len()).map(|r| w.secret(r)).collect();
    let r = round(&w, |_| SET.to_vec());
    let new: Vec<ThresholdSecret> = (0..5)
        .map(|i| r.accept(&w, i, &r.inbox(&w, i)).expect("honest re-sharing"))
        .collect();
    assert!(new.iter().all(|s| s.epoch == 1));
    let pool = |held: &[ThresholdSecret], set: [usize; 3]| {
        let pairs: Vec<_> = set
            .iter()
            .map(|&i| (held[i].point, held[i].secret()))
            .collect();
        reconstruct(&w.params, &pairs).expect("interpolate")
    };
    let s = pool(&old, [0, 1, 2]);
    for set in [[0, 1, 4], [2, 3, 4], [0, 3, 4], [1, 2, 3]] {
        assert_eq!(pool(&new, set), s, "{set:?}");
    }
    assert_ne!(
        new[4].secret(),
        old[4].secret(),
        "f holds a new share, not e's"
    );
    // e's old share with two new ones: not the secret (old and new do not mix).
    let mixed = [
        (1u32, new[0].secret()),
        (2u32, new[1].secret()),
        (5u32, old[4].secret()),
    ];
    assert_ne!(reconstruct(&w.params, &mixed).expect("interpolate"), s);
}

#[test]
fn a_re_dealer_weighting_for_another_set_is_refused_by_every_recipient() {
    let w = world();
    // b weights its secret for {a, b, d}: its shares match its own commitment, but the
    // constant terms no longer sum to the secret.
    let r = round(&w, |i| if i == 1 { vec![1, 2, 4] } else { SET.to_vec() });
    for i in 0..5 {
        let msg = refused(
            r.accept(&w, i, &r.inbox(&w, i)).expect_err("wrong set"),
            None,
        );
        assert!(
            msg.contains("does not carry the deployment's secret"),
            "{msg}"
        );
    }
}

#[test]
fn a_tampered_or_moved_relayed_share_is_refused_naming_its_re_dealer() {
    let w = world();
    let r = round(&w, |_| SET.to_vec());
    // One byte of c's share for d changed in transit.
    let mut inbox = r.inbox(&w, 3);
    let mut sealed = r.dealt[2].sealed[3].clone();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    inbox.items[2].sealed = b64(&sealed);
    refused(r.accept(&w, 3, &inbox).expect_err("tampered"), Some("c"));
    // c's share for f moved into d's inbox.
    let mut inbox = r.inbox(&w, 3);
    inbox.items[2].sealed = b64(&r.dealt[2].sealed[4]);
    refused(r.accept(&w, 3, &inbox).expect_err("moved"), Some("c"));
    // A re-dealer left out.
    let mut inbox = r.inbox(&w, 3);
    inbox.items.remove(1);
    refused(r.accept(&w, 3, &inbox).expect_err("missing"), Some("b"));
    // The honest inbox is still accepted.
    r.accept(&w, 3, &r.inbox(&w, 3)).expect("honest");
}

#[test]
fn a_sharing_before_other_than_the_ledgers_is_refused() {
    let w = world();
    let r = round(&w, |_| SET.to_vec());
    // The platform relays a re-dealer's commitment in place of e's first-dealing one.
    let mut inbox = r.inbox(&w, 4);
    inbox.previous[4] = b64(&r.dealt[0].commitment);
    let msg = refused(r.accept(&w, 4, &inbox).expect_err("other before"), None);
    assert!(msg.contains("acceptance entries in the ledger"), "{msg}");
    // Or leaves one out.
    let mut inbox = r.inbox(&w, 4);
    inbox.previous.pop();
    refused(r.accept(&w, 4, &inbox).expect_err("short before"), None);
}

/// Figures (no assertion on time): per trustee, the compute of re-dealing (polynomial,
/// commitment, five seals), of checking the three shares dealt to it and the re-sharing
/// against the first dealing, and the bytes a re-dealer sends, at both presets. `cargo test
/// -p dtfhe-trustee --test resharing -- --ignored --nocapture`.
#[test]
#[ignore = "figures only"]
fn resharing_figures_at_both_presets() {
    for preset in [Preset::Bfv8192, Preset::Bfv16384] {
        let w = world_at(preset);
        let started = std::time::Instant::now();
        let r = round(&w, |_| SET.to_vec());
        let deal_each = started.elapsed().as_secs_f64() / SET.len() as f64;
        let started = std::time::Instant::now();
        for i in 0..5 {
            r.accept(&w, i, &r.inbox(&w, i)).expect("accepted");
        }
        let check_each = started.elapsed().as_secs_f64() / 5.0;
        println!(
            "figure: {preset:?} 3-of-5 re-sharing per trustee: re-deal {deal_each:.3} s \
             (opening its own first-dealing secret included), check {check_each:.3} s, {} bytes \
             sent by each re-dealer (commitment {} B), 0 by the others",
            r.dealt[0].bytes(),
            r.dealt[0].commitment.len()
        );
    }
}
