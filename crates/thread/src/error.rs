//! Errors of the thread-model layer. Messages name file, line and column, never a value of an
//! encrypted column.

/// Everything that can be wrong with a schema or a CSV file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThreadError {
    /// Placeholder until the helper fills the real variants.
    #[error("{0}")]
    Other(String),
}
