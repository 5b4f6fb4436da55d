//! The API's routes: one module per resource holds its handlers, each with its
//! `#[utoipa::path]` annotation, and [`routes`] registers them all, so `/openapi.json` always
//! describes exactly the routes that exist.

use std::sync::Arc;

use dtfhe_api::Problem;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// Every route of the API, in one list: the whole surface in one place, each handler's
/// `#[utoipa::path]` (in its resource's module) documenting it in `/openapi.json`. Handlers
/// of one path (its methods) are registered together.
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(identities::register, identities::list))
        .routes(routes!(identities::revoke))
        .routes(routes!(deployment::deployment))
        .routes(routes!(datasets::list_datasets))
        .routes(routes!(datasets::upload_chunk, datasets::list_chunks))
        .routes(routes!(datasets::last_seq))
        .routes(routes!(datasets::file_chunks))
        .routes(routes!(datasets::part_bytes))
        .routes(routes!(feed::feed))
        .routes(routes!(lanes::assign))
        .routes(routes!(ledger::entries))
        .routes(routes!(ledger::inclusion))
        .routes(routes!(ledger::consistency))
        .routes(routes!(ceremony::get_state))
        .routes(routes!(ceremony::post_pk_share))
        .routes(routes!(ceremony::post_rlk1))
        .routes(routes!(ceremony::post_rlk2))
        .routes(routes!(ceremony::get_transcript))
        .routes(routes!(ceremony::post_attestation))
        .routes(routes!(ceremony::get_attestations))
        .routes(routes!(dealing::get_state))
        .routes(routes!(dealing::post_key))
        .routes(routes!(dealing::post_shares))
        .routes(routes!(dealing::get_inbox))
        .routes(routes!(dealing::post_accept))
        .routes(routes!(resharing::replace))
        .routes(routes!(resharing::get_state))
        .routes(routes!(resharing::post_key))
        .routes(routes!(resharing::post_shares))
        .routes(routes!(resharing::get_inbox))
        .routes(routes!(resharing::post_accept))
        .routes(routes!(queries::submit))
        .routes(routes!(queries::status))
        .routes(routes!(releases::pending))
        .routes(routes!(releases::one))
        .routes(routes!(releases::answer))
        .routes(routes!(releases::claim))
        .routes(routes!(releases::observed))
        .routes(routes!(models::register))
        .routes(routes!(models::one))
        .routes(routes!(models::score))
}
