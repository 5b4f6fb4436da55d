//! The analyst's side of the networked key path: `dtfhe query --server` (the trustee side,
//! `dtfhe trustee --server`, is `dtfhe_trustee::daemon`; both read the deployment and the
//! schemas with `dtfhe_api::remote`).
//!
//! The analyst draws a fresh HPKE key pair per query and signs a statement binding the SQL,
//! ε and that key; the platform computes and relays; each trustee re-derives, reviews and
//! seals its decryption shares to the key. Only this process can open them: it checks the
//! ciphertexts against their hashes, opens every trustee's shares, combines, re-runs the
//! public selection over the signed chunks for the group facts, and finalizes exactly like
//! the embedded `dtfhe query`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dtfhe_api::release::{
    seal_aad, sign_statement, QueryAccepted, QueryRequest, QueryState, QueryStatus, SEAL_INFO,
};
use dtfhe_api::remote::{remote_deployment, remote_schemas, RemoteDeployment, RemoteError};
use dtfhe_api::types::{b64, unb64, IdentityRecord};
use dtfhe_api::{ApiError, Client, Identity};
use dtfhe_crypto::codec;
use dtfhe_crypto::release::{centred, combine, Coeff0Share};
use dtfhe_crypto::seal::{open, RecipientKeyPair};
use dtfhe_engine::{exec, Catalog};
use dtfhe_release::pipeline::release_order;

use crate::error::AnalystError;
use dtfhe_release::QueryReport;

/// Options of `dtfhe query --server`.
#[derive(Debug, Clone)]
pub struct RemoteQueryOptions {
    /// Platform URL.
    pub server: String,
    /// The analyst's identity file.
    pub identity: PathBuf,
    /// The SQL.
    pub sql: String,
    /// DP ε, if any.
    pub epsilon: Option<f64>,
    /// How long to wait for every trustee.
    pub timeout: Duration,
    /// Poll interval.
    pub poll: Duration,
}

/// An API failure as a command error, as for the other networked commands
/// ([`crate::error::api_error`]: 401/403/422 refused, exit 4; 400/404/409 usage; an
/// unreachable platform I/O; else platform, exit 9); a policy refusal (422) shows the
/// server's reason alone.
pub fn api_error(e: ApiError) -> AnalystError {
    match &e {
        ApiError::Problem { problem, .. } if problem.status == 422 => AnalystError::Refused(
            problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone()),
        ),
        _ => crate::error::api_error(e),
    }
}

/// The platform's deployment or schemas unusable, as an analyst error: API failures as for
/// every request; keys that do not decode a cryptographic error (exit 6); another field or
/// schema that does not decode is the platform's failure.
pub fn remote_error(e: RemoteError) -> AnalystError {
    match e {
        RemoteError::Api(e) => api_error(e),
        RemoteError::Keys(e) => AnalystError::Crypto(e),
        other => AnalystError::Platform(other.to_string()),
    }
}

/// A query the platform accepted, with the analyst's key to open the trustees' answers.
pub struct Submitted {
    client: Client,
    deployed: RemoteDeployment,
    keypair: RecipientKeyPair,
    /// The query (= release) id.
    pub id: u64,
    ciphertexts: usize,
    compute_seconds: f64,
}

// Never print the recipient's secret key.
dtfhe_model::debug_public_fields!(Submitted, |s| { id: s.id });

/// The identity in the file `identity` and a client of `server` signing as it (`timeout` per
/// request): how every networked command of the analyst starts. A missing or bad identity
/// file is a usage error.
pub(crate) fn connect(
    server: &str,
    identity: &std::path::Path,
    timeout: Duration,
) -> Result<(Client, Identity), AnalystError> {
    let id = Identity::load(identity).map_err(|e| AnalystError::Usage(e.to_string()))?;
    Ok((Client::new(server, Some(id.clone()), timeout), id))
}

/// `dtfhe query --server`: ask, wait for every trustee, open, combine, finalize.
pub fn query(opts: &RemoteQueryOptions) -> Result<QueryReport, AnalystError> {
    let submitted = submit(opts)?;
    finish(submitted, opts)
}

/// Draws the query's recipient key, signs the statement and submits the query.
pub fn submit(opts: &RemoteQueryOptions) -> Result<Submitted, AnalystError> {
    let (client, identity) = connect(&opts.server, &opts.identity, Duration::from_secs(600))?;
    let deployed = remote_deployment(&client).map_err(remote_error)?;

    let keypair = RecipientKeyPair::generate(&mut rand::rng());
    let recipient = b64(&keypair.public_key().to_bytes());
    let compute_started = Instant::now();
    // A platform whose computation queue is full answers 503 before recording anything:
    // send the query again (freshly signed) until `opts.timeout`.
    let accepted: QueryAccepted = loop {
        let timestamp = dtfhe_model::clock::now_unix();
        let request = QueryRequest {
            sql: opts.sql.clone(),
            epsilon: opts.epsilon,
            recipient: recipient.clone(),
            timestamp,
            statement_signature: sign_statement(
                &identity,
                timestamp,
                opts.epsilon,
                &recipient,
                &opts.sql,
            ),
        };
        match client.post_json("/v1/queries", &request) {
            Err(e) if e.status() == Some(503) && compute_started.elapsed() < opts.timeout => {
                std::thread::sleep(opts.poll.max(Duration::from_secs(1)));
            }
            other => break other.map_err(api_error)?,
        }
    };
    Ok(Submitted {
        client,
        deployed,
        keypair,
        id: accepted.query_id,
        ciphertexts: accepted.ciphertexts,
        compute_seconds: compute_started.elapsed().as_secs_f64(),
    })
}

/// A networked release with the provenance an exported result names: the release id (the
/// seq of its `release_requested` ledger entry), the `result_delivered` entry and the
/// deployment's k.
#[derive(Debug, Clone)]
pub struct Released {
    /// The released result.
    pub report: QueryReport,
    /// The release (= query) id: the seq of its `release_requested` ledger entry.
    pub release: u64,
    /// The seq of its `result_delivered` ledger entry, if the platform named it (a platform
    /// older than this field does not).
    pub delivery_entry: Option<u64>,
    /// The deployment's smallest released group (k).
    pub min_group_size: u32,
}

/// Waits for every trustee's answer (or a refusal, or `opts.timeout`), then checks, opens,
/// combines and finalizes.
pub fn finish(
    submitted: Submitted,
    opts: &RemoteQueryOptions,
) -> Result<QueryReport, AnalystError> {
    finish_released(submitted, opts).map(|r| r.report)
}

/// [`finish`], with the release's provenance.
pub fn finish_released(
    submitted: Submitted,
    opts: &RemoteQueryOptions,
) -> Result<Released, AnalystError> {
    let Submitted {
        client,
        deployed,
        keypair,
        id,
        ciphertexts: announced,
        compute_seconds,
    } = submitted;
    let params = &deployed.params;

    let release_started = Instant::now();
    let status = wait_complete(&client, id, opts.timeout, opts.poll)?;
    let cts = checked_ciphertexts(params, &status, announced)?;
    let members = release_members(&deployed.info.trustees, &status)?;
    refuse_revoked(id, &members, &registry(&client)?)?;
    let shares: Vec<Vec<Coeff0Share>> = open_shares(&keypair, &members, &status)?
        .into_iter()
        .map(|per_ct| {
            per_ct
                .iter()
                .map(|b| Coeff0Share::from_bytes(params, b))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let totals: Vec<i128> = cts
        .iter()
        .zip(&shares)
        .map(|(ct, s)| Ok(centred(params, combine(params, ct, s)?)))
        .collect::<Result<_, AnalystError>>()?;

    // Re-run the public selection over the signed chunks for the group facts (those the
    // platform computed over: later ones may have landed since).
    let schemas = remote_schemas(&client).map_err(remote_error)?;
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    let query = dtfhe_engine::plan(&opts.sql, &catalog)?;
    let remote = dtfhe_api::reader::RemoteReader::new(client.clone()).map_err(api_error)?;
    let reader = dtfhe_model::PinnedReader::new(&remote, &status.chunks_upto);
    let selection = exec::select(&reader, params, &query)?;
    let order = release_order(&selection);
    if order.len() != totals.len() {
        return Err(AnalystError::Platform(format!(
            "query {id}: {} released sums, but the selection over the signed chunks needs {}",
            totals.len(),
            order.len()
        )));
    }
    let epsilon = applied_epsilon(opts.epsilon, &status);
    if epsilon.is_none() {
        dtfhe_release::pipeline::check_totals(&query, &selection, &order, &totals)
            .map_err(|e| AnalystError::Damaged(format!("query {id}: {e}")))?;
    }
    let (result, group_rows) =
        dtfhe_release::pipeline::finalize_released(&query, selection, order, totals)?;
    let release_seconds = release_started.elapsed().as_secs_f64();
    Ok(Released {
        report: QueryReport {
            result,
            compute_seconds,
            release_seconds,
            released_ciphertexts: cts.len(),
            epsilon,
            group_rows,
            approvals: approvals_of(&status, &members),
        },
        release: id,
        delivery_entry: status.delivery_entry,
        min_group_size: deployed.info.min_group_size,
    })
}

/// Polls `GET /v1/queries/{id}` until every trustee approved (the answer then carries the
/// ciphertexts and sealed shares), a trustee refused, or `timeout` passed (naming the
/// trustees that did not answer; nothing is released).
pub(crate) fn wait_complete(
    client: &Client,
    id: u64,
    timeout: Duration,
    poll: Duration,
) -> Result<QueryStatus, AnalystError> {
    let started = Instant::now();
    loop {
        let s: QueryStatus = match client.get_json(&format!("/v1/queries/{id}")) {
            Ok(s) => s,
            Err(e) if e.is_retryable() && started.elapsed() < timeout => {
                std::thread::sleep(poll);
                continue;
            }
            Err(e) => return Err(api_error(e)),
        };
        match s.state {
            QueryState::Complete => return Ok(s),
            QueryState::Refused => {
                let reasons: Vec<String> = s
                    .answers
                    .iter()
                    .filter(|a| !a.answer.approve)
                    .map(|a| {
                        format!(
                            "trustee {} refuses: {}",
                            a.trustee,
                            a.answer.reason.as_deref().unwrap_or("no reason given")
                        )
                    })
                    .collect();
                return Err(AnalystError::Refused(reasons.join("; ")));
            }
            QueryState::Pending => {}
        }
        if started.elapsed() >= timeout {
            if let Some(q) = &s.quorum {
                let why = match &q.set {
                    None => q.missing(&s.trustees),
                    Some(set) => format!("the release set {} did not all answer", set.join(", ")),
                };
                return Err(AnalystError::NotReleased(format!(
                    "query {id}: after {} s, {why}; nothing was released",
                    timeout.as_secs()
                )));
            }
            let missing: Vec<&str> = s
                .trustees
                .iter()
                .filter(|t| !s.answers.iter().any(|a| &a.trustee == *t))
                .map(String::as_str)
                .collect();
            return Err(AnalystError::NotReleased(format!(
                "query {id}: after {} s, trustee{} {} did not answer; nothing was released",
                timeout.as_secs(),
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            )));
        }
        std::thread::sleep(poll);
    }
}

/// The complete answer's ciphertexts, each checked against its recorded hash and the
/// number the platform announced.
pub(crate) fn checked_ciphertexts(
    params: &dtfhe_crypto::Params,
    status: &QueryStatus,
    announced: usize,
) -> Result<Vec<fhe::bfv::Ciphertext>, AnalystError> {
    let id = status.id;
    if status.ciphertexts.len() != status.ciphertext_hashes.len()
        || status.ciphertexts.len() != announced
    {
        return Err(AnalystError::Platform(format!(
            "query {id}: the platform returned {} ciphertexts for {} hashes ({} announced)",
            status.ciphertexts.len(),
            status.ciphertext_hashes.len(),
            announced
        )));
    }
    let mut cts = Vec::with_capacity(status.ciphertexts.len());
    for (i, (c, h)) in status
        .ciphertexts
        .iter()
        .zip(&status.ciphertext_hashes)
        .enumerate()
    {
        let bytes = unb64(&format!("ciphertexts[{i}]"), c)
            .map_err(|e| AnalystError::Platform(e.to_string()))?;
        if blake3::hash(&bytes).to_hex().as_str() != h {
            return Err(AnalystError::Platform(format!(
                "query {id}: ciphertext {i} does not match its recorded hash"
            )));
        }
        cts.push(codec::decode_ciphertext(params, &bytes)?);
    }
    Ok(cts)
}

/// The trustees whose shares decrypt the release: every trustee (n-of-n) or the quorum's
/// set, which must be exactly t distinct trustees of the deployment.
pub(crate) fn release_members(
    trustees: &[String],
    status: &QueryStatus,
) -> Result<Vec<String>, AnalystError> {
    let Some(q) = &status.quorum else {
        return Ok(trustees.to_vec());
    };
    let id = status.id;
    let set = q.set.clone().unwrap_or_default();
    let points = q.points(trustees).unwrap_or_default();
    if set.len() != q.threshold
        || dtfhe_crypto::threshold::check_set(&points, q.threshold, trustees.len()).is_err()
    {
        return Err(AnalystError::Platform(format!(
            "query {id}: the release set ({}) is not {} distinct trustees of the deployment",
            set.join(", "),
            q.threshold
        )));
    }
    Ok(set)
}

/// The platform's identity registry (`GET /v1/identities`), with the revocations.
pub(crate) fn registry(client: &Client) -> Result<Vec<IdentityRecord>, AnalystError> {
    client.get_json("/v1/identities").map_err(api_error)
}

/// Refuses to combine the shares of a trustee the registry marks revoked: a platform that
/// still relays them is not followed, and nothing is released.
pub(crate) fn refuse_revoked(
    id: u64,
    members: &[String],
    registry: &[IdentityRecord],
) -> Result<(), AnalystError> {
    let revoked: Vec<&str> = members
        .iter()
        .filter(|m| registry.iter().any(|r| &r.name == *m && r.is_revoked()))
        .map(String::as_str)
        .collect();
    if revoked.is_empty() {
        return Ok(());
    }
    Err(AnalystError::Platform(format!(
        "query {id}: the platform relays shares of revoked trustee{} {}: not counted, nothing \
         was released",
        if revoked.len() == 1 { "" } else { "s" },
        revoked.join(", ")
    )))
}

/// Opens every trustee's sealed shares with the query's key: per ciphertext, one share's
/// bytes per trustee in `trustees` order. A box that does not open (another key, another
/// release, position, trustee or ciphertext) is the platform's failure.
pub(crate) fn open_shares(
    keypair: &RecipientKeyPair,
    trustees: &[String],
    status: &QueryStatus,
) -> Result<Vec<Vec<Vec<u8>>>, AnalystError> {
    let id = status.id;
    let n = status.ciphertext_hashes.len();
    let mut shares: Vec<Vec<Vec<u8>>> = vec![Vec::new(); n];
    for t in trustees {
        let a = status
            .answers
            .iter()
            .find(|a| &a.trustee == t && a.answer.approve)
            .ok_or_else(|| {
                AnalystError::Platform(format!(
                    "query {id}: no approval of trustee {t} in the answer"
                ))
            })?;
        if a.answer.sealed.len() != n {
            return Err(AnalystError::Platform(format!(
                "query {id}: trustee {t} gave {} sealed shares for {n} ciphertexts",
                a.answer.sealed.len(),
            )));
        }
        for (i, s) in a.answer.sealed.iter().enumerate() {
            let sealed = unb64(&format!("sealed share {i} of {t}"), s)
                .map_err(|e| AnalystError::Platform(e.to_string()))?;
            let aad = seal_aad(id, t, i, &status.ciphertext_hashes[i]);
            let plain = open(keypair, SEAL_INFO, &aad, &sealed).map_err(|_| {
                AnalystError::Platform(format!(
                    "query {id}: sealed share {i} of trustee {t} does not open with this query's key"
                ))
            })?;
            shares[i].push(plain);
        }
    }
    Ok(shares)
}

/// The trustees whose shares were combined (`members`, each having approved), with when the
/// platform recorded each approval: the release facts shown next to the numbers.
pub(crate) fn approvals_of(status: &QueryStatus, members: &[String]) -> Vec<(String, u64)> {
    status
        .answers
        .iter()
        .filter(|a| a.answer.approve && members.contains(&a.trustee))
        .map(|a| (a.trustee.clone(), a.answered_unix))
        .collect()
}

/// The ε the trustees' noise was drawn for: each approving trustee states it (its policy's
/// default when the analyst named none, so an analyst of a dp deployment learns the result
/// is noised); the largest stated, the weakest guarantee, is reported.
fn applied_epsilon(asked: Option<f64>, status: &QueryStatus) -> Option<f64> {
    status
        .answers
        .iter()
        .filter(|a| a.answer.approve)
        .filter_map(|a| a.answer.epsilon)
        .chain(asked)
        .reduce(f64::max)
}

#[cfg(test)]
mod approval_tests {
    use super::*;
    use dtfhe_api::release::{QueryState, ReleaseAnswer, TrusteeAnswer};

    fn answer(trustee: &str, approve: bool, at: u64) -> TrusteeAnswer {
        TrusteeAnswer {
            trustee: trustee.into(),
            answer: ReleaseAnswer {
                approve,
                reason: (!approve).then(|| "no".into()),
                sealed: Vec::new(),
                epsilon: None,
            },
            answered_unix: at,
        }
    }

    #[test]
    fn approvals_name_the_combined_members_with_the_platforms_times() {
        let status = QueryStatus {
            id: 7,
            state: QueryState::Complete,
            dataset: "runs".into(),
            trustees: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            answers: vec![
                answer("a", true, 100),
                answer("b", false, 101),
                answer("c", true, 105),
                // Approved, but outside the set whose shares were combined.
                answer("d", true, 99),
            ],
            ciphertext_hashes: Vec::new(),
            ciphertexts: Vec::new(),
            chunks_upto: Default::default(),
            quorum: None,
            delivery_entry: None,
        };
        let members = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            approvals_of(&status, &members),
            vec![("a".to_string(), 100), ("c".to_string(), 105)]
        );
    }
}

#[cfg(test)]
mod revocation_tests {
    use super::*;

    fn record(name: &str, revoked: bool) -> IdentityRecord {
        IdentityRecord {
            name: name.into(),
            role: dtfhe_api::Role::Trustee,
            public_key: String::new(),
            datasets: Vec::new(),
            revoked: revoked.then(|| dtfhe_api::types::Revocation {
                by: "root".into(),
                reason: "left".into(),
                ledger_seq: 9,
                time_unix: 0,
            }),
        }
    }

    /// A release set with a revoked trustee is refused, naming it; one in good standing
    /// passes.
    #[test]
    fn shares_of_a_revoked_trustee_are_not_combined() {
        let registry = [record("a", false), record("b", false), record("c", true)];
        let members = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(refuse_revoked(7, &members(&["a", "b"]), &registry).is_ok());
        match refuse_revoked(7, &members(&["a", "c"]), &registry) {
            Err(AnalystError::Platform(m)) => {
                assert!(
                    m.contains("revoked trustee c") && m.contains("query 7"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
