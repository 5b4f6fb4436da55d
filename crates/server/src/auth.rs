//! Request authentication: the [`Signed`] extractor checks the four signature headers
//! against the registered identity (see `dtfhe_api::auth`), refuses replays, and hands the
//! handler the caller and the raw body. Every refusal is an `AccessDenied` ledger entry.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use dtfhe_api::auth::{self, HEADER_IDENTITY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{Problem, Role};
use serde::de::DeserializeOwned;

use crate::error::ApiProblem;
use crate::state::{AppState, MAX_BODY_BYTES};

/// A request signed by a registered identity: the caller's record, the path it was sent to
/// and its raw body.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Who sent it.
    pub caller: IdentityRecord,
    /// The path and query it was signed for.
    pub path: String,
    /// The raw body.
    pub body: Bytes,
}

impl Signed {
    /// Refuses (403, logged) unless the caller has one of `roles`.
    pub async fn require(&self, state: &Arc<AppState>, roles: &[Role]) -> Result<(), ApiProblem> {
        let allowed = roles.contains(&self.caller.role);
        self.forbid_unless(state, allowed, &self.path, |caller| {
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
        state: &Arc<AppState>,
        allowed: bool,
        subject: &str,
        why: impl FnOnce(&str) -> String,
    ) -> Result<(), ApiProblem> {
        if allowed {
            return Ok(());
        }
        let detail = why(&self.caller.name);
        Err(state
            .deny(&self.caller.name, subject, Problem::forbidden(detail))
            .await)
    }

    /// Refuses (403, logged) unless the caller has one of `roles` and a grant for `dataset`.
    pub async fn require_dataset(
        &self,
        state: &Arc<AppState>,
        roles: &[Role],
        dataset: &str,
    ) -> Result<(), ApiProblem> {
        self.require(state, roles).await?;
        let allowed = self.caller.grants(dataset);
        self.forbid_unless(state, allowed, dataset, |caller| {
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

impl FromRequest<Arc<AppState>> for Signed {
    type Rejection = ApiProblem;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Signed, ApiProblem> {
        let method = req.method().as_str().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string());
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
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiProblem(Problem::bad_request(format!("request body: {e}"))))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiProblem(Problem::bad_request("request body too large")));
        }
        let actor = claimed
            .as_ref()
            .ok()
            .filter(|n| dtfhe_model::names::is_party_name(n))
            .cloned()
            .unwrap_or_else(|| "anonymous".to_string());
        let refuse = |reason: String| async {
            Err::<Signed, ApiProblem>(
                state
                    .deny(&actor, &path, Problem::unauthenticated(reason))
                    .await,
            )
        };
        let (name, timestamp, signature, nonce) = match (claimed, timestamp, signature, nonce) {
            (Ok(n), Ok(t), Ok(s), Ok(c)) => (n, t, s, c),
            (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
                return refuse(format!("{method} {path}: {e}")).await
            }
        };
        let now = dtfhe_model::clock::now_unix();
        let checked = auth::check_timestamp(&timestamp, now)
            .and_then(|t| auth::check_nonce(&nonce).map(|()| t))
            .and_then(|t| auth::parse_signature(&signature).map(|s| (t, s)));
        let (t, sig) = match checked {
            Ok(v) => v,
            Err(e) => return refuse(format!("{method} {path}: {e}")).await,
        };
        let Some(record) = state.identity(&name) else {
            return refuse(format!(
                "{method} {path}: `{actor}` is not a registered identity"
            ))
            .await;
        };
        let key = match dtfhe_api::identity::parse_public_key(&record.public_key) {
            Ok(k) => k,
            Err(e) => return refuse(format!("registered key of `{name}`: {e}")).await,
        };
        if let Err(e) = auth::verify_request(&name, &key, &method, &path, t, &nonce, &sig, &body) {
            return refuse(format!("{method} {path}: {e}")).await;
        }
        let fresh = {
            let Ok(mut seen) = state.replay.lock() else {
                return Err(ApiProblem(Problem::internal("replay cache lock poisoned")));
            };
            seen.retain(|_, at| at.abs_diff(now) <= auth::MAX_SKEW_SECS);
            seen.insert(sig.to_bytes(), t).is_none()
        };
        if !fresh {
            return refuse(format!(
                "{method} {path}: replayed request (signature already used)"
            ))
            .await;
        }
        Ok(Signed {
            caller: record,
            path,
            body,
        })
    }
}
