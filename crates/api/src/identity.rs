//! A party's identity: a name and an ed25519 key pair, kept in a text file only that party
//! reads (mode 0600). The public half, written `ed25519:<base64>`, is what an admin registers
//! with the platform; every request the party sends is signed with the secret half.
//!
//! File format (version 1), one `key value` pair per line:
//!
//! ```text
//! dtfhe-identity 1
//! name plant-a
//! secret-key <base64 of the 32-byte ed25519 seed>
//! ```

use std::path::Path;

use base64::Engine as _;
use dtfhe_model::names::is_party_name;
use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::ApiError;

/// First line of an identity file.
pub const IDENTITY_HEADER: &str = "dtfhe-identity 1";

/// Prefix of a public key written as text.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";

/// A party's name and signing key.
#[derive(Clone)]
pub struct Identity {
    name: String,
    key: SigningKey,
}

// Never print the secret key.
dtfhe_model::debug_public_fields!(Identity, |i| {
    name: i.name,
    public_key: public_key_string(&i.key.verifying_key()),
});

/// A public key as text: `ed25519:<base64>`.
pub fn public_key_string(key: &VerifyingKey) -> String {
    format!(
        "{PUBLIC_KEY_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
    )
}

/// Why a public key's text does not parse (see [`parse_public_key`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// The text does not start with `ed25519:`.
    #[error("public key must start with `{PUBLIC_KEY_PREFIX}`")]
    Prefix,
    /// The part after the prefix is not base64.
    #[error("public key is not base64: {0}")]
    NotBase64(String),
    /// The key is not 32 bytes.
    #[error("public key is {0} bytes, expected 32")]
    Length(usize),
    /// The 32 bytes are not a valid ed25519 point.
    #[error("not a valid ed25519 public key")]
    Invalid,
}

/// Parses `ed25519:<base64>`; the error says what is wrong.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, PublicKeyError> {
    let b64 = text
        .trim()
        .strip_prefix(PUBLIC_KEY_PREFIX)
        .ok_or(PublicKeyError::Prefix)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| PublicKeyError::NotBase64(e.to_string()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| PublicKeyError::Length(b.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| PublicKeyError::Invalid)
}

impl Identity {
    /// A fresh identity with a key from the operating system's randomness.
    pub fn generate(name: &str) -> Result<Identity, ApiError> {
        use rand::TryRngCore as _;
        if !is_party_name(name) {
            return Err(ApiError::Identity {
                path: name.to_string(),
                reason: "name must be 1-64 of letters, digits, '-', '_' or '.'".into(),
            });
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed[..])
            .map_err(|e| ApiError::Identity {
                path: name.to_string(),
                reason: format!("no OS randomness: {e}"),
            })?;
        Ok(Identity {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// An identity from a name and an existing signing key (e.g. a source's `source.key`,
    /// so a source signs its requests and its chunks with one key).
    pub fn from_key(name: &str, key: SigningKey) -> Identity {
        Identity {
            name: name.to_string(),
            key,
        }
    }

    /// The party's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as `ed25519:<base64>`.
    pub fn public_key_string(&self) -> String {
        public_key_string(&self.key.verifying_key())
    }

    /// The file text (holds the secret key: write it only with [`Identity::save_new`]).
    fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{IDENTITY_HEADER}\nname {}\nsecret-key {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(self.key.to_bytes())
        ))
    }

    /// Parses an identity file's text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Identity, ApiError> {
        let bad = |reason: String| ApiError::Identity {
            path: origin.to_string(),
            reason,
        };
        let mut lines = text.lines();
        if lines.next().map(str::trim_end) != Some(IDENTITY_HEADER) {
            return Err(bad(format!("line 1: expected `{IDENTITY_HEADER}`")));
        }
        let (mut name, mut key) = (None, None);
        for (i, line) in lines.enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once(' ')
                .ok_or_else(|| bad(format!("line {}: expected `key value`", i + 2)))?;
            match k {
                "name" if name.is_none() => {
                    if !is_party_name(v) {
                        return Err(bad(format!("line {}: invalid name", i + 2)));
                    }
                    name = Some(v.to_string());
                }
                "secret-key" if key.is_none() => {
                    let bytes = Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(v)
                            .map_err(|_| {
                                bad(format!("line {}: secret key is not base64", i + 2))
                            })?,
                    );
                    let seed: [u8; 32] = bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| bad(format!("line {}: secret key is not 32 bytes", i + 2)))?;
                    key = Some(SigningKey::from_bytes(&seed));
                }
                _ => {
                    return Err(bad(format!(
                        "line {}: unexpected or repeated key `{k}`",
                        i + 2
                    )))
                }
            }
        }
        Ok(Identity {
            name: name.ok_or_else(|| bad("no `name` line".into()))?,
            key: key.ok_or_else(|| bad("no `secret-key` line".into()))?,
        })
    }

    /// Reads an identity file.
    pub fn load(path: &Path) -> Result<Identity, ApiError> {
        let err = |reason: String| ApiError::Identity {
            path: path.display().to_string(),
            reason,
        };
        let bytes = dtfhe_model::secret_file::read_secret(path).map_err(|e| err(e.to_string()))?;
        let text = Zeroizing::new(
            String::from_utf8(bytes.to_vec()).map_err(|_| err("not UTF-8 text".into()))?,
        );
        Identity::parse(&text, &path.display().to_string())
    }

    /// Writes the identity to a new file (mode 0600); never overwrites one.
    pub fn save_new(&self, path: &Path) -> Result<(), ApiError> {
        let err = |reason: String| ApiError::Identity {
            path: path.display().to_string(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| err(format!("cannot create: {e}")))?;
        }
        dtfhe_model::secret_file::write_new_secret(path, self.to_text().as_bytes())
            .map_err(|e| err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_through_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = Identity::generate("plant-a").expect("generate");
        let path = dir.path().join("a.id");
        id.save_new(&path).expect("save");
        assert!(id.save_new(&path).is_err(), "never overwrites");
        let back = Identity::load(&path).expect("load");
        assert_eq!(back.name(), "plant-a");
        assert_eq!(back.verifying_key(), id.verifying_key());
        assert_eq!(
            parse_public_key(&id.public_key_string()).expect("parse"),
            id.verifying_key()
        );
        assert!(!format!("{id:?}").contains(
            &base64::engine::general_purpose::STANDARD.encode(id.signing_key().to_bytes())
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn malformed_identity_files_are_refused() {
        let good = Identity::generate("x").expect("generate").to_text();
        let cases = [
            String::new(),
            "dtfhe-identity 2\nname x\n".to_string(),
            good.replace("name x", "name ../x"),
            good.replace("name x\n", ""),
            good.replace("secret-key ", "secret-key !!"),
            format!("{}name y\n", *good),
            good.replace("secret-key ", "secret-key AAAA"),
        ];
        for c in cases {
            assert!(Identity::parse(&c, "t").is_err(), "accepted {c:?}");
        }
        assert!(parse_public_key("ed25519:AAAA").is_err());
        assert!(parse_public_key("rsa:AAAA").is_err());
    }

    proptest::proptest! {
        #[test]
        fn hostile_identity_text_never_panics(s in ".{0,300}") {
            let _ = Identity::parse(&s, "fuzz");
            let _ = parse_public_key(&s);
        }
    }
}
