//! `dtfhe artifact put|get` and `dtfhe thread show`: sealed artifacts (the design files,
//! simulation results and repair reports of a product) and the product's thread across
//! stages.
//!
//! A source seals an artifact's bytes with its own artifact key
//! (`D/sources/<source>/artifact.key`, see [`dtfhe_agent::artifact`]), signs the record with
//! its registered ed25519 key and the store keeps the sealed bytes with an `artifact_sealed`
//! ledger entry. Only the owning source can open it again.

use std::path::{Path, PathBuf};

use dtfhe_agent::artifact::{ArtifactKey, Binding, ARTIFACT_KEY_FILE};
use dtfhe_agent::source_key;
use dtfhe_model::{decode_public_columns, Schema, Value, LANE_COLUMN};
use dtfhe_store::{ArtifactFile, EntryKind, NewArtifact, StoreError, ARTIFACT_STAGES};
use ed25519_dalek::Signer as _;

use crate::DeploymentDir;
use crate::EmbeddedError;

/// What `artifact put` stored.
#[derive(Debug, Clone)]
pub struct PutReport {
    /// Artifact id.
    pub id: i64,
    /// File name.
    pub name: String,
    /// Plaintext size.
    pub size: u64,
    /// blake3 of the sealed bytes (hex).
    pub sealed_hash: String,
}

fn check_text(kind: &str, s: &str) -> Result<(), EmbeddedError> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(EmbeddedError::Usage(format!(
            "{kind} {s:?} must be 1-256 bytes without control characters"
        )));
    }
    Ok(())
}

/// Seals `file` at source `source` and stores it as an artifact of `product` at `stage`.
pub fn put(
    dir: impl Into<DeploymentDir>,
    product: &str,
    stage: &str,
    file: &Path,
    source: &str,
) -> Result<PutReport, EmbeddedError> {
    let dir = &dir.into();
    crate::ops::valid_name("source", source)?;
    check_text("product", product)?;
    if !ARTIFACT_STAGES.contains(&stage) {
        return Err(EmbeddedError::Usage(format!(
            "--stage must be one of {}",
            ARTIFACT_STAGES.join(", ")
        )));
    }
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| EmbeddedError::Usage(format!("{}: not a UTF-8 file name", file.display())))?
        .to_string();
    check_text("file name", &name)?;
    let plain = std::fs::read(file).map_err(|e| EmbeddedError::io(file, e))?;
    let mut store = dir.open_store()?;
    if let Some((m, _)) = store.artifact(product, &name)? {
        return Err(EmbeddedError::Usage(format!(
            "product `{product}` already has an artifact named `{name}` (artifact {}, source \
             `{}`); artifacts are never replaced, nothing was stored",
            m.id, m.file.source
        )));
    }
    let sdir = source_key::source_dir(dir, source);
    let signing =
        source_key::load_or_create(&sdir).map_err(|e| EmbeddedError::Usage(e.to_string()))?;
    store.register_source(source, &signing.verifying_key())?;
    let key =
        ArtifactKey::load_or_create(&sdir).map_err(|e| EmbeddedError::Usage(e.to_string()))?;
    let binding = Binding {
        product,
        stage,
        source,
        name: &name,
    };
    let sealed = key
        .seal(&binding, &plain)
        .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
    let sealed_hash = *blake3::hash(&sealed).as_bytes();
    let size = plain.len() as u64;
    let file = ArtifactFile {
        product: product.into(),
        stage: stage.into(),
        source: source.into(),
        name: name.clone(),
        size,
        plain_hash: *blake3::hash(&plain).as_bytes(),
    };
    let signature = signing.sign(&file.message(&sealed_hash)).to_bytes();
    let id = store.put_artifact(&NewArtifact {
        file,
        sealed,
        signature,
    })?;
    Ok(PutReport {
        id,
        name,
        size,
        sealed_hash: blake3::Hash::from(sealed_hash).to_hex().to_string(),
    })
}

/// Opens artifact `name` of `product` as source `source` and writes it to `out`.
///
/// Refused (exit 4, logged as `access_denied`, nothing written) unless `source` is the
/// artifact's owner and holds its artifact key; sealed bytes that do not match their
/// recorded hash, or do not authenticate, fail with exit 8 and nothing written.
pub fn get(
    dir: impl Into<DeploymentDir>,
    product: &str,
    name: &str,
    out: &Path,
    source: &str,
) -> Result<u64, EmbeddedError> {
    let dir = &dir.into();
    crate::ops::valid_name("source", source)?;
    let mut store = dir.open_store()?;
    let Some((meta, sealed)) = store.artifact(product, name).map_err(tampered)? else {
        return Err(EmbeddedError::Usage(format!(
            "product `{product}` has no artifact named `{name}`"
        )));
    };
    let sdir = source_key::source_dir(dir, source);
    let key = if meta.file.source != source {
        Err(format!(
            "artifact `{name}` of product `{product}` is sealed by source `{}`; source \
             `{source}` does not hold its key",
            meta.file.source
        ))
    } else {
        match ArtifactKey::load(&sdir) {
            Ok(Some(k)) => Ok(k),
            Ok(None) => Err(format!(
                "source `{source}` holds no artifact key ({} is missing), so it cannot open \
                 artifact `{name}` of product `{product}`",
                sdir.join(ARTIFACT_KEY_FILE).display()
            )),
            Err(e) => Err(e.to_string()),
        }
    };
    let key = match key {
        Ok(k) => k,
        Err(reason) => {
            let _ = store.append_entry(
                EntryKind::AccessDenied,
                source,
                &meta.id.to_string(),
                &format!("artifact get refused: {reason}"),
                &[meta.sealed_hash],
            );
            return Err(EmbeddedError::Refused(reason));
        }
    };
    let binding = Binding {
        product,
        stage: &meta.file.stage,
        source,
        name,
    };
    let plain = key
        .open(&binding, &sealed)
        .map_err(|e| EmbeddedError::Tampered(e.to_string()))?;
    if blake3::hash(&plain).as_bytes() != &meta.file.plain_hash {
        return Err(EmbeddedError::Tampered(format!(
            "artifact `{name}` of product `{product}`: opened bytes do not match the recorded \
             plaintext hash"
        )));
    }
    write_atomically(out, &plain)?;
    Ok(plain.len() as u64)
}

fn tampered(e: StoreError) -> EmbeddedError {
    match e {
        StoreError::Tampered { what } => EmbeddedError::Tampered(what),
        e => e.into(),
    }
}

/// Writes `bytes` to a temporary file beside `out`, then renames it into place, so a
/// failure never leaves a partial output file.
fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), EmbeddedError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(&parent).map_err(|e| EmbeddedError::io(&parent, e))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| EmbeddedError::io(out, e))?;
    tmp.persist(out)
        .map_err(|e| EmbeddedError::io(out, e.error))?;
    Ok(())
}

/// One row of a per-product dataset about the product.
#[derive(Debug, Clone)]
pub struct ThreadRow {
    /// Dataset.
    pub dataset: String,
    /// Stage of the dataset.
    pub stage: String,
    /// Source (data owner).
    pub source: String,
    /// Chunk id.
    pub chunk: i64,
    /// Public columns of the row (name, value); encrypted columns are never shown.
    pub public: Vec<(String, String)>,
}

/// A product's thread: its per-product dataset rows and its sealed artifacts.
#[derive(Debug, Clone)]
pub struct Thread {
    /// Product.
    pub product: String,
    /// Dataset rows, in stage order.
    pub rows: Vec<ThreadRow>,
    /// Artifacts, in stage order.
    pub artifacts: Vec<dtfhe_store::ArtifactMeta>,
}

fn stage_rank(s: &str) -> usize {
    ARTIFACT_STAGES
        .iter()
        .position(|x| *x == s)
        .unwrap_or(ARTIFACT_STAGES.len())
}

/// Every record about `product`: rows of per-product datasets (schemas with `lanes`) whose
/// lane key equals it, with their public columns only, and its sealed artifacts.
pub fn thread(dir: impl Into<DeploymentDir>, product: &str) -> Result<Thread, EmbeddedError> {
    let dir = &dir.into();
    let store = dir.open_store()?;
    let mut rows = Vec::new();
    for dataset in store.datasets()? {
        let Some(text) = store.dataset_schema(&dataset)? else {
            continue;
        };
        let schema = Schema::from_toml_str(&text, &dataset)
            .map_err(|e| EmbeddedError::Usage(format!("dataset `{dataset}`: {e}")))?;
        let Some(key) = schema.lanes.clone() else {
            continue;
        };
        for chunk in store.chunks(&dataset)? {
            let cols = decode_public_columns(&chunk.public).map_err(|e| {
                EmbeddedError::Usage(format!("dataset `{dataset}`, chunk {}: {e}", chunk.id))
            })?;
            let Some(kc) = cols.iter().find(|c| c.name == key) else {
                continue;
            };
            for (i, v) in kc.values.iter().enumerate() {
                if v.to_string() != product {
                    continue;
                }
                rows.push(ThreadRow {
                    dataset: dataset.clone(),
                    stage: schema.stage.as_str().to_string(),
                    source: chunk.source.clone(),
                    chunk: chunk.id,
                    public: cols
                        .iter()
                        .filter(|c| c.name != LANE_COLUMN)
                        .map(|c| {
                            (
                                c.name.clone(),
                                c.values.get(i).map(Value::to_string).unwrap_or_default(),
                            )
                        })
                        .collect(),
                });
            }
        }
    }
    rows.sort_by(|a, b| {
        (stage_rank(&a.stage), &a.dataset, a.chunk).cmp(&(
            stage_rank(&b.stage),
            &b.dataset,
            b.chunk,
        ))
    });
    let artifacts = store.artifacts(product)?;
    Ok(Thread {
        product: product.to_string(),
        rows,
        artifacts,
    })
}

impl Thread {
    /// Human-readable listing, stage by stage.
    pub fn to_text(&self) -> String {
        let mut out = format!("product {}\n", self.product);
        if self.rows.is_empty() && self.artifacts.is_empty() {
            out.push_str("  no records\n");
            return out;
        }
        for stage in ARTIFACT_STAGES {
            let rows: Vec<&ThreadRow> = self.rows.iter().filter(|r| r.stage == stage).collect();
            let arts: Vec<_> = self
                .artifacts
                .iter()
                .filter(|a| a.file.stage == stage)
                .collect();
            if rows.is_empty() && arts.is_empty() {
                continue;
            }
            out.push_str(&format!("{stage}\n"));
            for a in arts {
                out.push_str(&format!(
                    "  artifact  {}  {} bytes  source {}  sealed {}\n",
                    a.file.name,
                    a.file.size,
                    a.file.source,
                    blake3::Hash::from(a.sealed_hash).to_hex()
                ));
            }
            for r in rows {
                let cols: Vec<String> = r.public.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!(
                    "  row       dataset {}  source {}  chunk {}  {}\n",
                    r.dataset,
                    r.source,
                    r.chunk,
                    cols.join(" ")
                ));
            }
        }
        out
    }

    /// JSON: `{"product", "records": [{"kind": "artifact"|"row", "stage", ...}]}` in stage
    /// order.
    pub fn to_json(&self) -> String {
        let mut records = Vec::new();
        for stage in ARTIFACT_STAGES {
            for a in self.artifacts.iter().filter(|a| a.file.stage == stage) {
                let f = &a.file;
                records.push(serde_json::json!({
                    "kind": "artifact",
                    "stage": f.stage,
                    "name": f.name,
                    "size": f.size,
                    "source": f.source,
                    "id": a.id,
                    "sealed_hash": blake3::Hash::from(a.sealed_hash).to_hex().to_string(),
                    "plain_hash": blake3::Hash::from(f.plain_hash).to_hex().to_string(),
                }));
            }
            for r in self.rows.iter().filter(|r| r.stage == stage) {
                let public: serde_json::Map<String, serde_json::Value> = r
                    .public
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                records.push(serde_json::json!({
                    "kind": "row",
                    "stage": r.stage,
                    "dataset": r.dataset,
                    "source": r.source,
                    "chunk": r.chunk,
                    "public": public,
                }));
            }
        }
        let v = serde_json::json!({ "product": self.product, "records": records });
        format!("{v}\n")
    }
}
