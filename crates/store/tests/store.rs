//! Integration tests of the store, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use common::{append_signed, chunk, deployment, part, Env, SCHEMA, V};

use std::time::Instant;

use dtfhe_model::NewChunk;
use dtfhe_store::{Store, StoreError, StoreLocation, SCHEMA_VERSION, STORE_FILE};
use rusqlite::Connection;

backends!(
    create_open_reopen,
    create_twice_fails,
    newer_schema_version_is_refused,
    deployment_put_get_and_double_put,
    deployment_with_duplicate_trustee_is_rejected,
    register_and_conflict,
    append_and_read_back,
    blobs_are_deduplicated,
    failed_append_leaves_no_trace,
    seq_continues_across_appends_per_source,
    update_and_delete_are_refused_by_the_database,
    corrupted_blob_is_detected,
    append_125_chunks_of_220kb_is_fast,
    concurrent_handles_append_without_seq_clash,
    request_nonces_are_spent_once_across_reopen,
);

/// Replay protection of the API (issue 16): a nonce is spent once per identity, stays spent
/// after the store is reopened (a server restart), and is pruned past the clock skew.
fn request_nonces_are_spent_once_across_reopen(env: &Env) {
    let mut s = env.create();
    assert!(s.spend_nonce("alice", "n1", 1000, 1000, 300).unwrap());
    assert!(!s.spend_nonce("alice", "n1", 1000, 1001, 300).unwrap());
    assert!(s.spend_nonce("bob", "n1", 1000, 1001, 300).unwrap());
    drop(s);
    let mut s = env.open();
    assert!(!s.spend_nonce("alice", "n1", 1000, 1200, 300).unwrap());
    assert_eq!(s.nonce_count().unwrap(), 2);
    assert!(s.spend_nonce("carol", "n2", 2000, 2000, 300).unwrap());
    assert_eq!(s.nonce_count().unwrap(), 1);
}

fn create_open_reopen(env: &Env) {
    let dir = env.dir().join("nested").join("store");
    {
        let mut s = Store::create_at(&dir, &env.loc).unwrap();
        if env.is_pg() {
            assert!(s.is_postgres());
            assert!(s.path().to_string_lossy().contains(&env.store_name()));
        } else {
            assert_eq!(s.path(), dir.join(STORE_FILE));
        }
        s.register_dataset("mfg", SCHEMA).unwrap();
    }
    assert!(dir.join(dtfhe_store::KEY_FILE).is_file());
    {
        let s = Store::open_at(&dir, &env.loc).unwrap();
        assert_eq!(s.datasets().unwrap(), vec!["mfg".to_string()]);
    }
    let s = Store::open_at(&dir, &env.loc).unwrap();
    assert_eq!(s.dataset_schema("mfg").unwrap().as_deref(), Some(SCHEMA));
    if !env.is_pg() {
        // Pragmas are in effect.
        let c = Connection::open(dir.join(STORE_FILE)).unwrap();
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

fn create_twice_fails(env: &Env) {
    env.create();
    let err = env.try_create().unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains(&env.store_name()), "{err}");
    // Also from another directory: the database already holds a store.
    let other = tempfile::tempdir().unwrap();
    if env.is_pg() {
        let err = Store::create_at(other.path(), &env.loc).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
        // Nothing was left in the other directory.
        assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
    }
    env.open().verify().unwrap();
}

#[test]
fn open_missing_dir_is_clear_error_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("does-not-exist");
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("does-not-exist"), "{msg}");
    assert!(msg.contains(STORE_FILE), "{msg}");
    assert!(!dir.exists(), "open must not create the directory");

    // Existing dir, no file.
    let err = Store::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(!tmp.path().join(STORE_FILE).exists());
}

#[test]
fn open_foreign_sqlite_file_is_not_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let c = Connection::open(tmp.path().join(STORE_FILE)).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    }
    let err = Store::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");

    // An empty file is left untouched.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(STORE_FILE), b"").unwrap();
    let err = Store::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert_eq!(std::fs::read(tmp.path().join(STORE_FILE)).unwrap().len(), 0);
}

#[test]
fn foreign_postgres_database_is_not_a_store() {
    let Some(env) = Env::new(common::Backend::Postgres) else {
        return;
    };
    // An empty database, then one with a table of someone else's.
    for setup in ["", "CREATE TABLE t (x BIGINT)"] {
        env.raw().batch(setup).unwrap();
        let err = env.try_open().unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains(&env.store_name()), "{err}");
    }
    // A server that is not there: a PostgreSQL error naming the URL, never its password.
    let url = "postgres://someone:s3cret@127.0.0.1:1/nothing";
    let loc: StoreLocation = url.parse().unwrap();
    let err = Store::open_at(env.dir(), &loc).unwrap_err();
    let msg = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Postgres { .. }), "{msg}");
    assert!(
        msg.contains("127.0.0.1:1/nothing") && !msg.contains("s3cret"),
        "{msg}"
    );
}

fn newer_schema_version_is_refused(env: &Env) {
    env.create();
    env.raw().exec(
        "INSERT INTO schema_version (version, applied_at) VALUES (?1, 'later')",
        &[V::I(SCHEMA_VERSION + 1)],
    );
    let err = env.try_open().unwrap_err();
    match &err {
        StoreError::UnsupportedVersion {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&env.store_name()) && msg.contains("newer"),
        "{msg}"
    );
}

fn deployment_put_get_and_double_put(env: &Env) {
    let mut s = env.create();
    let err = s.deployment().unwrap_err();
    assert!(matches!(err, StoreError::DeploymentMissing { .. }), "{err}");

    let d = deployment();
    s.put_deployment(&d).unwrap();
    assert_eq!(s.deployment().unwrap(), d);

    let mut other = deployment();
    other.preset = "other".into();
    let err = s.put_deployment(&other).unwrap_err();
    assert!(matches!(err, StoreError::DeploymentExists { .. }), "{err}");
    drop(s);
    assert_eq!(env.open().deployment().unwrap(), d);
}

fn deployment_with_duplicate_trustee_is_rejected(env: &Env) {
    let mut s = env.create();
    let mut d = deployment();
    d.trustees.push("acme".into());
    assert!(matches!(
        s.put_deployment(&d).unwrap_err(),
        StoreError::Invalid(_)
    ));
    assert!(s.deployment().is_err());
}

fn register_and_conflict(env: &Env) {
    let mut s = env.create();
    assert_eq!(s.dataset_schema("mfg").unwrap(), None);
    s.register_dataset("mfg", SCHEMA).unwrap();
    s.register_dataset("mfg", SCHEMA).unwrap(); // identical: no-op
    s.register_dataset("design", "x = 1\n").unwrap();
    assert_eq!(
        s.datasets().unwrap(),
        vec!["design".to_string(), "mfg".to_string()]
    );
    let err = s.register_dataset("mfg", "different = true\n").unwrap_err();
    match &err {
        StoreError::SchemaConflict { dataset, .. } => assert_eq!(dataset, "mfg"),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("mfg"));
    assert_eq!(s.dataset_schema("mfg").unwrap().as_deref(), Some(SCHEMA));

    // The same rules apply through append_chunks.
    let err = append_signed(&mut s, "mfg", "different = true\n", "acme", &[chunk(1)]).unwrap_err();
    assert!(matches!(err, StoreError::SchemaConflict { .. }), "{err}");
    assert!(s.chunks("mfg").unwrap().is_empty());
}

fn append_and_read_back(env: &Env) {
    let mut s = env.create();
    let chunks = vec![chunk(1), chunk(2), chunk(3)];
    let ids = append_signed(&mut s, "mfg", SCHEMA, "acme", &chunks).unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(s.dataset_schema("mfg").unwrap().as_deref(), Some(SCHEMA));

    let metas = s.chunks("mfg").unwrap();
    assert_eq!(metas.len(), 3);
    for (i, (m, c)) in metas.iter().zip(&chunks).enumerate() {
        assert_eq!(m.id, ids[i]);
        assert_eq!(m.source, "acme");
        assert_eq!(m.seq, i as u64);
        assert_eq!(m.rows, c.rows);
        assert_eq!(m.public, c.public);
        for p in &c.parts {
            assert_eq!(
                s.part(m.id, &p.column, &p.part).unwrap().as_deref(),
                Some(&p.bytes[..])
            );
        }
        let listed = s.parts(m.id).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].part, "presence");
        assert_eq!(listed[1].size, 100);
        assert_eq!(
            listed[1].hash,
            blake3::hash(&c.parts[0].bytes).to_hex().to_string()
        );
    }
    assert_eq!(s.part(ids[0], "temp", "square").unwrap(), None);
    assert_eq!(s.part(ids[0], "nope", "value").unwrap(), None);
    assert_eq!(s.part(9999, "temp", "value").unwrap(), None);
    assert!(s.parts(9999).unwrap().is_empty());
    assert_eq!(s.blob_bytes("mfg").unwrap(), 3 * 150);

    assert!(matches!(
        s.chunks("unknown").unwrap_err(),
        StoreError::UnknownDataset { .. }
    ));
    assert!(matches!(
        s.blob_bytes("unknown").unwrap_err(),
        StoreError::UnknownDataset { .. }
    ));

    // Sources are ordered, then seq.
    append_signed(&mut s, "mfg", SCHEMA, "aaa", &[chunk(9)]).unwrap();
    let order: Vec<(String, u64)> = s
        .chunks("mfg")
        .unwrap()
        .into_iter()
        .map(|m| (m.source, m.seq))
        .collect();
    assert_eq!(
        order,
        vec![
            ("aaa".into(), 0),
            ("acme".into(), 0),
            ("acme".into(), 1),
            ("acme".into(), 2)
        ]
    );
}

fn blobs_are_deduplicated(env: &Env) {
    let mut s = env.create();
    // Same bytes in two chunks and two columns.
    let same = |rows| NewChunk {
        seq: 0,
        signature: [0; 64],
        origin: None,
        rows,
        public: vec![],
        parts: vec![
            part("a", "value", vec![7; 64]),
            part("b", "value", vec![7; 64]),
        ],
    };
    let ids = append_signed(&mut s, "mfg", SCHEMA, "acme", &[same(1), same(2)]).unwrap();
    assert_eq!(env.raw().count("blobs"), 1);
    assert_eq!(env.raw().count("parts"), 4);
    assert_eq!(s.blob_bytes("mfg").unwrap(), 64);
    assert_eq!(s.part(ids[1], "b", "value").unwrap(), Some(vec![7; 64]));
}

fn failed_append_leaves_no_trace(env: &Env) {
    let mut s = env.create();
    append_signed(&mut s, "existing", SCHEMA, "acme", &[chunk(100)]).unwrap();
    let snapshot = || {
        let c = env.raw();
        (
            c.count("chunks"),
            c.count("blobs"),
            c.count("parts"),
            c.count("datasets"),
        )
    };
    let before = snapshot();

    let mut bad = chunk(3);
    bad.parts.push(part("temp", "value", vec![0xAB; 10]));
    let batch = vec![chunk(1), chunk(2), bad, chunk(4)];
    let err = append_signed(&mut s, "fresh", "fresh = 1\n", "acme", &batch).unwrap_err();
    match &err {
        StoreError::InvalidChunk { dataset, index, .. } => {
            assert_eq!(dataset, "fresh");
            assert_eq!(*index, 2);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("given twice"), "{err}");

    assert_eq!(snapshot(), before);
    assert_eq!(s.dataset_schema("fresh").unwrap(), None);
    assert_eq!(s.datasets().unwrap(), vec!["existing".to_string()]);

    // Also for an existing dataset: the sequence continues as if nothing happened.
    let mut bad = chunk(5);
    bad.parts[0].part = "cube".into();
    let err = append_signed(
        &mut s,
        "existing",
        SCHEMA,
        "acme",
        &[chunk(1), chunk(2), bad],
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidChunk { index: 2, .. }),
        "{err}"
    );
    assert_eq!(snapshot(), before);
    append_signed(&mut s, "existing", SCHEMA, "acme", &[chunk(6)]).unwrap();
    let seqs: Vec<u64> = s
        .chunks("existing")
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, vec![0, 1]);

    // Zero rows is invalid too.
    let mut zero = chunk(7);
    zero.rows = 0;
    assert!(matches!(
        append_signed(&mut s, "existing", SCHEMA, "acme", &[zero]).unwrap_err(),
        StoreError::InvalidChunk { index: 0, .. }
    ));
}

fn seq_continues_across_appends_per_source(env: &Env) {
    let mut s = env.create();
    append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(1), chunk(2)]).unwrap();
    append_signed(&mut s, "mfg", SCHEMA, "globex", &[chunk(3)]).unwrap();
    drop(s);
    let mut s = env.open();
    let ids = append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(4), chunk(5)]).unwrap();
    append_signed(&mut s, "other", "o = 1\n", "acme", &[chunk(6)]).unwrap();
    let metas = s.chunks("mfg").unwrap();
    let got: Vec<(&str, u64)> = metas.iter().map(|m| (m.source.as_str(), m.seq)).collect();
    assert_eq!(
        got,
        vec![
            ("acme", 0),
            ("acme", 1),
            ("acme", 2),
            ("acme", 3),
            ("globex", 0)
        ]
    );
    assert_eq!(metas[2].id, ids[0]);
    assert_eq!(metas[3].id, ids[1]);
    assert_eq!(s.chunks("other").unwrap()[0].seq, 0);
    // An empty append is allowed and changes nothing but the registration.
    assert!(append_signed(&mut s, "mfg", SCHEMA, "acme", &[])
        .unwrap()
        .is_empty());
    assert_eq!(s.chunks("mfg").unwrap().len(), 5);
}

fn update_and_delete_are_refused_by_the_database(env: &Env) {
    let mut s = env.create();
    s.put_deployment(&deployment()).unwrap();
    append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(1)]).unwrap();
    assert_eq!(
        s.assign_lanes("product_id", &["M1".into()]).unwrap(),
        vec![0]
    );
    drop(s);
    let c = env.raw();
    let statements = [
        ("chunks", "UPDATE chunks SET \"rows\" = 1"),
        ("chunks", "DELETE FROM chunks"),
        ("parts", "UPDATE parts SET part = 'square'"),
        ("parts", "DELETE FROM parts"),
        ("blobs", "UPDATE blobs SET bytes = ?1"),
        ("blobs", "DELETE FROM blobs"),
        ("datasets", "UPDATE datasets SET schema_toml = ''"),
        ("datasets", "DELETE FROM datasets"),
        ("deployment", "UPDATE deployment SET preset = 'x'"),
        ("deployment", "DELETE FROM deployment"),
        ("deployment_trustees", "DELETE FROM deployment_trustees"),
        ("schema_version", "DELETE FROM schema_version"),
        ("lanes", "UPDATE lanes SET lane = 1"),
        ("lanes", "DELETE FROM lanes"),
    ];
    for (table, sql) in statements {
        c.assert_append_only(table, sql);
    }
    // Also as a batch, as the sqlite3 shell or psql would.
    assert!(c.batch("DELETE FROM chunks;").is_err());
    if env.is_pg() {
        // PostgreSQL: TRUNCATE is refused too (statement trigger), on every table.
        for table in [
            "chunks",
            "parts",
            "blobs",
            "datasets",
            "deployment",
            "deployment_trustees",
            "schema_version",
            "ledger_entries",
            "checkpoints",
            "checkpoint_key",
            "sources",
            "lanes",
            "artifacts",
        ] {
            let err = c.batch(&format!("TRUNCATE {table} CASCADE")).unwrap_err();
            assert!(err.contains("is append-only"), "TRUNCATE {table}: {err}");
        }
    }
    assert_eq!(c.count("chunks"), 1);
    assert_eq!(c.count("parts"), 2);
    assert_eq!(c.count("blobs"), 2);
    assert_eq!(c.count("datasets"), 1);
    assert_eq!(c.count("deployment"), 1);
}

fn corrupted_blob_is_detected(env: &Env) {
    let mut s = env.create();
    let ids = append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(1)]).unwrap();
    drop(s);
    // An outside tool: bypass the guards, then flip the bytes.
    env.outside().exec(
        "UPDATE blobs SET bytes = ?1 WHERE size = 100",
        &[V::B(vec![0x00, 0x11, 0x22, 0x33])],
    );
    let s = env.open();
    let err = s.part(ids[0], "temp", "value").unwrap_err();
    match &err {
        StoreError::Corrupt {
            chunk_id,
            column,
            part,
            ..
        } => {
            assert_eq!(*chunk_id, ids[0]);
            assert_eq!(column, "temp");
            assert_eq!(part, "value");
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&ids[0].to_string()) && msg.contains("temp") && msg.contains("value"));
    // The untouched part still reads.
    assert!(s.part(ids[0], "temp", "presence").unwrap().is_some());
}

fn append_125_chunks_of_220kb_is_fast(env: &Env) {
    let mut s = env.create();
    let chunks: Vec<NewChunk> = (0..125u32)
        .map(|i| {
            let mut bytes = vec![0u8; 220 * 1024];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            NewChunk {
                seq: 0,
                signature: [0; 64],
                origin: None,
                rows: 4096,
                public: vec![1; 4096],
                parts: vec![part("temp", "value", bytes)],
            }
        })
        .collect();
    let t = Instant::now();
    let ids = append_signed(&mut s, "mfg", SCHEMA, "acme", &chunks).unwrap();
    let elapsed = t.elapsed();
    assert_eq!(ids.len(), 125);
    assert_eq!(s.blob_bytes("mfg").unwrap(), 125 * 220 * 1024);
    eprintln!("append of 125 x 220 KB: {elapsed:?}");
    assert!(elapsed.as_secs_f64() < 10.0, "append took {elapsed:?}");
    let t = Instant::now();
    for id in &ids {
        assert_eq!(
            s.part(*id, "temp", "value").unwrap().unwrap().len(),
            220 * 1024
        );
    }
    eprintln!("read back of 125 x 220 KB: {:?}", t.elapsed());
}

fn concurrent_handles_append_without_seq_clash(env: &Env) {
    // Seqs are assigned by each source; several writers (one per source)
    // on one store wait for each other's lock and never clash.
    let mut a = env.create();
    let mut b = env.open();
    std::thread::scope(|scope| {
        for k in [0u8, 1u8] {
            scope.spawn(move || {
                let mut s = env.open();
                for i in 0..20u8 {
                    append_signed(
                        &mut s,
                        "mfg",
                        SCHEMA,
                        &format!("t{k}"),
                        &[chunk(k * 100 + i)],
                    )
                    .unwrap();
                }
            });
        }
        for i in 0..10u8 {
            append_signed(&mut a, "mfg", SCHEMA, "acme", &[chunk(200 + i)]).unwrap();
            append_signed(&mut b, "mfg", SCHEMA, "acme", &[chunk(220 + i)]).unwrap();
        }
    });
    for (source, n) in [("acme", 20), ("t0", 20), ("t1", 20)] {
        let seqs: Vec<u64> = a
            .chunks("mfg")
            .unwrap()
            .iter()
            .filter(|m| m.source == source)
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (0..n).collect::<Vec<u64>>(), "{source}");
    }
    a.verify().unwrap();
}

#[test]
fn unledgered_scratch_store_is_only_a_new_temporary_one_and_never_verifies() {
    // Only a new directory under the system temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let err = Store::create_scratch_unledgered(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let outside = std::path::Path::new("/nonexistent-dtfhe-dir/scratch");
    assert!(Store::create_scratch_unledgered(outside).is_err());
    assert!(!outside.exists());
    // Appends work, without ledger entries, checkpoints or a key.
    let dir = tmp.path().join("scratch");
    let mut s = Store::create_scratch_unledgered(&dir).unwrap();
    let ids = append_signed(&mut s, "mfg", SCHEMA, "acme", &[chunk(1), chunk(2)]).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(s.chunks("mfg").unwrap().len(), 2);
    assert!(s.entries().unwrap().is_empty());
    assert!(!dir.join(dtfhe_store::KEY_FILE).exists());
    drop(s);
    // Opened as a store, it does not pass an audit.
    let err = Store::open(&dir).unwrap().verify().unwrap_err();
    assert!(matches!(err, StoreError::Tampered { .. }), "{err}");
}
