//! The store's side of the ledger: its checkpoint key, writing entries and
//! checkpoints inside the caller's transaction, the record hashes that bind
//! table rows to entries, and the full replay done by `Store::verify`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use dtfhe_ledger::{
    parse_verifier_key, sign_checkpoint, verifier_key_string, verify_checkpoint, Entry, EntryKind,
    Frontier, Hash,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::db::{params, Db, SqlContext};
use crate::error::StoreError;
use crate::{LogIdentity, VerifyReport, KEY_FILE, PUB_FILE};

/// Version byte in front of the 32-byte seed in `store.key`.
const KEY_FILE_VERSION: u8 = 1;

fn key_err(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn tampered(what: impl Into<String>) -> StoreError {
    StoreError::Tampered { what: what.into() }
}

/// `row` of a table disagrees with the ledger entry `seq` that recorded it.
pub(crate) fn mismatch(row: &str, seq: u64) -> StoreError {
    tampered(format!("{row}: does not match ledger entry {seq}"))
}

/// Random bytes from the operating system.
fn os_random<const N: usize>(path: &Path) -> Result<Zeroizing<[u8; N]>, StoreError> {
    use rand::TryRngCore as _;
    let mut b = Zeroizing::new([0u8; N]);
    rand::rngs::OsRng
        .try_fill_bytes(&mut b[..])
        .map_err(|e| key_err(path, format!("no OS randomness: {e}")))?;
    Ok(b)
}

/// Creates `dir/store.key` (mode 0600, version byte + 32-byte seed) and
/// `dir/store.pub` (signed-note verifier key), and returns the new key and
/// the log identity. Both files are created with `create_new`, so an
/// existing key is never overwritten; `created` lists the files written so
/// the caller can remove them if the rest of `create` fails.
pub(crate) fn create_key_files(
    dir: &Path,
    created: &mut Vec<PathBuf>,
) -> Result<(SigningKey, LogIdentity), StoreError> {
    let key_path = dir.join(KEY_FILE);
    let seed = os_random::<32>(&key_path)?;
    let id = os_random::<16>(&key_path)?;
    let origin = format!(
        "dtfhe/{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let key = SigningKey::from_bytes(&seed);
    let ident = LogIdentity {
        origin: origin.clone(),
        key_name: origin,
        verifying_key: key.verifying_key(),
    };

    let mut bytes = Zeroizing::new(Vec::with_capacity(33));
    bytes.push(KEY_FILE_VERSION);
    bytes.extend_from_slice(&seed[..]);
    dtfhe_model::secret_file::write_new_secret(&key_path, &bytes)
        .map_err(|e| key_err(&key_path, e.to_string()))?;
    created.push(key_path.clone());

    let pub_path = dir.join(PUB_FILE);
    let vkey = verifier_key_string(&ident.key_name, &ident.verifying_key)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pub_path)
        .map_err(|e| key_err(&pub_path, format!("cannot create: {e}")))?;
    created.push(pub_path.clone());
    f.write_all(format!("{vkey}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| key_err(&pub_path, format!("cannot write: {e}")))?;
    Ok((key, ident))
}

/// Reads the signing key from `store.key`.
pub(crate) fn load_signing_key(dir: &Path) -> Result<SigningKey, StoreError> {
    let path = dir.join(KEY_FILE);
    let bytes =
        dtfhe_model::secret_file::read_secret(&path).map_err(|e| key_err(&path, e.to_string()))?;
    match bytes.as_slice() {
        [KEY_FILE_VERSION, seed @ ..] if seed.len() == 32 => {
            let mut s = Zeroizing::new([0u8; 32]);
            s.copy_from_slice(seed);
            Ok(SigningKey::from_bytes(&s))
        }
        _ => Err(key_err(
            &path,
            "not a store key (expected version byte 1 and a 32-byte seed)",
        )),
    }
}

/// Writes the log identity row (inside the caller's transaction).
pub(crate) fn insert_identity(
    conn: &Db,
    path: &Path,
    ident: &LogIdentity,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO checkpoint_key (id, origin, key_name, public_key, created_at) \
         VALUES (1, ?1, ?2, ?3, ?4)",
        params![
            &ident.origin,
            &ident.key_name,
            ident.verifying_key.as_bytes(),
            &dtfhe_model::clock::now_unix().to_string()
        ],
    )
    .ctx(path, "record checkpoint key")?;
    Ok(())
}

/// Reads the log identity row.
pub(crate) fn read_identity(conn: &Db, path: &Path) -> Result<LogIdentity, StoreError> {
    let row = conn
        .query_opt_map(
            "SELECT origin, key_name, public_key FROM checkpoint_key WHERE id = 1",
            params![],
            |r| Ok((r.text(0)?, r.text(1)?, r.bytes(2)?)),
        )
        .ctx(path, "read checkpoint key")?;
    let Some((origin, key_name, pk)) = row else {
        return Err(tampered("table checkpoint_key: no checkpoint key row"));
    };
    let verifying_key = <[u8; 32]>::try_from(pk.as_slice())
        .ok()
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| tampered("table checkpoint_key: public key is not an ed25519 key"))?;
    Ok(LogIdentity {
        origin,
        key_name,
        verifying_key,
    })
}

/// Brings `frontier` up to date with the stored leaves (rows past its size).
///
/// Only the new rows are read: the ledger is append-only, so the prefix the
/// frontier already covers cannot change through this API (`verify`
/// re-reads everything to catch outside changes).
pub(crate) fn sync_frontier(
    conn: &Db,
    path: &Path,
    frontier: &mut Frontier,
) -> Result<(), StoreError> {
    let from = i64::try_from(frontier.size()).map_err(|_| tampered("ledger size overflow"))?;
    let rows = conn
        .query_rows(
            "SELECT seq, leaf_hash FROM ledger_entries WHERE seq >= ?1 ORDER BY seq",
            params![from],
        )
        .ctx(path, "read ledger")?;
    for r in rows {
        let seq: i64 = r.i64(0).ctx(path, "read ledger seq")?;
        let lh: Vec<u8> = r.bytes(1).ctx(path, "read leaf hash")?;
        if u64::try_from(seq).ok() != Some(frontier.size()) {
            return Err(tampered(format!(
                "ledger entry {seq}: expected sequence number {} (gap in the ledger)",
                frontier.size()
            )));
        }
        let lh: Hash = lh
            .try_into()
            .map_err(|_| tampered(format!("ledger entry {seq}: leaf hash is not 32 bytes")))?;
        frontier.push(lh);
    }
    Ok(())
}

/// Writes ledger entries and the closing checkpoint inside one transaction.
pub(crate) struct Writer<'a> {
    pub(crate) conn: &'a Db,
    pub(crate) path: &'a Path,
    pub(crate) frontier: &'a mut Frontier,
    pub(crate) time: u64,
    /// False only in a throw-away benchmark store: `append` then records nothing.
    pub(crate) enabled: bool,
}

impl Writer<'_> {
    /// Appends one entry; returns its sequence number.
    pub(crate) fn append(
        &mut self,
        kind: EntryKind,
        actor: &str,
        subject: &str,
        detail: &str,
        hashes: Vec<Hash>,
    ) -> Result<u64, StoreError> {
        let seq = self.frontier.size();
        if !self.enabled {
            return Ok(seq);
        }
        let entry = Entry {
            seq,
            time_unix: self.time,
            kind,
            actor: actor.to_string(),
            subject: subject.to_string(),
            detail: detail.to_string(),
            hashes,
        };
        let bytes = entry.encode()?;
        let lh = dtfhe_ledger::leaf_hash(&bytes);
        let seq_i = i64::try_from(seq).map_err(|_| StoreError::Invalid("ledger full".into()))?;
        self.conn
            .execute(
                "INSERT INTO ledger_entries (seq, entry, leaf_hash) VALUES (?1, ?2, ?3)",
                params![seq_i, &bytes, &lh],
            )
            .ctx(self.path, "append ledger entry")?;
        self.frontier.push(lh);
        Ok(seq)
    }
}

/// Signs the checkpoint of the current tree (the frontier's size and root)
/// and stores it; returns the stored note. A checkpoint at that size that
/// already exists is kept (ed25519 is deterministic, so it is the same note
/// unless the store was tampered with, which `verify` reports).
pub(crate) fn checkpoint_in(
    conn: &Db,
    path: &Path,
    frontier: &Frontier,
    key: &SigningKey,
    ident: &LogIdentity,
) -> Result<String, StoreError> {
    let size = frontier.size();
    let note = sign_checkpoint(&ident.origin, size, &frontier.root(), key, &ident.key_name)?;
    let size_i = i64::try_from(size).map_err(|_| StoreError::Invalid("ledger full".into()))?;
    conn.execute(
        "INSERT INTO checkpoints (size, note) VALUES (?1, ?2) ON CONFLICT (size) DO NOTHING",
        params![size_i, &note],
    )
    .ctx(path, "store checkpoint")?;
    conn.query_one(
        "SELECT note FROM checkpoints WHERE size = ?1",
        params![size_i],
    )
    .and_then(|r| r.text(0))
    .ctx(path, "read checkpoint")
}

/// A domain-separated blake3 hash of a record's fields (each length-prefixed),
/// binding a table row to its ledger entry.
pub(crate) fn record_hash(tag: &str, fields: &[&[u8]]) -> Hash {
    let mut h = blake3::Hasher::new();
    for f in std::iter::once(tag.as_bytes()).chain(fields.iter().copied()) {
        h.update(&(f.len() as u64).to_be_bytes());
        h.update(f);
    }
    *h.finalize().as_bytes()
}

/// Parses a blob address (64 lowercase hex digits) into its 32 bytes.
fn blob_address(hex: &str) -> Option<Hash> {
    if hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    blake3::Hash::from_hex(hex).ok().map(|h| *h.as_bytes())
}

/// One part row of a chunk: `(column, part, blob hash hex)`.
pub(crate) type PartRow = (String, String, String);

/// A chunk row's fields, as stored.
pub(crate) struct ChunkRow<'a> {
    pub(crate) id: i64,
    pub(crate) dataset: &'a str,
    pub(crate) source: &'a str,
    pub(crate) seq: i64,
    pub(crate) rows: i64,
    pub(crate) public: &'a [u8],
    pub(crate) signature: &'a [u8],
    pub(crate) content_hash: &'a [u8],
    pub(crate) file_hash: Option<&'a [u8]>,
    pub(crate) file_index: Option<i64>,
    pub(crate) file_chunks: Option<i64>,
}

/// A stored part whose blob address is not a 64-digit hex hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("part {column}/{part}: bad blob address")]
pub(crate) struct BadBlobAddress {
    column: String,
    part: String,
}

/// The hashes of a chunk's `ChunkAppended` entry: a record hash over every
/// field of the chunk row (signature and origin included) and its parts,
/// then the blake3 hash of the public bytes, then the blob address of each
/// part in `(column, part)` order.
pub(crate) fn chunk_hashes(
    c: &ChunkRow<'_>,
    parts: &[PartRow],
) -> Result<Vec<Hash>, BadBlobAddress> {
    let mut parts: Vec<&PartRow> = parts.iter().collect();
    parts.sort();
    let public_hash = *blake3::hash(c.public).as_bytes();
    let opt = |v: Option<i64>| v.map(|v| v.to_be_bytes().to_vec()).unwrap_or_default();
    let mut fields: Vec<Vec<u8>> = vec![
        c.id.to_be_bytes().to_vec(),
        c.dataset.as_bytes().to_vec(),
        c.source.as_bytes().to_vec(),
        c.seq.to_be_bytes().to_vec(),
        c.rows.to_be_bytes().to_vec(),
        public_hash.to_vec(),
        c.signature.to_vec(),
        c.content_hash.to_vec(),
        c.file_hash.map(<[u8]>::to_vec).unwrap_or_default(),
        opt(c.file_index),
        opt(c.file_chunks),
    ];
    let mut blobs = Vec::with_capacity(parts.len());
    for (column, part, blob) in parts {
        fields.push(column.as_bytes().to_vec());
        fields.push(part.as_bytes().to_vec());
        fields.push(blob.as_bytes().to_vec());
        blobs.push(blob_address(blob).ok_or_else(|| BadBlobAddress {
            column: column.clone(),
            part: part.clone(),
        })?);
    }
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let mut out = vec![record_hash("dtfhe chunk v2", &refs), public_hash];
    out.extend(blobs);
    Ok(out)
}

/// The content hash of a chunk: its dataset, row count, public bytes and
/// parts (by blob hash, in `(column, part)` order), but not its source, seq
/// or signature, so a replayed or re-signed copy has the same one.
pub(crate) fn content_hash(
    dataset: &str,
    rows: u32,
    public_hash: &Hash,
    parts: &[(&str, &str, Hash)],
) -> Hash {
    let mut parts: Vec<&(&str, &str, Hash)> = parts.iter().collect();
    parts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let rows = rows.to_be_bytes();
    let mut fields: Vec<&[u8]> = vec![dataset.as_bytes(), &rows, public_hash];
    for (column, part, hash) in &parts {
        fields.push(column.as_bytes());
        fields.push(part.as_bytes());
        fields.push(hash);
    }
    record_hash("dtfhe chunk content v1", &fields)
}

/// [`content_hash`] of a chunk to append.
pub(crate) fn new_chunk_content_hash(dataset: &str, c: &dtfhe_model::NewChunk) -> Hash {
    content_hash(
        dataset,
        c.rows,
        blake3::hash(&c.public).as_bytes(),
        &c.part_hashes(),
    )
}

/// The hashes of a `SourceKeyRegistered` entry: a record hash over the
/// sources row, then the public key itself.
pub(crate) fn source_hashes(name: &str, public_key: &[u8; 32], registered_at: &str) -> Vec<Hash> {
    vec![
        record_hash(
            "dtfhe source v1",
            &[name.as_bytes(), public_key, registered_at.as_bytes()],
        ),
        *public_key,
    ]
}

/// The hashes of a dataset's `SchemaRegistered` entry.
pub(crate) fn dataset_hashes(name: &str, schema_toml: &str, registered_at: &str) -> Vec<Hash> {
    vec![
        record_hash(
            "dtfhe dataset v1",
            &[
                name.as_bytes(),
                schema_toml.as_bytes(),
                registered_at.as_bytes(),
            ],
        ),
        *blake3::hash(schema_toml.as_bytes()).as_bytes(),
    ]
}

/// The deployment row's fields, as stored.
pub(crate) struct DeploymentRow<'a> {
    pub(crate) preset: &'a str,
    pub(crate) min_group_size: i64,
    pub(crate) public_key: &'a [u8],
    pub(crate) relin_key: &'a [u8],
    pub(crate) created_at: &'a str,
}

/// The hashes of the `DeploymentCreated` entry: a record hash over the
/// deployment row, then the blake3 hashes of the public and relinearisation
/// keys.
pub(crate) fn deployment_hashes(d: &DeploymentRow<'_>) -> Vec<Hash> {
    let pk = *blake3::hash(d.public_key).as_bytes();
    let rk = *blake3::hash(d.relin_key).as_bytes();
    vec![
        record_hash(
            "dtfhe deployment v1",
            &[
                d.preset.as_bytes(),
                &d.min_group_size.to_be_bytes(),
                &pk,
                &rk,
                d.created_at.as_bytes(),
            ],
        ),
        pk,
        rk,
    ]
}

/// The hashes of a `TrusteeRegistered` entry.
pub(crate) fn trustee_hashes(position: i64, name: &str) -> Vec<Hash> {
    vec![record_hash(
        "dtfhe trustee v1",
        &[&position.to_be_bytes(), name.as_bytes()],
    )]
}

/// Entry kinds that `verify` binds to table rows; only the store itself
/// records them, never `append_entry`.
pub(crate) const ROW_BOUND_KINDS: [EntryKind; 7] = [
    EntryKind::DeploymentCreated,
    EntryKind::TrusteeRegistered,
    EntryKind::SourceKeyRegistered,
    EntryKind::SchemaRegistered,
    EntryKind::ChunkAppended,
    EntryKind::ArtifactSealed,
    EntryKind::LanesAssigned,
];

/// The hashes of a `LanesAssigned` entry for the new keys of one assignment, which got the
/// consecutive lanes `first..first + keys.len()` of `space`: a record hash over the space,
/// the first lane, the count and every key in lane order, then the range itself (first lane
/// and count as big-endian u64s, zero-padded to 32 bytes) so `verify` knows which rows the
/// entry covers.
pub(crate) fn lanes_hashes(space: &str, first: i64, keys: &[&str]) -> Vec<Hash> {
    let first_b = first.to_be_bytes();
    let n = keys.len() as u64;
    let n_b = n.to_be_bytes();
    let mut fields: Vec<&[u8]> = vec![space.as_bytes(), &first_b, &n_b];
    fields.extend(keys.iter().map(|k| k.as_bytes()));
    let mut range = [0u8; 32];
    range[..8].copy_from_slice(&first_b);
    range[8..16].copy_from_slice(&n_b);
    vec![record_hash("dtfhe lanes v1", &fields), range]
}

/// Reads every stored entry, in order, checking the sequence (no gaps), the
/// encoding and each stored leaf hash. Returns the entries and leaf hashes.
pub(crate) fn read_entries(conn: &Db, path: &Path) -> Result<(Vec<Entry>, Vec<Hash>), StoreError> {
    let mut entries = Vec::new();
    let mut leaves = Vec::new();
    conn.for_each(
        "SELECT seq, entry, leaf_hash FROM ledger_entries ORDER BY seq",
        params![],
        path,
        "read ledger",
        |r| -> Result<(), StoreError> {
            let seq: i64 = r.i64(0).ctx(path, "read ledger seq")?;
            let bytes: Vec<u8> = r.bytes(1).ctx(path, "read ledger entry")?;
            let stored: Vec<u8> = r.bytes(2).ctx(path, "read leaf hash")?;
            let expected = entries.len();
            if usize::try_from(seq).ok() != Some(expected) {
                return Err(tampered(format!(
                    "ledger entry {seq}: expected sequence number {expected} (gap in the ledger)"
                )));
            }
            let entry = Entry::decode(&bytes)
                .map_err(|e| tampered(format!("ledger entry {seq}: cannot be decoded: {e}")))?;
            if usize::try_from(entry.seq).ok() != Some(expected) {
                return Err(tampered(format!(
                    "ledger entry {seq}: encoded sequence number is {}",
                    entry.seq
                )));
            }
            let lh = dtfhe_ledger::leaf_hash(&bytes);
            if stored.as_slice() != lh.as_slice() {
                return Err(tampered(format!(
                    "ledger entry {seq}: stored leaf hash does not match the entry"
                )));
            }
            entries.push(entry);
            leaves.push(lh);
            Ok(())
        },
    )?;
    Ok((entries, leaves))
}

/// Reads every stored checkpoint `(size, note)`, ordered by size.
pub(crate) fn read_checkpoints(conn: &Db, path: &Path) -> Result<Vec<(i64, String)>, StoreError> {
    conn.query_map(
        "SELECT size, note FROM checkpoints ORDER BY size",
        params![],
        |r| Ok((r.i64(0)?, r.text(1)?)),
    )
    .ctx(path, "read checkpoints")
}

/// Finds the one entry of `kind` with this subject, or explains.
fn take_entry<'e>(
    by_subject: &mut HashMap<String, Vec<&'e Entry>>,
    subject: &str,
    row: &str,
    kind: EntryKind,
) -> Result<&'e Entry, StoreError> {
    let found = by_subject.remove(subject).unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(tampered(format!(
            "{row}: no {kind} ledger entry records it"
        ))),
        many => Err(tampered(format!(
            "{row}: {} {kind} ledger entries claim it (entries {})",
            many.len(),
            many.iter()
                .map(|e| e.seq.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Matches every table row (how errors name it, its subject, the hashes its entry must
/// hold) with exactly one `kind` entry about its subject, and every such entry with a row
/// (`what` names the rows in that error).
fn match_rows(
    entries: &[Entry],
    kind: EntryKind,
    what: &str,
    rows: impl IntoIterator<Item = (String, String, Vec<Hash>)>,
) -> Result<(), StoreError> {
    let mut by_subject = group(entries, kind);
    for (row, subject, hashes) in rows {
        let e = take_entry(&mut by_subject, &subject, &row, kind)?;
        if e.hashes != hashes {
            return Err(mismatch(&row, e.seq));
        }
    }
    leftover(by_subject, what)
}

/// The entries of `kind`, by subject (what a table row is matched against).
pub(crate) fn group(entries: &[Entry], kind: EntryKind) -> HashMap<String, Vec<&Entry>> {
    let mut m: HashMap<String, Vec<&Entry>> = HashMap::new();
    for e in entries.iter().filter(|e| e.kind == kind) {
        m.entry(e.subject.clone()).or_default().push(e);
    }
    m
}

/// Entries left over after matching rows: each names an entry without row.
pub(crate) fn leftover(m: HashMap<String, Vec<&Entry>>, what: &str) -> Result<(), StoreError> {
    let mut seqs: Vec<(u64, String)> = m
        .into_values()
        .flatten()
        .map(|e| (e.seq, e.subject.clone()))
        .collect();
    seqs.sort();
    match seqs.first() {
        None => Ok(()),
        Some((seq, subject)) => Err(tampered(format!(
            "ledger entry {seq}: records {what} `{subject}`, which is not in the store"
        ))),
    }
}

/// Replays the whole ledger and checks every table against it (see
/// `Store::verify`).
pub(crate) fn verify(conn: &Db, path: &Path, dir: &Path) -> Result<VerifyReport, StoreError> {
    // 1. The log identity, and the published key if the file is there.
    let ident = read_identity(conn, path)?;
    let pub_path = dir.join(PUB_FILE);
    if pub_path.is_file() {
        let text = std::fs::read_to_string(&pub_path)
            .map_err(|e| key_err(&pub_path, format!("cannot read: {e}")))?;
        let (name, vk) = parse_verifier_key(text.trim_end())
            .map_err(|e| tampered(format!("{PUB_FILE}: {e}")))?;
        if name != ident.key_name || vk != ident.verifying_key {
            return Err(tampered(format!(
                "table checkpoint_key: key does not match {PUB_FILE}"
            )));
        }
    }

    // 2. Every entry: sequence, encoding, leaf hash.
    let (entries, leaves) = read_entries(conn, path)?;

    // 3. Every checkpoint: signature, origin, size, root at that size.
    let checkpoints = read_checkpoints(conn, path)?;
    let mut roots_at: BTreeMap<u64, Hash> = BTreeMap::new();
    {
        let wanted: HashSet<u64> = checkpoints
            .iter()
            .filter_map(|(s, _)| u64::try_from(*s).ok())
            .collect();
        let mut f = Frontier::new();
        if wanted.contains(&0) {
            roots_at.insert(0, f.root());
        }
        for lh in &leaves {
            f.push(*lh);
            if wanted.contains(&f.size()) {
                roots_at.insert(f.size(), f.root());
            }
        }
    }
    for (size, note) in &checkpoints {
        let cp = verify_checkpoint(note, &ident.verifying_key, &ident.key_name, &ident.origin)
            .map_err(|e| tampered(format!("checkpoint at size {size}: {e}")))?;
        if i64::try_from(cp.size).ok() != Some(*size) {
            return Err(tampered(format!(
                "checkpoint at size {size}: the signed note is for size {}",
                cp.size
            )));
        }
        let Some(root) = roots_at.get(&cp.size) else {
            return Err(tampered(format!(
                "checkpoint at size {size}: the ledger has only {} entries",
                leaves.len()
            )));
        };
        if !dtfhe_ledger::root_eq(root, &cp.root) {
            return Err(tampered(format!(
                "checkpoint at size {size}: signed root does not match the ledger's entries"
            )));
        }
    }
    let n = leaves.len() as u64;
    if !roots_at.contains_key(&n) {
        return Err(tampered(format!(
            "ledger: no signed checkpoint covers all {n} entries"
        )));
    }

    // 4. Every blob hashes to its address.
    let mut blobs = HashSet::new();
    {
        conn.for_each(
            "SELECT hash, size, bytes FROM blobs ORDER BY hash",
            params![],
            path,
            "read blobs",
            |mut r| -> Result<(), StoreError> {
                let hash: String = r.text(0).ctx(path, "read blob hash")?;
                let size: i64 = r.i64(1).ctx(path, "read blob size")?;
                let bytes: Vec<u8> = r.take_bytes(2).ctx(path, "read blob bytes")?;
                let actual = blake3::hash(&bytes).to_hex();
                if actual.as_str() != hash {
                    return Err(tampered(format!(
                        "blob {hash}: content hashes to {actual} (table blobs)"
                    )));
                }
                if usize::try_from(size).ok() != Some(bytes.len()) {
                    return Err(tampered(format!(
                        "blob {hash}: recorded size {size}, actual {} (table blobs)",
                        bytes.len()
                    )));
                }
                blobs.insert(hash);
                Ok(())
            },
        )?;
    }

    // 5. Every chunk row (and its parts) matches exactly one ChunkAppended entry.
    let mut chunk_entries = group(&entries, EntryKind::ChunkAppended);
    let mut parts_of: HashMap<i64, Vec<PartRow>> = HashMap::new();
    {
        let rows = conn
            .query_map(
                "SELECT chunk_id, \"column\", part, blob_hash FROM parts",
                params![],
                |r| Ok((r.i64(0)?, (r.text(1)?, r.text(2)?, r.text(3)?))),
            )
            .ctx(path, "read parts")?;
        for (chunk, p) in rows {
            if !blobs.contains(&p.2) {
                return Err(tampered(format!(
                    "chunk {chunk}, part {}/{}: blob {} is missing (table parts)",
                    p.0, p.1, p.2
                )));
            }
            parts_of.entry(chunk).or_default().push(p);
        }
    }
    // 5a. Every registered source key matches exactly one SourceKeyRegistered entry.
    let mut src_entries = group(&entries, EntryKind::SourceKeyRegistered);
    let mut source_keys: HashMap<String, VerifyingKey> = HashMap::new();
    {
        let rows = conn
            .query_map(
                "SELECT name, public_key, registered_at FROM sources ORDER BY name",
                params![],
                |r| Ok((r.text(0)?, r.bytes(1)?, r.text(2)?)),
            )
            .ctx(path, "read sources")?;
        for (name, pk, at) in rows {
            let row = format!("source `{name}` (table sources)");
            let e = take_entry(
                &mut src_entries,
                &name,
                &row,
                EntryKind::SourceKeyRegistered,
            )?;
            let key = <[u8; 32]>::try_from(pk.as_slice())
                .map_err(|_| tampered(format!("{row}: public key is not 32 bytes")))?;
            if e.hashes != source_hashes(&name, &key, &at) || e.actor != name {
                return Err(mismatch(&row, e.seq));
            }
            let vk = VerifyingKey::from_bytes(&key)
                .map_err(|_| tampered(format!("{row}: public key is not an ed25519 key")))?;
            source_keys.insert(name, vk);
        }
    }
    leftover(src_entries, "source key")?;

    // 5c. Every sealed artifact: sealed hash, source signature, exactly one entry.
    let artifacts = crate::store::artifacts::verify_artifacts(conn, path, &entries, &source_keys)?;

    // 5b. Every chunk: signed by its registered source, content hash, and
    // (with its parts) exactly one ChunkAppended entry.
    let mut chunks = 0u64;
    {
        conn.for_each(
            "SELECT id, dataset, source, seq, \"rows\", public, signature, content_hash, \
             file_hash, file_index, file_chunks FROM chunks ORDER BY id",
            params![],
            path,
            "read chunks",
            |r| -> Result<(), StoreError> {
                let id: i64 = r.i64(0).ctx(path, "read chunk")?;
                let dataset: String = r.text(1).ctx(path, "read chunk")?;
                let source: String = r.text(2).ctx(path, "read chunk")?;
                let seq: i64 = r.i64(3).ctx(path, "read chunk")?;
                let nrows: i64 = r.i64(4).ctx(path, "read chunk")?;
                let public: Vec<u8> = r.bytes(5).ctx(path, "read chunk")?;
                let signature: Option<Vec<u8>> = r.opt_bytes(6).ctx(path, "read chunk")?;
                let content: Option<Vec<u8>> = r.opt_bytes(7).ctx(path, "read chunk")?;
                let file_hash: Option<Vec<u8>> = r.opt_bytes(8).ctx(path, "read chunk")?;
                let file_index: Option<i64> = r.opt_i64(9).ctx(path, "read chunk")?;
                let file_chunks: Option<i64> = r.opt_i64(10).ctx(path, "read chunk")?;
                let row = format!("chunk {id} (dataset `{dataset}`, source `{source}`, seq {seq})");
                let entry = take_entry(
                    &mut chunk_entries,
                    &id.to_string(),
                    &row,
                    EntryKind::ChunkAppended,
                )?;
                let parts = parts_of.remove(&id).unwrap_or_default();
                let mut signed: Vec<(&str, &str, Hash)> = Vec::with_capacity(parts.len());
                for (column, part, blob) in &parts {
                    let h = blob_address(blob).ok_or_else(|| {
                        tampered(format!("{row}: part {column}/{part}: bad blob address"))
                    })?;
                    signed.push((column.as_str(), part.as_str(), h));
                }
                let (Ok(seq_u), Ok(rows_u)) = (u64::try_from(seq), u32::try_from(nrows)) else {
                    return Err(tampered(format!("{row}: seq or row count out of range")));
                };
                let public_hash = *blake3::hash(&public).as_bytes();
                let Some(key) = source_keys.get(&source) else {
                    return Err(tampered(format!(
                        "{row}: its source has no registered key (table sources)"
                    )));
                };
                let message = dtfhe_model::chunk_message(
                    &dataset,
                    &source,
                    seq_u,
                    rows_u,
                    &public_hash,
                    &signed,
                );
                let signature = signature.unwrap_or_default();
                if !crate::signing::signature_ok(key, &message, &signature) {
                    return Err(tampered(format!(
                        "{row}: source signature does not verify with `{source}`'s registered key"
                    )));
                }
                let content = content.unwrap_or_default();
                if content.as_slice() != content_hash(&dataset, rows_u, &public_hash, &signed) {
                    return Err(tampered(format!(
                        "{row}: stored content hash does not match its content (table chunks)"
                    )));
                }
                let hashes = chunk_hashes(
                    &ChunkRow {
                        id,
                        dataset: &dataset,
                        source: &source,
                        seq,
                        rows: nrows,
                        public: &public,
                        signature: &signature,
                        content_hash: &content,
                        file_hash: file_hash.as_deref(),
                        file_index,
                        file_chunks,
                    },
                    &parts,
                )
                .map_err(|e| tampered(format!("{row}: {e}")))?;
                if entry.hashes != hashes || entry.actor != source {
                    let which = if entry.hashes.get(1) != hashes.get(1) {
                        "its public bytes differ"
                    } else if entry.hashes.get(2..) != hashes.get(2..) {
                        "its parts (table parts) differ"
                    } else {
                        "its row (table chunks) or its part names differ"
                    };
                    return Err(tampered(format!(
                        "{row}: does not match ledger entry {}: {which}",
                        entry.seq
                    )));
                }
                chunks += 1;
                Ok(())
            },
        )?;
    }
    if let Some(chunk) = parts_of.keys().min() {
        return Err(tampered(format!(
            "table parts: parts of chunk {chunk}, which does not exist"
        )));
    }
    leftover(chunk_entries, "chunk")?;

    // 6. Datasets.
    let rows = conn
        .query_map(
            "SELECT name, schema_toml, registered_at FROM datasets ORDER BY name",
            params![],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)),
        )
        .ctx(path, "read datasets")?;
    let rows = rows.into_iter().map(|(name, schema, at)| {
        let hashes = dataset_hashes(&name, &schema, &at);
        (format!("dataset `{name}` (table datasets)"), name, hashes)
    });
    match_rows(&entries, EntryKind::SchemaRegistered, "dataset", rows)?;

    // 7. Deployment and trustees.
    let dep = crate::store::deployment_row(conn, path)?;
    let rows = dep.map(|(preset, mgs, pk, rk, at)| {
        let hashes = deployment_hashes(&DeploymentRow {
            preset: &preset,
            min_group_size: mgs,
            public_key: &pk,
            relin_key: &rk,
            created_at: &at,
        });
        (
            "deployment record (table deployment)".to_string(),
            preset,
            hashes,
        )
    });
    match_rows(&entries, EntryKind::DeploymentCreated, "deployment", rows)?;
    let rows = conn
        .query_map(
            "SELECT position, name FROM deployment_trustees ORDER BY position",
            params![],
            |r| Ok((r.i64(0)?, r.text(1)?)),
        )
        .ctx(path, "read trustees")?;
    let rows = rows.into_iter().map(|(pos, name)| {
        let hashes = trustee_hashes(pos, &name);
        (
            format!("trustee `{name}` (table deployment_trustees)"),
            name,
            hashes,
        )
    });
    match_rows(&entries, EntryKind::TrusteeRegistered, "trustee", rows)?;

    // 8. The lane map: every row covered by exactly one LanesAssigned entry of its space,
    // the lanes of each space handed out in order from 0 without gaps.
    {
        let mut spaces: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for r in conn
            .query_rows(
                "SELECT space, lane, key FROM lanes ORDER BY space, lane",
                params![],
            )
            .ctx(path, "read lanes")?
        {
            let space = r.text(0).ctx(path, "read lanes")?;
            let lane = r.i64(1).ctx(path, "read lanes")?;
            let key = r.text(2).ctx(path, "read lanes")?;
            spaces.entry(space).or_default().push((lane, key));
        }
        let mut by_space: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in entries
            .iter()
            .filter(|e| e.kind == EntryKind::LanesAssigned)
        {
            by_space.entry(e.subject.as_str()).or_default().push(e);
        }
        for (space, rows) in &spaces {
            let what = format!("lane space `{space}` (table lanes)");
            let mut covered = 0usize;
            for e in by_space.remove(space.as_str()).unwrap_or_default() {
                let range = e.hashes.get(1).ok_or_else(|| {
                    tampered(format!(
                        "ledger entry {}: lanes entry without a range",
                        e.seq
                    ))
                })?;
                let first = i64::from_be_bytes(range[..8].try_into().unwrap_or([0xff; 8]));
                let n = u64::from_be_bytes(range[8..16].try_into().unwrap_or([0xff; 8]));
                let end = usize::try_from(n).ok().and_then(|n| covered.checked_add(n));
                let chunk = match end {
                    Some(end)
                        if usize::try_from(first).ok() == Some(covered) && end <= rows.len() =>
                    {
                        &rows[covered..end]
                    }
                    _ => {
                        return Err(tampered(format!(
                            "{what}: lanes {first}.. of ledger entry {} are not in the table",
                            e.seq
                        )))
                    }
                };
                let keys: Vec<&str> = chunk.iter().map(|(_, k)| k.as_str()).collect();
                let in_order = chunk
                    .iter()
                    .enumerate()
                    .all(|(i, (lane, _))| usize::try_from(*lane).ok() == Some(covered + i));
                if !in_order || e.hashes != lanes_hashes(space, first, &keys) {
                    return Err(tampered(format!(
                        "{what}: lanes {first}..{} do not match ledger entry {}",
                        first.saturating_add(keys.len() as i64),
                        e.seq
                    )));
                }
                covered += keys.len();
            }
            if covered != rows.len() {
                let (lane, key) = &rows[covered];
                return Err(tampered(format!(
                    "{what}: lane {lane} (key `{key}`) is recorded by no lanes_assigned ledger entry"
                )));
            }
        }
        if let Some((space, es)) = by_space.into_iter().next() {
            return Err(tampered(format!(
                "ledger entry {}: records lanes of lane space `{space}`, which are not in the \
                 store (table lanes)",
                es[0].seq
            )));
        }
    }

    Ok(VerifyReport {
        entries: n,
        chunks,
        checkpoints: checkpoints.len() as u64,
        sources: source_keys.len() as u64,
        blobs: blobs.len() as u64,
        artifacts,
    })
}
