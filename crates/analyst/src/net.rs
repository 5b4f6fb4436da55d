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
use dtfhe_api::types::{b64, unb64};
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

/// `dtfhe query --server`: ask, wait for every trustee, open, combine, finalize.
pub fn query(opts: &RemoteQueryOptions) -> Result<QueryReport, AnalystError> {
    let submitted = submit(opts)?;
    finish(submitted, opts)
}

/// Draws the query's recipient key, signs the statement and submits the query.
pub fn submit(opts: &RemoteQueryOptions) -> Result<Submitted, AnalystError> {
    let identity =
        Identity::load(&opts.identity).map_err(|e| AnalystError::Usage(e.to_string()))?;
    let client = Client::new(
        &opts.server,
        Some(identity.clone()),
        Duration::from_secs(600),
    );
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

/// Waits for every trustee's answer (or a refusal, or `opts.timeout`), then checks, opens,
/// combines and finalizes.
pub fn finish(
    submitted: Submitted,
    opts: &RemoteQueryOptions,
) -> Result<QueryReport, AnalystError> {
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
    let shares: Vec<Vec<Coeff0Share>> = open_shares(&keypair, &deployed.info.trustees, &status)?
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

    // Re-run the public selection over the signed chunks for the group facts.
    let schemas = remote_schemas(&client).map_err(remote_error)?;
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    let query = dtfhe_engine::plan(&opts.sql, &catalog)?;
    let reader = dtfhe_api::reader::RemoteReader::new(client.clone()).map_err(api_error)?;
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
    Ok(QueryReport {
        result,
        compute_seconds,
        release_seconds,
        released_ciphertexts: cts.len(),
        epsilon,
        group_rows,
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
                    .filter(|a| !a.approve)
                    .map(|a| {
                        format!(
                            "trustee {} refuses: {}",
                            a.trustee,
                            a.reason.as_deref().unwrap_or("no reason given")
                        )
                    })
                    .collect();
                return Err(AnalystError::Refused(reasons.join("; ")));
            }
            QueryState::Pending => {}
        }
        if started.elapsed() >= timeout {
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
            .find(|a| &a.trustee == t && a.approve)
            .ok_or_else(|| {
                AnalystError::Platform(format!(
                    "query {id}: no approval of trustee {t} in the answer"
                ))
            })?;
        if a.sealed.len() != n {
            return Err(AnalystError::Platform(format!(
                "query {id}: trustee {t} gave {} sealed shares for {n} ciphertexts",
                a.sealed.len(),
            )));
        }
        for (i, s) in a.sealed.iter().enumerate() {
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

/// The ε the trustees' noise was drawn for: each approving trustee states it (its policy's
/// default when the analyst named none, so an analyst of a dp deployment learns the result
/// is noised); the largest stated, the weakest guarantee, is reported.
fn applied_epsilon(asked: Option<f64>, status: &QueryStatus) -> Option<f64> {
    status
        .answers
        .iter()
        .filter(|a| a.approve)
        .filter_map(|a| a.epsilon)
        .chain(asked)
        .reduce(f64::max)
}
