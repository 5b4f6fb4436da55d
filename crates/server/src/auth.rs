//! Request authentication: the [`Signed`] extractor checks the four signature headers
//! against the registered identity (see `dtfhe_api::auth`), refuses replays (nonces spent
//! are kept in the store), and hands the handler the caller and the raw body. A refusal of
//! an authenticated caller is an `AccessDenied` ledger entry; refusals before the caller
//! is proven are counted and summarised (see [`crate::denials`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, MatchedPath, Request};
use dtfhe_api::auth::{self, HEADER_IDENTITY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{Problem, Role};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::ApiProblem;
use crate::state::AppState;

/// A request signed by a registered identity: the caller's record, the path it was sent to
/// and its raw body, with the platform state it was checked against (so a handler takes the
/// signed request alone, and the authorisation checks log their refusals in that state).
#[derive(Clone)]
pub struct Signed {
    /// The platform it was sent to.
    pub state: Arc<AppState>,
    /// Who sent it.
    pub caller: IdentityRecord,
    /// The path and query it was signed for.
    pub path: String,
    /// The raw body.
    pub body: Bytes,
}

impl Signed {
    /// Refuses (403, logged) unless the caller has one of `roles`.
    pub async fn require(&self, roles: &[Role]) -> Result<(), ApiProblem> {
        let allowed = roles.contains(&self.caller.role);
        self.forbid_unless(allowed, &self.path, |caller| {
            let wanted: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            format!(
                "`{caller}` has role {}; {} needs {}",
                self.caller.role,
                self.path,
                wanted.join(" or ")
            )
        })
        .await
    }

    /// `Ok` when `allowed`; otherwise refuses the caller (403 with the detail `why` makes
    /// from the caller's name) and logs the denial about `subject`. Every authorisation
    /// check of the routes ends here, so each refusal is logged the same way.
    pub async fn forbid_unless(
        &self,
        allowed: bool,
        subject: &str,
        why: impl FnOnce(&str) -> String,
    ) -> Result<(), ApiProblem> {
        if allowed {
            return Ok(());
        }
        let detail = why(&self.caller.name);
        Err(self
            .state
            .deny(&self.caller.name, subject, Problem::forbidden(detail))
            .await)
    }

    /// Refuses (403, logged) unless the caller has one of `roles` and a grant for `dataset`.
    pub async fn require_dataset(&self, roles: &[Role], dataset: &str) -> Result<(), ApiProblem> {
        self.require(roles).await?;
        let allowed = self.caller.grants(dataset);
        self.forbid_unless(allowed, dataset, |caller| {
            format!("`{caller}` has no grant for dataset `{dataset}`")
        })
        .await
    }

    /// The body as JSON; a 400 problem naming the error otherwise.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiProblem> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiProblem(Problem::bad_request(format!("request body: {e}"))))
    }
}

/// The client's address as refusals name it (`unknown` when served without connection
/// info, e.g. by a test's plain `axum::serve`).
fn source_of(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Reads the body under `limit` bytes and the state's body deadline: 413 past the limit
/// (declared or sent), 408 past the deadline.
async fn read_body(req: Request, state: &AppState, limit: usize) -> Result<Bytes, ApiProblem> {
    // Exact for a declared Content-Length (and 0 for no body at all); unknown if chunked.
    let declared = axum::body::HttpBody::size_hint(req.body()).exact();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    // A body that may be larger than the small limit (only on the routes and roles that
    // send one) waits for one of a few permits, so unverified bodies cannot pile up.
    let small = state.limits.small_body;
    let _permit = if limit > small && declared.is_none_or(|n| n > small as u64) {
        Some(
            state
                .large_bodies
                .acquire()
                .await
                .map_err(|_| ApiProblem(Problem::internal("body permits closed")))?,
        )
    } else {
        None
    };
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    match tokio::time::timeout(state.limits.body_timeout, limited.collect()).await {
        Err(_) => Err(ApiProblem(crate::problems::timeout(format!(
            "the request body was not received within {} s",
            state.limits.body_timeout.as_secs_f64()
        )))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Ok(Err(e)) => Err(ApiProblem(Problem::bad_request(format!(
            "request body: {e}"
        )))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// 413: the body is over `limit`.
fn too_large(limit: usize) -> ApiProblem {
    ApiProblem(crate::problems::too_large(format!(
        "the request body is larger than this route accepts ({limit} bytes)"
    )))
}

impl FromRequest<Arc<AppState>> for Signed {
    type Rejection = ApiProblem;

    /// Checks, in this order and reading no body before the third step: the four headers,
    /// the timestamp, nonce and signature syntax; the identity is registered and not revoked
    /// (403 `revoked`); the body
    /// (under the route's limit and the body deadline); the signature; the nonce not spent
    /// (in the store: a replay after a restart is refused too). A refusal before the
    /// identity is proven is counted, not ledgered one by one (see [`crate::denials`]).
    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Signed, ApiProblem> {
        let method = req.method().as_str().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string());
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let source = source_of(&req);
        let (claimed, timestamp, signature, nonce) = {
            let header = |name: &'static str| {
                req.headers()
                    .get(name)
                    .map(|v| {
                        v.to_str()
                            .map(str::to_string)
                            .map_err(|_| auth::AuthError::Malformed(name))
                    })
                    .transpose()
                    .and_then(|v| v.ok_or(auth::AuthError::Missing(name)))
            };
            (
                header(HEADER_IDENTITY),
                header(HEADER_TIMESTAMP),
                header(HEADER_SIGNATURE),
                header(HEADER_NONCE),
            )
        };
        let refuse = |reason: String| Err(state.deny_unauthenticated(&source, reason));
        let (name, timestamp, signature, nonce) = match (claimed, timestamp, signature, nonce) {
            (Ok(n), Ok(t), Ok(s), Ok(c)) => (n, t, s, c),
            (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
                return refuse(format!("{method} {path}: {e}"))
            }
        };
        let now = dtfhe_model::clock::now_unix();
        let checked = auth::check_timestamp(&timestamp, now)
            .and_then(|t| auth::check_nonce(&nonce).map(|()| t))
            .and_then(|t| auth::parse_signature(&signature).map(|s| (t, s)));
        let (t, sig) = match checked {
            Ok(v) => v,
            Err(e) => return refuse(format!("{method} {path}: {e}")),
        };
        let Some(record) = state.identity(&name) else {
            let actor = if dtfhe_model::names::is_party_name(&name) {
                name.as_str()
            } else {
                "anonymous"
            };
            return refuse(format!(
                "{method} {path}: `{actor}` is not a registered identity"
            ));
        };
        // Revoked: refused from the next request on, before its body is read; counted like
        // the other refusals before a proof (a revoked key cannot fill the ledger), and the
        // answer names only the revocation.
        if record.is_revoked() {
            state
                .denials
                .count(&source, &format!("{method} {path}: `{name}` is revoked"));
            return Err(ApiProblem(Problem::revoked(&name)));
        }
        let key = match dtfhe_api::identity::parse_public_key(&record.public_key) {
            Ok(k) => k,
            Err(e) => return refuse(format!("registered key of `{name}`: {e}")),
        };
        let limit = state.limits.body_limit(&method, &route, record.role);
        let body = match read_body(req, state, limit).await {
            Ok(b) => b,
            Err(p) => {
                state
                    .denials
                    .count(&source, &format!("{method} {path}: {}", p.0));
                return Err(p);
            }
        };
        if let Err(e) = auth::verify_request(&name, &key, &method, &path, t, &nonce, &sig, &body) {
            return refuse(format!("{method} {path}: {e}"));
        }
        let (who, n) = (name.clone(), nonce.clone());
        let fresh = state
            .with_store(move |s| Ok(s.spend_nonce(&who, &n, t, now, auth::MAX_SKEW_SECS)?))
            .await?;
        if !fresh {
            return refuse(format!(
                "{method} {path}: replayed request (nonce already used)"
            ));
        }
        Ok(Signed {
            state: state.clone(),
            caller: record,
            path,
            body,
        })
    }
}
