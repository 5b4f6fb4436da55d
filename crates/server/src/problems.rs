//! Every error response is an RFC 9457 problem (issue 16): [`as_problem`] rewrites the
//! plain responses axum produces itself (no route: 404, wrong method: 405, a path segment
//! that does not parse: 400, a body over a limit: 413) into `application/problem+json`,
//! keeping their status and headers (e.g. `Allow`) and naming the request.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use dtfhe_api::problem::PROBLEM_CONTENT_TYPE;
use dtfhe_api::Problem;

/// Longest plain error text kept as the problem's detail.
const MAX_TEXT: usize = 4096;

/// 413: a request body over its route's limit.
pub fn too_large(detail: String) -> Problem {
    Problem::new(413, "too-large", "Request body too large", detail)
}

/// 408: a request body not received in time.
pub fn timeout(detail: String) -> Problem {
    Problem::new(408, "timeout", "Request timeout", detail)
}

/// Middleware: passes problems and successes through, turns any other error response into
/// a problem with the same status.
pub async fn as_problem(req: Request, next: Next) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let problem = problem_for(status, &what, &text, parts.headers.get(header::ALLOW));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

/// The problem for a plain error response `status` to `what` (method and path) whose body
/// was `text`.
fn problem_for(status: StatusCode, what: &str, text: &str, allow: Option<&HeaderValue>) -> Problem {
    let with_text = |lead: String| {
        if text.is_empty() {
            lead
        } else {
            format!("{lead}: {text}")
        }
    };
    match status {
        StatusCode::NOT_FOUND => Problem::not_found(format!("no such route: {what}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = allow.and_then(|v| v.to_str().ok()).unwrap_or("-");
            Problem::new(
                405,
                "method-not-allowed",
                "Method not allowed",
                format!("{what}: method not allowed here (allowed: {allowed})"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => too_large(with_text(what.to_string())),
        StatusCode::BAD_REQUEST => Problem::bad_request(with_text(what.to_string())),
        other => Problem::new(
            other.as_u16(),
            "http",
            other.canonical_reason().unwrap_or("Error"),
            with_text(what.to_string()),
        ),
    }
}
