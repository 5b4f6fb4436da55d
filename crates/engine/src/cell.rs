//! One output value of a result: scalars, and the structured values of the threshold
//! aggregates (`HISTOGRAM(x)`: buckets with their edges and counts; `APPROX_PERCENTILE(x,
//! p)`: the value with its error bound), so a client can draw a histogram without parsing
//! the table's text.
//!
//! Edges are exact decimals at the column's declared scale ([`Decimal`]); the text form of
//! each value ([`Cell::text`]) is what table and CSV output show, the JSON form
//! ([`Cell::to_json`]) what `--format json` carries.

use dtfhe_model::Value;
use serde_json::Value as J;
use std::fmt;

/// One output value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// Integer (COUNT, integer group keys, SUM of a public integer column).
    Int(i64),
    /// Floating-point statistic.
    Float(f64),
    /// Text group key.
    Text(String),
    /// `HISTOGRAM(x)`: the bucket counts between the column's declared edges (boxed, so
    /// every other cell stays small).
    Histogram(Box<Histogram>),
    /// `APPROX_PERCENTILE(x, p)`: the interpolated value and the bucket it lies in (boxed).
    Percentile(Box<Percentile>),
}

/// An exact decimal number `units / 10^scale`: an edge of a column's buckets, at the scale the
/// schema declares for that column (so `30.0` at scale 1 stays `30.0`, never `29.999…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The value times `10^scale`.
    pub units: i64,
    /// Decimal digits after the point (the column's `scale`, 0..=9).
    pub scale: u32,
}

impl Decimal {
    /// The decimal `units / 10^scale`.
    pub fn new(units: i64, scale: u32) -> Decimal {
        Decimal { units, scale }
    }

    /// The nearest f64 (correctly rounded: parsed from the exact decimal text).
    pub fn to_f64(self) -> f64 {
        self.to_string()
            .parse::<f64>()
            .unwrap_or_else(|_| self.units as f64 / 10f64.powi(self.scale as i32))
    }

    /// The difference `self − other` of two decimals at the same scale (a bucket's width);
    /// `None` when the scales differ or the difference overflows.
    pub fn minus(self, other: Decimal) -> Option<Decimal> {
        (self.scale == other.scale)
            .then(|| self.units.checked_sub(other.units))
            .flatten()
            .map(|units| Decimal::new(units, self.scale))
    }
}

impl fmt::Display for Decimal {
    /// Exactly `scale` digits after the point: `30.0`, `-0.05`, `7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let abs = self.units.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{abs}");
        }
        let p = 10u64.pow(self.scale.min(19));
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / p,
            abs % p,
            width = self.scale as usize
        )
    }
}

/// One bucket of a histogram: the rows with `lo < x <= hi` (the first bucket also holds
/// `x = lo`, the declared minimum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Lower edge: the declared minimum for the first bucket, else the previous threshold.
    pub lo: Decimal,
    /// Upper edge: a threshold, or the declared maximum for the last bucket.
    pub hi: Decimal,
    /// Rows in the bucket. Exact for an audited release; under differential privacy the
    /// noisy released count, clamped at 0 (see [`Histogram::from_counts`]).
    pub count: i64,
}

/// The structured `HISTOGRAM(x)` value: K + 1 buckets for K declared thresholds, edges at
/// the column's scale, bounded by its declared min and max.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// The encrypted column the histogram is over.
    pub column: String,
    /// The buckets in ascending order; adjacent buckets share an edge.
    pub buckets: Vec<Bucket>,
}

impl Histogram {
    /// The histogram of `column` from its bucket edges `[min, e_0, …, e_{K−1}, max]` (scaled
    /// integers at `scale`) and the K + 1 bucket counts. A negative count, which only the
    /// noise of a differentially private release can produce, becomes 0: a histogram's bars
    /// are never negative, and clamping a released value is post-processing (no ε spent).
    /// `None` when the counts do not match the edges.
    pub fn from_counts(
        column: &str,
        edges: &[i64],
        scale: u32,
        counts: &[i128],
    ) -> Option<Histogram> {
        if edges.len() != counts.len() + 1 {
            return None;
        }
        let buckets = edges
            .windows(2)
            .zip(counts)
            .map(|(w, &c)| Bucket {
                lo: Decimal::new(w[0], scale),
                hi: Decimal::new(w[1], scale),
                count: i64::try_from(c.max(0)).unwrap_or(i64::MAX),
            })
            .collect();
        Some(Histogram {
            column: column.to_string(),
            buckets,
        })
    }

    /// The text form table and CSV output show: `≤30.0: 12 | 30.0–40.0: 30 | >40.0: 5`
    /// (the outer buckets named by their threshold only).
    pub fn text(&self) -> String {
        let last = self.buckets.len().saturating_sub(1);
        self.buckets
            .iter()
            .enumerate()
            .map(|(j, b)| {
                let label = match j {
                    _ if last == 0 => format!("{}–{}", b.lo, b.hi),
                    0 => format!("≤{}", b.hi),
                    j if j == last => format!(">{}", b.lo),
                    _ => format!("{}–{}", b.lo, b.hi),
                };
                format!("{label}: {}", b.count)
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// `{"type":"histogram","column":…,"scale":…,"buckets":[{"lo":…,"hi":…,"count":…}]}`.
    pub fn to_json(&self) -> J {
        let scale = self.buckets.first().map_or(0, |b| b.lo.scale);
        let buckets = self
            .buckets
            .iter()
            .map(|b| {
                let mut o = serde_json::Map::new();
                o.insert("lo".into(), number(b.lo.to_f64()));
                o.insert("hi".into(), number(b.hi.to_f64()));
                o.insert("count".into(), J::from(b.count));
                J::Object(o)
            })
            .collect();
        let mut o = serde_json::Map::new();
        o.insert("type".into(), J::from("histogram"));
        o.insert("column".into(), J::from(self.column.clone()));
        o.insert("scale".into(), J::from(scale));
        o.insert("buckets".into(), J::Array(buckets));
        J::Object(o)
    }
}

/// The structured `APPROX_PERCENTILE(x, p)` value.
///
/// The p-quantile (the ⌈p·n⌉-th smallest value, nearest rank) lies in the bucket
/// `[lo, hi]` whose cumulative count first reaches p·n, and so does `value` (linear
/// interpolation inside it): `|value − quantile| <= error_bound = hi − lo`. For an exact
/// release this holds; under differential privacy the bucket is chosen from noisy counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Percentile {
    /// The encrypted column.
    pub column: String,
    /// The fraction asked for, 0 < p < 1.
    pub p: f64,
    /// The interpolated percentile, in the column's units.
    pub value: f64,
    /// Lower edge of the bucket holding the percentile.
    pub lo: Decimal,
    /// Upper edge of that bucket.
    pub hi: Decimal,
}

impl Percentile {
    /// The error bound: the width `hi − lo` of the bucket holding the percentile (at most
    /// the widest bucket of the column, which the default column name states).
    pub fn error_bound(&self) -> Decimal {
        self.hi
            .minus(self.lo)
            .unwrap_or(Decimal::new(i64::MAX, self.lo.scale))
    }

    /// `{"type":"percentile","column":…,"scale":…,"p":…,"value":…,"error_bound":…,
    /// "bucket":{"lo":…,"hi":…}}` (`scale`: the column's, of the edges and the bound).
    pub fn to_json(&self) -> J {
        let mut bucket = serde_json::Map::new();
        bucket.insert("lo".into(), number(self.lo.to_f64()));
        bucket.insert("hi".into(), number(self.hi.to_f64()));
        let mut o = serde_json::Map::new();
        o.insert("type".into(), J::from("percentile"));
        o.insert("column".into(), J::from(self.column.clone()));
        o.insert("scale".into(), J::from(self.lo.scale));
        o.insert("p".into(), number(self.p));
        o.insert("value".into(), number(self.value));
        o.insert("error_bound".into(), number(self.error_bound().to_f64()));
        o.insert("bucket".into(), J::Object(bucket));
        J::Object(o)
    }
}

/// A finite f64 as a JSON number, anything else as null.
fn number(f: f64) -> J {
    serde_json::Number::from_f64(f)
        .map(J::Number)
        .unwrap_or(J::Null)
}

impl Cell {
    /// The cell for a group-key value.
    pub fn from_value(v: &Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(*i),
            Value::Dec(d) => Cell::Float(*d),
            Value::Text(t) => Cell::Text(t.clone()),
        }
    }

    /// Numeric value, if any (a percentile's value counts, so arithmetic over
    /// `APPROX_PERCENTILE` keeps working; a histogram has none).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Percentile(p) => Some(p.value),
            _ => None,
        }
    }

    /// Whether table output aligns the cell as a number (right).
    pub fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(_) | Cell::Percentile(_))
    }

    /// The text table and CSV output show (`None` for NULL); floats with `decimals` digits
    /// when given, else the shortest exact representation.
    pub fn text(&self, decimals: Option<u32>) -> Option<String> {
        Some(match self {
            Cell::Null => return None,
            Cell::Int(i) => i.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Float(f) => float_text(*f, decimals),
            Cell::Histogram(h) => h.text(),
            Cell::Percentile(p) => float_text(p.value, decimals),
        })
    }

    /// The JSON value `--format json` carries: numbers as JSON numbers, NULL (and
    /// non-finite floats) as null, text as a string, a histogram or percentile as an object
    /// with its `type`.
    pub fn to_json(&self) -> J {
        match self {
            Cell::Null => J::Null,
            Cell::Int(i) => J::from(*i),
            Cell::Float(f) => number(*f),
            Cell::Text(t) => J::String(t.clone()),
            Cell::Histogram(h) => h.to_json(),
            Cell::Percentile(p) => p.to_json(),
        }
    }
}

fn float_text(f: f64, decimals: Option<u32>) -> String {
    match decimals {
        Some(d) if f.is_finite() => {
            let s = format!("{:.*}", d as usize, f);
            // Avoid "-0.00".
            if s.starts_with('-') && s[1..].chars().all(|ch| ch == '0' || ch == '.') {
                s[1..].to_string()
            } else {
                s
            }
        }
        _ => crate::result::format_float(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_and_value() {
        assert_eq!(Decimal::new(300, 1).to_string(), "30.0");
        assert_eq!(Decimal::new(-5, 2).to_string(), "-0.05");
        assert_eq!(Decimal::new(7, 0).to_string(), "7");
        assert_eq!(Decimal::new(64250, 2).to_f64(), 642.5);
        assert_eq!(
            Decimal::new(400, 1).minus(Decimal::new(300, 1)),
            Some(Decimal::new(100, 1))
        );
        assert_eq!(Decimal::new(4, 1).minus(Decimal::new(3, 2)), None);
        assert_eq!(
            Decimal::new(i64::MIN, 0).to_string(),
            "-9223372036854775808"
        );
    }

    #[test]
    fn histogram_text_json_and_clamp() {
        let h =
            Histogram::from_counts("torque", &[38, 300, 400, 766], 1, &[3, -2, 5]).expect("shape");
        assert_eq!(h.text(), "≤30.0: 3 | 30.0–40.0: 0 | >40.0: 5");
        assert_eq!(
            h.to_json(),
            serde_json::json!({"type": "histogram", "column": "torque", "scale": 1, "buckets": [
                {"lo": 3.8, "hi": 30.0, "count": 3},
                {"lo": 30.0, "hi": 40.0, "count": 0},
                {"lo": 40.0, "hi": 76.6, "count": 5}]})
        );
        assert!(Histogram::from_counts("x", &[0, 1], 0, &[1, 2]).is_none());
        let one = Histogram::from_counts("x", &[0, 10], 0, &[4]).expect("shape");
        assert_eq!(one.text(), "0–10: 4");
    }

    #[test]
    fn percentile_bound_and_json() {
        let p = Percentile {
            column: "wear".into(),
            p: 0.9,
            value: 212.5,
            lo: Decimal::new(200, 0),
            hi: Decimal::new(253, 0),
        };
        assert_eq!(p.error_bound(), Decimal::new(53, 0));
        let c = Cell::Percentile(Box::new(p));
        assert_eq!(c.as_f64(), Some(212.5));
        assert_eq!(c.text(None).as_deref(), Some("212.5"));
        assert_eq!(
            c.to_json(),
            serde_json::json!({"type": "percentile", "column": "wear", "scale": 0, "p": 0.9, "value": 212.5,
                "error_bound": 53.0, "bucket": {"lo": 200.0, "hi": 253.0}})
        );
    }
}
