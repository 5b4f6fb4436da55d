//! Sealing artifacts at the source: the non-numeric files of a product's thread (CAD
//! files, simulation results, repair reports).
//!
//! Each source holds one 32-byte artifact secret, `<source dir>/artifact.key` (version
//! byte 1 then the secret, mode 0600, created on first use beside `source.key`; separate
//! from the signing seed, so a signing key is never used as an encryption key). Every
//! artifact gets its own XChaCha20-Poly1305 key,
//! `blake3::derive_key("dtfhe artifact key v1", secret ‖ product ‖ stage ‖ source ‖ name)`
//! (fields length-prefixed), a random 24-byte nonce, and associated data binding
//! (product, stage, source, file name), so sealed bytes moved to another product, stage,
//! source or name no longer open. The sealed form is `nonce ‖ ciphertext ‖ tag`. The
//! platform never sees the secret; losing `artifact.key` loses the source's artifacts.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// File name of a source's artifact secret inside its directory.
pub const ARTIFACT_KEY_FILE: &str = "artifact.key";

/// Version byte in front of the secret in [`ARTIFACT_KEY_FILE`].
pub const ARTIFACT_KEY_VERSION: u8 = 1;

/// Why an artifact could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The key file could not be read or created.
    #[error("artifact key {path}: {reason}")]
    Key {
        /// Key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Authentication failed: the sealed bytes or their binding were altered, or this is
    /// not the key they were sealed with.
    #[error(
        "artifact `{name}` of product `{product}` does not authenticate: its sealed bytes \
         or their binding (product, stage, source, name) were altered, or this is not the \
         key it was sealed with"
    )]
    Authentication {
        /// Product.
        product: String,
        /// File name.
        name: String,
    },
}

/// What an artifact is bound to: its product, stage, owning source and file name.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// Product.
    pub product: &'a str,
    /// Stage (`design`, `manufacturing` or `maintenance`).
    pub stage: &'a str,
    /// Owning source.
    pub source: &'a str,
    /// File name.
    pub name: &'a str,
}

impl Binding<'_> {
    fn encode(&self, tag: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for f in [tag, self.product, self.stage, self.source, self.name] {
            out.extend_from_slice(&(f.len() as u64).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out
    }
}

/// A source's artifact secret.
pub struct ArtifactKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArtifactKey(..)")
    }
}

fn key_err(path: &Path, reason: impl Into<String>) -> ArtifactError {
    ArtifactError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl ArtifactKey {
    /// Reads `dir/artifact.key`; `Ok(None)` if there is none.
    pub fn load(dir: &Path) -> Result<Option<ArtifactKey>, ArtifactError> {
        let secret = crate::source_key::read_secret_file(
            &dir.join(ARTIFACT_KEY_FILE),
            ARTIFACT_KEY_VERSION,
            "not an artifact key (expected version byte 1 and a 32-byte secret)",
            key_err,
        )?;
        Ok(secret.map(ArtifactKey))
    }

    /// Reads `dir/artifact.key`, creating `dir` (mode 0700) and a new random secret (mode
    /// 0600) if there is none; written under a temporary name and linked into place
    /// without overwriting, so concurrent first runs end up with the same key.
    pub fn load_or_create(dir: &Path) -> Result<ArtifactKey, ArtifactError> {
        if let Some(k) = ArtifactKey::load(dir)? {
            return Ok(k);
        }
        let path = dir.join(ARTIFACT_KEY_FILE);
        crate::source_key::create_secret_file(dir, ARTIFACT_KEY_FILE, ARTIFACT_KEY_VERSION)
            .map_err(|e| key_err(&path, format!("cannot create: {e}")))?;
        ArtifactKey::load(dir)?.ok_or_else(|| key_err(&path, "vanished after creation"))
    }

    fn cipher(&self, b: &Binding<'_>) -> XChaCha20Poly1305 {
        let mut material = Zeroizing::new(self.0.to_vec());
        material.extend_from_slice(&b.encode("key"));
        let key = Zeroizing::new(blake3::derive_key("dtfhe artifact key v1", &material));
        XChaCha20Poly1305::new(key.as_ref().into())
    }

    /// Seals `plaintext` for `binding`: `nonce ‖ ciphertext ‖ tag`, with a fresh random
    /// nonce.
    pub fn seal(&self, b: &Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        let mut nonce = [0u8; 24];
        {
            use rand::TryRngCore as _;
            rand::rngs::OsRng.try_fill_bytes(&mut nonce).map_err(|e| {
                key_err(
                    Path::new(ARTIFACT_KEY_FILE),
                    format!("no OS randomness: {e}"),
                )
            })?;
        }
        let aad = b.encode("dtfhe artifact aad v1");
        let ct = self
            .cipher(b)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| ArtifactError::Authentication {
                product: b.product.into(),
                name: b.name.into(),
            })?;
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens bytes made by [`ArtifactKey::seal`] for the same binding.
    pub fn open(&self, b: &Binding<'_>, sealed: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        let fail = || ArtifactError::Authentication {
            product: b.product.into(),
            name: b.name.into(),
        };
        if sealed.len() < 24 + 16 {
            return Err(fail());
        }
        let (nonce, ct) = sealed.split_at(24);
        let aad = b.encode("dtfhe artifact aad v1");
        self.cipher(b)
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_bindings() {
        let tmp = tempfile::tempdir().unwrap();
        let k = ArtifactKey::load_or_create(tmp.path()).unwrap();
        let k2 = ArtifactKey::load_or_create(tmp.path()).unwrap();
        assert_eq!(k.0[..], k2.0[..]);
        let b = Binding {
            product: "M1",
            stage: "design",
            source: "plant-a",
            name: "a.step",
        };
        let sealed = k.seal(&b, b"solid body").unwrap();
        assert_eq!(sealed.len(), 10 + 40);
        assert_eq!(k.open(&b, &sealed).unwrap(), b"solid body");
        // Fresh nonce each time.
        assert_ne!(k.seal(&b, b"solid body").unwrap(), sealed);
        // Any other binding, a flipped byte or another key fails.
        let moved = Binding {
            stage: "maintenance",
            ..b
        };
        assert!(k.open(&moved, &sealed).is_err());
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert!(k.open(&b, &bad).is_err());
        let other = tempfile::tempdir().unwrap();
        let k3 = ArtifactKey::load_or_create(other.path()).unwrap();
        assert!(k3.open(&b, &sealed).is_err());
        dtfhe_testkit::assert_owner_only(&tmp.path().join(ARTIFACT_KEY_FILE));
    }
}
