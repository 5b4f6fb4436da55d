//! A factory's trustee. It holds one secret-key share of the deployment in its own directory
//! (file mode 0600, never in the platform's store), and it is the only party that can help
//! decrypt. For every release request it applies the release rules itself (the
//! `dtfhe-release` pipeline: k rows per group, no identifier filters, no overflow, noise the
//! flooding hides, and its own disclosure audit or DP budget) and only then answers with its
//! flooded coefficient-0 share.
#![forbid(unsafe_code)]

pub mod catchup;
pub mod daemon;
pub mod dealing;
pub mod keystore;
pub mod progress;
pub mod quorum;
pub mod refusal;
pub mod resharing;
mod score_review;
pub mod shares;

pub use keystore::Trustee;

/// Why a trustee refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrusteeError {
    /// The request breaks a release rule; nothing was decrypted.
    #[error("trustee {trustee} refuses: {reason}")]
    Refused {
        /// Which trustee.
        trustee: String,
        /// The rule and the facts it concerns.
        reason: dtfhe_release::Refusal,
    },
    /// The trustee's policy, audit record or DP log cannot be read or written.
    #[error("trustee {trustee}: {source}")]
    Disclosure {
        /// Which trustee.
        trustee: String,
        /// What failed.
        source: dtfhe_release::DisclosureError,
    },
    /// The key share is damaged, or does not match the public-key share this trustee gave in
    /// the key ceremony: the trustee answers nothing (no share computed, none logged) until
    /// the file is restored.
    #[error(
        "trustee {trustee} refuses to answer: its key share {path} {problem}; restore the file \
         from a backup (nothing was decrypted)"
    )]
    KeyShare {
        /// Which trustee.
        trustee: String,
        /// The share file.
        path: String,
        /// What is wrong.
        problem: keystore::KeyShareProblem,
    },
    /// The key share could not be stored or read.
    #[error("trustee key store {path}: {reason}")]
    KeyStore {
        /// File or directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The trustee's share log (`shares.log`) cannot be read or written, or a line of it is
    /// corrupted; the trustee answers nothing until it is repaired.
    #[error("trustee share log {path}: {reason}; no share was given")]
    ShareLog {
        /// The log file.
        path: String,
        /// What is wrong (names the line).
        reason: String,
    },
    /// The trustee's ceremony progress file (its round secret and the messages it gave,
    /// kept so a restart can finish the key ceremony) cannot be used.
    #[error(
        "trustee {trustee}: its ceremony progress file {path} {problem}; the key ceremony \
         cannot be finished from it: restore the file from a backup, or start a new ceremony"
    )]
    CeremonyProgress {
        /// Which trustee.
        trustee: String,
        /// The progress file.
        path: String,
        /// What is wrong (boxed: it may carry a crypto error, and this error travels in
        /// every trustee `Result`).
        problem: Box<progress::ProgressProblem>,
    },
    /// A t-of-n release names a set other than the one this trustee already answered for one
    /// of its ciphertexts: one set per ciphertext, so shares of two sets never both exist.
    #[error(
        "refused: ciphertext {ciphertext} was already released by the trustee set {{{answered}}}; \
         this request names the set {{{requested}}} (one set per ciphertext; nothing was given)"
    )]
    OtherSet {
        /// The ciphertext's hash (hex).
        ciphertext: String,
        /// The set answered before (points).
        answered: String,
        /// The set requested now (points).
        requested: String,
    },
    /// A share dealt to this trustee in the t-of-n dealing does not open, is not the one
    /// expected, or does not match its dealer's public commitment: refused, and no
    /// threshold secret is kept.
    #[error(
        "trustee {trustee} refuses the share dealt by {dealer}: {source}; no threshold secret \
         was kept"
    )]
    DealtShare {
        /// This trustee.
        trustee: String,
        /// The dealer named.
        dealer: String,
        /// Why (never a residue).
        source: dtfhe_crypto::CryptoError,
    },
    /// A trustee that joined by proactive re-sharing (`dtfhe trustee --join`) holds a
    /// threshold secret only: anything that needs an n-of-n key share (the key ceremony, the
    /// first dealing, an n-of-n release, per-row scoring) is refused, naming it.
    #[error(
        "trustee {trustee} joined by re-sharing and holds no n-of-n key share: only t-of-n \
         releases with its threshold secret; this needs the key share of the key ceremony \
         (refused, nothing was decrypted)"
    )]
    Joined {
        /// The trustee that joined.
        trustee: String,
    },
    /// A proactive re-sharing dealt to this trustee does not check out: a share that does
    /// not open or match its re-dealer's commitment, or re-dealers whose constant terms do
    /// not carry the secret of the sharing before (`same_secret`). Refused; the kept
    /// threshold secret is not replaced.
    #[error(
        "trustee {trustee} refuses the re-sharing of epoch {epoch}{by}: {source}; its threshold \
         secret was not replaced",
        by = dealer.as_ref().map(|d| format!(" by {d}")).unwrap_or_default()
    )]
    Reshared {
        /// This trustee.
        trustee: String,
        /// The re-sharing's epoch.
        epoch: u32,
        /// The re-dealer named, when one share is at fault (`None`: the re-sharing as a
        /// whole).
        dealer: Option<String>,
        /// Why (never a residue).
        source: dtfhe_crypto::CryptoError,
    },
    /// A cryptographic failure.
    #[error(transparent)]
    Crypto(#[from] dtfhe_crypto::CryptoError),
}
