//! Release requests survive a restart (`D/releases`) and finished ones are pruned after
//! `RETAIN_FINISHED_SECS`, from memory and disk.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use dtfhe_server::keypath::{self, Answer, PendingRelease, RETAIN_FINISHED_SECS};
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
                sealed: Vec::new(),
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
        ciphertexts: vec![vec![1, 2, 3]],
        hashes: vec![[7; 32]],
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
    for r in &cases {
        keypath::persist(&opts.dir, r).unwrap();
    }
    drop(state);
    let state = AppState::open(opts.clone()).unwrap();
    let ids: Vec<u64> = state.keypath.releases().unwrap().keys().copied().collect();
    assert_eq!(ids, vec![1, 2, 3, 4], "reloaded from D/releases");
    assert_eq!(
        state.keypath.releases().unwrap()[&1].ciphertexts,
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
    assert_eq!(files, vec!["3.json", "4.json"]);
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
    answered.answers.insert(
        "a".to_string(),
        Answer {
            approve: true,
            reason: None,
            sealed: vec!["c2VhbGVk".into()],
            epsilon: None,
            answered_unix: 0,
        },
    );
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
