//! Ready-made views: fixed SQL over a known dataset, released like any query, drawn as
//! charts with their numbers as tables and CSV.

/// One query of a view.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// URL name (`?part=`) and element id.
    pub id: &'static str,
    /// Heading and chart title.
    pub title: &'static str,
    /// The SQL (released through the pipeline).
    pub sql: &'static str,
    /// Columns drawn as bars (by name).
    pub bars: &'static [&'static str],
    /// Unit of the bars.
    pub unit: &'static str,
}

/// A ready-made view.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// URL path segment.
    pub id: &'static str,
    /// Its page (`/views/<id>`).
    pub href: &'static str,
    /// Page title.
    pub title: &'static str,
    /// The dataset every part reads (the viewer must be allowed to see it).
    pub dataset: &'static str,
    /// What the view shows, in a sentence.
    pub about: &'static str,
    /// Its queries.
    pub parts: &'static [Part],
}

/// OEE and scrap rate per line and per plant, from the MES production runs
/// (`schemas/production_runs.toml`): availability × performance × quality, computed from
/// released sums only.
pub const OEE: View = View {
    id: "oee",
    href: "/views/oee",
    title: "OEE and scrap rate",
    dataset: "production_runs",
    about: "Overall equipment effectiveness = availability × performance × quality, and the \
            scrap rate, from sums over the encrypted production runs of every plant; no run \
            is ever decrypted.",
    parts: &[
        Part {
            id: "line",
            title: "OEE and scrap per production line",
            sql: "SELECT line, COUNT(*) AS runs, \
                  SUM(run_min) / SUM(planned_min) AS availability, \
                  SUM(ideal_run_min) / SUM(run_min) AS performance, \
                  SUM(good_count) / SUM(total_count) AS quality, \
                  SUM(run_min) / SUM(planned_min) * (SUM(ideal_run_min) / SUM(run_min)) \
                  * (SUM(good_count) / SUM(total_count)) AS oee, \
                  100 * (1 - SUM(good_count) / SUM(total_count)) AS scrap_pct \
                  FROM production_runs GROUP BY line ORDER BY line",
            bars: &["availability", "performance", "quality", "oee"],
            unit: "ratio, 0 to 1",
        },
        Part {
            id: "plant",
            title: "OEE and scrap per plant",
            sql: "SELECT source AS plant, COUNT(*) AS runs, \
                  SUM(run_min) / SUM(planned_min) * (SUM(ideal_run_min) / SUM(run_min)) \
                  * (SUM(good_count) / SUM(total_count)) AS oee, \
                  100 * (1 - SUM(good_count) / SUM(total_count)) AS scrap_pct \
                  FROM production_runs GROUP BY source ORDER BY source",
            bars: &["scrap_pct"],
            unit: "% of units produced",
        },
    ],
};

/// Every ready-made view.
pub const VIEWS: &[View] = &[OEE];

/// The view named `id`.
pub fn by_id(id: &str) -> Option<&'static View> {
    VIEWS.iter().find(|v| v.id == id)
}

/// Functions the query editor lists as supported.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("COUNT(*), COUNT(c)", "rows, non-null values"),
    ("SUM(c), AVG(c)", "sum and mean of an encrypted column"),
    ("VAR_POP, VAR_SAMP, STDDEV_POP, STDDEV_SAMP", "spread"),
    ("COVAR_POP, COVAR_SAMP, CORR", "two columns"),
    ("REGR_SLOPE, REGR_INTERCEPT, REGR_R2", "least-squares line"),
    (
        "COUNT(*) FILTER (WHERE c > x)",
        "threshold counts (declared edges)",
    ),
    (
        "HISTOGRAM(c), APPROX_PERCENTILE(c, p)",
        "over the declared edges",
    ),
    ("WHERE / GROUP BY", "public columns only (not identifiers)"),
    ("JOIN … ON key", "per-product datasets, slot by slot"),
];
