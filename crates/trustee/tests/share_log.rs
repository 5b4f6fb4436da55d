//! One share per ciphertext: a trustee logs every share it gives before returning it, gives
//! the identical logged share for a repeated ciphertext (with or without DP noise), and
//! refuses to answer from a corrupted log.

mod common;

use dtfhe_crypto::column::encrypt;
use dtfhe_crypto::release::{centred, combine};
use dtfhe_crypto::{Params, Preset};
use dtfhe_release::audit::RowSet;
use dtfhe_release::{
    DatasetRows, Disclosure, GroupFacts, LocalPolicy, Mode, Policy, ReleaseItem, ReleaseRequest,
    RowReleaseItem, RowReleaseRequest,
};
use dtfhe_trustee::shares::{full_share_to_bytes, SHARES_DIR, SHARES_FILE};
use dtfhe_trustee::{Trustee, TrusteeError};
use fhe::bfv::{Ciphertext, PublicKey};
use std::sync::OnceLock;
use tempfile::TempDir;

struct Fixture {
    params: Params,
    pk: PublicKey,
}

fn params() -> &'static Params {
    static P: OnceLock<Params> = OnceLock::new();
    P.get_or_init(|| Preset::Bfv8192.params().expect("preset"))
}

/// Three trustees in `root/<name>` (a fresh temporary directory, returned to be kept) in dp
/// mode with a budget of 1.0, and the public key.
fn deployment() -> (TempDir, Fixture, Vec<Trustee>) {
    let root = tempfile::tempdir().expect("tempdir");
    let params = params().clone();
    let policy = LocalPolicy {
        mode: Mode::dp(1.0, None).expect("dp"),
        ..LocalPolicy::default()
    };
    let (trustees, _, recorded) =
        common::recorded_ceremony(root.path(), &["a", "b", "c"], &params, &policy);
    let pk = recorded.keys.public;
    (root, Fixture { params, pk }, trustees)
}

const POLICY: Policy = Policy {
    min_group_size: 1,
    trustees: 3,
    allow_key_filters: false,
};

fn ct(f: &Fixture, values: &[i64]) -> Ciphertext {
    encrypt(&f.params, &f.pk, values, 0, &mut rand::rng()).expect("encrypt")
}

fn request(cts: &[&Ciphertext], epsilon: Option<f64>) -> ReleaseRequest {
    ReleaseRequest {
        release_id: "test".into(),
        dataset: "d".into(),
        query: "SELECT SUM(x) FROM d".into(),
        groups: vec![GroupFacts {
            label: "(all rows)".into(),
            rows: 3,
        }],
        items: cts
            .iter()
            .map(|c| ReleaseItem {
                group: 0,
                what: "Σ x".into(),
                per_row_bound: 100,
                noise_bits: 10,
                ciphertext: (*c).clone(),
            })
            .collect(),
        rows: vec![DatasetRows {
            dataset: "d".into(),
            groups: vec![RowSet::default()],
        }],
        key_columns: Vec::new(),
        epsilon,
    }
}

fn bytes(shares: &[dtfhe_crypto::release::Coeff0Share]) -> Vec<Vec<u8>> {
    shares.iter().map(|s| s.to_bytes()).collect()
}

#[test]
fn repeated_request_gets_the_identical_logged_share() {
    let (root, f, trustees) = deployment();
    let x = ct(&f, &[5, 6, 7]);
    let y = ct(&f, &[5, 6, 7]); // same values, fresh encryption: another ciphertext
    let req = request(&[&x], None);
    let mut first = Vec::new();
    for t in &trustees {
        let a = t.review(&f.params, &POLICY, &req).expect("first review");
        let b = t.review(&f.params, &POLICY, &req).expect("second review");
        assert_eq!(bytes(&a), bytes(&b), "a repeated request got a fresh share");
        let other = t
            .review(&f.params, &POLICY, &request(&[&y], None))
            .expect("other ciphertext");
        assert_ne!(bytes(&a), bytes(&other), "another ciphertext, same share");
        // A request mixing a known and a new ciphertext repeats the known one.
        let z = ct(&f, &[1]);
        let mixed = t
            .review(&f.params, &POLICY, &request(&[&z, &x], None))
            .expect("mixed");
        assert_eq!(mixed[1].to_bytes(), a[0].to_bytes());
        first.push(a.into_iter().next().expect("one share"));
    }
    // The logged shares still decrypt correctly.
    let total = centred(&f.params, combine(&f.params, &x, &first).expect("combine"));
    let again = centred(&f.params, combine(&f.params, &x, &first).expect("combine"));
    assert_eq!(total, again);
    // Each trustee's log holds one line per distinct ciphertext (x, y, z).
    for n in ["a", "b", "c"] {
        let log = std::fs::read_to_string(root.path().join(n).join(SHARES_FILE)).expect("log");
        assert_eq!(log.lines().count(), 3, "{log}");
    }
}

#[test]
fn dp_noised_share_is_repeated_and_spends_nothing_more() {
    let (root, f, trustees) = deployment();
    let x = ct(&f, &[40, 2]);
    let req = request(&[&x], Some(0.5));
    let t = &trustees[0];
    let a = t.review(&f.params, &POLICY, &req).expect("first");
    let spent = Disclosure::open(&root.path().join("a"))
        .expect("policy")
        .spent("d")
        .expect("spent");
    assert_eq!(spent, 0.5);
    for _ in 0..3 {
        let b = t.review(&f.params, &POLICY, &req).expect("repeat");
        assert_eq!(bytes(&a), bytes(&b));
    }
    let spent = Disclosure::open(&root.path().join("a"))
        .expect("policy")
        .spent("d")
        .expect("spent");
    assert_eq!(spent, 0.5, "a repeated release reveals nothing new");
    // The same ciphertext asked for without DP gets the logged (noised) share too.
    let c = t
        .review(&f.params, &POLICY, &request(&[&x], None))
        .expect("exact");
    assert_eq!(bytes(&a), bytes(&c));
    // New ciphertexts still spend, up to the cap.
    let y = ct(&f, &[1]);
    t.review(&f.params, &POLICY, &request(&[&y], Some(0.5)))
        .expect("second spend");
    let z = ct(&f, &[2]);
    let e = t
        .review(&f.params, &POLICY, &request(&[&z], Some(0.5)))
        .expect_err("budget exhausted");
    assert!(matches!(e, TrusteeError::Refused { .. }), "{e}");
}

#[test]
fn corrupted_log_line_is_refused() {
    let (root, f, trustees) = deployment();
    let t = &trustees[1];
    let x = ct(&f, &[1, 2, 3]);
    let y = ct(&f, &[4]);
    t.review(&f.params, &POLICY, &request(&[&x], None))
        .expect("x");
    t.review(&f.params, &POLICY, &request(&[&y], None))
        .expect("y");
    let path = root.path().join("b").join(SHARES_FILE);
    let log = std::fs::read_to_string(&path).expect("log");
    // Flip one hex digit of the second line's share.
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    let mut fields: Vec<String> = lines[1].split('\t').map(str::to_string).collect();
    let share = &mut fields[3];
    let last = share.pop().expect("digit");
    share.push(if last == '0' { '1' } else { '0' });
    lines[1] = fields.join("\t");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    for c in [&x, &y] {
        let e = t
            .review(&f.params, &POLICY, &request(&[c], None))
            .expect_err("corrupted log");
        let msg = e.to_string();
        assert!(matches!(e, TrusteeError::ShareLog { .. }), "{msg}");
        assert!(
            msg.contains("line 2 is corrupted") && msg.contains(SHARES_FILE),
            "{msg}"
        );
    }
    // A truncated last line (interrupted write) is refused too.
    std::fs::write(&path, &log[..log.len() - 5]).expect("truncate");
    let e = t
        .review(&f.params, &POLICY, &request(&[&x], None))
        .expect_err("truncated");
    assert!(e.to_string().contains("line 2 is incomplete"), "{e}");
}

#[test]
fn per_row_full_shares_are_logged_and_repeated() {
    let (root, f, trustees) = deployment();
    let x = ct(&f, &[3, 1, 4, 1, 5]);
    let req = RowReleaseRequest {
        dataset: "d".into(),
        recipient: "plant".into(),
        purpose: "test".into(),
        items: vec![RowReleaseItem {
            chunk_source: "plant".into(),
            noise_bits: 10,
            ciphertext: x.clone(),
        }],
    };
    let t = &trustees[2];
    let a = t.review_rows(&f.params, &POLICY, &req).expect("first");
    let b = t.review_rows(&f.params, &POLICY, &req).expect("second");
    assert_eq!(full_share_to_bytes(&a[0]), full_share_to_bytes(&b[0]));
    // The full share lives in shares/<hash>.bin; corrupting it is detected.
    let dir = root.path().join("c").join(SHARES_DIR);
    let file = std::fs::read_dir(&dir)
        .expect("shares dir")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&file, bytes).expect("write");
    let e = t
        .review_rows(&f.params, &POLICY, &req)
        .expect_err("corrupted share file");
    assert!(e.to_string().contains("is corrupted"), "{e}");
}

/// A share file replaced by another valid share (another trustee's: right format, right
/// checksum, small coefficients) does not match this trustee's ceremony record: it refuses
/// at open and before answering, and logs nothing; restored, it answers again.
#[test]
fn a_share_that_is_not_the_ceremony_s_is_refused_and_logs_nothing() {
    let (dir, f, trustees) = deployment();
    let a = dir.path().join("a");
    let good = std::fs::read(a.join("share.key")).expect("share");
    std::fs::copy(dir.path().join("b/share.key"), a.join("share.key")).expect("swap");
    let mismatch = |e: TrusteeError| {
        assert!(
            matches!(
                e,
                TrusteeError::KeyShare {
                    problem: dtfhe_trustee::keystore::KeyShareProblem::Mismatch,
                    ..
                }
            ),
            "{e}"
        );
    };
    mismatch(Trustee::open(&a, "a", &f.params).expect_err("opened"));
    let c = ct(&f, &[1, 2, 3]);
    mismatch(
        trustees[0]
            .review(&f.params, &POLICY, &request(&[&c], None))
            .expect_err("answered with another share"),
    );
    assert!(!a.join(SHARES_FILE).exists(), "a share was logged");
    std::fs::write(a.join("share.key"), good).expect("restore");
    trustees[0]
        .review(&f.params, &POLICY, &request(&[&c], None))
        .expect("answers once restored");
}
