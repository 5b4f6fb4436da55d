//! A trustee's review of a per-row scoring (`POST /v1/scores`): predictions of one
//! source's rows under a registered model, released to that source alone.
//!
//! The trustee trusts no one's word for it: the requester must be a registered source
//! granted the dataset whose signed statement names the model and the recipient key; the
//! model must be registered by an analyst granted the dataset, with that analyst's
//! signature (a platform cannot slip in a model of its own); the scores are re-derived from
//! the source's signed chunks and must hash to the platform's; and the release rules
//! (`dtfhe_release::rules::check_row_request`) allow only rows of the recipient. Then one
//! flooded full decryption share per chunk, logged (one share per ciphertext, repeated
//! identically on a retry), sealed to the source's key.

use dtfhe_api::reader::RemoteReader;
use dtfhe_api::release::ReleaseInfo;
use dtfhe_api::remote::{remote_schemas, RemoteError};
use dtfhe_api::score::{model_message, score_message, verify, ModelRecord, ScoreInfo};
use dtfhe_api::types::IdentityRecord;
use dtfhe_api::Role;
use dtfhe_engine::model::{check_model_columns, score_plan, LinearModel};
use dtfhe_engine::{exec, Catalog};
use dtfhe_model::PinnedReader;
use dtfhe_release::RowReleaseRequest;

use crate::daemon::{
    accept_statement, api, check_rederived, chunk_reader, engine, release_policy, review_failure,
    seal_shares, Review, Reviewer,
};
use crate::refusal::ReviewRefusal;
use crate::shares::full_share_to_bytes;

/// A registered identity in good standing (not revoked) of `role` granted `dataset`, with
/// its parsed key.
fn granted(
    ids: &[IdentityRecord],
    name: &str,
    role: Role,
    dataset: &str,
) -> Result<ed25519_dalek::VerifyingKey, Review> {
    let id = ids
        .iter()
        .find(|i| i.name == name)
        .ok_or_else(|| Review::refuse(ReviewRefusal::NotRegistered(name.to_string())))?;
    if id.is_revoked() {
        return Err(Review::refuse(ReviewRefusal::Revoked(name.to_string())));
    }
    if id.role != role {
        return Err(Review::refuse(ReviewRefusal::WrongRole {
            name: name.to_string(),
            role,
        }));
    }
    if !id.grants(dataset) {
        return Err(Review::refuse(ReviewRefusal::NoGrant {
            analyst: name.to_string(),
            dataset: dataset.to_string(),
        }));
    }
    dtfhe_api::identity::parse_public_key(&id.public_key).map_err(|source| {
        Review::refuse(ReviewRefusal::AnalystKey {
            analyst: name.to_string(),
            source,
        })
    })
}

/// See the module documentation: the sealed full shares, or why not.
pub(crate) fn review_score(
    by: Reviewer<'_>,
    r: &ReleaseInfo,
    reader: &mut Option<RemoteReader>,
    ids: &[IdentityRecord],
    score: &ScoreInfo,
) -> Result<(Vec<String>, Option<f64>), Review> {
    let params = &by.deployed.params;
    // The owner: a source granted the dataset, asking for its own rows, in its own words.
    let owner = &r.analyst;
    let key = granted(ids, owner, Role::Source, &r.dataset)?;
    if let Some(allowed) = &by.opts.datasets {
        if !allowed.iter().any(|d| d.eq_ignore_ascii_case(&r.dataset)) {
            return Err(Review::refuse(ReviewRefusal::LocalPolicy(
                r.dataset.clone(),
            )));
        }
    }
    let message = score_message(
        owner,
        r.statement.timestamp,
        &r.statement.recipient,
        &r.dataset,
        &score.model_hash,
    );
    let signed = verify(&key, owner, &message, &r.statement.statement_signature);
    let recipient = accept_statement(signed, by.opts, r)?;

    // The model: registered, signed by an analyst granted the dataset, the one named.
    let record: ModelRecord = by
        .client
        .get_json(&format!(
            "/v1/models/{}",
            dtfhe_api::reader::path_segment(&score.model_hash)
        ))
        .map_err(api)?;
    let provenance = |why: String| Review::refuse(ReviewRefusal::ModelProvenance(why));
    let model = LinearModel::from_json(&record.model).map_err(|e| provenance(e.to_string()))?;
    if hex::encode(model.hash()) != score.model_hash.to_ascii_lowercase() {
        return Err(provenance(
            "the registered model is not the one the source named".into(),
        ));
    }
    if !model.dataset.eq_ignore_ascii_case(&r.dataset) {
        return Err(provenance(format!(
            "the model was fitted on `{}`, the rows are of `{}`",
            model.dataset, r.dataset
        )));
    }
    let fitter = granted(ids, &record.analyst, Role::Analyst, &model.dataset)?;
    verify(
        &fitter,
        &record.analyst,
        &model_message(&record.analyst, record.fit_query, &score.model_hash),
        &record.signature,
    )
    .map_err(|e| {
        provenance(format!(
            "the registration is not signed by `{}`: {e}",
            record.analyst
        ))
    })?;

    // Re-derive the scores from the owner's signed chunks.
    let schemas = remote_schemas(by.client).map_err(|e| match e {
        RemoteError::Api(e) => api(e),
        other => Review::refuse(ReviewRefusal::Schemas(other)),
    })?;
    let schema = Catalog::new(&schemas.iter().collect::<Vec<_>>())
        .get(&r.dataset)
        .cloned()
        .ok_or_else(|| {
            Review::refuse(ReviewRefusal::Plan(
                dtfhe_engine::EngineError::UnknownDataset(r.dataset.clone()),
            ))
        })?;
    let features: Vec<&str> = model.features.iter().map(String::as_str).collect();
    check_model_columns(&schema, &features).map_err(|e| Review::refuse(ReviewRefusal::Plan(e)))?;
    let plan = score_plan(&model, &schema, params.max_abs_total() / 2)
        .map_err(|e| Review::refuse(ReviewRefusal::Plan(e)))?;
    let remote = chunk_reader(by.client, reader)?;
    let reader = PinnedReader::new(remote, &r.chunks_upto);
    let scored =
        exec::score_chunks(&reader, params, &schema.dataset, owner, &plan).map_err(engine)?;
    let mine = check_rederived(params, scored.iter().map(|s| &s.ciphertext), r)?;

    // The rules: every chunk the recipient's own; then the logged, flooded full shares.
    let policy = release_policy(by.deployed, by.opts, false);
    let request = RowReleaseRequest::of_scores(
        &schema.dataset,
        owner,
        format!(
            "linear model of `{}` on {} (registered: ledger entry {})",
            model.target,
            model.features.join(", "),
            record.ledger_seq
        ),
        &scored,
    );
    let shares = by
        .trustee
        .review_rows(params, &policy, &request)
        .map_err(review_failure)?;
    let sealed = seal_shares(
        &recipient,
        r.id,
        by.trustee.name(),
        &mine,
        shares.iter().map(full_share_to_bytes),
    )?;
    Ok((sealed, None))
}
