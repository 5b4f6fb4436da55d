//! Predictive maintenance over the network.
//!
//! - `POST /v1/models` (analyst): register a model fitted from the released aggregates of
//!   one of the caller's own delivered queries, whose SQL must be exactly the fit's
//!   (`dtfhe_engine::model::fit_sql`); recorded as `model_fitted` (hashes: the model's
//!   blake3) and kept as `D/models/<hash>.json` with the analyst's signed statement.
//! - `GET /v1/models/{hash}` (any registered party): the registration, which trustees check
//!   themselves (the analyst's signature with its registered key).
//! - `POST /v1/scores` (a source): the predictions of the caller's own rows under a
//!   registered model, computed here on the ciphertexts (plaintext weights × ciphertexts,
//!   no decryption) and released, like a query, only when every trustee approves; each
//!   trustee re-derives the scores from the source's signed chunks and seals its full
//!   decryption shares to the key the source signed. The answer is read with
//!   `GET /v1/queries/{id}` by that source alone.

use axum::extract::Path;
use axum::Json;
use dtfhe_api::release::QueryAccepted;
use dtfhe_api::score::{
    model_message, score_message, verify, ModelRecord, ModelRegistration, ScoreRequest,
};
use dtfhe_api::{Problem, Role};
use dtfhe_engine::model::{check_model_columns, fit_sql, score_plan, LinearModel};
use dtfhe_engine::{exec, Catalog};
use dtfhe_ledger::wording::query_context;
use dtfhe_model::RecordingReader;
use dtfhe_store::{EntryKind, Hash};

use super::responses::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::keypath::{LockedStore, PendingRelease};

/// Directory (in the platform directory) of the registered models.
pub const MODELS_DIR: &str = "models";

/// Largest model document accepted.
const MAX_MODEL_BYTES: usize = 64 * 1024;

fn bad(detail: impl Into<String>) -> ApiProblem {
    ApiProblem(Problem::bad_request(detail))
}

fn registered_key(req: &Signed) -> Result<ed25519_dalek::VerifyingKey, ApiProblem> {
    dtfhe_api::identity::parse_public_key(&req.caller.public_key)
        .map_err(|e| ApiProblem(Problem::internal(format!("registered key: {e}"))))
}

fn parse_hash(text: &str) -> Result<Hash, ApiProblem> {
    dtfhe_api::types::unhex32("model hash", text).map_err(|e| bad(e.to_string()))
}

/// The registration of model `hash`, if any.
pub fn load(dir: &std::path::Path, hash: &Hash) -> Result<Option<ModelRecord>, ApiProblem> {
    let path = dir
        .join(MODELS_DIR)
        .join(format!("{}.json", hex::encode(hash)));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ApiProblem(Problem::internal(format!("{}: {e}", path.display())))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ApiProblem(Problem::internal(format!(
            "{}: {e}",
            path.display()
        )))),
    }
}

fn save(dir: &std::path::Path, record: &ModelRecord) -> Result<(), ApiProblem> {
    let fail = |e: String| ApiProblem(Problem::internal(format!("saving model: {e}")));
    let mdir = dir.join(MODELS_DIR);
    std::fs::create_dir_all(&mdir).map_err(|e| fail(e.to_string()))?;
    let bytes = serde_json::to_vec(record).map_err(|e| fail(e.to_string()))?;
    let tmp = mdir.join(format!(".{}.json.tmp", record.hash));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, mdir.join(format!("{}.json", record.hash)))
    };
    write().map_err(|e| fail(e.to_string()))
}

/// Registers a model fitted from one of the caller's delivered queries.
#[utoipa::path(post, path = "/v1/models", request_body = ModelRegistration,
    responses((status = 200, body = ModelRecord), BadRequest, Unauthorized, Forbidden, NotFound,
              Unprocessable))]
pub(super) async fn register(req: Signed) -> ApiResult<Json<ModelRecord>> {
    let state = &req.state;
    req.require(&[Role::Analyst]).await?;
    let r: ModelRegistration = req.json()?;
    if r.model.len() > MAX_MODEL_BYTES {
        return Err(bad(format!("model: larger than {MAX_MODEL_BYTES} bytes")));
    }
    let model = LinearModel::from_json(&r.model).map_err(|e| bad(e.to_string()))?;
    let hash = model.hash();
    let hash_hex = hex::encode(hash);
    let analyst = req.caller.name.clone();
    verify(
        &registered_key(&req)?,
        &analyst,
        &model_message(&analyst, r.fit_query, &hash_hex),
        &r.signature,
    )
    .map_err(|e| bad(format!("signature: {e}")))?;
    req.require_dataset(&[Role::Analyst], &model.dataset)
        .await?;
    // The fit query: the caller's own, delivered, with exactly the fit's SQL.
    let want_sql = fit_sql(&model.dataset, &model.target, &model.features);
    {
        let releases = state.keypath.releases()?;
        let fit = releases.get(&r.fit_query).ok_or_else(|| {
            ApiProblem(Problem::not_found(format!(
                "no query {} on this platform (finished queries are kept for a day)",
                r.fit_query
            )))
        })?;
        let refuse = |why: String| {
            Err(ApiProblem(Problem::refused(format!(
                "query {} cannot be the model's fit: {why}",
                r.fit_query
            ))))
        };
        if fit.analyst != analyst || fit.score_model.is_some() {
            return refuse(format!("it is not an aggregate query of `{analyst}`"));
        }
        if !fit.delivered {
            return refuse("its result was not delivered".into());
        }
        if fit.sql != want_sql {
            return refuse(format!("its SQL is not the fit's (`{want_sql}`)"));
        }
    }
    let canonical = model.to_json();
    let detail = format!(
        "linear model of `{}` on {} fitted from released aggregates (query {}) over {} rows",
        model.target,
        model.features.join(", "),
        r.fit_query,
        model.n
    );
    let seq = state
        .append_entry(
            EntryKind::ModelFitted,
            &analyst,
            &model.dataset,
            detail,
            vec![hash],
        )
        .await?;
    let record = ModelRecord {
        hash: hash_hex,
        model: canonical,
        analyst,
        fit_query: r.fit_query,
        signature: r.signature,
        ledger_seq: seq,
    };
    let (dir, rec) = (state.opts.dir.clone(), record.clone());
    tokio::task::spawn_blocking(move || save(&dir, &rec))
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("saving model: {e}"))))??;
    Ok(Json(record))
}

/// One registered model.
#[utoipa::path(get, path = "/v1/models/{hash}",
    params(("hash" = String, Path, description = "blake3 of the model's canonical JSON, hex")),
    responses((status = 200, body = ModelRecord), BadRequest, Unauthorized, NotFound))]
pub(super) async fn one(Path(hash): Path<String>, req: Signed) -> ApiResult<Json<ModelRecord>> {
    req.require(&[
        Role::Analyst,
        Role::Source,
        Role::Trustee,
        Role::Auditor,
        Role::Admin,
    ])
    .await?;
    let hash = parse_hash(&hash)?;
    load(&req.state.opts.dir, &hash)?
        .map(Json)
        .ok_or_else(|| ApiProblem(Problem::not_found("no model registered with this hash")))
}

/// Scores the caller's own rows under a registered model and asks the trustees to release
/// the predictions to the caller alone.
#[utoipa::path(post, path = "/v1/scores", request_body = ScoreRequest,
    responses((status = 200, body = QueryAccepted), BadRequest, Unauthorized, Forbidden, NotFound,
              Unprocessable, Unavailable))]
pub(super) async fn score(req: Signed) -> ApiResult<Json<QueryAccepted>> {
    let state = &req.state;
    let s: ScoreRequest = req.json()?;
    req.require_dataset(&[Role::Source], &s.dataset).await?;
    let source = req.caller.name.clone();
    verify(
        &registered_key(&req)?,
        &source,
        &score_message(
            &source,
            s.timestamp,
            &s.recipient,
            &s.dataset,
            &s.model_hash,
        ),
        &s.statement_signature,
    )
    .map_err(|e| bad(format!("statement_signature: {e}")))?;
    let recipient =
        dtfhe_api::types::unb64("recipient", &s.recipient).map_err(|e| bad(e.to_string()))?;
    if recipient.len() != 32 {
        return Err(bad("recipient: expected a 32-byte X25519 public key"));
    }
    let hash = parse_hash(&s.model_hash)?;
    let record = load(&state.opts.dir, &hash)?.ok_or_else(|| {
        ApiProblem(Problem::refused(
            "no model registered with this hash: only a model fitted from released \
             aggregates and registered (POST /v1/models) can score rows",
        ))
    })?;
    let model = LinearModel::from_json(&record.model)
        .map_err(|e| ApiProblem(Problem::internal(format!("registered model: {e}"))))?;
    if !model.dataset.eq_ignore_ascii_case(&s.dataset) {
        return Err(ApiProblem(Problem::refused(format!(
            "the model was fitted on `{}`, not `{}`",
            model.dataset, s.dataset
        ))));
    }
    let deployed = {
        let st = state.clone();
        state.with_store(move |s| st.keypath.deployed(s)).await?
    };
    let schemas = state
        .with_store(|s| crate::routes::queries::schemas(s))
        .await?;
    let schema = Catalog::new(&schemas.iter().collect::<Vec<_>>())
        .get(&s.dataset)
        .cloned()
        .ok_or_else(|| ApiProblem(Problem::not_found(format!("no dataset `{}`", s.dataset))))?;
    let what = format!(
        "score: linear model {} of `{}` on {}; rows of source `{source}` for `{source}`",
        &s.model_hash[..16.min(s.model_hash.len())],
        model.target,
        model.features.join(", ")
    );
    let st = state.clone();
    let (dep, m, sch, src) = (
        deployed.clone(),
        model.clone(),
        schema.clone(),
        source.clone(),
    );
    let (q_seq, computed) = crate::routes::queries::compute_recorded(
        state,
        "score",
        &source,
        &schema.dataset,
        what,
        move || {
            let features: Vec<&str> = m.features.iter().map(String::as_str).collect();
            check_model_columns(&sch, &features)?;
            let plan = score_plan(&m, &sch, dep.params.max_abs_total() / 2)?;
            let store = LockedStore(&st.store);
            let reader = RecordingReader::new(&store);
            let scored = exec::score_chunks(&reader, &dep.params, &sch.dataset, &src, &plan)?;
            Ok::<_, dtfhe_engine::EngineError>((scored, reader.pin()))
        },
    )
    .await?;
    let (scored, chunks_upto) = match computed {
        Ok(v) => v,
        Err(e) => {
            let reason = e.to_string();
            crate::routes::queries::ledger_refusal(state, &source, &schema.dataset, q_seq, reason)
                .await?;
            return Err(ApiProblem(crate::routes::queries::engine_problem(&e)));
        }
    };
    let n_rows: u64 = scored.iter().map(|c| u64::from(c.chunk.rows)).sum();
    let n_scored = scored.len();
    let detail = format!(
        "{}: per-row release of {n_scored} chunks ({n_rows} rows) to `{source}`",
        query_context(q_seq),
    );
    let (ciphertexts, hashes) = crate::routes::queries::encode_for_release(
        state,
        &deployed.params,
        scored.into_iter().map(|c| c.ciphertext).collect(),
    )
    .await?;
    let id = crate::routes::queries::request_release(
        state,
        detail,
        ciphertexts,
        PendingRelease {
            id: 0, // the seq of its ledger entry, set by `request_release`
            analyst: source,
            dataset: schema.dataset.clone(),
            sql: String::new(),
            epsilon: None,
            recipient: s.recipient,
            timestamp: s.timestamp,
            statement_signature: s.statement_signature,
            groups: Vec::new(),
            hashes,
            chunks_upto,
            quorum: None,
            score_model: Some(s.model_hash),
            // No answers yet, not delivered.
            ..PendingRelease::default()
        },
    )
    .await?;
    Ok(Json(QueryAccepted {
        query_id: id,
        ciphertexts: n_scored,
        trustees: deployed.deployment.trustees.clone(),
    }))
}
