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
        score_model: None,
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
