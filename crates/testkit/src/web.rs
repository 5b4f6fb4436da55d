//! A browser-less web client for the dashboard's tests: keeps cookies, never follows a
//! redirect (the test sees the 303 and where it points), sends forms, and reads the hidden
//! CSRF field and the links of a page.

use std::time::Duration;

/// A cookie-keeping HTTP client that does not follow redirects.
pub struct Http {
    base: String,
    agent: ureq::Agent,
    /// The cookies the server set (name, value), as a browser would keep them.
    pub cookies: Vec<(String, String)>,
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Security-Policy`.
    pub csp: String,
    /// Every `Set-Cookie` header, verbatim.
    pub set_cookies: Vec<String>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body's bytes (a PDF, a download).
    pub bytes: Vec<u8>,
}

impl Http {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Http {
        Http {
            base: base.to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(600)))
                .build()
                .into(),
            cookies: Vec::new(),
        }
    }

    /// The cookie of `name`, if the server set one.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sends `method path` with the cookies and, if given, a urlencoded form.
    pub fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Resp {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            b = b.header("cookie", header);
        }
        let body = match form {
            Some(f) => {
                b = b.header("content-type", "application/x-www-form-urlencoded");
                f.iter()
                    .map(|(k, v)| format!("{}={}", urlenc(k), urlenc(v)))
                    .collect::<Vec<_>>()
                    .join("&")
            }
            None => String::new(),
        };
        let mut resp = self
            .agent
            .run(b.body(body.into_bytes()).expect("request"))
            .expect("HTTP");
        let mut set_cookies = Vec::new();
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().expect("cookie").to_string();
            let (kv, attrs) = v.split_once(';').unwrap_or((&v, ""));
            let (k, val) = kv.split_once('=').expect("cookie pair");
            self.cookies.retain(|(n, _)| n != k);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), val.to_string()));
            }
            set_cookies.push(v.clone());
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (location, content_type, csp) = (
            Some(header("location")).filter(|l| !l.is_empty()),
            header("content-type"),
            header("content-security-policy"),
        );
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        Resp {
            status: resp.status().as_u16(),
            location,
            content_type,
            csp,
            set_cookies,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None)
    }

    /// `POST path` with a form.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, Some(form))
    }

    /// Signs in through the sign-in form (panics unless it answers 303); returns the
    /// session's CSRF token, read from the next page.
    pub fn sign_in(&mut self, user: &str, password: &str) -> String {
        let r = self.try_sign_in(user, password);
        assert_eq!(r.status, 303, "sign-in of {user}: {}", r.body);
        hidden_csrf(&self.get("/").body)
    }

    /// Signs in through the sign-in form; returns the answer to the POST.
    pub fn try_sign_in(&mut self, user: &str, password: &str) -> Resp {
        let page = self.get("/login");
        let csrf = hidden_csrf(&page.body);
        self.post(
            "/login",
            &[("username", user), ("password", password), ("csrf", &csrf)],
        )
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
pub fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the page's first hidden `csrf` field.
pub fn hidden_csrf(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let at = html
        .find(key)
        .unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + key.len()..];
    rest[..rest.find('"').expect("end of the csrf value")].to_string()
}

/// Every `href`, `src` and `action` attribute of a page (entities `&amp;` decoded); not
/// `data-*-src` and the like, which are not links.
pub fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" href=\"", " src=\"", " action=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].replace("&amp;", "&"));
            }
        }
    }
    out
}
