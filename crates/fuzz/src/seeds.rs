//! The seed corpus: real encoded objects, made with the library's own encoders under the
//! fuzzing [`Fixture`] (`dtfhe-fuzz seeds` writes them to `corpus/<target>/`). Every seed
//! is accepted by its decoder; the corpus test checks that it still is.

use crate::fixture::{Fixture, LOG_KEY_NAME, LOG_ORIGIN, SEAL_AAD, SEAL_INFO};
use dtfhe_api::release::{QueryState, QueryStatus, ReleaseAnswer, TrusteeAnswer};
use dtfhe_crypto::ceremony::net::{
    aggregate_round1, pk_share, CeremonySeed, RelinParty, RelinProgress,
};
use dtfhe_crypto::{ceremony, codec, column, release, seal, CryptoError};
use dtfhe_ledger::{Entry, EntryKind, LedgerError};
use dtfhe_model::table::{PublicColumn, Value};
use dtfhe_model::{ChunkOrigin, NewChunk, NewPart};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

/// Why the seeds could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A crypto encoder failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A ledger encoder failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The wire encoder failed.
    #[error(transparent)]
    Wire(#[from] dtfhe_api::wire::WireError),
    /// A JSON body did not serialise.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Seeds of one target: `(file name, bytes)`.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// Every target's seeds, by target name (deterministic: a fixed RNG seed).
pub fn all(fx: &Fixture) -> Result<Vec<(&'static str, Seeds)>, SeedError> {
    let p = &fx.params;
    let mut rng = ChaCha20Rng::seed_from_u64(0x00d7_f4e0);
    let sk = ceremony::new_share(p, &mut rng);
    let keys = ceremony::run(p, std::slice::from_ref(&sk), &mut rng)?;

    let ct0 = column::encrypt(p, &keys.public, &[1, -2, 3, 4_000], 0, &mut rng)?;
    let ct1 = column::encrypt(p, &keys.public, &[7; 100], 1, &mut rng)?;
    let ciphertexts = vec![
        named("level0", codec::encode_ciphertext(p, &ct0)),
        named("level1", codec::encode_ciphertext(p, &ct1)),
    ];

    let key_envelopes = vec![
        named("public_key", codec::encode_public_key(p, &keys.public)),
        named("relin_key", codec::encode_relin_key(p, &keys.relin)),
        named(
            "secret_share",
            codec::encode_secret_share(p, &sk).as_slice().to_vec(),
        ),
    ];

    let seed = CeremonySeed::random(&mut rng);
    let pk_msg = pk_share(p, &sk, &seed, &mut rng)?;
    let mut party = RelinParty::new(p, &sk, &seed, &mut rng)?;
    let r1 = party.round1(&mut rng)?;
    let progress1 = party.progress(&r1)?.to_bytes().to_vec();
    let agg = aggregate_round1(p, &seed, std::slice::from_ref(&r1))?;
    let r2 = party.round2(&agg, &mut rng)?;
    let progress = vec![
        named("round1_given", progress1),
        named(
            "round2_given",
            RelinProgress::round2_given(r1.clone(), r2.clone())?
                .to_bytes()
                .to_vec(),
        ),
    ];
    let ceremony_msgs = vec![
        named("pk_share", pk_msg.to_bytes()),
        named("rlk_round1", r1.to_bytes()),
        named("rlk_round1_aggregate", agg.to_bytes()),
        named("rlk_round2", r2.to_bytes()),
    ];

    let s0 = release::trustee_share(p, &sk, &ct0, 1, &mut rng)?;
    let s1 = release::trustee_share(p, &sk, &ct1, 1, &mut rng)?;
    let coeff0 = vec![
        named("level0", s0.to_bytes()),
        named("level1", s1.to_bytes()),
    ];

    let f1 = release::trustee_full_share(p, &sk, &ct1, 1, &mut rng)?;
    let full = vec![named(
        "level1",
        dtfhe_trustee::shares::full_share_to_bytes(&f1),
    )];

    let recipient = fx.recipient.public_key();
    let sealed = vec![
        named(
            "level0",
            seal::seal(recipient, SEAL_INFO, SEAL_AAD, &s0.to_bytes(), &mut rng)?,
        ),
        named(
            "level1",
            seal::seal(recipient, SEAL_INFO, SEAL_AAD, &s1.to_bytes(), &mut rng)?,
        ),
    ];

    let params = vec![
        named("fuzz_n1024", p.spec.to_bytes()),
        named("bfv8192", dtfhe_crypto::Preset::Bfv8192.spec().to_bytes()),
        named("bfv16384", dtfhe_crypto::Preset::Bfv16384.spec().to_bytes()),
    ];

    let cols = public_columns();
    let public = vec![named(
        "three_columns",
        dtfhe_model::encode_public_columns(&cols, 3),
    )];

    let schema_toml = include_str!("../../../schemas/ai4i.toml");
    let chunk = NewChunk {
        seq: 7,
        rows: 3,
        public: dtfhe_model::encode_public_columns(&cols, 3),
        parts: vec![NewPart {
            column: "torque".into(),
            part: "x".into(),
            bytes: b"opaque ciphertext bytes".to_vec(),
        }],
        signature: [0x11; 64],
        origin: Some(ChunkOrigin {
            file_hash: [0x22; 32],
            index: 1,
            count: 4,
        }),
    };
    let plain_chunk = NewChunk {
        origin: None,
        ..chunk.clone()
    };
    let wire = vec![
        named(
            "with_origin",
            dtfhe_api::wire::encode_chunk(schema_toml, &chunk)?,
        ),
        named(
            "no_origin",
            dtfhe_api::wire::encode_chunk("name = \"t\"\n", &plain_chunk)?,
        ),
    ];

    let entry = Entry {
        seq: 12,
        time_unix: 1_764_000_000,
        kind: EntryKind::ChunkAppended,
        actor: "factory-a".into(),
        subject: "ai4i/7".into(),
        detail: "3 rows".into(),
        hashes: vec![[0x33; 32], [0x44; 32]],
    };
    let bare = Entry {
        seq: 0,
        time_unix: 0,
        kind: EntryKind::DeploymentCreated,
        actor: String::new(),
        subject: String::new(),
        detail: String::new(),
        hashes: Vec::new(),
    };
    let entries = vec![
        named("chunk_appended", entry.encode()?),
        named("empty", bare.encode()?),
    ];

    let root = [0x55; 32];
    let note = dtfhe_ledger::sign_checkpoint(LOG_ORIGIN, 42, &root, &fx.log_key, LOG_KEY_NAME)?;
    let body = dtfhe_ledger::Checkpoint {
        origin: LOG_ORIGIN.into(),
        size: 42,
        root,
    }
    .body()?;
    let checkpoints = vec![
        named("signed_note", note.into_bytes()),
        named("body", body.into_bytes()),
    ];

    let vkey = dtfhe_ledger::verifier_key_string(LOG_KEY_NAME, &fx.log_verifier())?;
    let verifier = vec![named("log_key", vkey.into_bytes())];

    let http = http_bodies()?;

    let sig = vec![
        named("signature", b64(&[0x66; 64]).into_bytes()),
        named("timestamp", b"1764000000".to_vec()),
    ];

    let ceremony_seed_hex = seed.to_hex();
    let fields = vec![
        field("recipient_base64", &recipient.to_base64()),
        field("recipient_hex", &recipient.to_hex()),
        field("ceremony_seed_hex", &ceremony_seed_hex),
        field(
            "identity_public_key",
            &dtfhe_api::identity::public_key_string(&fx.log_verifier()),
        ),
        field("hash_hex", &"cd".repeat(32)),
    ];

    let dealing = dealing_seeds(fx, &mut rng)?;

    Ok(vec![
        ("audit_state", audit_states()),
        ("dealing", dealing),
        ("ciphertext", ciphertexts),
        ("key_envelope", key_envelopes),
        ("ceremony", ceremony_msgs.clone()),
        ("ceremony_body", ceremony_msgs),
        ("ceremony_progress", progress),
        ("coeff0_share", coeff0),
        ("full_share", full),
        ("sealed_share", sealed),
        ("param_spec", params),
        ("public_columns", public),
        ("wire_chunk", wire),
        ("ledger_entry", entries),
        ("checkpoint", checkpoints),
        ("verifier_key", verifier),
        ("http_body", http),
        ("body_fields", fields),
        ("auth_signature", sig),
        ("sql_query", crate::sql::seeds()),
        ("mqtt_json", crate::mqtt::seeds().0),
        ("sparkplug", crate::mqtt::seeds().1),
        ("b2mml", crate::documents::seeds()[0].clone()),
        ("mtconnect", crate::documents::seeds()[1].clone()),
        ("aas", crate::documents::seeds()[2].clone()),
        ("cad", crate::documents::seeds()[3].clone()),
        ("step", crate::documents::seeds()[4].clone()),
        ("opcua_map", crate::opcua::seeds()),
    ])
}

/// A 2-of-3 dealing under the fuzzing parameters: a dealt share, the dealer's commitment and
/// a threshold secret, each behind its decoder-picking byte.
fn dealing_seeds(fx: &Fixture, rng: &mut ChaCha20Rng) -> Result<Seeds, SeedError> {
    use dtfhe_crypto::threshold::{commit::Commitment, wire, Dealing, ThresholdSecret};
    let p = &fx.params;
    let shares: Vec<_> = (0..3).map(|_| ceremony::new_share(p, rng)).collect();
    let seed = CeremonySeed([0x42; 32]);
    let dealings = shares
        .iter()
        .map(|sk| Dealing::new(p, sk, 2, 3, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let commitment = Commitment::new(p, &seed.0, 1, &dealings[0], rng)?;
    let dealt = wire::DealtShare {
        ceremony: seed.id().0,
        dealer: 1,
        recipient: 2,
        threshold: 2,
        trustees: 3,
        share: dealings[0].share_for(p, 2)?,
    };
    let received = dealings
        .iter()
        .map(|d| d.share_for(p, 2))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = ThresholdSecret::aggregate(p, 2, 2, 3, &received)?;
    let picked = |name: &str, bytes: &[u8]| {
        let pick = crate::targets::DEALING_DECODERS
            .iter()
            .position(|d| *d == name)
            .unwrap_or(0);
        let mut out = vec![pick as u8];
        out.extend_from_slice(bytes);
        (name.to_string(), out)
    };
    Ok(vec![
        picked("dealt_share", &dealt.to_bytes(p)),
        picked("commitment", &commitment.to_bytes()),
        picked(
            "threshold_secret",
            &wire::threshold_secret_to_bytes(p, &secret),
        ),
    ])
}

/// One body field: the decoder-picking byte, then the text.
fn field(name: &str, text: &str) -> (String, Vec<u8>) {
    let index = crate::targets::BODY_FIELDS
        .iter()
        .position(|f| *f == name)
        .unwrap_or(0);
    let mut out = vec![index as u8];
    out.extend_from_slice(text.as_bytes());
    (name.to_string(), out)
}

fn named(name: &str, bytes: Vec<u8>) -> (String, Vec<u8>) {
    (name.to_string(), bytes)
}

fn b64(bytes: &[u8]) -> String {
    dtfhe_api::types::b64(bytes)
}

fn public_columns() -> Vec<PublicColumn> {
    vec![
        PublicColumn {
            name: "machine".into(),
            values: vec![
                Value::Text("M-1".into()),
                Value::Text("M-2".into()),
                Value::Null,
            ],
        },
        PublicColumn {
            name: "cycle".into(),
            values: vec![Value::Int(1), Value::Int(-2), Value::Int(300)],
        },
        PublicColumn {
            name: "temp".into(),
            values: vec![Value::Dec(298.1), Value::Int(5), Value::Dec(-0.5)],
        },
    ]
}

/// One JSON body: the type-picking byte, then the JSON.
fn body<T: Serialize>(type_name: &str, v: &T) -> Result<(String, Vec<u8>), SeedError> {
    let index = crate::targets::HTTP_BODY_TYPES
        .iter()
        .position(|t| *t == type_name)
        .unwrap_or(0);
    let mut out = vec![index as u8];
    out.extend_from_slice(&serde_json::to_vec(v)?);
    Ok((type_name.to_string(), out))
}

/// A dealing half way: every key in, one dealing, no acceptance.
fn dealing_state(key: &str) -> dtfhe_api::dealing::DealingState {
    use dtfhe_api::dealing as d;
    d::DealingState {
        threshold: 2,
        trustees: vec!["t1".into(), "t2".into(), "t3".into()],
        seed: "cd".repeat(32),
        progress: d::RoundProgress {
            keys: ["t1", "t2", "t3"]
                .map(|t| (t.to_string(), key.to_string()))
                .into(),
            dealt: vec!["t1".into()],
            accepted: Vec::new(),
            complete: false,
        },
    }
}

/// One share dealt to the caller, as its inbox lists it.
fn dealt_item() -> dtfhe_api::dealing::DealtItem {
    dtfhe_api::dealing::DealtItem {
        dealer: "t1".into(),
        commitment: b64(&[6; 48]),
        sealed: b64(&[7; 80]),
    }
}

fn http_bodies() -> Result<Seeds, SeedError> {
    use dtfhe_api::{ceremony as c, dealing as d, release as r, types as t};
    let h = b64(&[0x77; 32]);
    let hx = "ab".repeat(32);
    let answer = TrusteeAnswer {
        trustee: "t1".into(),
        answer: ReleaseAnswer {
            approve: true,
            reason: None,
            sealed: vec![b64(&[1; 60])],
            epsilon: Some(0.25),
        },
        answered_unix: 1_764_000_000,
    };
    Ok(vec![
        body(
            "IdentityRecord",
            &t::IdentityRecord {
                name: "factory-a".into(),
                role: dtfhe_api::Role::Source,
                public_key: h.clone(),
                datasets: vec!["ai4i".into()],
                revoked: None,
            },
        )?,
        body(
            "RevokeRequest",
            &t::RevokeRequest {
                reason: "left the consortium".into(),
            },
        )?,
        body("DealingState", &dealing_state(&h))?,
        body("DealingKey", &d::DealingKey { key: h.clone() })?,
        body(
            "DealingPost",
            &d::DealingPost {
                commitment: b64(&[6; 48]),
                sealed: [("t1".to_string(), b64(&[7; 80]))].into(),
            },
        )?,
        body(
            "DealingInbox",
            &d::DealingInbox {
                items: vec![dealt_item()],
            },
        )?,
        body(
            "DealingAccept",
            &d::DealingAccept {
                commitments: vec![hx.clone()],
            },
        )?,
        body(
            "TrusteeReplacement",
            &d::TrusteeReplacement {
                old: "t3".into(),
                new: "t4".into(),
            },
        )?,
        body(
            "ResharingState",
            &d::ResharingState {
                epoch: 1,
                threshold: 2,
                trustees: vec!["t1".into(), "t2".into(), "t4".into()],
                departed: "t3".into(),
                joined: "t4".into(),
                position: 3,
                seed: hx.clone(),
                redealers: vec!["t1".into(), "t2".into()],
                progress: dealing_state(&h).progress,
            },
        )?,
        body(
            "ResharingInbox",
            &d::ResharingInbox {
                epoch: 1,
                items: vec![dealt_item()],
                previous: vec![b64(&[6; 48])],
            },
        )?,
        body(
            "DeploymentInfo",
            &t::DeploymentInfo {
                preset: "bfv8192".into(),
                trustees: vec!["t1".into(), "t2".into()],
                min_group_size: 5,
                public_key: h.clone(),
                relin_key: h.clone(),
                relin_key_hash: String::new(),
            },
        )?,
        body(
            "ChunkInfo",
            &t::ChunkInfo {
                id: 3,
                source: "factory-a".into(),
                seq: 7,
                rows: 3,
                public: h.clone(),
                signature: b64(&[9; 64]),
                origin: Some(t::OriginInfo {
                    file_hash: hx.clone(),
                    index: 0,
                    count: 2,
                }),
                parts: vec![t::PartInfo {
                    column: "torque".into(),
                    part: "x".into(),
                    hash: hx.clone(),
                    size: 32768,
                }],
            },
        )?,
        body(
            "LastSeq",
            &t::LastSeq {
                last_seq: Some(u64::MAX),
            },
        )?,
        body(
            "LedgerPage",
            &t::LedgerPage {
                entries: vec![t::LedgerEntryInfo {
                    seq: 0,
                    time_unix: 1_764_000_000,
                    kind: "chunk_appended".into(),
                    actor: "factory-a".into(),
                    subject: "ai4i/1".into(),
                    detail: "3 rows".into(),
                    hashes: vec![hx.clone()],
                    encoded: h.clone(),
                }],
                size: 1,
                checkpoint: "fuzz.example/log\n1\nroot\n\n— sig\n".into(),
                verifier_key: "fuzz.example/log+01234567+AQID".into(),
            },
        )?,
        body(
            "ConsistencyProof",
            &t::ConsistencyProof {
                old_size: 1,
                new_size: 2,
                old_root: [0xab; 32],
                new_root: [0xab; 32],
                proof: vec![[0xab; 32]],
                old_checkpoint: None,
                new_checkpoint: Some("cp".into()),
            },
        )?,
        body("CeremonyShare", &c::CeremonyShare { share: h.clone() })?,
        body(
            "Attestation",
            &c::Attestation {
                trustee: "t1".into(),
                signature: b64(&[5; 64]),
            },
        )?,
        body(
            "QueryRequest",
            &r::QueryRequest {
                sql: "SELECT AVG(torque) FROM ai4i WHERE type = 'L'".into(),
                epsilon: Some(0.5),
                recipient: h.clone(),
                timestamp: 1_764_000_000,
                statement_signature: b64(&[3; 64]),
            },
        )?,
        body(
            "ReleaseAnswer",
            &r::ReleaseAnswer {
                approve: false,
                reason: Some("group below the minimum size".into()),
                sealed: Vec::new(),
                epsilon: None,
            },
        )?,
        body(
            "QueryStatus",
            &QueryStatus {
                id: 9,
                state: QueryState::Complete,
                dataset: "ai4i".into(),
                trustees: vec!["t1".into()],
                answers: vec![answer],
                ciphertext_hashes: vec![hx.clone()],
                ciphertexts: vec![h.clone()],
                chunks_upto: Default::default(),
                quorum: None,
                delivery_entry: None,
            },
        )?,
        body(
            "Problem",
            &dtfhe_api::Problem::new(409, "conflict", "Conflict", "sequence number already used"),
        )?,
        body(
            "LaneRequest",
            &t::LaneRequest {
                lane_key: "product_id".into(),
                keys: vec!["M14860".into(), "L47181".into()],
            },
        )?,
        body(
            "LaneAssignment",
            &t::LaneAssignment {
                space: "product_id".into(),
                lanes: vec![0, 8191, 8192],
            },
        )?,
        body(
            "ModelRegistration",
            &dtfhe_api::score::ModelRegistration {
                model: "{\"format\":\"dtfhe-linear-model/1\"}".into(),
                fit_query: 12,
                signature: b64(&[3; 64]),
            },
        )?,
        body(
            "ModelRecord",
            &dtfhe_api::score::ModelRecord {
                hash: hx.clone(),
                model: "{}".into(),
                analyst: "ana".into(),
                fit_query: 12,
                signature: b64(&[3; 64]),
                ledger_seq: 40,
            },
        )?,
        body(
            "ScoreRequest",
            &dtfhe_api::score::ScoreRequest {
                dataset: "ai4i".into(),
                model_hash: hx.clone(),
                recipient: h.clone(),
                timestamp: 1_700_000_000,
                statement_signature: b64(&[4; 64]),
            },
        )?,
    ])
}

/// Audit states: empty, and after two releases (a whole chunk, then part of it).
fn audit_states() -> Vec<(String, Vec<u8>)> {
    use dtfhe_release::audit::{Auditor, ChunkKey, ChunkRows, RowSet};
    let mut auditor = Auditor::in_memory();
    let empty = auditor.state().encode();
    let key = ChunkKey {
        source: "plant-a".into(),
        seq: 1,
    };
    let sets = [
        ChunkRows::All { rows: 40 },
        ChunkRows::Some {
            rows: 40,
            selected: (0..20).collect(),
        },
    ];
    for (i, rows) in sets.into_iter().enumerate() {
        let mut set = RowSet::default();
        set.chunks.insert(key.clone(), rows);
        if let Ok(approval) = auditor.check("d", &[set], 5) {
            let _ = auditor.commit(approval, &format!("r{i}"));
        }
    }
    vec![
        named("empty", empty),
        named("two_releases", auditor.state().encode()),
    ]
}
