//! Signed sources and replay protection: unknown sources, bad signatures,
//! replayed or reused seqs and duplicate chunks are refused with nothing
//! stored and an `IngestRefused` ledger entry; `verify` re-checks every
//! chunk signature against the registered source key.
#![allow(clippy::unwrap_used)]

mod common;

use common::{append_signed, source_key, Env, SCHEMA, V};
use dtfhe_model::{ChunkOrigin, NewChunk};
use dtfhe_store::{EntryKind, Refusal, Store, StoreError};

backends!(
    unknown_source_is_refused_and_logged,
    bad_signatures_are_refused_and_logged,
    replayed_and_reused_seqs_are_refused_and_logged,
    duplicate_chunks_are_refused_and_logged,
    source_keys_are_registered_once_and_logged,
    verify_rechecks_every_chunk_signature,
    control_characters_in_public_text_are_refused,
);

fn chunk(n: u8, seq: u64) -> NewChunk {
    NewChunk {
        seq,
        ..common::chunk(n)
    }
}

fn signed(n: u8, seq: u64, source: &str) -> NewChunk {
    signed_from(n, seq, source, None)
}

/// [`signed`], at position `origin` of a file when one is given.
fn signed_from(n: u8, seq: u64, source: &str, origin: Option<ChunkOrigin>) -> NewChunk {
    let mut c = NewChunk {
        origin,
        ..chunk(n, seq)
    };
    c.sign("mfg", source, &source_key(source));
    c
}

/// (chunks, parts, blobs, datasets) rows.
fn counts(env: &Env) -> (i64, i64, i64, i64) {
    let c = env.raw();
    (
        c.count("chunks"),
        c.count("parts"),
        c.count("blobs"),
        c.count("datasets"),
    )
}

/// A store with source `acme` registered and chunk seq 0 stored.
fn setup(env: &Env) -> Store {
    let mut s = env.create();
    s.register_source("acme", &source_key("acme").verifying_key())
        .unwrap();
    s.append_chunks("mfg", SCHEMA, "acme", &[signed(1, 0, "acme")])
        .unwrap();
    s
}

/// Appends `c` as `source`, expects the refusal, and checks that nothing
/// was stored and that the refusal is the ledger's last entry.
fn expect_refused(s: &mut Store, env: &Env, source: &str, c: NewChunk, want: Refusal) {
    let before = counts(env);
    let entries = s.entries().unwrap().len();
    let seq = c.seq;
    let err = s.append_chunks("mfg", SCHEMA, source, &[c]).unwrap_err();
    match &err {
        StoreError::IngestRefused {
            dataset,
            source_name,
            seq: got,
            reason,
        } => {
            assert_eq!(dataset, "mfg");
            assert_eq!(source_name, source);
            assert_eq!(*got, seq);
            assert_eq!(*reason, want, "{err}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(source) && msg.contains(&format!("seq {seq}")),
        "{msg}"
    );
    assert_eq!(counts(env), before, "{msg}: something was stored");
    let after = s.entries().unwrap();
    assert_eq!(after.len(), entries + 1, "{msg}: one refusal entry");
    let e = after.last().unwrap();
    assert_eq!(e.kind, EntryKind::IngestRefused);
    assert_eq!(e.actor, source);
    assert_eq!(e.subject, "mfg");
    assert!(e.detail.contains(&format!("seq {seq}")), "{}", e.detail);
    s.verify().unwrap();
}

fn unknown_source_is_refused_and_logged(env: &Env) {
    let mut s = env.create();
    // Nothing at all is stored, not even the dataset registration.
    expect_refused(
        &mut s,
        env,
        "intruder",
        signed(1, 0, "intruder"),
        Refusal::UnknownSource,
    );
    assert!(s.datasets().unwrap().is_empty());
    // Also when the dataset exists and other sources are registered.
    let env = env.fresh();
    let env = &env;
    let mut s = setup(env);
    expect_refused(
        &mut s,
        env,
        "intruder",
        signed(2, 0, "intruder"),
        Refusal::UnknownSource,
    );
}

fn bad_signatures_are_refused_and_logged(env: &Env) {
    let mut s = setup(env);
    // One bit of the signature.
    let mut c = signed(2, 1, "acme");
    c.signature[17] ^= 0x04;
    expect_refused(&mut s, env, "acme", c, Refusal::BadSignature);
    // One bit of a ciphertext, of the public bytes, the row count, the seq.
    let mut c = signed(2, 1, "acme");
    c.parts[0].bytes[42] ^= 0x01;
    expect_refused(&mut s, env, "acme", c, Refusal::BadSignature);
    let mut c = signed(2, 1, "acme");
    c.public[3] ^= 0x80;
    expect_refused(&mut s, env, "acme", c, Refusal::BadSignature);
    let mut c = signed(2, 1, "acme");
    c.rows += 1;
    expect_refused(&mut s, env, "acme", c, Refusal::BadSignature);
    let mut c = signed(2, 1, "acme");
    c.seq = 5;
    expect_refused(&mut s, env, "acme", c, Refusal::BadSignature);
    // Unsigned, and signed by another source's key.
    expect_refused(&mut s, env, "acme", chunk(2, 1), Refusal::BadSignature);
    expect_refused(
        &mut s,
        env,
        "acme",
        signed(2, 1, "globex"),
        Refusal::BadSignature,
    );
    // Signed for another dataset.
    let mut c = chunk(2, 1);
    c.sign("other", "acme", &source_key("acme"));
    expect_refused(&mut s, env, "acme", c, Refusal::BadSignature);
    // The honest chunk still goes in.
    s.append_chunks("mfg", SCHEMA, "acme", &[signed(2, 1, "acme")])
        .unwrap();
    s.verify().unwrap();
}

fn replayed_and_reused_seqs_are_refused_and_logged(env: &Env) {
    let mut s = setup(env);
    s.append_chunks("mfg", SCHEMA, "acme", &[signed(2, 5, "acme")])
        .unwrap();
    // The very same signed chunk again (a replay).
    expect_refused(
        &mut s,
        env,
        "acme",
        signed(2, 5, "acme"),
        Refusal::Replay { last: 5 },
    );
    // New content under a used or older seq.
    for seq in [5, 3, 0] {
        expect_refused(
            &mut s,
            env,
            "acme",
            signed(9, seq, "acme"),
            Refusal::Replay { last: 5 },
        );
    }
    // Within one batch: the second chunk reuses the first one's seq, and
    // the whole batch is refused.
    let before = counts(env);
    let err = s
        .append_chunks(
            "mfg",
            SCHEMA,
            "acme",
            &[signed(10, 6, "acme"), signed(11, 6, "acme")],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IngestRefused {
                reason: Refusal::Replay { last: 6 },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(counts(env), before);
    // Seqs are per (dataset, source): another source starts at 0.
    append_signed(&mut s, "mfg", SCHEMA, "globex", &[chunk(12, 0)]).unwrap();
    s.verify().unwrap();
}

fn duplicate_chunks_are_refused_and_logged(env: &Env) {
    let mut s = setup(env);
    let id = s.chunks("mfg").unwrap()[0].id;
    // Identical content, properly signed with a fresh seq, by its source and by another
    // (registered) source.
    s.register_source("globex", &source_key("globex").verifying_key())
        .unwrap();
    for (source, seq) in [("acme", 1), ("globex", 0)] {
        let c = signed(1, seq, source);
        expect_refused(&mut s, env, source, c, Refusal::Duplicate { chunk_id: id });
    }
    // Parts listed in another order are the same content.
    let mut c = chunk(1, 1);
    c.parts.reverse();
    c.sign("mfg", "acme", &source_key("acme"));
    expect_refused(&mut s, env, "acme", c, Refusal::Duplicate { chunk_id: id });
    // A chunk of a file that is already stored (same file, same index).
    let origin = ChunkOrigin {
        file_hash: [7; 32],
        index: 0,
        count: 2,
    };
    let c = signed_from(3, 1, "acme", Some(origin));
    let stored = s.append_chunks("mfg", SCHEMA, "acme", &[c]).unwrap()[0];
    let again = signed_from(4, 2, "acme", Some(origin));
    expect_refused(
        &mut s,
        env,
        "acme",
        again,
        Refusal::FileChunkStored {
            index: 0,
            chunk_id: stored,
        },
    );
    let progress = s.file_chunks("mfg", "acme", &[7; 32]).unwrap();
    assert_eq!(progress.len(), 1);
    assert_eq!(
        (
            progress[0].id,
            progress[0].seq,
            progress[0].index,
            progress[0].count
        ),
        (stored, 1, 0, 2)
    );
    assert!(s.file_chunks("mfg", "acme", &[8; 32]).unwrap().is_empty());
    assert_eq!(s.last_seq("mfg", "acme").unwrap(), Some(1));
    assert_eq!(s.last_seq("mfg", "nobody").unwrap(), None);
}

fn source_keys_are_registered_once_and_logged(env: &Env) {
    let mut s = env.create();
    let k = source_key("acme").verifying_key();
    assert!(s.register_source("acme", &k).unwrap());
    assert!(!s.register_source("acme", &k).unwrap());
    assert_eq!(s.source_key("acme").unwrap(), Some(k));
    assert_eq!(s.source_key("nobody").unwrap(), None);
    let err = s
        .register_source("acme", &source_key("other").verifying_key())
        .unwrap_err();
    assert!(matches!(err, StoreError::SourceKeyConflict { .. }), "{err}");
    let entries = s.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, EntryKind::SourceKeyRegistered);
    assert_eq!(entries[0].hashes[1], *k.as_bytes());
    // Only the store records key registrations.
    assert!(s
        .append_entry(EntryKind::SourceKeyRegistered, "x", "x", "", &[])
        .is_err());
    let report = s.verify().unwrap();
    assert_eq!(report.sources, 1);
    // The sources table is append-only.
    let c = env.raw();
    for sql in ["UPDATE sources SET name = 'x'", "DELETE FROM sources"] {
        let e = c.execute(sql, &[]).unwrap_err();
        assert!(e.contains("sources is append-only"), "{e}");
    }
}

fn verify_rechecks_every_chunk_signature(env: &Env) {
    let mut s = setup(env);
    s.append_chunks("mfg", SCHEMA, "acme", &[signed(2, 1, "acme")])
        .unwrap();
    // Refusals on the way do not disturb verify.
    let _ = s.append_chunks("mfg", SCHEMA, "acme", &[signed(3, 1, "acme")]);
    let report = s.verify().unwrap();
    assert_eq!((report.chunks, report.sources), (2, 1));
    let id: i64 = s.chunks("mfg").unwrap()[1].id;
    drop(s);

    let copy = |_name: &str| env.copy();
    let tampered = |d: &Env| match d.open().verify() {
        Err(StoreError::Tampered { what }) => what,
        other => panic!("expected Tampered, got {other:?}"),
    };

    // An outside tool drops the trigger and changes one signature byte.
    let d = copy("sig");
    {
        let c = d.outside();
        let mut sig = c.bytes(&format!("SELECT signature FROM chunks WHERE id = {id}"));
        sig[63] ^= 0x01;
        c.exec(
            "UPDATE chunks SET signature = ?1 WHERE id = ?2",
            &[V::B(sig), V::I(id)],
        );
    }
    let what = tampered(&d);
    assert!(
        what.contains(&format!("chunk {id}")) && what.contains("signature"),
        "{what}"
    );

    // The registered key swapped for another.
    let d = copy("key");
    d.outside().exec(
        "UPDATE sources SET public_key = ?1",
        &[V::B(source_key("evil").verifying_key().as_bytes().to_vec())],
    );
    let what = tampered(&d);
    assert!(what.contains("source `acme`"), "{what}");

    // The content hash column, and the file origin.
    for (name, sql, value) in [
        (
            "content",
            "UPDATE chunks SET content_hash = ?2 WHERE id = ?1",
            V::B(vec![0; 32]),
        ),
        (
            "origin",
            "UPDATE chunks SET file_index = ?2 WHERE id = ?1",
            V::I(3),
        ),
    ] {
        let d = copy(name);
        d.outside().exec(sql, &[V::I(id), value]);
        let what = tampered(&d);
        assert!(what.contains(&format!("chunk {id}")), "{name}: {what}");
    }
}

/// A client that skips the agent's CSV check cannot store a terminal escape (or any other
/// control character) in a public text column: the chunk is refused, naming column and row,
/// and nothing is stored. Tab stays allowed.
fn control_characters_in_public_text_are_refused(env: &Env) {
    use dtfhe_model::{encode_public_columns, PublicColumn, Value};
    let mut s = setup(env);
    let with = |text: &str, seq: u64| {
        let mut c = chunk(3, seq);
        c.rows = 2;
        c.public = encode_public_columns(
            &[PublicColumn {
                name: "line".into(),
                values: vec![Value::Text("L1".into()), Value::Text(text.into())],
            }],
            2,
        );
        c.sign("mfg", "acme", &source_key("acme"));
        c
    };
    let before = counts(env);
    for bad in ["L\u{1b}[2J", "L\u{0}", "L\u{7}", "L\u{9b}"] {
        let err = s
            .append_chunks("mfg", SCHEMA, "acme", &[with(bad, 1)])
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidChunk { .. })
                && err.to_string().contains("public column `line`, row 2"),
            "{err}"
        );
        assert_eq!(counts(env), before, "{err}: something was stored");
    }
    s.append_chunks("mfg", SCHEMA, "acme", &[with("L\t2", 1)])
        .unwrap();
    s.verify().unwrap();
}
