//! HTML of the dashboard's pages, written out by hand: every piece of text that is not a
//! literal of this file passes through [`esc`]; no inline script and no inline style (the
//! Content Security Policy forbids both); chart data travels as JSON in a
//! `<script type="application/json">` block (data, never run) that `/assets/app.js` reads.

use crate::backend::{ReleaseFacts, Released};
use crate::users::{Role, User};
use dtfhe_engine::ResultSet;

/// Text made safe inside HTML elements and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                out.push_str(&format!("&#x{:x};", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out
}

/// JSON made safe inside a `<script type="application/json">` block (no `</script>`, no
/// `<!--`).
pub fn json_block(id: &str, value: &serde_json::Value) -> String {
    let text = value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    format!(
        "<script type=\"application/json\" id=\"{}\">{text}</script>",
        esc(id)
    )
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// What a page needs besides its body.
pub struct Frame<'a> {
    /// The page title (also the `<h1>`).
    pub title: &'a str,
    /// The signed-in user, if any (the navigation and the sign-out form).
    pub user: Option<&'a User>,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: &'a str,
    /// Whether the page draws charts (loads the vendored chart library).
    pub charts: bool,
    /// Whether the navigation links the source's own predicted remaining life (the
    /// dashboard runs as a source and the user may see its dataset).
    pub scores: bool,
}

/// A whole page.
pub fn page(frame: &Frame<'_>, body: &str) -> String {
    let mut nav = String::new();
    if let Some(u) = frame.user {
        let mut links = vec![("/", "Overview")];
        if u.role.sees_results() {
            links.push(("/views", "Views"));
        }
        for v in crate::views::VIEWS {
            if u.role.sees_results() && u.sees_all(v.datasets) {
                links.push((v.href, v.title));
            }
        }
        if frame.scores && u.role.sees_results() {
            links.push((crate::scores::HREF, crate::scores::TITLE));
        }
        if u.role.sees_results() {
            links.push(("/reports", "Reports"));
        }
        if u.role.runs_queries() {
            links.push(("/query", "Query editor"));
        }
        if u.role.audits() {
            links.push(("/audit", "Audit"));
        }
        nav.push_str("<nav aria-label=\"Main\"><ul>");
        for (href, label) in links {
            nav.push_str(&format!("<li><a href=\"{href}\">{label}</a></li>"));
        }
        nav.push_str("</ul>");
        nav.push_str(&format!(
            "<form method=\"post\" action=\"/logout\" class=\"signout\">{}\
             <span class=\"who\">{} ({})</span> <button type=\"submit\">Sign out</button></form>",
            csrf_field(frame.csrf),
            esc(&u.name),
            u.role.as_str()
        ));
        nav.push_str("</nav>");
    }
    let scripts = if frame.charts {
        "<script src=\"/assets/vendor/echarts.common.min.js\" defer></script>\
         <script src=\"/assets/app.js\" defer></script>"
    } else {
        "<script src=\"/assets/app.js\" defer></script>"
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · dtfhe dashboard</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\">{scripts}</head>\
         <body><header><span class=\"brand\">DigitalThreadFHE dashboard</span>{nav}</header>\
         <main id=\"main\"><h1>{title}</h1>{body}</main></body></html>\n",
        title = esc(frame.title),
    )
}

/// The hidden CSRF field of a form.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A message box (`kind`: `error`, `refused`, `ok`, `info`).
pub fn notice(kind: &str, title: &str, text: &str) -> String {
    format!(
        "<div class=\"notice {kind}\" role=\"{}\" data-kind=\"{kind}\"><strong>{}</strong> \
         <span class=\"reason\">{}</span></div>",
        if kind == "ok" || kind == "info" {
            "status"
        } else {
            "alert"
        },
        esc(title),
        esc(text)
    )
}

/// Significant digits a table shows of a statistic without a declared scale (an average, a
/// ratio): more would be noise of the fixed-point encoding, and the CSV keeps every digit.
pub const SHOWN_DIGITS: i32 = 6;

/// The text of a cell as a table shows it: a sum at its column's scale (as the CLI prints
/// it), any other statistic to [`SHOWN_DIGITS`] significant digits without trailing zeros.
pub fn shown(r: &ResultSet, col: usize, c: &dtfhe_engine::Cell) -> Option<String> {
    let declared = r.decimals.get(col).copied().flatten();
    let f = match c {
        dtfhe_engine::Cell::Float(f) => *f,
        dtfhe_engine::Cell::Percentile(p) => p.value,
        _ => return r.cell_text(col, c),
    };
    if declared.is_some() || !f.is_finite() || f == 0.0 {
        return r.cell_text(col, c);
    }
    Some(round_shown(f))
}

/// `f` to [`SHOWN_DIGITS`] significant digits, without trailing zeros.
pub fn round_shown(f: f64) -> String {
    if !f.is_finite() || f == 0.0 {
        return if f == 0.0 { "0".into() } else { f.to_string() };
    }
    let magnitude = f.abs().log10().floor() as i32;
    let decimals = (SHOWN_DIGITS - 1 - magnitude).clamp(0, 12) as usize;
    let mut text = format!("{f:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// A released result as a table.
pub fn result_table(r: &ResultSet, caption: &str, id: &str) -> String {
    let mut out = format!(
        "<table id=\"{}\" class=\"result\"><caption>{}</caption><thead><tr>",
        esc(id),
        esc(caption)
    );
    for c in &r.columns {
        out.push_str(&format!("<th scope=\"col\">{}</th>", esc(c)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &r.rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let text = shown(r, i, c).unwrap_or_else(|| "NULL".into());
            let class = if matches!(c, dtfhe_engine::Cell::Text(_)) {
                ""
            } else {
                " class=\"num\""
            };
            out.push_str(&format!("<td{class}>{}</td>", esc(&text)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The disclosure mode of a release in words.
pub fn mode_text(f: &ReleaseFacts) -> String {
    match f.epsilon {
        None => format!(
            "audited exact release: every group has at least k = {} rows, and the trustees \
             checked that with every earlier release it exposes no smaller set of rows",
            f.min_group_size
        ),
        Some(e) => format!(
            "differential privacy: ε = {e} spent (noise drawn jointly by the trustees), \
             k = {}",
            f.min_group_size
        ),
    }
}

/// The release facts in lines of words (what a PDF report prints under a table).
pub fn facts_lines(f: &ReleaseFacts) -> Vec<String> {
    let approvals = if f.approvals.is_empty() {
        "none recorded".to_string()
    } else {
        f.approvals
            .iter()
            .map(|(t, at)| format!("{t} ({})", utc(*at)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let groups = f
        .groups
        .iter()
        .map(|(k, n)| format!("{k}: {n} rows"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut out = vec![
        format!("Approved by: {approvals}"),
        format!("Released: {}", utc(f.released_unix)),
        format!("Group sizes: {groups}"),
        format!("Disclosure: {}", mode_text(f)),
        format!(
            "Decrypted: {} ciphertext sums, jointly by the trustees that approved",
            f.ciphertexts
        ),
    ];
    if let Some((subject, seq)) = &f.ledger {
        out.push(format!("Ledger: {subject}, delivered in entry {seq}"));
    }
    out
}

/// Who approved a release and when, escaped for a page: "none recorded" when no one did.
fn approvals_html(approvals: &[(String, u64)]) -> String {
    if approvals.is_empty() {
        return "none recorded".to_string();
    }
    approvals
        .iter()
        .map(|(t, at)| format!("{} ({})", esc(t), esc(&utc(*at))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The release facts of a result, next to its numbers.
pub fn facts(f: &ReleaseFacts) -> String {
    let mode = mode_text(f);
    let approvals = approvals_html(&f.approvals);
    let groups = f
        .groups
        .iter()
        .map(|(k, n)| format!("{}: {n} rows", esc(k)))
        .collect::<Vec<_>>()
        .join("; ");
    let ledger = match &f.ledger {
        Some((subject, seq)) => format!(
            "<dt>Ledger</dt><dd>{}, delivered in entry {seq}</dd>",
            esc(subject)
        ),
        None => String::new(),
    };
    format!(
        "<section class=\"facts\" aria-label=\"Release facts\"><h2>Release facts</h2><dl>\
         <dt>Approved by</dt><dd class=\"approvals\">{approvals}</dd>\
         <dt>Released</dt><dd>{}</dd>\
         <dt>Group sizes</dt><dd class=\"groups\">{groups}</dd>\
         <dt>Disclosure</dt><dd class=\"mode\">{}</dd>\
         <dt>Decrypted</dt><dd>{} ciphertext sums, jointly by the trustees that approved</dd>{ledger}</dl></section>",
        esc(&utc(f.released_unix)),
        esc(&mode),
        f.ciphertexts
    )
}

/// The release facts of a source's own per-row predictions, next to them: who approved
/// and when, the disclosure mode (per row, to the owner alone), the model's fit, the ledger.
pub fn score_facts(f: &crate::scores::ScoreFacts) -> String {
    let approvals = approvals_html(&f.approvals);
    let release = match &f.release {
        Some(r) => format!("<dt>Ledger</dt><dd>{}</dd>", esc(r)),
        None => String::new(),
    };
    format!(
        "<section class=\"facts\" aria-label=\"Release facts\"><h2>Release facts</h2><dl>\
         <dt>Approved by</dt><dd class=\"approvals\">{approvals}</dd>\
         <dt>Released</dt><dd>{}</dd>\
         <dt>Rows</dt><dd class=\"groups\">{} rows of {}</dd>\
         <dt>Disclosure</dt><dd class=\"mode\">per-row release to the owner: every trustee \
         checked that each row is {}'s own before giving its share, which only this process \
         can open; nobody else receives a prediction</dd>\
         <dt>Model</dt><dd>{}</dd>\
         <dt>Decrypted</dt><dd>{} (one per chunk), jointly by every trustee</dd>{release}</dl></section>",
        esc(&utc(f.released_unix)),
        f.rows,
        esc(&f.source),
        esc(&f.source),
        esc(&f.model),
        match f.ciphertexts {
            1 => "1 ciphertext".to_string(),
            n => format!("{n} ciphertexts"),
        }
    )
}

/// One series of a chart: its name and a value per category (`None`: no bar).
pub type Series = (String, Vec<Option<f64>>);

/// What a view part's chart draws from its released result: a histogram cell's buckets
/// (categories `≤15`, `15–30`, …), or the `bars` columns by the first column — or by
/// `label` when the result has no group column (one row over every group).
pub fn chart_data(r: &ResultSet, bars: &[&str], label: Option<&str>) -> (Vec<String>, Vec<Series>) {
    let cols: Vec<usize> = bars
        .iter()
        .filter_map(|b| r.columns.iter().position(|c| c == b))
        .collect();
    let histogram = cols.iter().find_map(|&i| match r.rows.first()?.get(i)? {
        dtfhe_engine::Cell::Histogram(h) => Some((i, h)),
        _ => None,
    });
    if let Some((i, h)) = histogram {
        let last = h.buckets.len().saturating_sub(1);
        let categories = h
            .buckets
            .iter()
            .enumerate()
            .map(|(j, b)| match j {
                0 => format!("≤{}", b.hi),
                j if j == last => format!(">{}", b.lo),
                _ => format!("{}–{}", b.lo, b.hi),
            })
            .collect();
        let counts = h.buckets.iter().map(|b| Some(b.count as f64)).collect();
        let name = r.columns.get(i).cloned().unwrap_or_default();
        return (categories, vec![(name, counts)]);
    }
    let categories = r
        .rows
        .iter()
        .map(|row| match label {
            Some(l) => l.to_string(),
            None => row
                .first()
                .and_then(|c| r.cell_text(0, c))
                .unwrap_or_default(),
        })
        .collect();
    let series = cols
        .iter()
        .map(|&i| {
            let values = r
                .rows
                .iter()
                .map(|row| {
                    row.get(i)
                        .and_then(|c| c.as_f64())
                        .filter(|f| f.is_finite())
                })
                .collect();
            (r.columns.get(i).cloned().unwrap_or_default(), values)
        })
        .collect();
    (categories, series)
}

/// A bar chart of `series` over `categories`, with its data block (drawn by `app.js`).
pub fn bar_chart(
    id: &str,
    (categories, series): (Vec<String>, Vec<Series>),
    title: &str,
    unit: &str,
) -> String {
    let series: Vec<serde_json::Value> = series
        .into_iter()
        .map(|(name, values)| serde_json::json!({"name": name, "values": values}))
        .collect();
    let spec = serde_json::json!({
        "title": title,
        "unit": unit,
        "categories": categories,
        "series": series,
    });
    format!(
        "<figure class=\"chart-figure\"><div class=\"chart\" id=\"{id}\" data-spec=\"{id}-data\" \
         role=\"img\" aria-label=\"{label}\"></div>{block}<figcaption>{label}</figcaption></figure>",
        id = esc(id),
        label = esc(&format!("{title} ({unit})")),
        block = json_block(&format!("{id}-data"), &spec)
    )
}

/// A released result in full: table, facts and its CSV link.
pub fn released(r: &Released, caption: &str, id: &str, csv_href: &str) -> String {
    format!(
        "<div class=\"released\">{}<p><a class=\"csv\" href=\"{}\" download>Download CSV</a></p>{}</div>",
        result_table(&r.result, caption, id),
        esc(csv_href),
        facts(&r.facts)
    )
}

/// The sign-in page.
pub fn login(csrf: &str, message: Option<(&str, &str)>) -> String {
    let msg = message
        .map(|(k, t)| notice(k, if k == "ok" { "" } else { "Not signed in:" }, t))
        .unwrap_or_default();
    page(
        &Frame {
            title: "Sign in",
            user: None,
            csrf: "",
            charts: false,
            scores: false,
        },
        &format!(
            "{msg}<form method=\"post\" action=\"/login\" class=\"login\">{}\
             <p><label for=\"username\">User name</label> \
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required></p>\
             <p><label for=\"password\">Password</label> \
             <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required></p>\
             <p><button type=\"submit\" id=\"signin\">Sign in</button></p></form>",
            csrf_field(csrf)
        ),
    )
}

/// The role names, for pages that list what a role may do.
pub fn role_word(r: Role) -> &'static str {
    r.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let block = json_block("d", &serde_json::json!({"t": "</script><!--"}));
        assert!(!block[..block.len() - 9].contains("</script"), "{block}");
        assert!(!block.contains("<!--"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod shown_tests {
    use super::*;
    use dtfhe_engine::Cell;

    fn table(decimals: Option<u32>) -> ResultSet {
        ResultSet {
            columns: vec!["x".into()],
            rows: Vec::new(),
            decimals: vec![decimals],
            keys: Vec::new(),
        }
    }

    #[test]
    fn statistics_show_six_significant_digits_and_sums_their_scale() {
        let r = table(None);
        let text = |f: f64| shown(&r, 0, &Cell::Float(f)).unwrap();
        assert_eq!(text(0.9499666666666667), "0.949967");
        assert_eq!(text(0.95), "0.95");
        assert_eq!(text(1234.56789), "1234.57");
        assert_eq!(text(-0.000123456789), "-0.000123457");
        assert_eq!(text(3.0), "3");
        assert_eq!(text(1.0e9 + 0.4), "1000000000");
        assert_eq!(shown(&r, 0, &Cell::Int(7)).unwrap(), "7");
        assert_eq!(
            shown(&table(Some(2)), 0, &Cell::Float(2.5)).unwrap(),
            "2.50"
        );
    }
}
