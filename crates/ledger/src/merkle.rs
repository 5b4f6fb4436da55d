//! RFC 6962 (and RFC 9162 §2.1) Merkle tree hashing with SHA-256.
//!
//! - leaf hash: `SHA-256(0x00 || entry bytes)`;
//! - interior node: `SHA-256(0x01 || left || right)`;
//! - the tree over `n` leaves splits at `k`, the largest power of two
//!   smaller than `n`; the empty tree's root is `SHA-256("")`.
//!
//! Functions take the leaf hashes as a slice, so any storage can feed them
//! (the store reads its `leaf_hash` column). Roots and proofs are recomputed
//! from the leaves in O(n) hashes; that is fine up to ~1e5–1e6 leaves and
//! keeps the code a literal transcription of the RFC. Verification follows
//! RFC 9162 §2.1.3.2 and §2.1.4.2 and never panics on hostile input.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::LedgerError;

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// Root of the empty tree, `SHA-256("")`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Longest proof accepted by the verifiers: a tree of 2^64 leaves needs at
/// most 64 hashes for inclusion and 65 for consistency.
const MAX_PROOF_LEN: usize = 65;

/// The leaf hash of an entry's bytes: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Compares two roots (or any hashes) in constant time.
pub fn root_eq(a: &Hash, b: &Hash) -> bool {
    a.ct_eq(b).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1usize;
    while k < n - k {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash `MTH(D[n])` of a list of leaf hashes (any size,
/// including the empty list, whose root is [`EMPTY_ROOT`]).
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => EMPTY_ROOT,
        1 => leaf_hashes[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaf_hashes[..k]), &root(&leaf_hashes[k..]))
        }
    }
}

/// Takes the first `size` leaf hashes, or explains why it cannot.
fn prefix(hashes: &[Hash], size: u64) -> Result<&[Hash], LedgerError> {
    usize::try_from(size)
        .ok()
        .and_then(|s| hashes.get(..s))
        .ok_or_else(|| {
            LedgerError::InvalidProofRequest(format!(
                "tree size {size} exceeds the {} leaf hashes given",
                hashes.len()
            ))
        })
}

/// The inclusion proof (`PATH(index, D[size])`, RFC 6962 §2.1.1) of leaf
/// `index` in the tree made of the first `size` of `hashes`.
///
/// Fails if `index >= size` or `size > hashes.len()`.
pub fn prove_inclusion(index: u64, size: u64, hashes: &[Hash]) -> Result<Vec<Hash>, LedgerError> {
    let leaves = prefix(hashes, size)?;
    if index >= size {
        return Err(LedgerError::InvalidProofRequest(format!(
            "leaf index {index} is outside a tree of size {size}"
        )));
    }
    let mut proof = Vec::new();
    // index < size <= usize::MAX, checked above.
    path(index as usize, leaves, &mut proof);
    Ok(proof)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2). Any malformed input (index out
/// of range, proof of the wrong length, ...) is `false`, never a panic.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size || proof.len() > MAX_PROOF_LEN {
        return false;
    }
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return false;
        }
        r = if proof_step(&mut fnode, &mut snode) {
            node_hash(p, &r)
        } else {
            node_hash(&r, p)
        };
    }
    snode == 0 && root_eq(&r, root)
}

/// One step up the walk of RFC 9162's proof verification (§2.1.3.2 and §2.1.4.2 alike,
/// `fnode` and `snode` as named there, `snode` not 0): whether the step's proof hash is
/// the left one (hashed in front of the running hash); moves `fnode` and `snode` to the
/// next step's nodes.
fn proof_step(fnode: &mut u64, snode: &mut u64) -> bool {
    let left = *fnode & 1 == 1 || *fnode == *snode;
    if left && *fnode & 1 == 0 {
        while *fnode & 1 == 0 && *fnode != 0 {
            *fnode >>= 1;
            *snode >>= 1;
        }
    }
    *fnode >>= 1;
    *snode >>= 1;
    left
}

/// The consistency proof (`PROOF(old_size, D[new_size])`, RFC 6962 §2.1.2)
/// between the trees made of the first `old_size` and `new_size` of
/// `hashes`. Empty when `old_size` is 0 or equals `new_size`.
///
/// Fails if `old_size > new_size` or `new_size > hashes.len()`.
pub fn prove_consistency(
    old_size: u64,
    new_size: u64,
    hashes: &[Hash],
) -> Result<Vec<Hash>, LedgerError> {
    let leaves = prefix(hashes, new_size)?;
    if old_size > new_size {
        return Err(LedgerError::InvalidProofRequest(format!(
            "old size {old_size} exceeds new size {new_size}"
        )));
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        // old_size < new_size <= usize::MAX, checked above.
        subproof(old_size as usize, leaves, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`
/// (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots; an empty old tree needs
/// an empty proof and `old_root == EMPTY_ROOT`. Malformed input is `false`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size || proof.len() > MAX_PROOF_LEN {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && root_eq(old_root, new_root);
    }
    if old_size == 0 {
        return proof.is_empty() && root_eq(old_root, &EMPTY_ROOT);
    }
    // 0 < old_size < new_size from here on.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let mut fnode = old_size - 1;
    let mut snode = new_size - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if snode == 0 {
            return false;
        }
        if proof_step(&mut fnode, &mut snode) {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    }
    // Both comparisons are always evaluated, in constant time.
    let ok_old = root_eq(&fr, old_root);
    let ok_new = root_eq(&sr, new_root);
    snode == 0 && ok_old && ok_new
}

/// The compact state of a growing tree: the roots of its perfect subtrees,
/// largest first (at most 64 hashes).
///
/// Appending a leaf and computing the root are O(log n), so a writer can
/// sign a checkpoint after every append without re-reading all the leaves,
/// and a verifier can check the roots of every prefix in one pass. The
/// root equals [`root`] over the same leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut h = leaf_hash;
        let mut s = self.size;
        while s & 1 == 1 {
            match self.nodes.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break, // unreachable: one node per set bit of size
            }
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The root of the tree of the leaves appended so far (`EMPTY_ROOT` if
    /// none).
    pub fn root(&self) -> Hash {
        match self.nodes.split_last() {
            None => EMPTY_ROOT,
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_largest_power_of_two_below() {
        for n in 2usize..2000 {
            let k = split(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n} k={k}");
        }
    }

    #[test]
    fn frontier_root_equals_rfc_root() {
        let hs: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::new();
        assert_eq!(f.root(), EMPTY_ROOT);
        for (n, h) in hs.iter().enumerate() {
            f.push(*h);
            assert_eq!(f.size(), n as u64 + 1);
            assert_eq!(f.root(), root(&hs[..=n]), "size {}", n + 1);
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let h: Hash = Sha256::digest(b"").into();
        assert_eq!(h, EMPTY_ROOT);
        assert_eq!(root(&[]), EMPTY_ROOT);
    }
}
