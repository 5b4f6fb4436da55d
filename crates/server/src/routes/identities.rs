//! `POST /v1/identities` (admin): register a party; `POST /v1/identities/{name}/revoke`
//! (admin): revoke one; `GET /v1/identities` (any registered party): the registry with the
//! revocations, so trustees can check an analyst's key and standing, analysts the trustees
//! whose shares they combine, and auditors who is who.

use std::sync::Arc;

use axum::extract::Path;
use axum::Json;
use dtfhe_api::types::{IdentityRecord, RevokeRequest};
use dtfhe_api::{Problem, Role};
use dtfhe_store::EntryKind;

use super::responses::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::state::{register_in, revocation_detail, revocation_of, AppState};

fn poisoned() -> ApiProblem {
    ApiProblem(Problem::internal("identity registry lock poisoned"))
}

/// Registers a party (admin only). A name is registered once: the same record again is
/// accepted (idempotent), a different key or role for the name is a conflict, and so is
/// any registration of a revoked name (a revoked party does not come back under its name).
#[utoipa::path(post, path = "/v1/identities", request_body = IdentityRecord,
    responses((status = 200, body = IdentityRecord), BadRequest, Unauthorized, Forbidden,
              Conflict))]
pub(super) async fn register(req: Signed) -> ApiResult<Json<IdentityRecord>> {
    let state = &req.state;
    req.require(&[Role::Admin]).await?;
    let record: IdentityRecord = req.json()?;
    if record.revoked.is_some() {
        return Err(ApiProblem(Problem::bad_request(
            "revoked: a registration carries no revocation (POST /v1/identities/{name}/revoke)",
        )));
    }
    if let Some(existing) = state.identity(&record.name) {
        if existing.is_revoked() {
            return Err(ApiProblem(Problem::conflict(format!(
                "identity `{}` is revoked: its name is not registered again",
                record.name
            ))));
        }
        if existing == record {
            return Ok(Json(existing));
        }
        return Err(ApiProblem(Problem::conflict(format!(
            "identity `{}` is already registered with another role, key or grants",
            record.name
        ))));
    }
    let admin = req.caller.name.clone();
    let r = record.clone();
    state
        .with_store(move |s| register_in(s, &admin, &r))
        .await?;
    state
        .identities
        .write()
        .map_err(|_| poisoned())?
        .insert(record.name.clone(), record.clone());
    Ok(Json(record))
}

/// Revokes a registered identity (admin only): an `identity_revoked` ledger entry (its
/// earlier entries stay), and from the next request on the platform refuses its signed
/// requests (403 `revoked`) and counts none of a trustee's shares (see
/// [`crate::keypath::drop_revoked_trustee`]). Revoking again answers the record unchanged
/// (idempotent); an unknown name is 404; the last admin in good standing cannot be revoked
/// (409), so the platform always keeps one.
#[utoipa::path(post, path = "/v1/identities/{name}/revoke", request_body = RevokeRequest,
    params(("name" = String, Path, description = "the identity's name")),
    responses((status = 200, body = IdentityRecord), BadRequest, Unauthorized, Forbidden,
              NotFound, Conflict))]
pub(super) async fn revoke(
    Path(name): Path<String>,
    req: Signed,
) -> ApiResult<Json<IdentityRecord>> {
    let state = &req.state;
    req.require(&[Role::Admin]).await?;
    let body: RevokeRequest = req.json()?;
    let reason = body
        .checked_reason()
        .map_err(|e| ApiProblem(Problem::bad_request(e.to_string())))?
        .to_string();
    let (record, newly) = revoke_identity(state, &req.caller.name, &name, &reason).await?;
    if newly && record.role == Role::Trustee {
        let changed = {
            let mut releases = state.keypath.releases()?;
            crate::keypath::drop_revoked_trustee(&mut releases, &name)
        };
        for id in changed {
            crate::keypath::save(state, id).await?;
        }
    }
    Ok(Json(record))
}

/// Revokes `name` as `admin` with `reason` (checked): the ledger entry and the registry,
/// both under the store's lock, so two revocations (or a revocation and a trustee's answer)
/// are ordered. Returns the record and whether this call revoked it (`false`: it already
/// was). 404 for an unknown name, 409 for the last admin in good standing.
pub async fn revoke_identity(
    state: &Arc<AppState>,
    admin: &str,
    name: &str,
    reason: &str,
) -> Result<(IdentityRecord, bool), ApiProblem> {
    let st = state.clone();
    let (admin, name, reason) = (admin.to_string(), name.to_string(), reason.to_string());
    state
        .with_store(move |s| {
            let current = st.identity(&name).ok_or_else(|| {
                ApiProblem(Problem::not_found(format!(
                    "no identity `{name}` is registered"
                )))
            })?;
            if current.is_revoked() {
                return Ok((current, false));
            }
            if current.role == Role::Admin {
                let others = st
                    .identities
                    .read()
                    .map_err(|_| poisoned())?
                    .values()
                    .filter(|r| r.role == Role::Admin && !r.is_revoked() && r.name != name)
                    .count();
                if others == 0 {
                    return Err(ApiProblem(Problem::conflict(format!(
                        "`{name}` is the last admin: register another admin before revoking it"
                    ))));
                }
            }
            let key = dtfhe_api::identity::parse_public_key(&current.public_key)
                .map_err(|e| ApiProblem(Problem::internal(format!("registered key: {e}"))))?;
            let seq = s.append_entry(
                EntryKind::IdentityRevoked,
                &admin,
                &name,
                &revocation_detail(&reason),
                &[*blake3::hash(key.as_bytes()).as_bytes()],
            )?;
            let entry = s
                .entries_of(EntryKind::IdentityRevoked)?
                .into_iter()
                .find(|e| e.seq == seq)
                .ok_or_else(|| {
                    ApiProblem(Problem::internal(format!("ledger entry {seq} not found")))
                })?;
            let revocation =
                revocation_of(&entry).map_err(|e| ApiProblem(Problem::internal(e.to_string())))?;
            let mut ids = st.identities.write().map_err(|_| poisoned())?;
            let record = ids.get_mut(&name).ok_or_else(|| {
                ApiProblem(Problem::internal(format!("`{name}` left the registry")))
            })?;
            record.revoked = Some(revocation);
            Ok((record.clone(), true))
        })
        .await
}

/// Every registered identity (public data: names, roles, public keys, grants, and the
/// revocation of a revoked one).
#[utoipa::path(get, path = "/v1/identities",
    responses((status = 200, body = Vec<IdentityRecord>), Unauthorized, Forbidden))]
pub(super) async fn list(req: Signed) -> ApiResult<Json<Vec<IdentityRecord>>> {
    let mut all: Vec<IdentityRecord> = req
        .state
        .identities
        .read()
        .map_err(|_| poisoned())?
        .values()
        .cloned()
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ServeOptions;
    use dtfhe_api::Identity;

    fn state(dir: &std::path::Path, admin: &Identity) -> Arc<AppState> {
        Arc::new(
            AppState::open(ServeOptions {
                dir: dir.to_path_buf(),
                store: Default::default(),
                listen: "127.0.0.1:0".parse().expect("addr"),
                admin: Some((admin.name().into(), admin.public_key_string())),
                trustees: vec!["a".into(), "b".into()],
                min_group_size: 2,
                preset: "bfv-8192".into(),
                threshold: None,
            })
            .expect("platform state"),
        )
    }

    fn register(state: &Arc<AppState>, id: &Identity, role: Role) {
        let record = IdentityRecord::of(id, role, Vec::new());
        let mut store = state.store.lock().expect("store");
        register_in(&mut store, "root", &record).expect("register");
        drop(store);
        state
            .identities
            .write()
            .expect("registry")
            .insert(record.name.clone(), record);
    }

    fn status(r: Result<(IdentityRecord, bool), ApiProblem>) -> u16 {
        r.expect_err("refused").0.status
    }

    /// Unknown name: 404 and no entry; first revocation: one `identity_revoked` entry;
    /// again: the same record, no second entry; the last admin: 409; after a restart the
    /// registry still holds the revocation.
    #[tokio::test]
    async fn revocation_is_idempotent_names_unknowns_and_keeps_an_admin() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("platform");
        let root = Identity::generate("root").expect("id");
        let st = state(&dir, &root);
        let ana = Identity::generate("ana").expect("id");
        register(&st, &ana, Role::Analyst);
        let revoked_entries = |st: &Arc<AppState>| {
            st.store
                .lock()
                .expect("store")
                .entries_of(EntryKind::IdentityRevoked)
                .expect("entries")
        };

        assert_eq!(
            status(revoke_identity(&st, "root", "nobody", "left").await),
            404
        );
        assert!(revoked_entries(&st).is_empty());

        let (first, newly) = revoke_identity(&st, "root", "ana", "left the consortium")
            .await
            .expect("revoked");
        assert!(newly);
        let rev = first.revoked.clone().expect("revocation");
        assert_eq!(
            (rev.by.as_str(), rev.reason.as_str()),
            ("root", "left the consortium")
        );
        let (again, newly) = revoke_identity(&st, "root", "ana", "another reason")
            .await
            .expect("idempotent");
        assert!(!newly);
        assert_eq!(again, first);
        let entries = revoked_entries(&st);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].subject.as_str(), entries[0].seq),
            ("ana", rev.ledger_seq)
        );

        // The only admin cannot go; with a second one it can, and that one then cannot.
        assert_eq!(status(revoke_identity(&st, "root", "root", "x").await), 409);
        let root2 = Identity::generate("root2").expect("id");
        register(&st, &root2, Role::Admin);
        revoke_identity(&st, "root2", "root", "rotated")
            .await
            .expect("revoked");
        assert_eq!(
            status(revoke_identity(&st, "root2", "root2", "x").await),
            409
        );
        assert_eq!(revoked_entries(&st).len(), 2);

        // A restart rebuilds the revocations from the ledger (and `--admin root` of a
        // revoked root still starts, root staying revoked).
        let before: Vec<IdentityRecord> = ["ana", "root", "root2"]
            .iter()
            .map(|n| st.identity(n).expect("registered"))
            .collect();
        drop(st);
        let st = state(&dir, &root);
        for r in before {
            assert_eq!(st.identity(&r.name), Some(r));
        }
        assert!(st.identity("root").expect("root").is_revoked());
        assert!(!st.identity("root2").expect("root2").is_revoked());
    }
}
