//! The bodies of the dashboard's pages (the frame is [`crate::html::page`]). Only what the
//! signed-in user may see reaches these functions' output: datasets are filtered by the
//! user's visibility before anything about them is written.

use crate::backend::{DatasetInfo, Overview, Released, Verified};
use crate::error::DashboardError;
use crate::html::{self, esc, utc};
use crate::scores::{self, Scored, Scoring};
use crate::users::User;
use crate::views::{self, View};
use dtfhe_ledger::Entry;
use dtfhe_model::{Schema, Stage};
use std::sync::Arc;

const STAGES: [(Stage, &str); 3] = [
    (Stage::Design, "Design"),
    (Stage::Manufacturing, "Manufacturing"),
    (Stage::Maintenance, "Maintenance"),
];

/// Who must approve a release, as the overview says it: any t of n on a t-of-n
/// deployment, else all of them.
fn trustee_rule(threshold: Option<usize>, trustees: usize) -> String {
    match threshold {
        Some(t) if t < trustees => format!("any {t} of {trustees} release"),
        _ => "all must approve".to_string(),
    }
}

/// The thread overview: the deployment, then the visible datasets by lifecycle stage.
pub fn overview(o: &Overview, user: &User) -> String {
    let mut out = format!(
        "<section aria-label=\"Deployment\"><h2>Deployment</h2><dl class=\"kv\">\
         <dt>Kind</dt><dd>{}</dd><dt>Parameters</dt><dd>{}</dd>\
         <dt>Trustees ({})</dt><dd id=\"trustees\">{}</dd>\
         <dt>Smallest group released (k)</dt><dd>{}</dd></dl></section>",
        esc(o.kind),
        esc(&o.preset),
        trustee_rule(o.threshold, o.trustees.len()),
        esc(&o.trustees.join(", ")),
        o.min_group_size
    );
    out.push_str(&thread_form(""));
    let visible: Vec<&DatasetInfo> = o.datasets.iter().filter(|d| user.sees(&d.name)).collect();
    for (stage, label) in STAGES {
        let ds: Vec<&&DatasetInfo> = visible.iter().filter(|d| d.stage == stage).collect();
        out.push_str(&format!(
            "<section class=\"stage\" aria-label=\"{label}\"><h2>{label}</h2>"
        ));
        if ds.is_empty() {
            out.push_str("<p class=\"empty\">No dataset of this stage.</p></section>");
            continue;
        }
        out.push_str(&format!(
            "<table class=\"datasets\"><caption>{label} datasets</caption><thead><tr>\
             <th scope=\"col\">Dataset</th><th scope=\"col\">Owners (rows / chunks)</th>\
             <th scope=\"col\">Rows</th><th scope=\"col\">Chunks</th>\
             <th scope=\"col\">Encrypted columns</th><th scope=\"col\">Public columns</th>\
             </tr></thead><tbody>"
        ));
        for d in ds {
            let owners = d
                .sources
                .iter()
                .map(|s| format!("{} ({} / {})", esc(&s.source), s.rows, s.chunks))
                .collect::<Vec<_>>()
                .join(", ");
            let enc: Vec<String> = d
                .columns
                .iter()
                .filter(|c| c.encrypted)
                .map(|c| esc(&c.name))
                .collect();
            let public: Vec<String> = d
                .columns
                .iter()
                .filter(|c| !c.encrypted)
                .map(|c| {
                    if c.key {
                        format!("{} (identifier)", esc(&c.name))
                    } else {
                        esc(&c.name)
                    }
                })
                .collect();
            out.push_str(&format!(
                "<tr><th scope=\"row\"><a href=\"/datasets/{n}\">{n}</a></th><td>{owners}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                d.rows(),
                d.chunks(),
                enc.join(", "),
                public.join(", "),
                n = esc(&d.name),
            ));
        }
        out.push_str("</tbody></table></section>");
    }
    out
}

/// The form asking for a product's thread.
pub fn thread_form(product: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/thread\" class=\"filter\"><label for=\"product\">\
         Product thread (product id)</label> <input id=\"product\" name=\"product\" value=\"{}\"> \
         <button type=\"submit\">Show</button></form>",
        esc(product)
    )
}

/// A product's thread: rows of the datasets the user may see (public columns only) and,
/// for users who see every dataset, the sealed artifacts (names and hashes, never content).
pub fn thread(t: &crate::backend::ThreadInfo, user: &User) -> String {
    let mut out = thread_form(&t.product);
    let rows: Vec<_> = t.rows.iter().filter(|r| user.sees(&r.dataset)).collect();
    out.push_str(&format!(
        "<table class=\"thread\" id=\"thread\"><caption>{} rows about {} (public columns only)</caption>\
         <thead><tr><th scope=\"col\">Stage</th><th scope=\"col\">Dataset</th><th scope=\"col\">Source</th>\
         <th scope=\"col\">Public columns</th></tr></thead><tbody>",
        rows.len(),
        esc(&t.product)
    ));
    for r in rows {
        let cols = r
            .public
            .iter()
            .map(|(k, v)| format!("{} = {}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{cols}</td></tr>",
            esc(&r.stage),
            esc(&r.dataset),
            esc(&r.source)
        ));
    }
    out.push_str("</tbody></table>");
    if user.datasets.iter().any(|d| d == "*") {
        out.push_str(
            "<table class=\"artifacts\"><caption>Sealed artifacts (only their source can open them)</caption>\
             <thead><tr><th scope=\"col\">Stage</th><th scope=\"col\">Source</th><th scope=\"col\">File</th>\
             <th scope=\"col\">Bytes</th><th scope=\"col\">Sealed hash (blake3)</th><th scope=\"col\">Sealed at</th></tr></thead><tbody>",
        );
        for a in &t.artifacts {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&a.stage),
                esc(&a.source),
                esc(&a.name),
                a.size,
                esc(&a.sealed_hash),
                esc(&a.sealed_at)
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

/// One dataset: its columns and owners.
pub fn dataset(d: &DatasetInfo) -> String {
    let mut out = format!(
        "<p>Stage: {}. {} rows in {} chunks.{}</p>",
        esc(d.stage.as_str()),
        d.rows(),
        d.chunks(),
        d.lanes
            .as_ref()
            .map(|l| format!(" Per-product lanes keyed by {}.", esc(l)))
            .unwrap_or_default()
    );
    out.push_str(
        "<table class=\"columns\"><caption>Columns (values of encrypted columns never leave \
         their source in clear)</caption><thead><tr><th scope=\"col\">Column</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">Identifier</th></tr></thead><tbody>",
    );
    for c in &d.columns {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.kind),
            if c.key { "yes" } else { "" }
        ));
    }
    out.push_str("</tbody></table><table class=\"owners\"><caption>Owners</caption><thead><tr>\
        <th scope=\"col\">Source</th><th scope=\"col\">Rows</th><th scope=\"col\">Chunks</th></tr></thead><tbody>");
    for s in &d.sources {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&s.source),
            s.rows,
            s.chunks
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// The list of ready-made views the user may open (each with the datasets it reads), then
/// the source's own predicted remaining life per asset: its view when this dashboard runs as
/// that source (`scoring`) and the user may see its dataset; otherwise, on an analyst's
/// dashboard, what the source runs itself, since no analyst's view shows it.
pub fn view_list(user: &User, scoring: Option<&Scoring>) -> String {
    let mut out = String::from(
        "<table class=\"views\" id=\"views\"><caption>Ready-made views you may open</caption>\
         <thead><tr><th scope=\"col\">View</th><th scope=\"col\">Datasets read</th>\
         <th scope=\"col\">What it shows</th></tr></thead><tbody>",
    );
    for v in views::VIEWS.iter().filter(|v| user.sees_all(v.datasets)) {
        out.push_str(&format!(
            "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}</td></tr>",
            esc(v.href),
            esc(v.title),
            esc(&v.datasets.join(" × ")),
            esc(v.about)
        ));
    }
    if let Some(s) = scoring.filter(|s| user.sees(&s.dataset)) {
        out.push_str(&format!(
            "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}</td></tr>",
            scores::HREF,
            scores::TITLE,
            esc(&s.dataset),
            esc(&scores_about(s))
        ));
    }
    out.push_str("</tbody></table>");
    if scoring.is_none() {
        out.push_str(&format!(
            "<section aria-labelledby=\"h-scores\" id=\"source-scores\"><h2 id=\"h-scores\">\
             Predicted remaining life per asset</h2><p>{}</p><ul>{}</ul></section>",
            esc(views::SOURCE_SCORES),
            views::SOURCE_SCORE_COMMANDS
                .iter()
                .map(|c| format!("<li><code>{}</code></li>", esc(c)))
                .collect::<String>()
        ));
    }
    out
}

/// What the source's view shows, in a sentence.
fn scores_about(s: &Scoring) -> String {
    format!(
        "This dashboard runs as the source {src}: each of its own rows of {ds} is scored \
         homomorphically with the linear model of {target} on {features}; every trustee checks \
         the rows are {src}'s own and the model was fitted from released aggregates, and \
         releases the predictions to {src} alone. Per asset ({asset}), the prediction of its \
         latest row{by}.",
        src = s.source,
        ds = s.dataset,
        target = s.model.target,
        features = s.model.features.join(", "),
        asset = s.asset,
        by = s
            .latest_by
            .as_ref()
            .map(|l| format!(" (greatest {l})"))
            .unwrap_or_else(|| " (the last stored)".into()),
    )
}

/// The source's own predicted remaining life per asset: what it is, the refresh button,
/// the model, then the chart, the table, its CSV link and the release facts (or the
/// refusal).
pub fn scores(s: &Scoring, scored: &Result<Arc<Scored>, DashboardError>, csrf: &str) -> String {
    let m = &s.model;
    let mut out = format!(
        "<p>{}</p><div class=\"actions\"><form method=\"post\" action=\"{href}/refresh\">{}\
         <button type=\"submit\">Release fresh predictions</button></form></div>\
         <p class=\"reads\">Dataset scored: {}. Rows of source {} only.</p>\
         <section aria-labelledby=\"h-model\"><h2 id=\"h-model\">Model</h2><dl class=\"kv\" id=\"model\">\
         <dt>Target</dt><dd>{}</dd><dt>Features</dt><dd>{}</dd>\
         <dt>Fitted on</dt><dd>{} ({} rows, ridge λ = {}, training RMSE {})</dd>\
         <dt>Unit of the prediction</dt><dd>{}</dd></dl></section>",
        esc(&scores_about(s)),
        html::csrf_field(csrf),
        esc(&s.dataset),
        esc(&s.source),
        esc(&m.target),
        esc(&m.features.join(", ")),
        esc(&m.dataset),
        m.n,
        m.ridge,
        esc(&html::round_shown(m.rmse_train)),
        esc(&s.unit),
        href = scores::HREF,
    );
    let column = s.prediction_column();
    let title = format!("Predicted {} per {}", m.target, s.asset);
    out.push_str(&format!(
        "<section class=\"part\" aria-labelledby=\"h-rul\"><h2 id=\"h-rul\">{}</h2>",
        esc(&title)
    ));
    match scored {
        Ok(r) => {
            out.push_str(&html::bar_chart(
                "chart-rul",
                html::chart_data(&r.table, &[column.as_str()], None),
                &title,
                &s.unit,
            ));
            out.push_str(&format!(
                "<div class=\"released\">{}<p><a class=\"csv\" href=\"{}/csv\" download>Download CSV</a></p>{}</div>",
                html::result_table(
                    &r.table,
                    &format!("{title} ({}): released to {} only", s.unit, s.source),
                    "table-rul"
                ),
                scores::HREF,
                html::score_facts(&r.facts)
            ));
        }
        Err(e) => out.push_str(&notice_for(e)),
    }
    out.push_str("</section>");
    out
}

/// A ready-made view: what it shows, its refresh and report buttons, then its parts.
pub fn view(
    v: &View,
    results: &[(views::Part, Result<Arc<Released>, DashboardError>)],
    csrf: &str,
) -> String {
    format!(
        "<p>{}</p><div class=\"actions\"><form method=\"post\" action=\"/views/{id}/refresh\">{csrf}\
         <button type=\"submit\">Release fresh numbers</button></form>\
         <form method=\"post\" action=\"/reports\">{csrf}<input type=\"hidden\" name=\"view\" value=\"{id}\">\
         <button type=\"submit\" id=\"make-report\">Save as report</button></form></div>\
         <p class=\"reads\">Datasets read: {reads}.</p>\
         <p class=\"live\" id=\"live\" data-live-src=\"/views/{id}/events\" role=\"status\">Live: \
         this page reloads when new chunks arrive; numbers are released again, or the refusal is shown.</p>{}",
        esc(v.about),
        view_parts(v, results),
        id = esc(v.id),
        reads = esc(&v.datasets.join(" × ")),
        csrf = html::csrf_field(csrf)
    )
}

/// Per part of a view: a chart, the table of its numbers, the CSV link and the release
/// facts (or the refusal). Also the body of a report.
pub fn view_parts(
    v: &View,
    results: &[(views::Part, Result<Arc<Released>, DashboardError>)],
) -> String {
    let mut out = String::new();
    for (part, r) in results {
        out.push_str(&format!(
            "<section class=\"part\" aria-labelledby=\"h-{id}\"><h2 id=\"h-{id}\">{}</h2>",
            esc(part.title),
            id = esc(part.id)
        ));
        match r {
            Ok(r) => {
                out.push_str(&html::bar_chart(
                    &format!("chart-{}", part.id),
                    html::chart_data(&r.result, part.bars, part.label),
                    part.title,
                    part.unit,
                ));
                out.push_str(&html::released(
                    r,
                    &format!("{}: released numbers", part.title),
                    &format!("table-{}", part.id),
                    &format!("/views/{}/csv?part={}", v.id, part.id),
                ));
            }
            Err(e) => out.push_str(&notice_for(e)),
        }
        out.push_str("</section>");
    }
    out
}

/// One part of a view as report data (what its PDF prints): its table as shown, its
/// chart's first series, its release facts, or its refusal.
pub fn report_table(
    part: &views::Part,
    r: &Result<Arc<Released>, DashboardError>,
) -> crate::reports::ReportTable {
    let mut t = crate::reports::ReportTable {
        title: part.title.to_string(),
        columns: Vec::new(),
        rows: Vec::new(),
        chart: Vec::new(),
        unit: part.unit.to_string(),
        facts: Vec::new(),
        refusal: None,
    };
    match r {
        Ok(r) => {
            let res = &r.result;
            t.columns = res.columns.clone();
            t.rows = res
                .rows
                .iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(i, c)| html::shown(res, i, c).unwrap_or_else(|| "NULL".into()))
                        .collect()
                })
                .collect();
            let (categories, series) = html::chart_data(res, part.bars, part.label);
            if let Some((name, values)) = series.first() {
                t.unit = format!("{name}, {}", part.unit);
                t.chart = categories
                    .into_iter()
                    .zip(values)
                    .filter_map(|(c, v)| v.map(|v| (c, v)))
                    .collect();
            }
            t.facts = html::facts_lines(&r.facts);
        }
        Err(e) => t.refusal = Some(e.to_string()),
    }
    t
}

/// The list of reports the user may open.
pub fn reports(
    list: &[Result<crate::reports::Report, crate::reports::ReportError>],
    user: &User,
) -> String {
    let mut out = String::from(
        "<p>Reports are saved from a ready-made view (\"Save as report\"): its released numbers, \
         charts and release facts, sealed at rest under this dashboard's key.</p>\
         <table class=\"reports\" id=\"reports\"><caption>Reports</caption><thead><tr>\
         <th scope=\"col\">Report</th><th scope=\"col\">Made</th><th scope=\"col\">By</th>\
         <th scope=\"col\">Ledger (releases shown)</th></tr></thead><tbody>",
    );
    for r in list {
        match r {
            Ok(r) if user.sees_all(&r.datasets()) => out.push_str(&format!(
                "<tr><td><a href=\"/reports/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.title),
                esc(&utc(r.created_unix)),
                esc(&r.created_by),
                esc(&r.ledger.join("; ")),
                id = esc(&r.id)
            )),
            Ok(_) => {}
            Err(e) => out.push_str(&format!(
                "<tr><td colspan=\"4\">{}</td></tr>",
                html::notice("error", "Damaged:", &e.to_string())
            )),
        }
    }
    out.push_str("</tbody></table>");
    out
}

/// One report: its facts line, then its sealed body.
pub fn report(r: &crate::reports::Report) -> String {
    format!(
        "<p class=\"report-meta\">Made {} by {} from the view <a href=\"/views/{view}\">{view}</a>. \
         Ledger: {}. Every number below was released by the trustees that approved it (see its release facts); nothing else is in a report. \
         <a id=\"report-pdf\" href=\"/reports/{id}/pdf\">Download PDF</a></p>\
         <div class=\"report\" id=\"report\">{}</div>",
        esc(&utc(r.created_unix)),
        esc(&r.created_by),
        esc(&r.ledger.join("; ")),
        r.html,
        view = esc(&r.view),
        id = esc(&r.id)
    )
}

fn notice_for(e: &DashboardError) -> String {
    match e {
        DashboardError::Refused(r) => html::notice("refused", "Refused:", r),
        DashboardError::Query(r) => html::notice("error", "Query error:", r),
        other => html::notice("error", "Error:", &other.to_string()),
    }
}

/// The query editor, with the visible datasets' columns, the supported functions and the
/// outcome of the last run.
pub fn query_editor(
    schemas: &[Schema],
    user: &User,
    csrf: &str,
    sql: &str,
    outcome: Option<&Result<Arc<Released>, DashboardError>>,
) -> String {
    let mut out = format!(
        "<form method=\"post\" action=\"/query\" class=\"editor\">{}\
         <p><label for=\"sql\">SQL (aggregates of encrypted columns; WHERE and GROUP BY on \
         public columns)</label></p><p><textarea id=\"sql\" name=\"sql\" rows=\"5\" cols=\"90\" \
         spellcheck=\"false\" required>{}</textarea></p>\
         <p><button type=\"submit\" id=\"run\">Run (released only if the trustees approve)</button></p></form>",
        html::csrf_field(csrf),
        esc(sql)
    );
    match outcome {
        Some(Ok(r)) => {
            out.push_str(&html::notice(
                "ok",
                "Released:",
                &format!(
                    "{} rows, approved by the trustees named below.",
                    r.result.rows.len()
                ),
            ));
            out.push_str(&html::released(
                r,
                "Query result",
                "query-result",
                "/query/last.csv",
            ));
        }
        Some(Err(e)) => out.push_str(&notice_for(e)),
        None => {}
    }
    out.push_str(
        "<section aria-label=\"Datasets\"><h2>Datasets you may query</h2><ul class=\"schemas\">",
    );
    for s in schemas.iter().filter(|s| user.sees(&s.dataset)) {
        let cols: Vec<String> = s
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{}{}",
                    esc(&c.name),
                    if c.is_encrypted() {
                        " (encrypted)"
                    } else if c.key {
                        " (identifier)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        out.push_str(&format!(
            "<li><strong>{}</strong>: {}</li>",
            esc(&s.dataset),
            cols.join(", ")
        ));
    }
    out.push_str("</ul></section><section aria-label=\"Functions\"><h2>Supported</h2><table class=\"functions\"><caption>Functions and clauses</caption><tbody>");
    for (f, what) in views::FUNCTIONS {
        out.push_str(&format!(
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td></tr>",
            esc(f),
            esc(what)
        ));
    }
    out.push_str("</tbody></table></section>");
    out
}

/// The audit view's filter.
pub struct Filter<'a> {
    /// Actor (exact), or empty.
    pub actor: &'a str,
    /// Entry kind name (exact), or empty.
    pub action: &'a str,
    /// Subject containing this (a dataset name), or empty.
    pub dataset: &'a str,
}

/// Most entries listed at once (the newest).
const MAX_LISTED: usize = 200;

/// The audit view: verify now, the latest checkpoint and the filtered ledger.
pub fn audit(
    ledger: &Result<(Vec<Entry>, String), DashboardError>,
    f: &Filter<'_>,
    verified: Option<&Result<Verified, DashboardError>>,
    csrf: &str,
) -> String {
    let mut out = format!(
        "<form method=\"post\" action=\"/audit/verify\">{}<button type=\"submit\" id=\"verify\">\
         Verify now</button> <span class=\"hint\">the same checks as <code>dtfhe audit verify</code>: \
         the whole ledger replayed, the Merkle tree and every checkpoint signature, every \
         stored blob against its entry, every release against the approvals it needs</span></form>",
        html::csrf_field(csrf)
    );
    match verified {
        Some(Ok(v)) => out.push_str(&html::notice("ok", "Verified:", &v.summary)),
        Some(Err(e)) => out.push_str(&html::notice(
            "error",
            "Verification failed:",
            &e.to_string(),
        )),
        None => {}
    }
    let (entries, checkpoint) = match ledger {
        Ok((e, c)) => (e, c),
        Err(e) => {
            out.push_str(&notice_for(e));
            return out;
        }
    };
    out.push_str(&format!(
        "<section aria-label=\"Checkpoint\"><h2>Latest signed checkpoint</h2><pre id=\"checkpoint\" tabindex=\"0\">{}</pre></section>",
        esc(checkpoint)
    ));
    out.push_str(&format!(
        "<form method=\"get\" action=\"/audit\" class=\"filter\"><fieldset><legend>Filter the ledger</legend>\
         <label for=\"actor\">Actor</label> <input id=\"actor\" name=\"actor\" value=\"{}\"> \
         <label for=\"action\">Action</label> <input id=\"action\" name=\"action\" value=\"{}\"> \
         <label for=\"dataset\">Dataset</label> <input id=\"dataset\" name=\"dataset\" value=\"{}\"> \
         <button type=\"submit\">Filter</button></fieldset></form>",
        esc(f.actor),
        esc(f.action),
        esc(f.dataset)
    ));
    let selected: Vec<&Entry> = entries
        .iter()
        .filter(|e| f.actor.is_empty() || e.actor == f.actor)
        .filter(|e| f.action.is_empty() || e.kind.name() == f.action)
        .filter(|e| f.dataset.is_empty() || e.subject.contains(f.dataset))
        .collect();
    out.push_str(&format!(
        "<table class=\"ledger\" id=\"ledger\"><caption>{} of {} ledger entries (newest {} shown)</caption>\
         <thead><tr><th scope=\"col\">Seq</th><th scope=\"col\">Time</th><th scope=\"col\">Action</th>\
         <th scope=\"col\">Actor</th><th scope=\"col\">Subject</th><th scope=\"col\">Detail</th></tr></thead><tbody>",
        selected.len(),
        entries.len(),
        MAX_LISTED.min(selected.len())
    ));
    for e in selected.iter().rev().take(MAX_LISTED) {
        out.push_str(&format!(
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            esc(&utc(e.time_unix)),
            esc(e.kind.name()),
            esc(&e.actor),
            esc(&e.subject),
            esc(&e.detail)
        ));
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trustee_rule_follows_the_threshold() {
        assert_eq!(trustee_rule(Some(3), 5), "any 3 of 5 release");
        assert_eq!(trustee_rule(None, 3), "all must approve");
        assert_eq!(trustee_rule(Some(3), 3), "all must approve");
    }
}
