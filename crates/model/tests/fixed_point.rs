//! Property tests for the fixed-point codec.

use dtfhe_model::{EncodeError, FixedPoint, MAX_SCALED_MAGNITUDE};
use proptest::prelude::*;

/// Exact decimal text of `v / 10^scale`, by moving the point in the digit string (not the
/// library's division, so it checks it).
fn text(v: i128, scale: u32) -> String {
    let s = scale as usize;
    let digits = format!("{:0>w$}", v.unsigned_abs(), w = s + 1);
    let (int, frac) = digits.split_at(digits.len() - s);
    let point = if s == 0 { "" } else { "." };
    format!("{}{int}{point}{frac}", if v < 0 { "-" } else { "" })
}

/// A codec and its declared range, as scaled integers.
fn codec() -> impl Strategy<Value = (FixedPoint, i64, i64)> {
    (0u32..=9)
        .prop_flat_map(|s| {
            let m = MAX_SCALED_MAGNITUDE;
            // Mix huge and small ranges.
            let bound = prop_oneof![-m..=m, -1000i64..=1000];
            (Just(s), bound.clone(), bound)
        })
        .prop_map(|(s, a, b)| {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let min: f64 = text(i128::from(lo), s).parse().expect("f64");
            let max: f64 = text(i128::from(hi), s).parse().expect("f64");
            let c = FixedPoint::new(s, min, max).expect("valid codec");
            (c, lo, hi)
        })
}

/// A codec and an in-range scaled value.
fn codec_and_value() -> impl Strategy<Value = (FixedPoint, i64)> {
    codec().prop_flat_map(|(c, lo, hi)| (Just(c), lo..=hi))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn declared_range_is_exact((c, lo, hi) in codec()) {
        prop_assert_eq!(c.min_scaled, lo);
        prop_assert_eq!(c.max_scaled, hi);
        prop_assert_eq!(c.offset, (lo + hi) / 2);
    }

    #[test]
    fn round_trip_in_several_spellings((c, x) in codec_and_value(), extra_zeros in 0usize..4) {
        let s = c.scale;
        let want = x - c.offset;
        let t = text(i128::from(x), s);
        prop_assert_eq!(c.encode(&t), Ok(want));
        let padded = if s == 0 { format!("{t}.{}", "0".repeat(extra_zeros)) } else { format!("{t}{}", "0".repeat(extra_zeros)) };
        if padded.len() <= 40 {
            prop_assert_eq!(c.encode(&padded), Ok(want));
        }
        prop_assert_eq!(c.encode(&format!("{x}e-{s}")), Ok(want));
        prop_assert_eq!(c.encode(&format!(" {x}E-{s} ")), Ok(want));
        if x >= 0 {
            prop_assert_eq!(c.encode(&format!("+{t}")), Ok(want));
        }
        // Decoding gives the f64 nearest to the decimal text.
        prop_assert_eq!(c.decode(want), t.parse::<f64>().expect("f64"));
    }

    #[test]
    fn rounds_half_away_from_zero((c, x) in codec_and_value(), tail in "[0-9]{1,5}") {
        let s = c.scale;
        let t = text(i128::from(x), s);
        let t = if s == 0 { format!("{t}.{tail}") } else { format!("{t}{tail}") };
        let up = tail.as_bytes()[0] >= b'5';
        // Away from zero: the magnitude grows when the first dropped digit is ≥ 5.
        let rounded = if !up { x } else if x < 0 || t.starts_with('-') { x - 1 } else { x + 1 };
        let got = c.encode(&t);
        if rounded >= c.min_scaled && rounded <= c.max_scaled {
            prop_assert_eq!(got, Ok(rounded - c.offset));
        } else {
            let is_out_of_range = matches!(got, Err(EncodeError::OutOfRange { .. }));
            prop_assert!(is_out_of_range);
        }
    }

    #[test]
    fn out_of_range_is_refused((c, lo, hi) in codec(), d in 1i64..1_000_000, below: bool) {
        let x = if below { i128::from(lo) - i128::from(d) } else { i128::from(hi) + i128::from(d) };
        let got = c.encode(&text(x, c.scale));
        prop_assert_eq!(got, Err(EncodeError::OutOfRange { min: text(i128::from(lo), c.scale), max: text(i128::from(hi), c.scale) }));
    }

    #[test]
    fn encoded_values_are_bounded((c, x) in codec_and_value()) {
        let v = c.encode(&text(i128::from(x), c.scale)).expect("in range");
        prop_assert!(v.unsigned_abs() <= c.max_abs());
        prop_assert!(c.max_abs() <= 2 * MAX_SCALED_MAGNITUDE as u64);
    }

    #[test]
    fn decode_sum_is_the_exact_decimal_sum(
        (c, xs) in codec().prop_flat_map(|(c, lo, hi)| (Just(c), proptest::collection::vec(lo..=hi, 0..50)))
    ) {
        let s = c.scale;
        let mut sum_v: i128 = 0;
        for &x in &xs {
            sum_v += i128::from(c.encode(&text(i128::from(x), s)).expect("in range"));
        }
        let exact: i128 = xs.iter().map(|&x| i128::from(x)).sum();
        let n = xs.len() as i128;
        prop_assert_eq!(sum_v + n * i128::from(c.offset), exact);
        prop_assert_eq!(c.decode_sum(sum_v, n), text(exact, s).parse::<f64>().expect("f64"));
    }

    #[test]
    fn arbitrary_text_never_panics((c, _, _) in codec(), t in "\\PC{0,50}") {
        let _ = c.encode(&t);
    }

    #[test]
    fn numberish_text_never_panics((c, _, _) in codec(), t in "[-+]?[0-9]{0,25}\\.?[0-9]{0,25}([eE][-+]?[0-9]{0,12})?") {
        let _ = c.encode(&t);
    }
}
