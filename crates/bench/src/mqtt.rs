//! `dtfhe bench mqtt`: sustained values/s through MQTT and the latency from a published
//! value to the released windowed aggregate, on loopback.
//!
//! It starts a real platform (`dtfhe serve`) and three trustee daemons (child processes of
//! this executable, key ceremony), a Mosquitto broker (`DTFHE_MOSQUITTO`, or `mosquitto` on
//! PATH / /usr/sbin; `scripts/ensure-mosquitto.sh` installs it) on a free loopback port, and
//! the edge agent's MQTT loop (the library code of `dtfhe agent --mqtt`, in a thread). Then:
//!
//! - a publisher sends `--seconds` of JSON messages (one value each, QoS 1, every PUBACK
//!   awaited in a pipeline; `--rate` paces it, 0 = as fast as the broker takes them);
//! - an analyst asks `SELECT COUNT(x), SUM(x) FROM mqtt_bench` over and over (the networked
//!   query: the trustees review and release each result); a value published at `t` is
//!   counted in the first released result whose count covers it (one publisher, QoS 1: the
//!   broker, the agent's windows and the uploads keep publish order), so its latency is that
//!   result's arrival minus `t`;
//! - at the end the released count and sum must equal the plaintext of what was published
//!   (exit 7 otherwise).
//!
//! Reported: published values/s, ingested values/s (rows in uploaded windows per second from
//! the first publish to the last upload), latency p50/p99/max, refused releases (the
//! disclosure audit may refuse a release that would single out too few new rows).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use dtfhe_agent::live::LiveEvent;
use dtfhe_agent::mqtt::map::Mapping;
use dtfhe_agent::mqtt::run::MqttConfig;
use dtfhe_api::types::Health;
use dtfhe_api::{Client, Identity, Role};
use dtfhe_engine::Cell;

use crate::error::BenchError;
use crate::live::Peer;
use crate::load::{new_identity, register, scratch_dir, tail, Children, TRUSTEES};

/// The bench's dataset.
pub const DATASET: &str = "mqtt_bench";

const SCHEMA: &str = concat!(
    r#"dataset = "mqtt_bench"
stage = "manufacturing"
description = "MQTT bench: one value per message"
"#,
    line_x_columns!()
);

const MAP: &str = r#"version = 1
dataset = "mqtt_bench"

[[topic]]
filter = "bench/+/x"
format = "json"
qos = 1
[topic.columns]
line = { topic_level = 1 }
x = { field = "x" }
"#;

/// `dtfhe bench mqtt` arguments.
#[derive(Debug, Clone, Args)]
pub struct MqttArgs {
    /// Seconds of publishing.
    #[arg(long, value_name = "S", default_value_t = 20)]
    pub seconds: u64,
    /// Messages per second to publish (0: as fast as the broker acknowledges them).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rate: u64,
    /// Window, preset, deadline.
    #[command(flatten)]
    pub live: crate::live::LiveBenchArgs,
}

/// What the bench measured.
#[derive(Debug, Clone, Default)]
pub struct MqttFigures {
    /// Messages (values) published and acknowledged by the broker.
    pub published: u64,
    /// Seconds of publishing.
    pub publish_seconds: f64,
    /// Seconds from the first publish to the last window uploaded.
    pub ingest_seconds: f64,
    /// Windows closed.
    pub windows: u64,
    /// Latencies from publish to release, seconds, sorted.
    pub latencies: Vec<f64>,
    /// Releases received / refused.
    pub releases: (u64, u64),
}

/// The Mosquitto broker binary: `DTFHE_MOSQUITTO`, else `mosquitto` on PATH, else
/// `/usr/sbin/mosquitto`; `None` when there is none.
pub fn find_mosquitto() -> Option<PathBuf> {
    std::env::var_os("DTFHE_MOSQUITTO")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join("mosquitto"))
                    .find(|p| p.is_file())
            })
        })
        .or_else(|| Some(PathBuf::from("/usr/sbin/mosquitto")).filter(|p| p.is_file()))
}

fn mosquitto() -> Result<PathBuf, BenchError> {
    find_mosquitto().ok_or_else(|| {
        BenchError::Usage(
            "no mosquitto broker: run scripts/ensure-mosquitto.sh or set DTFHE_MOSQUITTO".into(),
        )
    })
}

/// A free TCP port on loopback.
pub(crate) fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::io(Path::new("127.0.0.1:0"), e))
}

fn start_broker(root: &Path) -> Result<(Peer, u16), BenchError> {
    let bin = mosquitto()?;
    let port = free_port()?;
    let conf = root.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_queued_messages 10000000\nmax_inflight_messages 1000\n"
        ),
    )
    .map_err(|e| BenchError::io(&conf, e))?;
    let log = root.join("mosquitto.log");
    let f = std::fs::File::create(&log).map_err(|e| BenchError::io(&log, e))?;
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(f.try_clone().map_err(|e| BenchError::io(&log, e))?)
        .stderr(f)
        .spawn()
        .map_err(|e| BenchError::io(&bin, e))?;
    let broker = Peer(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(BenchError::Platform(format!(
                "mosquitto did not listen on {port}: {}",
                tail(&log, 8)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((broker, port))
}

/// Starts the platform and the trustees, registers a source `edge` and an analyst `ana` of
/// `dataset`; returns the URL, the source and the analyst file.
pub(crate) fn start_platform(
    children: &mut Children,
    root: &Path,
    preset: &str,
    until: Instant,
    dataset: &str,
) -> Result<(String, Identity, PathBuf), BenchError> {
    let new_id = |name: &str| new_identity(root, name);
    let (admin, _) = new_id("root")?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    children.spawn_server(root, &format!("127.0.0.1:{port}"), &admin, preset, false)?;
    let health = Client::new(&url, None, Duration::from_secs(10));
    let wait = |children: &mut Children, ready: bool, what: &str| -> Result<(), BenchError> {
        loop {
            if Instant::now() > until {
                return Err(BenchError::Platform(format!(
                    "the deadline passed during {what}"
                )));
            }
            children.check_alive()?;
            if health
                .get_json::<Health>("/v1/health")
                .is_ok_and(|h| h.ready || !ready)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait(children, false, "the server's start")?;
    let admin_client = Client::new(&url, Some(admin), Duration::from_secs(60));
    let register = |id: &Identity, role: Role, datasets: Vec<String>| {
        register(&admin_client, id, role, datasets)
    };
    for t in TRUSTEES {
        let (id, file) = new_id(t)?;
        register(&id, Role::Trustee, Vec::new())?;
        children.spawn_trustee(root, t, &url, &file)?;
    }
    let (source, _) = new_id("edge")?;
    register(&source, Role::Source, vec![dataset.into()])?;
    let (analyst, analyst_file) = new_id("ana")?;
    register(&analyst, Role::Analyst, vec![dataset.into()])?;
    wait(children, true, "the key ceremony")?;
    Ok((url, source, analyst_file))
}

/// A released number.
pub(crate) fn cell(c: &Cell) -> Option<f64> {
    match c {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) => Some(*f),
        _ => None,
    }
}

/// Runs the bench.
pub fn measure(a: &MqttArgs) -> Result<MqttFigures, BenchError> {
    if a.seconds == 0 || a.seconds > 3600 || !(a.live.window > 0.0 && a.live.window <= 60.0) {
        return Err(BenchError::Usage(
            "--seconds in 1..=3600, --window in (0, 60]".into(),
        ));
    }
    let until = Instant::now() + Duration::from_secs(a.live.deadline_seconds.max(1));
    let tmp = scratch_dir("dtfhe-bench-mqtt-")?;
    let root = tmp.path().to_path_buf();
    let mut children = Children::default();
    let (_broker, port) = start_broker(&root)?;
    let (url, source, analyst_file) =
        start_platform(&mut children, &root, &a.live.preset, until, DATASET)?;
    eprintln!("bench mqtt: platform {url} ready, broker on 127.0.0.1:{port}");

    let (schema_path, schema, agent) =
        crate::live::schema_and_agent(&root, "mqtt_bench.toml", SCHEMA, &url, source)?;
    let mapping = Mapping::from_toml_str(MAP, "bench map", &schema)
        .map_err(|e| BenchError::Usage(e.to_string()))?;
    let cfg = MqttConfig {
        url: format!("mqtt://127.0.0.1:{port}"),
        client_id: "dtfhe-bench-agent".into(),
        credentials: None,
        tls: None,
        keep_alive: Duration::from_secs(30),
    };

    let stop = AtomicBool::new(false);
    let connected = AtomicBool::new(false);
    let progress = crate::live::Progress::default();
    // (publish instant of message i), in order.
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let plain_sum = AtomicU64::new(0); // hundredths
    let publishing_done = AtomicBool::new(false);
    // (arrival of a release, its count)
    let releases: Mutex<Vec<(Instant, u64, f64)>> = Mutex::new(Vec::new());
    let refused = AtomicU64::new(0);
    let top_up = AtomicBool::new(false);
    let acked = AtomicU64::new(0);
    let mut figures = MqttFigures::default();

    let outcome = std::thread::scope(|scope| -> Result<(), BenchError> {
        let agent_thread = scope.spawn(|| {
            let stopped = || stop.load(Ordering::Relaxed);
            let run = crate::live::live_run(&agent, &schema_path, a.live.window, &stopped);
            dtfhe_agent::mqtt::run::run(&run, &mapping, &cfg, &mut |e| {
                progress.note(&e);
                match e {
                    LiveEvent::Connected { .. } => connected.store(true, Ordering::Relaxed),
                    LiveEvent::Rejected { origin, reason } => {
                        eprintln!("bench mqtt: rejected {origin}: {reason}")
                    }
                    _ => {}
                }
            })
        });
        while !connected.load(Ordering::Relaxed) {
            if Instant::now() > until || agent_thread.is_finished() {
                stop.store(true, Ordering::Relaxed);
                return Err(BenchError::Platform(
                    "the agent did not connect to the broker".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500)); // its subscription

        // The analyst: released COUNT/SUM over and over.
        let querier = scope.spawn(|| {
            let mut last_count = 0u64;
            loop {
                if Instant::now() > until {
                    return;
                }
                let sql = format!("SELECT COUNT(x), SUM(x) FROM {DATASET}");
                let r = crate::live::count_and_sum(&url, &analyst_file, sql);
                let at = Instant::now();
                match r {
                    Ok((count, sum)) => {
                        releases
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((at, count, sum));
                        last_count = count;
                    }
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                let published = sent.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
                if publishing_done.load(Ordering::Relaxed) {
                    if last_count >= published {
                        return;
                    }
                    // The audit refuses a release that differs from the last one by fewer
                    // than k rows: once publishing stopped, ask for a few more values.
                    if published - last_count < 5 {
                        top_up.store(true, Ordering::Relaxed);
                    }
                }
            }
        });

        // The publisher: QoS 1, PUBACKs counted by a connection thread.
        let mut o = rumqttc::MqttOptions::new("dtfhe-bench-pub", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30)).set_inflight(500);
        let (client, mut conn) = rumqttc::Client::new(o, 1000);
        let (acked, publishing_done) = (&acked, &publishing_done);
        let pub_conn = scope.spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Err(_) if publishing_done.load(Ordering::Relaxed) => return,
                    _ => {}
                }
            }
        });
        let start = Instant::now();
        let length = Duration::from_secs(a.seconds);
        let mut i: u64 = 0;
        let publish = |i: u64| -> bool {
            let x = (i * 7919) % 10_000; // hundredths, 0.00..=99.99
            let payload = format!("{{\"x\":{}.{:02}}}", x / 100, x % 100);
            let topic = format!("bench/{}/x", 1 + i % 4);
            // The publish instant is noted before the value goes.
            sent.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Instant::now());
            plain_sum.fetch_add(x, Ordering::Relaxed);
            client
                .publish(
                    topic,
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    payload.into_bytes(),
                )
                .is_ok()
        };
        while start.elapsed() < length {
            if a.rate > 0 {
                let due = start + Duration::from_secs_f64(i as f64 / a.rate as f64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            if !publish(i) {
                return Err(BenchError::Platform("the publisher lost its client".into()));
            }
            i += 1;
        }
        // Every message acknowledged by the broker.
        while acked.load(Ordering::Relaxed) < i && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        figures.publish_seconds = start.elapsed().as_secs_f64();
        figures.published = i;
        publishing_done.store(true, Ordering::Relaxed);
        while !querier.is_finished() {
            if top_up.swap(false, Ordering::Relaxed) {
                for _ in 0..5 {
                    if !publish(i) {
                        return Err(BenchError::Platform("the publisher lost its client".into()));
                    }
                    i += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        figures.published = i;
        let _ = client.disconnect();
        let _ = pub_conn.join();
        let _ = querier.join();
        stop.store(true, Ordering::Relaxed);
        let stats = agent_thread
            .join()
            .map_err(|_| BenchError::Platform("the agent thread panicked".into()))?
            .map_err(|e| BenchError::Platform(e.to_string()))?;
        figures.windows = stats.windows;
        if let Some((t, _)) = progress.last_upload() {
            figures.ingest_seconds = t.duration_since(start).as_secs_f64();
        }
        Ok(())
    });
    children.stop();
    outcome?;
    let releases = releases.into_inner().unwrap_or_else(|p| p.into_inner());
    let sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
    figures.releases = (releases.len() as u64, refused.load(Ordering::Relaxed));
    let Some(&(_, count, sum)) = releases.last() else {
        return Err(BenchError::Platform("no release at all".into()));
    };
    let want_sum = plain_sum.load(Ordering::Relaxed) as f64 / 100.0;
    if count != figures.published || (sum - want_sum).abs() > 1e-6 * want_sum.max(1.0) {
        return Err(BenchError::Mismatch(format!(
            "released COUNT {count}, SUM {sum}; published {} values summing to {want_sum}",
            figures.published
        )));
    }
    // Latency of value i: the first release whose count covers it.
    let origin = sent.first().copied().unwrap_or_else(Instant::now);
    let secs = |t: &Instant| t.saturating_duration_since(origin).as_secs_f64();
    let sent: Vec<f64> = sent.iter().map(secs).collect();
    let releases: Vec<(f64, u64)> = releases.iter().map(|(at, n, _)| (secs(at), *n)).collect();
    figures.latencies = crate::live::latencies(&sent, &releases);
    Ok(figures)
}

/// Runs the bench and prints its figures.
pub fn run(a: &MqttArgs) -> Result<(), BenchError> {
    let f = measure(a)?;
    println!("{}", a.live.heading("MQTT", ""));
    println!(
        "published:  {} values in {:.1} s = {:.0} values/s (QoS 1, acknowledged by the broker)",
        f.published,
        f.publish_seconds,
        f.published as f64 / f.publish_seconds.max(1e-9)
    );
    println!(
        "ingested:   {} values in {} windows, encrypted, uploaded in {:.1} s = {:.0} values/s",
        f.published,
        f.windows,
        f.ingest_seconds,
        f.published as f64 / f.ingest_seconds.max(1e-9)
    );
    println!(
        "{}",
        crate::live::latency_line("publish", "values", &f.latencies, f.releases)
    );
    println!("released COUNT and SUM equal the plaintext of what was published");
    Ok(())
}
