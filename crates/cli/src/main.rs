//! `dtfhe`: the DigitalThreadFHE command line.
#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use dtfhe_analyst::{net, remote_audit};
use dtfhe_bench::{figures as bench, load as bench_load};
use dtfhe_cli::{analytics_cli, demo, platform, trustee, CliError};
use dtfhe_embedded::{artifact, audit, ops, DeploymentDir};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Confidential digital thread: statistics over factory data that nobody can read.
#[derive(Debug, Parser)]
#[command(
    name = "dtfhe",
    version,
    about = "Confidential digital thread: exact statistics over encrypted factory data",
    long_about = "Confidential digital thread: exact statistics over encrypted factory data.\n\n\
Roles:\n  \
  sources   encrypt product-lifecycle data where it is created (`ingest`), under a collective\n            \
            public key; nothing in clear leaves the source except row counts and public columns\n  \
  platform  stores the ciphertexts and computes on them (`query`) without holding any key\n  \
  trustees  one per factory; each holds one share of the secret key (in its own directory,\n            \
            never in the store) and must approve every release: a result is decrypted only if\n            \
            ALL trustees agree that it is an aggregate allowed by policy (at least k rows per\n            \
            group, no overflow possible)\n  \
  analysts  ask SQL aggregate queries and read the released numbers, never rows\n\n\
Two ways to deploy:\n  \
  embedded   one directory holds the store and every trustee's share directory (`init`,\n             \
             `ingest`, `query --dir`): for trying it out and for a single site\n  \
  networked  each role is its own process on its own machine, talking signed HTTP: the\n             \
             platform (`serve`, no key share ever), one `trustee` per factory (key ceremony,\n             \
             then reviews: it re-derives every computation itself before answering with a\n             \
             share sealed to the analyst), edge `agent`s (encrypt, sign, spool, upload),\n             \
             analysts (`query --server`), auditors (`audit verify --server`), admins\n             \
             (`identity`, `admin register`). See README \"Networked deployment\".\n\n\
Start with `dtfhe demo`, which runs the whole pipeline on the bundled AI4I 2020 data.\n\n\
Exit codes: 0 ok, 1 I/O, 2 usage, 3 bad input (nothing stored), 4 refused by policy (nothing\n\
decrypted), 5 store / not released in time, 6 crypto, 7 encrypted result differs from plaintext,\n\
8 audit found tampering (the first bad entry, checkpoint, chunk, blob or table is named),\n\
9 the platform server failed or answered inconsistently."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Where the store's database is: `sqlite` (D/store.sqlite) or a PostgreSQL URL
    /// (postgres://user[:password]@host[:port]/database, an existing database; `init`
    /// creates the store in it). The store's key files stay in D either way. Not used by
    /// `demo` and `bench`, which make their own SQLite deployments.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "DTFHE_STORE",
        hide_env_values = true,
        default_value = "sqlite"
    )]
    store: dtfhe_store::StoreLocation,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a deployment: store, one key share per trustee, collective public keys.
    #[command(
        long_about = "Create a deployment in --dir: the store (store.sqlite, holding \
the parameter preset, trustee names, k and the collective public and relinearisation keys) and \
one directory per trustee (trustees/<name>/, its secret-key share, file mode 0600). The key \
ceremony runs between the trustees; the store never sees a share. Refuses to overwrite an \
existing deployment."
    )]
    Init(InitArgs),
    /// Encrypt a CSV file at the source and append it to a dataset.
    #[command(
        long_about = "Encrypt a CSV file at the source and append it to the dataset \
its schema declares. Every value of an encrypted column is fixed-point encoded and encrypted \
under the collective public key, packed into one SIMD ciphertext per column and chunk; public \
columns are stored in clear beside them. The whole file is checked first: any bad field \
(unparsable, outside the declared range, wrong column count, non-UTF-8, NULL in a non-nullable \
column) rejects the file with its line and column, and nothing of it is stored. A second ingest \
into the same dataset appends.\n\nEvery chunk is signed with the source's own ed25519 key \
(D/sources/<source>/source.key, created and registered in the store on first use) under a \
per-source sequence number, and committed with its ledger entry one chunk at a time. Re-running \
the same command for the same file resumes an interrupted ingest (only the missing chunks are \
stored), or stores nothing if it had completed (\"already ingested\")."
    )]
    Ingest(IngestArgs),
    /// Run an aggregate SQL query on the ciphertexts and release the result.
    #[command(
        long_about = "Run an aggregate SQL query: the platform computes the needed \
encrypted sums without any key, every trustee checks the request (at least k rows per group, \
no possible overflow) and contributes a flooded decryption share of the sums only, and the \
exact statistics are printed. Nothing is stored except the query's effect on the trustees' \
logs.\n\nSupported: COUNT(*), COUNT, SUM, AVG, VAR_POP, VAR_SAMP, STDDEV_POP, STDDEV_SAMP, \
COVAR_POP, COVAR_SAMP, CORR, REGR_SLOPE, REGR_INTERCEPT, REGR_R2 over encrypted columns; \
WHERE (comparisons, AND/OR/NOT, IN, BETWEEN) and GROUP BY / ORDER BY on public columns \
(including `source`, the data owner). Encrypted columns outside an aggregate are refused.\n\n\
Networked (--server URL --identity F): the platform computes, each trustee process re-derives \
the sums from the sources' signed chunks and answers with shares sealed to a key this command \
draws for the query; only this command can open them. A refusal prints every refusing \
trustee's reason (exit 4); trustees silent for --timeout seconds are named (exit 5); nothing \
is released in either case.\n\n\
Example: dtfhe query --dir plant \"SELECT type, AVG(torque) FROM ai4i GROUP BY type\"\n\
Example: dtfhe query --server http://platform:8700 --identity analyst.id \"SELECT ...\""
    )]
    Query(QueryArgs),
    /// Run the whole pipeline on the bundled AI4I 2020 data, three plants, checked.
    #[command(
        long_about = "Run the whole pipeline on the bundled AI4I 2020 data: a fresh \
deployment with three plants (plant-a, plant-b, plant-c), each a source of a third of the data \
and a trustee holding one key share; then a set of queries, each encrypted result printed next \
to the plaintext answer computed independently. Two queries that must be refused are shown too. \
Exits with code 7 if any released value differs. Stores everything in --dir (kept) or in a \
temporary directory (deleted)."
    )]
    Demo(DemoArgs),
    /// Measure ingest rate, bytes at rest, query and release latency on synthetic data.
    #[command(
        long_about = "Measure, on synthetic data in temporary deployments with three \
trustees: ingest values/s (and encryption alone), bytes at rest per encrypted value (product \
and sum-only columns), the latency of AVG + STDDEV + CORR with and without GROUP BY (compute \
and release), and the same statistics in plaintext. Prints a table with the targets."
    )]
    Bench(BenchArgs),
    /// Predictive maintenance: fit a ridge model from released aggregates, score rows.
    Model(analytics_cli::ModelArgs),
    /// Compute edge features from a raw log before it is encrypted.
    Features(analytics_cli::FeaturesArgs),
    /// Generate example data (MES production runs for OEE).
    Generate(analytics_cli::GenerateArgs),
    /// Check the store's ledger from the outside: verify, list entries, prove inclusion.
    #[command(
        long_about = "Audit a deployment's store and its ledger. `verify` replays every \
ledger entry, recomputes the Merkle tree, checks every signed checkpoint, every blob hash and \
source signature, that every stored row matches its entry, and that every delivered result was \
approved by all trustees; `log` lists the entries; `prove` prints and verifies an inclusion \
proof of one entry or a consistency proof between two tree sizes. Exit code 8 names the first \
bad entry, checkpoint, chunk, blob or table."
    )]
    Audit(AuditArgs),
    /// Seal a product's design file, simulation result or repair report at its source, or
    /// open it again as that source.
    #[command(
        long_about = "Sealed artifacts: the files of a product's thread that are not \
numbers (CAD files, simulation results, repair reports). `put` seals the file's bytes at the \
source with XChaCha20-Poly1305 under a key only that source holds \
(D/sources/<source>/artifact.key, created on first use, mode 0600), bound to (product, stage, \
source, file name), signs the record with the source's key and stores the sealed bytes with an \
artifact_sealed ledger entry (hashes of the sealed bytes and of the plaintext, never content). \
`get` opens it only as the owning source: another source, or one without the key, is refused \
(exit 4, nothing written); sealed bytes altered in the store fail (exit 8, nothing written)."
    )]
    Artifact(ArtifactArgs),
    /// Show a product's thread across stages: per-product dataset rows and sealed artifacts.
    Thread(ThreadArgs),
    /// Run a factory's trustee next to a platform server: key ceremony, then release reviews.
    #[command(
        long_about = "Run a factory's trustee as a process of its own. On first run it \
draws its secret-key share into --dir (share.key, mode 0600) and takes part in the platform's \
key ceremony (only public shares leave the process). Then it polls the release requests: for \
each it re-plans the SQL, re-computes the encrypted sums itself from the sources' signed chunks \
(every signature and hash checked), compares them with the platform's, checks the analyst's \
signed statement and grant and the release policy on its own group counts (k, overflow, noise, \
DP budget, its share log), and answers with decryption shares sealed to the analyst (HPKE) or \
a refusal with the reason. --min-group-size and --datasets make its own policy stricter than \
the deployment's.\n\nExample: dtfhe trustee --dir plant-a-trustee --server \
http://platform:8700 --identity plant-a.id"
    )]
    Trustee(TrusteeArgs),
    /// Run the platform server: stores ciphertexts, computes on them, relays releases.
    #[command(
        long_about = "Run the platform server of a networked deployment. It stores the \
sources' signed ciphertext chunks and the ledger in --dir, computes queries on the ciphertexts, \
routes release requests to the trustees and relays their answers, sealed to the analyst who \
asked, which it cannot open. It never holds a secret-key share and never sees a released \
value: each trustee keeps its share in its own process (`dtfhe trustee`).\n\nFirst start: \
give the first admin (--admin NAME=ed25519:KEY, from `dtfhe identity new`) and the deployment \
(--trustees a,b,c, --min-group-size K, --preset or --params); the server draws a public \
ceremony seed and waits for every trustee to post its public key shares, then writes the \
deployment (GET /v1/deployment answers 503 until then). Later starts reopen --dir. Every \
request must be signed by a registered identity; every refusal is a ledger entry. The API is \
described at /openapi.json.\n\nExample: dtfhe serve --dir platform --listen 0.0.0.0:8700 \
--admin root=ed25519:... --trustees plant-a,plant-b,plant-c --min-group-size 5"
    )]
    Serve(platform::ServeArgs),
    /// Create or show an identity file (a party's name and ed25519 key).
    Identity(platform::IdentityArgs),
    /// Register parties with a platform server (admin role).
    Admin(platform::AdminArgs),
    /// Run a source's edge agent: encrypt CSV exports at the source, spool, upload.
    #[command(
        long_about = "Run a source's edge agent against a platform server. The whole CSV \
is checked against the schema first (bad input: exit 3, nothing spooled or sent). Every chunk \
is encrypted under the deployment's public key, signed with the source's identity key, written \
durably to the spool (--spool), and only then uploaded, in order; the spool file is deleted \
once the platform confirmed it. Unreachable platform or server errors are retried with \
capped exponential backoff (0.2 s to 5 s; forever in --watch mode, else up to \
--max-retry-seconds, after which the chunks stay spooled, exit 1). A restarted agent first \
uploads its spool, and a half-uploaded file resumes where it stopped; the platform answers \
`already_stored` for a chunk it has, so nothing is ever stored twice. --watch DIR ingests every \
new *.csv once (finished files are recorded by hash in the spool)."
    )]
    Agent(platform::AgentArgs),
}

#[derive(Debug, Args)]
struct TrusteeArgs {
    /// The trustee's own directory (key share, share log, DP budget log).
    #[arg(long, value_name = "T")]
    dir: PathBuf,
    /// Platform server URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The trustee's identity file (its name is the trustee's name).
    #[arg(long, value_name = "F")]
    identity: PathBuf,
    /// Poll interval in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    poll_ms: u64,
    /// Answer the pending requests once, then exit.
    #[arg(long)]
    once: bool,
    /// This trustee's own k, if stricter than the deployment's.
    #[arg(long, value_name = "K")]
    min_group_size: Option<u32>,
    /// Release only these datasets (comma-separated).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    datasets: Option<Vec<String>>,
    #[command(flatten)]
    disclosure: DisclosureArgs,
    /// Refuse requests whose analyst statement is older than this many seconds (0: no
    /// limit), so a query its analyst gave up on spends no DP budget.
    #[arg(long, value_name = "S", default_value_t = 3600)]
    max_age_seconds: u64,
}

#[derive(Debug, Args)]
struct ArtifactArgs {
    #[command(subcommand)]
    command: ArtifactCommand,
}

#[derive(Debug, Subcommand)]
enum ArtifactCommand {
    /// Seal a file at its source and store it as an artifact of a product.
    Put {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Product (thread) the file belongs to, e.g. M14860.
        #[arg(long, value_name = "P")]
        product: String,
        /// Lifecycle stage.
        #[arg(long, value_parser = ["design", "manufacturing", "maintenance"])]
        stage: String,
        /// File to seal; stored under its file name (unique per product).
        #[arg(long, value_name = "F")]
        file: PathBuf,
        /// Owning source (holds the key).
        #[arg(long, value_name = "NAME", default_value = "local")]
        source: String,
    },
    /// Open an artifact as its owning source and write its bytes to a file.
    Get {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Product.
        #[arg(long, value_name = "P")]
        product: String,
        /// File name of the artifact.
        #[arg(long, value_name = "FILE")]
        name: String,
        /// Where to write the opened bytes (written only if they authenticate).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        /// Source opening it (must be the owner).
        #[arg(long, value_name = "NAME", default_value = "local")]
        source: String,
    },
}

#[derive(Debug, Args)]
struct ThreadArgs {
    #[command(subcommand)]
    command: ThreadCommand,
}

#[derive(Debug, Subcommand)]
enum ThreadCommand {
    /// List every record about a product, by stage (design, manufacturing, maintenance):
    /// rows of per-product datasets (public columns only) and sealed artifacts.
    Show {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Product.
        #[arg(long, value_name = "P")]
        product: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        format: LogFormat,
    },
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Replay and check the whole ledger; one-line summary, or the first bad entry.
    Verify {
        /// Deployment directory (embedded deployment).
        #[arg(
            long,
            value_name = "D",
            required_unless_present = "server",
            conflicts_with = "server"
        )]
        dir: Option<PathBuf>,
        /// Platform server URL (networked deployment; needs --identity of an auditor).
        #[arg(long, value_name = "URL", requires = "identity")]
        server: Option<String>,
        /// The auditor's identity file (with --server).
        #[arg(long, value_name = "F")]
        identity: Option<PathBuf>,
        /// The store's checkpoint key (`store.pub` of the platform directory), pinned: the
        /// latest checkpoint must be signed by it (with --server).
        #[arg(long, value_name = "store.pub", requires = "server")]
        store_key: Option<PathBuf>,
        /// Also download every ciphertext and re-hash it against the hash its source signed
        /// (with --server; reads the whole store).
        #[arg(long, requires = "server")]
        ciphertexts: bool,
    },
    /// List every ledger entry (seq, time, kind, actor, subject, detail, hashes).
    Log {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        format: LogFormat,
    },
    /// Print and verify an inclusion proof (--entry N) or a consistency proof (--from M
    /// [--to N]).
    Prove {
        /// Deployment directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// Entry to prove included in the current tree.
        #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"],
              required_unless_present = "from")]
        entry: Option<u64>,
        /// Older tree size of a consistency proof.
        #[arg(long, value_name = "M")]
        from: Option<u64>,
        /// Newer tree size of a consistency proof (default: the current size).
        #[arg(long, value_name = "N", requires = "from")]
        to: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// One tab-separated line per entry, with a header line.
    Text,
    /// A JSON array of entries.
    Json,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Deployment directory to create (store + trustee directories).
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Trustee names, one per factory, comma-separated; all must approve every release.
    #[arg(long, value_name = "a,b,c", value_delimiter = ',', required = true, num_args = 1..)]
    trustees: Vec<String>,
    /// k: smallest number of rows any released group may have.
    #[arg(long, value_name = "K", default_value_t = 5)]
    min_group_size: u32,
    /// BFV parameter preset. bfv-16384 allows masked products (WHERE/GROUP BY with
    /// variances, correlations); bfv-8192 is faster and smaller but refuses those.
    #[arg(long, value_name = "NAME", default_value = "bfv-16384",
          value_parser = ["bfv-16384", "bfv-8192"])]
    preset: String,
    /// Custom BFV parameters from a TOML file (`degree`, `plaintext`, `moduli`), validated
    /// like the presets (128-bit size bound, t prime, t ≡ 1 mod 2N, t below every modulus).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    params: Option<PathBuf>,
    #[command(flatten)]
    disclosure: DisclosureArgs,
}

/// How released aggregates are protected (written to each trustee's policy.toml and the
/// ledger). Without `--dp-budget`, every dataset is in audit mode: exact releases, and a
/// release that would let anyone derive fewer than k rows by differencing is refused.
#[derive(Debug, Args)]
struct DisclosureArgs {
    /// dp mode for every dataset: every release is noised by the trustees, and each dataset
    /// may spend this total ε. Each trustee keeps its own spend log and refuses beyond it.
    #[arg(long, value_name = "EPSILON")]
    dp_budget: Option<f64>,
    /// dp mode: ε of a query that names none (default: a tenth of the budget).
    #[arg(long, value_name = "EPSILON", requires = "dp_budget")]
    dp_epsilon: Option<f64>,
    /// Let identifier columns (`role = "key"`: serials, row numbers) filter and group
    /// released aggregates. Off by default: such filters single rows out.
    #[arg(long)]
    allow_key_filters: bool,
}

impl DisclosureArgs {
    fn policy(&self) -> Result<dtfhe_release::LocalPolicy, CliError> {
        let mode = match self.dp_budget {
            None => dtfhe_release::Mode::Audit,
            Some(b) => dtfhe_release::Mode::dp(b, self.dp_epsilon)
                .map_err(|e| CliError::Usage(format!("--dp-budget/--dp-epsilon: {e}")))?,
        };
        Ok(dtfhe_release::LocalPolicy {
            mode,
            min_group_size: None,
            allow_key_filters: self.allow_key_filters,
        })
    }
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Deployment directory (created by `dtfhe init`).
    #[arg(long, value_name = "D")]
    dir: PathBuf,
    /// Dataset schema (TOML): table name, stage, CSV layout, public and encrypted columns.
    #[arg(long, value_name = "S.toml")]
    schema: PathBuf,
    /// CSV file to encrypt and append.
    #[arg(long, value_name = "F.csv")]
    csv: PathBuf,
    /// Data owner of these rows (a plant, a supplier); queryable as the public column `source`.
    #[arg(long, value_name = "NAME", default_value = "local")]
    source: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned human-readable table.
    Table,
    /// {"columns":[...],"rows":[[...],...]} with numbers as JSON numbers.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// Deployment directory (embedded deployment).
    #[arg(
        long,
        value_name = "D",
        required_unless_present = "server",
        conflicts_with = "server"
    )]
    dir: Option<PathBuf>,
    /// Platform server URL (networked deployment; needs --identity).
    #[arg(long, value_name = "URL", requires = "identity")]
    server: Option<String>,
    /// The analyst's identity file (with --server).
    #[arg(long, value_name = "F")]
    identity: Option<PathBuf>,
    /// With --server: seconds to wait for every trustee's answer.
    #[arg(long, value_name = "S", default_value_t = 120)]
    timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Differential privacy: the trustees add jointly drawn discrete-Laplace noise to every
    /// released sum, spending this ε of the dataset's budget (row counts stay exact: they are
    /// public metadata). A deployment in dp mode noises every query: without this option the
    /// trustees' default ε per query applies.
    #[arg(long, value_name = "E")]
    epsilon: Option<f64>,
    /// The SQL query (one SELECT with aggregates).
    #[arg(value_name = "SQL")]
    sql: String,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Keep the deployment in this directory (must not hold one already);
    /// default: a temporary directory, deleted at the end.
    #[arg(long, value_name = "D")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    /// A load test instead of the single-deployment figures.
    #[command(subcommand)]
    command: Option<BenchCommand>,
    /// Row counts to measure, comma-separated.
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_value = "100000,1000000"
    )]
    rows: Vec<usize>,
    /// Only 10,000 rows (a quick check that everything runs).
    #[arg(long)]
    quick: bool,
    /// BFV parameter preset of the benchmark deployments.
    #[arg(long, value_name = "NAME", default_value = "bfv-16384",
          value_parser = ["bfv-16384", "bfv-8192"])]
    preset: String,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Bounded load test on loopback: a real server process and three trustee processes,
    /// concurrent edge agents ingesting, concurrent analysts querying.
    #[command(
        long_about = "Bounded load test of the networked deployment on loopback, in a \
temporary directory: starts `dtfhe serve` on 127.0.0.1:0 and three `dtfhe trustee` processes \
(key ceremony), registers the parties, then (1) --agents edge agents (threads running the \
`dtfhe agent` uploader) ingest their own small CSV files at once: chunks/s and values/s, \
encryption alone measured separately, every chunk stored exactly once; (2) --analysts \
analysts (threads running `dtfhe query --server`) ask aggregate queries at once: p50/p99/max \
latency and queries/s, every released result compared with the plaintext (exit 7 if one \
differs); (3) the server's peak and current memory (VmHWM, VmRSS). Every wait is bounded by \
--deadline-seconds; every process started is stopped on every exit path. Prints a table."
    )]
    Load(bench_load::LoadArgs),
    /// Cost of the disclosure audit: check time (median, max) and memory after 100, 1,000
    /// and 10,000 committed releases on a 1,000,000-row dataset (in memory, no deployment).
    Audit,
}

fn run(cli: Cli) -> Result<(), CliError> {
    // The deployment directory of an embedded command, with the store location of `--store`
    // (the demo and the benchmark make their own SQLite deployments).
    let store = cli.store.clone();
    let at = |dir: &std::path::Path| DeploymentDir::new(dir, store.clone());
    match cli.command {
        Command::Init(a) => {
            let trustees: Vec<String> = a.trustees.iter().map(|t| t.trim().to_string()).collect();
            let opts = ops::InitOptions {
                dir: at(&a.dir),
                trustees: trustees.clone(),
                min_group_size: a.min_group_size,
                preset: match &a.params {
                    None => a.preset.clone(),
                    Some(file) => {
                        let text =
                            std::fs::read_to_string(file).map_err(|e| CliError::io(file, e))?;
                        let spec =
                            dtfhe_crypto::ParamSpec::from_toml(&text, &file.display().to_string())
                                .and_then(|s| s.validate(false).map(|_| s))
                                .map_err(|e| {
                                    CliError::Usage(format!("{e}; nothing was created"))
                                })?;
                        spec.custom_name()
                    }
                },
                policy: a.disclosure.policy()?,
            };
            ops::init(&opts)?;
            println!(
                "initialised {} with {} trustees ({}), k = {}, preset {}",
                a.dir.display(),
                trustees.len(),
                trustees.join(", "),
                a.min_group_size,
                if a.params.is_some() {
                    "custom (validated)"
                } else {
                    a.preset.as_str()
                }
            );
            Ok(())
        }
        Command::Ingest(a) => {
            let opts = ops::IngestOptions {
                dir: at(&a.dir),
                schema: a.schema,
                csv: a.csv,
                source: a.source.clone(),
                progress: std::io::stderr().is_terminal(),
            };
            let r = ops::ingest(&opts)?;
            if r.already_ingested {
                println!(
                    "already ingested: this file ({} rows, {} chunk{}) from source `{}` is \
                     already stored in `{}`; nothing was stored",
                    r.rows,
                    r.resumed,
                    if r.resumed == 1 { "" } else { "s" },
                    a.source,
                    r.dataset
                );
                return Ok(());
            }
            let rate = if r.total_seconds > 0.0 {
                r.encrypted_values as f64 / r.total_seconds
            } else {
                0.0
            };
            println!(
                "ingested {} rows into `{}` from source `{}`: {} chunk{}, {} encrypted values in {:.2} s ({:.0} values/s)",
                r.rows,
                r.dataset,
                a.source,
                r.chunks,
                if r.chunks == 1 { "" } else { "s" },
                r.encrypted_values,
                r.total_seconds,
                rate
            );
            if r.resumed > 0 {
                println!(
                    "resumed an interrupted ingest: {} chunk{} of this file were already stored",
                    r.resumed,
                    if r.resumed == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
        Command::Query(a) => {
            let r = match (&a.dir, &a.server, &a.identity) {
                (_, Some(server), Some(identity)) => {
                    let opts = net::RemoteQueryOptions {
                        server: server.clone(),
                        identity: identity.clone(),
                        sql: a.sql.clone(),
                        epsilon: a.epsilon,
                        timeout: Duration::from_secs(a.timeout),
                        poll: Duration::from_millis(250),
                    };
                    let submitted = net::submit(&opts)?;
                    // On stderr, so the result on stdout stays machine-readable.
                    eprintln!(
                        "query {} accepted by the platform; waiting up to {} s for the trustees",
                        submitted.id, a.timeout
                    );
                    net::finish(submitted, &opts)?
                }
                (Some(dir), _, _) => ops::query_with(at(dir), &a.sql, a.epsilon)?,
                _ => {
                    return Err(CliError::Usage(
                        "query needs --dir D, or --server URL --identity F".into(),
                    ))
                }
            };
            let text = match a.format {
                Format::Table => r.result.to_table(),
                Format::Json => r.result.to_json(),
                Format::Csv => r.result.to_csv(),
            };
            if let Some(e) = r.epsilon {
                // On stderr, so the result on stdout stays machine-readable.
                eprintln!(
                    "differential privacy: every released sum carries the trustees' noise \
                     (ε = {e} of each dataset's budget); row counts are exact"
                );
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            if !text.ends_with('\n') {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
            Ok(())
        }
        Command::Trustee(a) => {
            let identity = dtfhe_api::Identity::load(&a.identity)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            trustee::run(&trustee::TrusteeOptions {
                dir: a.dir,
                server: a.server,
                identity,
                poll: Duration::from_millis(a.poll_ms.max(10)),
                once: a.once,
                min_group_size: a.min_group_size,
                datasets: a.datasets,
                local_policy: a.disclosure.policy()?,
                timeout: Duration::from_secs(600),
                stop: None,
                max_age: (a.max_age_seconds > 0).then(|| Duration::from_secs(a.max_age_seconds)),
            })
        }
        Command::Serve(a) => platform::run_serve(a, store),
        Command::Identity(a) => platform::run_identity(a),
        Command::Admin(a) => platform::run_admin(a),
        Command::Agent(a) => platform::run_agent(a),
        Command::Demo(a) => demo::run(a.dir.as_deref()),
        Command::Bench(BenchArgs {
            command: Some(BenchCommand::Load(load)),
            ..
        }) => Ok(bench_load::run(&load)?),
        Command::Bench(BenchArgs {
            command: Some(BenchCommand::Audit),
            ..
        }) => Ok(dtfhe_bench::audit::run()?),
        Command::Bench(a) => {
            let rows = if a.quick { vec![10_000] } else { a.rows };
            if rows.contains(&0) {
                return Err(CliError::Usage(
                    "--rows: every row count must be at least 1".into(),
                ));
            }
            Ok(bench::run(&rows, &a.preset)?)
        }
        Command::Model(a) => analytics_cli::run_model(a, &store),
        Command::Features(a) => analytics_cli::run_features(a),
        Command::Generate(a) => analytics_cli::run_generate(a),
        Command::Artifact(a) => match a.command {
            ArtifactCommand::Put {
                dir,
                product,
                stage,
                file,
                source,
            } => {
                let r = artifact::put(at(&dir), &product, &stage, &file, &source)?;
                println!(
                    "sealed `{}` ({} bytes) for product `{product}`, stage {stage}, source \
                     `{source}`: artifact {}, sealed blake3 {}",
                    r.name, r.size, r.id, r.sealed_hash
                );
                Ok(())
            }
            ArtifactCommand::Get {
                dir,
                product,
                name,
                out,
                source,
            } => {
                let n = artifact::get(at(&dir), &product, &name, &out, &source)?;
                println!(
                    "opened `{name}` of product `{product}`: {n} bytes written to {}",
                    out.display()
                );
                Ok(())
            }
        },
        Command::Thread(a) => {
            let ThreadCommand::Show {
                dir,
                product,
                format,
            } = a.command;
            let t = artifact::thread(at(&dir), &product)?;
            let text = match format {
                LogFormat::Text => t.to_text(),
                LogFormat::Json => t.to_json(),
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
        Command::Audit(a) => {
            let text = match a.command {
                AuditCommand::Verify { dir: Some(dir), .. } => {
                    format!("{}\n", audit::verify(at(&dir))?)
                }
                AuditCommand::Verify {
                    server: Some(server),
                    identity: Some(identity),
                    store_key,
                    ciphertexts,
                    ..
                } => format!(
                    "{}\n",
                    remote_audit::verify(&server, &identity, store_key.as_deref(), ciphertexts)?
                ),
                AuditCommand::Verify { .. } => {
                    return Err(CliError::Usage(
                        "audit verify needs --dir D, or --server URL --identity F".into(),
                    ))
                }
                AuditCommand::Log { dir, format } => audit::log(
                    at(&dir),
                    match format {
                        LogFormat::Text => audit::LogFormat::Text,
                        LogFormat::Json => audit::LogFormat::Json,
                    },
                )?,
                AuditCommand::Prove {
                    dir,
                    entry: Some(n),
                    ..
                } => audit::prove_entry(at(&dir), n)?,
                AuditCommand::Prove {
                    dir,
                    from: Some(m),
                    to,
                    ..
                } => audit::prove_consistency(at(&dir), m, to)?,
                AuditCommand::Prove { .. } => {
                    return Err(CliError::Usage(
                        "audit prove needs --entry N, or --from M [--to N]".into(),
                    ))
                }
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let code = e.exit_code().clamp(1, 255);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
