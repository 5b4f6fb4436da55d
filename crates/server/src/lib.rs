//! `dtfhe serve`: the platform server.
//!
//! It stores the sources' signed encrypted chunks, computes queries on the ciphertexts,
//! routes release requests to the trustees and relays their sealed answers, and serves the
//! ledger to auditors. It never holds a secret-key share and never sees a released value:
//! trustees seal their decryption shares to the analyst who asked (HPKE), so the server
//! relays bytes it cannot open. Every request is signed by a registered identity
//! ([`auth`]); every refusal of an identity is a ledger entry, refusals of unauthenticated
//! requests are summarised per address ([`denials`]); every error, including an unknown
//! route, a wrong method and a malformed path, is an RFC 9457 problem ([`problems`]).
//! Limits that hold before authentication (timeouts, connections, body sizes) are in
//! [`limits`] and [`listen`].
//!
//! The HTTP surface is described by the OpenAPI document served at `/openapi.json`, built
//! from the handlers' annotations ([`routes`]).
#![forbid(unsafe_code)]

pub mod auth;
pub mod compute_queue;
pub mod denials;
pub mod error;
pub mod keypath;
pub mod limits;
pub mod listen;
pub mod problems;
pub mod quorum_sets;
pub mod release_payload;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::{ApiProblem, ServerError};
pub use limits::Limits;
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
        .layer(axum::extract::DefaultBodyLimit::max(
            state.limits.small_body,
        ))
        .layer(axum::middleware::from_fn(problems::as_problem))
        .with_state(state)
}

/// Opens (or on first start creates) the platform in `opts.dir` and serves until Ctrl-C or
/// SIGTERM. Prints the bound address on stdout (`listening on ADDR`), so a caller that asked
/// for port 0 learns the port.
pub async fn serve(opts: ServeOptions) -> Result<(), ServerError> {
    serve_with(opts, Limits::default()).await
}

/// [`serve`] with explicit resource limits.
pub async fn serve_with(opts: ServeOptions, limits: Limits) -> Result<(), ServerError> {
    opts.check()?;
    limits.check()?;
    let listen = opts.listen;
    // Opening (and at the end dropping) the store runs on a blocking thread: the PostgreSQL
    // client blocks on its own runtime, which must not happen on an async worker.
    let state = Arc::new(
        tokio::task::spawn_blocking(move || AppState::open_with(opts, limits))
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
    let reporter = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(state.limits.denial_report).await;
                let _ = state.report_denials().await;
            }
        })
    };
    let limits = state.limits.clone();
    listen::serve(listener, app(state), &limits, shutdown_signal()).await;
    reporter.abort();
    // The last period's refusals are reported before the store closes.
    let _ = last_ref.report_denials().await;
    let _ = tokio::task::spawn_blocking(move || drop(last_ref)).await;
    Ok(())
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
