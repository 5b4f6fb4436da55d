//! Writing a secret (key share, signing key seed, identity) to disk: a new file only, owner
//! read/write (mode 0600 on Unix) from the moment it exists, synced before returning. One
//! implementation so no caller forgets the mode or overwrites an existing key.

use std::io::Write as _;
use std::path::Path;

/// Why [`write_new_secret`] failed. The two cases read differently to a user: the file could
/// not be created (it exists, or the directory is missing) or its bytes could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be created (e.g. it already exists: `ErrorKind::AlreadyExists`).
    #[error("cannot create: {0}")]
    Create(#[source] std::io::Error),
    /// The file was created but writing or syncing failed; the partial file was removed.
    #[error("cannot write: {0}")]
    Write(#[source] std::io::Error),
}

impl SecretFileError {
    /// The underlying I/O error's kind (e.g. to treat `AlreadyExists` specially).
    pub fn kind(&self) -> std::io::ErrorKind {
        match self {
            SecretFileError::Create(e) | SecretFileError::Write(e) => e.kind(),
        }
    }
}

impl From<SecretFileError> for std::io::Error {
    /// The underlying I/O error, for callers that report plain I/O errors.
    fn from(e: SecretFileError) -> std::io::Error {
        match e {
            SecretFileError::Create(e) | SecretFileError::Write(e) => e,
        }
    }
}

/// Creates `path` (it must not exist) with mode 0600, writes `bytes` and syncs the file.
/// If writing fails after the file was created, the file is removed, so no truncated key is
/// left behind.
pub fn write_new_secret(path: &Path, bytes: &[u8]) -> Result<(), SecretFileError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(SecretFileError::Create)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(SecretFileError::Write(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_new_owner_only_file_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        write_new_secret(&path, b"secret").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_new_secret(&path, b"other").expect_err("exists");
        assert!(matches!(again, SecretFileError::Create(_)));
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"secret");
        let missing = dir.path().join("no-such-dir").join("k.key");
        assert!(matches!(
            write_new_secret(&missing, b"x"),
            Err(SecretFileError::Create(_))
        ));
    }
}
