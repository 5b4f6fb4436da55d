//! `POST /v1/identities` (admin): register a party; `GET /v1/identities` (any registered
//! party): the registry, so trustees can check an analyst's key and auditors who is who.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{Problem, Role};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::state::{register_in, AppState};

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(register, list))
}

/// Registers a party (admin only). A name is registered once: the same record again is
/// accepted (idempotent), a different key or role for the name is a conflict.
#[utoipa::path(post, path = "/v1/identities", request_body = IdentityRecord,
    responses((status = 200, body = IdentityRecord), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn register(
    State(state): State<Arc<AppState>>,
    req: Signed,
) -> ApiResult<Json<IdentityRecord>> {
    req.require(&state, &[Role::Admin]).await?;
    let record: IdentityRecord = req.json()?;
    if let Some(existing) = state.identity(&record.name) {
        if existing == record {
            return Ok(Json(existing));
        }
        return Err(ApiProblem(Problem::conflict(format!(
            "identity `{}` is already registered with another role, key or grants",
            record.name
        ))));
    }
    let admin = req.caller.name.clone();
    let r = record.clone();
    state
        .with_store(move |s| register_in(s, &admin, &r))
        .await?;
    state
        .identities
        .write()
        .map_err(|_| ApiProblem(Problem::internal("identity registry lock poisoned")))?
        .insert(record.name.clone(), record.clone());
    Ok(Json(record))
}

/// Every registered identity (public data: names, roles, public keys, grants).
#[utoipa::path(get, path = "/v1/identities",
    responses((status = 200, body = Vec<IdentityRecord>), (status = 401, body = Problem)))]
async fn list(
    State(state): State<Arc<AppState>>,
    _req: Signed,
) -> ApiResult<Json<Vec<IdentityRecord>>> {
    let mut all: Vec<IdentityRecord> = state
        .identities
        .read()
        .map_err(|_| ApiProblem(Problem::internal("identity registry lock poisoned")))?
        .values()
        .cloned()
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(all))
}
