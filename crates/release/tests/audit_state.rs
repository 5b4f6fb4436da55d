//! The audit state file: durable across reopen, untouched by refused checks, and a decoder that
//! rejects every corruption with a typed error and never panics.

use std::collections::BTreeMap;

use dtfhe_release::audit::{
    decode_state, decode_state_unchecked, AuditError, Auditor, CheckError, ChunkKey, ChunkRows,
    DecodeError, RowSet, MAGIC, VERSION,
};
use proptest::prelude::*;

const CHUNK: u32 = 10;

/// The row set of table rows `lo..hi` (rows numbered across chunks of 10 rows of source "s").
fn range(lo: u32, hi: u32) -> RowSet {
    range_where(lo, hi, |_| true)
}

fn range_where(lo: u32, hi: u32, keep: impl Fn(u32) -> bool) -> RowSet {
    let mut chunks: BTreeMap<ChunkKey, Vec<u32>> = BTreeMap::new();
    for i in (lo..hi).filter(|&i| keep(i)) {
        let key = ChunkKey {
            source: "s".into(),
            seq: u64::from(i / CHUNK),
        };
        chunks.entry(key).or_default().push(i % CHUNK);
    }
    RowSet {
        chunks: chunks
            .into_iter()
            .map(|(k, selected)| {
                (
                    k,
                    ChunkRows::Some {
                        rows: CHUNK,
                        selected,
                    },
                )
            })
            .collect(),
    }
}

/// Commits a few releases that create splits, several datasets and non-unit coefficients.
fn populate(a: &mut Auditor) {
    let steps: Vec<(&str, Vec<RowSet>)> = vec![
        ("r1", vec![range(0, 40)]),
        ("r2", vec![range(10, 30), range(30, 50)]),
        (
            "r3",
            vec![
                range_where(0, 60, |i| i % 3 == 0),
                range_where(0, 60, |i| i % 3 == 1),
            ],
        ),
        ("r4", vec![range(5, 55)]),
    ];
    for (id, groups) in steps {
        let ap = a.check("ds-a", &groups, 3).expect("safe release");
        a.commit(ap, id).expect("commit");
    }
    let ap = a
        .check_many(
            &[("ds-b", &[range(0, 20)][..]), ("ds-c", &[range(0, 30)][..])],
            3,
        )
        .expect("safe release");
    a.commit(ap, "join").expect("commit");
}

fn valid_bytes() -> Vec<u8> {
    let mut a = Auditor::in_memory();
    populate(&mut a);
    a.state().encode()
}

/// Replaces the checksum so that the field checks behind it are reached.
fn reseal(content: &[u8]) -> Vec<u8> {
    let mut out = content.to_vec();
    out.extend_from_slice(blake3::hash(content).as_bytes());
    out
}

#[test]
fn state_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.state");
    let mut a = Auditor::open(&path).expect("missing file is the empty state");
    assert_eq!(a.state().release_count(), 0);
    populate(&mut a);
    let b = Auditor::open(&path).expect("reopen");
    assert_eq!(a.state(), b.state());
    assert_eq!(b.state().release_count(), 5);
    // The reopened auditor still refuses a differencing query, naming the earlier release.
    match b.check("ds-b", &[range(0, 19)], 3) {
        Err(CheckError::Refused(r)) => assert_eq!(r.combines_with, vec!["join".to_owned()]),
        other => panic!("expected refusal, got {other:?}"),
    }
    // Encoding is deterministic: re-encoding the decoded state gives the same bytes.
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(decode_state(&bytes).expect("decode").encode(), bytes);
}

#[test]
fn refused_check_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.state");
    let mut a = Auditor::open(&path).expect("open");
    populate(&mut a);
    let before = std::fs::read(&path).expect("read");
    let state = a.state().clone();
    assert!(matches!(
        a.check("ds-c", &[range(1, 30)], 3),
        Err(CheckError::Refused(_))
    ));
    // An approved check that is never committed writes nothing either.
    let _unused = a.check("ds-c", &[range(0, 30)], 3).expect("approved");
    assert_eq!(std::fs::read(&path).expect("read"), before);
    assert_eq!(a.state(), &state);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(entries.len(), 1, "no temporary file left behind");
}

#[test]
fn failed_save_poisons_the_auditor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gone").join("audit.state");
    let mut a = Auditor::open(&path).expect("missing file is the empty state");
    let ap = a.check("d", &[range(0, 20)], 3).expect("approved");
    assert!(matches!(a.commit(ap, "r"), Err(AuditError::Io { .. })));
    assert!(matches!(
        a.check("d", &[range(0, 20)], 3),
        Err(CheckError::Poisoned)
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = valid_bytes();
    for len in 0..bytes.len() {
        assert!(decode_state(&bytes[..len]).is_err(), "truncated at {len}");
    }
    // Truncating the content and resealing reaches the field checks: still an error.
    let content = &bytes[..bytes.len() - 32];
    for len in 0..content.len() {
        assert!(
            decode_state(&reseal(&content[..len])).is_err(),
            "body truncated at {len}"
        );
    }
}

#[test]
fn every_flipped_byte_is_an_error() {
    let bytes = valid_bytes();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            assert!(decode_state(&b).is_err(), "flip {mask:#x} at {i}");
        }
    }
}

#[test]
fn resealed_corruption_never_panics_and_is_mostly_caught() {
    let bytes = valid_bytes();
    let content = &bytes[..bytes.len() - 32];
    let mut caught = 0;
    let mut total = 0;
    for i in 0..content.len() {
        for mask in [0x01u8, 0x40, 0x80, 0xff] {
            let mut c = content.to_vec();
            c[i] ^= mask;
            total += 1;
            if decode_state(&reseal(&c)).is_err() {
                caught += 1;
            }
        }
    }
    // Some flips give another well-formed state (a different coefficient, touchers); most are
    // structural and must be caught.
    assert!(caught * 2 > total, "{caught} of {total}");
}

#[test]
fn typed_errors_name_the_field() {
    let bytes = valid_bytes();
    let mut b = bytes.clone();
    b[0] ^= 1;
    assert!(matches!(
        decode_state(&b),
        Err(AuditError::Decode(DecodeError::BadMagic))
    ));
    let mut b = bytes.clone();
    b[MAGIC.len()] = VERSION + 1;
    assert!(matches!(
        decode_state(&b),
        Err(AuditError::Decode(DecodeError::UnsupportedVersion(v))) if v == VERSION + 1
    ));
    let mut c = bytes[..bytes.len() - 32].to_vec();
    c.push(0);
    assert!(matches!(
        decode_state(&reseal(&c)),
        Err(AuditError::Decode(DecodeError::TrailingBytes(1)))
    ));

    let head = |body: &[u8]| {
        let mut v = MAGIC.to_vec();
        v.push(VERSION);
        v.extend_from_slice(body);
        reseal(&v)
    };
    let err = |body: &[u8]| match decode_state(&head(body)) {
        Err(AuditError::Decode(e)) => e,
        other => panic!("expected a decode error, got {other:?}"),
    };
    // A release count far beyond the bytes present.
    assert_eq!(
        err(&[0xff, 0xff, 0xff, 0x7f]),
        DecodeError::AbsurdLength {
            field: "releases.count",
            len: 0x0fff_ffff
        }
    );
    // An 11-byte varint.
    assert_eq!(err(&[0xff; 11]), DecodeError::BadVarint("releases.count"));
    // One dataset "d" with one cell; chunk "s"#0 of 3 rows whose runs cover only 1 row.
    let ds = |cells: u8, runs: &[u8], basis: &[u8]| {
        let mut v = vec![0u8, 1, 1, b'd', cells];
        v.extend(std::iter::repeat_n(0u8, cells as usize)); // no touchers
        v.extend_from_slice(&[1, 1, b's', 0, 3]); // one chunk: "s", seq 0, 3 rows
        v.extend_from_slice(runs);
        v.extend_from_slice(basis);
        v
    };
    assert_eq!(
        err(&ds(1, &[1, 1, 1, 0], &[0])),
        DecodeError::Inconsistent("chunk.runs.run")
    );
    // Runs covering 4 rows of a 3-row chunk.
    assert_eq!(
        err(&ds(1, &[1, 1, 1, 3], &[0])),
        DecodeError::Inconsistent("chunk.runs.run")
    );
    // Good chunk (cell 1 x 3 rows), but cell 2 holds no row.
    assert_eq!(
        err(&ds(2, &[1, 1, 1, 2], &[0])),
        DecodeError::Inconsistent("dataset.cells")
    );
    // Well-formed: one cell, basis row e_1.
    assert!(decode_state(&head(&ds(1, &[1, 1, 1, 2], &[1, 1, 1]))).is_ok());
    // Basis pivot out of range; coefficient zero.
    assert_eq!(
        err(&ds(1, &[1, 1, 1, 2], &[1, 1, 2])),
        DecodeError::OutOfRange("basis.row.pivot")
    );
    // Two cells (rows 0-1 cell 1, row 2 cell 2); basis rows (1: e1 + c e2) and (2: e2) are not
    // reduced; coefficient 0 is out of range.
    let two = |basis: &[u8]| {
        let mut v = vec![0u8, 1, 1, b'd', 2, 0, 0, 1, 1, b's', 0, 3, 2, 1, 2, 2, 2, 1];
        v.extend_from_slice(basis);
        v
    };
    assert!(decode_state(&head(&two(&[1, 2, 1, 1, 5]))).is_ok());
    assert_eq!(
        err(&two(&[2, 2, 1, 1, 5, 1, 2])),
        DecodeError::Inconsistent("basis.row.col")
    );
    assert_eq!(
        err(&two(&[1, 2, 1, 1, 0])),
        DecodeError::OutOfRange("basis.row.coef")
    );
    assert_eq!(
        err(&two(&[2, 1, 1, 1, 1])),
        DecodeError::Order("basis.row.pivot")
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_state(&bytes);
        let mut with_head = MAGIC.to_vec();
        with_head.push(VERSION);
        with_head.extend_from_slice(&bytes);
        let _ = decode_state_unchecked(&with_head);
        let _ = decode_state(&reseal(&with_head));
    }

    #[test]
    fn mutated_states_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let bytes = valid_bytes();
        let mut c = bytes[..bytes.len() - 32].to_vec();
        for (at, v) in edits {
            let i = at % c.len();
            c[i] = v;
        }
        if let Ok(st) = decode_state_unchecked(&c) {
            // Whatever decodes re-encodes and decodes to the same state.
            prop_assert_eq!(decode_state(&st.encode()).expect("re-decode"), st);
        }
    }
}
