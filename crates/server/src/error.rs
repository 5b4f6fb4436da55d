//! The server's errors: [`ServerError`] for starting up, [`ApiProblem`] for a request
//! (an RFC 9457 problem document with its HTTP status).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use dtfhe_api::problem::PROBLEM_CONTENT_TYPE;
use dtfhe_api::Problem;
use dtfhe_store::StoreError;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The platform directory or its store cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The start options are inconsistent (e.g. different trustees than the stored
    /// deployment).
    #[error("{0}")]
    Config(String),
}

/// Problem kind (`urn:dtfhe:problem:tampered`) of a failed store integrity check.
pub const TAMPERED_KIND: &str = "tampered";

/// A request's failure, answered as a problem document.
#[derive(Debug, Clone)]
pub struct ApiProblem(pub Problem);

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut resp =
            (status, [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)], body).into_response();
        // Every 503 (ceremony not finished, computation queue full) is worth sending again.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(crate::compute_queue::RETRY_AFTER_SECONDS),
            );
        }
        resp
    }
}

impl From<Problem> for ApiProblem {
    fn from(p: Problem) -> ApiProblem {
        ApiProblem(p)
    }
}

impl From<StoreError> for ApiProblem {
    fn from(e: StoreError) -> ApiProblem {
        // Store errors name tables, chunks, datasets and rules, never values.
        ApiProblem(match &e {
            StoreError::UnknownDataset { .. } => Problem::not_found(e.to_string()),
            StoreError::SchemaConflict { .. } | StoreError::SourceKeyConflict { .. } => {
                Problem::conflict(e.to_string())
            }
            StoreError::IngestRefused { .. }
            | StoreError::InvalidChunk { .. }
            | StoreError::Invalid(_) => Problem::refused(e.to_string()),
            StoreError::DeploymentMissing { .. } => Problem::unavailable(
                "the key ceremony has not finished: no deployment yet".to_string(),
            ),
            // The store's own integrity checks failed (a blob, a row or the ledger altered
            // outside it): a distinct kind, so an auditor reports tampering, not an outage.
            StoreError::Tampered { .. }
            | StoreError::Corrupt { .. }
            | StoreError::CorruptRecord { .. } => Problem::new(
                500,
                TAMPERED_KIND,
                "Store integrity check failed",
                e.to_string(),
            ),
            _ => Problem::internal(e.to_string()),
        })
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiProblem>;
