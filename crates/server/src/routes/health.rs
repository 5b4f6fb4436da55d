//! `GET /v1/health`: liveness and readiness, unauthenticated.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use dtfhe_api::types::Health;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::ApiResult;
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Whether the server is up and the deployment is ready (key ceremony finished).
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
async fn health(State(state): State<Arc<AppState>>) -> ApiResult<Json<Health>> {
    let ready = state.with_store(|s| Ok(s.deployment().is_ok())).await?;
    Ok(Json(Health {
        status: "ok".into(),
        ready,
    }))
}
