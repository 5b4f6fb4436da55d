//! The seed corpus is real (every seed is accepted by its decoder), every target runs, and
//! the runner reports panics and broken round trips with the input that caused them.

use dtfhe_crypto::ceremony::net::{PkShareMsg, Rlk1Aggregate, Rlk1Msg, Rlk2Msg};
use dtfhe_crypto::codec::{self, Kind};
use dtfhe_crypto::release::Coeff0Share;
use dtfhe_fuzz::fixture::{Fixture, LOG_KEY_NAME, LOG_ORIGIN, SEAL_AAD, SEAL_INFO};
use dtfhe_fuzz::runner::{self, Budget};
use dtfhe_fuzz::targets::{
    self, fix_up_ceremony, fix_up_envelope_length, Finding, Target, TARGETS,
};
use std::fs;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("dir entry").path();
            let bytes = fs::read(&p).expect("read seed");
            (p.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    out
}

fn fixture() -> Fixture {
    Fixture::new().expect("fixture")
}

/// Accepted by the decoder the target exercises (not merely "did not panic").
fn accepted(fx: &Fixture, target: &str, b: &[u8]) -> bool {
    let p = &fx.params;
    let text = std::str::from_utf8(b).unwrap_or("");
    match target {
        "ciphertext" => codec::decode_ciphertext(p, b).is_ok(),
        "key_envelope" => match b.get(5).copied().and_then(Kind::from_byte) {
            Some(Kind::PublicKey) => codec::decode_public_key(p, b).is_ok(),
            Some(Kind::RelinKey) => codec::decode_relin_key(p, b).is_ok(),
            Some(Kind::SecretShare) => codec::decode_secret_share(p, b).is_ok(),
            _ => false,
        },
        "ceremony" | "ceremony_body" => {
            PkShareMsg::from_bytes(p, b).is_ok()
                || Rlk1Msg::from_bytes(p, b).is_ok()
                || Rlk1Aggregate::from_bytes(p, b).is_ok()
                || Rlk2Msg::from_bytes(p, b).is_ok()
        }
        "ceremony_progress" => dtfhe_trustee::progress::decode(p, b).is_ok(),
        "coeff0_share" => Coeff0Share::from_bytes(p, b).is_ok(),
        "full_share" => dtfhe_trustee::shares::full_share_from_bytes(p, b).is_ok(),
        "sealed_share" => dtfhe_crypto::seal::open(&fx.recipient, SEAL_INFO, SEAL_AAD, b)
            .map(|plain| Coeff0Share::from_bytes(p, &plain).is_ok())
            .unwrap_or(false),
        "param_spec" => dtfhe_crypto::ParamSpec::from_bytes(b).is_ok(),
        "public_columns" => dtfhe_model::decode_public_columns(b).is_ok(),
        "wire_chunk" => dtfhe_api::wire::decode_chunk(b).is_ok(),
        "ledger_entry" => dtfhe_ledger::Entry::decode(b).is_ok(),
        "checkpoint" => {
            dtfhe_ledger::verify_checkpoint(text, &fx.log_verifier(), LOG_KEY_NAME, LOG_ORIGIN)
                .is_ok()
                || dtfhe_ledger::Checkpoint::parse_body(text).is_ok()
        }
        "verifier_key" => dtfhe_ledger::parse_verifier_key(text).is_ok(),
        "http_body" => {
            let Some((_, json)) = b.split_first() else {
                return false;
            };
            serde_json::from_slice::<serde_json::Value>(json).is_ok()
        }
        "body_fields" => {
            let Some((&pick, rest)) = b.split_first() else {
                return false;
            };
            let text = std::str::from_utf8(rest).unwrap_or("");
            match targets::BODY_FIELDS[usize::from(pick) % targets::BODY_FIELDS.len()] {
                "recipient_base64" => {
                    dtfhe_crypto::seal::RecipientPublicKey::from_base64(text).is_ok()
                }
                "recipient_hex" => dtfhe_crypto::seal::RecipientPublicKey::from_hex(text).is_ok(),
                "ceremony_seed_hex" => {
                    dtfhe_crypto::ceremony::net::CeremonySeed::from_hex(text).is_ok()
                }
                "identity_public_key" => dtfhe_api::identity::parse_public_key(text).is_ok(),
                _ => dtfhe_api::types::unhex32("hash", text).is_ok(),
            }
        }
        "auth_signature" => {
            dtfhe_api::auth::parse_signature(text).is_ok()
                || dtfhe_api::auth::check_timestamp(text, 1_764_000_000).is_ok()
        }
        "audit_state" => dtfhe_release::audit::decode_state(b).is_ok(),
        "dealing" => {
            use dtfhe_crypto::threshold::{commit::Commitment, wire};
            let Some((&pick, body)) = b.split_first() else {
                return false;
            };
            match targets::DEALING_DECODERS[usize::from(pick) % targets::DEALING_DECODERS.len()] {
                "dealt_share" => wire::DealtShare::from_bytes(p, body).is_ok(),
                "commitment" => Commitment::from_bytes(p, body).is_ok(),
                _ => wire::threshold_secret_from_bytes(p, body).is_ok(),
            }
        }
        // A seed either plans or is refused by a limit (the seeds straddle the limits).
        "sql_query" => {
            let schema = dtfhe_fuzz::sql::schema();
            let catalog = dtfhe_engine::Catalog::new(&[schema]);
            match dtfhe_engine::plan(&dtfhe_fuzz::sql::sql_of(b), &catalog) {
                Ok(_) => true,
                Err(e) => matches!(e, dtfhe_engine::EngineError::TooComplex { .. }),
            }
        }
        "mqtt_json" => dtfhe_fuzz::mqtt::accepts(
            "plant/M1/telemetry",
            b,
            &mut dtfhe_agent::mqtt::sparkplug::BirthState::default(),
        ),
        "opcua_map" => dtfhe_fuzz::opcua::accepts(text),
        "sparkplug" => b.split_first().is_some_and(|(&pick, payload)| {
            let topics = dtfhe_fuzz::mqtt::SPARKPLUG_TOPICS;
            dtfhe_fuzz::mqtt::accepts(
                topics[usize::from(pick) % topics.len()],
                payload,
                &mut dtfhe_fuzz::mqtt::born(),
            )
        }),
        "b2mml" => dtfhe_fuzz::documents::accepts(dtfhe_agent::formats::DocumentFormat::B2mml, b),
        "mtconnect" => {
            dtfhe_fuzz::documents::accepts(dtfhe_agent::formats::DocumentFormat::MtConnect, b)
        }
        "aas" => dtfhe_fuzz::documents::accepts(dtfhe_agent::formats::DocumentFormat::Aas, b),
        "cad" => {
            dtfhe_fuzz::documents::accepts(dtfhe_agent::formats::DocumentFormat::CadParameters, b)
        }
        "step" => dtfhe_fuzz::documents::step_accepts(b),
        other => panic!("no acceptance check for target {other}"),
    }
}

#[test]
fn every_seed_is_accepted_by_its_decoder() {
    let fx = fixture();
    for t in TARGETS {
        let seeds = corpus(t.name);
        assert!(!seeds.is_empty(), "target {} has no seeds", t.name);
        for (path, bytes) in seeds {
            assert!(
                accepted(&fx, t.name, &bytes),
                "{path} is refused by its decoder: regenerate with `dtfhe-fuzz seeds`"
            );
        }
    }
}

#[test]
fn every_target_runs_briefly_without_a_crash() {
    let fx = fixture();
    runner::quiet_panics();
    for t in TARGETS {
        let seeds: Vec<Vec<u8>> = corpus(t.name).into_iter().map(|(_, b)| b).collect();
        let stats = runner::fuzz(&fx, t, &seeds, Budget::Iterations(300), 7)
            .unwrap_or_else(|c| panic!("{}: {}", c.target, c.message));
        assert_eq!(stats.executed, 300, "{}", t.name);
    }
}

#[test]
fn ceremony_fix_up_leaves_valid_messages_unchanged() {
    for (path, bytes) in corpus("ceremony") {
        assert_eq!(fix_up_ceremony(&bytes), bytes, "{path}");
    }
    // And it does repair a message whose body was changed.
    let fx = fixture();
    let (_, mut msg) = corpus("ceremony").remove(0);
    let last = msg.len() - 40;
    msg[last] ^= 1;
    assert!(!accepted(&fx, "ceremony", &msg));
    msg[last] ^= 1;
    let fixed = fix_up_ceremony(&msg);
    assert!(accepted(&fx, "ceremony", &fixed));
}

#[test]
fn progress_fix_up_leaves_valid_records_unchanged() {
    let fx = fixture();
    for (path, bytes) in corpus("ceremony_progress") {
        assert_eq!(fix_up_envelope_length(&bytes), bytes, "{path}");
        // One byte more: refused as stored, refused with the length fixed up too (trailing
        // bytes), and neither panics.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!accepted(&fx, "ceremony_progress", &longer), "{path}");
        assert!(!accepted(
            &fx,
            "ceremony_progress",
            &fix_up_envelope_length(&longer)
        ));
    }
}

fn panics_on_0xff(_: &Fixture, input: &[u8]) -> targets::Outcome {
    if input.contains(&0xff) {
        panic!("hostile byte");
    }
    Ok(())
}

fn breaks_round_trip_on_long_input(_: &Fixture, input: &[u8]) -> targets::Outcome {
    if input.len() > 8 {
        return Err(Finding("too long".into()));
    }
    Ok(())
}

static PANICKY: Target = Target {
    name: "panicky",
    about: "test",
    run: panics_on_0xff,
};
static NON_CANONICAL: Target = Target {
    name: "non_canonical",
    about: "test",
    run: breaks_round_trip_on_long_input,
};

/// The crash a run of `target` from the one input `seed` finds within a million inputs
/// (`why` it must).
fn crash_of(target: &'static Target, seed: Vec<u8>, why: &str) -> runner::Crash {
    runner::fuzz(
        &fixture(),
        target,
        &[seed],
        Budget::Iterations(1_000_000),
        3,
    )
    .expect_err(why)
}

#[test]
fn the_runner_reports_a_panic_with_its_input() {
    runner::quiet_panics();
    let crash = crash_of(
        &PANICKY,
        vec![0u8; 4],
        "mutations reach 0xff long before a million inputs",
    );
    assert!(crash.input.contains(&0xff));
    assert!(crash.message.contains("hostile byte"), "{}", crash.message);
}

#[test]
fn the_runner_reports_a_broken_round_trip() {
    let crash = crash_of(
        &NON_CANONICAL,
        vec![1u8; 8],
        "insertions make a 9-byte input soon",
    );
    assert!(crash.input.len() > 8);
    assert_eq!(crash.message, "too long");
}

#[test]
fn a_time_budget_stops_the_run() {
    let fx = fixture();
    let t = targets::by_name("ledger_entry").expect("target");
    let seeds: Vec<Vec<u8>> = corpus(t.name).into_iter().map(|(_, b)| b).collect();
    let stats = runner::fuzz(
        &fx,
        t,
        &seeds,
        Budget::Time(std::time::Duration::from_millis(200)),
        1,
    )
    .expect("no crash");
    assert!(stats.executed > seeds.len() as u64);
    assert!(stats.elapsed >= std::time::Duration::from_millis(200));
}
