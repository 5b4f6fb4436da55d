//! Per-product lanes over the network.
//!
//! - `POST /v1/datasets/{name}/lanes` (a source granted the dataset): the lanes of the
//!   products a source is about to encrypt, from the platform's append-only lane map (new
//!   lanes are a `lanes_assigned` ledger entry under the source's name).
//!
//! An uploaded chunk of a lane dataset is checked against the same map
//! ([`check_chunk_placement`]): a source that places a row in another product's lane is
//! refused before anything is stored. The platform is not trusted for it either: every
//! join re-checks the signed rows (`dtfhe_model::lanes`).

use axum::extract::Path;
use axum::Json;
use dtfhe_api::types::{LaneAssignment, LaneRequest, MAX_LANE_KEYS};
use dtfhe_api::{Problem, Role};
use dtfhe_model::lanes::{lane_key_text, MAX_LANE_KEY_LEN};
use dtfhe_model::{NewChunk, Schema, Value, LANE_COLUMN};
use dtfhe_store::Store;

use super::responses::{BadRequest, Forbidden, Unauthorized, Unavailable, Unprocessable};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};

fn bad(detail: String) -> ApiProblem {
    ApiProblem(Problem::bad_request(detail))
}

/// Assigns (or looks up) the lanes of a batch of products for a source about to ingest a
/// per-product dataset. A registered dataset must declare `lane_key` as its lanes; the keys
/// are public product ids (never an encrypted value).
#[utoipa::path(post, path = "/v1/datasets/{name}/lanes", request_body = LaneRequest,
    params(("name" = String, Path, description = "dataset")),
    responses((status = 200, body = LaneAssignment), BadRequest, Unauthorized, Forbidden,
              Unprocessable, Unavailable))]
pub(super) async fn assign(
    Path(name): Path<String>,
    req: Signed,
) -> ApiResult<Json<LaneAssignment>> {
    req.require_dataset(&[Role::Source], &name).await?;
    let r: LaneRequest = req.json()?;
    if !dtfhe_model::is_identifier(&r.lane_key) {
        return Err(bad(format!(
            "lane_key: `{}` is not a column name",
            r.lane_key.escape_debug()
        )));
    }
    if r.keys.len() > MAX_LANE_KEYS {
        return Err(bad(format!(
            "keys: {} keys, at most {MAX_LANE_KEYS} per request",
            r.keys.len()
        )));
    }
    if let Some(i) = r
        .keys
        .iter()
        .position(|k| k.is_empty() || k.len() > MAX_LANE_KEY_LEN || k.chars().any(char::is_control))
    {
        return Err(bad(format!(
            "keys[{i}]: a product id must be 1 to {MAX_LANE_KEY_LEN} bytes without control \
             characters"
        )));
    }
    let actor = req.caller.name.clone();
    let space = r.lane_key.clone();
    let lanes = req
        .state
        .with_store(move |s| {
            s.deployment()?;
            if let Some(text) = s.dataset_schema(&name)? {
                let schema = Schema::from_toml_str(&text, &format!("stored schema of `{name}`"))
                    .map_err(|e| {
                        ApiProblem(Problem::internal(format!("stored schema of `{name}`: {e}")))
                    })?;
                if schema.lanes.as_deref() != Some(r.lane_key.as_str()) {
                    return Err(ApiProblem(Problem::refused(format!(
                        "dataset `{name}` is registered with lanes {}, not `{}`",
                        schema
                            .lanes
                            .map_or("(none: not a per-product dataset)".to_string(), |k| {
                                format!("`{k}`")
                            }),
                        r.lane_key
                    ))));
                }
            }
            Ok(s.assign_lanes_as(&actor, &r.lane_key, &r.keys)?)
        })
        .await?;
    Ok(Json(LaneAssignment { space, lanes }))
}

/// Refuses a chunk of a per-product dataset unless every row sits in the lane the platform
/// assigned to its product (`POST /v1/datasets/{name}/lanes` first). Runs inside the
/// upload's store call, before the append.
pub fn check_chunk_placement(
    store: &Store,
    schema: &Schema,
    chunk: &NewChunk,
) -> Result<(), ApiProblem> {
    let Some(key) = &schema.lanes else {
        return Ok(());
    };
    let refused = |detail: String| ApiProblem(Problem::refused(detail));
    let columns = dtfhe_model::decode_public_columns(&chunk.public)
        .map_err(|e| bad(format!("chunk seq {}: public columns: {e}", chunk.seq)))?;
    let column = |name: &str| {
        columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.values)
            .ok_or_else(|| {
                refused(format!(
                    "chunk seq {}: a chunk of a per-product dataset must carry the `{name}` \
                     column",
                    chunk.seq
                ))
            })
    };
    let keys: Vec<String> = column(key)?.iter().map(lane_key_text).collect();
    let placed = column(LANE_COLUMN)?;
    let assigned = store.lanes_of(key, &keys)?;
    for (row, ((k, lane), want)) in keys.iter().zip(placed).zip(&assigned).enumerate() {
        let lane = match lane {
            Value::Int(l) => u64::try_from(*l).ok(),
            _ => None,
        };
        if lane.is_none() || lane != *want {
            return Err(refused(format!(
                "chunk seq {} row {}: product `{}` is placed in lane {} but the platform \
                 assigned {} (ask POST /v1/datasets/{{name}}/lanes first); nothing was stored",
                chunk.seq,
                row + 1,
                k.escape_debug(),
                lane.map_or("(none)".to_string(), |l| l.to_string()),
                want.map_or("no lane".to_string(), |l| format!("lane {l}")),
            )));
        }
    }
    Ok(())
}
