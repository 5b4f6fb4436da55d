//! Replacing a trustee of a t-of-n deployment and the proactive re-sharing that follows
//! (see docs/THRESHOLD.md): `POST /v1/trustees/replace` (admin), then, trustee role,
//! `GET /v1/resharing`, `POST /v1/resharing/key`, `POST /v1/resharing/shares`,
//! `GET /v1/resharing/inbox`, `POST /v1/resharing/accept`.
//!
//! The replacement is a `trustee_replaced` ledger entry (old, new, position); the
//! deployment's trustee list follows it from then on ([`crate::keypath::KeyPath::set_trustees`]),
//! so the departed trustee is refused everywhere (403: not a trustee). It opens the
//! re-sharing of the next epoch, in its own directory `D/dealing/epoch-K/` with the same
//! files as the first dealing (keys, commitments, sealed shares, acceptances) and a plan
//! (`plan.json`, versioned): the trustees after the replacement and the t re-dealers, the
//! first t trustees in good standing. Every trustee of the new list publishes a fresh HPKE
//! key; each re-dealer deals its Lagrange-weighted threshold secret to every position; each
//! recipient checks its shares and the re-sharing as a whole against the sharing before
//! (whose commitments the inbox relays and whose hashes the ledger's acceptance entries
//! hold), keeps its new threshold secret and says so. The platform relays sealed shares it
//! cannot open; every step is a `ceremony_step` ledger entry. Releases wait while a
//! re-sharing is open: queries are 503 ([`super::dealing::dealing_complete`]) and answers
//! 409, so no release combines shares of two epochs.

use std::path::{Path, PathBuf};

use axum::Json;
use dtfhe_api::dealing::{
    DealingAccept, DealingPost, ResharingInbox, ResharingState, TrusteeReplacement,
};
use dtfhe_api::types::b64;
use dtfhe_api::{Problem, Role};
use dtfhe_ledger::membership::{replacement_subject, Replacement};
use dtfhe_store::{EntryKind, Store};

use super::dealing::{internal, read_opt, write, Dealing, DEALING_DIR};
use super::responses::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::state::AppState;

/// File (in a re-sharing's directory) recording its plan.
pub const PLAN_FILE: &str = "plan.json";
/// Format version of [`PLAN_FILE`].
const PLAN_VERSION: u32 = 1;

/// What a re-sharing was opened with (versioned JSON, written once).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// The epoch the re-sharing makes.
    pub epoch: u32,
    /// The trustee that left.
    pub departed: String,
    /// The trustee that took its position.
    pub joined: String,
    /// The position (1-based).
    pub position: usize,
    /// The trustees after the replacement.
    pub trustees: Vec<String>,
    /// The re-dealers' points (1-based), ascending: the Lagrange set.
    pub redealers: Vec<usize>,
}

impl Plan {
    /// Decodes a stored plan, refusing another version or a plan whose fields do not fit
    /// together (a damaged file stops the re-sharing, naming it).
    pub fn from_bytes(bytes: &[u8]) -> Result<Plan, PlanError> {
        let plan: Plan =
            serde_json::from_slice(bytes).map_err(|e| PlanError::Json(e.to_string()))?;
        if plan.version != PLAN_VERSION {
            return Err(PlanError::Version(plan.version));
        }
        let n = plan.trustees.len();
        let points_ok = plan.redealers.iter().all(|&p| p >= 1 && p <= n)
            && plan.redealers.windows(2).all(|w| w[0] < w[1]);
        if plan.epoch == 0
            || plan.position == 0
            || plan.position > n
            || plan.trustees[plan.position - 1] != plan.joined
            || !points_ok
            || plan.redealers.contains(&plan.position)
        {
            return Err(PlanError::Inconsistent);
        }
        Ok(plan)
    }
}

/// Why a stored re-sharing plan is refused (the caller names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Not the plan's JSON.
    #[error("not a re-sharing plan: {0}")]
    Json(String),
    /// Written by another build.
    #[error("format version {0} (this build reads {PLAN_VERSION})")]
    Version(u32),
    /// Its epoch, position, trustees and re-dealers do not fit together.
    #[error("its fields do not fit together")]
    Inconsistent,
}

fn round_dir(dir: &Path, epoch: u32) -> PathBuf {
    dir.join(DEALING_DIR).join(format!("epoch-{epoch}"))
}

/// The plan of the latest re-sharing, if any (its epoch is the highest with a plan).
fn latest(dir: &Path) -> Result<Option<Plan>, ApiProblem> {
    let mut epoch = 1;
    let mut last = None;
    loop {
        let path = round_dir(dir, epoch).join(PLAN_FILE);
        let Some(bytes) = read_opt(&path)? else {
            return Ok(last);
        };
        let plan = Plan::from_bytes(&bytes).map_err(|e| internal(&path, e))?;
        last = Some(plan);
        epoch += 1;
    }
}

/// The re-sharing of `plan` as a dealing round.
fn round(state: &AppState, store: &Store, plan: &Plan) -> Result<Dealing, ApiProblem> {
    let first = Dealing::open(state, store)?;
    Ok(Dealing {
        dir: round_dir(&state.opts.dir, plan.epoch),
        threshold: first.threshold,
        trustees: plan.trustees.clone(),
        seed: first.seed,
        dealers: plan.redealers.clone(),
        subject: dtfhe_ledger::membership::sharing_subject(plan.epoch),
    })
}

/// Whether no re-sharing is open (none yet, or the latest complete): releases wait
/// otherwise.
pub fn settled(state: &AppState) -> bool {
    match latest(&state.opts.dir) {
        Ok(None) => true,
        Ok(Some(plan)) => {
            let dir = round_dir(&state.opts.dir, plan.epoch);
            (1..=plan.trustees.len()).all(|p| dir.join(format!("accepted-{p}.txt")).exists())
        }
        Err(_) => false,
    }
}

fn state_of(d: &Dealing, plan: &Plan) -> Result<ResharingState, ApiProblem> {
    Ok(ResharingState {
        epoch: plan.epoch,
        threshold: d.threshold,
        trustees: d.trustees.clone(),
        departed: plan.departed.clone(),
        joined: plan.joined.clone(),
        position: plan.position,
        seed: d.seed.clone(),
        redealers: plan
            .redealers
            .iter()
            .map(|&p| d.trustees[p - 1].clone())
            .collect(),
        progress: d.round_progress()?,
    })
}

fn conflict(what: String) -> ApiProblem {
    ApiProblem(Problem::conflict(what))
}

/// Replaces the trustee `old` by the registered trustee `new` at `old`'s position (admin;
/// a t-of-n deployment whose sharing is settled, with no release half answered). Ledger
/// `trustee_replaced`; the trustee list follows it at once, and the re-sharing of the next
/// epoch opens, dealt by the first t trustees in good standing.
#[utoipa::path(post, path = "/v1/trustees/replace", request_body = TrusteeReplacement,
    responses((status = 200, body = ResharingState), BadRequest, Unauthorized, Forbidden,
              NotFound, Conflict))]
pub(super) async fn replace(req: Signed) -> ApiResult<Json<ResharingState>> {
    req.require(&[Role::Admin]).await?;
    let body: TrusteeReplacement = req.json()?;
    let admin = req.caller.name.clone();
    let st = req.state.clone();
    req.state
        .with_store(move |s| {
            let first = Dealing::open(&st, s)?;
            if !first.state_complete()? || !settled(&st) {
                return Err(conflict(
                    "the trustees' sharing is not settled (a dealing or re-sharing is open)"
                        .into(),
                ));
            }
            let now = st.keypath.deployed(s)?.deployment.trustees.clone();
            let position = now
                .iter()
                .position(|t| *t == body.old)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    ApiProblem(Problem::not_found(format!(
                        "`{}` is not a trustee of this deployment",
                        body.old
                    )))
                })?;
            let (standing, new_ok) = {
                let ids = st
                    .identities
                    .read()
                    .map_err(|_| ApiProblem(Problem::internal("identity registry lock poisoned")))?;
                let new_ok = ids
                    .get(&body.new)
                    .is_some_and(|r| r.role == Role::Trustee && !r.is_revoked());
                let standing: Vec<bool> = now
                    .iter()
                    .map(|t| ids.get(t).is_some_and(|r| !r.is_revoked()))
                    .collect();
                (standing, new_ok)
            };
            if !new_ok || now.contains(&body.new) {
                return Err(ApiProblem(Problem::bad_request(format!(
                    "new: `{}` is not a registered trustee identity in good standing outside \
                     the trustee list",
                    body.new
                ))));
            }
            {
                let releases = st.keypath.releases()?;
                if let Some(r) = releases.values().find(|r| half_answered(r)) {
                    return Err(conflict(format!(
                        "release {} is half answered: replace a trustee once it is released",
                        r.id
                    )));
                }
            }
            let threshold = first.threshold;
            let redealers: Vec<usize> = (1..=now.len())
                .filter(|&p| p != position && standing[p - 1])
                .take(threshold)
                .collect();
            if redealers.len() < threshold {
                return Err(conflict(format!(
                    "only {} trustees in good standing besides `{}`: a re-sharing needs {threshold}",
                    redealers.len(),
                    body.old
                )));
            }
            let epoch = latest(&st.opts.dir)?.map_or(1, |p| p.epoch + 1);
            let replacement = Replacement {
                old: body.old.clone(),
                new: body.new.clone(),
                position,
            };
            let mut trustees = now.clone();
            dtfhe_ledger::membership::apply(&mut trustees, 0, &replacement)
                .map_err(|e| ApiProblem(Problem::bad_request(e.reason)))?;
            let plan = Plan {
                version: PLAN_VERSION,
                epoch,
                departed: body.old.clone(),
                joined: body.new.clone(),
                position,
                trustees: trustees.clone(),
                redealers,
            };
            let bytes = serde_json::to_vec_pretty(&plan)
                .map_err(|e| ApiProblem(Problem::internal(e.to_string())))?;
            let dir = round_dir(&st.opts.dir, epoch);
            s.append_entry(
                EntryKind::TrusteeReplaced,
                &admin,
                &replacement_subject(&replacement),
                &format!(
                    "re-sharing epoch {epoch} opened: {} re-deal to the trustees {} \
                     (hash: the re-sharing's plan)",
                    plan.redealers
                        .iter()
                        .map(|&p| trustees[p - 1].as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    trustees.join(", ")
                ),
                &[*blake3::hash(&bytes).as_bytes()],
            )?;
            write(&dir.join(PLAN_FILE), &bytes)?;
            st.keypath.set_trustees(s, trustees)?;
            state_of(&round(&st, s, &plan)?, &plan).map(Json)
        })
        .await
}

/// A release some of whose set answered and not all (and none refused, not delivered): its
/// shares are of the current epoch, and a re-sharing now would make the rest answer with
/// the next.
fn half_answered(r: &crate::keypath::PendingRelease) -> bool {
    let set = match r.quorum.as_ref().and_then(|q| q.set.as_ref()) {
        Some(set) => set,
        None => return false,
    };
    let approved = set
        .iter()
        .filter(|m| r.answers.get(*m).is_some_and(|a| a.approve))
        .count();
    !r.delivered && r.answers.values().all(|a| a.approve) && approved > 0 && approved < set.len()
}

/// Runs `f` with the latest re-sharing (404 before any) as a round, its plan, and the
/// caller's name and point (403 for a caller that is no trustee now).
async fn with_round<T, F>(req: &Signed, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Store, &Dealing, &Plan, &str, usize) -> Result<T, ApiProblem> + Send + 'static,
{
    super::releases::require_trustee(req).await?;
    let who = req.caller.name.clone();
    let st = req.state.clone();
    req.state
        .with_store(move |s| {
            let plan = latest(&st.opts.dir)?.ok_or_else(|| {
                ApiProblem(Problem::not_found(
                    "no trustee was replaced: there is no re-sharing",
                ))
            })?;
            let d = round(&st, s, &plan)?;
            let p = d.point(&who)?;
            f(s, &d, &plan, &who, p)
        })
        .await
}

/// Where the latest re-sharing stands (404 before the first replacement).
#[utoipa::path(get, path = "/v1/resharing",
    responses((status = 200, body = ResharingState), Unauthorized, Forbidden, NotFound))]
pub(super) async fn get_state(req: Signed) -> ApiResult<Json<ResharingState>> {
    with_round(&req, |_, d, plan, _, _| state_of(d, plan).map(Json)).await
}

/// A trustee's fresh HPKE recipient key for the re-shared shares (once per epoch).
#[utoipa::path(post, path = "/v1/resharing/key", request_body = dtfhe_api::dealing::DealingKey,
    responses((status = 200, body = ResharingState), BadRequest, Unauthorized, Forbidden,
              NotFound, Conflict))]
pub(super) async fn post_key(req: Signed) -> ApiResult<Json<ResharingState>> {
    let key = super::dealing::recipient_key(&req)?;
    with_round(&req, move |s, d, plan, who, p| {
        d.put_key(s, who, p, &key)?;
        state_of(d, plan).map(Json)
    })
    .await
}

/// A re-dealer's dealing: its commitment and one sealed share per trustee of the new list
/// (409 for a trustee that is not a re-dealer, or before every key is in).
#[utoipa::path(post, path = "/v1/resharing/shares", request_body = DealingPost,
    responses((status = 200, body = ResharingState), BadRequest, Unauthorized, Forbidden,
              NotFound, Conflict))]
pub(super) async fn post_shares(req: Signed) -> ApiResult<Json<ResharingState>> {
    let body: DealingPost = req.json()?;
    let st = req.state.clone();
    with_round(&req, move |s, d, plan, who, p| {
        let deployed = st.keypath.deployed(s)?;
        d.put_dealing(s, &deployed.params, who, p, &body)?;
        state_of(d, plan).map(Json)
    })
    .await
}

/// The shares the re-dealers dealt to the caller, and the commitments of the sharing
/// before.
#[utoipa::path(get, path = "/v1/resharing/inbox",
    responses((status = 200, body = ResharingInbox), Unauthorized, Forbidden, NotFound,
              Conflict))]
pub(super) async fn get_inbox(req: Signed) -> ApiResult<Json<ResharingInbox>> {
    let st = req.state.clone();
    with_round(&req, move |s, d, plan, _, me| {
        let previous = if plan.epoch == 1 {
            Dealing::open(&st, s)?.commitments()?
        } else {
            let path = round_dir(&st.opts.dir, plan.epoch - 1).join(PLAN_FILE);
            let bytes = read_opt(&path)?.ok_or_else(|| internal(&path, "missing"))?;
            let before = Plan::from_bytes(&bytes).map_err(|e| internal(&path, e))?;
            round(&st, s, &before)?.commitments()?
        };
        Ok(Json(ResharingInbox {
            epoch: plan.epoch,
            items: d.inbox(me)?,
            previous: previous.iter().map(|c| b64(c)).collect(),
        }))
    })
    .await
}

/// The caller checked its re-shared shares and the re-sharing as a whole, and keeps its
/// new threshold secret (commitments named by hash). Once every trustee did, one more
/// ledger entry closes the re-sharing: releases resume under the new epoch.
#[utoipa::path(post, path = "/v1/resharing/accept", request_body = DealingAccept,
    responses((status = 200, body = ResharingState), BadRequest, Unauthorized, Forbidden,
              NotFound, Conflict))]
pub(super) async fn post_accept(req: Signed) -> ApiResult<Json<ResharingState>> {
    let body: DealingAccept = req.json()?;
    with_round(&req, move |s, d, plan, who, p| {
        if d.put_accept(s, who, p, &body.commitments)? && state_of(d, plan)?.progress.complete {
            s.append_entry(
                EntryKind::CeremonyStep,
                "platform",
                &d.subject,
                &format!(
                    "re-sharing epoch {} complete: `{}` holds position {} in place of `{}`; \
                     any {} of the {} trustees ({}) release",
                    plan.epoch,
                    plan.joined,
                    plan.position,
                    plan.departed,
                    d.threshold,
                    d.trustees.len(),
                    d.trustees.join(", ")
                ),
                &[],
            )?;
        }
        state_of(d, plan).map(Json)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            version: PLAN_VERSION,
            epoch: 1,
            departed: "e".into(),
            joined: "f".into(),
            position: 5,
            trustees: ["a", "b", "c", "d", "f"].map(String::from).to_vec(),
            redealers: vec![1, 2, 3],
        }
    }

    #[test]
    fn a_plan_round_trips_and_damaged_plans_are_refused() {
        let bytes = serde_json::to_vec(&plan()).expect("json");
        assert_eq!(Plan::from_bytes(&bytes), Ok(plan()));
        let edits: [fn(&mut Plan); 6] = [
            |p| p.version = 2,
            |p| p.epoch = 0,
            |p| p.position = 6,
            |p| p.joined = "g".into(),
            |p| p.redealers = vec![3, 2, 1],
            |p| p.redealers = vec![1, 2, 5],
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut bad = plan();
            edit(&mut bad);
            let bytes = serde_json::to_vec(&bad).expect("json");
            assert!(Plan::from_bytes(&bytes).is_err(), "edit {i}");
        }
        assert!(Plan::from_bytes(b"{\"version\":1").is_err());
    }

    proptest::proptest! {
        /// Whatever bytes a damaged plan file holds, reading it never panics.
        #[test]
        fn any_plan_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = Plan::from_bytes(&bytes);
        }

        /// Plans with any fields: accepted only when they fit together.
        #[test]
        fn any_plan_fields_never_panic(
            position in 0usize..8,
            redealers in proptest::collection::vec(0usize..8, 0..5),
            epoch in 0u32..3,
        ) {
            let p = Plan { position, redealers, epoch, ..plan() };
            let _ = Plan::from_bytes(&serde_json::to_vec(&p).expect("json"));
        }
    }
}
