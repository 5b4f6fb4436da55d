//! What the dashboard asks of the deployment, embedded (`--dir`: `dtfhe_embedded`'s query and
//! audit functions) or networked (`--server --identity`: `dtfhe_analyst`'s query, which opens
//! the trustees' sealed shares in this process, and its remote audit). Every call blocks
//! (FHE work, trustees); the web layer runs them off the async threads, one at a time.
//!
//! Nothing here reads a plaintext value of an encrypted column: the overview counts rows and
//! chunks and lists column declarations; results are released aggregates only.

use crate::error::DashboardError;
use dtfhe_api::{Client, Identity};
use dtfhe_embedded::{audit, ops, DeploymentDir};
use dtfhe_engine::ResultSet;
use dtfhe_ledger::wording::{parse_release_subject, release_subject};
use dtfhe_ledger::{Entry, EntryKind};
use dtfhe_model::{ChunkReader, ColumnKind, Schema, Stage, Value};
use dtfhe_release::QueryReport;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the deployment is.
#[derive(Debug, Clone)]
pub enum Backend {
    /// An embedded deployment directory (this process plays every trustee).
    Embedded {
        /// The deployment directory (and its store location).
        dir: DeploymentDir,
    },
    /// A platform server, queried as the analyst whose identity file is given.
    Networked {
        /// Platform URL.
        server: String,
        /// The analyst's identity file.
        identity: PathBuf,
        /// How long a query waits for every trustee.
        timeout: Duration,
        /// An auditor's identity file (the ledger is read by auditors only): the audit
        /// view's ledger and "verify now" use it; without one they say so.
        auditor: Option<PathBuf>,
        /// The platform's pinned checkpoint key (`store.pub`), for "verify now".
        store_key: Option<PathBuf>,
    },
}

/// The refusal of the networked audit view without an auditor identity.
fn no_auditor() -> DashboardError {
    DashboardError::Usage(
        "the platform's ledger is read by auditors only: start the dashboard with \
         --auditor-identity F (an identity registered with the auditor role)"
            .into(),
    )
}

/// One column's declaration (never a value).
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// SQL name.
    pub name: String,
    /// Encrypted at the source.
    pub encrypted: bool,
    /// An identifier (`role = "key"`).
    pub key: bool,
    /// Type (`integer`, `decimal`, `text`) or encrypted usage and scale.
    pub kind: String,
}

/// Rows and chunks one source appended to a dataset.
#[derive(Debug, Clone)]
pub struct SourceCount {
    /// Source (data owner).
    pub source: String,
    /// Rows.
    pub rows: u64,
    /// Chunks.
    pub chunks: u64,
}

/// One dataset of the thread.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    /// SQL table name.
    pub name: String,
    /// Lifecycle stage.
    pub stage: Stage,
    /// Lane key (per-product datasets), if any.
    pub lanes: Option<String>,
    /// Columns in declaration order.
    pub columns: Vec<ColumnInfo>,
    /// Per source (owner), in name order.
    pub sources: Vec<SourceCount>,
}

impl DatasetInfo {
    /// Rows of every source.
    pub fn rows(&self) -> u64 {
        self.sources.iter().map(|s| s.rows).sum()
    }

    /// Chunks of every source.
    pub fn chunks(&self) -> u64 {
        self.sources.iter().map(|s| s.chunks).sum()
    }
}

/// The deployment at a glance.
#[derive(Debug, Clone)]
pub struct Overview {
    /// `embedded` or `networked`.
    pub kind: &'static str,
    /// Parameter preset.
    pub preset: String,
    /// Trustees.
    pub trustees: Vec<String>,
    /// t of a t-of-n deployment (any t trustees release); `None`: every trustee must.
    pub threshold: Option<usize>,
    /// Smallest group released.
    pub min_group_size: u32,
    /// Every dataset.
    pub datasets: Vec<DatasetInfo>,
}

/// What stands behind a released result: who approved it and when, the group sizes, the
/// disclosure mode, the ledger entries.
#[derive(Debug, Clone)]
pub struct ReleaseFacts {
    /// Trustees that approved, with the time of their approval (unix seconds).
    pub approvals: Vec<(String, u64)>,
    /// When the result was released (unix seconds).
    pub released_unix: u64,
    /// Each group (its key, shown) and its number of rows.
    pub groups: Vec<(String, u64)>,
    /// ε of the trustees' noise, `None` for an audited exact release.
    pub epsilon: Option<f64>,
    /// The deployment's smallest group (k).
    pub min_group_size: u32,
    /// Ciphertexts decrypted jointly.
    pub ciphertexts: usize,
    /// The ledger's words for the release (`release N`) and its delivery entry, if known.
    pub ledger: Option<(String, u64)>,
}

/// A released result with its facts.
#[derive(Debug, Clone)]
pub struct Released {
    /// The SQL asked.
    pub sql: String,
    /// The released table.
    pub result: ResultSet,
    /// Its release facts.
    pub facts: ReleaseFacts,
}

impl Released {
    /// The released `report` of `sql` with the facts the deployment knows of it.
    fn new(
        sql: &str,
        report: QueryReport,
        approvals: Vec<(String, u64)>,
        released_unix: u64,
        min_group_size: u32,
        ledger: Option<(String, u64)>,
    ) -> Released {
        Released {
            sql: sql.to_string(),
            facts: ReleaseFacts {
                approvals,
                released_unix,
                groups: report
                    .group_rows
                    .iter()
                    .map(|(k, n)| (group_text(k), *n))
                    .collect(),
                epsilon: report.epsilon,
                min_group_size,
                ciphertexts: report.released_ciphertexts,
                ledger,
            },
            result: report.result,
        }
    }
}

/// One sealed artifact of a product's thread: its name and hashes, never its content.
#[derive(Debug, Clone)]
pub struct ArtifactInfo {
    /// Lifecycle stage.
    pub stage: String,
    /// The source that sealed it (the only one that can open it).
    pub source: String,
    /// File name.
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// blake3 of the sealed bytes, hex.
    pub sealed_hash: String,
    /// When it was sealed.
    pub sealed_at: String,
}

/// One row of a per-product dataset about a product: public columns only (a thread is read
/// from an embedded deployment, so its rows are the embedded deployment's).
pub use dtfhe_embedded::artifact::ThreadRow;

/// A product's thread: rows of per-product datasets (public columns only) and artifacts.
#[derive(Debug, Clone)]
pub struct ThreadInfo {
    /// The product.
    pub product: String,
    /// Rows in stage order.
    pub rows: Vec<ThreadRow>,
    /// Sealed artifacts, in stage order.
    pub artifacts: Vec<ArtifactInfo>,
}

/// `dtfhe audit verify`'s answer, in words, with what the auditor sees next to it.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The one-line summary (`verified N entries ...: OK`).
    pub summary: String,
}

/// A deployment failure (the store, the platform) in words.
fn deployment(e: impl std::fmt::Display) -> DashboardError {
    DashboardError::Deployment(e.to_string())
}

/// A failure reading the ledger in words.
fn audit_error(e: impl std::fmt::Display) -> DashboardError {
    DashboardError::Audit(e.to_string())
}

/// The platform's deployment record, without the relinearisation key.
fn deployment_info(client: &Client) -> Result<dtfhe_api::types::DeploymentInfo, DashboardError> {
    client
        .get_json("/v1/deployment?relin_key=omit")
        .map_err(deployment)
}

fn group_text(key: &[Value]) -> String {
    if key.is_empty() {
        "all rows".into()
    } else {
        key.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn columns(schema: &Schema) -> Vec<ColumnInfo> {
    schema
        .columns
        .iter()
        .map(|c| ColumnInfo {
            name: c.name.clone(),
            encrypted: c.is_encrypted(),
            key: c.key,
            kind: match &c.kind {
                ColumnKind::Public(t) => t.as_str().to_string(),
                ColumnKind::Encrypted(e) => {
                    format!("encrypted ({}, scale {})", e.usage.as_str(), e.codec.scale)
                }
            },
        })
        .collect()
}

fn dataset_info(schema: &Schema, reader: &dyn ChunkReader) -> Result<DatasetInfo, DashboardError> {
    let mut per: BTreeMap<String, SourceCount> = BTreeMap::new();
    let chunks = reader.chunks(&schema.dataset).map_err(deployment)?;
    for c in chunks {
        let s = per.entry(c.source.clone()).or_insert_with(|| SourceCount {
            source: c.source.clone(),
            rows: 0,
            chunks: 0,
        });
        s.rows += u64::from(c.rows);
        s.chunks += 1;
    }
    Ok(DatasetInfo {
        name: schema.dataset.clone(),
        stage: schema.stage,
        lanes: schema.lanes.clone(),
        columns: columns(schema),
        sources: per.into_values().collect(),
    })
}

fn stage_rank(s: Stage) -> u8 {
    match s {
        Stage::Design => 0,
        Stage::Manufacturing => 1,
        Stage::Maintenance => 2,
    }
}

impl Backend {
    fn client(server: &str, identity: &Path) -> Result<Client, DashboardError> {
        let id = Identity::load(identity).map_err(|e| DashboardError::Usage(e.to_string()))?;
        Ok(Client::new(server, Some(id), Duration::from_secs(60)))
    }

    /// Every dataset's schema (for planning and visibility).
    pub fn schemas(&self) -> Result<Vec<Schema>, DashboardError> {
        match self {
            Backend::Embedded { dir } => {
                let d = ops::open(dir.clone()).map_err(DashboardError::from_embedded)?;
                ops::schemas(&d).map_err(DashboardError::from_embedded)
            }
            Backend::Networked {
                server, identity, ..
            } => {
                let client = Self::client(server, identity)?;
                dtfhe_api::remote::remote_schemas(&client).map_err(deployment)
            }
        }
    }

    /// The deployment, its datasets by stage, owners and counts.
    pub fn overview(&self) -> Result<Overview, DashboardError> {
        let mut out = match self {
            Backend::Embedded { dir } => {
                let d = ops::open(dir.clone()).map_err(DashboardError::from_embedded)?;
                let schemas = ops::schemas(&d).map_err(DashboardError::from_embedded)?;
                let datasets = schemas
                    .iter()
                    .map(|s| dataset_info(s, &d.store))
                    .collect::<Result<Vec<_>, _>>()?;
                let threshold = ops::threshold_of(dir, d.deployment.trustees.len())
                    .map_err(DashboardError::from_embedded)?;
                Overview {
                    kind: "embedded",
                    preset: d.deployment.preset.clone(),
                    trustees: d.deployment.trustees.clone(),
                    threshold,
                    min_group_size: d.deployment.min_group_size,
                    datasets,
                }
            }
            Backend::Networked {
                server, identity, ..
            } => {
                let client = Self::client(server, identity)?;
                let info = deployment_info(&client)?;
                let schemas = dtfhe_api::remote::remote_schemas(&client).map_err(deployment)?;
                let reader =
                    dtfhe_api::reader::RemoteReader::new(client.clone()).map_err(deployment)?;
                let datasets = schemas
                    .iter()
                    .map(|s| dataset_info(s, &reader))
                    .collect::<Result<Vec<_>, _>>()?;
                // A t-of-n deployment answers `GET /v1/dealing`; n-of-n: 404.
                let threshold =
                    match client.get_json::<dtfhe_api::dealing::DealingState>("/v1/dealing") {
                        Ok(d) => Some(d.threshold),
                        Err(e) if matches!(e.status(), Some(404 | 503)) => None,
                        Err(e) => return Err(deployment(e)),
                    };
                Overview {
                    kind: "networked",
                    preset: info.preset,
                    trustees: info.trustees,
                    threshold,
                    min_group_size: info.min_group_size,
                    datasets,
                }
            }
        };
        out.datasets
            .sort_by(|a, b| (stage_rank(a.stage), &a.name).cmp(&(stage_rank(b.stage), &b.name)));
        Ok(out)
    }

    /// Run `sql` through the release pipeline: computed on ciphertexts, reviewed by every
    /// trustee, combined here. A refusal is [`DashboardError::Refused`] with its reason.
    /// Embedded, the ledger records `actor` as the asker (the platform records the analyst's
    /// identity in a networked deployment).
    pub fn query(&self, sql: &str, actor: &str) -> Result<Released, DashboardError> {
        match self {
            Backend::Embedded { dir } => {
                let report = ops::query_as(dir.clone(), sql, None, actor)
                    .map_err(DashboardError::from_embedded)?;
                let store = dir.open_store_read_only().map_err(deployment)?;
                let deployed = store.deployment().map_err(deployment)?;
                let entries = store.entries().map_err(deployment)?;
                let (approvals, released_unix, ledger) = ledger_facts(&entries, actor);
                Ok(Released::new(
                    sql,
                    report,
                    approvals,
                    released_unix,
                    deployed.min_group_size,
                    ledger,
                ))
            }
            Backend::Networked {
                server,
                identity,
                timeout,
                ..
            } => {
                let opts = dtfhe_analyst::net::RemoteQueryOptions {
                    server: server.clone(),
                    identity: identity.clone(),
                    sql: sql.to_string(),
                    epsilon: None,
                    timeout: *timeout,
                    poll: Duration::from_millis(200),
                };
                let client = Self::client(server, identity)?;
                let info = deployment_info(&client)?;
                let report =
                    dtfhe_analyst::net::query(&opts).map_err(DashboardError::from_analyst)?;
                // When the platform recorded each approval; the release is when the last one
                // arrived (the shares were combined here right after).
                let approvals = report.approvals.clone();
                let released = approvals
                    .iter()
                    .map(|(_, at)| *at)
                    .max()
                    .unwrap_or_else(dtfhe_model::clock::now_unix);
                Ok(Released::new(
                    sql,
                    report,
                    approvals,
                    released,
                    info.min_group_size,
                    None,
                ))
            }
        }
    }

    /// The identity's name and its role in the platform's registry (networked only): a
    /// dashboard runs as a source to show that source's own predictions.
    pub fn identity_role(&self) -> Result<(String, String), DashboardError> {
        match self {
            Backend::Embedded { .. } => Err(DashboardError::Usage(
                "an embedded deployment has no registry of identities".into(),
            )),
            Backend::Networked {
                server, identity, ..
            } => {
                let id =
                    Identity::load(identity).map_err(|e| DashboardError::Usage(e.to_string()))?;
                let name = id.name().to_string();
                let client = Self::client(server, identity)?;
                let registry: Vec<dtfhe_api::types::IdentityRecord> =
                    client.get_json("/v1/identities").map_err(deployment)?;
                let role = registry
                    .iter()
                    .find(|r| r.name == name)
                    .map(|r| r.role.name().to_string())
                    .ok_or_else(|| {
                        DashboardError::Usage(format!("`{name}` is not registered on the platform"))
                    })?;
                Ok((name, role))
            }
        }
    }

    /// Chunks of `dataset` appended by `source`.
    pub fn source_chunks(&self, dataset: &str, source: &str) -> Result<u64, DashboardError> {
        let chunks = self.chunks(dataset)?;
        Ok(chunks.iter().filter(|c| c.source == source).count() as u64)
    }

    /// Chunks stored for `dataset` (what a live view watches: a new chunk means new rows).
    pub fn chunk_count(&self, dataset: &str) -> Result<u64, DashboardError> {
        Ok(self.chunks(dataset)?.len() as u64)
    }

    /// The chunk list of `dataset`, from the store or the platform.
    fn chunks(&self, dataset: &str) -> Result<Vec<dtfhe_model::ChunkMeta>, DashboardError> {
        match self {
            Backend::Embedded { dir } => dir
                .open_store_read_only()
                .map_err(deployment)?
                .chunks(dataset)
                .map_err(deployment),
            Backend::Networked {
                server, identity, ..
            } => dtfhe_api::reader::RemoteReader::new(Self::client(server, identity)?)
                .map_err(deployment)?
                .chunks(dataset)
                .map_err(deployment),
        }
    }

    /// The source's own rows of the scoring's dataset, scored homomorphically and released
    /// to the source alone (`dtfhe model score`): embedded, this process plays every
    /// trustee, which checks the source's signing key; networked, the identity (the source)
    /// signs the request and every trustee seals its share to a key only this process
    /// holds. Grouped per asset ([`crate::scores::per_asset`]) with the release facts.
    pub fn score(
        &self,
        s: &crate::scores::Scoring,
    ) -> Result<crate::scores::Scored, DashboardError> {
        let (rows, facts) = match self {
            Backend::Embedded { dir } => {
                let report =
                    dtfhe_embedded::model::score(dir.clone(), &s.model, &s.dataset, &s.source)
                        .map_err(DashboardError::from_embedded)?;
                let store = dir.open_store_read_only().map_err(deployment)?;
                let entries = store.entries().map_err(deployment)?;
                let facts = score_ledger_facts(&entries, s, &report.result);
                (report.result, facts)
            }
            Backend::Networked {
                server,
                identity,
                timeout,
                ..
            } => {
                let remote = dtfhe_analyst::model::Remote {
                    server: server.clone(),
                    identity: identity.clone(),
                    timeout: *timeout,
                    poll: Duration::from_millis(200),
                };
                let scores = dtfhe_analyst::model::score(&remote, &s.model, &s.dataset)
                    .map_err(DashboardError::from_analyst)?;
                let released_unix = scores
                    .approvals
                    .iter()
                    .map(|(_, at)| *at)
                    .max()
                    .unwrap_or_else(dtfhe_model::clock::now_unix);
                let facts = crate::scores::ScoreFacts {
                    source: s.source.clone(),
                    approvals: scores.approvals.clone(),
                    released_unix,
                    rows: scores.result.rows.len(),
                    ciphertexts: self.source_chunks(&s.dataset, &s.source)? as usize,
                    release: Some(format!("platform query {}", scores.id)),
                    model: format!(
                        "model {} registered on the platform by the analyst who fitted it \
                         from released aggregates; every trustee checked the registration",
                        &hex::encode(s.model.hash())[..16]
                    ),
                };
                (scores.result, facts)
            }
        };
        let table = crate::scores::per_asset(s, &rows)?;
        Ok(crate::scores::Scored { table, facts })
    }

    /// A product's thread across stages (`dtfhe thread show`; embedded only).
    pub fn thread(&self, product: &str) -> Result<ThreadInfo, DashboardError> {
        match self {
            Backend::Embedded { dir } => {
                let t = dtfhe_embedded::artifact::thread(dir.clone(), product)
                    .map_err(DashboardError::from_embedded)?;
                Ok(ThreadInfo {
                    product: t.product,
                    rows: t.rows,
                    artifacts: t
                        .artifacts
                        .into_iter()
                        .map(|a| ArtifactInfo {
                            stage: a.file.stage,
                            source: a.file.source,
                            name: a.file.name,
                            size: a.file.size,
                            sealed_hash: hex::encode(a.sealed_hash),
                            sealed_at: a.sealed_at,
                        })
                        .collect(),
                })
            }
            Backend::Networked { .. } => Err(DashboardError::Usage(
                "a product's thread is shown for an embedded deployment".into(),
            )),
        }
    }

    /// "Verify now": the same verification as `dtfhe audit verify`.
    pub fn verify(&self) -> Result<Verified, DashboardError> {
        match self {
            Backend::Embedded { dir } => audit::verify(dir.clone())
                .map(|r| Verified {
                    summary: r.to_string(),
                })
                .map_err(DashboardError::from_embedded),
            Backend::Networked {
                server,
                auditor,
                store_key,
                ..
            } => {
                let auditor = auditor.as_deref().ok_or_else(no_auditor)?;
                dtfhe_analyst::remote_audit::verify(server, auditor, store_key.as_deref(), false)
                    .map(|r| Verified {
                        summary: r.to_string(),
                    })
                    .map_err(DashboardError::from_analyst)
            }
        }
    }

    /// Every ledger entry and the latest signed checkpoint (networked: read with the
    /// auditor's identity).
    pub fn ledger(&self) -> Result<(Vec<Entry>, String), DashboardError> {
        match self {
            Backend::Embedded { dir } => {
                let store = dir.open_store_read_only().map_err(deployment)?;
                let entries = store.entries().map_err(audit_error)?;
                let cp = store.latest_checkpoint().map_err(audit_error)?;
                Ok((entries, cp))
            }
            Backend::Networked {
                server, auditor, ..
            } => {
                let auditor = auditor.as_deref().ok_or_else(no_auditor)?;
                dtfhe_analyst::remote_audit::ledger(server, auditor)
                    .map_err(DashboardError::from_analyst)
            }
        }
    }
}

/// Approvals (trustee, time), the delivery's time, and its ledger words and entry.
type LedgerFacts = (Vec<(String, u64)>, u64, Option<(String, u64)>);

/// The latest delivery to `actor` in the ledger: its trustees' approvals (name, time), its
/// time and its ledger words.
fn ledger_facts(entries: &[Entry], actor: &str) -> LedgerFacts {
    let Some(delivered) = entries
        .iter()
        .rev()
        .find(|e| e.kind == EntryKind::ResultDelivered && e.actor == actor)
    else {
        return (Vec::new(), dtfhe_model::clock::now_unix(), None);
    };
    let Some(release) = parse_release_subject(&delivered.subject) else {
        return (Vec::new(), delivered.time_unix, None);
    };
    let subject = release_subject(release);
    let approvals = entries
        .iter()
        .filter(|e| e.kind == EntryKind::TrusteeApproved && e.subject == subject)
        .map(|e| (e.actor.clone(), e.time_unix))
        .collect();
    (
        approvals,
        delivered.time_unix,
        Some((subject, delivered.seq)),
    )
}

/// The release facts of the newest per-row release to `s.source` in the ledger: its
/// trustees' approvals, its time and ledger words, and the model's `model fit` entry.
fn score_ledger_facts(
    entries: &[Entry],
    s: &crate::scores::Scoring,
    result: &ResultSet,
) -> crate::scores::ScoreFacts {
    let delivered = entries.iter().rev().find(|e| {
        e.kind == EntryKind::ResultDelivered
            && e.detail
                .ends_with(&format!("row predictions delivered to `{}`", s.source))
    });
    let release = delivered.and_then(|d| parse_release_subject(&d.subject).map(|r| (r, d)));
    let approvals = release
        .map(|(r, _)| {
            let subject = release_subject(r);
            entries
                .iter()
                .filter(|e| e.kind == EntryKind::TrusteeApproved && e.subject == subject)
                .map(|e| (e.actor.clone(), e.time_unix))
                .collect()
        })
        .unwrap_or_default();
    let hash = s.model.hash();
    let fit = entries
        .iter()
        .find(|e| e.kind == EntryKind::ModelFitted && e.hashes.contains(&hash))
        .map(|e| e.seq);
    crate::scores::ScoreFacts {
        source: s.source.clone(),
        approvals,
        released_unix: delivered.map_or_else(dtfhe_model::clock::now_unix, |d| d.time_unix),
        rows: result.rows.len(),
        ciphertexts: delivered.map_or(0, |d| d.hashes.len()),
        release: release
            .map(|(r, d)| format!("{}, delivered in entry {}", release_subject(r), d.seq)),
        model: match fit {
            Some(seq) => {
                format!("fitted from released aggregates by `model fit`: ledger entry {seq}")
            }
            None => "fitted from released aggregates by `model fit`".into(),
        },
    }
}
