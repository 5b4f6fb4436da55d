//! The runner: mutates seeds from the corpus with `mutatis` (insert, remove, swap and
//! rewrite bytes) plus truncation and splicing, feeds each input to a target, and stops
//! after a number of inputs or seconds. A panic or a [`Finding`] stops the run and hands
//! back the input that caused it.

use crate::fixture::Fixture;
use crate::targets::{Finding, Target};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// After this many inputs.
    Iterations(u64),
    /// After this much time.
    Time(Duration),
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Target name.
    pub target: &'static str,
    /// Inputs executed (the seeds themselves included).
    pub executed: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Stats {
    /// Inputs per second.
    pub fn per_second(&self) -> f64 {
        self.executed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An input that made a target panic or break its round trip.
#[derive(Debug)]
pub struct Crash {
    /// Target name.
    pub target: &'static str,
    /// The input.
    pub input: Vec<u8>,
    /// The panic message or the finding.
    pub message: String,
}

static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Replace the panic hook with one that only records the message: some decoders catch
/// panics of the fhe library on purpose, and printing each would flood the output.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
}

/// Run `input` through `target`, turning a panic into a [`Crash`].
pub fn execute(fx: &Fixture, target: &'static Target, input: &[u8]) -> Result<(), Crash> {
    let crash = |message: String| Crash {
        target: target.name,
        input: input.to_vec(),
        message,
    };
    match catch_unwind(AssertUnwindSafe(|| (target.run)(fx, input))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Finding(f))) => Err(crash(f)),
        Err(_) => {
            let msg = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
            Err(crash(format!("panic: {msg}")))
        }
    }
}

/// Fuzz `target` from `corpus` (never empty: an empty input is used if it is) until
/// `budget` is spent. `seed` makes the run reproducible.
pub fn fuzz(
    fx: &Fixture,
    target: &'static Target,
    corpus: &[Vec<u8>],
    budget: Budget,
    seed: u64,
) -> Result<Stats, Crash> {
    let empty = [Vec::new()];
    let corpus = if corpus.is_empty() {
        &empty[..]
    } else {
        corpus
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut session = mutatis::Session::new().seed(seed ^ 0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut executed = 0u64;
    for input in corpus {
        execute(fx, target, input)?;
        executed += 1;
    }
    let mut buf = Vec::new();
    loop {
        match budget {
            Budget::Iterations(n) if executed >= n => break,
            Budget::Time(d) if executed.is_multiple_of(256) && start.elapsed() >= d => break,
            _ => {}
        }
        mutate(&mut rng, &mut session, corpus, &mut buf);
        execute(fx, target, &buf)?;
        executed += 1;
    }
    Ok(Stats {
        target: target.name,
        executed,
        elapsed: start.elapsed(),
    })
}

/// One fresh input: a random seed with 1 to 8 byte-level mutations, sometimes truncated or
/// spliced with another seed.
fn mutate(
    rng: &mut ChaCha8Rng,
    session: &mut mutatis::Session,
    corpus: &[Vec<u8>],
    buf: &mut Vec<u8>,
) {
    buf.clear();
    buf.extend_from_slice(&corpus[rng.random_range(0..corpus.len())]);
    match rng.next_u32() % 16 {
        0 if !buf.is_empty() => {
            let keep = rng.random_range(0..buf.len());
            buf.truncate(keep);
        }
        1 => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            let cut = rng.random_range(0..=buf.len());
            let from = rng.random_range(0..=other.len());
            buf.truncate(cut);
            buf.extend_from_slice(&other[from..]);
        }
        _ => {}
    }
    let rounds = rng.random_range(1..=8);
    if buf.len() > FOCUS_ABOVE && rng.random_range(0..4) != 0 {
        // Large objects (ciphertexts, keys, ceremony messages) are mostly polynomial
        // coefficients that every byte value fills alike; their framing is at the ends.
        // Three times in four, mutate one small window (at the start, at the end or
        // anywhere) and put it back, so most mutations hit structure, not coefficients.
        let start = match rng.random_range(0..3) {
            0 => 0,
            1 => buf.len() - FOCUS_WINDOW,
            _ => rng.random_range(0..=buf.len() - FOCUS_WINDOW),
        };
        let mut window = buf[start..start + FOCUS_WINDOW].to_vec();
        for _ in 0..rounds {
            let _ = session.mutate(&mut window);
        }
        buf.splice(start..start + FOCUS_WINDOW, window);
    } else {
        for _ in 0..rounds {
            // An empty Vec<u8> still has the "insert" mutation, so this only fails on a
            // bug in mutatis; the input is then used as it is.
            let _ = session.mutate(buf);
        }
    }
}

/// Inputs longer than this get windowed mutations (see [`mutate`]).
const FOCUS_ABOVE: usize = 512;
/// Size of a mutation window.
const FOCUS_WINDOW: usize = 64;
