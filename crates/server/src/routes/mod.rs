//! The API's routes, one module per resource. Each module returns an [`OpenApiRouter`]
//! whose handlers carry `#[utoipa::path]` annotations, so `/openapi.json` always describes
//! exactly the routes that exist.

use std::sync::Arc;

use dtfhe_api::Problem;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub mod ceremony;
pub mod datasets;
pub mod dealing;
pub mod deployment;
pub mod feed;
pub mod health;
pub mod identities;
pub mod lanes;
pub mod ledger;
pub mod models;
pub mod queries;
pub mod releases;
pub mod resharing;
pub mod responses;

/// The document's top-level information, and the problem schema every error response refers
/// to (the [`responses`] types name it by reference).
#[derive(OpenApi)]
#[openapi(
    components(schemas(Problem)),
    info(
        title = "DigitalThreadFHE platform API",
        description = "Encrypted product-lifecycle data of partner factories: sources append signed \
ciphertext chunks, analysts run aggregate queries, trustees review and answer release requests \
with decryption shares sealed to the analyst, auditors read the ledger. Every request is signed \
by a registered identity (headers x-dtfhe-identity, x-dtfhe-timestamp, x-dtfhe-nonce (32 hex), \
x-dtfhe-signature: ed25519 over \
`dtfhe-request-v2\\nMETHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nblake3(body) hex`). Errors \
are RFC 9457 problem details."
    )
)]
pub struct ApiDoc;

/// Every route of the API.
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    [
        health::router(),
        identities::router(),
        deployment::router(),
        datasets::router(),
        feed::router(),
        lanes::router(),
        ledger::router(),
        ceremony::router(),
        dealing::router(),
        resharing::router(),
        queries::router(),
        releases::router(),
        models::router(),
    ]
    .into_iter()
    .fold(
        OpenApiRouter::with_openapi(ApiDoc::openapi()),
        OpenApiRouter::merge,
    )
}
