//! Fault detection from declared thresholds: bucket counts, the structured histogram and the
//! approximate percentile with its error bound, all derived in clear from released counts.
//!
//! A column declaring edges e_0 < … < e_{K−1} has K+1 buckets [min, e_0], (e_0, e_1], …,
//! (e_{K−1}, max] (ingest refuses values outside the declared min and max). From n = COUNT(x)
//! and the indicator sums a_k = #{x > e_k}: c_0 = n − a_0, c_j = a_{j−1} − a_j, c_K = a_{K−1}.
//!
//! `APPROX_PERCENTILE(x, p)` takes the declared min and max as the outer edges, finds the first
//! bucket j whose cumulative count reaches p·n and interpolates linearly inside it:
//! lo_j + (p·n − C_{j−1}) / c_j · (hi_j − lo_j). The p-quantile (the ⌈p·n⌉-th smallest value,
//! nearest rank) lies in the same bucket (C_{j−1} < p·n ≤ C_j), so the error is at most that
//! bucket's width. The structured percentile cell carries that
//! bucket and its width; the default output column name states the widest bucket of the
//! column (a bound known before any data is seen).
//!
//! Under differential privacy the indicator sums carry noise, so a bucket count can come out
//! negative: both the histogram and the percentile clamp it at 0 (post-processing).

use crate::cell::{Decimal, Histogram, Percentile};
use dtfhe_model::FixedPoint;

/// Bucket counts from n = COUNT(x) and the K indicator sums (non-increasing in k).
pub fn bucket_counts(n: i128, above: &[i128]) -> Vec<i128> {
    let mut out = Vec::with_capacity(above.len() + 1);
    let mut prev = n;
    for &a in above {
        out.push(prev - a);
        prev = a;
    }
    out.push(prev);
    out
}

/// Edges of the buckets as scaled integers at the column's scale: `[min, e_0, …, e_{K−1},
/// max]` (the declared min and max bound the outer buckets).
pub fn bucket_edges(codec: &FixedPoint, thresholds: &[i64]) -> Vec<i64> {
    std::iter::once(codec.min_scaled)
        .chain(thresholds.iter().copied())
        .chain(std::iter::once(codec.max_scaled))
        .collect()
}

/// Edges of the buckets as numbers: `[min, e_0, …, e_{K−1}, max]`.
pub fn bucket_bounds(codec: &FixedPoint, thresholds: &[i64]) -> Vec<f64> {
    bucket_edges(codec, thresholds)
        .into_iter()
        .map(|s| codec.scaled_to_f64(s))
        .collect()
}

/// Width of the widest bucket between the declared min and max, as exact decimal text at the
/// column's scale: the error bound of `APPROX_PERCENTILE` known before any data is seen.
pub fn error_bound_text(codec: &FixedPoint, thresholds: &[i64]) -> String {
    let edges = bucket_edges(codec, thresholds);
    let widest = edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    codec.scaled_text(widest)
}

/// The structured histogram of `column` (see [`Histogram`]): the K + 1 bucket counts with
/// their edges at the column's scale, bounded by the declared min and max; `None` when the
/// counts do not match the thresholds.
pub fn histogram(
    column: &str,
    codec: &FixedPoint,
    thresholds: &[i64],
    counts: &[i128],
) -> Option<Histogram> {
    Histogram::from_counts(
        column,
        &bucket_edges(codec, thresholds),
        codec.scale,
        counts,
    )
}

/// The histogram's text: `≤30.0: 12 | 30.0–40.0: 30 | >40.0: 5` (edges at the column's
/// scale, buckets left-open, right-closed); the text table and CSV output show.
pub fn histogram_text(codec: &FixedPoint, thresholds: &[i64], counts: &[i128]) -> String {
    histogram("", codec, thresholds, counts)
        .map(|h| h.text())
        .unwrap_or_default()
}

/// Where the p-quantile lies: the first bucket j whose cumulative count reaches p·n, and the
/// fraction (p·n − C_{j−1}) / c_j of the way through it (0 for an empty bucket, which only
/// noisy counts can select); `None` without values. Negative counts must be clamped first.
pub fn locate(p: f64, counts: &[i128]) -> Option<(usize, f64)> {
    let n: i128 = counts.iter().sum();
    if n <= 0 || counts.is_empty() {
        return None;
    }
    let target = p * n as f64;
    let mut cumulative = Vec::with_capacity(counts.len());
    let mut acc = 0i128;
    for &c in counts {
        acc += c;
        cumulative.push(acc);
    }
    let j = cumulative
        .iter()
        .position(|&c| c as f64 >= target)
        .unwrap_or(counts.len() - 1);
    let before = if j == 0 { 0 } else { cumulative[j - 1] };
    let c = counts[j];
    if c <= 0 {
        return Some((j, 0.0));
    }
    Some((j, (target - before as f64) / c as f64))
}

/// Linear interpolation inside the bucket holding the p-quantile (see the module doc);
/// `None` without values.
pub fn percentile(p: f64, bounds: &[f64], counts: &[i128]) -> Option<f64> {
    if counts.len() + 1 != bounds.len() {
        return None;
    }
    let (j, frac) = locate(p, counts)?;
    let (lo, hi) = (bounds[j], bounds[j + 1]);
    Some(lo + frac * (hi - lo))
}

/// The structured `APPROX_PERCENTILE(x, p)` of `column` from its K + 1 bucket counts
/// (negative noisy counts clamped at 0 first, as in the histogram); `None` without values.
pub fn percentile_cell(
    column: &str,
    p: f64,
    codec: &FixedPoint,
    thresholds: &[i64],
    counts: &[i128],
) -> Option<Percentile> {
    let counts: Vec<i128> = counts.iter().map(|c| (*c).max(0)).collect();
    let edges = bucket_edges(codec, thresholds);
    if counts.len() + 1 != edges.len() {
        return None;
    }
    let (j, frac) = locate(p, &counts)?;
    let (lo, hi) = (
        Decimal::new(edges[j], codec.scale),
        Decimal::new(edges[j + 1], codec.scale),
    );
    let (l, h) = (lo.to_f64(), hi.to_f64());
    let value = l + frac * (h - l);
    value.is_finite().then(|| Percentile {
        column: column.to_string(),
        p,
        value,
        lo,
        hi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_and_percentile() {
        let codec = FixedPoint::new(1, 0.0, 80.0).expect("codec");
        let edges = [300, 400, 500, 600];
        // Values: 10, 35, 35, 45, 70 → buckets 1, 2, 1, 0, 1.
        let counts = bucket_counts(5, &[4, 2, 1, 1]);
        assert_eq!(counts, vec![1, 2, 1, 0, 1]);
        assert_eq!(
            histogram_text(&codec, &edges, &counts),
            "≤30.0: 1 | 30.0–40.0: 2 | 40.0–50.0: 1 | 50.0–60.0: 0 | >60.0: 1"
        );
        assert_eq!(error_bound_text(&codec, &edges), "30.0");
        let b = bucket_bounds(&codec, &edges);
        assert_eq!(b, vec![0.0, 30.0, 40.0, 50.0, 60.0, 80.0]);
        // p·n = 2 falls in (30, 40], half of its 2 values: 35.
        assert_eq!(percentile(0.4, &b, &counts), Some(35.0));
        // p·n = 4.5 falls in the last bucket (60, 80], half way.
        assert_eq!(percentile(0.9, &b, &counts), Some(70.0));
        assert_eq!(percentile(0.5, &b, &[0, 0, 0, 0, 0]), None);
    }
}
