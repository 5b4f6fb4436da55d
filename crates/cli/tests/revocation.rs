//! Revocation as attacks, on a 2-of-3 networked deployment of real `dtfhe` processes
//! (`serve --trustees a,b,c --threshold 2`, three trustee daemons, the edge agents, the
//! analysts' `query --server`), revoked with `dtfhe admin revoke`:
//!
//! - a revoked source's upload, a revoked analyst's query, a revoked auditor's ledger read
//!   and audit, a revoked trustee's claim, answer and daemon: each refused with 403
//!   `revoked`, naming only the revocation;
//! - a release requested by an analyst revoked while it waited: the trustees refuse it;
//! - a release whose set named a trustee revoked before it answered: the set opens again and
//!   the two trustees left release it, equal to the plaintext; the revoked one's share is
//!   never counted (it cannot answer, and the analyst refuses a revoked trustee's share:
//!   `dtfhe_analyst` unit test);
//! - a revoked name is not registered again; revoking again changes nothing; an unknown name
//!   is 404; the last admin stays; the ledger keeps every earlier entry and `dtfhe audit
//!   verify` still verifies it, naming the revocations.

mod common;

use common::net::*;
use common::*;
use dtfhe_api::release::{ReleaseAnswer, ReleaseInfo};
use dtfhe_api::types::{IdentityRecord, LedgerPage};
use dtfhe_api::{ApiError, Client, Identity};
use std::time::{Duration, Instant};

/// A signed client of the test's identity `name`.
fn client(net: &Net, name: &str) -> Client {
    let id = Identity::load(&net.id(name)).expect("identity file");
    Client::new(&net.url, Some(id), Duration::from_secs(60))
}

/// `dtfhe admin revoke` as `root`: (success, stdout, stderr).
fn revoke(net: &Net, name: &str, reason: &str) -> (bool, String, String) {
    net.admin("revoke", &["--name", name, "--reason", reason])
}

/// `dtfhe admin register` as `root` of `name` (a fresh identity) with `role`.
fn register(net: &Net, name: &str, role: &str, datasets: &str) -> std::process::Output {
    let key = identity(&net.root, name);
    let root = net.id("root");
    let mut args: Vec<std::ffi::OsString> = [
        "admin",
        "register",
        "--server",
        &net.url,
        "--identity",
        root.to_str().expect("utf-8"),
        "--name",
        name,
        "--role",
        role,
        "--public-key",
        &key,
    ]
    .iter()
    .map(Into::into)
    .collect();
    if !datasets.is_empty() {
        args.extend(["--datasets".into(), datasets.into()]);
    }
    dtfhe(args)
}

/// `dtfhe audit verify --server` as `who`.
fn audit(net: &Net, who: &str) -> std::process::Output {
    let id = net.id(who);
    dtfhe([
        "audit".as_ref(),
        "verify".as_ref(),
        "--server".as_ref(),
        net.url.as_ref(),
        "--identity".as_ref(),
        id.as_os_str(),
    ] as [&std::ffi::OsStr; 6])
}

/// The failure is the platform's 403 `revoked` problem naming `who`, and nothing else.
fn refused_as_revoked<T: std::fmt::Debug>(r: Result<T, ApiError>, who: &str) {
    match r {
        Err(ApiError::Problem { problem, .. }) => {
            assert_eq!(problem.status, 403, "{problem:?}");
            assert_eq!(problem.short_kind(), "revoked", "{problem:?}");
            assert_eq!(
                problem.detail.as_deref(),
                Some(format!("identity `{who}` is revoked").as_str())
            );
        }
        other => panic!("{who}: not refused as revoked: {other:?}"),
    }
}

/// The whole ledger, read by `root`.
fn ledger(net: &Net) -> LedgerPage {
    client(net, "root")
        .get_json("/v1/ledger?limit=10000")
        .expect("ledger")
}

/// Waits (up to 60 s) for a pending release of `sql`, as trustee `t` sees it.
fn pending_release(net: &Net, t: &str, sql: &str) -> ReleaseInfo {
    let c = client(net, t);
    let started = Instant::now();
    loop {
        let pending: Vec<ReleaseInfo> = c.get_json("/v1/releases/pending").expect("pending");
        if let Some(r) = pending.into_iter().find(|r| r.statement.sql == sql) {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no release of `{sql}`: {}",
            net.platform.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn revoked_parties_are_refused_and_a_revoked_trustee_is_not_counted() {
    let mut net = start_quorum("revocation", &["a", "b", "c"], 2);
    for (who, role, datasets) in [
        ("aud", "auditor", ""),
        ("aud2", "auditor", ""),
        ("ana2", "analyst", "ai4i"),
    ] {
        let o = register(&net, who, role, datasets);
        assert!(o.status.success(), "{who}: {}", texts(&o).1);
    }
    net.upload_sources();

    // Unknown names and the last admin: refused, nothing written.
    let (done, out, err) = revoke(&net, "nobody", "left");
    assert!(!done && out.is_empty(), "{out}");
    assert!(err.contains(" 404 "), "{err}");
    assert!(err.contains("no identity `nobody` is registered"), "{err}");
    let (done, _, err) = revoke(&net, "root", "rotated");
    assert!(
        !done && err.contains(" 409 ") && err.contains("`root` is the last admin"),
        "{err}"
    );
    let (done, _, err) = revoke(&net, "ana", "");
    assert!(!done && err.contains("needs a reason"), "{err}");
    let o = audit(&net, "aud");
    assert!(o.status.success(), "auditor before: {}", texts(&o).1);
    let before = ledger(&net);
    assert!(before.entries.iter().all(|e| e.kind != "identity_revoked"));

    // Every trustee down: two requests wait for them. ana2's, whose analyst is revoked while
    // it waits; ana's, whose set names c and b (claimed for them), c being revoked before it
    // answered.
    for t in &mut net.trustees {
        t.kill();
    }
    let ana2_id = net.id("ana2");
    let ana2_args: Vec<String> = [
        "query",
        "--server",
        &net.url,
        "--identity",
        ana2_id.to_str().expect("utf-8"),
        "--timeout",
        "60",
        "--format",
        "json",
        "SELECT COUNT(*), AVG(rpm) FROM ai4i",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let mut ana2_query = Proc::spawn(
        &net.root,
        "query-ana2",
        &ana2_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    ana2_query.wait_until("got no query id", Duration::from_secs(60), || {
        ana2_query.log().contains("accepted by the platform")
    });
    let ana2_release = query_id(&ana2_query.log());
    let sql = "SELECT type, COUNT(*), SUM(tool_wear), AVG(torque) FROM ai4i GROUP BY type";
    std::thread::scope(|scope| {
        let released = scope.spawn(|| net.released(sql));
        let r = pending_release(&net, "c", sql);
        for t in ["c", "b"] {
            let _: ReleaseInfo = client(&net, t)
                .post_json(&format!("/v1/releases/{}/claim", r.id), &())
                .expect("claim");
        }
        let fixed: ReleaseInfo = client(&net, "a")
            .get_json(&format!("/v1/releases/{}", r.id))
            .expect("release");
        let set = fixed.quorum.and_then(|q| q.set).expect("set fixed");
        assert_eq!(set, ["c", "b"]);

        // Revoked: each prints its ledger entry; tiny again changes nothing.
        let mut seqs = Vec::new();
        for who in ["tiny", "ana2", "aud", "c"] {
            let (done, out, err) = revoke(&net, who, "left the consortium");
            assert!(done, "{who}: {err}");
            assert!(
                out.starts_with(&format!("revoked `{who}` (")) && out.contains("by root"),
                "{out}"
            );
            seqs.push(out);
        }
        let (done, again, err) = revoke(&net, "tiny", "another reason");
        assert!(done, "{err}");
        assert_eq!(again, seqs[0]);

        // The revoked trustee: no claim, no answer, no list, whatever it signs.
        let c = client(&net, "c");
        refused_as_revoked(
            c.post_json::<_, ReleaseInfo>(&format!("/v1/releases/{}/claim", r.id), &()),
            "c",
        );
        let forged = ReleaseAnswer {
            approve: true,
            sealed: vec![dtfhe_api::types::b64(&[7u8; 64]); r.ciphertext_hashes.len()],
            reason: None,
            epsilon: None,
        };
        refused_as_revoked(
            c.post_json::<_, ReleaseInfo>(&format!("/v1/releases/{}/answers", r.id), &forged),
            "c",
        );
        refused_as_revoked(c.get_json::<Vec<ReleaseInfo>>("/v1/releases/pending"), "c");
        // The set that named it is open again, b still a claimant.
        let reopened: ReleaseInfo = client(&net, "a")
            .get_json(&format!("/v1/releases/{}", r.id))
            .expect("release");
        let q = reopened.quorum.expect("quorum");
        assert_eq!((q.claimed, q.set), (vec!["b".to_string()], None));

        // Its daemon stops at its first request, naming the revocation.
        let mut c_daemon = net.start_trustee("c", &[]);
        assert!(!c_daemon.wait(Duration::from_secs(60)).success());
        assert!(
            c_daemon.log().contains("identity `c` is revoked"),
            "{}",
            c_daemon.log()
        );

        // a and b back: they release ana's query without c, equal to the plaintext.
        let back: Vec<Proc> = ["a", "b"]
            .iter()
            .map(|t| net.start_trustee(t, &[]))
            .collect();
        let id = released.join().expect("analyst thread");
        assert_eq!(id, r.id);
        let mut approvers = net.approvers(id, 2);
        approvers.sort();
        assert_eq!(approvers, ["a", "b"]);
        // ana2's request, which waited: refused by the trustees, nothing released.
        let refusal = format!("release {ana2_release}: refused: `ana2` is a revoked identity");
        poll_until(
            Duration::from_secs(60),
            || {
                ["a", "b"].iter().any(|t| {
                    std::fs::read_to_string(net.root.join(format!("trustee-{t}.log")))
                        .unwrap_or_default()
                        .contains(&refusal)
                })
            },
            || back.iter().map(Proc::log).collect::<Vec<_>>().join("\n"),
        );
        assert!(net.approvers(ana2_release, 0).is_empty());
        drop(back);
    });
    // ana2's waiting query was refused at its next request.
    assert!(!ana2_query.wait(Duration::from_secs(60)).success());
    assert!(
        ana2_query.log().contains("identity `ana2` is revoked"),
        "{}",
        ana2_query.log()
    );

    // The revoked source cannot upload.
    let csv = net.root.join("tiny-again.csv");
    std::fs::write(&csv, ai4i_slice(297, 300)).expect("csv");
    let log = net
        .upload("tiny", &repo().join("schemas/ai4i.toml"), &csv)
        .expect_err("revoked source uploaded");
    assert!(log.contains("identity `tiny` is revoked"), "{log}");
    // The revoked analyst cannot query.
    let o = dtfhe(&ana2_args);
    let (out, err) = texts(&o);
    assert!(!o.status.success() && out.is_empty(), "{out}");
    assert!(err.contains("identity `ana2` is revoked"), "{err}");
    // The revoked auditor cannot read the ledger.
    refused_as_revoked(
        client(&net, "aud").get_json::<LedgerPage>("/v1/ledger?limit=1"),
        "aud",
    );
    let o = audit(&net, "aud");
    assert!(!o.status.success());
    assert!(texts(&o).1.contains("identity `aud` is revoked"));
    // A revoked name does not come back, under another key or its own.
    let fresh = Identity::generate("tiny").expect("identity");
    let old = Identity::load(&net.id("tiny")).expect("identity file");
    for id in [&fresh, &old] {
        let record = IdentityRecord::of(id, dtfhe_api::Role::Source, vec!["ai4i".into()]);
        match client(&net, "root").register(&record) {
            Err(ApiError::Problem { problem, .. }) => {
                assert_eq!(problem.status, 409, "{problem:?}");
                let detail = problem.detail.unwrap_or_default();
                assert!(detail.contains("`tiny` is revoked"), "{detail}");
            }
            other => panic!("re-registered: {other:?}"),
        }
    }

    // The registry carries the revocations; the ledger kept every earlier entry, holds one
    // revocation each, and still verifies, naming them.
    let ids: Vec<IdentityRecord> = client(&net, "root")
        .get_json("/v1/identities")
        .expect("registry");
    for r in &ids {
        let revoked = ["tiny", "ana2", "aud", "c"].contains(&r.name.as_str());
        assert_eq!(r.is_revoked(), revoked, "{r:?}");
        if let Some(rev) = &r.revoked {
            assert_eq!(
                (rev.by.as_str(), rev.reason.as_str()),
                ("root", "left the consortium")
            );
        }
    }
    let after = ledger(&net);
    for (old, new) in before.entries.iter().zip(&after.entries) {
        assert_eq!(old.encoded, new.encoded, "entry {} changed", old.seq);
    }
    let revocations: Vec<&str> = after
        .entries
        .iter()
        .filter(|e| e.kind == "identity_revoked")
        .map(|e| e.subject.as_str())
        .collect();
    assert_eq!(revocations, ["tiny", "ana2", "aud", "c"]);
    assert!(after
        .entries
        .iter()
        .any(|e| e.kind == "chunk_appended" && e.actor == "tiny"));
    let o = audit(&net, "aud2");
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    for who in ["tiny", "ana2", "aud", "c"] {
        assert!(out.contains(&format!("{who} (entry ")), "{who}: {out}");
    }
}
