//! `dtfhe serve`: the platform server.
//!
//! It stores the sources' signed encrypted chunks, computes queries on the ciphertexts,
//! routes release requests to the trustees and relays their sealed answers, and serves the
//! ledger to auditors. It never holds a secret-key share and never sees a released value:
//! trustees seal their decryption shares to the analyst who asked (HPKE), so the server
//! relays bytes it cannot open. Every request is signed by a registered identity
//! ([`auth`]); every refusal is a ledger entry; every error is an RFC 9457 problem.
//!
//! The HTTP surface is described by the OpenAPI document served at `/openapi.json`, built
//! from the handlers' annotations ([`routes`]).
#![forbid(unsafe_code)]

pub mod auth;
pub mod error;
pub mod keypath;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::{ApiProblem, ServerError};
pub use state::{parse_admin, AppState, ServeOptions};

/// The router with every route, and the OpenAPI document describing them.
pub fn app(state: Arc<AppState>) -> axum::Router {
    let (router, api) = routes::routes().split_for_parts();
    let doc = Arc::new(api);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(state::MAX_BODY_BYTES))
        .with_state(state)
}

/// Opens (or on first start creates) the platform in `opts.dir` and serves until Ctrl-C or
/// SIGTERM. Prints the bound address on stdout (`listening on ADDR`), so a caller that asked
/// for port 0 learns the port.
pub async fn serve(opts: ServeOptions) -> Result<(), ServerError> {
    opts.check()?;
    let listen = opts.listen;
    // Opening (and at the end dropping) the store runs on a blocking thread: the PostgreSQL
    // client blocks on its own runtime, which must not happen on an async worker.
    let state = Arc::new(
        tokio::task::spawn_blocking(move || AppState::open(opts))
            .await
            .map_err(|e| ServerError::Config(format!("opening the store failed: {e}")))??,
    );
    let last_ref = state.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| ServerError::Bind {
            addr: listen.to_string(),
            reason: e.to_string(),
        })?;
    let local: SocketAddr = listener.local_addr().map_err(|e| ServerError::Bind {
        addr: listen.to_string(),
        reason: e.to_string(),
    })?;
    println!("listening on {local}");
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| ServerError::Bind {
            addr: local.to_string(),
            reason: e.to_string(),
        });
    let _ = tokio::task::spawn_blocking(move || drop(last_ref)).await;
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
