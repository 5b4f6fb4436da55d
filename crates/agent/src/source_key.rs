//! A source's own ed25519 signing key, kept by the source (never by the
//! platform): `<dir>/source.key`, one version byte (1) then the 32-byte seed, in the
//! checksummed secret-file envelope (`dtfhe_model::secret_file`),
//! file mode 0600 in a directory of mode 0700. The public half is registered
//! in the store (`Store::register_source`); every chunk the source appends is
//! signed with it.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

/// File name of a source's signing key inside its directory.
pub const SOURCE_KEY_FILE: &str = "source.key";

/// Version byte in front of the seed in [`SOURCE_KEY_FILE`].
pub const SOURCE_KEY_VERSION: u8 = 1;

/// Why a source key could not be read or created.
#[derive(Debug, thiserror::Error)]
#[error("source key {path}: {reason}")]
pub struct SourceKeyError {
    /// Key file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// The directory of source `name` in a deployment directory: `D/sources/<name>`.
pub fn source_dir(deployment: &Path, name: &str) -> PathBuf {
    deployment.join("sources").join(name)
}

fn err(path: &Path, reason: impl Into<String>) -> SourceKeyError {
    SourceKeyError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads the key in `dir/source.key`; `Ok(None)` if the file does not exist.
pub fn load(dir: &Path) -> Result<Option<SigningKey>, SourceKeyError> {
    let seed = read_secret_file(
        &dir.join(SOURCE_KEY_FILE),
        SOURCE_KEY_VERSION,
        "not a source key (expected version byte 1 and a 32-byte seed)",
        err,
    )?;
    Ok(seed.map(|s| SigningKey::from_bytes(&s)))
}

/// The 32-byte secret of the key file `path` (a `version` byte, then the secret); `Ok(None)`
/// if the file does not exist. A file that cannot be read, or is not such a key
/// (`malformed` says what it should be), is `err(path, reason)`.
pub(crate) fn read_secret_file<E>(
    path: &Path,
    version: u8,
    malformed: &str,
    err: impl Fn(&Path, String) -> E,
) -> Result<Option<Zeroizing<[u8; 32]>>, E> {
    let bytes = match dtfhe_model::secret_file::read_secret(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, e.to_string())),
    };
    match bytes.as_slice() {
        [v, secret @ ..] if *v == version && secret.len() == 32 => {
            let mut s = Zeroizing::new([0u8; 32]);
            s.copy_from_slice(secret);
            Ok(Some(s))
        }
        _ => Err(err(path, malformed.to_string())),
    }
}

/// Reads the key in `dir/source.key`, creating `dir` (mode 0700) and a new
/// random key (mode 0600) if there is none.
///
/// Crash- and race-safe: the key is written and synced under a temporary
/// name, then linked into place without overwriting, so a reader never sees
/// a partial key and two concurrent first runs end up with the same key.
pub fn load_or_create(dir: &Path) -> Result<SigningKey, SourceKeyError> {
    if let Some(k) = load(dir)? {
        return Ok(k);
    }
    let path = dir.join(SOURCE_KEY_FILE);
    create_secret_file(dir, SOURCE_KEY_FILE, SOURCE_KEY_VERSION)
        .map_err(|e| err(&path, format!("cannot create: {e}")))?;
    load(dir)?.ok_or_else(|| err(&path, "vanished after creation"))
}

/// Creates `dir` (mode 0700) and `dir/file` = version byte + 32 random bytes (mode 0600),
/// unless the file exists. Crash- and race-safe: written and synced under a temporary name,
/// then linked into place without overwriting, so a reader never sees a partial secret and
/// two concurrent first runs end up with the same one.
pub(crate) fn create_secret_file(dir: &Path, file: &str, version: u8) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let path = dir.join(file);
    let tmp = dir.join(format!("{file}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut bytes = Zeroizing::new([0u8; 33]);
    bytes[0] = version;
    {
        use rand::TryRngCore as _;
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes[1..])
            .map_err(|e| std::io::Error::other(format!("no OS randomness: {e}")))?;
    }
    let written = (|| {
        dtfhe_model::secret_file::write_new_secret(&tmp, &bytes[..])?;
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => {}
            // Another run created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    written
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_once_then_reused_with_owner_only_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = source_dir(tmp.path(), "plant-a");
        assert!(load(&dir).unwrap().is_none());
        let k1 = load_or_create(&dir).unwrap();
        let k2 = load_or_create(&dir).unwrap();
        assert_eq!(k1.to_bytes(), k2.to_bytes());
        let bytes = dtfhe_model::secret_file::read_secret(&dir.join(SOURCE_KEY_FILE)).unwrap();
        assert_eq!(bytes.len(), 33);
        assert_eq!(bytes[0], SOURCE_KEY_VERSION);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join(SOURCE_KEY_FILE)), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::write(dir.join(SOURCE_KEY_FILE), [2u8; 33]).unwrap();
        assert!(load(&dir).is_err());
    }
}
