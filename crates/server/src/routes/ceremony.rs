//! The networked key ceremony (trustee role): `GET /v1/ceremony`,
//! `POST /v1/ceremony/pk-share`, `/rlk1`, `/rlk2`.
//!
//! On first start with `--trustees` and no deployment the server draws a random public seed
//! (kept in `D/ceremony.seed`, so a restart continues the same ceremony; ledger
//! `ceremony_step` with its hash). Each trustee posts one public-key share and one
//! round-1 relinearisation share, waits for the round-1 aggregate, then posts its round-2
//! share. When everything is in, the server aggregates the collective public and
//! relinearisation keys and writes the deployment record. Every message is public: the
//! server never sees a secret-key share, and each accepted message is a `ceremony_step`
//! entry with its blake3 hash.
//!
//! Accepted shares are kept in memory: after a restart mid-ceremony the trustees post them
//! again (the trustee daemon resends whatever the state says is missing).

use std::collections::BTreeMap;
use std::path::Path;

use axum::Json;
use dtfhe_api::ceremony::{
    deployment_statement, Attestation, CeremonyShare, CeremonyState, CeremonyTranscript,
};
use dtfhe_api::types::{b64, unb64};
use dtfhe_api::{Problem, Role};
use dtfhe_crypto::ceremony::net::{
    aggregate_public_key, aggregate_relin_key, aggregate_round1, CeremonySeed, PkShareMsg,
    Rlk1Aggregate, Rlk1Msg, Rlk2Msg,
};
use dtfhe_crypto::{codec, Params};
use dtfhe_store::{Deployment, EntryKind, Store};
use fhe::bfv::{PublicKey, RelinearizationKey};

use super::responses::{BadRequest, Conflict, Forbidden, Unauthorized, Unavailable};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult, ServerError};
use crate::state::ServeOptions;

/// File (in the platform directory) holding the public ceremony seed, hex.
pub const SEED_FILE: &str = "ceremony.seed";

/// File (in the platform directory) holding every trustee's public-key share message once
/// the ceremony is complete (JSON: trustee -> base64), public data served with the state.
pub const PK_SHARES_FILE: &str = "ceremony.pk-shares.json";

/// File (in the platform directory) holding the whole ceremony transcript once complete
/// (`CeremonyTranscript` JSON), public data served by `GET /v1/ceremony/transcript`.
pub const TRANSCRIPT_FILE: &str = "ceremony.transcript.json";

/// File (in the platform directory) holding the trustees' attestations of the deployment's
/// keys (JSON list of `Attestation`).
pub const ATTESTATIONS_FILE: &str = "ceremony.attestations.json";

/// Ledger subject of every ceremony entry.
const SUBJECT: &str = "key ceremony";

/// A ceremony in progress (or just finished).
pub struct Ceremony {
    dir: std::path::PathBuf,
    seed: CeremonySeed,
    params: Params,
    preset: String,
    trustees: Vec<String>,
    min_group_size: u32,
    pk: BTreeMap<String, (Vec<u8>, PkShareMsg)>,
    rlk1: BTreeMap<String, (Vec<u8>, Rlk1Msg)>,
    rlk2: BTreeMap<String, (Vec<u8>, Rlk2Msg)>,
    public_key: Option<PublicKey>,
    round1: Option<Rlk1Aggregate>,
    relin: Option<RelinearizationKey>,
    complete: bool,
}

dtfhe_model::debug_public_fields!(Ceremony, |c| {
    seed: c.seed,
    trustees: c.trustees,
    complete: c.complete,
});

fn config(e: impl std::fmt::Display) -> ServerError {
    ServerError::Config(e.to_string())
}

impl Ceremony {
    /// At start: `None` if the deployment exists (after checking `--trustees` against it) or
    /// no trustees were given; else the ceremony, with the seed drawn on first start.
    pub fn start(store: &mut Store, opts: &ServeOptions) -> Result<Option<Ceremony>, ServerError> {
        match store.deployment() {
            Ok(d) => {
                if !opts.trustees.is_empty() && opts.trustees != d.trustees {
                    return Err(ServerError::Config(format!(
                        "--trustees {} differs from the deployment's trustees {}",
                        opts.trustees.join(","),
                        d.trustees.join(",")
                    )));
                }
                return Ok(None);
            }
            Err(dtfhe_store::StoreError::DeploymentMissing { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if opts.trustees.is_empty() {
            return Ok(None);
        }
        opts.check()?;
        let params = dtfhe_crypto::params_by_name(&opts.preset).map_err(config)?;
        let seed = load_or_draw_seed(store, &opts.dir)?;
        Ok(Some(Ceremony {
            dir: opts.dir.clone(),
            seed,
            params,
            preset: opts.preset.clone(),
            trustees: opts.trustees.clone(),
            min_group_size: opts.min_group_size,
            pk: BTreeMap::new(),
            rlk1: BTreeMap::new(),
            rlk2: BTreeMap::new(),
            public_key: None,
            round1: None,
            relin: None,
            complete: false,
        }))
    }

    fn state(&self) -> CeremonyState {
        CeremonyState {
            seed: self.seed.to_hex(),
            preset: self.preset.clone(),
            trustees: self.trustees.clone(),
            min_group_size: self.min_group_size,
            pk_shares: self.pk.keys().cloned().collect(),
            rlk1: self.rlk1.keys().cloned().collect(),
            rlk2: self.rlk2.keys().cloned().collect(),
            round1_aggregate: self.round1.as_ref().map(|r| b64(&r.to_bytes())),
            complete: self.complete,
            pk_share_messages: if self.complete {
                self.pk_messages()
            } else {
                BTreeMap::new()
            },
        }
    }

    fn pk_messages(&self) -> BTreeMap<String, String> {
        self.pk
            .iter()
            .map(|(t, (bytes, _))| (t.clone(), b64(bytes)))
            .collect()
    }

    /// Writes the deployment once both collective keys exist.
    fn finish(&mut self, store: &mut Store) -> Result<(), ApiProblem> {
        let (Some(pk), Some(rk)) = (&self.public_key, &self.relin) else {
            return Ok(());
        };
        if self.complete {
            return Ok(());
        }
        // The messages first (public data), so a deployment never exists without them.
        let all = |m: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, String> {
            m.iter().map(|(t, b)| (t.clone(), b64(b))).collect()
        };
        let transcript = CeremonyTranscript {
            seed: self.seed.to_hex(),
            pk: self.pk_messages(),
            rlk1: all(&self
                .rlk1
                .iter()
                .map(|(t, (b, _))| (t.clone(), b.clone()))
                .collect()),
            rlk2: all(&self
                .rlk2
                .iter()
                .map(|(t, (b, _))| (t.clone(), b.clone()))
                .collect()),
        };
        for (file, value) in [
            (PK_SHARES_FILE, serde_json::to_vec(&transcript.pk)),
            (TRANSCRIPT_FILE, serde_json::to_vec(&transcript)),
        ] {
            let bytes = value.map_err(|e| ApiProblem(Problem::internal(format!("{file}: {e}"))))?;
            let tmp = self.dir.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, self.dir.join(file)))
                .map_err(|e| ApiProblem(Problem::internal(format!("{file}: {e}"))))?;
        }
        let public_key = codec::encode_public_key(&self.params, pk);
        let relin_key = codec::encode_relin_key(&self.params, rk);
        let hashes = [
            *blake3::hash(&public_key).as_bytes(),
            *blake3::hash(&relin_key).as_bytes(),
        ];
        store.put_deployment(&Deployment {
            preset: self.preset.clone(),
            trustees: self.trustees.clone(),
            min_group_size: self.min_group_size,
            public_key,
            relin_key,
            created_at: dtfhe_model::clock::now_unix().to_string(),
        })?;
        store.append_entry(
            EntryKind::CeremonyStep,
            "platform",
            SUBJECT,
            &format!(
                "collective keys aggregated from the shares of {}; deployment created \
                 (hashes: public key, relinearisation key)",
                self.trustees.join(", ")
            ),
            &hashes,
        )?;
        self.complete = true;
        Ok(())
    }
}

/// The seed of `D/ceremony.seed`, or a fresh one written there (ledger: `ceremony_step`
/// with its hash; the seed is public, it only derives the common random polynomials).
fn load_or_draw_seed(store: &mut Store, dir: &Path) -> Result<CeremonySeed, ServerError> {
    let path = dir.join(SEED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => CeremonySeed::from_hex(text.trim())
            .map_err(|e| config(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = CeremonySeed::random(&mut rand::rng());
            let tmp = dir.join(format!(".{SEED_FILE}.tmp"));
            std::fs::write(&tmp, format!("{}\n", seed.to_hex()))
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| config(format!("{}: {e}", path.display())))?;
            store.append_entry(
                EntryKind::CeremonyStep,
                "platform",
                SUBJECT,
                &format!("ceremony {} started (hash: the public seed)", seed.id()),
                &[*blake3::hash(&seed.0).as_bytes()],
            )?;
            Ok(seed)
        }
        Err(e) => Err(config(format!("{}: {e}", path.display()))),
    }
}

fn bad(field: &str, e: impl std::fmt::Display) -> ApiProblem {
    ApiProblem(Problem::bad_request(format!("{field}: {e}")))
}

/// Refuses (403, logged) unless the caller is one of the ceremony's trustees.
async fn require_ceremony_trustee(req: &Signed) -> Result<(), ApiProblem> {
    req.require(&[Role::Trustee]).await?;
    let trustees = {
        let st = req.state.clone();
        req.state
            .with_store(move |s| {
                let c = st.keypath.ceremony()?;
                match c.as_ref() {
                    Some(c) => Ok(c.trustees.clone()),
                    None => match s.deployment() {
                        Ok(d) => Ok(d.trustees),
                        Err(dtfhe_store::StoreError::DeploymentMissing { .. }) => {
                            Err(ApiProblem(Problem::unavailable(
                                "this server runs no key ceremony and has no deployment: \
                                 start `dtfhe serve` with --trustees",
                            )))
                        }
                        Err(e) => Err(e.into()),
                    },
                }
            })
            .await?
    };
    let allowed = trustees.contains(&req.caller.name);
    req.forbid_unless(allowed, &req.path, |caller| {
        format!("`{caller}` is not a trustee of this deployment's key ceremony")
    })
    .await
}

/// Where the ceremony stands: the public seed, the trustees, whose shares are in, the
/// round-1 aggregate once complete. After the ceremony (also after a restart): complete.
#[utoipa::path(get, path = "/v1/ceremony",
    responses((status = 200, body = CeremonyState), Unauthorized, Forbidden, Unavailable))]
pub(super) async fn get_state(req: Signed) -> ApiResult<Json<CeremonyState>> {
    let state = &req.state;
    require_ceremony_trustee(&req).await?;
    let st = state.clone();
    let dir = state.opts.dir.clone();
    state
        .with_store(move |s| {
            if let Some(c) = st.keypath.ceremony()?.as_ref() {
                return Ok(Json(c.state()));
            }
            let d = s.deployment()?;
            let seed = std::fs::read_to_string(dir.join(SEED_FILE)).unwrap_or_default();
            let pk_share_messages = std::fs::read(dir.join(PK_SHARES_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            Ok(Json(CeremonyState {
                seed: seed.trim().to_string(),
                preset: d.preset,
                trustees: d.trustees.clone(),
                min_group_size: d.min_group_size,
                pk_shares: d.trustees.clone(),
                rlk1: d.trustees.clone(),
                rlk2: d.trustees,
                round1_aggregate: None,
                complete: true,
                pk_share_messages,
            }))
        })
        .await
}

/// Every message of the finished ceremony, for the trustees' own check of the deployment's
/// keys (public data, a few MB at bfv-16384).
#[utoipa::path(get, path = "/v1/ceremony/transcript",
    responses((status = 200, body = CeremonyTranscript), Unauthorized, Forbidden, Unavailable))]
pub(super) async fn get_transcript(req: Signed) -> ApiResult<Json<CeremonyTranscript>> {
    require_ceremony_trustee(&req).await?;
    let path = req.state.opts.dir.join(TRANSCRIPT_FILE);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("transcript task: {e}"))))?
        .map_err(|_| {
            ApiProblem(Problem::unavailable(
                "the key ceremony has not finished: no transcript yet",
            ))
        })?;
    serde_json::from_slice(&bytes)
        .map(Json)
        .map_err(|e| ApiProblem(Problem::internal(format!("{TRANSCRIPT_FILE}: {e}"))))
}

fn read_attestations(dir: &Path) -> Result<Vec<Attestation>, ApiProblem> {
    match std::fs::read(dir.join(ATTESTATIONS_FILE)) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ApiProblem(Problem::internal(format!("{ATTESTATIONS_FILE}: {e}")))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ApiProblem(Problem::internal(format!(
            "{ATTESTATIONS_FILE}: {e}"
        )))),
    }
}

/// A trustee's attestation of the deployment's keys, after its own check against the
/// ceremony's messages: the signature must verify with the caller's registered key over
/// the statement of the stored keys (400 otherwise). Once per trustee (the same again is
/// accepted); ledger `ceremony_step` with the signature's hash.
#[utoipa::path(post, path = "/v1/ceremony/attestation", request_body = Attestation,
    responses((status = 200, body = Vec<Attestation>), BadRequest, Unauthorized, Forbidden,
              Conflict, Unavailable))]
pub(super) async fn post_attestation(req: Signed) -> ApiResult<Json<Vec<Attestation>>> {
    require_ceremony_trustee(&req).await?;
    let a: Attestation = req.json()?;
    let caller = req.caller.clone();
    if a.trustee != caller.name {
        return Err(ApiProblem(Problem::bad_request(
            "trustee: a trustee attests only in its own name",
        )));
    }
    let dir = req.state.opts.dir.clone();
    req.state
        .with_store(move |s| {
            use base64::Engine as _;
            use ed25519_dalek::Verifier as _;
            let d = s.deployment()?;
            let key = dtfhe_api::identity::parse_public_key(&caller.public_key)
                .map_err(|e| ApiProblem(Problem::internal(format!("registered key: {e}"))))?;
            let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
                .decode(&a.signature)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("signature", "not a 64-byte base64 signature"))?;
            key.verify(
                &deployment_statement(&d.public_key, &d.relin_key),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .map_err(|_| bad("signature", "does not verify over this deployment's keys"))?;
            let mut all = read_attestations(&dir)?;
            match all.iter().find(|x| x.trustee == a.trustee) {
                Some(x) if *x == a => return Ok(Json(all)),
                Some(_) => {
                    return Err(ApiProblem(Problem::conflict(format!(
                        "trustee `{}` already attested the deployment",
                        a.trustee
                    ))))
                }
                None => {}
            }
            all.push(a.clone());
            let bytes = serde_json::to_vec(&all)
                .map_err(|e| ApiProblem(Problem::internal(e.to_string())))?;
            let tmp = dir.join(format!(".{ATTESTATIONS_FILE}.tmp"));
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, dir.join(ATTESTATIONS_FILE)))
                .map_err(|e| ApiProblem(Problem::internal(format!("{ATTESTATIONS_FILE}: {e}"))))?;
            s.append_entry(
                EntryKind::CeremonyStep,
                &a.trustee,
                SUBJECT,
                &format!(
                    "`{}` attested the deployment's keys after checking them against the \
                     ceremony's messages (hash: the signature)",
                    a.trustee
                ),
                &[*blake3::hash(&sig).as_bytes()],
            )?;
            Ok(Json(all))
        })
        .await
}

/// The trustees' attestations of the deployment's keys (any registered party: a source
/// checks them with `dtfhe_api::ceremony::check_attestations` before encrypting).
#[utoipa::path(get, path = "/v1/ceremony/attestations",
    responses((status = 200, body = Vec<Attestation>), Unauthorized))]
pub(super) async fn get_attestations(req: Signed) -> ApiResult<Json<Vec<Attestation>>> {
    let dir = req.state.opts.dir.clone();
    tokio::task::spawn_blocking(move || read_attestations(&dir))
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("attestations task: {e}"))))?
        .map(Json)
}

/// Which step a posted share is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pk,
    Rlk1,
    Rlk2,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Pk => "public-key share",
            Step::Rlk1 => "round-1 relinearisation share",
            Step::Rlk2 => "round-2 relinearisation share",
        }
    }
}

/// Accepts one trustee's share for `step`: decodes and checks it (400 naming the field),
/// refuses a second, different share (409; the same bytes again are accepted, so a trustee
/// can retry after a lost answer), records it, aggregates when the step is complete.
async fn accept(req: Signed, step: Step) -> ApiResult<Json<CeremonyState>> {
    require_ceremony_trustee(&req).await?;
    let body: CeremonyShare = req.json()?;
    let bytes =
        unb64("share", &body.share).map_err(|e| ApiProblem(Problem::bad_request(e.to_string())))?;
    let trustee = req.caller.name.clone();
    let st = req.state.clone();
    req.state
        .with_store(move |s| {
            let mut guard = st.keypath.ceremony()?;
            let Some(c) = guard.as_mut() else {
                return Err(ApiProblem(Problem::conflict(
                    "the key ceremony is over: the deployment exists",
                )));
            };
            if c.complete {
                return Err(ApiProblem(Problem::conflict(
                    "the key ceremony is over: the deployment exists",
                )));
            }
            let id = c.seed.id();
            let already = match step {
                Step::Pk => c.pk.get(&trustee).map(|(b, _)| b.clone()),
                Step::Rlk1 => c.rlk1.get(&trustee).map(|(b, _)| b.clone()),
                Step::Rlk2 => c.rlk2.get(&trustee).map(|(b, _)| b.clone()),
            };
            if let Some(prev) = already {
                if prev == bytes {
                    return Ok(Json(c.state()));
                }
                return Err(ApiProblem(Problem::conflict(format!(
                    "trustee `{trustee}` already gave its {}; a trustee gives each share once",
                    step.name()
                ))));
            }
            let n = c.trustees.len();
            match step {
                Step::Pk => {
                    let m = PkShareMsg::from_bytes(&c.params, &bytes).map_err(|e| bad("share", e))?;
                    if m.ceremony_id() != id {
                        return Err(bad("share", "belongs to another ceremony"));
                    }
                    if let Some(pk) = record_share(&mut c.pk, &trustee, &bytes, m, n, |all| {
                        aggregate_public_key(&c.params, &c.seed, all)
                    })? {
                        c.public_key = Some(pk);
                    }
                }
                Step::Rlk1 => {
                    let m = Rlk1Msg::from_bytes(&c.params, &bytes).map_err(|e| bad("share", e))?;
                    if m.ceremony_id() != id {
                        return Err(bad("share", "belongs to another ceremony"));
                    }
                    if let Some(r) = record_share(&mut c.rlk1, &trustee, &bytes, m, n, |all| {
                        aggregate_round1(&c.params, &c.seed, all)
                    })? {
                        c.round1 = Some(r);
                    }
                }
                Step::Rlk2 => {
                    let Some(round1) = c.round1.clone() else {
                        return Err(ApiProblem(Problem::conflict(
                            "round 2 needs the round-1 aggregate: not every trustee has given its round-1 share yet",
                        )));
                    };
                    let m = Rlk2Msg::from_bytes(&c.params, &bytes).map_err(|e| bad("share", e))?;
                    if m.ceremony_id() != id {
                        return Err(bad("share", "belongs to another ceremony"));
                    }
                    if m.round1_digest() != round1.digest() {
                        return Err(bad("share", "computed from another round-1 aggregate"));
                    }
                    if let Some(rk) = record_share(&mut c.rlk2, &trustee, &bytes, m, n, |all| {
                        aggregate_relin_key(&c.params, &c.seed, &round1, all)
                    })? {
                        c.relin = Some(rk);
                    }
                }
            }
            s.append_entry(
                EntryKind::CeremonyStep,
                &trustee,
                SUBJECT,
                &format!("{} of `{trustee}` accepted (hash: the message)", step.name()),
                &[*blake3::hash(&bytes).as_bytes()],
            )?;
            c.finish(s)?;
            Ok(Json(c.state()))
        })
        .await
}

/// Records `trustee`'s message `m` of one step (its wire bytes kept for the transcript);
/// once all `n` trustees gave theirs, aggregates them with `aggregate`. A failed aggregation
/// forgets the message that completed the step (400), so its trustee can send a good one.
fn record_share<M: Clone, A, E: std::fmt::Display>(
    shares: &mut BTreeMap<String, (Vec<u8>, M)>,
    trustee: &str,
    bytes: &[u8],
    m: M,
    n: usize,
    aggregate: impl FnOnce(&[M]) -> Result<A, E>,
) -> Result<Option<A>, ApiProblem> {
    shares.insert(trustee.to_string(), (bytes.to_vec(), m));
    if shares.len() != n {
        return Ok(None);
    }
    let all: Vec<M> = shares.values().map(|(_, m)| m.clone()).collect();
    aggregate(&all).map(Some).map_err(|e| {
        shares.remove(trustee);
        bad("share", e)
    })
}

/// One route per ceremony step (they differ only in their path and step): a trustee posts
/// its share, [`accept`] checks and records it.
macro_rules! step_route {
    ($(#[doc = $doc:tt])* $name:ident, $path:tt, $step:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path(post, path = $path, request_body = CeremonyShare,
            responses((status = 200, body = CeremonyState), BadRequest, Unauthorized, Forbidden,
                      Conflict))]
        pub(super) async fn $name(req: Signed) -> ApiResult<Json<CeremonyState>> {
            accept(req, $step).await
        }
    };
}

step_route!(
    /// A trustee's public-key share (`PkShareMsg`, base64).
    post_pk_share, "/v1/ceremony/pk-share", Step::Pk
);
step_route!(
    /// A trustee's round-1 relinearisation share (`Rlk1Msg`, base64).
    post_rlk1, "/v1/ceremony/rlk1", Step::Rlk1
);
step_route!(
    /// A trustee's round-2 relinearisation share (`Rlk2Msg`, base64), computed from the
    /// round-1 aggregate of `GET /v1/ceremony`.
    post_rlk2, "/v1/ceremony/rlk2", Step::Rlk2
);
