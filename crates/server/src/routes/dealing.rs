//! The networked t-of-n dealing (trustee role, after the key ceremony of a deployment
//! started with `--threshold t`): `GET /v1/dealing`, `POST /v1/dealing/key`,
//! `POST /v1/dealing/shares`, `GET /v1/dealing/inbox`, `POST /v1/dealing/accept`.
//!
//! The platform relays: each trustee publishes an HPKE recipient key; once all n are in,
//! each posts its dealing (the public commitment to its Shamir polynomial, checked here to
//! be its own and of the deployment's t and n, and one share per trustee sealed to that
//! trustee's key, which the platform cannot open); each fetches the shares sealed to it with
//! their commitments, checks them itself and says which commitments it accepted. Releases by
//! any t start once all n accepted ([`dealing_complete`]). Every accepted step is a
//! `ceremony_step` ledger entry with the hashes of what was accepted.
//!
//! State: files under `D/dealing/`, named by the trustees' points (1-based positions in the
//! deployment's trustee list), written through a temporary file and renamed, so a restart
//! of the platform continues the dealing. All of it is public or sealed data.

use std::path::{Path, PathBuf};

use axum::Json;
use dtfhe_api::dealing::{
    DealingAccept, DealingInbox, DealingKey, DealingPost, DealingState, DealtItem, RoundProgress,
};
use dtfhe_api::types::{b64, unb64};
use dtfhe_api::Problem;
use dtfhe_crypto::seal::RecipientPublicKey;
use dtfhe_crypto::threshold::commit::Commitment;
use dtfhe_store::{EntryKind, Store};

use super::responses::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unavailable};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult, ServerError};
use crate::state::{AppState, ServeOptions};

/// File (in the platform directory) naming the threshold of a t-of-n deployment
/// (`t-of-n`), written at the first start with `--threshold t` below the number of trustees.
pub const THRESHOLD_FILE: &str = "threshold.txt";
/// Directory (in the platform directory) of the dealing's messages.
pub const DEALING_DIR: &str = "dealing";
/// Largest sealed dealt share accepted (a bfv-16384 share is about 0.66 MB).
const MAX_SEALED: usize = 4 << 20;

fn config(e: impl std::fmt::Display) -> ServerError {
    ServerError::Config(e.to_string())
}

/// The deployment's threshold at start: the one recorded in `D/threshold.txt`, or, at the
/// first start (no deployment yet) with `--threshold t` below the number of trustees, `t`
/// (recorded then). `--threshold n` is n-of-n as without it. A later `--threshold` must
/// match the recorded one.
pub fn load_threshold(store: &Store, opts: &ServeOptions) -> Result<Option<usize>, ServerError> {
    let path = opts.dir.join(THRESHOLD_FILE);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => Some(parse_threshold(text.trim()).ok_or_else(|| {
            config(format!(
                "{}: expected `t-of-n`, found {:?}",
                path.display(),
                text.trim()
            ))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(config(format!("{}: {e}", path.display()))),
    };
    let exists = store.deployment().is_ok();
    let n = match (&recorded, exists) {
        (Some((_, n)), _) => *n,
        (None, true) => store.deployment()?.trustees.len(),
        (None, false) => opts.trustees.len(),
    };
    if let Some(w) = opts.threshold {
        check_threshold(w, n)?;
    }
    match (recorded, opts.threshold) {
        (Some((t, _)), Some(w)) if t != w => Err(config(format!(
            "--threshold {w} differs from the deployment's threshold {t}-of-{n}"
        ))),
        (Some((t, _)), _) => Ok(Some(t)),
        (None, Some(w)) if w < n && exists => Err(config(format!(
            "--threshold {w}: the deployment exists as {n}-of-{n}; a threshold is set at its \
             first start"
        ))),
        (None, Some(w)) if w < n => {
            let tmp = opts.dir.join(format!(".{THRESHOLD_FILE}.tmp"));
            std::fs::create_dir_all(&opts.dir)
                .and_then(|()| {
                    crate::keypath::write_durably(&tmp, &path, format!("{w}-of-{n}\n").as_bytes())
                })
                .map_err(|e| config(format!("{}: {e}", path.display())))?;
            Ok(Some(w))
        }
        (None, _) => Ok(None),
    }
}

/// A threshold the networked dealing supports: 2 ≤ t ≤ n (t = 1 would give every trustee
/// the whole key; the trustees refuse such a dealing too) within the commitment's bound.
pub fn check_threshold(t: usize, n: usize) -> Result<(), ServerError> {
    dtfhe_crypto::threshold::commit::check_supported(t, n)
        .map_err(|e| config(format!("--threshold: {e}")))?;
    if t < 2 && n > 1 {
        return Err(config(
            "--threshold 1 would let every trustee decrypt alone; use at least 2",
        ));
    }
    Ok(())
}

fn parse_threshold(text: &str) -> Option<(usize, usize)> {
    let (t, n) = text.split_once("-of-")?;
    Some((t.parse().ok()?, n.parse().ok()?))
}

fn key_file(round: &Path, point: usize) -> PathBuf {
    round.join(format!("key-{point}.bin"))
}

fn commitment_file(round: &Path, point: usize) -> PathBuf {
    round.join(format!("commitment-{point}.bin"))
}

fn sealed_file(round: &Path, dealer: usize, recipient: usize) -> PathBuf {
    round.join(format!("sealed-{dealer}-to-{recipient}.bin"))
}

fn accepted_file(round: &Path, point: usize) -> PathBuf {
    round.join(format!("accepted-{point}.txt"))
}

pub(super) fn internal(path: &Path, e: impl std::fmt::Display) -> ApiProblem {
    ApiProblem(Problem::internal(format!("{}: {e}", path.display())))
}

pub(super) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, ApiProblem> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(internal(path, e)),
    }
}

pub(super) fn write(path: &Path, bytes: &[u8]) -> Result<(), ApiProblem> {
    let parent = path.parent().unwrap_or(path);
    std::fs::create_dir_all(parent)
        .and_then(|()| crate::keypath::write_durably(&path.with_extension("tmp"), path, bytes))
        .map_err(|e| internal(path, e))
}

/// A dealing round as the files record it: the first dealing (`D/dealing/`, every trustee
/// deals) or a proactive re-sharing (`D/dealing/epoch-K/`, the re-dealers deal; see
/// [`super::resharing`]).
pub(super) struct Dealing {
    /// The round's directory.
    pub(super) dir: PathBuf,
    /// t.
    pub(super) threshold: usize,
    /// The trustees the round deals to, in deployment order (point = position + 1).
    pub(super) trustees: Vec<String>,
    /// The key ceremony's seed (hex).
    pub(super) seed: String,
    /// The points that deal in this round.
    pub(super) dealers: Vec<usize>,
    /// Ledger subject of the round's entries.
    pub(super) subject: String,
}

impl Dealing {
    /// 404 on an n-of-n deployment, 503 before the key ceremony finished.
    pub(super) fn open(state: &AppState, store: &Store) -> Result<Dealing, ApiProblem> {
        let Some(threshold) = state.keypath.threshold else {
            return Err(ApiProblem(Problem::not_found(
                "this deployment is n-of-n: there is no threshold dealing",
            )));
        };
        let trustees = state.keypath.deployed(store)?.deployment.trustees.clone();
        let seed_path = state.opts.dir.join(super::ceremony::SEED_FILE);
        let seed = std::fs::read_to_string(&seed_path).map_err(|e| internal(&seed_path, e))?;
        Ok(Dealing {
            dir: state.opts.dir.join(DEALING_DIR),
            threshold,
            dealers: (1..=trustees.len()).collect(),
            trustees,
            seed: seed.trim().to_string(),
            subject: dtfhe_ledger::membership::sharing_subject(0),
        })
    }

    /// The caller's point (1-based), 403 for a caller that is no trustee.
    pub(super) fn point(&self, who: &str) -> Result<usize, ApiProblem> {
        self.trustees
            .iter()
            .position(|t| t == who)
            .map(|i| i + 1)
            .ok_or_else(|| {
                ApiProblem(Problem::forbidden(format!(
                    "`{who}` is not a trustee of this deployment"
                )))
            })
    }

    pub(super) fn points(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.trustees.len()
    }

    pub(super) fn names_where(&self, f: impl Fn(usize) -> PathBuf) -> Vec<String> {
        self.points()
            .filter(|&p| f(p).exists())
            .map(|p| self.trustees[p - 1].clone())
            .collect()
    }

    /// Whether every trustee accepted this round.
    pub(super) fn state_complete(&self) -> Result<bool, ApiProblem> {
        Ok(self.state()?.progress.complete)
    }

    fn state(&self) -> Result<DealingState, ApiProblem> {
        Ok(DealingState {
            threshold: self.threshold,
            trustees: self.trustees.clone(),
            seed: self.seed.clone(),
            progress: self.round_progress()?,
        })
    }

    /// The round's keys, dealings and acceptances, as both rounds' states report them.
    pub(super) fn round_progress(&self) -> Result<RoundProgress, ApiProblem> {
        let (dealt, accepted) = self.progress();
        Ok(RoundProgress {
            keys: self.keys()?,
            dealt,
            complete: accepted.len() == self.trustees.len(),
            accepted,
        })
    }

    /// Stores `bytes` at `path` once: the same bytes again are accepted (a retry after a
    /// lost answer), other bytes are a 409. Returns whether they are new.
    pub(super) fn once(&self, path: &Path, bytes: &[u8], what: &str) -> Result<bool, ApiProblem> {
        match read_opt(path)? {
            Some(prev) if prev == bytes => Ok(false),
            Some(_) => Err(ApiProblem(Problem::conflict(format!(
                "{what} was already given; a trustee gives it once"
            )))),
            None => write(path, bytes).map(|()| true),
        }
    }
}

/// Whether the dealing of a t-of-n deployment is complete (always, n-of-n): releases and
/// readiness wait for it.
pub fn dealing_complete(state: &AppState, store: &Store) -> bool {
    state.keypath.threshold.is_none()
        || (Dealing::open(state, store)
            .and_then(|d| d.state())
            .is_ok_and(|s| s.progress.complete)
            && super::resharing::settled(state))
}

/// Runs `f` in a blocking store task with the dealing (404 on an n-of-n deployment) and the
/// caller's name and point (403 for a caller that is no trustee): the frame of every
/// trustee's dealing request, after its body was read.
async fn with_dealing<T, F>(req: &Signed, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Store, &Dealing, &str, usize) -> Result<T, ApiProblem> + Send + 'static,
{
    let who = req.caller.name.clone();
    let st = req.state.clone();
    req.state
        .with_store(move |s| {
            let d = Dealing::open(&st, s)?;
            let p = d.point(&who)?;
            f(s, &d, &who, p)
        })
        .await
}

pub(super) fn bad(field: &str, e: impl std::fmt::Display) -> ApiProblem {
    ApiProblem(Problem::bad_request(format!("{field}: {e}")))
}

/// Where the dealing stands (404 on an n-of-n deployment).
#[utoipa::path(get, path = "/v1/dealing",
    responses((status = 200, body = DealingState), Unauthorized, NotFound, Unavailable))]
pub(super) async fn get_state(req: Signed) -> ApiResult<Json<DealingState>> {
    let st = req.state.clone();
    req.state
        .with_store(move |s| Dealing::open(&st, s)?.state().map(Json))
        .await
}

impl Dealing {
    /// Keeps the HPKE recipient key of `who` (point `p`) for this round, once; a ledger
    /// `ceremony_step` with the key's hash when it is new.
    pub(super) fn put_key(
        &self,
        s: &mut Store,
        who: &str,
        p: usize,
        key: &[u8],
    ) -> Result<(), ApiProblem> {
        if self.once(
            &key_file(&self.dir, p),
            key,
            &format!("the dealing key of `{who}`"),
        )? {
            s.append_entry(
                EntryKind::CeremonyStep,
                who,
                &self.subject,
                &format!("dealing key of `{who}` published (hash: the HPKE public key)"),
                &[*blake3::hash(key).as_bytes()],
            )?;
        }
        Ok(())
    }

    /// Each trustee's published recipient key (base64), by name.
    pub(super) fn keys(&self) -> Result<std::collections::BTreeMap<String, String>, ApiProblem> {
        let mut keys = std::collections::BTreeMap::new();
        for p in self.points() {
            if let Some(k) = read_opt(&key_file(&self.dir, p))? {
                keys.insert(self.trustees[p - 1].clone(), b64(&k));
            }
        }
        Ok(keys)
    }

    /// The dealers whose dealing is in, and the trustees that accepted, by name.
    pub(super) fn progress(&self) -> (Vec<String>, Vec<String>) {
        let dealt = self
            .dealers
            .iter()
            .filter(|&&p| commitment_file(&self.dir, p).exists())
            .map(|&p| self.trustees[p - 1].clone())
            .collect();
        (dealt, self.names_where(|p| accepted_file(&self.dir, p)))
    }

    /// Relays the dealing of `who` (point `p`, one of this round's dealers): its commitment
    /// (checked to be its own, of the round's t and n and the parameters) and one sealed
    /// share per trustee. Needs every trustee's key; once (409 for another dealing). Ledger
    /// `ceremony_step`, hashes: the commitment, then each sealed share in trustee order.
    pub(super) fn put_dealing(
        &self,
        s: &mut Store,
        params: &dtfhe_crypto::Params,
        who: &str,
        p: usize,
        body: &DealingPost,
    ) -> Result<(), ApiProblem> {
        let d = self;
        if !d.dealers.contains(&p) {
            return Err(ApiProblem(Problem::conflict(format!(
                "`{who}` is not a dealer of this round (dealers: {})",
                d.dealers
                    .iter()
                    .map(|&q| d.trustees[q - 1].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))));
        }
        if d.points().any(|q| !key_file(&d.dir, q).exists()) {
            return Err(ApiProblem(Problem::conflict(
                "not every trustee has published its dealing key yet",
            )));
        }
        let commitment = unb64("commitment", &body.commitment).map_err(|e| bad("commitment", e))?;
        let c = Commitment::from_bytes(params, &commitment).map_err(|e| bad("commitment", e))?;
        if c.dealer as usize != p || c.threshold != d.threshold || c.trustees != d.trustees.len() {
            return Err(bad(
                "commitment",
                format!(
                    "made by point {} for {}-of-{}; `{who}` is point {p} of a {}-of-{} deployment",
                    c.dealer,
                    c.threshold,
                    c.trustees,
                    d.threshold,
                    d.trustees.len()
                ),
            ));
        }
        let names: Vec<&String> = body.sealed.keys().collect();
        let mut expected: Vec<&String> = d.trustees.iter().collect();
        expected.sort();
        if names != expected {
            return Err(bad(
                "sealed",
                "needs one sealed share for each trustee, no other",
            ));
        }
        let mut sealed = Vec::with_capacity(d.trustees.len());
        for t in &d.trustees {
            let field = format!("sealed.{t}");
            let bytes = unb64(&field, &body.sealed[t]).map_err(|e| bad(&field, e))?;
            if bytes.is_empty() || bytes.len() > MAX_SEALED {
                return Err(bad(
                    &field,
                    format!("{} bytes is not a sealed share", bytes.len()),
                ));
            }
            sealed.push(bytes);
        }
        // The sealed shares first, the commitment last: a dealing counts once its
        // commitment is there, and then all of it is.
        let previous = read_opt(&commitment_file(&d.dir, p))?;
        if let Some(prev) = previous {
            let same = prev == commitment
                && d.points().zip(&sealed).all(|(q, b)| {
                    read_opt(&sealed_file(&d.dir, p, q))
                        .ok()
                        .flatten()
                        .as_deref()
                        == Some(b.as_slice())
                });
            if same {
                return Ok(());
            }
            return Err(ApiProblem(Problem::conflict(format!(
                "`{who}` already dealt; a trustee deals once"
            ))));
        }
        for (q, b) in d.points().zip(&sealed) {
            write(&sealed_file(&d.dir, p, q), b)?;
        }
        write(&commitment_file(&d.dir, p), &commitment)?;
        let mut hashes = vec![*blake3::hash(&commitment).as_bytes()];
        hashes.extend(sealed.iter().map(|b| *blake3::hash(b).as_bytes()));
        s.append_entry(
            EntryKind::CeremonyStep,
            who,
            &d.subject,
            &format!(
                "dealing of `{who}` ({}-of-{}) relayed: its commitment and {} shares sealed \
                     to the trustees (hashes: the commitment, then each sealed share in \
                     trustee order)",
                d.threshold,
                d.trustees.len(),
                sealed.len()
            ),
            &hashes,
        )?;
        Ok(())
    }

    /// The shares dealt to the trustee at point `me` so far, each with its dealer's
    /// commitment, in dealer order.
    pub(super) fn inbox(&self, me: usize) -> Result<Vec<DealtItem>, ApiProblem> {
        let mut items = Vec::new();
        for &p in &self.dealers {
            let (Some(c), Some(sealed)) = (
                read_opt(&commitment_file(&self.dir, p))?,
                read_opt(&sealed_file(&self.dir, p, me))?,
            ) else {
                continue;
            };
            items.push(DealtItem {
                dealer: self.trustees[p - 1].clone(),
                commitment: b64(&c),
                sealed: b64(&sealed),
            });
        }
        Ok(items)
    }

    /// The relayed commitments of this round's dealers, in dealer order (409 naming the
    /// first dealer that has not dealt).
    pub(super) fn commitments(&self) -> Result<Vec<Vec<u8>>, ApiProblem> {
        self.dealers
            .iter()
            .map(|&q| {
                read_opt(&commitment_file(&self.dir, q))?.ok_or_else(|| {
                    ApiProblem(Problem::conflict(format!(
                        "`{}` has not dealt yet",
                        self.trustees[q - 1]
                    )))
                })
            })
            .collect()
    }

    /// `who` (point `p`) checked the shares dealt to it against the dealers' commitments,
    /// named by hash (which must be the relayed ones), and keeps its secret: recorded once,
    /// with a ledger `ceremony_step` naming the commitments' hashes. Returns whether it is
    /// new.
    pub(super) fn put_accept(
        &self,
        s: &mut Store,
        who: &str,
        p: usize,
        named_by_caller: &[String],
    ) -> Result<bool, ApiProblem> {
        let relayed: Vec<blake3::Hash> = self
            .commitments()?
            .iter()
            .map(|c| blake3::hash(c))
            .collect();
        let named: Vec<String> = relayed.iter().map(|h| h.to_hex().to_string()).collect();
        if named_by_caller != named.as_slice() {
            return Err(bad(
                "commitments",
                "are not the commitments relayed by this platform",
            ));
        }
        let record = format!("{}\n", named.join("\n"));
        let new = self.once(
            &accepted_file(&self.dir, p),
            record.as_bytes(),
            &format!("the acceptance of `{who}`"),
        )?;
        if new {
            s.append_entry(
                EntryKind::CeremonyStep,
                who,
                &self.subject,
                &format!(
                    "`{who}` checked the shares dealt to it against every dealer's \
                         commitment and {} (hashes: the commitments)",
                    dtfhe_ledger::membership::ACCEPTANCE_MARK
                ),
                &relayed.iter().map(|h| *h.as_bytes()).collect::<Vec<_>>(),
            )?;
        }
        Ok(new)
    }
}

/// A trustee's HPKE recipient key for the shares dealt to it (once; ledger `ceremony_step`
/// with the key's hash).
#[utoipa::path(post, path = "/v1/dealing/key", request_body = DealingKey,
    responses((status = 200, body = DealingState), BadRequest, Unauthorized, Forbidden, NotFound,
              Conflict))]
pub(super) async fn post_key(req: Signed) -> ApiResult<Json<DealingState>> {
    super::releases::require_trustee(&req).await?;
    let key = recipient_key(&req)?;
    with_dealing(&req, move |s, d, who, p| {
        d.put_key(s, who, p, &key)?;
        d.state().map(Json)
    })
    .await
}

/// The checked recipient key of a `POST .../key` body.
pub(super) fn recipient_key(req: &Signed) -> Result<Vec<u8>, ApiProblem> {
    let body: DealingKey = req.json()?;
    let key = unb64("key", &body.key).map_err(|e| bad("key", e))?;
    RecipientPublicKey::from_bytes(&key).map_err(|e| bad("key", e))?;
    Ok(key)
}

/// A trustee's dealing: its commitment (checked to be its own, of the deployment's t and n
/// and parameters) and one sealed share per trustee (its own included). Needs every
/// trustee's key; once (409 for another dealing). Ledger `ceremony_step`, hashes: the
/// commitment, then each sealed share in deployment order.
#[utoipa::path(post, path = "/v1/dealing/shares", request_body = DealingPost,
    responses((status = 200, body = DealingState), BadRequest, Unauthorized, Forbidden, NotFound,
              Conflict))]
pub(super) async fn post_shares(req: Signed) -> ApiResult<Json<DealingState>> {
    super::releases::require_trustee(&req).await?;
    let body: DealingPost = req.json()?;
    let st = req.state.clone();
    with_dealing(&req, move |s, d, who, p| {
        let deployed = st.keypath.deployed(s)?;
        d.put_dealing(s, &deployed.params, who, p, &body)?;
        d.state().map(Json)
    })
    .await
}

/// The shares dealt to the caller so far, each with its dealer's commitment.
#[utoipa::path(get, path = "/v1/dealing/inbox",
    responses((status = 200, body = DealingInbox), Unauthorized, Forbidden, NotFound))]
pub(super) async fn get_inbox(req: Signed) -> ApiResult<Json<DealingInbox>> {
    super::releases::require_trustee(&req).await?;
    with_dealing(&req, move |_, d, _, me| {
        Ok(Json(DealingInbox {
            items: d.inbox(me)?,
        }))
    })
    .await
}

/// The caller checked the shares dealt to it by every trustee against their commitments
/// (named by hash, which must be the relayed ones) and keeps its threshold secret. Ledger
/// `ceremony_step` with the commitments' hashes; once all n accepted, one more naming the
/// quorum.
#[utoipa::path(post, path = "/v1/dealing/accept", request_body = DealingAccept,
    responses((status = 200, body = DealingState), BadRequest, Unauthorized, Forbidden, NotFound,
              Conflict))]
pub(super) async fn post_accept(req: Signed) -> ApiResult<Json<DealingState>> {
    super::releases::require_trustee(&req).await?;
    let body: DealingAccept = req.json()?;
    with_dealing(&req, move |s, d, who, p| {
        if d.put_accept(s, who, p, &body.commitments)? && d.state()?.progress.complete {
            s.append_entry(
                EntryKind::CeremonyStep,
                "platform",
                &d.subject,
                &format!(
                    "threshold dealing complete: any {} of the {} trustees ({}) release",
                    d.threshold,
                    d.trustees.len(),
                    d.trustees.join(", ")
                ),
                &[],
            )?;
        }
        d.state().map(Json)
    })
    .await
}
