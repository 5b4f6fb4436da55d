//! The HTTP side: routes, sign-in, sessions, CSRF, role and dataset checks, security
//! headers. Every page is rendered on the server ([`crate::pages`]); the only scripts are
//! `/assets/app.js` and the vendored chart library, both served from here.

use crate::backend::{Backend, Released};
use crate::error::DashboardError;
use crate::html::{self, Frame};
use crate::pages;
use crate::schedule::Schedule;
use crate::scores::{Scored, Scoring};
use crate::session::{same_token, token, Limiter, Session, Sessions, LOGIN_COOKIE, SESSION_COOKIE};
use crate::users::{User, Users};
use crate::views;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The Content Security Policy of every response: only this origin's scripts, styles and
/// images (and `data:` images, which the chart library's export uses), no plugins, no
/// framing, forms only to this origin.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// `?` for the handlers, which answer with a page either way: the page of an
/// `Err(Box<Response>)` (sign-in redirect, 403, 404, CSRF refusal) is the answer.
macro_rules! or_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return *r,
        }
    };
}

/// How a dashboard runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The deployment.
    pub backend: Backend,
    /// The dashboard's own state directory (users file, sign-in log).
    pub state: PathBuf,
    /// Idle time after which a session ends.
    pub session_idle: Duration,
    /// Mark cookies `Secure` (behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// Sign-in failures per user name in [`Options::limit_window`] before sign-in is refused.
    pub limit_per_user: usize,
    /// Sign-in failures per client address in the window.
    pub limit_per_addr: usize,
    /// The sign-in failure window.
    pub limit_window: Duration,
    /// How often a live view looks for new chunks.
    pub live_poll: Duration,
    /// Scheduled reports: (view id, when) — a report of the view at every interval or at
    /// each clock time ([`crate::schedule`]).
    pub schedules: Vec<(String, Schedule)>,
    /// Set when the dashboard runs as the source that owns the rows: its model and the
    /// dataset it scores, for the view of its own predicted remaining life per asset.
    pub scoring: Option<Scoring>,
}

impl Options {
    /// Defaults: one-hour idle sessions, 5 failures per user and 20 per address in 15 min.
    pub fn new(backend: Backend, state: PathBuf) -> Options {
        Options {
            backend,
            state,
            session_idle: Duration::from_secs(3600),
            secure_cookies: false,
            limit_per_user: 5,
            limit_per_addr: 20,
            limit_window: Duration::from_secs(15 * 60),
            live_poll: Duration::from_secs(2),
            schedules: Vec::new(),
            scoring: None,
        }
    }
}

/// The running dashboard's state.
pub struct App {
    backend: Backend,
    state: PathBuf,
    users: Mutex<Users>,
    sessions: Sessions,
    limiter: Limiter,
    secure: bool,
    /// One deployment call at a time (the embedded store has one writer; FHE work is heavy).
    work: tokio::sync::Mutex<()>,
    /// Released results of the ready-made views, by SQL, with the chunk count of each of
    /// the view's datasets at release: a new chunk makes them stale (released again, or the
    /// refusal shown).
    cache: Mutex<HashMap<String, Cached>>,
    /// How often a live view's event stream looks for new chunks (embedded) or checks its
    /// session (networked).
    live_poll: Duration,
    /// The platform's chunk feed (networked only).
    live: Option<crate::live::Live>,
    /// Scheduled reports (see [`run_schedules`]).
    schedules: Vec<(String, Schedule)>,
    /// The source's own scoring, when the dashboard runs as that source.
    scoring: Option<Scoring>,
    /// The source's released predictions per asset, with the dataset's chunk count at
    /// release (a new chunk makes them stale).
    scores: Mutex<Option<(Arc<Scored>, u64)>>,
    /// Sealed reports.
    reports: crate::reports::Reports,
    /// One-time sign-in links (`dtfhe demo --serve`): token hash → (user, deadline).
    once: Mutex<HashMap<[u8; 32], (String, std::time::Instant)>>,
}

/// A view part's released result and the chunk count of each of the view's datasets at
/// its release.
type Cached = (Arc<Released>, Vec<u64>);

/// How long a one-time sign-in link stays valid.
pub const ONE_TIME_LINK_TTL: Duration = Duration::from_secs(15 * 60);

type Shared = Arc<App>;

impl App {
    /// A dashboard over `opts.backend`; reads the users file (there must be one user).
    pub fn new(opts: Options) -> Result<App, DashboardError> {
        let users = Users::load(&opts.state)?;
        if users.all().is_empty() {
            return Err(DashboardError::Usage(format!(
                "no users in {}: create the first admin with `dtfhe dashboard add-user --state {} --name NAME --role admin`",
                opts.state.display(),
                opts.state.display()
            )));
        }
        if let Some((bad, _)) = opts
            .schedules
            .iter()
            .find(|(v, _)| views::by_id(v).is_none())
        {
            let known: Vec<&str> = views::VIEWS.iter().map(|v| v.id).collect();
            return Err(DashboardError::Usage(format!(
                "--schedule: no view `{bad}` (views: {})",
                known.join(", ")
            )));
        }
        if opts
            .schedules
            .iter()
            .any(|(_, s)| matches!(s, Schedule::Every(every) if every.is_zero()))
        {
            return Err(DashboardError::Usage(
                "--schedule: the interval must be at least one minute".into(),
            ));
        }
        let reports = crate::reports::Reports::open(&opts.state)?;
        let log_path = opts.state.join("auth.log");
        // The platform's chunk feed is for analysts: a dashboard running as a source (its
        // own predictions) watches chunk counts instead.
        let as_source = opts.scoring.is_some();
        let live = if as_source && matches!(opts.backend, Backend::Networked { .. }) {
            None
        } else {
            crate::live::Live::start(&opts.backend, move |line| {
                append_log(&log_path, line);
            })
        };
        Ok(App {
            backend: opts.backend,
            state: opts.state,
            users: Mutex::new(users),
            sessions: Sessions::new(opts.session_idle),
            limiter: Limiter::new(opts.limit_window, opts.limit_per_user, opts.limit_per_addr),
            secure: opts.secure_cookies,
            work: tokio::sync::Mutex::new(()),
            cache: Mutex::new(HashMap::new()),
            live_poll: opts.live_poll,
            live,
            schedules: opts.schedules,
            scoring: opts.scoring,
            scores: Mutex::new(None),
            reports,
            once: Mutex::new(HashMap::new()),
        })
    }

    /// Appends one line to the sign-in log (`auth.log` in the state directory) and stderr.
    /// Never a password: a name is logged only if it is a known user's.
    fn log(&self, line: &str) {
        append_log(&self.state.join("auth.log"), line);
    }

    /// A one-time sign-in path for `user` (`/login/once/<token>`), valid for
    /// [`ONE_TIME_LINK_TTL`] and for one sign-in only, as notebook servers print one: for
    /// `dtfhe demo --serve`. Only the token's hash is kept.
    pub fn one_time_link(&self, user: &str, ttl: Duration) -> Result<String, DashboardError> {
        if self.user(user).is_none() {
            return Err(DashboardError::Usage(format!("no dashboard user `{user}`")));
        }
        let t = token();
        self.once.lock().unwrap_or_else(|p| p.into_inner()).insert(
            *blake3::hash(t.as_bytes()).as_bytes(),
            (user.to_string(), std::time::Instant::now() + ttl),
        );
        Ok(format!("/login/once/{t}"))
    }

    fn user(&self, name: &str) -> Option<User> {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Runs a blocking deployment call, one at a time.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Backend) -> Result<T, DashboardError> + Send + 'static,
    ) -> Result<T, DashboardError> {
        let _guard = self.work.lock().await;
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&app.backend))
            .await
            .map_err(|e| DashboardError::Deployment(format!("worker failed: {e}")))?
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }
}

/// Appends one time-stamped line to the log at `path` and to stderr.
fn append_log(path: &std::path::Path, line: &str) {
    let text = format!("{}\t{line}\n", dtfhe_model::clock::now_unix());
    eprint!("dashboard: {text}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = std::io::Write::write_all(&mut f, text.as_bytes());
    }
}

/// The router of a dashboard.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/login/once/{token}", get(login_once))
        .route("/", get(overview))
        .route("/datasets/{name}", get(dataset))
        .route("/thread", get(thread))
        .route("/views", get(view_list))
        .route(crate::scores::HREF, get(scores_page))
        .route("/views/remaining-life/csv", get(scores_csv))
        .route("/views/remaining-life/refresh", post(scores_refresh))
        .route("/views/{id}", get(view))
        .route("/views/{id}/csv", get(view_csv))
        .route("/views/{id}/refresh", post(view_refresh))
        .route("/views/{id}/events", get(view_events))
        .route("/reports", get(reports_page).post(report_make))
        .route("/reports/{id}", get(report_page))
        .route("/reports/{id}/pdf", get(report_pdf))
        .route("/query", get(query_page).post(query_run))
        .route("/query/last.csv", get(query_csv))
        .route("/audit", get(audit_page))
        .route("/audit/verify", post(audit_verify))
        .route("/assets/app.js", get(asset_js))
        .route("/assets/app.css", get(asset_css))
        .route("/assets/vendor/echarts.common.min.js", get(asset_echarts))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let schedules = tokio::spawn(run_schedules(Arc::clone(&app)));
    let served = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await;
    schedules.abort();
    served
}

async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "Cross-Origin-Opener-Policy",
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

// ---------------------------------------------------------------- helpers

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// A page of its own with only a message (403, 404, 400): nothing of what was asked.
fn message_page(status: StatusCode, title: &str, text: &str, who: Option<&Who>) -> Response {
    let body = html::notice("error", title, text);
    html_response(
        status,
        html::page(
            &Frame {
                title,
                user: who.map(|w| &w.user),
                csrf: who.map_or("", |w| w.session.csrf.as_str()),
                charts: false,
                scores: who.is_some_and(|w| w.scores),
            },
            &body,
        ),
    )
}

fn forbidden(who: &Who) -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "Your account may not open this page.",
        Some(who),
    )
}

/// The signed-in user of a request.
struct Who {
    token: String,
    session: Session,
    user: User,
    /// The user may open the source's own predicted remaining life (the dashboard runs as
    /// a source, the user sees results and the scored dataset).
    scores: bool,
}

/// The session of the request, or the sign-in page (an expired or unknown session is sent
/// there with nothing of the page asked).
fn who(app: &App, headers: &HeaderMap) -> Result<Who, Box<Response>> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Err(Box::new(redirect("/login")));
    };
    let Some(session) = app.sessions.touch(&token) else {
        return Err(Box::new(redirect("/login?expired=1")));
    };
    let Some(user) = app.user(&session.user) else {
        app.sessions.end(&token);
        return Err(Box::new(redirect("/login")));
    };
    let scores = app
        .scoring
        .as_ref()
        .is_some_and(|s| user.role.sees_results() && user.sees(&s.dataset));
    Ok(Who {
        token,
        session,
        user,
        scores,
    })
}

/// A POST's CSRF token must be the session's.
fn check_csrf(w: &Who, given: Option<&str>) -> Result<(), Box<Response>> {
    match given {
        Some(t) if same_token(t, &w.session.csrf) => Ok(()),
        _ => Err(Box::new(message_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's CSRF token is missing or wrong; nothing was done. Reload the page and try again.",
            Some(w),
        ))),
    }
}

/// The session of a POST, whose form's CSRF token must be the session's: [`who`], then
/// [`check_csrf`].
fn who_posting(app: &App, headers: &HeaderMap, csrf: Option<&str>) -> Result<Who, Box<Response>> {
    let w = who(app, headers)?;
    check_csrf(&w, csrf)?;
    Ok(w)
}

/// A signed-in user's page (200): `body` in the frame titled `title`, with the chart
/// scripts if `charts`.
fn page_ok(w: &Who, title: &str, charts: bool, body: &str) -> Response {
    html_response(StatusCode::OK, html::page(&frame(title, w, charts), body))
}

fn frame<'a>(title: &'a str, w: &'a Who, charts: bool) -> Frame<'a> {
    Frame {
        title,
        user: Some(&w.user),
        csrf: &w.session.csrf,
        charts,
        scores: w.scores,
    }
}

fn error_notice(e: &DashboardError) -> String {
    match e {
        DashboardError::Refused(r) => html::notice("refused", "Refused:", r),
        DashboardError::Query(r) => html::notice("error", "Query error:", r),
        other => html::notice("error", "Error:", &other.to_string()),
    }
}

fn csv_response(name: &str, text: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        text,
    )
        .into_response()
}

// ---------------------------------------------------------------- sign-in

#[derive(Deserialize)]
struct LoginQuery {
    expired: Option<String>,
}

async fn login_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if who(&app, &headers).is_ok() {
        return redirect("/");
    }
    let t = token();
    let msg = q
        .expired
        .map(|_| ("info", "Your session has ended; sign in again."));
    let mut res = html_response(StatusCode::OK, html::login(&t, msg));
    if let Ok(v) = HeaderValue::from_str(&app.cookie(LOGIN_COOKIE, &t, Some(600))) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: Option<String>,
}

async fn login(
    State(app): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let fresh = token();
    let again = |status: StatusCode, kind: &str, text: &str| {
        let mut res = html_response(status, html::login(&fresh, Some((kind, text))));
        if let Ok(v) = HeaderValue::from_str(&app.cookie(LOGIN_COOKIE, &fresh, Some(600))) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    };
    let expected = cookie_value(&headers, LOGIN_COOKIE);
    let csrf_ok = matches!((&expected, &form.csrf), (Some(a), Some(b)) if same_token(a, b));
    if !csrf_ok {
        return again(
            StatusCode::FORBIDDEN,
            "error",
            "The sign-in form's CSRF token is missing or wrong.",
        );
    }
    let ip = addr.ip().to_string();
    // The name is logged only if it is a known user's (a password typed into the name field
    // must not reach the log).
    let known = app.user(&form.username).map(|u| u.name);
    let logged_name = known
        .clone()
        .map_or_else(|| "(unknown user)".to_string(), |n| format!("user={n}"));
    if !app.limiter.allowed(&form.username, &ip) {
        app.log(&format!("signin_throttled\t{logged_name}\taddr={ip}"));
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "error",
            "Too many failed sign-ins: try again later.",
        );
    }
    let users = app.users.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Reload so users added from the command line while running can sign in.
    let state = app.state.clone();
    let (name, password) = (form.username.clone(), form.password);
    let verified = tokio::task::spawn_blocking(move || {
        let users = Users::load(&state).unwrap_or(users);
        let ok = users.verify(&name, &password).map(|u| u.name.clone());
        (users, ok)
    })
    .await;
    let Ok((users, ok)) = verified else {
        return again(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            "Sign-in failed.",
        );
    };
    *app.users.lock().unwrap_or_else(|p| p.into_inner()) = users;
    match ok {
        Some(name) => {
            app.log(&format!("signin_ok\tuser={name}\taddr={ip}"));
            let t = app.sessions.create(&name);
            let mut res = redirect("/");
            for c in [
                app.cookie(SESSION_COOKIE, &t, None),
                app.cookie(LOGIN_COOKIE, "", Some(0)),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        None => {
            let n = app.limiter.failed(&form.username, &ip);
            app.log(&format!(
                "signin_failed\t{logged_name}\taddr={ip}\tfailures={n}/{} in {} s",
                app.limiter.per_user(),
                app.limiter.window().as_secs()
            ));
            again(
                StatusCode::UNAUTHORIZED,
                "error",
                "Wrong user name or password.",
            )
        }
    }
}

/// A one-time sign-in link: a session for its user, once; used, expired or unknown links
/// are refused alike.
async fn login_once(
    State(app): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    UrlPath(t): UrlPath<String>,
) -> Response {
    let ip = addr.ip().to_string();
    let taken = app
        .once
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(blake3::hash(t.as_bytes()).as_bytes());
    match taken {
        Some((name, deadline)) if deadline > std::time::Instant::now() => {
            app.log(&format!("signin_ok_once\tuser={name}\taddr={ip}"));
            let session = app.sessions.create(&name);
            let mut res = redirect("/");
            if let Ok(v) = HeaderValue::from_str(&app.cookie(SESSION_COOKIE, &session, None)) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        _ => {
            app.log(&format!("signin_once_refused\taddr={ip}"));
            message_page(
                StatusCode::FORBIDDEN,
                "Sign-in link refused",
                "This sign-in link was used already, has expired or is not one; sign in with a user name and password.",
                None,
            )
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = or_page!(who_posting(&app, &headers, form.csrf.as_deref()));
    app.sessions.end(&w.token);
    let mut res = redirect("/login");
    if let Ok(v) = HeaderValue::from_str(&app.cookie(SESSION_COOKIE, "", Some(0))) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---------------------------------------------------------------- pages

async fn overview(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    let body = match app.run(|b| b.overview()).await {
        Ok(o) => pages::overview(&o, &w.user),
        Err(e) => error_notice(&e),
    };
    page_ok(&w, "Thread overview", false, &body)
}

async fn dataset(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    // Not visible and unknown answer alike: no existence oracle.
    if !w.user.sees(&name) {
        return forbidden(&w);
    }
    let found = match app.run(|b| b.overview()).await {
        Ok(o) => o
            .datasets
            .into_iter()
            .find(|d| d.name.eq_ignore_ascii_case(&name)),
        Err(e) => return page_ok(&w, "Dataset", false, &error_notice(&e)),
    };
    match found {
        Some(d) => page_ok(
            &w,
            &format!("Dataset {}", d.name),
            false,
            &pages::dataset(&d),
        ),
        None => forbidden(&w),
    }
}

#[derive(Deserialize)]
struct ProductQuery {
    product: Option<String>,
}

async fn thread(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ProductQuery>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    let product = q.product.unwrap_or_default();
    let product = product.trim().to_string();
    let body = if product.is_empty() {
        pages::thread_form("")
    } else {
        let p = product.clone();
        match app.run(move |b| b.thread(&p)).await {
            Ok(t) => pages::thread(&t, &w.user),
            Err(e) => format!("{}{}", pages::thread_form(&product), error_notice(&e)),
        }
    };
    page_ok(&w, "Product thread", false, &body)
}

/// The released results of a view's parts: cached while none of its datasets has a new
/// chunk and until refreshed; otherwise released again (a refusal is shown as such, never the older
/// numbers as if fresh).
async fn view_results(
    app: &Shared,
    view: &'static views::View,
    actor: &str,
) -> Vec<(views::Part, Result<Arc<Released>, DashboardError>)> {
    let actor = actor.to_string();
    let datasets = view.datasets;
    let chunks = app.run(move |b| chunk_counts(b, datasets)).await;
    let mut out = Vec::new();
    for part in view.parts {
        let chunks = match &chunks {
            Ok(n) => n.clone(),
            Err(e) => {
                out.push((*part, Err(DashboardError::Deployment(e.to_string()))));
                continue;
            }
        };
        let cached = app
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(part.sql)
            .filter(|(_, at)| *at == chunks)
            .map(|(r, _)| Arc::clone(r));
        let r = match cached {
            Some(r) => Ok(r),
            None => {
                let sql = part.sql;
                let actor = actor.clone();
                let fresh = app.run(move |b| b.query(sql, &actor)).await.map(Arc::new);
                let mut cache = app.cache.lock().unwrap_or_else(|p| p.into_inner());
                match &fresh {
                    Ok(r) => {
                        cache.insert(part.sql.to_string(), (Arc::clone(r), chunks.clone()));
                    }
                    Err(_) => {
                        cache.remove(part.sql);
                    }
                }
                fresh
            }
        };
        out.push((*part, r));
    }
    out
}

/// The chunk count of each of `datasets`, in order.
fn chunk_counts(b: &Backend, datasets: &[&str]) -> Result<Vec<u64>, DashboardError> {
    datasets.iter().map(|d| b.chunk_count(d)).collect()
}

/// A live view's event stream: `changed` whenever one of the view's datasets gets new
/// chunks — told by the platform's chunk feed (networked), or seen in the store's chunk
/// counts (embedded); ends with the session.
async fn view_events(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::stream::{self, Stream};
    use std::pin::Pin;
    type Events = Pin<Box<dyn Stream<Item = Result<Event, std::convert::Infallible>> + Send>>;
    let w = or_page!(who(&app, &headers));
    let view = or_page!(view_for(&w, &id));
    let datasets = view.datasets;
    let changed = |data: String| {
        Ok::<Event, std::convert::Infallible>(Event::default().event("changed").data(data))
    };
    let events: Events = match app.live.as_ref().map(crate::live::Live::subscribe) {
        Some(rx) => Box::pin(stream::unfold(
            (app, w.token, rx),
            move |(app, token, mut rx)| async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    let heard = tokio::time::timeout(app.live_poll, rx.recv()).await;
                    if !app.sessions.alive(&token) {
                        return None;
                    }
                    let hit = match heard {
                        Err(_) => false,
                        Ok(Ok(d)) => datasets.contains(&&*d) || &*d == crate::live::ANY,
                        Ok(Err(RecvError::Lagged(_))) => true,
                        Ok(Err(RecvError::Closed)) => return None,
                    };
                    if hit {
                        return Some((changed("feed".into()), (app, token, rx)));
                    }
                }
            },
        )),
        None => {
            let start = app.run(move |b| chunk_counts(b, datasets)).await.ok();
            Box::pin(stream::unfold(
                (app, w.token, start),
                move |(app, token, last)| async move {
                    loop {
                        tokio::time::sleep(app.live_poll).await;
                        if !app.sessions.alive(&token) {
                            return None;
                        }
                        let now = app.run(move |b| chunk_counts(b, datasets)).await.ok();
                        if now.is_some() && now != last {
                            let data = now.as_deref().map_or_else(String::new, |n| {
                                n.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
                            });
                            return Some((changed(data), (app, token, now)));
                        }
                    }
                },
            ))
        }
    };
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The ledger's name for a dashboard user's queries.
fn actor(user: &User) -> String {
    format!("dashboard.{}", user.name)
}

/// The ready-made view `id` if `w` may see it; otherwise the 404 or 403 page.
fn view_for(w: &Who, id: &str) -> Result<&'static views::View, Box<Response>> {
    let Some(view) = views::by_id(id) else {
        return Err(Box::new(not_found_page(w, "No such view.")));
    };
    if !view_allowed(w, view) {
        return Err(Box::new(forbidden(w)));
    }
    Ok(view)
}

/// The 404 page saying `text`.
fn not_found_page(w: &Who, text: &str) -> Response {
    message_page(StatusCode::NOT_FOUND, "Not found", text, Some(w))
}

fn view_allowed(w: &Who, view: &views::View) -> bool {
    w.user.role.sees_results() && w.user.sees_all(view.datasets)
}

/// The ready-made views the user may open, and how a source gets its own per-row scores.
async fn view_list(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    if !w.user.role.sees_results() {
        return forbidden(&w);
    }
    page_ok(
        &w,
        "Ready-made views",
        false,
        &pages::view_list(&w.user, app.scoring.as_ref()),
    )
}

async fn view(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    let view = or_page!(view_for(&w, &id));
    let results = view_results(&app, view, &actor(&w.user)).await;
    let body = pages::view(view, &results, &w.session.csrf);
    page_ok(&w, view.title, true, &body)
}

#[derive(Deserialize)]
struct PartQuery {
    part: Option<String>,
}

async fn view_csv(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<PartQuery>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    let view = or_page!(view_for(&w, &id));
    let Some(part) = view.parts.iter().find(|p| Some(p.id) == q.part.as_deref()) else {
        return not_found_page(&w, "No such part.");
    };
    let results = view_results(&app, view, &actor(&w.user)).await;
    match results.into_iter().find(|(p, _)| p.id == part.id) {
        Some((_, Ok(r))) => csv_response(&format!("{}-{}", view.id, part.id), r.result.to_csv()),
        Some((_, Err(e))) => message_page(
            StatusCode::CONFLICT,
            "Not released",
            &e.to_string(),
            Some(&w),
        ),
        None => not_found_page(&w, "No such part."),
    }
}

async fn view_refresh(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = or_page!(who_posting(&app, &headers, form.csrf.as_deref()));
    let view = or_page!(view_for(&w, &id));
    {
        let mut cache = app.cache.lock().unwrap_or_else(|p| p.into_inner());
        for p in view.parts {
            cache.remove(p.sql);
        }
    }
    redirect(&format!("/views/{}", view.id))
}

/// The source's scoring if this dashboard runs as a source and `w` may see its dataset;
/// otherwise 404 (an analyst's dashboard has no such view) or 403.
fn scoring_for<'a>(app: &'a App, w: &Who) -> Result<&'a Scoring, Box<Response>> {
    let Some(s) = app.scoring.as_ref() else {
        return Err(Box::new(not_found_page(w, "No such view.")));
    };
    if !w.scores {
        return Err(Box::new(forbidden(w)));
    }
    Ok(s)
}

/// The source's released predictions per asset: cached with the dataset's chunk count at
/// release, released again when new chunks arrived (or the refusal returned, never the
/// earlier predictions as if fresh).
async fn scored(app: &Shared) -> Result<Arc<Scored>, DashboardError> {
    let Some(scoring) = app.scoring.clone() else {
        return Err(DashboardError::Usage(
            "this dashboard does not run as a source".into(),
        ));
    };
    let dataset = scoring.dataset.clone();
    let now = app.run(move |b| b.chunk_count(&dataset)).await?;
    if let Some((r, at)) = app
        .scores
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        if *at == now {
            return Ok(Arc::clone(r));
        }
    }
    let fresh = Arc::new(app.run(move |b| b.score(&scoring)).await?);
    *app.scores.lock().unwrap_or_else(|p| p.into_inner()) = Some((Arc::clone(&fresh), now));
    Ok(fresh)
}

async fn scores_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    let scoring = or_page!(scoring_for(&app, &w)).clone();
    let result = scored(&app).await;
    let body = pages::scores(&scoring, &result, &w.session.csrf);
    page_ok(&w, crate::scores::TITLE, true, &body)
}

async fn scores_csv(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    or_page!(scoring_for(&app, &w));
    match scored(&app).await {
        Ok(r) => csv_response(crate::scores::ID, r.table.to_csv()),
        Err(e) => message_page(
            StatusCode::CONFLICT,
            "Not released",
            &e.to_string(),
            Some(&w),
        ),
    }
}

async fn scores_refresh(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = or_page!(who_posting(&app, &headers, form.csrf.as_deref()));
    or_page!(scoring_for(&app, &w));
    *app.scores.lock().unwrap_or_else(|p| p.into_inner()) = None;
    redirect(crate::scores::HREF)
}

async fn reports_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    if !w.user.role.sees_results() {
        return forbidden(&w);
    }
    let list = app.reports.list();
    page_ok(&w, "Reports", false, &pages::reports(&list, &w.user))
}

#[derive(Deserialize)]
struct ReportForm {
    view: String,
    csrf: Option<String>,
}

async fn report_make(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ReportForm>,
) -> Response {
    let w = or_page!(who_posting(&app, &headers, form.csrf.as_deref()));
    let view = or_page!(view_for(&w, &form.view));
    let report = make_report(&app, view, &w.user.name, &actor(&w.user)).await;
    match app.reports.save(&report) {
        Ok(()) => redirect(&format!("/reports/{}", report.id)),
        Err(e) => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Report not saved",
            &e.to_string(),
            Some(&w),
        ),
    }
}

/// A report of `view` made by `by` (released as `actor`): the view's parts released (or
/// their refusals), as HTML and as the data its PDF prints.
async fn make_report(
    app: &Shared,
    view: &'static views::View,
    by: &str,
    actor: &str,
) -> crate::reports::Report {
    let results = view_results(app, view, actor).await;
    let ledger = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .filter_map(|r| r.facts.ledger.as_ref())
        .map(|(subject, seq)| format!("{subject}, delivered in entry {seq}"))
        .collect();
    let now = dtfhe_model::clock::now_unix();
    crate::reports::Report {
        id: crate::reports::new_id(),
        title: format!("{} ({})", view.title, html::utc(now)),
        view: view.id.to_string(),
        dataset: view
            .datasets
            .first()
            .copied()
            .unwrap_or_default()
            .to_string(),
        datasets: view.datasets.iter().map(|d| d.to_string()).collect(),
        created_unix: now,
        created_by: by.to_string(),
        ledger,
        html: pages::view_parts(view, &results),
        tables: results
            .iter()
            .map(|(p, r)| pages::report_table(p, r))
            .collect(),
    }
}

/// Makes a report of every scheduled view at its interval or at each of its clock times
/// (the next one computed by [`crate::schedule::next_run`]), as the pseudo-user `schedule`
/// (ledger actor `dashboard.schedule`), sealed like any other; a failure is logged and the
/// next run tried.
pub async fn run_schedules(app: Arc<App>) {
    let mut tasks = Vec::new();
    for (view_id, when) in app.schedules.clone() {
        let Some(view) = views::by_id(&view_id) else {
            app.log(&format!("schedule: no view `{view_id}`"));
            continue;
        };
        if let Schedule::At(times) = &when {
            app.log(&format!("schedule: view {view_id} at {times}"));
        }
        let app = Arc::clone(&app);
        tasks.push(tokio::spawn(async move {
            // The time the last run was due (clock times): the next one is strictly after
            // it, so a wake-up a little early never runs the same time twice.
            let mut due = dtfhe_model::clock::now_unix();
            loop {
                let now = dtfhe_model::clock::now_unix().max(due);
                let wait = when.wait_from(now);
                due = now + wait.as_secs();
                tokio::time::sleep(wait).await;
                let report = make_report(&app, view, SCHEDULE_USER, "dashboard.schedule").await;
                match app.reports.save(&report) {
                    Ok(()) => app.log(&format!(
                        "schedule: report {} of view {}",
                        report.id, view.id
                    )),
                    Err(e) => app.log(&format!(
                        "schedule: report of view {} not saved: {e}",
                        view.id
                    )),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Who a scheduled report names as its maker.
pub const SCHEDULE_USER: &str = "schedule";

async fn report_pdf(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    let r = or_page!(visible_report(&app, &w, &id));
    match crate::pdf::render(&r) {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"report-{}.pdf\"", r.id),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PDF not made",
            &e.to_string(),
            Some(&w),
        ),
    }
}

/// The report `id` if `w` may see it; otherwise 403 (a missing report alike) or the
/// damaged report's page.
fn visible_report(app: &App, w: &Who, id: &str) -> Result<crate::reports::Report, Box<Response>> {
    if !w.user.role.sees_results() {
        return Err(Box::new(forbidden(w)));
    }
    match app.reports.get(id) {
        Ok(r) if w.user.sees_all(&r.datasets()) => Ok(r),
        // Not visible and missing answer alike.
        Ok(_) | Err(crate::reports::ReportError::Missing(_)) => Err(Box::new(forbidden(w))),
        Err(e) => Err(Box::new(message_page(
            StatusCode::CONFLICT,
            "Report damaged",
            &e.to_string(),
            Some(w),
        ))),
    }
}

async fn report_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    let r = or_page!(visible_report(&app, &w, &id));
    page_ok(&w, &r.title, true, &pages::report(&r))
}

async fn query_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    if !w.user.role.runs_queries() {
        return forbidden(&w);
    }
    let schemas = app.run(|b| b.schemas()).await.unwrap_or_default();
    let body = pages::query_editor(&schemas, &w.user, &w.session.csrf, "", None);
    page_ok(&w, "Query editor", false, &body)
}

#[derive(Deserialize)]
struct QueryForm {
    sql: String,
    csrf: Option<String>,
}

/// The SQL's datasets must all be visible to the user; an invisible one reads as unknown.
fn check_datasets(
    sql: &str,
    user: &User,
    schemas: &[dtfhe_model::Schema],
) -> Result<(), DashboardError> {
    let parsed = dtfhe_engine::parse(sql).map_err(|e| DashboardError::Query(e.to_string()))?;
    for d in parsed.datasets() {
        let exists = schemas.iter().any(|s| s.dataset.eq_ignore_ascii_case(&d));
        if !exists || !user.sees(&d) {
            return Err(DashboardError::Query(format!(
                "unknown dataset `{}`",
                d.escape_debug()
            )));
        }
    }
    Ok(())
}

async fn query_run(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<QueryForm>,
) -> Response {
    let w = or_page!(who_posting(&app, &headers, form.csrf.as_deref()));
    if !w.user.role.runs_queries() {
        return forbidden(&w);
    }
    let schemas = app.run(|b| b.schemas()).await.unwrap_or_default();
    let sql = form.sql.trim().to_string();
    let outcome = match check_datasets(&sql, &w.user, &schemas) {
        Err(e) => Err(e),
        Ok(()) => {
            let s = sql.clone();
            let actor = actor(&w.user);
            app.run(move |b| b.query(&s, &actor)).await.map(Arc::new)
        }
    };
    if let Ok(r) = &outcome {
        app.sessions.set_last(&w.token, Arc::clone(r));
    }
    let body = pages::query_editor(&schemas, &w.user, &w.session.csrf, &sql, Some(&outcome));
    page_ok(&w, "Query editor", true, &body)
}

async fn query_csv(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = or_page!(who(&app, &headers));
    if !w.user.role.runs_queries() {
        return forbidden(&w);
    }
    match &w.session.last {
        Some(r) => csv_response("query", r.result.to_csv()),
        None => message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "No query result yet.",
            Some(&w),
        ),
    }
}

#[derive(Deserialize, Default)]
struct LedgerFilter {
    actor: Option<String>,
    action: Option<String>,
    dataset: Option<String>,
}

async fn audit_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(f): Query<LedgerFilter>,
) -> Response {
    let w = or_page!(who(&app, &headers));
    if !w.user.role.audits() {
        return forbidden(&w);
    }
    audit_response(&app, &w, &f, None).await
}

async fn audit_response(
    app: &Shared,
    w: &Who,
    f: &LedgerFilter,
    verified: Option<Result<crate::backend::Verified, DashboardError>>,
) -> Response {
    let ledger = app.run(|b| b.ledger()).await;
    let body = pages::audit(
        &ledger,
        &pages::Filter {
            actor: f.actor.as_deref().unwrap_or(""),
            action: f.action.as_deref().unwrap_or(""),
            dataset: f.dataset.as_deref().unwrap_or(""),
        },
        verified.as_ref(),
        &w.session.csrf,
    );
    page_ok(w, "Audit", false, &body)
}

async fn audit_verify(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let w = or_page!(who_posting(&app, &headers, form.csrf.as_deref()));
    if !w.user.role.audits() {
        return forbidden(&w);
    }
    let verified = app.run(|b| b.verify()).await;
    audit_response(&app, &w, &LedgerFilter::default(), Some(verified)).await
}

// ---------------------------------------------------------------- assets

const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const ECHARTS_JS: &str = include_str!("../assets/vendor/echarts/echarts.common.min.js");

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn asset_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn asset_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn asset_echarts() -> Response {
    asset("text/javascript; charset=utf-8", ECHARTS_JS)
}

async fn not_found(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let w = who(&app, &headers).ok();
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "No such page.",
        w.as_ref(),
    )
}
