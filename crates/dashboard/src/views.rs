//! Ready-made views: fixed SQL over known datasets, released like any query, drawn as
//! charts with their numbers as tables and CSV. A view names every dataset its parts read;
//! a user must be allowed to see all of them to open it.

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
    /// Every dataset its parts read (the viewer must be allowed to see all of them), the
    /// first being the one it is filed under.
    pub datasets: &'static [&'static str],
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
    datasets: &["production_runs"],
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
    datasets: &["production_runs"],
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
    datasets: &["production_runs"],
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

/// Correlations across stages: the manufacturer's process data (`ai4i_process`) and the
/// service partner's failure records (`ai4i_service`) joined product by product in their
/// shared lanes, as in the demo's join step; neither partner's values are decrypted.
pub const THREAD: View = View {
    id: "thread",
    href: "/views/thread",
    title: "Correlations across stages",
    datasets: &["ai4i_process", "ai4i_service"],
    about: "The manufacturer's process data (torque, tool wear) joined with the service \
            partner's failure records on the product, slot by slot in the products' lanes: \
            how strongly each process measurement goes with a later machine failure, and the \
            failure rate, per product type. Neither partner's values are ever decrypted; \
            only these aggregates are released.",
    parts: &[
        Part {
            id: "corr",
            title: "Correlation of process data with machine failure, per product type",
            sql: "SELECT m.type, COUNT(*) AS products, \
                  CORR(m.torque, s.failure) AS corr_torque_failure, \
                  CORR(m.tool_wear, s.failure) AS corr_wear_failure \
                  FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id \
                  GROUP BY m.type ORDER BY m.type",
            bars: &["corr_torque_failure", "corr_wear_failure"],
            unit: "Pearson r, −1 to 1",
            label: None,
        },
        Part {
            id: "rate",
            title: "Machine failure rate, per product type",
            sql: "SELECT m.type, COUNT(*) AS products, SUM(s.failure) AS failures, \
                  100 * AVG(s.failure) AS failure_pct \
                  FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id \
                  GROUP BY m.type ORDER BY m.type",
            bars: &["failure_pct"],
            unit: "% of products",
            label: None,
        },
    ],
};

/// The predictive-maintenance model fit: least-squares lines of machine failure on tool
/// wear and on torque, per product type, from released sums (`REGR_SLOPE`,
/// `REGR_INTERCEPT`, `REGR_R2` over the encrypted AI4I snapshots); each line is drawn by its
/// fitted value at both ends of the measured range.
pub const MAINTENANCE: View = View {
    id: "maintenance",
    href: "/views/maintenance",
    title: "Predictive-maintenance fit",
    datasets: &["ai4i"],
    about: "Least-squares lines of machine failure (0 or 1, so the fitted value is a failure \
            probability) on tool wear and on torque, per product type, fitted from sums over \
            the encrypted milling snapshots: slope, intercept, R² and the line's value at \
            both ends of the measured range. No snapshot is ever decrypted.",
    parts: &[
        Part {
            id: "wear",
            title:
                "Failure on tool wear per product type: the fitted line at 0 and 240 min of wear",
            sql: "SELECT type, COUNT(*) AS snapshots, \
                  REGR_SLOPE(failure, tool_wear) AS slope_per_min, \
                  REGR_INTERCEPT(failure, tool_wear) AS intercept, \
                  REGR_R2(failure, tool_wear) AS r2, \
                  REGR_INTERCEPT(failure, tool_wear) + 240 * REGR_SLOPE(failure, tool_wear) \
                  AS fit_at_240_min \
                  FROM ai4i GROUP BY type ORDER BY type",
            bars: &["intercept", "fit_at_240_min"],
            unit: "failure probability, 0 to 1",
            label: None,
        },
        Part {
            id: "torque",
            title: "Failure on torque per product type: the fitted line at 20 and 60 Nm",
            sql: "SELECT type, COUNT(*) AS snapshots, \
                  REGR_SLOPE(failure, torque) AS slope_per_nm, \
                  REGR_INTERCEPT(failure, torque) AS intercept, \
                  REGR_R2(failure, torque) AS r2, \
                  REGR_INTERCEPT(failure, torque) + 20 * REGR_SLOPE(failure, torque) \
                  AS fit_at_20_nm, \
                  REGR_INTERCEPT(failure, torque) + 60 * REGR_SLOPE(failure, torque) \
                  AS fit_at_60_nm \
                  FROM ai4i GROUP BY type ORDER BY type",
            bars: &["fit_at_20_nm", "fit_at_60_nm"],
            unit: "failure probability, 0 to 1",
            label: None,
        },
        Part {
            id: "r2",
            title: "Share of the failure variance each line explains (R²), per product type",
            sql: "SELECT type, COUNT(*) AS snapshots, \
                  REGR_R2(failure, tool_wear) AS r2_tool_wear, \
                  REGR_R2(failure, torque) AS r2_torque \
                  FROM ai4i GROUP BY type ORDER BY type",
            bars: &["r2_tool_wear", "r2_torque"],
            unit: "R², 0 to 1",
            label: None,
        },
    ],
};

/// Every ready-made view.
pub const VIEWS: &[View] = &[OEE, BENCHMARK, ALARMS, THREAD, MAINTENANCE];

/// What an analyst's view list says of the third kind of ready-made view, a source's own
/// predicted remaining life per asset: a per-row scoring released only to the source that
/// owns the rows, which this dashboard (the analyst's process) never receives. A dashboard
/// started as the source (`--model`) shows the view itself ([`crate::scores`]).
pub const SOURCE_SCORES: &str = "A source's own predicted remaining life per asset is a \
    per-row scoring (dtfhe model score): every trustee releases it only to the source that \
    owns the rows, so this dashboard, the analyst's, never receives it and shows none. The \
    source runs it itself with its own identity, against a model fitted from released \
    aggregates (dtfhe model fit), on the command line or in its own dashboard, which then \
    shows it as a view:";

/// The commands of [`SOURCE_SCORES`]: networked, then embedded; the command line, then the
/// source's own dashboard.
pub const SOURCE_SCORE_COMMANDS: [&str; 4] = [
    "dtfhe model score --server URL --identity SOURCE.id --model M.json --dataset ai4i",
    "dtfhe model score --dir D --source SOURCE --model M.json --dataset ai4i",
    "dtfhe dashboard --server URL --identity SOURCE.id --state S --model M.json --asset product_id",
    "dtfhe dashboard --dir D --source SOURCE --model M.json --asset product_id",
];

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A view names exactly the datasets its parts read: a user allowed the named ones is
    /// never shown numbers of another.
    #[test]
    fn every_view_names_every_dataset_it_reads() {
        for v in VIEWS {
            assert!(!v.datasets.is_empty(), "{}: no dataset", v.id);
            let named: BTreeSet<String> = v.datasets.iter().map(|d| d.to_lowercase()).collect();
            let mut read = BTreeSet::new();
            for p in v.parts {
                let parsed = dtfhe_engine::parse(p.sql).unwrap();
                let ds: Vec<String> = parsed.datasets();
                assert!(!ds.is_empty(), "{}/{}: reads nothing", v.id, p.id);
                read.extend(ds.into_iter().map(|d| d.to_lowercase()));
            }
            assert_eq!(named, read, "{}: named and read datasets differ", v.id);
            assert_eq!(by_id(v.id).map(|x| x.href), Some(v.href));
            assert_eq!(v.href, format!("/views/{}", v.id));
        }
    }

    #[test]
    fn the_cross_stage_view_reads_both_partners() {
        assert_eq!(THREAD.datasets, ["ai4i_process", "ai4i_service"]);
        assert!(THREAD.parts.iter().all(|p| p.sql.contains(" JOIN ")));
    }
}
