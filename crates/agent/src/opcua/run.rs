//! The OPC UA loop of `dtfhe agent --opcua`: one client session (anonymous; security policy
//! None, or Basic256Sha256 with certificates, [`super::security`]) with one subscription
//! whose monitored items are the mapping's nodes; a notification goes through
//! [`super::rows::Assembler`] into rows, the rows are journalled sealed and their instant
//! recorded, and windows close and upload through [`crate::live`] exactly as for MQTT.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

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
use crate::live::driver::{drive, prepare, Windows};
use crate::live::{LiveEvent, LiveRun, LiveStats};
use crate::mqtt::decode::RowChecker;
use crate::mqtt::journal::Entry;
use crate::upload::EdgeError;

/// The journal's topic field for OPC UA rows (the node ids are in the mapping).
const ORIGIN: &str = "opcua";

/// How the agent talks to the server and cuts windows.
#[derive(Debug, Clone)]
pub struct OpcuaConfig {
    /// `opc.tcp://host:port[/path]`.
    pub url: String,
    /// Longest wait between two reconnection attempts.
    pub retry_max: Duration,
}

/// What the client side sends to the loop.
enum Msg {
    Value(usize, Box<DataValue>),
    Event(LiveEvent),
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

/// Runs the OPC UA agent until `run.stop` says so (then closes the open window and uploads
/// what the platform takes within `run.drain_for`).
pub fn run(
    run: &LiveRun<'_>,
    mapping: &Mapping,
    cfg: &OpcuaConfig,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<LiveStats, EdgeError> {
    check_url(&cfg.url)?;
    let Some((setup, journal)) = prepare(run, &mapping.dataset, "opcua", events)? else {
        return Ok(LiveStats::default());
    };
    let last_path = journal.dir().join(format!("{}.last", setup.schema.dataset));
    let stored_last = match std::fs::read(&last_path) {
        Ok(b) => b
            .get(..8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(0),
        Err(_) => 0,
    };
    let (windows, max_tag) = Windows::recover(journal, &setup, run, events)?;
    let last = stored_last.max(i64::try_from(max_tag).unwrap_or(i64::MAX));
    // An instant not complete after a few publishing intervals is closed as it is.
    let hold = Duration::from_secs_f64(
        (mapping.subscription.publishing_interval_ms * 4.0 / 1000.0).max(1.0),
    );
    let mut assembler = Assembler::new(mapping, &setup.schema, last, hold);

    let (tx, rx) = mpsc::channel::<Msg>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| EdgeError::Usage(format!("cannot start the OPC UA runtime: {e}")))?;
    let Some(session) = connect(run, cfg, mapping, &runtime, tx, events)? else {
        return Ok(LiveStats::default());
    };
    let result = drive(run, &setup, windows, events, |t| {
        // A full spool only warns ([`drive`]): a server keeps no values for the agent.
        let mut outcomes = Vec::new();
        let mut take_one = |m: Msg, outcomes: &mut Vec<Outcome>| {
            take(m, &mut assembler, mapping, t.stats, outcomes, t.events)
        };
        if t.stopping {
            // What already arrived is taken before the last window closes.
            while let Ok(m) = rx.try_recv() {
                take_one(m, &mut outcomes);
            }
            assembler.flush_all(&mut outcomes);
        } else {
            if let Ok(m) = rx.recv_timeout(t.windows.wait()) {
                take_one(m, &mut outcomes);
                while outcomes.len() < 4096 {
                    let Ok(m) = rx.try_recv() else { break };
                    take_one(m, &mut outcomes);
                }
            }
            assembler.flush(&mut outcomes);
        }
        let rows = checked_rows(outcomes, &setup.checker, t.stats, t.events);
        if !rows.is_empty() {
            let mut pending: Vec<Entry> = Vec::new();
            for (ticks, table, raw) in rows {
                let entry = Entry {
                    pkid: 0,
                    tag: u64::try_from(ticks).unwrap_or(0).max(1),
                    topic: ORIGIN.to_string(),
                    rows: vec![raw],
                };
                t.windows
                    .add(table, entry, &mut pending, t.stats, t.events)?;
            }
            t.windows.commit(&mut pending)?;
            crate::spool::write_atomic(&last_path, &assembler.last().to_le_bytes())?;
        }
        if !t.stopping && session.done.load(Ordering::Relaxed) {
            return Err(EdgeError::Usage(format!(
                "--opcua {}: the OPC UA session stopped",
                cfg.url
            )));
        }
        Ok(())
    });
    let s = session.session.clone();
    runtime.block_on(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), s.disconnect()).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The client session, and whether its event loop has ended.
struct Connected {
    session: Arc<Session>,
    done: Arc<AtomicBool>,
}

/// Makes the client (anonymous; the mapping's security, [`super::security`]; its PKI
/// directory in the spool) and starts its session's event loop on `runtime`: connection
/// changes go to `tx` as events, and every new session subscribes afresh ([`subscribe`]).
/// A secured client first asks the server for its endpoints (until `run.stop`: `None`).
fn connect(
    run: &LiveRun<'_>,
    cfg: &OpcuaConfig,
    mapping: &Mapping,
    runtime: &tokio::runtime::Runtime,
    tx: mpsc::Sender<Msg>,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<Option<Connected>, EdgeError> {
    let pki = run.agent.spool().dir().join("opcua-pki");
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
            let mut waiting = |reason| events(LiveEvent::Disconnected { reason });
            let probed = super::security::probe_endpoint(
                runtime,
                &client,
                secured,
                &cfg.url,
                trusted.as_ref(),
                run.stop,
                &mut waiting,
            )?;
            let Some(e) = probed else {
                return Ok(None);
            };
            events(LiveEvent::Secured {
                summary: super::security::summary(&e),
            });
            e
        }
    };
    let (session, event_loop) = client
        .connect_to_endpoint_directly(endpoint, IdentityToken::Anonymous)
        .map_err(|e| EdgeError::Usage(format!("--opcua {}: {e}", cfg.url)))?;
    let done = Arc::new(AtomicBool::new(false));
    let connected = Connected {
        session: session.clone(),
        done: done.clone(),
    };
    let mapping = mapping.clone();
    runtime.spawn(async move {
        use futures_util::StreamExt as _;
        use opcua::client::SessionPollResult as P;
        let stream = event_loop.enter();
        let mut stream = std::pin::pin!(stream);
        while let Some(r) = stream.next().await {
            let ev = match r {
                Ok(P::Reconnected(mode)) => {
                    // A new session (the first, or the server lost ours): subscribe afresh.
                    // A reactivated session still has its subscription.
                    if let SessionConnectMode::NewSession(_) = mode {
                        let (s, m, t) = (session.clone(), mapping.clone(), tx.clone());
                        tokio::spawn(async move { subscribe(&s, &m, t).await });
                    }
                    Some(LiveEvent::Connected { resumed: false })
                }
                Ok(P::ConnectionLost(s)) => Some(LiveEvent::Disconnected {
                    reason: s.to_string(),
                }),
                Ok(P::ReconnectFailed(s)) => Some(LiveEvent::Disconnected {
                    reason: format!("reconnect failed: {s}"),
                }),
                Ok(_) => None,
                Err(s) => Some(LiveEvent::Disconnected {
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
    Ok(Some(connected))
}

/// The subscription's lifetime and keep-alive counts, in publishing intervals: the server
/// keeps the subscription through at least a minute without a publish request from the agent
/// (a busy edge box can starve the client's loop for seconds; an expired subscription drops
/// values until it is made again), and a keep-alive comes at least every 10 intervals. The
/// lifetime is at least 3 keep-alives, as OPC UA requires.
fn subscription_counts(publishing_interval_ms: f64) -> (u32, u32) {
    let keep_alive = 10;
    let per_minute = (60_000.0 / publishing_interval_ms.max(1.0)).ceil();
    let lifetime = per_minute.clamp(f64::from(3 * keep_alive), 100_000.0) as u32;
    (lifetime, keep_alive)
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
        let (lifetime, keep_alive) =
            subscription_counts(mapping.subscription.publishing_interval_ms);
        let sub = session
            .create_subscription(
                Duration::from_secs_f64(mapping.subscription.publishing_interval_ms / 1000.0),
                lifetime,
                keep_alive,
                0,
                0,
                true,
                callback,
            )
            .await;
        let id = match sub {
            Ok(id) => id,
            Err(e) => {
                let _ = tx.send(Msg::Event(LiveEvent::Disconnected {
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
                        let _ = tx.send(Msg::Event(LiveEvent::Rejected {
                            origin: format!("node `{}`", n.text),
                            reason: format!("cannot monitor: {}", c.result.status_code),
                        }));
                    }
                }
                let _ = tx.send(Msg::Event(LiveEvent::Subscribed {
                    items: created.len(),
                }));
                return;
            }
            Err(e) => {
                let _ = tx.send(Msg::Event(LiveEvent::Disconnected {
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
    stats: &mut LiveStats,
    out: &mut Vec<Outcome>,
    events: &mut dyn FnMut(LiveEvent),
) {
    let (i, dv) = match m {
        Msg::Event(e) => return events(e),
        Msg::Value(i, dv) => (i, dv),
    };
    stats.received += 1;
    let node = &mapping.nodes[i].text;
    let Some(ts) = dv.source_timestamp.or(dv.server_timestamp) else {
        stats.rejected += 1;
        return events(LiveEvent::Rejected {
            origin: format!("a value of `{node}`"),
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
                return events(LiveEvent::Rejected {
                    origin: format!("a value of `{node}`"),
                    reason: "a value of a type the schema cannot hold (or none)".into(),
                });
            }
        }
    };
    assembler.offer(i, ts.ticks(), sample, out);
}

/// The assembler's outcomes: rows checked against the schema (with their instant, table and
/// raw values), everything else counted and reported.
#[allow(clippy::type_complexity)]
fn checked_rows(
    outcomes: Vec<Outcome>,
    checker: &RowChecker,
    stats: &mut LiveStats,
    events: &mut dyn FnMut(LiveEvent),
) -> Vec<(i64, Table, Vec<Option<String>>)> {
    let mut rows = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Row { ticks, row } => match checker.check(&row, ORIGIN) {
                Ok(t) => rows.push((ticks, t, row)),
                Err(e) => {
                    stats.rejected += 1;
                    events(LiveEvent::Rejected {
                        origin: format!("the row of instant {ticks}"),
                        reason: crate::mqtt::decode::row_reason(&e),
                    });
                }
            },
            Outcome::Bad { node, status } => {
                stats.bad_quality += 1;
                events(LiveEvent::BadQuality { node, status });
            }
            Outcome::Duplicate { node } => {
                stats.duplicates += 1;
                events(LiveEvent::Duplicate {
                    origin: format!("a value of `{node}` already taken"),
                });
            }
            Outcome::Incomplete { missing } => {
                stats.rejected += 1;
                events(LiveEvent::Rejected {
                    origin: "an instant".into(),
                    reason: format!("no good value for {}", missing.join(", ")),
                });
            }
        }
    }
    rows
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

    #[test]
    fn a_subscription_outlives_a_minute_without_publish_requests() {
        for interval in [10.0, 50.0, 200.0, 500.0, 1000.0, 60_000.0] {
            let (lifetime, keep_alive) = subscription_counts(interval);
            assert!(f64::from(lifetime) * interval >= 60_000.0, "{interval}");
            assert!(lifetime >= 3 * keep_alive, "{interval}");
        }
        assert_eq!(subscription_counts(50.0), (1200, 10));
    }
}
