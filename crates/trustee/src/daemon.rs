//! `dtfhe trustee --server URL`: a factory's trustee as a long-running process next to the
//! platform.
//!
//! 1. **Ceremony.** On first run it draws its secret-key share into its own directory
//!    ([`Trustee::create`], mode 0600), then gives the server its public-key share and its
//!    two relinearisation shares (`dtfhe_crypto::ceremony::net`). Only public messages leave
//!    the process. Each is kept before it is sent (the round secret with them, in the 0600
//!    progress file of [`crate::progress`]), so a trustee restarted at any round gives the
//!    very same messages again and the ceremony finishes with the same keys.
//! 2. **Reviews.** It polls the pending release requests and, for each, trusts nothing the
//!    platform says: it re-plans the SQL with the registered schemas, re-runs the engine over
//!    a [`RemoteReader`] (every chunk's source signature and every part's hash checked),
//!    compares its ciphertext hashes with the request's, checks the analyst's registered key
//!    (not revoked), grant and statement signature, and applies the release policy to its
//!    **own** group facts ([`Trustee::review`], with its share log and DP budget). Only then
//!    does it seal its decryption shares to the analyst's recipient key (HPKE; the
//!    associated data binds release id, trustee and position), so the platform relays bytes
//!    it cannot open.
//!
//! Nothing it prints or sends holds a plaintext value or key material: refusals name rules
//! and groups, approvals count shares.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtfhe_api::ceremony::{CeremonyShare, CeremonyState, CeremonyTranscript};
use dtfhe_api::reader::RemoteReader;
use dtfhe_api::release::{
    seal_aad, verify_statement, ReleaseAnswer, ReleaseInfo, StatementError, SEAL_INFO,
};
use dtfhe_api::remote::{remote_deployment, remote_schemas, RemoteDeployment, RemoteError};
use dtfhe_api::types::{b64, unb64, IdentityRecord};
use dtfhe_api::{ApiError, Client, Identity, Role};
use dtfhe_crypto::ceremony::net::{
    aggregate_public_key, aggregate_relin_key, aggregate_round1, pk_share, CeremonyId,
    CeremonySeed, PkShareMsg, RelinParty, RelinProgress, Resumed, Rlk1Aggregate, Rlk1Msg, Rlk2Msg,
};
use dtfhe_crypto::seal::{seal, RecipientPublicKey};
use dtfhe_crypto::{codec, Params};
use dtfhe_engine::cache::SumCache;

use crate::catchup::{Gap, LedgerCatchUp};
use dtfhe_engine::exec::{self, ComputedSum};
use dtfhe_engine::Catalog;
use dtfhe_model::PinnedReader;
use dtfhe_release::pipeline::build_request;
use dtfhe_release::{LocalPolicy, Policy};

use crate::progress;
use crate::refusal::ReviewRefusal;
use crate::shares::ciphertext_hash;
use crate::{Trustee, TrusteeError};

/// The refusal reason when the platform's ciphertexts are not what the signed chunks give.
pub const MISMATCH_REASON: &str =
    "the platform's ciphertexts differ from the re-derived computation";

pub use crate::keystore::PK_SHARE_FILE;
/// File keeping this trustee's round-1 relinearisation message (public data).
pub const RLK1_FILE: &str = "ceremony-rlk1.bin";
/// File keeping this trustee's round-2 relinearisation message (public data).
pub const RLK2_FILE: &str = "ceremony-rlk2.bin";
/// File naming the deployment keys this trustee has already checked against the whole
/// ceremony transcript: the [`dtfhe_api::ceremony::deployment_statement`] it attested
/// (domain tag, blake3 of the public key and of the relinearisation key). A later start whose
/// keys give the same statement skips downloading and re-checking the transcript (tens of
/// megabytes at bfv-16384); any other keys are checked in full again.
pub const VERIFIED_FILE: &str = "verified-deployment.txt";

/// Whether this trustee already checked exactly these keys (see [`VERIFIED_FILE`]).
pub fn already_verified(dir: &std::path::Path, statement: &[u8]) -> bool {
    std::fs::read(dir.join(VERIFIED_FILE)).is_ok_and(|recorded| recorded == statement)
}

/// How `dtfhe trustee` runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The trustee's own directory (share.key, shares.log, policy.toml, dp_spent.log).
    pub dir: PathBuf,
    /// Platform URL.
    pub server: String,
    /// The trustee's identity (its name is the trustee name).
    pub identity: Identity,
    /// Poll interval.
    pub poll: Duration,
    /// Review the pending requests once, then exit (after the ceremony, if one runs).
    pub once: bool,
    /// A stricter local k than the deployment's, if set.
    pub min_group_size: Option<u32>,
    /// Only these datasets may be released (case-insensitive), if set.
    pub datasets: Option<Vec<String>>,
    /// The policy written to policy.toml when the share is created (disclosure mode: audit,
    /// or dp with its budget and default ε per query).
    pub local_policy: LocalPolicy,
    /// Per-request timeout (and, with `once`, how long to wait for the ceremony).
    pub timeout: Duration,
    /// Set from outside to stop the review loop after the current round (tests, embedding).
    pub stop: Option<Arc<AtomicBool>>,
    /// Refuse requests whose signed statement is older than this (an analyst who waited
    /// that long has given up: answering would only spend DP budget), if set.
    pub max_age: Option<Duration>,
    /// The t of a t-of-n deployment this trustee's operator agreed to (`--threshold`). The
    /// t of a dealing is the platform's word, and a platform announcing a smaller t would
    /// let fewer trustees decrypt: a dealing is joined only when the two agree (`None`: no
    /// dealing is joined; a trustee that already keeps its threshold secret needs none).
    pub threshold: Option<usize>,
    /// Join a t-of-n deployment in place of a departed trustee (`dtfhe trustee --join`): no
    /// key ceremony and no key share; the daemon waits until an admin replaced a trustee by
    /// it, takes part in the re-sharing and answers t-of-n releases with its threshold
    /// secret only.
    pub join: bool,
}

impl DaemonOptions {
    /// A daemon run inside another program (tests, embedding) until `stop` is set: polls
    /// every 100 ms, waits up to 2 minutes per request, no local restriction beyond the
    /// deployment's rules and no limit on a statement's age.
    pub fn embedded(
        dir: PathBuf,
        server: String,
        identity: Identity,
        stop: Arc<AtomicBool>,
    ) -> DaemonOptions {
        DaemonOptions {
            dir,
            server,
            identity,
            poll: Duration::from_millis(100),
            once: false,
            min_group_size: None,
            datasets: None,
            local_policy: LocalPolicy::default(),
            timeout: Duration::from_secs(120),
            stop: Some(stop),
            max_age: None,
            threshold: None,
            join: false,
        }
    }
}

/// Why the daemon stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The platform could not be used.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The trustee's own directory or a crypto step failed.
    #[error(transparent)]
    Trustee(#[from] TrusteeError),
    /// The platform's deployment or schemas cannot be used.
    #[error(transparent)]
    Remote(RemoteError),
    /// The platform's answers are inconsistent or the setup is wrong.
    #[error("{0}")]
    Protocol(String),
}

impl From<RemoteError> for DaemonError {
    /// API failures stay API failures (retried by the review loop), a key that does not
    /// decode is a crypto failure; the rest is the platform's.
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Api(e) => DaemonError::Api(e),
            RemoteError::Keys(e) => crypto(e),
            other => DaemonError::Remote(other),
        }
    }
}

fn crypto(e: dtfhe_crypto::CryptoError) -> DaemonError {
    DaemonError::Trustee(TrusteeError::Crypto(e))
}

/// What one review decided.
#[derive(Debug)]
pub enum Decision {
    /// Approved with this many sealed shares.
    Approved(usize),
    /// Refused, with the reason sent.
    Refused(ReviewRefusal),
    /// A t-of-n release another set answered: recorded in this trustee's disclosure state,
    /// nothing sent (see [`crate::quorum`]).
    Observed,
}

/// Runs the trustee: ceremony if one is in progress (or, with `--join`, waits to be named in
/// a replacement), then reviews until stopped (or once), taking part in every proactive
/// re-sharing the platform opens (the review loop stops for it, and starts again with the
/// deployment's new trustee list).
pub fn run(opts: &DaemonOptions) -> Result<(), DaemonError> {
    let client = Client::new(&opts.server, Some(opts.identity.clone()), opts.timeout);
    let name = opts.identity.name().to_string();
    let trustee = if opts.join || opts.dir.join(crate::keystore::JOINED_FILE).exists() {
        let (_, trustee) = wait_to_join(&client, opts)?;
        trustee
    } else {
        join_ceremony(&client, opts)?;
        let (deployed, trustee) = verify_and_attest(&client, opts)?;
        crate::dealing::join(&client, opts, &deployed, &trustee)?;
        trustee
    };
    // Sums of earlier reviews: a query asked again after chunks landed adds only those.
    let sums = SumCache::default();
    loop {
        let params = remote_deployment(&client)?.params;
        crate::resharing::join(&client, opts, &params, &trustee)?;
        // The trustee list as of the latest replacement.
        let deployed = remote_deployment(&client)?;
        if !deployed.info.trustees.contains(&name) {
            return Err(DaemonError::Protocol(format!(
                "`{name}` is not a trustee of this deployment ({})",
                deployed.info.trustees.join(", ")
            )));
        }
        eprintln!(
            "trustee {name}: reviewing release requests of {} (poll every {} ms)",
            client.base(),
            opts.poll.as_millis()
        );
        let by = Reviewer {
            client: &client,
            trustee: &trustee,
            deployed: &deployed,
            opts,
        };
        if !review_rounds(by, &sums)? {
            return Ok(());
        }
    }
}

/// `--join`: the trustee directory without a key share ([`Trustee::join`]), once an admin
/// replaced a trustee by this one (until then the platform refuses it as no trustee: it
/// waits).
fn wait_to_join(
    client: &Client,
    opts: &DaemonOptions,
) -> Result<(RemoteDeployment, Trustee), DaemonError> {
    let name = opts.identity.name().to_string();
    let trustee = Trustee::join(&opts.dir, &name, &opts.local_policy)?;
    let started = Instant::now();
    let wait = crate::dealing::waiter(opts, started, "joining");
    let mut said = false;
    loop {
        // The list only (no relinearisation key) while it waits.
        match client.get_json::<dtfhe_api::types::DeploymentInfo>("/v1/deployment?relin_key=omit") {
            Ok(d) if d.trustees.contains(&name) => {
                return Ok((remote_deployment(client)?, trustee))
            }
            Ok(_) => {
                if !said {
                    eprintln!("trustee {name}: waiting to be named in place of a departed trustee");
                    said = true;
                }
                wait("not named in a replacement yet")?
            }
            Err(e) if e.is_retryable() => wait("platform unreachable")?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The review loop of [`run`]; returns `false` when stopped (or after one round with
/// `--once`), `true` when the platform opened a re-sharing this trustee must take part in.
fn review_rounds(by: Reviewer<'_>, sums: &SumCache) -> Result<bool, DaemonError> {
    let Reviewer {
        client,
        trustee,
        opts,
        ..
    } = by;
    let name = trustee.name();
    let mut ledger = LedgerCatchUp::default();
    loop {
        if trustee.has_threshold() {
            match crate::resharing::pending_epoch(client, trustee) {
                Ok(Some(epoch)) => {
                    eprintln!("trustee {name}: re-sharing of epoch {epoch} opened");
                    return Ok(true);
                }
                Ok(None) => {}
                Err(DaemonError::Api(e)) if e.is_retryable() && !opts.once => {
                    eprintln!("trustee {name}: {e}; retrying");
                    std::thread::sleep(opts.poll);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        // t-of-n: the deliveries in the ledger this trustee has not settled, read before the
        // pending list, so a release delivered in between is listed there.
        let unsettled = if trustee.has_threshold() {
            match ledger.unsettled(client, trustee) {
                Ok(d) => d,
                Err(e) if !opts.once => {
                    eprintln!("trustee {name}: reading the ledger: {e}; will retry");
                    std::thread::sleep(opts.poll);
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            Vec::new()
        };
        match client.get_json::<Vec<ReleaseInfo>>("/v1/releases/pending") {
            Ok(pending) => {
                let gap = unsettled
                    .into_iter()
                    .find(|d| !pending.iter().any(|r| r.id == d.release))
                    .map(|d| Gap {
                        release: d.release,
                        entry: d.entry,
                    });
                // One reader per round: parts downloaded for one request serve the next.
                let mut reader = None;
                for r in pending {
                    // t-of-n: claim; answer only as a member of the release's set.
                    let r = match crate::quorum::ready(client, trustee, r) {
                        Ok(Some(r)) => r,
                        Ok(None) => continue,
                        Err(e) => {
                            eprintln!("trustee {name}: {e}; will retry");
                            continue;
                        }
                    };
                    let outcome = match &gap {
                        Some(g) if crate::quorum::member(trustee, &r) => {
                            Err(Review::refuse(ReviewRefusal::CatchUp(g.clone())))
                        }
                        _ => review(by, &r, &mut reader, sums),
                    };
                    let reviewed = answer(client, &r, outcome);
                    match reviewed {
                        Ok(Decision::Approved(n)) => {
                            eprintln!(
                                "trustee {name}: release {}: approved, {n} sealed shares",
                                r.id
                            )
                        }
                        Ok(Decision::Refused(reason)) => {
                            eprintln!("trustee {name}: release {}: refused: {reason}", r.id)
                        }
                        Ok(Decision::Observed) => eprintln!(
                            "trustee {name}: release {}: released by another set; recorded in \
                             this trustee's disclosure state",
                            r.id
                        ),
                        Err(e) => eprintln!(
                            "trustee {name}: release {}: not answered yet ({e}); will retry",
                            r.id
                        ),
                    }
                }
            }
            Err(e) if e.is_retryable() && !opts.once => {
                eprintln!("trustee {name}: {e}; retrying");
            }
            Err(e) => return Err(e.into()),
        }
        if opts.once || stopped(opts) {
            return Ok(false);
        }
        std::thread::sleep(opts.poll);
    }
}

fn stopped(opts: &DaemonOptions) -> bool {
    opts.stop
        .as_ref()
        .is_some_and(|s| s.load(Ordering::Relaxed))
}

/// Checks that the deployment's public key (`public_key`, encoded) is exactly the aggregate
/// of one public-key share per trustee of the ceremony published in `state`, this trustee's
/// (`own`, the bytes it gave) among them. A platform that published a key of its own, or left
/// a trustee out, could decrypt what the sources encrypt under it: the trustee then refuses to
/// serve the deployment.
pub fn check_public_key(
    params: &Params,
    state: &CeremonyState,
    trustees: &[String],
    me: &str,
    own: &[u8],
    public_key: &[u8],
) -> Result<(), KeyCheckError> {
    let seed = CeremonySeed::from_hex(&state.seed).map_err(KeyCheckError::Seed)?;
    let names: Vec<&String> = state.pk_share_messages.keys().collect();
    let mut expected: Vec<&String> = trustees.iter().collect();
    expected.sort();
    if names != expected {
        return Err(KeyCheckError::PkShareSet {
            published: names.into_iter().cloned().collect(),
            expected: expected.into_iter().cloned().collect(),
        });
    }
    let mut shares = Vec::with_capacity(names.len());
    for (t, b) in &state.pk_share_messages {
        let what = format!("public-key share of {t}");
        let bytes = unb64(&what, b)?;
        if t == me && bytes != own {
            return Err(KeyCheckError::OwnPkShare { me: me.to_string() });
        }
        shares.push(message(what, PkShareMsg::from_bytes(params, &bytes))?);
    }
    let pk = aggregate_public_key(params, &seed, &shares).map_err(KeyCheckError::Aggregate)?;
    if codec::encode_public_key(params, &pk) != public_key {
        return Err(KeyCheckError::PublicKeyMismatch);
    }
    Ok(())
}

/// Checks that the deployment's relinearisation key (`relin_key`, encoded) is exactly the
/// one the ceremony's messages give: the round-1 aggregate of one round-1 message per
/// trustee, and `aggregate_relin_key` of one round-2 message per trustee computed from that
/// aggregate, this trustee's two messages (`own`) byte for byte among them. A key of the
/// platform's making could make the ciphertexts a trustee decrypts leak its secret share.
pub fn check_relin_key(
    params: &Params,
    transcript: &CeremonyTranscript,
    trustees: &[String],
    me: &str,
    own: (&[u8], &[u8]),
    relin_key: &[u8],
) -> Result<(), KeyCheckError> {
    let seed = CeremonySeed::from_hex(&transcript.seed).map_err(KeyCheckError::Seed)?;
    let mut expected: Vec<&String> = trustees.iter().collect();
    expected.sort();
    let mut round1 = Vec::new();
    let mut round2 = Vec::new();
    for (round, map, mine) in [(1, &transcript.rlk1, own.0), (2, &transcript.rlk2, own.1)] {
        let names: Vec<&String> = map.keys().collect();
        if names != expected {
            return Err(KeyCheckError::RlkSet {
                round,
                published: names.into_iter().cloned().collect(),
                expected: expected.iter().map(|t| t.to_string()).collect(),
            });
        }
        for (t, b) in map {
            let what = format!("round-{round} message of {t}");
            let bytes = unb64(&what, b)?;
            if t == me && bytes != mine {
                return Err(KeyCheckError::OwnRlk {
                    round,
                    me: me.to_string(),
                });
            }
            if round == 1 {
                round1.push(message(what, Rlk1Msg::from_bytes(params, &bytes))?);
            } else {
                round2.push(message(what, Rlk2Msg::from_bytes(params, &bytes))?);
            }
        }
    }
    let aggregate = aggregate_round1(params, &seed, &round1).map_err(KeyCheckError::Aggregate)?;
    let rk = aggregate_relin_key(params, &seed, &aggregate, &round2)
        .map_err(KeyCheckError::Aggregate)?;
    if codec::encode_relin_key(params, &rk) != relin_key {
        return Err(KeyCheckError::RelinKeyMismatch);
    }
    Ok(())
}

/// A decoded ceremony message, or the error naming `what` it is.
fn message<T>(
    what: String,
    decoded: Result<T, dtfhe_crypto::CryptoError>,
) -> Result<T, KeyCheckError> {
    decoded.map_err(|source| KeyCheckError::Message { what, source })
}

/// Why [`check_public_key`] or [`check_relin_key`] refuses the deployment's keys: the
/// trustee then refuses to serve the deployment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyCheckError {
    /// The ceremony seed does not decode.
    #[error("ceremony seed: {0}")]
    Seed(dtfhe_crypto::CryptoError),
    /// A message field is not base64.
    #[error(transparent)]
    Field(#[from] dtfhe_api::types::FieldError),
    /// A ceremony message does not decode.
    #[error("{what}: {source}")]
    Message {
        /// Which message.
        what: String,
        /// Why.
        source: dtfhe_crypto::CryptoError,
    },
    /// The messages do not aggregate.
    #[error("{0}")]
    Aggregate(dtfhe_crypto::CryptoError),
    /// The public-key shares are not one per trustee of the deployment.
    #[error("the published public-key shares are of {published:?}, the deployment's trustees are {expected:?}")]
    PkShareSet {
        /// Trustees whose share is published.
        published: Vec<String>,
        /// The deployment's trustees (sorted).
        expected: Vec<String>,
    },
    /// This trustee's published public-key share is not the one it gave.
    #[error("the published public-key share of `{me}` is not the one it gave")]
    OwnPkShare {
        /// This trustee.
        me: String,
    },
    /// The deployment's public key is another key.
    #[error("the deployment's public key is not the aggregate of the trustees' public-key shares")]
    PublicKeyMismatch,
    /// The relinearisation messages of a round are not one per trustee.
    #[error("the published round-{round} relinearisation messages are of {published:?}, the deployment's trustees are {expected:?}")]
    RlkSet {
        /// The round (1 or 2).
        round: u8,
        /// Trustees whose message is published.
        published: Vec<String>,
        /// The deployment's trustees (sorted).
        expected: Vec<String>,
    },
    /// This trustee's published relinearisation message is not the one it gave.
    #[error(
        "the published round-{round} relinearisation message of `{me}` is not the one it gave"
    )]
    OwnRlk {
        /// The round (1 or 2).
        round: u8,
        /// This trustee.
        me: String,
    },
    /// The deployment's relinearisation key is another key.
    #[error("the deployment's relinearisation key is not the one the trustees' messages give")]
    RelinKeyMismatch,
}

/// Writes a public file of the trustee's directory (temporary file, fsync, rename).
fn write_public(path: &std::path::Path, bytes: &[u8]) -> Result<(), DaemonError> {
    Ok(crate::keystore::write_public(path, bytes)?)
}

/// Takes part in the key ceremony if the server runs one, then checks the resulting keys and
/// attests them (see [`verify_and_attest`]); returns once this trustee has attested the
/// deployment. Creates the share on first run.
pub fn ceremony(client: &Client, opts: &DaemonOptions) -> Result<(), DaemonError> {
    join_ceremony(client, opts)?;
    verify_and_attest(client, opts).map(|_| ())
}

/// Checks the deployment's keys against the ceremony's published messages (this trustee's
/// own among them) and, if both check out, attests them with this trustee's identity, so
/// sources can trust the public key they encrypt under. Returns the deployment and this
/// trustee's key store.
pub fn verify_and_attest(
    client: &Client,
    opts: &DaemonOptions,
) -> Result<(RemoteDeployment, Trustee), DaemonError> {
    let name = opts.identity.name().to_string();
    let deployed = remote_deployment(client)?;
    if !deployed.info.trustees.contains(&name) {
        return Err(DaemonError::Protocol(format!(
            "`{name}` is not a trustee of this deployment ({})",
            deployed.info.trustees.join(", ")
        )));
    }
    let trustee = Trustee::open(&opts.dir, &name, &deployed.params)?;
    let state: CeremonyState = client.get_json("/v1/ceremony")?;
    // What this trustee gave in the ceremony (`what`), as it recorded it in `file`.
    let read_own = |file: &str, what: &str| {
        std::fs::read(opts.dir.join(file)).map_err(|e| {
            DaemonError::Protocol(format!(
                "{}: no record of the {what} this trustee gave ({e})",
                opts.dir.join(file).display()
            ))
        })
    };
    let key = |field: &str, b64: &str| {
        unb64(field, b64).map_err(|e| DaemonError::Protocol(e.to_string()))
    };
    let own = read_own(PK_SHARE_FILE, "public-key share")?;
    let public_key = key("public_key", &deployed.info.public_key)?;
    // The key ceremony's trustees: the list now, with the replacements the ledger records
    // undone (a trustee that joined later gave no ceremony message).
    let ceremony_trustees = crate::resharing::ceremony_trustees(client, &deployed.info.trustees)?;
    check_public_key(
        &deployed.params,
        &state,
        &ceremony_trustees,
        &name,
        &own,
        &public_key,
    )
    .map_err(|e| DaemonError::Protocol(format!("refusing to serve this deployment: {e}")))?;
    // A trustee directory made before the seed was kept beside the share: record it now
    // from the published ceremony (its own public-key share is among the published ones).
    if !opts.dir.join(crate::keystore::CEREMONY_SEED_FILE).exists() {
        let seed = CeremonySeed::from_hex(&state.seed).map_err(crypto)?;
        let msg = PkShareMsg::from_bytes(&deployed.params, &own).map_err(crypto)?;
        trustee.record_ceremony(&deployed.params, &seed, &msg)?;
    }
    let relin_key = key("relin_key", &deployed.info.relin_key)?;
    let statement = dtfhe_api::ceremony::deployment_statement(&public_key, &relin_key);
    if !already_verified(&opts.dir, &statement) {
        let transcript: CeremonyTranscript = client.get_json("/v1/ceremony/transcript")?;
        let message = "ceremony message";
        check_relin_key(
            &deployed.params,
            &transcript,
            &ceremony_trustees,
            &name,
            (
                &read_own(RLK1_FILE, message)?,
                &read_own(RLK2_FILE, message)?,
            ),
            &relin_key,
        )
        .map_err(|e| DaemonError::Protocol(format!("refusing to serve this deployment: {e}")))?;
        write_public(&opts.dir.join(VERIFIED_FILE), &statement)?;
    }
    // The keys are made of this trustee's messages: none will ever be sent again, so the
    // progress files (and the round secret of any abandoned ceremony) go.
    if progress::remove_all(&opts.dir, &name)? > 0 {
        eprintln!("trustee {name}: key ceremony finished; progress file removed");
    }
    // Both keys check out: attest them, so sources can trust the public key they encrypt
    // under (the same signature again is accepted, so every start re-attests harmlessly).
    let _: Vec<dtfhe_api::ceremony::Attestation> = client.post_json(
        "/v1/ceremony/attestation",
        &dtfhe_api::ceremony::attest(&opts.identity, &public_key, &relin_key),
    )?;
    Ok((deployed, trustee))
}

/// This trustee's side of the relinearisation-key protocol, as far as it got (in this run or,
/// through its progress file, in an earlier one).
enum Relin {
    /// No relinearisation message given yet.
    NotStarted,
    /// Round 1 given: the party (holding the ephemeral secret round 2 needs) and the message.
    Round1 {
        /// The party, at round 2.
        party: Box<RelinParty>,
        /// The round-1 message given.
        round1: Rlk1Msg,
    },
    /// Both rounds given: the messages, to give again to a server that lost them.
    Done {
        /// The round-1 message given.
        round1: Rlk1Msg,
        /// The round-2 message given.
        round2: Rlk2Msg,
    },
}

impl Relin {
    /// The round-1 message given, if any.
    fn round1(&self) -> Option<&Rlk1Msg> {
        match self {
            Relin::NotStarted => None,
            Relin::Round1 { round1, .. } | Relin::Done { round1, .. } => Some(round1),
        }
    }
}

/// This trustee's progress in the ceremony `seed` as its progress file records it (see
/// [`crate::progress`]): nothing yet, or the party after round 1, or both messages. The
/// public copies of the messages (read by [`verify_and_attest`]) are rewritten from it.
fn resume_relin(
    opts: &DaemonOptions,
    name: &str,
    t: &Trustee,
    params: &Params,
    seed: &CeremonySeed,
) -> Result<Relin, DaemonError> {
    let file = progress::progress_file(&opts.dir, seed.id());
    for other in progress::progress_files(&opts.dir)? {
        // (A temporary file left by a crash mid-write is replaced by the next write.)
        if other != file && other.extension().is_some_and(|e| e == "key") {
            eprintln!(
                "trustee {name}: ignoring {}: not of the ceremony the platform runs ({}); it is \
                 removed once this ceremony's keys are checked",
                other.display(),
                seed.id()
            );
        }
    }
    let resumed = progress::load(&opts.dir, name, params, t.share_for_ceremony()?, seed)?;
    Ok(match resumed {
        None => Relin::NotStarted,
        Some(Resumed::AwaitingAggregate { party, round1 }) => {
            eprintln!(
                "trustee {name}: resuming the key ceremony from {} (round 1 given)",
                file.display()
            );
            write_public(&opts.dir.join(RLK1_FILE), &round1.to_bytes())?;
            Relin::Round1 { party, round1 }
        }
        Some(Resumed::Finished { round1, round2 }) => {
            eprintln!(
                "trustee {name}: resuming the key ceremony from {} (both rounds given)",
                file.display()
            );
            write_public(&opts.dir.join(RLK1_FILE), &round1.to_bytes())?;
            write_public(&opts.dir.join(RLK2_FILE), &round2.to_bytes())?;
            Relin::Done { round1, round2 }
        }
    })
}

/// Takes part in the key ceremony if the server runs one; returns once the deployment
/// exists. Creates the share on first run.
///
/// Every message is kept before it is sent (the public-key share beside the share, the
/// relinearisation messages and the round secret in the progress file, see
/// [`crate::progress`]), so whatever this trustee or the server lost in a restart, the very
/// same messages are given again and the ceremony finishes with the same keys.
fn join_ceremony(client: &Client, opts: &DaemonOptions) -> Result<(), DaemonError> {
    let name = opts.identity.name().to_string();
    // Loaded from the progress file on the first turn, then kept for the whole ceremony (and
    // loaded again should the platform start another ceremony).
    let mut relin: Option<(CeremonyId, Relin)> = None;
    let mut pk_msg: Option<Vec<u8>> = None;
    let pk_file = opts.dir.join(PK_SHARE_FILE);
    let mut trustee: Option<(Trustee, Params)> = None;
    let started = Instant::now();
    loop {
        let state: CeremonyState = match client.get_json("/v1/ceremony") {
            Ok(s) => s,
            // Unreachable, or not registered yet (a trustee may start before the admin
            // registers it): wait, saying why.
            Err(e) if e.is_retryable() || (e.status() == Some(401) && !opts.once) => {
                eprintln!("trustee {name}: {e}; retrying");
                if stopped(opts) {
                    return Err(e.into());
                }
                std::thread::sleep(opts.poll.max(Duration::from_millis(500)));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if state.complete {
            return Ok(());
        }
        if !state.trustees.contains(&name) {
            return Err(DaemonError::Protocol(format!(
                "`{name}` is not one of the ceremony's trustees ({})",
                state.trustees.join(", ")
            )));
        }
        if trustee.is_none() {
            let params = dtfhe_crypto::params_by_name(&state.preset).map_err(crypto)?;
            let t = if opts.dir.join(crate::keystore::SHARE_FILE).exists() {
                Trustee::open(&opts.dir, &name, &params)?
            } else {
                eprintln!(
                    "trustee {name}: drawing a new key share in {}",
                    opts.dir.display()
                );
                Trustee::create(&opts.dir, &name, &params, &opts.local_policy)?
            };
            trustee = Some((t, params));
        }
        let Some((t, params)) = trustee.as_ref() else {
            continue;
        };
        let seed = CeremonySeed::from_hex(&state.seed).map_err(crypto)?;
        if relin.as_ref().is_none_or(|(id, _)| *id != seed.id()) {
            pk_msg = None;
            relin = Some((seed.id(), resume_relin(opts, &name, t, params, &seed)?));
        }
        let Some((_, relin)) = relin.as_mut() else {
            continue;
        };
        let mut rng = rand::rng();
        // Posts one message; a transport failure or 5xx is retried at the next turn (the
        // message is kept, so the retry sends the same bytes and is accepted as such).
        let post = |step: &str, bytes: Vec<u8>| -> Result<bool, DaemonError> {
            match client.post_json::<_, CeremonyState>(
                &format!("/v1/ceremony/{step}"),
                &CeremonyShare { share: b64(&bytes) },
            ) {
                Ok(_) => Ok(true),
                Err(e) if e.is_retryable() => {
                    eprintln!("trustee {name}: {e}; retrying");
                    std::thread::sleep(opts.poll);
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        };
        if !state.pk_shares.contains(&name) {
            if pk_msg.is_none() {
                // Reuse the message of an earlier run of this very ceremony, if any.
                let earlier = std::fs::read(&pk_file).ok().filter(|b| {
                    PkShareMsg::from_bytes(params, b).is_ok_and(|m| m.ceremony_id() == seed.id())
                });
                pk_msg = Some(match earlier {
                    Some(b) => b,
                    None => {
                        let m = pk_share(params, t.share_for_ceremony()?, &seed, &mut rng)
                            .map_err(crypto)?;
                        t.record_ceremony(params, &seed, &m)?;
                        m.to_bytes()
                    }
                });
            }
            if let Some(b) = &pk_msg {
                if post("pk-share", b.clone())? {
                    eprintln!("trustee {name}: public-key share given");
                }
            }
            continue;
        }
        if !state.rlk1.contains(&name) {
            if let Relin::NotStarted = relin {
                let mut party = RelinParty::new(params, t.share_for_ceremony()?, &seed, &mut rng)
                    .map_err(crypto)?;
                let round1 = party.round1(&mut rng).map_err(crypto)?;
                // Kept (with the round secret) before it is sent.
                progress::save(&opts.dir, &name, &party.progress(&round1).map_err(crypto)?)?;
                write_public(&opts.dir.join(RLK1_FILE), &round1.to_bytes())?;
                *relin = Relin::Round1 {
                    party: Box::new(party),
                    round1,
                };
            }
            if let Some(m) = relin.round1() {
                if post("rlk1", m.to_bytes())? {
                    eprintln!("trustee {name}: round-1 relinearisation share given");
                }
            }
            continue;
        }
        if !state.rlk2.contains(&name) {
            if let Some(agg) = &state.round1_aggregate {
                let agg = unb64("round1_aggregate", agg)
                    .map_err(|e| DaemonError::Protocol(e.to_string()))?;
                let agg = Rlk1Aggregate::from_bytes(params, &agg).map_err(crypto)?;
                if let Relin::Round1 { party, round1 } = relin {
                    let round2 = party.round2(&agg, &mut rng).map_err(crypto)?;
                    let record = RelinProgress::round2_given(round1.clone(), round2.clone())
                        .map_err(crypto)?;
                    // Kept (now without the round secret) before it is sent.
                    progress::save(&opts.dir, &name, &record)?;
                    write_public(&opts.dir.join(RLK2_FILE), &round2.to_bytes())?;
                    *relin = Relin::Done {
                        round1: round1.clone(),
                        round2,
                    };
                }
                let bytes = match relin {
                    Relin::NotStarted | Relin::Round1 { .. } => {
                        return Err(DaemonError::Protocol(format!(
                            "trustee {name} gave its round-1 share in an earlier run and has no \
                             progress file ({}) to finish from: the ceremony cannot finish; \
                             restart the server's ceremony (new platform directory) and every \
                             trustee",
                            progress::progress_file(&opts.dir, seed.id()).display()
                        )))
                    }
                    Relin::Done { round2, .. } if round2.round1_digest() != agg.digest() => {
                        return Err(DaemonError::Protocol(format!(
                            "the platform's round-1 aggregate is not the one trustee {name} \
                             answered in round 2: a round-1 share changed since; the ceremony \
                             cannot finish, start a new one"
                        )))
                    }
                    Relin::Done { round2, .. } => round2.to_bytes(),
                };
                if post("rlk2", bytes)? {
                    eprintln!("trustee {name}: round-2 relinearisation share given");
                }
                continue;
            }
        }
        if stopped(opts) {
            return Err(DaemonError::Protocol(
                "stopped during the key ceremony".into(),
            ));
        }
        if opts.once && started.elapsed() > opts.timeout {
            return Err(DaemonError::Protocol(
                "the key ceremony did not finish in time (other trustees missing?)".into(),
            ));
        }
        std::thread::sleep(opts.poll);
    }
}

/// Posts the answer to release request `r` that its [`review`] came to. A transport failure
/// is returned (the request stays pending and is retried); every rule or check that failed
/// is a refusal.
fn answer(
    client: &Client,
    r: &ReleaseInfo,
    outcome: Result<(Vec<String>, Option<f64>), Review>,
) -> Result<Decision, DaemonError> {
    let (answer, decision) = match outcome {
        Ok((sealed, epsilon)) => {
            let n = sealed.len();
            (
                ReleaseAnswer {
                    approve: true,
                    reason: None,
                    sealed,
                    epsilon,
                },
                Decision::Approved(n),
            )
        }
        Err(Review::Refuse(reason)) => (
            ReleaseAnswer {
                approve: false,
                reason: Some(reason.to_string()),
                sealed: Vec::new(),
                epsilon: None,
            },
            Decision::Refused(*reason),
        ),
        Err(Review::Retry(e)) => return Err(e),
        Err(Review::Observed) => {
            // Recorded in this trustee's disclosure state: the platform may forget the
            // release once every trustee did (and stops listing it to this one).
            let _: ReleaseInfo =
                client.post_json(&format!("/v1/releases/{}/observed", r.id), &())?;
            return Ok(Decision::Observed);
        }
    };
    let _: ReleaseInfo = client.post_json(&format!("/v1/releases/{}/answers", r.id), &answer)?;
    Ok(decision)
}

/// A review that did not approve.
pub(crate) enum Review {
    /// Refuse with this reason (boxed: the reasons carry whole errors).
    Refuse(Box<ReviewRefusal>),
    /// Could not decide now (platform unreachable); retry later.
    Retry(DaemonError),
    /// A t-of-n release this trustee is not in the set of, recorded in its disclosure
    /// state: no answer to send.
    Observed,
}

impl Review {
    /// A refusal with `reason`.
    pub(crate) fn refuse(reason: ReviewRefusal) -> Review {
        Review::Refuse(Box::new(reason))
    }
}

pub(crate) fn api(e: ApiError) -> Review {
    if e.is_retryable() {
        Review::Retry(e.into())
    } else {
        Review::refuse(ReviewRefusal::PlatformRefused(e))
    }
}

/// What every review reads besides the request: the platform, this trustee, the
/// platform's deployment (checked and attested at start) and the daemon's options.
#[derive(Clone, Copy)]
pub(crate) struct Reviewer<'a> {
    /// The platform.
    pub(crate) client: &'a Client,
    /// This trustee's key share and records.
    pub(crate) trustee: &'a Trustee,
    /// The deployment read from the platform.
    pub(crate) deployed: &'a RemoteDeployment,
    /// The daemon's options (local policy, datasets served).
    pub(crate) opts: &'a DaemonOptions,
}

/// Reviews one release request: returns the sealed shares and the ε their noise was drawn
/// for (dp mode), or why not. `reader` is created on first use and may be shared by the
/// requests of one poll round (it re-lists and re-verifies the chunks for each, and caches
/// verified part bytes); `sums` holds the accumulated sums of earlier reviews (see
/// [`SumCache`]).
fn review(
    by: Reviewer<'_>,
    r: &ReleaseInfo,
    reader: &mut Option<RemoteReader>,
    sums: &SumCache,
) -> Result<(Vec<String>, Option<f64>), Review> {
    let Reviewer {
        client,
        trustee,
        deployed,
        opts,
    } = by;
    let params = &deployed.params;
    let ids: Vec<IdentityRecord> = client.get_json("/v1/identities").map_err(api)?;
    if let Some(score) = &r.score {
        return crate::score_review::review_score(by, r, reader, &ids, score);
    }
    // The analyst: registered, not revoked, an analyst, granted the dataset, and the
    // statement is theirs.
    let analyst = ids
        .iter()
        .find(|i| i.name == r.analyst)
        .ok_or_else(|| Review::refuse(ReviewRefusal::NotRegistered(r.analyst.clone())))?;
    if analyst.is_revoked() {
        return Err(Review::refuse(ReviewRefusal::Revoked(r.analyst.clone())));
    }
    if analyst.role != Role::Analyst {
        return Err(Review::refuse(ReviewRefusal::NotAnalyst(r.analyst.clone())));
    }
    let key = dtfhe_api::identity::parse_public_key(&analyst.public_key).map_err(|source| {
        Review::refuse(ReviewRefusal::AnalystKey {
            analyst: r.analyst.clone(),
            source,
        })
    })?;
    let signed = verify_statement(
        &key,
        &r.analyst,
        r.statement.timestamp,
        r.statement.epsilon,
        &r.statement.recipient,
        &r.statement.sql,
        &r.statement.statement_signature,
    );
    let recipient = accept_statement(signed, opts, r)?;

    // Re-derive: plan with the registered schemas, compute over the signed chunks.
    let schemas = remote_schemas(client).map_err(|e| match e {
        RemoteError::Api(e) => api(e),
        other => Review::refuse(ReviewRefusal::Schemas(other)),
    })?;
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    let query = dtfhe_engine::plan(&r.statement.sql, &catalog)
        .map_err(|e| Review::refuse(ReviewRefusal::Plan(e)))?;
    if !query.dataset.eq_ignore_ascii_case(&r.dataset) {
        return Err(Review::refuse(ReviewRefusal::DatasetMismatch {
            named: r.dataset.clone(),
            queried: query.dataset.clone(),
        }));
    }
    // A join needs the grant (and this trustee's consent) for each of its datasets.
    for dataset in query.base_datasets() {
        if !analyst.grants(&dataset) {
            return Err(Review::refuse(ReviewRefusal::NoGrant {
                analyst: r.analyst.clone(),
                dataset,
            }));
        }
        if let Some(allowed) = &opts.datasets {
            if !allowed.iter().any(|d| d.eq_ignore_ascii_case(&dataset)) {
                return Err(Review::refuse(ReviewRefusal::LocalPolicy(dataset)));
            }
        }
    }
    // Exactly the chunks the platform computed over (later ones may have landed since).
    let remote = chunk_reader(client, reader)?;
    let reader = PinnedReader::new(remote, &r.chunks_upto);
    let selection = exec::select(&reader, params, &query).map_err(engine)?;
    let computed: Vec<ComputedSum> = if selection.moments.is_empty() {
        Vec::new()
    } else {
        exec::compute_with(
            &reader,
            &query,
            params,
            &deployed.multiplier,
            &selection,
            Some(sums),
        )
        .map_err(engine)?
    };
    let mine = check_rederived(params, computed.iter().map(|c| &c.ciphertext), r)?;

    // Policy on the trustee's own facts, disclosure record, share log.
    let policy = release_policy(deployed, opts, true);
    let request = build_request(
        format!("query {}", r.id),
        &r.statement.sql,
        &query,
        &selection,
        &computed,
        r.statement.epsilon,
    );
    // The ε the noise is drawn for (the policy's default when the analyst named none).
    let epsilon = trustee
        .disclosure()
        .map_err(|e| Review::Retry(e.into()))?
        .epsilon_for(&request);
    let shares = crate::quorum::review(trustee, deployed, r, &policy, &request)?;
    let sealed = seal_shares(
        &recipient,
        r.id,
        trustee.name(),
        &mine,
        shares.iter().map(|s| s.to_bytes()),
    )?;
    Ok((sealed, epsilon))
}

/// The trustee's chunk reader, created on first use (see [`review`]).
pub(crate) fn chunk_reader<'a>(
    client: &Client,
    reader: &'a mut Option<RemoteReader>,
) -> Result<&'a RemoteReader, Review> {
    if reader.is_none() {
        *reader = Some(RemoteReader::new(client.clone()).map_err(api)?);
    }
    reader
        .as_ref()
        .ok_or_else(|| Review::Retry(DaemonError::Protocol("no chunk reader".into())))
}

/// The hashes of the ciphertexts this trustee re-derived, refused unless they are the
/// platform's, in order.
pub(crate) fn check_rederived<'a>(
    params: &Params,
    cts: impl Iterator<Item = &'a fhe::bfv::Ciphertext>,
    r: &ReleaseInfo,
) -> Result<Vec<String>, Review> {
    let mine: Vec<String> = cts
        .map(|c| hex::encode(ciphertext_hash(params, c)))
        .collect();
    if mine != r.ciphertext_hashes {
        return Err(Review::refuse(ReviewRefusal::CiphertextMismatch));
    }
    Ok(mine)
}

/// The release rules this trustee applies: the deployment's k or its own larger one.
pub(crate) fn release_policy(
    deployed: &RemoteDeployment,
    opts: &DaemonOptions,
    allow_key_filters: bool,
) -> Policy {
    Policy {
        min_group_size: deployed
            .info
            .min_group_size
            .max(opts.min_group_size.unwrap_or(0)),
        trustees: deployed.info.trustees.len(),
        allow_key_filters,
    }
}

/// A failed review of the trustee's own state: a rule's refusal or a damaged key share is
/// answered as a refusal (the requester learns why at once); anything else is retried.
pub(crate) fn review_failure(e: TrusteeError) -> Review {
    match e {
        TrusteeError::Refused { reason, .. } => Review::refuse(ReviewRefusal::Policy(reason)),
        e @ (TrusteeError::KeyShare { .. } | TrusteeError::Joined { .. }) => {
            Review::refuse(ReviewRefusal::KeyShare(Box::new(e)))
        }
        e @ TrusteeError::OtherSet { .. } => Review::refuse(ReviewRefusal::Quorum(Box::new(e))),
        e => Review::Retry(e.into()),
    }
}

/// What every signed statement of a release request passes before the request itself is
/// looked at: its signature (`signed`, the outcome of its verification), its date, and the
/// recipient key it names, which is returned.
pub(crate) fn accept_statement(
    signed: Result<(), StatementError>,
    opts: &DaemonOptions,
    r: &ReleaseInfo,
) -> Result<RecipientPublicKey, Review> {
    signed.map_err(|e| Review::refuse(e.into()))?;
    check_statement_age(opts, r.statement.timestamp)?;
    recipient_key(r)
}

/// Refuses a statement dated in the future (beyond the clock skew) or older than this
/// trustee's limit.
fn check_statement_age(opts: &DaemonOptions, timestamp: u64) -> Result<(), Review> {
    let now = dtfhe_model::clock::now_unix();
    if timestamp > now + dtfhe_api::auth::MAX_SKEW_SECS {
        return Err(Review::refuse(ReviewRefusal::FutureStatement(
            timestamp - now,
        )));
    }
    if let Some(max) = opts.max_age {
        let age = now.saturating_sub(timestamp);
        if age > max.as_secs() {
            return Err(Review::refuse(ReviewRefusal::StaleStatement {
                age,
                max: max.as_secs(),
            }));
        }
    }
    Ok(())
}

/// The recipient key the requester signed.
fn recipient_key(r: &ReleaseInfo) -> Result<RecipientPublicKey, Review> {
    unb64("recipient", &r.statement.recipient)
        .map_err(|e| Review::refuse(e.into()))
        .and_then(|b| {
            RecipientPublicKey::from_bytes(&b)
                .map_err(|e| Review::refuse(ReviewRefusal::RecipientKey(e)))
        })
}

/// Seals each share to the recipient, bound to (release, trustee, position, the
/// ciphertext this trustee re-derived).
pub(crate) fn seal_shares(
    recipient: &RecipientPublicKey,
    release: u64,
    trustee: &str,
    ciphertext_hashes: &[String],
    shares: impl Iterator<Item = Vec<u8>>,
) -> Result<Vec<String>, Review> {
    let mut rng = rand::rng();
    shares
        .enumerate()
        .map(|(i, bytes)| {
            seal(
                recipient,
                SEAL_INFO,
                &seal_aad(release, trustee, i, &ciphertext_hashes[i]),
                &bytes,
                &mut rng,
            )
            .map(|b| b64(&b))
            .map_err(|e| Review::Retry(crypto(e)))
        })
        .collect()
}

pub(crate) fn engine(e: dtfhe_engine::EngineError) -> Review {
    match &e {
        dtfhe_engine::EngineError::Read(dtfhe_model::ChunkReadError::Unavailable { .. }) => {
            Review::Retry(DaemonError::Protocol(e.to_string()))
        }
        _ => Review::refuse(ReviewRefusal::Recompute(e)),
    }
}
