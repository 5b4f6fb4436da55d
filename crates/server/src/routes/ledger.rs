//! The ledger for auditors (auditor, admin): `GET /v1/ledger?from=N&limit=M` (entries with
//! their canonical encodings, the latest signed checkpoint and the store's verifier key),
//! `GET /v1/ledger/inclusion/{seq}` and `GET /v1/ledger/consistency?old=M&new=N`. An auditor
//! recomputes the tree from the encodings and checks the checkpoint with a key it pinned, so
//! it trusts nothing the server says about the log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::Json;
use dtfhe_api::types::{b64, ConsistencyProof, InclusionProof, LedgerEntryInfo, LedgerPage};
use dtfhe_api::{Problem, Role};
use serde::Deserialize;

use super::responses::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};

/// Entries per page when the request does not say.
pub const DEFAULT_PAGE: u64 = 1000;
/// Most entries per page.
pub const MAX_PAGE: u64 = 10_000;

/// Who reads the ledger: auditors and admins, and trustees, which check their t-of-n
/// catch-up against it (`dtfhe_trustee::catchup`).
const READERS: &[Role] = &[Role::Auditor, Role::Admin, Role::Trustee];

/// Query of `GET /v1/ledger`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// First entry (seq), default 0.
    pub from: Option<u64>,
    /// Most entries to return, default 1000, at most 10000.
    pub limit: Option<u64>,
}

/// Query of `GET /v1/ledger/consistency`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConsistencyQuery {
    /// Older tree size.
    pub old: u64,
    /// Newer tree size (default: the current size).
    pub new: Option<u64>,
}

/// A malformed query string as a 400 problem (after authentication, so it is not a way to
/// probe the API anonymously).
pub(crate) fn query_problem(e: QueryRejection) -> ApiProblem {
    ApiProblem(Problem::bad_request(format!("query: {}", e.body_text())))
}

fn hexes(hs: &[dtfhe_store::Hash]) -> Vec<String> {
    hs.iter().map(hex::encode).collect()
}

/// A page of ledger entries with the latest signed checkpoint.
#[utoipa::path(get, path = "/v1/ledger", params(PageQuery),
    responses((status = 200, body = LedgerPage), Unauthorized, Forbidden))]
pub(super) async fn entries(
    q: Result<Query<PageQuery>, QueryRejection>,
    req: Signed,
) -> ApiResult<Json<LedgerPage>> {
    req.require(READERS).await?;
    let Query(q) = q.map_err(query_problem)?;
    let from = q.from.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let page = req
        .state
        .with_store(move |s| {
            let all = s.entries()?;
            let checkpoint = s.latest_checkpoint()?;
            let ident = s.identity()?;
            let verifier_key =
                dtfhe_ledger::verifier_key_string(&ident.key_name, &ident.verifying_key)
                    .map_err(|e| ApiProblem(Problem::internal(format!("verifier key: {e}"))))?;
            let size = all.len() as u64;
            let entries = all
                .into_iter()
                .skip(usize::try_from(from).unwrap_or(usize::MAX))
                .take(limit as usize)
                .map(|e| {
                    let encoded = e.encode().map_err(|err| {
                        ApiProblem(Problem::internal(format!("entry {}: {err}", e.seq)))
                    })?;
                    Ok(LedgerEntryInfo {
                        seq: e.seq,
                        time_unix: e.time_unix,
                        kind: e.kind.name().to_string(),
                        hashes: hexes(&e.hashes),
                        actor: e.actor,
                        subject: e.subject,
                        detail: e.detail,
                        encoded: b64(&encoded),
                    })
                })
                .collect::<Result<Vec<_>, ApiProblem>>()?;
            Ok(LedgerPage {
                entries,
                size,
                checkpoint,
                verifier_key,
            })
        })
        .await?;
    Ok(Json(page))
}

/// An inclusion proof of entry `seq` in the current tree, with its signed checkpoint.
#[utoipa::path(get, path = "/v1/ledger/inclusion/{seq}",
    params(("seq" = u64, Path, description = "entry")),
    responses((status = 200, body = InclusionProof), Unauthorized, Forbidden, NotFound))]
pub(super) async fn inclusion(
    Path(seq): Path<u64>,
    req: Signed,
) -> ApiResult<Json<InclusionProof>> {
    req.require(READERS).await?;
    let p = req
        .state
        .with_store(move |s| {
            let size = s.entries()?.len() as u64;
            if seq >= size {
                return Err(ApiProblem(Problem::not_found(format!(
                    "no entry {seq}: the ledger has {size} entries"
                ))));
            }
            Ok(s.inclusion_proof(seq)?)
        })
        .await?;
    Ok(Json(p))
}

/// A consistency proof between two sizes of the ledger, with the checkpoints at both.
#[utoipa::path(get, path = "/v1/ledger/consistency", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), BadRequest, Unauthorized, Forbidden))]
pub(super) async fn consistency(
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
    req: Signed,
) -> ApiResult<Json<ConsistencyProof>> {
    req.require(READERS).await?;
    let Query(q) = q.map_err(query_problem)?;
    let p = req
        .state
        .with_store(move |s| {
            let size = s.entries()?.len() as u64;
            let new = q.new.unwrap_or(size);
            if q.old > new || new > size {
                return Err(ApiProblem(Problem::bad_request(format!(
                    "need old <= new <= {size} (the ledger size); got old {} and new {new}",
                    q.old
                ))));
            }
            Ok(s.consistency_proof(q.old, new)?)
        })
        .await?;
    Ok(Json(p))
}
