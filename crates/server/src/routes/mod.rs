//! The API's routes, one module per resource. Each module returns an [`OpenApiRouter`]
//! whose handlers carry `#[utoipa::path]` annotations, so `/openapi.json` always describes
//! exactly the routes that exist.

use std::sync::Arc;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub mod ceremony;
pub mod datasets;
pub mod deployment;
pub mod feed;
pub mod health;
pub mod identities;
pub mod lanes;
pub mod ledger;
pub mod models;
pub mod queries;
pub mod releases;

/// The document's top-level information.
#[derive(OpenApi)]
#[openapi(info(
    title = "DigitalThreadFHE platform API",
    description = "Encrypted product-lifecycle data of partner factories: sources append signed \
ciphertext chunks, analysts run aggregate queries, trustees review and answer release requests \
with decryption shares sealed to the analyst, auditors read the ledger. Every request is signed \
by a registered identity (headers x-dtfhe-identity, x-dtfhe-timestamp, x-dtfhe-nonce (32 hex), \
x-dtfhe-signature: ed25519 over \
`dtfhe-request-v2\\nMETHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nblake3(body) hex`). Errors \
are RFC 9457 problem details."
))]
pub struct ApiDoc;

/// Every route of the API.
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(identities::router())
        .merge(deployment::router())
        .merge(datasets::router())
        .merge(feed::router())
        .merge(lanes::router())
        .merge(ledger::router())
        .merge(ceremony::router())
        .merge(queries::router())
        .merge(releases::router())
        .merge(models::router())
}
