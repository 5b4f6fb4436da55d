//! Release requests survive a restart (`D/releases`) and finished ones are pruned after
//! `RETAIN_FINISHED_SECS`, from memory and disk.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use dtfhe_server::keypath::{self, Answer, PendingRelease, RETAIN_FINISHED_SECS};
use dtfhe_server::release_payload as payload;
use dtfhe_server::AppState;
use dtfhe_testkit::platform::serve_options;

fn release(id: u64, timestamp: u64, delivered: bool, refused: bool) -> PendingRelease {
    let mut answers = BTreeMap::new();
    if refused {
        answers.insert(
            "a".to_string(),
            Answer {
                approve: false,
                reason: Some("no".into()),
                sealed_hashes: Vec::new(),
                legacy_sealed: Vec::new(),
                epsilon: None,
                answered_unix: 0,
            },
        );
    }
    PendingRelease {
        quorum: None,
        id,
        analyst: "ana".into(),
        dataset: "runs".into(),
        sql: "SELECT COUNT(*) FROM runs".into(),
        epsilon: None,
        recipient: "cmVj".into(),
        timestamp,
        statement_signature: "c2ln".into(),
        groups: Vec::new(),
        legacy_ciphertexts: Vec::new(),
        hashes: vec![*blake3::hash(&[1, 2, 3]).as_bytes()],
        chunks_upto: BTreeMap::from([("runs".to_string(), 4)]),
        answers,
        answering: Default::default(),
        delivered,
        delivery_entry: None,
        score_model: None,
        observed: Default::default(),
    }
}

#[test]
fn releases_are_reloaded_and_finished_ones_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = serve_options(tmp.path().join("platform"), None, &[]);
    let now = 10 * RETAIN_FINISHED_SECS;
    let old = now - RETAIN_FINISHED_SECS - 1;
    let state = AppState::open(opts.clone()).unwrap();
    let cases = [
        release(1, old, true, false),      // delivered long ago: pruned
        release(2, old, false, true),      // refused long ago: pruned
        release(3, old, false, false),     // still pending: kept
        release(4, now - 10, true, false), // delivered recently: kept
    ];
    let rdir = opts.dir.join(keypath::RELEASES_DIR);
    for r in &cases {
        keypath::persist(&opts.dir, r).unwrap();
        let cts = payload::ciphertexts_path(&rdir, r.id);
        payload::write(&cts, &[vec![1u8, 2, 3]]).unwrap();
        for t in r.answers.keys() {
            payload::write(&payload::shares_path(&rdir, r.id, t), &[b"s"]).unwrap();
        }
    }
    // A payload a crash left half written.
    std::fs::write(rdir.join(".incoming-1-0.tmp"), b"\x01").unwrap();
    drop(state);
    let state = AppState::open(opts.clone()).unwrap();
    let ids: Vec<u64> = state.keypath.releases().unwrap().keys().copied().collect();
    assert_eq!(ids, vec![1, 2, 3, 4], "reloaded from D/releases");
    let hashes = state.keypath.releases().unwrap()[&1].hashes.clone();
    assert_eq!(
        payload::read_checked(&payload::ciphertexts_path(&rdir, 1), &hashes).unwrap(),
        vec![vec![1, 2, 3]]
    );
    assert_eq!(keypath::prune(&state, now).unwrap(), 2);
    let ids: Vec<u64> = state.keypath.releases().unwrap().keys().copied().collect();
    assert_eq!(ids, vec![3, 4]);
    let mut files: Vec<String> = std::fs::read_dir(opts.dir.join(keypath::RELEASES_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    // The pruned releases' payload files went with them.
    assert_eq!(
        files,
        vec!["3.ciphertexts", "3.json", "4.ciphertexts", "4.json"]
    );
}

/// A release file of the earlier format held its ciphertexts and sealed shares inline: at
/// start they move to their payload files (checked against the ledger's hashes) and the
/// file is rewritten without them; one whose ciphertexts are not the ones its hashes name
/// stops the start, naming the file.
#[test]
fn releases_of_the_earlier_format_move_their_payload_out() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = serve_options(tmp.path().join("platform"), None, &[]);
    let rdir = opts.dir.join(keypath::RELEASES_DIR);
    drop(AppState::open(opts.clone()).unwrap());
    let mut old: serde_json::Value = serde_json::to_value(release(5, 1, false, true)).unwrap();
    old["ciphertexts"] = serde_json::json!(["AQID"]); // [1, 2, 3]
    old["answers"]["a"]["sealed"] = serde_json::json!(["c2VhbGVk"]); // "sealed"
    old["answers"]["a"]["approve"] = serde_json::json!(true);
    old["answers"]["a"]
        .as_object_mut()
        .unwrap()
        .remove("sealed_hashes");
    std::fs::create_dir_all(&rdir).unwrap();
    std::fs::write(rdir.join("5.json"), serde_json::to_vec(&old).unwrap()).unwrap();

    let state = AppState::open(opts.clone()).unwrap();
    let r = state.keypath.releases().unwrap()[&5].clone();
    assert!(r.legacy_ciphertexts.is_empty() && r.answers["a"].legacy_sealed.is_empty());
    assert_eq!(
        payload::read_checked(&payload::ciphertexts_path(&rdir, 5), &r.hashes).unwrap(),
        vec![vec![1, 2, 3]]
    );
    let shares = payload::shares_path(&rdir, 5, "a");
    let sealed_hashes = &r.answers["a"].sealed_hashes;
    assert_eq!(
        payload::read_checked(&shares, sealed_hashes).unwrap(),
        vec![b"sealed".to_vec()]
    );
    let rewritten = std::fs::read_to_string(rdir.join("5.json")).unwrap();
    assert!(!rewritten.contains("AQID") && !rewritten.contains("c2VhbGVk"));
    drop(state);
    assert!(AppState::open(opts.clone()).is_ok(), "read again as it is");

    // Inline ciphertexts that are not the ones the hashes name: refused, naming the file.
    old["ciphertexts"] = serde_json::json!(["AQIE"]);
    std::fs::write(
        rdir.join("6.json"),
        serde_json::to_vec(&{
            let mut o = old.clone();
            o["id"] = serde_json::json!(6);
            o
        })
        .unwrap(),
    )
    .unwrap();
    let err = AppState::open(opts).expect_err("refused").to_string();
    assert!(
        err.contains("6.json") && err.contains("not the ones"),
        "{err}"
    );
}

/// A t-of-n release's set outlives its pruning: kept in `retired-sets.v1`, read back after a
/// restart, still binding a new release of the same ciphertexts. If that file cannot be
/// written, nothing is pruned (and the request that pruned does not fail).
#[test]
fn pruned_release_sets_are_kept_and_nothing_is_pruned_without_them() {
    use dtfhe_api::dealing::Quorum;
    use dtfhe_server::quorum_sets::{earlier_sets, RETIRED_SETS_FILE};
    let tmp = tempfile::tempdir().unwrap();
    let opts = serve_options(tmp.path().join("platform"), None, &[]);
    let now = 10 * RETAIN_FINISHED_SECS;
    let mut quorum = Quorum::new(2, Vec::new());
    quorum.claim("b");
    quorum.claim("a");
    let mut answered = release(1, now - RETAIN_FINISHED_SECS - 1, true, false);
    answered
        .answers
        .insert("a".to_string(), Answer::approval(vec![[7; 32]]));
    answered.quorum = Some(quorum);
    let rdir = opts.dir.join(keypath::RELEASES_DIR);

    // The retired sets cannot be written (a directory stands in the way): nothing pruned.
    std::fs::create_dir_all(rdir.join(RETIRED_SETS_FILE)).unwrap();
    let state = AppState::open(opts.clone());
    assert!(state.is_err(), "a directory is no retired-sets file");
    std::fs::remove_dir(rdir.join(RETIRED_SETS_FILE)).unwrap();
    let state = AppState::open(opts.clone()).unwrap();
    state
        .keypath
        .releases()
        .unwrap()
        .insert(1, answered.clone());
    keypath::persist(&opts.dir, &answered).unwrap();
    std::fs::create_dir_all(rdir.join(RETIRED_SETS_FILE)).unwrap();
    assert_eq!(keypath::prune(&state, now).unwrap(), 0);
    assert!(rdir.join("1.json").is_file());
    assert!(state.keypath.releases().unwrap().contains_key(&1));
    std::fs::remove_dir(rdir.join(RETIRED_SETS_FILE)).unwrap();

    // Written: pruned, and the set binds a new release of the same ciphertext after a restart.
    assert_eq!(keypath::prune(&state, now).unwrap(), 1);
    assert!(!rdir.join("1.json").exists());
    drop(state);
    let state = AppState::open(opts).unwrap();
    let mut releases = state.keypath.releases().unwrap();
    assert!(releases.is_empty());
    releases.insert(2, release(2, now, false, false));
    let sets = earlier_sets(&releases, &state.keypath.retired().unwrap(), 2);
    assert_eq!(sets, vec![vec!["a".to_string(), "b".to_string()]]);
}
