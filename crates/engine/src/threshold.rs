//! Fault detection from declared thresholds: bucket counts, the histogram text and the
//! approximate percentile, all derived in clear from released exact counts.
//!
//! A column declaring edges e_0 < … < e_{K−1} has K+1 buckets (−∞, e_0], (e_0, e_1], …,
//! (e_{K−1}, +∞). From n = COUNT(x) and the indicator sums a_k = #{x > e_k}:
//! c_0 = n − a_0, c_j = a_{j−1} − a_j, c_K = a_{K−1}.
//!
//! `APPROX_PERCENTILE(x, p)` takes the declared min and max as the outer edges, finds the first
//! bucket j whose cumulative count reaches p·n and interpolates linearly inside it:
//! lo_j + (p·n − C_{j−1}) / c_j · (hi_j − lo_j). The true p-quantile lies in the same bucket, so
//! the error is at most that bucket's width; the output column states the widest bucket of the
//! column (a bound known before any data is seen).

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

/// Edges of the buckets as numbers: `[min, e_0, …, e_{K−1}, max]`.
pub fn bucket_bounds(codec: &FixedPoint, thresholds: &[i64]) -> Vec<f64> {
    std::iter::once(codec.min_scaled)
        .chain(thresholds.iter().copied())
        .chain(std::iter::once(codec.max_scaled))
        .map(|s| codec.scaled_to_f64(s))
        .collect()
}

/// Width of the widest bucket between the declared min and max, as exact decimal text at the
/// column's scale: the error bound of `APPROX_PERCENTILE`.
pub fn error_bound_text(codec: &FixedPoint, thresholds: &[i64]) -> String {
    let mut edges = vec![codec.min_scaled];
    edges.extend_from_slice(thresholds);
    edges.push(codec.max_scaled);
    let widest = edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    codec.scaled_text(widest)
}

/// The histogram cell: `≤30.0: 12 | 30.0–40.0: 30 | >40.0: 5` (edges at the column's scale,
/// buckets left-open, right-closed).
pub fn histogram_text(codec: &FixedPoint, thresholds: &[i64], counts: &[i128]) -> String {
    let edge: Vec<String> = thresholds.iter().map(|&e| codec.scaled_text(e)).collect();
    counts
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let label = if j == 0 {
                format!("≤{}", edge[0])
            } else if j == edge.len() {
                format!(">{}", edge[j - 1])
            } else {
                format!("{}–{}", edge[j - 1], edge[j])
            };
            format!("{label}: {c}")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Linear interpolation inside the bucket holding the p-quantile (see the module doc);
/// `None` without values.
pub fn percentile(p: f64, bounds: &[f64], counts: &[i128]) -> Option<f64> {
    let n: i128 = counts.iter().sum();
    if n <= 0 || counts.len() + 1 != bounds.len() {
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
        return Some(bounds[j]);
    }
    let (lo, hi) = (bounds[j], bounds[j + 1]);
    Some(lo + (target - before as f64) / c as f64 * (hi - lo))
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
