//! The chunk feed: `GET /v1/feed[?datasets=a,b]` (analyst with a grant, trustee, auditor)
//! answers with server-sent events, one `chunk` event per chunk stored from then on
//! ([`dtfhe_api::feed::ChunkEvent`]: dataset, source, seq, rows, chunk id, the hash of the
//! message its source signed, its ledger entry; never a value), so a follower re-runs its
//! query when new rows land.
//!
//! A caller gets the events of the datasets it may read only: a dataset it names without a
//! grant is refused (403, logged) before the stream starts, and without a list every event
//! is checked against its current grants (a grant withdrawn stops the events). A reader too
//! slow for [`BACKLOG`] events gets one `lagged` event with the count dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dtfhe_api::feed::{ChunkEvent, EVENT_CHUNK, EVENT_LAGGED, FEED_FORMAT};
use dtfhe_api::{Problem, Role};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::responses::{BadRequest, Forbidden, Unauthorized};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};
use crate::state::AppState;

/// Events kept for a subscriber that has not read them yet.
pub const BACKLOG: usize = 1024;
/// Datasets one subscription may name.
pub const MAX_DATASETS: usize = 64;
/// Interval of the keep-alive comments (so proxies and clients see a live connection).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The roles that read chunks (an analyst only those of its grants).
const READERS: &[Role] = &[Role::Analyst, Role::Trustee, Role::Auditor];

/// Query of `GET /v1/feed`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FeedQuery {
    /// Comma-separated datasets (default: every dataset the caller may read).
    pub datasets: Option<String>,
}

/// Whether the registered identity `name` may read `dataset` now.
fn may_read(state: &AppState, name: &str, dataset: &str) -> bool {
    state.identity(name).is_some_and(|r| match r.role {
        Role::Analyst => r.grants(dataset),
        Role::Trustee | Role::Auditor => true,
        _ => false,
    })
}

/// The announcement of a chunk just stored by `source` in `dataset` (with the ledger's
/// size right after its entry), sent to the feed if anyone listens.
pub fn announce(
    state: &AppState,
    dataset: &str,
    source: &str,
    chunk: &dtfhe_model::NewChunk,
    chunk_id: i64,
    ledger_size: u64,
) {
    if state.feed.receiver_count() == 0 {
        return;
    }
    let event = ChunkEvent {
        format: FEED_FORMAT,
        dataset: dataset.to_string(),
        source: source.to_string(),
        seq: chunk.seq,
        rows: chunk.rows,
        chunk_id,
        chunk_hash: blake3::hash(&chunk.message(dataset, source))
            .to_hex()
            .to_string(),
        ledger_index: ledger_size.saturating_sub(1),
    };
    let _ = state.feed.send(Arc::new(event));
}

/// Server-sent events, one per chunk stored, of the datasets the caller may read.
#[utoipa::path(get, path = "/v1/feed", params(FeedQuery),
    responses((status = 200, content_type = "text/event-stream", body = ChunkEvent,
               description = "SSE: `event: chunk` with a ChunkEvent as data; `event: lagged` \
               with the number of events dropped"),
              BadRequest, Unauthorized, Forbidden))]
pub(super) async fn feed(
    q: Result<Query<FeedQuery>, QueryRejection>,
    req: Signed,
) -> ApiResult<Response> {
    let state = req.state.clone();
    req.require(READERS).await?;
    let Query(q) = q.map_err(crate::routes::ledger::query_problem)?;
    let wanted: Option<Vec<String>> = match q.datasets.as_deref() {
        None | Some("") => None,
        Some(list) => {
            let names: Vec<String> = list.split(',').map(str::to_string).collect();
            if names.len() > MAX_DATASETS
                || !names.iter().all(|n| dtfhe_model::names::is_party_name(n))
            {
                return Err(ApiProblem(Problem::bad_request(format!(
                    "datasets: at most {MAX_DATASETS} valid dataset names, comma-separated"
                ))));
            }
            for d in &names {
                if req.caller.role == Role::Analyst {
                    req.require_dataset(READERS, d).await?;
                }
            }
            Some(names)
        }
    };
    let rx = state.feed.subscribe();
    let name = req.caller.name.clone();
    let stream = futures_util::stream::unfold((rx, state), move |(mut rx, state)| {
        let (name, wanted) = (name.clone(), wanted.clone());
        async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) => {
                        let listed = wanted
                            .as_ref()
                            .is_none_or(|w| w.iter().any(|d| d.eq_ignore_ascii_case(&e.dataset)));
                        if !listed || !may_read(&state, &name, &e.dataset) {
                            continue;
                        }
                        Event::default().event(EVENT_CHUNK).data(e.encode())
                    }
                    Err(RecvError::Lagged(n)) => {
                        Event::default().event(EVENT_LAGGED).data(n.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok::<Event, std::convert::Infallible>(event), (rx, state)));
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
