//! Where a store's database lives: the embedded SQLite file in the store directory, or a
//! PostgreSQL database given by URL.

use std::fmt;
use std::str::FromStr;

/// The database backend of a store (the signing key files `store.key` and `store.pub`
/// always stay in the store directory).
///
/// Parsed from the `--store` option of the CLI: `sqlite` (the default: `<dir>/store.sqlite`)
/// or a PostgreSQL URL `postgres://user[:password]@host[:port]/database[?options]`
/// (`postgresql://` too). `Display` and `Debug` never show a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreLocation {
    /// `<dir>/store.sqlite`, embedded.
    #[default]
    Sqlite,
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

impl StoreLocation {
    /// The location as shown to people: `sqlite`, or the URL with its password replaced by
    /// `***`.
    pub fn redacted(&self) -> String {
        match self {
            StoreLocation::Sqlite => "sqlite".into(),
            StoreLocation::Postgres(url) => redact_url(url),
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite => f.write_str("Sqlite"),
            StoreLocation::Postgres(_) => write!(f, "Postgres({:?})", self.redacted()),
        }
    }
}

/// Why a `--store` value was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown store `{0}`: expected `sqlite` or a PostgreSQL URL (postgres://user@host:port/database)")]
pub struct ParseStoreLocationError(String);

impl FromStr for StoreLocation {
    type Err = ParseStoreLocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("sqlite") {
            return Ok(StoreLocation::Sqlite);
        }
        let lower = t.to_ascii_lowercase();
        if (lower.starts_with("postgres://") || lower.starts_with("postgresql://"))
            && t.len() > t.find("://").map_or(0, |i| i + 3)
        {
            return Ok(StoreLocation::Postgres(t.to_string()));
        }
        Err(ParseStoreLocationError(redact_url(t)))
    }
}

/// `url` with the password of its user-info part and any `password=` option replaced by
/// `***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(c) => format!("{}:***{host}", &userinfo[..c]),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let query: Vec<String> = query
                .split('&')
                .map(|kv| {
                    if kv.to_ascii_lowercase().starts_with("password=") {
                        "password=***".to_string()
                    } else {
                        kv.to_string()
                    }
                })
                .collect();
            format!("{path}{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_redact() {
        assert_eq!("sqlite".parse::<StoreLocation>(), Ok(StoreLocation::Sqlite));
        let loc: StoreLocation = "postgres://u:s3cret@h:5432/db?password=x&sslmode=disable"
            .parse()
            .unwrap_or_default();
        assert_eq!(
            loc.to_string(),
            "postgres://u:***@h:5432/db?password=***&sslmode=disable"
        );
        assert!(!format!("{loc:?}").contains("s3cret"));
        assert!("postgresql://h/db".parse::<StoreLocation>().is_ok());
        let err = "mysql://u:pw@h/db"
            .parse::<StoreLocation>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("mysql://u:***@h/db"), "{err}");
        assert!("postgres://".parse::<StoreLocation>().is_err());
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
