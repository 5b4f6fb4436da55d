//! The two proofs a ledger reader asks for, as the store produces them and the platform
//! sends them (`GET /v1/ledger/inclusion/{seq}`, `GET /v1/ledger/consistency`): one type
//! each, so what an auditor verifies is exactly what the store proved. Hashes are 32 bytes
//! in memory and lowercase hex in JSON.

use serde::{Deserialize, Serialize};

use crate::merkle::Hash;

/// Proof that one ledger entry is in the tree of a given size, with the signed checkpoint
/// for that size (verify with [`crate::verify_inclusion`] and [`crate::verify_checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    /// The entry's sequence number (leaf index).
    pub seq: u64,
    /// The entry's leaf hash.
    #[serde(with = "hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub leaf_hash: Hash,
    /// Tree size the proof is for (the ledger's size when it was made).
    pub size: u64,
    /// Root of that tree.
    #[serde(with = "hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub root: Hash,
    /// The RFC 6962 audit path.
    #[serde(with = "hex_hashes")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub proof: Vec<Hash>,
    /// The signed checkpoint for `(size, root)`.
    pub checkpoint: String,
}

/// Proof that the ledger at `old_size` entries is a prefix of the ledger at `new_size`
/// entries (verify with [`crate::verify_consistency`]), with the checkpoints stored at both
/// sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// Root at the older size.
    #[serde(with = "hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub old_root: Hash,
    /// Root at the newer size.
    #[serde(with = "hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub new_root: Hash,
    /// The RFC 6962 consistency proof.
    #[serde(with = "hex_hashes")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub proof: Vec<Hash>,
    /// The signed checkpoint at the older size, if one was stored.
    pub old_checkpoint: Option<String>,
    /// The signed checkpoint at the newer size, if one was stored.
    pub new_checkpoint: Option<String>,
}

/// One hash as 64 hex digits.
mod hex_hash {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::merkle::Hash;

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(D::Error::custom)
    }
}

/// A list of hashes, each as 64 hex digits.
mod hex_hashes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::merkle::Hash;

    pub fn serialize<S: Serializer>(hs: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hs.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| super::parse(t).map_err(D::Error::custom))
            .collect()
    }
}

/// A hash in a proof that is not 64 hex digits (the error says what is wrong, not the text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a hash must be 64 hex digits ({0})")]
pub struct HexHashError(hex::FromHexError);

/// A hash from 64 hex digits.
fn parse(text: &str) -> Result<Hash, HexHashError> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(text, &mut h).map_err(HexHashError)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn consistency() -> ConsistencyProof {
        ConsistencyProof {
            old_size: 3,
            new_size: 7,
            old_root: [1; 32],
            new_root: [2; 32],
            proof: vec![[3; 32], [4; 32]],
            old_checkpoint: None,
            new_checkpoint: Some("cp".into()),
        }
    }

    #[test]
    fn hashes_travel_as_hex_and_come_back() {
        let p = consistency();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["old_root"], "01".repeat(32));
        assert_eq!(json["proof"][1], "04".repeat(32));
        assert_eq!(serde_json::from_value::<ConsistencyProof>(json).unwrap(), p);
    }

    #[test]
    fn a_short_or_non_hex_hash_is_refused() {
        let mut json = serde_json::to_value(consistency()).unwrap();
        json["new_root"] = "ab".into();
        let e = serde_json::from_value::<ConsistencyProof>(json.clone()).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        json["new_root"] = "zz".repeat(32).into();
        assert!(serde_json::from_value::<ConsistencyProof>(json.clone()).is_err());
        json["new_root"] = "02".repeat(32).into();
        json["proof"][0] = "0".into();
        assert!(serde_json::from_value::<ConsistencyProof>(json).is_err());
    }
}
