-- dtfhe-store, migration 0006: nonces of signed API requests (issue 16).
--
-- The platform refuses a signed request whose (identity, nonce) it has seen before. The
-- nonces live here, not in memory, so a request captured and replayed after a restart is
-- still refused. A request is only accepted within the allowed clock skew of its timestamp
-- (`ts`, unix seconds), so rows older than that can never match an acceptable request and
-- are pruned: this table is not append-only and not ledgered (it holds no data, only the
-- proof that a nonce was spent).

CREATE TABLE request_nonces (
    identity TEXT    NOT NULL CHECK (length(identity) > 0),
    nonce    TEXT    NOT NULL CHECK (length(nonce) > 0),
    ts       INTEGER NOT NULL,
    PRIMARY KEY (identity, nonce)
);
CREATE INDEX request_nonces_ts ON request_nonces (ts);
