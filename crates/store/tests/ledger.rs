//! The store's ledger: every write is logged and checkpointed, `verify`
//! passes on an honest store and names the first bad row after any outside
//! change to any table, and proofs from the store verify with dtfhe-ledger.
#![allow(clippy::unwrap_used)]

mod common;

use common::{append_signed, chunk, deployment, Backend, Env, Raw, SCHEMA, V};

use dtfhe_ledger::{
    leaf_hash, parse_verifier_key, verify_checkpoint, verify_consistency, verify_inclusion, Entry,
    EntryKind,
};
use dtfhe_store::{StoreError, VerifyReport, KEY_FILE, PUB_FILE, SCHEMA_VERSION};

backends!(
    fresh_store_verifies_and_publishes_its_key,
    every_write_is_logged_and_verifies,
    store_recorded_kinds_cannot_be_appended_by_hand,
    failed_append_rolls_back_its_ledger_entries,
    interleaved_handles_keep_one_consistent_ledger,
    proofs_from_the_store_verify_with_dtfhe_ledger,
    update_and_delete_on_ledger_tables_are_refused_by_the_database,
    version_1_store_is_refused,
    reads_and_verify_work_without_the_signing_key_but_writes_do_not,
    tampered_ledger_entries_are_named,
    tampered_checkpoints_are_named,
    tampered_chunks_and_parts_are_named,
    tampered_blobs_are_named,
    tampered_datasets_deployment_and_trustees_are_named,
    verify_counts_rows_exactly,
    lanes_are_bound_to_the_ledger,
);

/// A store with a deployment, two datasets, two sources and a few
/// application entries.
fn populated(env: &Env) -> VerifyReport {
    let mut s = env.create();
    // The sources' keys first (entries 0 and 1).
    for source in ["acme", "globex"] {
        assert!(s
            .register_source(source, &common::source_key(source).verifying_key())
            .unwrap());
    }
    s.put_deployment(&deployment()).unwrap();
    append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(1), chunk(2)]).unwrap();
    append_signed(&mut s, "mfg", SCHEMA, "globex", &[chunk(3)]).unwrap();
    append_signed(&mut s, "design", "d = 1\n", "acme", &[chunk(4)]).unwrap();
    s.append_entry(
        EntryKind::QueryRun,
        "analyst",
        "q-1",
        "SELECT AVG(temp) FROM mfg",
        &[],
    )
    .unwrap();
    s.append_entry(
        EntryKind::TrusteeRefused,
        "globex",
        "q-1",
        "group below minimum size",
        &[[7; 32]],
    )
    .unwrap();
    s.verify().unwrap()
}

fn expect_tampered(env: &Env, needle: &str) -> String {
    let s = env.open();
    match s.verify() {
        Err(StoreError::Tampered { what }) => {
            assert!(what.contains(needle), "`{what}` does not name `{needle}`");
            what
        }
        other => panic!("expected Tampered naming `{needle}`, got {other:?}"),
    }
}

fn fresh_store_verifies_and_publishes_its_key(env: &Env) {
    assert_eq!(SCHEMA_VERSION, 6);
    let s = env.create();
    let report = s.verify().unwrap();
    assert_eq!(
        report,
        VerifyReport {
            entries: 0,
            chunks: 0,
            checkpoints: 1,
            sources: 0,
            blobs: 0,
            artifacts: 0
        }
    );
    // The key file: version byte + seed, owner-only.
    let key = dtfhe_model::secret_file::read_secret(&env.dir().join(KEY_FILE)).unwrap();
    assert_eq!(key.len(), 33);
    assert_eq!(key[0], 1);
    dtfhe_testkit::assert_owner_only(&env.dir().join(KEY_FILE));
    // The public key file is a signed-note verifier key matching the store.
    let ident = s.identity().unwrap();
    assert!(ident.origin.starts_with("dtfhe/") && ident.origin.len() == 6 + 32);
    let text = std::fs::read_to_string(env.dir().join(PUB_FILE)).unwrap();
    let (name, vk) = parse_verifier_key(text.trim_end()).unwrap();
    assert_eq!(name, ident.key_name);
    assert_eq!(vk, ident.verifying_key);
    // The first checkpoint is the empty tree.
    let cp = verify_checkpoint(
        &s.latest_checkpoint().unwrap(),
        &vk,
        &ident.key_name,
        &ident.origin,
    )
    .unwrap();
    assert_eq!(cp.size, 0);
    assert_eq!(cp.root, dtfhe_ledger::EMPTY_ROOT);
    // Two stores never share an origin.
    let env2 = env.fresh();
    let other = env2.create();
    assert_ne!(other.identity().unwrap().origin, ident.origin);
}

fn every_write_is_logged_and_verifies(env: &Env) {
    let report = populated(env);
    assert_eq!(report.chunks, 4);
    assert_eq!(report.blobs, 8);
    let s = env.open();
    let entries = s.entries().unwrap();
    let kinds: Vec<EntryKind> = entries.iter().map(|e| e.kind).collect();
    use EntryKind::*;
    assert_eq!(
        kinds,
        vec![
            SourceKeyRegistered,
            SourceKeyRegistered,
            DeploymentCreated,
            TrusteeRegistered,
            TrusteeRegistered,
            TrusteeRegistered,
            SchemaRegistered,
            ChunkAppended,
            ChunkAppended,
            ChunkAppended,
            SchemaRegistered,
            ChunkAppended,
            QueryRun,
            TrusteeRefused,
        ]
    );
    assert_eq!(report.entries, entries.len() as u64);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
    }
    // One checkpoint per write (create + 6 writes), the last covering all.
    assert_eq!(report.checkpoints, 9);
    // A chunk entry holds its record hash, the public bytes' hash and the
    // blob address of each part.
    let chunk_entry = &entries[7];
    assert_eq!(chunk_entry.actor, "acme");
    let id: i64 = chunk_entry.subject.parse().unwrap();
    let parts = s.parts(id).unwrap();
    assert_eq!(chunk_entry.hashes.len(), 2 + parts.len());
    assert_eq!(chunk_entry.hashes[1], *blake3::hash(&[1u8; 7]).as_bytes());
    for (h, p) in chunk_entry.hashes[2..].iter().zip(&parts) {
        assert_eq!(blake3::Hash::from_bytes(*h).to_hex().as_str(), p.hash);
    }
    // Idempotent re-registration and an explicit checkpoint add no entry.
    let mut s = s;
    s.register_dataset("mfg", SCHEMA).unwrap();
    let note = s.checkpoint().unwrap();
    let ident = s.identity().unwrap();
    let cp =
        verify_checkpoint(&note, &ident.verifying_key, &ident.key_name, &ident.origin).unwrap();
    assert_eq!(cp.size, entries.len() as u64);
    assert_eq!(s.entries().unwrap().len(), entries.len());
    s.verify().unwrap();
}

fn store_recorded_kinds_cannot_be_appended_by_hand(env: &Env) {
    let mut s = env.create();
    for kind in [
        EntryKind::SourceKeyRegistered,
        EntryKind::DeploymentCreated,
        EntryKind::TrusteeRegistered,
        EntryKind::SchemaRegistered,
        EntryKind::ChunkAppended,
    ] {
        let err = s.append_entry(kind, "x", "1", "", &[]).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }
    // Oversized entries are refused before anything is stored.
    let err = s
        .append_entry(EntryKind::QueryRun, "x", "q", &"d".repeat(100_000), &[])
        .unwrap_err();
    assert!(matches!(err, StoreError::Ledger(_)), "{err}");
    assert!(s.entries().unwrap().is_empty());
    s.verify().unwrap();
}

fn failed_append_rolls_back_its_ledger_entries(env: &Env) {
    let mut s = env.create();
    append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(1)]).unwrap();
    let before = s.entries().unwrap();
    let mut bad = chunk(2);
    bad.rows = 0;
    assert!(append_signed(&mut s, "new", "n = 1\n", "acme", &[chunk(3), bad]).is_err());
    assert_eq!(s.entries().unwrap(), before);
    // The handle's tree state was not advanced by the rolled-back entries.
    append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(4)]).unwrap();
    let report = s.verify().unwrap();
    assert_eq!(report.entries, before.len() as u64 + 1);
}

fn interleaved_handles_keep_one_consistent_ledger(env: &Env) {
    let mut a = env.create();
    let mut b = env.open();
    for i in 0..5u8 {
        append_signed(&mut a, "mfg", SCHEMA, "acme", &[chunk(i)]).unwrap();
        append_signed(&mut b, "mfg", SCHEMA, "globex", &[chunk(100 + i)]).unwrap();
        b.append_entry(EntryKind::QueryRun, "q", "x", "", &[])
            .unwrap();
    }
    let report = a.verify().unwrap();
    assert_eq!(report.entries, 2 + 1 + 10 + 5);
    assert_eq!(report.chunks, 10);
}

fn proofs_from_the_store_verify_with_dtfhe_ledger(env: &Env) {
    populated(env);
    let s = env.open();
    let ident = s.identity().unwrap();
    let entries = s.entries().unwrap();
    let n = entries.len() as u64;
    for e in &entries {
        let p = s.inclusion_proof(e.seq).unwrap();
        assert_eq!(p.size, n);
        assert_eq!(p.leaf_hash, leaf_hash(&e.encode().unwrap()));
        assert!(verify_inclusion(
            &p.leaf_hash,
            e.seq,
            p.size,
            &p.proof,
            &p.root
        ));
        let cp = verify_checkpoint(
            &p.checkpoint,
            &ident.verifying_key,
            &ident.key_name,
            &ident.origin,
        )
        .unwrap();
        assert_eq!((cp.size, cp.root), (p.size, p.root));
        // A different entry does not verify with this proof.
        let mut other = e.clone();
        other.detail.push('!');
        assert!(!verify_inclusion(
            &leaf_hash(&other.encode().unwrap()),
            e.seq,
            p.size,
            &p.proof,
            &p.root
        ));
    }
    assert!(s.inclusion_proof(n).is_err());
    // Consistency between every pair of checkpointed sizes.
    let sizes: Vec<u64> = env
        .raw()
        .i64s("SELECT size FROM checkpoints ORDER BY size")
        .into_iter()
        .map(|s| s as u64)
        .collect();
    for &m in &sizes {
        for &k in sizes.iter().filter(|&&k| k >= m) {
            let p = s.consistency_proof(m, k).unwrap();
            assert!(verify_consistency(m, k, &p.old_root, &p.new_root, &p.proof));
            for (note, size, root) in [
                (&p.old_checkpoint, m, p.old_root),
                (&p.new_checkpoint, k, p.new_root),
            ] {
                let cp = verify_checkpoint(
                    note.as_ref().unwrap(),
                    &ident.verifying_key,
                    &ident.key_name,
                    &ident.origin,
                )
                .unwrap();
                assert_eq!((cp.size, cp.root), (size, root));
            }
        }
    }
    assert!(s.consistency_proof(3, 2).is_err());
    assert!(s.consistency_proof(1, n + 1).is_err());
}

fn update_and_delete_on_ledger_tables_are_refused_by_the_database(env: &Env) {
    populated(env);
    let c = env.raw();
    for (table, sql) in [
        ("ledger_entries", "UPDATE ledger_entries SET entry = ?1"),
        ("ledger_entries", "DELETE FROM ledger_entries"),
        ("checkpoints", "UPDATE checkpoints SET note = ''"),
        ("checkpoints", "DELETE FROM checkpoints"),
        ("checkpoint_key", "UPDATE checkpoint_key SET origin = 'x'"),
        ("checkpoint_key", "DELETE FROM checkpoint_key"),
        ("chunks", "UPDATE chunks SET \"rows\" = 1"),
        ("parts", "DELETE FROM parts"),
        ("blobs", "UPDATE blobs SET bytes = ?1"),
    ] {
        c.assert_append_only(table, sql);
    }
    drop(c);
    env.open().verify().unwrap();
}

fn version_1_store_is_refused(env: &Env) {
    {
        let c = env.raw();
        c.batch(if env.is_pg() {
            include_str!("../migrations/postgres/0001_initial.sql")
        } else {
            include_str!("../migrations/0001_initial.sql")
        })
        .unwrap();
        c.exec(
            "INSERT INTO schema_version (version, applied_at) VALUES (1, '0')",
            &[],
        );
    }
    match env.try_open().unwrap_err() {
        StoreError::UnsupportedVersion {
            found, supported, ..
        } => assert_eq!((found, supported), (1, SCHEMA_VERSION)),
        other => panic!("unexpected {other}"),
    }
}

fn reads_and_verify_work_without_the_signing_key_but_writes_do_not(env: &Env) {
    populated(env);
    std::fs::remove_file(env.dir().join(KEY_FILE)).unwrap();
    let mut s = env.open();
    s.verify().unwrap();
    assert_eq!(s.chunks("mfg").unwrap().len(), 3);
    let err = s
        .append_entry(EntryKind::QueryRun, "a", "b", "", &[])
        .unwrap_err();
    assert!(matches!(err, StoreError::Key { .. }), "{err}");
    // A foreign key in store.key is refused too, never used to sign.
    let mut k = vec![1u8];
    k.extend_from_slice(&[9u8; 32]);
    std::fs::write(env.dir().join(KEY_FILE), k).unwrap();
    let mut s = env.open();
    let err = s.checkpoint().unwrap_err();
    assert!(matches!(err, StoreError::Key { .. }), "{err}");
}

// ---- Tampering from outside, one table at a time ----------------------------

/// One populated store per backend and test binary, copied for each tampering case
/// (the store is closed, so its files, or its database, are complete).
fn template(backend: Backend) -> &'static Env {
    static SQLITE: std::sync::OnceLock<Env> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<Env> = std::sync::OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| {
        let env = Env::new(backend).unwrap();
        populated(&env);
        env
    })
}

fn tamper_case(env: &Env, needle: &str, f: impl FnOnce(&Env, &Raw)) -> String {
    let copy = template(env.backend).copy();
    copy.open().verify().unwrap();
    {
        let c = copy.outside();
        f(&copy, &c);
    }
    expect_tampered(&copy, needle)
}

fn first_chunk_id(env: &Env) -> i64 {
    env.raw().i64("SELECT MIN(id) FROM chunks")
}

fn tampered_ledger_entries_are_named(env: &Env) {
    // Every single byte of one entry, changed in turn.
    let len = template(env.backend)
        .raw()
        .i64("SELECT length(entry) FROM ledger_entries WHERE seq = 7") as isize;
    // One copy of the store, each byte changed, checked and put back in turn.
    let copy = template(env.backend).copy();
    let original = copy
        .raw()
        .bytes("SELECT entry FROM ledger_entries WHERE seq = 7");
    for at in 0..len {
        copy.outside()
            .bump_blob("ledger_entries", "entry", "seq = 7", at);
        expect_tampered(&copy, "ledger entry 7");
        copy.outside().exec(
            "UPDATE ledger_entries SET entry = ?1 WHERE seq = 7",
            &[V::B(original.clone())],
        );
    }
    copy.open().verify().unwrap();
    tamper_case(env, "ledger entry 4", |_, c| {
        c.bump_blob("ledger_entries", "leaf_hash", "seq = 4", 0)
    });
    // Entry and leaf hash changed together: the signed roots catch it.
    tamper_case(env, "checkpoint at size", |_, c| {
        let bytes = c.bytes("SELECT entry FROM ledger_entries WHERE seq = 12");
        let mut e = Entry::decode(&bytes).unwrap();
        e.detail = "SELECT nothing".into();
        let nb = e.encode().unwrap();
        c.exec(
            "UPDATE ledger_entries SET entry = ?1, leaf_hash = ?2 WHERE seq = 12",
            &[V::B(leaf_hash(&nb).to_vec()), V::B(nb)]
                .into_iter()
                .rev()
                .collect::<Vec<_>>(),
        );
    });
    // A deleted entry: a gap, or a shorter ledger than signed.
    tamper_case(env, "ledger entry 6", |_, c| {
        c.exec("DELETE FROM ledger_entries WHERE seq = 5", &[]);
    });
    tamper_case(env, "ledger has only 13 entries", |_, c| {
        c.exec("DELETE FROM ledger_entries WHERE seq = 13", &[]);
    });
}

fn tampered_checkpoints_are_named(env: &Env) {
    // A signature character, a body character, and the size column.
    let w = tamper_case(env, "checkpoint at size 14", |_, c| {
        c.bump_text("checkpoints", "note", "size = 14", -10)
    });
    assert!(w.contains("signature"), "{w}");
    tamper_case(env, "checkpoint at size 6", |_, c| {
        c.bump_text("checkpoints", "note", "size = 6", 8)
    });
    tamper_case(env, "checkpoint at size", |_, c| {
        c.exec("UPDATE checkpoints SET size = 7 WHERE size = 6", &[]);
    });
    tamper_case(env, "no signed checkpoint covers all 14 entries", |_, c| {
        c.exec("DELETE FROM checkpoints WHERE size = 14", &[]);
    });
    // The recorded key swapped (store.pub still holds the real one).
    tamper_case(env, "checkpoint_key", |_, c| {
        c.bump_blob("checkpoint_key", "public_key", "id = 1", 3)
    });
    // ... and with store.pub gone, another valid key fails every signature.
    tamper_case(env, "checkpoint at size 0", |d, c| {
        std::fs::remove_file(d.dir().join(PUB_FILE)).unwrap();
        let other = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
        c.exec(
            "UPDATE checkpoint_key SET public_key = ?1",
            &[V::B(other.as_bytes().to_vec())],
        );
    });
    tamper_case(env, "checkpoint at size 0", |_, c| {
        c.bump_text("checkpoint_key", "origin", "id = 1", -1)
    });
}

fn tampered_chunks_and_parts_are_named(env: &Env) {
    type Tamper = Box<dyn Fn(&Raw, i64)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "public byte",
            Box::new(|c, id| c.bump_blob("chunks", "public", &format!("id = {id}"), 3)),
        ),
        (
            "row count",
            Box::new(|c, id| {
                c.exec(
                    &format!("UPDATE chunks SET \"rows\" = \"rows\" + 1 WHERE id = {id}"),
                    &[],
                );
            }),
        ),
        (
            "seq",
            Box::new(|c, id| {
                c.exec(&format!("UPDATE chunks SET seq = 7 WHERE id = {id}"), &[]);
            }),
        ),
        (
            "source",
            Box::new(|c, id| c.bump_text("chunks", "source", &format!("id = {id}"), 0)),
        ),
        (
            "part name",
            Box::new(|c, id| {
                c.exec(
                    &format!(
                        "UPDATE parts SET part = 'square' WHERE chunk_id = {id} AND part = 'value'"
                    ),
                    &[],
                );
            }),
        ),
        (
            "part column",
            Box::new(|c, id| {
                c.bump_text(
                    "parts",
                    "\"column\"",
                    &format!("chunk_id = {id} AND part = 'value'"),
                    1,
                )
            }),
        ),
        (
            "part deleted",
            Box::new(|c, id| {
                c.exec(
                    &format!("DELETE FROM parts WHERE chunk_id = {id} AND part = 'presence'"),
                    &[],
                );
            }),
        ),
    ];
    for (what, f) in cases {
        let id = first_chunk_id(template(env.backend));
        let msg = tamper_case(env, &format!("chunk {id}"), |_, c| f(c, id));
        eprintln!("{what}: {msg}");
    }
    // A chunk row deleted: its ledger entry points at nothing.
    tamper_case(env, "ledger entry 11", |_, c| {
        let id = c.i64("SELECT MAX(id) FROM chunks");
        c.exec(&format!("DELETE FROM parts WHERE chunk_id = {id}"), &[]);
        c.exec(&format!("DELETE FROM chunks WHERE id = {id}"), &[]);
    });
    // A chunk row added by hand: no entry records it.
    tamper_case(env, "no chunk_appended ledger entry", |_, c| {
        c.exec(
            "INSERT INTO chunks (id, dataset, source, seq, \"rows\", public) \
             VALUES ((SELECT MAX(id) + 1 FROM chunks), 'mfg', 'acme', 2, 5, ?1)",
            &[V::B(vec![0])],
        );
    });
}

fn tampered_blobs_are_named(env: &Env) {
    let hash = template(env.backend)
        .raw()
        .text("SELECT hash FROM blobs ORDER BY hash LIMIT 1");
    for at in [0isize, 17, -1] {
        tamper_case(env, &format!("blob {hash}"), |_, c| {
            c.bump_blob("blobs", "bytes", &format!("hash = '{hash}'"), at)
        });
    }
    tamper_case(env, &format!("blob {hash}"), |_, c| {
        c.exec(
            &format!("UPDATE blobs SET size = size + 1 WHERE hash = '{hash}'"),
            &[],
        );
    });
    // Re-addressing a blob breaks its hash too.
    tamper_case(env, "blob ", |_, c| {
        c.bump_text("blobs", "hash", &format!("hash = '{hash}'"), 5)
    });
}

fn tampered_datasets_deployment_and_trustees_are_named(env: &Env) {
    tamper_case(env, "dataset `mfg`", |_, c| {
        c.bump_text("datasets", "schema_toml", "name = 'mfg'", 3)
    });
    tamper_case(env, "dataset `mfg`", |_, c| {
        c.bump_text("datasets", "registered_at", "name = 'mfg'", -1)
    });
    tamper_case(env, "deployment", |_, c| {
        c.bump_blob("deployment", "public_key", "id = 1", 1)
    });
    tamper_case(env, "deployment", |_, c| {
        c.bump_blob("deployment", "relin_key", "id = 1", 999)
    });
    tamper_case(env, "deployment", |_, c| {
        c.exec("UPDATE deployment SET min_group_size = 1", &[]);
    });
    tamper_case(env, "deployment", |_, c| {
        c.bump_text("deployment", "preset", "id = 1", 0)
    });
    tamper_case(env, "trustee", |_, c| {
        c.bump_text("deployment_trustees", "name", "position = 1", 0)
    });
    tamper_case(env, "trustee `globex`", |_, c| {
        c.exec(
            "UPDATE deployment_trustees SET position = 7 WHERE position = 1",
            &[],
        );
    });
}

fn verify_counts_rows_exactly(env: &Env) {
    let r = populated(env);
    let c = env.raw();
    assert_eq!(r.entries as i64, c.count("ledger_entries"));
    assert_eq!(r.chunks as i64, c.count("chunks"));
    assert_eq!(r.checkpoints as i64, c.count("checkpoints"));
    assert_eq!(r.blobs as i64, c.count("blobs"));
}

fn lanes_are_bound_to_the_ledger(env: &Env) {
    let mut s = env.create();
    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        s.assign_lanes("product_id", &keys(&["M1", "M2", "M3"]))
            .unwrap(),
        vec![0, 1, 2]
    );
    // Known keys keep their lane; only new ones are recorded.
    assert_eq!(
        s.assign_lanes("product_id", &keys(&["M2", "M4", "M1", "M5"]))
            .unwrap(),
        vec![1, 3, 0, 4]
    );
    assert_eq!(s.assign_lanes("serial", &keys(&["S1"])).unwrap(), vec![0]);
    let n = s.entries().unwrap().len();
    assert_eq!(
        s.assign_lanes("product_id", &keys(&["M5"])).unwrap(),
        vec![4]
    );
    assert_eq!(s.entries().unwrap().len(), n, "no entry without new lanes");
    let lanes = s.entries_of(EntryKind::LanesAssigned).unwrap();
    assert_eq!(lanes.len(), 3);
    assert_eq!(lanes[1].subject, "product_id");
    assert!(
        lanes[1].detail.contains("lanes 3..5"),
        "{}",
        lanes[1].detail
    );
    assert!(s
        .append_entry(EntryKind::LanesAssigned, "x", "product_id", "", &[])
        .is_err());
    s.verify().unwrap();
    drop(s);
    // Each on a copy of its own.
    let tampered = |what: &str, f: &dyn Fn(&Raw)| {
        let copy = env.copy();
        f(&copy.outside());
        let msg = expect_tampered(&copy, "table lanes");
        eprintln!("{what}: {msg}");
    };
    for (what, col, key, at) in [
        ("key", "key", "space = 'product_id' AND lane = 3", 1),
        ("space", "space", "space = 'serial'", 0),
    ] {
        tampered(what, &|c| c.bump_text("lanes", col, key, at));
    }
    for (what, sql) in [
        (
            "lane",
            "UPDATE lanes SET lane = 7 WHERE space = 'product_id' AND lane = 4",
        ),
        (
            "deleted",
            "DELETE FROM lanes WHERE space = 'product_id' AND lane = 4",
        ),
        (
            "added",
            "INSERT INTO lanes (space, key, lane) VALUES ('product_id', 'M9', 5)",
        ),
    ] {
        tampered(what, &|c| {
            c.exec(sql, &[]);
        });
    }
}
