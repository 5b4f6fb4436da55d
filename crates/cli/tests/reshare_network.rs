//! Replacing a trustee of a 3-of-5 networked deployment, every role its own `dtfhe` process
//! (`serve --trustees a,b,c,d,e --threshold 3`, the trustee daemons, the edge agents, the
//! analyst's `query --server`):
//!
//! - a query released by three of a..d (e down, then back) before the replacement;
//! - `dtfhe admin replace-trustee --old e --new f`: a `trustee_replaced` ledger entry; the
//!   new trustee `f` runs `dtfhe trustee --join` (no key ceremony, no n-of-n key share);
//! - the proactive re-sharing runs over the network: the first three trustees re-deal,
//!   every trustee of the new list checks its shares and the re-sharing against the first
//!   dealing's commitments and keeps a threshold secret of epoch 1; nothing is decrypted and
//!   the platform only relays sealed shares (the bytes it keeps do not open with anything
//!   it holds);
//! - the departed `e`, still running, stops with "not a trustee"; restarted, it is refused
//!   the same way, and its answers are never counted;
//! - two of a..d down: a query is released by a set including `f`, equal to the plaintext;
//! - the first query asked again with everyone up: its ciphertexts were answered before the
//!   re-sharing, so the set that answered it refuses under the new epoch (one share per
//!   ciphertext and epoch: old and new shares never combine), nothing released.
//!
//! And as an attack: a sealed share the platform relays changed by one byte is refused by
//! its recipient, naming the re-dealer, before it replaces anything; the re-sharing does not
//! complete.
//!
//! Prints the re-sharing's time and bytes per trustee (figures only, no timed assertion).

mod common;

use common::net::*;
use common::*;
use std::time::Duration;

const FIVE: [&str; 5] = ["a", "b", "c", "d", "e"];

fn index(net: &Net, name: &str) -> usize {
    net.names.iter().position(|t| t == name).expect("a trustee")
}

/// The epoch of the threshold secret trustee `t` keeps on disk.
fn epoch_of(net: &Net, t: &str) -> u32 {
    let params = dtfhe_crypto::Preset::Bfv8192.params().expect("preset");
    let trustee = dtfhe_trustee::Trustee::open(&net.trustee_dir(t), t, &params).expect("dir");
    trustee
        .threshold_secret(&params)
        .expect("threshold.key")
        .epoch
}

/// `dtfhe admin replace-trustee` as `root`: (success, stdout, stderr).
fn replace(net: &Net, old: &str, new: &str) -> (bool, String, String) {
    net.admin("replace-trustee", &["--old", old, "--new", new])
}

/// The part of trustee `t`'s log written after `from` bytes.
fn log_after(net: &Net, t: &str, from: usize) -> String {
    let log = net.trustees[index(net, t)].log();
    log.get(from..).unwrap_or_default().to_string()
}

/// Starts trustee `t` again with `start` and waits until it reviews releases again; returns
/// where its log stood at the restart (for [`log_after`]).
fn restart(net: &mut Net, t: &str, start: impl FnOnce(&Net) -> Proc) -> usize {
    let i = index(net, t);
    let before = net.trustees[i].log().len();
    net.trustees[i] = start(net);
    net.trustees[i].wait_until("did not come back", Duration::from_secs(120), || {
        log_after(net, t, before).contains("reviewing release requests")
    });
    before
}

/// The new trustee `f` registers and starts with `--join`, waiting to be named.
fn join_f(net: &mut Net) {
    register_party(&net.root, &net.url, "f", "trustee", "");
    net.names.push("f".into());
    let f = net.start_trustee("f", &["--join", "--threshold", "3"]);
    net.trustees.push(f);
}

#[test]
fn a_replaced_trustee_is_re_shared_out_and_its_replacement_releases() {
    let mut net = start_quorum("reshare_network", &FIVE, 3);
    net.upload_sources();

    // Before the replacement: e down, a query released by three of a..d; e back.
    net.trustees[4].kill();
    let first = "SELECT type, COUNT(*), SUM(tool_wear) FROM ai4i GROUP BY type";
    let q1 = net.released(first);
    let set1 = net.approvers(q1, 3);
    assert_eq!(set1.len(), 3, "{set1:?}");
    restart(&mut net, "e", |net| net.start_trustee("e", &[]));
    join_f(&mut net);

    let (ok, out, err) = replace(&net, "e", "f");
    assert!(ok, "{err}");
    assert!(
        out.contains("replaced `e` by `f` at position 5; re-sharing epoch 1 opened"),
        "{out}"
    );
    // The re-sharing runs; the deployment is ready again once every trustee accepted.
    net.wait_ready(Duration::from_secs(300));
    let four = ["a", "b", "c", "d", "f"];
    for t in four {
        let log = net.trustees[index(&net, t)].log();
        print_figures(&log, &["re-dealt its share", "re-sharing took"]);
        assert!(
            log.contains("threshold secret of epoch 1 kept, the old one deleted"),
            "{t}: {log}"
        );
        assert_eq!(epoch_of(&net, t), 1, "{t}");
        assert!(
            !net.trustee_dir(t).join("resharing-1.key").exists(),
            "{t} kept its re-sharing key"
        );
    }
    // f holds no n-of-n key share.
    assert!(!net.trustee_dir("f").join("share.key").exists());
    // The first three trustees in good standing re-dealt, f did not.
    for t in ["a", "b", "c"] {
        assert!(net.trustees[index(&net, t)]
            .log()
            .contains("re-dealt its share for epoch 1"));
    }
    assert!(!net.trustees[index(&net, "f")].log().contains("re-dealt"));

    // The platform relayed sealed shares it cannot open: its directory holds no key that
    // opens them (the recipients' keys never left their directories, and are deleted).
    let round = net.root.join("platform/dealing/epoch-1");
    let sealed: Vec<_> = files_under(&round)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("sealed-"))
        .collect();
    assert_eq!(sealed.len(), 15, "3 re-dealers × 5 recipients: {sealed:?}");
    let stranger = dtfhe_crypto::seal::RecipientKeyPair::generate(&mut rand::rng());
    for s in &sealed {
        let bytes = std::fs::read(s).expect("sealed");
        assert!(
            dtfhe_crypto::seal::open(&stranger, b"", b"", &bytes).is_err(),
            "{}",
            s.display()
        );
    }

    // Nor does it keep any secret of the dealings: its dealing directories hold public keys,
    // commitments, sealed shares, acceptances and the plan, no secret key file.
    let kept: Vec<_> = files_under(&net.root.join("platform/dealing"))
        .into_iter()
        .filter(|p| {
            !p.extension()
                .is_some_and(|e| e == "bin" || e == "txt" || e == "json")
        })
        .collect();
    assert!(kept.is_empty(), "{kept:?}");

    // e's own signed requests are refused: it can neither list, claim nor answer releases.
    let e_client = dtfhe_api::Client::new(
        &net.url,
        Some(dtfhe_api::Identity::load(&net.id("e")).expect("e's identity")),
        Duration::from_secs(30),
    );
    for path in ["/v1/releases/pending", "/v1/resharing"] {
        let refused = e_client
            .get_json::<serde_json::Value>(path)
            .expect_err(path);
        assert_eq!(refused.status(), Some(403), "{path}: {refused}");
    }

    // The departed e, still running, is refused and stops; restarted, the same.
    let e = index(&net, "e");
    let status = net.trustees[e].wait(Duration::from_secs(120));
    assert!(!status.success());
    let log = net.trustees[e].log();
    assert!(
        log.contains("`e` is not a trustee of this deployment"),
        "{log}"
    );
    let before = log.len();
    net.trustees[e] = net.start_trustee("e", &[]);
    let status = net.trustees[e].wait(Duration::from_secs(120));
    assert!(!status.success());
    let again = log_after(&net, "e", before);
    assert!(
        again.contains("`e` is not a trustee of this deployment"),
        "{again}"
    );

    // Two of a..d down: released by a set including f, equal to the plaintext.
    for t in ["a", "b"] {
        let i = index(&net, t);
        net.trustees[i].kill();
    }
    let q2 = net.released("SELECT COUNT(*), AVG(torque), SUM(rpm) FROM ai4i");
    let set2 = net.approvers(q2, 3);
    assert!(set2.contains(&"f".to_string()), "{set2:?}");
    assert!(!set2.contains(&"e".to_string()), "{set2:?}");

    // Everyone back: the first query again. Its ciphertexts were answered by set1 under
    // epoch 0; set1 claims it again and refuses under epoch 1, nothing is released.
    for t in ["a", "b"] {
        let i = index(&net, t);
        net.trustees[i] = net.start_trustee(t, &[]);
    }
    let o = dtfhe(net.query_args_waiting(first, 60));
    let (out, err) = texts(&o);
    assert!(!o.status.success(), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("was already released by the trustee set {") && err.contains("e1/"),
        "{err}"
    );
    let refused = query_id(&err);
    assert!(
        net.approvers(refused, 0).is_empty(),
        "no share for {refused}"
    );

    // The ledger records the replacement and the re-sharing, and an auditor's
    // `dtfhe audit verify --server` still verifies it (the release approved by set1 before
    // the replacement stays valid).
    register_party(&net.root, &net.url, "aud", "auditor", "");
    let audit = dtfhe([
        "audit".as_ref(),
        "verify".as_ref(),
        "--server".as_ref(),
        net.url.as_ref(),
        "--identity".as_ref(),
        net.id("aud").as_os_str(),
    ] as [&std::ffi::OsStr; 6]);
    let (out, err) = texts(&audit);
    assert!(audit.status.success(), "{out}\n{err}");
}

/// A replacement is refused before anything changes: by a trustee that is not registered,
/// of a party that is no trustee, and by the departed trustee itself.
#[test]
fn a_replacement_needs_a_registered_trustee_outside_the_list() {
    let net = start_quorum("reshare_refused", &FIVE, 3);
    let (ok, _, err) = replace(&net, "e", "nobody");
    assert!(
        !ok && err.contains("`nobody` is not a registered trustee identity"),
        "{err}"
    );
    let (ok, _, err) = replace(&net, "ana", "a");
    assert!(
        !ok && err.contains("`ana` is not a trustee of this deployment"),
        "{err}"
    );
    let (ok, _, err) = replace(&net, "e", "d");
    assert!(
        !ok && err.contains("`d` is not a registered trustee identity"),
        "{err}"
    );
    // Nothing changed: the deployment is ready and no re-sharing exists.
    net.wait_ready(Duration::from_secs(30));
    assert!(!net.root.join("platform/dealing/epoch-1").exists());
}

/// The platform changes one byte of the share c re-dealt to d before d fetches it: d refuses
/// the re-sharing naming c, keeps its epoch-0 secret and stops; the re-sharing does not
/// complete (releases stay paused rather than run on mixed epochs).
#[test]
fn a_relayed_share_changed_at_the_platform_is_refused_before_anything_is_replaced() {
    let mut net = start_quorum("reshare_tampered", &FIVE, 3);
    // d looks at the platform every 30 s only, so the test changes what is relayed to it
    // before it fetches its inbox (the three re-dealers deal in about a second).
    net.trustees[3].kill();
    let before = restart(&mut net, "d", |net| {
        net.start_trustee_polling("d", &net.url, 30_000, &[])
    });
    join_f(&mut net);
    let (ok, _, err) = replace(&net, "e", "f");
    assert!(ok, "{err}");
    let round = net.root.join("platform/dealing/epoch-1");
    poll_until(
        Duration::from_secs(180),
        || (1..=3).all(|p| round.join(format!("commitment-{p}.bin")).exists()),
        || {
            net.trustees
                .iter()
                .map(Proc::log)
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    let file = round.join("sealed-3-to-4.bin");
    let mut sealed = std::fs::read(&file).expect("c's share for d");
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    std::fs::write(&file, &sealed).expect("changed");

    let d = index(&net, "d");
    let status = net.trustees[d].wait(Duration::from_secs(180));
    assert!(!status.success());
    let log = log_after(&net, "d", before);
    assert!(
        log.contains("refuses the re-sharing of epoch 1 by c")
            && log.contains("its threshold secret was not replaced"),
        "{log}"
    );
    assert_eq!(epoch_of(&net, "d"), 0, "d replaced its secret");
    assert!(!round.join("accepted-4.txt").exists());
}
