//! Predictive maintenance over the network: `dtfhe model fit --server` (an analyst) and
//! `dtfhe model score --server` (a source, for its own rows).
//!
//! Fit: the fit's aggregates (`dtfhe_engine::model::fit_sql`) are asked like any query and
//! released under the ordinary policy; the ridge solve is local; the model is then
//! registered on the platform with the analyst's signed statement naming that query
//! (`POST /v1/models`, a `model_fitted` ledger entry), so trustees accept it for scoring.
//!
//! Score: the source signs a statement naming the model, its dataset and a fresh recipient
//! key; the platform computes each row's prediction on the ciphertexts; every trustee
//! re-derives it from the source's signed chunks, checks the rows are the source's own and
//! the model's registration, and seals a full decryption share per chunk to the key. Only
//! this process opens them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dtfhe_api::release::QueryAccepted;
use dtfhe_api::remote::{remote_deployment, remote_schemas};
use dtfhe_api::score::{
    model_message, score_message, sign, ModelRecord, ModelRegistration, ScoreRequest,
};
use dtfhe_api::types::b64;
use dtfhe_api::{Client, Identity};
use dtfhe_crypto::release::{combine_full, full_share_from_bytes};
use dtfhe_crypto::seal::RecipientKeyPair;
use dtfhe_engine::model::{
    check_columns, fit_sql, prediction_table, score_plan, FitStats, LinearModel,
};
use dtfhe_engine::{Catalog, ResultSet};
use dtfhe_release::QueryReport;

use crate::error::AnalystError;
use crate::net::{
    api_error, checked_ciphertexts, open_shares, remote_error, wait_complete, RemoteQueryOptions,
};

/// Where and as whom: the platform, the identity file, how long to wait for the trustees.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Platform URL.
    pub server: String,
    /// The identity file (an analyst's to fit, a source's to score).
    pub identity: PathBuf,
    /// How long to wait for every trustee.
    pub timeout: Duration,
    /// Poll interval.
    pub poll: Duration,
}

impl Remote {
    fn client(&self) -> Result<(Client, Identity), AnalystError> {
        crate::net::connect(&self.server, &self.identity, Duration::from_secs(600))
    }
}

/// A model fitted over the network and registered on the platform.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The model.
    pub model: LinearModel,
    /// The fit query's report (its released aggregates).
    pub report: QueryReport,
    /// The platform's registration (ledger entry, hash).
    pub record: ModelRecord,
}

/// `dtfhe model fit --server`: release the fit's aggregates, solve, register.
pub fn fit(
    remote: &Remote,
    dataset: &str,
    target: &str,
    features: &[String],
    ridge: f64,
) -> Result<Fitted, AnalystError> {
    let (client, identity) = remote.client()?;
    let schemas = remote_schemas(&client).map_err(remote_error)?;
    let schema = Catalog::new(&schemas.iter().collect::<Vec<_>>())
        .get(dataset)
        .cloned()
        .ok_or_else(|| AnalystError::Usage(format!("no dataset `{dataset}` on the platform")))?;
    check_columns(&schema, target, features)?;
    let opts = RemoteQueryOptions {
        server: remote.server.clone(),
        identity: remote.identity.clone(),
        sql: fit_sql(&schema.dataset, target, features),
        epsilon: None,
        timeout: remote.timeout,
        poll: remote.poll,
    };
    let submitted = crate::net::submit(&opts)?;
    let fit_query = submitted.id;
    let report = crate::net::finish(submitted, &opts)?;
    let stats = FitStats::from_result(&report.result, features.len())?;
    let model = stats.fit(&schema.dataset, target, features, ridge)?;
    let hash_hex = hex::encode(model.hash());
    let registration = ModelRegistration {
        model: model.to_json(),
        fit_query,
        signature: sign(
            &identity,
            &model_message(identity.name(), fit_query, &hash_hex),
        ),
    };
    let record: ModelRecord = client
        .post_json("/v1/models", &registration)
        .map_err(api_error)?;
    if record.hash != hash_hex {
        return Err(AnalystError::Platform(format!(
            "the platform registered model {} for model {hash_hex}",
            record.hash
        )));
    }
    Ok(Fitted {
        model,
        report,
        record,
    })
}

/// Per-row predictions released to their owner.
#[derive(Debug, Clone)]
pub struct Scores {
    /// Public columns of each scored row, `source` and `prediction`.
    pub result: ResultSet,
    /// The release (query) id.
    pub id: u64,
    /// Seconds from the request to the opened predictions.
    pub seconds: f64,
    /// The trustees that approved the scoring, each with when its answer was recorded.
    pub approvals: Vec<(String, u64)>,
}

/// `dtfhe model score --server`: the caller's own rows of `dataset` under a registered
/// model, released to the caller alone.
pub fn score(remote: &Remote, model: &LinearModel, dataset: &str) -> Result<Scores, AnalystError> {
    let started = Instant::now();
    let (client, identity) = remote.client()?;
    let deployed = remote_deployment(&client).map_err(remote_error)?;
    let params = &deployed.params;
    let schemas = remote_schemas(&client).map_err(remote_error)?;
    let schema = Catalog::new(&schemas.iter().collect::<Vec<_>>())
        .get(dataset)
        .cloned()
        .ok_or_else(|| AnalystError::Usage(format!("no dataset `{dataset}` on the platform")))?;
    let plan = score_plan(model, &schema, params.max_abs_total() / 2)?;
    let keypair = RecipientKeyPair::generate(&mut rand::rng());
    let recipient = b64(&keypair.public_key().to_bytes());
    let timestamp = dtfhe_model::clock::now_unix();
    let model_hash = hex::encode(model.hash());
    let request = ScoreRequest {
        dataset: schema.dataset.clone(),
        model_hash: model_hash.clone(),
        recipient: recipient.clone(),
        timestamp,
        statement_signature: sign(
            &identity,
            &score_message(
                identity.name(),
                timestamp,
                &recipient,
                &schema.dataset,
                &model_hash,
            ),
        ),
    };
    let accepted: QueryAccepted = client
        .post_json("/v1/scores", &request)
        .map_err(crate::net::api_error)?;
    let id = accepted.query_id;
    let status = wait_complete(&client, id, remote.timeout, remote.poll)?;
    let cts = checked_ciphertexts(params, &status, accepted.ciphertexts)?;
    crate::net::refuse_revoked(id, &deployed.info.trustees, &crate::net::registry(&client)?)?;
    let opened = open_shares(&keypair, &deployed.info.trustees, &status)?;

    // The chunks scored, in the platform's order: the source's own, signature-checked.
    let remote = dtfhe_api::reader::RemoteReader::new(client.clone()).map_err(api_error)?;
    let reader = dtfhe_model::PinnedReader::new(&remote, &status.chunks_upto);
    let chunks: Vec<_> = dtfhe_model::ChunkReader::chunks(&reader, &schema.dataset)
        .map_err(|e| AnalystError::Platform(e.to_string()))?
        .into_iter()
        .filter(|c| c.source == identity.name())
        .collect();
    if chunks.len() != cts.len() {
        return Err(AnalystError::Platform(format!(
            "query {id}: {} scored ciphertexts for {} signed chunks of `{}`",
            cts.len(),
            chunks.len(),
            identity.name()
        )));
    }
    let mut decrypted = Vec::with_capacity(cts.len());
    for (ct, shares) in cts.iter().zip(&opened) {
        let shares = shares
            .iter()
            .map(|b| full_share_from_bytes(params, b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AnalystError::Platform(format!("query {id}: a full share: {e}")))?;
        decrypted.push(combine_full(params, ct, &shares)?);
    }
    let result = prediction_table(
        &schema,
        &plan,
        params,
        chunks
            .iter()
            .zip(&decrypted)
            .map(|(c, v)| (c, v.as_slice())),
    )?;
    Ok(Scores {
        result,
        id,
        seconds: started.elapsed().as_secs_f64(),
        approvals: crate::net::approvals_of(&status, &deployed.info.trustees),
    })
}
