//! The networked key ceremony over real HTTP: three trustees (their shares drawn here, in
//! the test, never sent) post their public messages; the deployment the server aggregates
//! encrypts and relinearises correctly under the sum of those shares. Corrupted, repeated
//! and out-of-order shares are refused with problems naming the field.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use dtfhe_api::ceremony::{CeremonyShare, CeremonyState};
use dtfhe_api::types::{b64, unb64, DeploymentInfo};
use dtfhe_api::{ApiError, Client, Identity, Role};
use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::ceremony::net::{pk_share, CeremonySeed, RelinParty, Rlk1Aggregate};
use dtfhe_crypto::release::{centred, combine, trustee_share};
use dtfhe_crypto::{ceremony, codec, column};
use dtfhe_server::AppState;
use dtfhe_store::EntryKind;
use dtfhe_testkit::platform::{client, serve_options, Platform};

const TRUSTEES: [&str; 3] = ["plant-a", "plant-b", "plant-c"];

fn register(p: &Platform, id: &Identity, role: Role) {
    let datasets: &[&str] = if role == Role::Analyst { &["*"] } else { &[] };
    p.register(id, role, datasets);
}

fn post(c: &Client, step: &str, bytes: &[u8]) -> Result<CeremonyState, ApiError> {
    c.post_json(
        &format!("/v1/ceremony/{step}"),
        &CeremonyShare { share: b64(bytes) },
    )
}

fn status(r: Result<CeremonyState, ApiError>) -> (u16, String) {
    match r {
        Err(ApiError::Problem { problem, .. }) => {
            (problem.status, problem.detail.clone().unwrap_or_default())
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceremony_over_http_yields_keys_that_decrypt() {
    let p = Platform::awaiting_ceremony(&TRUSTEES);
    let base = p.base.clone();
    let ids: Vec<Identity> = TRUSTEES
        .iter()
        .map(|t| Identity::generate(t).unwrap())
        .collect();
    for id in &ids {
        register(&p, id, Role::Trustee);
    }
    let outsider = Identity::generate("eve").unwrap();
    register(&p, &outsider, Role::Analyst);
    let state = p.state.clone();
    tokio::task::spawn_blocking(move || {
        let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
        let mut rng = rand::rng();
        let clients: Vec<Client> = ids.iter().map(|id| client(&base, id)).collect();
        // The OpenAPI document describes the key path's routes.
        let doc: serde_json::Value = Client::new(&base, None, Duration::from_secs(10))
            .get_json("/openapi.json")
            .unwrap();
        for path in [
            "/v1/ceremony",
            "/v1/ceremony/pk-share",
            "/v1/ceremony/rlk1",
            "/v1/ceremony/rlk2",
            "/v1/ceremony/transcript",
            "/v1/ceremony/attestation",
            "/v1/ceremony/attestations",
            "/v1/queries",
            "/v1/queries/{id}",
            "/v1/releases/pending",
            "/v1/releases/{id}",
            "/v1/releases/{id}/answers",
        ] {
            assert!(
                doc["paths"][path].is_object(),
                "{path} missing from /openapi.json"
            );
        }
        let s: CeremonyState = clients[0].get_json("/v1/ceremony").unwrap();
        assert!(!s.complete);
        let early = clients[0]
            .get_json::<dtfhe_api::ceremony::CeremonyTranscript>("/v1/ceremony/transcript")
            .unwrap_err();
        assert_eq!(early.status(), Some(503));
        assert_eq!(s.preset, "bfv-8192");
        let seed = CeremonySeed::from_hex(&s.seed).unwrap();
        // An analyst is not part of the ceremony.
        let e = client(&base, &outsider)
            .get_json::<CeremonyState>("/v1/ceremony")
            .unwrap_err();
        assert_eq!(e.status(), Some(403));

        let shares: Vec<_> = (0..3)
            .map(|_| ceremony::new_share(&params, &mut rng))
            .collect();
        // Round 2 before round 1 is complete: refused.
        let mut parties: Vec<RelinParty> = shares
            .iter()
            .map(|sk| RelinParty::new(&params, sk, &seed, &mut rng).unwrap())
            .collect();
        for (i, sk) in shares.iter().enumerate() {
            let m = pk_share(&params, sk, &seed, &mut rng).unwrap().to_bytes();
            if i == 0 {
                // A corrupted share: 400 naming the field; then the good one.
                let mut bad = m.clone();
                let mid = bad.len() / 2;
                bad[mid] ^= 1;
                let (code, detail) = status(post(&clients[0], "pk-share", &bad));
                assert_eq!(code, 400, "{detail}");
                assert!(detail.starts_with("share: "), "{detail}");
            }
            post(&clients[i], "pk-share", &m).unwrap();
            // The same bytes again (a retry) are fine; another share is a conflict.
            post(&clients[i], "pk-share", &m).unwrap();
            let other = pk_share(&params, sk, &seed, &mut rng).unwrap().to_bytes();
            assert_eq!(status(post(&clients[i], "pk-share", &other)).0, 409);
        }
        let r1: Vec<Vec<u8>> = parties
            .iter_mut()
            .map(|party| party.round1(&mut rng).unwrap().to_bytes())
            .collect();
        post(&clients[0], "rlk1", &r1[0]).unwrap();
        // A trustee restarted after its round-1 share gives the very same bytes again
        // (kept in its progress file): accepted; a different round-1 share is a conflict.
        post(&clients[0], "rlk1", &r1[0]).unwrap();
        assert_eq!(status(post(&clients[0], "rlk1", &r1[1])).0, 409);
        post(&clients[1], "rlk1", &r1[1]).unwrap();
        let early = status(post(&clients[0], "rlk2", b"not yet"));
        assert_eq!(early.0, 409, "{}", early.1);
        let s = post(&clients[2], "rlk1", &r1[2]).unwrap();
        let agg = unb64("round1_aggregate", s.round1_aggregate.as_deref().unwrap()).unwrap();
        let agg = Rlk1Aggregate::from_bytes(&params, &agg).unwrap();
        let mut last = None;
        for (i, party) in parties.iter_mut().enumerate() {
            let m = party.round2(&agg, &mut rng).unwrap().to_bytes();
            last = Some(post(&clients[i], "rlk2", &m).unwrap());
            if i == 0 {
                // The same round-2 share again (a restarted trustee): accepted, and the
                // ceremony does not count it twice; another one is a conflict.
                let again = post(&clients[0], "rlk2", &m).unwrap();
                assert_eq!(again.rlk2, vec![TRUSTEES[0].to_string()]);
                let (code, detail) = status(post(&clients[0], "rlk2", b"another"));
                assert_eq!(code, 409, "{detail}");
                assert!(detail.contains("already gave its round-2"), "{detail}");
            }
        }
        let done = last.unwrap();
        assert!(done.complete);
        // Every public-key share is published with the complete state (trustees check the
        // deployment key against them).
        assert_eq!(done.pk_share_messages.len(), 3);
        let again: CeremonyState = clients[1].get_json("/v1/ceremony").unwrap();
        assert_eq!(again.pk_share_messages, done.pk_share_messages);
        let t: dtfhe_api::ceremony::CeremonyTranscript =
            clients[2].get_json("/v1/ceremony/transcript").unwrap();
        assert_eq!((t.pk.len(), t.rlk1.len(), t.rlk2.len()), (3, 3, 3));
        assert_eq!(t.pk, done.pk_share_messages);
        let after = status(post(&clients[0], "pk-share", b"late"));
        assert_eq!(after.0, 409);

        // The deployment: encrypt under its public key, decrypt with the shares' sum.
        let d: DeploymentInfo = clients[0].get_json("/v1/deployment").unwrap();
        assert_eq!(d.trustees, TRUSTEES.map(String::from).to_vec());
        let pk = codec::decode_public_key(&params, &unb64("pk", &d.public_key).unwrap()).unwrap();
        let rk = codec::decode_relin_key(&params, &unb64("rk", &d.relin_key).unwrap()).unwrap();
        let a = column::encrypt(&params, &pk, &[5, 7, 11], 0, &mut rng).unwrap();
        let b = column::encrypt(&params, &pk, &[2, 3, 4], 0, &mut rng).unwrap();
        let release = |ct: &fhe::bfv::Ciphertext| {
            let s: Vec<_> = shares
                .iter()
                .map(|sk| trustee_share(&params, sk, ct, 3, &mut rand::rng()).unwrap())
                .collect();
            centred(&params, combine(&params, ct, &s).unwrap())
        };
        assert_eq!(release(&a), 23);
        let m = Multiplier::new(&params, rk).unwrap();
        let mut ps = m.product_sum();
        ps.add(&m.extend(&a).unwrap(), &m.extend(&b).unwrap());
        let prod = m.finish(&ps).unwrap();
        assert_eq!(release(&prod), 10 + 21 + 44);

        // Ledger: the seed, nine shares, the keys; no share ever in clear.
        let store = state.store.lock().unwrap();
        let steps = store.entries_of(EntryKind::CeremonyStep).unwrap();
        assert_eq!(steps.len(), 11);
        assert!(store.deployment().is_ok());
    })
    .await
    .unwrap();
}

#[test]
fn a_restart_continues_the_same_ceremony_and_a_deployment_pins_its_trustees() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = |trustees: &[&str]| serve_options(tmp.path().join("platform"), None, trustees);
    let seed = |s: &AppState| {
        std::fs::read_to_string(s.opts.dir.join(dtfhe_server::routes::ceremony::SEED_FILE)).unwrap()
    };
    let a = AppState::open(opts(&TRUSTEES)).unwrap();
    let first = seed(&a);
    drop(a);
    let b = AppState::open(opts(&TRUSTEES)).unwrap();
    assert_eq!(seed(&b), first, "a restart keeps the ceremony's seed");
    let started = b
        .store
        .lock()
        .unwrap()
        .entries_of(EntryKind::CeremonyStep)
        .unwrap()
        .len();
    assert_eq!(started, 1, "one `ceremony started` entry");
    // Once a deployment exists, other trustees are refused at start.
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    let mut rng = rand::rng();
    let shares: Vec<_> = (0..3)
        .map(|_| ceremony::new_share(&params, &mut rng))
        .collect();
    let keys = ceremony::run(&params, &shares, &mut rng).unwrap();
    b.store
        .lock()
        .unwrap()
        .put_deployment(&dtfhe_store::Deployment {
            preset: "bfv-8192".into(),
            trustees: TRUSTEES.map(String::from).to_vec(),
            min_group_size: 2,
            public_key: codec::encode_public_key(&params, &keys.public),
            relin_key: codec::encode_relin_key(&params, &keys.relin),
            created_at: "0".into(),
        })
        .unwrap();
    drop(b);
    let e = AppState::open(opts(&["plant-a", "plant-x"])).unwrap_err();
    assert!(e.to_string().contains("differs from the deployment"), "{e}");
    AppState::open(opts(&TRUSTEES)).unwrap();
    AppState::open(opts(&[])).unwrap();
}
