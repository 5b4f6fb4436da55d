//! t-of-n release at the trustee: each of the t named trustees answers with its
//! Lagrange-weighted share and the shares combine to the plaintext total; a trustee never
//! answers a second, different set for a ciphertext it already answered (so shares of two
//! sets are never both produced), and a repeated request for the same set gets the logged
//! share back.

mod common;

use dtfhe_crypto::column::encrypt;
use dtfhe_crypto::release::{centred, combine, Coeff0Share};
use dtfhe_crypto::threshold::deal_locally;
use dtfhe_crypto::{Params, Preset};
use dtfhe_release::audit::RowSet;
use dtfhe_release::{
    DatasetRows, Disclosure, GroupFacts, LocalPolicy, Mode, Policy, ReleaseItem, ReleaseRequest,
};
use dtfhe_trustee::shares::SHARES_FILE;
use dtfhe_trustee::{Trustee, TrusteeError};
use fhe::bfv::{Ciphertext, PublicKey};
use std::path::Path;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// Five trustees (audit mode or dp), ceremony recorded, 3-of-5 dealing stored.
fn deployment(root: &Path, mode: Mode) -> (Params, PublicKey, Vec<Trustee>) {
    let params = Preset::Bfv8192.params().expect("preset");
    let policy = LocalPolicy {
        mode,
        ..LocalPolicy::default()
    };
    let (trustees, shares, rec) = common::recorded_ceremony(root, &NAMES, &params, &policy);
    let secrets = deal_locally(&params, &shares, 3, &mut rand::rng()).expect("dealing");
    for (t, s) in trustees.iter().zip(&secrets) {
        t.keep_threshold(&params, s).expect("store");
        // A kept secret is never overwritten by one of its own epoch.
        assert!(t.keep_threshold(&params, s).is_err());
    }
    (params, rec.keys.public, trustees)
}

const POLICY: Policy = Policy {
    min_group_size: 1,
    trustees: 5,
    allow_key_filters: false,
};

fn request(ct: &Ciphertext, id: &str, epsilon: Option<f64>) -> ReleaseRequest {
    ReleaseRequest {
        release_id: id.into(),
        dataset: "d".into(),
        query: "SELECT SUM(x) FROM d".into(),
        groups: vec![GroupFacts {
            label: "(all rows)".into(),
            rows: 3,
        }],
        items: vec![ReleaseItem {
            group: 0,
            what: "Σ x".into(),
            per_row_bound: 100,
            noise_bits: 10,
            ciphertext: ct.clone(),
        }],
        rows: vec![DatasetRows {
            dataset: "d".into(),
            groups: vec![RowSet::default()],
        }],
        key_columns: Vec::new(),
        epsilon,
    }
}

fn release(params: &Params, ts: &[Trustee], set: &[u32], req: &ReleaseRequest) -> Vec<Coeff0Share> {
    set.iter()
        .map(|&j| {
            ts[j as usize - 1]
                .review_for_set(params, &POLICY, req, set)
                .expect("review")
                .remove(0)
        })
        .collect()
}

/// `values` encrypted, and released as request `id` by `set`: the combined shares decrypt to
/// exactly their sum. Returns the ciphertext, the request and the set's shares.
fn released_exactly(
    params: &Params,
    pk: &PublicKey,
    ts: &[Trustee],
    values: &[i64],
    id: &str,
    set: &[u32],
) -> (Ciphertext, ReleaseRequest, Vec<Coeff0Share>) {
    let x = encrypt(params, pk, values, 0, &mut rand::rng()).expect("encrypt");
    let req = request(&x, id, None);
    let shares = release(params, ts, set, &req);
    let want: i128 = values.iter().map(|&v| v as i128).sum();
    assert_eq!(
        centred(params, combine(params, &x, &shares).expect("combine")),
        want
    );
    (x, req, shares)
}

#[test]
fn any_three_release_and_a_second_set_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let (params, pk, ts) = deployment(root.path(), Mode::Audit);
    let (x, req, shares) = released_exactly(&params, &pk, &ts, &[5, -7, 12, 40], "r1", &[2, 4, 5]);
    let want = 5 - 7 + 12 + 40;
    // Trustee 4 asked again for the same set: the identical logged share.
    let again = ts[3]
        .review_for_set(&params, &POLICY, &req, &[5, 2, 4])
        .expect("same set, other order");
    assert_eq!(again[0].to_bytes(), shares[1].to_bytes());
    // Trustee 4 asked for another set containing it: refused, nothing logged.
    let log = root.path().join("d").join(SHARES_FILE);
    let before = std::fs::read_to_string(&log).expect("log");
    let e = ts[3]
        .review_for_set(&params, &POLICY, &req, &[1, 3, 4])
        .expect_err("another set");
    assert!(matches!(e, TrusteeError::OtherSet { .. }), "{e}");
    assert!(
        e.to_string().contains("{2,4,5}") && e.to_string().contains("{1,3,4}"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&log).expect("log"), before);
    // The attack the rule prevents: with shares of {2,4,5} and a second answer of trustee 4
    // for {1,3,4}, trustees 1 and 3 would complete that set too. Trustees 1 and 3 answer
    // for {1,3,4}, but without trustee 4's share for that set the total stays hidden.
    let partial: Vec<Coeff0Share> = [1u32, 3]
        .iter()
        .map(|&j| {
            ts[j as usize - 1]
                .review_for_set(&params, &POLICY, &req, &[1, 3, 4])
                .expect("review")
                .remove(0)
        })
        .collect();
    let mut mixed = partial.clone();
    mixed.push(shares[1].clone()); // trustee 4's share is for {2,4,5}
    assert_ne!(
        centred(&params, combine(&params, &x, &mixed).expect("combine")),
        want,
        "shares of two sets combined"
    );
    // A trustee not in the named set, or a set of the wrong size, is refused.
    assert!(ts[0]
        .review_for_set(&params, &POLICY, &request(&x, "r2", None), &[2, 3, 4])
        .is_err());
    assert!(ts[0]
        .review_for_set(&params, &POLICY, &request(&x, "r2", None), &[1, 2])
        .is_err());
}

#[test]
fn refused_other_set_spends_no_dp_budget() {
    let root = tempfile::tempdir().expect("tempdir");
    let (params, pk, ts) = deployment(root.path(), Mode::dp(1.0, None).expect("dp"));
    let x = encrypt(&params, &pk, &[3, 4], 0, &mut rand::rng()).expect("encrypt");
    let req = request(&x, "r1", Some(0.25));
    ts[0]
        .review_for_set(&params, &POLICY, &req, &[1, 2, 3])
        .expect("first");
    let spent = || {
        Disclosure::open(&root.path().join("a"))
            .expect("policy")
            .spent("d")
            .expect("spent")
    };
    assert_eq!(spent(), 0.25);
    let e = ts[0]
        .review_for_set(&params, &POLICY, &req, &[1, 4, 5])
        .expect_err("other set");
    assert!(matches!(e, TrusteeError::OtherSet { .. }), "{e}");
    assert_eq!(spent(), 0.25, "a refused request spent budget");
}

/// After a proactive re-sharing (done in-process here; over the network in
/// `dtfhe-cli --test reshare_network`): position 5 is held by `f`, a trustee that joined
/// without a key share. A ciphertext answered before the re-sharing is refused under the
/// new epoch (its set label carries the epoch), a fresh one is released by a set with `f`,
/// an old-epoch share does not combine with new ones, and `f` refuses what needs an n-of-n
/// share, naming itself.
#[test]
fn after_a_re_sharing_old_ciphertexts_are_refused_and_the_joined_trustee_releases() {
    use dtfhe_crypto::release::trustee_share_threshold;
    use dtfhe_crypto::threshold::{Dealing, ThresholdSecret};
    let root = tempfile::tempdir().expect("tempdir");
    let (params, pk, mut ts) = deployment(root.path(), Mode::Audit);
    let old_ct = encrypt(&params, &pk, &[3, 4], 0, &mut rand::rng()).expect("encrypt");
    let old_req = request(&old_ct, "r-old", None);
    release(&params, &ts, &[1, 2, 3], &old_req);

    // a, b, c re-deal; every position keeps its new secret of epoch 1; e leaves, f joins.
    let set = [1u32, 2, 3];
    let old: Vec<ThresholdSecret> = ts
        .iter()
        .map(|t| t.threshold_secret(&params).expect("secret"))
        .collect();
    let mut rng = rand::rng();
    let dealings: Vec<Dealing> = set
        .iter()
        .map(|&i| Dealing::reshare(&params, &old[i as usize - 1], &set, &mut rng).expect("deal"))
        .collect();
    let f = Trustee::join(&root.path().join("f"), "f", &LocalPolicy::default()).expect("join");
    ts[4] = f;
    for (j, t) in (1u32..).zip(&ts) {
        let dealt: Vec<_> = dealings
            .iter()
            .map(|d| d.share_for(&params, j).expect("share"))
            .collect();
        let new = ThresholdSecret::from_resharing(&params, j, 3, 5, &set, &dealt)
            .expect("new secret")
            .at_epoch(1);
        t.keep_threshold(&params, &new).expect("replace");
        // Not again: a secret is replaced only by a later epoch's.
        assert!(t.keep_threshold(&params, &new).is_err());
        assert_eq!(t.threshold_epoch(&params).expect("epoch"), Some(1));
    }

    // The ciphertext answered under epoch 0, asked of the same set under epoch 1: refused.
    let e = ts[0]
        .review_for_set(&params, &POLICY, &request(&old_ct, "r-again", None), &set)
        .expect_err("old ciphertext under the new epoch");
    assert!(matches!(e, TrusteeError::OtherSet { .. }), "{e}");
    assert!(
        e.to_string().contains("{1,2,3}") && e.to_string().contains("{e1/1,2,3}"),
        "{e}"
    );

    // A fresh ciphertext: released by {1, 2, 5} with f, exactly.
    let (x, _, shares) = released_exactly(&params, &pk, &ts, &[9, -2, 30], "r-new", &[1, 2, 5]);
    let want = 9 - 2 + 30;
    // e's old-epoch share in place of f's: not the total.
    let stale =
        trustee_share_threshold(&params, &old[4], &[1, 2, 5], &x, 0, &mut rng).expect("old share");
    let mixed = vec![shares[0].clone(), shares[1].clone(), stale];
    assert_ne!(
        centred(&params, combine(&params, &x, &mixed).expect("combine")),
        want,
        "an old-epoch share combined with new ones"
    );
    // f has no n-of-n key share: an n-of-n review is refused, naming it.
    let e = ts[4]
        .review(&params, &POLICY, &request(&x, "r-n-of-n", None))
        .expect_err("no key share");
    assert!(
        matches!(e, TrusteeError::Joined { ref trustee } if trustee == "f"),
        "{e}"
    );
}
