//! Hostile clients against a real `dtfhe serve` process (issue 16): the platform stays up,
//! a replay never works twice.
//!
//! - SQL past the size and depth limits: a 4xx problem (before any grant check or
//!   planning), and the server keeps answering; the embedded `dtfhe query` exits 3;
//! - the grant is checked before planning;
//! - a signed request replayed after a restart of the server is refused;
//! - a flood of unauthenticated requests adds a bounded number of ledger entries;
//! - an oversize body is refused with 413 without the server buffering it;
//! - unknown routes, wrong methods and malformed path ids are problem documents;
//! - a client that sends its headers (or its body) too slowly is cut off.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{free_port, fresh_dir, wait_for_platform, Proc};
use dtfhe_api::auth::{sign_request, SignedHeaders};
use dtfhe_api::release::{sign_statement, QueryRequest};
use dtfhe_api::types::{b64, IdentityRecord, LedgerPage};
use dtfhe_api::{Client, Identity, Problem, Role};

/// A `dtfhe serve` in its own directory, restartable with the same store.
struct Server {
    root: PathBuf,
    dir: PathBuf,
    listen: String,
    url: String,
    admin: Identity,
    extra: Vec<String>,
    proc: Option<Proc>,
}

impl Server {
    fn start(name: &str, extra: &[&str]) -> Server {
        let root = fresh_dir(name);
        let port = free_port();
        let mut s = Server {
            dir: root.join("platform"),
            root,
            listen: format!("127.0.0.1:{port}"),
            url: format!("http://127.0.0.1:{port}"),
            admin: Identity::generate("root").unwrap(),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            proc: None,
        };
        s.restart();
        s
    }

    /// Kills the process (if running) and starts it again on the same directory.
    fn restart(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        let admin = format!("root={}", self.admin.public_key_string());
        let mut args = vec![
            "serve",
            "--dir",
            self.dir.to_str().unwrap(),
            "--listen",
            &self.listen,
            "--admin",
            &admin,
            "--trustees",
            "plant-a,plant-b",
            "--min-group-size",
            "2",
            "--preset",
            "bfv-8192",
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let p = Proc::spawn(&self.root, "serve", &args);
        wait_for_platform(&self.url, false, Duration::from_secs(60), || p.log());
        self.proc = Some(p);
    }

    fn pid(&self) -> u32 {
        self.proc.as_ref().unwrap().child.id()
    }

    fn alive(&mut self) -> bool {
        self.proc
            .as_mut()
            .is_some_and(|p| p.child.try_wait().unwrap().is_none())
    }

    fn client(&self, id: &Identity) -> Client {
        Client::new(&self.url, Some(id.clone()), Duration::from_secs(60))
    }

    fn register(&self, name: &str, role: Role, datasets: &[&str]) -> Identity {
        let id = Identity::generate(name).unwrap();
        let _: IdentityRecord = self
            .client(&self.admin)
            .post_json(
                "/v1/identities",
                &IdentityRecord {
                    name: name.into(),
                    role,
                    public_key: id.public_key_string(),
                    datasets: datasets.iter().map(|d| d.to_string()).collect(),
                    revoked: None,
                },
            )
            .unwrap();
        id
    }

    fn ledger(&self) -> LedgerPage {
        self.client(&self.admin)
            .get_json("/v1/ledger?limit=10000")
            .unwrap()
    }

    fn addr(&self) -> &str {
        &self.listen
    }
}

/// A raw HTTP/1.1 exchange: sends `head` (request line and headers, without the blank
/// line) and `body`, returns (status, content type, body) or `None` if the server closed
/// the connection without answering.
fn exchange(addr: &str, head: &str, body: &[u8]) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    let _ = s.write_all(&req);
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> Option<(u16, String, String)> {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Some((status, ctype, body.to_string()))
}

fn signed_head(method: &str, path: &str, h: &SignedHeaders) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nx-dtfhe-identity: {}\r\nx-dtfhe-timestamp: {}\r\n\
         x-dtfhe-nonce: {}\r\nx-dtfhe-signature: {}",
        h.identity, h.timestamp, h.nonce, h.signature
    )
}

fn problem_of(status: u16, ctype: &str, body: &str) -> Problem {
    assert_eq!(ctype, "application/problem+json", "{status}: {body}");
    let p: Problem = serde_json::from_str(body).unwrap();
    assert_eq!(p.status, status);
    p
}

fn now() -> u64 {
    dtfhe_model::clock::now_unix()
}

/// A query request signed by `analyst` (statement and recipient valid).
fn query_request(analyst: &Identity, sql: &str) -> QueryRequest {
    let recipient = b64(&[9u8; 32]);
    let t = now();
    QueryRequest {
        sql: sql.into(),
        epsilon: None,
        recipient: recipient.clone(),
        timestamp: t,
        statement_signature: sign_statement(analyst, t, None, &recipient, sql),
    }
}

fn or_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("line = 'L{i}'")).collect();
    format!("SELECT COUNT(*) FROM runs WHERE {}", terms.join(" OR "))
}

fn post_query(s: &Server, who: &Identity, sql: &str) -> Problem {
    let e = s
        .client(who)
        .post_json::<_, serde_json::Value>("/v1/queries", &query_request(who, sql))
        .unwrap_err();
    match e {
        dtfhe_api::ApiError::Problem { problem, .. } => *problem,
        other => panic!("expected a problem, got {other}"),
    }
}

fn health_ok(s: &Server) {
    let c = Client::new(&s.url, None, Duration::from_secs(10));
    let h: dtfhe_api::types::Health = c.get_json("/v1/health").unwrap();
    assert!(!h.ready);
}

#[test]
fn deep_or_long_sql_is_a_4xx_and_the_server_keeps_answering() {
    let mut s = Server::start("hostile_sql", &[]);
    // No grant at all: the limits answer first (they run before the grant check).
    let stranger = s.register("analyst-0", Role::Analyst, &[]);
    let granted = s.register("analyst-1", Role::Analyst, &["runs"]);
    let parens = format!(
        "SELECT COUNT(*) FROM runs WHERE {}line = 'L1'{}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let ands = {
        let t: Vec<String> = (0..3000).map(|_| "shift = 1".to_string()).collect();
        format!("SELECT COUNT(*) FROM runs WHERE {}", t.join(" AND "))
    };
    for who in [&stranger, &granted] {
        for sql in [or_chain(2000), or_chain(300), ands.clone(), parens.clone()] {
            let p = post_query(&s, who, &sql);
            assert_eq!(p.status, 400, "{p}");
            let detail = p.detail.unwrap_or_default();
            assert!(detail.contains("query too complex"), "{detail}");
            assert!(detail.contains("(limit "), "{detail}");
            assert!(s.alive(), "the server died");
            health_ok(&s);
        }
    }
    // The grant is checked before planning: a query on a dataset without a grant is 403
    // even though it would not plan (unknown column, no such dataset yet).
    let p = post_query(&s, &stranger, "SELECT SUM(nothing) FROM runs");
    assert_eq!(p.status, 403, "{p}");
    // With the grant, the same query reaches planning (no deployment yet: 503).
    let p = post_query(&s, &granted, "SELECT SUM(nothing) FROM runs");
    assert_eq!(p.status, 503, "{p}");
    assert!(s.alive());
}

/// The embedded `dtfhe query` refuses the same texts with exit 3 (it crashed with exit 134
/// at ~7,000 terms).
#[test]
fn embedded_query_past_the_limits_exits_3() {
    let dir = fresh_dir("hostile_sql_embedded");
    common::init(&dir, "plant-a,plant-b", 2, "bfv-8192");
    for sql in [or_chain(7000), or_chain(300)] {
        let err = common::fails_with(3, common::query_args(&dir, &sql));
        assert!(err.contains("query too complex"), "{err}");
    }
}

#[test]
fn a_request_replayed_after_a_restart_is_refused() {
    let mut s = Server::start("hostile_replay", &[]);
    // A signed, state-changing request: the admin registers an analyst.
    let analyst = Identity::generate("analyst-1").unwrap();
    let body = serde_json::to_vec(&IdentityRecord {
        name: "analyst-1".into(),
        role: Role::Analyst,
        public_key: analyst.public_key_string(),
        datasets: vec!["runs".into()],
        revoked: None,
    })
    .unwrap();
    let h = sign_request(&s.admin, "POST", "/v1/identities", &body, now());
    let head = format!(
        "{}\r\nContent-Type: application/json\r\nContent-Length: {}",
        signed_head("POST", "/v1/identities", &h),
        body.len()
    );
    let (status, _, text) = exchange(s.addr(), &head, &body).unwrap();
    assert_eq!(status, 200, "{text}");
    // Replayed at once: refused.
    let (status, ctype, text) = exchange(s.addr(), &head, &body).unwrap();
    let p = problem_of(status, &ctype, &text);
    assert_eq!(p.status, 401);
    assert!(p.detail.unwrap().contains("replayed"));

    // A signed read, sent once, then the server restarts (killed, not stopped cleanly).
    let h = sign_request(&s.admin, "GET", "/v1/identities", b"", now());
    let get = signed_head("GET", "/v1/identities", &h);
    let (status, _, _) = exchange(s.addr(), &get, b"").unwrap();
    assert_eq!(status, 200);
    s.restart();
    for (head, body) in [(&get, &b""[..]), (&head, &body[..])] {
        let (status, ctype, text) = exchange(s.addr(), head, body).expect("an answer");
        let p = problem_of(status, &ctype, &text);
        assert_eq!(p.status, 401, "{text}");
        assert!(p.detail.unwrap().contains("replayed"), "{text}");
    }
    // A fresh request by the same identity still works.
    let _: Vec<IdentityRecord> = s.client(&s.admin).get_json("/v1/identities").unwrap();
}

#[test]
fn unauthenticated_floods_leave_the_ledger_bounded() {
    let s = Server::start("hostile_flood", &["--denial-report-ms", "300"]);
    let before = s.ledger();
    let mallory = Identity::generate("root").unwrap(); // claims the admin's name
    let n = 300;
    for i in 0..n {
        let head = match i % 3 {
            0 => "GET /v1/deployment HTTP/1.1\r\nHost: x".to_string(),
            1 => signed_head(
                "GET",
                "/v1/ledger",
                &sign_request(&mallory, "GET", "/v1/ledger", b"", now()),
            ),
            _ => signed_head(
                "GET",
                "/v1/identities",
                &sign_request(&mallory, "GET", "/v1/identities", b"", now() - 3600),
            ),
        };
        let (status, ctype, text) = exchange(s.addr(), &head, b"").unwrap();
        assert_eq!(problem_of(status, &ctype, &text).status, 401);
    }
    // Wait for the summaries of every refusal (the report period is 300 ms).
    let started = Instant::now();
    let summaries = loop {
        let after = s.ledger();
        let summaries: Vec<_> = after.entries[before.entries.len()..]
            .iter()
            .filter(|e| e.kind == "access_denied" && e.actor == "anonymous")
            .cloned()
            .collect();
        let counted: u64 = summaries
            .iter()
            .map(|e| {
                e.detail
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        if counted >= n {
            assert_eq!(counted, n);
            break summaries;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "summaries: {summaries:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // One entry per address per period: the flood took a few periods at most, and the
    // ledger grew by those summaries only (was: one entry and one checkpoint per request).
    let after = s.ledger();
    let grown = after.size - before.size;
    assert_eq!(grown, summaries.len() as u64);
    assert!(grown <= 40, "{grown} entries for {n} requests");
    assert!(summaries.iter().all(|e| e.subject == "127.0.0.1"));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn oversize_bodies_are_413_without_being_buffered() {
    let s = Server::start("hostile_bodies", &[]);
    let analyst = s.register("analyst-1", Role::Analyst, &["runs"]);
    health_ok(&s);
    let baseline = rss_kib(s.pid());
    let hundred_mb: u64 = 100 * 1024 * 1024;
    let chunk = vec![b'x'; 1 << 20];
    let conns: u64 = 8;
    let answers: Vec<std::thread::JoinHandle<(u16, String, String)>> = (0..conns)
        .map(|i| {
            let h = sign_request(&analyst, "POST", "/v1/queries", b"forged", now());
            let mut head = signed_head("POST", "/v1/queries", &h);
            if i % 2 == 0 {
                head.push_str(&format!("\r\nContent-Length: {hundred_mb}"));
            } else {
                // No length declared: the limit applies while the body streams in.
                head.push_str("\r\nTransfer-Encoding: chunked");
            }
            let (addr, chunk) = (s.addr().to_string(), chunk.clone());
            std::thread::spawn(move || {
                let mut st = TcpStream::connect(addr).unwrap();
                st.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                st.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                st.write_all(format!("{head}\r\n\r\n").as_bytes()).unwrap();
                // Push up to 8 MB while reading the answer; the server stops reading once
                // the limit is passed (or at once, for the declared length).
                let mut w = st.try_clone().unwrap();
                let chunked = i % 2 == 1;
                std::thread::spawn(move || {
                    for _ in 0..8 {
                        let sent = if chunked {
                            w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                                .and_then(|()| w.write_all(&chunk))
                                .and_then(|()| w.write_all(b"\r\n"))
                        } else {
                            w.write_all(&chunk)
                        };
                        if sent.is_err() {
                            break;
                        }
                    }
                });
                read_response(&mut st).expect("an answer")
            })
        })
        .collect();
    for a in answers {
        let (status, ctype, text) = a.join().unwrap();
        assert_eq!(problem_of(status, &ctype, &text).status, 413, "{text}");
    }
    let grown = rss_kib(s.pid()).saturating_sub(baseline);
    eprintln!("server RSS grew by {grown} KiB for {conns} oversize requests");
    assert!(
        grown < 4 * 1024 * conns,
        "RSS grew by {grown} KiB for {conns} connections of 8 MB each"
    );
    // Anonymous 100 MB to the upload route: 401 before any body byte is read.
    let head = format!(
        "POST /v1/datasets/runs/chunks HTTP/1.1\r\nHost: x\r\nContent-Length: {hundred_mb}"
    );
    let (status, ctype, text) = exchange(s.addr(), &head, &chunk).unwrap();
    assert_eq!(problem_of(status, &ctype, &text).status, 401);
    health_ok(&s);
}

#[test]
fn unknown_routes_wrong_methods_and_bad_ids_are_problems() {
    let s = Server::start("hostile_routes", &[]);
    for (head, status) in [
        ("GET /nope HTTP/1.1\r\nHost: x", 404),
        ("GET /v1/queries/1/extra HTTP/1.1\r\nHost: x", 404),
        ("DELETE /v1/health HTTP/1.1\r\nHost: x", 405),
        ("PUT /v1/queries HTTP/1.1\r\nHost: x", 405),
        ("GET /v1/queries/not-a-number HTTP/1.1\r\nHost: x", 400),
        ("GET /v1/ledger/inclusion/-1 HTTP/1.1\r\nHost: x", 400),
    ] {
        let (got, ctype, text) = exchange(s.addr(), head, b"").unwrap();
        assert_eq!(got, status, "{head}: {text}");
        let p = problem_of(got, &ctype, &text);
        assert!(p.detail.is_some_and(|d| !d.is_empty()), "{head}");
    }
}

#[test]
fn slow_headers_and_slow_bodies_are_cut_off() {
    let s = Server::start(
        "hostile_slow",
        &["--header-timeout-ms", "1000", "--body-timeout-ms", "1000"],
    );
    let analyst = s.register("analyst-1", Role::Analyst, &["runs"]);
    // Headers that never end.
    let mut st = TcpStream::connect(s.addr()).unwrap();
    st.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    st.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match st.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue, // a 408 answer before the close is fine
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false, // our read timeout: still open
        }
    };
    assert!(closed, "a slow-header connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(15));

    // A body that never arrives: 408 after the body timeout.
    let h = sign_request(&analyst, "POST", "/v1/queries", b"{}", now());
    let head = format!(
        "{}\r\nContent-Length: 100",
        signed_head("POST", "/v1/queries", &h)
    );
    let mut st = TcpStream::connect(s.addr()).unwrap();
    st.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    st.write_all(format!("{head}\r\n\r\n{{").as_bytes())
        .unwrap();
    let (status, ctype, text) = read_response(&mut st).expect("an answer");
    assert_eq!(problem_of(status, &ctype, &text).status, 408);
    health_ok(&s);
}
