//! Textbook two-pass floating-point statistics (mean first, then centred sums). Used for
//! public-column aggregates and by the plaintext reference evaluator; written independently of
//! the moment formulas in `finalize`, so comparing the two is a real check. NULL rules follow
//! PostgreSQL; "zero variance" is decided exactly (all values equal), not from rounded sums.

use crate::plan::AggFunc;

fn all_equal(v: impl Iterator<Item = f64>) -> bool {
    let mut first = None;
    for x in v {
        match first {
            None => first = Some(x),
            Some(f) if f != x => return false,
            _ => {}
        }
    }
    true
}

fn sum(v: impl Iterator<Item = f64>) -> f64 {
    // Neumaier compensated summation.
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for x in v {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    s + c
}

/// Single-column aggregate over the non-NULL values (COUNT is handled by the caller).
pub(crate) fn single(func: AggFunc, v: &[f64]) -> Option<f64> {
    let n = v.len() as f64;
    if v.is_empty() {
        return None;
    }
    let mean = sum(v.iter().copied()) / n;
    let ss = || {
        if all_equal(v.iter().copied()) {
            0.0
        } else {
            sum(v.iter().map(|x| (x - mean) * (x - mean)))
        }
    };
    match func {
        AggFunc::Count => Some(n),
        AggFunc::Sum => Some(sum(v.iter().copied())),
        AggFunc::Avg => Some(mean),
        AggFunc::VarPop => Some(ss() / n),
        AggFunc::StddevPop => Some((ss() / n).sqrt()),
        AggFunc::VarSamp if v.len() >= 2 => Some(ss() / (n - 1.0)),
        AggFunc::StddevSamp if v.len() >= 2 => Some((ss() / (n - 1.0)).sqrt()),
        _ => None,
    }
}

/// Pair aggregate over the (y, x) rows where both are non-NULL.
pub(crate) fn pair(func: AggFunc, v: &[(f64, f64)]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let my = sum(v.iter().map(|p| p.0)) / n;
    let mx = sum(v.iter().map(|p| p.1)) / n;
    let x_const = all_equal(v.iter().map(|p| p.1));
    let y_const = all_equal(v.iter().map(|p| p.0));
    let sxx = sum(v.iter().map(|p| (p.1 - mx) * (p.1 - mx)));
    let syy = sum(v.iter().map(|p| (p.0 - my) * (p.0 - my)));
    let sxy = if x_const || y_const {
        0.0
    } else {
        sum(v.iter().map(|p| (p.1 - mx) * (p.0 - my)))
    };
    match func {
        AggFunc::CovarPop => Some(sxy / n),
        AggFunc::CovarSamp if v.len() >= 2 => Some(sxy / (n - 1.0)),
        AggFunc::Corr if !x_const && !y_const => {
            Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
        }
        AggFunc::RegrSlope if !x_const => Some(sxy / sxx),
        AggFunc::RegrIntercept if !x_const => Some(my - sxy / sxx * mx),
        AggFunc::RegrR2 if !x_const => {
            if y_const {
                Some(1.0)
            } else {
                let r = sxy / (sxx.sqrt() * syy.sqrt());
                Some((r * r).min(1.0))
            }
        }
        _ => None,
    }
}
