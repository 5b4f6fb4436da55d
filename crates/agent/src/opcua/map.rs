//! The mapping file of `dtfhe agent --opcua URL --map FILE` (TOML): the subscription's
//! intervals and, per schema column, the OPC UA node it reads. Checked against the dataset
//! schema before the agent connects, so a typo fails at start naming the file and the key.
//!
//! ```toml
//! version = 1
//! dataset = "spindle"                    # must be the schema's dataset
//!
//! [subscription]
//! publishing_interval_ms = 200           # how often the server sends notifications
//! sampling_interval_ms = 50              # default for every node (0: every change)
//! queue_size = 100                       # values a node may queue between publishes
//!
//! [columns]
//! machine     = { value = "M1" }                            # a constant
//! ts          = { source_timestamp = true }                 # ms since the epoch
//! temp        = { node = "ns=2;s=Machine.SpindleTemp" }
//! vibration   = { node = "ns=2;s=Machine.Vibration", sampling_interval_ms = 100 }
//! ```
//!
//! An optional `[security]` table asks for `Basic256Sha256` with certificates (see
//! [`super::security`]; relative paths there are taken from the mapping file's directory).
//!
//! Every schema column must be mapped, except nullable ones (NULL). Values of the mapped
//! nodes that carry the same source timestamp form one row (see [`super::rows`]).

use std::collections::BTreeMap;
use std::str::FromStr as _;

use dtfhe_model::Schema;
use opcua::types::NodeId;
use serde::Deserialize;

use crate::live::mapfile::{exactly_one, MapFile};
pub use crate::live::mapfile::{MapError, MAP_VERSION};

/// Most nodes one mapping may monitor (a schema has far fewer columns).
const MAX_NODES: usize = 1024;

/// Longest node id text accepted, in bytes.
const MAX_NODE_ID: usize = 4096;

/// Where one column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSource {
    /// A node's value (its index in [`Mapping::nodes`]).
    Node(usize),
    /// A constant text.
    Value(String),
    /// The row's source timestamp, in ms since the epoch.
    SourceTimestamp,
}

/// One monitored node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMap {
    /// The node id (`ns=2;s=Machine.Temp`, `i=2258`, ...).
    pub node: NodeId,
    /// Its text as written in the mapping (for messages).
    pub text: String,
    /// The schema column it fills.
    pub column: usize,
    /// Requested sampling interval (ms; 0: every change).
    pub sampling_interval_ms: f64,
}

/// The subscription's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionParams {
    /// Publishing interval (ms).
    pub publishing_interval_ms: f64,
    /// Queue size of each monitored item.
    pub queue_size: u32,
}

/// A checked mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The dataset (equal to the schema's).
    pub dataset: String,
    /// The subscription's parameters.
    pub subscription: SubscriptionParams,
    /// The monitored nodes, in schema column order.
    pub nodes: Vec<NodeMap>,
    /// For each schema column (schema order), where its value comes from (`None`: NULL).
    pub columns: Vec<Option<ColumnSource>>,
    /// Message security (`[security]`, [`super::security`]): policy None when absent.
    pub security: super::security::Security,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    node: Option<String>,
    value: Option<String>,
    source_timestamp: Option<bool>,
    sampling_interval_ms: Option<f64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    publishing_interval_ms: Option<f64>,
    sampling_interval_ms: Option<f64>,
    queue_size: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    #[serde(rename = "version")]
    _version: serde::de::IgnoredAny,
    #[serde(rename = "dataset")]
    _dataset: serde::de::IgnoredAny,
    #[serde(default)]
    subscription: RawSubscription,
    columns: BTreeMap<String, RawSource>,
    security: Option<super::security::RawSecurity>,
}

/// An interval of the mapping outside [0, 1 day].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} must be between 0 and 86400000 ms")]
pub struct IntervalOutOfRange(String);

/// An interval in ms within [0, 1 day]; `what` names its key.
fn interval(v: f64, what: &str) -> Result<f64, IntervalOutOfRange> {
    if v.is_finite() && (0.0..=86_400_000.0).contains(&v) {
        Ok(v)
    } else {
        Err(IntervalOutOfRange(what.to_string()))
    }
}

impl Mapping {
    /// Parses and checks a mapping against `schema`; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str, schema: &Schema) -> Result<Mapping, MapError> {
        let file = MapFile::new(origin, schema);
        let raw: RawMap = file.parse(text)?;
        let security = super::security::Security::from_raw(raw.security)
            .map_err(|r| file.fail(r.to_string()))?;
        let sub = &raw.subscription;
        let publishing = interval(
            sub.publishing_interval_ms.unwrap_or(500.0),
            "[subscription] publishing_interval_ms",
        )
        .map_err(|r| file.fail(r.to_string()))?;
        if publishing == 0.0 {
            return Err(file.fail("[subscription] publishing_interval_ms must be above 0"));
        }
        let sampling = interval(
            sub.sampling_interval_ms.unwrap_or(0.0),
            "[subscription] sampling_interval_ms",
        )
        .map_err(|r| file.fail(r.to_string()))?;
        let queue_size = sub.queue_size.unwrap_or(100);
        if !(1..=100_000).contains(&queue_size) {
            return Err(file.fail("[subscription] queue_size must be between 1 and 100000"));
        }
        if raw.columns.len() > MAX_NODES {
            return Err(file.fail(format!("more than {MAX_NODES} columns")));
        }
        let mut nodes: Vec<NodeMap> = Vec::new();
        let columns = file.columns("", &raw.columns, |i, _, src, at| {
            node_source(src, i, sampling, &mut nodes, schema, at)
        })?;
        if nodes.is_empty() {
            return Err(file.fail("no column reads a `node`"));
        }
        Ok(Mapping {
            dataset: schema.dataset.clone(),
            subscription: SubscriptionParams {
                publishing_interval_ms: publishing,
                queue_size,
            },
            nodes,
            columns,
            security,
        })
    }

    /// Reads and checks a mapping file.
    pub fn from_file(path: &std::path::Path, schema: &Schema) -> Result<Mapping, MapError> {
        let mut m = crate::live::mapfile::read_file(path, |text, origin| {
            Mapping::from_toml_str(text, origin, schema)
        })?;
        m.security
            .resolve_paths(path.parent().unwrap_or(std::path::Path::new(".")));
        Ok(m)
    }
}

/// The source of column `i` as declared; a `node` joins `nodes` (once: a node fills one
/// column). `at` turns what is wrong into the mapping's error naming the column.
fn node_source(
    src: &RawSource,
    i: usize,
    sampling: f64,
    nodes: &mut Vec<NodeMap>,
    schema: &Schema,
    at: &dyn Fn(&str) -> MapError,
) -> Result<ColumnSource, MapError> {
    exactly_one(
        &[
            ("node", src.node.is_some()),
            ("value", src.value.is_some()),
            ("source_timestamp", src.source_timestamp.is_some()),
        ],
        at,
    )?;
    if src.sampling_interval_ms.is_some() && src.node.is_none() {
        return Err(at("`sampling_interval_ms` belongs to a `node`"));
    }
    Ok(if let Some(text) = &src.node {
        if text.len() > MAX_NODE_ID {
            return Err(at("the node id is too long"));
        }
        let node = NodeId::from_str(text)
            .map_err(|_| at("`node` is not an OPC UA node id (e.g. ns=2;s=Name)"))?;
        if let Some(other) = nodes.iter().find(|n| n.node == node) {
            return Err(at(&format!(
                "node `{text}` already fills column `{}`",
                schema.columns[other.column].name
            )));
        }
        let sampling_interval_ms = match src.sampling_interval_ms {
            Some(s) => interval(s, "sampling_interval_ms").map_err(|r| at(&r.to_string()))?,
            None => sampling,
        };
        nodes.push(NodeMap {
            node,
            text: text.clone(),
            column: i,
            sampling_interval_ms,
        });
        ColumnSource::Node(nodes.len() - 1)
    } else if let Some(v) = &src.value {
        ColumnSource::Value(v.clone())
    } else if src.source_timestamp == Some(true) {
        ColumnSource::SourceTimestamp
    } else {
        return Err(at("`source_timestamp` must be true when given"));
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::live::mapfile::testing::{assert_refused, schema};

    /// The schema the tests map.
    fn spindle() -> Schema {
        schema(
            "spindle",
            "[[columns]]\nname = \"machine\"\nkind = \"public\"\ntype = \"text\"\n\
             [[columns]]\nname = \"ts\"\nkind = \"public\"\ntype = \"integer\"\n\
             [[columns]]\nname = \"temp\"\nkind = \"encrypted\"\nscale = 2\nmin = 0\nmax = 100\n\
             [[columns]]\nname = \"vib\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 10\nnullable = true\n",
        )
    }

    const OK: &str =
        "version = 1\ndataset = \"spindle\"\n[subscription]\npublishing_interval_ms = 200\n\
        sampling_interval_ms = 50\n[columns]\nmachine = { value = \"M1\" }\n\
        ts = { source_timestamp = true }\ntemp = { node = \"ns=2;s=Machine.SpindleTemp\" }\n\
        vib = { node = \"ns=2;s=Machine.Vibration\", sampling_interval_ms = 100 }\n";

    #[test]
    fn mapping_is_checked_against_the_schema() {
        let m = Mapping::from_toml_str(OK, "m.toml", &spindle()).unwrap();
        assert_eq!(m.nodes.len(), 2);
        assert_eq!(m.nodes[0].sampling_interval_ms, 50.0);
        assert_eq!(m.nodes[1].sampling_interval_ms, 100.0);
        assert_eq!(m.nodes[1].column, 3);
        assert_eq!(m.columns[1], Some(ColumnSource::SourceTimestamp));
        assert_eq!(m.subscription.publishing_interval_ms, 200.0);
        let cases = [
            (
                OK.replace("ns=2;s=Machine.SpindleTemp", "ns=x;q"),
                "node id",
            ),
            (
                OK.replace("ns=2;s=Machine.SpindleTemp", "ns=2;s=Machine.Vibration"),
                "already fills",
            ),
            (OK.replace("= 200", "= -1"), "publishing_interval_ms"),
            (
                OK.replace("{ value = \"M1\" }", "{ value = \"M1\", node = \"i=1\" }"),
                "exactly one",
            ),
        ];
        assert_refused(&cases, |t| Mapping::from_toml_str(t, "m.toml", &spindle()));
    }
}
