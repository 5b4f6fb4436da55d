//! Bounded homomorphic computation on the platform (issue 15): a query or a scoring holds
//! decoded ciphertexts and extended-basis accumulators while it computes, so the number
//! computing at once is what bounds the server's memory. At most
//! [`Limits::computations_at_once`] run; at most [`Limits::computations_waiting`] more wait
//! their turn in arrival order; any further one is answered at once with 503 `busy` (every
//! 503 carries `Retry-After`, see [`crate::error`]), before any ledger entry or work, and
//! may simply be sent again.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiProblem;
use crate::limits::Limits;
use dtfhe_api::Problem;

/// Seconds a refused client is told to wait before sending again.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// The queue of computations.
#[derive(Debug)]
pub struct ComputeQueue {
    running: Semaphore,
    admitted: AtomicUsize,
    capacity: usize,
}

/// A computation's turn: while held, it may compute; dropping it lets the next one in.
#[derive(Debug)]
pub struct Turn<'a> {
    _permit: SemaphorePermit<'a>,
    _admitted: Admitted<'a>,
}

/// Counts a computation as admitted (running or waiting) until dropped.
#[derive(Debug)]
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ComputeQueue {
    /// A queue for `limits`.
    pub fn new(limits: &Limits) -> ComputeQueue {
        let at_once = limits.computations_at_once.max(1);
        ComputeQueue {
            running: Semaphore::new(at_once),
            admitted: AtomicUsize::new(0),
            capacity: at_once + limits.computations_waiting,
        }
    }

    /// Waits for a turn to compute, or refuses at once when `capacity` computations are
    /// already running or waiting.
    pub async fn turn(&self, what: &str) -> Result<Turn<'_>, ApiProblem> {
        let before = self.admitted.fetch_add(1, Ordering::SeqCst);
        let admitted = Admitted(&self.admitted);
        if before >= self.capacity {
            return Err(ApiProblem(Problem::new(
                503,
                "busy",
                "Too many computations",
                format!(
                    "{what}: the platform is computing or queueing {} requests already; send \
                     it again in {RETRY_AFTER_SECONDS} s",
                    self.capacity
                ),
            )));
        }
        let permit = self
            .running
            .acquire()
            .await
            .map_err(|_| ApiProblem(Problem::unavailable("the platform is shutting down")))?;
        Ok(Turn {
            _permit: permit,
            _admitted: admitted,
        })
    }

    /// Computations running or waiting now.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(at_once: usize, waiting: usize) -> Limits {
        Limits {
            computations_at_once: at_once,
            computations_waiting: waiting,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn admits_up_to_capacity_then_refuses_and_frees_on_drop() {
        let q = ComputeQueue::new(&limits(1, 1));
        let first = q.turn("q1").await.expect("runs");
        // The second waits (it cannot get the permit while the first holds it).
        let waiting = tokio::spawn({
            let q = std::sync::Arc::new(ComputeQueue::new(&limits(1, 1)));
            async move {
                let t = q.turn("a").await.expect("first");
                let q2 = q.clone();
                let second = tokio::spawn(async move { q2.turn("b").await.map(|_| ()) });
                tokio::task::yield_now().await;
                while q.admitted() < 2 {
                    tokio::task::yield_now().await;
                }
                let third = q.turn("c").await;
                drop(t);
                (second.await.expect("join"), third.map(|_| ()))
            }
        });
        let (second, third) = waiting.await.expect("join");
        assert!(
            second.is_ok(),
            "the waiting one runs once the first is done"
        );
        let busy = third.expect_err("a third is refused");
        assert_eq!(busy.0.status, 503);
        assert_eq!(busy.0.short_kind(), "busy");
        let resp = axum::response::IntoResponse::into_response(busy);
        assert_eq!(resp.headers()[axum::http::header::RETRY_AFTER], "2");
        assert_eq!(q.admitted(), 1);
        drop(first);
        assert_eq!(q.admitted(), 0);
        q.turn("again").await.expect("free again");
    }
}
