//! `dtfhe model fit` and `dtfhe model score`: predictive maintenance on encrypted data.
//!
//! Fit: one ordinary aggregate query (means, variances, covariances) released under the
//! ordinary policy, then a ridge solve in clear. Score: plaintext weights × ciphertexts per
//! row, released row by row only to the source that owns the rows.

use crate::audit;
use crate::error::EmbeddedError;
use crate::ops::{self, QueryReport};
use crate::DeploymentDir;
use dtfhe_crypto::release::combine_full;
use dtfhe_engine::model::{
    check_columns, check_model_columns, fit_sql, prediction_table, score_plan, FitStats,
    LinearModel,
};
use dtfhe_engine::{exec, ResultSet};
use dtfhe_ledger::wording::query_context;
use dtfhe_release::{Policy, Refusal, RowReleaseRequest};
use dtfhe_store::EntryKind;
use dtfhe_trustee::shares::{ciphertext_hash, full_share_to_bytes};
use dtfhe_trustee::Trustee;
use std::path::Path;
use std::time::Instant;

/// Fit a ridge regression of `target` on `features` from released aggregates.
pub fn fit(
    dir: impl Into<DeploymentDir>,
    dataset: &str,
    target: &str,
    features: &[String],
    ridge: f64,
) -> Result<(LinearModel, QueryReport), EmbeddedError> {
    let dir = &dir.into();
    let d = ops::open(dir)?;
    let schema = ops::dataset_schema(&d, dataset)?;
    check_columns(&schema, target, features)?;
    let report = ops::query(dir, &fit_sql(&schema.dataset, target, features))?;
    let stats = FitStats::from_result(&report.result, features.len())?;
    let model = stats.fit(&schema.dataset, target, features, ridge)?;
    let mut d = ops::open(dir)?;
    audit::record(
        &mut d.store,
        EntryKind::ModelFitted,
        &audit::actor(),
        &schema.dataset,
        &format!(
            "linear model of `{target}` on {} fitted from released aggregates over {} rows",
            features.join(", "),
            model.n
        ),
        &[model_hash(&model)],
    )?;
    Ok((model, report))
}

/// The content address of a model ([`LinearModel::hash`]).
pub fn model_hash(model: &LinearModel) -> dtfhe_store::Hash {
    model.hash()
}

/// The ledger entry of the fit that produced `model`, or why there is none.
fn fitted_entry(d: &ops::Deployed, model: &LinearModel) -> Result<u64, EmbeddedError> {
    let hash = model_hash(model);
    d.store
        .entries()?
        .iter()
        .find(|e| e.kind == EntryKind::ModelFitted && e.hashes.contains(&hash))
        .map(|e| e.seq)
        .ok_or_else(|| {
            EmbeddedError::Release(Refusal::UnfittedModel {
                reason: "no `model fit` entry in the ledger has this model's hash (a model \
                         written or edited by hand could release any row's value)"
                    .into(),
            })
        })
}

/// The source proves it is the rows' owner with its own signing key (the one its chunks
/// are signed with): the key in the deployment's source directory must be the one
/// registered for it.
fn authenticate_source(dir: &Path, d: &ops::Deployed, source: &str) -> Result<(), EmbeddedError> {
    let not_owner = || {
        EmbeddedError::Release(Refusal::NotOwner {
            owner: source.to_string(),
            recipient: "a caller without the source's signing key".into(),
        })
    };
    let key_dir = dtfhe_agent::source_key::source_dir(dir, source);
    let key = dtfhe_agent::source_key::load(&key_dir)
        .map_err(|e| EmbeddedError::Damaged(e.to_string()))?
        .ok_or_else(not_owner)?;
    match d.store.source_key(source)? {
        Some(registered) if registered == key.verifying_key() => Ok(()),
        _ => Err(not_owner()),
    }
}

/// Per-row predictions with their timings.
#[derive(Debug, Clone)]
pub struct ScoreReport {
    /// Public columns of each scored row, `source` and `prediction`.
    pub result: ResultSet,
    /// Seconds computing on ciphertexts.
    pub compute_seconds: f64,
    /// Seconds for the trustees' shares and the decryption.
    pub release_seconds: f64,
}

/// Score every row of `source` in `dataset` homomorphically and release the predictions to
/// that source only: the caller must hold the source's signing key, and the model must be
/// one a `model fit` recorded in the ledger. Every trustee allows only rows of the recipient.
pub fn score(
    dir: impl Into<DeploymentDir>,
    model: &LinearModel,
    dataset: &str,
    source: &str,
) -> Result<ScoreReport, EmbeddedError> {
    let dir = &dir.into();
    let mut d = ops::open(dir)?;
    authenticate_source(dir, &d, source)?;
    let fit = fitted_entry(&d, model)?;
    let recipient = source;
    let actor = audit::actor();
    let schema = ops::dataset_schema(&d, dataset)?;
    let q = audit::record(
        &mut d.store,
        EntryKind::QueryRun,
        &actor,
        &schema.dataset,
        &format!(
            "score: linear model of `{}` on {}; rows of source `{source}` for `{recipient}`",
            model.target,
            model.features.join(", ")
        ),
        &[],
    )?;
    let started = Instant::now();
    let prepared = (|| {
        let features: Vec<&str> = model.features.iter().map(String::as_str).collect();
        check_model_columns(&schema, &features)?;
        let plan = score_plan(model, &schema, d.params.max_abs_total() / 2)?;
        let scored = exec::score_chunks(&d.store, &d.params, &schema.dataset, source, &plan)?;
        Ok::<_, EmbeddedError>((plan, scored))
    })();
    let (plan, scored) = prepared
        .map_err(|e| audit::denied(&mut d.store, &actor, &schema.dataset, &query_context(q), e))?;
    let compute_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let policy = Policy {
        min_group_size: d.deployment.min_group_size,
        trustees: d.deployment.trustees.len(),
        allow_key_filters: false,
    };
    let request = RowReleaseRequest::of_scores(
        &schema.dataset,
        recipient,
        format!(
            "linear model of `{}` on {} (fitted: ledger entry {fit})",
            model.target,
            model.features.join(", ")
        ),
        &scored,
    );
    let ct_hashes: Vec<dtfhe_store::Hash> = scored
        .iter()
        .map(|s| ciphertext_hash(&d.params, &s.ciphertext))
        .collect();
    let n_rows: u64 = scored.iter().map(|s| u64::from(s.chunk.rows)).sum();
    let release = audit::record(
        &mut d.store,
        EntryKind::ReleaseRequested,
        &actor,
        &schema.dataset,
        &format!(
            "{}: per-row release of {} chunks ({n_rows} rows) to `{recipient}`",
            query_context(q),
            scored.len()
        ),
        &ct_hashes,
    )?;
    let mut shares = Vec::new();
    for name in &d.deployment.trustees {
        let answer = Trustee::open(&ops::trustee_dir(dir, name), name, &d.params)
            .and_then(|t| t.record_if_missing(&d.params).map(|()| t))
            .and_then(|t| t.review_rows(&d.params, &policy, &request));
        shares.push(audit::trustee_decision(
            &mut d.store,
            name,
            release,
            answer,
            full_share_to_bytes,
        )?);
    }
    let mut decrypted = Vec::with_capacity(scored.len());
    for (i, s) in scored.iter().enumerate() {
        let chunk_shares: Vec<_> = shares.iter().map(|t| t[i].clone()).collect();
        decrypted.push(combine_full(&d.params, &s.ciphertext, &chunk_shares)?);
    }
    let result = prediction_table(
        &schema,
        &plan,
        &d.params,
        scored
            .iter()
            .zip(&decrypted)
            .map(|(s, v)| (&s.chunk, v.as_slice())),
    )?;
    let detail = format!(
        "{} row predictions delivered to `{recipient}`",
        result.rows.len()
    );
    audit::delivered(&mut d.store, &actor, release, &detail, &ct_hashes)?;
    Ok(ScoreReport {
        result,
        compute_seconds,
        release_seconds: started.elapsed().as_secs_f64(),
    })
}
