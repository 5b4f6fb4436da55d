//! The data path over real HTTP: the router on 127.0.0.1:0 in this process, the blocking
//! client in `spawn_blocking`. Authentication refusals (each a problem document and an
//! `access_denied` ledger entry), the OpenAPI document, chunk upload with idempotent
//! retries, signed chunk listings, part bytes, the ledger routes, and a server directory
//! free of key shares.
#![allow(clippy::unwrap_used)]

use dtfhe_api::auth::{
    sign_request, HEADER_IDENTITY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use dtfhe_api::types::{
    unb64, ChunkInfo, ChunkUploaded, DatasetInfo, DeploymentInfo, FileChunkInfo, IdentityRecord,
    LastSeq, LedgerPage,
};
use dtfhe_api::{ApiError, Identity, Problem, Role};
use dtfhe_model::{chunk_message, ChunkOrigin, NewChunk, NewPart};
use dtfhe_server::AppState;
use dtfhe_store::EntryKind;
use dtfhe_testkit::platform::{self as kit, client, Platform};

const SCHEMA: &str = "dataset = \"runs\"\nstage = \"manufacturing\"\n\n[[columns]]\nname = \"line\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";
const LANE_SCHEMA: &str = "dataset = \"parts\"\nstage = \"manufacturing\"\nlanes = \"product_id\"\n\n[[columns]]\nname = \"product_id\"\nkind = \"public\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";
const TRUSTEES: [&str; 2] = ["plant-a", "plant-b"];

/// A store with a finished deployment (real keys, bfv-8192, ceremony run here in the test
/// only), then the server on a free port.
async fn platform() -> Platform {
    tokio::task::spawn_blocking(|| Platform::deployed(&TRUSTEES))
        .await
        .unwrap()
}

/// Runs `body` (blocking HTTP calls) against a fresh deployed platform, given its URL, its
/// admin and its state; the platform stops when the body returns.
async fn on_platform(
    body: impl FnOnce(String, Identity, std::sync::Arc<AppState>) + Send + 'static,
) {
    let p = platform().await;
    let (base, admin, state) = (p.base.clone(), p.admin.clone(), p.state.clone());
    tokio::task::spawn_blocking(move || body(base, admin, state))
        .await
        .unwrap();
}

/// A new identity `name`, registered by the admin with `role` and `datasets`.
fn party(base: &str, admin: &Identity, name: &str, role: Role, datasets: &[&str]) -> Identity {
    let id = Identity::generate(name).unwrap();
    register(base, admin, &id, role, datasets);
    id
}

fn register(base: &str, admin: &Identity, id: &Identity, role: Role, datasets: &[&str]) {
    let r = kit::register(base, admin, id, role, datasets);
    assert_eq!(r.role, role);
}

fn denials(state: &AppState) -> usize {
    let store = state.store.lock().unwrap();
    store.entries_of(EntryKind::AccessDenied).unwrap().len()
}

/// Sends a request with explicit headers; returns the status and the body.
fn raw(
    method: &str,
    url: &str,
    headers: Option<&dtfhe_api::auth::SignedHeaders>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    if let Some(h) = headers {
        b = b
            .header(HEADER_IDENTITY, &h.identity)
            .header(HEADER_TIMESTAMP, &h.timestamp)
            .header(HEADER_SIGNATURE, &h.signature)
            .header(HEADER_NONCE, &h.nonce);
    }
    let mut resp = agent.run(b.body(body.to_vec()).unwrap()).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().unwrap())
}

fn problem_status(e: ApiError) -> u16 {
    match e {
        ApiError::Problem { problem, .. } => problem.status,
        other => panic!("expected a problem, got {other}"),
    }
}

/// The request was refused with a problem of this HTTP `status`.
fn refused_with<T: std::fmt::Debug>(r: Result<T, ApiError>, status: u16) {
    assert_eq!(problem_status(r.expect_err("refused")), status);
}

/// The request was refused with 403.
fn forbidden<T: std::fmt::Debug>(r: Result<T, ApiError>) {
    refused_with(r, 403);
}

/// A chunk signed by `who` (the store treats ciphertexts as opaque bytes).
fn chunk(who: &Identity, dataset: &str, seq: u64, index: u32, count: u32, fill: u8) -> NewChunk {
    let mut c = NewChunk {
        seq,
        rows: 2,
        public: vec![fill, 1, 2, 3],
        parts: vec![NewPart {
            column: "torque".into(),
            part: "value".into(),
            bytes: vec![fill; 200],
        }],
        signature: [0; 64],
        origin: Some(ChunkOrigin {
            file_hash: [7; 32],
            index,
            count,
        }),
    };
    c.sign(dataset, who.name(), who.signing_key());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problems_and_ledger_entries() {
    on_platform(|base, admin, state| {
        let source = party(&base, &admin, "plant-a-agent", Role::Source, &["runs"]);
        let analyst = party(&base, &admin, "analyst-1", Role::Analyst, &["other"]);
        let now = dtfhe_model::clock::now_unix();

        // Forged: claims to be the source, signed with another key.
        let mallory = Identity::generate("plant-a-agent").unwrap();
        let before = denials(&state);
        let h = sign_request(&mallory, "GET", "/v1/datasets", b"", now);
        let (status, body) = raw("GET", &format!("{base}/v1/datasets"), Some(&h), b"");
        assert_eq!(status, 401);
        let prob: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(prob.status, 401);
        assert!(prob.detail.unwrap().contains("signature"));
        // Unauthenticated refusals are counted, then summarised (below), not one entry each.
        assert_eq!(denials(&state), before);

        // Replayed: the same signed request twice.
        let h = sign_request(&source, "GET", "/v1/datasets", b"", now);
        let (status, _) = raw("GET", &format!("{base}/v1/datasets"), Some(&h), b"");
        assert_eq!(status, 200);
        let before = denials(&state);
        let (status, body) = raw("GET", &format!("{base}/v1/datasets"), Some(&h), b"");
        assert_eq!(status, 401);
        let prob: Problem = serde_json::from_slice(&body).unwrap();
        assert!(prob.detail.unwrap().contains("replayed"));
        assert_eq!(denials(&state), before);

        // Unsigned and unregistered.
        let (status, _) = raw("GET", &format!("{base}/v1/deployment"), None, b"");
        assert_eq!(status, 401);
        let stranger = Identity::generate("stranger").unwrap();
        refused_with(
            client(&base, &stranger).get_json::<DeploymentInfo>("/v1/deployment"),
            401,
        );
        assert_eq!(denials(&state), before);
        // The four refusals above: one summary entry for their (unknown) address.
        let rt = tokio::runtime::Handle::current();
        assert_eq!(rt.block_on(state.report_denials()).unwrap(), 1);
        assert_eq!(denials(&state), before + 1);
        {
            let store = state.store.lock().unwrap();
            let last = store.entries().unwrap().pop().unwrap();
            assert_eq!(
                (last.actor.as_str(), last.subject.as_str()),
                ("anonymous", "unknown")
            );
            assert!(
                last.detail.starts_with("4 unauthenticated"),
                "{}",
                last.detail
            );
        }

        // Wrong role: an analyst uploading, a source reading the ledger.
        let before = denials(&state);
        let body =
            dtfhe_api::wire::encode_chunk(SCHEMA, &chunk(&analyst, "runs", 0, 0, 1, 1)).unwrap();
        let (as_analyst, as_source) = (client(&base, &analyst), client(&base, &source));
        forbidden(as_analyst.post_bytes::<ChunkUploaded>("/v1/datasets/runs/chunks", &body));
        forbidden(as_source.get_json::<LedgerPage>("/v1/ledger"));
        // Missing grant: the analyst may read `other` only; the source may write `runs` only.
        forbidden(as_analyst.get_json::<Vec<ChunkInfo>>("/v1/datasets/runs/chunks"));
        let secret = chunk(&source, "secret", 0, 0, 1, 1);
        let schema = SCHEMA.replace("\"runs\"", "\"secret\"");
        let body = dtfhe_api::wire::encode_chunk(&schema, &secret).unwrap();
        forbidden(as_source.post_bytes::<ChunkUploaded>("/v1/datasets/secret/chunks", &body));
        // Another source's sequence.
        let other_seq = "/v1/datasets/runs/sources/plant-b-agent/last-seq";
        forbidden(as_source.get_json::<LastSeq>(other_seq));
        // Only the admin registers identities.
        forbidden(as_source.register(&IdentityRecord {
            name: "x".into(),
            ..IdentityRecord::of(&source, Role::Admin, vec![])
        }));
        assert_eq!(denials(&state), before + 6);

        // Every refusal entry names who was refused.
        let store = state.store.lock().unwrap();
        let actors: Vec<String> = store
            .entries_of(EntryKind::AccessDenied)
            .unwrap()
            .into_iter()
            .map(|e| e.actor)
            .collect();
        assert!(actors.contains(&"analyst-1".to_string()));
        assert!(actors.contains(&"anonymous".to_string()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let p = platform().await;
    let base = p.base.clone();
    tokio::task::spawn_blocking(move || {
        let (status, body) = raw("GET", &format!("{base}/openapi.json"), None, b"");
        assert_eq!(status, 200);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/v1/health", "get"),
            ("/v1/identities", "get"),
            ("/v1/identities", "post"),
            ("/v1/identities/{name}/revoke", "post"),
            ("/v1/deployment", "get"),
            ("/v1/datasets", "get"),
            ("/v1/datasets/{name}/chunks", "get"),
            ("/v1/datasets/{name}/chunks", "post"),
            ("/v1/datasets/{name}/sources/{source}/last-seq", "get"),
            (
                "/v1/datasets/{name}/sources/{source}/files/{file_hash}",
                "get",
            ),
            ("/v1/chunks/{id}/parts/{column}/{part}", "get"),
            ("/v1/feed", "get"),
            ("/v1/ledger", "get"),
            ("/v1/ledger/inclusion/{seq}", "get"),
            ("/v1/ledger/consistency", "get"),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from /openapi.json"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_upload_once_list_signed_and_serve_their_bytes() {
    let p = platform().await;
    let (base, admin) = (p.base.clone(), p.admin.clone());
    let dir = p.dir.clone();
    let shares = p.keys().share_bytes.clone();
    tokio::task::spawn_blocking(move || {
        let source = party(
            &base,
            &admin,
            "plant-a-agent",
            Role::Source,
            &["runs", "parts"],
        );
        let auditor = party(&base, &admin, "auditor-1", Role::Auditor, &[]);
        let analyst = party(&base, &admin, "analyst-1", Role::Analyst, &["*"]);
        let src = client(&base, &source);

        let d: DeploymentInfo = src.get_json("/v1/deployment").unwrap();
        assert_eq!(d.preset, "bfv-8192");
        assert_eq!(d.trustees, TRUSTEES);
        assert!(!unb64("public_key", &d.public_key).unwrap().is_empty());
        // What a source fetches: the same record without the relinearisation key, named by
        // the hash of the key served in full.
        let rk = unb64("relin_key", &d.relin_key).unwrap();
        assert_eq!(d.relin_key_hash, blake3::hash(&rk).to_hex().to_string());
        let lean: DeploymentInfo = src.get_json("/v1/deployment?relin_key=omit").unwrap();
        assert_eq!(
            lean,
            DeploymentInfo {
                relin_key: String::new(),
                ..d.clone()
            }
        );
        let size = |r: &DeploymentInfo| serde_json::to_vec(r).unwrap().len();
        assert!(
            size(&lean) * 4 < size(&d),
            "{} vs {}",
            size(&lean),
            size(&d)
        );

        let last: LastSeq = src
            .get_json("/v1/datasets/runs/sources/plant-a-agent/last-seq")
            .unwrap();
        assert_eq!(last.last_seq, None);

        let c0 = chunk(&source, "runs", 0, 0, 2, 1);
        let body = dtfhe_api::wire::encode_chunk(SCHEMA, &c0).unwrap();
        let up: ChunkUploaded = src.post_bytes("/v1/datasets/runs/chunks", &body).unwrap();
        assert_eq!(up.status, "stored");
        // A retry after a lost answer: same chunk id, nothing new stored.
        let again: ChunkUploaded = src.post_bytes("/v1/datasets/runs/chunks", &body).unwrap();
        assert_eq!(again.status, "already_stored");
        assert_eq!(again.chunk_id, up.chunk_id);

        // Resume information.
        let last: LastSeq = src
            .get_json("/v1/datasets/runs/sources/plant-a-agent/last-seq")
            .unwrap();
        assert_eq!(last.last_seq, Some(0));
        let files: Vec<FileChunkInfo> = src
            .get_json(&format!(
                "/v1/datasets/runs/sources/plant-a-agent/files/{}",
                hex::encode([7u8; 32])
            ))
            .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!((files[0].index, files[0].count), (0, 2));

        // Bad bodies: truncated, wrong dataset, a lane chunk without decodable public
        // columns (the placement cannot be checked), replayed seq.
        refused_with(
            src.post_bytes::<ChunkUploaded>("/v1/datasets/runs/chunks", &body[..body.len() - 3]),
            400,
        );
        refused_with(
            src.post_bytes::<ChunkUploaded>("/v1/datasets/parts/chunks", &body),
            400,
        );
        let lane = dtfhe_api::wire::encode_chunk(LANE_SCHEMA, &chunk(&source, "parts", 0, 0, 1, 2))
            .unwrap();
        refused_with(
            src.post_bytes::<ChunkUploaded>("/v1/datasets/parts/chunks", &lane),
            400,
        );
        let mut replay = chunk(&source, "runs", 0, 1, 2, 3);
        replay.origin = None;
        refused_with(
            src.post_bytes::<ChunkUploaded>(
                "/v1/datasets/runs/chunks",
                &dtfhe_api::wire::encode_chunk(SCHEMA, &replay).unwrap(),
            ),
            422,
        );

        let c1 = chunk(&source, "runs", 1, 1, 2, 4);
        let up1: ChunkUploaded = src
            .post_bytes(
                "/v1/datasets/runs/chunks",
                &dtfhe_api::wire::encode_chunk(SCHEMA, &c1).unwrap(),
            )
            .unwrap();
        assert_eq!(up1.status, "stored");

        // Readers see both chunks, check signatures and hashes themselves.
        let datasets: Vec<DatasetInfo> = client(&base, &analyst).get_json("/v1/datasets").unwrap();
        assert_eq!(datasets.len(), 1);
        assert_eq!(datasets[0].schema_toml, SCHEMA);
        let listed: Vec<ChunkInfo> = client(&base, &auditor)
            .get_json("/v1/datasets/runs/chunks")
            .unwrap();
        assert_eq!(listed.len(), 2);
        for (info, original) in listed.iter().zip([&c0, &c1]) {
            let public = unb64("public", &info.public).unwrap();
            assert_eq!(public, original.public);
            let parts: Vec<(&str, &str, [u8; 32])> = info
                .parts
                .iter()
                .map(|p| {
                    (
                        p.column.as_str(),
                        p.part.as_str(),
                        dtfhe_api::types::unhex32("hash", &p.hash).unwrap(),
                    )
                })
                .collect();
            let msg = chunk_message(
                "runs",
                &info.source,
                info.seq,
                info.rows,
                blake3::hash(&public).as_bytes(),
                &parts,
            );
            let sig: [u8; 64] = unb64("signature", &info.signature)
                .unwrap()
                .try_into()
                .unwrap();
            use ed25519_dalek::Verifier as _;
            source
                .verifying_key()
                .verify(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
                .unwrap();
            assert_eq!(
                info.origin.as_ref().map(|o| o.index),
                original.origin.map(|o| o.index)
            );
            let bytes = client(&base, &analyst)
                .get_bytes(&format!("/v1/chunks/{}/parts/torque/value", info.id))
                .unwrap();
            assert_eq!(bytes, original.parts[0].bytes);
        }
        refused_with(
            client(&base, &analyst)
                .get_bytes(&format!("/v1/chunks/{}/parts/torque/square", listed[0].id)),
            404,
        );

        // The ledger: pages, proofs.
        let page: LedgerPage = client(&base, &auditor)
            .get_json("/v1/ledger?from=0&limit=3")
            .unwrap();
        assert_eq!(page.entries.len(), 3);
        assert!(page.size > 3);
        assert!(page.checkpoint.contains(&format!("\n{}\n", page.size)));
        let proof: dtfhe_api::types::InclusionProof = client(&base, &auditor)
            .get_json("/v1/ledger/inclusion/1")
            .unwrap();
        assert_eq!(proof.seq, 1);
        refused_with(
            client(&base, &auditor)
                .get_json::<dtfhe_api::types::InclusionProof>("/v1/ledger/inclusion/100000"),
            404,
        );
        let cons: dtfhe_api::types::ConsistencyProof = client(&base, &auditor)
            .get_json("/v1/ledger/consistency?old=2")
            .unwrap();
        assert_eq!(cons.old_size, 2);
        refused_with(
            client(&base, &auditor).get_json::<LedgerPage>("/v1/ledger?from=x"),
            400,
        );
        refused_with(
            client(&base, &auditor).get_json::<dtfhe_api::types::ConsistencyProof>(
                "/v1/ledger/consistency?old=5&new=2",
            ),
            400,
        );

        // No key share anywhere in the platform directory.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                for share in &shares {
                    let probe = &share[share.len() / 2..share.len() / 2 + 64];
                    assert!(
                        !bytes.windows(probe.len()).any(|w| w == probe),
                        "{} holds key share bytes",
                        path.display()
                    );
                }
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_ceremony_the_deployment_and_uploads_answer_503() {
    let p = Platform::awaiting_ceremony(&TRUSTEES);
    let (base, admin) = (p.base.clone(), p.admin.clone());
    tokio::task::spawn_blocking(move || {
        let source = party(&base, &admin, "plant-a-agent", Role::Source, &["runs"]);
        let src = client(&base, &source);
        let e = src
            .get_json::<DeploymentInfo>("/v1/deployment")
            .unwrap_err();
        assert!(e.is_retryable());
        assert_eq!(problem_status(e), 503);
        let body =
            dtfhe_api::wire::encode_chunk(SCHEMA, &chunk(&source, "runs", 0, 0, 1, 1)).unwrap();
        refused_with(
            src.post_bytes::<ChunkUploaded>("/v1/datasets/runs/chunks", &body),
            503,
        );
        refused_with(
            src.get_json::<Vec<FileChunkInfo>>("/v1/datasets/runs/sources/plant-a-agent/files/xyz"),
            400,
        );
    })
    .await
    .unwrap();
}

/// A chunk of the lane dataset `parts` signed by `who`: products `keys` placed in `lanes`.
fn lane_chunk(who: &Identity, seq: u64, keys: &[&str], lanes: &[i64]) -> Vec<u8> {
    use dtfhe_model::{PublicColumn, Value, LANE_COLUMN};
    let public = dtfhe_model::encode_public_columns(
        &[
            PublicColumn {
                name: "product_id".into(),
                values: keys.iter().map(|k| Value::Text(k.to_string())).collect(),
            },
            PublicColumn {
                name: LANE_COLUMN.into(),
                values: lanes.iter().map(|&l| Value::Int(l)).collect(),
            },
        ],
        keys.len(),
    );
    let mut c = NewChunk {
        seq,
        rows: keys.len() as u32,
        public,
        parts: vec![NewPart {
            column: "torque".into(),
            part: "value".into(),
            bytes: vec![seq as u8; 200],
        }],
        signature: [0; 64],
        origin: None,
    };
    c.sign("parts", who.name(), who.signing_key());
    dtfhe_api::wire::encode_chunk(LANE_SCHEMA, &c).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_are_assigned_per_product_and_chunks_must_use_them() {
    use dtfhe_api::types::{LaneAssignment, LaneRequest, MAX_LANE_KEYS};
    on_platform(|base, admin, state| {
        let source = party(&base, &admin, "maker", Role::Source, &["parts"]);
        let other = party(&base, &admin, "other-plant", Role::Source, &["runs"]);
        let src = client(&base, &source);
        let ask = |c: &dtfhe_api::Client, key: &str, keys: &[&str]| {
            c.post_json::<_, LaneAssignment>(
                "/v1/datasets/parts/lanes",
                &LaneRequest {
                    lane_key: key.into(),
                    keys: keys.iter().map(|k| k.to_string()).collect(),
                },
            )
        };
        // First come, first lane; a product keeps its lane.
        let a = ask(&src, "product_id", &["P1", "P2"]).unwrap();
        assert_eq!(
            (a.space.as_str(), a.lanes.as_slice()),
            ("product_id", &[0, 1][..])
        );
        let a = ask(&src, "product_id", &["P2", "P3"]).unwrap();
        assert_eq!(a.lanes, vec![1, 2]);
        let assigned: Vec<_> = {
            let store = state.store.lock().unwrap();
            store.entries_of(EntryKind::LanesAssigned).unwrap()
        };
        assert_eq!(
            assigned.len(),
            2,
            "one ledger entry per request with new products"
        );
        assert!(assigned
            .iter()
            .all(|e| e.actor == "maker" && e.subject == "product_id"));

        // Refused: a source without the grant, empty or oversized requests.
        refused_with(ask(&client(&base, &other), "product_id", &["P9"]), 403);
        assert_eq!(
            problem_status(ask(&src, "product_id", &[""]).unwrap_err()),
            400
        );
        assert_eq!(
            problem_status(ask(&src, "product id", &["P1"]).unwrap_err()),
            400
        );
        let many: Vec<String> = (0..=MAX_LANE_KEYS).map(|i| format!("K{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            problem_status(ask(&src, "product_id", &many).unwrap_err()),
            400
        );

        // A chunk in the assigned lanes is stored; then the dataset's lane key is fixed.
        let up: ChunkUploaded = src
            .post_bytes(
                "/v1/datasets/parts/chunks",
                &lane_chunk(&source, 0, &["P1", "P2"], &[0, 1]),
            )
            .unwrap();
        assert_eq!(up.status, "stored");
        refused_with(ask(&src, "serial", &["P1"]), 422);

        // A lying source: P3 placed in P2's lane, or a product with no lane. Refused, naming
        // the product, and nothing stored.
        let count = || state.store.lock().unwrap().chunks("parts").unwrap().len();
        for (keys, lanes, named) in [
            (&["P3"][..], &[1i64][..], "P3"),
            (&["P4"][..], &[3i64][..], "P4"),
        ] {
            let e = src
                .post_bytes::<ChunkUploaded>(
                    "/v1/datasets/parts/chunks",
                    &lane_chunk(&source, 1, keys, lanes),
                )
                .unwrap_err();
            let ApiError::Problem { problem, .. } = e else {
                panic!("expected a problem");
            };
            assert_eq!(problem.status, 422);
            assert!(problem.detail.unwrap_or_default().contains(named));
            assert_eq!(count(), 1);
        }
    })
    .await;
}

/// Reads `feed` on a thread of its own; its messages arrive on the returned channel.
fn feed_messages(
    feed: dtfhe_api::feed::Feed,
) -> std::sync::mpsc::Receiver<Result<dtfhe_api::feed::FeedMessage, ApiError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for m in feed {
            if tx.send(m).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next chunk event of a feed (panics after 30 s or on anything else).
fn next_chunk(
    rx: &std::sync::mpsc::Receiver<Result<dtfhe_api::feed::FeedMessage, ApiError>>,
) -> dtfhe_api::feed::ChunkEvent {
    match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(dtfhe_api::feed::FeedMessage::Chunk(e))) => e,
        other => panic!("expected a chunk event, got {other:?}"),
    }
}

/// The chunk feed announces each stored chunk (dataset, source, seq, rows, id, the hash of
/// the signed message, its ledger entry) to the readers of its dataset only. The attack: an
/// analyst granted `other` but not `runs` who names `runs` is refused (403, logged), and
/// listening to everything it hears of `other`'s chunk and never of the `runs` chunk stored
/// before it; a source may not listen at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chunk_feed_reaches_the_readers_of_a_dataset_only() {
    on_platform(|base, admin, state| {
        let source = party(
            &base,
            &admin,
            "plant-a-agent",
            Role::Source,
            &["runs", "other"],
        );
        let ana = party(&base, &admin, "ana", Role::Analyst, &["runs"]);
        let eve = party(&base, &admin, "eve", Role::Analyst, &["other"]);
        let auditor = party(&base, &admin, "auditor-1", Role::Auditor, &[]);

        let before = denials(&state);
        refused_with(client(&base, &eve).feed(&["runs".into()]), 403);
        refused_with(client(&base, &source).feed(&[]), 403);
        assert_eq!(
            denials(&state),
            before + 2,
            "each refusal is a ledger entry"
        );
        refused_with(client(&base, &ana).feed(&["../x".into()]), 400);

        let ana_feed = feed_messages(client(&base, &ana).feed(&[]).unwrap());
        let eve_feed = feed_messages(client(&base, &eve).feed(&[]).unwrap());
        let audit_feed = feed_messages(client(&base, &auditor).feed(&["runs".into()]).unwrap());

        let src = client(&base, &source);
        let other_schema = SCHEMA.replace("\"runs\"", "\"other\"");
        let mut stored = Vec::new();
        for (fill, (dataset, schema, seq)) in [
            ("runs", SCHEMA, 0),
            ("other", other_schema.as_str(), 0),
            ("runs", SCHEMA, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let c = chunk(&source, dataset, seq, seq as u32, 2, 9 + fill as u8);
            let body = dtfhe_api::wire::encode_chunk(schema, &c).unwrap();
            let up: ChunkUploaded = src
                .post_bytes(&format!("/v1/datasets/{dataset}/chunks"), &body)
                .unwrap();
            assert_eq!(up.status, "stored");
            stored.push((dataset, c, up.chunk_id));
        }

        let entries = state.store.lock().unwrap().entries().unwrap();
        let check = |e: &dtfhe_api::feed::ChunkEvent, i: usize| {
            let (dataset, c, id) = &stored[i];
            assert_eq!(e.dataset, *dataset);
            assert_eq!(
                (e.source.as_str(), e.seq, e.rows),
                ("plant-a-agent", c.seq, 2)
            );
            assert_eq!(e.chunk_id, *id);
            let hash = blake3::hash(&c.message(dataset, "plant-a-agent"));
            assert_eq!(e.chunk_hash, hash.to_hex().to_string());
            let entry = &entries[e.ledger_index as usize];
            assert_eq!(entry.kind, EntryKind::ChunkAppended);
            assert_eq!(entry.subject, id.to_string());
        };
        // ana (runs only): the two runs chunks, not the other one in between.
        check(&next_chunk(&ana_feed), 0);
        check(&next_chunk(&ana_feed), 2);
        // the auditor asked for runs.
        check(&next_chunk(&audit_feed), 0);
        check(&next_chunk(&audit_feed), 2);
        // eve: its own dataset's chunk is the first it hears of, though a runs chunk was
        // stored before; and nothing after it.
        check(&next_chunk(&eve_feed), 1);
        assert!(
            eve_feed
                .recv_timeout(std::time::Duration::from_millis(500))
                .is_err(),
            "eve heard of a chunk of runs"
        );
    })
    .await;
}
