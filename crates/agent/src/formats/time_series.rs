//! MTConnect `TIME_SERIES` observations: one observation carrying `sampleCount` values
//! (space-separated) sampled at a fixed `sampleRate` (Hz), read into one timestamped value
//! per sample.
//!
//! The MTConnect standard (Observation Information Model, `Representations/TimeSeries`):
//! a `TimeSeries` "MUST report multiple values at fixed intervals in a single Observation",
//! the observation's `timestamp` "MUST be set to the time the last value was observed", and
//! the rate is the observation's `sampleRate` or else the DataItem's (in the probe
//! document). So the value `k` of `n` (0-based) was observed at `timestamp − (n − 1 − k) /
//! sampleRate`, rounded to the millisecond. A stream document alone does not hold the
//! DataItem's rate, so an observation without its own `sampleRate` is refused, as are a
//! `sampleCount` that is not the number of values given and a rate above 1 kHz (two samples
//! would share a millisecond, the row timestamp's resolution). Reasons name attributes and
//! counts, never a value.

/// Highest sample rate read (Hz): samples 1 ms apart or more keep distinct timestamps.
pub const MAX_SAMPLE_RATE_HZ: f64 = 1000.0;

/// Whether the observation element `name` with `representation` is a `TIME_SERIES` one
/// (MTConnect names its element `<Type>TimeSeries`, e.g. `PositionTimeSeries`).
pub fn is_time_series(name: &str, representation: Option<&str>) -> bool {
    representation == Some("TIME_SERIES") || name.ends_with("TimeSeries")
}

/// The samples of a `TIME_SERIES` observation whose text is `text`, with its `sampleCount`
/// and `sampleRate` attributes, the last one observed at `last_ms` (ms since 1970): each
/// value with its own timestamp, oldest first. Err: why the observation is not read (names
/// attributes and counts only).
pub fn samples<'a>(
    text: &'a str,
    sample_count: Option<&str>,
    sample_rate: Option<&str>,
    last_ms: i128,
) -> Result<Vec<(i128, &'a str)>, String> {
    let count = match sample_count.map(|c| c.trim().parse::<usize>()) {
        Some(Ok(n)) if n > 0 => n,
        Some(_) => return Err("sampleCount is not a positive integer".into()),
        None => return Err("a TIME_SERIES observation without a sampleCount".into()),
    };
    let rate = match sample_rate.map(|r| r.trim().parse::<f64>()) {
        Some(Ok(r)) if r.is_finite() && r > 0.0 && r <= MAX_SAMPLE_RATE_HZ => r,
        Some(Ok(r)) if r.is_finite() && r > MAX_SAMPLE_RATE_HZ => {
            return Err(format!(
                "sampleRate above {MAX_SAMPLE_RATE_HZ} Hz: samples would share a millisecond"
            ))
        }
        Some(_) => return Err("sampleRate is not a positive number (Hz)".into()),
        None => {
            return Err("a TIME_SERIES observation without its own sampleRate (the \
                        DataItem's rate is in the probe document, not read here)"
                .into())
        }
    };
    let values: Vec<&str> = text.split_whitespace().collect();
    if values.len() != count {
        return Err(format!(
            "sampleCount is {count} but {} values are given",
            values.len()
        ));
    }
    let last = count - 1;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(k, v)| {
            // Whole milliseconds before the last sample; exact for rates that divide 1000.
            let before = ((last - k) as f64 * 1000.0 / rate).round() as i128;
            (last_ms - before, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn samples_end_at_the_timestamp_spaced_by_the_rate() {
        let s = samples("1.5 2 2.5 3", Some("4"), Some("2"), 10_000).unwrap();
        assert_eq!(
            s,
            vec![(8_500, "1.5"), (9_000, "2"), (9_500, "2.5"), (10_000, "3")]
        );
        // Fractional rates and rounding to the millisecond.
        let s = samples("a b c", Some("3"), Some("3"), 1_000).unwrap();
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), [333, 667, 1_000]);
        let one = samples(" 7 ", Some("1"), Some("0.5"), 42).unwrap();
        assert_eq!(one, vec![(42, "7")]);
    }

    #[test]
    fn malformed_series_are_refused_without_their_values() {
        let v = "71.25 82.5";
        for (count, rate, want) in [
            (Some("3"), Some("10"), "sampleCount is 3 but 2 values"),
            (None, Some("10"), "without a sampleCount"),
            (Some("two"), Some("10"), "sampleCount is not"),
            (Some("0"), Some("10"), "sampleCount is not"),
            (Some("2"), None, "without its own sampleRate"),
            (Some("2"), Some("-5"), "sampleRate is not"),
            (Some("2"), Some("NaN"), "sampleRate is not"),
            (Some("2"), Some("2000"), "share a millisecond"),
        ] {
            let e = samples(v, count, rate, 0).unwrap_err();
            assert!(e.contains(want), "{count:?} {rate:?}: {e}");
            assert!(!e.contains("71.25") && !e.contains("82.5"), "{e}");
        }
    }

    #[test]
    fn time_series_elements_are_recognised() {
        assert!(is_time_series("PositionTimeSeries", None));
        assert!(is_time_series("Load", Some("TIME_SERIES")));
        assert!(!is_time_series("Load", Some("VALUE")));
    }

    proptest! {
        /// Any accepted series gives one distinct, increasing timestamp per value, the last
        /// one at the observation's timestamp.
        #[test]
        fn timestamps_are_distinct_and_end_at_the_observation(
            n in 1usize..200, rate in 0.01f64..1000.0, last in -1_000_000_000i128..1_000_000_000
        ) {
            let text = vec!["1"; n].join(" ");
            let s = samples(&text, Some(&n.to_string()), Some(&rate.to_string()), last).unwrap();
            prop_assert_eq!(s.len(), n);
            prop_assert_eq!(s[n - 1].0, last);
            prop_assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
