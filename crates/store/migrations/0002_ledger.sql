-- dtfhe-store, migration 0002: the immutable ledger.
--
-- Every action is an entry of an append-only log (see the dtfhe-ledger
-- crate): `entry` is the entry's canonical encoding and `leaf_hash` its
-- RFC 6962 leaf hash, SHA-256(0x00 || entry). `seq` is the leaf index, from
-- 0 without gaps. The store signs checkpoints (tree size + root) as C2SP
-- signed notes with its own ed25519 key; `checkpoints` keeps every signed
-- note, keyed by tree size.
--
-- Plain SQL again, except the SQLite trigger syntax (PostgreSQL: a trigger
-- function raising an exception, or revoked UPDATE/DELETE grants).

CREATE TABLE ledger_entries (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 0),
    entry     BLOB    NOT NULL,
    leaf_hash BLOB    NOT NULL CHECK (length(leaf_hash) = 32)
);

CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    note TEXT    NOT NULL
);

-- The store's checkpoint key, written once by `create`: the log's origin
-- line (`dtfhe/<random id>`), the signed-note key name and the ed25519
-- *public* key. The private key is in `store.key` next to the database,
-- never in it. Single row, enforced by the CHECK on id.
CREATE TABLE checkpoint_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    origin     TEXT    NOT NULL,
    key_name   TEXT    NOT NULL,
    public_key BLOB    NOT NULL CHECK (length(public_key) = 32),
    created_at TEXT    NOT NULL
);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END;

CREATE TRIGGER checkpoint_key_no_update BEFORE UPDATE ON checkpoint_key
BEGIN SELECT RAISE(ABORT, 'checkpoint_key is append-only'); END;
CREATE TRIGGER checkpoint_key_no_delete BEFORE DELETE ON checkpoint_key
BEGIN SELECT RAISE(ABORT, 'checkpoint_key is append-only'); END;
