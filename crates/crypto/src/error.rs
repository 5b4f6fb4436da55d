//! Errors of the crypto layer. No message ever carries a key coefficient or a plaintext.

/// Everything that can go wrong in the crypto glue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A parameter set violates a safety or correctness rule.
    #[error("invalid BFV parameters: {0}")]
    InvalidParameters(String),
    /// A preset name that does not exist.
    #[error("unknown parameter preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// The requested name.
        name: String,
        /// Comma-separated list of valid names.
        known: String,
    },
    /// Bytes that are not a valid encoded object.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which object was being decoded.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// An object made under other parameters, or of another kind.
    #[error("{what} does not match this deployment: {reason}")]
    Mismatch {
        /// Which object.
        what: &'static str,
        /// What differs.
        reason: String,
    },
    /// A value does not fit the plaintext space (caller's bounds were wrong).
    #[error("value out of the plaintext range: {0}")]
    OutOfRange(String),
    /// An error reported by the fhe.rs library.
    #[error("fhe library error: {0}")]
    Fhe(String),
    /// A step of the networked key ceremony taken out of order or with an inconsistent set of
    /// shares (e.g. a round repeated, a duplicated share, a share count that changed between
    /// rounds): the ceremony must be restarted rather than patched up.
    #[error("key ceremony: {0}")]
    Ceremony(String),
    /// A sealed (HPKE) message could not be produced: bad recipient key or oversized input.
    #[error("cannot seal to the recipient: {0}")]
    Seal(String),
    /// A sealed (HPKE) message could not be opened: malformed, altered, or meant for another
    /// recipient, `info` or `aad` (authenticated encryption cannot tell these apart).
    #[error("cannot open the sealed message: {0}")]
    Unseal(String),
}

impl From<fhe::Error> for CryptoError {
    fn from(e: fhe::Error) -> Self {
        CryptoError::Fhe(e.to_string())
    }
}

impl From<fhe_math::Error> for CryptoError {
    fn from(e: fhe_math::Error) -> Self {
        CryptoError::Fhe(e.to_string())
    }
}
