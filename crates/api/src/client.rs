//! A blocking HTTP client for the platform API that signs every request with the caller's
//! identity and turns problem answers into [`ApiError::Problem`].
//!
//! Used by the CLI roles (agent, trustee, analyst, auditor, admin); they are sequential
//! programs, so a blocking client keeps them simple.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{self, HEADER_IDENTITY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::types::IdentityRecord;
use crate::{ApiError, Identity, Problem};

/// Largest response body the client reads (ciphertexts and keys are a few MB).
pub const MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;

/// A client of one platform server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    identity: Option<Identity>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8700`), signing as
    /// `identity` (`None`: unsigned requests, which only `/openapi.json` and the health
    /// check accept). `timeout` bounds each whole request.
    pub fn new(base: &str, identity: Option<Identity>, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            identity,
            agent,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The identity requests are signed with.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Sends one request; `path` starts with `/` and may hold a query. Returns the raw
    /// success body, or the server's problem.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Vec<u8>, ApiError> {
        let (url, request) = self.signed(method, path, body, "application/json")?;
        let transport = |e: ureq::Error| ApiError::Transport {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut response = self.agent.run(request).map_err(transport)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(problem_of(url, status, &body))
    }

    /// The signed request `method path` (with `body` and its content type, accepting
    /// `accept`) and its full URL: one place for the signature headers.
    pub(crate) fn signed(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        accept: &str,
    ) -> Result<(String, ureq::http::Request<Vec<u8>>), ApiError> {
        let url = format!("{}{}", self.base, path);
        let bytes = body.map(|(_, b)| b).unwrap_or(&[]);
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", accept);
        if let Some(id) = &self.identity {
            let h = auth::sign_request(id, method, path, bytes, dtfhe_model::clock::now_unix());
            builder = builder
                .header(HEADER_IDENTITY, &h.identity)
                .header(HEADER_TIMESTAMP, &h.timestamp)
                .header(HEADER_SIGNATURE, &h.signature)
                .header(HEADER_NONCE, &h.nonce);
        }
        if let Some((content_type, _)) = body {
            builder = builder.header("content-type", content_type);
        }
        let request = builder
            .body(bytes.to_vec())
            .map_err(|e| ApiError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok((url, request))
    }

    /// GET a JSON document.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let body = self.request("GET", path, None)?;
        self.decode(path, &body)
    }

    /// GET raw bytes.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ApiError> {
        self.request("GET", path, None)
    }

    /// POST a JSON body, read a JSON answer.
    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::BadResponse {
            url: format!("{}{}", self.base, path),
            reason: format!("cannot encode the request: {e}"),
        })?;
        let answer = self.request("POST", path, Some(("application/json", &bytes)))?;
        self.decode(path, &answer)
    }

    /// POST raw bytes (`application/octet-stream`), read a JSON answer.
    pub fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, ApiError> {
        let answer = self.request("POST", path, Some(("application/octet-stream", body)))?;
        self.decode(path, &answer)
    }

    /// `POST /v1/identities` (the client's identity must be an admin): registers the party
    /// and returns the record the platform stored. One place for the route, used by
    /// `dtfhe admin register`, the load bench and the tests.
    pub fn register(&self, record: &IdentityRecord) -> Result<IdentityRecord, ApiError> {
        self.post_json("/v1/identities", record)
    }

    /// `POST /v1/identities/{name}/revoke` (the client's identity must be an admin):
    /// revokes the party (idempotent) and returns its record, now carrying the revocation.
    /// Used by `dtfhe admin revoke` and the tests.
    pub fn revoke(&self, name: &str, reason: &str) -> Result<IdentityRecord, ApiError> {
        self.post_json(
            &format!("/v1/identities/{name}/revoke"),
            &crate::types::RevokeRequest {
                reason: reason.to_string(),
            },
        )
    }

    fn decode<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::BadResponse {
            url: format!("{}{}", self.base, path),
            reason: format!("not the expected JSON: {e}"),
        })
    }
}

/// The problem a non-success answer carries (or one made from its status and first bytes,
/// when the body is not a problem document).
pub(crate) fn problem_of(url: String, status: u16, body: &[u8]) -> ApiError {
    let problem = serde_json::from_slice::<Problem>(body).unwrap_or_else(|_| Problem {
        kind: "about:blank".into(),
        title: format!("HTTP {status}"),
        status,
        detail: Some(String::from_utf8_lossy(body).chars().take(300).collect()),
        instance: None,
    });
    ApiError::Problem {
        url,
        problem: Box::new(problem),
    }
}
