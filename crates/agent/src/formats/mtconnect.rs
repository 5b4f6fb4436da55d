//! MTConnectStreams documents (an agent's `/sample?from=N` or `/current` response) → rows
//! of a machine dataset (e.g. `schemas/mtconnect_machine.toml`).
//!
//! # Mapping: by the schema
//!
//! A column's `source` (the CSV header name it would be read from) names what fills it:
//!
//! | `source` | value |
//! |---|---|
//! | `@device` | the `DeviceStream`'s `name` |
//! | `@timestamp` | the observations' `timestamp`, as milliseconds since 1970 UTC (integer) |
//! | `@sequence` | the lowest `sequence` of the row's observations (a unique row key) |
//! | anything else | the `dataItemId` of an observation: its text (samples, events), or for a condition its element name (`Normal`, `Warning`, `Fault`) |
//!
//! # Rows
//!
//! Observations (elements with a `dataItemId` inside `Samples`, `Events` or `Condition`)
//! are grouped by (device, timestamp): one row per device and distinct timestamp, holding
//! every mapped data item observed at that instant; data items not observed then are NULL
//! (so data item columns should be `nullable`). A value `UNAVAILABLE` (and a condition
//! `Unavailable`) is counted in [`DocumentNotes::unavailable`] and never stored: the
//! column stays NULL, and a row left with no data item value is not made at all.
//! Observations of data items no column names are counted in [`DocumentNotes::unmapped`].
//! The header's `nextSequence` is returned in [`DocumentNotes::next_sequence`]: the
//! `from` of the next `/sample` poll.
//!
//! A `TIME_SERIES` observation (`<…TimeSeries sampleCount="n" sampleRate="Hz">v1 v2 …`)
//! gives one value per sample, each at its own instant: the observation's timestamp is the
//! last sample's, the others 1/`sampleRate` s apart before it (rounded to the ms; see
//! [`super::time_series`]); they join the rows of those instants, and all carry the
//! observation's sequence (so `@sequence` with `@timestamp` identifies such a row). A value
//! of a sample that fails the column's check is reported at `…TimeSeries[i], sample k`; a
//! sample `UNAVAILABLE` is counted as an unavailable observation and never stored.
//!
//! Problems (an observation without a timestamp or sequence, one data item observed twice
//! at one instant, a `TIME_SERIES` without its own `sampleRate`, with a `sampleCount` that
//! is not the number of its values or a rate above 1 kHz, a value out of range) are all
//! listed with line and path; the document is then refused whole. An `MTConnectError`
//! document is refused with its error codes.

use std::collections::BTreeMap;

use dtfhe_model::Schema;

use super::b2mml::parse_datetime;
use super::{check_rows, child_path, DocRow, Document, DocumentNotes, FormatError, Problem};
use super::{time_series, xml};

/// `source` of the column holding the device name.
pub const SOURCE_DEVICE: &str = "@device";
/// `source` of the column holding the timestamp (ms since 1970 UTC).
pub const SOURCE_TIMESTAMP: &str = "@timestamp";
/// `source` of the column holding the row's lowest sequence number.
pub const SOURCE_SEQUENCE: &str = "@sequence";
/// The value of an observation the agent could not read.
pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// One row being gathered: where, its sequence and its values by column.
struct Gather {
    line: usize,
    path: String,
    sequence: u64,
    values: BTreeMap<String, (String, usize, String)>,
}

/// Reads an MTConnectStreams document into rows of `schema`.
pub fn read(bytes: &[u8], origin: &str, schema: &Schema) -> Result<Document, FormatError> {
    let root = xml::parse(bytes, origin)?;
    if root.name == "MTConnectError" {
        let codes: Vec<&str> = root
            .child("Errors")
            .map(|e| {
                e.children
                    .iter()
                    .filter_map(|c| c.attr("errorCode"))
                    .collect()
            })
            .unwrap_or_default();
        return Err(FormatError::NotThisFormat {
            origin: origin.to_string(),
            format: "MTConnectStreams",
            reason: format!(
                "the agent answered an MTConnectError ({})",
                codes.join(", ")
            ),
        });
    }
    if root.name != "MTConnectStreams" {
        return Err(FormatError::NotThisFormat {
            origin: origin.to_string(),
            format: "MTConnectStreams",
            reason: format!("the root element is `{}`", root.name),
        });
    }
    let root_path = "/MTConnectStreams".to_string();
    let mut problems = Vec::new();
    let mut notes = DocumentNotes::default();
    match root.child("Header") {
        None => problems.push(Problem {
            line: root.line,
            path: root_path.clone(),
            column: None,
            reason: "no Header".into(),
        }),
        Some(h) => match h.attr("nextSequence").map(str::parse::<u64>) {
            Some(Ok(n)) => notes.next_sequence = Some(n),
            _ => problems.push(Problem {
                line: h.line,
                path: format!("{root_path}/Header"),
                column: None,
                reason: "no integer nextSequence attribute".into(),
            }),
        },
    }
    // data item id → column name
    let ([device_col, time_col, seq_col], by_item) =
        super::columns_by_source(schema, [SOURCE_DEVICE, SOURCE_TIMESTAMP, SOURCE_SEQUENCE]);
    let mut rows: BTreeMap<(String, i128), Gather> = BTreeMap::new();
    let mut seq_seen: BTreeMap<u64, usize> = BTreeMap::new();
    let streams = root.child("Streams");
    for (dev_index, device) in streams
        .iter()
        .flat_map(|s| s.all("DeviceStream"))
        .enumerate()
    {
        let dpath = child_path(&format!("{root_path}/Streams"), "DeviceStream", dev_index);
        let Some(dname) = device.attr("name") else {
            problems.push(Problem {
                line: device.line,
                path: dpath,
                column: None,
                reason: "DeviceStream without a name".into(),
            });
            continue;
        };
        for (ci, comp) in device.all("ComponentStream").enumerate() {
            let cpath = child_path(&dpath, "ComponentStream", ci);
            for container in &comp.children {
                if !matches!(container.name.as_str(), "Samples" | "Events" | "Condition") {
                    continue;
                }
                let kpath = format!("{cpath}/{}", container.name);
                let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
                for obs in &container.children {
                    let n = seen.entry(obs.name.as_str()).or_default();
                    let opath = child_path(&kpath, &obs.name, *n);
                    *n += 1;
                    let Some(item) = obs.attr("dataItemId") else {
                        continue;
                    };
                    let Some(&column) = by_item.get(item) else {
                        notes.unmapped += 1;
                        continue;
                    };
                    let mut problem = |reason: String| {
                        problems.push(Problem {
                            line: obs.line,
                            path: opath.clone(),
                            column: Some(column.to_string()),
                            reason,
                        })
                    };
                    let Some(sequence) = obs.attr("sequence").and_then(|s| s.parse::<u64>().ok())
                    else {
                        problem("no integer sequence attribute".into());
                        continue;
                    };
                    if let Some(first) = seq_seen.insert(sequence, obs.line) {
                        problem(format!("sequence repeats the observation at line {first}"));
                        continue;
                    }
                    let Some((ms, _)) = obs.attr("timestamp").and_then(parse_datetime) else {
                        problem("no timestamp attribute in xs:dateTime form".into());
                        continue;
                    };
                    let value = if container.name == "Condition" {
                        if obs.name == "Unavailable" {
                            UNAVAILABLE
                        } else {
                            obs.name.as_str()
                        }
                    } else {
                        obs.text.as_str()
                    };
                    if value.trim() == UNAVAILABLE {
                        notes.unavailable += 1;
                        continue;
                    }
                    // (instant, value, path) of each value the observation holds: one, or
                    // one per sample of a TIME_SERIES (see `time_series`).
                    let observed: Vec<(i128, &str, String)> = if container.name != "Condition"
                        && time_series::is_time_series(&obs.name, obs.attr("representation"))
                    {
                        match time_series::samples(
                            value,
                            obs.attr("sampleCount"),
                            obs.attr("sampleRate"),
                            ms,
                        ) {
                            Ok(s) => s
                                .into_iter()
                                .enumerate()
                                .map(|(k, (at, v))| (at, v, format!("{opath}, sample {}", k + 1)))
                                .collect(),
                            Err(reason) => {
                                problem(reason);
                                continue;
                            }
                        }
                    } else {
                        vec![(ms, value, opath.clone())]
                    };
                    for (at, value, vpath) in observed {
                        if value == UNAVAILABLE {
                            notes.unavailable += 1;
                            continue;
                        }
                        let row = rows
                            .entry((dname.to_string(), at))
                            .or_insert_with(|| Gather {
                                line: obs.line,
                                path: vpath.clone(),
                                sequence,
                                values: BTreeMap::new(),
                            });
                        row.sequence = row.sequence.min(sequence);
                        if let Some((_, first, _)) = row
                            .values
                            .insert(column.to_string(), (value.to_string(), obs.line, vpath))
                        {
                            problem(format!(
                                "the data item is observed twice at one instant (also line {first})"
                            ));
                        }
                    }
                }
            }
        }
    }
    let rows: Vec<DocRow> = rows
        .into_iter()
        .map(|((device, ms), g)| {
            let mut fields = BTreeMap::new();
            let mut places = BTreeMap::new();
            for (c, (v, line, path)) in g.values {
                fields.insert(c.clone(), v);
                places.insert(c, (line, path));
            }
            if let Some(c) = device_col {
                fields.insert(c.to_string(), device);
            }
            if let Some(c) = time_col {
                fields.insert(c.to_string(), ms.to_string());
            }
            if let Some(c) = seq_col {
                fields.insert(c.to_string(), g.sequence.to_string());
            }
            DocRow {
                line: g.line,
                path: g.path,
                fields,
                places,
            }
        })
        .collect();
    if rows.is_empty() && problems.is_empty() {
        // Nothing to store (e.g. every value UNAVAILABLE): an empty table, not an error.
        return Ok(Document {
            table: empty_table(schema),
            notes,
        });
    }
    let table = check_rows(&rows, problems, origin, schema)?;
    Ok(Document { table, notes })
}

/// A table of no rows with `schema`'s columns.
pub(crate) fn empty_table(schema: &Schema) -> dtfhe_model::Table {
    use dtfhe_model::{EncodedColumn, PublicColumn};
    dtfhe_model::Table {
        rows: 0,
        public: schema
            .columns
            .iter()
            .filter(|c| !c.is_encrypted())
            .map(|c| PublicColumn {
                name: c.name.clone(),
                values: Vec::new(),
            })
            .collect(),
        encrypted: schema
            .columns
            .iter()
            .filter(|c| c.is_encrypted())
            .map(|c| EncodedColumn {
                name: c.name.clone(),
                values: Vec::new(),
                present: Vec::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testing::{fixture, problem_lines, repo_schema, spliced};
    use super::*;
    use dtfhe_model::Value;
    use proptest::prelude::*;

    fn schema() -> Schema {
        repo_schema("mtconnect_machine.toml")
    }

    /// Fixture `name` read against the machine schema.
    fn read_fixture(name: &str) -> Result<Document, FormatError> {
        read(fixture(name).as_bytes(), name, &schema())
    }

    #[test]
    fn sample_rows_by_instant_unavailable_counted_never_stored() {
        let s = schema();
        let d = read(fixture("mtconnect_sample.xml").as_bytes(), "sample.xml", &s).unwrap();
        assert_eq!(d.table.rows, 12);
        assert_eq!(d.notes.unavailable, 5);
        assert_eq!(d.notes.unmapped, 2);
        assert_eq!(d.notes.next_sequence, Some(158));
        let col = |n: &str| d.table.encrypted.iter().find(|c| c.name == n).unwrap();
        // Row 5 had its load UNAVAILABLE: NULL, not a value.
        assert_eq!(
            col("spindle_load").present.iter().filter(|p| !**p).count(),
            1
        );
        assert!(!col("spindle_load").present[4]);
        assert_eq!(col("part_count").present.iter().filter(|p| **p).count(), 3);
        let public = |n: &str| &d.table.public.iter().find(|c| c.name == n).unwrap().values;
        assert_eq!(public("device")[0], Value::Text("VMC-3Axis".into()));
        assert_eq!(public("execution")[6], Value::Text("FEED_HOLD".into()));
        assert_eq!(public("ts_ms")[0], Value::Int(1_796_284_805_000));
    }

    #[test]
    fn every_bad_observation_is_reported_without_values() {
        let e = read_fixture("mtconnect_malformed.xml").unwrap_err();
        let lines = problem_lines(&e, &["250.5", "rpm", "226.946"]);
        assert_eq!(lines, [21, 24, 48, 51], "{e}");
        let text = e.to_string();
        assert!(
            text.contains(
                "/MTConnectStreams/Streams/DeviceStream[1]/ComponentStream[2]/Samples/Load[4]"
            ),
            "{text}"
        );
    }

    #[test]
    fn time_series_give_one_row_per_sample_ending_at_the_timestamp() {
        let d = read_fixture("mtconnect_timeseries.xml").unwrap();
        assert_eq!(d.table.rows, 8);
        assert_eq!((d.notes.unavailable, d.notes.unmapped), (1, 0));
        assert_eq!(d.notes.next_sequence, Some(206));
        let t0 = 1_796_284_800_000i64; // 2026-12-03T08:00:00Z
        let public = |n: &str| &d.table.public.iter().find(|c| c.name == n).unwrap().values;
        let ts: Vec<Value> = [500, 1000, 1500, 2000, 2500, 2750, 3000, 4500]
            .iter()
            .map(|ms| Value::Int(t0 + ms))
            .collect();
        assert_eq!(public("ts_ms"), &ts);
        let seq: Vec<Value> = [201, 201, 201, 201, 204, 204, 204, 205]
            .iter()
            .map(|s| Value::Int(*s))
            .collect();
        assert_eq!(public("seq"), &seq);
        let col = |n: &str| d.table.encrypted.iter().find(|c| c.name == n).unwrap();
        let present = |n: &str| col(n).present.clone();
        assert_eq!(
            present("spindle_load"),
            [1, 1, 1, 1, 0, 0, 0, 0].map(|p| p == 1)
        );
        // The spindle speed observed at 08:00:01 joins the series' second sample.
        assert_eq!(
            present("spindle_speed"),
            [0, 1, 0, 0, 0, 0, 0, 0].map(|p| p == 1)
        );
        assert_eq!(
            present("x_position"),
            [0, 0, 0, 0, 1, 1, 1, 1].map(|p| p == 1)
        );
        // The same rows as the CSV the samples spell out, value for value.
        let csv = "@device,@sequence,@timestamp,exec,Srpm,Sload,Xpos,pc\n\
            d,201,0,,,21.5,,\nd,201,0,,9000.5,22.0,,\nd,201,0,,,23.5,,\nd,201,0,,,24.5,,\n\
            d,204,0,,,,-12.125,\nd,204,0,,,,-12.5,\nd,204,0,,,,-12.875,\nd,205,0,,,,-13.000,\n";
        let expected = dtfhe_model::read_csv_bytes(csv.as_bytes(), "csv", &schema()).unwrap();
        for c in ["spindle_load", "spindle_speed", "x_position"] {
            let want = expected.encrypted.iter().find(|e| e.name == c).unwrap();
            assert_eq!(col(c).values, want.values, "{c}");
        }
    }

    #[test]
    fn malformed_time_series_are_each_reported_by_path_without_values() {
        let e = read_fixture("mtconnect_timeseries_malformed.xml").unwrap_err();
        let text = e.to_string();
        match e {
            FormatError::Rejected { problems, .. } => assert_eq!(
                problems.iter().map(|p| p.line).collect::<Vec<_>>(),
                [9, 10, 11, 12],
                "{text}"
            ),
            other => panic!("{other}"),
        }
        let base = "/MTConnectStreams/Streams/DeviceStream[1]/ComponentStream[1]/Samples";
        for (i, reason) in [
            (1, "sampleCount is 5 but 4 values are given"),
            (2, "a TIME_SERIES observation without its own sampleRate"),
            (3, "sampleRate above 1000 Hz"),
        ] {
            assert!(
                text.contains(&format!(
                    "{base}/LoadTimeSeries[{i}], column \"spindle_load\": {reason}"
                )),
                "{i}: {text}"
            );
        }
        assert!(
            text.contains(&format!(
                "{base}/LoadTimeSeries[4], sample 2, column \"spindle_load\""
            )),
            "{text}"
        );
        for secret in ["21.5", "31.5", "41.5", "250.5", "9100.5"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn agent_errors_and_other_documents_are_refused() {
        let e = read_fixture("mtconnect_error.xml").unwrap_err();
        assert!(e.to_string().contains("OUT_OF_RANGE"), "{e}");
        let e = read(b"<MTConnectDevices/>", "x", &schema()).unwrap_err();
        assert!(matches!(e, FormatError::NotThisFormat { .. }), "{e}");
    }

    #[test]
    fn all_unavailable_is_an_empty_table() {
        let doc = "<MTConnectStreams><Header nextSequence=\"9\"/><Streams><DeviceStream name=\"d\">\
            <ComponentStream><Samples><Load dataItemId=\"Sload\" timestamp=\"2026-12-03T08:00:00Z\" \
            sequence=\"3\">UNAVAILABLE</Load></Samples></ComponentStream></DeviceStream></Streams>\
            </MTConnectStreams>";
        let d = read(doc.as_bytes(), "x", &schema()).unwrap();
        assert_eq!(
            (d.table.rows, d.notes.unavailable, d.notes.next_sequence),
            (0, 1, Some(9))
        );
        // One sample of a series UNAVAILABLE: counted, the others read.
        let series = doc.replace(
            "<Load dataItemId=\"Sload\"",
            "<LoadTimeSeries sampleCount=\"3\" sampleRate=\"1\" dataItemId=\"Sload\"",
        );
        let series = series.replace(
            ">UNAVAILABLE</Load>",
            ">20.5 UNAVAILABLE 21.5</LoadTimeSeries>",
        );
        let d = read(series.as_bytes(), "x", &schema()).unwrap();
        assert_eq!((d.table.rows, d.notes.unavailable), (2, 1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Mutated documents are refused or read, never a panic.
        #[test]
        fn hostile_input_never_panics(pos in 0usize..8_600, bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let doc = spliced(&fixture("mtconnect_sample.xml"), pos, &bytes);
            let _ = read(&doc, "mutated", &schema());
        }
    }
}
