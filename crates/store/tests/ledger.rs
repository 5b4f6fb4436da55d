//! The store's ledger: every write is logged and checkpointed, `verify`
//! passes on an honest store and names the first bad row after any outside
//! change to any table, and proofs from the store verify with dtfhe-ledger.
#![allow(clippy::unwrap_used)]

mod common;

use common::SignedAppend;

use std::path::Path;

use dtfhe_ledger::{
    leaf_hash, parse_verifier_key, verify_checkpoint, verify_consistency, verify_inclusion, Entry,
    EntryKind,
};
use dtfhe_store::{
    Deployment, NewChunk, NewPart, Store, StoreError, VerifyReport, KEY_FILE, PUB_FILE,
    SCHEMA_VERSION, STORE_FILE,
};
use rusqlite::{params, Connection};

const SCHEMA: &str = "[dataset]\nname = \"mfg\"\n";

fn deployment() -> Deployment {
    Deployment {
        preset: "test".into(),
        trustees: vec!["acme".into(), "globex".into(), "initech".into()],
        min_group_size: 5,
        public_key: vec![1, 2, 3],
        relin_key: vec![4; 1000],
        created_at: "1700000000".into(),
    }
}

fn chunk(n: u8) -> NewChunk {
    NewChunk {
        seq: 0,
        signature: [0; 64],
        origin: None,
        rows: 10 + u32::from(n),
        public: vec![n; 7],
        parts: vec![
            NewPart {
                column: "temp".into(),
                part: "value".into(),
                bytes: vec![n; 100],
            },
            NewPart {
                column: "temp".into(),
                part: "presence".into(),
                bytes: vec![n.wrapping_add(1); 50],
            },
        ],
    }
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(STORE_FILE)).unwrap()
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// A store with a deployment, two datasets, two sources and a few
/// application entries.
fn populated(dir: &Path) -> VerifyReport {
    let mut s = Store::create(dir).unwrap();
    // The sources' keys first (entries 0 and 1).
    for source in ["acme", "globex"] {
        assert!(s
            .register_source(source, &common::source_key(source).verifying_key())
            .unwrap());
    }
    s.put_deployment(&deployment()).unwrap();
    s.append_signed("mfg", SCHEMA, "acme", &[chunk(1), chunk(2)])
        .unwrap();
    s.append_signed("mfg", SCHEMA, "globex", &[chunk(3)])
        .unwrap();
    s.append_signed("design", "d = 1\n", "acme", &[chunk(4)])
        .unwrap();
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

fn expect_tampered(dir: &Path, needle: &str) -> String {
    let s = Store::open(dir).unwrap();
    match s.verify() {
        Err(StoreError::Tampered { what }) => {
            assert!(what.contains(needle), "`{what}` does not name `{needle}`");
            what
        }
        other => panic!("expected Tampered naming `{needle}`, got {other:?}"),
    }
}

#[test]
fn fresh_store_verifies_and_publishes_its_key() {
    assert_eq!(SCHEMA_VERSION, 5);
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::create(tmp.path()).unwrap();
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
    let key = std::fs::read(tmp.path().join(KEY_FILE)).unwrap();
    assert_eq!(key.len(), 33);
    assert_eq!(key[0], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(tmp.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The public key file is a signed-note verifier key matching the store.
    let ident = s.identity().unwrap();
    assert!(ident.origin.starts_with("dtfhe/") && ident.origin.len() == 6 + 32);
    let text = std::fs::read_to_string(tmp.path().join(PUB_FILE)).unwrap();
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
    let tmp2 = tempfile::tempdir().unwrap();
    let other = Store::create(tmp2.path()).unwrap();
    assert_ne!(other.identity().unwrap().origin, ident.origin);
}

#[test]
fn every_write_is_logged_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let report = populated(tmp.path());
    assert_eq!(report.chunks, 4);
    assert_eq!(report.blobs, 8);
    let s = Store::open(tmp.path()).unwrap();
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

#[test]
fn store_recorded_kinds_cannot_be_appended_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Store::create(tmp.path()).unwrap();
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

#[test]
fn failed_append_rolls_back_its_ledger_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Store::create(tmp.path()).unwrap();
    s.append_signed("mfg", SCHEMA, "acme", &[chunk(1)]).unwrap();
    let before = s.entries().unwrap();
    let mut bad = chunk(2);
    bad.rows = 0;
    assert!(s
        .append_signed("new", "n = 1\n", "acme", &[chunk(3), bad])
        .is_err());
    assert_eq!(s.entries().unwrap(), before);
    // The handle's tree state was not advanced by the rolled-back entries.
    s.append_signed("mfg", SCHEMA, "acme", &[chunk(4)]).unwrap();
    let report = s.verify().unwrap();
    assert_eq!(report.entries, before.len() as u64 + 1);
}

#[test]
fn interleaved_handles_keep_one_consistent_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Store::create(tmp.path()).unwrap();
    let mut b = Store::open(tmp.path()).unwrap();
    for i in 0..5u8 {
        a.append_signed("mfg", SCHEMA, "acme", &[chunk(i)]).unwrap();
        b.append_signed("mfg", SCHEMA, "globex", &[chunk(100 + i)])
            .unwrap();
        b.append_entry(EntryKind::QueryRun, "q", "x", "", &[])
            .unwrap();
    }
    let report = a.verify().unwrap();
    assert_eq!(report.entries, 2 + 1 + 10 + 5);
    assert_eq!(report.chunks, 10);
}

#[test]
fn proofs_from_the_store_verify_with_dtfhe_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    populated(tmp.path());
    let s = Store::open(tmp.path()).unwrap();
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
    let sizes: Vec<u64> = raw(tmp.path())
        .prepare("SELECT size FROM checkpoints ORDER BY size")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|r| r.unwrap() as u64)
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

#[test]
fn update_and_delete_on_ledger_tables_are_refused_by_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    populated(tmp.path());
    let c = raw(tmp.path());
    for (table, sql) in [
        ("ledger_entries", "UPDATE ledger_entries SET entry = x'00'"),
        ("ledger_entries", "DELETE FROM ledger_entries"),
        ("checkpoints", "UPDATE checkpoints SET note = ''"),
        ("checkpoints", "DELETE FROM checkpoints"),
        ("checkpoint_key", "UPDATE checkpoint_key SET origin = 'x'"),
        ("checkpoint_key", "DELETE FROM checkpoint_key"),
        ("chunks", "UPDATE chunks SET \"rows\" = 1"),
        ("parts", "DELETE FROM parts"),
        ("blobs", "UPDATE blobs SET bytes = x'00'"),
    ] {
        let err = c.execute(sql, []).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{table} is append-only")),
            "{sql}: {err}"
        );
    }
    drop(c);
    Store::open(tmp.path()).unwrap().verify().unwrap();
}

#[test]
fn version_1_store_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let c = raw(tmp.path());
        c.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        c.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (1, '0')",
            [],
        )
        .unwrap();
    }
    match Store::open(tmp.path()).unwrap_err() {
        StoreError::UnsupportedVersion {
            found, supported, ..
        } => assert_eq!((found, supported), (1, 5)),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn reads_and_verify_work_without_the_signing_key_but_writes_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    populated(tmp.path());
    std::fs::remove_file(tmp.path().join(KEY_FILE)).unwrap();
    let mut s = Store::open(tmp.path()).unwrap();
    s.verify().unwrap();
    assert_eq!(s.chunks("mfg").unwrap().len(), 3);
    let err = s
        .append_entry(EntryKind::QueryRun, "a", "b", "", &[])
        .unwrap_err();
    assert!(matches!(err, StoreError::Key { .. }), "{err}");
    // A foreign key in store.key is refused too, never used to sign.
    let mut k = vec![1u8];
    k.extend_from_slice(&[9u8; 32]);
    std::fs::write(tmp.path().join(KEY_FILE), k).unwrap();
    let mut s = Store::open(tmp.path()).unwrap();
    let err = s.checkpoint().unwrap_err();
    assert!(matches!(err, StoreError::Key { .. }), "{err}");
}

// ---- Tampering from outside, one table at a time ----------------------------

/// Opens the database as an outside tool would and drops the protecting
/// trigger of `table`.
fn outside(dir: &Path, table: &str) -> Connection {
    let c = raw(dir);
    c.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; \
         DROP TRIGGER IF EXISTS {table}_no_update; DROP TRIGGER IF EXISTS {table}_no_delete;"
    ))
    .unwrap();
    c
}

/// Adds 1 to byte `at` (from the end if negative) of a BLOB column.
fn bump_blob(c: &Connection, table: &str, col: &str, key: &str, at: isize) {
    let (rowid, mut v): (i64, Vec<u8>) = c
        .query_row(
            &format!("SELECT rowid, {col} FROM {table} WHERE {key}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let i = if at < 0 {
        v.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    v[i] = v[i].wrapping_add(1);
    c.execute(
        &format!("UPDATE {table} SET {col} = ?1 WHERE rowid = ?2"),
        params![v, rowid],
    )
    .unwrap();
}

/// Replaces one character (byte `at`, ASCII) of a TEXT column.
fn bump_text(c: &Connection, table: &str, col: &str, key: &str, at: isize) {
    let (rowid, v): (i64, String) = c
        .query_row(
            &format!("SELECT rowid, {col} FROM {table} WHERE {key}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut b = v.into_bytes();
    let i = if at < 0 {
        b.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    c.execute(
        &format!("UPDATE {table} SET {col} = ?1 WHERE rowid = ?2"),
        params![String::from_utf8(b).unwrap(), rowid],
    )
    .unwrap();
}

/// One populated store per test binary, copied for each tampering case
/// (the store is closed, so its files are complete on disk).
fn template() -> &'static Path {
    static TEMPLATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            populated(tmp.path());
            tmp
        })
        .path()
}

fn tamper_case(needle: &str, f: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(template()).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), tmp.path().join(file.file_name())).unwrap();
    }
    Store::open(tmp.path()).unwrap().verify().unwrap();
    f(tmp.path());
    expect_tampered(tmp.path(), needle)
}

fn first_chunk_id(dir: &Path) -> i64 {
    raw(dir)
        .query_row("SELECT MIN(id) FROM chunks", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn tampered_ledger_entries_are_named() {
    // Every single byte of one entry, changed in turn.
    let len = {
        let tmp = tempfile::tempdir().unwrap();
        populated(tmp.path());
        raw(tmp.path())
            .query_row(
                "SELECT length(entry) FROM ledger_entries WHERE seq = 7",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as isize
    };
    for at in 0..len {
        tamper_case("ledger entry 7", |d| {
            bump_blob(
                &outside(d, "ledger_entries"),
                "ledger_entries",
                "entry",
                "seq = 7",
                at,
            )
        });
    }
    tamper_case("ledger entry 4", |d| {
        bump_blob(
            &outside(d, "ledger_entries"),
            "ledger_entries",
            "leaf_hash",
            "seq = 4",
            0,
        )
    });
    // Entry and leaf hash changed together: the signed roots catch it.
    tamper_case("checkpoint at size", |d| {
        let c = outside(d, "ledger_entries");
        let bytes: Vec<u8> = c
            .query_row("SELECT entry FROM ledger_entries WHERE seq = 12", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut e = Entry::decode(&bytes).unwrap();
        e.detail = "SELECT nothing".into();
        let nb = e.encode().unwrap();
        c.execute(
            "UPDATE ledger_entries SET entry = ?1, leaf_hash = ?2 WHERE seq = 12",
            params![nb, leaf_hash(&nb).to_vec()],
        )
        .unwrap();
    });
    // A deleted entry: a gap, or a shorter ledger than signed.
    tamper_case("ledger entry 6", |d| {
        outside(d, "ledger_entries")
            .execute("DELETE FROM ledger_entries WHERE seq = 5", [])
            .unwrap();
    });
    tamper_case("ledger has only 13 entries", |d| {
        outside(d, "ledger_entries")
            .execute("DELETE FROM ledger_entries WHERE seq = 13", [])
            .unwrap();
    });
}

#[test]
fn tampered_checkpoints_are_named() {
    // A signature character, a body character, and the size column.
    let w = tamper_case("checkpoint at size 14", |d| {
        bump_text(
            &outside(d, "checkpoints"),
            "checkpoints",
            "note",
            "size = 14",
            -10,
        )
    });
    assert!(w.contains("signature"), "{w}");
    tamper_case("checkpoint at size 6", |d| {
        bump_text(
            &outside(d, "checkpoints"),
            "checkpoints",
            "note",
            "size = 6",
            8,
        )
    });
    tamper_case("checkpoint at size", |d| {
        outside(d, "checkpoints")
            .execute("UPDATE checkpoints SET size = 7 WHERE size = 6", [])
            .unwrap();
    });
    tamper_case("no signed checkpoint covers all 14 entries", |d| {
        outside(d, "checkpoints")
            .execute("DELETE FROM checkpoints WHERE size = 14", [])
            .unwrap();
    });
    // The recorded key swapped (store.pub still holds the real one).
    tamper_case("checkpoint_key", |d| {
        bump_blob(
            &outside(d, "checkpoint_key"),
            "checkpoint_key",
            "public_key",
            "id = 1",
            3,
        )
    });
    // ... and with store.pub gone, another valid key fails every signature.
    tamper_case("checkpoint at size 0", |d| {
        std::fs::remove_file(d.join(PUB_FILE)).unwrap();
        let other = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
        outside(d, "checkpoint_key")
            .execute(
                "UPDATE checkpoint_key SET public_key = ?1",
                [other.as_bytes().to_vec()],
            )
            .unwrap();
    });
    tamper_case("checkpoint at size 0", |d| {
        bump_text(
            &outside(d, "checkpoint_key"),
            "checkpoint_key",
            "origin",
            "id = 1",
            -1,
        )
    });
}

#[test]
fn tampered_chunks_and_parts_are_named() {
    type Tamper = Box<dyn Fn(&Path, i64)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "public byte",
            Box::new(|d, id| {
                bump_blob(
                    &outside(d, "chunks"),
                    "chunks",
                    "public",
                    &format!("id = {id}"),
                    3,
                )
            }),
        ),
        (
            "row count",
            Box::new(|d, id| {
                outside(d, "chunks")
                    .execute(
                        &format!("UPDATE chunks SET \"rows\" = \"rows\" + 1 WHERE id = {id}"),
                        [],
                    )
                    .unwrap();
            }),
        ),
        (
            "seq",
            Box::new(|d, id| {
                outside(d, "chunks")
                    .execute(&format!("UPDATE chunks SET seq = 7 WHERE id = {id}"), [])
                    .unwrap();
            }),
        ),
        (
            "source",
            Box::new(|d, id| {
                bump_text(
                    &outside(d, "chunks"),
                    "chunks",
                    "source",
                    &format!("id = {id}"),
                    0,
                )
            }),
        ),
        (
            "part name",
            Box::new(|d, id| {
                outside(d, "parts")
                    .execute(
                        &format!("UPDATE parts SET part = 'square' WHERE chunk_id = {id} AND part = 'value'"),
                        [],
                    )
                    .unwrap();
            }),
        ),
        (
            "part column",
            Box::new(|d, id| {
                bump_text(
                    &outside(d, "parts"),
                    "parts",
                    "\"column\"",
                    &format!("chunk_id = {id} AND part = 'value'"),
                    1,
                )
            }),
        ),
        (
            "part deleted",
            Box::new(|d, id| {
                outside(d, "parts")
                    .execute(
                        &format!("DELETE FROM parts WHERE chunk_id = {id} AND part = 'presence'"),
                        [],
                    )
                    .unwrap();
            }),
        ),
    ];
    for (what, f) in cases {
        let tmp = tempfile::tempdir().unwrap();
        populated(tmp.path());
        let id = first_chunk_id(tmp.path());
        f(tmp.path(), id);
        let msg = expect_tampered(tmp.path(), &format!("chunk {id}"));
        eprintln!("{what}: {msg}");
    }
    // A chunk row deleted: its ledger entry points at nothing.
    tamper_case("ledger entry 11", |d| {
        let id: i64 = raw(d)
            .query_row("SELECT MAX(id) FROM chunks", [], |r| r.get(0))
            .unwrap();
        let c = outside(d, "chunks");
        outside(d, "parts");
        c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        c.execute(&format!("DELETE FROM parts WHERE chunk_id = {id}"), [])
            .unwrap();
        c.execute(&format!("DELETE FROM chunks WHERE id = {id}"), [])
            .unwrap();
    });
    // A chunk row added by hand: no entry records it.
    tamper_case("no chunk_appended ledger entry", |d| {
        outside(d, "chunks")
            .execute(
                "INSERT INTO chunks (dataset, source, seq, \"rows\", public) \
                 VALUES ('mfg', 'acme', 2, 5, x'00')",
                [],
            )
            .unwrap();
    });
}

#[test]
fn tampered_blobs_are_named() {
    let hash: String = {
        let tmp = tempfile::tempdir().unwrap();
        populated(tmp.path());
        raw(tmp.path())
            .query_row("SELECT hash FROM blobs ORDER BY hash LIMIT 1", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    for at in [0isize, 17, -1] {
        tamper_case(&format!("blob {hash}"), |d| {
            bump_blob(
                &outside(d, "blobs"),
                "blobs",
                "bytes",
                &format!("hash = '{hash}'"),
                at,
            )
        });
    }
    tamper_case(&format!("blob {hash}"), |d| {
        outside(d, "blobs")
            .execute(
                &format!("UPDATE blobs SET size = size + 1 WHERE hash = '{hash}'"),
                [],
            )
            .unwrap();
    });
    // Re-addressing a blob breaks its hash too.
    tamper_case("blob ", |d| {
        bump_text(
            &outside(d, "blobs"),
            "blobs",
            "hash",
            &format!("hash = '{hash}'"),
            5,
        )
    });
}

#[test]
fn tampered_datasets_deployment_and_trustees_are_named() {
    tamper_case("dataset `mfg`", |d| {
        bump_text(
            &outside(d, "datasets"),
            "datasets",
            "schema_toml",
            "name = 'mfg'",
            3,
        )
    });
    tamper_case("dataset `mfg`", |d| {
        bump_text(
            &outside(d, "datasets"),
            "datasets",
            "registered_at",
            "name = 'mfg'",
            -1,
        )
    });
    tamper_case("deployment", |d| {
        bump_blob(
            &outside(d, "deployment"),
            "deployment",
            "public_key",
            "id = 1",
            1,
        )
    });
    tamper_case("deployment", |d| {
        bump_blob(
            &outside(d, "deployment"),
            "deployment",
            "relin_key",
            "id = 1",
            999,
        )
    });
    tamper_case("deployment", |d| {
        outside(d, "deployment")
            .execute("UPDATE deployment SET min_group_size = 1", [])
            .unwrap();
    });
    tamper_case("deployment", |d| {
        bump_text(
            &outside(d, "deployment"),
            "deployment",
            "preset",
            "id = 1",
            0,
        )
    });
    tamper_case("trustee", |d| {
        bump_text(
            &outside(d, "deployment_trustees"),
            "deployment_trustees",
            "name",
            "position = 1",
            0,
        )
    });
    tamper_case("trustee `globex`", |d| {
        outside(d, "deployment_trustees")
            .execute(
                "UPDATE deployment_trustees SET position = 7 WHERE position = 1",
                [],
            )
            .unwrap();
    });
}

#[test]
fn verify_counts_rows_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let r = populated(tmp.path());
    let c = raw(tmp.path());
    assert_eq!(r.entries as i64, count(&c, "ledger_entries"));
    assert_eq!(r.chunks as i64, count(&c, "chunks"));
    assert_eq!(r.checkpoints as i64, count(&c, "checkpoints"));
    assert_eq!(r.blobs as i64, count(&c, "blobs"));
}
