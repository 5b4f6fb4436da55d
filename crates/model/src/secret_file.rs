//! Writing and reading a secret (key share, signing key seed, identity): a new file only,
//! owner read/write (mode 0600 on Unix) from the moment it exists, synced before returning.
//! One implementation so no caller forgets the mode, overwrites an existing key, or reads a
//! damaged one.
//!
//! Every secret is stored in a versioned envelope with a checksum, so one flipped byte on
//! disk is an error naming the file, never a silently different key:
//!
//! ```text
//! "DTSF" | format version (1) | payload length u32 LE | payload | blake3(everything before) (32)
//! ```
//!
//! Files written before the envelope existed (no `DTSF` magic) are still read, as their bare
//! payload: their own format's version byte and checks apply (and a key share is also
//! checked against the trustee's ceremony record). One flipped byte cannot turn the magic of
//! an enveloped file into that of a bare one (`DTFH` differs in two bytes), so damage to an
//! enveloped file is never mistaken for an old file.

use std::io::Write as _;
use std::path::Path;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"DTSF";
/// Current format version of the secret-file envelope.
pub const SECRET_FILE_VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 4;
const CHECKSUM_LEN: usize = 32;

/// Why writing or reading a secret file failed. The cases read differently to a user: the
/// file could not be created (it exists, or the directory is missing), its bytes could not be
/// written or read, or it is damaged (the checksum or the envelope does not check out).
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be created (e.g. it already exists: `ErrorKind::AlreadyExists`).
    #[error("cannot create: {0}")]
    Create(#[source] std::io::Error),
    /// The file was created but writing or syncing failed; the partial file was removed.
    #[error("cannot write: {0}")]
    Write(#[source] std::io::Error),
    /// The file could not be read (missing, permissions).
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// The file is damaged or truncated: its envelope or checksum does not check out.
    #[error("damaged secret file: {0}")]
    Damaged(#[from] SecretFormatError),
}

/// What is wrong with the bytes of an enveloped secret file (never quotes them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFormatError {
    /// Fewer bytes than the header and checksum.
    #[error("{0} bytes is shorter than the envelope")]
    Short(usize),
    /// A format version this build does not read.
    #[error("format version {0} (this build reads {SECRET_FILE_VERSION})")]
    Version(u8),
    /// The length field does not match the file's size (truncated or extended).
    #[error("the header says {declared} payload bytes, the file holds {found}")]
    Length {
        /// Payload length in the header.
        declared: usize,
        /// Payload bytes present.
        found: usize,
    },
    /// The checksum does not match the content (a changed byte).
    #[error("checksum does not match the content (the file was changed or damaged)")]
    Checksum,
}

impl SecretFileError {
    /// The underlying I/O error's kind (e.g. to treat `AlreadyExists` or `NotFound`
    /// specially); `InvalidData` for a damaged file.
    pub fn kind(&self) -> std::io::ErrorKind {
        match self {
            SecretFileError::Create(e) | SecretFileError::Write(e) | SecretFileError::Read(e) => {
                e.kind()
            }
            SecretFileError::Damaged(_) => std::io::ErrorKind::InvalidData,
        }
    }

    /// Whether the file exists but is damaged (as opposed to missing or unreadable).
    pub fn is_damaged(&self) -> bool {
        matches!(self, SecretFileError::Damaged(_))
    }
}

impl From<SecretFileError> for std::io::Error {
    /// The underlying I/O error, for callers that report plain I/O errors (a damaged file
    /// becomes `InvalidData` with the reason).
    fn from(e: SecretFileError) -> std::io::Error {
        match e {
            SecretFileError::Create(e) | SecretFileError::Write(e) | SecretFileError::Read(e) => e,
            SecretFileError::Damaged(d) => {
                std::io::Error::new(std::io::ErrorKind::InvalidData, d.to_string())
            }
        }
    }
}

/// The envelope around `payload` (see the module documentation).
pub fn seal_secret(payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        HEADER_LEN + payload.len() + CHECKSUM_LEN,
    ));
    out.extend_from_slice(MAGIC);
    out.push(SECRET_FILE_VERSION);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// The payload of a secret file's bytes: checked envelope, or the bare bytes of a file
/// written before the envelope existed (no magic).
pub fn open_secret(bytes: &[u8]) -> Result<&[u8], SecretFormatError> {
    if !bytes.starts_with(MAGIC) {
        return Ok(bytes);
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(SecretFormatError::Short(bytes.len()));
    }
    let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if blake3::hash(body).as_bytes() != sum {
        return Err(SecretFormatError::Checksum);
    }
    if body[4] != SECRET_FILE_VERSION {
        return Err(SecretFormatError::Version(body[4]));
    }
    let declared = u32::from_le_bytes([body[5], body[6], body[7], body[8]]) as usize;
    let payload = &body[HEADER_LEN..];
    if payload.len() != declared {
        return Err(SecretFormatError::Length {
            declared,
            found: payload.len(),
        });
    }
    Ok(payload)
}

/// Reads the secret file at `path` and returns its checked payload.
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(SecretFileError::Read)?);
    Ok(Zeroizing::new(open_secret(&bytes)?.to_vec()))
}

/// Creates `path` (it must not exist) with mode 0600, writes `payload` in the checksummed
/// envelope and syncs the file. If writing fails after the file was created, the file is
/// removed, so no truncated key is left behind. Read it back with [`read_secret`].
pub fn write_new_secret(path: &Path, payload: &[u8]) -> Result<(), SecretFileError> {
    write_new_private(path, &seal_secret(payload))
}

/// Creates `path` (it must not exist) with mode 0600, writes `bytes` as they are and syncs
/// the file: for private data that carries its own integrity check (e.g. spooled signed
/// chunks), not for secrets (use [`write_new_secret`]).
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), SecretFileError> {
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
        assert_eq!(&read_secret(&path).expect("read")[..], b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_new_secret(&path, b"other").expect_err("exists");
        assert!(matches!(again, SecretFileError::Create(_)));
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(&read_secret(&path).expect("read")[..], b"secret");
        let missing = dir.path().join("no-such-dir").join("k.key");
        assert!(matches!(
            write_new_secret(&missing, b"x"),
            Err(SecretFileError::Create(_))
        ));
        assert!(matches!(
            read_secret(&missing),
            Err(SecretFileError::Read(_))
        ));
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_detected() {
        let sealed = seal_secret(b"a key share of some length");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut b = sealed.to_vec();
                b[i] ^= 1 << bit;
                let opened = open_secret(&b);
                // A flip inside the magic makes bytes no enveloped file starts with: they
                // are read as a bare old file, whose own format then refuses them (its
                // payload starts with "DTS"/"DTF"-like junk, never a valid version byte).
                if i < MAGIC.len() {
                    assert_ne!(opened.ok(), Some(&b"a key share of some length"[..]));
                } else {
                    assert!(opened.is_err(), "flip of bit {bit} of byte {i} accepted");
                }
            }
        }
        for len in MAGIC.len()..sealed.len() {
            assert!(open_secret(&sealed[..len]).is_err(), "truncated to {len}");
        }
        assert_eq!(open_secret(b"\x01old"), Ok(&b"\x01old"[..]));
    }
}
