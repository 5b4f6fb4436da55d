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
    /// The chart's category when the query has no group column (one row over every group).
    pub label: Option<&'static str>,
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

/// OEE = availability × performance × quality, from sums of the production runs.
macro_rules! oee {
    () => {
        "SUM(run_min) / SUM(planned_min) * (SUM(ideal_run_min) / SUM(run_min)) \
         * (SUM(good_count) / SUM(total_count)) AS oee"
    };
}

/// The three OEE factors and OEE itself.
macro_rules! oee_factors {
    () => {
        concat!(
            "SUM(run_min) / SUM(planned_min) AS availability, \
             SUM(ideal_run_min) / SUM(run_min) AS performance, \
             SUM(good_count) / SUM(total_count) AS quality, ",
            oee!()
        )
    };
}

/// The scrap rate in percent of the units produced.
macro_rules! scrap_pct {
    () => {
        "100 * (1 - SUM(good_count) / SUM(total_count)) AS scrap_pct"
    };
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
            sql: concat!(
                "SELECT line, COUNT(*) AS runs, ",
                oee_factors!(),
                ", ",
                scrap_pct!(),
                " FROM production_runs GROUP BY line ORDER BY line"
            ),
            bars: &["availability", "performance", "quality", "oee"],
            unit: "ratio, 0 to 1",
            label: None,
        },
        Part {
            id: "plant",
            title: "OEE and scrap per plant",
            sql: concat!(
                "SELECT source AS plant, COUNT(*) AS runs, ",
                oee!(),
                ", ",
                scrap_pct!(),
                " FROM production_runs GROUP BY source ORDER BY source"
            ),
            bars: &["scrap_pct"],
            unit: "% of units produced",
            label: None,
        },
    ],
};

/// Plant against consortium: every plant's OEE factors next to those of all plants
/// together, each from released sums only (a plant learns the consortium's aggregate, never
/// another plant's runs).
pub const BENCHMARK: View = View {
    id: "benchmark",
    href: "/views/benchmark",
    title: "Plant vs consortium",
    dataset: "production_runs",
    about: "Each plant's availability, performance, quality and OEE next to the same figures \
            over every plant of the consortium, from sums over the encrypted production runs; \
            no run is ever decrypted.",
    parts: &[
        Part {
            id: "plants",
            title: "Each plant",
            sql: concat!(
                "SELECT source AS plant, COUNT(*) AS runs, ",
                oee_factors!(),
                " FROM production_runs GROUP BY source ORDER BY source"
            ),
            bars: &["availability", "performance", "quality", "oee"],
            unit: "ratio, 0 to 1",
            label: None,
        },
        Part {
            id: "consortium",
            title: "The consortium (every plant)",
            sql: concat!(
                "SELECT COUNT(*) AS runs, ",
                oee_factors!(),
                " FROM production_runs"
            ),
            bars: &["availability", "performance", "quality", "oee"],
            unit: "ratio, 0 to 1",
            label: Some("consortium"),
        },
    ],
};

/// Threshold alarms: runs over each declared downtime threshold per line, and the downtime
/// histogram over those thresholds, counted on ciphertexts (the schema declares the edges;
/// no run's downtime is decrypted).
pub const ALARMS: View = View {
    id: "alarms",
    href: "/views/alarms",
    title: "Downtime alarms",
    dataset: "production_runs",
    about: "How many runs crossed each declared downtime threshold (15, 30, 60 and 120 \
            minutes) on each line, and the histogram of unplanned downtime over those \
            thresholds; counted on the encrypted runs, no run's downtime is ever decrypted.",
    parts: &[
        Part {
            id: "counts",
            title: "Runs over each downtime threshold, per line",
            sql: "SELECT line, COUNT(*) AS runs, \
                  COUNT(*) FILTER (WHERE downtime_min > 15) AS over_15_min, \
                  COUNT(*) FILTER (WHERE downtime_min > 30) AS over_30_min, \
                  COUNT(*) FILTER (WHERE downtime_min > 60) AS over_60_min, \
                  COUNT(*) FILTER (WHERE downtime_min > 120) AS over_120_min \
                  FROM production_runs GROUP BY line ORDER BY line",
            bars: &["over_15_min", "over_30_min", "over_60_min", "over_120_min"],
            unit: "runs",
            label: None,
        },
        Part {
            id: "histogram",
            title: "Unplanned downtime histogram (every plant)",
            sql: "SELECT HISTOGRAM(downtime_min) AS downtime FROM production_runs",
            bars: &["downtime"],
            unit: "runs per downtime bucket, min",
            label: None,
        },
    ],
};

/// Every ready-made view.
pub const VIEWS: &[View] = &[OEE, BENCHMARK, ALARMS];

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
