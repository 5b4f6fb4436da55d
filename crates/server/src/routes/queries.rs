//! `POST /v1/queries` (analyst): plan, compute on the ciphertexts, ask the trustees;
//! `GET /v1/queries/{id}` (the analyst who asked): the trustees' answers and, once every
//! trustee approved, the ciphertexts and the sealed shares only the analyst can open.
//!
//! Ledger, as the embedded `dtfhe query` records it (so `audit verify` checks both alike):
//! `query_run` (detail: SQL and ε), `access_denied` for a refusal, `release_requested`
//! (hashes: the ciphertexts), and `result_delivered` when the complete answers are fetched.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Path;
use axum::response::IntoResponse as _;
use axum::Json;
use dtfhe_api::dealing::Quorum;
use dtfhe_api::release::{
    verify_statement, GroupInfo, QueryAccepted, QueryRequest, QueryState, QueryStatus,
    ReleaseAnswer, TrusteeAnswer,
};
use dtfhe_api::types::b64;
use dtfhe_api::{Problem, Role};
use dtfhe_crypto::codec;
use dtfhe_engine::exec::{self, ComputedSum};
use dtfhe_engine::{Catalog, EngineError};
use dtfhe_ledger::wording::{
    dataset_of_sql, query_context, query_detail, refusal_detail, release_request_detail,
    release_subject,
};
use dtfhe_model::{ChunkPin, RecordingReader, Schema};
use dtfhe_store::{EntryKind, Hash, Store};
use fhe::bfv::Ciphertext;

use super::responses::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::keypath::{LockedStore, PendingRelease};
use crate::release_payload::PayloadWriter;
use crate::state::AppState;

/// Every registered dataset schema.
pub fn schemas(store: &Store) -> Result<Vec<Schema>, ApiProblem> {
    store
        .datasets()?
        .into_iter()
        .map(|name| {
            let text = store.dataset_schema(&name)?.unwrap_or_default();
            Schema::from_toml_str(&text, &format!("stored schema of `{name}`")).map_err(|e| {
                ApiProblem(Problem::internal(format!("stored schema of `{name}`: {e}")))
            })
        })
        .collect()
}

/// An engine error as a problem: a policy refusal is 422, a bad query 400, a failure of the
/// platform's own data 500.
pub(crate) fn engine_problem(e: &EngineError) -> Problem {
    if e.is_policy_refusal() {
        Problem::refused(e.to_string())
    } else {
        match e {
            EngineError::Execution(_) | EngineError::Read(_) => Problem::internal(e.to_string()),
            // The stored rows contradict each other: nothing the analyst can fix in the SQL.
            EngineError::LanePlacement(_) => Problem::refused(e.to_string()),
            _ => Problem::bad_request(format!("sql: {e}")),
        }
    }
}

/// Plans the query, computes every sum on the ciphertexts, records the request and asks
/// the trustees. Refusals (k-minimum, overflow, noise, planning rules) are 422 problems and
/// `access_denied` entries; nothing is decrypted here, ever.
#[utoipa::path(post, path = "/v1/queries", request_body = QueryRequest,
    responses((status = 200, body = QueryAccepted), BadRequest, Unauthorized, Forbidden,
              Unprocessable, Unavailable))]
pub(super) async fn submit(req: Signed) -> ApiResult<Json<QueryAccepted>> {
    let state = &req.state;
    req.require(&[Role::Analyst]).await?;
    let q: QueryRequest = req.json()?;
    let analyst = req.caller.name.clone();
    let key = dtfhe_api::identity::parse_public_key(&req.caller.public_key)
        .map_err(|e| ApiProblem(Problem::internal(format!("registered key: {e}"))))?;
    verify_statement(
        &key,
        &analyst,
        q.timestamp,
        q.epsilon,
        &q.recipient,
        &q.sql,
        &q.statement_signature,
    )
    .map_err(|e| ApiProblem(Problem::bad_request(format!("statement_signature: {e}"))))?;
    let recipient = dtfhe_api::types::unb64("recipient", &q.recipient)
        .map_err(|e| ApiProblem(Problem::bad_request(e.to_string())))?;
    if recipient.len() != 32 {
        return Err(ApiProblem(Problem::bad_request(
            "recipient: expected a 32-byte X25519 public key",
        )));
    }
    if let Some(e) = q.epsilon {
        if !(e.is_finite() && e > 0.0) {
            return Err(ApiProblem(Problem::bad_request(
                "epsilon: must be a positive number",
            )));
        }
    }

    // Size and depth limits first (no recursion over the analyst's SQL before them), then
    // the grants for every dataset the query names, then planning.
    let parsed = dtfhe_engine::parse(&q.sql).map_err(|e| ApiProblem(engine_problem(&e)))?;
    let schemas = state.with_store(|s| schemas(s)).await?;
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    for named in parsed.datasets() {
        let dataset = catalog
            .get(&named)
            .map_or(named, |schema| schema.dataset.clone());
        req.require_dataset(&[Role::Analyst], &dataset).await?;
    }
    let deployed = {
        let st = state.clone();
        state
            .with_store(move |s| {
                if !crate::routes::dealing::dealing_complete(&st, s) {
                    return Err(ApiProblem(Problem::unavailable(
                        "the trustees' threshold dealing has not finished",
                    )));
                }
                st.keypath.deployed(s)
            })
            .await?
    };
    let detail = query_detail(&q.sql, q.epsilon);
    let query = match dtfhe_engine::plan_parsed(&parsed, &catalog) {
        Ok(query) => query,
        Err(e) => {
            let problem = engine_problem(&e);
            if e.is_policy_refusal() {
                let (a, d) = (analyst.clone(), dataset_of_sql(&q.sql));
                let reason = e.to_string();
                state
                    .with_store(move |s| {
                        let seq = s.append_entry(EntryKind::QueryRun, &a, &d, &detail, &[])?;
                        s.append_entry(
                            EntryKind::AccessDenied,
                            &a,
                            &d,
                            &refusal_detail(&query_context(seq), &reason),
                            &[],
                        )?;
                        Ok(())
                    })
                    .await?;
            }
            return Err(ApiProblem(problem));
        }
    };
    // The planned dataset too; a join is granted by both of its datasets (checked above),
    // its combined name is no dataset of its own.
    if query.join.is_none() {
        req.require_dataset(&[Role::Analyst], &query.dataset)
            .await?;
    }
    let (st, dep, query2) = (state.clone(), deployed.clone(), query.clone());
    let (q_seq, computed) = compute_recorded(
        state,
        "query",
        &analyst,
        &query.dataset,
        detail,
        move || compute(&st, &dep, &query2),
    )
    .await?;
    let (groups, computed, chunks_upto) = match computed {
        Ok(v) => v,
        Err(p) => {
            if p.status == 422 {
                let reason = p.detail.clone().unwrap_or_default();
                ledger_refusal(state, &analyst, &query.dataset, q_seq, reason).await?;
            }
            return Err(ApiProblem(p));
        }
    };
    let n_computed = computed.len();
    let (ciphertexts, hashes) = encode_for_release(
        state,
        &deployed.params,
        computed.into_iter().map(|c| c.ciphertext).collect(),
    )
    .await?;
    let rdetail = release_request_detail(q_seq, n_computed, groups.len(), q.epsilon);
    let id = request_release(
        state,
        rdetail,
        ciphertexts,
        PendingRelease {
            id: 0, // the seq of its ledger entry, set by `request_release`
            analyst,
            dataset: query.dataset.clone(),
            sql: q.sql,
            epsilon: q.epsilon,
            recipient: q.recipient,
            timestamp: q.timestamp,
            statement_signature: q.statement_signature,
            groups,
            hashes,
            chunks_upto,
            score_model: None,
            quorum: state
                .keypath
                .threshold
                .map(|threshold| Quorum::new(threshold, Vec::new())),
            // No answers yet, not delivered.
            ..PendingRelease::default()
        },
    )
    .await?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || crate::keypath::prune(&st, dtfhe_model::clock::now_unix()))
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("prune task: {e}"))))??;
    Ok(Json(QueryAccepted {
        query_id: id,
        ciphertexts: n_computed,
        trustees: deployed.deployment.trustees.clone(),
    }))
}

/// The hashes of a complete release's ciphertexts and, by trustee, of its sealed shares.
type PayloadHashes = (Vec<Hash>, Vec<(String, Vec<Hash>)>);

/// Reads a complete release's ciphertexts and sealed shares from disk into `status`, each
/// checked against the hash the ledger names (a file changed on disk is a 500 naming it,
/// never altered bytes handed out).
async fn fill_payload(
    state: &Arc<AppState>,
    id: u64,
    status: &mut QueryStatus,
    (hashes, answers): PayloadHashes,
) -> Result<(), ApiProblem> {
    use crate::release_payload as payload;
    let dir = state.releases_dir();
    let (cts, mut shares) = payload::off_thread(format!("reading release {id}"), move || {
        // A release of clear counts only has no ciphertexts, and its approvals no shares:
        // nothing was written for them.
        let read = |path: std::path::PathBuf, hashes: &[Hash]| {
            if hashes.is_empty() {
                Ok(Vec::new())
            } else {
                payload::read_checked(&path, hashes)
            }
        };
        let cts = read(payload::ciphertexts_path(&dir, id), &hashes)?;
        let shares = answers
            .iter()
            .map(|(t, h)| Ok((t.clone(), read(payload::shares_path(&dir, id, t), h)?)))
            .collect::<Result<BTreeMap<_, _>, payload::PayloadError>>()?;
        Ok((cts, shares))
    })
    .await?;
    status.ciphertexts = cts.iter().map(|c| b64(c)).collect();
    for a in &mut status.answers {
        if let Some(s) = shares.remove(&a.trustee) {
            a.answer.sealed = s.iter().map(|b| b64(b)).collect();
        }
    }
    Ok(())
}

/// The ciphertexts of a release as stored and handed to the analyst
/// (`codec::encode_ciphertext`), encoded one at a time into a payload file of the releases
/// directory (off the async threads; one encoded ciphertext in memory at a time), with the
/// blake3 hash of each: what its `release_requested` entry names and every trustee
/// re-derives. [`request_release`] moves the file into place.
pub(crate) async fn encode_for_release(
    state: &AppState,
    params: &dtfhe_crypto::Params,
    ciphertexts: Vec<Ciphertext>,
) -> Result<(PayloadWriter, Vec<Hash>), ApiProblem> {
    let dir = state.releases_dir();
    let params = params.clone();
    crate::release_payload::off_thread("encoding the release".into(), move || {
        let mut w = PayloadWriter::create(&dir, ciphertexts.len())?;
        let mut hashes = Vec::with_capacity(ciphertexts.len());
        for ct in ciphertexts {
            let bytes = codec::encode_ciphertext(&params, &ct);
            hashes.push(*blake3::hash(&bytes).as_bytes());
            w.push(&bytes)?;
        }
        Ok((w, hashes))
    })
    .await
}

/// Runs `work`, the computation of a query or a scoring (`what`), in its turn with the
/// other computations and recorded first: waits for the turn (a full queue is a 503 before
/// anything is recorded), ledgers the `query_run` entry of `actor` on `dataset`, then
/// computes in a blocking task (the store is locked per read only, so the server keeps
/// answering). The entry's seq, for the refusal or release that follows, and the outcome.
pub(crate) async fn compute_recorded<T: Send + 'static>(
    state: &Arc<AppState>,
    what: &'static str,
    actor: &str,
    dataset: &str,
    detail: String,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<(u64, T), ApiProblem> {
    let turn = state.computations.turn(what).await?;
    let seq = state
        .append_entry(EntryKind::QueryRun, actor, dataset, detail, Vec::new())
        .await?;
    let outcome = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("{what} task failed: {e}"))))?;
    drop(turn);
    Ok((seq, outcome))
}

/// Ledgers a release request (`release_requested` under its analyst and dataset, naming
/// its ciphertexts' hashes), then publishes `release` with the entry's seq as its id and
/// persists it: no trustee is asked for a release the ledger does not hold. The id.
pub(crate) async fn request_release(
    state: &Arc<AppState>,
    detail: String,
    ciphertexts: PayloadWriter,
    mut release: PendingRelease,
) -> Result<u64, ApiProblem> {
    let (kind, hashes) = (EntryKind::ReleaseRequested, release.hashes.clone());
    let id = state
        .append_entry(kind, &release.analyst, &release.dataset, detail, hashes)
        .await?;
    release.id = id;
    // The ciphertexts go to disk before the release is visible; memory keeps their hashes.
    let path = crate::release_payload::ciphertexts_path(&state.releases_dir(), id);
    crate::release_payload::off_thread(format!("saving release {id}"), move || {
        ciphertexts.finish(&path)
    })
    .await?;
    state.keypath.releases()?.insert(id, release);
    crate::keypath::save(state, id).await?;
    Ok(id)
}

/// Ledgers the refusal of the computation recorded at entry `seq` (an `access_denied`
/// entry naming it and the reason) before the refusal is answered.
pub(crate) async fn ledger_refusal(
    state: &Arc<AppState>,
    actor: &str,
    dataset: &str,
    seq: u64,
    reason: String,
) -> Result<(), ApiProblem> {
    let detail = refusal_detail(&query_context(seq), &reason);
    state
        .append_entry(EntryKind::AccessDenied, actor, dataset, detail, Vec::new())
        .await?;
    Ok(())
}

/// Pass 1 and 2 of the engine with the clear policy checks in between (fail fast; every
/// trustee checks again with its own computation). A policy refusal is a 422 problem.
/// Returns the chunks computed over too, for the trustees to re-derive exactly those.
fn compute(
    state: &AppState,
    deployed: &crate::keypath::Deployed,
    query: &dtfhe_engine::Query,
) -> Result<(Vec<GroupInfo>, Vec<ComputedSum>, ChunkPin), Problem> {
    let store = LockedStore(&state.store);
    let reader = RecordingReader::new(&store);
    let params = &deployed.params;
    let selection = exec::select(&reader, params, query).map_err(|e| engine_problem(&e))?;
    let policy = dtfhe_release::Policy {
        min_group_size: deployed.deployment.min_group_size,
        trustees: deployed.deployment.trustees.len(),
        // Whether identifier columns may filter is each trustee's own policy (`dtfhe trustee
        // --allow-key-filters`), which the platform does not know: the trustees decide, and
        // their refusal reaches the analyst.
        allow_key_filters: true,
    };
    let refused = |r: dtfhe_release::Refusal| Problem::refused(r.to_string());
    dtfhe_release::pipeline::precheck(params, &policy, query, &selection).map_err(refused)?;
    let groups: Vec<GroupInfo> = selection
        .groups
        .iter()
        .map(|g| GroupInfo {
            label: g.label.clone(),
            rows: g.state.rows(),
        })
        .collect();
    let computed = if selection.moments.is_empty() {
        Vec::new()
    } else {
        exec::compute_with(
            &reader,
            query,
            params,
            &deployed.multiplier,
            &selection,
            Some(&state.sums),
        )
        .map_err(|e| engine_problem(&e))?
    };
    // The noise rule too (each trustee checks it again): a sum whose noise flooding cannot
    // hide is refused here, before any trustee spends a re-derivation on it.
    dtfhe_release::pipeline::check_computed_noise(params, &policy, &selection, &computed)
        .map_err(refused)?;
    Ok((groups, computed, reader.pin()))
}

/// The query's status for the analyst who asked. Once every trustee approved, the answer
/// carries the ciphertexts and every trustee's sealed shares, and the first such answer is
/// recorded as `result_delivered`.
#[utoipa::path(get, path = "/v1/queries/{id}",
    params(("id" = u64, Path, description = "query id (from POST /v1/queries)")),
    responses((status = 200, body = QueryStatus), Unauthorized, Forbidden, NotFound))]
pub(super) async fn status(
    Path(id): Path<u64>,
    req: Signed,
) -> ApiResult<axum::response::Response> {
    let state = &req.state; // An analyst's query, or a source's scoring of its own rows (`POST /v1/scores`).
    req.require(&[Role::Analyst, Role::Source]).await?;
    let trustees = {
        let st = state.clone();
        state
            .with_store(move |s| Ok(st.keypath.deployed(s)?.deployment.trustees.clone()))
            .await?
    };
    let status = {
        let releases = state.keypath.releases()?;
        let r = releases.get(&id).ok_or_else(|| {
            ApiProblem(Problem::not_found(format!(
                "no query {id} on this server (queries are kept until the server restarts)"
            )))
        })?;
        if r.analyst != req.caller.name {
            None
        } else {
            let refused = r.answers.values().any(|a| !a.approve);
            let members = r.members(&trustees);
            let complete = !refused
                && !members.is_empty()
                && members.iter().all(|t| r.answers.contains_key(t));
            let state_now = if refused {
                QueryState::Refused
            } else if complete {
                QueryState::Complete
            } else {
                QueryState::Pending
            };
            let answers = r
                .answers
                .iter()
                .map(|(t, a)| TrusteeAnswer {
                    trustee: t.clone(),
                    answer: ReleaseAnswer {
                        approve: a.approve,
                        reason: a.reason.clone(),
                        // Filled from disk below once complete.
                        sealed: Vec::new(),
                        epsilon: a.epsilon,
                    },
                    answered_unix: a.answered_unix,
                })
                .collect();
            Some((
                QueryStatus {
                    id,
                    state: state_now,
                    dataset: r.dataset.clone(),
                    trustees: trustees.clone(),
                    answers,
                    ciphertext_hashes: r.hashes.iter().map(hex::encode).collect(),
                    chunks_upto: r.chunks_upto.clone(),
                    ciphertexts: Vec::new(),
                    quorum: r.quorum.clone(),
                    delivery_entry: r.delivery_entry,
                },
                (complete && !r.delivered).then_some(members),
                complete.then(|| {
                    let answers = r
                        .answers
                        .iter()
                        .map(|(t, a)| (t.clone(), a.sealed_hashes.clone()))
                        .collect::<Vec<_>>();
                    (r.hashes.clone(), answers)
                }),
            ))
        }
    };
    let Some((mut status, deliver_to, payload)) = status else {
        return Err(state
            .deny(
                &req.caller.name,
                &release_subject(id),
                Problem::forbidden(format!("query {id} was asked by another analyst")),
            )
            .await);
    };
    // A complete result is read and sent in its turn (see `Limits::results_at_once`).
    let turn = match payload {
        Some(payload) => {
            let turn = result_turn(state, id).await?;
            fill_payload(state, id, &mut status, payload).await?;
            Some(turn)
        }
        None => None,
    };
    if let Some(members) = deliver_to {
        let hashes = {
            let mut releases = state.keypath.releases()?;
            match releases.get_mut(&id) {
                Some(r) if !r.delivered => {
                    r.delivered = true;
                    Some(r.hashes.clone())
                }
                _ => None,
            }
        };
        if let Some(hashes) = hashes {
            let analyst = req.caller.name.clone();
            let n = members.len();
            let h = hashes.len();
            let seq = state
                .with_store(move |s| {
                    Ok(s.append_entry(
                        EntryKind::ResultDelivered,
                        &analyst,
                        &release_subject(id),
                        &format!(
                            "{h} ciphertexts with the sealed shares of {n} trustees delivered to `{analyst}`"
                        ),
                        &hashes,
                    )?)
                })
                .await?;
            if let Some(r) = state.keypath.releases()?.get_mut(&id) {
                r.delivery_entry = Some(seq);
            }
            status.delivery_entry = Some(seq);
            crate::keypath::save(state, id).await?;
        }
    }
    Ok(match turn {
        None => Json(status).into_response(),
        Some(turn) => json_in_turn(&status, turn)?,
    })
}

/// How long a fetch of a complete result waits for its turn before a 503.
const RESULT_TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// A turn to read and send query `id`'s complete result: waits at most
/// [`RESULT_TURN_WAIT`], then 503 (with Retry-After), which the analyst's client answers by
/// asking again (every turn is taken by analysts still reading theirs).
async fn result_turn(
    state: &AppState,
    id: u64,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiProblem> {
    match tokio::time::timeout(RESULT_TURN_WAIT, state.results.clone().acquire_owned()).await {
        Ok(Ok(turn)) => Ok(turn),
        Ok(Err(_)) => Err(ApiProblem(Problem::unavailable(
            "the platform is shutting down",
        ))),
        Err(_) => Err(ApiProblem(Problem::new(
            503,
            "busy",
            "Too many results being sent",
            format!(
                "query {id}: {} complete results are being sent; ask again",
                state.limits.results_at_once
            ),
        ))),
    }
}

/// Bytes of a complete result handed to the connection at a time.
const RESULT_PIECE: usize = 1 << 20;

/// `value` as a JSON response whose body holds `turn` until its last piece is taken by the
/// connection, so that at most [`crate::limits::Limits::results_at_once`] complete results
/// are in memory however many analysts fetch at once.
fn json_in_turn<T: serde::Serialize>(
    value: &T,
    turn: tokio::sync::OwnedSemaphorePermit,
) -> Result<axum::response::Response, ApiProblem> {
    use futures_util::StreamExt as _;
    let bytes = axum::body::Bytes::from(
        serde_json::to_vec(value)
            .map_err(|e| ApiProblem(Problem::internal(format!("encoding the result: {e}"))))?,
    );
    let pieces: Vec<axum::body::Bytes> = (0..bytes.len())
        .step_by(RESULT_PIECE)
        .map(|at| bytes.slice(at..(at + RESULT_PIECE).min(bytes.len())))
        .collect();
    let body = futures_util::stream::iter(pieces).map(move |piece| {
        let _held = &turn;
        Ok::<_, std::convert::Infallible>(piece)
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}
