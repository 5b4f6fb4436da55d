//! The platform's chunk feed (`GET /v1/feed`): server-sent events, one per chunk stored,
//! so a follower (`dtfhe query --follow`, the dashboard's live views) re-runs its query
//! when new rows land instead of polling the chunk listings.
//!
//! An event names the chunk (dataset, source, seq, rows, id, the blake3 hash of the message
//! its source signed, the ledger entry recording it) and never a value: the data of an
//! encrypted column does not leave the store through the feed, and the public columns stay
//! in the signed listings. The server sends a caller the chunks of the datasets it may
//! read only; `lagged` says events were dropped for a slow reader (the follower then
//! treats every dataset as changed).
//!
//! The feed is outside bytes to its client: lines are read with a length limit, events are
//! parsed strictly ([`decode_message`], property-tested against arbitrary input), and an
//! unknown event name is skipped, as the SSE standard asks.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ApiError, Client};

/// The route of the feed.
pub const FEED_PATH: &str = "/v1/feed";
/// Format version of [`ChunkEvent`] (its `format` field).
pub const FEED_FORMAT: u8 = 1;
/// SSE event name of a stored chunk.
pub const EVENT_CHUNK: &str = "chunk";
/// SSE event name of dropped events (data: how many).
pub const EVENT_LAGGED: &str = "lagged";
/// Longest feed line the client accepts (an event is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// One stored chunk, as the feed announces it: where it is and what recorded it, never a
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkEvent {
    /// [`FEED_FORMAT`].
    pub format: u8,
    /// The dataset the chunk belongs to.
    pub dataset: String,
    /// The source that signed and uploaded it.
    pub source: String,
    /// Its position in the source's sequence for the dataset.
    pub seq: u64,
    /// Rows it holds.
    pub rows: u32,
    /// The platform's chunk id (as in `GET /v1/datasets/{name}/chunks`).
    pub chunk_id: i64,
    /// blake3 of the chunk message its source signed (dataset, source, seq, rows, hashes of
    /// the public bytes and of every ciphertext part), 64 hex digits.
    pub chunk_hash: String,
    /// Sequence number of the ledger entry recording the chunk (`chunk_appended`).
    pub ledger_index: u64,
}

/// One message of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedMessage {
    /// A chunk was stored.
    Chunk(ChunkEvent),
    /// This many events were dropped for a slow reader: assume anything changed.
    Lagged(u64),
}

/// Why a feed message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The event's data is not a chunk event of this format.
    #[error("feed event `{event}`: {reason}")]
    Malformed {
        /// The SSE event name.
        event: String,
        /// What is wrong.
        reason: String,
    },
}

fn malformed(event: &str, reason: impl Into<String>) -> FeedError {
    FeedError::Malformed {
        event: event.chars().take(32).collect(),
        reason: reason.into(),
    }
}

impl ChunkEvent {
    /// The event's SSE data (one line of JSON).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and checks one event's data: the format version, the names (dataset and
    /// source are party names), the hash (64 hex digits).
    pub fn decode(data: &str) -> Result<ChunkEvent, FeedError> {
        let e: ChunkEvent = serde_json::from_str(data)
            .map_err(|err| malformed(EVENT_CHUNK, format!("not a chunk event: {err}")))?;
        if e.format != FEED_FORMAT {
            return Err(malformed(
                EVENT_CHUNK,
                format!(
                    "format version {} (this client reads {FEED_FORMAT})",
                    e.format
                ),
            ));
        }
        for (what, name) in [("dataset", &e.dataset), ("source", &e.source)] {
            if !dtfhe_model::names::is_party_name(name) {
                return Err(malformed(
                    EVENT_CHUNK,
                    format!("{what} is not a valid name"),
                ));
            }
        }
        if e.chunk_hash.len() != 64 || !e.chunk_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed(EVENT_CHUNK, "chunk_hash is not 64 hex digits"));
        }
        Ok(e)
    }
}

/// One SSE event's name and data (`Ok(None)`: an event this client does not know, skipped).
pub fn decode_message(event: &str, data: &str) -> Result<Option<FeedMessage>, FeedError> {
    match event {
        EVENT_CHUNK => ChunkEvent::decode(data).map(|e| Some(FeedMessage::Chunk(e))),
        EVENT_LAGGED => data
            .parse::<u64>()
            .map(|n| Some(FeedMessage::Lagged(n)))
            .map_err(|_| malformed(EVENT_LAGGED, "the count is not a number")),
        _ => Ok(None),
    }
}

/// Assembles SSE lines into events (name, data): `event:` and `data:` fields, a blank line
/// dispatches, comments (`:`) and other fields are ignored.
#[derive(Debug, Default)]
pub struct SseParser {
    event: String,
    data: Vec<String>,
}

impl SseParser {
    /// Takes one line (without its line end); returns the event it completes, if any.
    pub fn line(&mut self, line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            let event = std::mem::take(&mut self.event);
            if data.is_empty() {
                return None;
            }
            let name = if event.is_empty() {
                "message".to_string()
            } else {
                event
            };
            return Some((name, data.join("\n")));
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
        None
    }
}

/// An open feed: an iterator of messages that blocks until the next one arrives. It ends
/// (`None`) when the server closes the stream; a broken connection or a malformed event is
/// an error item, after which the feed ends.
pub struct Feed {
    url: String,
    reader: BufReader<Box<dyn Read + Send>>,
    parser: SseParser,
    done: bool,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("url", &self.url).finish()
    }
}

impl Feed {
    /// The next line (without its line end), `None` at the end of the stream.
    fn next_line(&mut self) -> Result<Option<String>, ApiError> {
        let mut buf = Vec::new();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| ApiError::Transport {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(self.bad(format!("a feed line is longer than {MAX_LINE_BYTES} bytes")));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| self.bad("a feed line is not UTF-8".into()))
    }

    fn bad(&self, reason: String) -> ApiError {
        ApiError::BadResponse {
            url: self.url.clone(),
            reason,
        }
    }
}

impl Iterator for Feed {
    type Item = Result<FeedMessage, ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let Some((event, data)) = self.parser.line(&line) else {
                continue;
            };
            match decode_message(&event, &data) {
                Ok(Some(m)) => return Some(Ok(m)),
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.bad(e.to_string())));
                }
            }
        }
        None
    }
}

/// The query string of a feed request for `datasets` (empty: every dataset the caller may
/// read).
pub fn feed_path(datasets: &[String]) -> String {
    if datasets.is_empty() {
        FEED_PATH.to_string()
    } else {
        format!("{FEED_PATH}?datasets={}", datasets.join(","))
    }
}

impl Client {
    /// Opens the chunk feed for `datasets` (empty: all the identity may read). A dataset
    /// the identity may not read is refused (403) before any event is sent. The stream has
    /// no overall deadline; a read waits at most 45 s (the server sends a keep-alive comment
    /// every 15 s), so a platform gone silent ends the feed with an error.
    pub fn feed(&self, datasets: &[String]) -> Result<Feed, ApiError> {
        let path = feed_path(datasets);
        let (url, request) = self.signed("GET", &path, None, "text/event-stream")?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(45)))
            .build()
            .into();
        let transport = |e: ureq::Error| ApiError::Transport {
            url: url.clone(),
            reason: e.to_string(),
        };
        let response = agent.run(request).map_err(transport)?;
        let status = response.status().as_u16();
        let (_, body) = response.into_parts();
        if !(200..300).contains(&status) {
            let text = body
                .into_with_config()
                .limit(64 * 1024)
                .read_to_vec()
                .unwrap_or_default();
            return Err(crate::client::problem_of(url, status, &text));
        }
        let reader: Box<dyn Read + Send> = Box::new(body.into_reader());
        Ok(Feed {
            url,
            reader: BufReader::new(reader),
            parser: SseParser::default(),
            done: false,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> ChunkEvent {
        ChunkEvent {
            format: FEED_FORMAT,
            dataset: "ai4i".into(),
            source: "plant-a".into(),
            seq: 3,
            rows: 100,
            chunk_id: 7,
            chunk_hash: "ab".repeat(32),
            ledger_index: 42,
        }
    }

    fn feed_of(bytes: Vec<u8>) -> Feed {
        Feed {
            url: "test".into(),
            reader: BufReader::new(Box::new(std::io::Cursor::new(bytes))),
            parser: SseParser::default(),
            done: false,
        }
    }

    #[test]
    fn a_stream_of_events_keepalives_and_unknown_events_reads_back() {
        let e = event();
        let text = format!(
            ": keep-alive\n\nevent: hello\ndata: x\n\nevent: chunk\ndata: {}\n\nevent: lagged\r\ndata: 4\r\n\r\n",
            e.encode()
        );
        let got: Vec<_> = feed_of(text.into_bytes()).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap(), &FeedMessage::Chunk(e));
        assert_eq!(got[1].as_ref().unwrap(), &FeedMessage::Lagged(4));
    }

    #[test]
    fn bad_events_are_errors_naming_what() {
        let mut e = event();
        e.format = 2;
        let err = decode_message(EVENT_CHUNK, &e.encode()).unwrap_err();
        assert!(err.to_string().contains("format version 2"), "{err}");
        let mut e = event();
        e.chunk_hash = "zz".into();
        let err = decode_message(EVENT_CHUNK, &e.encode()).unwrap_err();
        assert!(err.to_string().contains("chunk_hash"), "{err}");
        let text = event().encode().replace("\"rows\"", "\"value\":1,\"rows\"");
        assert!(decode_message(EVENT_CHUNK, &text).is_err(), "unknown field");
        assert!(decode_message(EVENT_LAGGED, "-1").is_err());
        let long = vec![b'a'; MAX_LINE_BYTES + 10];
        let got: Vec<_> = feed_of(long).collect();
        assert!(matches!(
            got.as_slice(),
            [Err(ApiError::BadResponse { .. })]
        ));
    }

    proptest! {
        #[test]
        fn hostile_feed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            for m in feed_of(bytes).take(64) {
                if let Ok(FeedMessage::Chunk(e)) = m {
                    prop_assert_eq!(e.format, FEED_FORMAT);
                }
            }
        }

        #[test]
        fn hostile_event_data_never_panics(event in "chunk|lagged|[a-z]{0,6}", data in ".{0,400}") {
            let _ = decode_message(&event, &data);
        }
    }
}
