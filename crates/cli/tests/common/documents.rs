//! What the document tests share (B2MML, MTConnect, AAS, CAD, STEP): the agent crate's
//! fixtures, one `dtfhe ingest --format F FILE` with its outcome, and reading the plaintext
//! back out of an XML fixture.

use super::{dtfhe, fails_with, ok, repo, success_json};
use dtfhe_engine::ResultSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A fixture of the agent crate's tests.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("crates/agent/tests/fixtures").join(name)
}

/// A fresh embedded deployment for a document test: trustees `plant-a,plant-b`, k = 5,
/// bfv-8192, at `<root>/d` under a [`super::fresh_dir`] named `name`; the root and the
/// deployment.
pub fn document_deployment(name: &str) -> (PathBuf, PathBuf) {
    let root = super::fresh_dir(name);
    let dir = root.join("d");
    super::init(&dir, "plant-a,plant-b", 5, "bfv-8192");
    (root, dir)
}

/// Asserts that a refusal names none of `values` (values of the document's encrypted
/// columns must never be quoted).
pub fn assert_quotes_none(err: &str, values: &[&str]) {
    for value in values {
        assert!(!err.contains(value), "{value} quoted: {err}");
    }
}

/// `dtfhe ingest --format F FILE` of documents into an embedded deployment.
#[derive(Clone)]
pub struct DocIngest<'a> {
    dir: &'a Path,
    format: &'a str,
    schema: PathBuf,
    source: &'a str,
    product: Option<&'a str>,
}

impl<'a> DocIngest<'a> {
    /// Documents of `format` read against the repository's `schemas/<schema>`, by `source`,
    /// into the deployment at `dir`.
    pub fn new(dir: &'a Path, format: &'a str, schema: &str, source: &'a str) -> DocIngest<'a> {
        DocIngest {
            dir,
            format,
            schema: repo().join("schemas").join(schema),
            source,
            product: None,
        }
    }

    /// The same, by another source.
    pub fn by(&self, source: &'a str) -> DocIngest<'a> {
        DocIngest {
            source,
            ..self.clone()
        }
    }

    /// The same, linked to `product` (`--product`).
    pub fn of_product(&self, product: &'a str) -> DocIngest<'a> {
        DocIngest {
            product: Some(product),
            ..self.clone()
        }
    }

    /// The command's arguments for `file`.
    pub fn args(&self, file: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "ingest".into(),
            "--dir".into(),
            self.dir.into(),
            "--schema".into(),
            self.schema.clone().into(),
            "--source".into(),
            self.source.into(),
            "--format".into(),
            self.format.into(),
        ];
        if let Some(p) = self.product {
            args.extend(["--product".into(), p.into()]);
        }
        args.push(file.into());
        args
    }

    /// Ingests `file`; its output.
    pub fn ok(&self, file: &Path) -> String {
        ok(self.args(file))
    }

    /// Ingests `file`, which is refused whole as bad input (exit 3); the error.
    pub fn refused(&self, file: &Path) -> String {
        fails_with(3, self.args(file))
    }

    /// Ingests `file`, which is refused whole for `rejected` bad elements, quoting none of
    /// `values`, with nothing of the dataset stored; the error.
    pub fn refused_whole(&self, file: &Path, rejected: usize, values: &[&str]) -> String {
        let err = self.refused(file);
        super::assert_says(&err, &[&format!("{rejected} rejected elements")]);
        assert_quotes_none(&err, values);
        let dataset = dtfhe_model::Schema::from_toml_file(&self.schema)
            .expect("schema")
            .dataset;
        assert_eq!(super::store_counts(self.dir, &dataset), (0, 0), "{dataset}");
        err
    }
}

/// Text of every `<tag …>text</tag>` (empty elements skipped; no namespace prefixes).
pub fn texts_of<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        rest = after;
        if !(after.starts_with('>') || after.starts_with(' ')) {
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        if after[..gt].ends_with('/') {
            continue;
        }
        let body = &after[gt + 1..];
        if let Some(close) = body.find("</") {
            out.push(&body[..close]);
        }
    }
    out
}

/// Blocks `<tag>…</tag>` (no nesting of the same tag).
pub fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    xml.split(&format!("<{tag}>"))
        .skip(1)
        .map(|b| b.split(&format!("</{tag}>")).next().expect("block"))
        .collect()
}

/// `dtfhe query --dir DIR --format json --export-aas FILE SQL` (embedded): the result.
pub fn query_exporting_aas(dir: &Path, export: &Path, sql: &str) -> ResultSet {
    let o = dtfhe([
        "query".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "--export-aas".as_ref(),
        export.as_os_str(),
        sql.as_ref(),
    ] as [&std::ffi::OsStr; 8]);
    success_json(&o, sql)
}
