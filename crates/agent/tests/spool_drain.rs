//! The edge agent against a real platform server (in this process, on 127.0.0.1): a file
//! uploads; with the platform unreachable the next file is encrypted into the spool and
//! kept; once the platform is back the spool drains, and the store holds every chunk once.
//! Watch mode takes each file once; a half-uploaded file resumes with the same seqs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use dtfhe_agent::upload::{EdgeAgent, EdgeError, RetryPolicy};
use dtfhe_api::{Identity, Role};
use dtfhe_server::AppState;
use dtfhe_testkit::platform::{closed_url, Platform};

const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 2\nmin = 0\nmax = 100\n";

fn csv(rows: usize, line: &str) -> String {
    let mut s = String::from("line,torque\n");
    for i in 0..rows {
        s.push_str(&format!("{line},{}.{:02}\n", 10 + i % 50, i % 100));
    }
    s
}

/// A platform with a finished deployment of trustee `plant-a` (bfv-8192, keys from an
/// in-test ceremony, attested) served on 127.0.0.1, and a registered source.
fn platform(source_name: &str, grants: &[&str]) -> (Platform, Identity) {
    let p = Platform::deployed(&["plant-a"]);
    p.attest("plant-a");
    let source = Identity::generate(source_name).unwrap();
    p.register(&source, Role::Source, grants);
    (p, source)
}

/// An edge agent of `source` against `p`, its spool in `p`'s temporary directory.
fn agent(p: &Platform, source: &Identity) -> EdgeAgent {
    EdgeAgent::new(
        &p.base,
        source.clone(),
        &p.tmp.path().join("spool"),
        RetryPolicy::default(),
    )
    .unwrap()
}

#[test]
fn the_spool_survives_an_unreachable_platform_and_drains_without_duplicates() {
    let (p, source) = platform("plant-a-agent", &["runs"]);
    let (tmp, dir, state, base, source) = (&p.tmp, &p.dir, &p.state, &p.base, &source);
    let slots = p.keys().params.slots();
    // A port nobody listens on: the platform "down".
    let closed = closed_url();

    let schema = tmp.path().join("runs.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let a = tmp.path().join("a.csv");
    let b = tmp.path().join("b.csv");
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&a, csv(slots + 3, "L1")).unwrap();
    std::fs::write(&b, csv(2 * slots + 1, "L2")).unwrap();
    std::fs::write(&bad, "line,torque\nL1,12.5\nL1,250\n").unwrap();
    let spool_dir = tmp.path().join("spool");
    let quick = RetryPolicy {
        initial: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        give_up_after: Some(Duration::from_millis(300)),
    };
    let chunks = |state: &AppState| state.store.lock().unwrap().chunks("runs").unwrap();
    let mut quiet = |_| {};

    // Online: file A (2 chunks) is uploaded, the spool ends empty.
    let online = EdgeAgent::new(base, source.clone(), &spool_dir, quick).unwrap();
    let r = online.ingest_csv(&schema, &a, &mut quiet).unwrap();
    assert_eq!((r.chunks, r.uploaded), (2, 2));
    assert!(online.spool().pending().unwrap().is_empty());

    // Bad input: refused before anything is spooled or sent.
    let entries = state.store.lock().unwrap().entries().unwrap().len();
    let e = online.ingest_csv(&schema, &bad, &mut quiet).unwrap_err();
    assert!(matches!(e, EdgeError::Input(_)), "{e}");
    assert!(online.spool().pending().unwrap().is_empty());
    assert_eq!(
        state.store.lock().unwrap().entries().unwrap().len(),
        entries
    );

    // Platform unreachable: file B (3 chunks) is encrypted into the spool and kept.
    let offline = EdgeAgent::new(&closed, source.clone(), &spool_dir, quick).unwrap();
    let e = offline.ingest_csv(&schema, &b, &mut quiet).unwrap_err();
    assert!(matches!(e, EdgeError::Offline { spooled: 3, .. }), "{e}");
    assert_eq!(offline.spool().pending().unwrap().len(), 3);
    assert_eq!(chunks(state).len(), 2);

    // A restarted agent, platform back: the spool drains first, then B is complete.
    let back = EdgeAgent::new(base, source.clone(), &spool_dir, quick).unwrap();
    let r = back.ingest_csv(&schema, &b, &mut quiet).unwrap();
    assert_eq!(r.drained, 3);
    assert!(r.already_ingested);
    assert!(back.spool().pending().unwrap().is_empty());
    // And A again stores nothing.
    let r = back.ingest_csv(&schema, &a, &mut quiet).unwrap();
    assert!(r.already_ingested);

    let stored = chunks(state);
    assert_eq!(stored.len(), 5, "2 chunks of A + 3 of B, each once");
    let mut seqs: Vec<u64> = stored.iter().map(|c| c.seq).collect();
    seqs.dedup();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    assert_eq!(
        stored.iter().map(|c| c.rows as usize).sum::<usize>(),
        (slots + 3) + (2 * slots + 1)
    );
    state.store.lock().unwrap().verify().unwrap();

    // Nothing encrypted is in clear on the platform (the encrypted column's text values).
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"10.00\n" || w == b",10.00"),
            "{} holds a plaintext value",
            path.display()
        );
    }
}

#[test]
fn watch_mode_ingests_each_file_once_and_records_rejected_ones() {
    let (p, source) = platform("plant-b-agent", &["*"]);
    let (tmp, state) = (&p.tmp, &p.state);
    let schema = tmp.path().join("runs.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::write(inbox.join("1.csv"), csv(5, "L1")).unwrap();
    std::fs::write(inbox.join("2.csv"), csv(7, "L2")).unwrap();
    std::fs::write(inbox.join("3.csv"), "line,torque\nL3,not-a-number\n").unwrap();
    std::fs::write(inbox.join("notes.txt"), "ignored").unwrap();
    let agent = agent(&p, &source);
    let run = |agent: &EdgeAgent| {
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        agent
            .watch(
                &schema,
                &inbox,
                Duration::from_millis(10),
                true,
                &|| false,
                &mut |_| {},
                &mut |path, r| {
                    let name = path.file_name().unwrap().to_string_lossy().to_string();
                    match r {
                        Ok(_) => ok.push(name),
                        Err(_) => failed.push(name),
                    }
                },
            )
            .unwrap();
        (ok, failed)
    };
    let (ok, failed) = run(&agent);
    assert_eq!(ok, ["1.csv", "2.csv"]);
    assert_eq!(failed, ["3.csv"]);
    // A second pass takes nothing: every file is recorded by hash, the bad one too.
    let (ok, failed) = run(&agent);
    assert!(ok.is_empty() && failed.is_empty(), "{ok:?} {failed:?}");
    let stored = state.store.lock().unwrap().chunks("runs").unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored.iter().map(|c| c.rows).sum::<u32>(), 12);
}

#[test]
fn a_half_uploaded_file_resumes_with_the_same_seqs() {
    let (p, source) = platform("plant-c-agent", &["runs"]);
    let slots = p.keys().params.slots();
    let schema_path = p.tmp.path().join("runs.toml");
    std::fs::write(&schema_path, SCHEMA).unwrap();
    let text = csv(2 * slots + 1, "L3");
    let file = p.tmp.path().join("c.csv");
    std::fs::write(&file, &text).unwrap();

    // An earlier run (crashed afterwards) stored chunk 0 of the file, seq 0.
    let schema = dtfhe_model::Schema::from_toml_str(SCHEMA, "runs.toml").unwrap();
    let table = dtfhe_model::read_csv_bytes(text.as_bytes(), "c.csv", &schema).unwrap();
    let layout = dtfhe_agent::Layout::packed(table.rows, slots);
    let signer = dtfhe_agent::ChunkSigner {
        key: source.signing_key(),
        dataset: "runs",
        source: source.name(),
        base_seq: 0,
        file_hash: *blake3::hash(text.as_bytes()).as_bytes(),
    };
    let client = p.client(&source);
    dtfhe_agent::encrypt_ordered_with(
        &p.keys().params,
        &p.keys().public,
        &schema,
        &table,
        &layout,
        &[0],
        &signer,
        |_, chunk| {
            let body = dtfhe_api::wire::encode_chunk(SCHEMA, &chunk).unwrap();
            let _: dtfhe_api::types::ChunkUploaded = client
                .post_bytes("/v1/datasets/runs/chunks", &body)
                .unwrap();
            Ok::<(), ()>(())
        },
    )
    .unwrap();

    let agent = agent(&p, &source);
    let r = agent.ingest_csv(&schema_path, &file, &mut |_| {}).unwrap();
    assert_eq!((r.chunks, r.resumed, r.uploaded), (3, 1, 2));
    let stored = p.state.store.lock().unwrap().chunks("runs").unwrap();
    let seqs: Vec<u64> = stored.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(
        stored.iter().map(|c| c.rows as usize).sum::<usize>(),
        2 * slots + 1
    );
}

/// A deployment whose keys the trustee did not attest (here: an attestation signed by a key
/// that is not the trustee's registered one, as a platform substituting its own public key
/// would have to forge) is refused before anything is encrypted, spooled or sent.
#[test]
fn a_deployment_not_attested_by_its_trustees_is_refused() {
    let (p, source) = platform("plant-a-agent", &["runs"]);
    let d = p.state.store.lock().unwrap().deployment().unwrap();
    let forger = Identity::generate("plant-a").unwrap();
    std::fs::write(
        p.dir
            .join(dtfhe_server::routes::ceremony::ATTESTATIONS_FILE),
        serde_json::to_vec(&vec![dtfhe_api::ceremony::attest(
            &forger,
            &d.public_key,
            &d.relin_key,
        )])
        .unwrap(),
    )
    .unwrap();
    let schema = p.tmp.path().join("runs.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let a = p.tmp.path().join("a.csv");
    std::fs::write(&a, csv(10, "L1")).unwrap();
    let agent = agent(&p, &source);
    let e = agent.ingest_csv(&schema, &a, &mut |_| {}).unwrap_err();
    assert!(matches!(e, EdgeError::Unattested(_)), "{e}");
    assert!(e.to_string().contains("did not attest these keys"), "{e}");
    assert!(agent.spool().pending().unwrap().is_empty());
    assert!(p
        .state
        .store
        .lock()
        .unwrap()
        .dataset_schema("runs")
        .unwrap()
        .is_none());
}
