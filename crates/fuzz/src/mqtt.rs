//! The edge agent's MQTT decoders as fuzz targets: JSON payloads read through a mapping and
//! each row checked as a CSV row (`mqtt_json`), and Sparkplug B payloads (protobuf) as births
//! or DATA of a node and device already born (`sparkplug`; the first byte picks the message
//! type). A refused message is fine; a panic is a bug; a payload the protobuf decoder accepts
//! must decode again to itself after re-encoding.

use crate::targets::{Finding, Outcome};
use dtfhe_agent::mqtt::decode::{decode, Decoded, RowChecker};
use dtfhe_agent::mqtt::map::Mapping;
use dtfhe_agent::mqtt::sparkplug::{parse_topic, BirthState, Metric, MetricValue, Payload};
use dtfhe_model::Schema;

const SCHEMA: &str = "dataset = \"press\"\nstage = \"manufacturing\"\n\
    [[columns]]\nname = \"machine\"\nkind = \"public\"\ntype = \"text\"\n\
    [[columns]]\nname = \"ts\"\nkind = \"public\"\ntype = \"integer\"\n\
    [[columns]]\nname = \"pressure\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 500\n\
    [[columns]]\nname = \"temp\"\nkind = \"encrypted\"\nscale = 2\nmin = -40\nmax = 150\nnullable = true\n";

const MAP: &str = "version = 1\ndataset = \"press\"\n\
    [[topic]]\nfilter = \"plant/+/telemetry\"\nformat = \"json\"\n[topic.columns]\n\
    machine = { topic_level = 1 }\nts = { field = \"ts\" }\npressure = { field = \"p.v\" }\ntemp = { field = \"t\" }\n\
    [[topic]]\nfilter = \"spBv1.0/#\"\nformat = \"sparkplug\"\n[topic.columns]\n\
    machine = { topic_level = 3 }\nts = { timestamp = true }\npressure = { metric = \"P\" }\ntemp = { metric = \"T\" }\n";

/// The Sparkplug message types the first input byte picks.
pub const SPARKPLUG_TOPICS: [&str; 6] = [
    "spBv1.0/g/DDATA/n/d",
    "spBv1.0/g/NDATA/n",
    "spBv1.0/g/DBIRTH/n/d",
    "spBv1.0/g/NBIRTH/n",
    "spBv1.0/g/DDEATH/n/d",
    "spBv1.0/g/NDEATH/n",
];

fn fixture() -> (Schema, Mapping) {
    let schema = Schema::from_toml_str(SCHEMA, "fuzz.toml").unwrap_or_else(|e| panic!("{e}"));
    let map =
        Mapping::from_toml_str(MAP, "fuzz.map.toml", &schema).unwrap_or_else(|e| panic!("{e}"));
    (schema, map)
}

/// A node `n` and device `d` born with aliases 1 (`P`, Double) and 2 (`T`, Float).
pub fn born() -> BirthState {
    let mut s = BirthState::default();
    let birth = |m: Vec<Metric>| {
        Payload {
            timestamp: Some(1),
            metrics: m,
            seq: Some(0),
        }
        .to_bytes()
    };
    let nb = birth(vec![Metric::new(
        Some("bdSeq"),
        Some(0),
        Some(8),
        MetricValue::Long(0),
    )]);
    let db = birth(vec![
        Metric::new(Some("P"), Some(1), Some(10), MetricValue::Double(0.0)),
        Metric::new(Some("T"), Some(2), Some(9), MetricValue::Float(0.0)),
    ]);
    for (t, b) in [("spBv1.0/g/NBIRTH/n", nb), ("spBv1.0/g/DBIRTH/n/d", db)] {
        let topic = parse_topic(t).unwrap_or_else(|| panic!("{t}"));
        s.apply(&topic, &b).unwrap_or_else(|e| panic!("{e}"));
    }
    s
}

/// Runs one message; `Ok(true)` when it gave rows that all pass the schema.
pub fn accepts(topic: &str, payload: &[u8], births: &mut BirthState) -> bool {
    let (schema, map) = fixture();
    let Some(t) = map.topic_for(topic) else {
        return false;
    };
    match decode(t, topic, payload, births) {
        Ok(Decoded::Rows(rows)) => {
            let checker = RowChecker::new(&schema);
            rows.iter().all(|r| checker.check(r, topic).is_ok())
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// `mqtt_json`: a JSON payload on `plant/M1/telemetry`.
pub fn mqtt_json(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    let _ = accepts("plant/M1/telemetry", input, &mut BirthState::default());
    Ok(())
}

/// `sparkplug`: first byte picks the type of the message, the rest is its payload.
pub fn sparkplug(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    let Some((&pick, payload)) = input.split_first() else {
        return Ok(());
    };
    let topic = SPARKPLUG_TOPICS[usize::from(pick) % SPARKPLUG_TOPICS.len()];
    let _ = accepts(topic, payload, &mut born());
    if let Ok(p) = <Payload as prost::Message>::decode(payload) {
        let bytes = p.to_bytes();
        let again = <Payload as prost::Message>::decode(bytes.as_slice())
            .map_err(|e| Finding(format!("sparkplug: accepted, re-encoded, refused: {e}")))?;
        // Compared as re-encoded bytes: a metric may carry a NaN, which is not equal to
        // itself, and protobuf allows several encodings of one message (field order,
        // repeated scalars), so the canonical re-encoding must be a fixed point.
        if again.to_bytes() != bytes {
            return Err(Finding(
                "sparkplug: accepted payload does not round-trip".into(),
            ));
        }
    }
    Ok(())
}

/// Named seed inputs of one target: (file name, bytes).
pub type NamedSeeds = Vec<(String, Vec<u8>)>;

/// Seeds: JSON messages and Sparkplug births and DATA that the decoders accept.
pub fn seeds() -> (NamedSeeds, NamedSeeds) {
    let json = vec![
        (
            "object.json".to_string(),
            br#"{"ts":1700000000,"p":{"v":123.4},"t":21.5}"#.to_vec(),
        ),
        (
            "array.json".to_string(),
            br#"[{"ts":1,"p":{"v":1}},{"ts":2,"p":{"v":499.9},"t":null}]"#.to_vec(),
        ),
        (
            "strings.json".to_string(),
            br#"{"ts":"17","p":{"v":"0.5"},"t":"-39.99"}"#.to_vec(),
        ),
    ];
    let data = Payload {
        timestamp: Some(1_700_000_000_000),
        metrics: vec![
            Metric::new(None, Some(1), None, MetricValue::Double(312.5)),
            Metric::new(None, Some(2), None, MetricValue::Float(20.25)),
        ],
        seq: Some(3),
    };
    let by_name = Payload {
        timestamp: Some(5),
        metrics: vec![
            Metric::new(Some("P"), None, Some(10), MetricValue::Double(1.0)),
            Metric::new(Some("T"), None, Some(3), MetricValue::Int((-5i32) as u32)),
        ],
        seq: Some(4),
    };
    let birth = Payload {
        timestamp: Some(1),
        metrics: vec![
            Metric::new(Some("P"), Some(1), Some(10), MetricValue::Double(0.0)),
            Metric::new(Some("T"), Some(2), Some(9), MetricValue::Float(0.0)),
        ],
        seq: Some(0),
    };
    let with = |pick: u8, p: &Payload| {
        let mut b = vec![pick];
        b.extend(p.to_bytes());
        b
    };
    let sp = vec![
        ("ddata_alias.bin".to_string(), with(0, &data)),
        ("ddata_name.bin".to_string(), with(0, &by_name)),
        ("dbirth.bin".to_string(), with(2, &birth)),
        ("ddeath.bin".to_string(), vec![4]),
    ];
    (json, sp)
}
