//! `GET /v1/health`: liveness and readiness, unauthenticated.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use dtfhe_api::types::Health;

use crate::error::ApiResult;
use crate::state::AppState;

/// Whether the server is up and the deployment is ready (key ceremony finished, and on a
/// t-of-n deployment the dealing too).
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
pub(super) async fn health(State(state): State<Arc<AppState>>) -> ApiResult<Json<Health>> {
    // A t-of-n deployment is ready once its dealing is complete too.
    let st = state.clone();
    let ready = state
        .with_store(move |s| Ok(s.deployment().is_ok() && super::dealing::dealing_complete(&st, s)))
        .await?;
    Ok(Json(Health {
        status: "ok".into(),
        ready,
    }))
}
