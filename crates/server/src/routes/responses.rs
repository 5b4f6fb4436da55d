//! The problem responses a route can answer besides its success, one type per status, each
//! documented once: a route's `#[utoipa::path]` lists the ones it can return, e.g.
//! `responses((status = 200, body = ReleaseInfo), Unauthorized, Forbidden, NotFound)`.
//! Every one carries an RFC 9457 [`Problem`] (see [`crate::error::ApiProblem`]).

use dtfhe_api::Problem;
use utoipa::IntoResponses;

/// Declares one problem response type per status; its doc comment is the response's
/// description in `/openapi.json`.
macro_rules! problem_responses {
    ($($(#[doc = $doc:tt])* $name:ident = $status:tt;)*) => {$(
        $(#[doc = $doc])*
        #[derive(IntoResponses)]
        #[response(status = $status)]
        pub struct $name(pub Problem);
    )*};
}

problem_responses! {
    /// The request's body, query or path does not parse or is out of range.
    BadRequest = 400;
    /// The request is not signed by a registered identity, or its signature, timestamp or
    /// nonce does not hold.
    Unauthorized = 401;
    /// The caller's role, grants or revocation do not allow this request (logged).
    Forbidden = 403;
    /// What the request names does not exist.
    NotFound = 404;
    /// The request conflicts with what is stored (a second answer, an existing name).
    Conflict = 409;
    /// A rule of the platform refused the request (nothing was stored or computed).
    Unprocessable = 422;
    /// Not yet possible (the key ceremony has not finished) or the computation queue is
    /// full; worth sending again after `Retry-After`.
    Unavailable = 503;
}
