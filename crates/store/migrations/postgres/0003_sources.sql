-- dtfhe-store, migration 0003 for PostgreSQL: signed sources, replay protection and
-- resumable ingest (see ../0003_sources.sql).

CREATE TABLE sources (
    name          TEXT COLLATE "C" PRIMARY KEY,
    public_key    BYTEA NOT NULL CHECK (length(public_key) = 32),
    registered_at TEXT COLLATE "C" NOT NULL
);

ALTER TABLE chunks ADD COLUMN signature BYTEA;
ALTER TABLE chunks ADD COLUMN content_hash BYTEA;
ALTER TABLE chunks ADD COLUMN file_hash BYTEA;
ALTER TABLE chunks ADD COLUMN file_index BIGINT;
ALTER TABLE chunks ADD COLUMN file_chunks BIGINT;

CREATE INDEX chunks_by_content ON chunks (content_hash);
CREATE UNIQUE INDEX chunks_by_file ON chunks (dataset, source, file_hash, file_index);

SELECT dtfhe_make_append_only('sources');
