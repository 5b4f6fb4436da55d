//! Helpers shared by the trustee's integration tests.
#![allow(dead_code)]

use dtfhe_crypto::ceremony::{self, RecordedCeremony};
use dtfhe_crypto::Params;
use dtfhe_release::LocalPolicy;
use dtfhe_trustee::Trustee;
use fhe::bfv::SecretKey;
use std::path::Path;

pub mod world;

/// The trustees `names`, created in `root/<name>` under `policy`, after an in-process key
/// ceremony each of them recorded: the trustees, their key shares and the ceremony.
pub fn recorded_ceremony(
    root: &Path,
    names: &[&str],
    params: &Params,
    policy: &LocalPolicy,
) -> (Vec<Trustee>, Vec<SecretKey>, RecordedCeremony) {
    let trustees: Vec<Trustee> = names
        .iter()
        .map(|n| Trustee::create(&root.join(n), n, params, policy).expect("create trustee"))
        .collect();
    let shares: Vec<SecretKey> = trustees
        .iter()
        .map(|t| t.share_for_ceremony().expect("a key share").clone())
        .collect();
    let rec = ceremony::run_recorded(params, &shares, &mut rand::rng()).expect("ceremony");
    for (t, m) in trustees.iter().zip(&rec.pk_shares) {
        t.record_ceremony(params, &rec.seed, m).expect("record");
    }
    (trustees, shares, rec)
}
