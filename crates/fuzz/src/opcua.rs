//! The edge agent's OPC UA mapping file as a fuzz target (`opcua_map`): TOML text read by
//! `agent::opcua::map::Mapping::from_toml_str` against a fixed schema (node ids through the
//! async-opcua node id parser, intervals, constants, the source timestamp). A refused file is
//! fine; a panic is a bug; an accepted mapping must be consistent (every node fills the column
//! that names it, once) and its rows must assemble and check without a panic.

use std::time::Duration;

use crate::targets::{Finding, Outcome};
use dtfhe_agent::mqtt::decode::RowChecker;
use dtfhe_agent::opcua::map::{ColumnSource, Mapping};
use dtfhe_agent::opcua::rows::{Assembler, Outcome as RowOutcome, Sample};
use dtfhe_model::Schema;

const SCHEMA: &str = "dataset = \"spindle\"\nstage = \"manufacturing\"\n\
    [[columns]]\nname = \"machine\"\nkind = \"public\"\ntype = \"text\"\n\
    [[columns]]\nname = \"ts\"\nkind = \"public\"\ntype = \"integer\"\n\
    [[columns]]\nname = \"temp\"\nkind = \"encrypted\"\nscale = 2\nmin = 0\nmax = 100\n\
    [[columns]]\nname = \"vibration\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 10\nnullable = true\n";

fn schema() -> Schema {
    Schema::from_toml_str(SCHEMA, "fuzz.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the mapping text is accepted.
pub fn accepts(text: &str) -> bool {
    Mapping::from_toml_str(text, "fuzz.map.toml", &schema()).is_ok()
}

/// `opcua_map`: a mapping file's text.
pub fn opcua_map(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(());
    };
    let schema = schema();
    let Ok(m) = Mapping::from_toml_str(text, "fuzz.map.toml", &schema) else {
        return Ok(());
    };
    if m.columns.len() != schema.columns.len() {
        return Err(Finding(
            "opcua_map: a column count unlike the schema's".into(),
        ));
    }
    for (i, n) in m.nodes.iter().enumerate() {
        if m.columns.get(n.column) != Some(&Some(ColumnSource::Node(i))) {
            return Err(Finding(format!(
                "opcua_map: node {i} does not fill the column it names"
            )));
        }
    }
    // One instant of every node, a bad value for the last: rows assemble and check.
    let mut a = Assembler::new(&m, &schema, 0, Duration::from_secs(3600));
    let mut out = Vec::new();
    for i in 0..m.nodes.len() {
        let s = if i + 1 == m.nodes.len() {
            Sample::Bad("BadSensorFailure".into())
        } else {
            Sample::Good("5".into())
        };
        a.offer(i, 116_444_736_000_000_000 + 1, s, &mut out);
    }
    let checker = RowChecker::new(&schema);
    for o in out {
        if let RowOutcome::Row { row, .. } = o {
            let _ = checker.check(&row, "opcua");
        }
    }
    Ok(())
}

/// Seeds: mapping files the parser accepts.
pub fn seeds() -> crate::mqtt::NamedSeeds {
    let full =
        "version = 1\ndataset = \"spindle\"\n\n[subscription]\npublishing_interval_ms = 100\n\
        sampling_interval_ms = 0\nqueue_size = 1000\n\n[columns]\nmachine = { value = \"M1\" }\n\
        ts = { source_timestamp = true }\ntemp = { node = \"ns=2;s=Machine.SpindleTemp\" }\n\
        vibration = { node = \"ns=2;s=Machine.Vibration\", sampling_interval_ms = 250 }\n";
    let minimal = "version = 1\ndataset = \"spindle\"\n[columns]\nmachine = { value = \"M2\" }\n\
        ts = { source_timestamp = true }\ntemp = { node = \"i=2258\" }\n";
    let ids = "version = 1\ndataset = \"spindle\"\n[columns]\nmachine = { value = \"M3\" }\n\
        ts = { node = \"ns=3;i=1001\" }\ntemp = { node = \"ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a\" }\n\
        vibration = { node = \"ns=4;b=M/RbKBsRVkePCePcx24oRA==\" }\n";
    let secured = format!(
        "{minimal}[security]\npolicy = \"Basic256Sha256\"\nmode = \"Sign\"\n\
         client_certificate = \"pki/agent.der\"\nclient_private_key = \"pki/agent.key.pem\"\n\
         server_certificate = \"pki/machine.der\"\napplication_uri = \"urn:dtfhe:agent\"\n"
    );
    vec![
        ("secured.toml".to_string(), secured.into_bytes()),
        ("full.toml".to_string(), full.as_bytes().to_vec()),
        ("minimal.toml".to_string(), minimal.as_bytes().to_vec()),
        ("node_ids.toml".to_string(), ids.as_bytes().to_vec()),
    ]
}
