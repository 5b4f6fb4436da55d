//! `dtfhe demo` end to end: every released value agrees with the plaintext answer.

mod common;

use common::*;

#[test]
fn demo_runs_and_agrees() {
    let root = fresh_dir("cli_demo");
    let dir = root.join("deployment");
    let out = ok(["demo".as_ref(), "--dir".as_ref(), dir.as_os_str()] as [&std::ffi::OsStr; 3]);
    assert!(out.contains("agree with the plaintext answers"), "{out}");
    assert!(!out.contains('✗'), "{out}");
    assert!(out.contains("refused as it must be"), "{out}");
    // The deployment was kept and can be queried.
    let r = query_json(
        &dir,
        "SELECT source, COUNT(*) FROM ai4i GROUP BY source ORDER BY source",
    );
    assert_eq!(r.rows.len(), 3);
    // Key shares live in the trustees' own directories, never in the store.
    for plant in ["plant-a", "plant-b", "plant-c"] {
        let tdir = dir.join("trustees").join(plant);
        assert!(tdir.is_dir(), "{}", tdir.display());
    }
    // A second demo into the same directory is refused (usage).
    fails_with(
        2,
        ["demo".as_ref(), "--dir".as_ref(), dir.as_os_str()] as [&std::ffi::OsStr; 3],
    );
}
