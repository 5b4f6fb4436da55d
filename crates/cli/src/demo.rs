//! `dtfhe demo`: three plants, one encrypted digital thread, every released number checked
//! against the plaintext answer.
//!
//! The AI4I 2020 data (vendored, CC BY 4.0) is built into the binary, split into three
//! contiguous thirds, and each third is encrypted by its own plant as a source. The three
//! plants are also the three trustees: each holds one key share, and every query result is
//! decrypted only with all three shares. The plaintext side parses the same CSV bytes on its
//! own ([`dtfhe_embedded::reference`]) and evaluates the same SQL in clear.

use crate::error::CliError;
use dtfhe_embedded::ops;
use dtfhe_embedded::reference;
use dtfhe_engine::plaintext::PlainRow;
use dtfhe_engine::{format_float, Cell, ResultSet};
use dtfhe_model::Schema;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The AI4I 2020 CSV export, byte for byte (UTF-8 BOM, CRLF).
pub const AI4I_CSV: &[u8] = include_bytes!("../../../data/ai4i2020/ai4i2020.csv");
/// The schema the plants use for it.
pub const AI4I_SCHEMA: &str = include_str!("../../../schemas/ai4i.toml");
/// The three plants: sources and trustees.
pub const PLANTS: [&str; 3] = ["plant-a", "plant-b", "plant-c"];
/// Minimum group size of the demo deployment.
pub const MIN_GROUP_SIZE: u32 = 5;

/// Built-in MES production-run schema (OEE).
pub const RUNS_SCHEMA: &str = include_str!("../../../schemas/production_runs.toml");
/// Production runs each plant generates for the demo.
pub const RUNS_PER_PLANT: usize = 400;
/// Built-in per-product schemas of the cross-stage join (AI4I split by columns).
pub const PROCESS_SCHEMA: &str = include_str!("../../../schemas/ai4i_process.toml");
/// The service partner's failure records, per product.
pub const SERVICE_SCHEMA: &str = include_str!("../../../schemas/ai4i_service.toml");
/// Features of the demo's predictive-maintenance model (AI4I, target: machine failure).
pub const MODEL_FEATURES: [&str; 4] = ["torque", "tool_wear", "rpm", "process_temp"];

/// One demo query.
struct Step {
    /// Dataset the query reads (for the plaintext side).
    dataset: &'static str,
    title: &'static str,
    why: &'static str,
    sql: &'static str,
    /// `true`: the platform must refuse it.
    refused: bool,
}

const STEPS: &[Step] = &[
    Step {
        dataset: "ai4i",
        title: "Failure rate and mean torque per product quality type",
        why: "Group by a public column; the sums per group are computed on ciphertexts.",
        sql: "SELECT type, COUNT(*) AS products, AVG(failure) AS failure_rate, \
              AVG(torque) AS mean_torque FROM ai4i GROUP BY type ORDER BY type",
        refused: false,
    },
    Step {
        dataset: "ai4i",
        title: "Does tool wear drive failures? (all three plants pooled)",
        why: "Correlation and regression need sums of products: ciphertext × ciphertext.",
        sql: "SELECT CORR(tool_wear, failure) AS corr_wear_failure, \
              REGR_SLOPE(failure, tool_wear) AS failure_per_wear_min, \
              COVAR_SAMP(tool_wear, failure) AS covar_wear_failure FROM ai4i",
        refused: false,
    },
    Step {
        dataset: "ai4i",
        title: "Per-plant benchmarking",
        why: "Each plant sees how its line compares, without seeing the others' rows.",
        sql: "SELECT source, COUNT(*) AS snapshots, AVG(torque) AS mean_torque, \
              STDDEV_SAMP(torque) AS sd_torque, AVG(failure) AS failure_rate \
              FROM ai4i GROUP BY source ORDER BY source",
        refused: false,
    },
    Step {
        dataset: "ai4i",
        title: "Process temperature vs air temperature",
        why: "Process statistics and a least-squares line, from exact encrypted sums.",
        sql: "SELECT AVG(process_temp) AS mean_process_k, VAR_POP(process_temp) AS var_process, \
              AVG(air_temp) AS mean_air_k, CORR(process_temp, air_temp) AS corr, \
              REGR_SLOPE(process_temp, air_temp) AS slope, \
              REGR_INTERCEPT(process_temp, air_temp) AS intercept, \
              REGR_R2(process_temp, air_temp) AS r2 FROM ai4i",
        refused: false,
    },
    Step {
        dataset: "ai4i",
        title: "Failure modes across the consortium",
        why: "The five mode flags are stored compact (usage = \"sum\"): counted, never multiplied.",
        sql: "SELECT COUNT(*) AS snapshots, SUM(failure) AS failures, SUM(twf) AS tool_wear, \
              SUM(hdf) AS heat_dissipation, SUM(pwf) AS power, SUM(osf) AS overstrain, \
              SUM(rnf) AS random FROM ai4i",
        refused: false,
    },
    Step {
        dataset: "production_runs",
        title: "OEE per production line, all three plants pooled",
        why: "Availability × performance × quality: arithmetic over released sums (ISA-95 runs).",
        sql: "SELECT line, COUNT(*) AS runs, SUM(run_min) / SUM(planned_min) AS availability, \
              SUM(ideal_run_min) / SUM(run_min) AS performance, \
              SUM(good_count) / SUM(total_count) AS quality, \
              SUM(run_min) / SUM(planned_min) * (SUM(ideal_run_min) / SUM(run_min)) \
              * (SUM(good_count) / SUM(total_count)) AS oee \
              FROM production_runs GROUP BY line ORDER BY line",
        refused: false,
    },
    Step {
        dataset: "production_runs",
        title: "OEE benchmark: each plant against the others",
        why: "GROUP BY source: one row per plant, each an aggregate over its runs only.",
        sql: "SELECT source AS plant, SUM(run_min) / SUM(planned_min) * (SUM(ideal_run_min) / SUM(run_min)) \
              * (SUM(good_count) / SUM(total_count)) AS oee, \
              100 * (1 - SUM(good_count) / SUM(total_count)) AS scrap_pct, \
              AVG(downtime_min) AS mean_downtime_min FROM production_runs GROUP BY source ORDER BY source",
        refused: false,
    },
    Step {
        dataset: "production_runs",
        title: "Fault detection: unplanned downtime per line",
        why: "The MES also encrypts whether each downtime passed the declared edges \
              (15, 30, 60, 120 min): counts over a threshold and a histogram, all encrypted.",
        sql: "SELECT line, COUNT(*) FILTER (WHERE downtime_min > 60) AS long_stops, \
              HISTOGRAM(downtime_min) AS downtime_histogram, \
              APPROX_PERCENTILE(downtime_min, 0.9) AS p90_downtime \
              FROM production_runs GROUP BY line ORDER BY line",
        refused: false,
    },
    Step {
        dataset: "join",
        title: "The thread across stages: process data × failure records",
        why: "The manufacturer's process data and the service partner's failure records, joined \
              on the product slot by slot: neither sees the other's values.",
        sql: "SELECT m.type, COUNT(*) AS products, CORR(m.torque, s.failure) AS corr_torque_failure, \
              CORR(m.tool_wear, s.failure) AS corr_wear_failure, AVG(s.failure) AS failure_rate \
              FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id \
              GROUP BY m.type ORDER BY m.type",
        refused: false,
    },
    Step {
        dataset: "ai4i",
        title: "Refused: reading individual torque values",
        why: "An encrypted column outside an aggregate would release rows.",
        sql: "SELECT torque FROM ai4i",
        refused: true,
    },
    Step {
        dataset: "ai4i",
        title: "Refused: an aggregate over too few rows",
        why: "Two snapshots (udi 1 and 2) are fewer than k = 5: their mean would expose them.",
        sql: "SELECT AVG(torque) FROM ai4i WHERE udi < 3",
        refused: true,
    },
    Step {
        dataset: "ai4i",
        title: "The first half of the snapshots, by row number",
        why: "Row numbers are identifiers (role = \"key\"); these trustees let them filter, \
              and record which rows every release covered.",
        sql: "SELECT COUNT(*) AS snapshots, AVG(torque) AS mean_torque, SUM(failure) AS failures \
              FROM ai4i WHERE udi <= 5000",
        refused: false,
    },
    Step {
        dataset: "ai4i",
        title: "Refused: differencing two allowed aggregates",
        why: "Each query alone covers thousands of rows, but subtracting it from the release \
              above would give snapshot 5000's own torque and failure flag: the trustees' \
              audit refuses it and names the release it would combine with.",
        sql: "SELECT COUNT(*) AS snapshots, AVG(torque) AS mean_torque, SUM(failure) AS failures \
              FROM ai4i WHERE udi <= 4999",
        refused: true,
    },
];

/// Split the CSV bytes into `parts` contiguous pieces of its data lines, each with the
/// header line (and the file's BOM and line endings) kept.
pub fn split_csv(bytes: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    let data: Vec<&[u8]> = lines
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let n = data.len();
    (0..parts)
        .map(|i| {
            let (lo, hi) = (i * n / parts, (i + 1) * n / parts);
            let mut out = header.to_vec();
            for l in &data[lo..hi] {
                out.extend_from_slice(l);
            }
            out
        })
        .collect()
}

fn cell_text(c: &Cell, decimals: Option<u32>) -> String {
    match c {
        Cell::Null => "NULL".into(),
        Cell::Int(i) => i.to_string(),
        Cell::Text(t) => t.clone(),
        Cell::Histogram(h) => h.text(),
        Cell::Percentile(p) => cell_text(&Cell::Float(p.value), decimals),
        Cell::Float(f) => match decimals {
            Some(d) => format!("{:.*}", d as usize, f),
            None => {
                // Round for display only; the check uses the full values.
                let a = f.abs();
                if a != 0.0 && !(1e-4..1e7).contains(&a) {
                    format!("{f:.6e}")
                } else {
                    let s = format!("{f:.10}");
                    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
                    if s == "-0" {
                        format_float(0.0)
                    } else {
                        s
                    }
                }
            }
        },
    }
}

/// Print the released result in long form: one line per group and value, the plaintext
/// answer beside it and a check mark. Returns (values checked, values that differ).
fn print_comparison(released: &ResultSet, plain: &ResultSet) -> (usize, usize) {
    // Group-key columns are the text/int columns equal on both sides that are not aggregates;
    // we show the first column of each row as the row label when it is text.
    let mut lines: Vec<[String; 5]> = Vec::new();
    let mut checked = 0;
    let mut bad = 0;
    let rows = released.rows.len().max(plain.rows.len());
    for r in 0..rows {
        let rel = released.rows.get(r);
        let pla = plain.rows.get(r);
        let label = rel
            .and_then(|row| row.first())
            .and_then(|c| match c {
                Cell::Text(t) => Some(t.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for (c, name) in released.columns.iter().enumerate() {
            // The group label itself is still checked, but shown only when it differs.
            let is_label = c == 0 && !label.is_empty();
            let dec = if is_label {
                None
            } else {
                released.decimals.get(c).copied().flatten()
            };
            let a = rel.and_then(|row| row.get(c));
            let b = pla.and_then(|row| row.get(c));
            let ok = matches!((a, b), (Some(x), Some(y)) if reference::cell_matches(x, y, dec));
            checked += 1;
            if !ok {
                bad += 1;
            }
            if ok && is_label {
                continue;
            }
            lines.push([
                label.clone(),
                name.clone(),
                a.map_or("-".into(), |x| cell_text(x, dec)),
                b.map_or("-".into(), |x| cell_text(x, dec)),
                if ok { "✓".into() } else { "✗".into() },
            ]);
        }
    }
    let has_label = lines.iter().any(|l| !l[0].is_empty());
    let head = [
        if has_label {
            released.columns.first().cloned().unwrap_or_default()
        } else {
            String::new()
        },
        "statistic".to_string(),
        "released (encrypted)".to_string(),
        "plaintext".to_string(),
        String::new(),
    ];
    let w = |i: usize| {
        lines
            .iter()
            .map(|l| l[i].chars().count())
            .chain(std::iter::once(head[i].chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths = [w(0), w(1), w(2), w(3)];
    let fmt_line = |l: &[String; 5]| {
        let mut s = String::from("    ");
        if has_label {
            s += &format!("{:<w$}  ", l[0], w = widths[0]);
        }
        s += &format!(
            "{:<w1$}  {:>w2$}  {:>w3$}  {}",
            l[1],
            l[2],
            l[3],
            l[4],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        s.trim_end().to_string()
    };
    println!("{}", fmt_line(&head));
    let mut prev_label = None;
    for l in &lines {
        let mut shown = l.clone();
        if prev_label.as_ref() == Some(&l[0]) {
            shown[0] = String::new();
        }
        prev_label = Some(l[0].clone());
        println!("{}", fmt_line(&shown));
    }
    (checked, bad)
}

/// A new temporary directory named `prefix…` (removed when dropped).
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, CliError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| CliError::io(&std::env::temp_dir(), e))
}

/// Run the demo in `dir` (a new deployment there, kept) or in a temporary directory.
pub fn run(dir: Option<&Path>) -> Result<(), CliError> {
    let start = Instant::now();
    let schema = Schema::from_toml_str(AI4I_SCHEMA, "schemas/ai4i.toml (built in)")?;
    let inputs = temp_dir("dtfhe-demo-input-")?;
    let temp_deployment;
    let deployment: PathBuf = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            temp_deployment = temp_dir("dtfhe-demo-")?;
            temp_deployment.path().join("deployment")
        }
    };

    // 1. Key ceremony (first, so a refused --dir prints nothing).
    let t = Instant::now();
    ops::init(&ops::InitOptions {
        dir: deployment.clone().into(),
        trustees: PLANTS.iter().map(|s| s.to_string()).collect(),
        threshold: None,
        min_group_size: MIN_GROUP_SIZE,
        preset: "bfv-16384".into(),
        // Audit mode (exact releases, differencing refused). Identifier columns are refused
        // in WHERE / GROUP BY by default; these trustees allow them, so the demo can show
        // that the audit alone stops a differencing attack on row numbers.
        policy: dtfhe_release::LocalPolicy {
            allow_key_filters: true,
            ..Default::default()
        },
    })?;
    let ceremony_seconds = t.elapsed().as_secs_f64();
    println!("DigitalThreadFHE demo: three plants share statistics, not data");
    println!();
    println!("  Data: AI4I 2020 predictive maintenance (S. Matzka, CC BY 4.0), 10,000 machining");
    println!("  snapshots, split into three plants: plant-a, plant-b, plant-c.");
    println!(
        "  - Each plant encrypts its own rows before they leave the plant. In clear stay only"
    );
    println!("    the row number, the product id and the quality type (L/M/H), and row counts.");
    println!("  - The platform stores the ciphertexts and computes on them. It holds no key.");
    println!("  - Each plant is also a trustee with one share of the decryption key. A number is");
    println!("    released only if all three agree it is an aggregate over at least {MIN_GROUP_SIZE} rows");
    println!("    and that, with everything released before, it exposes no set of fewer rows");
    println!("    (each trustee keeps its own record of the rows every release covered).");
    println!("  - Every released number is checked here against the same SQL computed in clear");
    println!("    on the original file.");
    println!();

    println!(
        "1. Key ceremony ({ceremony_seconds:.1} s): each plant made its own key share, kept in"
    );
    println!("   {}/trustees/<plant>/", deployment.display());
    println!("   and never in the store. The collective public key and relinearisation key");
    println!("   are published in the store.");

    // 2. Each plant encrypts its third.
    let schema_path = inputs.path().join("ai4i.toml");
    std::fs::write(&schema_path, AI4I_SCHEMA).map_err(|e| CliError::io(&schema_path, e))?;
    let pieces = split_csv(AI4I_CSV, PLANTS.len());
    let mut plain: Vec<PlainRow> = Vec::new();
    println!("2. Each plant encrypts its rows at the source:");
    for (plant, bytes) in PLANTS.iter().zip(&pieces) {
        let csv_path = inputs.path().join(format!("{plant}.csv"));
        std::fs::write(&csv_path, bytes).map_err(|e| CliError::io(&csv_path, e))?;
        let r = ops::ingest(&ops::IngestOptions {
            dir: deployment.clone().into(),
            schema: schema_path.clone(),
            csv: csv_path,
            source: plant.to_string(),
            progress: std::io::stderr().is_terminal(),
        })?;
        println!(
            "   {plant}: {} rows, {} encrypted values in {} chunk{}, {:.1} s",
            r.rows,
            r.encrypted_values,
            r.chunks,
            if r.chunks == 1 { "" } else { "s" },
            r.total_seconds
        );
        plain.extend(
            reference::plain_rows(bytes, &schema, plant)
                .map_err(|e| CliError::Mismatch(format!("demo data ({plant}): {e}")))?,
        );
    }

    // 2b. Each plant's MES exports its production runs (generated, ISA-95 vocabulary).
    let runs_schema =
        Schema::from_toml_str(RUNS_SCHEMA, "schemas/production_runs.toml (built in)")?;
    let runs_schema_path = inputs.path().join("production_runs.toml");
    std::fs::write(&runs_schema_path, RUNS_SCHEMA)
        .map_err(|e| CliError::io(&runs_schema_path, e))?;
    let mut runs_plain: Vec<PlainRow> = Vec::new();
    for (i, plant) in PLANTS.iter().enumerate() {
        let csv = dtfhe_agent::mes::production_runs(RUNS_PER_PLANT, 2026 + i as u64);
        let csv_path = inputs.path().join(format!("{plant}-runs.csv"));
        std::fs::write(&csv_path, &csv).map_err(|e| CliError::io(&csv_path, e))?;
        let r = ops::ingest(&ops::IngestOptions {
            dir: deployment.clone().into(),
            schema: runs_schema_path.clone(),
            csv: csv_path,
            source: plant.to_string(),
            progress: false,
        })?;
        println!(
            "   {plant}: {} production runs from its MES, {} encrypted values",
            r.rows, r.encrypted_values
        );
        runs_plain.extend(
            reference::plain_rows(csv.as_bytes(), &runs_schema, plant)
                .map_err(|e| CliError::Mismatch(format!("demo runs ({plant}): {e}")))?,
        );
    }
    // 2c. Two partners of one product's thread: the manufacturer's process data and the
    // service partner's failure records (AI4I split by columns), in shared product lanes.
    let process_schema =
        Schema::from_toml_str(PROCESS_SCHEMA, "schemas/ai4i_process.toml (built in)")?;
    let service_schema =
        Schema::from_toml_str(SERVICE_SCHEMA, "schemas/ai4i_service.toml (built in)")?;
    let ai4i_path = inputs.path().join("ai4i.csv");
    std::fs::write(&ai4i_path, AI4I_CSV).map_err(|e| CliError::io(&ai4i_path, e))?;
    let mut side_rows = Vec::new();
    for (text, schema_ref, source) in [
        (PROCESS_SCHEMA, &process_schema, "oem"),
        (SERVICE_SCHEMA, &service_schema, "service-partner"),
    ] {
        let path = inputs.path().join(format!("{}.toml", schema_ref.dataset));
        std::fs::write(&path, text).map_err(|e| CliError::io(&path, e))?;
        let r = ops::ingest(&ops::IngestOptions {
            dir: deployment.clone().into(),
            schema: path,
            csv: ai4i_path.clone(),
            source: source.into(),
            progress: false,
        })?;
        println!(
            "   {source}: {} products into `{}` ({} encrypted values, in product lanes)",
            r.rows, schema_ref.dataset, r.encrypted_values
        );
        side_rows.push(
            reference::plain_rows(AI4I_CSV, schema_ref, source)
                .map_err(|e| CliError::Mismatch(format!("demo join data: {e}")))?,
        );
    }
    let joined = reference::inner_join(&side_rows[0], "m", &side_rows[1], "s", "product_id");
    let datasets = [
        ("ai4i", &schema, &plain),
        ("production_runs", &runs_schema, &runs_plain),
    ];

    // 3. Queries.
    println!("3. Queries: computed on ciphertexts, released by all three trustees, checked:");
    let mut values = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut released_cts = 0usize;
    for (i, step) in STEPS.iter().enumerate() {
        let sql = step.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        println!();
        println!("  {}. {}", (b'a' + i as u8) as char, step.title);
        println!("     {}", step.why);
        println!("     {sql}");
        let outcome = ops::query(&deployment, &sql);
        match (outcome, step.refused) {
            (Ok(rep), false) => {
                released_cts += rep.released_ciphertexts;
                let expected = if step.dataset == "join" {
                    reference::evaluate_in(&[&process_schema, &service_schema], &sql, &joined)
                } else {
                    let (_, step_schema, step_plain) = datasets
                        .iter()
                        .find(|(name, _, _)| *name == step.dataset)
                        .ok_or_else(|| {
                            CliError::Mismatch(format!("demo dataset {} missing", step.dataset))
                        })?;
                    reference::evaluate(step_schema, &sql, step_plain)
                }
                .map_err(|e| CliError::Mismatch(format!("plaintext side of `{sql}`: {e}")))?;
                let (n, bad) = print_comparison(&rep.result, &expected);
                values += n;
                let overall = reference::check(&rep.result, &expected);
                if bad > 0 || overall.is_err() {
                    failures.push(format!(
                        "{sql}: {}",
                        overall
                            .err()
                            .map_or_else(|| format!("{bad} values differ"), |e| e.to_string())
                    ));
                }
                println!(
                    "     computed {:.2} s, released {:.2} s ({} ciphertext sums decrypted jointly)",
                    rep.compute_seconds, rep.release_seconds, rep.released_ciphertexts
                );
            }
            (Err(e), true) if e.is_refusal() => {
                println!("     ✓ refused as it must be, nothing decrypted:");
                println!("       {e}");
                values += 1;
            }
            (Ok(_), true) => {
                println!("     ✗ this query should have been refused, but a result was released");
                failures.push(format!("{sql}: not refused"));
            }
            (Err(e), true) => {
                println!("     ✗ expected a policy refusal, got: {e}");
                failures.push(format!("{sql}: {e}"));
            }
            (Err(e), false) => return Err(e.into()),
        }
    }

    // 4. A predictive-maintenance model fitted from released aggregates only.
    println!();
    println!("4. Predictive maintenance: a ridge model of machine failure, fitted from released");
    println!("   sums only (means, variances, covariances), next to its plaintext twin:");
    let features: Vec<String> = MODEL_FEATURES.iter().map(|f| f.to_string()).collect();
    let (fitted, fit_report) =
        dtfhe_embedded::model::fit(&deployment, "ai4i", "failure", &features, 1.0)?;
    let num = |r: &PlainRow, c: &str| match r.get(c) {
        Some(dtfhe_model::Value::Dec(v)) => *v,
        Some(dtfhe_model::Value::Int(v)) => *v as f64,
        _ => f64::NAN,
    };
    let x: Vec<Vec<f64>> = plain
        .iter()
        .map(|r| features.iter().map(|f| num(r, f)).collect())
        .collect();
    let y: Vec<f64> = plain.iter().map(|r| num(r, "failure")).collect();
    let twin =
        dtfhe_engine::model::FitStats::from_rows(&x, &y).fit("ai4i", "failure", &features, 1.0)?;
    let mut model_bad = 0;
    let names = std::iter::once("intercept".to_string()).chain(features.iter().cloned());
    let enc = std::iter::once(fitted.intercept).chain(fitted.coefficients.iter().copied());
    let pla = std::iter::once(twin.intercept).chain(twin.coefficients.iter().copied());
    for ((name, e), p) in names.zip(enc).zip(pla) {
        let ok = (e - p).abs() <= 1e-6 * p.abs().max(1e-6);
        model_bad += usize::from(!ok);
        values += 1;
        println!(
            "     {name:<14} {e:>16.10} {p:>16.10}  {}",
            if ok { "✓" } else { "✗" }
        );
    }
    println!(
        "     training RMSE {:.4} (plaintext {:.4}); {} sums released in {:.2} s",
        fitted.rmse_train,
        twin.rmse_train,
        fit_report.released_ciphertexts,
        fit_report.compute_seconds + fit_report.release_seconds
    );
    released_cts += fit_report.released_ciphertexts;
    if model_bad > 0 {
        failures.push(format!(
            "model fit: {model_bad} coefficients differ from the plaintext twin"
        ));
    }

    println!();
    let queries = STEPS.len() + 1;
    if failures.is_empty() {
        println!(
            "All {values} values of {queries} queries agree with the plaintext answers \
             ({released_cts} sums released; {:.1} s in total).",
            start.elapsed().as_secs_f64()
        );
        if dir.is_some() {
            println!(
                "The deployment is kept in {}: try `dtfhe query --dir {} \"SELECT type, AVG(rpm) FROM ai4i GROUP BY type\"`.",
                deployment.display(),
                deployment.display()
            );
        }
        Ok(())
    } else {
        for f in &failures {
            println!("✗ {f}");
        }
        Err(CliError::Mismatch(format!(
            "{} of {queries} demo queries differ from the plaintext answer: {}",
            failures.len(),
            failures.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_header_and_all_rows() {
        let parts = split_csv(AI4I_CSV, 3);
        assert_eq!(parts.len(), 3);
        let header = AI4I_CSV
            .split_inclusive(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        let mut total = 0;
        for p in &parts {
            assert!(p.starts_with(header));
            total += p.split_inclusive(|&b| b == b'\n').count() - 1;
        }
        assert_eq!(total, 10_000);
        // Reassembling the data lines gives the original file.
        let mut joined = header.to_vec();
        for p in &parts {
            joined.extend_from_slice(&p[header.len()..]);
        }
        assert_eq!(joined, AI4I_CSV);
    }

    #[test]
    fn plaintext_side_reads_all_rows() {
        let schema = Schema::from_toml_str(AI4I_SCHEMA, "ai4i.toml").expect("schema");
        let rows = reference::plain_rows(AI4I_CSV, &schema, "x").expect("rows");
        assert_eq!(rows.len(), 10_000);
        let r = reference::evaluate(&schema, "SELECT SUM(failure), SUM(twf) FROM ai4i", &rows)
            .expect("evaluate");
        assert_eq!(r.rows[0][0].as_f64(), Some(339.0));
        assert_eq!(r.rows[0][1].as_f64(), Some(46.0));
    }

    #[test]
    fn schema_accepts_the_whole_file() {
        let schema = Schema::from_toml_str(AI4I_SCHEMA, "ai4i.toml").expect("schema");
        let table = dtfhe_model::read_csv_bytes(AI4I_CSV, "ai4i2020.csv", &schema).expect("csv");
        assert_eq!(table.rows, 10_000);
    }
}
