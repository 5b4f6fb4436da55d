-- dtfhe-store, migration 0003: signed sources, replay protection and
-- resumable ingest.
--
-- Every source (factory, supplier) signs its chunks with its own ed25519
-- key. `sources` holds each source's *public* key, registered once (with a
-- SourceKeyRegistered ledger entry in the same transaction); the private key
-- stays with the source. A chunk now carries the source's signature over a
-- canonical byte string of (dataset, source, seq, rows, public bytes, parts)
-- (see `dtfhe_store::chunk_message`), and `seq` is assigned by the source:
-- the store only accepts a seq greater than the source's last one for the
-- dataset (no replay, no reuse).
--
-- `content_hash` identifies a chunk's content (dataset, rows, public bytes,
-- parts) so an identical chunk is refused as a duplicate. `file_hash`,
-- `file_index` and `file_chunks` record which chunk of which input file
-- (blake3 of the file's bytes) a chunk is, so an interrupted ingest of the
-- same file resumes instead of duplicating: ciphertexts are randomized, so a
-- resumed chunk is recognised by (source, file, index), never by its bytes.
-- All of them are bound to the chunk's ledger entry.
--
-- Plain SQL again, except the SQLite trigger syntax.

CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    public_key    BLOB NOT NULL CHECK (length(public_key) = 32),
    registered_at TEXT NOT NULL
);

ALTER TABLE chunks ADD COLUMN signature BLOB;
ALTER TABLE chunks ADD COLUMN content_hash BLOB;
ALTER TABLE chunks ADD COLUMN file_hash BLOB;
ALTER TABLE chunks ADD COLUMN file_index INTEGER;
ALTER TABLE chunks ADD COLUMN file_chunks INTEGER;

CREATE INDEX chunks_by_content ON chunks (content_hash);
CREATE UNIQUE INDEX chunks_by_file ON chunks (dataset, source, file_hash, file_index);

CREATE TRIGGER sources_no_update BEFORE UPDATE ON sources
BEGIN SELECT RAISE(ABORT, 'sources is append-only'); END;
CREATE TRIGGER sources_no_delete BEFORE DELETE ON sources
BEGIN SELECT RAISE(ABORT, 'sources is append-only'); END;
