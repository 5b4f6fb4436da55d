//! Sealed artifacts in the store: append-only triggers, ledger binding, verify.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::Env;
use dtfhe_store::{ArtifactFile, EntryKind, NewArtifact, Store, StoreError, SEAL_OVERHEAD};
use ed25519_dalek::{Signer, SigningKey};

backends!(
    artifact_is_stored_with_its_entry_and_verified,
    duplicate_name_bad_signature_unknown_source_and_stage_are_refused,
    update_and_delete_on_artifacts_are_refused_by_the_database,
    tampered_artifact_rows_fail_verify_naming_the_artifact,
);

fn artifact(key: &SigningKey, product: &str, name: &str, plain: &[u8]) -> NewArtifact {
    // The store never opens the sealed bytes: any bytes of the right length do here.
    let sealed = vec![7u8; plain.len() + SEAL_OVERHEAD as usize];
    let file = ArtifactFile {
        product: product.into(),
        stage: "design".into(),
        source: "plant-a".into(),
        name: name.into(),
        size: plain.len() as u64,
        plain_hash: *blake3::hash(plain).as_bytes(),
    };
    let msg = file.message(blake3::hash(&sealed).as_bytes());
    NewArtifact {
        file,
        sealed,
        signature: key.sign(&msg).to_bytes(),
    }
}

fn setup(env: &Env) -> (Store, SigningKey) {
    let mut s = env.create();
    let key = SigningKey::from_bytes(&[9u8; 32]);
    s.register_source("plant-a", &key.verifying_key()).unwrap();
    (s, key)
}

fn artifact_is_stored_with_its_entry_and_verified(env: &Env) {
    let (mut s, key) = setup(env);
    let id = s
        .put_artifact(&artifact(&key, "M1", "bracket.step", b"solid"))
        .unwrap();
    let list = s.artifacts("M1").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].id, list[0].file.size), (id, 5));
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

fn duplicate_name_bad_signature_unknown_source_and_stage_are_refused(env: &Env) {
    let (mut s, key) = setup(env);
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
    unknown.file.source = "nobody".into();
    assert!(s.put_artifact(&unknown).is_err());
    let mut stage = artifact(&key, "M1", "d.step", b"x");
    stage.file.stage = "recycling".into();
    assert!(s
        .put_artifact(&stage)
        .unwrap_err()
        .to_string()
        .contains("stage"));
    assert_eq!(s.verify().unwrap().artifacts, 1);
}

fn update_and_delete_on_artifacts_are_refused_by_the_database(env: &Env) {
    let (mut s, key) = setup(env);
    s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
        .unwrap();
    drop(s);
    let c = env.raw();
    for sql in [
        "UPDATE artifacts SET name = 'b.step'",
        "UPDATE artifacts SET sealed = ?1",
        "DELETE FROM artifacts",
    ] {
        let params = if sql.contains("?1") {
            vec![common::V::B(vec![0])]
        } else {
            vec![]
        };
        let err = c.execute(sql, &params).unwrap_err();
        assert!(err.contains("artifacts is append-only"), "{sql}: {err}");
    }
}

fn tampered_artifact_rows_fail_verify_naming_the_artifact(env: &Env) {
    let zeros = if env.is_pg() {
        "UPDATE artifacts SET sealed = decode(repeat('00', length(sealed)), 'hex')"
    } else {
        "UPDATE artifacts SET sealed = zeroblob(length(sealed))"
    };
    for (col, sql) in [
        ("sealed", zeros),
        ("name", "UPDATE artifacts SET name = 'other.step'"),
        ("stage", "UPDATE artifacts SET stage = 'maintenance'"),
        ("size", "UPDATE artifacts SET size = size"),
    ] {
        let env = env.fresh();
        let (mut s, key) = setup(&env);
        s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
            .unwrap();
        drop(s);
        env.outside().exec(sql, &[]);
        let s = env.open();
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
    let env = env.fresh();
    let (mut s, key) = setup(&env);
    s.put_artifact(&artifact(&key, "M1", "a.step", b"one"))
        .unwrap();
    drop(s);
    env.outside().exec("DELETE FROM artifacts", &[]);
    let what = env.open().verify().unwrap_err().to_string();
    assert!(what.contains("records artifact `1`"), "{what}");
}
