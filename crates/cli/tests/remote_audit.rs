//! `dtfhe audit verify --server` against a real platform server in this process: a clean
//! platform verifies with the pinned key; a chunk altered inside the platform's store, or a
//! checkpoint key that is not the pinned one, fails with exit code 8 naming what is wrong.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use dtfhe_agent::upload::{EdgeAgent, RetryPolicy};
use dtfhe_analyst::remote_audit;
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{Client, Identity, Role};
use dtfhe_crypto::{ceremony, codec};
use dtfhe_server::{AppState, ServeOptions};
use dtfhe_store::{Deployment, Store};

const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";

#[test]
fn remote_audit_passes_then_names_a_tampered_chunk_and_a_wrong_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("platform");
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    {
        let mut rng = rand::rng();
        let shares = vec![ceremony::new_share(&params, &mut rng)];
        let keys = ceremony::run(&params, &shares, &mut rng).unwrap();
        Store::create(&dir)
            .unwrap()
            .put_deployment(&Deployment {
                preset: "bfv-8192".into(),
                trustees: vec!["plant-a".into()],
                min_group_size: 2,
                public_key: codec::encode_public_key(&params, &keys.public),
                relin_key: codec::encode_relin_key(&params, &keys.relin),
                created_at: "0".into(),
            })
            .unwrap();
    }
    let admin = Identity::generate("root").unwrap();
    let state = Arc::new(
        AppState::open(ServeOptions {
            store: Default::default(),
            dir: dir.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: Some(("root".into(), admin.public_key_string())),
            trustees: vec!["plant-a".into()],
            min_group_size: 2,
            preset: "bfv-8192".into(),
        })
        .unwrap(),
    );
    common::attest_deployment(&state, &dir, "plant-a");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = dtfhe_server::app(state.clone());
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let admin_client = Client::new(&base, Some(admin), Duration::from_secs(30));
    let source = Identity::generate("src-a").unwrap();
    let auditor = Identity::generate("aud").unwrap();
    for (id, role, datasets) in [
        (&source, Role::Source, vec!["runs".to_string()]),
        (&auditor, Role::Auditor, vec![]),
    ] {
        let _: IdentityRecord = admin_client
            .post_json(
                "/v1/identities",
                &IdentityRecord {
                    name: id.name().into(),
                    role,
                    public_key: id.public_key_string(),
                    datasets,
                },
            )
            .unwrap();
    }
    let schema = tmp.path().join("runs.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let csv = tmp.path().join("runs.csv");
    std::fs::write(&csv, "line,torque\nL1,10.5\nL2,20.5\nL1,30.5\n").unwrap();
    let agent = EdgeAgent::new(
        &base,
        source,
        &tmp.path().join("spool"),
        RetryPolicy::default(),
    )
    .unwrap();
    agent.ingest_csv(&schema, &csv, &mut |_| {}).unwrap();

    let id_file = tmp.path().join("aud.id");
    auditor.save_new(&id_file).unwrap();
    let pinned = dir.join(dtfhe_store::PUB_FILE);
    let report = remote_audit::verify(&base, &id_file, Some(&pinned), true).unwrap();
    assert_eq!(report.chunks, 1);
    assert!(report.ciphertexts >= 1);
    assert!(report.pinned);
    assert!(report.to_string().ends_with("OK"));

    // Another store's key pinned: the checkpoint does not verify.
    let other = tmp.path().join("other");
    drop(Store::create(&other).unwrap());
    let e = remote_audit::verify(
        &base,
        &id_file,
        Some(&other.join(dtfhe_store::PUB_FILE)),
        false,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 8, "{e}");
    assert!(e.to_string().contains("checkpoint"), "{e}");

    // A chunk's public columns altered inside the platform's database (bypassing the
    // append-only triggers): its source signature no longer verifies.
    {
        let conn = rusqlite::Connection::open(dir.join(dtfhe_store::STORE_FILE)).unwrap();
        let triggers: Vec<(String, String)> = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'chunks'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut script = String::from("BEGIN;\n");
        for (name, _) in &triggers {
            script.push_str(&format!("DROP TRIGGER \"{name}\";\n"));
        }
        script.push_str("UPDATE chunks SET public = CAST(public || x'00' AS BLOB);\n");
        for (_, sql) in &triggers {
            script.push_str(&format!("{sql};\n"));
        }
        script.push_str("COMMIT;\n");
        conn.execute_batch(&script).unwrap();
    }
    let e = remote_audit::verify(&base, &id_file, Some(&pinned), false).unwrap_err();
    assert_eq!(e.exit_code(), 8, "{e}");
    assert!(e.to_string().contains("chunk 1 of `runs`"), "{e}");

    // A ledger entry altered inside the platform's database: the platform's own check fails
    // when it reads the ledger, and the auditor reports tampering (not an outage).
    {
        let conn = rusqlite::Connection::open(dir.join(dtfhe_store::STORE_FILE)).unwrap();
        let table = "ledger_entries";
        let triggers: Vec<(String, String)> = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")
            .unwrap()
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut script = String::from("BEGIN;\n");
        for (name, _) in &triggers {
            script.push_str(&format!("DROP TRIGGER \"{name}\";\n"));
        }
        script.push_str(&format!(
            "UPDATE \"{table}\" SET leaf_hash = zeroblob(32) WHERE seq = 1;\n"
        ));
        for (_, sql) in &triggers {
            script.push_str(&format!("{sql};\n"));
        }
        script.push_str("COMMIT;\n");
        conn.execute_batch(&script).unwrap();
    }
    let e = remote_audit::verify(&base, &id_file, Some(&pinned), false).unwrap_err();
    assert_eq!(e.exit_code(), 8, "{e}");
}
