//! Asset Administration Shell (metamodel V3, JSON serialization): import of Nameplate,
//! TechnicalData and TimeSeries submodels into design-stage and maintenance datasets, and
//! export of released aggregates as an AAS submodel with their release facts.
//!
//! # Import: properties by semanticId
//!
//! A column's `source` names what fills it:
//!
//! | `source` | value |
//! |---|---|
//! | `@asset` | the shell's `assetInformation.globalAssetId` |
//! | `@shell` | the shell's `id` |
//! | `@record` | the `idShort` of a TimeSeries record (and makes one row per record, below) |
//! | anything else | a semanticId: the value of the `Property` (its `value` text; `xs:boolean` as 1/0) or `MultiLanguageProperty` (its `en` text, else the first) whose `semanticId` has a key with exactly this value |
//!
//! Submodels are those each shell references (`submodels`, by the last key's value); their
//! elements are searched through `SubmodelElementCollection` and `SubmodelElementList`
//! values at any depth.
//!
//! - Without an `@record` column (design stage: Nameplate, TechnicalData): **one row per
//!   shell**; a mapped semanticId found twice in one shell's submodels is a problem.
//! - With an `@record` column (maintenance: TimeSeries, IDTA 02008): **one row per record**,
//!   a record being a collection whose semanticId is [`TIME_SERIES_RECORD`]; the record's
//!   own properties fill the row, with the shell-level mapped properties (e.g. `@asset`, the
//!   serial number) repeated on every record row of that shell. A shell without records
//!   gives no rows.
//!
//! A property without a `value` is NULL. Every problem (a reference to a missing submodel,
//! a repeated semanticId, a semanticId key meant as an IRDI — it starts with a digit, as
//! ECLASS's `0173-1#02-AAO677#002` — that is not a well-formed one, see [`super::irdi`], a
//! value the column refuses) is listed with its JSON pointer
//! (`/submodels/4/submodelElements/1/value/1`); the document is then refused whole.
//! Messages never quote a value.
//!
//! # Export
//!
//! [`released_submodel`] makes an environment with one submodel, `ReleasedAggregates`: the
//! SQL, the release facts (release id, ledger entries, disclosure mode, trustees with the
//! time of their approval) and the result rows, each cell a typed `Property`. The
//! `aas-core3.0` reference library verifies it (crates/cli/tests/aas_documents.rs).

use std::collections::BTreeMap;

use dtfhe_model::Schema;
use serde_json::{json, Value};

use super::{check_rows, DocRow, Document, DocumentNotes, FormatError, Problem};

/// Largest AAS JSON document read, in bytes.
pub const MAX_AAS_BYTES: usize = 32 * 1024 * 1024;
/// `source` of the column holding the shell's global asset id.
pub const SOURCE_ASSET: &str = "@asset";
/// `source` of the column holding the shell's id.
pub const SOURCE_SHELL: &str = "@shell";
/// `source` of the column holding a TimeSeries record's idShort (one row per record).
pub const SOURCE_RECORD: &str = "@record";
/// semanticId of a TimeSeries record (IDTA 02008-1-1).
pub const TIME_SERIES_RECORD: &str = "https://admin-shell.io/idta/TimeSeries/Record/1/1";
/// semanticId of the exported submodel.
pub const RELEASED_AGGREGATES_SEMANTIC_ID: &str = "urn:dtfhe:semantics:ReleasedAggregates:1:0";

/// One mapped value found in a submodel: its text (None: NULL) and JSON pointer.
type Found = (Option<String>, String);

/// Reads an AAS V3 JSON environment into rows of `schema`.
pub fn read(bytes: &[u8], origin: &str, schema: &Schema) -> Result<Document, FormatError> {
    let bytes = super::within_limit(bytes, origin, MAX_AAS_BYTES)?;
    let env = super::parse_json(bytes, origin)?;
    let not_aas = |reason: &str| FormatError::NotThisFormat {
        origin: origin.to_string(),
        format: "AAS V3 JSON environment",
        reason: reason.to_string(),
    };
    let shells = env
        .get("assetAdministrationShells")
        .and_then(Value::as_array)
        .ok_or_else(|| not_aas("no assetAdministrationShells array"))?;
    let empty = Vec::new();
    let submodels = match env.get("submodels") {
        None => &empty,
        Some(v) => v
            .as_array()
            .ok_or_else(|| not_aas("submodels is not an array"))?,
    };
    let mut by_id: BTreeMap<&str, (usize, &Value)> = BTreeMap::new();
    for (i, sm) in submodels.iter().enumerate() {
        if let Some(id) = sm.get("id").and_then(Value::as_str) {
            by_id.insert(id, (i, sm));
        }
    }
    // semanticId → column name; the special sources.
    let ([asset_col, shell_col, record_col], by_semantic) =
        super::columns_by_source(schema, [SOURCE_ASSET, SOURCE_SHELL, SOURCE_RECORD]);
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for (i, shell) in shells.iter().enumerate() {
        let spath = format!("/assetAdministrationShells/{i}");
        let mut problem = |path: String, column: Option<&str>, reason: String| {
            problems.push(Problem {
                line: 0,
                path,
                column: column.map(str::to_string),
                reason,
            })
        };
        let mut shell_fields: BTreeMap<String, Found> = BTreeMap::new();
        if let Some(c) = asset_col {
            match shell
                .get("assetInformation")
                .and_then(|a| a.get("globalAssetId"))
                .and_then(Value::as_str)
            {
                Some(a) => {
                    shell_fields.insert(
                        c.into(),
                        (Some(a.into()), format!("{spath}/assetInformation")),
                    );
                }
                None => problem(
                    format!("{spath}/assetInformation"),
                    Some(c),
                    "no globalAssetId".into(),
                ),
            }
        }
        if let Some(c) = shell_col {
            match shell.get("id").and_then(Value::as_str) {
                Some(id) => {
                    shell_fields.insert(c.into(), (Some(id.into()), spath.clone()));
                }
                None => problem(spath.clone(), Some(c), "no id".into()),
            }
        }
        let mut records: Vec<(String, String, BTreeMap<String, Found>)> = Vec::new();
        let refs = shell.get("submodels").and_then(Value::as_array);
        for (j, r) in refs.into_iter().flatten().enumerate() {
            let rpath = format!("{spath}/submodels/{j}");
            let id = r
                .get("keys")
                .and_then(Value::as_array)
                .and_then(|k| k.last())
                .and_then(|k| k.get("value"))
                .and_then(Value::as_str);
            let Some(&(k, sm)) = id.and_then(|id| by_id.get(id)) else {
                problem(
                    rpath,
                    None,
                    "references a submodel the document does not hold".into(),
                );
                continue;
            };
            let mut walk = Walk {
                by_semantic: &by_semantic,
                record_mode: record_col.is_some(),
                fields: &mut shell_fields,
                records: &mut records,
                problems: Vec::new(),
            };
            walk.check_irdis(sm, &format!("/submodels/{k}"));
            walk.elements(
                sm.get("submodelElements"),
                &format!("/submodels/{k}/submodelElements"),
                None,
            );
            for (path, column, reason) in walk.problems {
                problem(path, column.as_deref(), reason);
            }
        }
        let to_row = |path: String, fields: &BTreeMap<String, Found>| {
            let mut row = DocRow {
                line: 0,
                path,
                ..DocRow::default()
            };
            for (c, (v, p)) in fields {
                if let Some(v) = v {
                    row.fields.insert(c.clone(), v.clone());
                }
                row.places.insert(c.clone(), (0, p.clone()));
            }
            row
        };
        match record_col {
            None => rows.push(to_row(spath.clone(), &shell_fields)),
            Some(rc) => {
                for (id_short, rpath, fields) in records {
                    let mut all = shell_fields.clone();
                    all.extend(fields);
                    all.insert(rc.to_string(), (Some(id_short), rpath.clone()));
                    rows.push(to_row(rpath, &all));
                }
            }
        }
    }
    let table = if rows.is_empty() && problems.is_empty() {
        super::mtconnect::empty_table(schema)
    } else {
        check_rows(&rows, problems, origin, schema)?
    };
    Ok(Document {
        table,
        notes: DocumentNotes::default(),
    })
}

/// Searches submodel elements for mapped properties and TimeSeries records.
struct Walk<'a, 'b> {
    by_semantic: &'b BTreeMap<&'b str, &'b str>,
    record_mode: bool,
    fields: &'a mut BTreeMap<String, Found>,
    records: &'a mut Vec<(String, String, BTreeMap<String, Found>)>,
    /// (JSON pointer, column if one is concerned, reason).
    problems: Vec<(String, Option<String>, String)>,
}

fn semantic_keys(e: &Value) -> impl Iterator<Item = &str> {
    e.get("semanticId")
        .and_then(|s| s.get("keys"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| k.get("value").and_then(Value::as_str))
}

impl Walk<'_, '_> {
    /// A problem for every key of `e`'s semanticId that is meant as an IRDI (it starts with
    /// a digit) but is not a well-formed one ([`super::irdi`]), at `path/semanticId/keys/k`.
    fn check_irdis(&mut self, e: &Value, path: &str) {
        for (k, key) in semantic_keys(e).enumerate() {
            if !super::irdi::is_irdi_like(key) {
                continue;
            }
            if let Err(why) = super::irdi::check(key) {
                self.problems.push((
                    format!("{path}/semanticId/keys/{k}"),
                    None,
                    format!("the semanticId key is not a well-formed IRDI (ISO/TS 29002-5): {why}"),
                ));
            }
        }
    }

    /// `record`: the fields of the record being read, if inside one.
    fn elements(
        &mut self,
        list: Option<&Value>,
        path: &str,
        mut record: Option<&mut BTreeMap<String, Found>>,
    ) {
        let Some(list) = list.and_then(Value::as_array) else {
            return;
        };
        for (i, e) in list.iter().enumerate() {
            let epath = format!("{path}/{i}");
            self.check_irdis(e, &epath);
            let kind = e.get("modelType").and_then(Value::as_str).unwrap_or("");
            match kind {
                "SubmodelElementCollection" | "SubmodelElementList" => {
                    let is_record = self.record_mode
                        && record.is_none()
                        && semantic_keys(e).any(|k| k == TIME_SERIES_RECORD);
                    if is_record {
                        let mut fields = BTreeMap::new();
                        self.elements(e.get("value"), &format!("{epath}/value"), Some(&mut fields));
                        let id = e
                            .get("idShort")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        self.records.push((id, epath, fields));
                    } else {
                        self.elements(
                            e.get("value"),
                            &format!("{epath}/value"),
                            record.as_deref_mut(),
                        );
                    }
                }
                "Property" | "MultiLanguageProperty" => {
                    let Some(column) = semantic_keys(e).find_map(|k| self.by_semantic.get(k))
                    else {
                        continue;
                    };
                    let value = match (kind, e.get("value")) {
                        (_, None | Some(Value::Null)) => Ok(None),
                        ("Property", Some(Value::String(s))) => {
                            match e.get("valueType").and_then(Value::as_str) {
                                Some("xs:boolean") => match s.as_str() {
                                    "true" | "1" => Ok(Some("1".to_string())),
                                    "false" | "0" => Ok(Some("0".to_string())),
                                    _ => Err("an xs:boolean value that is not true or false"),
                                },
                                _ => Ok(Some(s.clone())),
                            }
                        }
                        ("MultiLanguageProperty", Some(Value::Array(texts))) => Ok(texts
                            .iter()
                            .find(|t| t.get("language").and_then(Value::as_str) == Some("en"))
                            .and_then(lang_text)
                            .or_else(|| texts.first().and_then(lang_text))
                            .map(str::to_string)),
                        _ => Err("a value that is not a text (Property) or language strings"),
                    };
                    let fields = match record.as_deref_mut() {
                        Some(r) => r,
                        None => &mut *self.fields,
                    };
                    match value {
                        Err(reason) => self.problems.push((
                            epath,
                            Some(column.to_string()),
                            reason.to_string(),
                        )),
                        Ok(v) => {
                            if let Some((_, first)) =
                                fields.insert(column.to_string(), (v, epath.clone()))
                            {
                                self.problems.push((
                                    epath,
                                    Some(column.to_string()),
                                    format!("the semanticId is found twice (also at {first})"),
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The `text` of a language string.
fn lang_text(t: &Value) -> Option<&str> {
    t.get("text").and_then(Value::as_str)
}

/// A released cell, typed for the AAS `valueType`.
#[derive(Debug, Clone, PartialEq)]
pub enum AasValue {
    /// No value (SQL NULL).
    Null,
    /// An integer (`xs:long`).
    Int(i64),
    /// A real number (`xs:double`).
    Double(f64),
    /// Text (`xs:string`).
    Text(String),
}

/// Who approved a release and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The trustee's name.
    pub trustee: String,
    /// When its approval was recorded (Unix seconds).
    pub unix: u64,
}

/// A released result with its release facts, as the exported submodel states them.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasedAggregates {
    /// The SQL asked.
    pub sql: String,
    /// The ledger's words for the release (`release N`).
    pub release_id: String,
    /// Ledger sequence number of the release request entry.
    pub request_entry: u64,
    /// Ledger sequence number of the delivery entry.
    pub delivery_entry: u64,
    /// ε of the trustees' noise (`dp`), or `None` for an exact audited release.
    pub epsilon: Option<f64>,
    /// When the result was released (Unix seconds).
    pub released_unix: u64,
    /// The deployment's smallest released group (k).
    pub min_group_size: u32,
    /// The trustees whose shares were combined.
    pub approvals: Vec<Approval>,
    /// Result column names.
    pub columns: Vec<String>,
    /// Result rows.
    pub rows: Vec<Vec<AasValue>>,
}

/// `unix` as an xs:dateTime in UTC.
pub fn xs_date_time(unix: u64) -> String {
    let secs = i64::try_from(unix).unwrap_or(i64::MAX);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// An idShort (`^[a-zA-Z][a-zA-Z0-9_]*$`, at most 128 characters) from a column name:
/// other characters become `_`, a leading non-letter gets `C` in front, repeats get `_2`, …
fn id_short(name: &str, taken: &mut Vec<String>) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let s2 = s.trim_matches('_').to_string();
    s = if s2.is_empty() {
        "Column".to_string()
    } else {
        s2
    };
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'C');
    }
    s.truncate(120);
    let base = s.clone();
    let mut n = 2;
    while taken.contains(&s) {
        s = format!("{base}_{n}");
        n += 1;
    }
    taken.push(s.clone());
    s
}

fn property(id_short: &str, value_type: &str, value: Option<String>) -> Value {
    let mut p = json!({"modelType": "Property", "idShort": id_short, "valueType": value_type});
    if let Some(v) = value {
        p["value"] = Value::String(v);
    }
    p
}

fn collection(id_short: &str, elements: Vec<Value>) -> Value {
    json!({"modelType": "SubmodelElementCollection", "idShort": id_short, "value": elements})
}

fn double_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "INF" } else { "-INF" }.into()
    } else {
        format!("{x}")
    }
}

/// The AAS V3 environment (JSON) holding one `ReleasedAggregates` submodel for `r`.
pub fn released_submodel(r: &ReleasedAggregates) -> Value {
    let mut release = vec![
        property("ReleaseId", "xs:string", Some(r.release_id.clone())),
        property(
            "ReleaseRequestEntry",
            "xs:long",
            Some(r.request_entry.to_string()),
        ),
        property("LedgerEntry", "xs:long", Some(r.delivery_entry.to_string())),
        property(
            "DisclosureMode",
            "xs:string",
            Some(if r.epsilon.is_some() { "dp" } else { "audit" }.to_string()),
        ),
    ];
    if let Some(e) = r.epsilon {
        release.push(property("Epsilon", "xs:double", Some(double_text(e))));
    }
    release.push(property(
        "ReleasedAt",
        "xs:dateTime",
        Some(xs_date_time(r.released_unix)),
    ));
    release.push(property(
        "MinGroupSize",
        "xs:long",
        Some(r.min_group_size.to_string()),
    ));
    let trustees: Vec<Value> = r
        .approvals
        .iter()
        .enumerate()
        .map(|(i, a)| {
            collection(
                &format!("Trustee{:02}", i + 1),
                vec![
                    property("Name", "xs:string", Some(a.trustee.clone())),
                    property("ApprovedAt", "xs:dateTime", Some(xs_date_time(a.unix))),
                ],
            )
        })
        .collect();
    release.push(collection("Trustees", trustees));
    let mut taken = Vec::new();
    let ids: Vec<String> = r.columns.iter().map(|c| id_short(c, &mut taken)).collect();
    let rows: Vec<Value> = r
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = ids
                .iter()
                .zip(&r.columns)
                .zip(row)
                .map(|((id, name), v)| {
                    let mut p = match v {
                        AasValue::Null => property(id, "xs:string", None),
                        AasValue::Int(n) => property(id, "xs:long", Some(n.to_string())),
                        AasValue::Double(x) => property(id, "xs:double", Some(double_text(*x))),
                        AasValue::Text(t) => property(id, "xs:string", Some(t.clone())),
                    };
                    let shown: String = name.chars().take(128).collect();
                    p["displayName"] = json!([{"language": "en", "text": shown}]);
                    p
                })
                .collect();
            collection(&format!("Row{:04}", i + 1), cells)
        })
        .collect();
    let request = r.request_entry;
    json!({
        "submodels": [{
            "modelType": "Submodel",
            "id": format!("urn:dtfhe:release:{request}"),
            "idShort": "ReleasedAggregates",
            "kind": "Instance",
            "semanticId": {
                "type": "ExternalReference",
                "keys": [{"type": "GlobalReference", "value": RELEASED_AGGREGATES_SEMANTIC_ID}]
            },
            "description": [{
                "language": "en",
                "text": "Aggregates computed on FHE ciphertexts and released by the trustees of a DigitalThreadFHE deployment, with their release facts"
            }],
            "submodelElements": [
                property("Query", "xs:string", Some(r.sql.clone())),
                collection("Release", release),
                collection("Result", rows),
            ]
        }]
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testing::{encrypted, fixture, public, repo_schema, spliced};
    use super::*;
    use dtfhe_model::Value as Cell;
    use proptest::prelude::*;

    const NAMEPLATE: &str = "aas_nameplate.toml";
    const TIMESERIES: &str = "aas_timeseries.toml";

    /// The spindles' environment (six shells, their Nameplate, TechnicalData, TimeSeries).
    fn spindles() -> String {
        fixture("aas_spindles.json")
    }

    fn schema(name: &str) -> Schema {
        repo_schema(name)
    }

    /// The spindles' environment read against schema `name`.
    fn spindles_table(name: &str) -> dtfhe_model::Table {
        read(spindles().as_bytes(), "spindles.json", &schema(name))
            .unwrap()
            .table
    }

    #[test]
    fn nameplate_and_technical_data_one_row_per_shell() {
        let t = spindles_table(NAMEPLATE);
        assert_eq!(t.rows, 6);
        assert_eq!(
            public(&t, "asset")[0],
            Cell::Text("https://plant-a.example/assets/spindle-001".into())
        );
        assert_eq!(
            public(&t, "manufacturer")[5],
            Cell::Text("Example Spindles GmbH".into())
        );
        assert_eq!(public(&t, "year_of_construction")[1], Cell::Int(2025));
    }

    #[test]
    fn time_series_one_row_per_record() {
        let t = spindles_table(TIMESERIES);
        assert_eq!(t.rows, 9);
        let vib = encrypted(&t, "vibration");
        assert_eq!(vib.present.iter().filter(|p| !**p).count(), 1);
        assert_eq!(public(&t, "record")[4], Cell::Text("Record05".into()));
        assert_eq!(
            public(&t, "serial_number")[5],
            Cell::Text("HS40-2026002".into())
        );
        assert_eq!(
            public(&t, "time")[0],
            Cell::Text("2026-11-10T06:00:00Z".into())
        );
    }

    /// JSON pointers of the semanticId keys (at any depth) whose value is `key`.
    fn key_pointers(v: &serde_json::Value, key: &str, at: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == "value" && x == key && at.contains("/semanticId/keys/") {
                        out.push(at.to_string());
                    }
                    key_pointers(x, key, &format!("{at}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    key_pointers(x, key, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn a_malformed_irdi_semantic_id_is_reported_by_its_key_path() {
        // One shell's ManufacturerName key loses a version digit, a TimeSeries record's
        // serial number key a code character: both named, the document refused.
        let doc = spindles()
            .replacen("\"0173-1#02-AAO677#002\"", "\"0173-1#02-AAO677#02\"", 1)
            .replacen("\"0173-1#02-AAM556#002\"", "\"0173-1#02-AM556#002\"", 1);
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let mut want = Vec::new();
        key_pointers(&v, "0173-1#02-AAO677#02", "", &mut want);
        key_pointers(&v, "0173-1#02-AM556#002", "", &mut want);
        assert_eq!(want.len(), 2);
        for text in [NAMEPLATE, TIMESERIES] {
            let e = read(doc.as_bytes(), "typo.json", &schema(text)).unwrap_err();
            let FormatError::Rejected { problems, .. } = &e else {
                panic!("{e}")
            };
            let mut got: Vec<&str> = problems
                .iter()
                .map(|p| p.path.as_str())
                .filter(|p| p.contains("/semanticId/"))
                .collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{e}");
            let t = e.to_string();
            // What the typo would have left unmapped is named too (a required column).
            if text == NAMEPLATE {
                assert!(t.contains("column \"manufacturer\": empty field"), "{t}");
            }
            assert!(t.contains("not a well-formed IRDI"), "{t}");
            assert!(t.contains("3 digits") && t.contains("6 characters"), "{t}");
        }
        // IRDIs of other registries (IEC CDD) and URIs pass.
        let doc = spindles().replacen(
            "\"0173-1#02-AAO676#003\"",
            "\"0112/2///61987#ABN590#002\"",
            1,
        );
        assert!(read(doc.as_bytes(), "cdd.json", &schema(NAMEPLATE)).is_ok());
    }

    #[test]
    fn every_problem_named_by_json_pointer_without_values() {
        let e = read(
            fixture("aas_malformed.json").as_bytes(),
            "bad.json",
            &schema(NAMEPLATE),
        )
        .unwrap_err();
        let FormatError::Rejected { problems, .. } = &e else {
            panic!("{e}")
        };
        let mut paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "/assetAdministrationShells/3/submodels/2",
                "/submodels/1/submodelElements/1/value/0",
                "/submodels/4/submodelElements/1/value/1",
                "/submodels/9/submodelElements/1/value/3",
            ],
            "{e}"
        );
        let text = e.to_string();
        for secret in ["fast", "9999"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let e = read(b"{\"a\": [1, 2,", "x.json", &schema(NAMEPLATE)).unwrap_err();
        assert!(matches!(e, FormatError::Json { line: 1, .. }), "{e}");
        let e = read(b"{\"submodels\": []}", "x.json", &schema(NAMEPLATE)).unwrap_err();
        assert!(matches!(e, FormatError::NotThisFormat { .. }), "{e}");
    }

    #[test]
    fn export_uses_valid_id_shorts_and_utc_times() {
        assert_eq!(xs_date_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(xs_date_time(1_796_284_805), "2026-12-03T08:00:05Z");
        let r = ReleasedAggregates {
            sql: "SELECT 1".into(),
            release_id: "release 7".into(),
            request_entry: 7,
            delivery_entry: 10,
            epsilon: None,
            released_unix: 1_796_284_805,
            min_group_size: 5,
            approvals: vec![Approval {
                trustee: "plant-a".into(),
                unix: 1_796_284_804,
            }],
            columns: vec!["sum(x)".into(), "SUM(x)".into(), "1st".into(), "".into()],
            rows: vec![vec![
                AasValue::Double(1.5),
                AasValue::Int(3),
                AasValue::Null,
                AasValue::Text("t".into()),
            ]],
        };
        let v = released_submodel(&r);
        let row = &v["submodels"][0]["submodelElements"][2]["value"][0]["value"];
        let ids: Vec<&str> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["idShort"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["sum_x", "SUM_x", "C1st", "Column"]);
        assert!(row[2].get("value").is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Mutated environments are refused or read, never a panic.
        #[test]
        fn hostile_input_never_panics(pos in 0usize..51_300, bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let doc = spliced(&spindles(), pos, &bytes);
            let _ = read(&doc, "mutated", &schema(NAMEPLATE));
            let _ = read(&doc, "mutated", &schema(TIMESERIES));
        }
    }
}
