//! Errors of the thread-model layer. Messages name file, line and column, never a value of an
//! encrypted column.
//!
//! Every message starts with the origin (usually a file path), then — for CSV problems — the
//! 1-based line number in the file (the header line counts as line 1) and the schema name of
//! the column, then the reason. For example:
//!
//! ```text
//! engines.csv line 17, column "s2": value outside the declared range [640.00, 645.00]
//! ```
//!
//! The CLI appends its own "nothing was stored" suffix.

use std::fmt;

/// Everything that can be wrong with a schema, a CSV file or a stored public-column blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThreadError {
    /// The schema is well-formed TOML but not a valid dataset schema.
    #[error("{origin}: {problem}")]
    Schema {
        /// File (or other source) the schema came from.
        origin: String,
        /// What is wrong and where (dataset, `[csv]` or column, and the key); boxed so
        /// that every error carrying a `ThreadError` stays small.
        problem: Box<crate::schema_error::SchemaError>,
    },

    /// The schema is not valid TOML.
    #[error("{origin}{}: TOML syntax error: {message}", LineCol(*.line, *.column))]
    Toml {
        /// File the schema came from.
        origin: String,
        /// 1-based line of the error, when the parser reports a position.
        line: Option<usize>,
        /// 1-based column (in characters) of the error, when known.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },

    /// A CSV line is malformed or one of its fields is invalid.
    ///
    /// The reason never contains the value of an encrypted column.
    #[error("{origin} line {line}{}: {reason}", ColumnName(.column.as_deref()))]
    Csv {
        /// File the CSV came from.
        origin: String,
        /// 1-based line number in the file (the header counts as line 1).
        line: usize,
        /// Schema name of the offending column, when one is concerned.
        column: Option<String>,
        /// What is wrong.
        reason: String,
    },

    /// The CSV file has no data rows (it is empty, blank, or holds only a header).
    #[error("{origin}: no data rows")]
    NoDataRows {
        /// File the CSV came from.
        origin: String,
    },

    /// A fixed-point codec could not be built from a scale and range
    /// (see [`crate::FixedPoint::new`]).
    #[error("invalid fixed-point declaration: {reason}")]
    Codec {
        /// What is wrong with the declaration.
        reason: String,
    },

    /// A stored public-column blob could not be decoded
    /// (see [`crate::decode_public_columns`]).
    #[error("corrupt public-column data at byte {offset}: {reason}")]
    Decode {
        /// Byte offset in the blob where the problem was detected.
        offset: usize,
        /// What is wrong.
        reason: String,
    },

    /// A file could not be read.
    #[error("{origin}: cannot read: {source}")]
    Io {
        /// The path that was being read.
        origin: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Formats `" line L, column C"` when a position is known.
struct LineCol(Option<usize>, Option<usize>);

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(l), Some(c)) => write!(f, " line {l}, column {c}"),
            (Some(l), None) => write!(f, " line {l}"),
            _ => Ok(()),
        }
    }
}

/// Formats `", column \"name\""` when a column is concerned.
struct ColumnName<'a>(Option<&'a str>);

impl fmt::Display for ColumnName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, ", column \"{c}\""),
            None => Ok(()),
        }
    }
}

/// Adds `io(path, source)` to a role's error enum that has the variant
/// `Io { path: String, source: std::io::Error }`: an I/O error wrapped with the file,
/// directory or URL it concerns (the only context an OS error message lacks).
#[macro_export]
macro_rules! io_error_constructor {
    ($error:ident) => {
        impl $error {
            /// Wrap an I/O error with the path it concerns.
            pub fn io(path: &::std::path::Path, source: ::std::io::Error) -> $error {
                $error::Io {
                    path: path.display().to_string(),
                    source,
                }
            }
        }
    };
}

/// `From` conversions into a role's error enum for errors it keeps boxed (a large error of
/// another layer would make every `Result` of the enum as large):
/// `boxed_from!(CliError { Store: StoreError, Bench: BenchError })` wraps a `StoreError` as
/// `CliError::Store(Box::new(e))`, and so on.
#[macro_export]
macro_rules! boxed_from {
    ($error:ident { $($variant:ident: $source:ty),+ $(,)? }) => {
        $(
            impl From<$source> for $error {
                fn from(e: $source) -> Self {
                    $error::$variant(Box::new(e))
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_message_names_file_line_and_column() {
        let e = ThreadError::Csv {
            origin: "engines.csv".into(),
            line: 17,
            column: Some("s2".into()),
            reason: "value outside the declared range [640.00, 645.00]".into(),
        };
        assert_eq!(
            e.to_string(),
            "engines.csv line 17, column \"s2\": value outside the declared range [640.00, 645.00]"
        );
        let e = ThreadError::Csv {
            origin: "a.csv".into(),
            line: 3,
            column: None,
            reason: "wrong column count: expected 2, found 3".into(),
        };
        assert_eq!(
            e.to_string(),
            "a.csv line 3: wrong column count: expected 2, found 3"
        );
    }

    #[test]
    fn toml_message_has_position() {
        let e = ThreadError::Toml {
            origin: "s.toml".into(),
            line: Some(2),
            column: Some(5),
            message: "bad".into(),
        };
        assert_eq!(
            e.to_string(),
            "s.toml line 2, column 5: TOML syntax error: bad"
        );
    }
}
