//! `dtfhe query --export-aas F.json`: the released result as an AAS `ReleasedAggregates`
//! submodel with its provenance, for the embedded query (facts from the deployment's ledger)
//! and the networked one (facts from the platform's answer).

use dtfhe_agent::formats::aas::{released_submodel, AasValue, Approval, ReleasedAggregates};
use dtfhe_analyst::net::Released;
use dtfhe_cli::CliError;
use dtfhe_embedded::ops::QueryReport;
use dtfhe_embedded::{DeploymentDir, EmbeddedError};
use dtfhe_engine::{Cell, ResultSet};
use dtfhe_ledger::wording::{parse_release_subject, release_subject};
use dtfhe_ledger::EntryKind;
use std::path::Path;

/// Writes the released `r` of `sql` with the release facts the ledger holds for it: the
/// newest delivery to this user (the one `ops::query_with` just recorded), its release
/// request and the trustees' approvals.
pub(super) fn embedded(
    dir: &DeploymentDir,
    sql: &str,
    r: &QueryReport,
    out: &Path,
) -> Result<(), CliError> {
    let store = dir.open_store_read_only().map_err(EmbeddedError::from)?;
    let min_group_size = store
        .deployment()
        .map_err(EmbeddedError::from)?
        .min_group_size;
    let entries = store.entries().map_err(EmbeddedError::from)?;
    let actor = dtfhe_embedded::audit::actor();
    let delivered = entries
        .iter()
        .rev()
        .find(|e| e.kind == EntryKind::ResultDelivered && e.actor == actor)
        .ok_or_else(|| {
            CliError::Usage("the ledger holds no delivery of this result to export".into())
        })?;
    let release = parse_release_subject(&delivered.subject).ok_or_else(|| {
        CliError::Usage(format!(
            "ledger entry {}: the delivery names no release",
            delivered.seq
        ))
    })?;
    let subject = release_subject(release);
    let approvals = entries
        .iter()
        .filter(|e| e.kind == EntryKind::TrusteeApproved && e.subject == subject)
        .map(|e| Approval {
            trustee: e.actor.clone(),
            unix: e.time_unix,
        })
        .collect();
    write(
        &ReleasedAggregates {
            sql: sql.to_string(),
            release_id: subject,
            request_entry: release,
            delivery_entry: delivered.seq,
            epsilon: r.epsilon,
            released_unix: delivered.time_unix,
            min_group_size,
            approvals,
            columns: r.result.columns.clone(),
            rows: rows(&r.result),
        },
        out,
    )
}

/// Writes the networked release `r` of `sql` with the facts the platform's answer names:
/// the release (its `release_requested` entry), the `result_delivered` entry, the approvals
/// as the platform recorded them; released now (when this analyst combined the shares).
pub(super) fn networked(sql: &str, r: &Released, out: &Path) -> Result<(), CliError> {
    let delivery_entry = r.delivery_entry.ok_or_else(|| {
        CliError::Usage(format!(
            "release {}: the platform did not name the ledger entry of its delivery, so the \
             export would lack its provenance; nothing was written to {}",
            r.release,
            out.display()
        ))
    })?;
    let approvals = r
        .report
        .approvals
        .iter()
        .map(|(trustee, unix)| Approval {
            trustee: trustee.clone(),
            unix: *unix,
        })
        .collect();
    write(
        &ReleasedAggregates {
            sql: sql.to_string(),
            release_id: release_subject(r.release),
            request_entry: r.release,
            delivery_entry,
            epsilon: r.report.epsilon,
            released_unix: dtfhe_model::clock::now_unix(),
            min_group_size: r.min_group_size,
            approvals,
            columns: r.report.result.columns.clone(),
            rows: rows(&r.report.result),
        },
        out,
    )
}

/// The result's cells as typed AAS values.
fn rows(result: &ResultSet) -> Vec<Vec<AasValue>> {
    result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(col, c)| match c {
                    Cell::Null => AasValue::Null,
                    Cell::Int(i) => AasValue::Int(*i),
                    Cell::Float(f) => AasValue::Double(*f),
                    Cell::Text(t) => AasValue::Text(t.clone()),
                    Cell::Percentile(p) => AasValue::Double(p.value),
                    // A histogram: its table text (bucket counts between the edges).
                    other => result
                        .cell_text(col, other)
                        .map_or(AasValue::Null, AasValue::Text),
                })
                .collect()
        })
        .collect()
}

/// Writes the submodel of `facts` to `out` and says so on stderr.
fn write(facts: &ReleasedAggregates, out: &Path) -> Result<(), CliError> {
    let doc = released_submodel(facts);
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| CliError::Usage(format!("AAS export: {e}")))?;
    std::fs::write(out, text + "\n").map_err(|e| CliError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    eprintln!(
        "released result and its release facts written to {} (AAS submodel ReleasedAggregates, {})",
        out.display(),
        facts.release_id
    );
    Ok(())
}
