//! A generator of MES-style production-run records (ISA-95 vocabulary), for demos,
//! benchmarks and tests of OEE on encrypted data.
//!
//! One row is one production run (a job order executed on a line during a shift):
//! planned production time, unplanned downtime, the resulting run (operating) time, the ideal
//! run time (ideal cycle time × total count, as the MES computes it), the total count and the
//! good count. OEE = availability × performance × quality =
//! (run / planned) × (ideal run / run) × (good / total).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Production lines with their character: (name, mean downtime min, speed factor, scrap rate).
const LINES: [(&str, f64, f64, f64); 4] = [
    ("L1", 25.0, 0.95, 0.012),
    ("L2", 45.0, 0.90, 0.020),
    ("L3", 30.0, 0.82, 0.015),
    ("L4", 60.0, 0.93, 0.045),
];
/// Products with their ideal cycle time in seconds.
const PRODUCTS: [(&str, f64); 3] = [("housing-A", 2.4), ("shaft-B", 3.6), ("gear-C", 5.0)];
const SHIFTS: [&str; 3] = ["early", "late", "night"];

/// Header of the generated CSV (matches `schemas/production_runs.toml`).
pub const HEADER: &str = "run_id,line,shift,product,planned_min,downtime_min,run_min,ideal_run_min,total_count,good_count";

/// `rows` production runs of one site, reproducible from `seed`.
pub fn production_runs(rows: usize, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(rows * 80);
    out.push_str(HEADER);
    out.push('\n');
    for run_id in 1..=rows {
        let (line, mean_down, speed, scrap) = LINES[rng.random_range(0..LINES.len())];
        let (product, cycle_s) = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
        let shift = SHIFTS[rng.random_range(0..SHIFTS.len())];
        let planned = 480.0f64;
        // Exponential downtime, capped so some time always runs.
        let u: f64 = rng.random_range(1e-9..1.0);
        let downtime = (-mean_down * u.ln()).min(planned - 30.0);
        let downtime = (downtime * 10.0).round() / 10.0;
        let run = planned - downtime;
        let actual_speed = (speed + rng.random_range(-0.04..0.04)).clamp(0.5, 1.0);
        let total = (run * 60.0 / cycle_s * actual_speed).floor() as u64;
        let scrap_rate = (scrap * rng.random_range(0.5..1.5)).min(0.5);
        let good = total - (total as f64 * scrap_rate).round() as u64;
        let ideal_run = ((total as f64 * cycle_s / 60.0) * 100.0).round() / 100.0;
        out.push_str(&format!(
            "{run_id},{line},{shift},{product},{planned:.1},{downtime:.1},{run:.1},{ideal_run:.2},{total},{good}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_consistent_and_reproducible() {
        let a = production_runs(200, 7);
        assert_eq!(a, production_runs(200, 7));
        assert_ne!(a, production_runs(200, 8));
        for line in a.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().expect("number");
            assert!(
                (n(4) - n(5) - n(6)).abs() < 1e-6,
                "planned = downtime + run: {line}"
            );
            assert!(
                n(7) <= n(6) + 1e-6,
                "ideal run time cannot exceed run time: {line}"
            );
            assert!(n(9) <= n(8), "good ≤ total: {line}");
        }
    }
}
