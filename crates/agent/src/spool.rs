//! The edge agent's durable spool: every encrypted, signed chunk is written here (in the
//! `dtfhe_api::wire` encoding) *before* it is uploaded and deleted only after the platform
//! confirmed it, so a crash, a power cut or a network outage never loses a chunk nor makes
//! the agent encrypt it again under another seq.
//!
//! Layout of the spool directory (mode 0700):
//!
//! ```text
//! chunks/<seq, 20 digits>.<dataset>.chunk   waiting for upload (upload order = name order)
//! rejected/...                              refused by the platform for good (kept to inspect)
//! files/<file blake3 hex>                   a file being ingested: "<dataset> <base seq> <count>"
//! done/<file blake3 hex>                    a file fully stored (watch mode ingests it once)
//! seq/<dataset>                             the last seq this agent assigned in the dataset
//! deployment.json                           the platform's public deployment record (cache)
//! ```
//!
//! Every file is written under a temporary name, fsynced, renamed into place and the
//! directory fsynced, so after a crash a spool file is either whole or absent.

use std::path::{Path, PathBuf};

/// Why the spool could not be used.
#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {reason}")]
pub struct SpoolError {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

fn err(path: &Path, reason: impl std::fmt::Display) -> SpoolError {
    SpoolError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A chunk waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledChunk {
    /// Its file.
    pub path: PathBuf,
    /// The dataset it is for.
    pub dataset: String,
    /// Its seq.
    pub seq: u64,
}

/// A file whose chunks this agent started to spool: where its seqs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileJournal {
    /// Seq of the file's chunk 0.
    pub base_seq: u64,
    /// Number of chunks the file makes.
    pub count: u32,
}

/// An agent's spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

const SUBDIRS: [&str; 5] = ["chunks", "rejected", "files", "done", "seq"];

/// Whether `name` can be part of a spool file name (dataset names are SQL identifiers).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The spool of an agent run without `--spool`: `<identity file>.spool`, next to the
/// identity, so one identity always finds the chunks it left unsent.
pub fn default_dir(identity: &Path) -> PathBuf {
    let mut p = identity.as_os_str().to_owned();
    p.push(".spool");
    PathBuf::from(p)
}

/// Writes `bytes` to `path` crash-safely: temporary file, fsync, rename, fsync of the
/// directory. Mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let dir = path
        .parent()
        .ok_or_else(|| err(path, "no parent directory"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(path, "no file name"))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        dtfhe_model::secret_file::write_new_secret(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| err(path, format!("cannot write: {e}")))
}

impl Spool {
    /// Opens the spool in `dir`, creating it (mode 0700) and its subdirectories if needed.
    /// Temporary files of an interrupted write are removed.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        for sub in SUBDIRS {
            let d = dir.join(sub);
            builder
                .create(&d)
                .map_err(|e| err(&d, format!("cannot create: {e}")))?;
            for entry in std::fs::read_dir(&d).map_err(|e| err(&d, e))? {
                let p = entry.map_err(|e| err(&d, e))?.path();
                if p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
                {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn chunk_path(&self, sub: &str, dataset: &str, seq: u64) -> Result<PathBuf, SpoolError> {
        if !plain(dataset) {
            return Err(err(
                &self.dir,
                format!("dataset name `{dataset}` cannot name a spool file"),
            ));
        }
        Ok(self
            .dir
            .join(sub)
            .join(format!("{seq:020}.{dataset}.chunk")))
    }

    /// Spools one encoded chunk (crash-safe); returns its entry.
    pub fn put(&self, dataset: &str, seq: u64, encoded: &[u8]) -> Result<SpooledChunk, SpoolError> {
        let path = self.chunk_path("chunks", dataset, seq)?;
        write_atomic(&path, encoded)?;
        Ok(SpooledChunk {
            path,
            dataset: dataset.to_string(),
            seq,
        })
    }

    /// The chunks waiting for upload, in upload order (by seq).
    pub fn pending(&self) -> Result<Vec<SpooledChunk>, SpoolError> {
        let d = self.dir.join("chunks");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&d).map_err(|e| err(&d, e))? {
            let path = entry.map_err(|e| err(&d, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".chunk") else {
                continue;
            };
            let Some((seq, dataset)) = stem.split_once('.') else {
                continue;
            };
            let (Ok(seq), true) = (seq.parse::<u64>(), plain(dataset)) else {
                continue;
            };
            out.push(SpooledChunk {
                dataset: dataset.to_string(),
                seq,
                path,
            });
        }
        out.sort_by(|a, b| (a.seq, &a.dataset).cmp(&(b.seq, &b.dataset)));
        Ok(out)
    }

    /// The bytes of a spooled chunk.
    pub fn read(&self, c: &SpooledChunk) -> Result<Vec<u8>, SpoolError> {
        std::fs::read(&c.path).map_err(|e| err(&c.path, format!("cannot read: {e}")))
    }

    /// Deletes a chunk the platform confirmed.
    pub fn remove(&self, c: &SpooledChunk) -> Result<(), SpoolError> {
        std::fs::remove_file(&c.path).map_err(|e| err(&c.path, format!("cannot delete: {e}")))?;
        self.sync_dir("chunks")
    }

    /// Moves a chunk the platform refused for good to `rejected/`, so it no longer blocks the
    /// spool but stays available for inspection.
    pub fn reject(&self, c: &SpooledChunk) -> Result<PathBuf, SpoolError> {
        let to = self.chunk_path("rejected", &c.dataset, c.seq)?;
        std::fs::rename(&c.path, &to).map_err(|e| err(&c.path, format!("cannot move: {e}")))?;
        self.sync_dir("chunks")?;
        self.sync_dir("rejected")?;
        Ok(to)
    }

    fn sync_dir(&self, sub: &str) -> Result<(), SpoolError> {
        let d = self.dir.join(sub);
        std::fs::File::open(&d)
            .and_then(|f| f.sync_all())
            .map_err(|e| err(&d, format!("cannot sync: {e}")))
    }

    fn read_text(path: &Path) -> Result<Option<String>, SpoolError> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(path, format!("cannot read: {e}"))),
        }
    }

    /// The last seq this agent assigned in `dataset`, if any.
    pub fn last_seq(&self, dataset: &str) -> Result<Option<u64>, SpoolError> {
        let path = self.seq_path(dataset)?;
        Self::read_text(&path)?
            .map(|t| {
                t.trim()
                    .parse()
                    .map_err(|_| err(&path, "not a sequence number"))
            })
            .transpose()
    }

    /// Records `seq` as the last seq assigned in `dataset` (before a chunk with it is spooled).
    pub fn set_last_seq(&self, dataset: &str, seq: u64) -> Result<(), SpoolError> {
        write_atomic(&self.seq_path(dataset)?, format!("{seq}\n").as_bytes())
    }

    fn seq_path(&self, dataset: &str) -> Result<PathBuf, SpoolError> {
        if !plain(dataset) {
            return Err(err(
                &self.dir,
                format!("dataset name `{dataset}` is not plain"),
            ));
        }
        Ok(self.dir.join("seq").join(dataset))
    }

    /// The journal of a file this agent started to spool, if any.
    pub fn journal(&self, file_hash: &[u8; 32]) -> Result<Option<FileJournal>, SpoolError> {
        let path = self.dir.join("files").join(hex::encode(file_hash));
        Self::read_text(&path)?
            .map(|t| {
                let f: Vec<&str> = t.split_whitespace().collect();
                match f.as_slice() {
                    [_, base, count] => Ok(FileJournal {
                        base_seq: base.parse().map_err(|_| err(&path, "bad base seq"))?,
                        count: count.parse().map_err(|_| err(&path, "bad count"))?,
                    }),
                    _ => Err(err(&path, "expected `<dataset> <base seq> <count>`")),
                }
            })
            .transpose()
    }

    /// Records where a file's seqs start, before its first chunk is spooled.
    pub fn set_journal(
        &self,
        file_hash: &[u8; 32],
        dataset: &str,
        j: FileJournal,
    ) -> Result<(), SpoolError> {
        let path = self.dir.join("files").join(hex::encode(file_hash));
        write_atomic(
            &path,
            format!("{dataset} {} {}\n", j.base_seq, j.count).as_bytes(),
        )
    }

    /// Whether a file (by hash) was fully stored already.
    pub fn is_done(&self, file_hash: &[u8; 32]) -> bool {
        self.dir.join("done").join(hex::encode(file_hash)).exists()
    }

    /// Records a file as fully stored (`note`: one line for people, e.g. the file name).
    pub fn mark_done(&self, file_hash: &[u8; 32], note: &str) -> Result<(), SpoolError> {
        let name = hex::encode(file_hash);
        write_atomic(
            &self.dir.join("done").join(&name),
            format!("{note}\n").as_bytes(),
        )?;
        let _ = std::fs::remove_file(self.dir.join("files").join(&name));
        Ok(())
    }

    /// The cached public deployment record (JSON), if any.
    pub fn deployment(&self) -> Result<Option<String>, SpoolError> {
        Self::read_text(&self.dir.join("deployment.json"))
    }

    /// Caches the public deployment record (JSON), so the agent can encrypt while the
    /// platform is unreachable.
    pub fn set_deployment(&self, json: &str) -> Result<(), SpoolError> {
        write_atomic(&self.dir.join("deployment.json"), json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chunks_come_back_in_seq_order_and_survive_reopening() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(&tmp.path().join("s")).unwrap();
        spool.put("runs", 10, b"ten").unwrap();
        spool.put("runs", 2, b"two").unwrap();
        spool.put("runs", 100, b"hundred").unwrap();
        // A torn temporary file from a crash is ignored and cleaned up.
        std::fs::write(tmp.path().join("s/chunks/.x.chunk.1.tmp"), b"torn").unwrap();
        let spool = Spool::open(&tmp.path().join("s")).unwrap();
        let p = spool.pending().unwrap();
        let seqs: Vec<u64> = p.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, [2, 10, 100]);
        assert_eq!(spool.read(&p[0]).unwrap(), b"two");
        spool.remove(&p[0]).unwrap();
        spool.reject(&p[1]).unwrap();
        assert_eq!(spool.pending().unwrap().len(), 1);
        assert!(spool.put("../x", 1, b"").is_err());

        assert_eq!(spool.last_seq("runs").unwrap(), None);
        spool.set_last_seq("runs", 41).unwrap();
        assert_eq!(spool.last_seq("runs").unwrap(), Some(41));
        let h = [3u8; 32];
        assert!(spool.journal(&h).unwrap().is_none());
        let j = FileJournal {
            base_seq: 5,
            count: 3,
        };
        spool.set_journal(&h, "runs", j).unwrap();
        assert_eq!(spool.journal(&h).unwrap(), Some(j));
        assert!(!spool.is_done(&h));
        spool.mark_done(&h, "a.csv").unwrap();
        assert!(spool.is_done(&h));
        assert!(spool.journal(&h).unwrap().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(tmp.path().join("s"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
