//! One fuzz target per decoder of outside bytes. A target feeds its input to the library's
//! decoder; a rejected input is fine, a panic is a bug (the runner catches and reports it),
//! and where the type re-encodes, an accepted input must re-encode to the same bytes (or to
//! an object that decodes back to itself): otherwise the decoder accepts a non-canonical
//! form, which is a [`Finding`] too.

use crate::fixture::{Fixture, LOG_KEY_NAME, LOG_ORIGIN, SEAL_AAD, SEAL_INFO};
use dtfhe_crypto::ceremony::net::{
    PkShareMsg, Rlk1Aggregate, Rlk1Msg, Rlk2Msg, CHECKSUM_CONTEXT, CHECKSUM_LEN,
};
use dtfhe_crypto::codec::{
    self, decode_public_key, decode_relin_key, decode_secret_share, encode_public_key,
    encode_relin_key, encode_secret_share, Kind,
};
use dtfhe_crypto::release::Coeff0Share;
use dtfhe_crypto::{CryptoError, ParamSpec, Params};
use dtfhe_ledger::{Checkpoint, Entry};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A decoder accepted an input but did not round-trip it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Finding(pub String);

/// What a target returns: `Ok` whether the input was accepted or refused.
pub type Outcome = Result<(), Finding>;

/// A named fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    /// Name (also its corpus directory under `corpus/`).
    pub name: &'static str,
    /// What it decodes, for `--list` and the README.
    pub about: &'static str,
    /// Run one input.
    pub run: fn(&Fixture, &[u8]) -> Outcome,
}

/// Every target, in the order the runner runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ciphertext",
        about: "crypto codec: ciphertext envelope (DTFH header + fhe.rs protobuf)",
        run: ciphertext,
    },
    Target {
        name: "key_envelope",
        about: "crypto codec: public key, relinearisation key, secret-share envelopes",
        run: key_envelope,
    },
    Target {
        name: "ceremony",
        about: "crypto ceremony/net: the four ceremony messages, as received",
        run: ceremony,
    },
    Target {
        name: "ceremony_body",
        about: "crypto ceremony/net: ceremony messages with length and checksum fixed up, so mutations reach the polynomial parser",
        run: ceremony_body,
    },
    Target {
        name: "ceremony_progress",
        about: "trustee progress / crypto ceremony/net: a trustee's ceremony progress record (its round secret and messages, inside its 0600 file's envelope), as stored and with the envelope length fixed up",
        run: ceremony_progress,
    },
    Target {
        name: "coeff0_share",
        about: "crypto release: a decryption share of coefficient 0",
        run: coeff0_share,
    },
    Target {
        name: "full_share",
        about: "trustee shares: a full decryption share",
        run: full_share,
    },
    Target {
        name: "sealed_share",
        about: "crypto seal: an HPKE-sealed decryption share, opened and decoded",
        run: sealed_share,
    },
    Target {
        name: "dealing",
        about: "crypto threshold: a dealt Shamir share (as opened from its seal), a dealer's commitment, a stored threshold secret (first byte picks), round trip",
        run: dealing,
    },
    Target {
        name: "param_spec",
        about: "crypto params: the binary parameter blob (decode, re-encode, validate)",
        run: param_spec,
    },
    Target {
        name: "public_columns",
        about: "model public_codec: a chunk's public (clear) columns",
        run: public_columns,
    },
    Target {
        name: "wire_chunk",
        about: "api wire: an uploaded chunk (and the public columns inside it)",
        run: wire_chunk,
    },
    Target {
        name: "ledger_entry",
        about: "ledger entry: one encoded ledger entry",
        run: ledger_entry,
    },
    Target {
        name: "checkpoint",
        about: "ledger note: a signed checkpoint note and its body",
        run: checkpoint,
    },
    Target {
        name: "verifier_key",
        about: "ledger note: a verifier key string",
        run: verifier_key,
    },
    Target {
        name: "http_body",
        about: "api types/release/ceremony/problem: every JSON body (first byte picks the type)",
        run: http_body,
    },
    Target {
        name: "body_fields",
        about: "crypto seal/ceremony, api identity/types: text fields inside bodies (first byte picks the decoder)",
        run: body_fields,
    },
    Target {
        name: "auth_signature",
        about: "api auth: the request signature header",
        run: auth_signature,
    },
    Target {
        name: "audit_state",
        about: "release audit: a trustee's disclosure-audit state file (checksum skipped, so mutations reach the fields)",
        run: audit_state,
    },
    Target {
        name: "mqtt_json",
        about: "agent mqtt: a JSON payload read through a mapping, each row checked as a CSV row",
        run: crate::mqtt::mqtt_json,
    },
    Target {
        name: "sparkplug",
        about: "agent mqtt: a Sparkplug B payload (protobuf) as birth, death or DATA of a born node and device (first byte picks), aliases resolved, rows checked; round trip",
        run: crate::mqtt::sparkplug,
    },
    Target {
        name: "b2mml",
        about: "agent formats: a B2MML production performance / job response document (XML tree, mapping, every row checked as a CSV row); errors never quote a value",
        run: crate::documents::b2mml,
    },
    Target {
        name: "mtconnect",
        about: "agent formats: an MTConnectStreams document (XML tree, data items by the schema, UNAVAILABLE counted, TIME_SERIES one row per sample, rows checked); errors never quote a value",
        run: crate::documents::mtconnect,
    },
    Target {
        name: "aas",
        about: "agent formats: an AAS V3 JSON environment (shells, submodels, properties by semanticId, TimeSeries records) read against a design-stage and a maintenance schema; errors never quote a value",
        run: crate::documents::aas,
    },
    Target {
        name: "cad",
        about: "agent formats: a CAD / PLM parameter export (CSV part,parameter,value lines or JSON parts) read into one row per part; errors never quote a value",
        run: crate::documents::cad,
    },
    Target {
        name: "step",
        about: "agent formats: a STEP file's HEADER (ISO 10303-21 structure, FILE_NAME, FILE_SCHEMA) and its cad_files row",
        run: crate::documents::step,
    },
    Target {
        name: "opcua_map",
        about: "agent opcua: a mapping file (TOML, node ids through the async-opcua parser) against a schema; an accepted one assembles and checks a row",
        run: crate::opcua::opcua_map,
    },
    Target {
        name: "sql_query",
        about: "engine limits and planner: SQL text, token soups and repeated units (deep nesting, long chains; first byte picks)",
        run: crate::sql::sql_query,
    },
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn finding(what: &str, detail: impl std::fmt::Display) -> Finding {
    Finding(format!("{what}: {detail}"))
}

/// Compare a re-encoding with the input.
fn same_bytes(what: &str, input: &[u8], again: &[u8]) -> Outcome {
    if input != again {
        return Err(finding(
            what,
            format!(
                "accepted {} bytes that re-encode to {} different bytes",
                input.len(),
                again.len()
            ),
        ));
    }
    Ok(())
}

/// Compare a hex re-encoding with the accepted hex text (either case).
fn same_hex(what: &str, text: &str, again: &str) -> Outcome {
    if !text.eq_ignore_ascii_case(again) {
        return Err(finding(what, "hex accepted but re-encodes differently"));
    }
    Ok(())
}

fn ciphertext(fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(ct) = codec::decode_ciphertext(&fx.params, input) else {
        return Ok(());
    };
    let again = codec::encode_ciphertext(&fx.params, &ct);
    if again == input {
        return Ok(());
    }
    // A different but equivalent encoding (protobuf allows some) must decode to the same.
    match codec::decode_ciphertext(&fx.params, &again) {
        Ok(ct2) if ct2 == ct => Ok(()),
        Ok(_) => Err(finding(
            "ciphertext",
            "re-encoding decodes to another value",
        )),
        Err(e) => Err(finding("ciphertext", format!("re-encoding refused: {e}"))),
    }
}

/// One key decoder with its encoder: an accepted input re-encodes to itself, or to bytes
/// that decode again and re-encode to themselves (one canonical form).
fn key_round_trip<K, B: AsRef<[u8]>>(
    what: &str,
    p: &Params,
    input: &[u8],
    decode: impl Fn(&Params, &[u8]) -> Result<K, CryptoError>,
    encode: impl Fn(&Params, &K) -> B,
) -> Outcome {
    let Ok(key) = decode(p, input) else {
        return Ok(());
    };
    let again = encode(p, &key);
    if again.as_ref() == input {
        return Ok(());
    }
    let key2 = decode(p, again.as_ref())
        .map_err(|e| finding(what, format!("re-encoding refused: {e}")))?;
    same_bytes(what, again.as_ref(), encode(p, &key2).as_ref())
}

fn key_envelope(fx: &Fixture, input: &[u8]) -> Outcome {
    let p = &fx.params;
    match input.get(5).copied().and_then(Kind::from_byte) {
        Some(Kind::PublicKey) => {
            key_round_trip("public key", p, input, decode_public_key, encode_public_key)?
        }
        Some(Kind::RelinKey) => {
            key_round_trip("relin key", p, input, decode_relin_key, encode_relin_key)?
        }
        Some(Kind::SecretShare) => key_round_trip(
            "secret share",
            p,
            input,
            decode_secret_share,
            encode_secret_share,
        )?,
        _ => {
            // Any other kind byte: every decoder must refuse it without panicking.
            if codec::decode_public_key(p, input).is_ok()
                || codec::decode_relin_key(p, input).is_ok()
                || codec::decode_secret_share(p, input).is_ok()
            {
                return Err(finding(
                    "key envelope",
                    "accepted under a foreign kind byte",
                ));
            }
        }
    }
    Ok(())
}

fn ceremony(fx: &Fixture, input: &[u8]) -> Outcome {
    let p = &fx.params;
    let again = match input.get(5).copied().and_then(Kind::from_byte) {
        Some(Kind::CeremonyPkShare) => PkShareMsg::from_bytes(p, input).map(|m| m.to_bytes()),
        Some(Kind::CeremonyRlkRound1) => Rlk1Msg::from_bytes(p, input).map(|m| m.to_bytes()),
        Some(Kind::CeremonyRlkRound1Aggregate) => {
            Rlk1Aggregate::from_bytes(p, input).map(|m| m.to_bytes())
        }
        Some(Kind::CeremonyRlkRound2) => Rlk2Msg::from_bytes(p, input).map(|m| m.to_bytes()),
        _ => {
            let accepted = PkShareMsg::from_bytes(p, input).is_ok()
                || Rlk1Msg::from_bytes(p, input).is_ok()
                || Rlk1Aggregate::from_bytes(p, input).is_ok()
                || Rlk2Msg::from_bytes(p, input).is_ok();
            if accepted {
                return Err(finding("ceremony", "accepted under a foreign kind byte"));
            }
            return Ok(());
        }
    };
    match again {
        Ok(again) => same_bytes("ceremony message", input, &again),
        Err(_) => Ok(()),
    }
}

/// The envelope header's length (bytes 14..18) and the trailing checksum, recomputed for
/// `input` as the sender would; inputs too short to carry both are returned unchanged.
pub fn fix_up_ceremony(input: &[u8]) -> Vec<u8> {
    const HEADER_LEN: usize = 18;
    let mut out = input.to_vec();
    if out.len() < HEADER_LEN + CHECKSUM_LEN {
        return out;
    }
    let payload = (out.len() - HEADER_LEN) as u32;
    out[14..18].copy_from_slice(&payload.to_le_bytes());
    let n = out.len() - CHECKSUM_LEN;
    let mut h = blake3::Hasher::new_derive_key(CHECKSUM_CONTEXT);
    h.update(&out[..n]);
    let sum = *h.finalize().as_bytes();
    out[n..].copy_from_slice(&sum);
    out
}

fn ceremony_body(fx: &Fixture, input: &[u8]) -> Outcome {
    ceremony(fx, &fix_up_ceremony(input))
}

/// The envelope header's length field (bytes 14..18) recomputed for `input`, so that
/// insertions and removals reach the payload parser; shorter inputs are returned unchanged.
pub fn fix_up_envelope_length(input: &[u8]) -> Vec<u8> {
    const HEADER_LEN: usize = 18;
    let mut out = input.to_vec();
    if out.len() >= HEADER_LEN {
        let payload = (out.len() - HEADER_LEN) as u32;
        out[14..18].copy_from_slice(&payload.to_le_bytes());
    }
    out
}

fn ceremony_progress(fx: &Fixture, input: &[u8]) -> Outcome {
    progress_record(fx, input)?;
    progress_record(fx, &fix_up_envelope_length(input))
}

fn progress_record(fx: &Fixture, input: &[u8]) -> Outcome {
    match dtfhe_trustee::progress::decode(&fx.params, input) {
        Ok(record) => same_bytes("ceremony progress record", input, &record.to_bytes()),
        Err(_) => Ok(()),
    }
}

fn coeff0_share(fx: &Fixture, input: &[u8]) -> Outcome {
    match Coeff0Share::from_bytes(&fx.params, input) {
        Ok(s) => same_bytes("coeff0 share", input, &s.to_bytes()),
        Err(_) => Ok(()),
    }
}

fn full_share(fx: &Fixture, input: &[u8]) -> Outcome {
    match dtfhe_trustee::shares::full_share_from_bytes(&fx.params, input) {
        Ok(s) => same_bytes(
            "full share",
            input,
            &dtfhe_trustee::shares::full_share_to_bytes(&s),
        ),
        Err(_) => Ok(()),
    }
}

fn sealed_share(fx: &Fixture, input: &[u8]) -> Outcome {
    if let Ok(plain) = dtfhe_crypto::seal::open(&fx.recipient, SEAL_INFO, SEAL_AAD, input) {
        if let Ok(s) = Coeff0Share::from_bytes(&fx.params, &plain) {
            same_bytes("sealed coeff0 share", &plain, &s.to_bytes())?;
        }
    }
    Ok(())
}

/// The decoders of the t-of-n dealing, picked by the first byte (see [`DEALING_DECODERS`]).
fn dealing(fx: &Fixture, input: &[u8]) -> Outcome {
    use dtfhe_crypto::threshold::{commit::Commitment, wire};
    let Some((&pick, body)) = input.split_first() else {
        return Ok(());
    };
    let p = &fx.params;
    match DEALING_DECODERS[usize::from(pick) % DEALING_DECODERS.len()] {
        "dealt_share" => match wire::DealtShare::from_bytes(p, body) {
            Ok(s) => same_bytes("dealt share", body, &s.to_bytes(p)),
            Err(_) => Ok(()),
        },
        "commitment" => match Commitment::from_bytes(p, body) {
            Ok(c) => same_bytes("dealing commitment", body, &c.to_bytes()),
            Err(_) => Ok(()),
        },
        _ => match wire::threshold_secret_from_bytes(p, body) {
            // Version 1 (before re-sharing) is read as epoch 0 and written as the current
            // version: the same secret, in other bytes.
            Ok(s) if body.first() == Some(&1) => {
                let now = wire::threshold_secret_to_bytes(p, &s);
                let again = wire::threshold_secret_from_bytes(p, &now)
                    .map_err(|e| finding("threshold secret", e.to_string()))?;
                same_bytes(
                    "threshold secret (version 1)",
                    &now,
                    &wire::threshold_secret_to_bytes(p, &again),
                )
            }
            Ok(s) => same_bytes(
                "threshold secret",
                body,
                &wire::threshold_secret_to_bytes(p, &s),
            ),
            Err(_) => Ok(()),
        },
    }
}

/// The decoders the `dealing` target's first byte picks from, in order.
pub const DEALING_DECODERS: &[&str] = &["dealt_share", "commitment", "threshold_secret"];

fn param_spec(_fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(spec) = ParamSpec::from_bytes(input) else {
        return Ok(());
    };
    same_bytes("parameter blob", input, &spec.to_bytes())?;
    // Validation runs on decoded, unchecked numbers: it must refuse, never panic.
    let _ = spec.validate(false);
    let _ = spec.validate(true);
    Ok(())
}

fn check_public_columns(input: &[u8]) -> Outcome {
    let Ok(cols) = dtfhe_model::decode_public_columns(input) else {
        return Ok(());
    };
    if let Some(first) = cols.first() {
        let again = dtfhe_model::encode_public_columns(&cols, first.values.len());
        same_bytes("public columns", input, &again)?;
    }
    Ok(())
}

fn public_columns(_fx: &Fixture, input: &[u8]) -> Outcome {
    check_public_columns(input)
}

fn wire_chunk(_fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(wc) = dtfhe_api::wire::decode_chunk(input) else {
        return Ok(());
    };
    let again = dtfhe_api::wire::encode_chunk(&wc.schema_toml, &wc.chunk)
        .map_err(|e| finding("wire chunk", format!("accepted but cannot re-encode: {e}")))?;
    same_bytes("wire chunk", input, &again)?;
    check_public_columns(&wc.chunk.public)
}

fn ledger_entry(_fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(entry) = Entry::decode(input) else {
        return Ok(());
    };
    let again = entry.encode().map_err(|e| {
        finding(
            "ledger entry",
            format!("accepted but cannot re-encode: {e}"),
        )
    })?;
    same_bytes("ledger entry", input, &again)?;
    // The leaf hash is computed from the decoded entry: it must not fail either.
    entry
        .leaf_hash()
        .map_err(|e| finding("ledger entry", format!("accepted but no leaf hash: {e}")))?;
    Ok(())
}

fn checkpoint(fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(());
    };
    // The whole signed note, as a client receives it.
    let _ = dtfhe_ledger::verify_checkpoint(text, &fx.log_verifier(), LOG_KEY_NAME, LOG_ORIGIN);
    // The body alone, as parsed after the signature check.
    if let Ok(cp) = Checkpoint::parse_body(text) {
        let body = cp
            .body()
            .map_err(|e| finding("checkpoint", format!("accepted but cannot re-encode: {e}")))?;
        same_bytes("checkpoint body", text.as_bytes(), body.as_bytes())?;
    }
    Ok(())
}

fn verifier_key(_fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(());
    };
    if let Ok((name, key)) = dtfhe_ledger::parse_verifier_key(text) {
        let again = dtfhe_ledger::verifier_key_string(&name, &key).map_err(|e| {
            finding(
                "verifier key",
                format!("accepted but cannot re-encode: {e}"),
            )
        })?;
        same_bytes(
            "verifier key",
            text.trim_end_matches('\n').as_bytes(),
            again.as_bytes(),
        )?;
    }
    Ok(())
}

/// Parse a JSON body as `T`; if accepted, its serialisation must parse back to the same
/// value (`exact`) or at least parse again (types with floating-point fields).
fn json_round_trip<T: DeserializeOwned + Serialize + PartialEq>(
    what: &str,
    body: &[u8],
    exact: bool,
) -> Outcome {
    let Ok(v) = serde_json::from_slice::<T>(body) else {
        return Ok(());
    };
    let again = serde_json::to_vec(&v)
        .map_err(|e| finding(what, format!("accepted but cannot serialise: {e}")))?;
    let v2 = serde_json::from_slice::<T>(&again)
        .map_err(|e| finding(what, format!("own serialisation refused: {e}")))?;
    if exact && v2 != v {
        return Err(finding(what, "serialisation parses to another value"));
    }
    Ok(())
}

/// The JSON body types, by index; the input's first byte (mod the count) picks one.
pub const HTTP_BODY_TYPES: &[&str] = &[
    "Health",
    "IdentityRecord",
    "DeploymentInfo",
    "ChunkInfo",
    "DatasetInfo",
    "ChunkUploaded",
    "LastSeq",
    "FileChunkInfo",
    "LedgerPage",
    "InclusionProof",
    "ConsistencyProof",
    "CeremonyState",
    "CeremonyShare",
    "CeremonyTranscript",
    "Attestation",
    "QueryRequest",
    "QueryAccepted",
    "ReleaseInfo",
    "ReleaseAnswer",
    "QueryStatus",
    "Problem",
    "LaneRequest",
    "LaneAssignment",
    "ModelRegistration",
    "ModelRecord",
    "ScoreRequest",
    "RevokeRequest",
    "DealingState",
    "DealingKey",
    "DealingPost",
    "DealingInbox",
    "DealingAccept",
    "TrusteeReplacement",
    "ResharingState",
    "ResharingInbox",
];

/// Health has no `PartialEq`; compare its serialisations instead.
fn health(body: &[u8]) -> Outcome {
    let Ok(v) = serde_json::from_slice::<dtfhe_api::types::Health>(body) else {
        return Ok(());
    };
    let again = serde_json::to_vec(&v).map_err(|e| finding("Health", e))?;
    let v2 = serde_json::from_slice::<dtfhe_api::types::Health>(&again)
        .map_err(|e| finding("Health", format!("own serialisation refused: {e}")))?;
    let third = serde_json::to_vec(&v2).map_err(|e| finding("Health", e))?;
    same_bytes("Health", &again, &third)
}

fn http_body(_fx: &Fixture, input: &[u8]) -> Outcome {
    use dtfhe_api::{ceremony as c, dealing as d, release as r, score as s, types as t};
    let Some((&pick, body)) = input.split_first() else {
        return Ok(());
    };
    let name = HTTP_BODY_TYPES[usize::from(pick) % HTTP_BODY_TYPES.len()];
    match name {
        "Health" => health(body),
        "IdentityRecord" => json_round_trip::<t::IdentityRecord>(name, body, true),
        "DeploymentInfo" => json_round_trip::<t::DeploymentInfo>(name, body, true),
        "ChunkInfo" => json_round_trip::<t::ChunkInfo>(name, body, true),
        "DatasetInfo" => json_round_trip::<t::DatasetInfo>(name, body, true),
        "ChunkUploaded" => json_round_trip::<t::ChunkUploaded>(name, body, true),
        "LastSeq" => json_round_trip::<t::LastSeq>(name, body, true),
        "FileChunkInfo" => json_round_trip::<t::FileChunkInfo>(name, body, true),
        "LedgerPage" => json_round_trip::<t::LedgerPage>(name, body, true),
        "InclusionProof" => json_round_trip::<t::InclusionProof>(name, body, true),
        "ConsistencyProof" => json_round_trip::<t::ConsistencyProof>(name, body, true),
        "CeremonyState" => json_round_trip::<c::CeremonyState>(name, body, true),
        "CeremonyShare" => json_round_trip::<c::CeremonyShare>(name, body, true),
        "CeremonyTranscript" => json_round_trip::<c::CeremonyTranscript>(name, body, true),
        "Attestation" => json_round_trip::<c::Attestation>(name, body, true),
        "QueryRequest" => json_round_trip::<r::QueryRequest>(name, body, false),
        "QueryAccepted" => json_round_trip::<r::QueryAccepted>(name, body, true),
        "ReleaseInfo" => json_round_trip::<r::ReleaseInfo>(name, body, false),
        "ReleaseAnswer" => json_round_trip::<r::ReleaseAnswer>(name, body, true),
        "QueryStatus" => json_round_trip::<r::QueryStatus>(name, body, true),
        "LaneRequest" => json_round_trip::<t::LaneRequest>(name, body, true),
        "LaneAssignment" => json_round_trip::<t::LaneAssignment>(name, body, true),
        "ModelRegistration" => json_round_trip::<s::ModelRegistration>(name, body, true),
        "ModelRecord" => json_round_trip::<s::ModelRecord>(name, body, true),
        "ScoreRequest" => json_round_trip::<s::ScoreRequest>(name, body, true),
        "RevokeRequest" => json_round_trip::<t::RevokeRequest>(name, body, true),
        "DealingState" => json_round_trip::<d::DealingState>(name, body, true),
        "DealingKey" => json_round_trip::<d::DealingKey>(name, body, true),
        "DealingPost" => json_round_trip::<d::DealingPost>(name, body, true),
        "DealingInbox" => json_round_trip::<d::DealingInbox>(name, body, true),
        "DealingAccept" => json_round_trip::<d::DealingAccept>(name, body, true),
        "TrusteeReplacement" => json_round_trip::<d::TrusteeReplacement>(name, body, true),
        "ResharingState" => json_round_trip::<d::ResharingState>(name, body, true),
        "ResharingInbox" => json_round_trip::<d::ResharingInbox>(name, body, true),
        _ => json_round_trip::<dtfhe_api::Problem>(name, body, true),
    }
}

fn auth_signature(_fx: &Fixture, input: &[u8]) -> Outcome {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = dtfhe_api::auth::parse_signature(text);
        let _ = dtfhe_api::auth::check_timestamp(text, 1_764_000_000);
    }
    Ok(())
}

/// The decoders of text fields carried in bodies, by index (the input's first byte, mod
/// the count, picks one).
pub const BODY_FIELDS: &[&str] = &[
    "recipient_base64",
    "recipient_hex",
    "ceremony_seed_hex",
    "identity_public_key",
    "hash_hex",
];

fn body_fields(_fx: &Fixture, input: &[u8]) -> Outcome {
    use dtfhe_crypto::seal::RecipientPublicKey;
    let Some((&pick, rest)) = input.split_first() else {
        return Ok(());
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return Ok(());
    };
    match BODY_FIELDS[usize::from(pick) % BODY_FIELDS.len()] {
        "recipient_base64" => {
            if let Ok(k) = RecipientPublicKey::from_base64(text) {
                same_bytes(
                    "recipient key",
                    text.trim().as_bytes(),
                    k.to_base64().as_bytes(),
                )?;
            }
        }
        "recipient_hex" => {
            if let Ok(k) = RecipientPublicKey::from_hex(text) {
                same_hex("recipient key", text.trim(), &k.to_hex())?;
            }
        }
        "ceremony_seed_hex" => {
            if let Ok(seed) = dtfhe_crypto::ceremony::net::CeremonySeed::from_hex(text) {
                same_hex("ceremony seed", text.trim(), &seed.to_hex())?;
            }
        }
        "identity_public_key" => {
            if let Ok(k) = dtfhe_api::identity::parse_public_key(text) {
                let again = dtfhe_api::identity::public_key_string(&k);
                same_bytes(
                    "identity public key",
                    text.trim().as_bytes(),
                    again.as_bytes(),
                )?;
            }
        }
        _ => {
            if let Ok(h) = dtfhe_api::types::unhex32("hash", text) {
                let again: String = h.iter().map(|b| format!("{b:02x}")).collect();
                same_hex("hash", text, &again)?;
            }
        }
    }
    Ok(())
}

fn audit_state(_fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(state) = dtfhe_release::audit::decode_state_unchecked(input) else {
        return Ok(());
    };
    // Accepted: its canonical encoding (with a fresh checksum) must decode, checksum and
    // all, to the same state.
    let again = state.encode();
    match dtfhe_release::audit::decode_state(&again) {
        Ok(back) if back == state => Ok(()),
        Ok(_) => Err(finding(
            "audit state",
            "re-encoding decodes to another state",
        )),
        Err(e) => Err(finding(
            "audit state",
            format!("re-encoding is refused: {e}"),
        )),
    }
}
