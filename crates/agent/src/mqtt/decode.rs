//! From one MQTT message to checked rows: the payload (JSON or Sparkplug B) is read through
//! the topic's mapping into one text per schema column, and each row is checked and encoded by
//! the model exactly as a CSV row would be (`dtfhe_model::read_csv_bytes`: types, ranges,
//! scale, nulls). A message that fails is refused whole with a reason that names the topic's
//! column but never quotes an encrypted value.

use dtfhe_model::{CsvOptions, Schema, Table, ThreadError};

use super::map::{ColumnSource, Format, TopicMap};
use super::sparkplug::{self, BirthState, Outcome};

/// Largest payload read, in bytes (larger ones are refused).
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Most rows one JSON message may carry.
pub const MAX_ROWS_PER_MESSAGE: usize = 4096;

/// One row before checking: each schema column's text (schema order), `None` for NULL.
pub type RawRow = Vec<Option<String>>;

/// What one message gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Rows to check and take.
    Rows(Vec<RawRow>),
    /// A Sparkplug birth or death: the alias tables changed.
    Certificate,
    /// Nothing to take (a message type without data).
    Nothing,
}

/// Why one message is refused whole: the payload's defect or the topic's column, never an
/// encrypted value. The agent logs it and counts the message as rejected; nothing of the
/// message is taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// `Refused(format!(…))`.
macro_rules! refused {
    ($($arg:tt)*) => {
        $crate::mqtt::decode::Refused(format!($($arg)*))
    };
}
pub(crate) use refused;

impl From<String> for Refused {
    fn from(reason: String) -> Self {
        Refused(reason)
    }
}

impl From<&str> for Refused {
    fn from(reason: &str) -> Self {
        Refused(reason.to_string())
    }
}

/// Reads a message of `topic` through its topic map. Errors never quote a value.
pub fn decode(
    t: &TopicMap,
    topic: &str,
    payload: &[u8],
    births: &mut BirthState,
) -> Result<Decoded, Refused> {
    if payload.len() > MAX_PAYLOAD {
        return Err(refused!(
            "payload of {} bytes is larger than {MAX_PAYLOAD}",
            payload.len()
        ));
    }
    let levels: Vec<&str> = topic.split('/').collect();
    match t.format {
        Format::Json => {
            let v: serde_json::Value = serde_json::from_slice(payload)
                .map_err(|e| refused!("not JSON: {}", json_reason(&e)))?;
            let objects: Vec<&serde_json::Value> = match &v {
                serde_json::Value::Array(a) => a.iter().collect(),
                o @ serde_json::Value::Object(_) => vec![o],
                _ => return Err("the payload is neither an object nor an array of objects".into()),
            };
            if objects.len() > MAX_ROWS_PER_MESSAGE {
                return Err(refused!(
                    "more than {MAX_ROWS_PER_MESSAGE} rows in one message"
                ));
            }
            let mut rows = Vec::with_capacity(objects.len());
            for (i, o) in objects.iter().enumerate() {
                if !o.is_object() {
                    return Err(refused!("array element {} is not an object", i + 1));
                }
                let row = t
                    .columns
                    .iter()
                    .map(|src| match src {
                        None => Ok(None),
                        Some(ColumnSource::Field(path)) => json_field(o, path),
                        Some(s) => common(s, &levels, None),
                    })
                    .collect::<Result<RawRow, Refused>>()?;
                rows.push(row);
            }
            Ok(Decoded::Rows(rows))
        }
        Format::Sparkplug => {
            let sp = sparkplug::parse_topic(topic).ok_or_else(|| {
                Refused::from("not a Sparkplug B topic (spBv1.0/group/type/node[/device])")
            })?;
            match births.apply(&sp, payload)? {
                Outcome::Certificate => Ok(Decoded::Certificate),
                Outcome::Ignored => Ok(Decoded::Nothing),
                Outcome::Data { timestamp, metrics } => {
                    let row = t
                        .columns
                        .iter()
                        .map(|src| match src {
                            None => Ok(None),
                            Some(ColumnSource::Metric(name)) => {
                                match metrics.iter().find(|(n, _)| n == name) {
                                    Some((_, v)) => Ok(v.clone()),
                                    None => Err(refused!("no metric `{name}` in the message")),
                                }
                            }
                            Some(s) => common(s, &levels, timestamp),
                        })
                        .collect::<Result<RawRow, Refused>>()?;
                    Ok(Decoded::Rows(vec![row]))
                }
            }
        }
    }
}

/// serde_json's error category and position, without the text it quotes.
fn json_reason(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

fn common(
    s: &ColumnSource,
    levels: &[&str],
    timestamp: Option<u64>,
) -> Result<Option<String>, Refused> {
    match s {
        ColumnSource::TopicLevel(l) => levels
            .get(*l)
            .map(|v| Some((*v).to_string()))
            .ok_or_else(|| refused!("the topic has no level {l}")),
        ColumnSource::Value(v) => Ok(Some(v.clone())),
        ColumnSource::Timestamp => timestamp
            .map(|t| Some(t.to_string()))
            .ok_or_else(|| Refused::from("the payload has no timestamp")),
        ColumnSource::Field(p) => Err(refused!(
            "`field = \"{}\"` in a Sparkplug topic",
            p.join(".")
        )),
        ColumnSource::Metric(m) => Err(refused!("`metric = \"{m}\"` in a JSON topic")),
    }
}

fn json_field(o: &serde_json::Value, path: &[String]) -> Result<Option<String>, Refused> {
    let mut v = o;
    for (i, seg) in path.iter().enumerate() {
        if !v.is_object() {
            return Err(refused!("`{}` is not an object", path[..i].join(".")));
        }
        match v.get(seg) {
            Some(next) => v = next,
            None if i + 1 == path.len() => return Ok(None),
            None => return Err(refused!("no field `{}`", path[..=i].join("."))),
        }
    }
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        serde_json::Value::Bool(b) => Ok(Some(u8::from(*b).to_string())),
        _ => Err(refused!(
            "field `{}` is not a number, text or boolean",
            path.join(".")
        )),
    }
}

/// Why a row was refused, without the origin (the topic is reported beside it).
pub fn row_reason(e: &ThreadError) -> String {
    match e {
        ThreadError::Csv {
            column: Some(c),
            reason,
            ..
        } => format!("column `{c}`: {reason}"),
        ThreadError::Csv { reason, .. } => reason.clone(),
        e => e.to_string(),
    }
}

/// Checks rows against the schema, each on its own, as a CSV row: the schema with a
/// comma-separated header layout, one header line of column names, one data line.
pub struct RowChecker {
    schema: Schema,
    header: Vec<u8>,
}

impl RowChecker {
    /// A checker for `schema`'s columns.
    pub fn new(schema: &Schema) -> RowChecker {
        let mut s = schema.clone();
        s.csv = CsvOptions {
            delimiter: Some(b','),
            header: true,
        };
        for c in &mut s.columns {
            c.source = c.name.clone();
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(s.columns.iter().map(|c| c.name.as_bytes()));
        let header = w.into_inner().unwrap_or_default();
        RowChecker { schema: s, header }
    }

    /// The row, checked and encoded, as a one-row table; the error names the column and the
    /// reason (never an encrypted value).
    pub fn check(&self, row: &RawRow, origin: &str) -> Result<Table, ThreadError> {
        if row.len() != self.schema.columns.len() {
            return Err(ThreadError::Csv {
                origin: origin.to_string(),
                line: 1,
                column: None,
                reason: "wrong column count".into(),
            });
        }
        let mut w = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(self.header.clone());
        let fields: Vec<&[u8]> = row
            .iter()
            .map(|f| f.as_deref().unwrap_or("").as_bytes())
            .collect();
        let bytes = w
            .write_record(&fields)
            .and_then(|()| w.into_inner().map_err(|e| e.into_error().into()))
            .map_err(|_| ThreadError::Csv {
                origin: origin.to_string(),
                line: 1,
                column: None,
                reason: "cannot lay the row out".into(),
            })?;
        dtfhe_model::read_csv_bytes(&bytes, origin, &self.schema)
    }
}

/// Appends the rows of `more` (same schema) to `to`.
pub fn append(to: &mut Table, more: Table) {
    to.rows += more.rows;
    for (a, b) in to.public.iter_mut().zip(more.public) {
        a.values.extend(b.values);
    }
    for (a, b) in to.encrypted.iter_mut().zip(more.encrypted) {
        a.values.extend(b.values);
        a.present.extend(b.present);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mqtt::map::Mapping;

    const SCHEMA: &str = "dataset = \"press\"\nstage = \"manufacturing\"\n\
        [[columns]]\nname = \"machine\"\nkind = \"public\"\ntype = \"text\"\n\
        [[columns]]\nname = \"p\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\nnullable = true\n";

    fn setup(map: &str) -> (Schema, Mapping) {
        let s = Schema::from_toml_str(SCHEMA, "s").unwrap();
        let m = Mapping::from_toml_str(map, "m", &s).unwrap();
        (s, m)
    }

    #[test]
    fn json_rows_are_checked_like_csv_rows_and_errors_do_not_quote_values() {
        let (s, m) = setup(
            "version = 1\ndataset = \"press\"\n[[topic]]\nfilter = \"f/+\"\nformat = \"json\"\n\
             [topic.columns]\nmachine = { topic_level = 1 }\np = { field = \"v.p\" }\n",
        );
        let t = &m.topics[0];
        let mut b = BirthState::default();
        let checker = RowChecker::new(&s);
        let Decoded::Rows(rows) =
            decode(t, "f/M,1", br#"[{"v":{"p":12.5}},{"v":{}}]"#, &mut b).unwrap()
        else {
            panic!()
        };
        assert_eq!(rows[0], vec![Some("M,1".into()), Some("12.5".into())]);
        assert_eq!(rows[1], vec![Some("M,1".into()), None]);
        let mut table = checker.check(&rows[0], "f/M,1").unwrap();
        append(&mut table, checker.check(&rows[1], "f/M,1").unwrap());
        assert_eq!(table.rows, 2);
        assert_eq!(table.encrypted[0].present, [true, false]);
        // Out of range: refused, naming the column, not quoting 4242.5.
        let Decoded::Rows(rows) = decode(t, "f/x", br#"{"v":{"p":4242.5}}"#, &mut b).unwrap()
        else {
            panic!()
        };
        let e = checker.check(&rows[0], "f/x").unwrap_err().to_string();
        assert!(e.contains("`p`") || e.contains("p"), "{e}");
        assert!(!e.contains("4242"), "{e}");
        // A string where a number is wanted: not quoted either.
        let Decoded::Rows(rows) = decode(t, "f/x", br#"{"v":{"p":"secret-77"}}"#, &mut b).unwrap()
        else {
            panic!()
        };
        let e = checker.check(&rows[0], "f/x").unwrap_err().to_string();
        assert!(!e.contains("secret-77"), "{e}");
        for bad in [
            &b"{"[..],
            b"12",
            br#"{"v":[1]}"#,
            br#"{"v":{"p":[1]}}"#,
            br#"{"v": "x"#,
        ] {
            let e = decode(t, "f/x", bad, &mut b);
            if let Ok(Decoded::Rows(rows)) = &e {
                assert!(checker.check(&rows[0], "f/x").is_err(), "{bad:?}");
            } else {
                assert!(e.is_err(), "{bad:?}");
            }
        }
        let e = decode(t, "f/x", br#"{"v":{"p":"sec\u0000ret"}, "x": "#, &mut b).unwrap_err();
        assert!(!e.0.contains("sec"), "{e}");
    }
}
