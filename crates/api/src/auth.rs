//! Roles and signed requests.
//!
//! A request is authenticated by four headers: the sender's registered name, the unix time
//! it was signed, a fresh random nonce, and an ed25519 signature over [`request_message`]:
//! the method, the path with its query, the time, the nonce and the blake3 hash of the body.
//! (ed25519 is deterministic: without the nonce, a legitimate retry of the same request in
//! the same second would carry the same signature and be refused as a replay.) The server accepts it only if
//! the name is registered, the signature verifies with that name's key, the time is within
//! [`MAX_SKEW_SECS`] of its clock, and the same signature was not seen before (replay).
//! No bearer secret ever crosses the wire, so a recorded request cannot be reused for
//! anything else.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::Identity;

/// Header: the sender's registered name.
pub const HEADER_IDENTITY: &str = "x-dtfhe-identity";
/// Header: unix seconds when the request was signed.
pub const HEADER_TIMESTAMP: &str = "x-dtfhe-timestamp";
/// Header: base64 ed25519 signature of [`request_message`].
pub const HEADER_SIGNATURE: &str = "x-dtfhe-signature";
/// Header: a fresh random nonce per request, [`NONCE_HEX_LEN`] lowercase hex digits, so two
/// identical requests never share a signature.
pub const HEADER_NONCE: &str = "x-dtfhe-nonce";
/// Length of the nonce header (16 random bytes in hex).
pub const NONCE_HEX_LEN: usize = 32;
/// Largest accepted difference between the request's time and the server's clock.
pub const MAX_SKEW_SECS: u64 = 300;

/// What a party may do. Each registered identity has exactly one role; sources and analysts
/// also have dataset grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An edge agent: registers its schemas and appends signed chunks to granted datasets.
    Source,
    /// Runs aggregate queries on granted datasets and receives released results.
    Analyst,
    /// A factory's trustee: takes part in the key ceremony and reviews release requests.
    Trustee,
    /// Reads the ledger, checkpoints and proofs.
    Auditor,
    /// Registers identities and grants.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Source,
        Role::Analyst,
        Role::Trustee,
        Role::Auditor,
        Role::Admin,
    ];

    /// The role's name as in the API and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Analyst => "analyst",
            Role::Trustee => "trustee",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// A role name that is none of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected source, analyst, trustee, auditor or admin)")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The bytes a request signature covers:
/// `dtfhe-request-v2\nMETHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\n<blake3(body) hex>`.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    format!(
        "dtfhe-request-v2\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        timestamp,
        nonce,
        blake3::hash(body).to_hex()
    )
    .into_bytes()
}

/// Whether `nonce` is a well-formed nonce header ([`NONCE_HEX_LEN`] lowercase hex digits).
pub fn check_nonce(nonce: &str) -> Result<(), AuthError> {
    if nonce.len() == NONCE_HEX_LEN
        && nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(AuthError::Malformed(HEADER_NONCE))
    }
}

/// The four authentication headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// [`HEADER_IDENTITY`].
    pub identity: String,
    /// [`HEADER_TIMESTAMP`].
    pub timestamp: String,
    /// [`HEADER_SIGNATURE`].
    pub signature: String,
    /// [`HEADER_NONCE`].
    pub nonce: String,
}

/// Signs a request as `who` at unix time `now`, with a fresh random nonce.
pub fn sign_request(
    who: &Identity,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: u64,
) -> SignedHeaders {
    let nonce = hex::encode(rand::random::<[u8; NONCE_HEX_LEN / 2]>());
    let sig = who
        .signing_key()
        .sign(&request_message(method, path_and_query, now, &nonce, body));
    SignedHeaders {
        identity: who.name().to_string(),
        timestamp: now.to_string(),
        signature: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
        nonce,
    }
}

/// Why a request's authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header is missing.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// A header is malformed.
    #[error("malformed header {0}")]
    Malformed(&'static str),
    /// The time is too far from the server's clock.
    #[error(
        "request time {timestamp} is more than {MAX_SKEW_SECS} s from the server's clock {now}"
    )]
    Skew {
        /// The request's time.
        timestamp: u64,
        /// The server's time.
        now: u64,
    },
    /// The signature does not verify with the registered key.
    #[error("signature does not verify with the registered key of `{0}`")]
    BadSignature(String),
}

/// Parses the timestamp header and checks it against `now`.
pub fn check_timestamp(timestamp: &str, now: u64) -> Result<u64, AuthError> {
    let t: u64 = timestamp
        .parse()
        .map_err(|_| AuthError::Malformed(HEADER_TIMESTAMP))?;
    if t.abs_diff(now) > MAX_SKEW_SECS {
        return Err(AuthError::Skew { timestamp: t, now });
    }
    Ok(t)
}

/// Decodes the signature header.
pub fn parse_signature(signature: &str) -> Result<Signature, AuthError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| AuthError::Malformed(HEADER_SIGNATURE))?;
    let bytes: [u8; 64] = bytes
        .try_into()
        .map_err(|_| AuthError::Malformed(HEADER_SIGNATURE))?;
    Ok(Signature::from_bytes(&bytes))
}

/// Verifies a request signed by `name` with `key` (time and nonce format already checked).
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    name: &str,
    key: &VerifyingKey,
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    signature: &Signature,
    body: &[u8],
) -> Result<(), AuthError> {
    key.verify(
        &request_message(method, path_and_query, timestamp, nonce, body),
        signature,
    )
    .map_err(|_| AuthError::BadSignature(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let id = Identity::generate("analyst-1").expect("id");
        let h = sign_request(&id, "post", "/v1/queries?x=1", b"{\"sql\":1}", 1000);
        let t = check_timestamp(&h.timestamp, 1100).expect("time");
        let sig = parse_signature(&h.signature).expect("sig");
        let vk = id.verifying_key();
        check_nonce(&h.nonce).expect("nonce");
        let n = h.nonce.as_str();
        verify_request(
            "analyst-1",
            &vk,
            "POST",
            "/v1/queries?x=1",
            t,
            n,
            &sig,
            b"{\"sql\":1}",
        )
        .expect("verifies");
        let other_nonce = "0".repeat(NONCE_HEX_LEN);
        for (m, p, t2, n2, b) in [
            ("GET", "/v1/queries?x=1", t, n, &b"{\"sql\":1}"[..]),
            ("POST", "/v1/queries?x=2", t, n, &b"{\"sql\":1}"[..]),
            ("POST", "/v1/queries?x=1", t + 1, n, &b"{\"sql\":1}"[..]),
            (
                "POST",
                "/v1/queries?x=1",
                t,
                other_nonce.as_str(),
                &b"{\"sql\":1}"[..],
            ),
            ("POST", "/v1/queries?x=1", t, n, &b"{\"sql\":2}"[..]),
        ] {
            assert!(verify_request("analyst-1", &vk, m, p, t2, n2, &sig, b).is_err());
        }
        let other = Identity::generate("mallory").expect("id").verifying_key();
        assert!(verify_request(
            "analyst-1",
            &other,
            "POST",
            "/v1/queries?x=1",
            t,
            n,
            &sig,
            b"{\"sql\":1}"
        )
        .is_err());
        // The same request signed twice gets two signatures (fresh nonces).
        let again = sign_request(&id, "post", "/v1/queries?x=1", b"{\"sql\":1}", 1000);
        assert_ne!(again.signature, h.signature);
        assert!(check_nonce("xyz").is_err());
        assert!(matches!(
            check_timestamp("1000", 2000),
            Err(AuthError::Skew { .. })
        ));
        assert!(check_timestamp("x", 2000).is_err());
        assert!(parse_signature("AAAA").is_err());
    }

    #[test]
    fn roles_parse_from_their_names() {
        for r in Role::ALL {
            assert_eq!(r.name().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
