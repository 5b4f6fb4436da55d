//! `GET /v1/deployment` (any registered party): the public deployment record that every
//! source needs to encrypt (collective public key, preset) and every trustee and analyst to
//! check policy (trustees, k; the trustee list follows every `trustee_replaced` ledger
//! entry). 503 until the key ceremony has finished.

use axum::extract::Query;
use axum::Json;
use dtfhe_api::types::{b64, DeploymentInfo, DeploymentQuery};
use dtfhe_api::Problem;

use super::responses::Unauthorized;
use crate::auth::Signed;
use crate::error::ApiResult;

/// The deployment's preset, trustees, k and public keys (no secret: the server has none);
/// `?relin_key=omit` leaves the relinearisation key out (sources only need the public key)
/// and names it by its hash.
#[utoipa::path(get, path = "/v1/deployment", params(DeploymentQuery),
    responses((status = 200, body = DeploymentInfo), Unauthorized,
              (status = 503, body = Problem, description = "the key ceremony has not finished")))]
pub(super) async fn deployment(
    Query(query): Query<DeploymentQuery>,
    req: Signed,
) -> ApiResult<Json<DeploymentInfo>> {
    // The keys as the store holds them now (what every trustee checks before it attests),
    // the trustee list as of the latest `trustee_replaced` entry.
    let st = req.state.clone();
    let d = req
        .state
        .with_store(move |s| {
            let mut d = s.deployment()?;
            d.trustees = st.keypath.deployed(s)?.deployment.trustees.clone();
            Ok(d)
        })
        .await?;
    Ok(Json(DeploymentInfo {
        preset: d.preset,
        trustees: d.trustees,
        min_group_size: d.min_group_size,
        public_key: b64(&d.public_key),
        relin_key: if query.omits_relin_key() {
            String::new()
        } else {
            b64(&d.relin_key)
        },
        relin_key_hash: blake3::hash(&d.relin_key).to_hex().to_string(),
    }))
}
