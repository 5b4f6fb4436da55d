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
}

/// A whole page.
pub fn page(frame: &Frame<'_>, body: &str) -> String {
    let mut nav = String::new();
    if let Some(u) = frame.user {
        let mut links = vec![("/", "Overview")];
        for v in crate::views::VIEWS {
            if u.role.sees_results() && u.sees(v.dataset) {
                links.push((v.href, v.title));
            }
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
            let text = r.cell_text(i, c).unwrap_or_else(|| "NULL".into());
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

/// The release facts of a result, next to its numbers.
pub fn facts(f: &ReleaseFacts) -> String {
    let mode = match f.epsilon {
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
    };
    let approvals = if f.approvals.is_empty() {
        "none recorded".to_string()
    } else {
        f.approvals
            .iter()
            .map(|(t, at)| format!("{} ({})", esc(t), esc(&utc(*at))))
            .collect::<Vec<_>>()
            .join(", ")
    };
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
         <dt>Decrypted</dt><dd>{} ciphertext sums, jointly by every trustee</dd>{ledger}</dl></section>",
        esc(&utc(f.released_unix)),
        esc(&mode),
        f.ciphertexts
    )
}

/// A bar chart of `value_cols` over the categories in `cat_col`, with its data block.
pub fn bar_chart(
    id: &str,
    r: &ResultSet,
    cat_col: usize,
    value_cols: &[usize],
    title: &str,
    unit: &str,
) -> String {
    let categories: Vec<String> = r
        .rows
        .iter()
        .map(|row| {
            row.get(cat_col)
                .and_then(|c| r.cell_text(cat_col, c))
                .unwrap_or_default()
        })
        .collect();
    let series: Vec<serde_json::Value> = value_cols
        .iter()
        .map(|&i| {
            let values: Vec<serde_json::Value> = r
                .rows
                .iter()
                .map(|row| {
                    row.get(i)
                        .and_then(|c| c.as_f64())
                        .filter(|f| f.is_finite())
                        .map_or(serde_json::Value::Null, |f| serde_json::json!(f))
                })
                .collect();
            serde_json::json!({"name": r.columns.get(i).cloned().unwrap_or_default(), "values": values})
        })
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
