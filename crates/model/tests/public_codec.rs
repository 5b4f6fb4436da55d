//! The public-column storage format: round trips, corruption and arbitrary bytes.

use dtfhe_model::{decode_public_columns, encode_public_columns, PublicColumn, Value};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Value::Dec),
        "\\PC{0,20}".prop_map(Value::Text),
    ]
}

/// Columns of `rows` values each, typed like the CSV reader produces (one type plus NULLs)
/// or mixed.
fn columns() -> impl Strategy<Value = (Vec<PublicColumn>, usize)> {
    (0usize..20).prop_flat_map(|rows| {
        let col = (
            "[a-z_][a-z0-9_]{0,15}",
            proptest::collection::vec(value(), rows),
        )
            .prop_map(|(name, values)| PublicColumn { name, values });
        (proptest::collection::vec(col, 0..6), Just(rows))
    })
}

fn sample() -> (Vec<PublicColumn>, usize) {
    let cols = vec![
        PublicColumn {
            name: "unit".into(),
            values: vec![Value::Int(1), Value::Int(-2), Value::Null],
        },
        PublicColumn {
            name: "line".into(),
            values: vec![
                Value::Text("A".into()),
                Value::Null,
                Value::Text("Bé".into()),
            ],
        },
        PublicColumn {
            name: "op3".into(),
            values: vec![Value::Dec(100.0), Value::Dec(-0.5), Value::Dec(1e300)],
        },
        PublicColumn {
            name: "mixed".into(),
            values: vec![Value::Null, Value::Int(7), Value::Text(String::new())],
        },
    ];
    (cols, 3)
}

/// Anything the decoder accepts is a consistent table and re-encodes to the same bytes.
fn check_accepted(bytes: &[u8], cols: &[PublicColumn]) {
    let rows = cols.first().map_or(0, |c| c.values.len());
    assert!(cols.iter().all(|c| c.values.len() == rows));
    if !cols.is_empty() {
        assert_eq!(
            encode_public_columns(cols, rows),
            bytes,
            "decoding is canonical"
        );
    }
}

#[test]
fn sample_round_trips() {
    let (cols, rows) = sample();
    let bytes = encode_public_columns(&cols, rows);
    assert_eq!(decode_public_columns(&bytes).expect("valid"), cols);
}

#[test]
fn every_single_byte_corruption_is_handled() {
    let (cols, rows) = sample();
    let bytes = encode_public_columns(&cols, rows);
    let mut accepted = 0;
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            if let Ok(d) = decode_public_columns(&b) {
                assert_ne!(d, cols, "corruption at {i} decoded to the original");
                check_accepted(&b, &d);
                accepted += 1;
            }
        }
        for v in [0u8, 1, 2, 3, 4, 5, 0x7F, 0xFF] {
            let mut b = bytes.clone();
            b[i] = v;
            if let Ok(d) = decode_public_columns(&b) {
                assert!(b == bytes || d != cols);
                check_accepted(&b, &d);
            }
        }
    }
    // Flipping a byte inside a value payload (an integer, a decimal, a text) stays valid.
    assert!(accepted > 0);
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let (cols, rows) = sample();
    let bytes = encode_public_columns(&cols, rows);
    for n in 0..bytes.len() {
        assert!(
            decode_public_columns(&bytes[..n]).is_err(),
            "truncated to {n}"
        );
    }
    for extra in [&[0u8][..], &[1, 2, 3]] {
        let mut b = bytes.clone();
        b.extend_from_slice(extra);
        assert!(decode_public_columns(&b).is_err());
    }
}

#[test]
fn limits_are_enforced() {
    // rows = 1_000_001
    let mut b = vec![1u8];
    b.extend_from_slice(&1_000_001u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    assert!(decode_public_columns(&b).is_err());
    // 1025 columns
    let mut b = vec![1u8, 0, 0, 0, 0];
    b.extend_from_slice(&1025u16.to_le_bytes());
    assert!(decode_public_columns(&b).is_err());
    // A name longer than 256 bytes.
    let long = vec![PublicColumn {
        name: "n".repeat(257),
        values: vec![],
    }];
    assert!(decode_public_columns(&encode_public_columns(&long, 0)).is_err());
    let ok = vec![PublicColumn {
        name: "n".repeat(256),
        values: vec![],
    }];
    assert!(decode_public_columns(&encode_public_columns(&ok, 0)).is_ok());
    // A text longer than 64 KiB.
    let big = vec![PublicColumn {
        name: "t".into(),
        values: vec![Value::Text("x".repeat(65_537))],
    }];
    assert!(decode_public_columns(&encode_public_columns(&big, 1)).is_err());
    // A huge value count with no bytes behind it is refused without allocating.
    let mut b = vec![1u8];
    b.extend_from_slice(&1_000_000u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.push(b'a');
    b.push(0);
    b.extend_from_slice(&1_000_000u32.to_le_bytes());
    assert!(decode_public_columns(&b).is_err());
    // Row-count mismatch between columns.
    let cols = vec![
        PublicColumn {
            name: "a".into(),
            values: vec![Value::Int(1)],
        },
        PublicColumn {
            name: "b".into(),
            values: vec![Value::Int(1), Value::Int(2)],
        },
    ];
    assert!(decode_public_columns(&encode_public_columns(&cols, 1)).is_err());
    assert!(decode_public_columns(&encode_public_columns(&cols, 2)).is_err());
}

#[test]
fn errors_name_the_offset() {
    let e = decode_public_columns(&[9]).expect_err("bad version");
    assert!(e.to_string().contains("byte 0"), "{e}");
    assert!(e.to_string().contains("version 9"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip((cols, rows) in columns()) {
        let bytes = encode_public_columns(&cols, rows);
        let back = decode_public_columns(&bytes).expect("valid");
        prop_assert_eq!(&back, &cols);
        prop_assert_eq!(encode_public_columns(&back, rows), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(cols) = decode_public_columns(&bytes) {
            check_accepted(&bytes, &cols);
        }
    }

    #[test]
    fn valid_prefix_then_garbage_never_panics(
        (cols, rows) in columns(),
        cut in any::<prop::sample::Index>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = encode_public_columns(&cols, rows);
        let n = cut.index(bytes.len() + 1);
        bytes.truncate(n);
        bytes.extend_from_slice(&garbage);
        if let Ok(cols) = decode_public_columns(&bytes) {
            check_accepted(&bytes, &cols);
        }
    }
}
