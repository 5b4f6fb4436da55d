//! C2SP signed notes (<https://c2sp.org/signed-note>) with ed25519 keys, and
//! checkpoints (<https://c2sp.org/tlog-checkpoint>) carried in them.
//!
//! A signed note is a text (UTF-8, no ASCII control character but newline,
//! ending in a newline), a blank line, then one line per signature:
//!
//! ```text
//! — <key name> <base64(key id (4 bytes) || ed25519 signature (64 bytes))>
//! ```
//!
//! The key id is the first 4 bytes of `SHA-256(key name || 0x0A || 0x01 ||
//! public key)` (0x01 is the ed25519 signature type). A checkpoint is a note
//! whose text is `<origin>\n<tree size>\n<base64 root hash>\n`.
//!
//! Verification is strict: the whole note is parsed (size limits, canonical
//! base64, canonical decimal, no extension lines in checkpoints, since this
//! log writes none), signatures by other keys are ignored as the spec
//! requires, and at least one signature by the expected key must verify
//! (and every one by that key must verify). The parser never panics.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;
use crate::LedgerError;

/// The ed25519 signature type byte of signed-note key ids and verifier keys.
const ED25519_TYPE: u8 = 0x01;
/// Largest note accepted by the parser, in bytes.
pub const MAX_NOTE_LEN: usize = 64 * 1024;
/// Most signature lines accepted on one note.
pub const MAX_SIGNATURES: usize = 100;
/// The prefix of a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

fn bad_note(reason: impl Into<String>) -> LedgerError {
    LedgerError::MalformedNote(reason.into())
}

/// Checks a key name: non-empty, no whitespace, no `+`, no control character.
fn check_key_name(name: &str) -> Result<(), LedgerError> {
    if name.is_empty() {
        return Err(LedgerError::InvalidKey("empty key name".into()));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(LedgerError::InvalidKey(format!(
            "key name {name:?} contains whitespace, a control character or `+`"
        )));
    }
    Ok(())
}

/// Checks a note text: non-empty, ends with a newline, no ASCII control
/// character except newline.
fn check_text(text: &str) -> Result<(), LedgerError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(bad_note(
            "note text must be non-empty and end with a newline",
        ));
    }
    if text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f) {
        return Err(bad_note("note text contains a control character"));
    }
    Ok(())
}

/// The signed-note key id of an ed25519 key: the first 4 bytes of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The signed-note verifier key string `<name>+<hex key id>+<base64(0x01 ||
/// public key)>`, the usual way to publish a log's key.
pub fn verifier_key_string(name: &str, key: &VerifyingKey) -> Result<String, LedgerError> {
    check_key_name(name)?;
    let mut typed = Vec::with_capacity(33);
    typed.push(ED25519_TYPE);
    typed.extend_from_slice(key.as_bytes());
    let id = key_id(name, key);
    Ok(format!(
        "{name}+{:02x}{:02x}{:02x}{:02x}+{}",
        id[0],
        id[1],
        id[2],
        id[3],
        B64.encode(typed)
    ))
}

/// Parses a verifier key string (see [`verifier_key_string`]) into its name
/// and ed25519 key, checking that the key id matches.
pub fn parse_verifier_key(s: &str) -> Result<(String, VerifyingKey), LedgerError> {
    let bad = |why: &str| LedgerError::InvalidKey(format!("verifier key: {why}"));
    let s = s.trim_end_matches('\n');
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected <name>+<key id>+<key>"));
    };
    check_key_name(name)?;
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad("key id is not 8 lowercase hex digits"));
    }
    let typed = decode_b64(key_b64).ok_or_else(|| bad("key is not canonical base64"))?;
    let [ty, rest @ ..] = typed.as_slice() else {
        return Err(bad("empty key"));
    };
    if *ty != ED25519_TYPE {
        return Err(bad("not an ed25519 key"));
    }
    let raw: [u8; 32] = rest
        .try_into()
        .map_err(|_| bad("ed25519 key is not 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("invalid ed25519 point"))?;
    let id = key_id(name, &key);
    let want = format!("{:02x}{:02x}{:02x}{:02x}", id[0], id[1], id[2], id[3]);
    if want != id_hex {
        return Err(bad("key id does not match name and key"));
    }
    Ok((name.to_string(), key))
}

/// Decodes standard base64, accepting only the canonical encoding.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let v = B64.decode(s).ok()?;
    (B64.encode(&v) == s).then_some(v)
}

/// Signs `text` as a signed note with one signature line by `key_name`.
pub fn sign_note(text: &str, key: &SigningKey, key_name: &str) -> Result<String, LedgerError> {
    check_text(text)?;
    check_key_name(key_name)?;
    let sig = key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(68);
    blob.extend_from_slice(&key_id(key_name, &key.verifying_key()));
    blob.extend_from_slice(&sig.to_bytes());
    let note = format!("{text}\n{SIG_PREFIX}{key_name} {}\n", B64.encode(blob));
    if note.len() > MAX_NOTE_LEN {
        return Err(bad_note(format!("note longer than {MAX_NOTE_LEN} bytes")));
    }
    Ok(note)
}

/// Parses a signed note and verifies it against `key` named `key_name`;
/// returns the note's text (without the signatures).
///
/// Signatures by other keys (another name or key id) are ignored; at least
/// one signature by this key must be present and every one must verify.
pub fn verify_note<'a>(
    note: &'a str,
    key: &VerifyingKey,
    key_name: &str,
) -> Result<&'a str, LedgerError> {
    check_key_name(key_name)?;
    if note.len() > MAX_NOTE_LEN {
        return Err(bad_note(format!("note longer than {MAX_NOTE_LEN} bytes")));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| bad_note("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    let sigs = &note[split + 2..];
    check_text(text)?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(bad_note(
            "signature block must be non-empty and end with a newline",
        ));
    }
    let want_id = key_id(key_name, key);
    let mut found = 0usize;
    for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(bad_note(format!("more than {MAX_SIGNATURES} signatures")));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            bad_note(format!("signature line {} does not start with `— `", i + 1))
        })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad_note(format!("signature line {} has no signature", i + 1)))?;
        check_key_name(name)
            .map_err(|_| bad_note(format!("signature line {}: bad key name", i + 1)))?;
        let blob = decode_b64(b64)
            .ok_or_else(|| bad_note(format!("signature line {}: not canonical base64", i + 1)))?;
        if blob.len() < 5 {
            return Err(bad_note(format!("signature line {}: too short", i + 1)));
        }
        if name != key_name || blob[..4] != want_id {
            continue; // another key's signature: ignored, as the spec requires
        }
        let sig_bytes: [u8; 64] = blob[4..]
            .try_into()
            .map_err(|_| LedgerError::BadSignature(key_name.to_string()))?;
        let sig = Signature::from_bytes(&sig_bytes);
        key.verify_strict(text.as_bytes(), &sig)
            .map_err(|_| LedgerError::BadSignature(key_name.to_string()))?;
        found += 1;
    }
    if found == 0 {
        return Err(LedgerError::NoSignature(key_name.to_string()));
    }
    Ok(text)
}

/// The content of a checkpoint: which log, how many entries, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (unique name of the log).
    pub origin: String,
    /// Number of entries in the tree.
    pub size: u64,
    /// Merkle tree root over those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint body `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> Result<String, LedgerError> {
        if self.origin.is_empty() {
            return Err(bad_note("empty checkpoint origin"));
        }
        let body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        check_text(&body)?;
        if body.lines().count() != 3 {
            return Err(bad_note("checkpoint origin contains a newline"));
        }
        Ok(body)
    }

    /// Parses a checkpoint body strictly: exactly three lines, a non-empty
    /// origin, a canonical decimal size and a canonical base64 32-byte root.
    pub fn parse_body(text: &str) -> Result<Checkpoint, LedgerError> {
        check_text(text)?;
        let mut lines = text[..text.len() - 1].split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad_note("checkpoint needs origin, size and root lines"));
        };
        if lines.next().is_some() {
            return Err(bad_note(
                "checkpoint has extension lines (this log writes none)",
            ));
        }
        if origin.is_empty() {
            return Err(bad_note("empty checkpoint origin"));
        }
        let canonical_decimal = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = canonical_decimal
            .then(|| size.parse().ok())
            .flatten()
            .ok_or_else(|| bad_note("checkpoint size is not a canonical decimal u64"))?;
        let root: Hash = decode_b64(root)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad_note("checkpoint root is not canonical base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// Signs the checkpoint `(origin, size, root)` with `key` under `key_name`,
/// returning the signed note text.
pub fn sign_checkpoint(
    origin: &str,
    size: u64,
    root: &Hash,
    key: &SigningKey,
    key_name: &str,
) -> Result<String, LedgerError> {
    let body = Checkpoint {
        origin: origin.to_string(),
        size,
        root: *root,
    }
    .body()?;
    sign_note(&body, key, key_name)
}

/// Parses a signed checkpoint strictly and verifies it: the note signature
/// by `key` named `key_name` (see [`verify_note`]), the body's format, and
/// that its origin is `origin`. Returns the checkpoint's content.
pub fn verify_checkpoint(
    text: &str,
    key: &VerifyingKey,
    key_name: &str,
    origin: &str,
) -> Result<Checkpoint, LedgerError> {
    let body = verify_note(text, key, key_name)?;
    let cp = Checkpoint::parse_body(body)?;
    if cp.origin != origin {
        return Err(LedgerError::WrongOrigin {
            expected: origin.to_string(),
            found: cp.origin,
        });
    }
    Ok(cp)
}
