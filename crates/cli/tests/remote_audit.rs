//! `dtfhe audit verify --server` against a real platform server in this process: a clean
//! platform verifies with the pinned key; a chunk altered inside the platform's store, or a
//! checkpoint key that is not the pinned one, fails with exit code 8 naming what is wrong.
#![allow(clippy::unwrap_used)]

use dtfhe_agent::upload::{EdgeAgent, RetryPolicy};
use dtfhe_analyst::remote_audit;
use dtfhe_api::{Identity, Role};
use dtfhe_store::Store;
use dtfhe_testkit::platform::Platform;
use dtfhe_testkit::sqlite;

const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";

#[test]
fn remote_audit_passes_then_names_a_tampered_chunk_and_a_wrong_key() {
    let p = Platform::deployed(&["plant-a"]);
    p.attest("plant-a");
    let (tmp, dir, base) = (&p.tmp, &p.dir, p.base.as_str());
    let source = Identity::generate("src-a").unwrap();
    let auditor = Identity::generate("aud").unwrap();
    p.register(&source, Role::Source, &["runs"]);
    p.register(&auditor, Role::Auditor, &[]);
    let schema = tmp.path().join("runs.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let csv = tmp.path().join("runs.csv");
    std::fs::write(&csv, "line,torque\nL1,10.5\nL2,20.5\nL1,30.5\n").unwrap();
    let agent = EdgeAgent::new(
        base,
        source,
        &tmp.path().join("spool"),
        RetryPolicy::default(),
    )
    .unwrap();
    agent.ingest_csv(&schema, &csv, &mut |_| {}).unwrap();

    let id_file = tmp.path().join("aud.id");
    auditor.save_new(&id_file).unwrap();
    let pinned = dir.join(dtfhe_store::PUB_FILE);
    let report = remote_audit::verify(base, &id_file, Some(&pinned), true).unwrap();
    assert_eq!(report.chunks, 1);
    assert!(report.ciphertexts >= 1);
    assert!(report.pinned);
    assert!(report.to_string().ends_with("OK"));

    // Another store's key pinned: the checkpoint does not verify.
    let other = tmp.path().join("other");
    drop(Store::create(&other).unwrap());
    let e = remote_audit::verify(
        base,
        &id_file,
        Some(&other.join(dtfhe_store::PUB_FILE)),
        false,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 8, "{e}");
    assert!(e.to_string().contains("checkpoint"), "{e}");

    // A chunk's public columns altered inside the platform's database (bypassing the
    // append-only triggers): its source signature no longer verifies.
    let db = dir.join(dtfhe_store::STORE_FILE);
    // The auditor reports a tampering (exit 8), naming what it found.
    let tampered = |table: &str, update: &str| {
        sqlite::tamper(&db, table, update);
        let e = remote_audit::verify(base, &id_file, Some(&pinned), false).unwrap_err();
        assert_eq!(e.exit_code(), 8, "{e}");
        e.to_string()
    };
    let e = tampered(
        "chunks",
        "UPDATE chunks SET public = CAST(public || x'00' AS BLOB)",
    );
    assert!(e.contains("chunk 1 of `runs`"), "{e}");

    // A ledger entry altered inside the platform's database: the platform's own check fails
    // when it reads the ledger, and the auditor reports tampering (not an outage).
    tampered(
        "ledger_entries",
        "UPDATE \"ledger_entries\" SET leaf_hash = zeroblob(32) WHERE seq = 1",
    );
}
