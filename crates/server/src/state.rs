//! The server's shared state: the store (behind a mutex, used from blocking tasks), the
//! registered identities and their revocations (rebuilt from the ledger at start: the
//! ledger is their only record), the resource limits, and the counts of refused unauthenticated requests.
//! Spent request nonces live in the store, so replay protection survives a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use dtfhe_api::types::{IdentityRecord, Revocation, RevokeRequest};
use dtfhe_api::Role;
use dtfhe_store::{EntryKind, Hash, Store, StoreLocation};

use crate::denials::{summary_detail, Denials};
use crate::error::{ApiProblem, ServerError};
use crate::limits::Limits;
use dtfhe_api::Problem;

pub use crate::limits::MAX_BODY_BYTES;

/// How `dtfhe serve` was started.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Platform directory: the store and its checkpoint key. Never a key share.
    pub dir: PathBuf,
    /// Where the store's database lives: `D/store.sqlite` or a PostgreSQL database (the
    /// choice for a server); the checkpoint key stays in `dir` either way.
    pub store: StoreLocation,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The first admin, `(name, public key text)`, registered on first start.
    pub admin: Option<(String, String)>,
    /// Trustee names of the deployment to create (first start only; later starts check
    /// that they match the stored deployment).
    pub trustees: Vec<String>,
    /// k: the smallest group a release may describe (first start only).
    pub min_group_size: u32,
    /// Parameter preset (first start only).
    pub preset: String,
    /// t of a t-of-n deployment (first start only; later starts check it matches): any t
    /// trustees release. `None` or the number of trustees: n-of-n.
    pub threshold: Option<usize>,
}

impl ServeOptions {
    /// Checks the start options before anything is opened or created (bad input changes
    /// nothing): the trustee names valid and distinct, a threshold between 1 and their
    /// number, k at least 1, the first admin's name and key well-formed.
    pub fn check(&self) -> Result<(), ServerError> {
        for (i, t) in self.trustees.iter().enumerate() {
            if !dtfhe_model::names::is_party_name(t) || self.trustees[..i].contains(t) {
                return Err(ServerError::Config(format!(
                    "--trustees: `{t}` is not a valid name or is listed twice"
                )));
            }
        }
        if let (Some(t), false) = (self.threshold, self.trustees.is_empty()) {
            crate::routes::dealing::check_threshold(t, self.trustees.len())?;
        }
        if self.min_group_size == 0 {
            return Err(ServerError::Config(
                "--min-group-size must be at least 1".into(),
            ));
        }
        if let Some((name, key)) = &self.admin {
            check_admin(name, key)?;
        }
        Ok(())
    }
}

/// Parses the first admin of `dtfhe serve --admin NAME=ed25519:KEY` into (name, key text),
/// both checked.
pub fn parse_admin(spec: &str) -> Result<(String, String), ServerError> {
    let (name, key) = spec
        .split_once('=')
        .ok_or_else(|| ServerError::Config("--admin: expected NAME=ed25519:KEY".into()))?;
    check_admin(name, key)?;
    Ok((name.to_string(), key.trim().to_string()))
}

fn check_admin(name: &str, key: &str) -> Result<(), ServerError> {
    if !dtfhe_model::names::is_party_name(name) {
        return Err(ServerError::Config(format!(
            "--admin: name {name:?} must be 1-64 of letters, digits, '-', '_' or '.'"
        )));
    }
    dtfhe_api::identity::parse_public_key(key)
        .map_err(|e| ServerError::Config(format!("--admin: {e}")))?;
    Ok(())
}

/// Everything a request handler can reach.
pub struct AppState {
    /// The start options.
    pub opts: ServeOptions,
    /// The store; use [`AppState::with_store`] (blocking work off the async threads).
    pub store: Mutex<Store>,
    /// Registered identities by name.
    pub identities: RwLock<HashMap<String, IdentityRecord>>,
    /// The resource limits (timeouts, connections, body sizes).
    pub limits: Limits,
    /// Refused unauthenticated requests of the current period, summarised in the ledger by
    /// [`AppState::report_denials`].
    pub denials: Denials,
    /// Permits to read a large body (see [`Limits::large_bodies_at_once`]).
    pub large_bodies: tokio::sync::Semaphore,
    /// Deployment parameters, release requests, key ceremony (see [`crate::keypath`]).
    pub keypath: crate::keypath::KeyPath,
    /// Queries and scorings computing or waiting (see [`crate::compute_queue`]).
    pub computations: crate::compute_queue::ComputeQueue,
    /// Turns to read and send a complete result (see [`Limits::results_at_once`]); a turn
    /// is held until the response's last byte is handed to the connection.
    pub results: Arc<tokio::sync::Semaphore>,
    /// Accumulated sums of recent queries, so a repeated or growing query (a live view,
    /// `query --follow`) adds only the chunks that landed since (bounded).
    pub sums: dtfhe_engine::cache::SumCache,
    /// Every chunk stored, as the chunk feed announces it (see [`crate::routes::feed`]).
    pub feed: tokio::sync::broadcast::Sender<Arc<dtfhe_api::feed::ChunkEvent>>,
}

dtfhe_model::debug_public_fields!(AppState, |v| { dir: v.opts.dir });

/// The `detail` of an `IdentityRegistered` ledger entry: the record as JSON (public data
/// only: name, role, public key, grants).
pub fn identity_detail(r: &IdentityRecord) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

impl AppState {
    /// Opens the platform in `opts.dir`, creating the store on first start, and rebuilds the
    /// identity registry from the ledger; registers `opts.admin` if it is new.
    pub fn open(opts: ServeOptions) -> Result<AppState, ServerError> {
        AppState::open_with(opts, Limits::default())
    }

    /// [`AppState::open`] with explicit resource limits.
    pub fn open_with(opts: ServeOptions, limits: Limits) -> Result<AppState, ServerError> {
        // First start: no store yet (SQLite: no file; PostgreSQL: an empty database, which
        // `create_at` checks again, refusing one that holds a store).
        let mut store = match Store::open_at(&opts.dir, &opts.store) {
            Ok(s) => s,
            Err(dtfhe_store::StoreError::NotFound { .. }) => {
                Store::create_at(&opts.dir, &opts.store)?
            }
            Err(dtfhe_store::StoreError::NotAStore { .. })
                if matches!(opts.store, StoreLocation::Postgres(_)) =>
            {
                Store::create_at(&opts.dir, &opts.store)?
            }
            Err(e) => return Err(e.into()),
        };
        let mut identities: HashMap<String, IdentityRecord> = HashMap::new();
        for e in store.entries()? {
            if e.kind == EntryKind::IdentityRegistered {
                let r: IdentityRecord = serde_json::from_str(&e.detail).map_err(|err| {
                    ServerError::Config(format!(
                        "ledger entry {}: identity record is not valid JSON: {err}",
                        e.seq
                    ))
                })?;
                identities.insert(r.name.clone(), r);
            } else if e.kind == EntryKind::IdentityRevoked {
                let revocation = revocation_of(&e)?;
                if let Some(r) = identities.get_mut(&e.subject) {
                    r.revoked.get_or_insert(revocation);
                }
            }
        }
        if let Some((name, key)) = &opts.admin {
            let record = IdentityRecord {
                name: name.clone(),
                role: Role::Admin,
                public_key: key.clone(),
                datasets: Vec::new(),
                revoked: None,
            };
            match identities.get(name) {
                // Also when revoked since (by another admin): it stays revoked.
                Some(r) if registration(r) == record => {}
                Some(_) => {
                    return Err(ServerError::Config(format!(
                        "identity `{name}` is already registered with another role or key"
                    )))
                }
                None => {
                    register_in(&mut store, "platform", &record)
                        .map_err(|p| ServerError::Config(p.0.to_string()))?;
                    identities.insert(name.clone(), record);
                }
            }
        }
        let ceremony = crate::routes::ceremony::Ceremony::start(&mut store, &opts)?;
        let mut keypath = crate::keypath::KeyPath::new(ceremony, &opts.dir)?;
        keypath.threshold = crate::routes::dealing::load_threshold(&store, &opts)?;
        Ok(AppState {
            opts,
            store: Mutex::new(store),
            identities: RwLock::new(identities),
            denials: Denials::new(limits.denial_sources),
            large_bodies: tokio::sync::Semaphore::new(limits.large_bodies_at_once.max(1)),
            computations: crate::compute_queue::ComputeQueue::new(&limits),
            results: Arc::new(tokio::sync::Semaphore::new(limits.results_at_once.max(1))),
            sums: Default::default(),
            limits,
            keypath,
            feed: tokio::sync::broadcast::channel(crate::routes::feed::BACKLOG).0,
        })
    }

    /// Appends one ledger entry (in the store's blocking task); its seq.
    pub async fn append_entry(
        self: &Arc<Self>,
        kind: EntryKind,
        actor: &str,
        subject: &str,
        detail: String,
        hashes: Vec<Hash>,
    ) -> Result<u64, ApiProblem> {
        let (actor, subject) = (actor.to_string(), subject.to_string());
        self.with_store(move |s| Ok(s.append_entry(kind, &actor, &subject, &detail, &hashes)?))
            .await
    }

    /// Where release requests and their payload files are kept (`D/releases`).
    pub fn releases_dir(&self) -> PathBuf {
        self.opts.dir.join(crate::keypath::RELEASES_DIR)
    }

    /// Runs `f` on the store in a blocking task.
    pub async fn with_store<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiProblem>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiProblem> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = state
                .store
                .lock()
                .map_err(|_| ApiProblem(Problem::internal("store lock poisoned")))?;
            f(&mut store)
        })
        .await
        .map_err(|e| ApiProblem(Problem::internal(format!("store task failed: {e}"))))?
    }

    /// Records a refused access in the ledger (best effort: the refusal stands even if the
    /// entry cannot be written) and returns the problem to answer with.
    pub async fn deny(
        self: &Arc<Self>,
        actor: &str,
        subject: &str,
        problem: Problem,
    ) -> ApiProblem {
        let actor = actor.to_string();
        let subject = subject.to_string();
        let detail = problem
            .detail
            .clone()
            .unwrap_or_else(|| problem.title.clone());
        let _ = self
            .with_store(move |s| {
                s.append_entry(EntryKind::AccessDenied, &actor, &subject, &detail, &[])
                    .map_err(ApiProblem::from)
            })
            .await;
        ApiProblem(problem)
    }

    /// Counts a refused unauthenticated request from `source` (summarised in the ledger by
    /// [`AppState::report_denials`], not an entry each) and returns the 401 problem.
    pub fn deny_unauthenticated(&self, source: &str, reason: String) -> ApiProblem {
        self.denials.count(source, &reason);
        ApiProblem(Problem::unauthenticated(reason))
    }

    /// Writes one `access_denied` entry per source address counted since the last report
    /// (actor `anonymous`, subject the address, detail the count and the last reason);
    /// returns how many entries were written.
    pub async fn report_denials(self: &Arc<Self>) -> Result<usize, ApiProblem> {
        let counts = self.denials.take();
        if counts.is_empty() {
            return Ok(0);
        }
        self.with_store(move |s| {
            for d in &counts {
                s.append_entry(
                    EntryKind::AccessDenied,
                    "anonymous",
                    &d.source,
                    &summary_detail(d),
                    &[],
                )?;
            }
            Ok(counts.len())
        })
        .await
    }

    /// The registered identity `name`, if any.
    pub fn identity(&self, name: &str) -> Option<IdentityRecord> {
        self.identities.read().ok()?.get(name).cloned()
    }
}

/// The record as it was registered (without its revocation).
pub fn registration(r: &IdentityRecord) -> IdentityRecord {
    IdentityRecord {
        revoked: None,
        ..r.clone()
    }
}

/// The `detail` of an `IdentityRevoked` ledger entry: the reason as JSON.
pub fn revocation_detail(reason: &str) -> String {
    serde_json::to_string(&RevokeRequest {
        reason: reason.to_string(),
    })
    .unwrap_or_default()
}

/// The revocation an `IdentityRevoked` ledger entry records (its admin, reason, seq and
/// time), or why its detail does not parse.
pub fn revocation_of(e: &dtfhe_store::Entry) -> Result<Revocation, ServerError> {
    let r: RevokeRequest = serde_json::from_str(&e.detail).map_err(|err| {
        ServerError::Config(format!(
            "ledger entry {}: revocation detail is not valid JSON: {err}",
            e.seq
        ))
    })?;
    Ok(Revocation {
        by: e.actor.clone(),
        reason: r.reason,
        ledger_seq: e.seq,
        time_unix: e.time_unix,
    })
}

/// Registers an identity: an `IdentityRegistered` ledger entry (hash: blake3 of the public
/// key), and for a source also its chunk-signing key (the same key).
pub fn register_in(store: &mut Store, actor: &str, r: &IdentityRecord) -> Result<(), ApiProblem> {
    let key = dtfhe_api::identity::parse_public_key(&r.public_key)
        .map_err(|e| ApiProblem(Problem::bad_request(format!("public_key: {e}"))))?;
    if !dtfhe_model::names::is_party_name(&r.name) {
        return Err(ApiProblem(Problem::bad_request(
            "name: must be 1-64 of letters, digits, '-', '_' or '.'",
        )));
    }
    if r.role == Role::Source {
        store.register_source(&r.name, &key)?;
    }
    store.append_entry(
        EntryKind::IdentityRegistered,
        actor,
        &r.name,
        &identity_detail(r),
        &[*blake3::hash(key.as_bytes()).as_bytes()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(trustees: &[&str], k: u32, admin: Option<(&str, &str)>) -> ServeOptions {
        ServeOptions {
            dir: PathBuf::from("/nonexistent/platform"),
            store: StoreLocation::Sqlite,
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin: admin.map(|(n, k)| (n.to_string(), k.to_string())),
            trustees: trustees.iter().map(|t| t.to_string()).collect(),
            min_group_size: k,
            preset: "bfv-16384".into(),
            threshold: None,
        }
    }

    /// Bad start options are refused before anything is opened, naming the option.
    #[test]
    fn start_options_are_checked_first() {
        let key = dtfhe_api::Identity::generate("root")
            .expect("identity")
            .public_key_string();
        assert!(opts(&["a", "b"], 5, Some(("root", &key))).check().is_ok());
        for (o, want) in [
            (opts(&["a", "a"], 5, None), "--trustees"),
            (opts(&["a", "b/c"], 5, None), "--trustees"),
            (opts(&["a"], 0, None), "--min-group-size"),
            (opts(&["a"], 5, Some(("bad name", key.as_str()))), "--admin"),
            (opts(&["a"], 5, Some(("root", "ed25519:AAAA"))), "--admin"),
        ] {
            match o.check() {
                Err(ServerError::Config(m)) => assert!(m.starts_with(want), "{m}"),
                other => panic!("{want}: {other:?}"),
            }
        }
        assert_eq!(
            parse_admin(&format!("root={key}")).expect("valid"),
            ("root".to_string(), key.clone())
        );
        for bad in ["root", "=ed25519:AAAA", "root=nonsense"] {
            assert!(
                matches!(parse_admin(bad), Err(ServerError::Config(_))),
                "{bad}"
            );
        }
    }
}
