//! What the live-input benches (`dtfhe bench mqtt`, `dtfhe bench opcua`) share: the schema
//! file, the edge agent, the analyst's released COUNT and SUM, and the latency from a
//! value's time to the first release that covers it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dtfhe_agent::upload::{EdgeAgent, RetryPolicy};
use dtfhe_analyst::net::{self, RemoteQueryOptions};
use dtfhe_analyst::AnalystError;
use dtfhe_api::Identity;
use dtfhe_model::Schema;

use crate::error::BenchError;
use crate::load::percentile;
use crate::mqtt::cell;

/// Writes the schema `text` to `root/file` and reads it: (its path, the schema).
pub(crate) fn write_schema(
    root: &Path,
    file: &str,
    text: &str,
) -> Result<(PathBuf, Schema), BenchError> {
    let path = root.join(file);
    std::fs::write(&path, text).map_err(|e| BenchError::io(&path, e))?;
    Ok((path, Schema::from_toml_str(text, file)?))
}

/// The bench's edge agent: `source` uploading to `url`, its spool `root/edge.spool`, an
/// unreachable platform given up on after 10 s.
pub(crate) fn edge_agent(
    url: &str,
    source: Identity,
    root: &Path,
) -> Result<EdgeAgent, BenchError> {
    let retry = RetryPolicy {
        give_up_after: Some(Duration::from_secs(10)),
        ..RetryPolicy::default()
    };
    EdgeAgent::new(url, source, &root.join("edge.spool"), retry)
        .map_err(|e| BenchError::Platform(e.to_string()))
}

/// One networked query `sql` (a COUNT, then a SUM) as the analyst of `identity`: the
/// released (count, sum), 0 where a cell is empty.
pub(crate) fn count_and_sum(
    url: &str,
    identity: &Path,
    sql: String,
) -> Result<(u64, f64), AnalystError> {
    let r = net::query(&RemoteQueryOptions {
        server: url.to_string(),
        identity: identity.to_path_buf(),
        sql,
        epsilon: None,
        timeout: Duration::from_secs(60),
        poll: Duration::from_millis(50),
    })?;
    let row = r.result.rows.first();
    let count = row.and_then(|r| r.first()).and_then(cell).unwrap_or(0.0) as u64;
    let sum = row.and_then(|r| r.get(1)).and_then(cell).unwrap_or(0.0);
    Ok((count, sum))
}

/// The latency of each value `i` sent at `sent[i]` (seconds, in send order): the arrival of
/// the first release `(arrival, count)` whose count covers it (count > i), minus `sent[i]`;
/// values no release covers have none. Sorted.
pub(crate) fn latencies(sent: &[f64], releases: &[(f64, u64)]) -> Vec<f64> {
    let mut lat = Vec::with_capacity(sent.len());
    let mut r = 0;
    for (i, t) in sent.iter().enumerate() {
        while r < releases.len() && releases[r].1 <= i as u64 {
            r += 1;
        }
        if let Some((at, _)) = releases.get(r) {
            lat.push(at - t);
        }
    }
    lat.sort_by(f64::total_cmp);
    lat
}

/// The printed latency line: `from` (what a value's time is) to the released aggregate.
pub(crate) fn latency_line(from: &str, lat: &[f64], releases: (u64, u64)) -> String {
    format!(
        "latency {from} -> released aggregate: p50 {:.2} s, p99 {:.2} s, max {:.2} s over {} values ({} releases, {} refused or failed)",
        percentile(lat, 50.0),
        percentile(lat, 99.0),
        lat.last().copied().unwrap_or(0.0),
        lat.len(),
        releases.0,
        releases.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_waits_for_the_first_release_covering_it() {
        // Values at 0, 1, 2, 3 s; releases at 2.5 s (2 values) and 10 s (3 values).
        let lat = latencies(&[0.0, 1.0, 2.0, 3.0], &[(2.5, 2), (10.0, 3)]);
        assert_eq!(lat, vec![1.5, 2.5, 8.0]);
    }
}
