//! Sparkplug B (Eclipse Tahu, `spBv1.0`) payloads: the protobuf messages (the fields of the
//! specification's `Payload` and `Metric`, declared here with `prost` derives; the dataset,
//! template, property set and metadata fields are skipped as unknown fields, so a metric
//! carrying one has no scalar value and is refused), and each edge node's and device's alias
//! table from its birth certificate (NBIRTH/DBIRTH), forgotten at its death (NDEATH/DDEATH).
//!
//! The alias tables hold metric names, aliases and datatypes only (no value), and are kept
//! in the spool so a restarted agent still reads DATA messages by alias.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decode::{refused, Refused};

/// The Sparkplug B topic namespace.
pub const NAMESPACE: &str = "spBv1.0";

/// A Sparkplug B payload (protobuf field numbers of the specification).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Time the message was sent (ms since the epoch).
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Sequence number (0..=255).
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
}

/// One metric of a payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Name (in births; DATA messages may carry only the alias).
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Alias, tied to the name by the birth certificate.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Acquisition time (ms since the epoch).
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// Datatype (see [`DataType`]); in births, and optional later.
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    /// Whether the value is explicitly null.
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// The value.
    #[prost(oneof = "MetricValue", tags = "10, 11, 12, 13, 14, 15")]
    pub value: Option<MetricValue>,
}

/// A metric's scalar value (the wire's oneof).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricValue {
    /// Int8/16/32 (two's complement in 32 bits), UInt8/16/32.
    #[prost(uint32, tag = "10")]
    Int(u32),
    /// Int64 (two's complement), UInt64, DateTime.
    #[prost(uint64, tag = "11")]
    Long(u64),
    /// Float.
    #[prost(float, tag = "12")]
    Float(f32),
    /// Double.
    #[prost(double, tag = "13")]
    Double(f64),
    /// Boolean.
    #[prost(bool, tag = "14")]
    Boolean(bool),
    /// String, Text, UUID.
    #[prost(string, tag = "15")]
    String(String),
}

impl Payload {
    /// The payload's protobuf bytes (for publishers in tests, benchmarks and fuzz seeds).
    pub fn to_bytes(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }
}

impl Metric {
    /// A metric with a value: by `name` (births, or DATA without aliases) and/or `alias`.
    pub fn new(
        name: Option<&str>,
        alias: Option<u64>,
        datatype: Option<u32>,
        value: MetricValue,
    ) -> Metric {
        Metric {
            name: name.map(str::to_string),
            alias,
            timestamp: None,
            datatype,
            is_null: None,
            value: Some(value),
        }
    }
}

/// The Sparkplug datatype numbers this agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Int8 = 1, Int16 = 2, Int32 = 3.
    SignedInt,
    /// Int64 = 4.
    Int64,
    /// UInt8..UInt64 = 5..8, DateTime = 13.
    Unsigned,
    /// Float = 9, Double = 10.
    Real,
    /// Boolean = 11.
    Boolean,
    /// String = 12, Text = 14, UUID = 15.
    Text,
}

impl DataType {
    /// The datatype of a specification number, `None` for those this agent does not read.
    pub fn from_number(n: u32) -> Option<DataType> {
        Some(match n {
            1..=3 => DataType::SignedInt,
            4 => DataType::Int64,
            5..=8 | 13 => DataType::Unsigned,
            9 | 10 => DataType::Real,
            11 => DataType::Boolean,
            12 | 14 | 15 => DataType::Text,
            _ => return None,
        })
    }
}

/// A metric's value as text (as a CSV field would carry it), read per its datatype:
/// `None` when null. Signed integers are two's complement on the wire.
pub fn value_text(datatype: Option<u32>, m: &Metric) -> Result<Option<String>, Refused> {
    if m.is_null == Some(true) {
        return Ok(None);
    }
    let dt = datatype.map(|n| DataType::from_number(n).ok_or(n));
    let text = match (&m.value, dt) {
        (None, _) => return Err("metric has no scalar value".into()),
        (_, Some(Err(n))) => return Err(refused!("datatype {n} is not read by this agent")),
        (Some(MetricValue::Int(v)), Some(Ok(DataType::SignedInt))) => (*v as i32).to_string(),
        (Some(MetricValue::Long(v)), Some(Ok(DataType::Int64))) => (*v as i64).to_string(),
        (Some(MetricValue::Int(v)), _) => v.to_string(),
        (Some(MetricValue::Long(v)), _) => v.to_string(),
        (Some(MetricValue::Float(v)), _) if v.is_finite() => v.to_string(),
        (Some(MetricValue::Double(v)), _) if v.is_finite() => v.to_string(),
        (Some(MetricValue::Float(_) | MetricValue::Double(_)), _) => {
            return Err("metric is not a finite number".into())
        }
        (Some(MetricValue::Boolean(b)), _) => u8::from(*b).to_string(),
        (Some(MetricValue::String(s)), _) => s.clone(),
    };
    Ok(Some(text))
}

/// The parts of a Sparkplug topic `spBv1.0/<group>/<type>/<edge node>[/<device>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpTopic<'a> {
    /// Group id.
    pub group: &'a str,
    /// Message type (NBIRTH, DDATA, ...).
    pub kind: &'a str,
    /// Edge node id.
    pub node: &'a str,
    /// Device id (device messages only).
    pub device: Option<&'a str>,
}

/// Splits a Sparkplug topic; `None` when it is not one.
pub fn parse_topic(topic: &str) -> Option<SpTopic<'_>> {
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        [NAMESPACE, group, kind, node] => Some(SpTopic {
            group,
            kind,
            node,
            device: None,
        }),
        [NAMESPACE, group, kind, node, device] => Some(SpTopic {
            group,
            kind,
            node,
            device: Some(device),
        }),
        _ => None,
    }
}

/// One metric of a birth certificate: its name and datatype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Born {
    /// Metric name.
    pub name: String,
    /// Datatype number.
    pub datatype: Option<u32>,
}

/// The alias table of one edge node or device (from its last birth).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasTable {
    /// alias → metric.
    pub by_alias: BTreeMap<u64, Born>,
    /// name → datatype.
    pub by_name: BTreeMap<String, Option<u32>>,
}

/// Every live node's and device's alias table, keyed by `group/node` or `group/node/device`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BirthState {
    /// Format version of the stored state.
    pub version: u8,
    /// The tables of the born (and not dead) nodes and devices.
    pub tables: BTreeMap<String, AliasTable>,
}

/// Format version of [`BirthState`] as stored.
pub const BIRTH_STATE_VERSION: u8 = 1;

/// What a Sparkplug message meant for the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A DATA message: each metric's (name, text value) resolved through the alias table.
    Data {
        /// The payload timestamp (ms), if any.
        timestamp: Option<u64>,
        /// Metrics by name, in message order.
        metrics: Vec<(String, Option<String>)>,
    },
    /// A birth or death certificate: the alias tables changed (persist them), no row.
    Certificate,
    /// A message type without rows (NCMD, DCMD, STATE).
    Ignored,
}

fn key(t: &SpTopic<'_>) -> String {
    match t.device {
        Some(d) => format!("{}/{}/{d}", t.group, t.node),
        None => format!("{}/{}", t.group, t.node),
    }
}

impl BirthState {
    /// Reads one Sparkplug message (topic already split): births replace the sender's alias
    /// table, deaths drop it (a node's death drops its devices' too), DATA is resolved.
    /// Errors name what is wrong, never a value.
    pub fn apply(&mut self, t: &SpTopic<'_>, payload: &[u8]) -> Result<Outcome, Refused> {
        let k = key(t);
        let device_kind = t.kind.starts_with('D');
        if device_kind != t.device.is_some()
            && matches!(
                t.kind,
                "NBIRTH" | "NDEATH" | "NDATA" | "DBIRTH" | "DDEATH" | "DDATA"
            )
        {
            return Err(refused!("{} topic with the wrong number of levels", t.kind));
        }
        match t.kind {
            "NDEATH" => {
                let prefix = format!("{k}/");
                self.tables
                    .retain(|name, _| name != &k && !name.starts_with(&prefix));
                return Ok(Outcome::Certificate);
            }
            "DDEATH" => {
                self.tables.remove(&k);
                return Ok(Outcome::Certificate);
            }
            "NBIRTH" | "DBIRTH" | "NDATA" | "DDATA" => {}
            _ => return Ok(Outcome::Ignored),
        }
        let payload = <Payload as prost::Message>::decode(payload)
            .map_err(|e| refused!("not a Sparkplug B payload: {e}"))?;
        if t.kind.ends_with("BIRTH") {
            let mut table = AliasTable::default();
            for m in &payload.metrics {
                let Some(name) = &m.name else {
                    return Err("birth certificate metric without a name".into());
                };
                if let Some(a) = m.alias {
                    if table
                        .by_alias
                        .insert(
                            a,
                            Born {
                                name: name.clone(),
                                datatype: m.datatype,
                            },
                        )
                        .is_some()
                    {
                        return Err(refused!("birth certificate repeats alias {a}"));
                    }
                }
                table.by_name.insert(name.clone(), m.datatype);
            }
            if t.kind == "NBIRTH" {
                let prefix = format!("{k}/");
                self.tables.retain(|name, _| !name.starts_with(&prefix));
            } else if !self.tables.contains_key(&format!("{}/{}", t.group, t.node)) {
                return Err("DBIRTH of a device whose edge node is not born".into());
            }
            self.tables.insert(k, table);
            return Ok(Outcome::Certificate);
        }
        let Some(table) = self.tables.get(&k) else {
            return Err(refused!(
                "{} from a node or device that is not born (or dead)",
                t.kind
            ));
        };
        let mut metrics = Vec::with_capacity(payload.metrics.len());
        for m in &payload.metrics {
            let (name, datatype) = match (&m.name, m.alias) {
                (Some(n), _) => (
                    n.clone(),
                    m.datatype.or(table.by_name.get(n).copied().flatten()),
                ),
                (None, Some(a)) => {
                    let b = table
                        .by_alias
                        .get(&a)
                        .ok_or_else(|| refused!("unknown metric alias {a}"))?;
                    (b.name.clone(), m.datatype.or(b.datatype))
                }
                (None, None) => return Err("metric without a name or an alias".into()),
            };
            let text = value_text(datatype, m).map_err(|e| refused!("metric `{name}`: {e}"))?;
            metrics.push((name, text));
        }
        Ok(Outcome::Data {
            timestamp: payload.timestamp,
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message as _;

    fn metric(
        name: Option<&str>,
        alias: Option<u64>,
        dt: Option<u32>,
        v: Option<MetricValue>,
    ) -> Metric {
        Metric {
            name: name.map(str::to_string),
            alias,
            timestamp: None,
            datatype: dt,
            is_null: None,
            value: v,
        }
    }

    fn bytes(metrics: Vec<Metric>) -> Vec<u8> {
        Payload {
            timestamp: Some(1700),
            metrics,
            seq: Some(0),
        }
        .encode_to_vec()
    }

    #[test]
    fn births_aliases_and_deaths() {
        let mut s = BirthState::default();
        let nb = parse_topic("spBv1.0/g/NBIRTH/n").unwrap();
        let db = parse_topic("spBv1.0/g/DBIRTH/n/d").unwrap();
        let dd = parse_topic("spBv1.0/g/DDATA/n/d").unwrap();
        // DATA before any birth is refused.
        assert!(s
            .apply(&dd, &bytes(vec![]))
            .unwrap_err()
            .0
            .contains("not born"));
        assert_eq!(
            s.apply(
                &nb,
                &bytes(vec![metric(
                    Some("bdSeq"),
                    Some(0),
                    Some(8),
                    Some(MetricValue::Long(0))
                )])
            )
            .unwrap(),
            Outcome::Certificate
        );
        s.apply(
            &db,
            &bytes(vec![metric(
                Some("T"),
                Some(7),
                Some(3),
                Some(MetricValue::Int(0)),
            )]),
        )
        .unwrap();
        let out = s
            .apply(
                &dd,
                &bytes(vec![metric(
                    None,
                    Some(7),
                    None,
                    Some(MetricValue::Int((-5i32) as u32)),
                )]),
            )
            .unwrap();
        assert_eq!(
            out,
            Outcome::Data {
                timestamp: Some(1700),
                metrics: vec![("T".into(), Some("-5".into()))]
            }
        );
        assert!(s
            .apply(
                &dd,
                &bytes(vec![metric(None, Some(8), None, Some(MetricValue::Int(1)))])
            )
            .unwrap_err()
            .0
            .contains("alias 8"));
        // The node's death forgets its devices.
        s.apply(&parse_topic("spBv1.0/g/NDEATH/n").unwrap(), &[])
            .unwrap();
        assert!(s.tables.is_empty());
        assert!(s.apply(&dd, &bytes(vec![])).is_err());
        // Garbage is an error, not a panic.
        s.apply(&nb, &bytes(vec![])).unwrap();
        s.apply(&db, &bytes(vec![])).unwrap();
        assert!(s.apply(&dd, &[0xff, 0xff, 0xff]).is_err());
        s.apply(&parse_topic("spBv1.0/g/DDEATH/n/d").unwrap(), &[])
            .unwrap();
        assert_eq!(s.tables.len(), 1);
    }
}
