//! The edge agent's document readers as fuzz targets: B2MML production performance and job
//! responses (`b2mml`), MTConnect streams (`mtconnect`) and AAS V3 JSON environments
//! (`aas`), each read whole against its dataset schema (the XML tree, the mapping, then every row checked as a CSV row). A
//! refused document is fine; a panic is a bug; an error that quotes a value the seed holds
//! in an encrypted column is a finding too (messages name places, never values).

use crate::targets::{Finding, Outcome};
use dtfhe_agent::formats::{read_document, DocumentFormat};
use dtfhe_model::Schema;

const RUNS_SCHEMA: &str = include_str!("../../../schemas/production_runs.toml");
const MACHINE_SCHEMA: &str = include_str!("../../../schemas/mtconnect_machine.toml");
const PERFORMANCE: &str =
    include_str!("../../agent/tests/fixtures/b2mml_production_performance.xml");
const JOBS: &str = include_str!("../../agent/tests/fixtures/b2mml_job_response.xml");
const SAMPLE: &str = include_str!("../../agent/tests/fixtures/mtconnect_sample.xml");
const SERIES: &str = include_str!("../../agent/tests/fixtures/mtconnect_timeseries.xml");
const NAMEPLATE_SCHEMA: &str = include_str!("../../../schemas/aas_nameplate.toml");
const TIMESERIES_SCHEMA: &str = include_str!("../../../schemas/aas_timeseries.toml");
const SPINDLES: &str = include_str!("../../agent/tests/fixtures/aas_spindles.json");
const CAD_SCHEMA: &str = include_str!("../../../schemas/cad_parameters.toml");
const CAD_CSV: &str = include_str!("../../agent/tests/fixtures/cad_parameters.csv");
const CAD_JSON: &str = include_str!("../../agent/tests/fixtures/cad_parameters.json");
const FILES_SCHEMA: &str = include_str!("../../../schemas/cad_files.toml");
const BRACKET: &str = include_str!("../../agent/tests/fixtures/bracket.stp");

/// The dataset schemas a format's documents are read against (AAS: the design-stage one
/// row per shell, and the maintenance one row per TimeSeries record).
pub fn schemas(format: DocumentFormat) -> Vec<Schema> {
    let texts: &[(&str, &str)] = match format {
        DocumentFormat::B2mml => &[(RUNS_SCHEMA, "production_runs.toml")],
        DocumentFormat::MtConnect => &[(MACHINE_SCHEMA, "mtconnect_machine.toml")],
        DocumentFormat::Aas => &[
            (NAMEPLATE_SCHEMA, "aas_nameplate.toml"),
            (TIMESERIES_SCHEMA, "aas_timeseries.toml"),
        ],
        DocumentFormat::CadParameters => &[(CAD_SCHEMA, "cad_parameters.toml")],
    };
    texts
        .iter()
        .map(|(text, name)| Schema::from_toml_str(text, name).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Whether a document of `format` is read (every row accepted) against every schema.
pub fn accepts(format: DocumentFormat, input: &[u8]) -> bool {
    schemas(format)
        .iter()
        .all(|s| read_document(format, input, "fuzz", s).is_ok())
}

/// Values of encrypted columns in the seeds: no error may quote them.
const SECRETS: [&str; 5] = ["7190", "2967", "226.946", "21.7", "-12.875"];

/// `text` with the numbers that are positions (`line N`, `column N`, `sample N`, a JSON
/// pointer's or an element path's indexes) replaced by `#`: a position equal to a secret's
/// digits is not a quoted value.
fn without_positions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after_word = ["line ", "column ", "sample ", "/", "["]
            .iter()
            .any(|w| out.ends_with(w));
        if c.is_ascii_digit() && after_word {
            let digits = rest.len() - rest.trim_start_matches(|d: char| d.is_ascii_digit()).len();
            out.push('#');
            rest = &rest[digits..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn run(format: DocumentFormat, input: &[u8]) -> Outcome {
    for schema in schemas(format) {
        if let Err(e) = read_document(format, input, "fuzz", &schema) {
            let text = without_positions(&e.to_string());
            if let Some(s) = SECRETS.iter().find(|s| text.contains(*s)) {
                return Err(Finding(format!(
                    "{}: an error quotes the value {s}: {text}",
                    format.name()
                )));
            }
        }
    }
    Ok(())
}

/// `b2mml`: a B2MML document read into production-run rows.
pub fn b2mml(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    run(DocumentFormat::B2mml, input)
}

/// `mtconnect`: an MTConnectStreams document read into machine rows.
pub fn mtconnect(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    run(DocumentFormat::MtConnect, input)
}

/// `cad`: a CAD / PLM parameter export (CSV or JSON) read into one row per part.
pub fn cad(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    run(DocumentFormat::CadParameters, input)
}

/// Whether a STEP file's header is read and its row accepted.
pub fn step_accepts(input: &[u8]) -> bool {
    let schema =
        Schema::from_toml_str(FILES_SCHEMA, "cad_files.toml").unwrap_or_else(|e| panic!("{e}"));
    dtfhe_agent::formats::step::parse_header(input, "fuzz.stp")
        .and_then(|h| {
            dtfhe_agent::formats::step::header_row(&h, "P-1", "fuzz.stp", "fuzz.stp", &schema)
        })
        .is_ok()
}

/// `step`: a STEP file's HEADER read (ISO 10303-21 structure checked) and its row checked.
pub fn step(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    let _ = step_accepts(input);
    Ok(())
}

/// `aas`: an AAS V3 JSON environment read into design-stage and time-series rows.
pub fn aas(_fx: &crate::fixture::Fixture, input: &[u8]) -> Outcome {
    run(DocumentFormat::Aas, input)
}

/// Named seed inputs of one target: (file name, bytes).
pub type NamedSeeds = Vec<(String, Vec<u8>)>;

/// Seeds: the agent's own fixture documents (written to the published schemas) and small
/// documents of the same shapes.
pub fn seeds() -> [NamedSeeds; 5] {
    let b2mml = vec![
        ("production_performance.xml".to_string(), PERFORMANCE.as_bytes().to_vec()),
        ("job_response.xml".to_string(), JOBS.as_bytes().to_vec()),
        (
            "one_segment.xml".to_string(),
            b"<ProductionPerformance><ProductionResponse><ID>1</ID><SegmentResponse><ID>7</ID>\
<ActualStartTime>2026-01-01T06:00:00Z</ActualStartTime><ActualEndTime>2026-01-01T14:00:00Z</ActualEndTime>\
<ProductionData><ID>IdealCycleTime</ID><Value><ValueString>3</ValueString><UnitOfMeasure>s</UnitOfMeasure></Value></ProductionData>\
<EquipmentActual><EquipmentID>L1</EquipmentID></EquipmentActual><MaterialProducedActual><MaterialDefinitionID>p</MaterialDefinitionID>\
<Quantity><QuantityString>10</QuantityString></Quantity><MaterialActualProperty><ID>GoodQuantity</ID><Value><ValueString>9</ValueString></Value></MaterialActualProperty>\
</MaterialProducedActual></SegmentResponse></ProductionResponse></ProductionPerformance>"
                .to_vec(),
        ),
    ];
    let mtconnect = vec![
        ("sample.xml".to_string(), SAMPLE.as_bytes().to_vec()),
        ("timeseries.xml".to_string(), SERIES.as_bytes().to_vec()),
        (
            "current.xml".to_string(),
            b"<MTConnectStreams xmlns=\"urn:mtconnect.org:MTConnectStreams:2.0\"><Header nextSequence=\"42\" firstSequence=\"1\" lastSequence=\"41\"/>\
<Streams><DeviceStream name=\"m\" uuid=\"u\"><ComponentStream component=\"Rotary\" componentId=\"c\"><Samples>\
<Load dataItemId=\"Sload\" timestamp=\"2026-01-01T00:00:00Z\" sequence=\"40\">12.5</Load>\
<RotaryVelocity dataItemId=\"Srpm\" timestamp=\"2026-01-01T00:00:00Z\" sequence=\"41\">UNAVAILABLE</RotaryVelocity>\
</Samples><Events><Execution dataItemId=\"exec\" timestamp=\"2026-01-01T00:00:00Z\" sequence=\"39\">READY</Execution></Events>\
<Condition><Fault dataItemId=\"sys\" timestamp=\"2026-01-01T00:00:01Z\" sequence=\"38\" type=\"SYSTEM\"/></Condition>\
</ComponentStream></DeviceStream></Streams></MTConnectStreams>"
                .to_vec(),
        ),
    ];
    let aas = vec![
        ("spindles.json".to_string(), SPINDLES.as_bytes().to_vec()),
        (
            "one_shell.json".to_string(),
            br#"{"assetAdministrationShells":[{"modelType":"AssetAdministrationShell","id":"urn:s","assetInformation":{"assetKind":"Instance","globalAssetId":"urn:a"},"submodels":[{"type":"ModelReference","keys":[{"type":"Submodel","value":"urn:t"}]}]}],"submodels":[{"modelType":"Submodel","id":"urn:t","submodelElements":[{"modelType":"MultiLanguageProperty","idShort":"M","semanticId":{"type":"ExternalReference","keys":[{"type":"GlobalReference","value":"0173-1#02-AAO677#002"}]},"value":[{"language":"de","text":"X"}]},{"modelType":"Property","idShort":"P","valueType":"xs:double","value":"21.7","semanticId":{"type":"ExternalReference","keys":[{"type":"GlobalReference","value":"https://plant-a.example/semantics/spindle/RatedPower/1/0"}]}},{"modelType":"Property","idShort":"S","valueType":"xs:int","value":"12000","semanticId":{"type":"ExternalReference","keys":[{"type":"GlobalReference","value":"https://plant-a.example/semantics/spindle/MaxRotationalSpeed/1/0"}]}},{"modelType":"Property","idShort":"N","valueType":"xs:string","value":"S1","semanticId":{"type":"ExternalReference","keys":[{"type":"GlobalReference","value":"0173-1#02-AAM556#002"}]}}]}]}"#
                .to_vec(),
        ),
    ];
    let cad = vec![
        ("parameters.csv".to_string(), CAD_CSV.as_bytes().to_vec()),
        ("parameters.json".to_string(), CAD_JSON.as_bytes().to_vec()),
    ];
    let step = vec![
        ("bracket.stp".to_string(), BRACKET.as_bytes().to_vec()),
        (
            "minimal.stp".to_string(),
            b"ISO-10303-21;HEADER;FILE_DESCRIPTION((''),'2;1');FILE_NAME('m','2026-01-01T00:00:00',(''),(''),'','',$);FILE_SCHEMA(('CONFIG_CONTROL_DESIGN'));ENDSEC;DATA;ENDSEC;END-ISO-10303-21;"
                .to_vec(),
        ),
    ];
    [b2mml, mtconnect, aas, cad, step]
}

#[cfg(test)]
mod tests {
    use super::without_positions;

    #[test]
    fn positions_are_not_quoted_values_but_values_still_are() {
        assert_eq!(
            without_positions("fuzz line 2967 column 1: not JSON"),
            "fuzz line # column #: not JSON"
        );
        assert_eq!(
            without_positions("/submodels/2967/value[2967], sample 2967"),
            "/submodels/#/value[#], sample #"
        );
        assert!(without_positions("column \"x\": 2967 is out of range").contains("2967"));
        assert!(without_positions("value 7190 at line 3").contains("7190"));
    }
}
