//! [`ChunkReader`]: what the engine reads to compute on a dataset, with its own typed error
//! ([`ChunkReadError`]) so callers decide (retry, refuse, report tampering) by variant, never
//! by the text of a message.

use crate::chunk::ChunkMeta;

/// What the engine reads to compute on a dataset: chunk metadata (public columns, row
/// counts) and ciphertext parts.
///
/// The platform's store implements it directly. A trustee or analyst that re-derives a
/// computation from a remote platform implements it over the HTTP API (checking every
/// chunk's source signature and every blob hash), so the same engine code runs on both sides
/// and computes the same ciphertexts.
pub trait ChunkReader {
    /// All chunks of a dataset in `(source, seq)` order, without ciphertext bytes.
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError>;
    /// The bytes of one ciphertext part of a chunk, or `None` if the chunk has no such part.
    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead;
}

/// What [`ChunkReader::part`] returns: the part's bytes, `None` when the chunk has no such
/// part, or why it could not be read.
pub type PartRead = Result<Option<Vec<u8>>, ChunkReadError>;

/// Why a [`ChunkReader`] could not read.
///
/// The variants are the decisions a caller makes: [`ChunkReadError::Unavailable`] may succeed
/// on retry (the platform was unreachable or failed), [`ChunkReadError::Tampered`] must be
/// reported as an integrity failure, the others are refusals. `Clone + Eq` so the engine's
/// own error can carry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkReadError {
    /// The dataset is not registered.
    #[error("unknown dataset `{dataset}`")]
    UnknownDataset {
        /// Dataset name.
        dataset: String,
    },
    /// Stored or served bytes do not match what their source signed (or what the ledger
    /// recorded).
    #[error("tampering detected: {what}")]
    Tampered {
        /// What does not match, naming the chunk and part.
        what: String,
    },
    /// The remote platform could not be reached or answered with an error; retrying later
    /// may succeed.
    #[error("platform: {reason}")]
    Unavailable {
        /// The transport or HTTP failure.
        reason: String,
    },
    /// The local store failed (database or file error).
    #[error("{reason}")]
    Storage {
        /// The store's own error message.
        reason: String,
    },
    /// The reader was asked for something it cannot serve (a part of a chunk it never
    /// listed) or is in a broken state.
    #[error("chunk reader: {reason}")]
    Invalid {
        /// What was wrong.
        reason: String,
    },
}

/// The chunks one computation saw: for each dataset it listed, the highest chunk id listed
/// (0 when it had none).
///
/// Chunk ids are assigned in commit order (the store serializes its writers), so "every
/// chunk of the dataset up to this id" names exactly the set the platform computed over.
/// A release request carries it; a trustee or analyst that re-derives the computation reads
/// through a [`PinnedReader`], so a chunk that lands while the release is reviewed neither
/// changes the re-derived ciphertexts nor makes the trustees refuse. The platform cannot
/// pick a subset with it: below the pin every listed chunk counts.
pub type ChunkPin = std::collections::BTreeMap<String, i64>;

/// A reader that records the [`ChunkPin`] of what it lists (the platform's side).
pub struct RecordingReader<'a> {
    inner: &'a dyn ChunkReader,
    pin: std::sync::Mutex<ChunkPin>,
}

impl<'a> RecordingReader<'a> {
    /// Records what `inner` lists.
    pub fn new(inner: &'a dyn ChunkReader) -> Self {
        RecordingReader {
            inner,
            pin: std::sync::Mutex::new(ChunkPin::new()),
        }
    }

    /// The pin of every dataset listed so far.
    pub fn pin(&self) -> ChunkPin {
        self.pin.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl ChunkReader for RecordingReader<'_> {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
        let chunks = self.inner.chunks(dataset)?;
        let highest = chunks.iter().map(|c| c.id).max().unwrap_or(0);
        let mut pin = self.pin.lock().map_err(|_| ChunkReadError::Invalid {
            reason: "pin lock poisoned".into(),
        })?;
        let at = pin.entry(dataset.to_string()).or_insert(highest);
        *at = (*at).max(highest);
        Ok(chunks)
    }

    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead {
        self.inner.part(chunk_id, column, part)
    }
}

/// A reader that lists only the chunks a [`ChunkPin`] names (the reviewer's side): those
/// of the dataset with an id up to the pin. A dataset the pin does not name is refused, so
/// a request cannot leave the set open.
pub struct PinnedReader<'a> {
    inner: &'a dyn ChunkReader,
    pin: &'a ChunkPin,
}

impl<'a> PinnedReader<'a> {
    /// `inner`, cut at `pin`.
    pub fn new(inner: &'a dyn ChunkReader, pin: &'a ChunkPin) -> Self {
        PinnedReader { inner, pin }
    }
}

impl ChunkReader for PinnedReader<'_> {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
        let upto = *self
            .pin
            .get(dataset)
            .ok_or_else(|| ChunkReadError::Invalid {
                reason: format!("the request does not say which chunks of `{dataset}` it covers"),
            })?;
        let mut chunks = self.inner.chunks(dataset)?;
        chunks.retain(|c| c.id <= upto);
        Ok(chunks)
    }

    fn part(&self, chunk_id: i64, column: &str, part: &str) -> PartRead {
        self.inner.part(chunk_id, column, part)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A dataset `d` with chunks 1, 3 and 7 (ids; other datasets unknown).
    struct Three;

    impl ChunkReader for Three {
        fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
            if dataset != "d" {
                return Err(ChunkReadError::UnknownDataset {
                    dataset: dataset.into(),
                });
            }
            Ok([1, 3, 7]
                .map(|id| ChunkMeta {
                    id,
                    source: "s".into(),
                    seq: id as u64,
                    rows: 1,
                    public: Vec::new(),
                })
                .to_vec())
        }

        fn part(&self, _: i64, _: &str, _: &str) -> PartRead {
            Ok(None)
        }
    }

    fn ids(r: &dyn ChunkReader) -> Vec<i64> {
        r.chunks("d").unwrap().iter().map(|c| c.id).collect()
    }

    #[test]
    fn recording_pins_the_highest_listed_id_and_pinned_cuts_there() {
        let rec = RecordingReader::new(&Three);
        assert_eq!(ids(&rec), [1, 3, 7]);
        assert_eq!(rec.pin(), ChunkPin::from([("d".to_string(), 7)]));
        let pin = ChunkPin::from([("d".to_string(), 3)]);
        assert_eq!(ids(&PinnedReader::new(&Three, &pin)), [1, 3]);
        let pin = ChunkPin::from([("d".to_string(), 0)]);
        assert!(ids(&PinnedReader::new(&Three, &pin)).is_empty());
    }

    #[test]
    fn a_dataset_the_pin_does_not_name_is_refused() {
        let pin = ChunkPin::from([("other".to_string(), 9)]);
        let err = PinnedReader::new(&Three, &pin).chunks("d").unwrap_err();
        assert!(matches!(err, ChunkReadError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("`d`"), "{err}");
    }
}
