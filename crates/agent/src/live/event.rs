//! What a live source (MQTT, OPC UA) is told to do and what it reports: one window
//! configuration, one event type for the log and one set of counts, so the CLI, the bench and
//! the tests read every source the same way.

use std::path::Path;
use std::time::Duration;

use crate::upload::EdgeAgent;

/// One run of a live source: the agent that encrypts and uploads, the dataset's schema, the
/// windows, and when to stop.
pub struct LiveRun<'a> {
    /// The edge agent (identity, spool, platform).
    pub agent: &'a EdgeAgent,
    /// The dataset's schema file.
    pub schema_path: &'a Path,
    /// Windows and the spool's limit.
    pub live: LiveConfig,
    /// The run ends once this is true (the open window is closed first).
    pub stop: &'a (dyn Fn() -> bool + Sync),
    /// At the stop, how long to go on uploading closed windows.
    pub drain_for: Duration,
}

/// How a live source cuts windows and how much the spool may hold.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// A window closes this long after its first row...
    pub window: Duration,
    /// ... or at this many rows (at most the parameter set's slots; `None`: the slots).
    pub window_rows: Option<usize>,
    /// Spooled chunks past this many bytes: warn (MQTT also stops taking messages, which then
    /// wait at the broker; an OPC UA server keeps nothing, so rows go on being journalled).
    pub spool_max_bytes: u64,
}

/// What a live source is doing, for the log. No variant holds a value of an encrypted column.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LiveEvent {
    /// Connected (or reconnected) to the broker or server.
    Connected {
        /// Whether the peer still had the agent's session (MQTT persistent session).
        resumed: bool,
    },
    /// The subscription and its monitored items were created (again) (OPC UA).
    Subscribed {
        /// Monitored items created.
        items: usize,
    },
    /// The secured endpoint chosen before the first connection (OPC UA, [`crate::opcua::security`]):
    /// policy, mode, and the server certificate's subject and thumbprint.
    Secured {
        /// `Basic256Sha256 SignAndEncrypt, server certificate CN=…, SHA-1 …`.
        summary: String,
    },
    /// The connection dropped; it is retried.
    Disconnected {
        /// Why (no data).
        reason: String,
    },
    /// A value with a bad or uncertain status: counted, never stored (OPC UA).
    BadQuality {
        /// The node id.
        node: String,
        /// The status.
        status: String,
    },
    /// A message, value or row was refused: counted, never stored.
    Rejected {
        /// What was refused, as a phrase naming its topic, node or instant.
        origin: String,
        /// Why (naming the column, never quoting an encrypted value).
        reason: String,
    },
    /// A message or value already taken (a redelivery, a reconnect's initial value): dropped.
    Duplicate {
        /// What was dropped, as a phrase naming its topic or node.
        origin: String,
    },
    /// A window was closed into a spooled chunk.
    Window {
        /// Its seq.
        seq: u64,
        /// Its rows.
        rows: usize,
    },
    /// A chunk reached the platform.
    Uploaded {
        /// Its seq.
        seq: u64,
    },
    /// The spool passed its limit: the platform is not taking chunks.
    SpoolFull {
        /// Bytes waiting.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The spool is below its limit again.
    SpoolResumed,
    /// The platform is unreachable: chunks wait in the spool.
    PlatformAway {
        /// Why.
        reason: String,
    },
    /// A chunk refused by the platform (kept in the spool's `rejected/`).
    Refused {
        /// What the platform said.
        reason: String,
    },
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Messages (MQTT) or node values (OPC UA) received.
    pub received: u64,
    /// Rows taken (journalled).
    pub rows: u64,
    /// Values with a bad or uncertain status (OPC UA).
    pub bad_quality: u64,
    /// Messages, values or rows refused (malformed, out of range, unmapped, incomplete).
    pub rejected: u64,
    /// Redeliveries and values of instants already taken, dropped.
    pub duplicates: u64,
    /// Windows closed.
    pub windows: u64,
    /// Chunks uploaded.
    pub uploaded: u64,
}

impl LiveStats {
    /// Counts `event` where it is one the counts follow (an upload).
    pub(crate) fn count(&mut self, event: &LiveEvent) {
        if let LiveEvent::Uploaded { .. } = event {
            self.uploaded += 1;
        }
    }
}
