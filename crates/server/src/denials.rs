//! Refused unauthenticated requests, counted and summarised (issue 16).
//!
//! A request that names no registered identity, or whose signature, timestamp or nonce is
//! wrong, costs its sender nothing: one ledger entry (and one signed checkpoint) each would
//! let anyone grow the permanent ledger at will. They are counted instead, per source
//! address, and [`crate::AppState::report_denials`] writes one `access_denied` entry per
//! address per period (`Limits::denial_report`) with the count and the last reason. At
//! most `Limits::denial_sources` addresses are counted separately in a period; the rest
//! share one line. Refusals of authenticated callers (a missing role or grant) stay
//! individual entries: their sender is known and accountable.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Subject of the summary for addresses past `Limits::denial_sources`.
pub const OTHER_SOURCES: &str = "other-addresses";

/// Longest reason kept (the reason quotes the request path, which the client chose).
const MAX_REASON_CHARS: usize = 240;

/// One period's count for one source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialCount {
    /// The source address (or [`OTHER_SOURCES`]).
    pub source: String,
    /// Requests refused.
    pub count: u64,
    /// The last refusal's reason (truncated).
    pub last_reason: String,
}

/// The counts of the current period.
#[derive(Debug)]
pub struct Denials {
    counts: Mutex<BTreeMap<String, (u64, String)>>,
    max_sources: usize,
}

impl Denials {
    /// Counts kept for at most `max_sources` addresses per period.
    pub fn new(max_sources: usize) -> Denials {
        Denials {
            counts: Mutex::new(BTreeMap::new()),
            max_sources: max_sources.max(1),
        }
    }

    /// Counts one refusal from `source`.
    pub fn count(&self, source: &str, reason: &str) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        let key = if counts.contains_key(source) || counts.len() < self.max_sources {
            source
        } else {
            OTHER_SOURCES
        };
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let slot = counts.entry(key.to_string()).or_insert((0, String::new()));
        slot.0 += 1;
        slot.1 = reason;
    }

    /// Takes the period's counts (leaving none), ordered by address.
    pub fn take(&self) -> Vec<DenialCount> {
        let Ok(mut counts) = self.counts.lock() else {
            return Vec::new();
        };
        std::mem::take(&mut *counts)
            .into_iter()
            .map(|(source, (count, last_reason))| DenialCount {
                source,
                count,
                last_reason,
            })
            .collect()
    }
}

/// The `detail` of a summary entry.
pub fn summary_detail(d: &DenialCount) -> String {
    format!(
        "{} unauthenticated request(s) refused since the last report; last: {}",
        d.count, d.last_reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_per_source_bounded_and_taken_once() {
        let d = Denials::new(2);
        for _ in 0..100 {
            d.count("10.0.0.1", "no signature");
        }
        d.count("10.0.0.2", "bad");
        d.count("10.0.0.3", "x");
        d.count("10.0.0.4", &"y".repeat(1000));
        let taken = d.take();
        assert_eq!(taken.len(), 3);
        assert_eq!(taken[0].source, "10.0.0.1");
        assert_eq!(taken[0].count, 100);
        assert_eq!(taken[2].source, OTHER_SOURCES);
        assert_eq!(taken[2].count, 2);
        assert_eq!(taken[2].last_reason.chars().count(), MAX_REASON_CHARS);
        assert!(summary_detail(&taken[0]).starts_with("100 unauthenticated"));
        assert!(d.take().is_empty());
    }
}
