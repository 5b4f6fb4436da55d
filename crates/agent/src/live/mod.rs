//! What every live source of the edge agent shares (MQTT, OPC UA): the open window and its
//! sealed journal, closing a window into one encrypted, signed chunk in the spool, picking up
//! the windows an earlier run left (`recover`), the run's set-up, windows and uploader thread
//! (`driver`), its events and counts ([`event`]) and the mapping file's common rules
//! ([`mapfile`]). A source only turns its messages into journalled rows; the rest of the path,
//! and its exactly-once argument, is this one.

pub(crate) mod driver;
pub mod event;
pub mod mapfile;

pub use event::{LiveConfig, LiveEvent, LiveRun, LiveStats};

use std::sync::Mutex;
use std::time::Instant;

use dtfhe_model::{Schema, Table};

use crate::mqtt::decode::{append, RowChecker};
use crate::mqtt::journal::{Entry, Journal, WindowFile};
use crate::upload::{EdgeAgent, EdgeError};
use crate::{ChunkSigner, Layout, PipelineError};

/// What [`recover`] found.
pub(crate) struct Recovered {
    /// The window left open, to go on filling.
    pub(crate) open: Option<Window>,
    /// The next seq to give a window.
    pub(crate) next_seq: u64,
    /// The largest journal tag of every recovered entry (OPC UA: the last instant taken).
    pub(crate) max_tag: u64,
}

/// Picks up the windows an earlier run left in `journal`: those already spooled are finished
/// (`closed(seq, rows)` is told), all but the last of the others are closed into chunks, and
/// the last is returned open (with its rows rebuilt), together with the next seq to give.
pub(crate) fn recover(
    journal: &mut Journal,
    checker: &RowChecker,
    closer: &Closer<'_>,
    closed: &mut dyn FnMut(u64, usize),
) -> Result<Recovered, EdgeError> {
    let agent = closer.agent;
    let schema = closer.schema;
    let mut quiet = |_: crate::upload::Event| {};
    // Windows left by an earlier run: spooled already (finish the journal), or rebuilt.
    let spooled: std::collections::HashSet<u64> = agent
        .spool()
        .pending()?
        .into_iter()
        .filter(|c| c.dataset == schema.dataset)
        .map(|c| c.seq)
        .collect();
    let mut open: Option<Window> = None;
    let mut max_tag = 0;
    for (seq, entries) in journal.recover()? {
        max_tag = entries.iter().map(|e| e.tag).fold(max_tag, u64::max);
        if spooled.contains(&seq) {
            // Closed and spooled just before the earlier run stopped.
            let rows = entries.iter().map(|e| e.rows.len()).sum();
            journal.finish(seq, &entries)?;
            closed(seq, rows);
            continue;
        }
        let table = rebuild(checker, &entries)?;
        if let Some(prev) = open.take() {
            if let Some(t) = &prev.table {
                closer.close(journal, prev.seq, &prev.entries, t)?;
                closed(prev.seq, prev.rows);
            } else {
                journal.finish(prev.seq, &prev.entries)?;
            }
        }
        open = Some(Window {
            seq,
            file: journal.window(seq)?,
            rows: table.as_ref().map_or(0, |t| t.rows),
            table,
            entries,
            opened: Instant::now(),
        });
    }
    let local_last = agent.spool().last_seq(&schema.dataset)?;
    let remote_last = agent.platform_last_seq(&schema.dataset, &mut quiet)?;
    let mut next_seq = local_last.max(remote_last).map_or(0, |l| l + 1);
    if let Some(w) = &open {
        next_seq = next_seq.max(w.seq + 1);
    }
    Ok(Recovered {
        open,
        next_seq,
        max_tag,
    })
}

pub(crate) fn spool_bytes(agent: &EdgeAgent) -> u64 {
    agent
        .spool()
        .pending()
        .map(|p| {
            p.iter()
                .filter_map(|c| std::fs::metadata(&c.path).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The open window: its seq, journal file, entries and rows.
pub(crate) struct Window {
    pub(crate) seq: u64,
    pub(crate) file: WindowFile,
    pub(crate) entries: Vec<Entry>,
    pub(crate) table: Option<Table>,
    pub(crate) rows: usize,
    pub(crate) opened: Instant,
}

/// Everything the loop needs to close a window.
pub(crate) struct Closer<'a> {
    pub(crate) agent: &'a EdgeAgent,
    pub(crate) params: &'a dtfhe_crypto::Params,
    pub(crate) pk: &'a fhe::bfv::PublicKey,
    pub(crate) schema: &'a Schema,
    pub(crate) schema_text: &'a str,
    pub(crate) lock: &'a Mutex<()>,
}

impl Closer<'_> {
    /// Encrypts and spools window `seq` (its rows in `table`), then finishes its journal.
    pub(crate) fn close(
        &self,
        journal: &mut Journal,
        seq: u64,
        entries: &[Entry],
        table: &Table,
    ) -> Result<(), EdgeError> {
        let identity = self.agent.identity();
        let mut h = blake3::Hasher::new();
        h.update(b"dtfhe mqtt window\0");
        h.update(identity.name().as_bytes());
        h.update(b"\0");
        h.update(self.schema.dataset.as_bytes());
        h.update(&seq.to_le_bytes());
        let signer = ChunkSigner {
            key: identity.signing_key(),
            dataset: &self.schema.dataset,
            source: identity.name(),
            base_seq: seq,
            file_hash: *h.finalize().as_bytes(),
        };
        let layout = Layout::packed(table.rows, self.params.slots());
        if layout.len() != 1 {
            return Err(EdgeError::Usage(format!(
                "window {seq}: {} rows do not fit one chunk",
                table.rows
            )));
        }
        let out = crate::encrypt_ordered_with(
            self.params,
            self.pk,
            self.schema,
            table,
            &layout,
            &[0],
            &signer,
            |_, chunk| {
                let bytes = dtfhe_api::wire::encode_chunk(self.schema_text, &chunk)
                    .map_err(|e| EdgeError::Usage(format!("seq {}: {e}", chunk.seq)))?;
                // The uploader lists the spool under this lock: it never sees a chunk whose
                // journal is still there.
                let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                self.agent
                    .spool()
                    .put(&self.schema.dataset, chunk.seq, &bytes)?;
                journal.finish(seq, entries)?;
                Ok::<(), EdgeError>(())
            },
        );
        match out {
            Ok(()) => Ok(()),
            Err(PipelineError::Agent(e)) => Err(e.into()),
            Err(PipelineError::Sink(e)) => Err(e),
        }
    }
}

pub(crate) fn rebuild(checker: &RowChecker, entries: &[Entry]) -> Result<Option<Table>, EdgeError> {
    let mut table: Option<Table> = None;
    for e in entries {
        for r in &e.rows {
            let t = checker.check(r, &e.topic)?;
            match &mut table {
                Some(acc) => append(acc, t),
                None => table = Some(t),
            }
        }
    }
    Ok(table)
}
