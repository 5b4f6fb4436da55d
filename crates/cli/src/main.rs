//! `dtfhe`: the DigitalThreadFHE command line.
#![forbid(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};
use cmd::{
    admin::AdminArgs, agent::AgentArgs, artifact::ArtifactArgs, audit::AuditArgs, bench::BenchArgs,
    dashboard::DashboardArgs, demo::DemoArgs, features::FeaturesArgs, generate::GenerateArgs,
    identity::IdentityArgs, ingest::IngestArgs, init::InitArgs, model::ModelArgs, query::QueryArgs,
    serve::ServeArgs, thread::ThreadArgs, trustee::TrusteeArgs,
};
use dtfhe_cli::CliError;
use std::process::ExitCode;

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
Exit codes (one mapping for embedded and networked commands; README \"Exit codes\"): 0 ok,\n\
1 I/O or platform unreachable, 2 usage (also a read-only deployment for a command that\n\
writes), 3 bad input (nothing stored), 4 refused by policy (nothing decrypted), 5 store / not\n\
released in time, 6 crypto, 7 encrypted result differs from plaintext, 8 tampering or damage\n\
(store, ledger, a trustee's key files, inconsistent shares; nothing released), 9 the platform\n\
server failed or answered inconsistently."
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
    /// Encrypt a CSV file (or a B2MML / MTConnect document) at the source and append it to a dataset.
    #[command(
        long_about = "Encrypt a CSV file at the source and append it to the dataset \
its schema declares (or, with --format b2mml|mtconnect FILE, an ISA-95 B2MML production \
performance / job response or an MTConnectStreams document, read into the same checked rows; \
a bad document is refused whole, naming every rejected element by line and path). Every value of an encrypted column is fixed-point encoded and encrypted \
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
    Model(ModelArgs),
    /// Compute edge features from a raw log before it is encrypted.
    Features(FeaturesArgs),
    /// Generate example data (MES production runs for OEE).
    Generate(GenerateArgs),
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
    Serve(ServeArgs),
    /// Create or show an identity file (a party's name and ed25519 key).
    Identity(IdentityArgs),
    /// Register parties with a platform server (admin role).
    Admin(AdminArgs),
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
    Agent(AgentArgs),
    /// Serve the analyst organisation's web dashboard (users, roles, released views, audit).
    #[command(
        long_about = "Serve the analyst organisation's own web dashboard: local users \
(Argon2id password hashes, roles viewer / analyst / auditor / admin, per-dataset visibility) \
see the thread overview, ready-made views with charts (OEE and scrap), a query editor and the \
audit view, every released number next to its release facts (trustees, time, group sizes, \
disclosure mode). It is not a page of the platform: with --dir it plays every trustee of an \
embedded deployment; with --server --identity it queries as that analyst and opens the \
trustees' sealed shares in this process.\n\nFirst create an admin: `dtfhe dashboard add-user \
--state S --name NAME --role admin` (password on stdin). Then: `dtfhe dashboard --dir D \
--state S --listen 127.0.0.1:8780`."
    )]
    Dashboard(DashboardArgs),
}

fn run(cli: Cli) -> Result<(), CliError> {
    // The store location of `--store`, passed to the embedded commands (the demo and the
    // benchmark make their own SQLite deployments).
    let store = cli.store;
    match cli.command {
        Command::Init(a) => cmd::init::run(a, &store),
        Command::Ingest(a) => cmd::ingest::run(a, &store),
        Command::Query(a) => cmd::query::run(a, &store),
        Command::Trustee(a) => cmd::trustee::run(a),
        Command::Serve(a) => cmd::serve::run(a, store),
        Command::Identity(a) => cmd::identity::run(a),
        Command::Admin(a) => cmd::admin::run(a),
        Command::Agent(a) => cmd::agent::run(a),
        Command::Dashboard(a) => cmd::dashboard::run(a, &store),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Model(a) => cmd::model::run(a, &store),
        Command::Features(a) => cmd::features::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Artifact(a) => cmd::artifact::run(a, &store),
        Command::Thread(a) => cmd::thread::run(a, &store),
        Command::Audit(a) => cmd::audit::run(a, &store),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_) | Command::Trustee(_)) {
        cmd::arenas::cap_for_daemon();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let code = e.exit_code().clamp(1, 255);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
