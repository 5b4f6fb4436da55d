//! When scheduled reports are made: every N minutes, or at clock times as plants schedule
//! per shift (`oee@06:00,14:00,22:00`). Clock times are wall-clock times at one fixed UTC
//! offset (`--schedule-tz-offset`, default `+00:00`): a fixed offset has no daylight-saving
//! jumps, so a shift report never runs twice or not at all on the night the clocks change.
//!
//! The next run is computed by a pure function ([`next_run`]) of the current time, so it
//! is tested without a clock; the schedule loop (`app::run_schedules`) only sleeps until it.

use crate::error::DashboardError;
use std::time::Duration;

/// Minutes in a day.
const DAY_MINUTES: u16 = 24 * 60;

/// The largest UTC offset accepted (±14:00, the widest offset in use).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// The longest interval of `VIEW=MINUTES` (one week).
pub const MAX_INTERVAL_MINUTES: u64 = 7 * 24 * 60;

/// Clock times of a day (minutes after local midnight, strictly increasing, at least one)
/// at a fixed UTC offset. Only [`ShiftTimes::new`] makes one, so the invariants hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftTimes {
    minutes: Vec<u16>,
    offset_minutes: i32,
}

impl ShiftTimes {
    /// Times (minutes after local midnight) at `offset_minutes` east of UTC; refused unless
    /// non-empty, each below 24:00, strictly increasing, and the offset within ±14:00.
    pub fn new(minutes: Vec<u16>, offset_minutes: i32) -> Result<ShiftTimes, DashboardError> {
        if minutes.is_empty() {
            return Err(usage("no clock time given"));
        }
        if let Some(bad) = minutes.iter().find(|m| **m >= DAY_MINUTES) {
            return Err(usage(&format!(
                "{} is not a time of day",
                clock(i32::from(*bad))
            )));
        }
        if let Some(w) = minutes.windows(2).find(|w| w[0] >= w[1]) {
            return Err(order_error(w[0], w[1]));
        }
        check_offset(offset_minutes)?;
        Ok(ShiftTimes {
            minutes,
            offset_minutes,
        })
    }

    /// The same times at another UTC offset.
    pub fn at_offset(&self, offset_minutes: i32) -> Result<ShiftTimes, DashboardError> {
        ShiftTimes::new(self.minutes.clone(), offset_minutes)
    }

    /// The times, minutes after local midnight, in increasing order.
    pub fn minutes(&self) -> &[u16] {
        &self.minutes
    }

    /// The UTC offset, minutes east of UTC.
    pub fn offset_minutes(&self) -> i32 {
        self.offset_minutes
    }

    /// The first run strictly after `now_unix` (unix seconds): see [`next_run`].
    pub fn next_after(&self, now_unix: u64) -> u64 {
        next_run(now_unix, &self.minutes, self.offset_minutes)
    }
}

impl std::fmt::Display for ShiftTimes {
    /// `06:00,14:00,22:00 UTC+01:00`, as `--help` spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let times: Vec<String> = self.minutes.iter().map(|m| clock(i32::from(*m))).collect();
        write!(
            f,
            "{} UTC{}",
            times.join(","),
            offset_text(self.offset_minutes)
        )
    }
}

/// When a scheduled report is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every interval, counted from the dashboard's start (`VIEW=MINUTES`).
    Every(Duration),
    /// At these clock times every day (`VIEW@HH:MM,HH:MM`).
    At(ShiftTimes),
}

impl Schedule {
    /// How long to wait, from `now_unix`, before the next report: the interval, or until
    /// the next clock time.
    pub fn wait_from(&self, now_unix: u64) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::At(t) => Duration::from_secs(t.next_after(now_unix) - now_unix),
        }
    }
}

/// The first of `times` (minutes after local midnight, strictly increasing, non-empty) that
/// comes strictly after `now_unix`, in unix seconds, where local time is UTC plus
/// `offset_minutes`. Past the last time of the day it is the first time of the next day.
/// Strictly after: a run made at 06:00:00 does not find 06:00:00 again.
///
/// Pure (no clock): the schedule loop passes the time it woke at.
pub fn next_run(now_unix: u64, times: &[u16], offset_minutes: i32) -> u64 {
    let offset = i64::from(offset_minutes) * 60;
    let local = now_unix as i64 + offset;
    let day = local.div_euclid(86_400);
    let second = local.rem_euclid(86_400);
    let (day, minute) = match times.iter().find(|t| i64::from(**t) * 60 > second) {
        Some(t) => (day, *t),
        None => (day + 1, times.first().copied().unwrap_or(0)),
    };
    let at = day * 86_400 + i64::from(minute) * 60 - offset;
    // Strictly after now, so never before the epoch.
    at.max(now_unix as i64 + 1) as u64
}

/// `--schedule`'s value: `VIEW=MINUTES` (an interval) or `VIEW@HH:MM[,HH:MM…]` (clock times,
/// at UTC until [`ShiftTimes::at_offset`] moves them). Every error names what is wrong.
pub fn parse(spec: &str) -> Result<(String, Schedule), DashboardError> {
    let bad = |what: &str| DashboardError::Usage(format!("`{spec}`: {what}"));
    if let Some((view, times)) = spec.split_once('@') {
        check_view(view).map_err(|w| bad(&w.to_string()))?;
        let mut minutes = Vec::new();
        for part in times.split(',') {
            let m = parse_clock(part).map_err(|w| bad(&w.to_string()))?;
            if let Some(&last) = minutes.last() {
                if m <= last {
                    return Err(bad(&order_text(last, m)));
                }
            }
            minutes.push(m);
        }
        let times = ShiftTimes::new(minutes, 0).map_err(|e| bad(&e.to_string()))?;
        return Ok((view.to_string(), Schedule::At(times)));
    }
    let (view, minutes) = spec.split_once('=').ok_or_else(|| {
        bad("expected VIEW=MINUTES (e.g. oee=480) or VIEW@HH:MM,… (e.g. oee@06:00,14:00,22:00)")
    })?;
    check_view(view).map_err(|w| bad(&w.to_string()))?;
    let minutes: u64 = minutes
        .parse()
        .ok()
        .filter(|m| (1..=MAX_INTERVAL_MINUTES).contains(m))
        .ok_or_else(|| {
            bad(&format!(
                "MINUTES `{minutes}` must be a whole number from 1 to {MAX_INTERVAL_MINUTES}"
            ))
        })?;
    Ok((
        view.to_string(),
        Schedule::Every(Duration::from_secs(minutes * 60)),
    ))
}

/// `--schedule-tz-offset`: `+HH:MM` or `-HH:MM` (or `Z`, UTC), minutes east of UTC.
pub fn parse_offset(text: &str) -> Result<i32, DashboardError> {
    let bad = |what: &str| DashboardError::Usage(format!("`{text}`: {what}"));
    if text == "Z" || text == "z" {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad("expected +HH:MM or -HH:MM, e.g. +01:00")),
    };
    let m = parse_clock(rest).map_err(|w| bad(&format!("{w} (expected +HH:MM or -HH:MM)")))?;
    let offset = sign * i32::from(m);
    check_offset(offset).map_err(|e| bad(&e.to_string()))?;
    Ok(offset)
}

fn usage(what: &str) -> DashboardError {
    DashboardError::Usage(what.to_string())
}

/// What is wrong with one part of a schedule value (the caller names the whole value).
#[derive(Debug, thiserror::Error)]
enum PartError {
    /// Nothing before the `@` or `=`.
    #[error("no VIEW before the `@` or `=`")]
    NoView,
    /// Not a clock time.
    #[error("`{0}` is not a time HH:MM (00:00 to 23:59)")]
    NotAClock(String),
}

fn check_view(view: &str) -> Result<(), PartError> {
    if view.is_empty() {
        return Err(PartError::NoView);
    }
    Ok(())
}

fn check_offset(offset: i32) -> Result<(), DashboardError> {
    if offset.abs() > MAX_OFFSET_MINUTES {
        return Err(usage(&format!(
            "the UTC offset {} is beyond ±14:00",
            offset_text(offset)
        )));
    }
    Ok(())
}

/// `HH:MM` (hours 0 to 23, one or two digits; minutes two digits) as minutes after midnight.
fn parse_clock(part: &str) -> Result<u16, PartError> {
    let wrong = || PartError::NotAClock(part.to_string());
    let (h, m) = part.split_once(':').ok_or_else(wrong)?;
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return Err(wrong());
    }
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| wrong())?,
        m.parse().map_err(|_| wrong())?,
    );
    if h > 23 || m > 59 {
        return Err(wrong());
    }
    Ok(h * 60 + m)
}

/// `HH:MM` of minutes after midnight.
fn clock(minutes: i32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn offset_text(offset: i32) -> String {
    format!(
        "{}{}",
        if offset < 0 { '-' } else { '+' },
        clock(offset.abs())
    )
}

fn order_text(before: u16, after: u16) -> String {
    if before == after {
        format!(
            "{} is given twice: list each time once",
            clock(i32::from(after))
        )
    } else {
        format!(
            "{} comes after {}: list the times in increasing order within the day",
            clock(i32::from(after)),
            clock(i32::from(before))
        )
    }
}

fn order_error(before: u16, after: u16) -> DashboardError {
    usage(&order_text(before, after))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2026-12-02 00:00:00 UTC.
    const DAY: u64 = 1_796_169_600;
    const SHIFTS: [u16; 3] = [6 * 60, 14 * 60, 22 * 60];

    fn at(h: u64, m: u64) -> u64 {
        DAY + h * 3600 + m * 60
    }

    #[test]
    fn the_day_starts_where_expected() {
        assert_eq!(crate::html::utc(DAY), "2026-12-02 00:00:00 UTC");
    }

    #[test]
    fn the_next_shift_of_the_same_day() {
        assert_eq!(next_run(at(0, 0), &SHIFTS, 0), at(6, 0));
        assert_eq!(next_run(at(5, 59), &SHIFTS, 0), at(6, 0));
        assert_eq!(next_run(at(6, 1), &SHIFTS, 0), at(14, 0));
        assert_eq!(next_run(at(13, 0), &SHIFTS, 0), at(14, 0));
        assert_eq!(next_run(at(21, 59) + 59, &SHIFTS, 0), at(22, 0));
    }

    #[test]
    fn exactly_at_a_time_is_the_next_one() {
        // A run made at 06:00:00 sleeps until 14:00, not 0 s.
        assert_eq!(next_run(at(6, 0), &SHIFTS, 0), at(14, 0));
        assert_eq!(next_run(at(22, 0), &SHIFTS, 0), at(24 + 6, 0));
    }

    #[test]
    fn past_the_last_time_wraps_to_the_first_of_the_next_day() {
        assert_eq!(next_run(at(22, 0) + 1, &SHIFTS, 0), at(24 + 6, 0));
        assert_eq!(next_run(at(23, 59) + 59, &SHIFTS, 0), at(24 + 6, 0));
        // One time a day: the same time tomorrow.
        assert_eq!(next_run(at(12, 0), &[12 * 60], 0), at(24 + 12, 0));
        // Midnight itself is a time.
        assert_eq!(next_run(at(23, 30), &[0, 12 * 60], 0), at(24, 0));
        assert_eq!(next_run(at(24, 0), &[0, 12 * 60], 0), at(24 + 12, 0));
    }

    #[test]
    fn a_utc_offset_moves_the_times() {
        // 06:00 at UTC+01:00 is 05:00 UTC.
        assert_eq!(next_run(at(0, 0), &SHIFTS, 60), at(5, 0));
        assert_eq!(next_run(at(5, 0), &SHIFTS, 60), at(13, 0));
        // 22:00 at UTC+01:00 is 21:00 UTC; after it, 06:00 local tomorrow = 05:00 UTC.
        assert_eq!(next_run(at(21, 30), &SHIFTS, 60), at(24 + 5, 0));
        // West of UTC the local day is still the previous one: 23:00 UTC on the 2nd is
        // 17:30 on the 2nd at -05:30; next is 22:00 local = 03:30 UTC on the 3rd.
        assert_eq!(next_run(at(23, 0), &SHIFTS, -330), at(24 + 3, 30));
        // 00:30 UTC on the 2nd is 19:00 on the 1st at -05:30: 22:00 local = 03:30 UTC.
        assert_eq!(next_run(at(0, 30), &SHIFTS, -330), at(3, 30));
        // East, across midnight: 23:30 UTC is 09:30 next day at +10:00; next is 14:00
        // local = 04:00 UTC the next day.
        assert_eq!(next_run(at(23, 30), &SHIFTS, 600), at(24 + 4, 0));
    }

    #[test]
    fn the_next_run_is_always_within_a_day_and_strictly_after() {
        for offset in [-840, -330, 0, 60, 345, 840] {
            for step in 0..(2 * 24 * 12) {
                let now = DAY + step * 300 + 7;
                let next = next_run(now, &SHIFTS, offset);
                assert!(next > now && next - now <= 86_400, "{now} {offset}: {next}");
                let local_minute = ((next as i64 + i64::from(offset) * 60).rem_euclid(86_400)) / 60;
                assert!(SHIFTS.contains(&(local_minute as u16)), "{local_minute}");
            }
        }
    }

    #[test]
    fn clock_times_parse() {
        let (view, s) = parse("oee@06:00,14:00,22:00").unwrap();
        assert_eq!(view, "oee");
        let Schedule::At(t) = s else { panic!("{s:?}") };
        assert_eq!(t.minutes(), &SHIFTS);
        assert_eq!(t.offset_minutes(), 0);
        assert_eq!(t.to_string(), "06:00,14:00,22:00 UTC+00:00");
        let t = t.at_offset(-330).unwrap();
        assert_eq!(t.to_string(), "06:00,14:00,22:00 UTC-05:30");
        let (_, s) = parse("alarms@6:30").unwrap();
        assert_eq!(s, Schedule::At(ShiftTimes::new(vec![390], 0).unwrap()));
        let (_, s) = parse("oee=480").unwrap();
        assert_eq!(s, Schedule::Every(Duration::from_secs(480 * 60)));
    }

    fn refusal(spec: &str) -> String {
        match parse(spec) {
            Err(DashboardError::Usage(m)) => m,
            other => panic!("{spec}: {other:?}"),
        }
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_bad_part() {
        let m = refusal("oee@14:00,06:00,22:00");
        assert!(
            m.contains("06:00 comes after 14:00") && m.contains("increasing"),
            "{m}"
        );
        let m = refusal("oee@06:00,14:00,14:00");
        assert!(m.contains("14:00 is given twice"), "{m}");
        for (spec, part) in [
            ("oee@24:00", "`24:00`"),
            ("oee@06:60", "`06:60`"),
            ("oee@6", "`6`"),
            ("oee@06:00,", "``"),
            ("oee@06:00,,14:00", "``"),
            ("oee@", "``"),
            ("oee@06h00", "`06h00`"),
            ("oee@+6:00", "`+6:00`"),
            ("oee@06:0", "`06:0`"),
            ("oee@006:00", "`006:00`"),
        ] {
            let m = refusal(spec);
            assert!(m.contains(part) && m.contains("HH:MM"), "{spec}: {m}");
            assert!(m.starts_with(&format!("`{spec}`")), "{spec}: {m}");
        }
        let m = refusal("@06:00");
        assert!(m.contains("no VIEW"), "{m}");
        let m = refusal("oee");
        assert!(
            m.contains("VIEW=MINUTES") && m.contains("VIEW@HH:MM"),
            "{m}"
        );
        for spec in ["oee=0", "oee=x", "oee=10081", "oee=-5"] {
            let m = refusal(spec);
            assert!(
                m.contains("MINUTES") && m.contains("from 1 to 10080"),
                "{m}"
            );
        }
    }

    #[test]
    fn offsets_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_offset("+01:00").unwrap(), 60);
        assert_eq!(parse_offset("-05:30").unwrap(), -330);
        assert_eq!(parse_offset("+00:00").unwrap(), 0);
        assert_eq!(parse_offset("Z").unwrap(), 0);
        assert_eq!(parse_offset("+14:00").unwrap(), 840);
        for bad in ["01:00", "+1", "+15:00", "+01:60", "", "+", "UTC+1"] {
            match parse_offset(bad) {
                Err(DashboardError::Usage(m)) => {
                    assert!(m.starts_with(&format!("`{bad}`")), "{bad}: {m}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn shift_times_keep_their_invariants() {
        assert!(ShiftTimes::new(vec![], 0).is_err());
        assert!(ShiftTimes::new(vec![1440], 0).is_err());
        assert!(ShiftTimes::new(vec![600, 300], 0).is_err());
        assert!(ShiftTimes::new(vec![300, 300], 0).is_err());
        assert!(ShiftTimes::new(vec![300], 900).is_err());
    }

    #[test]
    fn the_wait_is_the_interval_or_until_the_next_time() {
        let every = Schedule::Every(Duration::from_secs(90));
        assert_eq!(every.wait_from(at(3, 0)), Duration::from_secs(90));
        let shifts = Schedule::At(ShiftTimes::new(SHIFTS.to_vec(), 0).unwrap());
        assert_eq!(shifts.wait_from(at(5, 0)), Duration::from_secs(3600));
        assert_eq!(shifts.wait_from(at(23, 0)), Duration::from_secs(7 * 3600));
    }
}
