//! Resource limits that hold before a request is authenticated (issue 16): how long a
//! client may take to send its headers and its body, how many connections are served at
//! once, and how large a body may be, per route and role.
//!
//! A body is only read once its headers name a registered identity with a fresh timestamp
//! (see [`crate::auth`]); it is read through a byte limit and a deadline, and a body larger
//! than [`Limits::small_body`] is only accepted on the routes that need one, from the roles
//! that send one ([`large_body_roles`]), and at most [`Limits::large_bodies_at_once`] at a
//! time. A declared `Content-Length` over the limit is refused (413) without reading a byte.

use std::time::Duration;

use dtfhe_api::Role;

/// Largest request body accepted at all (a chunk of a bfv-16384 deployment with many
/// encrypted columns, or a trustee's decryption shares for a large query, is tens of MB).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Largest body of every other request: an identity, a query (its SQL is at most
/// `dtfhe_engine::limits::MAX_SQL_BYTES`), an attestation. GET bodies are empty.
pub const SMALL_BODY_BYTES: usize = 256 * 1024;

/// The server's limits; [`Limits::default`] is what `dtfhe serve` uses unless told
/// otherwise (tests shorten the timeouts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Time a client has to send a request's headers (and the idle time allowed between
    /// requests on a kept-alive connection); then the connection is closed.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once its headers are accepted (408).
    pub body_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Body limit of every route not listed by [`large_body_roles`], and of those routes
    /// for a caller without one of the listed roles.
    pub small_body: usize,
    /// Body limit of the routes listed by [`large_body_roles`].
    pub large_body: usize,
    /// Large bodies (over `small_body`) read at the same time; others wait their turn, so
    /// memory held by unverified bodies stays below `large_bodies_at_once × large_body`.
    pub large_bodies_at_once: usize,
    /// How often refused unauthenticated requests are summarised in the ledger (one entry
    /// per source address per period, see [`crate::denials`]).
    pub denial_report: Duration,
    /// Source addresses counted separately per period; the rest are counted together.
    pub denial_sources: usize,
    /// Queries and scorings computed at the same time (each uses every core; each holds
    /// its decoded ciphertexts and accumulators): what bounds the server's memory.
    pub computations_at_once: usize,
    /// Computations that may wait for their turn; a further one is refused with 503.
    pub computations_waiting: usize,
    /// Complete results (ciphertexts and every trustee's sealed shares, tens of megabytes
    /// for a large `GROUP BY`) read and sent at the same time; an analyst's fetch beyond
    /// them waits its turn. With the computations, what keeps the server's memory flat in
    /// the number of analysts.
    pub results_at_once: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(120),
            max_connections: 512,
            small_body: SMALL_BODY_BYTES,
            large_body: MAX_BODY_BYTES,
            large_bodies_at_once: 4,
            denial_report: Duration::from_secs(60),
            denial_sources: 1024,
            computations_at_once: 2,
            computations_waiting: 32,
            results_at_once: 2,
        }
    }
}

/// The roles that may send a large body to the route `(method, matched path)`, if the
/// route takes one: chunk uploads (sources), key-ceremony shares and release answers
/// (trustees). Empty for every other route.
pub fn large_body_roles(method: &str, route: &str) -> &'static [Role] {
    match (method, route) {
        ("POST", "/v1/datasets/{name}/chunks") => &[Role::Source],
        (
            "POST",
            "/v1/ceremony/pk-share"
            | "/v1/ceremony/rlk1"
            | "/v1/ceremony/rlk2"
            | "/v1/dealing/shares"
            | "/v1/resharing/shares"
            | "/v1/releases/{id}/answers",
        ) => &[Role::Trustee],
        _ => &[],
    }
}

impl Limits {
    /// Refuses limits that would stop the server from serving anything (a zero timeout,
    /// period or count), before anything is opened.
    pub fn check(&self) -> Result<(), crate::ServerError> {
        let zero_time = [self.header_timeout, self.body_timeout, self.denial_report]
            .iter()
            .any(Duration::is_zero);
        let zero_count = [
            self.max_connections,
            self.small_body,
            self.large_body,
            self.large_bodies_at_once,
            self.denial_sources,
            self.computations_at_once,
            self.results_at_once,
        ]
        .contains(&0);
        if zero_time || zero_count {
            return Err(crate::ServerError::Config(
                "the header and body timeouts, the denial report period, the connection \
                 limit, the body limits, the computations and the results at once must all \
                 be positive"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The body limit of a request by a caller with `role` to `(method, matched path)`.
    pub fn body_limit(&self, method: &str, route: &str, role: Role) -> usize {
        if large_body_roles(method, route).contains(&role) {
            self.large_body
        } else {
            self.small_body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_and_shares_from_their_roles_get_the_large_limit() {
        let l = Limits::default();
        let chunks = "/v1/datasets/{name}/chunks";
        assert_eq!(l.body_limit("POST", chunks, Role::Source), MAX_BODY_BYTES);
        assert_eq!(
            l.body_limit("POST", chunks, Role::Analyst),
            SMALL_BODY_BYTES
        );
        assert_eq!(l.body_limit("GET", chunks, Role::Source), SMALL_BODY_BYTES);
        let answers = "/v1/releases/{id}/answers";
        assert_eq!(l.body_limit("POST", answers, Role::Trustee), MAX_BODY_BYTES);
        assert_eq!(
            l.body_limit("POST", "/v1/queries", Role::Analyst),
            SMALL_BODY_BYTES
        );
        assert_eq!(
            l.body_limit("POST", "/v1/identities", Role::Admin),
            SMALL_BODY_BYTES
        );
    }
}
