//! The MQTT loop of `dtfhe agent --mqtt`: subscribe (persistent session, manual
//! acknowledgements), read each message through the mapping, journal its rows sealed
//! ([`super::journal`]) and only then acknowledge it; close a window every `window` or
//! `window_rows` rows, whichever first, into one encrypted, signed chunk in the spool; an
//! uploader thread sends closed windows to the platform in seq order.
//!
//! Nothing is lost or taken twice across broker, platform or agent outages:
//! - a message is acknowledged only once its rows are durable in the journal, so a broker or
//!   agent that goes away redelivers what was not acknowledged (QoS 1, persistent session);
//! - a redelivery (DUP flag) whose packet id and keyed tag match a message already taken is
//!   acknowledged and dropped (the broker cannot reuse a packet id before its acknowledgement);
//! - a window's chunk gets its seq when the window opens, is spooled before its journal is
//!   removed, and the platform stores each seq once;
//! - while the platform is away chunks wait in the spool; past `spool_max_bytes` the agent
//!   warns and stops taking messages, so they wait at the broker instead of being dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use dtfhe_model::Table;
use rumqttc::{Client, Event as MqEvent, MqttOptions, Packet, QoS};

use super::decode::{append, decode, row_reason, Decoded, RowChecker, MAX_ROWS_PER_MESSAGE};
use super::journal::{Entry, Journal};
use super::map::Mapping;
use super::sparkplug::{BirthState, BIRTH_STATE_VERSION};
use crate::live::{spool_bytes, upload_loop, Closer, UploadNote, Window};
use crate::upload::{EdgeAgent, EdgeError, Event};

/// TLS files for `mqtts://` brokers (PEM).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CA certificate(s) the broker's certificate must chain to.
    pub ca: PathBuf,
    /// Client certificate and key, for brokers that require one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// How the agent talks to the broker and cuts windows.
#[derive(Clone)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883).
    pub url: String,
    /// MQTT client id: the broker keeps this id's session (and its queued messages) while the
    /// agent is away.
    pub client_id: String,
    /// Username and password, when the broker asks for them.
    pub credentials: Option<(String, zeroize::Zeroizing<String>)>,
    /// TLS, for `mqtts://`.
    pub tls: Option<TlsFiles>,
    /// A window closes this long after its first row...
    pub window: Duration,
    /// ... or at this many rows (at most the parameter set's slots; `None`: the slots).
    pub window_rows: Option<usize>,
    /// Spooled chunks past this many bytes: stop taking messages (they wait at the broker).
    pub spool_max_bytes: u64,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
}

dtfhe_model::debug_public_fields!(MqttConfig, |v| {
    url: &v.url,
    client_id: &v.client_id,
    window: v.window,
    window_rows: v.window_rows,
});

/// What the MQTT agent is doing, for the log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MqttEvent {
    /// Connected (or reconnected) to the broker.
    Connected {
        /// Whether the broker still had the agent's session.
        session_present: bool,
    },
    /// The broker connection dropped; it is retried.
    Disconnected {
        /// Why (no data).
        reason: String,
    },
    /// A message was refused: counted, acknowledged, never stored.
    Rejected {
        /// Its topic.
        topic: String,
        /// Why (naming the column, never quoting an encrypted value).
        reason: String,
    },
    /// A redelivered message already taken was dropped.
    Duplicate {
        /// Its topic.
        topic: String,
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
    /// The spool is full: messages are left at the broker until the platform takes chunks.
    SpoolFull {
        /// Bytes waiting.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The spool has room again.
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

impl From<UploadNote> for MqttEvent {
    fn from(n: UploadNote) -> Self {
        match n {
            UploadNote::Uploaded { seq } => MqttEvent::Uploaded { seq },
            UploadNote::PlatformAway { reason } => MqttEvent::PlatformAway { reason },
            UploadNote::Refused { reason } => MqttEvent::Refused { reason },
        }
    }
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqttStats {
    /// Messages received.
    pub messages: u64,
    /// Rows taken (journalled).
    pub rows: u64,
    /// Messages refused (malformed, out of range, unmapped).
    pub rejected: u64,
    /// Redeliveries dropped.
    pub duplicates: u64,
    /// Windows closed.
    pub windows: u64,
    /// Chunks uploaded.
    pub uploaded: u64,
}

/// Why [`parse_url`] refused a broker URL.
fn parse_url(url: &str) -> Result<(bool, String, u16), EdgeError> {
    let bad = |r: &str| EdgeError::Usage(format!("--mqtt {url}: {r}"));
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(bad("give mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"));
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('@') {
        return Err(bad("no path or user in the URL (use --mqtt-user)"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        ),
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((
        tls,
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

fn tls_config(files: &TlsFiles) -> Result<rumqttc::TlsConfiguration, EdgeError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |p: &Path, r: String| EdgeError::Usage(format!("{}: {r}", p.display()));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&files.ca).map_err(|e| bad(&files.ca, e.to_string()))? {
        let c = c.map_err(|e| bad(&files.ca, e.to_string()))?;
        roots.add(c).map_err(|e| bad(&files.ca, e.to_string()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EdgeError::Usage(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match &files.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(|e| bad(cert, e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(cert, e.to_string()))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| EdgeError::Usage(format!("TLS client certificate: {e}")))?
        }
    };
    Ok(rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(
        config,
    )))
}

/// The first line of a password file (kept in zeroized memory).
pub fn read_password(path: &Path) -> std::io::Result<zeroize::Zeroizing<String>> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
    Ok(zeroize::Zeroizing::new(
        text.lines().next().unwrap_or("").to_string(),
    ))
}

/// The rumqttc options of a config: persistent session, manual acknowledgements.
pub fn mqtt_options(cfg: &MqttConfig) -> Result<MqttOptions, EdgeError> {
    let (tls, host, port) = parse_url(&cfg.url)?;
    let mut o = MqttOptions::new(&cfg.client_id, host, port);
    o.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(cfg.keep_alive)
        .set_max_packet_size(super::decode::MAX_PAYLOAD + 64 * 1024, 64 * 1024);
    if let Some((u, p)) = &cfg.credentials {
        o.set_credentials(u.clone(), p.as_str());
    }
    match (tls, &cfg.tls) {
        (true, Some(files)) => {
            o.set_transport(rumqttc::Transport::Tls(tls_config(files)?));
        }
        (true, None) => {
            return Err(EdgeError::Usage(format!(
                "--mqtt {}: give --mqtt-ca for a TLS broker",
                cfg.url
            )))
        }
        (false, Some(_)) => {
            return Err(EdgeError::Usage(format!(
                "--mqtt {}: TLS files given for a plain mqtt:// broker (use mqtts://)",
                cfg.url
            )))
        }
        (false, None) => {}
    }
    Ok(o)
}

/// Runs the MQTT agent until `stop()` is true (then closes the open window and uploads what
/// the platform takes within `drain_for`).
#[allow(clippy::too_many_arguments)]
pub fn run(
    agent: &EdgeAgent,
    schema_path: &Path,
    mapping: &Mapping,
    cfg: &MqttConfig,
    stop: &(dyn Fn() -> bool + Sync),
    drain_for: Duration,
    events: &mut dyn FnMut(MqttEvent),
) -> Result<MqttStats, EdgeError> {
    let (schema_text, schema) = crate::upload::read_schema(schema_path)?;
    if schema.lanes.is_some() {
        return Err(EdgeError::Usage(format!(
            "dataset `{}` places rows in per-product lanes: feed it with --csv, not --mqtt",
            schema.dataset
        )));
    }
    if mapping.dataset != schema.dataset {
        return Err(EdgeError::Usage(format!(
            "the mapping is for `{}`, the schema for `{}`",
            mapping.dataset, schema.dataset
        )));
    }
    let options = mqtt_options(cfg)?;
    let mut quiet = |_: Event| {};
    // The deployment: from the platform, or the spool's copy; wait for one.
    let (params, pk) = loop {
        match agent.encryption_key(&mut quiet) {
            Ok(k) => break k,
            Err(EdgeError::Offline { reason, .. }) => {
                events(MqttEvent::PlatformAway { reason });
                if stop() {
                    return Ok(MqttStats::default());
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
    let mut journal = Journal::open(agent.spool().dir(), &schema.dataset, &seed)?;
    let mut births: BirthState = match journal.births()? {
        Some(t) => serde_json::from_str(&t).map_err(|e| {
            EdgeError::Usage(format!("{}/sparkplug.json: {e}", journal.dir().display()))
        })?,
        None => BirthState {
            version: BIRTH_STATE_VERSION,
            ..BirthState::default()
        },
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
    let mut stats = MqttStats::default();

    let crate::live::Recovered {
        mut open,
        mut next_seq,
        ..
    } = crate::live::recover(&mut journal, &checker, &closer, &mut |seq, rows| {
        events(MqttEvent::Window { seq, rows })
    })?;

    let (client, mut connection) = Client::new(options, 100_000);
    let (tx, rx) = mpsc::channel::<MqttEvent>();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<MqttStats, EdgeError> {
        let uploader = scope.spawn(|| upload_loop(agent, &lock, &done, &tx));
        let result = (|| -> Result<(), EdgeError> {
            let mut full = false;
            loop {
                while let Ok(e) = rx.try_recv() {
                    if let MqttEvent::Uploaded { .. } = e {
                        stats.uploaded += 1;
                    }
                    events(e);
                }
                let stopping = stop();
                // Close the window when due (or when stopping).
                if let Some(w) = open.take() {
                    if stopping || w.rows >= window_rows || w.opened.elapsed() >= cfg.window {
                        match &w.table {
                            Some(t) => {
                                closer.close(&mut journal, w.seq, &w.entries, t)?;
                                stats.windows += 1;
                                events(MqttEvent::Window {
                                    seq: w.seq,
                                    rows: w.rows,
                                });
                            }
                            None => journal.finish(w.seq, &w.entries)?,
                        }
                    } else {
                        open = Some(w);
                    }
                }
                if stopping {
                    return Ok(());
                }
                // Back-pressure: a full spool leaves messages at the broker.
                let bytes = spool_bytes(agent);
                if bytes > cfg.spool_max_bytes {
                    if !full {
                        full = true;
                        events(MqttEvent::SpoolFull {
                            bytes,
                            limit: cfg.spool_max_bytes,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                } else if full {
                    full = false;
                    events(MqttEvent::SpoolResumed);
                }
                let wait = open
                    .as_ref()
                    .map_or(Duration::from_millis(200), |w| {
                        cfg.window.saturating_sub(w.opened.elapsed())
                    })
                    .clamp(Duration::from_millis(1), Duration::from_millis(200));
                let mut batch = Vec::new();
                match connection.recv_timeout(wait) {
                    Ok(Ok(ev)) => {
                        handle(ev, &client, mapping, &mut batch, &mut *events)?;
                        // Take what else is ready, up to a batch, for one fsync.
                        while batch.len() < 512 {
                            match connection.try_recv() {
                                Ok(Ok(ev)) => {
                                    handle(ev, &client, mapping, &mut batch, &mut *events)?
                                }
                                Ok(Err(e)) => {
                                    events(MqttEvent::Disconnected {
                                        reason: e.to_string(),
                                    });
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    Ok(Err(e)) => {
                        events(MqttEvent::Disconnected {
                            reason: e.to_string(),
                        });
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    Err(rumqttc::RecvTimeoutError::Timeout) => {}
                    Err(rumqttc::RecvTimeoutError::Disconnected) => {
                        return Err(EdgeError::Usage("the MQTT client stopped".into()))
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                take_batch(
                    batch,
                    &mut Taker {
                        journal: &mut journal,
                        births: &mut births,
                        checker: &checker,
                        mapping,
                        closer: &closer,
                        window_rows,
                        next_seq: &mut next_seq,
                        open: &mut open,
                        stats: &mut stats,
                    },
                    &client,
                    &mut *events,
                )?;
            }
        })();
        // Upload what is closed (within `drain_for`), then stop the uploader.
        let until = Instant::now() + drain_for;
        while result.is_ok() && Instant::now() < until {
            while let Ok(e) = rx.try_recv() {
                if let MqttEvent::Uploaded { .. } = e {
                    stats.uploaded += 1;
                }
                events(e);
            }
            let waiting = agent.spool().pending().map(|p| p.len()).unwrap_or(0);
            if waiting == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        done.store(true, Ordering::Relaxed);
        // Never blocks (a full request queue must not hang the stop).
        let _ = client.try_disconnect();
        let _ = uploader.join();
        while let Ok(e) = rx.try_recv() {
            if let MqttEvent::Uploaded { .. } = e {
                stats.uploaded += 1;
            }
            events(e);
        }
        result.map(|()| stats.clone())
    })
}

/// One event from the broker: a publish goes to the batch, a (re)connection subscribes when
/// the broker lost the session.
fn handle(
    ev: MqEvent,
    client: &Client,
    mapping: &Mapping,
    batch: &mut Vec<rumqttc::Publish>,
    events: &mut dyn FnMut(MqttEvent),
) -> Result<(), EdgeError> {
    match ev {
        MqEvent::Incoming(Packet::Publish(p)) => batch.push(p),
        MqEvent::Incoming(Packet::ConnAck(c)) => {
            events(MqttEvent::Connected {
                session_present: c.session_present,
            });
            if !c.session_present {
                for t in &mapping.topics {
                    let qos = if t.qos == 0 {
                        QoS::AtMostOnce
                    } else {
                        QoS::AtLeastOnce
                    };
                    client
                        .try_subscribe(t.filter.clone(), qos)
                        .map_err(|e| EdgeError::Usage(format!("subscribe `{}`: {e}", t.filter)))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

struct Taker<'a, 'c> {
    journal: &'a mut Journal,
    births: &'a mut BirthState,
    checker: &'a RowChecker,
    mapping: &'a Mapping,
    closer: &'a Closer<'c>,
    window_rows: usize,
    next_seq: &'a mut u64,
    open: &'a mut Option<Window>,
    stats: &'a mut MqttStats,
}

/// Reads a batch of messages, journals their rows (one fsync), then acknowledges them all.
fn take_batch(
    batch: Vec<rumqttc::Publish>,
    t: &mut Taker<'_, '_>,
    client: &Client,
    events: &mut dyn FnMut(MqttEvent),
) -> Result<(), EdgeError> {
    let mut pending: Vec<Entry> = Vec::new();
    let mut births_changed = false;
    for p in &batch {
        t.stats.messages += 1;
        let tag = t.journal.tag(&p.topic, &p.payload);
        let pkid = if p.qos == QoS::AtMostOnce { 0 } else { p.pkid };
        if p.dup && t.journal.is_duplicate(pkid, tag) {
            t.stats.duplicates += 1;
            events(MqttEvent::Duplicate {
                topic: p.topic.clone(),
            });
            continue;
        }
        let mut reject = |reason: String, stats: &mut MqttStats| {
            stats.rejected += 1;
            events(MqttEvent::Rejected {
                topic: p.topic.clone(),
                reason,
            });
        };
        let Some(tm) = t.mapping.topic_for(&p.topic) else {
            reject("no [[topic]] of the mapping matches".into(), t.stats);
            continue;
        };
        let rows = match decode(tm, &p.topic, &p.payload, t.births) {
            Ok(Decoded::Rows(rows)) => rows,
            Ok(Decoded::Certificate) => {
                births_changed = true;
                continue;
            }
            Ok(Decoded::Nothing) => continue,
            Err(reason) => {
                reject(reason.0, t.stats);
                continue;
            }
        };
        if rows.len() > t.window_rows.min(MAX_ROWS_PER_MESSAGE) {
            reject(
                format!(
                    "{} rows in one message, more than a window holds",
                    rows.len()
                ),
                t.stats,
            );
            continue;
        }
        let mut table: Option<Table> = None;
        let mut bad = None;
        for r in &rows {
            match t.checker.check(r, &p.topic) {
                Ok(one) => match &mut table {
                    Some(acc) => append(acc, one),
                    None => table = Some(one),
                },
                Err(e) => {
                    bad = Some(row_reason(&e));
                    break;
                }
            }
        }
        if let Some(reason) = bad {
            reject(reason, t.stats);
            continue;
        }
        let Some(table) = table else { continue };
        // Full: journal what is pending, close, and open the next window.
        if t.open
            .as_ref()
            .is_some_and(|w| w.rows + table.rows > t.window_rows)
        {
            if let Some(mut w) = t.open.take() {
                t.journal.append(&mut w.file, &pending)?;
                w.entries.append(&mut pending);
                if let Some(tab) = &w.table {
                    t.closer.close(t.journal, w.seq, &w.entries, tab)?;
                    t.stats.windows += 1;
                    events(MqttEvent::Window {
                        seq: w.seq,
                        rows: w.rows,
                    });
                }
            }
        }
        if t.open.is_none() {
            let seq = *t.next_seq;
            *t.next_seq += 1;
            t.closer
                .agent
                .spool()
                .set_last_seq(&t.closer.schema.dataset, seq)?;
            *t.open = Some(Window {
                seq,
                file: t.journal.window(seq)?,
                entries: Vec::new(),
                table: None,
                rows: 0,
                opened: Instant::now(),
            });
        }
        let Some(w) = t.open.as_mut() else { continue };
        w.rows += table.rows;
        t.stats.rows += table.rows as u64;
        match &mut w.table {
            Some(acc) => append(acc, table),
            None => w.table = Some(table),
        }
        t.journal.note(pkid, tag);
        pending.push(Entry {
            pkid,
            tag,
            topic: p.topic.clone(),
            rows,
        });
    }
    if let Some(w) = t.open.as_mut() {
        t.journal.append(&mut w.file, &pending)?;
        w.entries.append(&mut pending);
    }
    if births_changed {
        let json = serde_json::to_string(&*t.births).map_err(|e| {
            EdgeError::Usage(format!("cannot store the Sparkplug alias tables: {e}"))
        })?;
        t.journal.set_births(&json)?;
    }
    // Durable: now the broker may forget them. An acknowledgement that cannot be queued
    // (the client's request queue is full) is skipped: the broker redelivers the message with
    // the DUP flag and the journal's tag drops it.
    for p in &batch {
        let _ = client.try_ack(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1884").ok(),
            Some((false, "127.0.0.1".into(), 1884))
        );
        assert_eq!(
            parse_url("mqtts://broker").ok(),
            Some((true, "broker".into(), 8883))
        );
        assert_eq!(
            parse_url("mqtt://[::1]:1").ok(),
            Some((false, "::1".into(), 1))
        );
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://u:p@x",
            "mqtt://x:port",
            "mqtt://x/a",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
