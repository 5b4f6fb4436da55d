//! RFC 9457 problem details: every error the server returns is one of these, as
//! `application/problem+json`, so clients can show the server's reason verbatim.
//!
//! The `detail` is written for a person and names what was wrong and where (the dataset,
//! the chunk, the rule). It never holds a plaintext value or key material.

use serde::{Deserialize, Serialize};

/// The media type of a problem document.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem document (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type, `urn:dtfhe:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, stable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this occurrence concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Problem {
    /// A problem of type `urn:dtfhe:problem:<kind>`.
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:dtfhe:problem:{kind}"),
            title: title.to_string(),
            status,
            detail: Some(detail.into()),
            instance: None,
        }
    }

    /// The short kind (the part after `urn:dtfhe:problem:`), or the whole type URI.
    pub fn short_kind(&self) -> &str {
        self.kind
            .strip_prefix("urn:dtfhe:problem:")
            .unwrap_or(&self.kind)
    }

    /// 400: the request is malformed (names the field).
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "bad-request", "Bad request", detail)
    }
    /// 401: the request is not signed by a registered identity, or the signature is wrong.
    pub fn unauthenticated(detail: impl Into<String>) -> Problem {
        Problem::new(401, "unauthenticated", "Not authenticated", detail)
    }
    /// 403: the identity may not do this (role or dataset grant missing).
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "forbidden", "Not allowed", detail)
    }
    /// 403 (kind `revoked`): the caller's identity was revoked by an admin; names only
    /// that, nothing about the request.
    pub fn revoked(name: &str) -> Problem {
        Problem::new(
            403,
            "revoked",
            "Identity revoked",
            format!("identity `{name}` is revoked"),
        )
    }
    /// 404: the thing named does not exist.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not-found", "Not found", detail)
    }
    /// 409: the request conflicts with the stored state (e.g. a different schema).
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(409, "conflict", "Conflict", detail)
    }
    /// 422: the request is well-formed but refused by a rule (policy, bad input data).
    pub fn refused(detail: impl Into<String>) -> Problem {
        Problem::new(422, "refused", "Refused", detail)
    }
    /// 503: not ready yet (e.g. the key ceremony has not finished); retry later.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "unavailable", "Not available yet", detail)
    }
    /// 500: the server failed; the detail names the operation, never data.
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(500, "internal", "Server error", detail)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}
