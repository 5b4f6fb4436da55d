//! Datasets and their chunks: the data path.
//!
//! - `GET /v1/datasets` (any registered party): names and schemas.
//! - `POST /v1/datasets/{name}/chunks` (source with a grant): one signed chunk in the
//!   binary encoding of `dtfhe_api::wire`; the caller's name is the chunk's source. A chunk
//!   of a file position already stored answers `already_stored`, so an agent retrying after
//!   a lost answer never duplicates data.
//! - `GET /v1/datasets/{name}/sources/{source}/last-seq` and `.../files/{hash}` (that source
//!   only): where an agent resumes.
//! - `GET /v1/datasets/{name}/chunks` and `GET /v1/chunks/{id}/parts/{column}/{part}`
//!   (analyst with a grant, trustee, auditor): everything a reader needs to check each
//!   chunk's source signature and each ciphertext's hash itself. A source with a grant may
//!   list its own chunks (never another source's).

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use dtfhe_api::types::{
    b64, unhex32, ChunkInfo, ChunkUploaded, DatasetInfo, FileChunkInfo, LastSeq, OriginInfo,
    PartInfo, STATUS_ALREADY_STORED, STATUS_STORED,
};
use dtfhe_api::{Problem, Role};
use dtfhe_store::{Refusal, StoreError};

use super::responses::{
    BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable,
};
use crate::auth::Signed;
use crate::error::{ApiProblem, ApiResult};

fn bad(detail: String) -> ApiProblem {
    ApiProblem(Problem::bad_request(detail))
}

/// Refuses (403, logged) unless the caller may read `dataset`: an analyst with a grant for
/// it, a trustee or an auditor.
async fn require_reader(req: &Signed, dataset: &str) -> ApiResult<()> {
    if req.caller.role == Role::Analyst {
        req.require_dataset(&[Role::Analyst], dataset).await
    } else {
        req.require(&[Role::Analyst, Role::Trustee, Role::Auditor])
            .await
    }
}

/// Refuses (403, logged) unless the caller is `source` itself, a source with a grant for
/// `dataset`.
async fn require_self(req: &Signed, dataset: &str, source: &str) -> ApiResult<()> {
    req.require_dataset(&[Role::Source], dataset).await?;
    let allowed = req.caller.name == source;
    req.forbid_unless(allowed, &req.path, |caller| {
        format!("`{caller}` may only read its own sequence, not `{source}`'s")
    })
    .await
}

/// Every registered dataset with its schema TOML.
#[utoipa::path(get, path = "/v1/datasets",
    responses((status = 200, body = Vec<DatasetInfo>), Unauthorized))]
pub(super) async fn list_datasets(req: Signed) -> ApiResult<Json<Vec<DatasetInfo>>> {
    let out = req
        .state
        .with_store(|s| {
            s.datasets()?
                .into_iter()
                .map(|name| {
                    let schema_toml = s.dataset_schema(&name)?.unwrap_or_default();
                    Ok(DatasetInfo { name, schema_toml })
                })
                .collect::<Result<Vec<_>, StoreError>>()
                .map_err(ApiProblem::from)
        })
        .await?;
    Ok(Json(out))
}

/// Appends one signed chunk (body: `dtfhe_api::wire` encoding, schema TOML + chunk). The
/// caller is the chunk's source; the store checks its signature, seq and duplicates.
#[utoipa::path(post, path = "/v1/datasets/{name}/chunks",
    params(("name" = String, Path, description = "dataset (the schema's `dataset`)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "dtfhe_api::wire chunk encoding, format version 1"),
    responses((status = 200, body = ChunkUploaded), BadRequest, Unauthorized, Forbidden, Conflict,
              Unprocessable, Unavailable))]
pub(super) async fn upload_chunk(
    Path(name): Path<String>,
    req: Signed,
) -> ApiResult<Json<ChunkUploaded>> {
    req.require_dataset(&[Role::Source], &name).await?;
    let wire =
        dtfhe_api::wire::decode_chunk(&req.body).map_err(|e| bad(format!("chunk body: {e}")))?;
    let schema = dtfhe_model::Schema::from_toml_str(&wire.schema_toml, "the uploaded schema")
        .map_err(|e| bad(format!("schema: {e}")))?;
    if schema.dataset != name {
        return Err(bad(format!(
            "the schema declares dataset `{}`, the path names `{name}`",
            schema.dataset
        )));
    }
    let source = req.caller.name.clone();
    let feed_state = req.state.clone();
    let answer = req
        .state
        .with_store(move |s| {
            s.deployment()?;
            // A retried upload of a file position already stored: answer as before, without
            // a refusal entry in the ledger.
            if let Some(o) = &wire.chunk.origin {
                if let Some(c) = s
                    .file_chunks(&name, &source, &o.file_hash)?
                    .into_iter()
                    .find(|c| c.index == o.index)
                {
                    return Ok((STATUS_ALREADY_STORED, c.id));
                }
            }
            crate::routes::lanes::check_chunk_placement(s, &schema, &wire.chunk)?;
            match s.append_chunks(
                &name,
                &wire.schema_toml,
                &source,
                std::slice::from_ref(&wire.chunk),
            ) {
                Ok(ids) => {
                    let id = ids.first().copied().ok_or_else(|| {
                        ApiProblem(Problem::internal("append returned no chunk id"))
                    })?;
                    let ledger_size = s.ledger_size();
                    crate::routes::feed::announce(
                        &feed_state,
                        &name,
                        &source,
                        &wire.chunk,
                        id,
                        ledger_size,
                    );
                    Ok((STATUS_STORED, id))
                }
                Err(StoreError::IngestRefused {
                    reason: Refusal::FileChunkStored { chunk_id, .. },
                    ..
                }) => Ok((STATUS_ALREADY_STORED, chunk_id)),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    Ok(Json(ChunkUploaded {
        status: answer.0.to_string(),
        chunk_id: answer.1,
    }))
}

/// The caller's last stored seq in a dataset (where its next chunk's seq starts).
#[utoipa::path(get, path = "/v1/datasets/{name}/sources/{source}/last-seq",
    params(("name" = String, Path, description = "dataset"),
           ("source" = String, Path, description = "the calling source itself")),
    responses((status = 200, body = LastSeq), Unauthorized, Forbidden))]
pub(super) async fn last_seq(
    Path((name, source)): Path<(String, String)>,
    req: Signed,
) -> ApiResult<Json<LastSeq>> {
    require_self(&req, &name, &source).await?;
    let last_seq = req
        .state
        .with_store(move |s| Ok(s.last_seq(&name, &source)?))
        .await?;
    Ok(Json(LastSeq { last_seq }))
}

/// The caller's stored chunks of one input file (blake3 of its bytes, hex), by index: what
/// an interrupted upload of that file already stored.
#[utoipa::path(get, path = "/v1/datasets/{name}/sources/{source}/files/{file_hash}",
    params(("name" = String, Path, description = "dataset"),
           ("source" = String, Path, description = "the calling source itself"),
           ("file_hash" = String, Path, description = "blake3 of the file, 64 hex digits")),
    responses((status = 200, body = Vec<FileChunkInfo>), BadRequest, Unauthorized, Forbidden))]
pub(super) async fn file_chunks(
    Path((name, source, file_hash)): Path<(String, String, String)>,
    req: Signed,
) -> ApiResult<Json<Vec<FileChunkInfo>>> {
    require_self(&req, &name, &source).await?;
    let hash = unhex32("file_hash", &file_hash).map_err(|e| bad(e.to_string()))?;
    let out = req
        .state
        .with_store(move |s| Ok(s.file_chunks(&name, &source, &hash)?))
        .await?;
    Ok(Json(
        out.into_iter()
            .map(|c| FileChunkInfo {
                id: c.id,
                seq: c.seq,
                index: c.index,
                count: c.count,
            })
            .collect(),
    ))
}

/// Every chunk of a dataset in `(source, seq)` order: public columns, signature, origin and
/// part hashes, so the reader checks each source signature itself. A source granted the
/// dataset gets its own chunks only.
#[utoipa::path(get, path = "/v1/datasets/{name}/chunks",
    params(("name" = String, Path, description = "dataset")),
    responses((status = 200, body = Vec<ChunkInfo>), Unauthorized, Forbidden, NotFound))]
pub(super) async fn list_chunks(
    Path(name): Path<String>,
    req: Signed,
) -> ApiResult<Json<Vec<ChunkInfo>>> {
    let state = &req.state; // A source granted the dataset lists its own chunks only (what `dtfhe model score
                            // --server` reads back its predictions by); the readers list every chunk.
    let only_source = if req.caller.role == Role::Source {
        req.require_dataset(&[Role::Source], &name).await?;
        Some(req.caller.name.clone())
    } else {
        require_reader(&req, &name).await?;
        None
    };
    let out = state
        .with_store(move |s| {
            let mut metas = s.chunks(&name)?;
            if let Some(me) = &only_source {
                metas.retain(|m| &m.source == me);
            }
            let provenance: std::collections::HashMap<i64, dtfhe_model::ChunkProvenance> = s
                .chunk_provenance(&name)?
                .into_iter()
                .map(|p| (p.id, p))
                .collect();
            metas
                .into_iter()
                .map(|m| {
                    let p = provenance.get(&m.id).ok_or_else(|| {
                        ApiProblem(Problem::internal(format!(
                            "chunk {}: no signature record",
                            m.id
                        )))
                    })?;
                    let parts = s
                        .parts(m.id)?
                        .into_iter()
                        .map(|p| PartInfo {
                            column: p.column,
                            part: p.part,
                            hash: p.hash,
                            size: p.size,
                        })
                        .collect();
                    Ok(ChunkInfo {
                        id: m.id,
                        source: m.source,
                        seq: m.seq,
                        rows: m.rows,
                        public: b64(&m.public),
                        signature: b64(&p.signature),
                        origin: p.origin.map(|o| OriginInfo {
                            file_hash: hex::encode(o.file_hash),
                            index: o.index,
                            count: o.count,
                        }),
                        parts,
                    })
                })
                .collect::<Result<Vec<_>, ApiProblem>>()
        })
        .await?;
    Ok(Json(out))
}

/// The ciphertext bytes of one part of a chunk (re-hashed by the store on read; the reader
/// re-hashes them again against what the source signed).
#[utoipa::path(get, path = "/v1/chunks/{id}/parts/{column}/{part}",
    params(("id" = i64, Path, description = "chunk id"),
           ("column" = String, Path, description = "encrypted column"),
           ("part" = String, Path, description = "part name")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              Unauthorized, Forbidden, NotFound))]
pub(super) async fn part_bytes(
    Path((id, column, part)): Path<(i64, String, String)>,
    req: Signed,
) -> ApiResult<impl IntoResponse> {
    let dataset = req
        .state
        .with_store(move |s| Ok(s.chunk_dataset(id)?))
        .await?;
    let Some(dataset) = dataset else {
        // Check the role first, so an unknown id tells an unauthorised caller nothing.
        req.require(&[Role::Analyst, Role::Trustee, Role::Auditor])
            .await?;
        return Err(ApiProblem(Problem::not_found(format!("no chunk {id}"))));
    };
    require_reader(&req, &dataset).await?;
    let (c, p) = (column.clone(), part.clone());
    let bytes = req
        .state
        .with_store(move |s| Ok(s.part(id, &c, &p)?))
        .await?
        .ok_or_else(|| {
            ApiProblem(Problem::not_found(format!(
                "chunk {id} has no part {column}/{part}"
            )))
        })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
