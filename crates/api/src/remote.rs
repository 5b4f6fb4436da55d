//! What every client of a networked deployment reads from the platform before it can check
//! or compute anything: the deployment (parameters and relinearisation key, decoded) and the
//! registered dataset schemas. Shared by the trustee daemon and the analyst, so neither
//! depends on the other.

use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::{codec, CryptoError, Params};
use dtfhe_model::{Schema, ThreadError};

use crate::types::{unb64, DatasetInfo, DeploymentInfo, FieldError};
use crate::{ApiError, Client};

/// Why the platform's deployment or schemas cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The platform could not be asked (unreachable, refused, bad answer).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A binary field of the deployment is not base64 (names the field).
    #[error("the platform's deployment: {0}")]
    Field(#[from] FieldError),
    /// The deployment's preset or relinearisation key does not decode.
    #[error("the platform's deployment: {0}")]
    Keys(#[from] CryptoError),
    /// A registered schema does not parse.
    #[error("registered schema of `{dataset}`: {source}")]
    Schema {
        /// The dataset it is registered for.
        dataset: String,
        /// Why it does not parse (boxed: the error stays small on the `Ok` path).
        source: Box<ThreadError>,
    },
}

/// Every registered dataset schema, from `GET /v1/datasets`.
pub fn remote_schemas(client: &Client) -> Result<Vec<Schema>, RemoteError> {
    let list: Vec<DatasetInfo> = client.get_json("/v1/datasets")?;
    list.into_iter()
        .map(|d| {
            Schema::from_toml_str(&d.schema_toml, &format!("schema of `{}`", d.name)).map_err(
                |source| RemoteError::Schema {
                    dataset: d.name.clone(),
                    source: Box::new(source),
                },
            )
        })
        .collect()
}

/// The deployment with its parameters and multiplier.
pub struct RemoteDeployment {
    /// The public record.
    pub info: DeploymentInfo,
    /// Its parameters.
    pub params: Params,
    /// The multiplier (relinearisation key).
    pub multiplier: Multiplier,
}

dtfhe_model::debug_public_fields!(RemoteDeployment, |v| {
    preset: v.info.preset,
    trustees: v.info.trustees,
});

/// `GET /v1/deployment`, decoded.
pub fn remote_deployment(client: &Client) -> Result<RemoteDeployment, RemoteError> {
    let info: DeploymentInfo = client.get_json("/v1/deployment")?;
    let params = dtfhe_crypto::params_by_name(&info.preset)?;
    let relin = unb64("relin_key", &info.relin_key)?;
    let relin = codec::decode_relin_key(&params, &relin)?;
    let multiplier = Multiplier::new(&params, relin)?;
    Ok(RemoteDeployment {
        info,
        params,
        multiplier,
    })
}
