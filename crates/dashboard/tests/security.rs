//! The dashboard as an attacker meets it, over real HTTP on loopback: a wrong password, a
//! guessing run past the limit, an expired session, a form without its CSRF token, another
//! role's URL, a dataset the user may not see. Each is refused and nothing of what was asked
//! is in the answer; the sign-in log never holds a password.
#![allow(clippy::unwrap_used)]

use dtfhe_dashboard::app::{self, App, Options};
use dtfhe_dashboard::{Backend, Role, Users};
use dtfhe_embedded::{ops, DeploymentDir};
use dtfhe_testkit::web::{hidden_csrf, Http};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const PW: &str = "a-long-password-0123";

/// One small embedded deployment for every test: production runs (plant-a) and an AI4I
/// slice, bfv-8192, two trustees, k = 5.
fn deployment() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let (root, dir) = fresh_deployment("dashboard_security");
        ingest(
            &root,
            &dir,
            "production_runs",
            "runs.csv",
            dtfhe_agent::mes::production_runs(30, 3),
        );
        ingest(
            &root,
            &dir,
            "ai4i",
            "ai4i.csv",
            dtfhe_testkit::data::ai4i_slice(0, 60),
        );
        dir
    })
}

/// A fresh embedded deployment (bfv-8192, two trustees) in the test directory `name`:
/// the directory and the deployment's.
fn fresh_deployment(name: &str) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("deployment");
    ops::init(&ops::InitOptions::new(
        DeploymentDir::sqlite(&dir),
        &["t1", "t2"],
        "bfv-8192",
    ))
    .unwrap();
    (root, dir)
}

/// Ingests `csv` (written to `root/file`) into `dir` as plant-a, with `schemas/<schema>.toml`.
fn ingest(root: &Path, dir: &Path, schema: &str, file: &str, csv: String) {
    let path = root.join(file);
    std::fs::write(&path, csv).unwrap();
    ops::ingest(&ops::IngestOptions {
        dir: DeploymentDir::sqlite(dir),
        schema: dtfhe_testkit::data::repo().join(format!("schemas/{schema}.toml")),
        csv: path,
        source: "plant-a".into(),
        progress: false,
    })
    .unwrap();
}

/// A dashboard of its own (state directory `name`, users below) over the shared deployment.
fn dashboard(name: &str, tune: impl FnOnce(&mut Options)) -> (String, PathBuf) {
    let dir = deployment();
    let state = dir.parent().unwrap().join(format!("state-{name}"));
    let _ = std::fs::remove_dir_all(&state);
    let mut users = Users::load(&state).unwrap();
    for (user, role, datasets) in [
        ("admin", Role::Admin, "*"),
        ("ana", Role::Analyst, "ai4i"),
        ("vic", Role::Viewer, "ai4i"),
        ("aud", Role::Auditor, "*"),
    ] {
        users
            .add(user, role, &[datasets.to_string()], PW, false)
            .unwrap();
    }
    let mut opts = Options::new(
        Backend::Embedded {
            dir: DeploymentDir::sqlite(dir),
        },
        state.clone(),
    );
    tune(&mut opts);
    let app = Arc::new(App::new(opts).unwrap());
    (serve(app), state)
}

fn ledger_len() -> usize {
    DeploymentDir::sqlite(deployment())
        .open_store_read_only()
        .unwrap()
        .entries()
        .unwrap()
        .len()
}

#[test]
fn wrong_password_is_refused_and_logged_without_the_password() {
    let (url, state) = dashboard("wrong-pw", |_| {});
    let mut http = Http::new(&url);
    let r = http.try_sign_in("admin", "not-the-password-42");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Wrong user name or password"));
    assert!(!r.body.contains("not-the-password-42"));
    assert!(http.cookie("dtfhe_session").is_none(), "a session was set");
    // Without a session, every page is the sign-in page.
    let r = http.get("/");
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    assert!(r.body.is_empty());
    // An unknown name gets the same answer; a password typed as the name is not logged.
    let r = http.try_sign_in("hunter2-typed-as-name", PW);
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Wrong user name or password"));
    let log = std::fs::read_to_string(state.join("auth.log")).unwrap();
    assert!(log.contains("signin_failed\tuser=admin"), "{log}");
    assert!(log.contains("(unknown user)"), "{log}");
    for secret in ["not-the-password-42", "hunter2-typed-as-name", PW] {
        assert!(!log.contains(secret), "the log holds `{secret}`: {log}");
    }
    // The right password works and is logged as a success.
    http.sign_in("admin", PW);
    let log = std::fs::read_to_string(state.join("auth.log")).unwrap();
    assert!(log.contains("signin_ok\tuser=admin"), "{log}");
}

#[test]
fn guessing_is_rate_limited_even_with_the_right_password() {
    let (url, state) = dashboard("limit", |o| {
        o.limit_per_user = 3;
        o.limit_per_addr = 100;
    });
    let mut http = Http::new(&url);
    for i in 0..3 {
        let r = http.try_sign_in("ana", &format!("guess-number-{i}-xxxx"));
        assert_eq!(r.status, 401);
    }
    let r = http.try_sign_in("ana", PW);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many failed sign-ins"));
    assert!(http.cookie("dtfhe_session").is_none());
    // Another user is not locked out by ana's failures.
    http.sign_in("vic", PW);
    let log = std::fs::read_to_string(state.join("auth.log")).unwrap();
    assert!(log.contains("signin_throttled\tuser=ana"), "{log}");
    assert!(!log.contains("guess-number"), "{log}");
}

#[test]
fn an_expired_session_is_sent_to_sign_in_with_nothing_of_the_page() {
    let (url, _) = dashboard("expiry", |o| o.session_idle = Duration::from_secs(3));
    let mut http = Http::new(&url);
    http.sign_in("admin", PW);
    let r = http.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("production_runs"));
    std::thread::sleep(Duration::from_millis(3500));
    let r = http.get("/");
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/login?expired=1"))
    );
    assert!(r.body.is_empty(), "{}", r.body);
    // And the old token stays dead.
    let r = http.get("/datasets/production_runs");
    assert_eq!(r.status, 303);
    let r = http.get("/login?expired=1");
    assert!(r.body.contains("Your session has ended"));
}

#[test]
fn cookies_are_httponly_strict_and_renewed_at_sign_in() {
    let (url, _) = dashboard("cookies", |o| o.secure_cookies = true);
    let mut http = Http::new(&url);
    let page = http.get("/login");
    assert!(page.csp.contains("default-src 'self'") && page.csp.contains("script-src 'self'"));
    let r = http.try_sign_in("admin", PW);
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("dtfhe_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(session.contains(attr), "{session}");
    }
    let first = http.cookie("dtfhe_session").unwrap().to_string();
    http.get("/"); // still signed in
    let mut again = Http::new(&url);
    again.sign_in("admin", PW);
    assert_ne!(
        again.cookie("dtfhe_session").unwrap(),
        first,
        "a session token was reused"
    );
}

#[test]
fn posts_without_the_csrf_token_do_nothing() {
    let (url, _) = dashboard("csrf", |_| {});
    let mut http = Http::new(&url);
    // The sign-in form itself: without its token, no session.
    http.get("/login");
    let r = http.post("/login", &[("username", "admin"), ("password", PW)]);
    assert_eq!(r.status, 403);
    assert!(http.cookie("dtfhe_session").is_none());

    let csrf = http.sign_in("admin", PW);
    let before = ledger_len();
    let sql = "SELECT COUNT(*) AS n, AVG(torque) FROM ai4i";
    for form in [
        vec![("sql", sql)],
        vec![("sql", sql), ("csrf", "0000")],
        vec![("sql", sql), ("csrf", "")],
    ] {
        let r = http.post("/query", &form);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("CSRF"));
        assert!(!r.body.contains("<table"));
    }
    assert_eq!(ledger_len(), before, "a query ran without its CSRF token");
    let r = http.post("/audit/verify", &[]);
    assert_eq!(r.status, 403);
    assert!(!r.body.contains("Verified"));
    // Sign-out without the token leaves the session alive; with it, ends it.
    let r = http.post("/logout", &[]);
    assert_eq!(r.status, 403);
    assert_eq!(http.get("/").status, 200);
    // A token of another session does not pass either.
    let mut other = Http::new(&url);
    let other_csrf = other.sign_in("admin", PW);
    assert_ne!(other_csrf, csrf);
    let r = http.post("/logout", &[("csrf", &other_csrf)]);
    assert_eq!(r.status, 403);
    let r = http.post("/logout", &[("csrf", &csrf)]);
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    assert_eq!(http.get("/").status, 303);
}

/// Nothing about the hidden dataset or a released value in a refusal.
fn assert_bare_403(what: &str, r: &dtfhe_testkit::web::Resp) {
    assert_eq!(r.status, 403, "{what}: {}", r.body);
    for leak in [
        "production_runs",
        "<table",
        "availability",
        "planned_min",
        "Release facts",
        "ledger",
    ] {
        assert!(
            !r.body.contains(leak),
            "{what}: the 403 page shows `{leak}`"
        );
    }
}

#[test]
fn another_roles_urls_and_hidden_datasets_are_refused() {
    let (url, _) = dashboard("roles", |_| {});
    // The viewer: no editor, no audit, no OEE (production_runs is not theirs).
    let mut vic = Http::new(&url);
    let csrf = vic.sign_in("vic", PW);
    let overview = vic.get("/");
    assert!(overview.body.contains("ai4i"));
    assert!(!overview.body.contains("production_runs"));
    assert!(
        !overview.body.contains("/views/oee"),
        "the viewer is offered the OEE view"
    );
    for path in [
        "/query",
        "/audit",
        "/views/oee",
        "/views/oee/csv?part=line",
        "/datasets/production_runs",
        "/datasets/no_such_dataset",
        "/query/last.csv",
    ] {
        assert_bare_403(&format!("viewer GET {path}"), &vic.get(path));
    }
    // The hidden dataset and a missing one are refused alike (no existence oracle).
    assert_eq!(
        vic.get("/datasets/production_runs").body,
        vic.get("/datasets/no_such_dataset").body
    );
    let before = ledger_len();
    for (path, form) in [
        ("/audit/verify", vec![("csrf", csrf.as_str())]),
        (
            "/query",
            vec![
                ("csrf", csrf.as_str()),
                ("sql", "SELECT COUNT(*) FROM ai4i"),
            ],
        ),
        ("/views/oee/refresh", vec![("csrf", csrf.as_str())]),
    ] {
        assert_bare_403(&format!("viewer POST {path}"), &vic.post(path, &form));
    }
    assert_eq!(ledger_len(), before, "a refused POST changed the ledger");

    // The auditor: the audit view, but no released numbers.
    let mut aud = Http::new(&url);
    aud.sign_in("aud", PW);
    assert_eq!(aud.get("/audit").status, 200);
    for path in ["/views/oee", "/query", "/query/last.csv"] {
        assert_bare_403(&format!("auditor GET {path}"), &aud.get(path));
    }

    // The analyst of ai4i: the editor, but production_runs reads as unknown, and no audit.
    let mut ana = Http::new(&url);
    let csrf = ana.sign_in("ana", PW);
    assert_bare_403("analyst GET /audit", &ana.get("/audit"));
    let hidden = ana.post(
        "/query",
        &[
            ("csrf", &csrf),
            ("sql", "SELECT COUNT(*) FROM production_runs"),
        ],
    );
    let missing = ana.post(
        "/query",
        &[
            ("csrf", &csrf),
            ("sql", "SELECT COUNT(*) FROM no_such_dataset"),
        ],
    );
    assert_eq!(hidden.status, 200);
    assert!(
        hidden.body.contains("unknown dataset `production_runs`"),
        "{}",
        hidden.body
    );
    assert!(missing.body.contains("unknown dataset `no_such_dataset`"));
    assert!(
        !hidden.body.contains("planned_min"),
        "the hidden schema leaked"
    );
    assert_eq!(
        ledger_len(),
        before,
        "a query on a hidden dataset reached the deployment"
    );
    // The editor lists only ai4i.
    let editor = ana.get("/query");
    assert!(editor.body.contains("ai4i") && !editor.body.contains("production_runs"));
    assert_eq!(hidden_csrf(&editor.body), csrf);
}

/// A hostile (or merely unlucky) refresh: new rows arrive that would let anyone subtract
/// the earlier release from the new one and learn the total of fewer than k rows. The
/// trustees refuse the new release, and the view shows the refusal, not the earlier numbers
/// as if they were fresh.
#[test]
fn a_refresh_the_trustees_refuse_shows_the_refusal_not_old_numbers() {
    let (root, dir) = fresh_deployment("dashboard_refresh");
    let ingest = |name: &str, csv: String| ingest(&root, &dir, "production_runs", name, csv);
    ingest("runs.csv", dtfhe_agent::mes::production_runs(40, 11));
    let state = root.join("state");
    let app = embedded_app(&dir, state, "admin");
    let url = serve(app);
    let mut http = Http::new(&url);
    http.sign_in("admin", PW);
    let before = http.get("/views/oee");
    assert!(
        before.body.contains("id=\"table-plant\""),
        "{}",
        before.body
    );
    let plant_row = before
        .body
        .split("id=\"table-plant\"")
        .nth(1)
        .and_then(|t| t.split("<tbody>").nth(1))
        .and_then(|t| t.split("</tr>").next())
        .unwrap()
        .to_string();
    // Three more runs: the plant's new release would differ from the last one by 3 < k rows.
    let extra: String = dtfhe_agent::mes::production_runs(3, 12)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                // Fresh run ids (identifiers), after the first file's.
                let rest = l.split_once(',').unwrap().1;
                format!("{},{rest}\n", 1000 + i)
            }
        })
        .collect();
    ingest("more.csv", extra);
    let after = http.get("/views/oee");
    assert_eq!(after.status, 200);
    let plant = after.body.split("id=\"h-plant\"").nth(1).unwrap();
    assert!(
        plant.contains("notice refused") && plant.contains("fewer than k"),
        "no refusal: {plant}"
    );
    assert!(
        !plant.contains("id=\"table-plant\""),
        "old numbers shown: {plant}"
    );
    // The released OEE and scrap of the plant (long decimals; the plant and run count cells
    // are skipped, their short text could appear anywhere).
    let numbers: Vec<&str> = plant_row
        .split("<td")
        .skip(3)
        .map(|cell| cell.split('>').nth(1).unwrap().split('<').next().unwrap())
        .collect();
    assert_eq!(numbers.len(), 2, "{plant_row}");
    for number in numbers {
        assert!(number.len() > 6, "{number}");
        assert!(
            !after.body.contains(number),
            "the earlier number {number} is still shown"
        );
    }
}

/// A dashboard of the embedded deployment `dir` keeping its state in `state`, where `admin`
/// (password [`PW`]) is an administrator of every dataset.
fn embedded_app(dir: &Path, state: PathBuf, admin: &str) -> Arc<App> {
    Users::load(&state)
        .unwrap()
        .add(admin, Role::Admin, &["*".into()], PW, false)
        .unwrap();
    Arc::new(
        App::new(Options::new(
            Backend::Embedded {
                dir: DeploymentDir::sqlite(dir),
            },
            state,
        ))
        .unwrap(),
    )
}

/// Serves `app` on a loopback port in a thread of its own; returns its URL.
fn serve(app: Arc<App>) -> String {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    dtfhe_testkit::run_in_thread(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        app::serve(app, listener).await.unwrap();
    });
    format!("http://{addr}")
}

/// `dtfhe demo --serve`'s one-time sign-in link: one session, once; a second use, a wrong
/// token and an expired link are refused and give no session.
#[test]
fn a_one_time_link_signs_in_once() {
    let dir = deployment();
    let state = dir.parent().unwrap().join("state-once");
    let _ = std::fs::remove_dir_all(&state);
    let app = embedded_app(dir, state.clone(), "demo");
    assert!(app
        .one_time_link("nobody", Duration::from_secs(60))
        .is_err());
    let link = app.one_time_link("demo", Duration::from_secs(60)).unwrap();
    let expired = app.one_time_link("demo", Duration::from_millis(1)).unwrap();
    let url = serve(app);
    let mut first = Http::new(&url);
    let r = first.get(&link);
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/")));
    assert_eq!(first.get("/").status, 200, "the link gave no session");
    for (what, path) in [
        ("a second use", link.clone()),
        ("an expired link", expired),
        ("a wrong token", format!("/login/once/{}", "ab".repeat(32))),
        ("no token", "/login/once/".to_string()),
    ] {
        let mut other = Http::new(&url);
        let r = other.get(&path);
        assert!(r.status == 403 || r.status == 404, "{what}: {}", r.status);
        assert!(
            other.cookie("dtfhe_session").is_none(),
            "{what} gave a session"
        );
        assert_eq!(other.get("/").status, 303, "{what}");
    }
    let log = std::fs::read_to_string(state.join("auth.log")).unwrap();
    assert!(log.contains("signin_ok_once\tuser=demo"), "{log}");
    assert!(
        !log.contains(link.trim_start_matches("/login/once/")),
        "the token was logged"
    );
}

/// Scheduled reports and their PDFs: a schedule of the OEE view makes sealed reports by
/// itself (made by `schedule`); each opens as a PDF that embeds its font and whose text,
/// parsed back, holds every released number of the view as the page shows it, equal to the
/// plaintext computation; the sealed file holds none of them in clear; a viewer of another
/// dataset gets 403 and no PDF.
#[test]
fn scheduled_reports_are_sealed_and_open_as_pdf_with_the_released_numbers() {
    let (url, state) = dashboard("schedule", |o| {
        o.schedules = vec![(
            "oee".into(),
            dtfhe_dashboard::schedule::Schedule::Every(Duration::from_secs(1)),
        )];
    });
    let reports = state.join("reports");
    let started = std::time::Instant::now();
    let id = loop {
        let found = std::fs::read_dir(&reports).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .find_map(|n| n.strip_suffix(".report").map(str::to_string))
        });
        if let Some(id) = found {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no scheduled report"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut http = Http::new(&url);
    http.sign_in("admin", PW);
    let page = http.get(&format!("/reports/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("by schedule") && page.body.contains("/pdf"));
    let pdf = http.get(&format!("/reports/{id}/pdf"));
    assert_eq!(pdf.status, 200, "{}", pdf.body);
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(
        pdf.bytes.windows(9).any(|w| w == b"FontFile2"),
        "the font is not embedded"
    );
    let doc = lopdf::Document::load_mem(&pdf.bytes).expect("the PDF parses");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("the PDF's text");
    assert!(text.contains("OEE and scrap"), "{text}");

    let schema = dtfhe_model::Schema::from_toml_file(
        &dtfhe_testkit::data::repo().join("schemas/production_runs.toml"),
    )
    .unwrap();
    let rows = dtfhe_embedded::reference::plain_rows(
        dtfhe_agent::mes::production_runs(30, 3).as_bytes(),
        &schema,
        "plant-a",
    )
    .unwrap();
    let sealed = std::fs::read(reports.join(format!("{id}.report"))).unwrap();
    let mut checked = 0;
    for part in dtfhe_dashboard::views::OEE.parts {
        let plain = dtfhe_embedded::reference::evaluate(&schema, part.sql, &rows).unwrap();
        for row in &plain.rows {
            for (i, cell) in row.iter().enumerate() {
                let shown = dtfhe_dashboard::html::shown(&plain, i, cell).unwrap();
                assert!(
                    text.contains(&shown),
                    "{}: `{shown}` (plaintext) is not in the PDF:\n{text}",
                    part.title
                );
                if matches!(cell, dtfhe_engine::Cell::Float(_)) && shown.len() > 4 {
                    assert!(
                        !sealed.windows(shown.len()).any(|w| w == shown.as_bytes()),
                        "`{shown}` is in the sealed file in clear"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8, "only {checked} numbers checked");

    let mut vic = Http::new(&url);
    vic.sign_in("vic", PW);
    let r = vic.get(&format!("/reports/{id}/pdf"));
    assert_eq!(r.status, 403);
    assert!(!r.bytes.starts_with(b"%PDF"));
}
