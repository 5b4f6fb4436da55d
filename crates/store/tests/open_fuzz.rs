//! `Store::open` on arbitrary bytes must return an error, never panic.
#![allow(clippy::unwrap_used)]

use dtfhe_store::{Store, STORE_FILE};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn open_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8192)) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(STORE_FILE), &bytes).unwrap();
        prop_assert!(Store::open(tmp.path()).is_err());
    }

    /// Random pages behind a valid SQLite header get past the first check.
    #[test]
    fn open_random_bytes_with_sqlite_header_never_panics(
        tail in proptest::collection::vec(any::<u8>(), 0..16384)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend_from_slice(&tail);
        std::fs::write(tmp.path().join(STORE_FILE), &bytes).unwrap();
        let _ = Store::open(tmp.path());
    }
}
