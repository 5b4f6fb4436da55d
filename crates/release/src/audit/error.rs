//! Typed errors of the disclosure auditor: a refusal (the release would disclose), bad input
//! (row sets that cannot be right), and state-file failures naming the field at fault.

use std::path::PathBuf;

/// The audit refused a release: with the earlier releases of `dataset` it would make the total of
/// a set of fewer than `k` rows derivable by subtraction. Nothing may be decrypted.
///
/// Deliberately carries neither the size of that set nor which rows it holds: the message goes to
/// the analyst, and the exact size would itself leak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The base dataset whose rows would be disclosed.
    pub dataset: String,
    /// Ids of earlier releases (at most 5, most recent first) that the refused release would combine
    /// with; empty when the release discloses a small set on its own.
    pub combines_with: Vec<String>,
    /// The minimum number of rows a derivable total must cover.
    pub k: u64,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "release refused by the disclosure audit of dataset {:?}: ",
            self.dataset
        )?;
        if self.combines_with.is_empty() {
            write!(f, "its groups, compared with each other,")?;
        } else {
            write!(f, "combined with earlier release")?;
            if self.combines_with.len() > 1 {
                write!(f, "s")?;
            }
            let ids: Vec<String> = self
                .combines_with
                .iter()
                .map(|s| format!("{s:?}"))
                .collect();
            write!(f, " {} it", ids.join(", "))?;
        }
        write!(
            f,
            " would reveal by subtraction the total of fewer than k = {} rows; nothing was released",
            self.k
        )
    }
}

impl std::error::Error for Refusal {}

/// Row sets that cannot describe a real release (caller bug or hostile input).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// A chunk claims more rows than any chunk may hold.
    #[error("chunk {source_name}#{seq} claims {rows} rows, above the limit")]
    ChunkTooLarge {
        /// The chunk's source.
        source_name: String,
        /// The chunk's sequence number.
        seq: u64,
        /// The claimed row count.
        rows: u32,
    },
    /// A selection is not strictly increasing or names a row past the chunk's end.
    #[error("chunk {source_name}#{seq}: selected rows are not strictly increasing row indices below the row count")]
    BadSelection {
        /// The chunk's source.
        source_name: String,
        /// The chunk's sequence number.
        seq: u64,
    },
    /// A chunk's row count differs from the one seen before (chunks are immutable).
    #[error("chunk {source_name}#{seq} has {stored} rows, but a row set says {given}")]
    ChunkSizeMismatch {
        /// The chunk's source.
        source_name: String,
        /// The chunk's sequence number.
        seq: u64,
        /// The row count already known.
        stored: u32,
        /// The row count given now.
        given: u32,
    },
    /// A dataset would exceed the number of cells the state can index.
    #[error("dataset {0:?} would exceed the cell limit")]
    TooManyCells(String),
    /// The audit state would remember more rows than it may hold.
    #[error("dataset {0:?}: the audit state would exceed its row limit")]
    TooManyRows(String),
    /// The release id is empty or too long to store.
    #[error("release id must be 1..={max} bytes", max = super::codec::MAX_NAME)]
    BadReleaseId,
    /// The dataset name is empty or too long to store.
    #[error("dataset name must be 1..={max} bytes", max = super::codec::MAX_NAME)]
    BadDatasetName,
}

/// Why a check did not approve.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The release would disclose; see [`Refusal`].
    #[error(transparent)]
    Refused(Refusal),
    /// The row sets are malformed.
    #[error(transparent)]
    Invalid(#[from] InputError),
    /// An earlier commit failed to reach disk: reopen the auditor from its file.
    #[error("the audit state could not be saved earlier; reopen it before checking")]
    Poisoned,
}

/// Failures to load, save or update the durable audit state.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing the state file failed.
    #[error("audit state {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The state file is malformed.
    #[error("audit state is corrupt: {0}")]
    Decode(#[from] DecodeError),
    /// The approval was computed against a state that has changed since (another commit).
    #[error("approval is stale: the audit state changed after the check; check again")]
    StaleApproval,
    /// The approval came from another auditor.
    #[error("approval belongs to another auditor")]
    ForeignApproval,
    /// The commit's input is malformed.
    #[error(transparent)]
    Invalid(#[from] InputError),
    /// An earlier commit failed to reach disk: reopen the auditor from its file.
    #[error("the audit state could not be saved earlier; reopen it")]
    Poisoned,
}

/// A malformed state file: which field, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The file does not start with the state magic.
    #[error("not an audit state file (bad magic)")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported audit state format version {0}")]
    UnsupportedVersion(u8),
    /// The checksum does not match the contents.
    #[error("checksum mismatch")]
    Checksum,
    /// The file ends inside a field.
    #[error("truncated in field {0}")]
    Truncated(&'static str),
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("malformed integer in field {0}")]
    BadVarint(&'static str),
    /// A length or count larger than the file could hold or than the limits allow.
    #[error("absurd length {len} in field {field}")]
    AbsurdLength {
        /// The field.
        field: &'static str,
        /// The decoded length.
        len: u64,
    },
    /// A value out of its allowed range.
    #[error("value out of range in field {0}")]
    OutOfRange(&'static str),
    /// Sizes that disagree with each other (for instance runs not summing to the row count).
    #[error("inconsistent sizes in field {0}")]
    Inconsistent(&'static str),
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in field {0}")]
    BadUtf8(&'static str),
    /// Names or keys out of order or repeated.
    #[error("entries out of order or repeated in field {0}")]
    Order(&'static str),
    /// Bytes after the end of the state.
    #[error("{0} trailing bytes after the state")]
    TrailingBytes(usize),
}
