//! What every live source's mapping file (TOML) shares: the format version, the dataset it
//! maps (which must be the schema's), columns that must exist in the schema, every column
//! either mapped or nullable, and errors that name the file and the key.

use std::collections::BTreeMap;
use std::path::Path;

use dtfhe_model::{ColumnSpec, Schema};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The mapping file format this agent reads.
pub const MAP_VERSION: u32 = 1;

/// Why a mapping file is refused (names the file and the key).
#[derive(Debug, thiserror::Error)]
#[error("mapping {origin}: {reason}")]
pub struct MapError {
    /// The mapping file.
    pub origin: String,
    /// What is wrong, naming the topic, node or column.
    pub reason: String,
}

/// The keys every mapping file starts with, read before the rest so that a file of another
/// version is refused for its version, not for a key this agent does not know.
#[derive(Deserialize)]
struct Header {
    version: u32,
    dataset: String,
}

/// One mapping file being checked against a schema.
pub(crate) struct MapFile<'a> {
    origin: &'a str,
    schema: &'a Schema,
}

impl<'a> MapFile<'a> {
    /// A file named `origin` in errors, mapping `schema`'s dataset.
    pub(crate) fn new(origin: &'a str, schema: &'a Schema) -> MapFile<'a> {
        MapFile { origin, schema }
    }

    /// The error `reason` about this file.
    pub(crate) fn fail(&self, reason: impl Into<String>) -> MapError {
        MapError {
            origin: self.origin.to_string(),
            reason: reason.into(),
        }
    }

    /// Parses `text` as `R` once its version and dataset are checked.
    pub(crate) fn parse<R: DeserializeOwned>(&self, text: &str) -> Result<R, MapError> {
        let header: Header = toml::from_str(text).map_err(|e| self.fail(e.to_string()))?;
        if header.version != MAP_VERSION {
            return Err(self.fail(format!(
                "version {} is not supported (this agent reads version {MAP_VERSION})",
                header.version
            )));
        }
        if header.dataset != self.schema.dataset {
            return Err(self.fail(format!(
                "maps dataset `{}` but the schema is for `{}`",
                header.dataset, self.schema.dataset
            )));
        }
        toml::from_str(text).map_err(|e| self.fail(e.to_string()))
    }

    /// The source of every schema column (schema order) from the `given` table: `source`
    /// reads a given one, a column not given is `None` when nullable and an error otherwise;
    /// a given column the schema lacks is an error. `at` prefixes errors (e.g. the topic).
    pub(crate) fn columns<R, S>(
        &self,
        at: &str,
        given: &BTreeMap<String, R>,
        mut source: impl FnMut(usize, &ColumnSpec, &R, &dyn Fn(&str) -> MapError) -> Result<S, MapError>,
    ) -> Result<Vec<Option<S>>, MapError> {
        if let Some(name) = given.keys().find(|n| self.schema.column(n).is_none()) {
            return Err(self.fail(format!(
                "{at}column `{name}` is not in the schema of `{}`",
                self.schema.dataset
            )));
        }
        let mut out = Vec::with_capacity(self.schema.columns.len());
        for (i, col) in self.schema.columns.iter().enumerate() {
            let fail = |r: &str| self.fail(format!("{at}column `{}`: {r}", col.name));
            out.push(match given.get(&col.name) {
                Some(raw) => Some(source(i, col, raw, &fail)?),
                None if col.nullable => None,
                None => return Err(fail("is not nullable and has no source")),
            });
        }
        Ok(out)
    }
}

/// Checks that a column's source gives exactly one of `keys` (each key's name and whether it
/// is given); `fail` names the column in the error.
pub(crate) fn exactly_one(
    keys: &[(&str, bool)],
    fail: &dyn Fn(&str) -> MapError,
) -> Result<(), MapError> {
    if keys.iter().filter(|(_, given)| *given).count() == 1 {
        return Ok(());
    }
    let names: Vec<String> = keys.iter().map(|(k, _)| format!("`{k}`")).collect();
    Err(fail(&format!("give exactly one of {}", names.join(", "))))
}

/// Reads the mapping file at `path` and checks it with `parse` (given its text and its name).
pub(crate) fn read_file<M>(
    path: &Path,
    parse: impl FnOnce(&str, &str) -> Result<M, MapError>,
) -> Result<M, MapError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| MapError {
        origin: origin.clone(),
        reason: format!("cannot read: {e}"),
    })?;
    parse(&text, &origin)
}

/// Test helpers of the mapping readers.
#[cfg(test)]
pub(crate) mod testing {
    use super::MapError;
    use dtfhe_model::Schema;

    /// A manufacturing-stage schema of `dataset` with the `[[columns]]` tables in `columns`.
    pub(crate) fn schema(dataset: &str, columns: &str) -> Schema {
        let text = format!("dataset = \"{dataset}\"\nstage = \"manufacturing\"\n{columns}");
        Schema::from_toml_str(&text, "s.toml").expect("test schema")
    }

    /// Asserts that `parse` refuses each case's text with an error naming `m.toml` and
    /// holding the case's words.
    pub(crate) fn assert_refused<M: std::fmt::Debug>(
        cases: &[(String, &str)],
        parse: impl Fn(&str) -> Result<M, MapError>,
    ) {
        for (bad, names) in cases {
            let e = parse(bad).expect_err(names).to_string();
            assert!(e.contains(names), "{e}");
            assert!(e.starts_with("mapping m.toml: "), "{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Deserialize)]
    struct Raw {
        #[allow(dead_code)]
        version: u32,
        columns: BTreeMap<String, String>,
    }

    fn read(text: &str) -> Result<Vec<Option<String>>, MapError> {
        let schema = testing::schema(
            "press",
            "[[columns]]\nname = \"machine\"\nkind = \"public\"\ntype = \"text\"\n\
             [[columns]]\nname = \"note\"\nkind = \"public\"\ntype = \"text\"\nnullable = true\n",
        );
        let file = MapFile::new("m.toml", &schema);
        let raw: Raw = file.parse(text)?;
        file.columns("topic #1, ", &raw.columns, |_, _, v, fail| {
            if v.is_empty() {
                Err(fail("empty"))
            } else {
                Ok(v.clone())
            }
        })
    }

    #[test]
    fn every_mapping_file_is_checked_for_version_dataset_and_columns() {
        let ok = "version = 1\ndataset = \"press\"\n[columns]\nmachine = \"m\"\n";
        assert_eq!(read(ok).unwrap(), vec![Some("m".to_string()), None]);
        let cases = [
            (
                ok.replace("\"press\"", "\"other\""),
                "schema is for `press`",
            ),
            // A newer file is refused for its version, not for the keys it adds.
            (
                ok.replace("version = 1", "version = 9\nnew_key = 1"),
                "version 9 is not supported",
            ),
            (
                ok.replace("machine =", "machin ="),
                "topic #1, column `machin` is not in",
            ),
            (
                ok.replace("machine = \"m\"", "note = \"n\""),
                "topic #1, column `machine`: is not nullable and has no source",
            ),
            (
                ok.replace("\"m\"", "\"\""),
                "topic #1, column `machine`: empty",
            ),
            ("version = \"x\"".to_string(), "version"),
        ];
        testing::assert_refused(&cases, read);
    }
}
