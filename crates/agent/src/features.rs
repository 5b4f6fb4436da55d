//! Features a source computes at the edge, before encrypting: for turbofan-style
//! run-to-failure logs (NASA C-MAPSS layout: unit, cycle, 3 settings, 21 sensors,
//! whitespace-separated), per unit and cycle, for six degradation-sensitive sensors:
//!
//! * `dev_sK`: the rolling mean of sensor K over the last 10 cycles minus the unit's own
//!   baseline (mean of its first 10 cycles, causal), in units of the sensor's typical spread
//!   (operating-condition normalisation: each engine is compared with itself when new);
//! * `sq_sK`: dev·|dev|, so a linear model can bend with accelerating wear;
//! * `age`: the cycle count; and for training logs, `rul` = cycles to failure, capped.
//!
//! Every value is rounded to the decimals the matching schema declares, so the encrypted
//! model and its plaintext twin see exactly the same numbers.

/// Sensor numbers (1-based, as in the C-MAPSS documentation) used as features.
pub const SENSORS: [usize; 6] = [4, 7, 11, 12, 15, 21];
/// Typical spread of each sensor in FD001-like data, used to normalise deviations.
const SPREAD: [f64; 6] = [9.0, 0.9, 0.27, 0.74, 0.038, 0.11];
/// Rolling-mean window and baseline length, in cycles.
const WINDOW: usize = 10;
const BASELINE: usize = 10;

/// One unit's run: its number and (cycle, sensor readings) rows.
type UnitRun = (i64, Vec<(i64, [f64; 6])>);

/// Why a log could not be turned into features.
#[derive(Debug, thiserror::Error)]
#[error("{origin} line {line}: {reason}")]
pub struct FeatureError {
    /// File.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Compute the feature CSV (with header) from a whitespace-separated run log. With
/// `rul_cap`, the log is a run-to-failure training log and a `rul` column is added.
pub fn cmapss_features(
    text: &str,
    origin: &str,
    rul_cap: Option<u32>,
) -> Result<String, FeatureError> {
    let mut units: Vec<UnitRun> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let err = |reason: String| FeatureError {
            origin: origin.into(),
            line: i + 1,
            reason,
        };
        if fields.len() < 26 {
            return Err(err(format!("expected 26 fields, found {}", fields.len())));
        }
        let unit: i64 = fields[0]
            .parse()
            .map_err(|_| err("unit is not an integer".into()))?;
        let cycle: i64 = fields[1]
            .parse()
            .map_err(|_| err("cycle is not an integer".into()))?;
        let mut s = [0f64; 6];
        for (k, &sensor) in SENSORS.iter().enumerate() {
            s[k] = fields[4 + sensor]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| err(format!("sensor {sensor} is not a number")))?;
        }
        match units.last_mut() {
            Some((u, rows)) if *u == unit => {
                if rows.last().is_some_and(|(c, _)| *c + 1 != cycle) {
                    return Err(err(format!("unit {unit}: cycles must count up by one")));
                }
                rows.push((cycle, s));
            }
            _ => {
                if units.iter().any(|(u, _)| *u == unit) {
                    return Err(err(format!("unit {unit} appears in two separate runs")));
                }
                units.push((unit, vec![(cycle, s)]));
            }
        }
    }
    let mut out = String::from("unit,cycle,age");
    for s in SENSORS {
        out.push_str(&format!(",dev_s{s}"));
    }
    for s in SENSORS {
        out.push_str(&format!(",sq_s{s}"));
    }
    if rul_cap.is_some() {
        out.push_str(",rul");
    }
    out.push('\n');
    for (unit, rows) in &units {
        let last = rows.last().map_or(0, |(c, _)| *c);
        for i in 0..rows.len() {
            let window = &rows[i.saturating_sub(WINDOW - 1)..=i];
            let base = &rows[..(i + 1).min(BASELINE)];
            let mean = |set: &[(i64, [f64; 6])], k: usize| {
                set.iter().map(|(_, s)| s[k]).sum::<f64>() / set.len() as f64
            };
            let (cycle, _) = rows[i];
            out.push_str(&format!("{unit},{cycle},{cycle}"));
            let devs: Vec<f64> = (0..6)
                .map(|k| round_to((mean(window, k) - mean(base, k)) / SPREAD[k], 3))
                .collect();
            for d in &devs {
                out.push_str(&format!(",{d:.3}"));
            }
            for d in &devs {
                out.push_str(&format!(",{:.2}", round_to(d * d.abs(), 2)));
            }
            if let Some(cap) = rul_cap {
                out.push_str(&format!(",{}", (last - cycle).min(cap as i64)));
            }
            out.push('\n');
        }
    }
    Ok(out)
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let r = (v * f).round() / f;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}
