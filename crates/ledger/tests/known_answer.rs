//! Known-answer tests against published vectors:
//! - the RFC 6962 test leaves and roots, inclusion and consistency proofs of
//!   certificate-transparency / transparency-dev's Merkle tests;
//! - the signed-note example of Go's `golang.org/x/mod/sumdb/note`.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use dtfhe_ledger::{
    leaf_hash, parse_verifier_key, prove_consistency, prove_inclusion, root, sign_note,
    verifier_key_string, verify_consistency, verify_inclusion, verify_note, Hash, LedgerError,
    EMPTY_ROOT,
};
use ed25519_dalek::SigningKey;

const LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// MTH(D[n]) for n = 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, PATH) from the CT Merkle tests.
const INCLUSION: &[(u64, u64, &[&str])] = &[
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, PROOF) from the CT Merkle tests.
const CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn leaf_hashes() -> Vec<Hash> {
    LEAVES.iter().map(|l| leaf_hash(l)).collect()
}

#[test]
fn roots_match_rfc6962_vectors() {
    let hs = leaf_hashes();
    assert_eq!(EMPTY_ROOT, h(ROOTS[0]));
    for (n, want) in ROOTS.iter().enumerate() {
        assert_eq!(hex::encode(root(&hs[..n])), *want, "tree size {n}");
    }
}

#[test]
fn inclusion_proofs_match_vectors() {
    let hs = leaf_hashes();
    for &(index, size, want) in INCLUSION {
        let proof = prove_inclusion(index, size, &hs).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "index {index} size {size}");
        let r = h(ROOTS[size as usize]);
        assert!(verify_inclusion(
            &hs[index as usize],
            index,
            size,
            &proof,
            &r
        ));
        // Wrong leaf, wrong root, truncated and extended proofs fail.
        assert!(!verify_inclusion(&leaf_hash(b"x"), index, size, &proof, &r));
        assert!(!verify_inclusion(
            &hs[index as usize],
            index,
            size,
            &proof,
            &EMPTY_ROOT
        ));
        if let Some((_, short)) = proof.split_last() {
            assert!(!verify_inclusion(
                &hs[index as usize],
                index,
                size,
                short,
                &r
            ));
        }
        let mut long = proof.clone();
        long.push(EMPTY_ROOT);
        assert!(!verify_inclusion(
            &hs[index as usize],
            index,
            size,
            &long,
            &r
        ));
    }
    assert!(!verify_inclusion(&hs[0], 8, 8, &[], &h(ROOTS[8])));
    assert!(matches!(
        prove_inclusion(8, 8, &hs),
        Err(LedgerError::InvalidProofRequest(_))
    ));
    assert!(prove_inclusion(0, 9, &hs).is_err());
}

#[test]
fn consistency_proofs_match_vectors() {
    let hs = leaf_hashes();
    for &(m, n, want) in CONSISTENCY {
        let proof = prove_consistency(m, n, &hs).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "{m} -> {n}");
        let (r1, r2) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
        assert!(verify_consistency(m, n, &r1, &r2, &proof));
        if m != n {
            assert!(!verify_consistency(m, n, &r2, &r2, &proof));
            assert!(!verify_consistency(m, n, &r1, &r1, &proof));
            assert!(!verify_consistency(
                m,
                n,
                &r1,
                &r2,
                &proof[..proof.len() - 1]
            ));
        }
    }
    let r6 = h(ROOTS[6]);
    let r8 = h(ROOTS[8]);
    let proof = prove_consistency(6, 8, &hs).unwrap();
    assert!(!verify_consistency(5, 8, &r6, &r8, &proof));
    assert!(!verify_consistency(8, 6, &r8, &r6, &[]));
    assert!(verify_consistency(0, 8, &EMPTY_ROOT, &r8, &[]));
    assert!(!verify_consistency(0, 8, &r6, &r8, &[]));
    assert!(verify_consistency(8, 8, &r8, &r8, &[]));
    assert!(!verify_consistency(8, 8, &r8, &r8, &[r8]));
    assert!(prove_consistency(9, 8, &hs).is_err());
    assert!(prove_consistency(1, 9, &hs).is_err());
    assert!(prove_consistency(0, 8, &hs).unwrap().is_empty());
}

/// The example note of Go's `sumdb/note` package: ed25519 is deterministic,
/// so signing the same text with the same key must give the same note.
#[test]
fn signed_note_matches_go_sumdb_note_example() {
    let skey = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    let raw = B64.decode(skey).unwrap();
    assert_eq!(raw[0], 1);
    let seed: [u8; 32] = raw[1..].try_into().unwrap();
    let sk = SigningKey::from_bytes(&seed);
    let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert_eq!(
        verifier_key_string("PeterNeumann", &sk.verifying_key()).unwrap(),
        vkey
    );
    let (name, vk) = parse_verifier_key(vkey).unwrap();
    assert_eq!(name, "PeterNeumann");
    assert_eq!(vk, sk.verifying_key());
    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n";
    let want = format!(
        "{text}\n\u{2014} PeterNeumann \
         x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    assert_eq!(sign_note(text, &sk, "PeterNeumann").unwrap(), want);
    assert_eq!(verify_note(&want, &vk, "PeterNeumann").unwrap(), text);
    let tampered = want.replace("cryptography", "cryptographY");
    assert!(matches!(
        verify_note(&tampered, &vk, "PeterNeumann"),
        Err(LedgerError::BadSignature(_))
    ));
    // Key id mismatch or another name: no signature by this key.
    assert!(matches!(
        verify_note(&want, &vk, "EnochRoot"),
        Err(LedgerError::NoSignature(_))
    ));
    // Mangled verifier keys are refused.
    for bad in [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ] {
        assert!(parse_verifier_key(bad).is_err(), "{bad}");
    }
}
