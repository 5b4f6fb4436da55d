//! Sealed artifacts in the store: append-only triggers, ledger binding, verify.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use dtfhe_store::{
    artifact_message, EntryKind, NewArtifact, Store, StoreError, SEAL_OVERHEAD, STORE_FILE,
};
use ed25519_dalek::{Signer, SigningKey};
use rusqlite::Connection;

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(STORE_FILE)).unwrap()
}

fn artifact(key: &SigningKey, product: &str, name: &str, plain: &[u8]) -> NewArtifact {
    // The store never opens the sealed bytes: any bytes of the right length do here.
    let sealed = vec![7u8; plain.len() + SEAL_OVERHEAD as usize];
    let plain_hash = *blake3::hash(plain).as_bytes();
    let sealed_hash = *blake3::hash(&sealed).as_bytes();
    let msg = artifact_message(
        product,
        "design",
        "plant-a",
        name,
        plain.len() as u64,
        &plain_hash,
        &sealed_hash,
    );
    NewArtifact {
        product: product.into(),
        stage: "design".into(),
        source: "plant-a".into(),
        name: name.into(),
        size: plain.len() as u64,
        plain_hash,
        sealed,
        signature: key.sign(&msg).to_bytes(),
    }
}

fn setup(dir: &Path) -> (Store, SigningKey) {
    let mut s = Store::create(dir).unwrap();
    let key = SigningKey::from_bytes(&[9u8; 32]);
    s.register_source("plant-a", &key.verifying_key()).unwrap();
    (s, key)
}

#[test]
fn artifact_is_stored_with_its_entry_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, key) = setup(tmp.path());
    let id = s
        .put_artifact(&artifact(&key, "M1", "bracket.step", b"solid"))
        .unwrap();
    let list = s.artifacts("M1").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].id, list[0].size), (id, 5));
    assert!(s.artifacts("M2").unwrap().is_empty());
    let e = s.entries().unwrap();
    let last = e.last().unwrap();
    assert_eq!(last.kind, EntryKind::ArtifactSealed);
    assert_eq!(last.subject, id.to_string());
    assert!(last.detail.contains("bracket.step") && !last.detail.contains("solid"));
    assert_eq!(last.hashes[2], *blake3::hash(b"solid").as_bytes());
    assert_eq!(s.verify().unwrap().artifacts, 1);
    let (meta, sealed) = s.artifact("M1", "bracket.step").unwrap().unwrap();
    assert_eq!(meta.id, id);
    assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD as usize);
    // The store records artifact kinds itself.
    assert!(matches!(
        s.append_entry(EntryKind::ArtifactSealed, "x", "1", "", &[]),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn duplicate_name_bad_signature_unknown_source_and_stage_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, key) = setup(tmp.path());
    s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
        .unwrap();
    let err = s
        .put_artifact(&artifact(&key, "M1", "a.step", b"two"))
        .unwrap_err();
    assert!(err.to_string().contains("already has an artifact"), "{err}");
    let mut bad = artifact(&key, "M1", "b.step", b"x");
    bad.signature[0] ^= 1;
    assert!(s
        .put_artifact(&bad)
        .unwrap_err()
        .to_string()
        .contains("signature"));
    let other = SigningKey::from_bytes(&[3u8; 32]);
    let mut unknown = artifact(&other, "M1", "c.step", b"x");
    unknown.source = "nobody".into();
    assert!(s.put_artifact(&unknown).is_err());
    let mut stage = artifact(&key, "M1", "d.step", b"x");
    stage.stage = "recycling".into();
    assert!(s
        .put_artifact(&stage)
        .unwrap_err()
        .to_string()
        .contains("stage"));
    assert_eq!(s.verify().unwrap().artifacts, 1);
}

#[test]
fn update_and_delete_on_artifacts_are_refused_by_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, key) = setup(tmp.path());
    s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
        .unwrap();
    drop(s);
    let c = raw(tmp.path());
    for sql in [
        "UPDATE artifacts SET name = 'b.step'",
        "UPDATE artifacts SET sealed = x'00'",
        "DELETE FROM artifacts",
    ] {
        let err = c.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("artifacts is append-only"), "{sql}: {err}");
    }
}

#[test]
fn tampered_artifact_rows_fail_verify_naming_the_artifact() {
    for (col, sql) in [
        (
            "sealed",
            "UPDATE artifacts SET sealed = zeroblob(length(sealed))",
        ),
        ("name", "UPDATE artifacts SET name = 'other.step'"),
        ("stage", "UPDATE artifacts SET stage = 'maintenance'"),
        ("size", "UPDATE artifacts SET size = size"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (mut s, key) = setup(tmp.path());
        s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
            .unwrap();
        drop(s);
        let c = raw(tmp.path());
        c.execute_batch("DROP TRIGGER artifacts_no_update").unwrap();
        c.execute(sql, []).unwrap();
        drop(c);
        let s = Store::open(tmp.path()).unwrap();
        if col == "size" {
            // An identical rewrite changes nothing.
            assert_eq!(s.verify().unwrap().artifacts, 1);
            continue;
        }
        match s.verify() {
            Err(StoreError::Tampered { what }) => {
                assert!(what.contains("artifact 1 "), "{col}: {what}")
            }
            other => panic!("{col}: expected Tampered, got {other:?}"),
        }
        if col == "sealed" {
            assert!(matches!(
                s.artifact("M1", "a.step"),
                Err(StoreError::Tampered { .. })
            ));
        }
    }
    // A deleted row leaves its entry without a row.
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, key) = setup(tmp.path());
    s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
        .unwrap();
    drop(s);
    let c = raw(tmp.path());
    c.execute_batch("DROP TRIGGER artifacts_no_delete; DELETE FROM artifacts")
        .unwrap();
    drop(c);
    let what = Store::open(tmp.path())
        .unwrap()
        .verify()
        .unwrap_err()
        .to_string();
    assert!(what.contains("records artifact `1`"), "{what}");
}
