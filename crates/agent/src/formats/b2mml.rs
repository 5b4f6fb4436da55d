//! ISA-95 B2MML (V0600 / V0700 element names) production performance and job responses →
//! rows of the production-runs dataset (`schemas/production_runs.toml`, the one OEE reads;
//! columns as in [`crate::mes`]).
//!
//! # Which elements are rows
//!
//! - every `SegmentResponse` directly inside a `ProductionResponse` or an
//!   `OperationsResponse` (the root being `ProductionPerformance`, `OperationsPerformance`,
//!   or a B2MML verb such as `ShowProductionPerformance` whose `DataArea` holds them);
//! - every outermost `JobResponse` (the root itself, or inside `JobList`, `JobResponses`,
//!   `OperationsResponse`, a verb's `DataArea`); nested job responses are parts of their
//!   parent and not rows of their own.
//!
//! Namespace prefixes are ignored (`b2mml:ID` is `ID`), so V0600 and V0700 documents read
//! alike; element names are those of the published schemas.
//!
//! # Mapping (one row per response element `R`)
//!
//! | column | from |
//! |---|---|
//! | `run_id` | `R/ID`: a decimal integer, or the digits it ends in (`JR-1001` → 1001); unique in the document |
//! | `line` | `R/EquipmentActual/EquipmentID` (one distinct id), else `R/HierarchyScope/EquipmentID` |
//! | `shift` | the data item `Shift` (below), else from the hour of the start time as written: [06, 14) `early`, [14, 22) `late`, otherwise `night` |
//! | `product` | `MaterialDefinitionID` of the produced material (one distinct id) |
//! | `planned_min` | end − start: `ActualEndTime − ActualStartTime` (segment) or `EndTime − StartTime` (job), xs:dateTime with zone `Z`/`±hh:mm` or none (both alike) |
//! | `downtime_min` | the data item `Downtime` (0 when absent) |
//! | `run_min` | planned − downtime |
//! | `ideal_run_min` | total count × the data item `IdealCycleTime` (time per unit) |
//! | `total_count` | Σ `Quantity/QuantityString` of the produced materials |
//! | `good_count` | Σ per produced material: its `MaterialActualProperty` `GoodQuantity`, else its quantity − `ScrapQuantity` |
//!
//! Produced materials: `MaterialProducedActual` elements, and `MaterialActual` elements whose
//! `MaterialUse` is `Produced`. Data items: `ProductionData` / `SegmentData` (segment) or
//! `JobResponsetData` (job: the name the published schema declares; `JobResponseData` also read) elements, by
//! `ID`, value in `Value/ValueString`, unit in `Value/UnitOfMeasure`. Time items accept
//! the units `s`/`sec`, `min` (the default), `h`/`hr` (case ignored), are exact to the
//! millisecond, and become minutes rounded half away from zero to the column's scale.
//! Quantities take their text exactly (at most 6 decimals; the column's scale then decides).
//!
//! Every response is read; all problems (missing or repeated elements, text that is not a
//! number or a time, a value outside the column's range) are listed with line and path
//! and the document is refused whole. Messages never quote element text.

use std::collections::BTreeMap;

use dtfhe_model::Schema;

use super::xml::{self, Element};
use super::{
    check_rows, child_path, ratio_text, scale_of, DocRow, Document, DocumentNotes, FormatError,
    Micro, Problem,
};

/// Milliseconds per minute.
const MS_PER_MIN: i128 = 60_000;

/// Reads a B2MML document into production-run rows of `schema`.
pub fn read(bytes: &[u8], origin: &str, schema: &Schema) -> Result<Document, FormatError> {
    let root = xml::parse(bytes, origin)?;
    let mut responses = Vec::new();
    let root_path = format!("/{}", root.name);
    collect(&root, &root_path, &mut responses);
    if responses.is_empty() && !is_b2mml_root(&root.name) {
        return Err(FormatError::NotThisFormat {
            origin: origin.to_string(),
            format: "B2MML production performance or job response",
            reason: format!(
                "the root element is `{}`, holding no SegmentResponse or JobResponse",
                root.name
            ),
        });
    }
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    let mut ids: BTreeMap<i64, usize> = BTreeMap::new();
    for (el, path, kind) in &responses {
        let mut ctx = Ctx {
            problems: &mut problems,
            path: path.clone(),
        };
        if let Some(row) = response_row(el, *kind, schema, &mut ctx) {
            let id: i64 = row
                .fields
                .get("run_id")
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MIN);
            if let Some(first) = ids.insert(id, el.line) {
                ctx.problem(
                    el,
                    Some("run_id"),
                    format!("the run id repeats the response at line {first}"),
                );
                continue;
            }
            rows.push(row);
        }
    }
    let table = check_rows(&rows, problems, origin, schema)?;
    Ok(Document {
        table,
        notes: DocumentNotes::default(),
    })
}

fn is_b2mml_root(name: &str) -> bool {
    matches!(
        name,
        "ProductionPerformance" | "OperationsPerformance" | "WorkPerformance" | "JobResponse"
    ) || name.ends_with("ProductionPerformance")
        || name.ends_with("OperationsPerformance")
        || name.ends_with("JobResponse")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Segment,
    Job,
}

/// Finds the row elements (see the module doc), with their paths.
fn collect<'a>(el: &'a Element, path: &str, out: &mut Vec<(&'a Element, String, Kind)>) {
    if el.name == "JobResponse" {
        out.push((el, path.to_string(), Kind::Job));
        return;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &el.children {
        let n = seen.entry(c.name.as_str()).or_default();
        let p = child_path(path, &c.name, *n);
        *n += 1;
        if c.name == "SegmentResponse"
            && matches!(
                el.name.as_str(),
                "ProductionResponse" | "OperationsResponse"
            )
        {
            out.push((c, p, Kind::Segment));
        } else if c.name != "SegmentResponse" {
            collect(c, &p, out);
        }
    }
}

struct Ctx<'a> {
    problems: &'a mut Vec<Problem>,
    path: String,
}

impl Ctx<'_> {
    /// A problem at `at`: the response itself, or one of its elements (named after the
    /// response's path).
    fn problem(&mut self, at: &Element, column: Option<&str>, reason: String) {
        let path = if at.name == "SegmentResponse" || at.name == "JobResponse" {
            self.path.clone()
        } else {
            format!("{}/{}", self.path, at.name)
        };
        self.problems
            .push(Problem::new(at.line, path, column, reason));
    }
}

/// A data item (`ProductionData`, `SegmentData`, `JobResponseData`) by ID.
fn data_item<'a>(r: &'a Element, kind: Kind, id: &str) -> Option<&'a Element> {
    let names: &[&str] = match kind {
        Kind::Segment => &["ProductionData", "SegmentData"],
        Kind::Job => &["JobResponsetData", "JobResponseData"],
    };
    r.children
        .iter()
        .filter(|c| names.contains(&c.name.as_str()))
        .find(|c| c.child_text("ID") == Some(id))
}

/// Why a time or quantity element of a response cannot be read (a problem's reason: names
/// the element, never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Fault {
    /// A child element the quantity needs is absent.
    #[error("no {0}")]
    Missing(String),
    /// A value that must be a decimal number is not.
    #[error("{0} is not a decimal number")]
    NotDecimal(String),
    /// A time's unit is not one this reader converts.
    #[error("UnitOfMeasure is not s, min or h")]
    Unit,
    /// A negative time.
    #[error("a negative time")]
    Negative,
    /// Quantities whose sum overflows.
    #[error("quantity too large")]
    TooLarge,
    /// A produced material without the property that gives its good count.
    #[error("neither a GoodQuantity nor a ScrapQuantity property")]
    NoGoodCount,
}

/// The `Value` of a time data item, in milliseconds.
fn value_ms(item: &Element) -> Result<i128, Fault> {
    duration_ms(item.child("Value").ok_or(Fault::Missing("Value".into()))?)
}

/// A time quantity (value + unit) in milliseconds.
fn duration_ms(value: &Element) -> Result<i128, Fault> {
    let text = value
        .child_text("ValueString")
        .ok_or(Fault::Missing("Value/ValueString".into()))?;
    let v = Micro::parse(text).ok_or(Fault::NotDecimal("Value/ValueString".into()))?;
    let unit = value
        .child_text("UnitOfMeasure")
        .unwrap_or("min")
        .to_ascii_lowercase();
    let ms_per_unit: i128 = match unit.as_str() {
        "s" | "sec" | "second" | "seconds" => 1_000,
        "min" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        _ => return Err(Fault::Unit),
    };
    if v.0 < 0 {
        return Err(Fault::Negative);
    }
    Ok((v.0 * ms_per_unit + Micro::ONE / 2) / Micro::ONE)
}

/// A produced material's total and good quantity.
fn produced(m: &Element) -> Result<(Micro, Micro), Fault> {
    let mut total = Micro(0);
    let mut any = false;
    for q in m.all("Quantity") {
        let t = q
            .child_text("QuantityString")
            .ok_or(Fault::Missing("Quantity/QuantityString".into()))?;
        let v = Micro::parse(t).ok_or(Fault::NotDecimal("QuantityString".into()))?;
        total.0 = total.0.checked_add(v.0).ok_or(Fault::TooLarge)?;
        any = true;
    }
    if !any {
        return Err(Fault::Missing("Quantity".into()));
    }
    let prop = |id: &str| -> Result<Option<Micro>, Fault> {
        match m
            .all("MaterialActualProperty")
            .find(|p| p.child_text("ID") == Some(id))
        {
            None => Ok(None),
            Some(p) => {
                let t = p
                    .child("Value")
                    .and_then(|v| v.child_text("ValueString"))
                    .ok_or_else(|| Fault::Missing(format!("Value/ValueString of property {id}")))?;
                Micro::parse(t)
                    .map(Some)
                    .ok_or_else(|| Fault::NotDecimal(format!("property {id}")))
            }
        }
    };
    let good = match (prop("GoodQuantity")?, prop("ScrapQuantity")?) {
        (Some(g), _) => g,
        (None, Some(s)) => Micro(total.0 - s.0),
        (None, None) => return Err(Fault::NoGoodCount),
    };
    Ok((total, good))
}

fn response_row(r: &Element, kind: Kind, schema: &Schema, ctx: &mut Ctx<'_>) -> Option<DocRow> {
    let before = ctx.problems.len();
    let mut fields = BTreeMap::new();
    // run_id
    match r.child_text("ID") {
        None => ctx.problem(r, Some("run_id"), "no ID".into()),
        Some(id) => match run_id(id) {
            Some(n) => {
                fields.insert("run_id".to_string(), n.to_string());
            }
            None => ctx.problem(
                r.child("ID").unwrap_or(r),
                Some("run_id"),
                "ID is not an integer and does not end in digits".into(),
            ),
        },
    }
    // line
    let mut equipment: Vec<&str> = r
        .all("EquipmentActual")
        .filter_map(|e| e.child_text("EquipmentID"))
        .collect();
    equipment.sort_unstable();
    equipment.dedup();
    match equipment.as_slice() {
        [one] => {
            fields.insert("line".into(), (*one).to_string());
        }
        [] => match r
            .child("HierarchyScope")
            .and_then(|h| h.child_text("EquipmentID"))
        {
            Some(e) => {
                fields.insert("line".into(), e.to_string());
            }
            None => ctx.problem(
                r,
                Some("line"),
                "no EquipmentActual/EquipmentID nor HierarchyScope/EquipmentID".into(),
            ),
        },
        more => ctx.problem(
            r,
            Some("line"),
            format!("{} different EquipmentActual/EquipmentID", more.len()),
        ),
    }
    // times
    let (start_name, end_name) = match kind {
        Kind::Segment => ("ActualStartTime", "ActualEndTime"),
        Kind::Job => ("StartTime", "EndTime"),
    };
    let time = |ctx: &mut Ctx<'_>, name: &str| -> Option<(i128, u32)> {
        match r.child(name) {
            None => {
                ctx.problem(r, Some("planned_min"), format!("no {name}"));
                None
            }
            Some(el) => match parse_datetime(&el.text) {
                Some(t) => Some(t),
                None => {
                    ctx.problem(
                        el,
                        Some("planned_min"),
                        format!("{name} is not an xs:dateTime"),
                    );
                    None
                }
            },
        }
    };
    let start = time(ctx, start_name);
    let end = time(ctx, end_name);
    let planned_ms = match (start, end) {
        (Some((s, _)), Some((e, _))) if e >= s => Some(e - s),
        (Some(_), Some(_)) => {
            ctx.problem(
                r,
                Some("planned_min"),
                format!("{end_name} is before {start_name}"),
            );
            None
        }
        _ => None,
    };
    // shift
    match data_item(r, kind, "Shift") {
        Some(d) => match d.child("Value").and_then(|v| v.child_text("ValueString")) {
            Some(s) => {
                fields.insert("shift".into(), s.to_string());
            }
            None => ctx.problem(d, Some("shift"), "Shift has no Value/ValueString".into()),
        },
        None => {
            if let Some((_, hour)) = start {
                let shift = match hour {
                    6..=13 => "early",
                    14..=21 => "late",
                    _ => "night",
                };
                fields.insert("shift".into(), shift.into());
            }
        }
    }
    // produced material
    let materials: Vec<&Element> = r
        .children
        .iter()
        .filter(|c| {
            c.name == "MaterialProducedActual"
                || (c.name == "MaterialActual" && c.child_text("MaterialUse") == Some("Produced"))
        })
        .collect();
    let mut products: Vec<&str> = materials
        .iter()
        .filter_map(|m| m.child_text("MaterialDefinitionID"))
        .collect();
    products.sort_unstable();
    products.dedup();
    match products.as_slice() {
        [one] => {
            fields.insert("product".into(), (*one).to_string());
        }
        [] => ctx.problem(
            r,
            Some("product"),
            "no produced material with a MaterialDefinitionID".into(),
        ),
        more => ctx.problem(
            r,
            Some("product"),
            format!("{} different produced MaterialDefinitionID", more.len()),
        ),
    }
    let mut total = Some(Micro(0));
    let mut good = Some(Micro(0));
    for m in &materials {
        match produced(m) {
            Ok((t, g)) => {
                total = total.and_then(|x| x.0.checked_add(t.0).map(Micro));
                good = good.and_then(|x| x.0.checked_add(g.0).map(Micro));
            }
            Err(reason) => {
                ctx.problem(m, Some("total_count"), reason.to_string());
                total = None;
                good = None;
            }
        }
    }
    if materials.is_empty() {
        total = None;
        good = None;
    }
    if let (Some(t), Some(g)) = (total, good) {
        fields.insert("total_count".into(), t.text());
        fields.insert("good_count".into(), g.text());
    }
    // downtime, run, ideal run
    let downtime_ms = match data_item(r, kind, "Downtime") {
        None => Some(0),
        Some(d) => match value_ms(d) {
            Ok(ms) => Some(ms),
            Err(reason) => {
                ctx.problem(d, Some("downtime_min"), format!("Downtime: {reason}"));
                None
            }
        },
    };
    let minutes = |ms: i128, col: &str| ratio_text(ms, MS_PER_MIN, scale_of(schema, col));
    if let Some(p) = planned_ms {
        fields.insert("planned_min".into(), minutes(p, "planned_min"));
    }
    if let Some(d) = downtime_ms {
        fields.insert("downtime_min".into(), minutes(d, "downtime_min"));
    }
    if let (Some(p), Some(d)) = (planned_ms, downtime_ms) {
        fields.insert("run_min".into(), minutes(p - d, "run_min"));
    }
    match data_item(r, kind, "IdealCycleTime") {
        None => ctx.problem(
            r,
            Some("ideal_run_min"),
            "no IdealCycleTime data item".into(),
        ),
        Some(d) => match value_ms(d) {
            Ok(cycle_ms) => {
                if let Some(t) = total {
                    // total (millionths) × ms per unit → ms × 10⁶; minutes at the scale.
                    let num = t.0.saturating_mul(cycle_ms);
                    fields.insert(
                        "ideal_run_min".into(),
                        ratio_text(
                            num,
                            MS_PER_MIN * Micro::ONE,
                            scale_of(schema, "ideal_run_min"),
                        ),
                    );
                }
            }
            Err(reason) => ctx.problem(
                d,
                Some("ideal_run_min"),
                format!("IdealCycleTime: {reason}"),
            ),
        },
    }
    if ctx.problems.len() > before {
        return None;
    }
    Some(DocRow {
        line: r.line,
        path: ctx.path.clone(),
        fields,
        places: BTreeMap::new(),
    })
}

/// A decimal integer, or the digits an identifier ends in.
fn run_id(id: &str) -> Option<i64> {
    let id = id.trim();
    if let Ok(n) = id.parse::<i64>() {
        return Some(n);
    }
    let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    id[id.len() - digits..].parse().ok()
}

/// xs:dateTime → (milliseconds since 1970 UTC, the hour as written). Zone `Z`, `±hh:mm` or
/// none (taken as UTC); fractional seconds to the millisecond.
pub fn parse_datetime(text: &str) -> Option<(i128, u32)> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut ms: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        for (i, c) in frac.bytes().take(3).take(n).enumerate() {
            ms += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &frac[n..];
    }
    let offset_min: i64 = match rest {
        "" | "Z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let hh: i64 = z[1..3]
                .parse()
                .ok()
                .filter(|_| z[1..3].bytes().all(|c| c.is_ascii_digit()))?;
            let mm: i64 = z[4..6]
                .parse()
                .ok()
                .filter(|_| z[4..6].bytes().all(|c| c.is_ascii_digit()))?;
            if hh > 14 || mm > 59 {
                return None;
            }
            let m = hh * 60 + mm;
            if z.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3_600 + mi * 60 + s - offset_min * 60;
    Some((i128::from(secs) * 1_000 + i128::from(ms), h as u32))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testing::{encrypted, fixture, problem_lines, public, repo_schema, spliced};
    use super::*;
    use dtfhe_model::{Table, Value};
    use proptest::prelude::*;

    fn schema() -> Schema {
        repo_schema("production_runs.toml")
    }

    /// `name`'s fixture read.
    fn read_fixture(name: &str, s: &Schema) -> Result<Document, FormatError> {
        read(fixture(name).as_bytes(), name, s)
    }

    fn decoded(s: &Schema, t: &Table, name: &str) -> Vec<f64> {
        let codec = &s.column(name).unwrap().encrypted().unwrap().codec;
        let col = encrypted(t, name);
        col.values.iter().map(|&v| codec.decode(v)).collect()
    }

    #[test]
    fn production_performance_maps_every_segment_response() {
        let s = schema();
        let d = read_fixture("b2mml_production_performance.xml", &s).unwrap();
        let t = &d.table;
        assert_eq!(t.rows, 8);
        assert_eq!(public(t, "run_id")[0], Value::Int(1001));
        assert_eq!(
            public(t, "line")[..3],
            [
                Value::Text("L1".into()),
                Value::Text("L2".into()),
                Value::Text("L3".into())
            ]
        );
        // Shift from the start hour, or the Shift data item (response 2).
        assert_eq!(public(t, "shift")[0], Value::Text("early".into()));
        assert_eq!(public(t, "shift")[1], Value::Text("special".into()));
        assert_eq!(public(t, "shift")[2], Value::Text("night".into()));
        assert_eq!(public(t, "product")[0], Value::Text("housing-A".into()));
        // Response 1: 06:00–14:00, downtime 30 min, 7190 units at 2.4 s, scrap 195.
        let planned = decoded(&s, t, "planned_min");
        let down = decoded(&s, t, "downtime_min");
        let run = decoded(&s, t, "run_min");
        assert!(planned.iter().all(|&p| (p - 480.0).abs() < 1e-9));
        assert!((down[0] - 30.0).abs() < 1e-9);
        assert!((run[0] - 450.0).abs() < 1e-9);
        assert!((decoded(&s, t, "total_count")[0] - 7190.0).abs() < 1e-9);
        assert!((decoded(&s, t, "good_count")[0] - (7190.0 - 195.0)).abs() < 1e-9);
        assert!((decoded(&s, t, "ideal_run_min")[0] - 7190.0 * 2.4 / 60.0).abs() < 0.005);
        for i in 0..8 {
            assert!((planned[i] - down[i] - run[i]).abs() < 1e-9, "row {i}");
        }
    }

    #[test]
    fn job_responses_read_with_prefixes_and_zones() {
        let s = schema();
        let t = read_fixture("b2mml_job_response.xml", &s).unwrap().table;
        assert_eq!(t.rows, 5);
        assert_eq!(public(&t, "run_id")[4], Value::Int(2005));
        assert_eq!(public(&t, "line")[0], Value::Text("L4".into()));
        assert_eq!(public(&t, "shift")[0], Value::Text("early".into()));
        assert!(decoded(&s, &t, "planned_min")
            .iter()
            .all(|&p| (p - 270.0).abs() < 1e-9));
        assert!((decoded(&s, &t, "downtime_min")[2] - 10.0).abs() < 1e-9);
        assert!((decoded(&s, &t, "ideal_run_min")[0] - 150.0).abs() < 1e-9);
        assert!((decoded(&s, &t, "good_count")[1] - 2967.0).abs() < 1e-9);
    }

    #[test]
    fn every_bad_response_is_reported_by_line_and_path_without_values() {
        let e = read_fixture("b2mml_malformed.xml", &schema()).unwrap_err();
        let lines = problem_lines(&e, &["7190", "900", "750"]);
        assert_eq!(lines, [19, 46, 67, 79, 113], "{e}");
        let text = e.to_string();
        assert!(
            text.contains("/ProductionPerformance/ProductionResponse[1]/SegmentResponse[1]"),
            "{text}"
        );
        assert!(text.contains("column \"total_count\""), "{text}");
        assert!(text.contains("column \"downtime_min\""), "{text}");
    }

    #[test]
    fn not_well_formed_names_the_line() {
        let e = read_fixture("b2mml_not_well_formed.xml", &schema()).unwrap_err();
        assert!(matches!(e, FormatError::Xml { line: 19, .. }), "{e}");
        assert!(!e.to_string().contains("7190"), "{e}");
    }

    #[test]
    fn other_documents_are_not_b2mml() {
        let e = read(b"<html><body/></html>", "x", &schema()).unwrap_err();
        assert!(matches!(e, FormatError::NotThisFormat { .. }), "{e}");
        let e = read(b"<ProductionPerformance/>", "x", &schema()).unwrap_err();
        assert!(matches!(e, FormatError::NoRows { .. }), "{e}");
    }

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse_datetime("1970-01-01T01:00:00+01:00"), Some((0, 1)));
        assert_eq!(
            parse_datetime("2026-12-03T06:00:00.25"),
            parse_datetime("2026-12-03T06:00:00.250Z")
        );
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00Z").map(|t| t.0 % 86_400_000),
            Some(0)
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-12-03 06:00:00",
            "2026-12-03T06:00:00+1:00",
            "x",
            "2026-12-03T06:00:00.Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any byte soup, or the fixture with bytes changed, is refused or read, never a panic;
        /// an error never quotes a quantity of the fixture.
        #[test]
        fn hostile_input_never_panics(pos in 0usize..13_100, bytes in proptest::collection::vec(any::<u8>(), 0..16), soup in proptest::collection::vec(any::<u8>(), 0..256)) {
            let s = schema();
            let _ = read(&soup, "soup", &s);
            let doc = spliced(&fixture("b2mml_production_performance.xml"), pos, &bytes);
            if let Err(e) = read(&doc, "mutated", &s) {
                let text = e.to_string();
                prop_assert!(!text.contains("7190"), "{}", text);
            }
        }
    }
}
