//! The bulky bytes of a release request, kept on disk instead of in memory: its encoded
//! ciphertexts (`D/releases/<id>.ciphertexts`, written once when the release is requested)
//! and each trustee's sealed decryption shares (`D/releases/<id>.shares-<hex of the
//! trustee's name>`, written once when it answers).
//!
//! Why: a release's ciphertexts and shares are megabytes (a `GROUP BY` over 50 sources at
//! bfv-8192 is about 40 MB of ciphertexts and as much again per trustee), they are read once
//! or twice (the analyst's fetch of the complete result), and finished releases are kept a
//! day ([`crate::keypath::RETAIN_FINISHED_SECS`]). Held in memory, the platform's resident
//! size grew with every query of the day; now it holds their hashes only, and the request's
//! JSON file (re-written on each answer) stays small.
//!
//! The platform operator can rewrite these files, so a read checks the count and every
//! item's blake3 hash against the hashes held in memory (the ones the ledger names) and
//! refuses a mismatch rather than hand out altered bytes.
//!
//! Format (version 1): one version byte, the item count (u32, little-endian), then per
//! item its length (u32, little-endian) and its bytes. Nothing may follow the last item.

use std::path::{Path, PathBuf};

use dtfhe_store::Hash;

/// The version byte this server writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// A payload file that cannot be used, naming the file and what is wrong (never its bytes).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not a version-1 payload.
    #[error("{path}: {what}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong, and where.
        what: String,
    },
    /// The items are not the ones the ledger names (changed on disk).
    #[error("{path}: item {index} is not the one the ledger names (changed on disk?)")]
    Altered {
        /// The file.
        path: String,
        /// The first item that differs.
        index: usize,
    },
}

/// The file of release `id`'s ciphertexts in the releases directory `dir`.
pub fn ciphertexts_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.ciphertexts"))
}

/// The file of `trustee`'s sealed shares for release `id` (the name hex-encoded, so any
/// identity name makes a plain file name).
pub fn shares_path(dir: &Path, id: u64, trustee: &str) -> PathBuf {
    dir.join(format!("{id}.shares-{}", hex::encode(trustee)))
}

/// The version-1 encoding of `items`.
pub fn encode<B: AsRef<[u8]>>(items: &[B]) -> Vec<u8> {
    let total: usize = items.iter().map(|b| 4 + b.as_ref().len()).sum();
    let mut out = Vec::with_capacity(5 + total);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&u32::try_from(items.len()).unwrap_or(u32::MAX).to_le_bytes());
    for b in items {
        let b = b.as_ref();
        out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

/// Parses a version-1 payload; the error says what is wrong and at which byte offset.
pub fn decode(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let (&version, mut rest) = bytes.split_first().ok_or("empty file")?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version} (this server reads {FORMAT_VERSION})"
        ));
    }
    let mut at = 1usize;
    let take_u32 = |rest: &mut &[u8], at: &mut usize, what: &str| {
        let (head, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("{what} at byte {at}: the file ends"))?;
        *rest = tail;
        *at += 4;
        Ok::<usize, String>(u32::from_le_bytes(*head) as usize)
    };
    let count = take_u32(&mut rest, &mut at, "item count")?;
    // Every item takes at least its 4-byte length: a count the file cannot hold is refused
    // before anything is allocated for it.
    if count > rest.len() / 4 {
        return Err(format!("item count {count} does not fit the file"));
    }
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let len = take_u32(&mut rest, &mut at, &format!("length of item {i}"))?;
        if len > rest.len() {
            return Err(format!(
                "item {i} at byte {at}: {len} bytes announced, {} left",
                rest.len()
            ));
        }
        let (item, tail) = rest.split_at(len);
        items.push(item.to_vec());
        rest = tail;
        at += len;
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last item", rest.len()));
    }
    Ok(items)
}

/// How the temporary file of a payload being written is named: removed at start if a crash
/// left one.
pub const INCOMING_PREFIX: &str = ".incoming-";

/// A payload file written item by item, so that its items need not all be in memory at
/// once (a release's ciphertexts are encoded, hashed and written one at a time): a
/// temporary file in the releases directory, synced and renamed into place by
/// [`PayloadWriter::finish`], removed if dropped unfinished.
pub struct PayloadWriter {
    out: Option<std::io::BufWriter<std::fs::File>>,
    tmp: PathBuf,
    left: usize,
}

impl PayloadWriter {
    /// Starts a payload of `count` items in directory `dir` (created if missing).
    pub fn create(dir: &Path, count: usize) -> Result<PayloadWriter, PayloadError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{INCOMING_PREFIX}{}-{n}.tmp", std::process::id()));
        let io = |source| PayloadError::Io {
            path: tmp.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = PayloadWriter {
            out: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            tmp: tmp.clone(),
            left: count,
        };
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        w.put(&[FORMAT_VERSION])?;
        w.put(&count.to_le_bytes())?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), PayloadError> {
        let tmp = &self.tmp;
        match &mut self.out {
            Some(out) => std::io::Write::write_all(out, bytes).map_err(|source| PayloadError::Io {
                path: tmp.display().to_string(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// Appends the next item.
    pub fn push(&mut self, item: &[u8]) -> Result<(), PayloadError> {
        if self.left == 0 {
            return Err(PayloadError::Malformed {
                path: self.tmp.display().to_string(),
                what: "more items than announced".into(),
            });
        }
        self.left -= 1;
        let len = u32::try_from(item.len()).unwrap_or(u32::MAX);
        self.put(&len.to_le_bytes())?;
        self.put(item)
    }

    /// Syncs the file and renames it to `path`: a reader sees no file or the whole payload.
    pub fn finish(mut self, path: &Path) -> Result<(), PayloadError> {
        let io = |source| PayloadError::Io {
            path: path.display().to_string(),
            source,
        };
        if self.left != 0 {
            return Err(PayloadError::Malformed {
                path: path.display().to_string(),
                what: format!("{} announced items were not written", self.left),
            });
        }
        if let Some(out) = self.out.take() {
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&self.tmp, path).map_err(io)
    }
}

impl Drop for PayloadWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `items` to `path` durably (through a [`PayloadWriter`] in its directory).
pub fn write<B: AsRef<[u8]>>(path: &Path, items: &[B]) -> Result<(), PayloadError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut w = PayloadWriter::create(dir, items.len())?;
    for item in items {
        w.push(item.as_ref())?;
    }
    w.finish(path)
}

/// Reads the items of `path` and checks them against `hashes` (count and every blake3).
pub fn read_checked(path: &Path, hashes: &[Hash]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let name = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PayloadError::Io {
        path: name(),
        source,
    })?;
    let items = decode(&bytes).map_err(|what| PayloadError::Malformed { path: name(), what })?;
    if items.len() != hashes.len() {
        return Err(PayloadError::Malformed {
            path: name(),
            what: format!("{} items, the ledger names {}", items.len(), hashes.len()),
        });
    }
    if let Some(index) = items
        .iter()
        .zip(hashes)
        .position(|(b, h)| blake3::hash(b).as_bytes() != h)
    {
        return Err(PayloadError::Altered {
            path: name(),
            index,
        });
    }
    Ok(items)
}

/// Runs payload file work `f` off the async threads; a failure (or a failed task) is a 500
/// whose detail starts with `what`.
pub async fn off_thread<T: Send + 'static>(
    what: String,
    f: impl FnOnce() -> Result<T, PayloadError> + Send + 'static,
) -> Result<T, crate::error::ApiProblem> {
    let fail =
        |e: String| crate::error::ApiProblem(dtfhe_api::Problem::internal(format!("{what}: {e}")));
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))
}

/// Removes release `id`'s payload files (its ciphertexts and the shares of `trustees`);
/// a file already gone is no error.
pub fn remove<'a>(dir: &Path, id: u64, trustees: impl Iterator<Item = &'a String>) {
    let _ = std::fs::remove_file(ciphertexts_path(dir, id));
    for t in trustees {
        let _ = std::fs::remove_file(shares_path(dir, id, t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hashes(items: &[Vec<u8>]) -> Vec<Hash> {
        items.iter().map(|b| *blake3::hash(b).as_bytes()).collect()
    }

    #[test]
    fn written_items_read_back_and_every_change_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = ciphertexts_path(dir.path(), 7);
        let items = vec![b"first".to_vec(), Vec::new(), vec![0u8; 1000]];
        write(&path, &items).expect("write");
        assert_eq!(read_checked(&path, &hashes(&items)).expect("read"), items);

        // Another item's hash, a missing item, a flipped byte, a wrong version: refused,
        // naming the file.
        let mut other = hashes(&items);
        other[2] = [9; 32];
        let e = read_checked(&path, &other)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("item 2") && e.contains("7.ciphertexts"), "{e}");
        assert!(read_checked(&path, &hashes(&items[..2])).is_err());
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            read_checked(&path, &hashes(&items)),
            Err(PayloadError::Altered { index: 2, .. })
        ));
        bytes[0] = 2;
        std::fs::write(&path, &bytes).expect("write");
        let e = read_checked(&path, &hashes(&items))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("format version 2"), "{e}");
        let gone = read_checked(&ciphertexts_path(dir.path(), 8), &[]);
        assert!(matches!(gone, Err(PayloadError::Io { .. })));
    }

    #[test]
    fn the_writer_writes_the_encoding_and_leaves_nothing_when_unfinished() {
        let dir = tempfile::tempdir().expect("dir");
        let items = vec![b"one".to_vec(), vec![7u8; 3000], Vec::new()];
        let path = ciphertexts_path(dir.path(), 1);
        write(&path, &items).expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), encode(&items));
        // Dropped unfinished, or finished with an item missing: no file, no leftover.
        let mut w = PayloadWriter::create(dir.path(), 2).expect("create");
        w.push(b"x").expect("push");
        drop(w);
        let w = PayloadWriter::create(dir.path(), 2).expect("create");
        assert!(w.finish(&ciphertexts_path(dir.path(), 2)).is_err());
        let mut w = PayloadWriter::create(dir.path(), 0).expect("create");
        assert!(w.push(b"extra").is_err());
        drop(w);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("1.ciphertexts")]);
    }

    #[test]
    fn a_trustee_name_makes_a_plain_file_name() {
        let p = shares_path(Path::new("/r"), 3, "../x y");
        assert_eq!(p, Path::new("/r/3.shares-2e2e2f782079"));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
            prop_assert_eq!(decode(&encode(&items)).expect("decode"), items);
        }

        /// Hostile bytes: an error or items whose encoding is exactly the input, never a
        /// panic or an allocation the input cannot back.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(items) = decode(&bytes) {
                prop_assert_eq!(encode(&items), bytes);
            }
        }

        /// Every single-byte change and every truncation of a valid payload is refused or
        /// read as other items (which the hash check then refuses).
        #[test]
        fn every_field_corrupted(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 1..5), at in any::<prop::sample::Index>(), x in 1u8..) {
            let good = encode(&items);
            let mut bad = good.clone();
            let i = at.index(bad.len());
            bad[i] ^= x;
            prop_assert_ne!(decode(&bad).ok(), Some(items.clone()));
            for cut in 0..good.len() {
                prop_assert!(decode(&good[..cut]).is_err());
            }
        }
    }
}
