//! Scratch PostgreSQL databases on the test server named by `DTFHE_TEST_PG_URL` (an admin
//! URL; `scripts/ensure-postgres.sh` prints one). Without it the PostgreSQL tests skip with
//! a note on stderr; under CI (`CI=true` or `CI=1`) a missing server is a failure, so CI
//! never passes by skipping them.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

/// Whether this run is under CI, where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The admin URL of the test PostgreSQL server, if `DTFHE_TEST_PG_URL` names one (no note).
pub fn configured_url() -> Option<String> {
    std::env::var("DTFHE_TEST_PG_URL")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// The admin URL of the test PostgreSQL server, or `None` after saying on stderr that
/// `what` (e.g. "PostgreSQL store tests") is skipped. Panics under CI when none is set.
pub fn admin_url(what: &str) -> Option<String> {
    static NOTED: OnceLock<()> = OnceLock::new();
    let url = configured_url();
    if url.is_none() {
        assert!(
            !under_ci(),
            "DTFHE_TEST_PG_URL is not set: under CI the {what} must run \
             (scripts/test.sh starts a server with scripts/ensure-postgres.sh)"
        );
        NOTED.get_or_init(|| {
            // Straight to stderr, past the test harness's output capture.
            let _ = writeln!(
                std::io::stderr(),
                "NOTE: {what} SKIPPED: DTFHE_TEST_PG_URL is not set \
                 (export DTFHE_TEST_PG_URL=\"$(scripts/ensure-postgres.sh)\")"
            );
        });
    }
    url
}

/// `url` with its database name replaced by `db` (the query string kept).
pub fn url_for(url: &str, db: &str) -> String {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let start = base.find("://").map_or(0, |i| i + 3);
    let end = base[start..].find('/').map_or(base.len(), |i| start + i);
    format!("{}/{db}{query}", &base[..end])
}

fn connect_admin() -> postgres::Client {
    let url = configured_url().expect("PostgreSQL tests need DTFHE_TEST_PG_URL");
    postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test PostgreSQL")
}

/// A database of one test's own on the test server, dropped (forcibly) when this is.
#[derive(Debug)]
pub struct PgDb {
    /// Its name, `<prefix>_<random hex>`.
    pub name: String,
    /// Its URL (the admin URL with the database replaced).
    pub url: String,
}

impl PgDb {
    /// A new empty database `<prefix>_<random>`, or a copy of `template`. Panics without
    /// `DTFHE_TEST_PG_URL` (call [`admin_url`] first to skip).
    pub fn new(prefix: &str, template: Option<&PgDb>) -> PgDb {
        use rand::RngCore as _;
        let admin = configured_url().expect("PostgreSQL tests need DTFHE_TEST_PG_URL");
        let mut rnd = [0u8; 8];
        rand::rng().fill_bytes(&mut rnd);
        let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{prefix}_{hex}");
        let sql = match template {
            None => format!("CREATE DATABASE {name}"),
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {}", t.name),
        };
        let mut c = connect_admin();
        // A template whose last session is still closing is briefly "being accessed".
        let mut tries = 0;
        while let Err(e) = c.batch_execute(&sql) {
            tries += 1;
            assert!(tries < 50, "{sql}: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
        PgDb {
            url: url_for(&admin, &name),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let Some(admin) = configured_url() else {
            return;
        };
        if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A PostgreSQL client tool (`psql`, `pg_dump`), from PATH or Debian's versioned directory
/// (`scripts/ensure-postgres.sh` installs them).
pub fn tool(name: &str) -> std::path::PathBuf {
    if std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok()
    {
        return name.into();
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("{name} not found (scripts/ensure-postgres.sh installs it)"))
}
