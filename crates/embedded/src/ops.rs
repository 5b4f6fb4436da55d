//! The operations behind `init`, `ingest` and `query` on an embedded (SQLite) deployment,
//! with every trustee in its own directory on this machine.

use crate::audit;
use crate::error::EmbeddedError;
use crate::DeploymentDir;
use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::release::{centred, combine};
use dtfhe_crypto::{ceremony, codec, Params};
use dtfhe_engine::exec::{self, ComputedSum};
use dtfhe_engine::{Catalog, Moment};
use dtfhe_ledger::wording::{
    dataset_of_sql, query_context, query_detail, release_request_detail, release_subject,
};
use dtfhe_model::{read_csv_bytes, Schema, Table};
use dtfhe_release::pipeline::{build_request, check_totals, precheck};
use dtfhe_release::{Disclosure, LocalPolicy, Policy};
use dtfhe_store::{Deployment, EntryKind, Store};
use dtfhe_trustee::shares::ciphertext_hash;
use dtfhe_trustee::Trustee;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `dtfhe init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Deployment directory (store + trustee directories).
    pub dir: DeploymentDir,
    /// Trustee names, one per factory.
    pub trustees: Vec<String>,
    /// t of a t-of-n deployment: any t trustees release, fewer learn nothing (each trustee
    /// deals Shamir shares of its key share at init). `None` or `Some(n)`: n-of-n, as before.
    pub threshold: Option<usize>,
    /// k: smallest number of rows any released group may have.
    pub min_group_size: u32,
    /// Parameter preset name, or `custom:<hex>` from [`dtfhe_crypto::ParamSpec::custom_name`].
    pub preset: String,
    /// The trustees' release policy: disclosure mode (audit, or dp with its budget and
    /// default ε), identifier filters. Written to every trustee's policy.toml and recorded
    /// in the ledger.
    pub policy: LocalPolicy,
}

impl InitOptions {
    /// A deployment of `trustees` in `dir` with `preset` and the other defaults of
    /// `dtfhe init` (k = 5, the default release policy): what the tests and the benchmark
    /// start from.
    pub fn new(dir: impl Into<DeploymentDir>, trustees: &[&str], preset: &str) -> InitOptions {
        InitOptions {
            dir: dir.into(),
            trustees: trustees.iter().map(|t| t.to_string()).collect(),
            threshold: None,
            min_group_size: 5,
            preset: preset.into(),
            policy: LocalPolicy::default(),
        }
    }
}

/// Where trustee `name` keeps its key share inside a deployment directory.
pub fn trustee_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join("trustees").join(name)
}

/// File (in the deployment directory) naming the threshold of a t-of-n deployment
/// (`t-of-n`); absent for n-of-n.
pub const THRESHOLD_FILE: &str = "threshold.txt";

/// The threshold t of the deployment in `dir` (`None`: n-of-n).
pub fn threshold_of(dir: &Path, trustees: usize) -> Result<Option<usize>, EmbeddedError> {
    let path = dir.join(THRESHOLD_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EmbeddedError::Damaged(format!("{}: {e}", path.display()))),
    };
    let parsed = text
        .trim()
        .split_once("-of-")
        .and_then(|(t, n)| Some((t.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
    match parsed {
        Some((t, n)) if n == trustees && (1..=n).contains(&t) => Ok(Some(t)),
        _ => Err(EmbeddedError::Damaged(format!(
            "{}: expected `t-of-{trustees}`",
            path.display()
        ))),
    }
}

/// Check a trustee or source name: it becomes a directory name and a ledger actor.
pub(crate) fn valid_name(kind: &str, name: &str) -> Result<(), EmbeddedError> {
    if dtfhe_model::names::is_party_name(name) {
        Ok(())
    } else {
        Err(EmbeddedError::Usage(format!(
            "{kind} name {name:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Create a deployment: store, one key share per trustee (own directory, mode 0600), the
/// collective public and relinearisation keys. Nothing is left behind if it fails midway.
pub fn init(opts: &InitOptions) -> Result<(), EmbeddedError> {
    if opts.trustees.is_empty() {
        return Err(EmbeddedError::Usage(
            "at least one trustee is needed (--trustees a,b,c)".into(),
        ));
    }
    for (i, t) in opts.trustees.iter().enumerate() {
        valid_name("trustee", t)?;
        if opts.trustees[..i].contains(t) {
            return Err(EmbeddedError::Usage(format!(
                "trustee {t:?} is listed twice"
            )));
        }
    }
    if opts.min_group_size == 0 {
        return Err(EmbeddedError::Usage(
            "--min-group-size must be at least 1".into(),
        ));
    }
    let n = opts.trustees.len();
    let threshold = match opts.threshold {
        Some(t) if t == 0 || t > n => {
            return Err(EmbeddedError::Usage(format!(
                "--threshold {t} must be between 1 and the number of trustees ({n})"
            )))
        }
        Some(t) if t < n => {
            dtfhe_crypto::threshold::commit::check_supported(t, n)
                .map_err(|e| EmbeddedError::Usage(format!("--threshold: {e}")))?;
            Some(t)
        }
        _ => None,
    };
    let params = dtfhe_crypto::params_by_name(&opts.preset)
        .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
    if opts.dir.join(dtfhe_store::STORE_FILE).exists() || opts.dir.join("trustees").exists() {
        return Err(EmbeddedError::Usage(format!(
            "{} already holds a deployment",
            opts.dir.display()
        )));
    }
    let result = (|| {
        let trustees = opts
            .trustees
            .iter()
            .map(|name| Trustee::create(&trustee_dir(&opts.dir, name), name, &params, &opts.policy))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
        let shares: Vec<fhe::bfv::SecretKey> = trustees
            .iter()
            .map(|t| t.share_for_ceremony().cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
        let recorded = ceremony::run_recorded(&params, &shares, &mut rand::rng())?;
        for (t, msg) in trustees.iter().zip(&recorded.pk_shares) {
            t.record_ceremony(&params, &recorded.seed, msg)
                .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
        }
        if let Some(t) = threshold {
            // Every trustee deals Shamir shares of its key share to all (one machine: the
            // dealing runs in this process, as the ceremony does).
            let secrets =
                dtfhe_crypto::threshold::deal_locally(&params, &shares, t, &mut rand::rng())?;
            for (trustee, secret) in trustees.iter().zip(&secrets) {
                trustee
                    .keep_threshold(&params, secret)
                    .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
            }
            std::fs::write(opts.dir.join(THRESHOLD_FILE), format!("{t}-of-{n}\n"))
                .map_err(|e| EmbeddedError::Usage(format!("{THRESHOLD_FILE}: {e}")))?;
        }
        drop(shares);
        let keys = recorded.keys;
        let mut store = opts.dir.create_store()?;
        store.put_deployment(&Deployment {
            preset: opts.preset.clone(),
            trustees: opts.trustees.clone(),
            min_group_size: opts.min_group_size,
            public_key: codec::encode_public_key(&params, &keys.public),
            relin_key: codec::encode_relin_key(&params, &keys.relin),
            created_at: dtfhe_model::clock::now_unix().to_string(),
        })?;
        if let Some(t) = threshold {
            audit::record(
                &mut store,
                EntryKind::CeremonyStep,
                "platform",
                "key ceremony",
                &format!(
                    "{t}-of-{n} threshold: every trustee dealt Shamir shares (degree {}) of its \
                     key share to the others; any {t} trustees release, fewer learn nothing",
                    t - 1
                ),
                &[],
            )?;
        }
        let policy_text = opts.policy.to_toml();
        audit::record(
            &mut store,
            EntryKind::PolicySet,
            "platform",
            "every dataset",
            &format!(
                "disclosure {}; k = {}; identifier filters {}",
                opts.policy.mode.describe(),
                opts.min_group_size,
                if opts.policy.allow_key_filters {
                    "allowed"
                } else {
                    "refused"
                }
            ),
            &[*blake3::hash(policy_text.as_bytes()).as_bytes()],
        )?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(opts.dir.join("trustees"));
        for f in [
            dtfhe_store::STORE_FILE,
            "store.sqlite-wal",
            "store.sqlite-shm",
            dtfhe_store::KEY_FILE,
            dtfhe_store::PUB_FILE,
            THRESHOLD_FILE,
        ] {
            let _ = std::fs::remove_file(opts.dir.join(f));
        }
    }
    result
}

/// A deployment opened from its store: parameters and collective keys.
pub struct Deployed {
    /// The store.
    pub store: Store,
    /// The deployment record.
    pub deployment: Deployment,
    /// Validated parameters.
    pub params: Params,
}

/// Open the store in `dir` and load its parameters.
pub fn open(dir: impl Into<DeploymentDir>) -> Result<Deployed, EmbeddedError> {
    let dir = &dir.into();
    let store = dir.open_store()?;
    let deployment = store.deployment()?;
    let params = dtfhe_crypto::params_by_name(&deployment.preset)?;
    Ok(Deployed {
        store,
        deployment,
        params,
    })
}

/// Chunks committed per store transaction during ingest.
const COMMIT_BATCH: usize = 8;

/// Options of `dtfhe ingest`.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Deployment directory.
    pub dir: DeploymentDir,
    /// Schema TOML file.
    pub schema: PathBuf,
    /// CSV file.
    pub csv: PathBuf,
    /// Data owner (source) name.
    pub source: String,
    /// Show a progress bar (only on a terminal).
    pub progress: bool,
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// Dataset name.
    pub dataset: String,
    /// Rows of the file.
    pub rows: usize,
    /// Chunks stored by this run.
    pub chunks: usize,
    /// Chunks of the file that an earlier, interrupted run had already stored (skipped).
    pub resumed: usize,
    /// The whole file was already stored by an earlier run: nothing was stored.
    pub already_ingested: bool,
    /// Encrypted values (rows × encrypted columns) encrypted by this run.
    pub encrypted_values: usize,
    /// What a document (not a CSV file) gave besides its rows: values counted but not
    /// stored (`UNAVAILABLE`), skipped observations, the next poll position.
    pub document: Option<dtfhe_agent::formats::DocumentNotes>,
    /// Seconds until the last chunk was encrypted (encryption runs in parallel with storing).
    pub encrypt_seconds: f64,
    /// Seconds in total (read + encode + encrypt + store).
    pub total_seconds: f64,
}

/// Encrypt a CSV file at the source, sign it with the source's key and append it to the
/// store, crash-safely.
///
/// The whole file is validated first (bad input stores nothing). The source's ed25519 key
/// is `D/sources/<source>/source.key`, created and registered in the store on first use.
/// Chunk k of the file gets seq `base + k` (base: one past the source's last seq for the
/// dataset) and is committed in its own transaction with its ledger entry, while later
/// chunks are still being encrypted. Each chunk records the file's blake3 hash and its
/// index, so re-running the same command after a crash resumes (stores only the missing
/// chunks), and re-running it after success stores nothing (`already_ingested`).
pub fn ingest(opts: &IngestOptions) -> Result<IngestReport, EmbeddedError> {
    ingest_as(opts, InputFormat::Csv)
}

/// What `dtfhe ingest` reads: a CSV export (the default) or a document of a shop-floor or
/// engineering format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// A CSV export laid out as the schema's `[csv]` section says.
    Csv,
    /// A document (B2MML, MTConnect, …) read by `dtfhe_agent::formats` into the same checked
    /// rows a CSV file makes.
    Document(dtfhe_agent::formats::DocumentFormat),
}

/// [`ingest`] of a file of `format` (`opts.csv` names the file whatever its format): the
/// document is read whole and checked row by row exactly as a CSV file is, then stored by
/// the same crash-safe path (resume by the file's hash included). A bad document stores
/// nothing and names every rejected element.
pub fn ingest_as(opts: &IngestOptions, format: InputFormat) -> Result<IngestReport, EmbeddedError> {
    let started = Instant::now();
    let Inputs {
        schema_text,
        schema,
        bytes: csv,
        origin,
    } = read_inputs(opts)?;
    let (table, document) = match format {
        InputFormat::Csv => (read_csv_bytes(&csv, &origin, &schema)?, None),
        InputFormat::Document(f) => {
            let d = dtfhe_agent::formats::read_document(f, &csv, &origin, &schema)?;
            (d.table, Some(d.notes))
        }
    };
    let file_hash = *blake3::hash(&csv).as_bytes();
    drop(csv);
    store_table(
        opts,
        started,
        &schema_text,
        &schema,
        table,
        file_hash,
        document,
    )
}

/// What an ingest reads before it checks anything: the schema file (its text, registered
/// with the dataset, and parsed) and the input file's bytes, named as the user gave it.
struct Inputs {
    schema_text: String,
    schema: Schema,
    bytes: Vec<u8>,
    origin: String,
}

/// Reads [`Inputs`] for `opts`, after checking the source's name; a missing file or a bad
/// schema is an error naming it.
fn read_inputs(opts: &IngestOptions) -> Result<Inputs, EmbeddedError> {
    valid_name("source", &opts.source)?;
    let schema_text =
        std::fs::read_to_string(&opts.schema).map_err(|e| EmbeddedError::io(&opts.schema, e))?;
    let schema = Schema::from_toml_str(&schema_text, &opts.schema.display().to_string())?;
    let bytes = std::fs::read(&opts.csv).map_err(|e| EmbeddedError::io(&opts.csv, e))?;
    Ok(Inputs {
        schema_text,
        schema,
        bytes,
        origin: opts.csv.display().to_string(),
    })
}

/// What `ingest_step` sealed besides the row it ingested.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The header facts.
    pub header: dtfhe_agent::formats::step::StepHeader,
    /// The artifact stored by this run (`None`: an earlier run had sealed these very bytes).
    pub artifact: Option<crate::artifact::PutReport>,
}

/// A STEP file (ISO 10303-21, `opts.csv` names it) sealed as an artifact of `product` at
/// the schema's stage, and one row of its HEADER facts (see
/// `dtfhe_agent::formats::step`) appended to the schema's dataset.
///
/// The header is read and the row checked before anything is stored. The file is then
/// sealed (`dtfhe artifact put`; a run after a crash finds the same bytes already sealed and
/// goes on), and the row is ingested like a CSV row, resumable by the file's hash.
pub fn ingest_step(
    opts: &IngestOptions,
    product: &str,
) -> Result<(IngestReport, StepReport), EmbeddedError> {
    let started = Instant::now();
    let Inputs {
        schema_text,
        schema,
        bytes,
        origin,
    } = read_inputs(opts)?;
    let header = dtfhe_agent::formats::step::parse_header(&bytes, &origin)?;
    let name = opts
        .csv
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| EmbeddedError::Usage(format!("{origin}: not a UTF-8 file name")))?
        .to_string();
    let table = dtfhe_agent::formats::step::header_row(&header, product, &name, &origin, &schema)?;
    let file_hash = *blake3::hash(&bytes).as_bytes();
    drop(bytes);
    let sealed_before = {
        let store = opts.dir.open_store()?;
        match store.artifact(product, &name)? {
            Some((m, _)) if m.file.plain_hash == file_hash => true,
            Some((m, _)) => {
                return Err(EmbeddedError::Usage(format!(
                    "product `{product}` already has another artifact named `{name}` \
                     (artifact {}, source `{}`); nothing was stored",
                    m.id, m.file.source
                )))
            }
            None => false,
        }
    };
    let artifact = if sealed_before {
        None
    } else {
        Some(crate::artifact::put(
            opts.dir.clone(),
            product,
            schema.stage.as_str(),
            &opts.csv,
            &opts.source,
        )?)
    };
    let report = store_table(opts, started, &schema_text, &schema, table, file_hash, None)?;
    Ok((report, StepReport { header, artifact }))
}

/// The store half of every ingest: the checked `table` of a file (hash `file_hash`)
/// appended crash-safely, as [`ingest`] describes.
fn store_table(
    opts: &IngestOptions,
    started: Instant,
    schema_text: &str,
    schema: &Schema,
    table: Table,
    file_hash: [u8; 32],
    document: Option<dtfhe_agent::formats::DocumentNotes>,
) -> Result<IngestReport, EmbeddedError> {
    let mut d = open(&opts.dir)?;
    if let Some(existing) = d.store.dataset_schema(&schema.dataset)? {
        if existing != schema_text {
            // Bad input (exit 3): the file's schema is not the dataset's; say what differs.
            let differences = match Schema::from_toml_str(&existing, "the registered schema") {
                Ok(registered) => dtfhe_model::schema_diff::describe_conflict(&registered, schema),
                Err(e) => format!("the registered schema no longer parses ({e})"),
            };
            return Err(EmbeddedError::SchemaConflict(format!(
                "{}: dataset `{}` is already registered with another schema: {differences}; \
                 nothing was stored",
                opts.schema.display(),
                schema.dataset
            )));
        }
    }
    let dataset = schema.dataset.clone();
    // Per-product datasets place every row in its product's lane (shared across datasets).
    let layout = match &schema.lanes {
        None => dtfhe_agent::Layout::packed(table.rows, d.params.slots()),
        Some(key) => {
            let keys = dtfhe_model::lanes::lane_keys(&table, key).map_err(|e| {
                EmbeddedError::Usage(format!("{}: {e}; nothing was stored", opts.csv.display()))
            })?;
            let lanes = d.store.assign_lanes(key, &keys)?;
            dtfhe_agent::Layout::lanes(lanes, d.params.slots()).map_err(|e| {
                EmbeddedError::Usage(format!("{}: {e}; nothing was stored", opts.csv.display()))
            })?
        }
    };
    let n_chunks = layout.len();
    let report = |chunks: usize, resumed: usize, encrypt_seconds: f64| IngestReport {
        dataset: dataset.clone(),
        rows: table.rows,
        chunks,
        resumed,
        already_ingested: chunks == 0 && resumed > 0,
        encrypted_values: table.rows.min(chunks * d.params.slots()) * table.encrypted.len(),
        encrypt_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        document: document.clone(),
    };
    if n_chunks == 0 {
        // An empty file registers the dataset and stores nothing else.
        d.store.register_dataset(&dataset, schema_text)?;
        return Ok(report(0, 0, 0.0));
    }

    // What an earlier run of this same file (same source, dataset, bytes) already stored.
    let stored = d.store.file_chunks(&dataset, &opts.source, &file_hash)?;
    let last = d.store.last_seq(&dataset, &opts.source)?;
    if let Some(c) = stored.iter().find(|c| c.count as usize != n_chunks) {
        return Err(EmbeddedError::Usage(format!(
            "this file was ingested before as {} chunks, now it makes {n_chunks} (chunk {}); \
             nothing was stored",
            c.count, c.id
        )));
    }
    if stored.len() == n_chunks {
        return Ok(report(0, stored.len(), 0.0));
    }
    let base_seq = match stored.first() {
        Some(c) => c.seq.checked_sub(u64::from(c.index)).ok_or_else(|| {
            EmbeddedError::Usage(format!("chunk {}: seq below its file index", c.id))
        })?,
        None => last.map_or(0, |l| l + 1),
    };
    let missing: Vec<usize> = (0..n_chunks)
        .filter(|&k| !stored.iter().any(|c| c.index as usize == k))
        .collect();
    if let (Some(&first), Some(l)) = (missing.first(), last) {
        if base_seq + first as u64 <= l {
            return Err(EmbeddedError::Usage(format!(
                "an interrupted ingest of this file from source `{}` cannot resume: the source \
                 appended other chunks to `{dataset}` since (last seq {l}); nothing was stored",
                opts.source
            )));
        }
    }

    let key = dtfhe_agent::source_key::load_or_create(&dtfhe_agent::source_key::source_dir(
        &opts.dir,
        &opts.source,
    ))
    .map_err(|e| EmbeddedError::Usage(e.to_string()))?;
    d.store
        .register_source(&opts.source, &key.verifying_key())?;

    let pk = codec::decode_public_key(&d.params, &d.deployment.public_key)?;
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(n_chunks as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} chunks {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("encrypting {dataset}"));
        bar.inc(stored.len() as u64);
        Some(bar)
    } else {
        None
    };
    let signer = dtfhe_agent::ChunkSigner {
        key: &key,
        dataset: &dataset,
        source: &opts.source,
        base_seq,
        file_hash,
    };
    let encrypt_started = Instant::now();
    let mut encrypt_seconds = 0.0;
    let mut written = 0usize;
    let store = &mut d.store;
    let mut pending: Vec<dtfhe_model::NewChunk> = Vec::with_capacity(COMMIT_BATCH);
    let mut committed = 0usize;
    let out = dtfhe_agent::encrypt_ordered_with(
        &d.params,
        &pk,
        schema,
        &table,
        &layout,
        &missing,
        &signer,
        |_, chunk| {
            written += 1;
            if written == missing.len() {
                encrypt_seconds = encrypt_started.elapsed().as_secs_f64();
            }
            // A few chunks per transaction (each with its ledger entry and one signed
            // checkpoint): a crash loses at most the batch in flight, which a re-run resumes.
            pending.push(chunk);
            if pending.len() >= COMMIT_BATCH || written == missing.len() {
                store.append_chunks(&dataset, schema_text, &opts.source, &pending)?;
                committed += pending.len();
                if let Some(b) = &bar {
                    b.inc(pending.len() as u64);
                }
                pending.clear();
            }
            Ok::<(), dtfhe_store::StoreError>(())
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match out {
        Ok(()) => {}
        Err(dtfhe_agent::PipelineError::Agent(e)) => {
            return Err(EmbeddedError::Usage(format!(
                "{e}; {} of {n_chunks} chunks are stored, re-run the same command to resume",
                stored.len() + committed
            )))
        }
        Err(dtfhe_agent::PipelineError::Sink(e)) => return Err(e.into()),
    }
    Ok(report(missing.len(), stored.len(), encrypt_seconds))
}

/// A released query result with its timings (shared with the networked query).
pub use dtfhe_release::QueryReport;

/// Every registered dataset schema of a deployment.
pub fn schemas(d: &Deployed) -> Result<Vec<Schema>, EmbeddedError> {
    d.store
        .datasets()?
        .into_iter()
        .map(|name| {
            let text = d.store.dataset_schema(&name)?.unwrap_or_default();
            Schema::from_toml_str(&text, &format!("stored schema of `{name}`"))
                .map_err(EmbeddedError::from)
        })
        .collect()
}

/// The schema of one dataset (case-insensitive name).
pub fn dataset_schema(d: &Deployed, dataset: &str) -> Result<Schema, EmbeddedError> {
    schemas(d)?
        .into_iter()
        .find(|s| s.dataset.eq_ignore_ascii_case(dataset))
        .ok_or_else(|| EmbeddedError::Usage(format!("unknown dataset `{dataset}`")))
}

/// The strictest of the trustees' policies (largest k; identifier filters only if every
/// trustee allows them), for the embedded query's fail-fast checks.
fn strictest_policy(
    dir: &Path,
    d: &Deployed,
    deployment: &Policy,
) -> Result<Policy, EmbeddedError> {
    let mut out = *deployment;
    for name in &d.deployment.trustees {
        let local = Disclosure::open(&trustee_dir(dir, name))
            .map_err(|e| EmbeddedError::Damaged(e.to_string()))?
            .policy;
        out.min_group_size = out.min_group_size.max(local.min_group_size.unwrap_or(0));
        out.allow_key_filters &= local.allow_key_filters;
    }
    Ok(out)
}

/// Plan, compute on ciphertexts, ask every trustee, combine: the released result.
pub fn query(dir: impl Into<DeploymentDir>, sql: &str) -> Result<QueryReport, EmbeddedError> {
    let dir = &dir.into();
    query_with(dir, sql, None)
}

/// [`query`], optionally with differential privacy: every released sum gets discrete-Laplace
/// noise drawn jointly by the trustees, spending `epsilon` of the dataset's budget.
///
/// Every step is recorded in the store's ledger (see [`crate::audit`]): the query, any
/// refusal (after it is known), the release request with the ciphertexts' hashes, each
/// trustee's decision and the delivery (counts only, never a value).
pub fn query_with(
    dir: impl Into<DeploymentDir>,
    sql: &str,
    epsilon: Option<f64>,
) -> Result<QueryReport, EmbeddedError> {
    query_as(dir, sql, epsilon, &audit::actor())
}

/// [`query_with`] on behalf of `actor`, the name the ledger records for the query, its
/// release request and the delivery (the dashboard passes `dashboard.<user>`, so an auditor
/// sees which signed-in user asked).
pub fn query_as(
    dir: impl Into<DeploymentDir>,
    sql: &str,
    epsilon: Option<f64>,
    actor: &str,
) -> Result<QueryReport, EmbeddedError> {
    let dir = &dir.into();
    let mut d = open(dir)?;
    let actor = actor.to_string();
    let schemas = schemas(&d)?;
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    let detail = query_detail(sql, epsilon);
    let query = match dtfhe_engine::plan(sql, &catalog) {
        Ok(q) => q,
        Err(e) => {
            let e = EmbeddedError::from(e);
            if e.is_refusal() {
                let dataset = dataset_of_sql(sql);
                let q = audit::record(
                    &mut d.store,
                    EntryKind::QueryRun,
                    &actor,
                    &dataset,
                    &detail,
                    &[],
                )?;
                return Err(audit::denied(
                    &mut d.store,
                    &actor,
                    &dataset,
                    &query_context(q),
                    e,
                ));
            }
            return Err(e);
        }
    };
    let q = audit::record(
        &mut d.store,
        EntryKind::QueryRun,
        &actor,
        &query.dataset,
        &detail,
        &[],
    )?;
    let policy = Policy {
        min_group_size: d.deployment.min_group_size,
        trustees: d.deployment.trustees.len(),
        allow_key_filters: true,
    };

    let compute_started = Instant::now();
    let computed = (|| {
        let selection = exec::select(&d.store, &d.params, &query)?;
        // Fail fast on the clear rules before any homomorphic work; trustees check again
        // (with their own, possibly stricter, policy and their disclosure records).
        let strictest = strictest_policy(dir, &d, &policy)?;
        precheck(&d.params, &strictest, &query, &selection)?;
        let computed: Vec<ComputedSum> = if selection.moments.is_empty() {
            Vec::new()
        } else {
            let relin = codec::decode_relin_key(&d.params, &d.deployment.relin_key)?;
            let multiplier = Multiplier::new(&d.params, relin)?;
            exec::compute(&d.store, &query, &d.params, &multiplier, &selection)?
        };
        Ok((selection, computed))
    })();
    let (selection, computed) = computed.map_err(|e: EmbeddedError| {
        audit::denied(&mut d.store, &actor, &query.dataset, &query_context(q), e)
    })?;
    let compute_seconds = compute_started.elapsed().as_secs_f64();

    let release_started = Instant::now();
    let ct_hashes: Vec<dtfhe_store::Hash> = computed
        .iter()
        .map(|c| ciphertext_hash(&d.params, &c.ciphertext))
        .collect();
    let release = audit::record(
        &mut d.store,
        EntryKind::ReleaseRequested,
        &actor,
        &query.dataset,
        &release_request_detail(q, computed.len(), selection.groups.len(), epsilon),
        &ct_hashes,
    )?;
    let request = build_request(
        format!("entry {release}"),
        sql,
        &query,
        &selection,
        &computed,
        epsilon,
    );
    let threshold = threshold_of(dir, d.deployment.trustees.len())?;
    let all_shares = match threshold {
        None => release_all(dir, &mut d, release, &policy, &request)?,
        Some(t) => release_quorum(dir, &mut d, release, &policy, &request, t)?,
    };
    let applied_epsilon = match all_shares.first() {
        Some((first, _)) => Disclosure::open(&trustee_dir(dir, first))
            .map_err(|e| EmbeddedError::Damaged(e.to_string()))?
            .epsilon_for(&request),
        None => epsilon,
    };
    let approved_unix = dtfhe_model::clock::now_unix();
    let approvals = all_shares
        .iter()
        .map(|(t, _)| (t.clone(), approved_unix))
        .collect();
    let mut totals = Vec::with_capacity(computed.len());
    for (i, c) in computed.iter().enumerate() {
        let shares: Vec<_> = all_shares.iter().map(|(_, s)| s[i].clone()).collect();
        totals.push(centred(
            &d.params,
            combine(&d.params, &c.ciphertext, &shares)?,
        ));
    }
    let order: Vec<(usize, Moment)> = computed
        .iter()
        .map(|c| (c.group, c.moment.clone()))
        .collect();
    if applied_epsilon.is_none() {
        check_totals(&query, &selection, &order, &totals)
            .map_err(|e| EmbeddedError::Damaged(e.to_string()))?;
    }
    let (result, group_rows) =
        dtfhe_release::pipeline::finalize_released(&query, selection, order, totals)?;
    let release_seconds = release_started.elapsed().as_secs_f64();
    let detail = format!(
        "{} groups, {} values delivered to `{actor}`",
        result.rows.len(),
        result.rows.len() * result.columns.len()
    );
    audit::delivered(&mut d.store, &actor, release, &detail, &ct_hashes)?;
    Ok(QueryReport {
        result,
        compute_seconds,
        release_seconds,
        released_ciphertexts: computed.len(),
        epsilon: applied_epsilon,
        group_rows,
        approvals,
    })
}

/// n-of-n: every trustee's key share is checked against its ceremony record before any
/// trustee answers, so a damaged share stops the release before a single share is logged;
/// then every trustee reviews. Returns (trustee, shares) in deployment order.
fn release_all(
    dir: &Path,
    d: &mut Deployed,
    release: u64,
    policy: &Policy,
    request: &dtfhe_release::ReleaseRequest,
) -> Result<Vec<(String, Vec<dtfhe_crypto::release::Coeff0Share>)>, EmbeddedError> {
    let mut trustees = Vec::with_capacity(d.deployment.trustees.len());
    for name in &d.deployment.trustees {
        // A deployment made before trustees kept a ceremony record gets one on first use.
        let opened = Trustee::open(&trustee_dir(dir, name), name, &d.params)
            .and_then(|t| t.record_if_missing(&d.params).map(|()| t));
        match opened {
            Ok(t) => trustees.push(t),
            Err(e) => return Err(audit::trustee_failed(&mut d.store, name, release, e)),
        }
    }
    let mut all_shares = Vec::with_capacity(trustees.len());
    for trustee in &trustees {
        let name = trustee.name();
        let answer = trustee.review(&d.params, policy, request);
        let shares =
            audit::trustee_decision(&mut d.store, name, release, answer, |s| s.to_bytes())?;
        all_shares.push((name.to_string(), shares));
    }
    Ok(all_shares)
}

/// t-of-n: the first t trustees (deployment order) whose key share and threshold secret
/// check out form the release set; each reviews (rules, its own disclosure record) and
/// answers with its Lagrange-weighted share for that set. A trustee that cannot answer is
/// recorded in the ledger and skipped; fewer than t usable trustees: refused, naming the
/// quorum and who is missing, before any share is given.
fn release_quorum(
    dir: &Path,
    d: &mut Deployed,
    release: u64,
    policy: &Policy,
    request: &dtfhe_release::ReleaseRequest,
    t: usize,
) -> Result<Vec<(String, Vec<dtfhe_crypto::release::Coeff0Share>)>, EmbeddedError> {
    let n = d.deployment.trustees.len();
    let mut set: Vec<(u32, Trustee)> = Vec::with_capacity(t);
    let mut unavailable = Vec::new();
    for (i, name) in d.deployment.trustees.clone().iter().enumerate() {
        if set.len() == t {
            break;
        }
        let opened = Trustee::open(&trustee_dir(dir, name), name, &d.params).and_then(|tr| {
            tr.threshold_secret(&d.params)?;
            Ok(tr)
        });
        match opened {
            Ok(tr) => set.push((i as u32 + 1, tr)),
            Err(e) => {
                // Recorded in the ledger; the quorum goes on without it.
                let _ = audit::trustee_failed(&mut d.store, name, release, e);
                unavailable.push(name.clone());
            }
        }
    }
    if set.len() < t {
        let detail = format!(
            "no quorum: {t} of {n} trustees must answer, only {} can ({}); unavailable: {}",
            set.len(),
            set.iter()
                .map(|(_, tr)| tr.name().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            unavailable.join(", ")
        );
        let _ = audit::record(
            &mut d.store,
            EntryKind::TrusteeRefused,
            "platform",
            &release_subject(release),
            &detail,
            &[],
        );
        return Err(EmbeddedError::Refused(detail));
    }
    let points: Vec<u32> = set.iter().map(|(p, _)| *p).collect();
    let mut all_shares = Vec::with_capacity(t);
    for (_, trustee) in &set {
        let name = trustee.name();
        let answer = trustee.review_for_set(&d.params, policy, request, &points);
        let shares =
            audit::trustee_decision(&mut d.store, name, release, answer, |s| s.to_bytes())?;
        all_shares.push((name.to_string(), shares));
    }
    Ok(all_shares)
}
