//! Property tests: every proof verifies and every tampered proof fails; the
//! entry codec round-trips and refuses corruption; the parsers never panic.
#![allow(clippy::unwrap_used)]

use dtfhe_ledger::{
    leaf_hash, prove_consistency, prove_inclusion, root, sign_checkpoint, verify_checkpoint,
    verify_consistency, verify_inclusion, verify_note, Entry, EntryKind, Hash,
};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[&(i as u64).to_be_bytes()[..], &[salt]].concat()))
        .collect()
}

fn arb_kind() -> impl Strategy<Value = EntryKind> {
    proptest::sample::select(EntryKind::ALL.to_vec())
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        any::<u64>(),
        arb_kind(),
        ".{0,20}",
        ".{0,40}",
        ".{0,80}",
        proptest::collection::vec(any::<[u8; 32]>(), 0..5),
    )
        .prop_map(
            |(seq, time_unix, kind, actor, subject, detail, hashes)| Entry {
                seq,
                time_unix,
                kind,
                actor,
                subject,
                detail,
                hashes,
            },
        )
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_inclusion_proof_verifies_and_flipped_bits_fail(
        n in 1usize..70, pick in any::<prop::sample::Index>(), bit in 0usize..256,
    ) {
        let hs = leaves(n, 1);
        let r = root(&hs);
        let i = pick.index(n);
        let proof = prove_inclusion(i as u64, n as u64, &hs).unwrap();
        prop_assert!(verify_inclusion(&hs[i], i as u64, n as u64, &proof, &r));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let k = (bit / 8 + i) % bad.len();
            bad[k][bit % 32] ^= 1 << (bit % 8);
            prop_assert!(!verify_inclusion(&hs[i], i as u64, n as u64, &bad, &r));
        }
        let mut bad_leaf = hs[i];
        bad_leaf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_inclusion(&bad_leaf, i as u64, n as u64, &proof, &r));
        let mut bad_root = r;
        bad_root[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_inclusion(&hs[i], i as u64, n as u64, &proof, &bad_root));
    }

    #[test]
    fn every_consistency_proof_verifies_and_flipped_bits_fail(
        n in 1usize..70, pick in any::<prop::sample::Index>(), bit in 0usize..256,
    ) {
        let hs = leaves(n, 2);
        let m = pick.index(n + 1);
        let (r1, r2) = (root(&hs[..m]), root(&hs));
        let proof = prove_consistency(m as u64, n as u64, &hs).unwrap();
        prop_assert!(verify_consistency(m as u64, n as u64, &r1, &r2, &proof));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let k = (bit / 8) % bad.len();
            bad[k][bit % 32] ^= 1 << (bit % 8);
            prop_assert!(!verify_consistency(m as u64, n as u64, &r1, &r2, &bad));
        }
        let mut bad1 = r1;
        bad1[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_consistency(m as u64, n as u64, &bad1, &r2, &proof));
        // Any tree extends the empty one, so the new root is only bound for m > 0.
        if m > 0 {
            let mut bad2 = r2;
            bad2[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_consistency(m as u64, n as u64, &r1, &bad2, &proof));
        }
    }

    #[test]
    fn verifiers_never_panic_on_arbitrary_input(
        index in any::<u64>(), size in any::<u64>(), m in any::<u64>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..80),
        a in any::<[u8; 32]>(), b in any::<[u8; 32]>(),
    ) {
        let _ = verify_inclusion(&a, index, size, &proof, &b);
        let _ = verify_consistency(m, size, &a, &b, &proof);
        let _ = verify_consistency(m % 100, size % 100, &a, &b, &proof);
        let _ = verify_inclusion(&a, index % 100, size % 100, &proof, &b);
    }

    #[test]
    fn entry_round_trips(e in arb_entry()) {
        let bytes = e.encode().unwrap();
        prop_assert_eq!(bytes[0], 1);
        prop_assert_eq!(Entry::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn entry_decode_of_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        if let Ok(e) = Entry::decode(&bytes) {
            // Whatever decodes is canonical: it re-encodes to the same bytes.
            prop_assert_eq!(e.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn every_single_byte_corruption_is_detected(
        e in arb_entry(), pos in any::<prop::sample::Index>(), delta in 1u8..=255,
    ) {
        let bytes = e.encode().unwrap();
        let mut bad = bytes.clone();
        let i = pos.index(bad.len());
        bad[i] = bad[i].wrapping_add(delta);
        match Entry::decode(&bad) {
            Err(_) => {}
            Ok(d) => {
                prop_assert_ne!(&d, &e);
                prop_assert_ne!(leaf_hash(&bad), leaf_hash(&bytes));
            }
        }
        // Truncation and trailing bytes are refused too.
        prop_assert!(Entry::decode(&bytes[..i]).is_err());
        let mut long = bytes.clone();
        long.push(delta);
        prop_assert!(Entry::decode(&long).is_err());
    }

    #[test]
    fn checkpoint_round_trips(size in any::<u64>(), r in any::<[u8; 32]>(), origin in "[a-z0-9./-]{1,30}") {
        let sk = key(7);
        let note = sign_checkpoint(&origin, size, &r, &sk, &origin).unwrap();
        let cp = verify_checkpoint(&note, &sk.verifying_key(), &origin, &origin).unwrap();
        prop_assert_eq!(cp.size, size);
        prop_assert_eq!(cp.root, r);
        prop_assert!(verify_checkpoint(&note, &key(8).verifying_key(), &origin, &origin).is_err());
        let other = format!("{origin}x");
        prop_assert!(verify_checkpoint(&note, &sk.verifying_key(), &origin, &other).is_err());
    }

    #[test]
    fn any_changed_character_of_a_checkpoint_fails(
        size in any::<u64>(), r in any::<[u8; 32]>(), pos in any::<prop::sample::Index>(),
        c in any::<char>(),
    ) {
        let sk = key(9);
        let note = sign_checkpoint("dtfhe/test", size, &r, &sk, "dtfhe/test").unwrap();
        let chars: Vec<char> = note.chars().collect();
        let i = pos.index(chars.len());
        prop_assume!(chars[i] != c);
        let mut bad = chars.clone();
        bad[i] = c;
        let bad: String = bad.into_iter().collect();
        prop_assert!(verify_checkpoint(&bad, &sk.verifying_key(), "dtfhe/test", "dtfhe/test").is_err());
        // Deleting a character fails too.
        let mut short = chars;
        short.remove(i);
        let short: String = short.into_iter().collect();
        prop_assert!(verify_checkpoint(&short, &sk.verifying_key(), "dtfhe/test", "dtfhe/test").is_err());
    }

    #[test]
    fn note_parser_never_panics_on_arbitrary_text(text in "(?s).{0,300}") {
        let vk = key(1).verifying_key();
        let _ = verify_checkpoint(&text, &vk, "dtfhe/test", "dtfhe/test");
        let _ = verify_note(&text, &vk, "dtfhe/test");
    }

    #[test]
    fn note_parser_never_panics_on_near_valid_text(
        tail in "(?s).{0,120}", cut in any::<prop::sample::Index>(),
    ) {
        let sk = key(2);
        let note = sign_checkpoint("o", 3, &[1; 32], &sk, "o").unwrap();
        let chars: Vec<char> = note.chars().collect();
        let k = cut.index(chars.len() + 1);
        let mixed: String = chars[..k].iter().collect::<String>() + &tail;
        let _ = verify_checkpoint(&mixed, &sk.verifying_key(), "o", "o");
    }
}

#[test]
fn proofs_exhaustive_up_to_40() {
    for n in 1..=40usize {
        let hs = leaves(n, 3);
        let r = root(&hs);
        for i in 0..n {
            let p = prove_inclusion(i as u64, n as u64, &hs).unwrap();
            assert!(verify_inclusion(&hs[i], i as u64, n as u64, &p, &r));
            if n > 1 {
                assert!(!verify_inclusion(
                    &hs[i],
                    ((i + 1) % n) as u64,
                    n as u64,
                    &p,
                    &r
                ));
            }
        }
        for m in 0..=n {
            let p = prove_consistency(m as u64, n as u64, &hs).unwrap();
            assert!(
                verify_consistency(m as u64, n as u64, &root(&hs[..m]), &r, &p),
                "{m}->{n}"
            );
        }
    }
}

#[test]
fn oversized_fields_are_refused_by_encode() {
    let e = Entry {
        seq: 0,
        time_unix: 0,
        kind: EntryKind::QueryRun,
        actor: "a".repeat(dtfhe_ledger::entry::MAX_ACTOR_LEN + 1),
        subject: String::new(),
        detail: String::new(),
        hashes: vec![],
    };
    assert!(e.encode().is_err());
    // Unknown kind codes and versions are refused by decode.
    let mut ok = Entry {
        actor: "a".into(),
        ..e
    }
    .encode()
    .unwrap();
    ok[17] = 0;
    assert!(Entry::decode(&ok).is_err());
    ok[17] = EntryKind::ALL.len() as u8 + 1;
    assert!(Entry::decode(&ok).is_err());
    ok[17] = 6;
    ok[0] = 2;
    assert!(Entry::decode(&ok).is_err());
    for k in EntryKind::ALL {
        assert_eq!(EntryKind::from_code(k.code()), Some(k));
        assert_eq!(EntryKind::from_name(k.name()), Some(k));
    }
}
