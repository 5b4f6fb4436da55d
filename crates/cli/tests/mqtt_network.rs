//! The edge agent against a real MQTT broker (Debian's Mosquitto, its own instance per test on
//! a free loopback port, with password and ACL files): JSON and Sparkplug B values published
//! there come out of a networked query (platform + three trustee daemons) as released
//! aggregates equal to the plaintext of what was published; malformed and out-of-range
//! messages are counted with their topic and never stored or logged in clear; the broker, the
//! platform and the agent itself stopped and restarted mid-run lose and duplicate nothing.
//!
//! The broker: `DTFHE_MOSQUITTO`, else `mosquitto` on PATH or /usr/sbin/mosquitto
//! (`scripts/ensure-mosquitto.sh` installs it). Absent: skipped with a message, except under
//! CI=true where it fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::live::{required, wait_uploaded, LiveNet, Peer};
use common::*;
use dtfhe_agent::mqtt::sparkplug::{Metric, MetricValue, Payload};
use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCHEMA: &str = include_str!("schemas/press.toml");

const MAP: &str = include_str!("schemas/press_mapping.toml");

/// The broker binary, or `None` (skip) outside CI.
fn mosquitto() -> Option<PathBuf> {
    required(
        dtfhe_bench::mqtt::find_mosquitto(),
        "the MQTT tests",
        "no mosquitto broker (run scripts/ensure-mosquitto.sh, or set DTFHE_MOSQUITTO)",
    )
}

/// A Mosquitto broker of one test: loopback port, password file (users `edge` and `pub`),
/// ACL (the agent may only read, the publisher only write), persistence in its directory.
struct Broker {
    bin: PathBuf,
    peer: Peer,
}

impl Broker {
    fn start(bin: &Path, root: &Path) -> Broker {
        let peer = Peer::new(root.join("broker"), "mosquitto", free_port());
        let dir = &peer.dir;
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let passwd = dir.join("passwd");
        let _ = std::fs::remove_file(&passwd);
        for (i, (user, pw)) in [("edge", "edge-pw"), ("pub", "pub-pw")].iter().enumerate() {
            let mut c = Command::new("mosquitto_passwd");
            c.arg("-b");
            if i == 0 {
                c.arg("-c");
            }
            let s = c
                .arg(&passwd)
                .arg(user)
                .arg(pw)
                .status()
                .expect("mosquitto_passwd");
            assert!(s.success(), "mosquitto_passwd failed");
        }
        std::fs::write(
            dir.join("acl"),
            "user edge\ntopic read plant/#\ntopic read spBv1.0/#\n\n\
             user pub\ntopic write plant/#\ntopic write spBv1.0/#\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "user root\nlistener {} 127.0.0.1\nallow_anonymous false\n\
                 password_file {}\nacl_file {}\npersistence true\npersistence_location {}/\n\
                 max_queued_messages 1000000\nmax_inflight_messages 100\nlog_dest stdout\n",
                peer.port,
                passwd.display(),
                dir.join("acl").display(),
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut b = Broker {
            bin: bin.to_path_buf(),
            peer,
        };
        b.run();
        b
    }

    /// Starts (or restarts) the broker on its port, with its saved sessions and queues.
    fn run(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(self.peer.dir.join("mosquitto.conf"));
        self.peer.start(&mut cmd, Duration::from_secs(10));
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.peer.port)
    }
}

/// A publisher that waits for the broker's PUBACK of every message (QoS 1).
struct Publisher {
    client: Client,
    conn: Connection,
}

impl Publisher {
    fn connect(port: u16, id: &str) -> Publisher {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_credentials("pub", "pub-pw")
            .set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, conn) = Client::new(o, 64);
        Publisher { client, conn }
    }

    /// Publishes one message and waits for its PUBACK.
    fn send(&mut self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .unwrap();
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no PUBACK for {topic}"
            );
            match self.conn.recv_timeout(Duration::from_secs(1)) {
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => return,
                Ok(Err(e)) => panic!("publisher: {e}"),
                _ => {}
            }
        }
    }
}

/// What was published, per machine: (rows, Σ pressure × 10, rows with temp, Σ temp × 100).
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Sums {
    rows: i64,
    p10: i64,
    t_rows: i64,
    t100: i64,
}

#[derive(Default)]
struct Published(BTreeMap<String, Sums>);

impl Published {
    fn add(&mut self, machine: &str, p10: i64, t100: Option<i64>) {
        let s = self.0.entry(machine.to_string()).or_default();
        s.rows += 1;
        s.p10 += p10;
        if let Some(t) = t100 {
            s.t_rows += 1;
            s.t100 += t;
        }
    }
    fn rows(&self) -> i64 {
        self.0.values().map(|s| s.rows).sum()
    }
}

/// A JSON message of `machine`: pressure p10 / 10, temperature t100 / 100 (omitted: NULL).
fn json(
    pb: &mut Publisher,
    out: &mut Published,
    machine: &str,
    ts: i64,
    p10: i64,
    t100: Option<i64>,
) {
    let t = t100.map_or(String::new(), |t| format!(",\"t\":{}", t as f64 / 100.0));
    let payload = format!("{{\"ts\":{ts},\"p\":{}{t}}}", p10 as f64 / 10.0);
    pb.send(&format!("plant/{machine}/telemetry"), payload.into_bytes());
    out.add(machine, p10, t100);
}

fn sp_birth(pb: &mut Publisher, node: &str, device: &str) {
    let nbirth = Payload {
        timestamp: Some(1),
        metrics: vec![Metric::new(
            Some("bdSeq"),
            Some(0),
            Some(8),
            MetricValue::Long(0),
        )],
        seq: Some(0),
    };
    pb.send(&format!("spBv1.0/plant/NBIRTH/{node}"), nbirth.to_bytes());
    let dbirth = Payload {
        timestamp: Some(2),
        metrics: vec![
            Metric::new(
                Some("Press/Pressure"),
                Some(1),
                Some(10),
                MetricValue::Double(0.0),
            ),
            Metric::new(
                Some("Press/Temp"),
                Some(2),
                Some(9),
                MetricValue::Float(0.0),
            ),
        ],
        seq: Some(1),
    };
    pb.send(
        &format!("spBv1.0/plant/DBIRTH/{node}/{device}"),
        dbirth.to_bytes(),
    );
}

/// A Sparkplug DDATA of `device` by alias (pressure a Double, temperature a Float).
fn sp_data(
    pb: &mut Publisher,
    out: &mut Published,
    node: &str,
    device: &str,
    ts: u64,
    p10: i64,
    t100: i64,
) {
    let d = Payload {
        timestamp: Some(ts),
        metrics: vec![
            Metric::new(None, Some(1), None, MetricValue::Double(p10 as f64 / 10.0)),
            Metric::new(None, Some(2), None, MetricValue::Float(t100 as f32 / 100.0)),
        ],
        seq: Some(ts % 256),
    };
    pb.send(
        &format!("spBv1.0/plant/DDATA/{node}/{device}"),
        d.to_bytes(),
    );
    out.add(device, p10, Some(t100));
}

struct Setup {
    live: LiveNet,
    broker: Broker,
}

fn setup(name: &str, bin: &Path) -> Setup {
    let live = LiveNet::start(name, "press", SCHEMA, MAP);
    let broker = Broker::start(bin, &live.net.root);
    std::fs::write(live.net.root.join("mqtt-pw"), "edge-pw\n").unwrap();
    Setup { live, broker }
}

impl Setup {
    fn agent(&self) -> Proc {
        let pw = self.live.net.root.join("mqtt-pw").display().to_string();
        let url = self.broker.url();
        let source = [
            "--mqtt",
            &url,
            "--mqtt-user",
            "edge",
            "--mqtt-password-file",
            &pw,
        ];
        self.live.agent("agent-mqtt", &source)
    }

    /// The released per-machine aggregates equal the plaintext of what was published.
    fn check_released(&self, published: &Published) {
        let sql = "SELECT machine, COUNT(pressure), SUM(pressure), COUNT(temp), SUM(temp) \
                   FROM press GROUP BY machine";
        let o = dtfhe(self.live.net.query_args(sql));
        let got = success_json(&o, sql);
        assert_eq!(got.rows.len(), published.0.len(), "{}", got.to_table());
        for row in &got.rows {
            let dtfhe_engine::Cell::Text(machine) = &row[0] else {
                panic!("machine cell {:?}", row[0])
            };
            let want = published.0[machine];
            assert_eq!(
                number(&row[1]),
                want.rows as f64,
                "{machine}: COUNT(pressure)"
            );
            let sum = |c| format!("{machine}: SUM({c}) of {want:?}");
            assert_close(number(&row[2]), want.p10 as f64 / 10.0, &sum("pressure"));
            assert_eq!(
                number(&row[3]),
                want.t_rows as f64,
                "{machine}: COUNT(temp)"
            );
            assert_close(number(&row[4]), want.t100 as f64 / 100.0, &sum("temp"));
        }
    }
}

#[test]
fn mqtt_json_and_sparkplug_values_are_released_equal_to_the_plaintext() {
    let Some(bin) = mosquitto() else { return };
    let s = setup("mqtt_released", &bin);
    let agent = s.agent();
    let mut pb = Publisher::connect(s.broker.peer.port, "pub-1");
    let mut published = Published::default();
    // Wait for the agent's subscription (messages before it would not be queued for it).
    agent.wait_until("did not connect", Duration::from_secs(30), || {
        agent.log().contains("connected to")
    });
    std::thread::sleep(Duration::from_millis(300));

    // JSON: machines M1 and M2, pressure 100.0..=499.9, some temperatures missing (NULL).
    for i in 0..36i64 {
        let machine = if i % 3 == 0 { "M2" } else { "M1" };
        let p10 = 1000 + (i * 137) % 3999;
        let t100 = (i % 4 != 0).then_some(-2000 + i * 311);
        json(
            &mut pb,
            &mut published,
            machine,
            1_700_000_000 + i,
            p10,
            t100,
        );
    }
    // Refused messages: each counted with its topic, none stored.
    let bad: [(&str, &[u8]); 6] = [
        ("plant/M1/telemetry", b"{not json"),
        ("plant/M1/telemetry", br#"{"ts":1,"p":4242.5}"#), // out of range
        ("plant/M1/telemetry", br#"{"ts":2,"p":"31.4x"}"#),
        ("plant/M1/telemetry", br#"{"ts":3}"#), // pressure missing (not nullable)
        (
            "plant/M1/telemetry",
            br#"[{"ts":4,"p":1.0},{"ts":5,"p":999.0}]"#,
        ), // one bad row
        ("plant/M1/telemetry", br#"{"ts":6,"p":12.25}"#), // too many decimals
    ];
    for (topic, payload) in bad {
        pb.send(topic, payload.to_vec());
    }
    // Sparkplug B: a node and device born with aliases, DATA by alias.
    sp_birth(&mut pb, "edge-a", "M3");
    for i in 0..12i64 {
        sp_data(
            &mut pb,
            &mut published,
            "edge-a",
            "M3",
            1_700_000_100 + i as u64,
            2000 + i * 71,
            1500 + i * 123,
        );
    }
    // Refused Sparkplug: garbage, an unknown alias, a node that was never born, DATA after
    // the device's death.
    pb.send(
        "spBv1.0/plant/DDATA/edge-a/M3",
        vec![0xff, 0xff, 0xff, 0x0f],
    );
    let unknown = Payload {
        timestamp: Some(5),
        metrics: vec![Metric::new(None, Some(9), None, MetricValue::Double(1.0))],
        seq: Some(3),
    };
    pb.send("spBv1.0/plant/DDATA/edge-a/M3", unknown.to_bytes());
    let stray = Payload {
        timestamp: Some(5),
        metrics: vec![Metric::new(None, Some(1), None, MetricValue::Double(1.0))],
        seq: Some(3),
    };
    pb.send("spBv1.0/plant/DDATA/edge-z/M9", stray.to_bytes());
    pb.send(
        "spBv1.0/plant/DDEATH/edge-a/M3",
        Payload {
            timestamp: Some(6),
            metrics: vec![],
            seq: Some(4),
        }
        .to_bytes(),
    );
    pb.send("spBv1.0/plant/DDATA/edge-a/M3", stray.to_bytes());
    let rejected = 6 + 4;

    wait_uploaded(&agent, published.rows() as usize, Duration::from_secs(60));
    let log = agent.log();
    let rejections: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("rejected a message on"))
        .collect();
    assert_eq!(rejections.len(), rejected, "{log}");
    assert!(
        rejections
            .iter()
            .any(|l| l.contains("`plant/M1/telemetry`") && l.contains("pressure")),
        "{log}"
    );
    assert!(
        rejections
            .iter()
            .any(|l| l.contains("`spBv1.0/plant/DDATA/edge-z/M9`") && l.contains("not born")),
        "{log}"
    );
    for secret in ["4242", "31.4x", "999.0", "12.25"] {
        assert!(
            !log.contains(secret),
            "the agent logged a refused value {secret}: {log}"
        );
    }
    // Nothing of the values rests in clear in the spool (journals sealed, chunks encrypted):
    // the exact texts published for pressure do not appear in any spool file.
    let p_texts: Vec<String> = (0..36i64)
        .map(|i| format!("{:.1}", (1000 + (i * 137) % 3999) as f64 / 10.0))
        .filter(|t| t.len() >= 5)
        .collect();
    for f in files_under(&s.live.spool) {
        let bytes = std::fs::read(&f).unwrap();
        for t in &p_texts {
            assert!(
                !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                "{t} in clear in {}",
                f.display()
            );
        }
    }
    s.check_released(&published);
}

#[test]
fn mqtt_broker_platform_and_agent_outages_lose_and_duplicate_nothing() {
    let Some(bin) = mosquitto() else { return };
    let mut s = setup("mqtt_outages", &bin);
    let mut agent = s.agent();
    agent.wait_until("did not connect", Duration::from_secs(30), || {
        agent.log().contains("connected to")
    });
    let mut published = Published::default();
    let mut ts = 1_700_000_000i64;
    let mut batch = |pb: &mut Publisher, published: &mut Published, n: i64| {
        for _ in 0..n {
            ts += 1;
            let machine = ["M1", "M2"][(ts % 2) as usize];
            json(
                pb,
                published,
                machine,
                ts,
                1000 + (ts * 37) % 3000,
                Some(ts % 9000),
            );
        }
    };
    let mut pb = Publisher::connect(s.broker.peer.port, "pub-a");
    batch(&mut pb, &mut published, 25);
    drop(pb);

    // 1. The broker stops (saving its queues) and comes back; more is published while the
    //    agent reconnects.
    s.broker.peer.stop();
    std::thread::sleep(Duration::from_millis(700));
    s.broker.run();
    let mut pb = Publisher::connect(s.broker.peer.port, "pub-b");
    batch(&mut pb, &mut published, 25);

    // 2. The platform goes away: windows wait in the spool.
    s.live.net.platform.kill();
    batch(&mut pb, &mut published, 25);
    std::thread::sleep(Duration::from_millis(2500));
    // 3. The agent is killed mid-run (SIGKILL) while messages arrive, and restarted.
    batch(&mut pb, &mut published, 10);
    agent.kill();
    batch(&mut pb, &mut published, 15);
    agent = s.agent();
    // 4. The platform comes back.
    s.live.net.restart_platform();
    batch(&mut pb, &mut published, 20);

    wait_uploaded(&agent, published.rows() as usize, Duration::from_secs(60));
    let log = agent.log();
    assert!(log.contains("broker connection lost"), "{log}");
    s.check_released(&published);
}
