//! The source-independent half of a live run: the set-up every source makes before it
//! connects ([`prepare`]), the open window that rows are journalled into and closed from
//! ([`Windows`]), and the loop ([`drive`]) that runs the source's turns beside the uploader
//! thread, closes windows when due, watches the spool's limit and drains at the stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use dtfhe_model::{Schema, Table};

use super::{recover, spool_bytes, Closer, LiveEvent, LiveRun, LiveStats, Recovered, Window};
use crate::mqtt::decode::{append, RowChecker};
use crate::mqtt::journal::{Entry, Journal};
use crate::upload::{EdgeAgent, EdgeError, Event};

/// What a live run holds once the schema, the mapping and the deployment's key are known.
pub(crate) struct Setup {
    pub(crate) schema_text: String,
    pub(crate) schema: Schema,
    pub(crate) params: dtfhe_crypto::Params,
    pub(crate) pk: fhe::bfv::PublicKey,
    pub(crate) window_rows: usize,
    pub(crate) checker: RowChecker,
    pub(crate) lock: Mutex<()>,
}

impl Setup {
    /// What closes this run's windows.
    pub(crate) fn closer<'a>(&'a self, agent: &'a EdgeAgent) -> Closer<'a> {
        Closer {
            agent,
            params: &self.params,
            pk: &self.pk,
            schema: &self.schema,
            schema_text: &self.schema_text,
            lock: &self.lock,
        }
    }
}

/// Reads the schema, checks that `mapped` (the mapping's dataset) is its dataset and that
/// rows of it can be windowed (no per-product lanes), waits for the deployment's key (from the
/// platform or the spool's copy) and opens the source's journal. `kind` (`mqtt`, `opcua`) names
/// the source's flag and its journal directory. `None`: `stop` became true while waiting.
pub(crate) fn prepare(
    run: &LiveRun<'_>,
    mapped: &str,
    kind: &str,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<Option<(Setup, Journal)>, EdgeError> {
    let agent = run.agent;
    let (schema_text, schema) = crate::upload::read_schema(run.schema_path)?;
    if schema.lanes.is_some() {
        return Err(EdgeError::Usage(format!(
            "dataset `{}` places rows in per-product lanes: feed it with --csv, not --{kind}",
            schema.dataset
        )));
    }
    if mapped != schema.dataset {
        return Err(EdgeError::Usage(format!(
            "the mapping is for `{mapped}`, the schema for `{}`",
            schema.dataset
        )));
    }
    let mut quiet = |_: Event| {};
    let (params, pk) = loop {
        match agent.encryption_key(&mut quiet) {
            Ok(k) => break k,
            Err(EdgeError::Offline { reason, .. }) => {
                events(LiveEvent::PlatformAway { reason });
                if (run.stop)() {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    };
    let window_rows = run
        .live
        .window_rows
        .unwrap_or(params.slots())
        .clamp(1, params.slots());
    let seed = agent.identity().signing_key().to_bytes();
    let journal = Journal::open_in(agent.spool().dir(), kind, &schema.dataset, &seed)?;
    Ok(Some((
        Setup {
            checker: RowChecker::new(&schema),
            schema_text,
            schema,
            params,
            pk,
            window_rows,
            lock: Mutex::new(()),
        },
        journal,
    )))
}

/// The journal and the open window of a run: rows go in journalled, a window closes into a
/// spooled chunk when full, when due or at the stop.
pub(crate) struct Windows<'a> {
    pub(crate) journal: Journal,
    closer: Closer<'a>,
    open: Option<Window>,
    next_seq: u64,
    rows_max: usize,
    window: Duration,
}

impl<'a> Windows<'a> {
    /// Picks up what an earlier run left in `journal` ([`recover`]); also returns the largest
    /// journal tag recovered.
    pub(crate) fn recover(
        mut journal: Journal,
        setup: &'a Setup,
        run: &LiveRun<'a>,
        events: &mut dyn FnMut(LiveEvent),
    ) -> Result<(Windows<'a>, u64), EdgeError> {
        let closer = setup.closer(run.agent);
        let Recovered {
            open,
            next_seq,
            max_tag,
        } = recover(&mut journal, &setup.checker, &closer, &mut |seq, rows| {
            events(LiveEvent::Window { seq, rows })
        })?;
        Ok((
            Windows {
                journal,
                closer,
                open,
                next_seq,
                rows_max: setup.window_rows,
                window: run.live.window,
            },
            max_tag,
        ))
    }

    /// How long to wait for the next message: until the open window is due, at most 200 ms.
    pub(crate) fn wait(&self) -> Duration {
        self.open
            .as_ref()
            .map_or(Duration::from_millis(200), |w| {
                self.window.saturating_sub(w.opened.elapsed())
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(200))
    }

    /// Most rows one window holds.
    pub(crate) fn rows_max(&self) -> usize {
        self.rows_max
    }

    /// Adds checked rows (`table`) and their journal entry to the open window: a window they
    /// would overflow is closed first (with the `pending` entries journalled into it), a new
    /// one is opened when none is. The entry joins `pending` until [`Windows::commit`].
    pub(crate) fn add(
        &mut self,
        table: Table,
        entry: Entry,
        pending: &mut Vec<Entry>,
        stats: &mut LiveStats,
        events: &mut dyn FnMut(LiveEvent),
    ) -> Result<(), EdgeError> {
        if self
            .open
            .as_ref()
            .is_some_and(|w| w.rows + table.rows > self.rows_max)
        {
            self.commit(pending)?;
            self.close_open(stats, events)?;
        }
        let w = match self.open.take() {
            Some(w) => w,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.closer
                    .agent
                    .spool()
                    .set_last_seq(&self.closer.schema.dataset, seq)?;
                Window {
                    seq,
                    file: self.journal.window(seq)?,
                    entries: Vec::new(),
                    table: None,
                    rows: 0,
                    opened: Instant::now(),
                }
            }
        };
        let w = self.open.insert(w);
        w.rows += table.rows;
        stats.rows += table.rows as u64;
        match &mut w.table {
            Some(acc) => append(acc, table),
            None => w.table = Some(table),
        }
        pending.push(entry);
        Ok(())
    }

    /// Journals the `pending` entries into the open window (one fsync).
    pub(crate) fn commit(&mut self, pending: &mut Vec<Entry>) -> Result<(), EdgeError> {
        if let Some(w) = self.open.as_mut() {
            self.journal.append(&mut w.file, pending)?;
            w.entries.append(pending);
        }
        Ok(())
    }

    /// Closes the open window when it is full or due, or when `stopping`.
    pub(crate) fn close_if_due(
        &mut self,
        stopping: bool,
        stats: &mut LiveStats,
        events: &mut dyn FnMut(LiveEvent),
    ) -> Result<(), EdgeError> {
        let due = self.open.as_ref().is_some_and(|w| {
            stopping || w.rows >= self.rows_max || w.opened.elapsed() >= self.window
        });
        if due {
            self.close_open(stats, events)?;
        }
        Ok(())
    }

    fn close_open(
        &mut self,
        stats: &mut LiveStats,
        events: &mut dyn FnMut(LiveEvent),
    ) -> Result<(), EdgeError> {
        let Some(w) = self.open.take() else {
            return Ok(());
        };
        match &w.table {
            Some(t) => {
                self.closer.close(&mut self.journal, w.seq, &w.entries, t)?;
                stats.windows += 1;
                events(LiveEvent::Window {
                    seq: w.seq,
                    rows: w.rows,
                });
            }
            None => self.journal.finish(w.seq, &w.entries)?,
        }
        Ok(())
    }
}

/// Whether the spool is past its limit, telling the log when that changes.
struct SpoolGauge {
    limit: u64,
    full: bool,
}

impl SpoolGauge {
    /// Whether `agent`'s spool now holds more than the limit.
    fn full(&mut self, agent: &EdgeAgent, events: &mut dyn FnMut(LiveEvent)) -> bool {
        let bytes = spool_bytes(agent);
        let full = bytes > self.limit;
        if full && !self.full {
            events(LiveEvent::SpoolFull {
                bytes,
                limit: self.limit,
            });
        } else if !full && self.full {
            events(LiveEvent::SpoolResumed);
        }
        self.full = full;
        full
    }
}

/// What one turn of a source's loop may use.
pub(crate) struct Turn<'t, 'w> {
    /// The journal and the open window.
    pub(crate) windows: &'t mut Windows<'w>,
    /// The run's counts.
    pub(crate) stats: &'t mut LiveStats,
    /// The log.
    pub(crate) events: &'t mut dyn FnMut(LiveEvent),
    /// The run is stopping: take what already arrived, wait for nothing new.
    pub(crate) stopping: bool,
    /// The spool was past its limit at the end of the last turn.
    pub(crate) spool_full: bool,
}

/// Runs the source's turns (`turn`: wait a little for input, journal its rows through
/// [`Turn::windows`]) beside the uploader thread until `stop()` is true; after each turn
/// closes the window when due and checks the spool's limit (`cfg`). At the stop, closes the
/// open window and uploads what is closed (within `drain_for`), then stops the uploader.
pub(crate) fn drive(
    run: &LiveRun<'_>,
    setup: &Setup,
    mut windows: Windows<'_>,
    events: &mut dyn FnMut(LiveEvent),
    mut turn: impl FnMut(&mut Turn<'_, '_>) -> Result<(), EdgeError>,
) -> Result<LiveStats, EdgeError> {
    let agent = run.agent;
    let (tx, rx) = mpsc::channel();
    let done = AtomicBool::new(false);
    let mut stats = LiveStats::default();
    let mut gauge = SpoolGauge {
        limit: run.live.spool_max_bytes,
        full: false,
    };
    let pump = |stats: &mut LiveStats, events: &mut dyn FnMut(LiveEvent)| {
        while let Ok(e) = rx.try_recv() {
            stats.count(&e);
            events(e);
        }
    };
    std::thread::scope(|scope| {
        let uploader = scope.spawn(|| upload_loop(agent, &setup.lock, &done, &tx));
        let mut spool_full = false;
        let result = loop {
            pump(&mut stats, events);
            let stopping = (run.stop)();
            let mut t = Turn {
                windows: &mut windows,
                stats: &mut stats,
                events: &mut *events,
                stopping,
                spool_full,
            };
            if let Err(e) = turn(&mut t) {
                break Err(e);
            }
            if let Err(e) = windows.close_if_due(stopping, &mut stats, events) {
                break Err(e);
            }
            if stopping {
                break Ok(());
            }
            spool_full = gauge.full(agent, events);
        };
        let until = Instant::now() + run.drain_for;
        while result.is_ok() && Instant::now() < until {
            pump(&mut stats, events);
            if agent.spool().pending().map(|p| p.len()).unwrap_or(0) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        done.store(true, Ordering::Relaxed);
        let _ = uploader.join();
        pump(&mut stats, events);
        result.map(|()| stats)
    })
}

/// The uploader: sends closed windows in seq order; on an outage waits and tries again.
fn upload_loop(
    agent: &EdgeAgent,
    lock: &Mutex<()>,
    done: &AtomicBool,
    tx: &mpsc::Sender<LiveEvent>,
) {
    let mut away = false;
    while !done.load(Ordering::Relaxed) {
        let pending = {
            let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
            agent.spool().pending().unwrap_or_default()
        };
        let mut pause = Duration::from_millis(100);
        for c in pending {
            if done.load(Ordering::Relaxed) {
                return;
            }
            match agent.upload_spooled(&c, &mut |_| {}) {
                Ok(_) => {
                    away = false;
                    let _ = tx.send(LiveEvent::Uploaded { seq: c.seq });
                }
                Err(EdgeError::Offline { reason, .. }) => {
                    if !away {
                        let _ = tx.send(LiveEvent::PlatformAway { reason });
                    }
                    away = true;
                    pause = Duration::from_secs(1);
                    break;
                }
                Err(e) => {
                    let _ = tx.send(LiveEvent::Refused {
                        reason: e.to_string(),
                    });
                    pause = Duration::from_secs(1);
                    break;
                }
            }
        }
        std::thread::sleep(pause);
    }
}
