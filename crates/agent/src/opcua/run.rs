//! The OPC UA loop of `dtfhe agent --opcua`: one client session (anonymous; security policy
//! None, or Basic256Sha256 with certificates, [`super::security`]) with one subscription whose monitored items are the mapping's nodes; a
//! notification goes through [`super::rows::Assembler`] into rows, the rows are journalled
//! sealed and their instant recorded, and windows close and upload through [`crate::live`]
//! exactly as for MQTT.
//!
//! Reconnects: the session's event loop retries the server for ever (exponential back-off up
//! to `retry_max`); on every new session (the first, or after the server lost ours: it
//! restarted) the agent creates the subscription and its monitored items afresh, and the
//! server's first notifications (each node's current value) are dropped if their instant was
//! already taken.
//!
//! What an OPC UA server does not give, and so what this agent cannot promise: a server keeps
//! no values for a client that is away, so values the machine produced while the server or the
//! agent was down, or while the connection was being re-made, are not seen (each node's
//! current value is, on resubscription). A value the agent received is taken exactly once: it
//! is journalled before it counts, and the last instant taken survives a restart.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use dtfhe_model::Table;
use opcua::client::{
    ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem, Session, SessionConnectMode,
};
use opcua::types::{
    DataValue, EndpointDescription, MessageSecurityMode, MonitoredItemCreateRequest,
    MonitoringMode, MonitoringParameters, NodeId, ReadValueId, TimestampsToReturn, UserTokenPolicy,
    Variant,
};

use super::map::Mapping;
use super::rows::{Assembler, Outcome, Sample};
use crate::live::{spool_bytes, upload_loop, Closer, UploadNote, Window};
use crate::mqtt::decode::{append, RowChecker};
use crate::mqtt::journal::{Entry, Journal};
use crate::upload::{EdgeAgent, EdgeError, Event};

/// The journal's topic field for OPC UA rows (the node ids are in the mapping).
const ORIGIN: &str = "opcua";

/// How the agent talks to the server and cuts windows.
#[derive(Debug, Clone)]
pub struct OpcuaConfig {
    /// `opc.tcp://host:port[/path]`.
    pub url: String,
    /// A window closes this long after its first row...
    pub window: Duration,
    /// ... or at this many rows (at most the parameter set's slots; `None`: the slots).
    pub window_rows: Option<usize>,
    /// Spooled chunks past this many bytes: warn (a server keeps no values for the agent,
    /// so rows go on being journalled).
    pub spool_max_bytes: u64,
    /// Longest wait between two reconnection attempts.
    pub retry_max: Duration,
}

/// What the OPC UA agent is doing, for the log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OpcuaEvent {
    /// Connected (or reconnected) to the server.
    Connected,
    /// The subscription and its monitored items were created (again).
    Subscribed {
        /// Monitored items created.
        items: usize,
    },
    /// The secured endpoint chosen (before the first connection): policy, mode and the
    /// server certificate's subject and thumbprint.
    Secured {
        /// `Basic256Sha256 SignAndEncrypt, server certificate CN=…, SHA-1 …`.
        summary: String,
    },
    /// The connection dropped; it is retried.
    Disconnected {
        /// Why (a status code, no data).
        reason: String,
    },
    /// A value with a bad or uncertain status: counted, never stored.
    BadQuality {
        /// The node id.
        node: String,
        /// The status.
        status: String,
    },
    /// A value or row refused: counted, never stored.
    Rejected {
        /// The node id or the instant's columns.
        origin: String,
        /// Why (naming the column, never quoting an encrypted value).
        reason: String,
    },
    /// A value of an instant already taken (a reconnect's initial value): dropped.
    Duplicate {
        /// The node id.
        node: String,
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
    /// The spool passed its limit (the platform is away): rows go on being journalled.
    SpoolFull {
        /// Bytes waiting.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
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

impl From<UploadNote> for OpcuaEvent {
    fn from(n: UploadNote) -> Self {
        match n {
            UploadNote::Uploaded { seq } => OpcuaEvent::Uploaded { seq },
            UploadNote::PlatformAway { reason } => OpcuaEvent::PlatformAway { reason },
            UploadNote::Refused { reason } => OpcuaEvent::Refused { reason },
        }
    }
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpcuaStats {
    /// Notifications received (one per node value).
    pub values: u64,
    /// Rows taken (journalled).
    pub rows: u64,
    /// Values with a bad or uncertain status.
    pub bad_quality: u64,
    /// Values or rows refused (unreadable type, out of range, a required column missing).
    pub rejected: u64,
    /// Values of instants already taken, dropped.
    pub duplicates: u64,
    /// Windows closed.
    pub windows: u64,
    /// Chunks uploaded.
    pub uploaded: u64,
}

/// What the client side sends to the loop.
enum Msg {
    Value(usize, Box<DataValue>),
    Event(OpcuaEvent),
}

/// The endpoint URL, checked: `opc.tcp://HOST:PORT[/PATH]`.
fn check_url(url: &str) -> Result<(), EdgeError> {
    let bad = |r: &str| EdgeError::Usage(format!("--opcua {url}: {r}"));
    let rest = url
        .strip_prefix("opc.tcp://")
        .ok_or_else(|| bad("give opc.tcp://HOST:PORT"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty() || host_port.contains('@') {
        return Err(bad("no host (and no user in the URL)"));
    }
    Ok(())
}

/// A good value as the text the schema checker reads; `None`: a type rows cannot hold.
fn value_text(v: &Variant) -> Option<String> {
    Some(match v {
        Variant::Boolean(b) => u8::from(*b).to_string(),
        Variant::SByte(x) => x.to_string(),
        Variant::Byte(x) => x.to_string(),
        Variant::Int16(x) => x.to_string(),
        Variant::UInt16(x) => x.to_string(),
        Variant::Int32(x) => x.to_string(),
        Variant::UInt32(x) => x.to_string(),
        Variant::Int64(x) => x.to_string(),
        Variant::UInt64(x) => x.to_string(),
        Variant::Float(x) if x.is_finite() => x.to_string(),
        Variant::Double(x) if x.is_finite() => x.to_string(),
        Variant::String(s) => s.value().clone()?,
        _ => return None,
    })
}

/// Runs the OPC UA agent until `stop()` is true (then closes the open window and uploads
/// what the platform takes within `drain_for`).
pub fn run(
    agent: &EdgeAgent,
    schema_path: &Path,
    mapping: &Mapping,
    cfg: &OpcuaConfig,
    stop: &(dyn Fn() -> bool + Sync),
    drain_for: Duration,
    events: &mut dyn FnMut(OpcuaEvent),
) -> Result<OpcuaStats, EdgeError> {
    check_url(&cfg.url)?;
    let (schema_text, schema) = crate::upload::read_schema(schema_path)?;
    if schema.lanes.is_some() {
        return Err(EdgeError::Usage(format!(
            "dataset `{}` places rows in per-product lanes: feed it with --csv, not --opcua",
            schema.dataset
        )));
    }
    if mapping.dataset != schema.dataset {
        return Err(EdgeError::Usage(format!(
            "the mapping is for `{}`, the schema for `{}`",
            mapping.dataset, schema.dataset
        )));
    }
    let mut quiet = |_: Event| {};
    let (params, pk) = loop {
        match agent.encryption_key(&mut quiet) {
            Ok(k) => break k,
            Err(EdgeError::Offline { reason, .. }) => {
                events(OpcuaEvent::PlatformAway { reason });
                if stop() {
                    return Ok(OpcuaStats::default());
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    };
    let window_rows = cfg
        .window_rows
        .unwrap_or(params.slots())
        .clamp(1, params.slots());
    let seed = agent.identity().signing_key().to_bytes();
    let mut journal = Journal::open_in(agent.spool().dir(), "opcua", &schema.dataset, &seed)?;
    let last_path = journal.dir().join(format!("{}.last", schema.dataset));
    let stored_last = match std::fs::read(&last_path) {
        Ok(b) => b
            .get(..8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(0),
        Err(_) => 0,
    };
    let checker = RowChecker::new(&schema);
    let lock = Mutex::new(());
    let closer = Closer {
        agent,
        params: &params,
        pk: &pk,
        schema: &schema,
        schema_text: &schema_text,
        lock: &lock,
    };
    let mut stats = OpcuaStats::default();
    let crate::live::Recovered {
        mut open,
        mut next_seq,
        max_tag,
    } = crate::live::recover(&mut journal, &checker, &closer, &mut |seq, rows| {
        events(OpcuaEvent::Window { seq, rows })
    })?;
    let last = stored_last.max(i64::try_from(max_tag).unwrap_or(i64::MAX));
    // An instant not complete after a few publishing intervals is closed as it is.
    let hold = Duration::from_secs_f64(
        (mapping.subscription.publishing_interval_ms * 4.0 / 1000.0).max(1.0),
    );
    let mut assembler = Assembler::new(mapping, &schema, last, hold);

    let (tx, rx) = mpsc::channel::<Msg>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| EdgeError::Usage(format!("cannot start the OPC UA runtime: {e}")))?;
    let pki = agent.spool().dir().join("opcua-pki");
    let builder = ClientBuilder::new()
        .application_name("dtfhe edge agent")
        .application_uri(mapping.security.application_uri())
        .product_uri("urn:dtfhe:agent")
        .create_sample_keypair(false)
        .trust_server_certs(false)
        .pki_dir(&pki)
        .session_retry_limit(-1)
        .session_retry_initial(Duration::from_millis(200))
        .session_retry_max(cfg.retry_max)
        // The client's own re-creation after a server restart left the new subscription without
        // publish requests (async-opcua 0.19 against asyncua): the event loop subscribes
        // afresh on every new session instead.
        .recreate_subscriptions(false);
    let (builder, trusted) = match &mapping.security.0 {
        Some(secured) => secured.configure(builder, &pki)?,
        None => (builder, None),
    };
    let mut client = builder
        .client()
        .map_err(|e| EdgeError::Usage(format!("OPC UA client: {}", e.join("; "))))?;
    let endpoint: EndpointDescription = match &mapping.security.0 {
        None => (
            cfg.url.as_str(),
            "None",
            MessageSecurityMode::None,
            UserTokenPolicy::anonymous(),
        )
            .into(),
        Some(secured) => {
            let mut waiting = |reason| events(OpcuaEvent::Disconnected { reason });
            let probed = super::security::probe_endpoint(
                &runtime,
                &client,
                secured,
                &cfg.url,
                trusted.as_ref(),
                stop,
                &mut waiting,
            )?;
            let Some(e) = probed else {
                return Ok(stats);
            };
            events(OpcuaEvent::Secured {
                summary: super::security::summary(&e),
            });
            e
        }
    };
    let (session, event_loop) = client
        .connect_to_endpoint_directly(endpoint, IdentityToken::Anonymous)
        .map_err(|e| EdgeError::Usage(format!("--opcua {}: {e}", cfg.url)))?;
    let session_done = Arc::new(AtomicBool::new(false));
    {
        let tx = tx.clone();
        let done = session_done.clone();
        let session = session.clone();
        let mapping = mapping.clone();
        runtime.spawn(async move {
            use futures_util::StreamExt as _;
            use opcua::client::SessionPollResult as P;
            let stream = event_loop.enter();
            let mut stream = std::pin::pin!(stream);
            while let Some(r) = stream.next().await {
                let ev = match r {
                    Ok(P::Reconnected(mode)) => {
                        // A new session (the first, or the server lost ours): subscribe
                        // afresh. A reactivated session still has its subscription.
                        if let SessionConnectMode::NewSession(_) = mode {
                            let (s, m, t) = (session.clone(), mapping.clone(), tx.clone());
                            tokio::spawn(async move { subscribe(&s, &m, t).await });
                        }
                        Some(OpcuaEvent::Connected)
                    }
                    Ok(P::ConnectionLost(s)) => Some(OpcuaEvent::Disconnected {
                        reason: s.to_string(),
                    }),
                    Ok(P::ReconnectFailed(s)) => Some(OpcuaEvent::Disconnected {
                        reason: format!("reconnect failed: {s}"),
                    }),
                    Ok(_) => None,
                    Err(s) => Some(OpcuaEvent::Disconnected {
                        reason: format!("session ended: {s}"),
                    }),
                };
                if let Some(ev) = ev {
                    if tx.send(Msg::Event(ev)).is_err() {
                        break;
                    }
                }
            }
            done.store(true, Ordering::Relaxed);
        });
    }

    let done = AtomicBool::new(false);
    let (utx, urx) = mpsc::channel::<OpcuaEvent>();
    let result = std::thread::scope(|scope| -> Result<(), EdgeError> {
        let uploader = scope.spawn(|| upload_loop(agent, &lock, &done, &utx));
        let result = (|| -> Result<(), EdgeError> {
            let mut full = false;
            loop {
                while let Ok(e) = urx.try_recv() {
                    if let OpcuaEvent::Uploaded { .. } = e {
                        stats.uploaded += 1;
                    }
                    events(e);
                }
                let stopping = stop();
                let mut outcomes = Vec::new();
                if stopping {
                    // What already arrived is taken before the last window closes.
                    while let Ok(m) = rx.try_recv() {
                        take(
                            m,
                            &mut assembler,
                            mapping,
                            &mut stats,
                            &mut outcomes,
                            events,
                        );
                    }
                    assembler.flush_all(&mut outcomes);
                } else {
                    let wait = open
                        .as_ref()
                        .map_or(Duration::from_millis(200), |w| {
                            cfg.window.saturating_sub(w.opened.elapsed())
                        })
                        .clamp(Duration::from_millis(1), Duration::from_millis(200));
                    if let Ok(m) = rx.recv_timeout(wait) {
                        take(
                            m,
                            &mut assembler,
                            mapping,
                            &mut stats,
                            &mut outcomes,
                            events,
                        );
                        while outcomes.len() < 4096 {
                            let Ok(m) = rx.try_recv() else { break };
                            take(
                                m,
                                &mut assembler,
                                mapping,
                                &mut stats,
                                &mut outcomes,
                                events,
                            );
                        }
                    }
                    assembler.flush(&mut outcomes);
                }
                let mut rows: Vec<(i64, Table, Vec<Option<String>>)> = Vec::new();
                for o in outcomes {
                    match o {
                        Outcome::Row { ticks, row } => match checker.check(&row, ORIGIN) {
                            Ok(t) => rows.push((ticks, t, row)),
                            Err(e) => {
                                stats.rejected += 1;
                                events(OpcuaEvent::Rejected {
                                    origin: format!("instant {ticks}"),
                                    reason: crate::mqtt::decode::row_reason(&e),
                                });
                            }
                        },
                        Outcome::Bad { node, status } => {
                            stats.bad_quality += 1;
                            events(OpcuaEvent::BadQuality { node, status });
                        }
                        Outcome::Duplicate { node } => {
                            stats.duplicates += 1;
                            events(OpcuaEvent::Duplicate { node });
                        }
                        Outcome::Incomplete { missing } => {
                            stats.rejected += 1;
                            events(OpcuaEvent::Rejected {
                                origin: "an instant".into(),
                                reason: format!("no good value for {}", missing.join(", ")),
                            });
                        }
                    }
                }
                take_rows(
                    rows,
                    &mut journal,
                    &closer,
                    window_rows,
                    &mut next_seq,
                    &mut open,
                    &mut stats,
                    &last_path,
                    assembler.last(),
                    events,
                )?;
                // Close the window when due (or when stopping).
                if let Some(w) = open.take() {
                    if stopping || w.rows >= window_rows || w.opened.elapsed() >= cfg.window {
                        close(&mut journal, &closer, w, &mut stats, events)?;
                    } else {
                        open = Some(w);
                    }
                }
                if stopping {
                    return Ok(());
                }
                let bytes = spool_bytes(agent);
                if bytes > cfg.spool_max_bytes {
                    if !full {
                        full = true;
                        events(OpcuaEvent::SpoolFull {
                            bytes,
                            limit: cfg.spool_max_bytes,
                        });
                    }
                } else {
                    full = false;
                }
                if session_done.load(Ordering::Relaxed) {
                    return Err(EdgeError::Usage(format!(
                        "--opcua {}: the OPC UA session stopped",
                        cfg.url
                    )));
                }
            }
        })();
        let until = Instant::now() + drain_for;
        while result.is_ok() && Instant::now() < until {
            while let Ok(e) = urx.try_recv() {
                if let OpcuaEvent::Uploaded { .. } = e {
                    stats.uploaded += 1;
                }
                events(e);
            }
            if agent.spool().pending().map(|p| p.len()).unwrap_or(0) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        done.store(true, Ordering::Relaxed);
        let _ = uploader.join();
        while let Ok(e) = urx.try_recv() {
            if let OpcuaEvent::Uploaded { .. } = e {
                stats.uploaded += 1;
            }
            events(e);
        }
        result
    });
    let s = session.clone();
    runtime.block_on(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), s.disconnect()).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result.map(|()| stats)
}

/// Creates the subscription and its monitored items once the session is up (the client
/// creates them again by itself after a reconnect to a server that lost them).
async fn subscribe(session: &Arc<Session>, mapping: &Mapping, tx: mpsc::Sender<Msg>) {
    let index: HashMap<NodeId, usize> = mapping
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node.clone(), i))
        .collect();
    loop {
        session.wait_for_connection().await;
        let cb_tx = tx.clone();
        let index = index.clone();
        let callback = DataChangeCallback::new(move |dv: DataValue, item: &MonitoredItem| {
            if let Some(i) = index.get(&item.item_to_monitor().node_id) {
                let _ = cb_tx.send(Msg::Value(*i, Box::new(dv)));
            }
        });
        let sub = session
            .create_subscription(
                Duration::from_secs_f64(mapping.subscription.publishing_interval_ms / 1000.0),
                60,
                10,
                0,
                0,
                true,
                callback,
            )
            .await;
        let id = match sub {
            Ok(id) => id,
            Err(e) => {
                let _ = tx.send(Msg::Event(OpcuaEvent::Disconnected {
                    reason: format!("create subscription: {e}"),
                }));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let items: Vec<MonitoredItemCreateRequest> = mapping
            .nodes
            .iter()
            .map(|n| {
                MonitoredItemCreateRequest::new(
                    ReadValueId::from(n.node.clone()),
                    MonitoringMode::Reporting,
                    MonitoringParameters {
                        sampling_interval: n.sampling_interval_ms,
                        queue_size: mapping.subscription.queue_size,
                        discard_oldest: true,
                        ..MonitoringParameters::default()
                    },
                )
            })
            .collect();
        match session
            .create_monitored_items(id, TimestampsToReturn::Both, items)
            .await
        {
            Ok(created) => {
                for (c, n) in created.iter().zip(&mapping.nodes) {
                    if !c.result.status_code.is_good() {
                        let _ = tx.send(Msg::Event(OpcuaEvent::Rejected {
                            origin: n.text.clone(),
                            reason: format!("cannot monitor: {}", c.result.status_code),
                        }));
                    }
                }
                let _ = tx.send(Msg::Event(OpcuaEvent::Subscribed {
                    items: created.len(),
                }));
                return;
            }
            Err(e) => {
                let _ = tx.send(Msg::Event(OpcuaEvent::Disconnected {
                    reason: format!("create monitored items: {e}"),
                }));
                let _ = session.delete_subscription(id).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One message from the client side: a value into the assembler, an event to the log.
fn take(
    m: Msg,
    assembler: &mut Assembler,
    mapping: &Mapping,
    stats: &mut OpcuaStats,
    out: &mut Vec<Outcome>,
    events: &mut dyn FnMut(OpcuaEvent),
) {
    let (i, dv) = match m {
        Msg::Event(e) => return events(e),
        Msg::Value(i, dv) => (i, dv),
    };
    stats.values += 1;
    let node = &mapping.nodes[i].text;
    let Some(ts) = dv.source_timestamp.or(dv.server_timestamp) else {
        stats.rejected += 1;
        return events(OpcuaEvent::Rejected {
            origin: node.clone(),
            reason: "a value without a timestamp".into(),
        });
    };
    let status = dv.status.unwrap_or_default();
    let sample = if !status.is_good() {
        Sample::Bad(status.to_string())
    } else {
        match dv.value.as_ref().and_then(value_text) {
            Some(t) => Sample::Good(t),
            None => {
                stats.rejected += 1;
                return events(OpcuaEvent::Rejected {
                    origin: node.clone(),
                    reason: "a value of a type the schema cannot hold (or none)".into(),
                });
            }
        }
    };
    assembler.offer(i, ts.ticks(), sample, out);
}

fn close(
    journal: &mut Journal,
    closer: &Closer<'_>,
    w: Window,
    stats: &mut OpcuaStats,
    events: &mut dyn FnMut(OpcuaEvent),
) -> Result<(), EdgeError> {
    match &w.table {
        Some(t) => {
            closer.close(journal, w.seq, &w.entries, t)?;
            stats.windows += 1;
            events(OpcuaEvent::Window {
                seq: w.seq,
                rows: w.rows,
            });
        }
        None => journal.finish(w.seq, &w.entries)?,
    }
    Ok(())
}

/// Journals checked rows into the open window (one fsync per window touched), closing full
/// windows, then records the last instant taken.
#[allow(clippy::too_many_arguments)]
fn take_rows(
    rows: Vec<(i64, Table, Vec<Option<String>>)>,
    journal: &mut Journal,
    closer: &Closer<'_>,
    window_rows: usize,
    next_seq: &mut u64,
    open: &mut Option<Window>,
    stats: &mut OpcuaStats,
    last_path: &Path,
    last: i64,
    events: &mut dyn FnMut(OpcuaEvent),
) -> Result<(), EdgeError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut pending: Vec<Entry> = Vec::new();
    for (ticks, table, raw) in rows {
        if open.as_ref().is_some_and(|w| w.rows + 1 > window_rows) {
            if let Some(mut w) = open.take() {
                journal.append(&mut w.file, &pending)?;
                w.entries.append(&mut pending);
                close(journal, closer, w, stats, events)?;
            }
        }
        if open.is_none() {
            let seq = *next_seq;
            *next_seq += 1;
            closer
                .agent
                .spool()
                .set_last_seq(&closer.schema.dataset, seq)?;
            *open = Some(Window {
                seq,
                file: journal.window(seq)?,
                entries: Vec::new(),
                table: None,
                rows: 0,
                opened: Instant::now(),
            });
        }
        let Some(w) = open.as_mut() else { continue };
        w.rows += table.rows;
        stats.rows += table.rows as u64;
        match &mut w.table {
            Some(acc) => append(acc, table),
            None => w.table = Some(table),
        }
        pending.push(Entry {
            pkid: 0,
            tag: u64::try_from(ticks).unwrap_or(0).max(1),
            topic: ORIGIN.to_string(),
            rows: vec![raw],
        });
    }
    if let Some(w) = open.as_mut() {
        journal.append(&mut w.file, &pending)?;
        w.entries.append(&mut pending);
    }
    crate::spool::write_atomic(last_path, &last.to_le_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_values() {
        assert!(check_url("opc.tcp://127.0.0.1:4840").is_ok());
        assert!(check_url("opc.tcp://plc/path").is_ok());
        for bad in ["http://x", "opc.tcp://", "opc.tcp://u@x:1"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            value_text(&Variant::Double(41.23)).as_deref(),
            Some("41.23")
        );
        assert_eq!(value_text(&Variant::Boolean(true)).as_deref(), Some("1"));
        assert_eq!(value_text(&Variant::Double(f64::NAN)), None);
    }
}
