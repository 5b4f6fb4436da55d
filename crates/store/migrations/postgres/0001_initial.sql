-- dtfhe-store, migration 0001 for PostgreSQL: initial schema.
--
-- The same tables, columns and constraints as ../0001_initial.sql (SQLite), in PostgreSQL
-- types: BIGINT for INTEGER, BYTEA for BLOB, TEXT with the "C" collation (byte-wise order
-- and comparison, as in SQLite). Ids that are SQLite rowids are plain BIGINT primary keys:
-- the store hands them out itself (the next after the largest) on both backends.
--
-- Append-only, enforced by the database: every such table gets a row trigger that raises
-- an exception on UPDATE or DELETE and a statement trigger that raises on TRUNCATE, and
-- UPDATE, DELETE and TRUNCATE are revoked from PUBLIC.

-- The one trigger function of every append-only guard: refuses the statement with
-- "<table> is append-only".
CREATE FUNCTION dtfhe_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'DigitalThreadFHE store tables accept INSERT only';
END;
$$;

-- Installs the guards on one table (used by this and later migrations).
CREATE FUNCTION dtfhe_make_append_only(t regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = t);
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION dtfhe_append_only()',
                   name || '_no_update_delete', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dtfhe_append_only()',
                   name || '_no_truncate', t);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM PUBLIC', t);
END;
$$;

CREATE TABLE schema_version (
    version    BIGINT PRIMARY KEY,
    applied_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE deployment (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    preset         TEXT COLLATE "C" NOT NULL,
    min_group_size BIGINT NOT NULL CHECK (min_group_size >= 0),
    public_key     BYTEA  NOT NULL,
    relin_key      BYTEA  NOT NULL,
    created_at     TEXT COLLATE "C" NOT NULL
);

CREATE TABLE deployment_trustees (
    position BIGINT PRIMARY KEY CHECK (position >= 0),
    name     TEXT COLLATE "C" NOT NULL UNIQUE
);

CREATE TABLE datasets (
    name          TEXT COLLATE "C" PRIMARY KEY,
    schema_toml   TEXT COLLATE "C" NOT NULL,
    registered_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE chunks (
    id       BIGINT PRIMARY KEY,
    dataset  TEXT COLLATE "C" NOT NULL REFERENCES datasets (name),
    source   TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL CHECK (seq >= 0),
    "rows"   BIGINT NOT NULL CHECK ("rows" > 0),
    public   BYTEA  NOT NULL,
    UNIQUE (dataset, source, seq)
);

CREATE TABLE blobs (
    hash  TEXT COLLATE "C" PRIMARY KEY CHECK (length(hash) = 64),
    size  BIGINT NOT NULL CHECK (size >= 0),
    bytes BYTEA  NOT NULL
);
-- Ciphertexts are random: do not spend time trying to compress them.
ALTER TABLE blobs ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE TABLE parts (
    chunk_id  BIGINT NOT NULL REFERENCES chunks (id),
    "column"  TEXT COLLATE "C" NOT NULL,
    part      TEXT COLLATE "C" NOT NULL,
    blob_hash TEXT COLLATE "C" NOT NULL REFERENCES blobs (hash),
    PRIMARY KEY (chunk_id, "column", part)
);

CREATE INDEX parts_by_blob ON parts (blob_hash);

SELECT dtfhe_make_append_only('deployment');
SELECT dtfhe_make_append_only('deployment_trustees');
SELECT dtfhe_make_append_only('datasets');
SELECT dtfhe_make_append_only('chunks');
SELECT dtfhe_make_append_only('blobs');
SELECT dtfhe_make_append_only('parts');
SELECT dtfhe_make_append_only('schema_version');
