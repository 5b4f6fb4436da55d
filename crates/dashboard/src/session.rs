//! Sessions (in memory, lost on restart: users sign in again) and the sign-in limiter.
//!
//! A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie (Secure behind
//! TLS); the server keeps only its BLAKE3 hash, the user name, a per-session CSRF token that
//! every POST must carry, and an idle deadline. Sign-in failures are counted per user name
//! and per client address in a sliding window; past the limit, sign-in is refused (even
//! with the right password) until the window has passed.

use rand::RngCore as _;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cookie holding the session token.
pub const SESSION_COOKIE: &str = "dtfhe_session";
/// Cookie holding the sign-in form's CSRF token (before a session exists).
pub const LOGIN_COOKIE: &str = "dtfhe_login";
/// Most sessions kept at once (the oldest are dropped past it).
const MAX_SESSIONS: usize = 10_000;

/// A fresh random token, 32 bytes in hex.
pub fn token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn key(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// A signed-in user's session.
#[derive(Clone)]
pub struct Session {
    /// The user's name.
    pub user: String,
    /// The CSRF token every POST of this session must carry.
    pub csrf: String,
    /// When the session ends unless used again.
    expires: Instant,
    /// The last query result of this session (for its CSV download), if any.
    pub last: Option<Arc<crate::backend::Released>>,
}

// Never print the CSRF token.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Every live session.
pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Sessions that end after `idle` without a request.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `user`: its token (for the cookie).
    pub fn create(&self, user: &str) -> String {
        let t = token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            key(&t),
            Session {
                user: user.to_string(),
                csrf: token(),
                expires: now + self.idle,
                last: None,
            },
        );
        t
    }

    /// The live session of `token`, its deadline moved on; an expired one is removed.
    pub fn touch(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let k = key(token);
        match map.get_mut(&k) {
            Some(s) if s.expires > now => {
                s.expires = now + self.idle;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Whether the session of `token` is live, without moving its deadline (a background
    /// event stream must not keep an idle session alive).
    pub fn alive(&self, token: &str) -> bool {
        self.lock()
            .get(&key(token))
            .is_some_and(|s| s.expires > Instant::now())
    }

    /// Keep `last` as the session's latest result.
    pub fn set_last(&self, token: &str, last: Arc<crate::backend::Released>) {
        if let Some(s) = self.lock().get_mut(&key(token)) {
            s.last = Some(last);
        }
    }

    /// End the session of `token`.
    pub fn end(&self, token: &str) {
        self.lock().remove(&key(token));
    }
}

/// Sign-in failures per user name and per client address.
pub struct Limiter {
    window: Duration,
    per_user: usize,
    per_addr: usize,
    fails: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    /// At most `per_user` failures per name and `per_addr` per address in `window`.
    pub fn new(window: Duration, per_user: usize, per_addr: usize) -> Limiter {
        Limiter {
            window,
            per_user,
            per_addr,
            fails: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.fails.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(map: &mut HashMap<String, VecDeque<Instant>>, k: &str, since: Instant) -> usize {
        match map.get_mut(k) {
            Some(q) => {
                while q.front().is_some_and(|t| *t < since) {
                    q.pop_front();
                }
                q.len()
            }
            None => 0,
        }
    }

    /// Whether a sign-in by `user` from `addr` may be tried now.
    pub fn allowed(&self, user: &str, addr: &str) -> bool {
        let since = Instant::now().checked_sub(self.window);
        let mut map = self.lock();
        let Some(since) = since else { return true };
        Self::count(&mut map, &format!("u:{}", user.to_ascii_lowercase()), since) < self.per_user
            && Self::count(&mut map, &format!("a:{addr}"), since) < self.per_addr
    }

    /// Count a failure; returns the user name's failures in the window.
    pub fn failed(&self, user: &str, addr: &str) -> usize {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() > 100_000 {
            map.clear();
        }
        for k in [
            format!("u:{}", user.to_ascii_lowercase()),
            format!("a:{addr}"),
        ] {
            map.entry(k).or_default().push_back(now);
        }
        map.get(&format!("u:{}", user.to_ascii_lowercase()))
            .map_or(0, VecDeque::len)
    }

    /// The per-name limit.
    pub fn per_user(&self) -> usize {
        self.per_user
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::new(Duration::from_millis(200));
        let t = s.create("alice");
        let got = s.touch(&t).unwrap();
        assert_eq!(got.user, "alice");
        assert_eq!(got.csrf.len(), 64);
        assert!(s.touch("nope").is_none());
        std::thread::sleep(Duration::from_millis(300));
        assert!(s.touch(&t).is_none(), "an idle session must expire");
        let t2 = s.create("alice");
        s.end(&t2);
        assert!(s.touch(&t2).is_none());
    }

    #[test]
    fn limiter_counts_per_user_and_address() {
        let l = Limiter::new(Duration::from_secs(60), 3, 5);
        for _ in 0..3 {
            assert!(l.allowed("alice", "1.2.3.4"));
            l.failed("alice", "1.2.3.4");
        }
        assert!(!l.allowed("alice", "1.2.3.4"));
        assert!(!l.allowed("ALICE", "5.6.7.8"), "per name, any address");
        assert!(l.allowed("bob", "5.6.7.8"));
        l.failed("bob", "1.2.3.4");
        l.failed("carol", "1.2.3.4");
        assert!(!l.allowed("dave", "1.2.3.4"), "per address, any name");
    }

    #[test]
    fn tokens_compare_in_constant_time_and_differ() {
        let a = token();
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &token()));
        assert!(!same_token(&a, ""));
    }
}
