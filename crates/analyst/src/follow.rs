//! `dtfhe query --follow` (and the networked dashboard's live views): a query run again
//! each time new chunks of its datasets land on the platform, told by the platform's chunk
//! feed ([`dtfhe_api::feed`]) instead of polling.
//!
//! The feed is opened before the first run, so a chunk stored while a query runs is never
//! missed (it triggers one more run). Chunks arriving close together (an agent uploading a
//! file of several chunks) are gathered for [`Follow::quiet`] and answered by one run. Each
//! run goes through the whole release pipeline again: a run the trustees refuse is reported
//! as that refusal, never as the previous numbers.

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::Duration;

use dtfhe_api::feed::{ChunkEvent, Feed, FeedMessage};
use dtfhe_api::ApiError;

use crate::net::{api_error, RemoteQueryOptions};
use crate::AnalystError;

/// What woke a follower: the chunks stored since the last run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trigger {
    /// The chunks announced (empty before the first run).
    pub chunks: Vec<ChunkEvent>,
    /// Events were dropped for this slow reader: anything may have changed.
    pub lagged: bool,
}

impl std::fmt::Display for Trigger {
    /// `3 new chunks (ai4i from plant-a seq 4..6, 300 rows)`: what a follower prints before
    /// a run.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: u64 = self.chunks.iter().map(|c| u64::from(c.rows)).sum();
        let mut names: Vec<String> = self
            .chunks
            .iter()
            .map(|c| format!("{} from {} seq {}", c.dataset, c.source, c.seq))
            .collect();
        if names.len() > 4 {
            let more = names.len() - 3;
            names.truncate(3);
            names.push(format!("{more} more"));
        }
        write!(
            f,
            "{} new chunk{} ({}; {rows} rows)",
            self.chunks.len(),
            if self.chunks.len() == 1 { "" } else { "s" },
            names.join(", ")
        )?;
        if self.lagged {
            write!(f, "; some announcements were dropped")?;
        }
        Ok(())
    }
}

/// A follower's settings.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The query.
    pub query: RemoteQueryOptions,
    /// How long to wait for more chunks after one arrives before running again.
    pub quiet: Duration,
}

/// The datasets a query reads, as the feed is asked for them (empty when the SQL does not
/// parse: the run reports why).
pub fn datasets_of(sql: &str) -> Vec<String> {
    dtfhe_engine::limits::parse(sql)
        .map(|p| p.datasets())
        .unwrap_or_default()
}

/// Opens the chunk feed of `datasets` as the identity in `identity` at `server`.
pub fn open_feed(
    server: &str,
    identity: &std::path::Path,
    datasets: &[String],
) -> Result<Feed, AnalystError> {
    let (client, _) = crate::net::connect(server, identity, Duration::from_secs(60))?;
    client.feed(datasets).map_err(api_error)
}

/// Reads `feed` on a thread of its own; its messages arrive on the returned channel (which
/// closes when the feed ends).
pub fn spawn_reader(feed: Feed) -> mpsc::Receiver<Result<FeedMessage, ApiError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for m in feed {
            if tx.send(m).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the next chunks on `rx`: blocks for the first message, then gathers more
/// until none arrives for `quiet`. An error, or the feed's end, is the platform's.
pub fn next_trigger(
    rx: &mpsc::Receiver<Result<FeedMessage, ApiError>>,
    quiet: Duration,
) -> Result<Trigger, AnalystError> {
    let mut t = Trigger::default();
    let mut add = |m: Result<FeedMessage, ApiError>| -> Result<(), AnalystError> {
        match m.map_err(api_error)? {
            FeedMessage::Chunk(e) => t.chunks.push(e),
            FeedMessage::Lagged(_) => t.lagged = true,
        }
        Ok(())
    };
    let closed = || AnalystError::Platform("the platform closed the chunk feed".into());
    add(rx.recv().map_err(|_| closed())?)?;
    loop {
        match rx.recv_timeout(quiet) {
            Ok(m) => add(m)?,
            Err(mpsc::RecvTimeoutError::Timeout) => return Ok(t),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(closed()),
        }
    }
}

/// Runs the query now and again after each [`Trigger`], handing every run's result to
/// `each` until it breaks. Fails when the feed cannot be opened (403: the identity may not
/// read a dataset of the query) or ends.
pub fn follow(
    f: &Follow,
    mut each: impl FnMut(&Trigger, Result<dtfhe_release::QueryReport, AnalystError>) -> ControlFlow<()>,
) -> Result<(), AnalystError> {
    let q = &f.query;
    let rx = spawn_reader(open_feed(&q.server, &q.identity, &datasets_of(&q.sql))?);
    let mut trigger = Trigger::default();
    loop {
        if each(&trigger, crate::net::query(q)).is_break() {
            return Ok(());
        }
        trigger = next_trigger(&rx, f.quiet)?;
    }
}
