//! `GET /v1/releases/pending`, `GET /v1/releases/{id}` and `POST /v1/releases/{id}/answers`
//! (trustee role): the release requests a trustee has to review, and its answer.
//!
//! A trustee sees the signed statement, the ciphertext hashes and the platform's group
//! facts, but no ciphertext: it re-derives the computation from the sources' signed chunks
//! and compares hashes. Its answer is an approval with one HPKE-sealed share per ciphertext
//! (sealed to the analyst: the server stores bytes it cannot open) or a refusal with the
//! reason. Ledger: `trustee_approved` (hashes: blake3 of each sealed share) or
//! `trustee_refused` (detail: the reason), subject `release <id>`, as the embedded path.

use axum::extract::Path;
use axum::Json;
use dtfhe_api::release::{QueryRequest, ReleaseAnswer, ReleaseInfo};
use dtfhe_api::types::unb64;
use dtfhe_api::{Problem, Role};
use dtfhe_ledger::wording::release_subject;
use dtfhe_store::{EntryKind, Hash};

use super::responses::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::keypath::{Answer, PendingRelease};

/// Largest sealed share accepted for an aggregate release (a coefficient-0 share is a few
/// hundred bytes).
const MAX_SEALED_BYTES: usize = 64 * 1024;
/// Largest sealed share accepted for a per-row scoring (a full decryption share: one
/// residue per coefficient and modulus, about 0.5 MB at bfv-16384).
const MAX_SEALED_FULL_BYTES: usize = 8 * 1024 * 1024;
/// Longest refusal reason kept.
const MAX_REASON: usize = 2000;

fn info(r: &PendingRelease) -> ReleaseInfo {
    ReleaseInfo {
        id: r.id,
        analyst: r.analyst.clone(),
        dataset: r.dataset.clone(),
        statement: QueryRequest {
            sql: r.sql.clone(),
            epsilon: r.epsilon,
            recipient: r.recipient.clone(),
            timestamp: r.timestamp,
            statement_signature: r.statement_signature.clone(),
        },
        ciphertext_hashes: r.hashes.iter().map(hex::encode).collect(),
        chunks_upto: r.chunks_upto.clone(),
        groups: r.groups.clone(),
        answered: r.answers.keys().cloned().collect(),
        score: r
            .score_model
            .clone()
            .map(|model_hash| dtfhe_api::score::ScoreInfo { model_hash }),
        quorum: r.quorum.clone(),
    }
}

/// 404 for a release id the platform does not keep.
fn no_release(id: u64) -> ApiProblem {
    ApiProblem(Problem::not_found(format!("no release {id}")))
}

/// Refuses (403, logged) unless the caller is a trustee of the deployment.
pub(crate) async fn require_trustee(req: &Signed) -> Result<(), ApiProblem> {
    req.require(&[Role::Trustee]).await?;
    let st = req.state.clone();
    let trustees = req
        .state
        .with_store(move |s| Ok(st.keypath.deployed(s)?.deployment.trustees.clone()))
        .await?;
    let allowed = trustees.contains(&req.caller.name);
    req.forbid_unless(allowed, &req.path, |caller| {
        format!("`{caller}` is not a trustee of this deployment")
    })
    .await
}

/// Release requests the caller has not answered yet and no trustee refused, oldest first;
/// on a t-of-n deployment, of those whose set is fixed without the caller only the released
/// ones (every member approved), for the caller to record in its disclosure state.
#[utoipa::path(get, path = "/v1/releases/pending",
    responses((status = 200, body = Vec<ReleaseInfo>), Unauthorized, Forbidden))]
pub(super) async fn pending(req: Signed) -> ApiResult<Json<Vec<ReleaseInfo>>> {
    require_trustee(&req).await?;
    let releases = req.state.keypath.releases()?;
    Ok(Json(
        releases
            .values()
            .filter(|r| {
                !r.answers.contains_key(&req.caller.name)
                    && !r.observed.contains(&req.caller.name)
                    && r.answers.values().all(|a| a.approve)
                    && r.quorum.as_ref().is_none_or(|q| {
                        q.set.as_ref().is_none_or(|set| {
                            set.contains(&req.caller.name)
                                || set.iter().all(|m| r.answers.contains_key(m))
                        })
                    })
            })
            .map(info)
            .collect(),
    ))
}

/// One release request.
#[utoipa::path(get, path = "/v1/releases/{id}",
    params(("id" = u64, Path, description = "release id")),
    responses((status = 200, body = ReleaseInfo), Unauthorized, Forbidden, NotFound))]
pub(super) async fn one(Path(id): Path<u64>, req: Signed) -> ApiResult<Json<ReleaseInfo>> {
    require_trustee(&req).await?;
    let releases = req.state.keypath.releases()?;
    releases
        .get(&id)
        .map(|r| Json(info(r)))
        .ok_or_else(|| no_release(id))
}

/// A trustee's answer: approve with one sealed share per ciphertext, or refuse with a
/// reason. Each trustee answers each release once (409 after).
#[utoipa::path(post, path = "/v1/releases/{id}/answers", request_body = ReleaseAnswer,
    params(("id" = u64, Path, description = "release id")),
    responses((status = 200, body = ReleaseInfo), BadRequest, Unauthorized, Forbidden, NotFound,
              Conflict))]
pub(super) async fn answer(Path(id): Path<u64>, req: Signed) -> ApiResult<Json<ReleaseInfo>> {
    let state = &req.state;
    require_trustee(&req).await?;
    if !super::resharing::settled(state) {
        return Err(ApiProblem(Problem::conflict(
            "a re-sharing of the trustees' secret is open: answers wait until it completes              (shares of two epochs never combine)",
        )));
    }
    let a: ReleaseAnswer = req.json()?;
    let trustee = req.caller.name.clone();
    let expected = {
        let releases = state.keypath.releases()?;
        let r = releases.get(&id).ok_or_else(|| no_release(id))?;
        if r.answers.contains_key(&trustee) || r.answering.contains(&trustee) {
            return Err(ApiProblem(Problem::conflict(format!(
                "trustee `{trustee}` already answered release {id}"
            ))));
        }
        if let Some(q) = &r.quorum {
            // Only the fixed set answers: an answer of another trustee is never counted.
            if !q.admits(&trustee) {
                return Err(ApiProblem(Problem::conflict(format!(
                    "trustee `{trustee}` is not in the release set of release {id} ({})",
                    q.set
                        .as_ref()
                        .map_or("not fixed yet".into(), |s| s.join(", "))
                ))));
            }
        }
        let limit = if r.score_model.is_some() {
            MAX_SEALED_FULL_BYTES
        } else {
            MAX_SEALED_BYTES
        };
        (r.hashes.len(), limit)
    };
    let (kind, mut detail, hashes, shares) = check_answer(&a, id, expected)?;
    if let Some(set) = state
        .keypath
        .releases()?
        .get(&id)
        .and_then(|r| r.quorum.as_ref()?.set.clone())
    {
        detail = format!("{detail} (release set {})", set.join(", "));
    }
    // Reserve the answer, write its ledger entry, then publish it: the analyst never sees
    // an answer the ledger does not hold, and a trustee answers once.
    {
        let mut releases = state.keypath.releases()?;
        let r = releases.get_mut(&id).ok_or_else(|| no_release(id))?;
        if r.answers.contains_key(&trustee) || !r.answering.insert(trustee.clone()) {
            return Err(ApiProblem(Problem::conflict(format!(
                "trustee `{trustee}` already answered release {id}"
            ))));
        }
    }
    // The shares go to disk (memory keeps their hashes) before the ledger names them.
    let path = crate::release_payload::shares_path(&state.releases_dir(), id, &trustee);
    let saved = crate::release_payload::off_thread(
        format!("saving the answer of `{trustee}` to release {id}"),
        move || {
            if shares.is_empty() {
                return Ok(());
            }
            crate::release_payload::write(&path, &shares)
        },
    )
    .await;
    if let Err(e) = saved {
        if let Some(r) = state.keypath.releases()?.get_mut(&id) {
            r.answering.remove(&trustee);
        }
        return Err(e);
    }
    let (t, d, st) = (trustee.clone(), detail.clone(), state.clone());
    let sealed_hashes = if a.approve {
        hashes.clone()
    } else {
        Vec::new()
    };
    let written = state
        .with_store(move |s| {
            // Revoked since its request was read: under the store's lock, as the
            // revocation's entry is written, so no answer is ledgered after it.
            if st.identity(&t).is_none_or(|r| r.is_revoked()) {
                return Err(ApiProblem(Problem::revoked(&t)));
            }
            s.append_entry(kind, &t, &release_subject(id), &d, &hashes)?;
            Ok(())
        })
        .await;
    let out = {
        let mut releases = state.keypath.releases()?;
        let r = releases.get_mut(&id).ok_or_else(|| no_release(id))?;
        r.answering.remove(&trustee);
        written?;
        // Revoked between its entry and now: the revocation may have passed over this
        // release already, so the answer is not published (its entry predates the
        // revocation; an audit counts it for no later delivery).
        if state.identity(&trustee).is_none_or(|r| r.is_revoked()) {
            return Err(ApiProblem(Problem::revoked(&trustee)));
        }
        r.answers.entry(trustee).or_insert(Answer {
            approve: a.approve,
            reason: (!a.approve).then_some(detail),
            sealed_hashes,
            legacy_sealed: Vec::new(),
            epsilon: a.epsilon.filter(|_| a.approve),
            answered_unix: dtfhe_model::clock::now_unix(),
        });
        info(r)
    };
    crate::keypath::save(state, id).await?;
    Ok(Json(out))
}

/// An answer as checked: its ledger entry kind, detail and hashes, and the sealed shares'
/// bytes.
type CheckedAnswer = (EntryKind, String, Vec<Hash>, Vec<Vec<u8>>);

/// Checks an answer's shape.
fn check_answer(
    a: &ReleaseAnswer,
    id: u64,
    (expected, max_sealed): (usize, usize),
) -> Result<CheckedAnswer, ApiProblem> {
    if let Some(e) = a.epsilon {
        if !(e.is_finite() && e > 0.0) {
            return Err(ApiProblem(Problem::bad_request(format!(
                "epsilon: {e} is not a positive number"
            ))));
        }
    }
    Ok(if a.approve {
        if a.sealed.len() != expected {
            return Err(ApiProblem(Problem::bad_request(format!(
                "sealed: {} sealed shares for the {expected} ciphertexts of release {id}",
                a.sealed.len()
            ))));
        }
        let mut hashes: Vec<Hash> = Vec::with_capacity(expected);
        let mut shares: Vec<Vec<u8>> = Vec::with_capacity(expected);
        for (i, s) in a.sealed.iter().enumerate() {
            let bytes = unb64(&format!("sealed[{i}]"), s)
                .map_err(|e| ApiProblem(Problem::bad_request(e.to_string())))?;
            if bytes.is_empty() || bytes.len() > max_sealed {
                return Err(ApiProblem(Problem::bad_request(format!(
                    "sealed[{i}]: {} bytes is not a sealed share",
                    bytes.len()
                ))));
            }
            hashes.push(*blake3::hash(&bytes).as_bytes());
            shares.push(bytes);
        }
        (
            EntryKind::TrusteeApproved,
            format!("approved; {expected} decryption shares given, sealed to the recipient"),
            hashes,
            shares,
        )
    } else {
        let reason = a
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiProblem(Problem::bad_request("reason: a refusal needs a reason")))?;
        if !a.sealed.is_empty() {
            return Err(ApiProblem(Problem::bad_request(
                "sealed: a refusal carries no shares",
            )));
        }
        let reason: String = reason.chars().take(MAX_REASON).collect();
        (EntryKind::TrusteeRefused, reason, Vec::new(), Vec::new())
    })
}

/// A trustee of a t-of-n deployment is ready to answer release `id`: it is counted among
/// the claims, and the claims fix the release set, once and for all (kept with the
/// release; each member's `trustee_approved` entry names it): the set of an earlier release
/// sharing a ciphertext once all its members claimed, else the first t claimants outside
/// every such set ([`dtfhe_api::dealing::Quorum::claim`]). Claiming again, or after the
/// set is fixed, changes nothing. 409 on an n-of-n release.
#[utoipa::path(post, path = "/v1/releases/{id}/claim",
    params(("id" = u64, Path, description = "release id")),
    responses((status = 200, body = ReleaseInfo), Unauthorized, Forbidden, NotFound, Conflict))]
pub(super) async fn claim(Path(id): Path<u64>, req: Signed) -> ApiResult<Json<ReleaseInfo>> {
    let state = &req.state;
    require_trustee(&req).await?;
    let trustee = req.caller.name.clone();
    let out = {
        let mut releases = state.keypath.releases()?;
        let earlier = crate::quorum_sets::earlier_sets(&releases, &*state.keypath.retired()?, id);
        let r = releases.get_mut(&id).ok_or_else(|| no_release(id))?;
        let Some(q) = r.quorum.as_mut() else {
            return Err(ApiProblem(Problem::conflict(format!(
                "release {id} needs every trustee: there is nothing to claim"
            ))));
        };
        // Revoked since its request was read (see `drop_revoked_trustee`).
        if state.identity(&trustee).is_none_or(|r| r.is_revoked()) {
            return Err(ApiProblem(Problem::revoked(&trustee)));
        }
        if q.set.is_none() {
            q.earlier = earlier;
        }
        q.claim(&trustee);
        info(r)
    };
    crate::keypath::save(state, id).await?;
    Ok(Json(out))
}

/// A trustee outside the set of a released t-of-n release recorded it in its disclosure
/// state: the platform keeps the release until every trustee answered or observed it
/// ([`crate::keypath::prunable`]) and stops listing it to this one. 409 unless the release
/// is a t-of-n release released by a set without the caller.
#[utoipa::path(post, path = "/v1/releases/{id}/observed",
    params(("id" = u64, Path, description = "release id")),
    responses((status = 200, body = ReleaseInfo), Unauthorized, Forbidden, NotFound, Conflict))]
pub(super) async fn observed(Path(id): Path<u64>, req: Signed) -> ApiResult<Json<ReleaseInfo>> {
    let state = &req.state;
    require_trustee(&req).await?;
    let trustee = req.caller.name.clone();
    let out = {
        let mut releases = state.keypath.releases()?;
        let r = releases.get_mut(&id).ok_or_else(|| no_release(id))?;
        let released_by_others =
            r.quorum
                .as_ref()
                .and_then(|q| q.set.as_ref())
                .is_some_and(|set| {
                    !set.contains(&trustee)
                        && set
                            .iter()
                            .all(|m| r.answers.get(m).is_some_and(|a| a.approve))
                });
        if !released_by_others {
            return Err(ApiProblem(Problem::conflict(format!(
                "release {id} was not released by a set without `{trustee}`: nothing to observe"
            ))));
        }
        r.observed.insert(trustee);
        info(r)
    };
    crate::keypath::save(state, id).await?;
    Ok(Json(out))
}
