//! The mapping file of `dtfhe agent --mqtt URL --map FILE` (TOML): which topic filters the
//! agent subscribes to, how their payloads are read (JSON or Sparkplug B), and where each
//! schema column's value comes from. Checked against the dataset schema before the agent
//! connects, so a typo fails at start naming the file and the key, not after hours of data.
//!
//! ```toml
//! version = 1
//! dataset = "press_telemetry"        # must be the schema's dataset
//!
//! [[topic]]
//! filter = "plant/+/press/telemetry" # MQTT topic filter (+ and # wildcards)
//! format = "json"                    # or "sparkplug"
//! qos = 1                            # 0 or 1 (1: at least once from the broker)
//! [topic.columns]
//! machine  = { topic_level = 1 }     # the topic's level 1 (0-based): "plant/<here>/..."
//! ts       = { field = "ts" }        # JSON: dotted path in the payload object
//! pressure = { field = "p.value" }
//! line     = { value = "L1" }        # a constant
//! # Sparkplug B: `{ metric = "Press/Pressure" }` (by name, aliases from the births) and
//! # `{ timestamp = true }` (the payload's timestamp, ms since the epoch)
//! ```
//!
//! Every schema column must be mapped in every topic, except nullable ones (NULL when absent).
//! A payload that is an array of JSON objects makes one row per object.

use std::collections::BTreeMap;

use dtfhe_model::Schema;
use serde::Deserialize;

use crate::live::mapfile::{exactly_one, MapFile};
pub use crate::live::mapfile::{MapError, MAP_VERSION};

/// Longest topic filter accepted, in bytes (MQTT allows 65535; ours are short).
const MAX_FILTER: usize = 1024;

/// How a topic's payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON object (one row) or array of objects (one row each).
    Json,
    /// An Eclipse Sparkplug B payload (protobuf), one row per DATA message.
    Sparkplug,
}

/// Where one column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// A JSON field (dotted path in the payload object).
    Field(Vec<String>),
    /// A Sparkplug metric, by name.
    Metric(String),
    /// A level of the topic (0-based).
    TopicLevel(usize),
    /// A constant text.
    Value(String),
    /// The Sparkplug payload's timestamp (ms since the epoch).
    Timestamp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    field: Option<String>,
    metric: Option<String>,
    topic_level: Option<usize>,
    value: Option<String>,
    timestamp: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    filter: String,
    format: Format,
    #[serde(default = "default_qos")]
    qos: u8,
    columns: BTreeMap<String, RawSource>,
}

fn default_qos() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    #[serde(rename = "version")]
    _version: serde::de::IgnoredAny,
    #[serde(rename = "dataset")]
    _dataset: serde::de::IgnoredAny,
    topic: Vec<RawTopic>,
}

/// One subscribed topic filter and how its messages become rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMap {
    /// The MQTT topic filter.
    pub filter: String,
    /// Payload encoding.
    pub format: Format,
    /// Subscription QoS (0 or 1).
    pub qos: u8,
    /// For each schema column (schema order), where its value comes from (`None`: NULL).
    pub columns: Vec<Option<ColumnSource>>,
}

/// A checked mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The dataset (equal to the schema's).
    pub dataset: String,
    /// The topics, in file order (the first whose filter matches a message reads it).
    pub topics: Vec<TopicMap>,
}

/// Whether `filter` is a valid MQTT topic filter (`#` only last and alone in its level, `+`
/// alone in its level, no NUL).
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > MAX_FILTER || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains('#') && !l.contains('+'),
    })
}

/// Whether `topic` matches the MQTT topic filter `filter`.
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return !topic.starts_with('$') || filter.starts_with('$'),
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Mapping {
    /// Parses and checks a mapping against `schema`; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str, schema: &Schema) -> Result<Mapping, MapError> {
        let file = MapFile::new(origin, schema);
        let raw: RawMap = file.parse(text)?;
        if raw.topic.is_empty() {
            return Err(file.fail("no [[topic]]"));
        }
        let mut topics = Vec::new();
        for (i, t) in raw.topic.into_iter().enumerate() {
            let at = format!("topic #{} (`{}`)", i + 1, t.filter);
            if !valid_filter(&t.filter) {
                return Err(file.fail(format!("{at}: not a valid MQTT topic filter")));
            }
            if t.qos > 1 {
                return Err(file.fail(format!("{at}: qos must be 0 or 1")));
            }
            let columns = file.columns(&format!("{at}, "), &t.columns, |_, _, raw, fail| {
                source(raw, t.format, fail)
            })?;
            topics.push(TopicMap {
                filter: t.filter,
                format: t.format,
                qos: t.qos,
                columns,
            });
        }
        Ok(Mapping {
            dataset: schema.dataset.clone(),
            topics,
        })
    }

    /// Reads and checks a mapping file.
    pub fn from_file(path: &std::path::Path, schema: &Schema) -> Result<Mapping, MapError> {
        crate::live::mapfile::read_file(path, |text, origin| {
            Mapping::from_toml_str(text, origin, schema)
        })
    }

    /// The topic map reading messages of `topic`, if any (the first match in file order).
    pub fn topic_for(&self, topic: &str) -> Option<&TopicMap> {
        self.topics.iter().find(|t| matches(&t.filter, topic))
    }
}

/// The source of one column as declared; `fail` turns what is wrong into the mapping's error
/// (naming the file, the topic and the column).
fn source(
    raw: &RawSource,
    format: Format,
    fail: &dyn Fn(&str) -> MapError,
) -> Result<ColumnSource, MapError> {
    exactly_one(
        &[
            ("field", raw.field.is_some()),
            ("metric", raw.metric.is_some()),
            ("topic_level", raw.topic_level.is_some()),
            ("value", raw.value.is_some()),
            ("timestamp", raw.timestamp.is_some()),
        ],
        fail,
    )?;
    Ok(if let Some(f) = &raw.field {
        if format != Format::Json {
            return Err(fail(
                "`field` reads JSON payloads; use `metric` for Sparkplug",
            ));
        }
        let path: Vec<String> = f.split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(fail(&format!(
                "`field = \"{f}\"` has an empty path segment"
            )));
        }
        ColumnSource::Field(path)
    } else if let Some(m) = &raw.metric {
        if format != Format::Sparkplug {
            return Err(fail(
                "`metric` reads Sparkplug payloads; use `field` for JSON",
            ));
        }
        ColumnSource::Metric(m.clone())
    } else if let Some(l) = raw.topic_level {
        ColumnSource::TopicLevel(l)
    } else if let Some(v) = &raw.value {
        ColumnSource::Value(v.clone())
    } else {
        if format != Format::Sparkplug || raw.timestamp != Some(true) {
            return Err(fail(
                "`timestamp = true` reads the Sparkplug payload's timestamp",
            ));
        }
        ColumnSource::Timestamp
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::live::mapfile::testing::{assert_refused, schema};

    /// The schema the tests map.
    fn press() -> Schema {
        schema(
            "press",
            "[[columns]]\nname = \"machine\"\nkind = \"public\"\ntype = \"text\"\n\
             [[columns]]\nname = \"p\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n\
             [[columns]]\nname = \"note\"\nkind = \"public\"\ntype = \"text\"\nnullable = true\n",
        )
    }

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(valid_filter("a/+/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a/b+/c"));
    }

    #[test]
    fn mapping_is_checked_against_the_schema() {
        let ok =
            "version = 1\ndataset = \"press\"\n[[topic]]\nfilter = \"f/+\"\nformat = \"json\"\n\
                  [topic.columns]\nmachine = { topic_level = 1 }\np = { field = \"v.p\" }\n";
        let m = Mapping::from_toml_str(ok, "m.toml", &press()).unwrap();
        assert_eq!(m.topics[0].columns[2], None);
        assert_eq!(
            m.topics[0].columns[1],
            Some(ColumnSource::Field(vec!["v".into(), "p".into()]))
        );
        assert!(m.topic_for("f/x").is_some());
        let cases = [
            (
                ok.replace("{ field = \"v.p\" }", "{ metric = \"x\" }"),
                "column `p`",
            ),
            (ok.replace("f/+", "f/#/x"), "topic filter"),
        ];
        assert_refused(&cases, |t| Mapping::from_toml_str(t, "m.toml", &press()));
    }
}
