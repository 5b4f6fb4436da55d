//! The platform's HTTP API, shared by the server (`dtfhe serve`) and its clients (edge
//! agents, trustees, analysts, auditors, admins).
//!
//! Every party has an ed25519 identity ([`identity`]); every request is signed with it
//! ([`auth`]) and the server checks the signature against the key an admin registered, with
//! the party's role and dataset grants. Errors travel as RFC 9457 problem details
//! ([`problem`]). Bodies are JSON ([`types`]); binary fields are base64. The blocking
//! [`client::Client`] signs requests and turns problems into [`ApiError`]s.
#![forbid(unsafe_code)]

pub mod auth;
pub mod ceremony;
pub mod client;
pub mod dealing;
pub mod feed;
pub mod identity;
pub mod problem;
pub mod reader;
pub mod release;
pub mod remote;
pub mod score;
pub mod types;
pub mod wire;

pub use auth::Role;
pub use client::Client;
pub use identity::Identity;
pub use problem::Problem;

/// Why an API call failed, on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server answered with a problem (RFC 9457).
    #[error("{url}: {} {}{}", problem.status, problem.title, problem.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Problem {
        /// The request URL (without query secrets; we never put any there).
        url: String,
        /// The problem the server reported (boxed: errors stay small on the `Ok` path).
        problem: Box<Problem>,
    },
    /// The server could not be reached or the connection broke.
    #[error("{url}: cannot reach the server: {reason}")]
    Transport {
        /// The request URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The server's answer is not what the API promises.
    #[error("{url}: bad response: {reason}")]
    BadResponse {
        /// The request URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local identity file is missing or malformed.
    #[error("identity {path}: {reason}")]
    Identity {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl ApiError {
    /// The HTTP status of a problem answer, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Problem { problem, .. } => Some(problem.status),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed (server unreachable, or a 5xx /
    /// 503 / 429 answer), as opposed to a refusal that will not change.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Problem { problem, .. } => problem.status >= 500 || problem.status == 429,
            _ => false,
        }
    }
}
