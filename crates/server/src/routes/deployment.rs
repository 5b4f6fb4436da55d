//! `GET /v1/deployment` (any registered party): the public deployment record that every
//! source needs to encrypt (collective public key, preset) and every trustee and analyst to
//! check policy (trustees, k). 503 until the key ceremony has finished.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use dtfhe_api::types::{b64, DeploymentInfo};
use dtfhe_api::Problem;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Signed;
use crate::error::ApiResult;
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(deployment))
}

/// The deployment's preset, trustees, k and public keys (no secret: the server has none).
#[utoipa::path(get, path = "/v1/deployment",
    responses((status = 200, body = DeploymentInfo), (status = 401, body = Problem),
              (status = 503, body = Problem, description = "the key ceremony has not finished")))]
async fn deployment(
    State(state): State<Arc<AppState>>,
    _req: Signed,
) -> ApiResult<Json<DeploymentInfo>> {
    let d = state.with_store(|s| Ok(s.deployment()?)).await?;
    Ok(Json(DeploymentInfo {
        preset: d.preset,
        trustees: d.trustees,
        min_group_size: d.min_group_size,
        public_key: b64(&d.public_key),
        relin_key: b64(&d.relin_key),
    }))
}
