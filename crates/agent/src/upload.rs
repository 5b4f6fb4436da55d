//! The networked edge agent: validates a CSV export, encrypts and signs it chunk by chunk
//! with the source's identity key, spools every chunk durably ([`crate::spool`]) and uploads
//! the spool in order to the platform (`POST /v1/datasets/{name}/chunks`), retrying
//! transport errors and 5xx answers with capped exponential backoff.
//!
//! A restarted agent first drains its spool; a file it had half uploaded resumes where the
//! platform's `files` endpoint says it stopped (same seqs, so nothing is duplicated: the
//! platform also answers `already_stored` for a chunk it has). While the platform is
//! unreachable the agent keeps encrypting into the spool with the cached deployment record
//! and its own seq journal, and reports the chunks it could not upload yet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use dtfhe_api::types::{
    unb64, ChunkUploaded, DeploymentInfo, FileChunkInfo, LaneAssignment, LaneRequest, LastSeq,
    MAX_LANE_KEYS,
};

/// How long an agent waits for the trustees' attestations of a fresh deployment's keys.
pub const ATTESTATION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
use dtfhe_api::{ApiError, Client, Identity};
use dtfhe_crypto::{codec, CryptoError};
use dtfhe_model::{read_csv_bytes, Schema, ThreadError};

use crate::spool::{FileJournal, Spool, SpoolError, SpooledChunk};
use crate::{AgentError, ChunkSigner, Layout, PipelineError};

/// Capped exponential backoff for calls that may succeed later (transport errors, 5xx,
/// 429, 503 while the ceremony runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max_delay: Duration,
    /// Stop retrying after this long (`None`: never, as in watch mode).
    pub give_up_after: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 0.2 s doubling up to 5 s, giving up after 60 s.
    fn default() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            give_up_after: Some(Duration::from_secs(60)),
        }
    }
}

impl RetryPolicy {
    /// Runs `f` until it succeeds, fails for good (not [`ApiError::is_retryable`]), or the
    /// policy gives up (then the last retryable error). `on_retry` hears every wait.
    pub fn run<T>(
        &self,
        mut f: impl FnMut() -> Result<T, ApiError>,
        on_retry: &mut dyn FnMut(&ApiError, Duration),
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let mut delay = self.initial;
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() => {
                    if let Some(limit) = self.give_up_after {
                        if started.elapsed() + delay > limit {
                            return Err(e);
                        }
                    }
                    on_retry(&e, delay);
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(self.max_delay);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    /// The schema or the CSV was rejected; nothing of the file was spooled or sent.
    #[error("{0}; nothing was spooled or sent")]
    Input(#[from] ThreadError),
    /// A local file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The platform answered with an error that retrying will not fix.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The spool could not be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The deployment's keys or parameters are unusable.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Encrypting a chunk failed.
    #[error(transparent)]
    Encrypt(#[from] AgentError),
    /// The platform refused a chunk for good (moved to the spool's `rejected/`).
    #[error("chunk {chunk} refused by the platform (kept in {kept}): {source}")]
    Refused {
        /// Which chunk (dataset and seq).
        chunk: String,
        /// Where it was moved.
        kept: String,
        /// The platform's answer.
        source: ApiError,
    },
    /// A document (B2MML, MTConnect, …) was refused whole; nothing of it was spooled or sent.
    #[error("{0}; nothing was spooled or sent")]
    Document(#[from] crate::formats::FormatError),
    /// The file cannot be ingested as asked (e.g. a resume conflict, a lane dataset).
    #[error("{0}")]
    Usage(String),
    /// OPC UA message security refused or unusable (a server certificate that is not the
    /// trusted one, a client certificate that cannot be used); nothing was taken.
    #[error(transparent)]
    Security(#[from] crate::opcua::security::SecurityError),
    /// The deployment's keys are not attested by every trustee (a platform could otherwise
    /// hand out a public key of its own and read everything encrypted under it); nothing was
    /// encrypted.
    #[error("the deployment's keys are not attested by every trustee: {0}; nothing was encrypted")]
    Unattested(dtfhe_api::ceremony::AttestationError),
    /// The platform stayed unreachable: the chunks are safe in the spool and a later run
    /// (or the running watch loop) uploads them.
    #[error("the platform is unreachable ({reason}); {spooled} chunks wait in the spool {spool}, re-run to upload them")]
    Offline {
        /// Chunks waiting in the spool.
        spooled: usize,
        /// The spool directory.
        spool: String,
        /// The last transport error.
        reason: String,
    },
}

/// Progress of the agent, for a progress bar or a log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A file's chunks are about to be encrypted: `total` chunks, `stored` already stored.
    File {
        /// The file.
        path: PathBuf,
        /// Chunks the file makes.
        total: usize,
        /// Chunks an earlier run already stored.
        stored: usize,
    },
    /// A chunk was spooled (and uploaded unless the platform is unreachable).
    Chunk {
        /// Its seq.
        seq: u64,
        /// Whether the platform confirmed it.
        uploaded: bool,
    },
    /// A spooled chunk from an earlier run was uploaded.
    Drained {
        /// Its seq.
        seq: u64,
    },
    /// A call failed and is retried after `delay`.
    Retry {
        /// The error (names the URL, never data).
        reason: String,
        /// The wait before the next attempt.
        delay: Duration,
    },
}

/// What ingesting one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The dataset.
    pub dataset: String,
    /// Rows in the file.
    pub rows: usize,
    /// Chunks the file makes.
    pub chunks: usize,
    /// Chunks uploaded by this run.
    pub uploaded: usize,
    /// Chunks an earlier run had already stored (skipped).
    pub resumed: usize,
    /// Spooled chunks of earlier runs uploaded first.
    pub drained: usize,
    /// The whole file was already stored: nothing was sent.
    pub already_ingested: bool,
}

/// A file's size and modification time: a watched file is taken once it is unchanged.
type Stamp = (u64, Option<SystemTime>);

/// An edge agent: one source identity, one platform, one spool.
pub struct EdgeAgent {
    client: Client,
    identity: Identity,
    spool: Spool,
    retry: RetryPolicy,
}

dtfhe_model::debug_public_fields!(EdgeAgent, |v| {
    server: v.client.base(),
    source: v.identity.name(),
    spool: v.spool.dir(),
});

/// The schema file at `path`, read and checked: its text (sent with each chunk) and the
/// schema.
pub(crate) fn read_schema(path: &Path) -> Result<(String, Schema), EdgeError> {
    let text = std::fs::read_to_string(path).map_err(|source| EdgeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let schema = Schema::from_toml_str(&text, &path.display().to_string())?;
    Ok((text, schema))
}

/// Whether an API error means "the platform is not reachable right now".
fn unreachable(e: &ApiError) -> bool {
    e.is_retryable()
}

fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl EdgeAgent {
    /// An agent uploading to `server` as `identity` (a registered source: its key signs the
    /// requests and the chunks) with its spool in `spool_dir`.
    pub fn new(
        server: &str,
        identity: Identity,
        spool_dir: &Path,
        retry: RetryPolicy,
    ) -> Result<EdgeAgent, EdgeError> {
        let spool = Spool::open(spool_dir)?;
        let client = Client::new(server, Some(identity.clone()), Duration::from_secs(300));
        Ok(EdgeAgent {
            client,
            identity,
            spool,
            retry,
        })
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    fn call<T>(
        &self,
        f: impl FnMut() -> Result<T, ApiError>,
        progress: &mut dyn FnMut(Event),
    ) -> Result<T, ApiError> {
        self.retry.run(f, &mut |e, delay| {
            progress(Event::Retry {
                reason: e.to_string(),
                delay,
            })
        })
    }

    fn offline(&self, e: &ApiError) -> EdgeError {
        EdgeError::Offline {
            spooled: self.spool.pending().map(|p| p.len()).unwrap_or(0),
            spool: self.spool.dir().display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Uploads one spooled chunk and deletes it once confirmed. A refusal of its content
    /// (400, 409, 422) moves it to `rejected/`; an authentication refusal keeps it spooled
    /// (the identity may be registered later).
    fn upload(
        &self,
        c: &SpooledChunk,
        bytes: &[u8],
        progress: &mut dyn FnMut(Event),
    ) -> Result<ChunkUploaded, EdgeError> {
        let path = format!("/v1/datasets/{}/chunks", path_segment(&c.dataset));
        match self.call(|| self.client.post_bytes(&path, bytes), progress) {
            Ok(answer) => {
                self.spool.remove(c)?;
                Ok(answer)
            }
            Err(e) if unreachable(&e) => Err(self.offline(&e)),
            Err(e) if matches!(e.status(), Some(400 | 409 | 422)) => {
                let kept = self.spool.reject(c)?;
                Err(EdgeError::Refused {
                    chunk: format!("`{}` seq {}", c.dataset, c.seq),
                    kept: kept.display().to_string(),
                    source: e,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Uploads one spooled chunk (see [`EdgeAgent::drain`]); for a caller that chooses the
    /// chunks itself (the MQTT agent uploads only chunks whose window is closed).
    pub fn upload_spooled(
        &self,
        c: &SpooledChunk,
        progress: &mut dyn FnMut(Event),
    ) -> Result<ChunkUploaded, EdgeError> {
        let bytes = self.spool.read(c)?;
        self.upload(c, &bytes, progress)
    }

    /// The source's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The deployment's parameters and collective public key: from the platform (its keys
    /// attested by every trustee, then cached in the spool), or the cached copy while the
    /// platform is unreachable.
    pub fn encryption_key(
        &self,
        progress: &mut dyn FnMut(Event),
    ) -> Result<(dtfhe_crypto::Params, fhe::bfv::PublicKey), EdgeError> {
        let dep = self.deployment(progress)?;
        let params = dtfhe_crypto::params_by_name(&dep.preset)?;
        let pk_bytes =
            unb64("public_key", &dep.public_key).map_err(|e| EdgeError::Usage(e.to_string()))?;
        let pk = codec::decode_public_key(&params, &pk_bytes)?;
        Ok((params, pk))
    }

    /// The last seq the platform stored from this source in `dataset` (`Ok(None)`: none, or
    /// the platform is unreachable).
    pub fn platform_last_seq(
        &self,
        dataset: &str,
        progress: &mut dyn FnMut(Event),
    ) -> Result<Option<u64>, EdgeError> {
        let path = format!(
            "/v1/datasets/{}/sources/{}/last-seq",
            path_segment(dataset),
            path_segment(self.identity.name())
        );
        match self.call(|| self.client.get_json::<LastSeq>(&path), progress) {
            Ok(l) => Ok(l.last_seq),
            Err(e) if unreachable(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Uploads every spooled chunk in order. Returns how many were uploaded; an unreachable
    /// platform is [`EdgeError::Offline`] (the rest stay spooled).
    pub fn drain(&self, progress: &mut dyn FnMut(Event)) -> Result<usize, EdgeError> {
        let mut n = 0;
        for c in self.spool.pending()? {
            let bytes = self.spool.read(&c)?;
            self.upload(&c, &bytes, progress)?;
            progress(Event::Drained { seq: c.seq });
            n += 1;
        }
        Ok(n)
    }

    /// The deployment record from the platform (cached in the spool), or the cached copy
    /// while the platform is unreachable.
    fn deployment(&self, progress: &mut dyn FnMut(Event)) -> Result<DeploymentInfo, EdgeError> {
        match self.call(
            // The public key is all a source encrypts with: the relinearisation key
            // (megabytes) is named by its hash only, enough to check the attestations.
            || {
                self.client
                    .get_json::<DeploymentInfo>("/v1/deployment?relin_key=omit")
            },
            progress,
        ) {
            Ok(d) => {
                self.check_attested(&d, progress)?;
                let json = serde_json::to_string(&d).map_err(|e| {
                    EdgeError::Usage(format!("cannot cache the deployment record: {e}"))
                })?;
                self.spool.set_deployment(&json)?;
                Ok(d)
            }
            Err(e) if unreachable(&e) => match self.spool.deployment()? {
                Some(json) => serde_json::from_str(&json).map_err(|err| {
                    EdgeError::Usage(format!(
                        "{}/deployment.json: not a deployment record: {err}",
                        self.spool.dir().display()
                    ))
                }),
                None => Err(self.offline(&e)),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Refuses a deployment record unless every trustee attested its keys with its registered
    /// key (`dtfhe_api::ceremony::check_attestations`). Trustees attest right after the
    /// ceremony, once they have recomputed the keys themselves: a missing attestation is
    /// waited for up to [`ATTESTATION_WAIT`], a wrong one is refused at once. Only a record
    /// that passed is cached in the spool for offline use.
    fn check_attested(
        &self,
        d: &DeploymentInfo,
        progress: &mut dyn FnMut(Event),
    ) -> Result<(), EdgeError> {
        let started = std::time::Instant::now();
        loop {
            let attestations = self.call(
                || {
                    self.client
                        .get_json::<Vec<dtfhe_api::ceremony::Attestation>>(
                            "/v1/ceremony/attestations",
                        )
                },
                progress,
            )?;
            let identities = self.call(
                || {
                    self.client
                        .get_json::<Vec<dtfhe_api::types::IdentityRecord>>("/v1/identities")
                },
                progress,
            )?;
            match dtfhe_api::ceremony::check_attestations(d, &attestations, &identities) {
                Ok(()) => return Ok(()),
                Err(dtfhe_api::ceremony::AttestationError::NotAttested { .. })
                    if started.elapsed() < ATTESTATION_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                Err(e) => return Err(EdgeError::Unattested(e)),
            }
        }
    }

    /// The platform's lane for every row of a per-product file (asked in batches of
    /// [`MAX_LANE_KEYS`]). Lanes come only from the platform, so a file of a lane dataset
    /// needs it reachable: offline, nothing is encrypted or spooled.
    fn lanes(
        &self,
        dataset: &str,
        key: &str,
        table: &dtfhe_model::Table,
        csv_path: &Path,
        progress: &mut dyn FnMut(Event),
    ) -> Result<Vec<u64>, EdgeError> {
        let keys = dtfhe_model::lanes::lane_keys(table, key).map_err(|e| {
            EdgeError::Usage(format!(
                "{}: {e}; nothing was spooled or sent",
                csv_path.display()
            ))
        })?;
        let path = format!("/v1/datasets/{}/lanes", path_segment(dataset));
        let mut lanes = Vec::with_capacity(keys.len());
        for batch in keys.chunks(MAX_LANE_KEYS) {
            let body = LaneRequest {
                lane_key: key.to_string(),
                keys: batch.to_vec(),
            };
            let answer = match self.call(
                || self.client.post_json::<_, LaneAssignment>(&path, &body),
                progress,
            ) {
                Ok(a) => a,
                Err(e) if unreachable(&e) => {
                    return Err(EdgeError::Offline {
                        spooled: self.spool.pending()?.len(),
                        spool: self.spool.dir().display().to_string(),
                        reason: format!(
                            "{e}; a per-product file needs the platform's lanes, nothing of {} \
                             was encrypted",
                            csv_path.display()
                        ),
                    })
                }
                Err(e) => return Err(e.into()),
            };
            if answer.lanes.len() != batch.len() || answer.space != key {
                return Err(EdgeError::Api(ApiError::BadResponse {
                    url: format!("{}{path}", self.client.base()),
                    reason: format!(
                        "{} lanes of space `{}` for {} keys of space `{key}`",
                        answer.lanes.len(),
                        answer.space,
                        batch.len()
                    ),
                }));
            }
            lanes.extend(answer.lanes);
        }
        Ok(lanes)
    }

    /// Ingests one CSV file (see the module docs). The whole file is checked against the
    /// schema before anything is spooled or sent.
    pub fn ingest_csv(
        &self,
        schema_path: &Path,
        csv_path: &Path,
        progress: &mut dyn FnMut(Event),
    ) -> Result<FileReport, EdgeError> {
        self.ingest_file(schema_path, csv_path, None, progress)
            .map(|(r, _)| r)
    }

    /// Ingests one document of `format` (B2MML, MTConnect, AAS, CAD parameters) exactly as
    /// [`EdgeAgent::ingest_csv`] ingests a CSV file: the document is read whole into the
    /// same checked rows (`crate::formats`) before anything is spooled or sent, and resumes
    /// by its hash. Also returns what the document said besides its rows.
    pub fn ingest_document(
        &self,
        schema_path: &Path,
        path: &Path,
        format: crate::formats::DocumentFormat,
        progress: &mut dyn FnMut(Event),
    ) -> Result<(FileReport, crate::formats::DocumentNotes), EdgeError> {
        self.ingest_file(schema_path, path, Some(format), progress)
            .map(|(r, n)| (r, n.unwrap_or_default()))
    }

    fn ingest_file(
        &self,
        schema_path: &Path,
        csv_path: &Path,
        format: Option<crate::formats::DocumentFormat>,
        progress: &mut dyn FnMut(Event),
    ) -> Result<(FileReport, Option<crate::formats::DocumentNotes>), EdgeError> {
        let (schema_text, schema) = read_schema(schema_path)?;
        let csv = std::fs::read(csv_path).map_err(|source| EdgeError::Io {
            path: csv_path.to_path_buf(),
            source,
        })?;
        let origin = csv_path.display().to_string();
        let (table, notes) = match format {
            None => (read_csv_bytes(&csv, &origin, &schema)?, None),
            Some(f) => {
                let d = crate::formats::read_document(f, &csv, &origin, &schema)?;
                (d.table, Some(d.notes))
            }
        };
        let file_hash = *blake3::hash(&csv).as_bytes();
        drop(csv);
        let dataset = schema.dataset.clone();
        let source = self.identity.name().to_string();

        let dep = self.deployment(progress)?;
        let params = dtfhe_crypto::params_by_name(&dep.preset)?;
        let pk_bytes =
            unb64("public_key", &dep.public_key).map_err(|e| EdgeError::Usage(e.to_string()))?;
        let pk = codec::decode_public_key(&params, &pk_bytes)?;

        // Why the platform is considered unreachable for the rest of this file, if it is.
        let mut offline_reason: Option<String> = None;
        let drained = match self.drain(progress) {
            Ok(n) => n,
            Err(EdgeError::Offline { reason, .. }) => {
                offline_reason = Some(reason);
                0
            }
            Err(e) => return Err(e),
        };
        let layout = match &schema.lanes {
            None => Layout::packed(table.rows, params.slots()),
            Some(key) => {
                let lanes = self.lanes(&dataset, key, &table, csv_path, progress)?;
                Layout::lanes(lanes, params.slots()).map_err(|e| {
                    EdgeError::Usage(format!(
                        "{}: {e}; nothing was spooled or sent",
                        csv_path.display()
                    ))
                })?
            }
        };
        let n_chunks = layout.len();
        let mut report = FileReport {
            dataset: dataset.clone(),
            rows: table.rows,
            chunks: n_chunks,
            uploaded: 0,
            resumed: 0,
            drained,
            already_ingested: false,
        };
        if n_chunks == 0 {
            self.spool
                .mark_done(&file_hash, &csv_path.display().to_string())?;
            return Ok((report, notes));
        }
        let count = u32::try_from(n_chunks)
            .map_err(|_| EdgeError::Usage(format!("{}: too many chunks", csv_path.display())))?;
        let journal = self.spool.journal(&file_hash)?;
        let local_last = self.spool.last_seq(&dataset)?;

        // Which chunks the platform already has, and where this file's seqs start.
        let resume = if offline_reason.is_none() {
            let ds = path_segment(&dataset);
            let src = path_segment(&source);
            let files = format!(
                "/v1/datasets/{ds}/sources/{src}/files/{}",
                hex::encode(file_hash)
            );
            let seq = format!("/v1/datasets/{ds}/sources/{src}/last-seq");
            let fetched = self
                .call(
                    || self.client.get_json::<Vec<FileChunkInfo>>(&files),
                    progress,
                )
                .and_then(|stored| {
                    self.call(|| self.client.get_json::<LastSeq>(&seq), progress)
                        .map(|l| (stored, l.last_seq))
                });
            match fetched {
                Ok(v) => Some(v),
                Err(e) if unreachable(&e) => {
                    offline_reason = Some(e.to_string());
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let (stored, base_seq) = match resume {
            Some((stored, last)) => {
                if let Some(c) = stored.iter().find(|c| c.count != count) {
                    return Err(EdgeError::Usage(format!(
                        "{}: this file was stored before as {} chunks, now it makes {n_chunks} \
                         (chunk {}); nothing was sent",
                        csv_path.display(),
                        c.count,
                        c.id
                    )));
                }
                if stored.len() == n_chunks {
                    self.spool
                        .mark_done(&file_hash, &csv_path.display().to_string())?;
                    report.resumed = n_chunks;
                    report.already_ingested = true;
                    return Ok((report, notes));
                }
                // Nothing of the file stored (the spool was drained above): any fresh base
                // will do. Otherwise the stored chunks fix it, and the missing ones must
                // still be above the source's last seq.
                let base = match stored.first() {
                    Some(c) => c.seq.checked_sub(u64::from(c.index)).ok_or_else(|| {
                        EdgeError::Usage(format!("chunk {}: seq below its file index", c.id))
                    })?,
                    None => last.max(local_last).map_or(0, |l| l + 1),
                };
                let indices: Vec<u32> = stored.iter().map(|c| c.index).collect();
                let first_missing = (0..count).find(|k| !indices.contains(k));
                if let (Some(k), Some(l), false) = (first_missing, last, indices.is_empty()) {
                    if base + u64::from(k) <= l {
                        return Err(EdgeError::Usage(format!(
                            "{}: an interrupted upload of this file cannot resume: source `{source}` \
                             appended other chunks to `{dataset}` since (last seq {l}); nothing \
                             was sent",
                            csv_path.display()
                        )));
                    }
                }
                (indices, base)
            }
            None => match journal {
                Some(_) => {
                    return Err(EdgeError::Usage(format!(
                        "{}: an interrupted upload of this file cannot resume while the \
                         platform is unreachable (its spooled chunks are kept); re-run later",
                        csv_path.display()
                    )))
                }
                None => (Vec::new(), local_last.map_or(0, |l| l + 1)),
            },
        };
        report.resumed = stored.len();
        let missing: Vec<usize> = (0..n_chunks)
            .filter(|&k| !stored.contains(&(k as u32)))
            .collect();
        self.spool
            .set_journal(&file_hash, &dataset, FileJournal { base_seq, count })?;
        let last_assigned = base_seq + n_chunks as u64 - 1;
        if local_last.is_none_or(|l| l < last_assigned) {
            self.spool.set_last_seq(&dataset, last_assigned)?;
        }
        progress(Event::File {
            path: csv_path.to_path_buf(),
            total: n_chunks,
            stored: stored.len(),
        });

        let signer = ChunkSigner {
            key: self.identity.signing_key(),
            dataset: &dataset,
            source: &source,
            base_seq,
            file_hash,
        };
        let out = crate::encrypt_ordered_with(
            &params,
            &pk,
            &schema,
            &table,
            &layout,
            &missing,
            &signer,
            |_, chunk| {
                let bytes = dtfhe_api::wire::encode_chunk(&schema_text, &chunk)
                    .map_err(|e| EdgeError::Usage(format!("seq {}: {e}", chunk.seq)))?;
                let spooled = self.spool.put(&dataset, chunk.seq, &bytes)?;
                let mut uploaded = false;
                if offline_reason.is_none() {
                    match self.upload(&spooled, &bytes, progress) {
                        Ok(_) => {
                            uploaded = true;
                            report.uploaded += 1;
                        }
                        Err(EdgeError::Offline { reason, .. }) => offline_reason = Some(reason),
                        Err(e) => return Err(e),
                    }
                }
                progress(Event::Chunk {
                    seq: chunk.seq,
                    uploaded,
                });
                Ok::<(), EdgeError>(())
            },
        );
        match out {
            Ok(()) => {}
            Err(PipelineError::Agent(e)) => return Err(e.into()),
            Err(PipelineError::Sink(e)) => return Err(e),
        }
        if let Some(reason) = offline_reason {
            return Err(EdgeError::Offline {
                spooled: self.spool.pending()?.len(),
                spool: self.spool.dir().display().to_string(),
                reason,
            });
        }
        self.spool
            .mark_done(&file_hash, &csv_path.display().to_string())?;
        Ok((report, notes))
    }

    /// Watch mode: every `poll`, drains the spool and ingests each new `*.csv` of `dir`
    /// (by name order) once it has stopped changing between two polls; finished files are
    /// recorded by hash in the spool, so each is ingested once even across restarts. A file
    /// the schema rejects is recorded too (its error reported through `on_file`), so it is
    /// not retried; a corrected file has another hash. With `once`, takes the files present
    /// now (as complete) in one pass and returns; otherwise runs until `stop()` is true.
    #[allow(clippy::too_many_arguments)]
    pub fn watch(
        &self,
        schema_path: &Path,
        dir: &Path,
        poll: Duration,
        once: bool,
        stop: &dyn Fn() -> bool,
        progress: &mut dyn FnMut(Event),
        on_file: &mut dyn FnMut(&Path, Result<FileReport, &EdgeError>),
    ) -> Result<(), EdgeError> {
        // (size, modified) seen at the previous poll: a file is taken once it is unchanged.
        let mut seen: HashMap<PathBuf, Stamp> = HashMap::new();
        // The hash of each file as of a stamp, so an unchanged file is not re-read.
        let mut hashed: HashMap<PathBuf, (Stamp, [u8; 32])> = HashMap::new();
        loop {
            match self.drain(progress) {
                Ok(_) | Err(EdgeError::Offline { .. }) => {}
                Err(e) => return Err(e),
            }
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|source| EdgeError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv") && p.is_file())
                .collect();
            files.sort();
            for path in files {
                if stop() {
                    return Ok(());
                }
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let stamp = (meta.len(), meta.modified().ok());
                if seen.insert(path.clone(), stamp) != Some(stamp) && !once {
                    continue; // new or still changing: look again next poll
                }
                let hash = match hashed.get(&path) {
                    Some((s, h)) if *s == stamp => *h,
                    _ => {
                        let Ok(bytes) = std::fs::read(&path) else {
                            continue;
                        };
                        let h = *blake3::hash(&bytes).as_bytes();
                        hashed.insert(path.clone(), (stamp, h));
                        h
                    }
                };
                if self.spool.is_done(&hash) {
                    continue;
                }
                match self.ingest_csv(schema_path, &path, progress) {
                    Ok(r) => on_file(&path, Ok(r)),
                    Err(e @ EdgeError::Input(_)) => {
                        on_file(&path, Err(&e));
                        self.spool
                            .mark_done(&hash, &format!("{}: rejected: {e}", path.display()))?;
                    }
                    Err(e @ EdgeError::Offline { .. }) => {
                        on_file(&path, Err(&e));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if once || stop() {
                return Ok(());
            }
            std::thread::sleep(poll);
        }
    }
}
