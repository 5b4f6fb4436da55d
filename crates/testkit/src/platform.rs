//! The platform server (`dtfhe_server::app`) on 127.0.0.1 in the test's process, with a
//! deployment whose keys come from a ceremony run in the test (or none yet, the ceremony
//! pending), and the calls every networked test makes against it: register an identity,
//! a signed client, a trustee's attestation of the deployment's keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dtfhe_api::types::IdentityRecord;
use dtfhe_api::{Client, Identity, Role};
use dtfhe_crypto::{ceremony, codec};
use dtfhe_server::{AppState, ServeOptions};
use dtfhe_store::{Deployment, Store};

/// The parameter preset of every fixture deployment.
pub const PRESET: &str = "bfv-8192";

/// The options of a platform in `dir` with its store there (SQLite), listening on a free
/// loopback port, k = 2, the first admin `admin` (its name and public key) if any.
pub fn serve_options(dir: PathBuf, admin: Option<&Identity>, trustees: &[&str]) -> ServeOptions {
    ServeOptions {
        store: Default::default(),
        dir,
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: admin.map(|a| (a.name().to_string(), a.public_key_string())),
        trustees: trustees.iter().map(|t| t.to_string()).collect(),
        min_group_size: 2,
        preset: PRESET.into(),
        threshold: None,
    }
}

/// The keys of a deployment made in the test: what the trustees' shares would decrypt.
pub struct Keys {
    /// The deployment's parameters.
    pub params: dtfhe_crypto::Params,
    /// The collective public key.
    pub public: fhe::bfv::PublicKey,
    /// Each trustee's secret share, encoded as on a trustee's disk (for tests that decrypt,
    /// or that check no share leaks into the platform).
    pub share_bytes: Vec<Vec<u8>>,
}

/// Creates the store in `dir` holding a finished deployment of `trustees` (one share each,
/// the ceremony run here), as the key ceremony would leave it.
pub fn create_deployment(dir: &Path, trustees: &[&str]) -> Keys {
    let params = dtfhe_crypto::params_by_name(PRESET).unwrap();
    let mut rng = rand::rng();
    let shares: Vec<_> = trustees
        .iter()
        .map(|_| ceremony::new_share(&params, &mut rng))
        .collect();
    let keys = ceremony::run(&params, &shares, &mut rng).unwrap();
    Store::create(dir)
        .unwrap()
        .put_deployment(&Deployment {
            preset: PRESET.into(),
            trustees: trustees.iter().map(|t| t.to_string()).collect(),
            min_group_size: 2,
            public_key: codec::encode_public_key(&params, &keys.public),
            relin_key: codec::encode_relin_key(&params, &keys.relin),
            created_at: "0".into(),
        })
        .unwrap();
    let share_bytes = shares
        .iter()
        .map(|s| codec::encode_secret_share(&params, s).to_vec())
        .collect();
    Keys {
        params,
        public: keys.public,
        share_bytes,
    }
}

/// The router serving `state` on a free 127.0.0.1 port, from a runtime on a thread of its
/// own (so it works from plain and from async tests); stops when dropped.
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Served {
    /// Starts serving `state`; returns once the port is bound.
    pub fn start(state: Arc<AppState>) -> Served {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        crate::run_in_thread(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let _ = axum::serve(listener, dtfhe_server::app(state))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Served {
            base: format!("http://{}", addr_rx.recv().unwrap()),
            stop: Some(stop),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A loopback URL nobody listens on: the platform "down".
pub fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// A signed client for `id` against `base`.
pub fn client(base: &str, id: &Identity) -> Client {
    Client::new(base, Some(id.clone()), Duration::from_secs(60))
}

/// `admin` registers `id` with `role` and grants on `datasets`; returns the stored record.
pub fn register(
    base: &str,
    admin: &Identity,
    id: &Identity,
    role: Role,
    datasets: &[&str],
) -> IdentityRecord {
    let datasets = datasets.iter().map(|d| d.to_string()).collect();
    client(base, admin)
        .register(&IdentityRecord::of(id, role, datasets))
        .unwrap()
}

/// The deployment's trustee `trustee` attests its keys, as `dtfhe trustee` does after the
/// ceremony (a fixture deployment is made without one), so edge agents accept the
/// deployment. Registers the trustee (a fresh identity) first.
pub fn attest_deployment(state: &AppState, dir: &Path, trustee: &str) {
    let id = Identity::generate(trustee).unwrap();
    let record = IdentityRecord::of(&id, Role::Trustee, Vec::new());
    let d = {
        let mut store = state.store.lock().unwrap();
        dtfhe_server::state::register_in(&mut store, "root", &record).unwrap();
        store.deployment().unwrap()
    };
    state
        .identities
        .write()
        .unwrap()
        .insert(trustee.into(), record);
    let a = dtfhe_api::ceremony::attest(&id, &d.public_key, &d.relin_key);
    std::fs::write(
        dir.join(dtfhe_server::routes::ceremony::ATTESTATIONS_FILE),
        serde_json::to_vec(&vec![a]).unwrap(),
    )
    .unwrap();
}

/// A platform in a temporary directory, served on loopback, with the admin `root`.
pub struct Platform {
    /// The temporary directory (removed when dropped); the platform's is `tmp/platform`.
    pub tmp: tempfile::TempDir,
    /// The platform directory.
    pub dir: PathBuf,
    /// The server's state (its store, identities, key path).
    pub state: Arc<AppState>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The first admin.
    pub admin: Identity,
    /// The deployment's keys, when it was made in the test.
    pub keys: Option<Keys>,
    _server: Served,
}

impl Platform {
    /// A platform whose deployment of `trustees` is finished (keys from a ceremony run in
    /// the test), admin `root`.
    pub fn deployed(trustees: &[&str]) -> Platform {
        Platform::deployed_with_admin(trustees, Identity::generate("root").unwrap())
    }

    /// [`Platform::deployed`] with the given first admin.
    pub fn deployed_with_admin(trustees: &[&str], admin: Identity) -> Platform {
        let tmp = tempfile::tempdir().unwrap();
        let keys = create_deployment(&tmp.path().join("platform"), trustees);
        Platform::start(tmp, trustees, admin, Some(keys))
    }

    /// A fresh platform for `trustees` whose key ceremony has not run yet, admin `root`.
    pub fn awaiting_ceremony(trustees: &[&str]) -> Platform {
        let tmp = tempfile::tempdir().unwrap();
        Platform::start(tmp, trustees, Identity::generate("root").unwrap(), None)
    }

    fn start(
        tmp: tempfile::TempDir,
        trustees: &[&str],
        admin: Identity,
        keys: Option<Keys>,
    ) -> Platform {
        let dir = tmp.path().join("platform");
        let opts = serve_options(dir.clone(), Some(&admin), trustees);
        let state = Arc::new(AppState::open(opts).unwrap());
        let server = Served::start(state.clone());
        Platform {
            tmp,
            dir,
            state,
            base: server.base.clone(),
            admin,
            keys,
            _server: server,
        }
    }

    /// The trustee `trustee` attests the deployment (see [`attest_deployment`]).
    pub fn attest(&self, trustee: &str) {
        attest_deployment(&self.state, &self.dir, trustee);
    }

    /// The admin registers `id` (see [`register`]).
    pub fn register(&self, id: &Identity, role: Role, datasets: &[&str]) -> IdentityRecord {
        register(&self.base, &self.admin, id, role, datasets)
    }

    /// A signed client for `id` against this platform.
    pub fn client(&self, id: &Identity) -> Client {
        client(&self.base, id)
    }

    /// The deployment's keys (panics on a platform still awaiting its ceremony).
    pub fn keys(&self) -> &Keys {
        self.keys.as_ref().expect("a deployed platform")
    }
}
