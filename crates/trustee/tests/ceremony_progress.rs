//! The trustee's ceremony progress file (`ceremony-progress-<id>.key`): written 0600 and
//! read back to the same party; every field damaged (the envelope's version byte and
//! checksum, the record's version byte, ceremony id and body, with and without a recomputed
//! checksum) is a clear error naming the file and never quoting key material; a file of
//! another ceremony is refused; files of abandoned ceremonies are ignored, then removed.
#![allow(clippy::unwrap_used)]

use dtfhe_crypto::ceremony::net::{
    aggregate_round1, CeremonySeed, RelinParty, RelinProgress, Resumed,
};
use dtfhe_crypto::Params;
use dtfhe_model::secret_file::{open_secret, seal_secret};
use dtfhe_trustee::progress::{self, ProgressProblem};
use dtfhe_trustee::{Trustee, TrusteeError};
use std::path::Path;

fn params() -> Params {
    dtfhe_crypto::params_by_name("bfv-8192").unwrap()
}

/// A trustee directory with a share, and the bytes of its stage-1 record of `seed`.
fn trustee_with_record(dir: &Path, p: &Params, seed: &CeremonySeed) -> (Trustee, Vec<u8>) {
    let t = Trustee::create(dir, "plant-a", p, &Default::default()).unwrap();
    let mut rng = rand::rng();
    let mut party = RelinParty::new(p, t.share_for_ceremony().unwrap(), seed, &mut rng).unwrap();
    let round1 = party.round1(&mut rng).unwrap();
    let record = party.progress(&round1).unwrap();
    progress::save(dir, "plant-a", &record).unwrap();
    (t, record.to_bytes().to_vec())
}

/// [`trustee_with_record`] in a fresh temporary directory, of a fresh ceremony seed.
fn fresh_trustee_with_record() -> (tempfile::TempDir, Params, CeremonySeed, Trustee, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let p = params();
    let seed = CeremonySeed::random(&mut rand::rng());
    let (t, record) = trustee_with_record(tmp.path(), &p, &seed);
    (tmp, p, seed, t, record)
}

fn load(
    dir: &Path,
    p: &Params,
    t: &Trustee,
    seed: &CeremonySeed,
) -> Result<Option<Resumed>, TrusteeError> {
    progress::load(dir, "plant-a", p, t.share_for_ceremony()?, seed)
}

/// The error of loading the file, checked for the things every such error must say.
fn refusal(
    dir: &Path,
    p: &Params,
    t: &Trustee,
    seed: &CeremonySeed,
    secret: &[u8],
) -> (String, ProgressProblem) {
    let err = load(dir, p, t, seed).expect_err("refused");
    let text = err.to_string();
    let file = progress::progress_file(dir, seed.id());
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("plant-a"), "{text}");
    assert!(text.contains("cannot be finished from it"), "{text}");
    // No key material: no run of 8 bytes of the secret in hex, nor the raw bytes.
    for w in secret.windows(8).step_by(97) {
        assert!(!text.contains(&hex::encode(w)), "{text}");
        assert!(!text.as_bytes().windows(8).any(|x| x == w), "{text}");
    }
    match err {
        TrusteeError::CeremonyProgress { problem, .. } => (text, *problem),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_saved_record_loads_back_and_every_damaged_field_is_named() {
    let (tmp, p, seed, t, record) = fresh_trustee_with_record();
    let dir = tmp.path();
    let file = progress::progress_file(dir, seed.id());
    assert!(file
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .contains(&seed.id().to_string()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let good = std::fs::read(&file).unwrap();
    assert_eq!(
        open_secret(&good).unwrap(),
        &record[..],
        "the record, enveloped"
    );
    match load(dir, &p, &t, &seed).unwrap() {
        Some(Resumed::AwaitingAggregate { .. }) => {}
        other => panic!("{other:?}"),
    }
    // The secret part of the record (the ephemeral secret's coefficients).
    let n = p.slots();
    let secret = &record[18 + 16 + 1..18 + 16 + 1 + n];

    // File layout: "DTSF" 4 | version 1 | length 4 | record | checksum 32.
    // Record layout: "DTFH" 4 | version 1 | kind 1 | fingerprint 8 | length 4 | id 16 | ...
    const FILE_HEADER: usize = 9;
    let rec = |i: usize| FILE_HEADER + i;
    let cases: Vec<(&str, usize)> = vec![
        ("file version byte", 4),
        ("file length", 6),
        ("record version byte", rec(4)),
        ("record kind", rec(5)),
        ("record ceremony id", rec(18)),
        ("record stage", rec(18 + 16)),
        ("record secret", rec(18 + 16 + 1 + 7)),
        ("record body (round-1 message)", good.len() - 32 - 100),
        ("file checksum", good.len() - 1),
    ];
    // Damaged on disk: the file's checksum catches every byte.
    for (what, at) in &cases {
        let mut b = good.clone();
        b[*at] ^= 0x04;
        std::fs::write(&file, &b).unwrap();
        let (text, problem) = refusal(dir, &p, &t, &seed, secret);
        assert!(
            matches!(problem, ProgressProblem::File(_)),
            "{what}: {text}"
        );
        assert!(text.contains("damaged"), "{what}: {text}");
    }
    // A checksum recomputed over the change (a careful attacker, or a bug): the record's own
    // checks name the field.
    let resealed = |at: usize, value: u8| {
        let mut r = record.clone();
        r[at] = value;
        std::fs::write(&file, seal_secret(&r)).unwrap();
    };
    let named: Vec<(&str, usize, u8, &str)> = vec![
        ("record version byte", 4, 9, "format version 9"),
        (
            "record kind",
            5,
            6,
            "envelope holds a ceremony relinearization round-1 share",
        ),
        (
            "record ceremony id",
            18,
            record[18] ^ 1,
            "holds a message of ceremony",
        ),
        ("record stage", 18 + 16, 7, "stage: 7, expected 1"),
        (
            "record secret",
            18 + 16 + 1 + 7,
            90,
            "ephemeral secret: coefficient 7",
        ),
        (
            "record body",
            record.len() - 100,
            record[record.len() - 100] ^ 1,
            "round-1 message: malformed",
        ),
    ];
    for (what, at, value, needle) in named {
        resealed(at, value);
        let (text, problem) = refusal(dir, &p, &t, &seed, secret);
        assert!(
            matches!(problem, ProgressProblem::Malformed(_)),
            "{what}: {text}"
        );
        assert!(text.contains(needle), "{what}: {text:?} lacks {needle:?}");
    }
    // Envelope version byte with a recomputed checksum.
    let mut b = good.clone();
    b[4] = 2;
    let n_body = b.len() - 32;
    let sum = blake3::hash(&b[..n_body]);
    b[n_body..].copy_from_slice(sum.as_bytes());
    std::fs::write(&file, &b).unwrap();
    let (text, _) = refusal(dir, &p, &t, &seed, secret);
    assert!(text.contains("format version 2"), "{text}");
    // A secret changed by one (still small) under a valid checksum: the record no longer
    // matches its round-1 message and this share.
    let j = (0..n).find(|&j| (secret[j] as i8).abs() < 5).unwrap();
    resealed(18 + 16 + 1 + j, secret[j].wrapping_add(1));
    let (text, problem) = refusal(dir, &p, &t, &seed, secret);
    assert!(matches!(problem, ProgressProblem::Mismatch(_)), "{text}");
    assert!(
        text.contains("does not match this trustee's key share"),
        "{text}"
    );
    // Others may read it: refused before it is read.
    std::fs::write(&file, seal_secret(&record)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (text, problem) = refusal(dir, &p, &t, &seed, secret);
        assert!(matches!(problem, ProgressProblem::Mode(0o644)), "{text}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(load(dir, &p, &t, &seed).unwrap().is_some(), "restored");
}

#[test]
fn another_ceremonys_file_is_ignored_or_refused_then_removed() {
    let (tmp, p, old, t, _) = fresh_trustee_with_record();
    let dir = tmp.path();
    // The platform now runs another ceremony: the old file is not this ceremony's.
    let new = CeremonySeed::random(&mut rand::rng());
    assert!(load(dir, &p, &t, &new).unwrap().is_none());
    // The old record under the new ceremony's name: refused, naming both ceremonies.
    let misplaced = progress::progress_file(dir, new.id());
    std::fs::copy(progress::progress_file(dir, old.id()), &misplaced).unwrap();
    let err = load(dir, &p, &t, &new).expect_err("another ceremony");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            TrusteeError::CeremonyProgress { ref problem, .. }
                if matches!(**problem, ProgressProblem::OtherCeremony { .. })
        ),
        "{text}"
    );
    assert!(
        text.contains(&old.id().to_string()) && text.contains(&new.id().to_string()),
        "{text}"
    );
    assert!(text.contains(&misplaced.display().to_string()), "{text}");
    // A record of another share (another trustee's file copied in): refused.
    let other_dir = tempfile::tempdir().unwrap();
    let (_, theirs) = trustee_with_record(other_dir.path(), &p, &new);
    std::fs::write(&misplaced, seal_secret(&theirs)).unwrap();
    let err = load(dir, &p, &t, &new).expect_err("another share");
    assert!(
        err.to_string()
            .contains("does not match this trustee's key share"),
        "{err}"
    );
    // Round 2 given: the record is replaced in place, without the secret.
    let Some(Resumed::AwaitingAggregate { mut party, round1 }) = load(dir, &p, &t, &old).unwrap()
    else {
        panic!("stage 1");
    };
    let agg = aggregate_round1(&p, &old, std::slice::from_ref(&round1)).unwrap();
    let round2 = party.round2(&agg, &mut rand::rng()).unwrap();
    let done = RelinProgress::round2_given(round1.clone(), round2.clone()).unwrap();
    progress::save(dir, "plant-a", &done).unwrap();
    let stored = std::fs::read(progress::progress_file(dir, old.id())).unwrap();
    assert_eq!(open_secret(&stored).unwrap(), &done.to_bytes()[..]);
    let messages = 4 + round1.to_bytes().len() + 4 + round2.to_bytes().len();
    assert_eq!(
        stored.len(),
        9 + 18 + 16 + 1 + messages + 32,
        "no secret kept"
    );
    match load(dir, &p, &t, &old).unwrap() {
        Some(Resumed::Finished {
            round1: r1,
            round2: r2,
        }) => {
            assert_eq!(r1, round1);
            assert_eq!(r2, round2);
        }
        other => panic!("{other:?}"),
    }
    // Every progress file goes once a ceremony is done (a stale temporary file too).
    std::fs::write(
        dir.join(format!("{}{}.key.tmp", progress::PROGRESS_PREFIX, new.id())),
        b"x",
    )
    .unwrap();
    assert_eq!(progress::progress_files(dir).unwrap().len(), 3);
    assert_eq!(progress::remove_all(dir, "plant-a").unwrap(), 3);
    assert!(progress::progress_files(dir).unwrap().is_empty());
    assert!(
        dir.join("share.key").exists(),
        "only progress files are removed"
    );
    assert!(load(dir, &p, &t, &old).unwrap().is_none());
}
