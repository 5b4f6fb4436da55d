//! t-of-n releases on the trustee's side (see `docs/THRESHOLD.md`).
//!
//! A release of a t-of-n deployment carries its quorum: the trustees that claimed it and,
//! once t did, the release set (the first t, fixed by the platform and never changed). A
//! trustee that holds its threshold secret claims a pending release; it answers only as a
//! member of the set, with [`Trustee::review_for_set`]: the same rules and disclosure
//! decision as n-of-n, and a share made with its Lagrange-weighted threshold secret for that
//! set. Its share log refuses a set other than the one it already answered for any of the
//! release's ciphertexts, so a platform that names a second set for the same ciphertexts
//! gets a refusal, never a second share.

use dtfhe_api::release::ReleaseInfo;
use dtfhe_api::remote::RemoteDeployment;
use dtfhe_api::Client;
use dtfhe_crypto::release::Coeff0Share;
use dtfhe_crypto::CryptoError;
use dtfhe_release::{Policy, ReleaseRequest};

use crate::daemon::{review_failure, DaemonError, Review};
use crate::refusal::ReviewRefusal;
use crate::{Trustee, TrusteeError};

/// Whether to review `r` now: an n-of-n release always; a t-of-n release once its set is
/// fixed with this trustee in it (to answer), or once every member of a set without it
/// answered (to record it in this trustee's disclosure state, once, and tell the platform
/// so: it lists the release until then; [`review`] does not answer those). A trustee holding its threshold secret claims a release it has not
/// claimed yet (the platform's answer may fix the set).
pub fn ready(
    client: &Client,
    trustee: &Trustee,
    r: ReleaseInfo,
) -> Result<Option<ReleaseInfo>, DaemonError> {
    let me = trustee.name();
    let due = |r: &ReleaseInfo| {
        let Some(set) = r.quorum.as_ref().and_then(|q| q.set.as_ref()) else {
            return false;
        };
        set.iter().any(|m| m == me) || set.iter().all(|m| r.answered.contains(m))
    };
    let Some(q) = &r.quorum else {
        return Ok(Some(r));
    };
    if q.set.is_some() || q.claimed.iter().any(|c| c == me) || !trustee.has_threshold() {
        return Ok(due(&r).then_some(r));
    }
    let r: ReleaseInfo = client.post_json(&format!("/v1/releases/{}/claim", r.id), &())?;
    Ok(due(&r).then_some(r))
}

/// Whether this trustee answers `r` as a member of its release set (a t-of-n release whose
/// set names it; an n-of-n release has none).
pub fn member(trustee: &Trustee, r: &ReleaseInfo) -> bool {
    r.quorum
        .as_ref()
        .and_then(|q| q.set.as_ref())
        .is_some_and(|set| set.iter().any(|m| m == trustee.name()))
}

/// The release id a trustee's records use for release `id` (as in its share log and
/// disclosure record).
pub fn release_id(id: u64) -> String {
    format!("query {id}")
}

fn quorum_refusal(e: TrusteeError) -> Review {
    Review::refuse(ReviewRefusal::Quorum(Box::new(e)))
}

/// The shares of a reviewed request: n-of-n with the key share, t-of-n with the threshold
/// secret weighted for the release's set (refused when the set is not fixed, names no
/// trustee of the deployment, or is not the one answered before for these ciphertexts).
pub(crate) fn review(
    trustee: &Trustee,
    deployed: &RemoteDeployment,
    r: &ReleaseInfo,
    policy: &Policy,
    request: &ReleaseRequest,
) -> Result<Vec<Coeff0Share>, Review> {
    let params = &deployed.params;
    let Some(q) = &r.quorum else {
        return trustee
            .review(params, policy, request)
            .map_err(review_failure);
    };
    let me = trustee.name();
    if q.set
        .as_ref()
        .is_some_and(|set| !set.iter().any(|m| m == me))
    {
        // Released by another set: catch up, give nothing.
        return match trustee.observe(policy, request) {
            Ok(_) => Err(Review::Observed),
            // Released all the same: noted, so it is not reviewed again.
            Err(e @ TrusteeError::Refused { .. }) => {
                eprintln!("{e} (release {} by another set: not recorded)", r.id);
                Err(Review::Observed)
            }
            Err(e) => Err(review_failure(e)),
        };
    }
    let points = q.points(&deployed.info.trustees).ok_or_else(|| {
        quorum_refusal(TrusteeError::Crypto(CryptoError::Mismatch {
            what: "release set",
            reason: "not fixed, or it names a party that is no trustee".into(),
        }))
    })?;
    trustee
        .review_for_set(params, policy, request, &points)
        .map_err(|e| match e {
            e @ (TrusteeError::Crypto(_) | TrusteeError::OtherSet { .. }) => quorum_refusal(e),
            e => review_failure(e),
        })
}
