//! The window journal: every row taken from the broker is appended here (sealed with
//! XChaCha20-Poly1305 under a key derived from the source's identity key, so no value rests
//! on disk in clear) and fsynced *before* the message is acknowledged to the broker. A crash
//! loses nothing: a message not yet acknowledged is delivered again by the broker, a row
//! already journalled is in the journal. When the window closes its chunk is spooled, the
//! window's acknowledgement tags recorded, and only then is the journal file removed.
//!
//! Files, in `<spool>/mqtt/`:
//!
//! ```text
//! <seq, 20 digits>.<dataset>.wal   the open window that will be chunk <seq>
//! acked.bin                        per MQTT packet id, the keyed tag of the last message
//!                                  taken with it (8 bytes each): a redelivery (DUP flag)
//!                                  with the same id and tag is a duplicate
//! sparkplug.json                   the Sparkplug alias tables (names only, no values)
//! ```
//!
//! A window file: `DTFW`, a version byte, the seq (u64 LE); then records, each a u32 LE
//! length, a 24-byte nonce and the sealed record (associated data: the file header). A
//! torn last record (crash during the write) is cut off: its message was not acknowledged.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::decode::RawRow;
use crate::spool::{write_atomic, SpoolError};

/// Format version of a window file (and of each record's plaintext).
pub const JOURNAL_VERSION: u8 = 1;
const MAGIC: &[u8; 4] = b"DTFW";
const HEADER: usize = 4 + 1 + 8;
/// Largest sealed record read back (a message's rows).
const MAX_RECORD: usize = 64 << 20;
const PKIDS: usize = 1 << 16;

fn err(path: &Path, reason: impl std::fmt::Display) -> SpoolError {
    SpoolError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// One message's rows as journalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The MQTT packet id it came with (0 for QoS 0).
    pub pkid: u16,
    /// Keyed tag of its topic and payload (see [`Journal::tag`]).
    pub tag: u64,
    /// Its topic.
    pub topic: String,
    /// Its rows (each column's text, schema order).
    pub rows: Vec<RawRow>,
}

/// The journal directory of one agent and dataset.
pub struct Journal {
    dir: PathBuf,
    dataset: String,
    key: Zeroizing<[u8; 32]>,
    acked: std::fs::File,
    /// In-memory copy of `acked.bin`, updated with the open window's entries.
    tags: Vec<u64>,
}

/// An open window file being appended to.
pub struct WindowFile {
    path: PathBuf,
    header: [u8; HEADER],
    file: std::fs::File,
}

impl Journal {
    /// Opens `<spool>/mqtt` for `dataset`, with the key derived from the source's signing
    /// key seed.
    pub fn open(spool_dir: &Path, dataset: &str, seed: &[u8; 32]) -> Result<Journal, SpoolError> {
        Journal::open_in(spool_dir, "mqtt", dataset, seed)
    }

    /// Opens `<spool>/<sub>` for `dataset` (each live source kind its own directory: the
    /// windows of an MQTT and an OPC UA run never mix).
    pub fn open_in(
        spool_dir: &Path,
        sub: &str,
        dataset: &str,
        seed: &[u8; 32],
    ) -> Result<Journal, SpoolError> {
        let dir = spool_dir.join(sub);
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(0o700);
        }
        b.create(&dir)
            .map_err(|e| err(&dir, format!("cannot create: {e}")))?;
        let key = Zeroizing::new(blake3::derive_key("dtfhe agent mqtt journal v1", seed));
        let path = dir.join("acked.bin");
        let mut acked = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| err(&path, format!("cannot open: {e}")))?;
        let mut bytes = Vec::new();
        acked
            .read_to_end(&mut bytes)
            .map_err(|e| err(&path, format!("cannot read: {e}")))?;
        bytes.resize(PKIDS * 8, 0);
        let tags = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        Ok(Journal {
            dir,
            dataset: dataset.to_string(),
            key,
            acked,
            tags,
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The keyed tag of a message (never 0): equal for a redelivery of the same message,
    /// and no clue to its values without the key.
    pub fn tag(&self, topic: &str, payload: &[u8]) -> u64 {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&(topic.len() as u64).to_le_bytes());
        h.update(topic.as_bytes());
        h.update(payload);
        let mut t = [0u8; 8];
        t.copy_from_slice(&h.finalize().as_bytes()[..8]);
        u64::from_le_bytes(t).max(1)
    }

    /// Whether a redelivered message (`pkid`, `tag`) was already taken.
    pub fn is_duplicate(&self, pkid: u16, tag: u64) -> bool {
        pkid != 0 && self.tags[usize::from(pkid)] == tag
    }

    /// Notes a taken message in memory (made durable by its window's journal, then by
    /// [`Journal::finish`]).
    pub fn note(&mut self, pkid: u16, tag: u64) {
        if pkid != 0 {
            self.tags[usize::from(pkid)] = tag;
        }
    }

    fn window_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.{}.wal", self.dataset))
    }

    /// The window files left by an earlier run, by seq, with their entries (a torn last
    /// record cut off). Their tags are noted.
    pub fn recover(&mut self) -> Result<Vec<(u64, Vec<Entry>)>, SpoolError> {
        let mut out = Vec::new();
        let suffix = format!(".{}.wal", self.dataset);
        for e in std::fs::read_dir(&self.dir).map_err(|e| err(&self.dir, e))? {
            let path = e.map_err(|e| err(&self.dir, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(seq) = name
                .strip_suffix(&suffix)
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let entries = self.read_window(&path, seq)?;
            for en in &entries {
                self.note(en.pkid, en.tag);
            }
            out.push((seq, entries));
        }
        out.sort_by_key(|(s, _)| *s);
        Ok(out)
    }

    fn header(seq: u64) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[..4].copy_from_slice(MAGIC);
        h[4] = JOURNAL_VERSION;
        h[5..].copy_from_slice(&seq.to_le_bytes());
        h
    }

    fn read_window(&self, path: &Path, seq: u64) -> Result<Vec<Entry>, SpoolError> {
        let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
        let header = Self::header(seq);
        if bytes.len() < HEADER || bytes[..HEADER] != header {
            return Err(err(path, "not a window journal of this seq (bad header)"));
        }
        let cipher = XChaCha20Poly1305::new((&*self.key).into());
        let mut pos = HEADER;
        let mut out = Vec::new();
        while pos < bytes.len() {
            let Some(len) = bytes
                .get(pos..pos + 4)
                .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
            else {
                break; // torn length
            };
            if len > MAX_RECORD {
                return Err(err(
                    path,
                    format!("record at byte {pos} claims {len} bytes"),
                ));
            }
            let Some(rec) = bytes.get(pos + 4..pos + 4 + 24 + len) else {
                break; // torn record
            };
            let plain = cipher
                .decrypt(
                    XNonce::from_slice(&rec[..24]),
                    Payload {
                        msg: &rec[24..],
                        aad: &header,
                    },
                )
                .map_err(|_| {
                    err(
                        path,
                        format!(
                            "record at byte {pos} does not open (altered, or another identity's)"
                        ),
                    )
                })?;
            let plain = Zeroizing::new(plain);
            out.push(
                decode_entry(&plain)
                    .ok_or_else(|| err(path, format!("record at byte {pos} is malformed")))?,
            );
            pos += 4 + 24 + len;
        }
        if pos < bytes.len() {
            // Cut the torn tail so later appends follow the last whole record.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| err(path, e))?;
            f.set_len(pos as u64).map_err(|e| err(path, e))?;
            f.sync_all().map_err(|e| err(path, e))?;
        }
        Ok(out)
    }

    /// Opens window `seq` for appending (creating its file with the header if new).
    pub fn window(&self, seq: u64) -> Result<WindowFile, SpoolError> {
        let path = self.window_path(seq);
        let header = Self::header(seq);
        let exists = path.exists();
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(&path)
            .map_err(|e| err(&path, format!("cannot open: {e}")))?;
        if !exists {
            file.write_all(&header)
                .and_then(|()| file.sync_all())
                .and_then(|()| std::fs::File::open(&self.dir)?.sync_all())
                .map_err(|e| err(&path, format!("cannot write: {e}")))?;
        }
        Ok(WindowFile { path, header, file })
    }

    /// Appends entries to a window file and fsyncs it: after this the messages may be
    /// acknowledged.
    pub fn append(&self, w: &mut WindowFile, entries: &[Entry]) -> Result<(), SpoolError> {
        if entries.is_empty() {
            return Ok(());
        }
        let cipher = XChaCha20Poly1305::new((&*self.key).into());
        let mut buf = Vec::new();
        for e in entries {
            let plain = Zeroizing::new(encode_entry(e));
            let mut nonce = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
            let sealed = cipher
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &plain,
                        aad: &w.header,
                    },
                )
                .map_err(|_| err(&w.path, "cannot seal a record"))?;
            buf.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
            buf.extend_from_slice(&nonce);
            buf.extend_from_slice(&sealed);
        }
        w.file
            .write_all(&buf)
            .and_then(|()| w.file.sync_data())
            .map_err(|e| err(&w.path, format!("cannot append: {e}")))
    }

    /// After window `seq`'s chunk is spooled: records the tags of its messages durably,
    /// then removes its journal file.
    pub fn finish(&mut self, seq: u64, entries: &[Entry]) -> Result<(), SpoolError> {
        let path = self.dir.join("acked.bin");
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt as _;
            for e in entries.iter().filter(|e| e.pkid != 0) {
                self.tags[usize::from(e.pkid)] = e.tag;
                self.acked
                    .write_all_at(&e.tag.to_le_bytes(), u64::from(e.pkid) * 8)
                    .map_err(|x| err(&path, format!("cannot write: {x}")))?;
            }
        }
        #[cfg(not(unix))]
        {
            for e in entries.iter().filter(|e| e.pkid != 0) {
                self.tags[usize::from(e.pkid)] = e.tag;
            }
            let bytes: Vec<u8> = self.tags.iter().flat_map(|t| t.to_le_bytes()).collect();
            write_atomic(&path, &bytes)?;
        }
        self.acked
            .sync_data()
            .map_err(|x| err(&path, format!("cannot sync: {x}")))?;
        let w = self.window_path(seq);
        match std::fs::remove_file(&w) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(&w, format!("cannot delete: {e}"))),
        }
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| err(&self.dir, format!("cannot sync: {e}")))
    }

    /// The stored Sparkplug alias tables (JSON), if any.
    pub fn births(&self) -> Result<Option<String>, SpoolError> {
        let p = self.dir.join("sparkplug.json");
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(&p, format!("cannot read: {e}"))),
        }
    }

    /// Stores the Sparkplug alias tables (JSON).
    pub fn set_births(&self, json: &str) -> Result<(), SpoolError> {
        write_atomic(&self.dir.join("sparkplug.json"), json.as_bytes())
    }
}

fn encode_entry(e: &Entry) -> Vec<u8> {
    let mut b = vec![JOURNAL_VERSION];
    b.extend_from_slice(&e.pkid.to_le_bytes());
    b.extend_from_slice(&e.tag.to_le_bytes());
    let put = |b: &mut Vec<u8>, s: &[u8]| {
        b.extend_from_slice(&(s.len() as u32).to_le_bytes());
        b.extend_from_slice(s);
    };
    put(&mut b, e.topic.as_bytes());
    b.extend_from_slice(&(e.rows.len() as u32).to_le_bytes());
    for r in &e.rows {
        b.extend_from_slice(&(r.len() as u32).to_le_bytes());
        for f in r {
            match f {
                None => b.push(0),
                Some(s) => {
                    b.push(1);
                    put(&mut b, s.as_bytes());
                }
            }
        }
    }
    b
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<usize> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn text(&mut self) -> Option<String> {
        let n = self.u32()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn decode_entry(b: &[u8]) -> Option<Entry> {
    let mut c = Cursor(b);
    if c.take(1)? != [JOURNAL_VERSION] {
        return None;
    }
    let pkid = u16::from_le_bytes(c.take(2)?.try_into().ok()?);
    let tag = u64::from_le_bytes(c.take(8)?.try_into().ok()?);
    let topic = c.text()?;
    let n = c.u32()?;
    let mut rows = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let k = c.u32()?;
        let mut row = Vec::with_capacity(k.min(1024));
        for _ in 0..k {
            row.push(match c.take(1)?[0] {
                0 => None,
                1 => Some(c.text()?),
                _ => return None,
            });
        }
        rows.push(row);
    }
    c.0.is_empty().then_some(Entry {
        pkid,
        tag,
        topic,
        rows,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn journal_survives_a_torn_tail_and_keeps_values_sealed() {
        let tmp = tempfile::tempdir().unwrap();
        let seed = [7u8; 32];
        let j = Journal::open(tmp.path(), "press", &seed).unwrap();
        let e = |pkid: u16, v: &str| Entry {
            pkid,
            tag: j.tag("t", v.as_bytes()),
            topic: "t".into(),
            rows: vec![vec![Some("M1".into()), Some(v.into()), None]],
        };
        let (a, b) = (e(5, "31.4159"), e(6, "27.1828"));
        let mut w = j.window(9).unwrap();
        j.append(&mut w, &[a.clone(), b.clone()]).unwrap();
        let path = j.window_path(9);
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(7).any(|x| x == b"31.4159"), "a value in clear");
        // A torn record after the two whole ones is cut off.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let mut j = Journal::open(tmp.path(), "press", &seed).unwrap();
        let got = j.recover().unwrap();
        assert_eq!(got, vec![(9, vec![a.clone(), b.clone()])]);
        assert!(j.is_duplicate(5, a.tag));
        assert!(!j.is_duplicate(5, b.tag));
        // Another key cannot open it; an altered byte is refused.
        let mut other = Journal::open(tmp.path(), "press", &[8u8; 32]).unwrap();
        assert!(other
            .recover()
            .unwrap_err()
            .reason
            .contains("does not open"));
        j.finish(9, &[a.clone(), b]).unwrap();
        assert!(!path.exists());
        let j2 = Journal::open(tmp.path(), "press", &seed).unwrap();
        assert!(j2.is_duplicate(5, a.tag), "tags are durable after finish");
    }
}
