//! A trustee killed (SIGKILL) after each round of the key ceremony and restarted finishes
//! the ceremony with the same keys, every role its own `dtfhe` process:
//!
//! 1. trustee `a` is killed once the platform accepted its public-key share, while its
//!    round-1 share (kept on disk before it is sent) is still in flight on a slow uplink;
//! 2. restarted, it resumes from its progress file and gives that very round-1 share; it is
//!    killed again while it waits for the round-1 aggregate (`c` has not joined yet);
//! 3. `c` joins, the aggregate forms, `b` and `c` give their round-2 shares (`a` is down)
//!    and `c` is killed after its round-2 share;
//! 4. the platform restarts too (it forgets every accepted message, so every trustee must
//!    give the very same messages again: a changed round-1 share would change the aggregate
//!    and the kept round-2 shares would be refused); `a` and `c` restart and the ceremony
//!    completes.
//!
//! Then: the deployment's public key is the aggregate of the public-key shares of the first
//! runs; the restarted trustees' `share.key` files are unchanged; the platform's transcript
//! holds the round-1 share `a` kept before its first kill and the round-2 share `c` gave
//! before its kill; the progress files are gone; and queries (one with a product sum, which
//! needs the relinearisation key) release values equal to the plaintext.
#![allow(clippy::unwrap_used)]

mod common;

use common::net::*;
use common::*;
use dtfhe_api::ceremony::{CeremonyState, CeremonyTranscript};
use dtfhe_api::types::{unb64, DeploymentInfo};
use dtfhe_api::{Client, Identity};
use dtfhe_crypto::ceremony::net::{
    aggregate_public_key, CeremonySeed, PkShareMsg, ProgressStage, RelinProgress,
};
use dtfhe_crypto::{codec, Params};
use dtfhe_trustee::daemon::{PK_SHARE_FILE, RLK1_FILE, RLK2_FILE, VERIFIED_FILE};
use dtfhe_trustee::progress;
use std::path::Path;
use std::time::{Duration, Instant};

/// The platform's ceremony state, as trustee `who` sees it.
fn state(net: &Net, who: &str) -> CeremonyState {
    let id = Identity::load(&net.id(who)).unwrap();
    Client::new(&net.url, Some(id), Duration::from_secs(30))
        .get_json("/v1/ceremony")
        .unwrap()
}

/// Waits (up to 120 s) until `done`, else panics with `what` and the logs.
fn wait_until(what: &str, logs: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{what}: not reached\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stage of the progress file of ceremony `seed` in trustee directory `dir`, checked to
/// be readable by its owner only.
fn stage(dir: &Path, params: &Params, seed: &CeremonySeed) -> ProgressStage {
    let file = progress::progress_file(dir, seed.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let payload = dtfhe_model::secret_file::read_secret(&file).unwrap();
    RelinProgress::from_bytes(params, &payload).unwrap().stage()
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

#[test]
fn a_trustee_killed_after_each_ceremony_round_finishes_with_the_same_keys() {
    let mut net = platform("ceremony_restart", "bfv-8192", &NETWORK_PARTIES);
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    let seed = CeremonySeed::from_hex(&state(&net, "b").seed).unwrap();
    let dirs: std::collections::BTreeMap<&str, std::path::PathBuf> =
        TRUSTEES.iter().map(|t| (*t, net.trustee_dir(t))).collect();
    let dir = |t: &str| dirs[t].clone();

    // `b` runs throughout; `a` sends through a slow uplink (1 MiB/s: its 2.4 MB round-1
    // share takes over 2 s, its 0.3 MB public-key share a fraction of that).
    let b = net.start_trustee("b", &[]);
    let link = SlowLink::start(&net.url, 1 << 20);
    let mut a = net.start_trustee_via("a", &link.url, &[]);

    // 1. Killed after its public-key share, its round-1 share kept but not yet accepted.
    wait_until(
        "a: public-key share given, round 1 kept",
        || a.log(),
        || a.log().contains("public-key share given") && dir("a").join(RLK1_FILE).exists(),
    );
    a.kill();
    drop(link);
    let s = state(&net, "b");
    assert!(s.pk_shares.contains(&"a".to_string()), "{s:?}");
    assert!(
        !s.rlk1.contains(&"a".to_string()),
        "round 1 still in flight: {s:?}"
    );
    assert_eq!(stage(&dir("a"), &params, &seed), ProgressStage::Round1Given);
    let a_share = read(&dir("a"), "share.key");
    let a_pk = read(&dir("a"), PK_SHARE_FILE);
    let a_rlk1 = read(&dir("a"), RLK1_FILE);

    // 2. Restarted: resumes and gives the kept round-1 share; killed again while it waits
    //    for the aggregate (`c` has not joined).
    let before = a.log().len();
    a = net.start_trustee("a", &[]);
    let run2 = |a: &Proc| a.log()[before..].to_string();
    wait_until(
        "a (2nd run): round-1 share given",
        || a.log(),
        || run2(&a).contains("round-1 relinearisation share given"),
    );
    a.kill();
    let log2 = run2(&a);
    assert!(
        log2.contains("resuming the key ceremony from") && log2.contains("(round 1 given)"),
        "{log2}"
    );
    assert!(
        !log2.contains("public-key share given"),
        "the platform had it: {log2}"
    );
    let s = state(&net, "b");
    assert!(s.rlk1.contains(&"a".to_string()), "{s:?}");
    assert!(s.round1_aggregate.is_none(), "c has not joined: {s:?}");
    assert_eq!(stage(&dir("a"), &params, &seed), ProgressStage::Round1Given);
    assert_eq!(read(&dir("a"), RLK1_FILE), a_rlk1, "the kept round-1 share");

    // 3. `c` joins; `b` and `c` give round 2 (`a` is down); `c` is killed after its round 2.
    let mut c = net.start_trustee("c", &[]);
    wait_until(
        "b and c: round 2 given",
        || c.log(),
        || {
            let s = state(&net, "b");
            s.rlk2 == ["b", "c"] && !s.complete
        },
    );
    c.kill();
    assert_eq!(stage(&dir("c"), &params, &seed), ProgressStage::Round2Given);
    let c_share = read(&dir("c"), "share.key");
    let c_pk = read(&dir("c"), PK_SHARE_FILE);
    let c_rlk2 = read(&dir("c"), RLK2_FILE);
    let b_pk = read(&dir("b"), PK_SHARE_FILE);

    // 4. The platform restarts (forgetting every accepted message); `a` and `c` restart.
    net.restart_platform();
    let a_before = a.log().len();
    let c_before = c.log().len();
    net.trustees = vec![net.start_trustee("a", &[]), b, net.start_trustee("c", &[])];
    net.wait_ready(Duration::from_secs(180));
    wait_until(
        "every trustee reviewing",
        || net.trustees.iter().map(Proc::log).collect(),
        || {
            net.trustees
                .iter()
                .all(|t| t.log().contains("reviewing release requests"))
        },
    );
    let a_log = net.trustees[0].log()[a_before..].to_string();
    let c_log = net.trustees[2].log()[c_before..].to_string();
    assert!(a_log.contains("(round 1 given)"), "{a_log}");
    assert!(
        a_log.contains("round-2 relinearisation share given"),
        "{a_log}"
    );
    assert!(c_log.contains("(both rounds given)"), "{c_log}");
    assert!(
        c_log.contains("round-2 relinearisation share given"),
        "{c_log}"
    );

    // The same keys: the public key is the aggregate of the first runs' public-key shares.
    let ana = Client::new(
        &net.url,
        Some(Identity::load(&net.id("ana")).unwrap()),
        Duration::from_secs(30),
    );
    let d: DeploymentInfo = ana.get_json("/v1/deployment").unwrap();
    let first: Vec<PkShareMsg> = [&a_pk, &b_pk, &c_pk]
        .iter()
        .map(|b| PkShareMsg::from_bytes(&params, b).unwrap())
        .collect();
    let pk = aggregate_public_key(&params, &seed, &first).unwrap();
    assert_eq!(
        codec::encode_public_key(&params, &pk),
        unb64("public_key", &d.public_key).unwrap()
    );
    assert_eq!(read(&dir("a"), "share.key"), a_share, "a's share unchanged");
    assert_eq!(read(&dir("c"), "share.key"), c_share, "c's share unchanged");
    // The very messages kept before the kills are the ones the keys are made of.
    let b_id = Identity::load(&net.id("b")).unwrap();
    let t: CeremonyTranscript = Client::new(&net.url, Some(b_id), Duration::from_secs(60))
        .get_json("/v1/ceremony/transcript")
        .unwrap();
    assert_eq!(t.seed, seed.to_hex());
    assert_eq!(unb64("rlk1", &t.rlk1["a"]).unwrap(), a_rlk1);
    assert_eq!(unb64("rlk2", &t.rlk2["c"]).unwrap(), c_rlk2);
    for who in TRUSTEES {
        assert!(
            progress::progress_files(&dir(who)).unwrap().is_empty(),
            "{who}: progress file left"
        );
        assert!(
            dir(who).join(VERIFIED_FILE).exists(),
            "{who}: keys not checked"
        );
    }
    let atts: Vec<dtfhe_api::ceremony::Attestation> =
        ana.get_json("/v1/ceremony/attestations").unwrap();
    assert_eq!(atts.len(), 3);

    // The keys work: releases equal the plaintext, a product sum (relinearised with the
    // deployment's key) among them.
    net.upload_sources();
    net.released("SELECT type, COUNT(*), SUM(torque), AVG(rpm) FROM ai4i GROUP BY type");
    net.released("SELECT VAR_POP(torque), COVAR_POP(torque, rpm) FROM ai4i");
}
