//! Why a trustee refuses a release request. The daemon decides on these variants; the text
//! is made only at the wire boundary (`ReleaseAnswer.reason`) and in logs.

use dtfhe_api::identity::PublicKeyError;
use dtfhe_api::release::StatementError;
use dtfhe_api::types::FieldError;
use dtfhe_api::ApiError;
use dtfhe_crypto::CryptoError;
use dtfhe_engine::EngineError;

use dtfhe_api::remote::RemoteError;

use crate::daemon::MISMATCH_REASON;

/// Why a trustee refused a release request (the reason sent to the platform and analyst).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewRefusal {
    /// The platform answered a check with a refusal that will not change.
    #[error("the platform refused a check: {0}")]
    PlatformRefused(ApiError),
    /// The analyst is not a registered identity.
    #[error("`{0}` is not a registered identity")]
    NotRegistered(String),
    /// The requester (or a model's fitter) was revoked by an admin: its requests are not
    /// answered, whatever the platform relays.
    #[error("`{0}` is a revoked identity")]
    Revoked(String),
    /// The requester is registered, but not as an analyst.
    #[error("`{0}` is not an analyst")]
    NotAnalyst(String),
    /// The requester (or a model's fitter) is registered with another role than needed.
    #[error("`{name}` is not registered as a {role:?} identity")]
    WrongRole {
        /// The identity.
        name: String,
        /// The role it needs.
        role: dtfhe_api::Role,
    },
    /// A scoring names a model without a valid registration (see
    /// `dtfhe_api::score::ModelRecord`).
    #[error("the model's provenance cannot be checked: {0}")]
    ModelProvenance(String),
    /// The analyst's registered key does not parse.
    #[error("`{analyst}`'s registered key: {source}")]
    AnalystKey {
        /// The analyst.
        analyst: String,
        /// What is wrong with the key.
        source: PublicKeyError,
    },
    /// The analyst's statement signature is refused.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// The statement is dated in the future beyond the allowed clock skew.
    #[error("the analyst's statement is dated {0} s in the future")]
    FutureStatement(u64),
    /// The statement is older than this trustee's limit.
    #[error("the analyst's statement is {age} s old, beyond this trustee's limit of {max} s")]
    StaleStatement {
        /// Its age, seconds.
        age: u64,
        /// The limit, seconds.
        max: u64,
    },
    /// The recipient field is not base64.
    #[error(transparent)]
    RecipientField(#[from] FieldError),
    /// The recipient bytes are not an HPKE public key.
    #[error("recipient key: {0}")]
    RecipientKey(CryptoError),
    /// The registered schemas cannot be used.
    #[error("{0}")]
    Schemas(RemoteError),
    /// The SQL does not plan against the registered schemas.
    #[error("the query cannot be planned: {0}")]
    Plan(EngineError),
    /// The request names another dataset than its SQL.
    #[error("the request names dataset `{named}` but the SQL queries `{queried}`")]
    DatasetMismatch {
        /// Dataset in the request.
        named: String,
        /// Dataset the SQL queries.
        queried: String,
    },
    /// The analyst has no grant for the dataset.
    #[error("`{analyst}` has no grant for dataset `{dataset}`")]
    NoGrant {
        /// The analyst.
        analyst: String,
        /// The dataset.
        dataset: String,
    },
    /// This trustee's local policy excludes the dataset.
    #[error("this trustee's local policy releases nothing of dataset `{0}`")]
    LocalPolicy(String),
    /// Re-deriving the computation over the signed chunks failed for good.
    #[error("re-deriving the computation failed: {0}")]
    Recompute(EngineError),
    /// The platform's ciphertexts are not the re-derived ones.
    #[error("{MISMATCH_REASON}")]
    CiphertextMismatch,
    /// The disclosure policy (k, DP budget, audit) refuses the release.
    #[error("{0}")]
    Policy(dtfhe_release::Refusal),
    /// This trustee's key share is damaged or no longer matches its ceremony public-key
    /// share ([`crate::TrusteeError::KeyShare`]: names the trustee and the file, never key
    /// material). Refused rather than left pending, so the analyst learns why at once;
    /// nothing was computed or logged, and the query can be asked again once the file is
    /// restored. Also a trustee that joined by re-sharing and holds no n-of-n key share
    /// ([`crate::TrusteeError::Joined`], naming it) asked for what needs one.
    #[error("{0}")]
    KeyShare(Box<crate::TrusteeError>),
    /// A t-of-n release this trustee cannot answer for the set the platform named: another
    /// set than the one it answered for one of these ciphertexts
    /// ([`crate::TrusteeError::OtherSet`]), or a set that is not a valid quorum with it.
    #[error("{0}")]
    Quorum(Box<crate::TrusteeError>),
    /// A t-of-n trustee that has not caught up: the ledger shows a release delivered that it
    /// neither answered nor recorded, and the platform does not list it to be recorded
    /// ([`crate::catchup`]).
    #[error(transparent)]
    CatchUp(crate::catchup::Gap),
}
