//! `dtfhe agent --mtconnect URL` against a small MTConnect agent on loopback (this test
//! serves the fixture documents: `/sample` answers the fixture's stream, `/sample?from=158`
//! an empty stream with the same `nextSequence`) and a real platform with trustee daemons:
//! the polled observations are encrypted at the edge and uploaded, `UNAVAILABLE` values are
//! counted and not stored, the released aggregates equal the plaintext this test reads from
//! the fixture, and a second run polls on from the stored `nextSequence` and stores nothing
//! twice.

mod common;

use common::documents::texts_of;
use common::net::start;
use common::*;
use dtfhe_engine::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MTConnectStreams \
    xmlns=\"urn:mtconnect.org:MTConnectStreams:2.0\"><Header creationTime=\"2026-12-03T08:02:00Z\" \
    sender=\"agent-vmc\" instanceId=\"1764748800\" version=\"2.0.0.12\" bufferSize=\"131072\" \
    nextSequence=\"158\" firstSequence=\"1\" lastSequence=\"157\"/><Streams/></MTConnectStreams>\n";

/// Serves `/sample` (the fixture) and `/sample?from=158` (empty) on loopback; every request
/// path is recorded.
fn mtconnect_agent(sample: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            // Drain the request headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            log.lock().expect("log").push(path.clone());
            let (status, body) = match path.as_str() {
                "/sample" => ("200 OK", sample.as_str()),
                "/sample?from=158" => ("200 OK", EMPTY),
                _ => ("404 Not Found", "no such path"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn polled_mtconnect_stream_releases_the_plaintext_exactly_once() {
    let fixture = repo().join("crates/agent/tests/fixtures/mtconnect_sample.xml");
    let sample = std::fs::read_to_string(&fixture).expect("fixture");
    let (url, seen) = mtconnect_agent(sample.clone());
    let net = start(
        "mtconnect_agent",
        "bfv-8192",
        &[],
        &[
            ("ana", "analyst", "mtconnect_machine"),
            ("vmc", "source", "mtconnect_machine"),
        ],
    );
    let schema = repo().join("schemas/mtconnect_machine.toml");
    let agent = |what: &str| {
        let o = dtfhe([
            "agent".as_ref(),
            "--server".as_ref(),
            net.url.as_ref(),
            "--identity".as_ref(),
            net.id("vmc").as_os_str(),
            "--schema".as_ref(),
            schema.as_os_str(),
            "--mtconnect".as_ref(),
            url.as_ref(),
            "--mtconnect-interval-ms".as_ref(),
            "100".as_ref(),
            "--once".as_ref(),
        ] as [&std::ffi::OsStr; 12]);
        let (out, err) = texts(&o);
        assert!(o.status.success(), "{what}: {out}\n{err}");
        out
    };
    let out = agent("first run");
    assert!(out.contains("12 rows"), "{out}");
    assert!(
        out.contains("5 UNAVAILABLE (not stored); next sequence 158"),
        "{out}"
    );
    assert_eq!(*seen.lock().expect("log"), ["/sample", "/sample?from=158"]);

    let load: Vec<f64> = texts_of(&sample, "Load")
        .into_iter()
        .filter(|v| *v != "UNAVAILABLE")
        .map(|v| v.parse().expect("number"))
        .collect();
    assert_eq!(load.len(), 11);
    let released = |what: &str| {
        let r = success_json(
            &dtfhe(net.query_args(
                "SELECT COUNT(*), COUNT(spindle_load), SUM(spindle_load) FROM mtconnect_machine",
            )),
            what,
        );
        (
            r.rows[0][0].clone(),
            r.rows[0][1].clone(),
            number(&r.rows[0][2]),
        )
    };
    let (rows, n, sum) = released("after the first run");
    assert_eq!((rows, n), (Cell::Int(12), Cell::Int(11)));
    assert!((sum - load.iter().sum::<f64>()).abs() < 1e-6, "{sum}");

    // A second run polls on from the stored nextSequence: nothing new, nothing twice.
    let out = agent("second run");
    assert!(out.contains("next sequence 158"), "{out}");
    assert_eq!(
        seen.lock().expect("log").last().map(String::as_str),
        Some("/sample?from=158")
    );
    let (rows, _, sum2) = released("after the second run");
    assert_eq!(rows, Cell::Int(12));
    assert!((sum2 - sum).abs() < 1e-9);
}
