-- dtfhe-store, migration 0002 for PostgreSQL: the immutable ledger (see ../0002_ledger.sql).

CREATE TABLE ledger_entries (
    seq       BIGINT PRIMARY KEY CHECK (seq >= 0),
    entry     BYTEA  NOT NULL,
    leaf_hash BYTEA  NOT NULL CHECK (length(leaf_hash) = 32)
);

CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY CHECK (size >= 0),
    note TEXT COLLATE "C" NOT NULL
);

CREATE TABLE checkpoint_key (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    origin     TEXT COLLATE "C" NOT NULL,
    key_name   TEXT COLLATE "C" NOT NULL,
    public_key BYTEA NOT NULL CHECK (length(public_key) = 32),
    created_at TEXT COLLATE "C" NOT NULL
);

SELECT dtfhe_make_append_only('ledger_entries');
SELECT dtfhe_make_append_only('checkpoints');
SELECT dtfhe_make_append_only('checkpoint_key');
