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
use std::time::Duration;

use dtfhe_model::Table;
use rumqttc::{Client, Event as MqEvent, MqttOptions, Packet, QoS};

use super::decode::{append, decode, row_reason, Decoded, RowChecker, MAX_ROWS_PER_MESSAGE};
use super::journal::Entry;
use super::map::Mapping;
use super::sparkplug::{BirthState, BIRTH_STATE_VERSION};
use crate::live::driver::{drive, prepare, Windows};
use crate::live::{LiveEvent, LiveRun, LiveStats};
use crate::upload::EdgeError;

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
    /// MQTT keep-alive.
    pub keep_alive: Duration,
}

dtfhe_model::debug_public_fields!(MqttConfig, |v| {
    url: &v.url,
    client_id: &v.client_id,
});

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

/// Runs the MQTT agent until `run.stop` says so (then closes the open window and uploads what
/// the platform takes within `run.drain_for`).
pub fn run(
    run: &LiveRun<'_>,
    mapping: &Mapping,
    cfg: &MqttConfig,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<LiveStats, EdgeError> {
    let options = mqtt_options(cfg)?;
    let Some((setup, journal)) = prepare(run, &mapping.dataset, "mqtt", events)? else {
        return Ok(LiveStats::default());
    };
    let mut births: BirthState = match journal.births()? {
        Some(t) => serde_json::from_str(&t).map_err(|e| {
            EdgeError::Usage(format!("{}/sparkplug.json: {e}", journal.dir().display()))
        })?,
        None => BirthState {
            version: BIRTH_STATE_VERSION,
            ..BirthState::default()
        },
    };
    let (windows, _) = Windows::recover(journal, &setup, run, events)?;
    let (client, mut connection) = Client::new(options, 100_000);
    let result = drive(run, &setup, windows, events, |t| {
        if t.stopping {
            return Ok(());
        }
        // Back-pressure: a full spool leaves messages at the broker.
        if t.spool_full {
            std::thread::sleep(Duration::from_millis(500));
            return Ok(());
        }
        let mut batch = Vec::new();
        match connection.recv_timeout(t.windows.wait()) {
            Ok(Ok(ev)) => {
                handle(ev, &client, mapping, &mut batch, t.events)?;
                // Take what else is ready, up to a batch, for one fsync.
                while batch.len() < 512 {
                    match connection.try_recv() {
                        Ok(Ok(ev)) => handle(ev, &client, mapping, &mut batch, t.events)?,
                        Ok(Err(e)) => {
                            (t.events)(LiveEvent::Disconnected {
                                reason: e.to_string(),
                            });
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            Ok(Err(e)) => {
                (t.events)(LiveEvent::Disconnected {
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
            return Ok(());
        }
        let mut taker = Taker {
            windows: &mut *t.windows,
            births: &mut births,
            checker: &setup.checker,
            mapping,
            stats: &mut *t.stats,
        };
        taker.take_batch(batch, &client, t.events)
    });
    // Never blocks (a full request queue must not hang the stop).
    let _ = client.try_disconnect();
    result
}

/// One event from the broker: a publish goes to the batch, a (re)connection subscribes when
/// the broker lost the session.
fn handle(
    ev: MqEvent,
    client: &Client,
    mapping: &Mapping,
    batch: &mut Vec<rumqttc::Publish>,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<(), EdgeError> {
    match ev {
        MqEvent::Incoming(Packet::Publish(p)) => batch.push(p),
        MqEvent::Incoming(Packet::ConnAck(c)) => {
            events(LiveEvent::Connected {
                resumed: c.session_present,
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

struct Taker<'a, 'w> {
    windows: &'a mut Windows<'w>,
    births: &'a mut BirthState,
    checker: &'a RowChecker,
    mapping: &'a Mapping,
    stats: &'a mut LiveStats,
}

impl Taker<'_, '_> {
    /// Reads a batch of messages, journals their rows (one fsync), then acknowledges them all.
    fn take_batch(
        &mut self,
        batch: Vec<rumqttc::Publish>,
        client: &Client,
        events: &mut dyn FnMut(LiveEvent),
    ) -> Result<(), EdgeError> {
        let mut pending: Vec<Entry> = Vec::new();
        let mut births_changed = false;
        for p in &batch {
            self.stats.received += 1;
            let journal = &mut self.windows.journal;
            let tag = journal.tag(&p.topic, &p.payload);
            let pkid = if p.qos == QoS::AtMostOnce { 0 } else { p.pkid };
            if p.dup && journal.is_duplicate(pkid, tag) {
                self.stats.duplicates += 1;
                events(LiveEvent::Duplicate {
                    origin: format!("a redelivered message on `{}`", p.topic),
                });
                continue;
            }
            let (rows, table) = match self.rows_of(p, &mut births_changed) {
                Ok(Some(taken)) => taken,
                Ok(None) => continue,
                Err(reason) => {
                    self.stats.rejected += 1;
                    events(LiveEvent::Rejected {
                        origin: format!("a message on `{}`", p.topic),
                        reason,
                    });
                    continue;
                }
            };
            let Some(table) = table else { continue };
            self.windows.journal.note(pkid, tag);
            let entry = Entry {
                pkid,
                tag,
                topic: p.topic.clone(),
                rows,
            };
            self.windows
                .add(table, entry, &mut pending, self.stats, events)?;
        }
        self.windows.commit(&mut pending)?;
        if births_changed {
            let json = serde_json::to_string(&*self.births).map_err(|e| {
                EdgeError::Usage(format!("cannot store the Sparkplug alias tables: {e}"))
            })?;
            self.windows.journal.set_births(&json)?;
        }
        // Durable: now the broker may forget them. An acknowledgement that cannot be queued
        // (the client's request queue is full) is skipped: the broker redelivers the message
        // with the DUP flag and the journal's tag drops it.
        for p in &batch {
            let _ = client.try_ack(p);
        }
        Ok(())
    }

    /// The rows of one message, checked (with their table), `None` for a message that holds
    /// none (a Sparkplug certificate, a state message), or why it is refused.
    #[allow(clippy::type_complexity)]
    fn rows_of(
        &mut self,
        p: &rumqttc::Publish,
        births_changed: &mut bool,
    ) -> Result<Option<(Vec<super::decode::RawRow>, Option<Table>)>, String> {
        let Some(tm) = self.mapping.topic_for(&p.topic) else {
            return Err("no [[topic]] of the mapping matches".into());
        };
        let rows = match decode(tm, &p.topic, &p.payload, self.births) {
            Ok(Decoded::Rows(rows)) => rows,
            Ok(Decoded::Certificate) => {
                *births_changed = true;
                return Ok(None);
            }
            Ok(Decoded::Nothing) => return Ok(None),
            Err(reason) => return Err(reason.0),
        };
        if rows.len() > self.windows.rows_max().min(MAX_ROWS_PER_MESSAGE) {
            return Err(format!(
                "{} rows in one message, more than a window holds",
                rows.len()
            ));
        }
        let mut table: Option<Table> = None;
        for r in &rows {
            let one = self
                .checker
                .check(r, &p.topic)
                .map_err(|e| row_reason(&e))?;
            match &mut table {
                Some(acc) => append(acc, one),
                None => table = Some(one),
            }
        }
        Ok(Some((rows, table)))
    }
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
