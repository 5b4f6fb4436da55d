//! `dtfhe serve --threshold t`: recorded at the first start (`t-of-n`), kept by later starts
//! without the flag, a different or impossible threshold refused before anything is served;
//! `--threshold n` is n-of-n; an n-of-n deployment has no dealing (404).

use dtfhe_server::routes::dealing::THRESHOLD_FILE;
use dtfhe_server::state::AppState;
use dtfhe_server::ServerError;
use dtfhe_testkit::platform::serve_options;

fn open(dir: &std::path::Path, threshold: Option<usize>) -> Result<AppState, ServerError> {
    AppState::open(dtfhe_server::ServeOptions {
        threshold,
        ..serve_options(dir.to_path_buf(), None, &["a", "b", "c", "d", "e"])
    })
}

fn refused(dir: &std::path::Path, threshold: Option<usize>, says: &str) {
    match open(dir, threshold) {
        Err(ServerError::Config(m)) => assert!(m.contains(says), "{m}"),
        Err(other) => panic!("not a start option error: {other}"),
        Ok(_) => panic!("--threshold {threshold:?} accepted"),
    }
}

#[test]
fn the_threshold_is_set_at_the_first_start_and_checked_after() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("platform");
    refused(&dir, Some(6), "--threshold");
    refused(&dir, Some(0), "--threshold");
    refused(&dir, Some(1), "every trustee decrypt alone");
    assert!(!dir.join(THRESHOLD_FILE).exists());
    let s = open(&dir, Some(3)).expect("3-of-5");
    assert_eq!(s.keypath.threshold, Some(3));
    drop(s);
    assert_eq!(
        std::fs::read_to_string(dir.join(THRESHOLD_FILE)).expect("recorded"),
        "3-of-5\n"
    );
    // Later starts: kept without the flag, the same accepted, another refused.
    assert_eq!(open(&dir, None).expect("again").keypath.threshold, Some(3));
    assert_eq!(
        open(&dir, Some(3)).expect("same").keypath.threshold,
        Some(3)
    );
    refused(
        &dir,
        Some(2),
        "differs from the deployment's threshold 3-of-5",
    );
    refused(
        &dir,
        Some(5),
        "differs from the deployment's threshold 3-of-5",
    );

    // t = n: n-of-n, nothing recorded.
    let nofn = tmp.path().join("nofn");
    assert_eq!(
        open(&nofn, Some(5)).expect("5-of-5").keypath.threshold,
        None
    );
    assert!(!nofn.join(THRESHOLD_FILE).exists());
}
