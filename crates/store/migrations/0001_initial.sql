-- dtfhe-store, migration 0001: initial schema.
--
-- Kept to plain, standard SQL (quoted identifiers, INTEGER/TEXT/BLOB, UNIQUE,
-- FOREIGN KEY, ON CONFLICT DO NOTHING in the code) so that a PostgreSQL
-- backend can ship an equivalent migration; only the trigger syntax at the end
-- is SQLite-specific (PostgreSQL: a trigger function raising an exception, or
-- revoked UPDATE/DELETE grants).
--
-- The store knows nothing about FHE: ciphertexts and encoded public columns
-- are opaque byte strings. It never holds secret key material.

-- Applied migrations, one row per migration. `open` refuses a store whose
-- highest version is not the one the running build knows.
CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT    NOT NULL
);

-- The deployment record written once by `init`: BFV preset, trustees (see
-- deployment_trustees), release policy minimum group size and the *public*
-- key material. Single row, enforced by the CHECK on id.
CREATE TABLE deployment (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    preset         TEXT    NOT NULL,
    min_group_size INTEGER NOT NULL CHECK (min_group_size >= 0),
    public_key     BLOB    NOT NULL,
    relin_key      BLOB    NOT NULL,
    created_at     TEXT    NOT NULL
);

-- Trustees of the deployment, in their declared order (a separate table
-- rather than an encoded list, so both backends store it the same way).
CREATE TABLE deployment_trustees (
    position INTEGER PRIMARY KEY CHECK (position >= 0),
    name     TEXT    NOT NULL UNIQUE
);

-- Registered datasets: the schema TOML is kept verbatim, so the exact text a
-- source encrypted against can always be shown and compared.
CREATE TABLE datasets (
    name          TEXT PRIMARY KEY,
    schema_toml   TEXT NOT NULL,
    registered_at TEXT NOT NULL
);

-- Chunks: up to N rows of one dataset from one source. `seq` numbers the
-- chunks of a (dataset, source) pair from 0 without gaps, so an interrupted
-- ingest can resume without loss or duplicates. `public` holds the encoded
-- public (clear) columns, opaque to the store.
CREATE TABLE chunks (
    id       INTEGER PRIMARY KEY,
    dataset  TEXT    NOT NULL REFERENCES datasets (name),
    source   TEXT    NOT NULL,
    seq      INTEGER NOT NULL CHECK (seq >= 0),
    "rows"   INTEGER NOT NULL CHECK ("rows" > 0),
    public   BLOB    NOT NULL,
    UNIQUE (dataset, source, seq)
);

-- Ciphertext bytes, content-addressed by their blake3 hash (lowercase hex)
-- and therefore deduplicated. `size` is kept so "bytes at rest" needs no scan
-- of the blobs themselves.
CREATE TABLE blobs (
    hash  TEXT    PRIMARY KEY CHECK (length(hash) = 64),
    size  INTEGER NOT NULL CHECK (size >= 0),
    bytes BLOB    NOT NULL
);

-- Ciphertext parts of a chunk: for each encrypted column, its "value",
-- "presence" and (optionally) "square" ciphertext, pointing at a blob.
CREATE TABLE parts (
    chunk_id  INTEGER NOT NULL REFERENCES chunks (id),
    "column"  TEXT    NOT NULL,
    part      TEXT    NOT NULL,
    blob_hash TEXT    NOT NULL REFERENCES blobs (hash),
    PRIMARY KEY (chunk_id, "column", part)
);

CREATE INDEX parts_by_blob ON parts (blob_hash);

-- Immutability enforced by the database itself, not only by this crate:
-- any UPDATE or DELETE on these tables aborts, whoever issues it
-- (e.g. `sqlite3 store.sqlite "DELETE FROM chunks"`).
CREATE TRIGGER deployment_no_update BEFORE UPDATE ON deployment
BEGIN SELECT RAISE(ABORT, 'deployment is append-only'); END;
CREATE TRIGGER deployment_no_delete BEFORE DELETE ON deployment
BEGIN SELECT RAISE(ABORT, 'deployment is append-only'); END;
CREATE TRIGGER deployment_trustees_no_update BEFORE UPDATE ON deployment_trustees
BEGIN SELECT RAISE(ABORT, 'deployment_trustees is append-only'); END;
CREATE TRIGGER deployment_trustees_no_delete BEFORE DELETE ON deployment_trustees
BEGIN SELECT RAISE(ABORT, 'deployment_trustees is append-only'); END;

CREATE TRIGGER datasets_no_update BEFORE UPDATE ON datasets
BEGIN SELECT RAISE(ABORT, 'datasets is append-only'); END;
CREATE TRIGGER datasets_no_delete BEFORE DELETE ON datasets
BEGIN SELECT RAISE(ABORT, 'datasets is append-only'); END;

CREATE TRIGGER chunks_no_update BEFORE UPDATE ON chunks
BEGIN SELECT RAISE(ABORT, 'chunks is append-only'); END;
CREATE TRIGGER chunks_no_delete BEFORE DELETE ON chunks
BEGIN SELECT RAISE(ABORT, 'chunks is append-only'); END;

CREATE TRIGGER blobs_no_update BEFORE UPDATE ON blobs
BEGIN SELECT RAISE(ABORT, 'blobs is append-only'); END;
CREATE TRIGGER blobs_no_delete BEFORE DELETE ON blobs
BEGIN SELECT RAISE(ABORT, 'blobs is append-only'); END;

CREATE TRIGGER parts_no_update BEFORE UPDATE ON parts
BEGIN SELECT RAISE(ABORT, 'parts is append-only'); END;
CREATE TRIGGER parts_no_delete BEFORE DELETE ON parts
BEGIN SELECT RAISE(ABORT, 'parts is append-only'); END;

CREATE TRIGGER schema_version_no_update BEFORE UPDATE ON schema_version
BEGIN SELECT RAISE(ABORT, 'schema_version is append-only'); END;
CREATE TRIGGER schema_version_no_delete BEFORE DELETE ON schema_version
BEGIN SELECT RAISE(ABORT, 'schema_version is append-only'); END;
